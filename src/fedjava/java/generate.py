"""Tests made from a model solution: inputs from each method's parameter types, expected values from the reference.

For a teacher who has a model solution but no tests (``--reference Model.java``, ``reference:`` in a task file):

1. **What to call** (:mod:`fedjava.java.calls`). The reference's classes are listed without running any of
   their code: the non-private static methods of ``Solution`` (not ``main``), and every other class with a
   constructor whose parameters can be generated, through a sequence of calls to its methods ending in one that
   returns a value. Where the requirement names some of them, only those it names.
2. **Inputs** (:mod:`fedjava.java.inputs`): edge cases first, then seeded random ones, up to
   :attr:`Budget.inputs` per method or class. A void method is judged by what it leaves in its array or
   collection arguments.
3. **Expected values.** The reference runs on every input in the sandbox, alone, and the harness sends each value
   back as a Java expression (``Cases.record``). An input is left out when the reference throws an exception it
   does not throw itself (``ArrayIndexOutOfBounds`` on an empty array: outside the task's inputs), when it runs
   out of time, when its value has no Java expression (an object of its own classes), and when a second run
   of the reference does not pass its own recorded value (it disagrees with itself: randomness, a clock, an
   identity hash). An exception the reference throws with ``throw new ...`` (a JDK class) is the expected
   outcome: the student's program must throw it too.

The result is a list of ordinary test cases (``generated=True``), run against a student's program like the
teacher's own: values compared deeply, doubles with a tolerance, sets and maps without regard to order.
"""

from __future__ import annotations

import random
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from fedjava.java.calls import GenerateError, signatures, targets
from fedjava.java.runner import (
    JAVAC_FLAGS,
    RunOutcome,
    limits,
    parse_diagnostics,
    require_jdk,
    run_alone,
    write_program,
)
from fedjava.java.sandbox import Sandbox
from fedjava.java.sources import javac_source
from fedjava.java.tasks import Task, TestCase, driver_spans

__all__ = ["Budget", "GenerateError", "Generated", "generate_tests"]


@dataclass(frozen=True)
class Budget:
    """How much to generate: at most ``inputs`` per method (or class), the reference's runs within ``seconds``,
    random inputs from ``seed``."""

    inputs: int = 40
    seconds: float = 60.0
    seed: int = 0
    extremes: bool = True
    """MIN_VALUE and MAX_VALUE among the numbers' edge cases"""


