"""Flower's SuperLink where only the operator can reach it: in a network namespace of its own.

Open-source Flower 1.42 has no login on the SuperLink's Control API (``load_control_authn_plugin`` in
``flwr/superlink/config_loader.py`` returns a no-op plugin unless the enterprise OIDC plugin is installed), and
one port serves the Control, Runtime and Fleet APIs together. On 127.0.0.1 any local user could submit an app
(whose ServerApp runs as the operator, and whose ClientApp runs on every client) or register a key. So
``fedjava server`` starts the SuperLink (and so the SuperExec and the ServerApp it starts) with bubblewrap in a
network namespace that holds nothing but its own loopback: no port of it exists on the machine. The one way
in is a Unix socket in the operator's private folder (mode 0700), relayed inside the namespace to the SuperLink's
port by :func:`main`; the public gate (:mod:`gate`) and the operator's relay (:mod:`relay`) connect to it.

Run as ``python -m fedjava.federated.private_link SOCKET PORT -- COMMAND...`` inside the namespace (see
:func:`isolated_command`).
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from fedjava.federated.flower_runtime import DeploymentError, ManagedProcess, die_with_parent
from fedjava.federated.relay import SocketRelay

INNER_PORT = 9091  # the SuperLink's port inside its namespace, where nothing else listens
SOCKET_NAME = "superlink.sock"
BWRAP_ENV = "FEDJAVA_BWRAP"  # the bwrap binary (default: bwrap on PATH), as for the Java sandbox
_WHY = "so that no other user of this machine can reach its Control API (jobs, client keys, runs)"


def check_isolation() -> None:
    """Raise DeploymentError unless bubblewrap can make a network namespace here (tried once per process)."""
    problem = _probe(os.environ.get(BWRAP_ENV) or shutil.which("bwrap") or "")
    if problem:
        raise DeploymentError(problem)


@functools.cache
def _probe(bwrap: str) -> str | None:
    if not bwrap or not Path(bwrap).is_file():
        return (
            f"fedjava server runs Flower's SuperLink in a network namespace of its own {_WHY}, with bubblewrap, "
            f"which is not installed ({bwrap or 'no bwrap on PATH'}): install it (e.g. apt install bubblewrap)"
        )
    try:
        result = subprocess.run(
            [bwrap, "--unshare-net", "--dev-bind", "/", "/", "--", "true"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap ({bwrap}) does not run here ({exc}); fedjava server needs it {_WHY}"
    if result.returncode != 0:
        reason = " ".join(result.stderr.split())[-300:] or f"exit code {result.returncode}"
        return (
            f"bubblewrap ({bwrap}) cannot create a network namespace here ({reason}); fedjava server needs one "
            f"{_WHY}: allow unprivileged user namespaces (e.g. sysctl kernel.unprivileged_userns_clone=1, or "
            "an AppArmor profile for bwrap)"
        )
    return None


def isolated_command(command: list[str], socket_path: Path) -> list[str]:
    """``command`` (the SuperLink, listening on 127.0.0.1:INNER_PORT) in a new network namespace, reachable
    through ``socket_path`` only. The file system is the machine's own, so the ServerApp reads and writes as usual."""
    bwrap = os.environ.get(BWRAP_ENV) or shutil.which("bwrap") or "bwrap"
    return [
        bwrap,
        "--unshare-net",
        "--dev-bind",
        "/",
        "/",
        "--die-with-parent",
        "--",
        sys.executable,
        "-m",
        "fedjava.federated.private_link",
        str(socket_path),
        str(INNER_PORT),
        "--",
        *command,
    ]


def wait_until_ready(socket_path: Path, link: ManagedProcess, timeout: float) -> None:
    """Return once the SuperLink answers through ``socket_path`` (the relay opens it only then)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if link.poll() is not None:
            raise DeploymentError(
                f"{link.name} stopped at start (exit code {link.poll()}): {' | '.join(link.tail[-5:])}"
            )
        if socket_path.exists():
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                try:
                    probe.connect(str(socket_path))
                    return
                except OSError:
                    pass
        time.sleep(0.3)
    raise DeploymentError(f"{link.name} did not start within {timeout:.0f}s: {' | '.join(link.tail[-5:])}")


def main(argv: list[str] | None = None) -> int:
    """Inside the namespace: start COMMAND, and once its port answers, relay SOCKET to it; end with it."""

    args = sys.argv[1:] if argv is None else argv
    socket_path, port, command = Path(args[0]), int(args[1]), args[3:]
    child = subprocess.Popen(command, preexec_fn=die_with_parent)
    signal.signal(signal.SIGTERM, lambda signum, frame: child.terminate())
    while child.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        return child.returncode
    relay = SocketRelay(socket_path, port)
    relay.start()
    try:
        return child.wait()
    finally:
        relay.stop()
        socket_path.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
