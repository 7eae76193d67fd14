"""What the tools said about a program: typed facts, rendered as the short fixed-format block of a grounded prompt.

The grounded prompt mode (``prompt_mode: grounded``) shows the model this block after the student's code, so
that what the tools can see (*that* a program fails to compile or crash, *where* javac or the stack trace
points, and which lines the tests' coverage and mutants single out) is read, not guessed; the model's job is
the rest: why, which line a logic error comes from, and the fix. The same types serve the shipped dataset (from
the runs the builder already does) and ``fedjava review`` (from its own run of the student's file)::

    Tool results:
    javac: error at line 12: compiler.err.expected: ';' expected
    tests: not run (the program does not compile)

    Tool results:
    javac: compiles
    tests: 7 of 10 passed
    first exception: Solution.f(0) threw java.lang.ArithmeticException: / by zero at line 9
    first wrong result: Solution.g(3) returned 4, expected 6

An :class:`Evidence` is a tuple of :class:`Fact` s, one per line. Each kind of line is one class with one
``render`` and one ``parse``; :data:`FACT_KINDS` lists them, and :meth:`Evidence.parse` reads a stored block
back into the same facts (``Evidence.parse(text).render() == text`` for every block the project writes). So a
reader asks for a fact by its type (``evidence.first(FirstException)``) instead of matching text, and a new kind
of evidence is one class here and its test.

In the prompt, the line of the student's code that javac or the stack trace names is quoted under its tool line
(``line 12 reads: ...``, :func:`fedjava.prompts.quote_source_lines`, through :attr:`Fact.named_line`); the block
stored here does not hold it.

Of the failing tests, the first that throws or runs out of time and the first that returns a wrong value are
shown (the label takes an exception over a wrong value: ``fedjava.dataset.label``). Long values are cut to
:data:`MAX_VALUE` characters so that the block stays short.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

from fedjava.java.runner import (
    TIMEOUT_SECONDS,
    CaseResult,
    Program,
    RunOutcome,
    case_outcome,
    check_many,
    compile_program,
    timeout_budget,
)
from fedjava.java.tasks import Task

HEADER = "Tool results:"
STUDENT_FILE = "Solution.java"
MAX_VALUE = 120
NOT_RUN = "tests: not run"
_LOADER_RE = re.compile(r" \([^()]*\bloader\b[^()]*\)")


def strip_loader_names(text: str) -> str:
    """Drop the JVM's "(in unnamed module of loader ... @1b2c3d)" notes: their hashes change every run."""
    return _LOADER_RE.sub("", text)


def short(text: str, limit: int = MAX_VALUE) -> str:
    """``text`` on one line, cut to ``limit`` characters with ``...``."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------- the facts, one class per kind of line


class Fact:
    """One line of the block. Subclasses are frozen dataclasses with ``render`` and a ``parse`` that inverts it."""

    named_line: ClassVar[int | None] = None
    """The student's line this fact names as where an error shows (javac's line, the stack trace's), or None."""

    def render(self) -> str:
        raise NotImplementedError

    @classmethod
    def parse(cls, line: str) -> Fact | None:
        """The fact ``line`` renders, or None when ``line`` is not of this kind."""
        raise NotImplementedError


@dataclass(frozen=True)
class JavacResult(Fact):
    """``javac: compiles`` / ``javac: error at line N: KEY[: message]`` / ``javac: does not compile`` / ``javac: not run``."""

    status: str  # compiles | error | failed | not_run
    line: int = 0
    key: str = ""
    message: str = ""

    _ERROR: ClassVar[re.Pattern] = re.compile(r"^javac: error at line (\d+): (\S+?)(?:: (.*))?$")
    _PLAIN: ClassVar[dict[str, str]] = {"compiles": "compiles", "failed": "does not compile", "not_run": "not run"}

    @property
    def named_line(self) -> int | None:  # type: ignore[override]
        return self.line if self.status == "error" else None

    def render(self) -> str:
        if self.status == "error":
            return f"javac: error at line {self.line}: {self.key}" + (f": {self.message}" if self.message else "")
        return f"javac: {self._PLAIN[self.status]}"

    @classmethod
    def parse(cls, line: str) -> JavacResult | None:
        found = cls._ERROR.match(line)
        if found:
            return cls("error", int(found.group(1)), found.group(2), found.group(3) or "")
        status = next((s for s, text in cls._PLAIN.items() if line == f"javac: {text}"), None)
        return cls(status) if status else None


