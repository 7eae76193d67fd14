"""Choosing a run's settings on the validation split (``tuning`` in an experiment preset), never on the test split.

``tuning: {fedprox: {fedprox_mu: [0.001, 0.01, 0.1]}}`` trains the ``fedprox`` run once per value (every
combination, for several keys), each in ``<results>/tuning/fedprox/<label>/`` on the same data, clients and rounds.
Each of them measures itself on the validation samples while it trains (the server after every round, the
centralized trainer at its evaluation steps); the one whose last ``tune_metric`` is best becomes the run's row: its
folder is copied to ``<results>/fedprox/`` with ``tuning.json`` (every value's validation result and the choice),
which the report shows. The test samples are read only by the evaluation stage, after the choice.
"""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path
from typing import Any

from fedjava.errors import UserError

TUNE_METRICS = {
    "eval_loss": "lower",
    "eval_verdict_macro_f1": "higher",
    "eval_code_accuracy": "higher",
    "eval_line_accuracy": "higher",
}
"""What a grid point is chosen by (the last validation value of its run) and which way is better."""
RECORD = "tuning.json"
FOLDER = "tuning"


class TuningError(UserError):
    """A grid that cannot be run or chosen from; the message says what to change."""


def grid_points(keys: dict[str, Any]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in the order given (the first key varies slowest).

    Raises:
        TuningError: a key whose values are not a non-empty list.
    """
    bad = [key for key, values in keys.items() if not isinstance(values, list) or not values]
    if not keys or bad:
        raise TuningError(
            "tuning: expected key: [values] pairs, each with one value or more"
            + (f" ({', '.join(map(str, bad))})" if bad else "")
        )
    names = list(keys)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*(keys[n] for n in names))]


def point_label(point: dict[str, Any]) -> str:
    """A grid point's name, also its folder: ``fedprox_mu=0.1``, ``fedadam_eta=0.003,fedadam_tau=1e-09``."""
    return ",".join(f"{key}={value}" for key, value in point.items())


def last_validation(history: dict[str, Any], metric: str) -> float | None:
    """The last validation value of ``metric`` in a run's history (rounds, else evaluation steps and epochs)."""
    entries = history.get("rounds") or [*(history.get("steps") or []), *(history.get("epochs") or [])]
    values = [(e.get("round", e.get("step", 0)), e[metric]) for e in entries if isinstance(e.get(metric), (int, float))]
    return float(sorted(values, key=lambda v: v[0])[-1][1]) if values else None


def choose(results: dict[str, float | None], metric: str) -> str:
    """The label with the best value (ties: the first in grid order).

    Raises:
        TuningError: no grid point measured ``metric`` on validation.
    """
    measured = {label: value for label, value in results.items() if value is not None}
    if not measured:
        raise TuningError(
            f"tuning: no grid run measured {metric} on the validation samples (valid_samples must be "
            "above 0, and a centralized run needs eval_strategy steps or epoch)"
        )
    sign = -1.0 if TUNE_METRICS[metric] == "lower" else 1.0
    return max(measured, key=lambda label: (sign * measured[label], -list(results).index(label)))


def select(run_folder: Path, grid: dict[str, Path], configs: dict[str, str], metric: str) -> dict[str, Any]:
    """Copy the best grid run (``{label: its folder}``) to ``run_folder`` (without its checkpoints and TensorBoard
    logs) and write ``tuning.json`` there; returns that record."""
    results = {}
    for label, folder in grid.items():
        try:
            history = json.loads((folder / "training_history.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise TuningError(
                f"tuning: {folder / 'training_history.json'} cannot be read ({exc}); run the grid again (--force)"
            ) from None
        results[label] = last_validation(history, metric)
    chosen = choose(results, metric)
    shutil.rmtree(run_folder, ignore_errors=True)
    # copyfile, not copy2: the copy is newer than the grid runs, so its evaluation is redone after a new choice
    shutil.copytree(
        grid[chosen], run_folder, ignore=shutil.ignore_patterns("checkpoints", "logs"), copy_function=shutil.copyfile
    )
    record = {
        "metric": metric,
        "better": TUNE_METRICS[metric],
        "split": "validation",
        "chosen": chosen,
        "results": results,
        "folders": {label: str(folder) for label, folder in grid.items()},
        "configs": configs,
    }
    (run_folder / RECORD).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return record


def selection_done(run_folder: Path, grid: dict[str, Path], configs: dict[str, str]) -> bool:
    """The grid's choice is in ``run_folder``: made from these very grid configs, after every grid run was trained."""
    try:
        record = json.loads((run_folder / RECORD).read_text(encoding="utf-8"))
        copied = (run_folder / "final_model" / "adapter_model.safetensors").stat().st_mtime
        trained = [(folder / "final_model" / "adapter_model.safetensors").stat().st_mtime for folder in grid.values()]
    except (OSError, json.JSONDecodeError):
        return False
    return record.get("configs") == configs and all(copied >= t for t in trained)
