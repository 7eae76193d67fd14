"""Check a task before a class is graded with it: its tests compile, and its model solution passes every one.

A typo in a task file (``expect: AL`` for ``expect: '"AL"'``) used to reach every student: the driver did not
compile, and each program got COMPILE_ERROR with javac's complaint about the driver. :func:`check_task` runs the
task's own tests on the model solution (``--reference``, else the task's ``reference:``, else its ``solution:``)
in the sandbox, as a student's program runs, and stops at the first problem with one line that names the test
and what javac or the run said (:class:`TaskCheckError`, exit code 2: the teacher's error, and no student is
graded). Without any model solution, the expected values are compiled on their own, which still catches a name
that does not exist.

With a reference (``--reference`` or ``reference:``), tests generated from it (:mod:`fedjava.java.generate`)
are added after the teacher's: the task the class is graded with is :attr:`CheckReport.task`.
``fedjava task check TASK [--reference Model.java]`` runs the same check on its own (:func:`cmd_task_check`), and
``grade``, ``review`` and ``serve`` run it first (:func:`prepare_task`).
"""

from __future__ import annotations

import hashlib
import re
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from fedjava.java.generate import Budget, Generated, generate_tests
from fedjava.java.junit import method_at
from fedjava.java.runner import Diagnostic, Program, case_outcome, check_many, compile_folders, require_jdk
from fedjava.java.sandbox import Sandbox, require_sandbox
from fedjava.java.tasks import Task, TaskError, TestCase, driver_spans
from fedjava.review_inputs import read_java_file
from fedjava.tracking import log

MAX_SHOWN = 100
MAX_CACHED = 32
_IDENT_RE = re.compile(r"[A-Za-z_$][\w$]*")
_CACHE: dict[str, CheckReport] = {}


class TaskCheckError(TaskError):
    """The task's tests do not compile, or its model solution fails one: the teacher's error, said in one line."""


