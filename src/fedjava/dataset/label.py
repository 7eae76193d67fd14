"""Turn what javac and the JVM reported about one program into the evaluator's answer.

The label comes from the observed run (:class:`~fedjava.java.runner.RunOutcome`), never from
the mutation operator's intent:

* it does not compile: ``COMPILE_ERROR`` ("Syntax Error"), ``code`` = javac's key, ``line`` = javac's
  line of the first error in the student's file, ``message`` = javac's message; score 0;
* a test case runs out of time or throws from the student's code: ``RUNTIME_ERROR`` for the first such
  case; code ``timeout`` at the changed line, or the exception class, the student's line from the stack
  trace and the exception's message;
* a test case returns a wrong value: ``LOGIC_ERROR``, code ``wrong_output``, at the changed line,
  with the failing call, the expected and the actual value;
* everything passes: ``NO_ERROR`` for a correct program; a mutant that passes is equivalent and dropped;
* a program that runs out of memory is dropped (where the heap runs out is not reproducible).

``score`` is ``round(10 x passed / total)`` over the task's test cases (0 when it does not compile).
The explanation says what is wrong on the changed line and why (:mod:`fedjava.dataset.explain`, from the
mutation's facts and what was observed); the fix is the original line (``""`` when the line must be deleted).
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from typing import Any

from fedjava.dataset.explain import Observed, explain
from fedjava.java.evidence import hung_call, strip_loader_names
from fedjava.java.mutate import Mutant
from fedjava.java.runner import TIMEOUT_SECONDS, RunOutcome
from fedjava.java.tasks import Task

ERROR_TYPE = {"COMPILE_ERROR": "Syntax Error", "RUNTIME_ERROR": "Runtime Error", "LOGIC_ERROR": "Logical Error"}
STUDENT_FILE = "Solution.java"


class Dropped(Exception):
    """The program gives no usable sample; ``reason`` is a short tag counted in the build report."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass
class Labelled:
    answer: dict[str, Any]
    raw: str  # the tool output the label was read from


def score(passed: int, total: int) -> int:
    """10 x the share of passed cases, rounded half up."""
    return int(math.floor(10 * passed / total + 0.5)) if total else 0


def _one_line(text: str) -> str:
    parts = [p.strip() for p in text.strip().splitlines() if p.strip()]
    return "; ".join(parts)


def _compile_detail(message: str) -> str:
    m = re.match(r"(.+?) expected", message)
    return m.group(1) if m else "a token"


def label(
    task: Task,
    code: str,
    outcome: RunOutcome,
    mutant: Mutant | None,
    rng: random.Random,
) -> Labelled:
    """The answer for ``code`` (a correct program when ``mutant`` is None). Raises :class:`Dropped`."""
    lines = code.split("\n")
    total = len(task.tests)
    if not outcome.compiled:
        mine = [d for d in outcome.diagnostics if d.file == STUDENT_FILE]
        if not mine:
            raise Dropped("error_in_driver", "javac only complains about the test driver")
        if mutant is None:
            raise Dropped("correct_failed", "a correct program does not compile")
        first = mine[0]
        message = _one_line(first.message) or first.args or first.key
        raw = "\n".join(f"{d.file}:{d.line}: {d.key}: {_one_line(d.message) or d.args}" for d in outcome.diagnostics)
        seen = Observed("compile", first.key, first.line, message, detail=_compile_detail(message))
        error = _error("COMPILE_ERROR", seen, rng, mutant, lines)
        return Labelled({"verdict": "COMPILE_ERROR", "errors": [error], "score": 0}, raw)

    raw = strip_loader_names("\n".join(line for line in outcome.stdout.splitlines() if line.startswith("@@CASE")))
    if any(c.exception == "java.lang.OutOfMemoryError" for c in outcome.cases):
        # Where the heap runs out, and what else a JVM short of memory still reports, is not reproducible.
        raise Dropped("out_of_memory", "a test case ran out of memory")
    stopped = [c for c in outcome.cases if c.status in ("ERROR", "TIMEOUT")]
    halted = outcome.timed_out and not any(c.status == "TIMEOUT" for c in outcome.cases)
    if (halted and not stopped) or (stopped and stopped[0].status == "TIMEOUT"):
        if mutant is None:
            raise Dropped("correct_failed", "a correct program timed out")
        if halted:
            call = hung_call(task, outcome)
        else:
            call = stopped[0].call
        message = f"{call} did not finish within {TIMEOUT_SECONDS:g} s of CPU time"
        error = _error(
            "RUNTIME_ERROR", Observed("timeout", "timeout", mutant.line, message, call=call), rng, mutant, lines
        )
        return Labelled({"verdict": "RUNTIME_ERROR", "errors": [error], "score": score(outcome.passed, total)}, raw)
    if len(outcome.cases) != total and not outcome.timed_out:
        raise Dropped("incomplete_run", f"{len(outcome.cases)} of {total} cases reported")

    if stopped:
        if mutant is None:
            raise Dropped("correct_failed", "a correct program throws")
        case = stopped[0]
        if case.line < 1:
            raise Dropped("error_outside_student_code", case.exception)
        exception = case.exception
        detail = strip_loader_names(case.message)
        message = f"{exception}: {detail}" if detail else exception
        seen = Observed("exception", exception, case.line, message, call=case.call, detail=detail)
        error = _error("RUNTIME_ERROR", seen, rng, mutant, lines)
        return Labelled({"verdict": "RUNTIME_ERROR", "errors": [error], "score": score(outcome.passed, total)}, raw)

    wrong = [c for c in outcome.cases if c.status == "FAIL"]
    if wrong:
        if mutant is None:
            raise Dropped("correct_failed", "a correct program gives a wrong value")
        case = wrong[0]
        message = f"{case.call} returned {case.actual}, expected {case.expected}"
        seen = Observed(
            "wrong_output",
            "wrong_output",
            mutant.line,
            message,
            call=case.call,
            expected=case.expected,
            actual=case.actual,
        )
        error = _error("LOGIC_ERROR", seen, rng, mutant, lines)
        return Labelled({"verdict": "LOGIC_ERROR", "errors": [error], "score": score(outcome.passed, total)}, raw)

    if mutant is not None:
        raise Dropped("equivalent", "the mutant passes every test")
    return Labelled({"verdict": "NO_ERROR", "errors": [], "score": 10}, raw)


def _error(verdict: str, seen: Observed, rng: random.Random, mutant: Mutant, lines: list[str]) -> dict[str, Any]:
    return {
        "type": ERROR_TYPE[verdict],
        "code": seen.code,
        "line": seen.line,
        "message": seen.message,
        "explanation": explain(mutant, seen, lines, rng),
        "fix": mutant.original_line,
    }
