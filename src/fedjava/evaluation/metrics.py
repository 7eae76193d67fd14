"""Exact metrics on structured answers, and the legacy free-text metrics.

Every function here is pure: it takes gold answers, predicted answers (``None`` = invalid) and the
samples' ``meta``, and returns numbers. An invalid answer is counted as invalid and as wrong on every
metric, as follows. An answer that broke off and was closed at its last complete value
(:func:`fedjava.evaluation.parse.parse_answer`, ``"repaired"``) is valid, scored on what it holds; its share is
``repaired_rate``.

Error detection (positive = the program has an error, i.e. verdict is not ``NO_ERROR``)
    accuracy, precision, recall, F1 and the false-alarm rate (share of correct programs reported as
    having an error). An invalid answer counts as the wrong detection: a false negative on a program
    with an error, a false alarm on a correct one.
Verdict
    macro-F1 over the verdicts that occur in the gold answers or the valid predictions, and a
    confusion matrix (rows gold, columns predicted, with an ``INVALID`` column).
Error type / code / line (over programs with an error)
    the first predicted error against the first gold error: type accuracy, exact ``code`` accuracy,
    line exact and within one line. Missing or invalid predictions are wrong.
Fix check (over programs with an error, only when a JDK ran it)
    share whose predicted fix makes every test pass (:mod:`fedjava.evaluation.fixcheck`); ``None``
    ("not measured") when nothing was checked.
Score MAE
    mean absolute difference of the 0-10 scores; an invalid answer or a missing score counts as the
    largest error, 10.
Grade (0-10 per sample, the rubric)
    * invalid answer: 0;
    * correct program: 10 when the verdict is ``NO_ERROR``, else 0;
    * program with an error and a predicted ``NO_ERROR`` (or no predicted error): 0;
    * otherwise verdict right 4, first error's type right 2, line exact 2 (within one line 1), fix
      check passed 2. When the fix check was not measured the first three parts are scaled to 10
      (x 10/8), so grades stay on 0-10.

What only a model gives (``model_only``: the tools alone already decide the verdict, the error code and a compile
or runtime error's line): the line within one of runtime and logic errors, and the fix check overall and on
runtime and logic errors, each with its interval; :func:`paired_gain` gives one run's gain over another on them
(the tools-only rule, ``fedjava evaluate --tools-only``), paired sample by sample.

Each headline metric carries a percentile bootstrap 95% interval (samples drawn with replacement,
seeded, ``n_boot`` resamples); a metric with no samples to count is ``None``.

Legacy samples (the gold answer is free text "1) Syntax Error: ...") get their own metrics
(:func:`legacy_metrics`): error-count accuracy and micro error-type precision and recall, from the
parsed types of both texts (a predicted JSON answer is read as its errors' types).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from fedjava.dataset.importers import FeedbackError, parse_legacy_feedback
from fedjava.prompts import VERDICTS

INVALID = "INVALID"
HEADLINE = (
    "valid_rate",
    "repaired_rate",
    "detection_accuracy",
    "detection_precision",
    "detection_recall",
    "detection_f1",
    "false_alarm_rate",
    "verdict_macro_f1",
    "type_accuracy",
    "code_accuracy",
    "line_exact",
    "line_within_one",
    "fix_pass_rate",
    "score_mae",
    "grade",
)
# Decision metrics measured in one teacher-forced pass over validation samples during training
# (fedjava.training.DecisionTally), printed with the loss and kept in training_history.json.
DECISION_METRICS = ("eval_verdict_accuracy", "eval_verdict_macro_f1", "eval_code_accuracy", "eval_line_accuracy")
DECISION_KEYS = (*DECISION_METRICS, "eval_majority_macro_f1", "eval_decision_samples")
MODEL_ONLY = {
    "runtime_line_within_one": ("RUNTIME_ERROR", "line1_ok"),
    "logic_line_within_one": ("LOGIC_ERROR", "line1_ok"),
    "fix_pass_rate": (None, "fix_ok"),
    "runtime_fix_pass_rate": ("RUNTIME_ERROR", "fix_ok"),
    "logic_fix_pass_rate": ("LOGIC_ERROR", "fix_ok"),
}
"""The metrics only a model adds over the tools: (gold verdict or None for every error, column)."""
GRADE_WEIGHTS = {"verdict": 4.0, "type": 2.0, "line": 2.0, "line_near": 1.0, "fix": 2.0}


def _first_error(answer: dict[str, Any] | None) -> dict[str, Any] | None:
    if not answer or not answer.get("errors"):
        return None
    return answer["errors"][0]


def grade(gold: dict[str, Any], pred: dict[str, Any] | None, fix_passed: bool | None = None) -> float:
    """The 0-10 grade of one prediction (the rubric in the module docstring)."""
    if pred is None:
        return 0.0
    if gold["verdict"] == "NO_ERROR":
        return 10.0 if pred["verdict"] == "NO_ERROR" else 0.0
    g, p = _first_error(gold), _first_error(pred)
    if pred["verdict"] == "NO_ERROR" or p is None:
        return 0.0
    w = GRADE_WEIGHTS
    points = w["verdict"] * (pred["verdict"] == gold["verdict"])
    if g is not None:
        points += w["type"] * (p.get("type") == g.get("type"))
        if p.get("line") is not None and g.get("line") is not None:
            if p["line"] == g["line"]:
                points += w["line"]
            elif abs(p["line"] - g["line"]) <= 1:
                points += w["line_near"]
    if fix_passed is None:
        return round(points * 10.0 / (w["verdict"] + w["type"] + w["line"]), 6)
    return float(points + w["fix"] * bool(fix_passed))


def _columns(gold: list[dict], pred: list[dict | None], fix: list[bool | None]) -> dict[str, np.ndarray]:
    n = len(gold)
    cols = {
        name: np.zeros(n, dtype=bool)
        for name in (
            "valid",
            "repaired",
            "gold_pos",
            "pred_pos",
            "has_err",
            "type_ok",
            "code_ok",
            "line_ok",
            "line1_ok",
            "fix_measured",
            "fix_ok",
        )
    }
    cols["gold_v"] = np.zeros(n, dtype=int)
    cols["pred_v"] = np.zeros(n, dtype=int)
    cols["score_err"] = np.zeros(n, dtype=float)
    cols["grade"] = np.zeros(n, dtype=float)
    for i, (g, p, f) in enumerate(zip(gold, pred, fix, strict=True)):
        gold_pos = g["verdict"] != "NO_ERROR"
        cols["valid"][i] = p is not None
        cols["repaired"][i] = p is not None and bool(p.get("repaired"))
        cols["gold_pos"][i] = gold_pos
        cols["pred_pos"][i] = (p["verdict"] != "NO_ERROR") if p is not None else not gold_pos
        cols["gold_v"][i] = VERDICTS.index(g["verdict"])
        cols["pred_v"][i] = VERDICTS.index(p["verdict"]) if p is not None else len(VERDICTS)
        ge, pe = _first_error(g), _first_error(p)
        cols["has_err"][i] = ge is not None
        if ge is not None and pe is not None:
            cols["type_ok"][i] = pe.get("type") == ge.get("type")
            cols["code_ok"][i] = bool(pe.get("code")) and pe.get("code") == ge.get("code")
            if pe.get("line") is not None and ge.get("line") is not None:
                cols["line_ok"][i] = pe["line"] == ge["line"]
                cols["line1_ok"][i] = abs(pe["line"] - ge["line"]) <= 1
        cols["fix_measured"][i] = ge is not None and f is not None
        cols["fix_ok"][i] = bool(f)
        gs, ps = g.get("score"), (p or {}).get("score")
        cols["score_err"][i] = min(abs(float(ps) - float(gs)), 10.0) if p is not None and ps is not None else 10.0
        cols["grade"][i] = grade(g, p, f if ge is not None else None)
    return cols


def _ratio(num: float, den: float) -> float | None:
    return float(num) / float(den) if den else None


def _f1(tp: float, fp: float, fn: float) -> float | None:
    return _ratio(2 * tp, 2 * tp + fp + fn)


def macro_f1(gold, pred, invalid: int | None = None) -> float:
    """Mean F1 over the classes that occur in ``gold`` or ``pred`` (class ids; ``invalid`` in ``pred`` is
    never a class of its own, only a wrong answer)."""
    gold, pred = np.asarray(gold), np.asarray(pred)
    classes = sorted(set(gold.tolist()) | (set(pred.tolist()) - {invalid}))
    f1s = []
    for k in classes:
        tp = float(np.sum((gold == k) & (pred == k)))
        fp = float(np.sum((gold != k) & (pred == k)))
        fn = float(np.sum((gold == k) & (pred != k)))
        f1s.append(_f1(tp, fp, fn) or 0.0)
    return float(np.mean(f1s)) if f1s else 0.0


def _scalars(c: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, float | None]:
    s = {k: v[idx] for k, v in c.items()}
    n = len(idx)
    gp, pp = s["gold_pos"], s["pred_pos"]
    tp = float(np.sum(gp & pp))
    fp = float(np.sum(~gp & pp))
    fn = float(np.sum(gp & ~pp))
    err = s["has_err"]
    measured = s["fix_measured"]
    return {
        "valid_rate": _ratio(np.sum(s["valid"]), n),
        "repaired_rate": _ratio(np.sum(s["repaired"]), n),
        "detection_accuracy": _ratio(np.sum(gp == pp), n),
        "detection_precision": _ratio(tp, tp + fp),
        "detection_recall": _ratio(tp, tp + fn),
        "detection_f1": _f1(tp, fp, fn),
        "false_alarm_rate": _ratio(fp, np.sum(~gp)),
        "verdict_macro_f1": macro_f1(s["gold_v"], s["pred_v"], invalid=len(VERDICTS)) if n else None,
        "type_accuracy": _ratio(np.sum(s["type_ok"] & err), np.sum(err)),
        "code_accuracy": _ratio(np.sum(s["code_ok"] & err), np.sum(err)),
        "line_exact": _ratio(np.sum(s["line_ok"] & err), np.sum(err)),
        "line_within_one": _ratio(np.sum(s["line1_ok"] & err), np.sum(err)),
        "fix_pass_rate": _ratio(np.sum(s["fix_ok"] & measured), np.sum(measured)),
        "score_mae": float(np.mean(s["score_err"])) if n else None,
        "grade": float(np.mean(s["grade"])) if n else None,
    }


def _resamples(n: int, n_boot: int, seed: int):
    """``n_boot`` seeded bootstrap resamples of the indices 0..n-1 (drawn with replacement)."""
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        yield rng.integers(0, n, size=n)


def _percentile_interval(draws: list[float]) -> list[float] | None:
    return [float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))] if draws else None


def bootstrap_ci(cols: dict[str, np.ndarray], n: int, n_boot: int, seed: int) -> dict[str, list[float] | None]:
    """Percentile 95% intervals of every headline metric over ``n_boot`` seeded resamples."""
    draws: dict[str, list[float]] = {k: [] for k in HEADLINE}
    for idx in _resamples(n, n_boot, seed):
        values = _scalars(cols, idx)
        for k in HEADLINE:
            if values[k] is not None:
                draws[k].append(values[k])
    return {k: _percentile_interval(draws[k]) for k in HEADLINE}


def mean_ci(values: list[float], n_boot: int, seed: int) -> tuple[float | None, list[float] | None]:
    """The mean of ``values`` and its percentile bootstrap 95% interval; (None, None) when empty."""
    if not values:
        return None, None
    arr = np.asarray(values, dtype=float)
    draws = [float(np.mean(arr[idx])) for idx in _resamples(len(arr), n_boot, seed)]
    return float(np.mean(arr)), _percentile_interval(draws)


def _with_bootstrap(
    scalars: Callable[[np.ndarray], dict[str, float | None]], keys, n: int, n_boot: int, seed: int
) -> dict[str, Any]:
    """``scalars`` of all ``n`` samples, with the percentile bootstrap 95% interval of each of ``keys`` in ``ci``
    (``n_boot`` seeded resamples of the sample indices)."""
    out: dict[str, Any] = dict(scalars(np.arange(n)))
    draws: dict[str, list[float]] = {k: [] for k in keys}
    for idx in _resamples(n, n_boot, seed) if n_boot and n else ():
        for k, v in scalars(idx).items():
            if v is not None and k in draws:
                draws[k].append(v)
    out["ci"] = {k: _percentile_interval(draws[k]) for k in keys}
    return out


def _model_only(c: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, float | None]:
    out = {}
    for key, (verdict, column) in MODEL_ONLY.items():
        chosen = c["has_err"][idx] if verdict is None else (c["gold_v"][idx] == VERDICTS.index(verdict))
        if column == "fix_ok":
            chosen = chosen & c["fix_measured"][idx]
        out[key] = _ratio(np.sum(c[column][idx] & chosen), np.sum(chosen))
    return out


def model_only_metrics(cols: dict[str, np.ndarray], n_boot: int, seed: int) -> dict[str, Any]:
    """The :data:`MODEL_ONLY` metrics and their percentile bootstrap 95% intervals (in ``ci``)."""
    return _with_bootstrap(lambda idx: _model_only(cols, idx), MODEL_ONLY, len(cols["gold_v"]), n_boot, seed)


TEACHER_FORCED = (
    "verdict_accuracy",
    "verdict_macro_f1",
    "code_accuracy",
    "line_accuracy",
    "compile_line_accuracy",
    "runtime_line_accuracy",
    "logic_line_accuracy",
)
"""What ``fedjava evaluate`` reads from the model's next-token choices on the reference answers (teacher-forced,
:class:`fedjava.training.DecisionTally`): the verdict it ranks first, and whether every token of the gold error
code and line is its first choice, by the program's verdict. Measurable for a model that does not yet write a
valid answer on its own."""


def teacher_forced_metrics(
    gold: list[int],
    pred: list[int],
    code: list[bool],
    line: list[bool],
    line_verdict: list[int],
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """:data:`TEACHER_FORCED` and their percentile bootstrap 95% intervals (``ci``): verdicts over every sample,
    code and line over the programs with an error (``line_verdict`` their gold verdicts, as :data:`VERDICTS`
    indices). Samples are resampled together, so a sample's verdict and line stay paired."""
    g, p = np.asarray(gold, dtype=int), np.asarray(pred, dtype=int)
    # the code/line entries, spread over the samples: entry k belongs to the k-th sample whose gold verdict is not
    # NO_ERROR (DecisionTally appends them in that order)
    errs = np.flatnonzero(g != 0)
    c = np.zeros(len(g), dtype=bool)
    ln = np.zeros(len(g), dtype=bool)
    c[errs[: len(code)]] = code
    ln[errs[: len(line)]] = line
    if len(line_verdict) != len(errs) or list(g[errs]) != list(line_verdict):
        raise ValueError("the code and line entries do not match the samples with an error")

    def scalars(idx: np.ndarray) -> dict[str, float | None]:
        gi, pi = g[idx], p[idx]
        out = {
            "verdict_accuracy": _ratio(np.sum(gi == pi), len(idx)),
            "verdict_macro_f1": macro_f1(gi, pi) if len(idx) else None,
            "code_accuracy": _ratio(np.sum(c[idx] & (gi != 0)), np.sum(gi != 0)),
            "line_accuracy": _ratio(np.sum(ln[idx] & (gi != 0)), np.sum(gi != 0)),
        }
        for name in ("COMPILE_ERROR", "RUNTIME_ERROR", "LOGIC_ERROR"):
            chosen = gi == VERDICTS.index(name)
            out[f"{name.split('_')[0].lower()}_line_accuracy"] = _ratio(np.sum(ln[idx] & chosen), np.sum(chosen))
        return out

    return {"n": len(g), **_with_bootstrap(scalars, TEACHER_FORCED, len(g), n_boot, seed)}


