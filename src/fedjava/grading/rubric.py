"""The rubric that turns a review into points: per verdict, for the tests passed, per error kind, and a cap.

A rubric file (YAML; the default is ``default_rubric.yaml`` beside this module, shown by
``fedjava grade --print-rubric``)::

    verdict:   {NO_ERROR: 6, LOGIC_ERROR: 4, RUNTIME_ERROR: 3, COMPILE_ERROR: 3}
    tests:     {share: 4}         # or {each: 0.5}; leave it out for no points from the tests
    per_error: {Syntax Error: 1, Runtime Error: 1, Logical Error: 1, other: 1}
    cap: 10

A submission gets its verdict's points, then the tests' points, then loses, for every error the answer lists,
the points of the first key that matches: the error's ``code`` (a javac key such as ``compiler.err.expected``,
an exception class, ``wrong_output``, ``timeout``), its ``type`` (``Syntax Error`` ...), then ``other``; no
match takes nothing off. The total is kept between 0 and ``cap``, which is also the gradebook's points possible.

The tests' points: ``share: P`` gives P times the share of the task's tests passed (7 of 9: 7/9 of P), ``each:
P`` gives P for every test passed. Hidden tests count like the others. A program that does not compile passes
none. When no test ran (the task has none, ``--no-run``, an adapter that runs no tools), ``share`` follows the
verdict: P times the verdict's points over NO_ERROR's; ``each`` gives nothing.

Only what the tools back costs points (:func:`fedjava.findings.support`): an error verdict that javac and the
tests do not confirm (nothing ran that could show it, or they show otherwise) is scored as the tools' own verdict
(:func:`fedjava.findings.tools_verdict`: NO_ERROR when nothing shows an error), its errors take nothing off, and
:attr:`Score.check` says why the review is to be checked by hand. A NO_ERROR that a failing test contradicts is
scored as that test shows.

:meth:`Rubric.score` is the one function ``fedjava review``, ``grade`` and ``serve`` score with, and it returns
each step, so that every feedback page can show how its score was made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fedjava.errors import UserError
from fedjava.findings import CONTRADICTED, support, tools_verdict
from fedjava.grading.kinds import error_title
from fedjava.java.evidence import Evidence, TestSummary
from fedjava.prompts import VERDICTS

DEFAULT_RUBRIC = Path(__file__).with_name("default_rubric.yaml")
KEYS = ("verdict", "tests", "per_error", "cap")
TEST_RULES = ("share", "each")


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
    check: str = ""
    """"" or why the review is to be checked by hand: its verdict is not what the tools show"""
    verdict: str = ""
    """the verdict that was scored: the answer's, or the tools' own when they do not back the answer's"""


@dataclass(frozen=True)
class Rubric:
    verdict: dict[str, float]
    per_error: dict[str, float]
    cap: float
    text: str
    """the YAML it was read from, saved beside the results so that later runs score the same way"""
    tests: dict[str, float] = field(default_factory=dict)
    """``{"share": P}``, ``{"each": P}`` or {} (the tests give no points)"""

    def score(
        self, answer: dict[str, Any], evidence: str | None = None, tests: list[dict[str, Any]] | None = None
    ) -> Score:
        """The points for a parsed answer (:func:`fedjava.evaluation.parse.parse_answer`), with each step.

        ``evidence``: the tool-results block the review was made with (None: no tool ran); ``tests``: the table of
        the task's tests (:func:`fedjava.grading.tests_table.tests_table`: a ``status`` per test), None when they
        did not run (the evidence's ``tests: P of T passed`` is read then, from an older results file).
        """

        said = answer["verdict"]
        backed = support(answer, evidence)
        counted, check = said, ""
        if (said != "NO_ERROR" and not backed.finding) or (said == "NO_ERROR" and backed.status == CONTRADICTED):
            counted = tools_verdict(evidence)
            check = f"the grader's {said} is {backed.status}: {backed.reason}"
        label = (
            f"verdict {counted}"
            if counted == said
            else (f"verdict {counted} (what the tools show; the grader's {said} is not confirmed)")
        )
        steps = [(label, self.verdict[counted])]
        steps += self._test_steps(counted, evidence, tests)
        for i, error in enumerate(answer.get("errors") or [], 1):
            key = self.error_key(error)
            if key is None:
                continue
            kind = error_title(error)
            where = f" at line {error['line']}" if error.get("line") is not None else ""
            if check:
                steps.append((f"error {i}: {kind}{where}: not confirmed by the tools, nothing taken off", 0.0))
            else:
                steps.append((f"error {i}: {kind}{where}", -self.per_error[key]))
        total = sum(points for _, points in steps)
        clipped = ""
        if total > self.cap:
            total, clipped = self.cap, f"capped at {self.cap:g}"
        elif total < 0:
            total, clipped = 0.0, "raised to 0"
        return Score(round(total, 2), self.cap, steps, clipped, check, counted)

    def _test_steps(
        self,
        verdict: str,
        evidence: str | None,
        tests: list[dict[str, Any]] | None,
    ) -> list[tuple[str, float]]:
        """The tests' step (none when the rubric gives them no points)."""
        if not self.tests:
            return []
        counted = passed_tests(evidence, tests)
        rule, points = next(iter(self.tests.items()))
        if counted is not None:
            passed, total = counted
            got = points * passed if rule == "each" else (points * passed / total if total else 0.0)
            how = f"{points:g} each" if rule == "each" else f"{points:g} for all, in proportion"
            return [(f"tests: {passed} of {total} passed ({how})", round(got, 2))]
        if rule == "each":
            return [("tests: none ran", 0.0)]
        best = self.verdict["NO_ERROR"]
        got = points * self.verdict[verdict] / best if best else 0.0
        return [
            (
                f"tests: none ran, so their {points:g} points follow the verdict ({self.verdict[verdict]:g} of "
                f"{best:g})",
                round(got, 2),
            )
        ]

    def error_key(self, error: dict[str, Any]) -> str | None:
        for key in (error.get("code"), error.get("type"), "other"):
            if key and key in self.per_error:
                return key
        return None


def passed_tests(evidence: str | None, tests: list[dict[str, Any]] | None) -> tuple[int, int] | None:
    """(passed, total) of the task's tests, from their table, else from the evidence; None when none ran."""
    if tests:
        return sum(t.get("status") == "PASS" for t in tests), len(tests)
    if evidence:
        summary = Evidence.parse(evidence).first(TestSummary)
        if summary is not None and summary.total:
            return summary.passed, summary.total
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
    tests = raw.get("tests") or {}
    if not isinstance(tests, dict) or len(tests) != len([k for k in tests if k in TEST_RULES]) or len(tests) > 1:
        problems.append(
            "'tests' must be {share: P} (P points for all the tests, in proportion) or {each: P} (P "
            "points for every test passed)"
        )
        tests = {}
    for key, value in tests.items():
        if not _number(value) or value < 0:
            problems.append(f"tests: {key} must be a number of points, 0 or more")
    if problems:
        raise RubricError(f"{where}: " + "; ".join(problems))
    return Rubric(
        {k: float(v) for k, v in verdict.items()},
        {str(k): float(v) for k, v in per_error.items()},
        float(cap),
        text,
        {str(k): float(v) for k, v in tests.items()},
    )


def _number(value: Any) -> bool:
    """A finite int or float: YAML's ``.nan`` and ``.inf`` would pass every comparison with the cap or fail all."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