@dataclass(frozen=True)
class TestsNotRun(Fact):
    """``tests: not run`` or ``tests: not run (why)``."""

    reason: str = ""

    def render(self) -> str:
        return NOT_RUN + (f" ({self.reason})" if self.reason else "")

    @classmethod
    def parse(cls, line: str) -> TestsNotRun | None:
        if line == NOT_RUN:
            return cls()
        found = re.match(r"^tests: not run \((.*)\)$", line)
        return cls(found.group(1)) if found else None


@dataclass(frozen=True)
class TestSummary(Fact):
    """``tests: P of T passed``."""

    passed: int
    total: int

    def render(self) -> str:
        return f"tests: {self.passed} of {self.total} passed"

    @classmethod
    def parse(cls, line: str) -> TestSummary | None:
        found = re.match(r"^tests: (\d+) of (\d+) passed$", line)
        return cls(int(found.group(1)), int(found.group(2))) if found else None


@dataclass(frozen=True)
class FirstException(Fact):
    """``first exception: CALL threw EXC[: message] at line N`` (or ``outside the student's code``)."""

    call: str
    exception: str
    message: str = ""
    line: int = -1
    """the student's line on top of the stack trace; -1 when no frame of the student's file is on it"""

    _RE: ClassVar[re.Pattern] = re.compile(
        r"^first exception: (.*?) threw ([\w.$]+)(?:: (.*?))?(?: at line (\d+)| outside the student's code)$"
    )

    @property
    def named_line(self) -> int | None:  # type: ignore[override]
        return self.line if self.line > 0 else None

    def render(self) -> str:
        detail = f": {self.message}" if self.message else ""
        where = f" at line {self.line}" if self.line > 0 else " outside the student's code"
        return f"first exception: {self.call} threw {self.exception}{detail}{where}"

    @classmethod
    def parse(cls, line: str) -> FirstException | None:
        found = cls._RE.match(line)
        if not found:
            return None
        return cls(found.group(1), found.group(2), found.group(3) or "", int(found.group(4) or -1))


@dataclass(frozen=True)
class FirstTimeout(Fact):
    """``first exception: CALL did not finish within BUDGET``: "1 s of CPU time", or "20 s of wall-clock time" for a
    case that slept, blocked or kept printing."""

    call: str
    budget: str = f"{TIMEOUT_SECONDS:g} s of CPU time"

    def render(self) -> str:
        return f"first exception: {self.call} did not finish within {self.budget}"

    @classmethod
    def parse(cls, line: str) -> FirstTimeout | None:
        found = re.match(r"^first exception: (.*) did not finish within ([\d.]+ s of (?:CPU|wall-clock) time)$", line)
        return cls(found.group(1), found.group(2)) if found else None


@dataclass(frozen=True)
class FirstWrongResult(Fact):
    """``first wrong result: CALL returned ACTUAL, expected EXPECTED``."""

    call: str
    actual: str
    expected: str

    def render(self) -> str:
        return f"first wrong result: {self.call} returned {self.actual}, expected {self.expected}"

    @classmethod
    def parse(cls, line: str) -> FirstWrongResult | None:
        found = re.match(r"^first wrong result: (.*?) returned (.*), expected (.*)$", line)
        return cls(*found.groups()) if found else None