@dataclass
class Generated:
    """What :func:`generate_tests` made: the tests, the methods and classes they call, and how many inputs were
    left out and why."""

    tests: tuple[TestCase, ...] = ()
    targets: list[str] = field(default_factory=list)
    left_out: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for the teacher: how many tests, for what, and what was left out."""
        dropped = "; ".join(f"{n} {why}" for why, n in self.left_out.most_common() if n)
        return (
            f"{len(self.tests)} generated test(s) for {', '.join(self.targets) or 'nothing'} in "
            f"{self.seconds:.1f} s" + (f" (left out: {dropped})" if dropped else "")
        )


def generate_tests(
    reference: str, requirement: str = "", budget: Budget = Budget(), *, unsafe: bool = False
) -> Generated:
    """Tests for ``reference``'s methods (see the module's docstring); GenerateError when it has nothing to call."""
    require_jdk()
    started = time.perf_counter()
    members = signatures(reference, unsafe=unsafe)
    rng = random.Random(budget.seed)
    result = Generated()
    candidates: list[TestCase] = []
    for label, cases in targets(members, requirement, rng, budget.inputs, budget.extremes):
        result.targets.append(label)
        candidates += cases
    if not candidates:
        raise GenerateError(
            "the reference solution has no method to test: a static method of Solution, or a class "
            "with a constructor, whose parameters are numbers, chars, booleans, Strings, or arrays, "
            "lists, sets or maps of them"
        )
    deadline = started + budget.seconds
    recorded = _record(reference, candidates, deadline, result.left_out, unsafe)
    result.tests = tuple(_verify(reference, recorded, deadline, result.left_out, unsafe))
    result.seconds = time.perf_counter() - started
    return result


# ---------------------------------------------------------------- the reference's values


def _record(
    reference: str,
    cases: list[TestCase],
    deadline: float,
    left_out: Counter,
    unsafe: bool,
) -> list[TestCase]:
    """Each case with the reference's value as its expected one (or the exception it throws); see the module's
    docstring for what is left out."""
    source = javac_source(reference).split("\n")
    pending, done = list(cases), []
    while pending and time.perf_counter() < deadline:
        outcome, pending = _run(reference, pending, deadline, left_out, unsafe, record=True)
        if outcome is None:
            break
        reported = {c.index for c in outcome.cases}
        for case in outcome.cases:
            test = pending[case.index]
            if case.status == "VALUE" and case.actual:
                done.append(TestCase(test.call, case.actual, test.setup, generated=True))
            elif case.status == "VALUE":
                left_out["value without a Java expression"] += 1
            elif case.status == "ERROR" and _thrown_by_reference(case.exception, case.line, source):
                done.append(TestCase(test.call, "", test.setup, throws=case.exception, generated=True))
            elif case.status == "ERROR":
                left_out[f"the reference throws {case.exception.rsplit('.', 1)[-1]}"] += 1
            else:
                left_out["the reference ran out of time"] += 1
        pending = [test for i, test in enumerate(pending) if i not in reported]
        if pending and not outcome.timed_out and not outcome.stopped:
            left_out["not run (the reference ended its JVM)"] += len(pending)
            break
    left_out["not run within the time budget"] += len(pending)
    return done


def _thrown_by_reference(exception: str, line: int, source: list[str]) -> bool:
    """Whether the reference threw a JDK exception itself (``throw new ...`` on the line the stack trace names)."""
    return (
        exception.startswith("java.")
        and 0 < line <= len(source)
        and re.search(r"\bthrow\b", source[line - 1]) is not None
    )


def _verify(
    reference: str,
    cases: list[TestCase],
    deadline: float,
    left_out: Counter,
    unsafe: bool,
) -> list[TestCase]:
    """The cases the reference passes when run again with its recorded values as the expected ones."""
    outcome, kept = _run(reference, cases, deadline + 30, left_out, unsafe)
    if outcome is None:
        return []
    passed = {c.index for c in outcome.cases if c.status == "PASS"}
    left_out["the reference disagrees with itself"] += len(kept) - len(passed)
    return [test for i, test in enumerate(kept) if i in passed]


def _run(
    reference: str, cases: list[TestCase], deadline: float, left_out: Counter, unsafe: bool, record: bool = False
) -> tuple[RunOutcome | None, list[TestCase]]:
    """Compile ``cases`` against the reference and run them (alone, in the sandbox); a case javac refuses is left
    out and the rest compiled again. Returns (the run, the cases it ran)."""
    for _ in range(4):
        task = Task("generated", "generated", "review", "", reference, (), tuple(cases))
        with tempfile.TemporaryDirectory(prefix="fedjava-generate-") as tmp:
            folder = Path(tmp)
            files = write_program(folder, task, reference)
            (folder / "out").mkdir()
            compiled = Sandbox(folder, writable=True, unsafe=unsafe).run(
                ["javac", *JAVAC_FLAGS, "-XDrawDiagnostics", "-encoding", "UTF-8", "-d", "out", *files], limits(120)
            )
            if compiled.returncode == 0:
                seconds = max(5.0, deadline - time.perf_counter())
                return run_alone(folder, task, program_wall=seconds, unsafe=unsafe, record=record), cases
        spans = driver_spans(task)
        bad = {
            i
            for d in parse_diagnostics(compiled.stderr)
            if d.file == "TestDriver.java"
            for i, (first, last) in enumerate(spans)
            if first <= d.line <= last
        }
        if not bad:
            raise GenerateError(
                "the generated tests do not compile with the reference: "
                f"{compiled.stderr.strip().splitlines()[0] if compiled.stderr.strip() else ''}"
            )
        left_out["does not compile"] += len(bad)
        cases = [c for i, c in enumerate(cases) if i not in bad]
    return None, cases
