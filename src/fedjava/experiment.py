"""``fedjava experiment``: the main job, from data to the comparison report, in one command.

An experiment preset (``configs/experiments/<name>.yaml``, typed by :class:`Experiment`) names a
training preset and a budget. The pipeline:

1. **data**: seeded subsets of the train/valid/test splits written to ``<out>/data/`` (the test subset
   stratified by error family on request), and the train subset split into client shards (``client_<i>.json`` +
   ``valid.json``; any partition of ``fedjava data split``, or ``task_dirichlet``: whole tasks per school, school
   sizes drawn from Dirichlet), so every method trains on the same samples and is measured on the same validation
   and test samples;
2. **train**: centralized (``hf``, or ``unsloth`` on a GPU) and each federated algorithm on Flower's
   simulation, all through the same training core; the centralized run gets ``num_epochs`` passes
   over the subset and each client ``num_rounds x local_epochs`` passes over its shard, so with
   ``num_epochs = num_rounds x local_epochs`` every method sees the same number of samples; a run with a
   ``tuning`` grid is trained once per grid point and the best on the validation samples is kept
   (:mod:`fedjava.experiment_tuning`);
3. **evaluate**: each trained adapter and the baselines (``base``, ``base_fewshotK``, ``majority``, ``tools_only``, ``grader``)
   on the test subset with the exact metrics of ``fedjava evaluate``;
4. **report**: ``fedjava compare`` over ``<out>``: ``report.md``, ``report.html``, plots.

A stage whose outputs exist with the same settings is skipped (``--force`` redoes it), so an
interrupted experiment continues where it stopped; a training stage interrupted after a checkpoint (a federated
round, a Trainer checkpoint) continues from it, when it was started with the same settings.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fedjava.aggregation import method_names
from fedjava.centralized import check_unsloth, run_centralized
from fedjava.config import (
    FEDERATED_KEYS,
    PRESET_DIRS,
    SAVED_CONFIG,
    Config,
    ConfigError,
    find_yaml,
    list_yaml,
    load_config,
    load_saved_config,
    read_yaml_mapping,
    to_yaml,
)
from fedjava.errors import UserError
from fedjava.experiment_data import partitions, stratified_subset, write_client_shards
from fedjava.experiment_tuning import FOLDER as TUNING_FOLDER
from fedjava.experiment_tuning import TUNE_METRICS, TuningError, grid_points, point_label, select, selection_done
from fedjava.models import BUILTIN_ADAPTER, builtin_adapter_dir
from fedjava.prompts import PROMPT_MODES, load_samples, write_samples

log = logging.getLogger("fedjava")

EXPERIMENT_DIRS = [folder / "experiments" for folder in PRESET_DIRS]
FRAMEWORKS = ("hf", "unsloth")
FORCED_SUFFIX = ":teacher_forced"
"""The name of a model's teacher-forced evaluation stage: ``<run>:teacher_forced``."""
SCORINGS = ("generate", "teacher_forced", "both")
BASELINES = ("base", "majority", "tools_only", "mutants_only", "grader")
"""base: the base model zero-shot; majority: the train split's most common answer; tools_only: the answer a rule
reads from javac's and the tests' output alone (``fedjava evaluate --tools-only``), the floor a model must beat;
mutants_only: the same rule with the mutation localisation's top line and verified change (``--tools-only
--localisation mutants``), the floor where the prompts carry that localisation;
grader: the shipped grader (``--adapter builtin``), measured on the same test samples as the freshly trained
adapters."""
STAGES = ("data", "train", "evaluate", "report")


class ExperimentError(UserError):
    """A bad experiment preset or option."""


@dataclass
class Experiment:
    """One experiment: which runs, on how much data, measured how."""

    name: str = ""
    description: str = ""
    config: str = "demo_cpu"
    """Training preset (configs/<config>.yaml) every run starts from."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Config keys set for every run (e.g. lora_r: 8)."""
    results_dir: str = ""
    """Where everything goes (default: <config's results_dir>/experiment_<name>)."""
    seed: int = 0
    """Seed of the data subsets and the client split."""
    train_samples: int = 0
    """Training samples drawn from the train split (0: all)."""
    valid_samples: int = 0
    """Validation samples for the eval loss after each epoch/round (0: all)."""
    test_samples: int = 0
    """Test samples every model is measured on (0: all)."""
    max_sample_chars: int = 0
    """Draw the subsets only from samples whose messages total at most this many characters (0: any);
    a CPU budget measure: generation and training time grow with the prompt."""
    centralized: list[str] = field(default_factory=lambda: ["hf"])
    """Centralized frameworks to train: hf, unsloth (none: [])."""
    num_epochs: float = 2.0
    """Centralized epochs over the training subset."""
    algorithms: list[str] = field(default_factory=lambda: ["fedavg", "fedprox", "fedadam"])
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    """More federated runs, each {run name: training-config keys} on the same clients and rounds, e.g.
    fedavg_int8: {algorithm: fedavg, update_compression: int8}; measured and reported beside the others."""
    num_clients: int = 2
    num_rounds: int = 2
    local_epochs: float = 1.0
    partition: str = "iid"
    """Client split: iid, task, dirichlet or quantity (see fedjava data split), or task_dirichlet (whole tasks per
    school, school sizes drawn from Dirichlet(alpha): fedjava.federated.partition)."""
    alpha: float = 0.5
    stratified_test: bool = False
    """Draw the test subset stratified by error family (each keeps its share of the test split)."""
    tuning: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Grids to choose a run's keys from on the validation samples, never the test samples: {run: {key: [values]}},
    e.g. fedprox: {fedprox_mu: [0.001, 0.01, 0.1]}; each point is trained as its own run (<results>/tuning/), the
    best by tune_metric becomes the run's row (see fedjava.experiment_tuning)."""
    tune_metric: str = "eval_loss"
    """What a tuning grid is chosen by: the last validation eval_loss (lower is better), eval_verdict_macro_f1,
    eval_code_accuracy or eval_line_accuracy (higher is better)."""
    baselines: list[str] = field(default_factory=lambda: ["base", "majority", "tools_only"])
    few_shot: int = 0
    """Also evaluate the base model with K train examples (0: no few-shot run)."""
    max_new_tokens: int = 384
    eval_batch_size: int = 16
    fix_check: bool = True
    verify_fixes: int = 0
    """Checked fixes in every evaluation but the majority and tools-only baselines (``fedjava evaluate --verify-fixes N``): where an
    answer's fix fails, N more sampled from the model; the report shows the first answers' line and fix check
    beside the checked ones (0: the first answers only)."""
    scoring: str = "generate"
    """How a model is measured on the test samples: "generate" (its answers, with the fix check), "teacher_forced"
    (``fedjava evaluate --teacher-forced``: the loss and the decisions from one pass over the reference answers,
    minutes instead of a quarter of an hour on a CPU, for models that do not yet write valid answers) or "both".
    The majority and tools-only baselines are rules: they always answer."""
    rescore: bool = False
    """Score the answers of an earlier evaluate stage again instead of generating them (``fedjava evaluate
    --rescore``): e.g. with fix_check=true on the CPU after a GPU machine without a JDK generated them."""
    prompt_modes: list[str] = field(default_factory=list)
    """Prompt modes to train and measure every run in (code_only, grounded; empty: the config's own). With two,
    each run and the base baseline is done in both, named <run>_<mode>, side by side in the report."""