@dataclass
class CheckReport:
    """What the check found: the task to grade with (the teacher's tests, then the generated ones), what it was
    checked against, and the generated tests' story."""

    task: Task
    model: str
    """"the reference solution", "the task's solution", or "" (no model: only the expected values compiled)"""
    checked: int
    generated: Generated | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for the teacher: what was checked, what was generated, how long it took."""
        parts = []
        if self.checked and self.model:
            parts.append(f"{self.checked} test(s) compile and pass with {self.model}")
        elif self.checked:
            parts.append(f"{self.checked} test(s)' expected values compile (no solution or reference to run them on)")
        if self.generated is not None:
            parts.append(f"{self.generated.summary()}, from {self.model}")
        return "; ".join(parts or ["no tests to check"]) + f" (checked in {self.seconds:.1f} s)"


def check_task(
    task: Task,
    reference: str | None = None,
    *,
    label: str = "the task",
    budget: Budget | None = None,
    unsafe: bool = False,
) -> CheckReport:
    """Check ``task`` (see the module's docstring); ``reference`` (code) takes the place of the task's own, ``budget``
    bounds the generated tests (:class:`~fedjava.java.generate.Budget`). Raises TaskCheckError naming the first
    problem. The same task and reference are checked once per process."""
    budget = budget or Budget()
    require_jdk()
    reference = reference if reference is not None and reference.strip() else task.reference
    key = hashlib.sha256(repr((task, reference, task.junit, budget, unsafe)).encode()).hexdigest()
    if key in _CACHE:
        return _CACHE[key]
    started = time.perf_counter()
    model = reference or (task.solution if task.solution.strip() else "")
    what = "the reference solution" if reference else "the task's solution" if model else ""
    report = CheckReport(replace(task, reference=reference or ""), what, len(task.tests))
    if task.tests and model:
        _run_tests(task, model, label, what, unsafe)
    elif task.tests:
        _compile_expected(task, label, unsafe)
    if reference:
        made = generate_tests(reference, task.requirement, budget, unsafe=unsafe)
        report.generated = made
        report.task = replace(report.task, tests=task.tests + made.tests)
    report.seconds = time.perf_counter() - started
    if len(_CACHE) >= MAX_CACHED:  # a long-running serve sees many task files
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = report
    return report


def _run_tests(task: Task, model: str, label: str, what: str, unsafe: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="fedjava-taskcheck-") as tmp:
        outcome = check_many([Program("model", task, model)], Path(tmp), jobs=1, unsafe=unsafe)["model"]
    if not outcome.compiled:
        raise TaskCheckError(f"{label}: {_compile_problem(task, outcome.diagnostics, what)}")
    if outcome.all_passed:
        return
    failed = next((c for c in outcome.cases if c.status != "PASS"), None)
    if failed is None:
        index = len(outcome.cases)
        why = {"exited": "ended the JVM", "output_limit": "printed too much"}.get(outcome.status, "did not finish")
        raise TaskCheckError(
            f"{label}: {what} {why} at test {index + 1} ({_shown(task.tests[index])})"
            + (f": {outcome.stderr.strip().splitlines()[-1]}" if outcome.stderr.strip() else "")
        )
    test = f"test {failed.index + 1} ({_shown(task.tests[failed.index])})"
    result = case_outcome(failed) + (f", expected {failed.expected}" if failed.status == "FAIL" else "")
    raise TaskCheckError(f"{label}: {what} fails {test}: {' '.join(result.split())}")


def _compile_problem(task: Task, diagnostics: list[Diagnostic], what: str) -> str:
    """Which part does not compile, in one line: a test of the task, a JUnit test, or the model solution."""
    first = diagnostics[0] if diagnostics else None
    if first is None:
        return f"the tests do not compile with {what}"
    message = _one_line(first.message or first.args)
    if first.file == "TestDriver.java":
        spans = driver_spans(task)
        index = next((i for i, (a, b) in enumerate(spans) if a <= first.line <= b), None)
        if index is not None:
            return f"test {index + 1} ({_shown(task.tests[index])}) does not compile with {what}: {message}"
    for test in task.junit:
        if first.file == test.file_name:
            method = method_at(test, first.line)
            where = f"{test.name}.{method}()" if method else f"line {first.line} of {test.file_name}"
            return f"the JUnit test {where} does not compile with {what}: {message}"
    if first.file == "Solution.java":
        return f"{what} does not compile: line {first.line}: {message}"
    return f"{first.file} does not compile with {what}: line {first.line}: {message}"


def _one_line(message: str) -> str:
    """javac's message on one line: "cannot find symbol (variable AL)"."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    symbol = next((line.split(":", 1)[1].strip() for line in lines[1:] if line.startswith("symbol:")), "")
    return f"{lines[0]} ({symbol})" if symbol else lines[0]


def _shown(test: TestCase) -> str:
    """A test as the one line names it: its setup and call, cut to MAX_SHOWN characters."""
    text = " ".join(f"{test.setup} {test.call}".split())
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def _compile_expected(task: Task, label: str, unsafe: bool) -> None:
    """Without a model solution: each expected value that names nothing of its own call compiles on its own."""
    alone = [
        (i, t)
        for i, t in enumerate(task.tests)
        if t.kind == "call"
        and not t.throws
        and not (set(_IDENT_RE.findall(t.expect)) & (set(_IDENT_RE.findall(t.call + " " + t.setup)) | {"Solution"}))
    ]
    if not alone:
        return
    lines = ["import java.util.*;", "class ExpectedValues {"]
    spans = {}
    for i, test in alone:
        spans[len(lines) + 1] = i
        lines.append(f"    static java.lang.Object e{i}() throws java.lang.Throwable {{ return {test.expect}; }}")
    lines.append("}")
    with tempfile.TemporaryDirectory(prefix="fedjava-expected-") as tmp:
        folder = Path(tmp) / "0"
        folder.mkdir()
        (folder / "ExpectedValues.java").write_text("\n".join(lines) + "\n", encoding="utf-8")
        box = Sandbox(Path(tmp), writable=True, unsafe=unsafe)
        ok, diagnostics = compile_folders(box, {folder: "expected"}, Path(tmp) / "shared", ["ExpectedValues.java"])[
            "expected"
        ]
    if not ok and diagnostics:
        index = spans.get(diagnostics[0].line)
        what = f"test {index + 1} ({_shown(task.tests[index])})" if index is not None else "a test"
        raise TaskCheckError(
            f"{label}: the expected value of {what} does not compile: {_one_line(diagnostics[0].message)}"
        )


def fingerprint_extra(task: Task | None) -> bytes:
    """What of a task a grading run's fingerprint must add to the task file's bytes: the reference's and JUnit
    classes' code (files the task names, or ``--reference``); empty when it has neither."""
    if task is None or not (task.reference or task.junit):
        return b""
    return hashlib.sha256((task.reference + "".join(t.code for t in task.junit)).encode()).digest()


# ---------------------------------------------------------------- the command and the other commands' start


def prepare_task(
    task: Task | None, requirement: str, reference_file: str | None, label: str, run: bool, unsafe: bool = False
) -> Task | None:
    """The task ``grade``, ``review`` and ``serve`` grade with: checked (and with the generated tests) when the
    tests will run (``run``); a ``--reference`` with a task given as text makes a task of its own. Says on stderr how
    many tests were generated; TaskCheckError stops the command before any student."""

    reference = read_java_file(reference_file) if reference_file else None
    if task is None and reference is not None:
        task = Task(Path(label).stem.lower(), Path(label).stem, "review", requirement, "", (), ())
    if task is None:
        return None
    if not run:
        if reference is not None or task.reference or task.junit:
            print(
                "note: the task's reference and JUnit tests are not used: no tests run (--no-run, or an adapter "
                "trained without tool results)",
                file=sys.stderr,
            )
        return task
    if not (task.tests or reference or task.reference):
        return task
    if not unsafe:
        require_sandbox()  # the model solution and the tests run in it, as the students' programs will
    report = check_task(task, reference, label=label, unsafe=unsafe)
    if report.generated is not None:  # a check that passed is silent; generated tests are news
        log.info(f"Task check: {report.summary()}")
    return report.task
