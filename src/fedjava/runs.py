"""What every training path (``fedjava train``, the federated server) does around the core loop, written once:
:func:`training_run` opens a run (claims the output folder, finds the checkpoint a resumed run continues, starts
``training.log``), :class:`TrainingRun` loads the model, starts the ``RunTracker`` and finishes (``final_model`` and
the summary); the caller trains in between. Also: check that a resumed run is the same run, the configuration block.

An output folder that holds another run's outputs is never written into unless the user asked: ``--resume``
continues that run (the checkpoint must have the same model and LoRA settings), ``--overwrite`` first removes
its outputs. Without either the run stops with one line saying so.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from fedjava.config import SAVED_CONFIG, Config, to_yaml
from fedjava.errors import UserError
from fedjava.files import writable_dir
from fedjava.tracking import RunTracker, close_file_logs, setup_logging

log = logging.getLogger("fedjava")
Loaded = TypeVar("Loaded")

RUN_MARKERS = ("final_model", "checkpoints", "training_history.json")
"""What marks a folder as holding a run."""
RUN_OUTPUTS = (*RUN_MARKERS, "training.log", "superlink.log", "flwr_run.log")
EVALUATION_OUTPUTS = ("predictions*.jsonl", "metrics*.json")
"""``fedjava evaluate`` writes these beside the adapter; they measure the old adapter, so --overwrite removes them."""
MODEL_KEYS = ("model_name", "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "use_4bit")
"""Settings a resumed run must share with the checkpoint it continues: they shape the adapter."""


class RunFolderError(UserError):
    """The output folder cannot take this run (another run's outputs, a file in the way, no checkpoint...)."""


@contextmanager
def training_run(
    cfg: Config,
    out: Path,
    resume: bool,
    overwrite: bool,
    find_checkpoint: Callable[[], Any],
    printer: Callable[[str], None] = print,
) -> Iterator[TrainingRun]:
    """Open a training run in ``out``; the block that uses it loads, trains and finishes (see :class:`TrainingRun`).

    The folder is claimed first (:func:`claim_output_dir`: ``resume`` or ``overwrite`` for one holding a run), then
    ``find_checkpoint()`` finds what ``--resume`` continues (only then; it raises when there is none), and only then
    does ``training.log`` start, with the resolved config. The log, the TensorBoard writer and the W&B run are closed
    when the block ends, however it ends: a run that fails leaves no handler that would write what the process does
    next into its log, and its W&B run is marked failed.
    """
    claim_output_dir(out, resume, overwrite)
    checkpoint = find_checkpoint() if resume else None
    setup_logging(out / "training.log")
    run = TrainingRun(cfg, out, resume, checkpoint, printer)
    try:
        log.debug("resolved config:\n%s", to_yaml(cfg))
        yield run
    finally:
        if run.tracker is not None:
            run.tracker.close(failed=True)  # nothing when finish() closed it
        close_file_logs()


@dataclass
class TrainingRun:
    """A run opened by :func:`training_run`. Its steps, in order: read the data (the caller), :meth:`load_model`,
    :meth:`track`, train (the caller), :meth:`finish`."""

    cfg: Config
    out: Path
    resume: bool
    checkpoint: Any
    """What ``find_checkpoint`` found for ``--resume``; None for a new run."""
    printer: Callable[[str], None] = print
    tracker: RunTracker | None = None

    def load_model(self, load: Callable[[], Loaded]) -> tuple[Loaded, float]:
        """Set torch's threads (``num_threads``), say which model loads and ``load()`` it: its result and the seconds
        it took. Read the data first: a malformed file then fails in a second, not after a minute of loading."""
        if self.cfg.num_threads:
            import torch

            torch.set_num_threads(self.cfg.num_threads)
        started = time.time()
        self.printer(f"Loading {self.cfg.model_name} ...")
        loaded = load()
        return loaded, time.time() - started

    def track(self, name: str, tensorboard_name: str | None = None) -> RunTracker:
        """Start recording the run as ``name`` (training_history.json, a resumed run's history kept; TensorBoard under
        ``tensorboard_name``, default ``name``; W&B when asked)."""
        cfg = self.cfg
        self.tracker = RunTracker(
            self.out,
            name,
            cfg.to_dict(),
            cfg.tensorboard_dir(tensorboard_name or name),
            cfg.report_to,
            cfg.wandb_project,
            resume=self.resume,
        )
        return self.tracker

    def finish(
        self, model, tokenizer, described: dict[str, Any], summarize: Callable[[Path], dict[str, Any]]
    ) -> dict[str, Any]:
        """Save ``final_model`` (:func:`save_final_model`, ``described`` in its fedjava_run.yaml), then the summary
        ``summarize(final_model)`` makes into the history; the summary."""
        if self.tracker is None:
            raise RuntimeError("TrainingRun.finish before TrainingRun.track: the summary has no history to go in")
        final = save_final_model(model, tokenizer, self.cfg, self.out / "final_model", described)
        summary = summarize(final)
        self.tracker.finish(summary)
        return summary


def claim_output_dir(out: Path, resume: bool = False, overwrite: bool = False) -> Path:
    """Make ``out`` ready for a run: a writable folder holding no other run's outputs.

    ``resume`` keeps what is there (the run goes on); ``overwrite`` removes the previous run's outputs first.
    RunFolderError when ``out`` is a file, cannot be written, or holds another run and neither was given.
    """
    if resume and overwrite:
        raise RunFolderError("--resume continues the run in the output folder and --overwrite replaces it: give one")
    writable_dir(out, "output_dir", RunFolderError)
    found = [name for name in RUN_MARKERS if (out / name).exists()]
    if not found or resume:
        return out
    if not overwrite:
        raise RunFolderError(
            f"{out} holds another run ({', '.join(found)}): continue it with --resume, replace "
            "it with --overwrite, or choose another output_dir="
        )
    for path in previous_outputs(out):
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    return out


def previous_outputs(out: Path) -> list[Path]:
    """The files and folders of a previous run in ``out`` (what --overwrite removes); nothing else is touched."""
    paths = [out / name for name in RUN_OUTPUTS if (out / name).exists() or (out / name).is_symlink()]
    return paths + sorted(p for pattern in EVALUATION_OUTPUTS for p in out.glob(pattern) if p.is_file())


def settings_problems(saved: dict[str, Any], cfg: Config, keys: Iterable[str] = MODEL_KEYS) -> list[str]:
    """The ``keys`` whose value in ``saved`` (a checkpoint's settings) differs from ``cfg``, one line each."""
    return [
        f"{key}: the checkpoint has {saved[key]!r}, this run {getattr(cfg, key)!r}"
        for key in keys
        if key in saved and saved[key] != getattr(cfg, key)
    ]


def refuse_other_run(checkpoint: Path, problems: list[str]) -> None:
    """RunFolderError naming every differing key, when ``problems`` (from :func:`settings_problems`) is not empty."""
    if problems:
        raise RunFolderError(
            f"--resume: {checkpoint} belongs to a run with other settings ("
            + "; ".join(problems)
            + "). Use the same settings, --overwrite, or another output_dir="
        )


def count_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameters of ``model``."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def configuration_block(title: str, rows: list[tuple[str, Any]]) -> str:
    """The block each run prints before it starts: a title and ``  key: value`` lines."""
    return "\n".join([f"{title}:"] + [f"  {k}: {v}" for k, v in rows])


def save_final_model(model, tokenizer, cfg: Config, directory: Path, extra: dict[str, Any] | None = None) -> Path:
    """Adapter + tokenizer + resolved config: loads with ``PeftModel.from_pretrained``."""
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    (directory / SAVED_CONFIG).write_text(to_yaml(cfg), encoding="utf-8")
    if extra:
        (directory / "fedjava_run.yaml").write_text(yaml.safe_dump(extra, sort_keys=False), encoding="utf-8")
    return directory