_FIELDS = {f.name: f for f in dataclasses.fields(Experiment)}


def find_experiment(name: str) -> Path:
    try:
        return find_yaml(name, EXPERIMENT_DIRS, kind="experiment preset")
    except ConfigError as exc:
        raise ExperimentError(str(exc.problems[0])) from None


def list_experiments() -> list[Path]:
    return list_yaml(EXPERIMENT_DIRS)


def _typed(name: str, value: Any, where: str) -> tuple[Any, str | None]:
    default = getattr(Experiment(), name)
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value, None
        text = str(value).strip().lower()
        if text in ("true", "false"):
            return text == "true", None
        return None, f"{name}={value!r} ({where}): expected true or false"
    if isinstance(default, int):
        if isinstance(value, bool) or not str(value).strip().lstrip("-").isdigit():
            return None, f"{name}={value!r} ({where}): expected an integer"
        return int(value), None
    if isinstance(default, float):
        try:
            return float(value), None
        except (TypeError, ValueError):
            return None, f"{name}={value!r} ({where}): expected a number"
    if isinstance(default, list):
        if value is None:
            return [], None
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()], None
        if isinstance(value, list):
            return [str(v) for v in value], None
        return None, f"{name}={value!r} ({where}): expected a list"
    if isinstance(default, dict):
        if value is None:
            return {}, None
        if isinstance(value, str):  # from the command line: 'tuning={fedprox: {fedprox_mu: [0.001, 0.1]}}'
            import yaml

            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError:
                return None, f"{name}={value!r} ({where}): expected {{key: value, ...}} in YAML"
        return (value, None) if isinstance(value, dict) else (None, f"{name} ({where}): expected key: value pairs")
    return ("" if value is None else str(value)), None


def load_experiment(preset: str, settings: list[str] | None = None) -> Experiment:
    """An experiment from its preset plus ``key=value`` settings; every problem reported at once.

    A setting whose key is not an experiment key but a training-config key goes into ``overrides``.
    """
    path = find_experiment(preset)
    try:
        raw = read_yaml_mapping(path)
    except ConfigError as exc:
        raise ExperimentError(exc.problems[0]) from None
    problems: list[str] = []
    values: dict[str, Any] = {"name": path.stem}
    for key, value in raw.items():
        key = str(key).strip().lower().replace("-", "_")
        if key not in _FIELDS:
            close = difflib.get_close_matches(key, list(_FIELDS), n=1, cutoff=0.6)
            problems.append(f"unknown key '{key}' in {path}" + (f" (did you mean '{close[0]}'?)" if close else ""))
            continue
        converted, problem = _typed(key, value, path.name)
        if problem:
            problems.append(problem)
        else:
            values[key] = converted
    overrides = dict(values.get("overrides") or {})
    for item in settings or []:
        if "=" not in item:
            problems.append(f"'{item}': expected key=value")
            continue
        key, value = item.split("=", 1)
        norm = key.strip().lower().replace("-", "_")
        if norm in _FIELDS and norm not in ("overrides", "name"):
            converted, problem = _typed(norm, value, "command line")
            if problem:
                problems.append(problem)
            else:
                values[norm] = converted
        else:
            overrides[key.strip()] = value  # checked below, as a training-config key
    values["overrides"] = overrides
    if problems:
        raise ExperimentError("; ".join(problems))
    exp = Experiment(**values)
    check_experiment(exp)
    return exp


