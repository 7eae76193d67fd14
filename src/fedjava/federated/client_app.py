"""The ClientApp: client i trains the global adapter on ``<data_dir>/client_i.json`` with
:func:`fedjava.training.train_adapter` (the loop of ``fedjava train``) and sends back only the adapter.

The base model is loaded once per worker process and kept (``common.cached_model``); each round the
adapter is reset from the global arrays. Local training is seeded from (seed, round, client) alone.
A client that fails raises ``ClientTrainingError`` naming the client; Flower turns it into an error
reply, which the server logs and leaves out of the round.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from fedjava.config import Config
from fedjava.federated.common import (
    cached_model,
    config_from_run_config,
    local_config,
    shard_path,
)
from fedjava.federated.devices import pin_process_to_gpu
from fedjava.federated.privacy import dp_clipping_mod
from fedjava.prompts import AnswerOnlyCollator, tokenize_samples
from fedjava.tracking import setup_logging

log = logging.getLogger("fedjava")

# Tokenized shards of this process: {(path, mtime, size, settings): features}.
_FEATURES: dict[tuple, list[dict[str, list[int]]]] = {}
_WORKDIR: list[Path] = []
# The node config key naming the client's own data file (``fedjava client --data``); the simulation and
# ``flwr run`` without it read ``<data_dir>/client_K.json``.
DATA_FILE_KEY = "data-file"


class ClientTrainingError(RuntimeError):
    """A client could not train; the message starts with ``client K:``."""


def _config(context: Context, fixed: dict[str, Any] | None) -> Config:
    if fixed is not None:
        return Config(**fixed)
    return config_from_run_config(context.run_config)[0]


def client_identity(context: Context, cfg: Config) -> int:
    """This node's client id (``partition-id`` of the node config), checked against num_clients."""
    node = context.node_config
    if "partition-id" not in node:
        raise ClientTrainingError(
            "client ?: the node config has no partition-id (start the SuperNode with "
            "--node-config 'partition-id=K num-partitions=N')"
        )
    client_id = int(node["partition-id"])
    partitions = int(node.get("num-partitions", cfg.num_clients))
    if partitions != cfg.num_clients or not 0 <= client_id < cfg.num_clients:
        raise ClientTrainingError(
            f"client {client_id}: the federation has {partitions} client(s) but "
            f"num_clients={cfg.num_clients}; make them agree"
        )
    return client_id


def client_data_path(context: Context, cfg: Config, client_id: int) -> Path:
    """The node's ``data-file`` when the SuperNode names one (distributed mode), else the shard in data_dir."""
    named = context.node_config.get(DATA_FILE_KEY)
    if named:
        setup_logging()  # a SuperNode's own console shows what its client does (see fedjava client)
        return Path(str(named))
    return shard_path(cfg, client_id)


def _features(cfg: Config, tokenizer, client_id: int, path: Path):
    from fedjava.training import load_prompted

    stat = path.stat() if path.exists() else None
    key = (
        str(path.resolve()),
        stat.st_mtime_ns if stat else 0,
        stat.st_size if stat else 0,
        cfg.max_seq_length,
        cfg.truncation,
        cfg.max_train_samples,
        cfg.model_name,
        cfg.prompt_mode,
        cfg.tests_dropout,
        cfg.quote_lines,
        cfg.localisation,
        cfg.seed,
    )
    if key not in _FEATURES:
        samples = load_prompted(cfg, path, cfg.max_train_samples, f"client_{client_id}", training=True)
        _FEATURES[key] = tokenize_samples(
            tokenizer, samples, cfg.max_seq_length, cfg.truncation, f"client_{client_id}"
        )[0]
    return _FEATURES[key]


def _workdir() -> Path:
    if not _WORKDIR:
        _WORKDIR.append(Path(tempfile.mkdtemp(prefix="fedjava-client-")))
    return _WORKDIR[0]


def _prepare_process(cfg: Config, client_id: int) -> None:
    if cfg.num_gpus > 0:
        pin_process_to_gpu(client_id, cfg.num_clients, cfg.num_gpus)
    import torch

    torch.set_num_threads(cfg.num_threads or max(1, int(cfg.client_num_cpus)))


