"""Run a command with a wall clock and a cap on its output, and leave nothing of it running.

:mod:`fedjava.java.sandbox` decides what a command may see and use; this module watches it run: it
feeds its stdin and reads its stdout and stderr together (so neither pipe can fill and block it), kills it
when the wall clock runs out or it prints more than the cap (a program printing gigabytes is cut off after a
few MB, not read to the end), and says which (``Finished.stopped``).
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

_SIGNALS = (signal.SIGKILL, signal.SIGXCPU, signal.SIGXFSZ)
# Exit statuses of a command that died of one of _SIGNALS (an rlimit's or ours): bwrap reports 128 + the
# signal, Popen minus the signal. A program that calls System.exit(137) looks the same; it is hostile anyway.
_KILLED = {-s for s in _SIGNALS} | {128 + s for s in _SIGNALS}


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str
    stopped: str = ""
    """"timeout" (wall clock), "output_limit", "killed" (ended by a signal: the CPU-time, memory or file-size
    limit, or the program killed itself), or "" when the command ended on its own."""


def supervise(
    command: list[str],
    *,
    stdin: str,
    wall_seconds: float,
    output_bytes: int,
    cwd: Path | None = None,
    info: tuple[int, int] | None = None,
) -> Finished:
    """Run ``command`` under the wall clock and the output cap.

    ``info`` is a pipe (read end, write end) on whose write end bwrap (``--info-fd``) writes the host pid of
    the sandbox's first process: killing that one takes every process of the sandbox with it before bwrap
    ends. The write end is closed here once the command has started (or failed to); the caller closes the
    read end.
    """
    try:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            cwd=cwd,
            pass_fds=info[1:] if info else (),
        )
    finally:
        if info:
            os.close(info[1])  # bwrap has its own copy: the pipe ends when bwrap closes it or ends
    with proc:
        first = _first_pid(info[0], wall_seconds) if info else None
        try:
            out, err, stopped = _communicate(proc, stdin.encode("utf-8"), wall_seconds, output_bytes)
        finally:
            _kill(proc, first)
    if not stopped and proc.returncode in _KILLED:
        stopped = "killed"
    return Finished(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), stopped)


def _communicate(
    proc: subprocess.Popen, stdin: bytes, wall_seconds: float, output_bytes: int
) -> tuple[bytes, bytes, str]:
    """Feed ``stdin`` and read stdout and stderr until both end, the wall clock runs out ("timeout") or more
    than ``output_bytes`` arrive ("output_limit")."""
    deadline = time.monotonic() + wall_seconds
    out, err = bytearray(), bytearray()
    buffers = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
    pending = memoryview(stdin)
    with selectors.DefaultSelector() as selector:
        for fd in buffers:
            selector.register(fd, selectors.EVENT_READ)
        if pending:
            os.set_blocking(proc.stdin.fileno(), False)
            selector.register(proc.stdin.fileno(), selectors.EVENT_WRITE)
        else:
            proc.stdin.close()
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return out, err, "timeout"
            for key, _ in selector.select(left):
                if key.fd in buffers:
                    chunk = os.read(key.fd, 1 << 16)
                    buffers[key.fd] += chunk
                    if not chunk:
                        selector.unregister(key.fd)
                    elif len(out) + len(err) > output_bytes:
                        return out, err, "output_limit"
                    continue
                pending = _write_some(key.fd, pending)
                if not pending:
                    selector.unregister(key.fd)
                    proc.stdin.close()
    try:
        proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return out, err, "timeout"
    return out, err, ""


def _write_some(fd: int, pending: memoryview) -> memoryview:
    try:
        return pending[os.write(fd, pending[: 1 << 16]) :]
    except BlockingIOError:
        return pending
    except BrokenPipeError:  # the program stopped reading: the rest of its input does not matter
        return pending[len(pending) :]


def _first_pid(fd: int, timeout: float) -> int | None:
    """The host pid of the sandbox's first process, from bwrap's ``--info-fd`` JSON (None if it never came)."""
    data, deadline = b"", time.monotonic() + timeout
    while b"}" not in data and select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    found = re.search(rb'"child-pid":\s*(\d+)', data)
    return int(found.group(1)) if found else None


def _kill(proc: subprocess.Popen, first: int | None) -> None:
    """End a command that is still running: kill the sandbox's first process, which takes the whole PID
    namespace with it before bwrap ends; then bwrap's process group (all there is, in unsafe runs)."""
    if proc.poll() is None and first is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(first, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
