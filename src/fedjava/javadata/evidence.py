"""What javac and the task's tests said about a program, as the short fixed-format block of a grounded prompt.

The grounded prompt mode (``prompt_mode: grounded``) shows the model this block after the student's code,
so that what the tools can see (*that* a program fails to compile or crash, and *where* javac or the
stack trace points) is read, not guessed; the model's job is the rest: why, which line a logic error
comes from, and the fix. The same function serves the shipped dataset (from the runs the builder already
does) and ``fedjava review`` (from its own run of the student's file), so both show the model one format::

    Tool results:
    javac: error at line 12: compiler.err.expected: ';' expected
    tests: not run (the program does not compile)

    Tool results:
    javac: compiles
    tests: 7 of 10 passed
    first exception: Solution.f(0) threw java.lang.ArithmeticException: / by zero at line 9
    first wrong result: Solution.g(3) returned 4, expected 6

In the prompt, the line of the student's code that javac or the stack trace names is quoted under its tool line
(``line 12 reads: ...``, :func:`fedjava.prompts.quote_source_lines`); the block stored here does not hold it.

Of the failing tests, the first that throws or runs out of time and the first that returns a wrong value
are shown (the label takes an exception over a wrong value: ``fedjava.javadata.label``). Long values are
cut to :data:`MAX_VALUE` characters so that the block stays short.
"""

from __future__ import annotations

import re

from fedjava.javadata.runner import (
    TIMEOUT_SECONDS,
    CaseResult,
    Program,
    RunOutcome,
    check_many,
    compile_program,
    timeout_budget,
)
from fedjava.javadata.tasks import Task

HEADER = "Tool results:"
STUDENT_FILE = "Solution.java"
MAX_VALUE = 120
NOT_RUN = "tests: not run"
_REPORTED_LINE_RES = (re.compile(r"^javac: error at line (\d+):"), re.compile(r"^first exception: .* at line (\d+)$"))


def reported_line(tool_line: str) -> int | None:
    """The student's line a block's javac or first-exception line names (``... at line 9``), else None."""
    for pattern in _REPORTED_LINE_RES:
        match = pattern.match(tool_line.strip())
        if match:
            return int(match.group(1))
    return None
_LOADER_RE = re.compile(r" \([^()]*\bloader\b[^()]*\)")


def strip_loader_names(text: str) -> str:
    """Drop the JVM's "(in unnamed module of loader ... @1b2c3d)" notes: their hashes change every run."""
    return _LOADER_RE.sub("", text)


def hung_call(task: Task, outcome: RunOutcome) -> str:
    """The call a run stopped as a whole was on: the next case after those that reported."""
    hung = task.tests[min(len(outcome.cases), len(task.tests) - 1)]
    return f"{hung.setup} {hung.call}" if hung.setup else hung.call


def _short(text: str, limit: int = MAX_VALUE) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _case_line(case: CaseResult) -> str:
    if case.status == "TIMEOUT":
        return f"first exception: {_short(case.call)} did not finish within {timeout_budget(case)}"
    if case.status == "ERROR":
        message = strip_loader_names(case.message)
        detail = f": {_short(message)}" if message else ""
        where = f" at line {case.line}" if case.line > 0 else " outside the student's code"
        return f"first exception: {_short(case.call)} threw {case.exception}{detail}{where}"
    return f"first wrong result: {_short(case.call)} returned {_short(case.actual)}, expected {_short(case.expected)}"


def compile_lines(outcome: RunOutcome) -> list[str]:
    """The javac line: the first error in the student's file, or that it compiles."""
    if outcome.compiled:
        return ["javac: compiles"]
    mine = [d for d in outcome.diagnostics if d.file == STUDENT_FILE] or outcome.diagnostics
    if not mine:
        return ["javac: does not compile"]
    first = mine[0]
    message = _short(first.message or first.args or "")
    return [f"javac: error at line {first.line}: {first.key}" + (f": {message}" if message else "")]


def test_lines(outcome: RunOutcome, total: int, hung_call: str = "") -> list[str]:
    """The tests' lines for a program that compiled and ran ``total`` test cases.

    ``hung_call`` names the case a run that was stopped as a whole (no case reported its timeout) was on.
    """
    passed = outcome.passed
    lines = [f"tests: {passed} of {total} passed"]
    stopped = [c for c in outcome.cases if c.status in ("ERROR", "TIMEOUT")]
    wrong = [c for c in outcome.cases if c.status == "FAIL"]
    if stopped:
        lines.append(_case_line(stopped[0]))
    elif outcome.timed_out:
        call = _short(hung_call) if hung_call else "a test"
        lines.append(f"first exception: {call} did not finish within {TIMEOUT_SECONDS:g} s of CPU time")
    if wrong:
        lines.append(_case_line(wrong[0]))
    return lines


def evidence_block(outcome: RunOutcome | None, total_tests: int, hung_call: str = "", ran_tests: bool = True) -> str:
    """The block for one program. ``outcome`` None: nothing was run (the tools were not available).

    ``ran_tests`` False or no tests (compiled only, or the task has none): the tests line says "not run".
    """
    if outcome is None:
        return "\n".join([HEADER, "javac: not run", NOT_RUN])
    lines = [HEADER, *compile_lines(outcome)]
    if not outcome.compiled:
        lines.append(f"{NOT_RUN} (the program does not compile)")
    elif not ran_tests or total_tests == 0:
        lines.append(NOT_RUN)  # one form whatever the reason, the one tests_dropout trains on
    else:
        lines += test_lines(outcome, total_tests, hung_call)
    return "\n".join(lines)


def compile_only(block: str) -> str:
    """``block`` as if the tests had not been run: the javac line kept, the test lines replaced."""
    lines = block.split("\n")
    kept = [line for line in lines if not line.startswith(("tests:", "first exception:", "first wrong result:"))]
    if not any(line.startswith(NOT_RUN) for line in lines):
        kept.append(NOT_RUN)
    else:
        kept.append(next(line for line in lines if line.startswith(NOT_RUN)))
    return "\n".join(kept)


def gather_evidence(code: str, task: Task | None = None, run_tests: bool = True, *,
                    unsafe: bool = False) -> tuple[str, RunOutcome]:
    """Run the tools on one student's file, as ``fedjava review`` does: (the evidence block, the outcome).

    With a task that has test cases (and ``run_tests``), the file is compiled with the task's driver and
    every test runs in one JVM, exactly as the dataset's programs were (:func:`fedjava.javadata.runner.check_many`);
    otherwise it is only compiled. Both in the sandbox (``unsafe``: without namespaces, ``--unsafe-run``).
    """
    if task is not None and task.tests and run_tests:
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory(prefix="fedjava-review-") as tmp:  # the dataset's own path: same labels
            outcome = check_many([Program("review", task, code)], Path(tmp), jobs=1, unsafe=unsafe)["review"]
        hung = hung_call(task, outcome) if outcome.compiled and outcome.timed_out else ""
        return evidence_block(outcome, len(task.tests), hung), outcome
    outcome = compile_program(code, unsafe=unsafe)
    return evidence_block(outcome, 0, ran_tests=False), outcome