def check_experiment(exp: Experiment) -> None:
    problems = []
    for name in ("train_samples", "valid_samples", "test_samples", "few_shot", "max_sample_chars", "verify_fixes"):
        if getattr(exp, name) < 0:
            problems.append(f"{name} must be at least 0")
    bad = [a for a in exp.algorithms if a not in method_names()]
    if bad:
        problems.append(f"algorithms: unknown {', '.join(bad)} (choose from {', '.join(method_names())})")
    bad = [f for f in exp.centralized if f not in FRAMEWORKS]
    if bad:
        problems.append(f"centralized: unknown {', '.join(bad)} (choose from {', '.join(FRAMEWORKS)})")
    bad = [b for b in exp.baselines if b not in BASELINES]
    if bad:
        problems.append(f"baselines: unknown {', '.join(bad)} (choose from {', '.join(BASELINES)})")
    if federates(exp) and exp.num_clients < 1:
        problems.append("num_clients must be at least 1")
    if federates(exp) and exp.train_samples and exp.train_samples < exp.num_clients:
        problems.append(f"train_samples={exp.train_samples} cannot give each of {exp.num_clients} clients a sample")
    if exp.num_rounds < 1 or exp.num_epochs <= 0 or exp.local_epochs <= 0:
        problems.append("num_rounds must be at least 1, num_epochs and local_epochs above 0")
    if exp.max_new_tokens < 1 or exp.eval_batch_size < 1:
        problems.append("max_new_tokens and eval_batch_size must be at least 1")
    if exp.scoring not in SCORINGS:
        problems.append(f"scoring: {exp.scoring!r} (choose from {', '.join(SCORINGS)})")
    bad = [m for m in exp.prompt_modes if m not in PROMPT_MODES]
    if bad or len(set(exp.prompt_modes)) != len(exp.prompt_modes):
        problems.append(
            f"prompt_modes: {', '.join(exp.prompt_modes)} (choose each of {', '.join(PROMPT_MODES)} at most once)"
        )

    if federates(exp) and exp.partition not in partitions():
        problems.append(f"partition: unknown {exp.partition} (choose from {', '.join(partitions())})")
    if federates(exp) and exp.partition in ("dirichlet", "quantity", "task_dirichlet") and not exp.alpha > 0:
        problems.append(f"alpha must be above 0 for the {exp.partition} partition")
    if exp.tune_metric not in TUNE_METRICS:
        problems.append(f"tune_metric: unknown {exp.tune_metric} (choose from {', '.join(TUNE_METRICS)})")
    taken = {*exp.algorithms, *(f"centralized_{f}" for f in exp.centralized), *exp.baselines}
    for name, keys in exp.variants.items():
        if not isinstance(keys, dict) or not str(name).replace("_", "").isalnum() or name in taken:
            problems.append(f"variants: {name}: expected a new run name (letters, digits, _) with key: value pairs")
    if problems:
        raise ExperimentError("; ".join(problems))
    # The training configs must load (unknown keys, bad values) before anything runs.
    base_config(exp)
    for name, keys in exp.variants.items():
        variant_config(exp, name, keys)
    tuning_grids(exp)


def federates(exp: Experiment) -> bool:
    """Whether the experiment has federated runs (and so client shards)."""
    return bool(exp.algorithms or exp.variants)


def base_config(exp: Experiment, extra: dict[str, Any] | None = None, what: str = "") -> Config:
    """The training config every run starts from: the preset, the experiment's overrides (then ``extra``, a
    variant's keys), its folders."""
    overrides = [f"{k}={_as_override(v)}" for k, v in {**exp.overrides, **(extra or {})}.items()]
    try:
        cfg = load_config(exp.config, overrides, check_files=False)
    except ConfigError as exc:
        raise ExperimentError(
            f"experiment {exp.name}: {what + ': ' if what else ''}config {exp.config}: {exc}"
        ) from None
    out = Path(exp.results_dir) if exp.results_dir else Path(cfg.results_dir) / f"experiment_{exp.name}"
    return dataclasses.replace(
        cfg,
        results_dir=str(out),
        data_dir=str(out / "data"),
        output_dir="",
        train_file="train.jsonl",
        valid_file="valid.jsonl",
        max_train_samples=0,
        max_eval_samples=0,
    )


def variant_config(exp: Experiment, name: str, keys: dict[str, Any]) -> Config:
    """A variant's training config: the base one on the experiment's clients and rounds, then its own keys."""
    shared = {"num_clients": exp.num_clients, "num_rounds": exp.num_rounds, "local_epochs": exp.local_epochs}
    return base_config(exp, {**shared, **keys}, f"variant {name}")


def _as_override(value: Any) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, list) else str(value)


@dataclass
class Stage:
    kind: str  # data | train | evaluate | report
    name: str
    detail: str
    run: Callable[[], Any]
    done: Callable[[], bool] = lambda: False
    clock: Callable[[], float] = lambda: 0.0
    """The seconds its outputs took by their own record (a run's history), for a stage done before its experiment
    kept times (``experiment.json``)."""


def _newer(path: Path, than: Path) -> bool:
    """``path`` was written after ``than`` (the data stamp): outputs of older data are stale."""
    try:
        return path.stat().st_mtime >= than.stat().st_mtime
    except OSError:
        return False


def _same_config(folder: Path, cfg: Config, kind: str) -> bool:
    saved = folder / "final_model" / SAVED_CONFIG
    return (
        (folder / "final_model" / "adapter_config.json").is_file()
        and saved.is_file()
        and same_settings(saved.read_text(encoding="utf-8"), cfg, kind)
        and _newer(saved, _stamp(cfg))
    )


HOW_IT_RAN = ("client_num_cpus", "client_num_gpus")
"""Config keys that say how the simulation placed the schools on the machine, not what was trained: a run saved with
other values is the same run (one school at a time or two side by side)."""