def local_train(msg: Message, context: Context, fixed: dict[str, Any] | None = None) -> Message:
    """Handle one training message: load the global adapter, train locally, reply with the new adapter."""
    cfg = _config(context, fixed)
    client_id = client_identity(context, cfg)
    config = msg.content.config_records.get("config", ConfigRecord())
    server_round = int(config.get("server-round", 0))
    data_path = client_data_path(context, cfg, client_id)
    try:
        from fedjava.federated.adapter_io import adapter_to_arrays, load_arrays_into
        from fedjava.federated.devices import describe_device
        from fedjava.training import Proximal, train_adapter

        _prepare_process(cfg, client_id)
        model, tokenizer, _, load_seconds = cached_model(cfg)
        features = _features(cfg, tokenizer, client_id, data_path)
        received = _received_global(model, msg.content.array_records["arrays"], config, context)
        load_arrays_into(model, received)
        mu = float(config.get("proximal-mu", 0.0))
        proximal = Proximal.from_model(model, mu) if mu > 0 else None
        epochs = float(config.get("local-epochs", cfg.local_epochs))
        result = train_adapter(
            model,
            tokenizer,
            local_config(cfg, server_round, client_id),
            features,
            None,
            _workdir() / f"client_{client_id}",
            proximal=proximal,
            num_epochs=epochs,
            show_progress=False,
        )
        arrays = adapter_to_arrays(model)
        compression = str(config.get("update-compression", "none"))
        if compression != "none":
            from fedjava.federated.adapter_io import arrays_to_numpy, numpy_to_arrays
            from fedjava.federated.compression import client_encode

            arrays = numpy_to_arrays(
                client_encode(
                    arrays_to_numpy(received),
                    arrays_to_numpy(arrays),
                    compression,
                    float(config.get("topk-fraction", 0.1)),
                    context.state,
                )
            )
    except Exception as exc:
        raise ClientTrainingError(f"client {client_id}: {type(exc).__name__}: {exc}") from exc
    log.info(
        "Client %d, round %d: trained on %d samples (%s), %d steps, train_loss=%.4f, %.1fs",
        client_id,
        server_round,
        len(features),
        data_path,
        result.steps,
        result.train_loss,
        result.seconds,
    )
    metrics = MetricRecord(
        {
            "num-examples": len(features),
            "train_loss": float(result.train_loss),
            "train_seconds": float(result.seconds),
            "steps": int(result.steps),
            "tokens": int(result.tokens),
            "load_seconds": float(load_seconds),
        }
    )
    info = ConfigRecord(
        {"client-id": client_id, "device": describe_device(), "pid": os.getpid(), "update-compression": compression}
    )
    return Message(RecordDict({"arrays": arrays, "metrics": metrics, "client": info}), reply_to=msg)


def _received_global(model, arrays, config, context: Context):
    """The global adapter as the server meant it. When it came down encoded (fp16/int8 ``update_compression``), it
    is a delta against this client's copy (kept in its Flower ``Context.state``), checked against the server's
    digests, and the new float32 copy replaces the old one (:mod:`fedjava.federated.downlink`)."""
    mode = str(config.get("global-compression", "none"))
    if mode == "none":
        return arrays
    from flwr.app import ArrayRecord

    from fedjava.federated.adapter_io import adapter_to_arrays, arrays_to_numpy, numpy_to_arrays
    from fedjava.federated.downlink import BASE_KEY, DIGEST_KEY, HELD_KEY, client_copy

    shapes = {name: tuple(a.shape) for name, a in adapter_to_arrays(model).items()}
    held = arrays_to_numpy(context.state[HELD_KEY]) if HELD_KEY in context.state.array_records else None
    copy = client_copy(
        arrays_to_numpy(arrays), shapes, mode, str(config.get(BASE_KEY, "")), str(config.get(DIGEST_KEY, "")), held
    )
    record: ArrayRecord = numpy_to_arrays(copy)
    context.state[HELD_KEY] = record
    return record


def local_evaluate(msg: Message, context: Context, fixed: dict[str, Any] | None = None) -> Message:
    """Evaluate the received adapter on this client's own shard (the run itself evaluates on the server)."""
    from fedjava.federated.adapter_io import load_arrays_into
    from fedjava.training import evaluate_loss

    cfg = _config(context, fixed)
    client_id = client_identity(context, cfg)
    try:
        model, tokenizer, _, _ = cached_model(cfg)
        features = _features(cfg, tokenizer, client_id, client_data_path(context, cfg, client_id))
        load_arrays_into(model, msg.content.array_records["arrays"])
        metrics = evaluate_loss(model, features, AnswerOnlyCollator(tokenizer.pad_token_id), max(cfg.batch_size, 4))
    except Exception as exc:
        raise ClientTrainingError(f"client {client_id}: {type(exc).__name__}: {exc}") from exc
    return Message(
        RecordDict({"metrics": MetricRecord({"num-examples": len(features), "eval_loss": metrics["eval_loss"]})}),
        reply_to=msg,
    )


def make_client_app(cfg: Config | None = None) -> ClientApp:
    """A ClientApp for ``cfg`` (None: read it from the Flower run config of each message's run)."""
    fixed = cfg.to_dict() if cfg is not None else None

    client = ClientApp(mods=[dp_clipping_mod])  # clips only when the server asks (dp_mode=client)

    @client.train()
    def train(msg: Message, context: Context) -> Message:
        return local_train(msg, context, fixed)

    @client.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        return local_evaluate(msg, context, fixed)

    return client


app = make_client_app()
