"""The Java test harness (the ``fedjava.harness`` module in ``java/``): compiled once per process, and the
runs of one program fedjava did not write, in a JVM of its own, that report through a socket.

Why a socket: a program shares its JVM's stdout with anything that prints there, so a line on stdout proves
nothing (a static initializer can wrap ``System.out`` and rewrite a ``FAIL`` into a ``PASS``, or print a
whole forged report and halt the JVM). The harness connects to a Unix-domain socket before it loads any
class of the program; fedjava accepts that one connection, closes the listener and removes its path, so
nothing can connect again, and a socket cannot be reopened through ``/proc/self/fd``. The program cannot
reach the harness's objects either: its package is not opened (reflection fails with
InaccessibleObjectException), the JVM has only ``java.base`` and the harness (``--limit-modules``: no
``sun.misc.Unsafe``, attach API, management or compiler), and the sandbox is sealed
(:class:`~fedjava.java.sandbox.Sandbox`: no writable place to load a native library from, and a
non-dumpable JVM, so ``/proc/self/mem`` cannot be opened). What the program prints is only its output.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import os
import re
import select
import shutil
import socket
import tempfile
import threading
from pathlib import Path

from fedjava.java.sandbox import JAVA_RESOURCES, OUTPUT_BYTES, Limits, Sandbox
from fedjava.java.supervise import Finished

MODULE = "fedjava.harness"
STUDENT_MODULES = ("java.base", "jdk.localedata", "jdk.charsets")
"""The JDK modules a program fedjava did not write can use: its JVM has only these and the harness. The shipped
tasks and the handwritten programs use java.util, java.lang and java.io, all in java.base; the locale data and
charsets (no API of their own) keep ``String.format`` as in a full JDK, where the default locale is not
English ("3,14" in German)."""
JUNIT_MODULES = ("java.logging",)
"""What the JUnit API's jars use beside java.base (its commons log through java.util.logging)."""
SEALED_FLAGS = ["-XX:-UsePerfData", "-XX:+DisableAttachMechanism"]
"""/tmp is read-only in a sealed sandbox (no hsperfdata file), and no tool may attach to the JVM."""
REPORT = "report.sock"
_NAME_RE = re.compile(r"[A-Za-z_$][\w$]*")
_DECLARED_RE = re.compile(r"\b(?:class|interface|enum|record)\s+([\w$]+)")
_LOCK = threading.Lock()


_COMPILED: dict[bool, Path] = {}


def module_path(javac_flags: list[str], unsafe: bool = False) -> Path:
    """The compiled harness module (a folder), compiled by javac (with ``javac_flags``) in the sandbox on first
    use in this process."""
    with _LOCK:
        if unsafe not in _COMPILED:
            _COMPILED[unsafe] = _compile(javac_flags, unsafe)
        return _COMPILED[unsafe]


def _compile(javac_flags: list[str], unsafe: bool) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="fedjava-harness-"))
    atexit.register(shutil.rmtree, folder, True)
    box = Sandbox(folder, writable=True, unsafe=unsafe)
    sources = sorted(JAVA_RESOURCES.glob("*.java"))
    done = box.run(
        [
            "javac",
            *javac_flags,
            "-encoding",
            "UTF-8",
            "-d",
            box.path(folder / "classes"),
            *(box.harness(s.name) for s in sources),
        ],
        Limits(cpu_seconds=61, wall_seconds=180),
    )
    if done.returncode != 0:
        raise RuntimeError(f"the test harness did not compile: {done.stderr[-1000:]}")
    return folder / "classes"


def place(module: Path, folder: Path) -> Path:
    """A copy of the compiled harness in ``folder`` (what a sandbox mounts), as ``folder/harness``."""
    target = folder / "harness"
    shutil.copytree(module, target, dirs_exist_ok=True)
    return target


def run_isolated(
    folder: Path,
    module: Path,
    java_flags: list[str],
    budgets: tuple[float, float, float],
    stack_bytes: int,
    suspects: tuple[str, ...] = (),
    *,
    unsafe: bool = False,
    classpath: tuple[str, ...] = (),
    record: bool = False,
) -> tuple[str, Finished]:
    """Run the program compiled into ``folder/out`` (TestDriver and Solution) alone in a JVM, in a sealed
    sandbox that sees only ``folder``: (what the harness reported, the command's result).

    ``budgets``: CPU seconds per case, wall seconds per case, wall seconds for the whole program (kept by the
    harness; the sandbox's wall clock is a backstop 30 s later). ``suspects``: the program's classes a test's
    expected value names (:func:`suspects`); the harness refuses to run one that hides a JDK name.
    ``classpath``: more entries after ``out``, relative to ``folder`` (the JUnit API's jars). ``record``: the
    teacher's reference solution, whose values are reported as Java expressions (``Cases.record``).
    """
    cpu, case_wall, program_wall = budgets
    place(module, folder)
    report = _Report(folder / REPORT)
    try:
        box = Sandbox(folder, unsafe=unsafe, reads=(folder,), sealed=True)
        modules = (*STUDENT_MODULES, *(JUNIT_MODULES if classpath else ()), MODULE)
        argv = [
            "java",
            *java_flags,
            *SEALED_FLAGS,
            "--limit-modules",
            ",".join(modules),
            "--module-path",
            "harness",
            "-cp",
            ":".join(("out", *classpath)),
            "-m",
            f"{MODULE}/{MODULE}.Isolated",
            *(["--record"] if record else []),
            REPORT,
            *(str(int(seconds * 1000)) for seconds in budgets),
            str(stack_bytes),
        ]
        if suspects:
            argv.append(",".join(suspects))
        ran = box.run(argv, Limits(cpu_seconds=int(program_wall + cpu + 30), wall_seconds=program_wall + 30))
    finally:
        text = report.close()
    if report.overflow and not ran.stopped:
        ran = dataclasses.replace(ran, stopped="output_limit")
    return text, ran


def suspects(expected: list[str], declared: str, classes: Path) -> tuple[str, ...]:
    """The program's own top-level classes (compiled into ``classes``) that the tests' ``expected`` values name,
    except those the task's solution (``declared``) declares too: in the driver such a class takes the place
    of what the test meant, the JDK's (the harness checks which JDK name each hides)."""
    mine = {p.stem for p in classes.glob("*.class") if "$" not in p.stem} - {"TestDriver"}
    named = {name for text in expected for name in _NAME_RE.findall(text)}
    return tuple(sorted((mine & named) - set(_DECLARED_RE.findall(declared))))


class _Report:
    """The listening socket at ``path`` and, on a thread of its own, the one connection it accepts, read to its
    end (at most :data:`~fedjava.java.sandbox.OUTPUT_BYTES`)."""

    def __init__(self, path: Path):
        self.path = path
        self.data = bytearray()
        self.overflow = False
        self._stop = threading.Event()
        self._listener = _listen(path)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            connection, _ = self._listener.accept()  # the first in the queue: the harness's own
        except OSError:  # close() shut the listener down: the harness never connected
            return
        finally:
            self._listener.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        with connection:
            try:
                connection.sendall(b"\n")  # the go-ahead: nothing else can connect now
            except OSError:  # the JVM has already ended
                return
            while len(self.data) <= OUTPUT_BYTES:
                # Once the command has ended its JVM is gone and the rest is already here: wait no longer.
                if not select.select([connection], [], [], 0.2 if self._stop.is_set() else 1.0)[0]:
                    if self._stop.is_set():
                        return
                    continue
                try:
                    chunk = connection.recv(1 << 16)
                except OSError:
                    return
                if not chunk:
                    return
                self.data += chunk
            self.overflow = True

    def close(self) -> str:
        """Everything reported, once the command has ended."""
        self._stop.set()
        with contextlib.suppress(OSError):  # wakes an accept() still waiting (Linux); closed already otherwise
            self._listener.shutdown(socket.SHUT_RDWR)
        self._thread.join()
        return self.data.decode("utf-8", "replace")


def _listen(path: Path) -> socket.socket:
    """A Unix-domain socket listening at ``path``, which the sandbox's user may connect to.

    A socket's path is limited to about 100 bytes: a longer one is bound through the folder's
    ``/proc/self/fd`` entry."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        listener.bind(str(path) if len(str(path)) < 100 else f"/proc/self/fd/{folder}/{path.name}")
    finally:
        os.close(folder)
    os.chmod(path, 0o660)  # connecting needs write permission; the sandbox gives the file its group
    listener.listen(1)
    return listener