def same_settings(saved_yaml: str, cfg: Config, kind: str = "federated") -> bool:
    """Whether a run saved with config ``saved_yaml`` was trained with ``cfg``, apart from :data:`HOW_IT_RAN`; for a
    centralized run (``kind`` hf or unsloth), apart from the federated keys too, which it does not read."""
    if saved_yaml == to_yaml(cfg):
        return True
    try:
        saved = yaml.safe_load(saved_yaml)
    except yaml.YAMLError:
        return False
    mine = yaml.safe_load(to_yaml(cfg))
    if not isinstance(saved, dict):
        return False
    ignored = set(HOW_IT_RAN) | (set() if kind == "federated" else set(FEDERATED_KEYS))
    return {k: v for k, v in saved.items() if k not in ignored} == {k: v for k, v in mine.items() if k not in ignored}


def _stamp(cfg: Config) -> Path:
    return Path(cfg.data_dir) / "subsets.json"


def mode_variants(exp: Experiment, cfg: Config) -> list[tuple[str, Config]]:
    """(run-name suffix, config) per prompt mode: one unsuffixed run, or ``_<mode>`` for each of several modes."""
    if not exp.prompt_modes:
        return [("", cfg)]
    if len(exp.prompt_modes) == 1:
        return [("", dataclasses.replace(cfg, prompt_mode=exp.prompt_modes[0]))]
    return [(f"_{mode}", dataclasses.replace(cfg, prompt_mode=mode)) for mode in exp.prompt_modes]


def training_configs(exp: Experiment, extra: dict[str, Any] | None = None) -> dict[str, tuple[str, Config]]:
    """{run name: (framework or 'federated', its config)} for every training run (``extra``: training keys set on
    every run after its own, a tuning grid's point)."""
    runs: dict[str, tuple[str, Config]] = {}
    for suffix, cfg in mode_variants(exp, base_config(exp, extra)):
        for framework in exp.centralized:
            name = f"centralized_{framework}{suffix}"
            runs[name] = (
                framework,
                dataclasses.replace(cfg, num_epochs=exp.num_epochs, output_dir=_run_dir(cfg, name, suffix)),
            )
        for algorithm in exp.algorithms:
            runs[f"{algorithm}{suffix}"] = (
                "federated",
                dataclasses.replace(
                    cfg,
                    algorithm=algorithm,
                    num_clients=exp.num_clients,
                    num_rounds=exp.num_rounds,
                    local_epochs=exp.local_epochs,
                    output_dir=_run_dir(cfg, f"{algorithm}{suffix}", suffix),
                ),
            )
        for variant, keys in exp.variants.items():
            own = variant_config(exp, variant, {**keys, **(extra or {})})
            if exp.prompt_modes:
                own = dataclasses.replace(own, prompt_mode=cfg.prompt_mode)
            runs[f"{variant}{suffix}"] = (
                "federated",
                dataclasses.replace(own, output_dir=str(Path(cfg.results_dir) / f"{variant}{suffix}")),
            )
    return runs


def tuning_grids(exp: Experiment) -> dict[str, dict[str, Config]]:
    """{tuned run: {grid label: its config}}, each point's run in ``<results>/tuning/<run>/<label>/``."""
    runs = training_configs(exp) if exp.tuning else {}
    grids: dict[str, dict[str, Config]] = {}
    for name, keys in exp.tuning.items():
        if name not in runs:
            raise ExperimentError(f"tuning: no run named {name} (runs: {', '.join(runs)})")
        if not isinstance(keys, dict):
            raise ExperimentError(f"tuning: {name}: expected key: [values] pairs")
        try:
            points = grid_points(keys)
        except TuningError as exc:
            raise ExperimentError(f"{exc} for {name}") from None
        grids[name] = {}
        for point in points:
            label = point_label(point)
            folder = Path(runs[name][1].results_dir) / TUNING_FOLDER / name / label
            cfg = training_configs(exp, point)[name][1]
            grids[name][label] = dataclasses.replace(cfg, results_dir=str(folder), output_dir=str(folder))
    return grids


def _run_dir(cfg: Config, name: str, suffix: str) -> str:
    """A run's own folder when runs of several prompt modes share a method ("" keeps the default one)."""
    return str(Path(cfg.results_dir) / name) if suffix else ""


def sample_chars(sample: dict) -> int:
    return sum(len(m.get("content") or "") for m in sample["messages"])


def _subset_file(
    source: Path, target: Path, count: int, seed: int, max_chars: int = 0, stratified: bool = False
) -> int:
    # lazy: pulls in numpy
    from fedjava.evaluation.evaluate import subset

    samples = load_samples(source)
    if max_chars:
        samples = [s for s in samples if sample_chars(s) <= max_chars]
        if count and len(samples) < count:
            raise ExperimentError(
                f"{source}: only {len(samples)} samples have at most max_sample_chars="
                f"{max_chars} characters; {count} are asked for"
            )
    samples = stratified_subset(samples, count, seed) if stratified else subset(samples, count, seed)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_samples(samples, target)
    return len(samples)


