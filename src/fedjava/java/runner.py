"""Compile and run a student's ``Solution`` against a task's test driver with the real JDK.

This module is the only place that starts ``javac`` or ``java``, always through
:class:`fedjava.java.sandbox.Sandbox` (namespaces, a read-only file system, rlimits, a wall clock and an
output cap). ``unsafe=True`` (``--unsafe-run``) runs without namespaces where bubblewrap is missing.

Two ways to run programs, for two kinds of code:

* a program fedjava did not write (a student's, a model's fix; :func:`run_program`, and :func:`check_many` by
  default) runs **alone**, in a JVM of its own in a sealed sandbox that sees only its own folder, and its
  results come only from the harness, over a socket the program cannot reach (:mod:`fedjava.java.harness`);
* the data build's own mutants of its tasks' solutions (``check_many(trusted=True)``) run **in batches**, many
  programs one after the other in one JVM (``Batch.java``), their results read from its stdout: 2.6 to 4.3
  times faster for 40 programs (``python -m fedjava.bench.sandbox_overhead``, (e)), and only safe for code
  fedjava generated itself.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from fedjava.errors import UserError
from fedjava.java import harness, junit
from fedjava.java.sandbox import Limits, Sandbox
from fedjava.java.sources import javac_source
from fedjava.java.tasks import Task, render_driver

JVM_FLAGS = ["-Xmx96m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]
"""The JVM a program's tests run in (the harness gives the cases' thread its own STACK_BYTES stack)."""
# javac's heap, fixed because the sandbox caps the address space (the default, a quarter of the RAM, does not fit);
# its JVM compiles only with C1 and collects with the serial GC: a one-file javac took 1.0 s instead of 1.5 s on a
# loaded machine, the review's tools 0.95x (idle) to 0.84x (loaded) (python -m fedjava.bench.sandbox_overhead, d).
JAVAC_PLAIN_FLAGS = ["-J-Xmx256m", "-g"]
JAVAC_FLAGS = ["-J-Xmx256m", "-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC", "-g"]
BATCH_COMPILE_FLAGS = [
    "-Xss4m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "--add-modules",
    "jdk.compiler",
]
TIMEOUT_SECONDS = 1.0
"""CPU seconds one test case may use in a batch before the program counts as never ending.

CPU time, not wall time, so that a busy machine does not turn slow programs into timeouts; a loop that
allocates runs out of the small heap (OutOfMemoryError) long before. The wall-clock limit of a case, for a
program that sleeps or blocks, is WALL_FACTOR times longer. Both count from the case's start: nothing the
program does (printing included) resets them."""
WALL_FACTOR = 20
PROGRAM_WALL_SECONDS = 60.0
"""Wall-clock seconds for all of one program's cases together (check_many); run_program takes its own."""
STACK_BYTES = 1 << 20
_DIAG_RE = re.compile(
    r"^(?P<file>[\w$]+\.java):(?P<line>\d+):(?P<col>\d+): (?P<kind>\w+)\.(?P<key>[\w.\-]+)(?::\s?(?P<args>.*))?$"
)


class JdkMissingError(UserError, RuntimeError):
    """javac or java is not on PATH."""


@dataclass(frozen=True)
class Diagnostic:
    file: str
    line: int
    column: int
    key: str
    args: str
    message: str = ""


@dataclass(frozen=True)
class CaseResult:
    index: int
    status: str  # PASS | FAIL | ERROR | TIMEOUT
    call: str
    expected: str = ""
    actual: str = ""
    exception: str = ""
    line: int = -1
    message: str = ""


