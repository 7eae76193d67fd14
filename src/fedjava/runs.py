"""What every training path (``fedjava train``, the federated server) does around the core loop: claim the
output folder, check that a resumed run is the same run, print the configuration block, save ``final_model``.

An output folder that holds another run's outputs is never written into unless the user asked: ``--resume``
continues that run (the checkpoint must have the same model and LoRA settings), ``--overwrite`` first removes
its outputs. Without either the run stops with one line saying so.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from fedjava.config import SAVED_CONFIG, Config, to_yaml
from fedjava.errors import UserError
from fedjava.files import writable_dir

RUN_MARKERS = ("final_model", "checkpoints", "training_history.json")
"""What marks a folder as holding a run."""
RUN_OUTPUTS = (*RUN_MARKERS, "training.log", "superlink.log", "flwr_run.log")
EVALUATION_OUTPUTS = ("predictions*.jsonl", "metrics*.json")
"""``fedjava evaluate`` writes these beside the adapter; they measure the old adapter, so --overwrite removes them."""
MODEL_KEYS = ("model_name", "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "use_4bit")
"""Settings a resumed run must share with the checkpoint it continues: they shape the adapter."""


class RunFolderError(UserError):
    """The output folder cannot take this run (another run's outputs, a file in the way, no checkpoint...)."""


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
        raise RunFolderError(f"{out} holds another run ({', '.join(found)}): continue it with --resume, replace "
                             "it with --overwrite, or choose another output_dir=")
    for path in previous_outputs(out):
        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    return out


def previous_outputs(out: Path) -> list[Path]:
    """The files and folders of a previous run in ``out`` (what --overwrite removes); nothing else is touched."""
    paths = [out / name for name in RUN_OUTPUTS if (out / name).exists() or (out / name).is_symlink()]
    return paths + sorted(p for pattern in EVALUATION_OUTPUTS for p in out.glob(pattern) if p.is_file())


def settings_problems(saved: dict[str, Any], cfg: Config, keys: Iterable[str] = MODEL_KEYS) -> list[str]:
    """The ``keys`` whose value in ``saved`` (a checkpoint's settings) differs from ``cfg``, one line each."""
    return [f"{key}: the checkpoint has {saved[key]!r}, this run {getattr(cfg, key)!r}"
            for key in keys if key in saved and saved[key] != getattr(cfg, key)]


def refuse_other_run(checkpoint: Path, problems: list[str]) -> None:
    """RunFolderError naming every differing key, when ``problems`` (from :func:`settings_problems`) is not empty."""
    if problems:
        raise RunFolderError(f"--resume: {checkpoint} belongs to a run with other settings ("
                             + "; ".join(problems) + "). Use the same settings, --overwrite, or another output_dir=")


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