def prepare_data(exp: Experiment, source_dir: Path, printer: Callable[[str], None]) -> dict[str, int]:
    """Write the experiment's train/valid/test subsets and client shards under ``<out>/data``."""

    cfg = base_config(exp)
    data = Path(cfg.data_dir)
    counts = {}
    for split, count in (("train", exp.train_samples), ("valid", exp.valid_samples), ("test", exp.test_samples)):
        source = source_dir / f"{split}.jsonl"
        if not source.is_file():
            raise ExperimentError(
                f"{source} not found: the experiment draws its samples from the "
                f"{source_dir} folder (build it with 'fedjava data build')"
            )
        counts[split] = _subset_file(
            source,
            data / f"{split}.jsonl",
            count,
            exp.seed,
            exp.max_sample_chars,
            stratified=split == "test" and exp.stratified_test,
        )
    if federates(exp):
        printer(write_client_shards(data, exp.num_clients, exp.partition, exp.alpha, exp.seed))
    _stamp(cfg).write_text(json.dumps(_data_key(exp, source_dir), indent=1) + "\n", encoding="utf-8")
    return counts


def _data_key(exp: Experiment, source_dir: Path, legacy: bool = False) -> dict[str, Any]:
    """What the subsets were drawn from and how: the source splits by content (SHA-256), so that the same data in
    another checkout or folder is the same data. ``legacy``: the key stamps written before, by path and size."""
    sources: dict[str, Any] = {}
    for split in ("train", "valid", "test"):
        path = source_dir / f"{split}.jsonl"
        if not path.is_file():
            sources[split] = None
        else:
            sources[split] = path.stat().st_size if legacy else _sha256(path)
    key: dict[str, Any] = (
        {"source": str(source_dir.resolve()), "sizes": sources} if legacy else {"sources_sha256": sources}
    )
    key.update(
        {
            "seed": exp.seed,
            "train": exp.train_samples,
            "valid": exp.valid_samples,
            "test": exp.test_samples,
            "max_chars": exp.max_sample_chars,
            "clients": exp.num_clients if federates(exp) else 0,
            "partition": exp.partition,
            "alpha": exp.alpha,
        }
    )
    if exp.stratified_test:  # only when asked: the data of experiments drawn before the key existed stays done
        key["stratified_test"] = True
    return key


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _data_done(exp: Experiment, source_dir: Path) -> bool:
    stamp = _stamp(base_config(exp))
    try:
        saved = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    legacy = isinstance(saved, dict) and "sizes" in saved
    return saved == _data_key(exp, source_dir, legacy=legacy)


def eval_options(exp: Experiment, unsafe_run: bool = False, **what: Any):
    from fedjava.evaluation.evaluate import EvalOptions

    # the majority answer and the tools-only rule have no model to sample fixes from
    verify = 0 if what.get("majority") or what.get("tools_only") else exp.verify_fixes
    return EvalOptions(
        split="test",
        max_samples=0,
        max_new_tokens=exp.max_new_tokens,
        batch_size=exp.eval_batch_size,
        fix_check=exp.fix_check,
        unsafe_run=unsafe_run,
        verify_fixes=verify,
        rescore=exp.rescore,
        **what,
    )


def _eval_done(metrics_path: Path, opts, stamp: Path, adapter: Path | None) -> bool:
    """Measured with the same options, after the data was drawn and after the adapter was trained."""
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    if not _same_options(metrics.get("options"), opts) or not _newer(metrics_path, stamp):
        return False
    return adapter is None or _newer(metrics_path, adapter / "adapter_model.safetensors")


def _same_options(saved: Any, opts) -> bool:
    """Whether a run was measured with ``opts``. unsafe_run says how the fix check ran and rescore how the answers
    were scored (again, without generating them), not what was measured."""
    how = ("unsafe_run", "rescore")
    mine = {k: v for k, v in dataclasses.asdict(opts).items() if k not in how}
    if not isinstance(saved, dict):
        return False
    # an option added after the run was measured counts as its default: a newer fedjava does not redo old stages
    defaults = dataclasses.asdict(type(opts)())
    saved = {**{k: defaults[k] for k in mine if k not in saved}, **saved}
    return {k: v for k, v in saved.items() if k not in how} == mine


def plan(
    exp: Experiment,
    source_dir: Path,
    printer: Callable[[str], None] = print,
    unsafe_run: bool = False,
    force: bool = False,
) -> list[Stage]:
    """Every stage of the experiment, in order (``unsafe_run``: the fix check without the sandbox; ``force``: a
    training stage starts afresh instead of continuing from its checkpoint)."""
    cfg = base_config(exp)
    results = Path(cfg.results_dir)
    stages = [
        Stage(
            "data",
            "data",
            f"subsets train {exp.train_samples or 'all'} / valid {exp.valid_samples or 'all'}"
            f" / test {exp.test_samples or 'all'} (seed {exp.seed})"
            + (f", {exp.num_clients} {exp.partition} client shards" if federates(exp) else ""),
            lambda: prepare_data(exp, source_dir, printer),
            lambda: _data_done(exp, source_dir),
        )
    ]
    runs = training_configs(exp)
    grids = tuning_grids(exp)
    for name, (kind, run_cfg) in runs.items():
        stages += _training_stages(exp, name, kind, run_cfg, grids.get(name), results, printer, force)
    stages += _evaluation_stages(exp, _scored(exp, _evaluations(exp, cfg, runs, unsafe_run)), cfg, printer)
    stages.append(
        Stage("report", "report", f"report.md and report.html in {results}", lambda: _report(results, printer))
    )
    return stages