@dataclass
class RunOutcome:
    compiled: bool
    diagnostics: list[Diagnostic] = field(default_factory=list)
    cases: list[CaseResult] = field(default_factory=list)
    timed_out: bool = False
    stdout: str = ""
    stderr: str = ""
    stopped: str = ""
    """Why the sandbox ended the run: "timeout" (wall clock), "output_limit" (it printed more than
    sandbox.OUTPUT_BYTES), "killed" (a signal: over the CPU-time, memory or file-size limit); "" if it did not."""
    exited: bool = False
    """The program's own JVM ended before the test driver's last line (System.exit, Runtime.halt)."""

    @property
    def passed(self) -> int:
        return sum(c.status == "PASS" for c in self.cases)

    @property
    def all_passed(self) -> bool:
        return (
            self.compiled
            and not self.timed_out
            and not self.stopped
            and not self.exited
            and bool(self.cases)
            and self.passed == len(self.cases)
        )

    @property
    def status(self) -> str:
        """One word for how the run went: output_limit, killed, timeout, compile_error, exited, passed, failed."""
        if self.stopped or self.timed_out:
            return self.stopped or "timeout"
        if not self.compiled:
            return "compile_error"
        if self.exited:
            return "exited"
        return "passed" if self.all_passed else "failed"


def require_jdk() -> None:
    """Raise JdkMissingError with advice when javac or java cannot be found."""
    missing = [tool for tool in ("javac", "java") if shutil.which(tool) is None]
    if missing:
        raise JdkMissingError(
            f"{' and '.join(missing)} not found on PATH: install a JDK (17 or newer), "
            "for example 'apt-get install openjdk-17-jdk-headless'."
        )


def _unescape(text: str) -> str:
    out, i = [], 0
    table = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append(table.get(text[i + 1], text[i + 1]))
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse_diagnostics(text: str) -> list[Diagnostic]:
    """Errors from ``javac -XDrawDiagnostics`` output (warnings and notes are skipped)."""
    found = []
    for line in text.splitlines():
        m = _DIAG_RE.match(line.strip())
        if m and m["kind"] == "compiler" and m["key"].startswith("err."):
            found.append(Diagnostic(m["file"], int(m["line"]), int(m["col"]), "compiler." + m["key"], m["args"] or ""))
    return found


def parse_cases(text: str, batch: bool = True) -> list[CaseResult]:
    """The ``@@CASE`` lines of the harness (``resources/Cases.java``): a batch's stdout (``batch``), where a case
    stopped over its budget shows as a ThreadDeath error, or the report of a program run alone."""
    cases = []
    for line in text.splitlines():
        if not line.startswith("@@CASE\t"):
            continue
        parts = line.split("\t")
        index, status, call = int(parts[1]), parts[2], _unescape(parts[3])
        if status == "FAIL":
            cases.append(CaseResult(index, status, call, _unescape(parts[4]), _unescape(parts[5])))
        elif status == "ERROR" and batch and parts[4] == "java.lang.ThreadDeath":  # stopped by Batch.java
            cases.append(CaseResult(index, "TIMEOUT", call))
        elif status == "ERROR":
            cases.append(
                CaseResult(index, status, call, exception=parts[4], line=int(parts[5]), message=_unescape(parts[6]))
            )
        elif status == "TIMEOUT":
            cases.append(CaseResult(index, status, call, message=_budget(parts[4], int(parts[5]))))
        elif status == "VALUE":  # a recorded reference solution: its value as a Java expression ("" when none)
            cases.append(CaseResult(index, status, call, actual=_unescape(parts[4])))
        else:
            cases.append(CaseResult(index, status, call))
    return cases


def _budget(reason: str, millis: int) -> str:
    """A TIMEOUT case's ``message``: the budget it ran out of ("" for the usual TIMEOUT_SECONDS of CPU time)."""
    seconds = millis / 1000
    if reason == "cpu":
        return "" if seconds == TIMEOUT_SECONDS else f"{seconds:g} s of CPU time"
    return f"{seconds:g} s of wall-clock time" + (" for all its tests" if reason == "program" else "")


def case_outcome(case: CaseResult, shorten: Callable[[str], str] = str) -> str:
    """What a case that did not pass gave, for a report: "returned 15", "threw java.lang.X: message", "did not finish
    within 1 s of CPU time" (values and messages through ``shorten``)."""
    if case.status == "FAIL":
        return f"returned {shorten(case.actual)}"
    if case.status == "ERROR":
        return f"threw {case.exception}" + (f": {shorten(case.message)}" if case.message else "")
    return f"did not finish within {timeout_budget(case)}"


def timeout_budget(case: CaseResult) -> str:
    """What a TIMEOUT case did not finish within: "1 s of CPU time", or "20 s of wall-clock time" for a case
    that slept, blocked or left the work to other threads (and so used little CPU time)."""
    return case.message or f"{TIMEOUT_SECONDS:g} s of CPU time"


def limits(cpu_seconds: float, wall_seconds: float | None = None) -> Limits:
    """Sandbox backstops for a command expected to need at most ``cpu_seconds`` of CPU; the wall clock is by
    default twice that plus a minute, for a machine busy with other work."""
    wall = 2 * cpu_seconds + 60 if wall_seconds is None else wall_seconds
    return Limits(cpu_seconds=int(cpu_seconds + 1), wall_seconds=wall)


def run_program(task: Task, code: str, timeout: float = 10.0, *, unsafe: bool = False) -> RunOutcome:
    """Compile ``code`` as ``Solution.java`` with the task's driver (javac on the command line), then run its
    tests alone (:func:`run_alone`): TIMEOUT_SECONDS of CPU time per case, and ``timeout`` wall-clock seconds
    for all of them. Both in the sandbox (``unsafe``: without namespaces).
    """
    require_jdk()
    with tempfile.TemporaryDirectory(prefix="fedjava-") as tmp:
        work = Path(tmp)
        files = write_program(work, task, code)
        (work / "out").mkdir()
        jars = class_path(work, task)
        compiled = Sandbox(work, writable=True, unsafe=unsafe).run(
            [
                "javac",
                *JAVAC_FLAGS,
                "-XDrawDiagnostics",
                "-encoding",
                "UTF-8",
                "-d",
                "out",
                *(["-cp", ":".join(jars)] if jars else []),
                *files,
            ],
            limits(60),
        )
        if compiled.returncode != 0:
            return RunOutcome(
                False, parse_diagnostics(compiled.stderr), stderr=compiled.stderr, stopped=compiled.stopped
            )
        return run_alone(work, task, program_wall=timeout, unsafe=unsafe)


