"""What the server and the clients share: the run's configuration, per-round seeds, data locations."""

from __future__ import annotations

import dataclasses
import hashlib
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fedjava.config import Config, load_config
from fedjava.dataset.split import shard_problem
from fedjava.errors import UserError
from fedjava.models import load_for_training

# Keys of the Flower run config ([tool.flwr.app.config] in pyproject.toml, `flwr run --run-config`)
# that are not fedjava config keys.
RUN_CONFIG_PRESET = "preset"
RUN_CONFIG_OVERRIDES = "overrides"
RUN_CONFIG_RESUME = "resume"
VALID_SHARD = "valid.json"


class FederatedSetupError(UserError, ValueError):
    """The federated run cannot start as configured; the message says what to do."""


def config_from_run_config(run_config: Mapping[str, Any]) -> tuple[Config, bool]:
    """A Config and the resume flag from a Flower run config.

    Precedence: defaults < ``preset`` < the other run-config keys (any fedjava key, dashes allowed)
    < ``overrides`` (a string of ``key=value`` items).
    """
    preset = str(run_config.get(RUN_CONFIG_PRESET) or "") or None
    items = []
    for key, value in run_config.items():
        if key in (RUN_CONFIG_PRESET, RUN_CONFIG_OVERRIDES, RUN_CONFIG_RESUME):
            continue
        items.append(f"{key}={str(value).lower() if isinstance(value, bool) else value}")
    items += shlex.split(str(run_config.get(RUN_CONFIG_OVERRIDES) or ""))
    resume = str(run_config.get(RUN_CONFIG_RESUME, False)).lower() in ("true", "1", "yes")
    return load_config(preset, items, check_files=False), resume


def method_name(cfg: Config) -> str:
    """The run's folder name under results_dir (and under results_dir/logs): the algorithm."""
    return cfg.algorithm


def round_seed(seed: int, server_round: int, client_id: int) -> int:
    """The seed of one client's local training in one round: fixed by (seed, round, client) alone,
    so a resumed run trains exactly as an uninterrupted one."""
    digest = hashlib.sha256(f"fedjava:{seed}:{server_round}:{client_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little") % (2**31 - 1)


def local_config(cfg: Config, server_round: int, client_id: int) -> Config:
    """The config a client trains with in one round: its own seed and the round's learning rate
    (:func:`round_learning_rate`), no Trainer checkpoints or eval."""
    schedule: dict[str, Any] = {}
    if cfg.client_lr_schedule == "rounds":
        schedule = {"learning_rate": round_learning_rate(cfg, server_round), "lr_scheduler": "constant"}
        schedule["warmup_ratio"] = 0.0
    return dataclasses.replace(
        cfg,
        seed=round_seed(cfg.seed, server_round, client_id),
        save_strategy="no",
        eval_strategy="no",
        report_to=["none"],
        **schedule,
    )


def round_learning_rate(cfg: Config, server_round: int) -> float:
    """The learning rate of round ``server_round`` (1 to num_rounds) when the rounds follow one schedule
    (``client_lr_schedule=rounds``): ``lr_scheduler``'s curve with its warmup, over the whole run, read at the middle
    of the round's share of it (so the rounds' rates add up about as the curve does over a centralized run)."""
    from fedjava.training import schedule_factor

    middle = (min(max(server_round, 1), cfg.num_rounds) - 0.5) / cfg.num_rounds
    return cfg.learning_rate * schedule_factor(cfg.lr_scheduler, middle, cfg.warmup_ratio)


def shard_path(cfg: Config, client_id: int) -> Path:
    return Path(cfg.data_dir) / f"client_{client_id}.json"


def valid_path(cfg: Config) -> Path:
    return Path(cfg.data_dir) / VALID_SHARD


def split_command(cfg: Config) -> str:
    return f"fedjava data split --clients {cfg.num_clients} --data-dir {cfg.data_dir}"


def check_federated_data(cfg: Config) -> None:
    """Raise FederatedSetupError unless data_dir holds the shards of num_clients clients and valid.json."""

    problem = shard_problem(cfg.data_dir, cfg.num_clients)
    if problem is None and not valid_path(cfg).is_file():
        problem = f"{valid_path(cfg)} not found (the split writes it from valid.jsonl)"
    if problem:
        raise FederatedSetupError(f"{problem}.\nMake the client shards with:\n  {split_command(cfg)}")


def model_key(cfg: Config) -> str:
    """What decides the loaded model: runs that agree on these share one loaded copy per process."""
    fields = (
        "model_name",
        "model_cache_dir",
        "precision",
        "lora_r",
        "lora_alpha",
        "lora_dropout",
        "lora_target_modules",
        "use_gradient_checkpointing",
        "use_4bit",
        "use_nested_quant",
        "bnb_4bit_quant_type",
        "seed",
        "init_adapter",
    )
    return repr(tuple((f, getattr(cfg, f)) for f in fields))


# One loaded model per process (a simulation worker serves many clients and rounds; the server keeps
# its evaluation model across rounds): {model_key: (model, tokenizer, initial adapter tensors)}.
_MODELS: dict[str, tuple[Any, Any, dict[str, Any]]] = {}


def cached_model(cfg: Config) -> tuple[Any, Any, dict[str, Any], float]:
    """(peft model, tokenizer, the adapter as first initialized, seconds spent loading: 0 when cached)."""
    import time

    key = model_key(cfg)
    if key in _MODELS:
        model, tokenizer, initial = _MODELS[key]
        return model, tokenizer, initial, 0.0
    from fedjava.training import set_seed

    _MODELS.clear()  # never two models in one process
    start = time.time()
    set_seed(cfg.seed)
    model, tokenizer = load_for_training(cfg)
    initial = {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}
    _MODELS[key] = (model, tokenizer, initial)
    return model, tokenizer, initial, time.time() - start
