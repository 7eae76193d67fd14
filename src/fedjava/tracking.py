"""Where a run's numbers go: training.log, training_history.json, TensorBoard, and W&B when asked.

Both the centralized and the federated paths record through one ``RunTracker``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("fedjava")


class _CurrentStderr(logging.StreamHandler):
    """A console handler that writes to ``sys.stderr`` as it is at each message, not as it was when the handler was
    made: a caller that redirects stderr later (a test's capture, ``contextlib.redirect_stderr``) gets the lines."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler sets it; the property always answers the current one
        pass


def setup_logging(log_file: Path | None = None, verbose: bool = False) -> None:
    """Console (INFO) plus ``log_file`` (everything) for the ``fedjava`` logger."""
    log.setLevel(logging.DEBUG)
    if not any(getattr(h, "_fedjava_console", False) for h in log.handlers):
        console = _CurrentStderr()
        console.setLevel(logging.DEBUG if verbose else logging.INFO)
        console.setFormatter(logging.Formatter("%(message)s"))
        console._fedjava_console = True  # type: ignore[attr-defined]
        log.addHandler(console)
    if log_file is not None:
        log_file = Path(log_file)
        for h in list(log.handlers):
            if getattr(h, "_fedjava_file", None) == str(log_file):
                return
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setLevel(logging.DEBUG)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        handler._fedjava_file = str(log_file)  # type: ignore[attr-defined]
        log.addHandler(handler)


def close_file_logs() -> None:
    for h in list(log.handlers):
        if getattr(h, "_fedjava_file", None):
            h.close()
            log.removeHandler(h)


def _write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class RunTracker:
    """Records metrics of one run to ``training_history.json``, TensorBoard and W&B.

    The history file holds ``{"method", "config", "steps": [...], "epochs": [...], "rounds": [...],
    "summary": {...}}``; it is rewritten after every record so a killed run keeps what it logged.
    """

    def __init__(
        self,
        output_dir: Path,
        method: str,
        config: dict[str, Any],
        tensorboard_dir: Path | None = None,
        report_to: list[str] | None = None,
        wandb_project: str = "fedjava",
        resume: bool = False,
    ):
        self.output_dir = Path(output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.output_dir / "training_history.json"
        self.start = time.time()
        self.history: dict[str, Any] = {
            "method": method,
            "config": config,
            "steps": [],
            "epochs": [],
            "rounds": [],
            "summary": {},
        }
        if resume and self.path.is_file():
            try:
                old = json.loads(self.path.read_text(encoding="utf-8"))
            except ValueError:
                log.warning("%s is damaged: the resumed run's history starts afresh", self.path)
                old = {}
            for key in ("steps", "epochs", "rounds"):
                self.history[key] = old.get(key, [])
        report_to = report_to or []
        self.tensorboard_dir = tensorboard_dir if "tensorboard" in report_to else None
        self.tb = self._tensorboard()
        self.wandb = None
        if "wandb" in report_to:
            try:
                import wandb
            except ImportError:
                log.warning("report_to includes wandb but wandb is not installed: pip install 'fedjava[wandb]'")
            else:
                self.wandb = wandb.init(project=wandb_project, name=method, config=config, reinit=True)

    def _tensorboard(self, purge_step: int | None = None):
        if self.tensorboard_dir is None:
            return None
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(log_dir=str(self.tensorboard_dir), purge_step=purge_step)

    def elapsed(self) -> float:
        return time.time() - self.start

    def continue_from(self, elapsed: float | None, step: int) -> None:
        """Go on with a resumed run whose checkpoint was saved at ``step`` (a step, or a federated round) after
        ``elapsed`` seconds: what was logged after it is dropped (the run logs it again, here and in
        TensorBoard), and elapsed times count on from the checkpoint's."""
        for kind, key in (("steps", "step"), ("epochs", "step"), ("rounds", "round")):
            self.history[kind] = [e for e in self.history[kind] if e.get(key, 0) <= step]
        if elapsed is not None:
            self.start = time.time() - float(elapsed)
        _write_json_atomic(self.path, self.history)
        if self.tb is not None:
            self.tb.close()
            self.tb = self._tensorboard(purge_step=step + 1)

    def record(self, kind: str, entry: dict[str, Any], step: int) -> None:
        """Append ``entry`` to ``steps``, ``epochs`` or ``rounds`` and send its numbers to the loggers."""
        entry = {k: v for k, v in entry.items() if v is not None}
        self.history[kind].append(entry)
        _write_json_atomic(self.path, self.history)
        numbers = {k: v for k, v in entry.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        prefix = {"steps": "train", "epochs": "epoch", "rounds": "round"}[kind]
        if self.tb is not None:
            for key, value in numbers.items():
                if key not in ("step", "epoch", "round"):
                    self.tb.add_scalar(f"{prefix}/{key}", value, step)
            self.tb.flush()
        if self.wandb is not None:
            self.wandb.log({f"{prefix}/{k}": v for k, v in numbers.items()}, step=step)

    def update_last(self, kind: str, values: dict[str, Any], step: int) -> None:
        """Add values (such as an eval_loss computed later) to the latest entry of ``kind``."""
        if not self.history[kind]:
            return
        self.history[kind][-1].update(values)
        _write_json_atomic(self.path, self.history)
        prefix = {"steps": "train", "epochs": "epoch", "rounds": "round"}[kind]
        if self.tb is not None:
            for key, value in values.items():
                self.tb.add_scalar(f"{prefix}/{key}", value, step)
            self.tb.flush()
        if self.wandb is not None:
            self.wandb.log({f"{prefix}/{k}": v for k, v in values.items()}, step=step)

    def finish(self, summary: dict[str, Any]) -> None:
        self.history["summary"] = summary
        _write_json_atomic(self.path, self.history)
        self.close()

    def close(self, failed: bool = False) -> None:
        """End the TensorBoard writer and the W&B run (``failed``: marked as failed there); again: nothing."""
        if self.tb is not None:
            self.tb.close()
            self.tb = None
        if self.wandb is not None:
            self.wandb.finish(exit_code=1 if failed else 0)
            self.wandb = None