@dataclass(frozen=True)
class SuspiciousLines(Fact):
    """``suspicious lines (coverage): 10, 9, 4`` / ``suspicious lines (mutants): 10``: the student's lines a
    localisation method ranks highest, most suspicious first (:mod:`fedjava.java.localise`)."""

    method: str  # coverage | mutants
    lines: tuple[int, ...]

    _RE: ClassVar[re.Pattern] = re.compile(r"^suspicious lines \((coverage|mutants)\): (\d+(?:, \d+)*)$")

    @property
    def named_line(self) -> int | None:  # type: ignore[override]
        return self.lines[0] if self.lines else None

    def render(self) -> str:
        return f"suspicious lines ({self.method}): " + ", ".join(map(str, self.lines))

    @classmethod
    def parse(cls, line: str) -> SuspiciousLines | None:
        found = cls._RE.match(line)
        return cls(found.group(1), tuple(int(n) for n in found.group(2).split(", "))) if found else None


@dataclass(frozen=True)
class VerifiedChange(Fact):
    """``a change that passes every test: line 10: TEXT``: one line rewritten (a mutant of the student's program)
    with which every test passes (:mod:`fedjava.java.localise`)."""

    line: int
    text: str

    _RE: ClassVar[re.Pattern] = re.compile(r"^a change that passes every test: line (\d+): (.*)$")

    @property
    def named_line(self) -> int | None:  # type: ignore[override]
        return self.line

    def render(self) -> str:
        return f"a change that passes every test: line {self.line}: {self.text}"

    @classmethod
    def parse(cls, line: str) -> VerifiedChange | None:
        found = cls._RE.match(line)
        return cls(int(found.group(1)), found.group(2)) if found else None


@dataclass(frozen=True)
class OtherLine(Fact):
    """A line of a stored block that no kind here reads (kept as it is, so nothing is lost on a round trip)."""

    text: str

    def render(self) -> str:
        return self.text

    @classmethod
    def parse(cls, line: str) -> OtherLine | None:
        return cls(line)


FACT_KINDS: list[type[Fact]] = [
    JavacResult,
    TestsNotRun,
    TestSummary,
    FirstTimeout,
    FirstException,
    FirstWrongResult,
    SuspiciousLines,
    VerifiedChange,
]
"""The kinds :meth:`Evidence.parse` tries, in order (a timeout line before the exception line it resembles).
:func:`register` adds one."""

F = TypeVar("F", bound=Fact)


def register(kind: type[F]) -> type[F]:
    """Class decorator: make ``kind`` a line :meth:`Evidence.parse` reads (a new kind of evidence)."""
    if kind not in FACT_KINDS:
        FACT_KINDS.append(kind)
    return kind


@register
@dataclass(frozen=True)
class ReferenceComparison(Fact):
    """``reference: 3 of 40 generated inputs differ; first: Solution.f(0) returned 1, the reference returns 0``, or
    ``reference: all 40 generated inputs agree``: the tests generated from a model solution
    (:mod:`fedjava.java.generate`), how many give another outcome than the reference, and the first.

    ``student``: ``returned VALUE``, ``threw EXCEPTION``, ``did not finish within BUDGET`` or ``was not run``;
    ``reference``: ``returns VALUE`` or ``throws EXCEPTION``."""

    differ: int
    total: int
    call: str = ""
    student: str = ""
    reference: str = ""

    _RE: ClassVar[re.Pattern] = re.compile(
        r"^reference: (\d+) of (\d+) generated inputs differ; first: (.*) (returned .*|threw .*|did not finish .*|"
        r"was not run.*), the reference (returns .*|throws .*)$"
    )
    _AGREE: ClassVar[re.Pattern] = re.compile(r"^reference: all (\d+) generated inputs agree$")

    def render(self) -> str:
        if not self.differ:
            return f"reference: all {self.total} generated inputs agree"
        return (
            f"reference: {self.differ} of {self.total} generated inputs differ; first: {self.call} {self.student}, "
            f"the reference {self.reference}"
        )

    @classmethod
    def parse(cls, line: str) -> ReferenceComparison | None:
        found = cls._AGREE.match(line)
        if found:
            return cls(0, int(found.group(1)))
        found = cls._RE.match(line)
        if not found:
            return None
        return cls(int(found.group(1)), int(found.group(2)), found.group(3), found.group(4), found.group(5))


def parse_fact(line: str) -> Fact:
    """The fact one line of a block renders (:class:`OtherLine` when no kind reads it)."""
    line = line.strip()
    for kind in FACT_KINDS:
        fact = kind.parse(line)
        if fact is not None:
            return fact
    return OtherLine(line)


# ---------------------------------------------------------------- the block


@dataclass(frozen=True)
class Evidence:
    """Everything the tools said about one program, in the block's order."""

    facts: tuple[Fact, ...] = field(default_factory=tuple)

    def render(self) -> str:
        """The block: :data:`HEADER` and one line per fact."""
        return "\n".join([HEADER, *(fact.render() for fact in self.facts)])

    @classmethod
    def parse(cls, text: str) -> Evidence:
        """The facts of a block :meth:`render` wrote (the header is optional; blank lines are skipped)."""
        lines = [line.strip() for line in text.strip().split("\n")]
        if lines and lines[0] == HEADER:
            lines = lines[1:]
        return cls(tuple(parse_fact(line) for line in lines if line))

    def first(self, kind: type[F]) -> F | None:
        """The first fact of ``kind``, or None."""
        return next((fact for fact in self.facts if isinstance(fact, kind)), None)

    def all(self, kind: type[F]) -> list[F]:
        """Every fact of ``kind``, in order."""
        return [fact for fact in self.facts if isinstance(fact, kind)]

    def with_facts(self, *facts: Fact) -> Evidence:
        """This evidence with ``facts`` added at the end."""
        return Evidence(self.facts + tuple(facts))

    def compile_only(self) -> Evidence:
        """As if the tests had not been run: the javac line kept, the tests' lines replaced by ``tests: not run``
        (the reason kept when there was one)."""
        javac = self.first(JavacResult) or JavacResult("not_run")
        return Evidence((javac, self.first(TestsNotRun) or TestsNotRun()))

    def without_localisation(self) -> Evidence:
        """This evidence without the localisation facts (suspicious lines, a verified change)."""
        return Evidence(tuple(f for f in self.facts if not isinstance(f, (SuspiciousLines, VerifiedChange))))

    @property
    def compiled(self) -> bool | None:
        """Whether javac compiled the program (None: javac was not run)."""
        javac = self.first(JavacResult)
        return None if javac is None or javac.status == "not_run" else javac.status == "compiles"

    @property
    def tests(self) -> TestSummary | None:
        """The test summary, when the tests ran."""
        return self.first(TestSummary)


def reported_line(tool_line: str) -> int | None:
    """The student's line a block's javac or first-exception line names (``... at line 9``), else None."""
    return parse_fact(tool_line).named_line


# ---------------------------------------------------------------- from a run


def hung_call(task: Task, outcome: RunOutcome) -> str:
    """The call a run stopped as a whole was on: the next case after those that reported."""
    hung = task.tests[min(len(outcome.cases), len(task.tests) - 1)]
    return f"{hung.setup} {hung.call}" if hung.setup else hung.call


def case_fact(case: CaseResult) -> Fact:
    """The first-exception or first-wrong-result fact of a failing case."""
    if case.status == "TIMEOUT":
        return FirstTimeout(short(case.call), timeout_budget(case))
    if case.status == "ERROR":
        message = strip_loader_names(case.message)
        return FirstException(short(case.call), case.exception, short(message) if message else "", case.line)
    return FirstWrongResult(short(case.call), short(case.actual), short(case.expected))


def compile_fact(outcome: RunOutcome) -> JavacResult:
    """The javac fact: the first error in the student's file, or that it compiles."""
    if outcome.compiled:
        return JavacResult("compiles")
    mine = [d for d in outcome.diagnostics if d.file == STUDENT_FILE] or outcome.diagnostics
    if not mine:
        return JavacResult("failed")
    first = mine[0]
    return JavacResult("error", first.line, first.key, short(first.message or first.args or ""))


