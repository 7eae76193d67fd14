"""The table of a task's tests for one program: the call (or input), the expected and actual values, pass or fail.

Every review shows it (``fedjava review`` prints it, the feedback pages of ``grade`` and ``serve`` hold it), and
the rubric counts its passes (:meth:`fedjava.grading.rubric.Rubric.score`). A row is a dict, stored as it is in
``results.jsonl``::

    {"call": "Solution.twice(7)", "expected": "14", "actual": "15", "status": "FAIL", "hidden": false}

``status`` is the harness's PASS, FAIL, ERROR (the call threw) or TIMEOUT, or NOT_RUN (the program does not
compile, or the run was stopped before this test). A passing test's expected value is the task's ``expect``
(the harness reports values only for the tests that fail), and its actual value the same.

A test marked ``hidden: true`` in the task counts like the others, but a student's page does not show it:
:func:`student_rows` keeps only its outcome, and :func:`hide_calls` takes its call out of any text shown beside
it (the tool results, the grader's explanation), where the first failing test is often quoted.
"""

from __future__ import annotations

import re
from typing import Any

from fedjava.java.evidence import short, strip_loader_names

STATUS_WORDS = {
    "PASS": "pass",
    "FAIL": "fail",
    "ERROR": "fail (threw)",
    "TIMEOUT": "fail (never ended)",
    "NOT_RUN": "not run",
}
HIDDEN_CALL = "a hidden test"
COLUMN = 48
"""Widest column of the text table (longer cells end in "...")."""
# what follows a hidden call in a tool line or an explanation: the values it returned, an exception's message
_HIDDEN_VALUES_RE = re.compile(f"{HIDDEN_CALL} returned .*?, expected [^\n;]*")
_HIDDEN_MESSAGE_RE = re.compile(
    f"{HIDDEN_CALL} threw (?P<exception>[\\w.$]+)(?::[^\n]*?)?(?= at line| outside|$)", re.MULTILINE
)


def tests_table(task, outcome) -> list[dict[str, Any]]:
    """One row per test of ``task``, from the run's ``outcome`` (:class:`fedjava.java.runner.RunOutcome`);
    [] when the task has no tests."""
    tests = list(getattr(task, "tests", None) or ())
    cases = {case.index: case for case in (outcome.cases if outcome is not None and outcome.compiled else [])}
    rows = []
    for i, test in enumerate(tests):
        shown = f"{test.setup} {test.call}" if test.setup else test.call
        row = {
            "call": short(shown),
            "expected": short(_expected(test)),
            "actual": "",
            "status": "NOT_RUN",
            "hidden": bool(getattr(test, "hidden", False)),
        }
        case = cases.get(i)
        if case is not None:
            row["status"] = case.status if case.status in STATUS_WORDS else "FAIL"
            if case.status == "PASS":
                row["actual"] = row["expected"]
            elif case.status == "FAIL":
                row["expected"], row["actual"] = short(case.expected), short(case.actual)
            elif case.status == "ERROR":
                message = strip_loader_names(case.message)
                row["actual"] = short(f"threw {case.exception}" + (f": {message}" if message else ""))
            elif case.status == "TIMEOUT":
                row["actual"] = "did not finish" + (f" within {case.message}" if case.message else "")
        rows.append(row)
    return rows


def _expected(test) -> str:
    """What a test expects, as the table shows it: the value, the exception it must throw, or the output."""
    if getattr(test, "stdout", None) is not None:
        return test.stdout
    if getattr(test, "throws", ""):
        return f"throws {test.throws}"
    return test.expect


def counts(rows: list[dict[str, Any]]) -> str:
    """ "7 of 9" (passed of all, hidden included), "" for no tests."""
    return f"{sum(r['status'] == 'PASS' for r in rows)} of {len(rows)}" if rows else ""


def student_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows a student may see: a hidden test's outcome without its call and values."""
    return [
        {"call": "", "expected": "", "actual": "", "status": r["status"], "hidden": True} if r.get("hidden") else r
        for r in rows
    ]


def hidden_calls(rows: list[dict[str, Any]] | None) -> list[str]:
    """The calls of the hidden tests, longest first (so that a call inside another is replaced after it)."""
    return sorted({r["call"] for r in rows or [] if r.get("hidden") and r.get("call")}, key=len, reverse=True)


def hide_calls(text: str | None, calls: list[str]) -> str | None:
    """``text`` with every hidden call in it replaced by "a hidden test", and the values the call returned and was
    expected to return ("returned 15, expected 14") by "a wrong value"."""
    if not text or not calls:
        return text
    for call in calls:
        text = text.replace(call, HIDDEN_CALL)
    text = _HIDDEN_VALUES_RE.sub(f"{HIDDEN_CALL} returned a wrong value", text)
    return _HIDDEN_MESSAGE_RE.sub(lambda m: f"{HIDDEN_CALL} threw {m['exception']}", text)


def hide_in_answer(answer: dict[str, Any] | None, calls: list[str]) -> dict[str, Any] | None:
    """A copy of ``answer`` whose errors' message, explanation and fix name no hidden call."""
    if not answer or not calls:
        return answer
    errors = [
        {**e, **{k: hide_calls(e.get(k), calls) for k in ("message", "explanation", "fix") if e.get(k)}}
        for e in answer.get("errors") or []
    ]
    return {**answer, "errors": errors}


def text_table(rows: list[dict[str, Any]], show_hidden: bool = False) -> list[str]:
    """The table as aligned text lines for ``fedjava review`` (hidden tests as "(hidden test)" unless asked)."""
    if not rows:
        return []
    shown = rows if show_hidden else student_rows(rows)
    cells = [("#", "call", "expected", "actual", "result")]
    for i, r in enumerate(shown, 1):
        call = r["call"] if r["call"] or not r.get("hidden") else "(hidden test)"
        cells.append((str(i), call, r["expected"], r["actual"], STATUS_WORDS.get(r["status"], r["status"])))
    widths = [min(COLUMN, max(len(c[k]) for c in cells)) for k in range(5)]
    return ["  ".join(short(c[k], widths[k]).ljust(widths[k]) for k in range(5)).rstrip() for c in cells]
