"""``fedjava compare``: one report over every run in a results folder.

A run is a sub-folder of the results folder with ``metrics.json`` (from ``fedjava evaluate`` on the
test split) and/or ``training_history.json`` (from training). The report has one table (metrics as
rows, runs as columns, each value with its bootstrap 95% interval, plus the LLM judge's score when a
run was judged, training time and bytes communicated), loss curves per epoch or round, the validation decision
metrics of every run on one plot (against sample passes, so centralized and federated runs share the axis), metric
bars, each federated round's client drift (the cosine of each client's update to the round's mean update) and the
tuning grids a run was chosen from (validation only), written as ``report.md`` with PNG plots beside it and a
self-contained ``report.html`` (plots embedded).
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedjava.errors import UserError
from fedjava.evaluation.evaluate import LABELS
from fedjava.evaluation.metrics import HEADLINE, paired_gain
from fedjava.experiment_tuning import RECORD

ORDER = ("majority", "tools_only", "coverage_only", "mutants_only", "base", "base_fewshot", "centralized", "fed")
MODEL_ONLY_LABELS = {
    "runtime_line_within_one": "runtime line within one",
    "logic_line_within_one": "logic line within one",
    "fix_pass_rate": "fix check",
    "runtime_fix_pass_rate": "runtime fix check",
    "logic_fix_pass_rate": "logic fix check",
}
TOOLS_ONLY_RUN = "tools_only"
GAINS_TITLE = "What each model adds over the tools alone"
DRIFT_TITLE = "Client drift"
TUNING_TITLE = "Tuning on the validation samples"
TIME_TITLE = "Time"
COMMANDS_TITLE = "How it was run"
FORCED_TITLE = "Teacher-forced decisions"
FORCED_FILE = "teacher_forced.json"
FORCED_COLUMNS = {
    "verdict_accuracy": "verdict acc",
    "verdict_macro_f1": "verdict macro-F1",
    "code_accuracy": "code acc",
    "compile_line_accuracy": "compile line",
    "runtime_line_accuracy": "runtime line",
    "logic_line_accuracy": "logic line",
}
BAR_METRICS = ("valid_rate", "detection_f1", "verdict_macro_f1", "type_accuracy", "line_exact", "fix_pass_rate")


class CompareError(UserError, ValueError):
    """Nothing to compare (no such folder, or no run in it)."""


@dataclass
class Run:
    name: str
    folder: Path
    metrics: dict[str, Any] | None = None
    history: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    forced: dict[str, Any] | None = None
    """``teacher_forced.json`` of ``fedjava evaluate --teacher-forced``, when there is one"""

    @property
    def teacher_forced(self) -> tuple[dict[str, Any], float | None] | None:
        """(the teacher-forced decisions, the eval loss): a ``--teacher-forced`` run's, else those a generating
        run measured in the same pass as its loss; None when neither has them."""
        for source in (self.forced, self.metrics):
            if source and source.get("teacher_forced"):
                return source["teacher_forced"], source.get("eval_loss")
        return None

    @property
    def train_seconds(self) -> float | None:
        summary = (self.history or {}).get("summary") or {}
        value = summary.get("train_seconds", summary.get("seconds"))
        return float(value) if isinstance(value, (int, float)) else None

    @property
    def bytes_communicated(self) -> int | None:
        summary = (self.history or {}).get("summary") or {}
        if "bytes_sent" not in summary:
            return None
        return int(summary.get("bytes_sent", 0)) + int(summary.get("bytes_received", 0))


DECISION_CURVES = {
    "eval_verdict_macro_f1": "verdict macro-F1",
    "eval_code_accuracy": "code acc",
    "eval_line_accuracy": "line acc",
    "eval_majority_macro_f1": "majority macro-F1",
}


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _rank(name: str) -> tuple[int, str]:
    for i, prefix in enumerate(ORDER):
        if name == prefix or name.startswith(prefix):
            return i, name
    return len(ORDER), name


def find_runs(results_dir: str | Path) -> list[Run]:
    root = Path(results_dir)
    if not root.is_dir():
        raise CompareError(f"{root}: no such folder (train or evaluate first, or give the results folder)")
    runs = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "logs"):
        metrics = _read_json(folder / "metrics.json")
        history = _read_json(folder / "training_history.json")
        forced = _read_json(folder / FORCED_FILE)
        if metrics is None and history is None and forced is None:
            continue
        runs.append(Run(folder.name, folder, metrics, history, forced=forced))
    if not runs:
        raise CompareError(
            f"{root}: no runs found (no sub-folder has metrics.json, {FORCED_FILE} or training_history.json)"
        )
    return sorted(runs, key=lambda r: _rank(r.name))


def _cell(run: Run, key: str) -> str:
    value = (run.metrics or {}).get(key)
    if value is None:
        return "n/a" if run.metrics else "-"
    return _with_interval(run.metrics, key)


def _with_interval(metrics: dict[str, Any], key: str) -> str:
    """``metrics[key]`` to 3 places, with its bootstrap interval from ``metrics["ci"]`` when there is one."""
    interval = (metrics.get("ci") or {}).get(key)
    text = f"{metrics[key]:.3f}"
    return f"{text} [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else text


def _bytes(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


def table_rows(runs: list[Run]) -> list[list[str]]:
    """Header row then one row per metric; the first column is the metric's label."""
    rows = [["metric", *[r.name for r in runs]]]
    rows.append(["samples", *[str((r.metrics or {}).get("n", "-")) for r in runs]])
    for key in HEADLINE:
        rows.append([LABELS[key], *[_cell(r, key) for r in runs]])
    if any((r.metrics or {}).get("judge") for r in runs):  # the optional LLM judge: '-' where it did not run
        rows.append(
            [LABELS["judge_score"], *[_cell(r, "judge_score") if (r.metrics or {}).get("judge") else "-" for r in runs]]
        )
    for key, label in (
        ("eval_loss", "eval loss"),
        ("eval_perplexity", "eval perplexity"),
        ("seconds_per_sample", "seconds per sample"),
    ):
        rows.append(
            [label, *[f"{(r.metrics or {})[key]:.3f}" if (r.metrics or {}).get(key) is not None else "-" for r in runs]]
        )
    for verdicts, label in (
        (("COMPILE_ERROR", "RUNTIME_ERROR"), "line within one: compile + runtime"),
        (("LOGIC_ERROR",), "line within one: logic"),
    ):
        values = [_pooled(r, verdicts, "line_within_one") for r in runs]
        if any(v is not None for v in values):
            rows.append([label, *[f"{v:.3f}" if v is not None else "-" for v in values]])
    if any((r.metrics or {}).get("model_only") for r in runs):  # what only a model adds over the tools
        for key, label in MODEL_ONLY_LABELS.items():
            rows.append([f"only a model: {label}", *[_model_only(r, key) for r in runs]])
    if any((r.metrics or {}).get("verification") for r in runs):  # checked fixes: what the model itself wrote
        for key, label in (
            ("line_within_one", "line within one: first answers"),
            ("fix_pass_rate", "fix check: first answers"),
        ):
            rows.append([label, *[_first_answer(r, key) for r in runs]])
    for key, label in (
        ("eval_verdict_macro_f1", "training: valid verdict macro-F1"),
        ("eval_majority_macro_f1", "training: valid majority macro-F1"),
        ("eval_code_accuracy", "training: valid code accuracy"),
        ("eval_line_accuracy", "training: valid line accuracy"),
    ):
        if any(_last_decision(r, key) is not None for r in runs):
            rows.append([label, *[f"{v:.3f}" if (v := _last_decision(r, key)) is not None else "-" for r in runs]])
    if any((r.metrics or {}).get("prompt_mode") for r in runs):
        rows.append(["prompt", *[(r.metrics or {}).get("prompt_mode") or "-" for r in runs]])
    rows.append(["training time", *[f"{r.train_seconds:.0f} s" if r.train_seconds is not None else "-" for r in runs]])
    rows.append(["bytes communicated", *[_bytes(r.bytes_communicated) for r in runs]])
    per_round = [_bytes_per_client_round(r) for r in runs]
    if any(v is not None for v in per_round):
        rows.append(
            [
                "bytes per client per round, down / up",
                *[f"{_bytes(round(v[0]))} / {_bytes(round(v[1]))}" if v else "-" for v in per_round],
            ]
        )
    spent = [((r.history or {}).get("summary") or {}) for r in runs]
    if any(s.get("dp_epsilon") is not None for s in spent):  # federated runs with dp_mode other than off
        rows.append(
            [
                "privacy spent (epsilon at delta)",
                *[
                    f"{s['dp_epsilon']:.2f} at {s['dp_delta']:g}" if s.get("dp_epsilon") is not None else "-"
                    for s in spent
                ],
            ]
        )
    return rows