def paired_gain(
    gold: list[dict],
    pred: list[dict | None],
    fix: list[bool | None],
    base_pred: list[dict | None],
    base_fix: list[bool | None],
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """``pred``'s gain over ``base_pred`` (the same samples) on each :data:`MODEL_ONLY` metric: the difference and
    its 95% interval from paired resamples (both runs drawn on the same indices), in ``ci``."""
    if not (len(gold) == len(pred) == len(base_pred)):
        raise ValueError("a paired gain needs both runs on the same samples")
    mine, theirs = _columns(gold, pred, fix), _columns(gold, base_pred, base_fix)
    n = len(gold)

    def gain(idx: np.ndarray) -> dict[str, float | None]:
        a, b = _model_only(mine, idx), _model_only(theirs, idx)
        return {k: a[k] - b[k] if a[k] is not None and b[k] is not None else None for k in MODEL_ONLY}

    return _with_bootstrap(gain, MODEL_ONLY, n, n_boot, seed)


def by_verdict(cols: dict[str, np.ndarray]) -> dict[str, dict[str, float | int | None]]:
    """Per gold verdict with an error: how many, and the first error's type/code/line/fix rates on them.

    The line of a compile or runtime error is where javac or the stack trace points; a logic error's line
    must be found, so the two are worth reading apart.
    """
    out = {}
    for k, verdict in enumerate(VERDICTS):
        idx = np.nonzero((cols["gold_v"] == k) & cols["has_err"])[0]
        if not len(idx):
            continue
        n = len(idx)
        measured = cols["fix_measured"][idx]
        out[verdict] = {
            "n": int(n),
            "verdict_recall": float(np.mean(cols["pred_v"][idx] == k)),
            "type_accuracy": float(np.mean(cols["type_ok"][idx])),
            "code_accuracy": float(np.mean(cols["code_ok"][idx])),
            "line_exact": float(np.mean(cols["line_ok"][idx])),
            "line_within_one": float(np.mean(cols["line1_ok"][idx])),
            "fix_pass_rate": _ratio(np.sum(cols["fix_ok"][idx] & measured), np.sum(measured)),
        }
    return out


def confusion_matrix(gold: list[dict], pred: list[dict | None]) -> dict[str, dict[str, int]]:
    """``{gold verdict: {predicted verdict or INVALID: count}}`` with every row and column present."""
    matrix = {g: {p: 0 for p in (*VERDICTS, INVALID)} for g in VERDICTS}
    for g, p in zip(gold, pred, strict=True):
        matrix[g["verdict"]][p["verdict"] if p is not None else INVALID] += 1
    return matrix


def compute_metrics(
    gold: list[dict[str, Any]],
    pred: list[dict[str, Any] | None],
    fix: list[bool | None] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Every structured metric of ``pred`` against ``gold`` (parsed answers; None = invalid).

    ``fix[i]`` is whether sample i's predicted fix passed the tests (None = not measured).
    Returns ``{"n", <headline metric>: value, "ci": {metric: [low, high]}, "confusion": ...,
    "counts": ...}``.
    """
    if len(gold) != len(pred):
        raise ValueError("gold and pred differ in length")
    fix = list(fix) if fix is not None else [None] * len(gold)
    n = len(gold)
    out: dict[str, Any] = {"n": n}
    if n == 0:
        out.update({k: None for k in HEADLINE})
        out["ci"] = {k: None for k in HEADLINE}
        return out
    cols = _columns(gold, pred, fix)
    out.update(_scalars(cols, np.arange(n)))
    out["ci"] = bootstrap_ci(cols, n, n_boot, seed) if n_boot else {k: None for k in HEADLINE}
    out["confusion"] = confusion_matrix(gold, pred)
    out["by_verdict"] = by_verdict(cols)
    out["model_only"] = model_only_metrics(cols, n_boot, seed)
    out["counts"] = {
        "invalid": int(np.sum(~cols["valid"])),
        "with_error": int(np.sum(cols["has_err"])),
        "correct_programs": int(np.sum(~cols["gold_pos"])),
        "fix_measured": int(np.sum(cols["fix_measured"])),
    }
    return out


# ---------------------------------------------------------------- legacy free-text answers


def answer_types(text: str, parsed: dict[str, Any] | None = None) -> list[str] | None:
    """The error types an answer lists: from its JSON form when it has one, else from legacy text.

    None when the text is neither (an invalid answer).
    """

    if parsed is not None:
        return [e["type"] for e in parsed["errors"]]
    try:
        return [kind for kind, _ in parse_legacy_feedback(text)]
    except FeedbackError:
        return None


def legacy_metrics(gold_types: list[list[str]], pred_types: list[list[str] | None]) -> dict[str, Any]:
    """Error-count accuracy and micro error-type precision/recall (multiset matching per sample).

    An invalid prediction (None) counts as a wrong count and as predicting no types.
    """
    n = len(gold_types)
    count_ok = tp = n_pred = n_gold = invalid = 0
    for g, p in zip(gold_types, pred_types, strict=True):
        if p is None:
            invalid += 1
            p_list: list[str] = []
        else:
            p_list = p
            count_ok += len(p) == len(g)
        gc, pc = Counter(g), Counter(p_list)
        tp += sum(min(gc[k], pc[k]) for k in gc)
        n_pred += len(p_list)
        n_gold += len(g)
    return {
        "n": n,
        "invalid": invalid,
        "error_count_accuracy": _ratio(count_ok, n),
        "error_type_precision": _ratio(tp, n_pred),
        "error_type_recall": _ratio(tp, n_gold),
    }


def format_decisions(metrics: dict[str, Any]) -> str:
    """``verdict acc 0.62, macro-F1 0.48 (majority 0.13), code 0.40, line 0.21``, or "" without them."""
    if metrics.get("eval_verdict_accuracy") is None:
        return ""
    text = (
        f"verdict acc {metrics['eval_verdict_accuracy']:.3f}, macro-F1 {metrics['eval_verdict_macro_f1']:.3f} "
        f"(majority {metrics['eval_majority_macro_f1']:.3f})"
    )
    if metrics.get("eval_code_accuracy") is not None:
        text += f", code {metrics['eval_code_accuracy']:.3f}, line {metrics['eval_line_accuracy']:.3f}"
    return text
