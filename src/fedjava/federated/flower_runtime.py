"""Running Flower's deployment-runtime tools (flower-superlink, flower-supernode, flwr) for ``fedjava server``
and ``fedjava client``: their environment, their output, and ending each with its whole process tree.

Flower's SuperLink and SuperNode start a SuperExec in a new session, which starts the app processes;
killing the parent alone leaves them running, so :func:`stop_tree` ends every descendant.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from fedjava.errors import UserError

DEFAULT_PORT = 9092
INSECURE_WARNING = (
    "--insecure: TLS is off: the adapters, the run's settings and the metrics cross the network "
    "unencrypted, and client authentication is off too: anyone who can reach the server's port "
    "can join the federation, receive the global model and send updates. Use it only on a trusted "
    "network or on one machine."
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class DeploymentError(UserError):
    """A distributed run cannot start or go on; the message says what to do."""


def flower_env(flwr_home: Path) -> dict[str, str]:
    """The environment of Flower's tools: this Python's scripts first on PATH (the SuperLink and SuperNode
    start flower-superexec and flwr-serverapp/flwr-clientapp by name), a private FLWR_HOME, no telemetry."""
    flwr_home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["FLWR_HOME"] = str(flwr_home)
    env.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning,ignore::FutureWarning")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else name


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ManagedProcess:
    """A Flower process in its own session; each output line goes to ``log_path`` and ``on_line``.
    :meth:`stop` ends it with every descendant (the SuperExec and the app processes it starts)."""

    def __init__(
        self, name: str, command: list[str], env: dict[str, str], log_path: Path | None, on_line: Callable[[str], None]
    ):
        self.name = name
        self.tail: list[str] = []
        self.log = open(log_path, "a", encoding="utf-8") if log_path else None  # noqa: SIM115 - closed in stop
        self.proc = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        self.on_line = on_line
        self.reader = threading.Thread(target=self._read, name=f"{name} output", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            text = ANSI.sub("", raw.rstrip("\n"))
            if self.log:
                self.log.write(text + "\n")
                self.log.flush()
            self.tail = (self.tail + [text])[-20:]
            try:
                self.on_line(text)
            except Exception:  # noqa: BLE001 - a display problem must not stop the process's output
                pass

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self) -> int:
        code = self.proc.wait()
        self.reader.join(timeout=5)
        return code

    def stop(self, grace: float = 5.0) -> None:
        stop_tree(self.proc.pid, grace)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        self.reader.join(timeout=2)
        if self.log:
            self.log.close()
            self.log = None


def descendants(pid: int) -> list[int]:
    """Every living descendant of ``pid`` (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def stop_tree(pid: int, grace: float = 5.0) -> None:
    """SIGTERM ``pid``, its process group and every descendant's group; SIGKILL what is left after ``grace``."""
    _end([pid, *descendants(pid)], grace)


def stop_descendants(grace: float = 5.0) -> None:
    """End every process this one started, and theirs (e.g. Ray's, after an interrupted simulation)."""
    _end(descendants(os.getpid()), grace, groups=False)


def _end(victims: list[int], grace: float, groups: bool = True) -> None:
    """SIGTERM, then after ``grace`` SIGKILL, each of ``victims`` (and the process group it leads)."""
    kills = (os.killpg, os.kill) if groups else (os.kill,)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for target in victims:
            for kill in kills:
                try:
                    kill(target, sig)
                except (ProcessLookupError, PermissionError):
                    pass
        deadline = time.time() + (grace if sig == signal.SIGTERM else 2.0)
        while time.time() < deadline and any(_alive(p) for p in victims):
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def die_with_parent() -> None:
    """Linux: the child gets SIGTERM when fedjava dies, even by SIGKILL (no orphaned SuperLink on the port)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass
