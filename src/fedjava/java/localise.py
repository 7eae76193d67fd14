"""Where an error is, for a program that compiles and fails a test: two localisation methods, run in the sandbox.

javac names a compile error's line and a stack trace a runtime error's, but a wrong result names no line: the
tools say *that* a value is wrong, not where it comes from. Two kinds of evidence say where:

* **coverage** (spectrum-based): which lines each test runs (:file:`resources/coverage/LineCoverage.java` inserts a probe at every
  line of the student's bytecode, in one JVM), ranked by Ochiai: a line run by every failing test and few passing
  ones comes first, ``ef / sqrt(nf * (ef + ep))``. Ties are broken towards the later line, where a method's result
  is usually made.
* **mutants** (mutation-based, Metallaxis): the project's own logic and runtime mutation operators
  (:mod:`fedjava.java.mutate`) applied to the student's lines that failing tests run; each mutant is compiled
  and run against the tests. A mutant that changes what failing tests give points at its line (scored as
  Ochiai over the tests whose outcome it changes: ``f / sqrt(nf * (f + p))``), and one that passes every test is a
  **verified change**: a one-line edit with which the program passes.

:func:`localise` returns both rankings and the verified change, and :func:`facts` their lines of the evidence
block (``suspicious lines (coverage): ...``, ``suspicious lines (mutants): ...``, ``a change that passes every test:
...``). Budgets bound the work: at most ``max_mutants`` mutants (from the lines coverage ranks highest), and each test
case the CPU budget of the runner.

The test split's logic errors were made by the same operators, so mutation-based localisation is flattered there;
:mod:`data/handwritten` holds programs no operator made.
"""

from __future__ import annotations

import math
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from fedjava.java.evidence import Evidence, Fact, SuspiciousLines, VerifiedChange, gather_evidence
from fedjava.java.mutate import all_mutants
from fedjava.java.runner import (
    JAVAC_FLAGS,
    TIMEOUT_SECONDS,
    Program,
    RunOutcome,
    check_many,
    compile_folders,
    limits,
)
from fedjava.java.sandbox import JAVA_RESOURCES, Sandbox
from fedjava.java.sources import javac_source
from fedjava.java.tasks import Task

TOP = 3
"""How many suspicious lines a fact shows."""
MAX_MUTANTS = 40
MUTANT_FAMILIES = ("logic", "runtime")
ASM_EXPORT = "--add-exports=java.base/jdk.internal.org.objectweb.asm=ALL-UNNAMED"
TOOL_SOURCES = ("Cov.java", "LineCoverage.java")
COVERAGE_SOURCES = JAVA_RESOURCES / "coverage"
"""The coverage tool's sources: beside the harness module's, not in it (it is fedjava's own tool, run in a JVM of
its own with the JDK's ASM exported to it)."""


@dataclass
class Localisation:
    """What both methods found for one program."""

    coverage: dict[int, frozenset[int]] = field(default_factory=dict)
    """test case index -> the student's lines it ran"""
    failing: frozenset[int] = frozenset()
    """the indices of the test cases that fail"""
    coverage_ranking: list[tuple[int, float]] = field(default_factory=list)
    mutant_ranking: list[tuple[int, float]] = field(default_factory=list)
    verified: tuple[int, str] | None = None
    """(line, new text) of a mutant that passes every test"""
    mutants_run: int = 0
    seconds: float = 0.0

    def facts(self, top: int = TOP) -> list[Fact]:
        """The evidence lines: each ranking's top lines, then the verified change."""
        out: list[Fact] = []
        if self.coverage_ranking:
            out.append(SuspiciousLines("coverage", tuple(n for n, _ in self.coverage_ranking[:top])))
        if self.mutant_ranking:
            out.append(SuspiciousLines("mutants", tuple(n for n, _ in self.mutant_ranking[:top])))
        if self.verified is not None:
            out.append(VerifiedChange(self.verified[0], " ".join(self.verified[1].split())))
        return out


def failing_cases(task: Task, outcome: RunOutcome) -> frozenset[int]:
    """The cases that did not pass: reported as failing, or never reported because the run stopped before them."""
    passed = {c.index for c in outcome.cases if c.status == "PASS"}
    return frozenset(i for i in range(len(task.tests)) if i not in passed)


def needs_localisation(outcome: RunOutcome | None) -> bool:
    """Whether a run calls for localisation: the program compiled and a test did not pass."""
    return (
        outcome is not None and outcome.compiled and bool(outcome.cases or outcome.timed_out) and not outcome.all_passed
    )


def localise(
    task: Task, code: str, outcome: RunOutcome, *, max_mutants: int = MAX_MUTANTS, jobs: int = 1, unsafe: bool = False
) -> Localisation:
    """Both localisation methods on ``code``, whose test run was ``outcome`` (it compiled and a test failed)."""
    return localise_many([("program", task, code, outcome)], max_mutants=max_mutants, jobs=jobs, unsafe=unsafe)[
        "program"
    ]


def localise_many(
    items: list[tuple[str, Task, str, RunOutcome]],
    *,
    max_mutants: int = MAX_MUTANTS,
    jobs: int = 2,
    unsafe: bool = False,
    trusted: bool = False,
) -> dict[str, Localisation]:
    """:func:`localise` for many programs ``(key, task, code, outcome)`` at once: their coverage in one batch
    (one javac JVM, one coverage JVM: coverage only reads each program's own lines) and their mutants many per JVM.

    The programs of one batch JVM can reach each other, so unless ``trusted`` (fedjava's own programs: the data
    build, the project's hand-written files) each program's mutants get batches of their own: a program can then
    only mislead its own localisation. A verified change of a program that is not trusted is run once more
    alone (:func:`fedjava.java.runner.run_alone`), the way every student program runs, before it is kept."""
    started = time.perf_counter()
    found = {key: Localisation(failing=failing_cases(task, outcome)) for key, task, _, outcome in items}
    with tempfile.TemporaryDirectory(prefix="fedjava-localise-") as tmp:
        coverage = coverage_many([(key, task, code) for key, task, code, _ in items], Path(tmp), unsafe=unsafe)
    for key, task, _, _ in items:
        found[key].coverage = coverage.get(key, {})
        found[key].coverage_ranking = ochiai(found[key].coverage, found[key].failing, len(task.tests))
    rank_mutants(items, found, max_mutants, jobs, unsafe, trusted)
    seconds = (time.perf_counter() - started) / max(1, len(items))
    for result in found.values():
        result.seconds = seconds
    return found


# ---------------------------------------------------------------- coverage


def coverage_driver(task: Task) -> str:
    """``CoverageDriver.java``: every test case's setup and call in order, ``Cov.begin(i)`` before case i; nothing
    is compared (the test run says which cases fail). Tests of a program's output and JUnit tests are not
    followed (no line counts as run by them)."""
    lines = ["import java.util.*;", "", "class CoverageDriver {", "    public static void main(String[] args) {"]
    for i, case in enumerate(task.tests):
        if case.kind != "call":
            lines.append(f"        Cov.begin({i});")
            continue
        lines += [f"        Cov.begin({i});", "        try {"]
        if case.setup:
            lines.append(f"            {case.setup}")
        lines += [f"            Object actual = {case.call};", "        } catch (Throwable t) {", "        }"]
    lines += ["    }", "}", ""]
    return "\n".join(lines)


_TOOL: dict[bool, tuple[tempfile.TemporaryDirectory, dict[str, bytes]]] = {}


def _tool_classes(unsafe: bool) -> dict[str, bytes]:
    """The coverage tool's class files (Cov, LineCoverage), compiled once per process (in the sandbox, as every
    javac), by file name."""
    if unsafe not in _TOOL:
        folder = tempfile.TemporaryDirectory(prefix="fedjava-coverage-tool-")
        work = Path(folder.name)
        (work / "classes").mkdir()
        for name in TOOL_SOURCES:
            (work / name).write_text((COVERAGE_SOURCES / name).read_text(encoding="utf-8"), encoding="utf-8")
        box = Sandbox(work, writable=True, unsafe=unsafe)
        compiled = box.run(
            [
                "javac",
                *JAVAC_FLAGS,
                ASM_EXPORT,
                "-encoding",
                "UTF-8",
                "-d",
                box.path(work / "classes"),
                *(box.path(work / n) for n in TOOL_SOURCES),
            ],
            limits(60),
        )
        if compiled.returncode != 0:
            raise RuntimeError(f"the coverage tool did not compile: {compiled.stderr[-1000:]}")
        _TOOL[unsafe] = (folder, {p.name: p.read_bytes() for p in (work / "classes").glob("*.class")})
    return _TOOL[unsafe][1]


def coverage_many(
    items: list[tuple[str, Task, str]],
    work: Path,
    *,
    unsafe: bool = False,
) -> dict[str, dict[int, frozenset[int]]]:
    """For each ``(key, task, code)``: test case index -> the lines of ``code`` it ran (cases after one that ran out
    of time are not run). A program whose CoverageDriver does not compile gets ``{}``."""
    tool = work / "tool"
    tool.mkdir()
    for name, data in _tool_classes(unsafe).items():
        (tool / name).write_bytes(data)
    folders: dict[Path, str] = {}  # the Java side sees each program by its index: keys may hold any character
    for i, (_, task, code) in enumerate(items):
        folder = work / str(i)
        folder.mkdir()
        (folder / "Solution.java").write_text(javac_source(code), encoding="utf-8")
        (folder / "CoverageDriver.java").write_text(coverage_driver(task), encoding="utf-8")
        folders[folder] = str(i)
    box = Sandbox(work, writable=True, unsafe=unsafe)
    compiled = compile_folders(box, folders, tool, ["Solution.java", "CoverageDriver.java"])
    pending = [(key, folder / "out") for folder, key in folders.items() if compiled[key][0]]
    tag = f"@@{secrets.token_hex(8)}"
    cpu_ms = int(TIMEOUT_SECONDS * 1000)
    found: dict[str, dict[int, frozenset[int]]] = {index: {} for index in folders.values()}
    reader = Sandbox(work, unsafe=unsafe, reads=(tool, *(out for _, out in pending)))
    cases = max((len(task.tests) for _, task, _ in items), default=1)
    while pending:
        ran = reader.run(
            [
                "java",
                "-Xmx256m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                ASM_EXPORT,
                "-cp",
                reader.path(tool),
                "LineCoverage",
                str(cpu_ms),
                tag,
            ],
            limits(10 + TIMEOUT_SECONDS * (cases + 2) * len(pending)),
            stdin="".join(f"{key}\t{reader.path(out)}\n" for key, out in pending),
        )
        ended = parse_coverage(ran.stdout, tag, found)
        left = [(key, out) for key, out in pending if key not in ended]
        if len(left) == len(pending):  # nothing moved: the JVM failed before the first program ended
            break
        pending = left
    return {key: found[str(i)] for i, (key, _, _) in enumerate(items)}


def parse_coverage(stdout: str, tag: str, into: dict[str, dict[int, frozenset[int]]]) -> set[str]:
    """Read LineCoverage's ``TAG COV KEY i lines`` lines into ``into``; the keys whose program ended."""
    ended = set()
    for line in stdout.splitlines():
        parts = line.strip().split(" ")
        if parts[0] != tag or len(parts) < 3:
            continue
        if parts[1] == "COV" and len(parts) >= 4:
            into.setdefault(parts[2], {})[int(parts[3])] = frozenset(
                int(n) for n in (parts[4] if len(parts) > 4 else "").split(",") if n
            )
        elif parts[1] in ("END", "HALT"):
            ended.add(parts[2])
    return ended


def ochiai(coverage: dict[int, frozenset[int]], failing: frozenset[int], total: int) -> list[tuple[int, float]]:
    """Lines run by a failing test, by Ochiai score (highest first; ties: the later line first)."""
    nf = len(failing)
    if not nf:
        return []
    lines = {n for case in failing for n in coverage.get(case, ())}
    scores = []
    for n in lines:
        ef = sum(n in coverage.get(case, ()) for case in failing)
        ep = sum(n in lines_run for case, lines_run in coverage.items() if case not in failing)
        scores.append((n, ef / math.sqrt(nf * (ef + ep))))
    return sorted(scores, key=lambda item: (-item[1], -item[0]))


# ---------------------------------------------------------------- mutants


def rank_mutants(
    items: list[tuple[str, Task, str, RunOutcome]],
    found: dict[str, Localisation],
    max_mutants: int,
    jobs: int,
    unsafe: bool,
    trusted: bool = False,
) -> None:
    """Run the mutants of the lines coverage ranks highest; fill each program's mutant ranking and verified change
    (see :func:`localise_many` for which programs share a JVM)."""

    chosen: dict[str, list] = {}
    batches: list[list[Program]] = [[]]
    for n, (key, task, code, _) in enumerate(items):
        order = {n: i for i, (n, _) in enumerate(found[key].coverage_ranking)}
        mutants = [m for m in all_mutants(code, MUTANT_FAMILIES) if m.line in order and m.mutated_line.strip()]
        mutants.sort(key=lambda m, order=order: (order[m.line], m.operator))
        chosen[key] = mutants[:max_mutants]
        found[key].mutants_run = len(chosen[key])
        if not trusted and batches[-1]:
            batches.append([])
        batches[-1] += [Program(f"{n}-{i}", task, m.code) for i, m in enumerate(chosen[key])]
    outcomes: dict[str, RunOutcome] = {}
    for batch in (b for b in batches if b):
        with tempfile.TemporaryDirectory(prefix="fedjava-mutants-") as tmp:
            outcomes.update(check_many(batch, Path(tmp), jobs=jobs, unsafe=unsafe, trusted=True))
    for n, (key, task, _, outcome) in enumerate(items):
        _rank(found[key], task, outcome, chosen[key], {i: outcomes.get(f"{n}-{i}") for i in range(len(chosen[key]))})
        verified = found[key].verified
        if verified is not None and not trusted and not _passes_alone(task, chosen[key], verified, unsafe):
            found[key].verified = None


def _passes_alone(task: Task, mutants: list, verified: tuple[int, str], unsafe: bool) -> bool:
    """Whether the mutant behind ``verified`` passes every test run alone, as a student's program runs."""
    code = next(m.code for m in mutants if (m.line, m.mutated_line) == verified)
    with tempfile.TemporaryDirectory(prefix="fedjava-verified-") as tmp:
        return check_many([Program("verified", task, code)], Path(tmp), jobs=1, unsafe=unsafe)["verified"].all_passed


def _rank(found: Localisation, task: Task, outcome: RunOutcome, mutants: list, outcomes: dict) -> None:
    """One program's mutant ranking (Metallaxis-Ochiai, the line's best mutant) and its first verified change."""
    order = {n: i for i, (n, _) in enumerate(found.coverage_ranking)}
    before = _case_states(task, outcome)
    nf = len(found.failing)
    best: dict[int, float] = {}
    for i, mutant in enumerate(mutants):
        ran = outcomes.get(i)
        if ran is None or not ran.compiled:
            continue
        if ran.all_passed and found.verified is None:
            found.verified = (mutant.line, mutant.mutated_line)
        after = _case_states(task, ran)
        changed = [case for case in range(len(task.tests)) if after[case] != before[case]]
        f = sum(case in found.failing for case in changed)
        p = len(changed) - f
        if f:
            best[mutant.line] = max(best.get(mutant.line, 0.0), f / math.sqrt(nf * (f + p)))
    found.mutant_ranking = sorted(best.items(), key=lambda item: (-item[1], order[item[0]]))


def _case_states(task: Task, outcome: RunOutcome) -> list[str]:
    """What each test case gave: PASS, the wrong value, the exception, or "not run"."""
    states = ["not run"] * len(task.tests)
    for case in outcome.cases:
        if 0 <= case.index < len(states):
            states[case.index] = {
                "PASS": "PASS",
                "FAIL": f"FAIL {case.actual}",
                "ERROR": f"ERROR {case.exception}",
            }.get(case.status, case.status)
    return states


def with_localisation(
    evidence: Evidence,
    task: Task,
    code: str,
    outcome: RunOutcome,
    *,
    unsafe: bool = False,
    max_mutants: int = MAX_MUTANTS,
) -> tuple[Evidence, Localisation | None]:
    """``evidence`` with the localisation facts added when the run calls for them (else unchanged, None). A task with
    JUnit tests is not localised: coverage does not follow them, and their mutants could not share a batch JVM (it
    has no JUnit on its class path), so each would need a JVM of its own."""
    if not needs_localisation(outcome) or task.junit:
        return evidence, None
    found = localise(task, code, outcome, max_mutants=max_mutants, unsafe=unsafe)
    return evidence.with_facts(*found.facts()), found


def review_evidence(
    code: str,
    task: Task | None = None,
    run_tests: bool = True,
    *,
    unsafe: bool = False,
    localise: bool = True,
    max_mutants: int = MAX_MUTANTS,
) -> tuple[str, RunOutcome]:
    """The tools of one review: javac and the tests (:func:`fedjava.java.evidence.gather_evidence`) and, for a
    program that compiles and fails a test, the localisation (``localise``): (the evidence block, the outcome)."""

    block, outcome = gather_evidence(code, task, run_tests, unsafe=unsafe)
    if localise and task is not None and task.tests and run_tests:
        evidence, _ = with_localisation(
            Evidence.parse(block), task, code, outcome, unsafe=unsafe, max_mutants=max_mutants
        )
        block = evidence.render()
    return block, outcome
