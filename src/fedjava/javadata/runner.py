"""Compile and run a student's ``Solution`` against a task's test driver with the real JDK.

This module is the only place that starts ``javac`` or ``java``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from fedjava.javadata.tasks import Task, check_source, render_driver

JVM_FLAGS = ["-Xss1m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]
_DIAG_RE = re.compile(r"^(?P<file>[\w$]+\.java):(?P<line>\d+):(?P<col>\d+): (?P<kind>\w+)\.(?P<key>[\w.\-]+)(?::\s?(?P<args>.*))?$")


class JdkMissingError(RuntimeError):
    """javac or java is not on PATH."""


@dataclass(frozen=True)
class Diagnostic:
    file: str
    line: int
    column: int
    key: str
    args: str


@dataclass(frozen=True)
class CaseResult:
    index: int
    status: str  # PASS | FAIL | ERROR
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

    @property
    def passed(self) -> int:
        return sum(c.status == "PASS" for c in self.cases)

    @property
    def all_passed(self) -> bool:
        return self.compiled and not self.timed_out and bool(self.cases) and self.passed == len(self.cases)


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


def parse_cases(stdout: str) -> list[CaseResult]:
    """The ``@@CASE`` lines printed by ``Check``."""
    cases = []
    for line in stdout.splitlines():
        if not line.startswith("@@CASE\t"):
            continue
        parts = line.split("\t")
        index, status, call = int(parts[1]), parts[2], _unescape(parts[3])
        if status == "FAIL":
            cases.append(CaseResult(index, status, call, _unescape(parts[4]), _unescape(parts[5])))
        elif status == "ERROR":
            cases.append(
                CaseResult(index, status, call, exception=parts[4], line=int(parts[5]), message=_unescape(parts[6]))
            )
        else:
            cases.append(CaseResult(index, status, call))
    return cases


def run_program(task: Task, code: str, timeout: float = 10.0) -> RunOutcome:
    """Compile ``code`` as ``Solution.java`` with the task's driver, then run the driver."""
    require_jdk()
    with tempfile.TemporaryDirectory(prefix="fedjava-") as tmp:
        work = Path(tmp)
        (work / "Solution.java").write_text(code, encoding="utf-8")
        (work / "TestDriver.java").write_text(render_driver(task), encoding="utf-8")
        (work / "Check.java").write_text(check_source(), encoding="utf-8")
        (work / "out").mkdir()
        compiled = subprocess.run(
            ["javac", "-g", "-XDrawDiagnostics", "-encoding", "UTF-8", "-d", "out",
             "Solution.java", "TestDriver.java", "Check.java"],
            cwd=work, capture_output=True, text=True,
        )
        if compiled.returncode != 0:
            return RunOutcome(False, parse_diagnostics(compiled.stderr), stderr=compiled.stderr)
        try:
            ran = subprocess.run(
                ["java", *JVM_FLAGS, "-cp", "out", "TestDriver"],
                cwd=work, capture_output=True, text=True, timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            return RunOutcome(True, cases=parse_cases(out), timed_out=True, stdout=out)
        return RunOutcome(True, cases=parse_cases(ran.stdout), stdout=ran.stdout, stderr=ran.stderr)