def _training_stages(
    exp: Experiment,
    name: str,
    kind: str,
    run_cfg: Config,
    grid: dict[str, Config] | None,
    results: Path,
    printer: Callable[[str], None],
    force: bool,
) -> list[Stage]:
    """The stages of one training run: the run itself, or (tuned: ``grid`` of its points' configs) a run per point,
    then choosing the best of them."""
    folder = run_cfg.resolved_output_dir(name)
    if kind == "federated":
        detail = (
            f"{name}: {exp.num_clients} clients x {exp.num_rounds} rounds x {exp.local_epochs:g} "
            "local epoch(s) on Flower's simulation"
        )
    else:
        detail = f"{name}: {exp.num_epochs:g} epoch(s) over the training subset"
    if grid is None:
        return [
            Stage(
                "train",
                name,
                detail,
                _train(kind, run_cfg, name, results, printer, force),
                lambda f=folder, c=run_cfg: _same_config(f, c, kind) and not lost_schools(f),
                lambda f=folder: _run_clock(f),
            )
        ]
    stages = []
    for label, point_cfg in grid.items():
        point_folder = point_cfg.resolved_output_dir(name)
        stages.append(
            Stage(
                "train",
                f"{name} {label}",
                f"{detail}, tuning {label}",
                _train(kind, point_cfg, f"{name}@{label}", results, printer, force),
                lambda f=point_folder, c=point_cfg: _same_config(f, c, kind) and not lost_schools(f),
            )
        )
    folders = {label: c.resolved_output_dir(name) for label, c in grid.items()}
    configs = {label: to_yaml(c) for label, c in grid.items()}
    stages.append(
        Stage(
            "train",
            name,
            f"{name}: the best of {len(grid)} on the validation samples by {exp.tune_metric}",
            lambda f=folder, g=folders, c=configs: _choose(f, g, c, exp, printer),
            lambda f=folder, g=folders, c=configs: selection_done(f, g, c),
        )
    )
    return stages


Evaluation = tuple[str, Any, Path | None, Config]
"""What one evaluation stage measures: (its run name, its EvalOptions, the adapter folder or None, the config)."""


def _evaluations(
    exp: Experiment, cfg: Config, runs: dict[str, tuple[str, Config]], unsafe_run: bool
) -> list[Evaluation]:
    """The baselines, the base model with few-shot examples, then every trained run, on the test subset."""
    evaluations: list[Evaluation] = []
    for baseline in exp.baselines:
        if baseline == "grader":
            evaluations.append(
                (baseline, eval_options(exp, unsafe_run, adapter=BUILTIN_ADAPTER), builtin_adapter_dir(), cfg)
            )
        elif baseline == "majority":
            evaluations.append((baseline, eval_options(exp, unsafe_run, majority=True), None, cfg))
        elif baseline in ("tools_only", "mutants_only"):
            rule = "tools" if baseline == "tools_only" else "mutants"
            evaluations.append((baseline, eval_options(exp, unsafe_run, tools_only=rule), None, cfg))
        else:
            for suffix, mode_cfg in mode_variants(exp, cfg):
                evaluations.append(
                    (f"base{suffix}", eval_options(exp, unsafe_run, base=True, run=f"base{suffix}"), None, mode_cfg)
                )
    if exp.few_shot:
        for suffix, mode_cfg in mode_variants(exp, cfg):
            name = f"base_fewshot{exp.few_shot}{suffix}"
            evaluations.append(
                (name, eval_options(exp, unsafe_run, base=True, few_shot=exp.few_shot, run=name), None, mode_cfg)
            )
    for name, (_, run_cfg) in runs.items():
        adapter = run_cfg.resolved_output_dir(name) / "final_model"
        evaluations.append((name, eval_options(exp, unsafe_run, adapter=str(adapter)), adapter, cfg))
    return evaluations


def _scored(exp: Experiment, evaluations: list[Evaluation]) -> list[Evaluation]:
    """``evaluations`` as ``exp.scoring`` says: each model's generating run, its teacher-forced one (named
    ``<run>:teacher_forced``; not for few-shot runs), or both. The rule baselines always answer."""
    out: list[Evaluation] = []
    for name, opts, adapter, eval_cfg in evaluations:
        model = not (opts.majority or opts.tools_only)
        if not model or exp.scoring in ("generate", "both"):
            out.append((name, opts, adapter, eval_cfg))
        if model and exp.scoring in ("teacher_forced", "both") and not opts.few_shot:
            forced = dataclasses.replace(opts, teacher_forced=True, verify_fixes=0, rescore=False)
            out.append((f"{name}{FORCED_SUFFIX}", forced, adapter, eval_cfg))
    return out


def _evaluation_stages(
    exp: Experiment, evaluations: list[Evaluation], cfg: Config, printer: Callable[[str], None]
) -> list[Stage]:
    """A stage per evaluation, done when its metrics were measured with the same options after the data (in ``cfg``)
    was drawn."""
    from fedjava.evaluation.evaluate import output_paths

    stages = []
    for name, opts, adapter, eval_cfg in evaluations:
        metrics_path = output_paths(eval_cfg, opts)[1]
        stages.append(
            Stage(
                "evaluate",
                name,
                f"{name} on {exp.test_samples or 'all'} test samples"
                + (", teacher-forced" if opts.teacher_forced else ""),
                _evaluate(eval_cfg, opts, printer),
                lambda m=metrics_path, o=opts, a=adapter: _eval_done(m, o, _stamp(cfg), a),
            )
        )
    return stages