def test_facts(outcome: RunOutcome, total: int, hung_call: str = "") -> list[Fact]:
    """The tests' facts for a program that compiled and ran ``total`` test cases.

    ``hung_call`` names the case a run that was stopped as a whole (no case reported its timeout) was on.
    """
    facts: list[Fact] = [TestSummary(outcome.passed, total)]
    stopped = [c for c in outcome.cases if c.status in ("ERROR", "TIMEOUT")]
    wrong = [c for c in outcome.cases if c.status == "FAIL"]
    if stopped:
        facts.append(case_fact(stopped[0]))
    elif outcome.timed_out:
        facts.append(FirstTimeout(short(hung_call) if hung_call else "a test"))
    if wrong:
        facts.append(case_fact(wrong[0]))
    return facts


def evidence_of(
    outcome: RunOutcome | None,
    total_tests: int,
    hung_call: str = "",
    ran_tests: bool = True,
) -> Evidence:
    """The evidence of one program. ``outcome`` None: nothing was run (the tools were not available).

    ``ran_tests`` False or no tests (compiled only, or the task has none): the tests fact says "not run".
    """
    if outcome is None:
        return Evidence((JavacResult("not_run"), TestsNotRun()))
    javac = compile_fact(outcome)
    if not outcome.compiled:
        return Evidence((javac, TestsNotRun("the program does not compile")))
    if not ran_tests or total_tests == 0:
        return Evidence((javac, TestsNotRun()))  # one form whatever the reason, the one tests_dropout trains on
    return Evidence((javac, *test_facts(outcome, total_tests, hung_call)))


def evidence_block(outcome: RunOutcome | None, total_tests: int, hung_call: str = "", ran_tests: bool = True) -> str:
    """:func:`evidence_of` rendered: the block of one program."""
    return evidence_of(outcome, total_tests, hung_call, ran_tests).render()


def compile_only(block: str) -> str:
    """``block`` as if the tests had not been run (:meth:`Evidence.compile_only`)."""
    return Evidence.parse(block).compile_only().render()


def comparison_facts(task: Task, outcome: RunOutcome) -> list:
    """The evidence line on the generated tests of ``task`` (:class:`~fedjava.java.evidence.ReferenceComparison`)
    for a program that compiled; [] when the task has none."""
    generated = [i for i, test in enumerate(task.tests) if test.generated]
    if not generated or not outcome.compiled:
        return []
    results = {case.index: case for case in outcome.cases}
    differ = [i for i in generated if i not in results or results[i].status != "PASS"]
    if not differ:
        return [ReferenceComparison(0, len(generated))]
    first, test = differ[0], task.tests[differ[0]]
    case = results.get(first)
    student = (
        "was not run (the program stopped before it)"
        if case is None
        else case_outcome(case, lambda text: short(strip_loader_names(text)))
    )
    shown = case.expected if case is not None and case.status == "FAIL" else test.expect  # as the student's value
    reference = f"throws {test.throws}" if test.throws else f"returns {short(shown)}"
    call = short(f"{test.setup} {test.call}" if test.setup else test.call)
    return [ReferenceComparison(len(differ), len(generated), call, student, reference)]


def gather_evidence(
    code: str, task: Task | None = None, run_tests: bool = True, *, unsafe: bool = False
) -> tuple[str, RunOutcome]:
    """Run javac and the tests on one student's file: (the evidence block, the outcome).

    With a task that has test cases (and ``run_tests``), the file is compiled with the task's driver and
    every test runs, exactly as the dataset's programs were (:func:`fedjava.java.runner.check_many`);
    otherwise it is only compiled. Both in the sandbox (``unsafe``: without namespaces, ``--unsafe-run``).
    ``fedjava review`` also localises (:func:`fedjava.java.localise.review_evidence`).
    """
    if task is not None and task.tests and run_tests:
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory(prefix="fedjava-review-") as tmp:  # the dataset's own path: same labels
            outcome = check_many([Program("review", task, code)], Path(tmp), jobs=1, unsafe=unsafe)["review"]
        hung = hung_call(task, outcome) if outcome.compiled and outcome.timed_out else ""
        evidence = evidence_of(outcome, len(task.tests), hung).with_facts(*comparison_facts(task, outcome))
        return evidence.render(), outcome
    outcome = compile_program(code, unsafe=unsafe)
    return evidence_block(outcome, 0, ran_tests=False), outcome