def _bytes_per_client_round(run: Run) -> tuple[float, float] | None:
    """(bytes down, bytes up) per client per round, averaged over every client entry of a federated run."""
    clients = [c for e in (run.history or {}).get("rounds") or [] for c in e.get("clients") or [] if "bytes_sent" in c]
    if not clients:
        return None
    return (
        sum(c["bytes_sent"] for c in clients) / len(clients),
        sum(c.get("bytes_received", 0) for c in clients) / len(clients),
    )


def _model_only(run: Run, key: str) -> str:
    """A run's :data:`~fedjava.evaluation.metrics.MODEL_ONLY` metric with its interval ('-' when not measured)."""
    measured = (run.metrics or {}).get("model_only") or {}
    return _with_interval(measured, key) if measured.get(key) is not None else "-"


def gain_rows(runs: list[Run], n_boot: int = 1000) -> list[list[str]]:
    """What each model adds over the tools-only rule, on the metrics only a model gives: the paired difference
    (same samples, resampled together) with its 95% interval. Empty without a ``tools_only`` run, or when no
    other run has its predictions on the same samples."""
    base = next((r for r in runs if r.name == TOOLS_ONLY_RUN), None)
    base_rows = _predictions(base) if base is not None else None
    if not base_rows:
        return []
    gold = [r["gold"] for r in base_rows]
    header, columns = ["gain over tools-only"], []
    for run in runs:
        rows = _predictions(run) if run is not base and run.name != "majority" else None
        if not rows or [r["gold"] for r in rows] != gold:
            continue
        gain = paired_gain(
            gold,
            [r["parsed"] for r in rows],
            [r.get("fix_passed") for r in rows],
            [r["parsed"] for r in base_rows],
            [r.get("fix_passed") for r in base_rows],
            n_boot=n_boot,
        )
        header.append(run.name)
        columns.append(gain)
    if not columns:
        return []
    table = [header]
    for key, label in MODEL_ONLY_LABELS.items():
        table.append([label, *[_signed(gain, key) for gain in columns]])
    return table