def _train(
    kind: str, cfg: Config, name: str, results: Path, printer: Callable[[str], None], force: bool
) -> Callable[[], Any]:
    """A training stage: it runs only when its outputs are missing or stale (or --force), so it replaces them, unless
    the same run was started before and left a checkpoint (then it continues from it)."""

    def run() -> Any:
        folder = cfg.resolved_output_dir(name)
        marker = results / STARTED_FOLDER / f"{name}.yaml"
        # a run that lost schools is not continued: its rounds are not the experiment's
        resume = not force and not lost_schools(folder) and _resumable(kind, folder, marker, cfg)
        if resume:
            printer(f"  continuing {name} from its last checkpoint (started earlier with the same settings)")
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(to_yaml(cfg), encoding="utf-8")
        if kind != "federated":
            return run_centralized(cfg, framework=kind, printer=printer, resume=resume, overwrite=not resume)
        # lazy: pulls in flwr, numpy, torch
        from fedjava.federated.simulation import run_federated

        summary = run_federated(cfg, printer=printer, resume=resume, overwrite=not resume)
        if summary["rounds_aggregated"] == 0:
            raise ExperimentError(f"{cfg.algorithm}: no round aggregated any client update (see training.log)")
        lost = lost_schools(folder)
        if lost:
            marker.unlink()  # its rounds are not the experiment's: the next run starts this stage over
            raise ExperimentError(
                f"{name}: {lost}. The rows of an experiment compare methods on the same sample passes, so this "
                "run does not count; run the experiment again to redo it (a school that ran out of memory: "
                "client_num_cpus=2 trains one school at a time; see training.log)"
            )
        return summary

    return run