def write_program(folder: Path, task: Task, code: str) -> list[str]:
    """Write the sources of ``code`` against ``task`` into ``folder``: Solution.java (the student's code as javac
    takes it, :func:`fedjava.java.sources.javac_source`: the same lines), TestDriver.java and the task's JUnit
    test classes. Returns their file names."""
    files = {
        "Solution.java": javac_source(code),
        "TestDriver.java": render_driver(task),
        **junit.source_files(task.junit),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return list(files)


def class_path(folder: Path, task: Task) -> list[str]:
    """What ``task``'s programs need on their class path beside their own classes, placed in ``folder`` (relative
    paths): the JUnit API's jars for a task with JUnit tests, else nothing."""
    return junit.place_jars(folder) if task.junit else []


def run_alone(
    folder: Path,
    task: Task,
    timeout: float = TIMEOUT_SECONDS,
    program_wall: float = PROGRAM_WALL_SECONDS,
    *,
    unsafe: bool = False,
    record: bool = False,
) -> RunOutcome:
    """Run the program compiled into ``folder/out`` against ``task`` alone: a JVM of its own, in a sealed
    sandbox that sees only ``folder``, its results reported by the harness over a socket
    (:mod:`fedjava.java.harness`).

    A case over ``timeout`` CPU seconds, or WALL_FACTOR times that of wall-clock time, is a ``TIMEOUT`` case
    and ends the run; so does running past ``program_wall`` seconds in all (``stopped`` "timeout"). A program
    with a class that would take a JDK name's place in a test's expected value is not run (no case).
    ``record``: only for the teacher's reference solution, each case's value comes back as a Java expression
    (a ``VALUE`` case).
    """
    module = harness.module_path(JAVAC_FLAGS, unsafe)
    budgets = (timeout, min(timeout * WALL_FACTOR, program_wall), program_wall)
    suspects = harness.suspects([case.expect for case in task.tests], task.model or task.solution, folder / "out")
    report, ran = harness.run_isolated(
        folder,
        module,
        JVM_FLAGS,
        budgets,
        STACK_BYTES,
        suspects,
        unsafe=unsafe,
        classpath=tuple(class_path(folder, task)),
        record=record,
    )
    lines = report.split("\n")[:-1]  # a last line without its newline was cut off
    if not lines or lines[0] != "@@READY":
        if not ran.stopped:
            raise RuntimeError(f"the test harness did not start: {ran.stderr[-1000:]}")
        return RunOutcome(
            True, timed_out=ran.stopped == "timeout", stdout=ran.stdout, stderr=ran.stderr, stopped=ran.stopped
        )
    end = lines[-1].split("\t")[1] if lines[-1].startswith("@@END\t") else ""
    if end == "HIDES":
        name, hidden = lines[-1].split("\t")[2:4]
        return RunOutcome(
            True,
            stdout=ran.stdout,
            stopped=ran.stopped,
            stderr=(f"not run: the program's class {name} hides {hidden} from the tests' expected values"),
        )
    stopped = ran.stopped
    if end == "TIMEOUT" and lines[-2].split("\t")[4] == "program":
        stopped = stopped or "timeout"
    return RunOutcome(
        True,
        cases=parse_cases("\n".join(lines), batch=False),
        timed_out=end == "TIMEOUT" or stopped == "timeout",
        stdout=ran.stdout,
        stderr=ran.stderr,
        stopped=stopped,
        exited=not stopped and end not in ("OK", "TIMEOUT"),
    )


_PUBLIC_CLASS_RE = re.compile(
    r"^\s*public\s+(?:(?:final|abstract|strictfp)\s+)*(?:class|interface|enum|record)\s+(\w+)", re.MULTILINE
)


def compile_program(code: str, *, unsafe: bool = False) -> RunOutcome:
    """javac alone on a student's file, named after its public class (``Solution.java`` when it has none).

    Through the dataset's compiler (:func:`compile_many`: the same javac keys and English messages), in the
    sandbox like every javac (``unsafe``: without namespaces). Only compiles: nothing of the student's code
    runs (annotation processing is off).
    """
    ok, diagnostics = _compile_alone({"program": code}, unsafe=unsafe)["program"]
    return RunOutcome(ok, diagnostics)


def compile_sources(codes: dict[str, str], *, unsafe: bool = False) -> dict[str, bool]:
    """Whether each of many students' files compiles on its own (javac alone, as :func:`compile_program`), in one
    JVM per file name, in the sandbox: ``{key: compiled}``."""
    return {key: ok for key, (ok, _) in _compile_alone(codes, unsafe=unsafe).items()}


def _compile_alone(codes: dict[str, str], *, unsafe: bool = False) -> dict[str, tuple[bool, list[Diagnostic]]]:
    """javac alone on each file, named after its public class (``Solution.java`` when it has none), through
    Compile.java: one JVM per file name."""
    require_jdk()
    by_name: dict[str, list[str]] = {}
    for key, code in codes.items():
        match = _PUBLIC_CLASS_RE.search(code)
        by_name.setdefault(f"{match.group(1)}.java" if match else "Solution.java", []).append(key)
    results: dict[str, tuple[bool, list[Diagnostic]]] = {}
    with tempfile.TemporaryDirectory(prefix="fedjava-") as tmp:
        for n, (name, keys) in enumerate(by_name.items()):
            folders = {}
            for i, key in enumerate(keys):
                folder = Path(tmp) / f"{n}-{i}"
                folder.mkdir()
                (folder / name).write_text(javac_source(codes[key], name[:-5]), encoding="utf-8")
                folders[folder] = key
            box = Sandbox(Path(tmp), writable=True, unsafe=unsafe)
            results.update(_batch_compile(box, folders, Path(tmp) / "shared", [name]))
    return results


@dataclass(frozen=True)
class Program:
    """One student program to check against one task."""

    key: str
    task: Task
    code: str


def compile_many(
    programs: list[Program], work: Path, *, unsafe: bool = False
) -> dict[str, tuple[bool, list[Diagnostic]]]:
    """Compile every program in ONE JVM through ``javax.tools`` (Compile.java), in the sandbox: javac runs
    nothing of the programs (annotation processing is off), so one JVM for many is safe.

    Each program gets ``work/<index>/`` with Solution.java, TestDriver.java and ``out/``; the class path is
    the empty ``work/shared``. Returns ``{key: (compiled, errors)}``.
    """
    require_jdk()
    folders, files = {}, {}
    for index, program in enumerate(programs):
        folder = work / str(index)
        files[folder] = write_program(folder, program.task, program.code)
        folders[folder] = program.key
    jars = next((class_path(work, p.task) for p in programs if p.task.junit), [])
    return _batch_compile(
        Sandbox(work, writable=True, unsafe=unsafe), folders, work / "shared", files, [work / jar for jar in jars]
    )


def compile_folders(
    box: Sandbox,
    folders: dict[Path, str],
    classpath: Path,
    files: list[str],
) -> dict[str, tuple[bool, list[Diagnostic]]]:
    """Compile ``files`` of each folder (``{folder: key}``, inside ``box``'s writable work folder) into
    ``folder/out`` in ONE javac JVM, with ``classpath`` on the class path: ``{key: (compiled, errors)}``."""
    return _batch_compile(box, folders, classpath, files)


def _batch_compile(
    box: Sandbox,
    folders: dict[Path, str],
    shared: Path,
    files: list[str] | dict[Path, list[str]] | None = None,
    jars: list[Path] = (),
) -> dict[str, tuple[bool, list[Diagnostic]]]:
    """Run Compile.java in ``box`` (writable) on ``{folder: key}`` (each folder's Solution.java and
    TestDriver.java, or ``files``: the same for every folder, or each folder's own), with ``shared`` (made empty
    here) and ``jars`` as the class path."""
    shared.mkdir(parents=True, exist_ok=True)
    module = harness.place(harness.module_path(JAVAC_FLAGS, box.unsafe), box.work)

    def suffix(folder: Path) -> str:
        names = files.get(folder, []) if isinstance(files, dict) else files or []
        return "".join(f"\t{name}" for name in names)

    inside = {box.path(folder): key for folder, key in folders.items()}  # Compile names them so
    classpath = ":".join([box.path(shared), *(box.path(jar) for jar in jars)])
    done = box.run(
        [
            "java",
            *BATCH_COMPILE_FLAGS,
            "--module-path",
            box.path(module),
            "-m",
            f"{harness.MODULE}/{harness.MODULE}.Compile",
            classpath,
        ],
        limits(60 + len(folders)),
        stdin="".join(f"{box.path(folder)}{suffix(folder)}\n" for folder in folders),
    )
    results: dict[str, tuple[bool, list[Diagnostic]]] = {}
    current = None
    for line in done.stdout.splitlines():
        parts = line.split("\t")
        if parts[0] == "@@DIR":
            current = inside[parts[1]]
            results[current] = (parts[2] == "OK", [])
        elif parts[0] == "@@DIAG" and current is not None:
            key = parts[4]
            results[current][1].append(Diagnostic(parts[1], int(parts[2]), int(parts[3]), key, "", _unescape(parts[5])))
    missing = [k for k in inside.values() if k not in results]
    if missing:
        raise RuntimeError(f"batch compilation stopped early ({len(missing)} programs left): {done.stderr[-1000:]}")
    return results


def run_many(
    programs: list[tuple[str, Path]],
    shared: Path,
    timeout: float = TIMEOUT_SECONDS,
    restarts: int = 50,
    *,
    unsafe: bool = False,
) -> dict[str, RunOutcome]:
    """Run compiled programs (``(key, classes_dir)``) that FEDJAVA GENERATED ITSELF in one JVM through
    ``Batch.java``, in the sandbox (their common folder mounted read-only; the harness is put in ``shared``).

    Programs in one JVM can reach each other (threads, files, what the JVM holds): never give this code
    fedjava did not write (:func:`run_alone` runs such a program). Every program gets a fresh class loader
    and thread; a test case over its budget (as in :func:`run_alone`) is reported as a ``TIMEOUT`` case and
    ends the program's run (later cases count as not passed). When the JVM has to be restarted (a thread
    that cannot be stopped, a program that ends the JVM, or one the sandbox stopped), the batch goes on in
    a new JVM with the programs that were not run; a program that ended the JVM itself is left out of the
    result, for the caller to run on its own with :func:`run_program`.
    """
    require_jdk()
    shared.mkdir(parents=True, exist_ok=True)
    module = harness.place(harness.module_path(JAVAC_FLAGS, unsafe), shared)
    results: dict[str, RunOutcome] = {}
    pending = list(programs)
    root = Path(os.path.commonpath([shared, *(folder for _, folder in programs)]))
    box = Sandbox(root, unsafe=unsafe, reads=(shared, *(folder for _, folder in programs)))
    budgets = (timeout, timeout * WALL_FACTOR, PROGRAM_WALL_SECONDS)
    while pending and restarts >= 0:
        restarts -= 1
        done = box.run(
            [
                "java",
                *JVM_FLAGS,
                "--module-path",
                box.path(module),
                "-m",
                f"{harness.MODULE}/{harness.MODULE}.Batch",
                *(str(int(seconds * 1000)) for seconds in budgets),
                str(STACK_BYTES),
            ],
            limits(60 + 10 * timeout * len(pending)),
            stdin="".join(f"{key}\t{box.path(folder)}\n" for key, folder in pending),
        )
        current, lines, finished, started = None, [], set(), None
        for line in done.stdout.splitlines():
            if line.startswith("@@START\t"):
                started = line.split("\t")[1]
            elif line.startswith("@@PROG\t"):
                current, lines = line.split("\t")[1], []
            elif line.startswith("@@END\t") and current is not None:
                results[current] = _batch_outcome("\n".join(lines), line.split("\t")[2:])
                finished.add(current)
                current = None
            elif current is not None:
                lines.append(line)
        ran_into = [key for key, _ in pending if key not in finished]
        if not ran_into:
            break
        if done.returncode == 3 and "@@HALT" in done.stdout:
            pending = [(k, f) for k, f in pending if k not in finished]
            continue
        if started is None:
            raise RuntimeError(f"the batch JVM failed to start: {done.stderr[-1000:]}")
        # The program being run ended the JVM: skip it, go on with the rest.
        crashed = started if started not in finished else ran_into[0]
        pending = [(k, f) for k, f in pending if k not in finished and k != crashed]
    return results


def _batch_outcome(stdout: str, end: list[str]) -> RunOutcome:
    """One program's part of a batch's stdout, and its ``@@END`` fields (``OK``, ``HALTED`` or ``TIMEOUT``,
    reason, milliseconds)."""
    timed_out = end[0] in ("TIMEOUT", "HALTED")
    if timed_out:
        # The stopped case is reported as TIMEOUT; cases the driver began while being stopped are not real.
        lines = stdout.split("\n")
        cut = next(
            (i for i, line in enumerate(lines) if line.startswith("@@CASE\t") and "\tjava.lang.ThreadDeath\t" in line),
            len(lines) - 1,
        )
        stdout = "\n".join(lines[: cut + 1])
    cases = parse_cases(stdout)
    if end[0] == "TIMEOUT" and cases and cases[-1].status == "TIMEOUT":
        cases[-1] = CaseResult(cases[-1].index, "TIMEOUT", cases[-1].call, message=_budget(end[1], int(end[2])))
    uncaught = "@@UNCAUGHT" in stdout
    return RunOutcome(True, cases=cases, timed_out=timed_out, stdout=stdout, stderr="uncaught" if uncaught else "")


def check_many(
    programs: list[Program],
    work: Path,
    jobs: int = 2,
    timeout: float = TIMEOUT_SECONDS,
    chunk: int = 400,
    progress: Callable[[str, int, int], None] | None = None,
    *,
    unsafe: bool = False,
    trusted: bool = False,
) -> dict[str, RunOutcome]:
    """Compile and run many programs with ``jobs`` JVMs at a time; the labels of :func:`run_program`.

    Programs are compiled in chunks (one JVM per chunk, :func:`compile_many`). Those that compile run each
    alone (:func:`run_alone`); ``trusted``, only for programs fedjava generated itself (the data build's), in
    chunks of many per JVM (:func:`run_many`), and a program the batch could not run on its own.
    ``progress(stage, count, total)`` is called after each chunk or program. Everything runs in the sandbox
    (``unsafe``: without namespaces).
    """
    require_jdk()
    work.mkdir(parents=True, exist_ok=True)
    by_key = {p.key: p for p in programs}
    chunks = [programs[i : i + chunk] for i in range(0, len(programs), chunk)]
    compiled: dict[str, tuple[bool, list[Diagnostic]]] = {}
    folders: dict[str, Path] = {}

    def compile_chunk(index: int) -> dict[str, tuple[bool, list[Diagnostic]]]:
        folder = work / f"c{index}"
        result = compile_many(chunks[index], folder, unsafe=unsafe)
        for i, program in enumerate(chunks[index]):
            folders[program.key] = folder / str(i)
        if progress:
            progress("compiled", len(chunks[index]), len(programs))
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for result in pool.map(compile_chunk, range(len(chunks))):
            compiled.update(result)
    outcomes: dict[str, RunOutcome] = {}
    runnable = []
    for program in programs:
        ok, diagnostics = compiled[program.key]
        if ok:
            runnable.append(program.key)
        else:
            outcomes[program.key] = RunOutcome(False, diagnostics)
    if not trusted:

        def run_one(key: str) -> RunOutcome:
            outcome = run_alone(folders[key], by_key[key].task, timeout, unsafe=unsafe)
            if progress:
                progress("ran", 1, len(runnable))
            return outcome

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            outcomes.update(zip(runnable, pool.map(run_one, runnable), strict=True))
        return outcomes
    batched = [key for key in runnable if not by_key[key].task.junit]  # a batch JVM has no JUnit jars: those alone
    run_chunks = [
        [(key, folders[key] / "out") for key in batched[i : i + chunk]] for i in range(0, len(batched), chunk)
    ]

    def run_chunk(items: list[tuple[str, Path]]) -> dict[str, RunOutcome]:
        result = run_many(items, items[0][1].parent.parent / "shared", timeout, unsafe=unsafe)
        if progress:
            progress("ran", len(items), len(runnable))
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for result in pool.map(run_chunk, run_chunks):
            outcomes.update(result)
    for key in runnable:
        if key not in outcomes or outcomes[key].stderr == "uncaught":
            program = by_key[key]
            outcomes[key] = run_program(program.task, program.code, timeout=5 * timeout, unsafe=unsafe)
    return outcomes