def _signed(gain: dict[str, Any], key: str) -> str:
    if gain.get(key) is None:
        return "-"
    interval = (gain.get("ci") or {}).get(key)
    text = f"{gain[key]:+.3f}"
    return f"{text} [{interval[0]:+.3f}, {interval[1]:+.3f}]" if interval else text


def _predictions(run: Run) -> list[dict[str, Any]] | None:
    """A run's structured test-split predictions (predictions.jsonl rows with a gold answer), or None."""
    path = run.folder / "predictions.jsonl"
    try:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError):
        return None
    return [r for r in rows if r.get("gold") is not None] or None


def _first_answer(run: Run, key: str) -> str:
    """``key`` of a run's first answers when its fixes were checked (the table's own row is the checked value)."""
    first = ((run.metrics or {}).get("verification") or {}).get("first_answer") or {}
    if first.get(key) is None:
        return _cell(run, key) if run.metrics and not run.metrics.get("verification") else "-"
    return _with_interval(first, key)


def _pooled(run: Run, verdicts: tuple[str, ...], key: str) -> float | None:
    """``key`` of ``metrics.by_verdict`` over the programs of several gold verdicts (weighted by their counts)."""
    rows = [((run.metrics or {}).get("by_verdict") or {}).get(v) for v in verdicts]
    rows = [r for r in rows if r and r.get(key) is not None]
    total = sum(r["n"] for r in rows)
    return sum(r[key] * r["n"] for r in rows) / total if total else None


def _history_entries(run: Run) -> tuple[list[dict[str, Any]], str]:
    """A run's per-round (federated) or per-epoch (centralized) history entries and their x key."""
    history = run.history or {}
    if history.get("rounds"):
        return history["rounds"], "round"
    return history.get("epochs") or [], "epoch"


def _last_decision(run: Run, key: str) -> float | None:
    """The last value of a decision metric measured during training (teacher-forced, validation samples)."""
    values = [e[key] for e in _history_entries(run)[0] if isinstance(e.get(key), (int, float))]
    return values[-1] if values else None