def lost_schools(folder: Path) -> str:
    """'' when every school trained in every round of the federated run in ``folder``; else which failed, when and
    why (the first line of the first reason), e.g. 'round 2: 3 of 4 schools failed (OutOfMemoryError: ...)'."""
    try:
        history = json.loads((folder / "training_history.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return ""
    parts = []
    for entry in history.get("rounds", []):
        failed = entry.get("failed") or []
        if failed:
            asked = len(failed) + len(entry.get("clients") or []) + len(entry.get("rejected") or [])
            reason = _short_reason(str(failed[0].get("reason", "")))
            parts.append(f"round {entry.get('round')}: {len(failed)} of {asked} schools failed ({reason[:100]})")
    return "; ".join(parts)


def _short_reason(reason: str) -> str:
    """Ray's "<class 'ray.exceptions.X'>:<'message'>" as 'X: message', or the error it wraps as 'Error: message'."""
    reason = " ".join(reason.split())
    match = re.match(r"<class '([^']*)'>:<'?(.*)", reason)
    if not match:
        return reason
    wrapped = re.match(r"(?:[A-Za-z_]\w*\.)*([A-Za-z_]\w*(?:Error|Exception|Fault)): (.*)", match.group(2))
    if wrapped:
        return f"{wrapped.group(1)}: {wrapped.group(2)}"
    return f"{match.group(1).split('(')[0].rsplit('.', 1)[-1]}: {match.group(2)}"


STARTED_FOLDER = ".started"
"""Under the results folder: the config each training stage was last started with (``<run>.yaml``)."""


def _resumable(kind: str, folder: Path, marker: Path, cfg: Config) -> bool:
    """The run in ``folder`` was started with exactly ``cfg`` after the data was drawn, and left a checkpoint."""
    try:
        same = same_settings(marker.read_text(encoding="utf-8"), cfg, kind) and _newer(marker, _stamp(cfg))
    except OSError:
        return False
    if kind == "federated":
        from fedjava.federated.checkpoints import saved_rounds

        return same and bool(saved_rounds(folder))
    return same and any(p.is_dir() for p in (folder / "checkpoints").glob("checkpoint-*"))


def _choose(
    folder: Path, grid: dict[str, Path], configs: dict[str, str], exp: Experiment, printer: Callable[[str], None]
) -> dict[str, Any]:
    try:
        record = select(folder, grid, configs, exp.tune_metric)
    except TuningError as exc:
        raise ExperimentError(str(exc)) from None
    for label, value in record["results"].items():
        mark = "  <- chosen" if label == record["chosen"] else ""
        printer(f"  {label}: validation {exp.tune_metric} " + (f"{value:.4f}" if value is not None else "n/a") + mark)
    return record


def _evaluate(cfg: Config, opts, printer: Callable[[str], None]) -> Callable[[], Any]:
    def run() -> Any:
        from fedjava.evaluation.evaluate import adapter_dir, run_evaluation

        run_cfg = cfg
        if opts.adapter:  # the base model and prompt mode the adapter was trained with
            run_cfg = load_saved_config(
                adapter_dir(opts), [f"data_dir={cfg.data_dir}", f"results_dir={cfg.results_dir}"]
            )
        metrics, _, _ = run_evaluation(run_cfg, opts, progress=printer)
        return metrics

    return run


def _report(results: Path, printer: Callable[[str], None]) -> tuple[str, Path, Path]:
    from fedjava.evaluation.compare import write_report

    return write_report(results)


def run_experiment(
    exp: Experiment,
    source_dir: str | Path = "data",
    force: bool = False,
    only: list[str] | None = None,
    printer: Callable[[str], None] = print,
    unsafe_run: bool = False,
    command: str = "",
) -> dict[str, Any]:
    """Run every stage (skipping those already done unless ``force``). Returns a summary with the
    report's table and paths and each stage's seconds. ``unsafe_run``: the fix check without the sandbox.
    ``command``: the command line that started this run, kept in ``experiment.json`` (and the report) when it ran a
    stage, so the report says how its numbers were made."""
    source_dir = Path(source_dir)
    only = only or list(STAGES)
    unknown = [s for s in only if s not in STAGES]
    if unknown:
        raise ExperimentError(f"--only: unknown stage {', '.join(unknown)} (stages: {', '.join(STAGES)})")
    stages = [s for s in plan(exp, source_dir, printer, unsafe_run, force) if s.kind in only]
    if "unsloth" in exp.centralized and "train" in only:
        check_unsloth()  # before hours of other runs, not after
    if (exp.fix_check or exp.verify_fixes) and not unsafe_run and "evaluate" in only:
        from fedjava.evaluation.evaluate import require_fix_check_sandbox

        require_fix_check_sandbox()  # likewise
    cfg = base_config(exp)
    printer(f"Experiment {exp.name}: {exp.description}".rstrip(": "))
    printer(f"  model {cfg.model_name}; results in {cfg.results_dir}; {len(stages)} stages")
    started = time.perf_counter()
    record = Path(cfg.results_dir) / "experiment.json"
    earlier = _earlier_seconds(record)
    commands = _earlier_commands(record)
    timings: list[tuple[str, float, str]] = []
    report = None
    for i, stage in enumerate(stages, 1):
        elapsed = time.perf_counter() - started
        header = f"[{i}/{len(stages)}] {stage.kind} {stage.detail}  (elapsed {_clock(elapsed)})"
        name = f"{stage.kind} {stage.name}"
        if not force and stage.kind != "report" and stage.done():
            printer(f"\n{header}: done earlier with the same settings, skipped (--force redoes it)")
            timings.append((name, earlier.get(name) or stage.clock(), "done earlier"))
            continue
        printer(f"\n{header}")
        if command and command not in commands and stage.kind != "report":
            commands.append(command)
        t0 = time.perf_counter()
        result = stage.run()
        seconds = _stage_seconds(stage.kind, result, time.perf_counter() - t0)
        timings.append((name, seconds, "ran"))
        if stage.kind == "report":
            report = result
        printer(f"  {stage.kind} {stage.name} took {_clock(seconds)}")
        elapsed = time.perf_counter() - started
        _write_record(record, exp, timings, earlier, elapsed, commands)  # an interrupted run keeps these
    total = time.perf_counter() - started
    _write_record(record, exp, timings, earlier, total, commands)
    timing_lines = [f"  {name:<28s} {_clock(sec):>8s}  {state}" for name, sec, state in timings]
    printer(
        "\nStage times:\n"
        + "\n".join(timing_lines)
        + f"\n  {'this run':<28s} {_clock(total):>8s}"
        + f"\n  {'every stage, as measured':<28s} {_clock(sum(sec for _, sec, _ in timings)):>8s}"
    )
    summary: dict[str, Any] = {"results_dir": cfg.results_dir, "seconds": total, "stages": timings}
    if report:
        table, md_path, html_path = report
        printer("\n" + table)
        printer(f"\nReport: {md_path}\n        {html_path}")
        summary.update(table=table, report_md=str(md_path), report_html=str(html_path))
    return summary


def _earlier_seconds(record: Path) -> dict[str, float]:
    """Each stage's seconds as measured by the run that did it (``experiment.json`` of earlier runs)."""
    try:
        stages = json.loads(record.read_text(encoding="utf-8")).get("stages", [])
        return {str(s["stage"]): float(s["seconds"]) for s in stages if float(s.get("seconds") or 0) > 0}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def _earlier_commands(record: Path) -> list[str]:
    """The command lines of the earlier runs that did a stage (``experiment.json``'s ``commands``)."""
    try:
        commands = json.loads(record.read_text(encoding="utf-8")).get("commands", [])
        return [str(c) for c in commands] if isinstance(commands, list) else []
    except (OSError, ValueError, AttributeError):
        return []


def _run_clock(folder: Path) -> float:
    """A training run's seconds by its own history (a federated run's include the part before an interruption)."""
    try:
        summary = json.loads((folder / "training_history.json").read_text(encoding="utf-8")).get("summary") or {}
        return float(summary.get("seconds") or summary.get("train_seconds") or 0.0)
    except (OSError, ValueError, TypeError, AttributeError):
        return 0.0


def _stage_seconds(kind: str, result: Any, seconds: float) -> float:
    """A training stage's time: a federated run that continued an interrupted one counts on from the checkpoint's
    clock (its summary's ``seconds``), so the part done before the interruption counts too."""
    if kind == "train" and isinstance(result, dict):
        return max(seconds, float(result.get("seconds") or 0.0))
    return seconds


def _write_record(
    record: Path,
    exp: Experiment,
    timings: list[tuple[str, float, str]],
    earlier: dict[str, float],
    total: float,
    commands: list[str],
) -> None:
    """``experiment.json``: the settings, each stage's seconds (a skipped stage keeps those of the run that did it,
    and so does a stage this run left out with ``--only``), this run's seconds (``total_seconds``), every stage's
    together (``stage_seconds``: the experiment's cost) and the command lines of the runs that did stages."""
    record.parent.mkdir(parents=True, exist_ok=True)
    here = {name for name, _, _ in timings}
    stages = [*timings, *((name, sec, "done earlier") for name, sec in earlier.items() if name not in here)]
    body = {
        "experiment": dataclasses.asdict(exp),
        "stages": [{"stage": n, "seconds": round(s, 1), "state": st} for n, s, st in stages],
        "total_seconds": round(total, 1),
        "stage_seconds": round(sum(s for _, s, _ in stages), 1),
        "commands": commands,
    }
    record.write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")


def _clock(seconds: float) -> str:
    minutes, sec = divmod(int(round(seconds)), 60)
    return f"{minutes}m{sec:02d}s" if minutes else f"{sec}s"
