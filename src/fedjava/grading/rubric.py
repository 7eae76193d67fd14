"""The rubric that turns the grader's answer into points: per verdict, per error kind, and a cap.

A rubric file (YAML; the default is ``default_rubric.yaml`` beside this module, shown by
``fedjava grade --print-rubric``)::

    verdict:   {NO_ERROR: 10, LOGIC_ERROR: 7, RUNTIME_ERROR: 6, COMPILE_ERROR: 4}
    per_error: {Syntax Error: 1, Runtime Error: 1, Logical Error: 1, other: 1}
    cap: 10

A submission starts from its verdict's points and loses, for every error the answer lists, the points of the
first key that matches: the error's ``code`` (a javac key such as ``compiler.err.expected``, an exception class,
``wrong_output``, ``timeout``), its ``type`` (``Syntax Error`` ...), then ``other``; no match takes nothing off.
The total is kept between 0 and ``cap``, which is also the gradebook's points possible. :meth:`Rubric.score`
returns each step, so that every feedback page can show how its score was made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fedjava.errors import UserError
from fedjava.prompts import VERDICTS

DEFAULT_RUBRIC = Path(__file__).with_name("default_rubric.yaml")
KEYS = ("verdict", "per_error", "cap")


class RubricError(UserError):
    """A rubric file that cannot be used; the message lists every problem."""


@dataclass(frozen=True)
class Score:
    """Points, the cap, and the steps that made them: ``[(what, points), ...]`` (a deduction is negative)."""

    points: float
    cap: float
    steps: list[tuple[str, float]] = field(default_factory=list)
    clipped: str = ""
    """"" or why the sum was changed: "capped at 10" / "raised to 0\""""


@dataclass(frozen=True)
class Rubric:
    verdict: dict[str, float]
    per_error: dict[str, float]
    cap: float
    text: str
    """the YAML it was read from, saved beside the results so that later runs score the same way"""

    def score(self, answer: dict[str, Any]) -> Score:
        """The points for a parsed answer (:func:`fedjava.evaluation.parse.parse_answer`), with each step."""
        verdict = answer["verdict"]
        steps = [(f"verdict {verdict}", self.verdict[verdict])]
        for i, error in enumerate(answer.get("errors") or [], 1):
            key = self.error_key(error)
            if key is None:
                continue
            kind = " ".join(x for x in (error.get("type") or "error", f"({error['code']})" if error.get("code")
                                        else "") if x)
            where = f" at line {error['line']}" if error.get("line") is not None else ""
            steps.append((f"error {i}: {kind}{where}", -self.per_error[key]))
        total = sum(points for _, points in steps)
        clipped = ""
        if total > self.cap:
            total, clipped = self.cap, f"capped at {self.cap:g}"
        elif total < 0:
            total, clipped = 0.0, "raised to 0"
        return Score(round(total, 2), self.cap, steps, clipped)

    def error_key(self, error: dict[str, Any]) -> str | None:
        for key in (error.get("code"), error.get("type"), "other"):
            if key and key in self.per_error:
                return key
        return None


def load_rubric(path: str | Path | None = None) -> Rubric:
    """The rubric in ``path`` (None or ``default``: the default rubric); RubricError naming every problem."""
    path = DEFAULT_RUBRIC if path in (None, "default") else Path(path)
    if not path.is_file():
        raise RubricError(f"{path}: no such rubric file (fedjava grade --print-rubric shows the format)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RubricError(f"{path}: not UTF-8 text") from exc
    return parse_rubric(text, str(path))


def parse_rubric(text: str, where: str = "rubric") -> Rubric:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RubricError(f"{where}: not valid YAML: {str(exc).splitlines()[0]}") from exc
    except RecursionError:
        raise RubricError(f"{where}: not a rubric: its YAML is nested too deeply") from None
    if not isinstance(raw, dict):
        raise RubricError(f"{where}: expected a mapping with {', '.join(KEYS)}")
    problems = [f"unknown key '{k}' (known: {', '.join(KEYS)})" for k in raw if k not in KEYS]
    cap = raw.get("cap")
    if not _number(cap) or cap <= 0:
        problems.append("'cap' must be a number above 0 (the most points a submission can get)")
        cap = None
    verdict = raw.get("verdict")
    if not isinstance(verdict, dict):
        problems.append(f"'verdict' must map each of {', '.join(VERDICTS)} to its points")
        verdict = {}
    problems += [f"verdict: unknown verdict '{k}' (known: {', '.join(VERDICTS)})" for k in verdict if k not in VERDICTS]
    problems += [f"verdict: {v} has no points" for v in VERDICTS if v not in verdict]
    for key, value in verdict.items():
        if not _number(value) or value < 0 or (cap is not None and value > cap):
            problems.append(f"verdict: {key} must be a number from 0 to the cap")
    per_error = raw.get("per_error") or {}
    if not isinstance(per_error, dict):
        problems.append("'per_error' must map error codes or types to the points taken off for each")
        per_error = {}
    for key, value in per_error.items():
        if not _number(value) or value < 0:
            problems.append(f"per_error: {key} must be a number of points to take off, 0 or more")
    if problems:
        raise RubricError(f"{where}: " + "; ".join(problems))
    return Rubric({k: float(v) for k, v in verdict.items()}, {str(k): float(v) for k, v in per_error.items()},
                  float(cap), text)


def _number(value: Any) -> bool:
    """A finite int or float: YAML's ``.nan`` and ``.inf`` would pass every comparison with the cap or fail all."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