def format_text_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def _markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def _curves(run: Run) -> tuple[str, dict[str, tuple[list[float], list[float]]]]:
    """(x label, {series: (xs, ys)}) of a run's per-epoch or per-round losses and decision metrics."""
    series: dict[str, tuple[list[float], list[float]]] = {}
    entries, xkey = _history_entries(run)
    label = xkey
    for loss in ("train_loss", "eval_loss", *DECISION_CURVES):
        points = [(e[xkey], e[loss]) for e in entries if isinstance(e.get(loss), (int, float)) and xkey in e]
        if points:
            series[loss] = ([p[0] for p in points], [p[1] for p in points])
    return label, series


def plot_losses(runs: list[Run], path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = [(r, *_curves(r)) for r in runs]
    curves = [c for c in curves if c[2]]
    if not curves:
        return None
    fig, axes = plt.subplots(1, len(curves), figsize=(4 * len(curves), 3.2), squeeze=False)
    for ax, (run, xlabel, series) in zip(axes[0], curves, strict=True):
        for name, (xs, ys) in series.items():
            if name not in DECISION_CURVES:
                ax.plot(xs, ys, marker="o", label=name.replace("_", " "))
        ax.set_title(run.name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("loss")
        ax.legend(fontsize=8, loc="upper left")
        decisions = {k: v for k, v in series.items() if k in DECISION_CURVES}
        if decisions:  # what the model decides, beside the loss: a falling loss with flat decisions shows here
            right = ax.twinx()
            for name, (xs, ys) in decisions.items():
                style = {"linestyle": ":", "color": "grey"} if name == "eval_majority_macro_f1" else {"marker": "s"}
                right.plot(xs, ys, label=DECISION_CURVES[name], **style)
            right.set_ylim(0, 1.05)
            right.set_ylabel("valid decision metrics")
            right.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def sample_passes_curve(run: Run, key: str) -> tuple[list[float], list[float]]:
    """(sample passes so far, ``key``) at each validation measurement of a run: a federated round adds its clients'
    samples x local epochs; a centralized evaluation step is at step x batch size x gradient accumulation."""
    history = run.history or {}
    config = history.get("config") or {}
    xs: list[float] = []
    ys: list[float] = []
    if history.get("rounds"):
        passes = 0.0
        for entry in sorted(history["rounds"], key=lambda e: e.get("round", 0)):
            passes += sum(c.get("num_examples", 0) for c in entry.get("clients") or []) * float(
                config.get("local_epochs", 1.0)
            )
            if isinstance(entry.get(key), (int, float)):
                xs.append(passes)
                ys.append(entry[key])
        return xs, ys
    batch = int(config.get("batch_size", 1)) * int(config.get("gradient_accumulation_steps", 1))
    points = {
        e["step"]: e[key]
        for e in [*(history.get("steps") or []), *(history.get("epochs") or [])]
        if isinstance(e.get(key), (int, float)) and isinstance(e.get("step"), int)
    }
    for step in sorted(points):
        xs.append(float(step * batch))
        ys.append(points[step])
    return xs, ys


VALIDATION_CURVES = {
    "eval_loss": "eval loss",
    "eval_verdict_macro_f1": "verdict macro-F1",
    "eval_code_accuracy": "error code accuracy",
    "eval_line_accuracy": "line accuracy",
}


def plot_decision_curves(runs: list[Run], path: Path) -> Path | None:
    """One plot, every trained run: the validation loss and decision metrics (teacher-forced) against sample passes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {key: [(r.name, *sample_passes_curve(r, key)) for r in runs] for key in VALIDATION_CURVES}
    curves = {key: [c for c in found if c[1]] for key, found in curves.items()}
    curves = {key: found for key, found in curves.items() if found}
    if not curves:
        return None
    fig, axes = plt.subplots(1, len(curves), figsize=(4.2 * len(curves), 3.4), squeeze=False)
    for ax, (key, found) in zip(axes[0], curves.items(), strict=True):
        for name, xs, ys in found:
            ax.plot(xs, ys, marker="o", markersize=3, label=name)
        ax.set_title(f"validation {VALIDATION_CURVES[key]}", fontsize=9)
        ax.set_xlabel("sample passes")
        if key != "eval_loss":
            ax.set_ylim(0, 1.05)
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def drift_rows(runs: list[Run]) -> list[list[str]]:
    """Per federated run and round: each client's update cosine to the round's mean update, and their mean ([] when
    no run logged drift)."""
    rows: list[list[str]] = []
    clients = sorted(
        {
            c["client"]
            for r in runs
            for e in (r.history or {}).get("rounds") or []
            for c in e.get("clients") or []
            if c.get("client") is not None and "update_cosine" in c
        }
    )
    for run in runs:
        for entry in (run.history or {}).get("rounds") or []:
            cosines = {
                c.get("client"): c.get("update_cosine") for c in entry.get("clients") or [] if "update_cosine" in c
            }
            if not cosines:
                continue
            known = [v for v in cosines.values() if v is not None]
            rows.append(
                [
                    run.name,
                    str(entry.get("round")),
                    *[f"{cosines[c]:.3f}" if cosines.get(c) is not None else "-" for c in clients],
                    f"{sum(known) / len(known):.3f}" if known else "-",
                ]
            )
    return [["run", "round", *[f"client {c}" for c in clients], "mean"], *rows] if rows else []


def forced_rows(runs: list[Run]) -> list[list[str]]:
    """Per run with teacher-forced decisions: the eval loss and each decision rate with its interval ([] when
    no run has them)."""
    rows = []
    for run in runs:
        got = run.teacher_forced
        if got is None:
            continue
        forced, loss = got
        cells = [f"{loss:.3f}" if isinstance(loss, (int, float)) else "-"]
        for key in FORCED_COLUMNS:
            cells.append(_with_interval(forced, key) if forced.get(key) is not None else "n/a")
        rows.append([run.name, str(forced.get("n", "")), *cells])
    return [["run", "samples", "eval loss", *FORCED_COLUMNS.values()], *rows] if rows else []


def tuning_rows(runs: list[Run]) -> list[list[str]]:
    """Per run chosen from a grid (``tuning.json``): each grid point's last validation value and the choice."""

    rows: list[list[str]] = []
    for run in runs:
        record = _read_json(run.folder / RECORD)
        if not record:
            continue
        for label, value in (record.get("results") or {}).items():
            rows.append(
                [
                    run.name,
                    label,
                    f"{record.get('metric')} ({record.get('better')} is better)",
                    f"{value:.4f}" if isinstance(value, (int, float)) else "n/a",
                    "chosen" if label == record.get("chosen") else "",
                ]
            )
    return [["run", "grid point", "validation metric", "value", ""], *rows] if rows else []


def time_rows(root: Path) -> list[list[str]]:
    """Each stage of the experiment in ``root`` (its ``experiment.json``) and the seconds it took in the run that did
    it (a training stage continued after an interruption: both parts), then all of them ([] without a record)."""
    record = _read_json(root / "experiment.json") or {}
    stages = [s for s in record.get("stages") or [] if isinstance(s, dict) and s.get("stage") != "report report"]
    if not stages:
        return []
    rows = [[str(s["stage"]), _minutes(s.get("seconds")), str(s.get("state", ""))] for s in stages]
    total = sum(float(s.get("seconds") or 0) for s in stages)
    return [["stage", "time", ""], *rows, ["every stage", _minutes(total), ""]]


def command_rows(root: Path) -> list[list[str]]:
    """The command lines kept in ``root``'s ``experiment.json`` ([] without any)."""
    commands = (_read_json(root / "experiment.json") or {}).get("commands") or []
    return [["command"], *([f"`{c}`"] for c in commands if isinstance(c, str))] if commands else []


def _minutes(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or seconds <= 0:
        return "-"
    return f"{seconds / 60:.1f} min"


def plot_metrics(runs: list[Run], path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    measured = [r for r in runs if r.metrics and r.metrics.get("n")]
    if not measured:
        return None
    keys = list(BAR_METRICS) + ["grade"]
    x = np.arange(len(keys))
    width = 0.8 / len(measured)
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(keys)), 3.6))
    for i, run in enumerate(measured):
        values, low, high = [], [], []
        for key in keys:
            scale = 10.0 if key == "grade" else 1.0
            value = run.metrics.get(key)
            interval = (run.metrics.get("ci") or {}).get(key)
            v = value / scale if value is not None else 0.0
            values.append(v)
            low.append(v - interval[0] / scale if interval and value is not None else 0.0)
            high.append(interval[1] / scale - v if interval and value is not None else 0.0)
        ax.bar(x + i * width, values, width, yerr=[low, high], capsize=2, label=run.name)
    ax.set_xticks(x + width * (len(measured) - 1) / 2)
    ax.set_xticklabels([("grade / 10" if k == "grade" else LABELS[k]) for k in keys], rotation=20, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _html_table(rows: list[list[str]], title: str = "") -> str:
    """``rows`` (header first) as an HTML table, under an ``<h2>`` title when given; "" for no rows."""
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows[1:])
    return (f"<h2>{html.escape(title)}</h2>" if title else "") + f"<table><tr>{head}</tr>{body}</table>"


def _sections(runs: list[Run], root: Path) -> list[tuple[str, str, list[list[str]], str]]:
    """The report's sections after the main table: (title, what it shows, table, the console's note), each shown
    only when it has rows."""
    return [
        (
            GAINS_TITLE,
            "The tools-only rule (`fedjava evaluate --tools-only`) reads javac's and the tests' output: it "
            "already gives the verdict, the error code and a compile or runtime error's line. The gains below are on "
            "what only a model gives, paired on the same samples, with 95% intervals.",
            gain_rows(runs),
            " (paired, 95% intervals)",
        ),
        (
            FORCED_TITLE,
            "Read from the model's next-token choices on the reference answers, in one teacher-forced pass (`fedjava "
            "evaluate --teacher-forced`, or the loss pass of a generating run): the verdict it ranks first, and "
            "whether every token of the gold error code and line is its first choice (exact line), by the program's "
            "verdict. It measures what a model has learned to decide even before it writes valid answers on its "
            "own; it is not what a user gets, which is the table above.",
            forced_rows(runs),
            " (on the reference answers, 95% intervals)",
        ),
        (
            DRIFT_TITLE,
            "How far each school's update points from the round's average: the cosine similarity of its "
            "update (its returned adapter minus the one it was sent) to the sample-weighted mean of the round's updates. "
            "1 = the same direction; near 0 = unrelated; below 0 = against the others.",
            drift_rows(runs),
            " (update cosine to the round's mean update)",
        ),
        (
            TUNING_TITLE,
            "Each grid point trained as its own run on the same data; the row is the point whose last "
            "validation value was best. The test samples were not read before the choice.",
            tuning_rows(runs),
            "",
        ),
        (
            TIME_TITLE,
            "What each stage took on this machine, as measured by the run of the experiment that did it (a stage "
            "skipped later keeps its time; a federated stage continued after an interruption counts both parts).",
            time_rows(root),
            "",
        ),
        (
            COMMANDS_TITLE,
            "The command lines that ran this experiment's stages, in order (run from the project folder; the "
            "preset's settings and the data's SHA-256 are in experiment.json).",
            command_rows(root),
            "",
        ),
    ]


def write_report(results_dir: str | Path) -> tuple[str, Path, Path]:
    """Write report.md, report.html and the PNG plots into ``results_dir``.

    Returns (the tables as text, report.md path, report.html path).
    """
    root = Path(results_dir)
    runs = find_runs(root)
    rows = table_rows(runs)
    plots = [
        p
        for p in (
            plot_losses(runs, root / "loss_curves.png"),
            plot_decision_curves(runs, root / "validation_curves.png"),
            plot_metrics(runs, root / "metric_bars.png"),
        )
        if p is not None
    ]
    intro = (
        f"{len(runs)} run(s) in `{root}`. Values on the test split with bootstrap 95% intervals; "
        "'-' = not evaluated, 'n/a' = nothing to measure."
    )
    md = ["# Java error evaluator: comparison", "", intro, "", _markdown(rows), ""]
    sections = _sections(runs, root)
    for title, what, table, _ in sections:
        if table:
            md += [f"## {title}", "", what, "", _markdown(table), ""]
    md += [f"![{p.stem}]({p.name})\n" for p in plots]
    md_path = root / "report.md"
    md_path.write_text("\n".join(md), encoding="utf-8")

    images = "".join(
        f'<p><img alt="{p.stem}" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}"></p>'
        for p in plots
    )
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>fedjava comparison</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child{text-align:left}"
        "</style></head><body><h1>Java error evaluator: comparison</h1>"
        f"<p>{html.escape(intro)}</p>{_html_table(rows)}"
        + "".join(_html_table(table, title) for title, _, table, _ in sections)
        + f"{images}</body></html>\n"
    )
    html_path = root / "report.html"
    html_path.write_text(page, encoding="utf-8")
    text = format_text_table(rows)
    for title, _, table, note in sections:
        if table and title not in (TIME_TITLE, COMMANDS_TITLE):  # the experiment prints these itself
            text += f"\n\n{title}{note}:\n{format_text_table(table)}"
    return text, md_path, html_path
