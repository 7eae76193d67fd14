"""The SuperLink's private network namespace and the relays around it (fedjava.federated.private_link, .relay), with
real bubblewrap, real sockets and a real second user (uid 65534) playing another local user of the server."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import sys
import threading
from pathlib import Path

import pytest

from fedjava.federated.flower_runtime import DeploymentError, ManagedProcess, descendants
from fedjava.federated.private_link import INNER_PORT, check_isolation, isolated_command, wait_until_ready
from fedjava.federated.relay import OperatorRelay, loopback_peer_uid
from other_user import NOBODY, require_other_user, run_as_nobody, shared_folder

CONNECT = """
import json, socket, sys
try:
    sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
    sock.sendall(b"ping")
    print(json.dumps({"echo": sock.recv(100).decode()}))
except OSError as exc:
    print(json.dumps({"error": type(exc).__name__}))
"""


class EchoBackend:
    """A Unix socket that echoes what it gets and counts its connections (the SuperLink's place)."""

    def __init__(self, path: Path):
        self.path, self.connections = path, 0
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                while data := conn.recv(100):
                    conn.sendall(data)


@pytest.fixture
def folder():
    path = shared_folder()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_peer_of_a_loopback_connection_is_known_by_its_user_id(folder):
    require_other_user()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):
            conn, _ = listener.accept()
            with conn:
                assert loopback_peer_uid(conn) == os.getuid()
        owners = []

        def accept() -> None:
            conn, _ = listener.accept()
            with conn:
                owners.append(loopback_peer_uid(conn))

        worker = threading.Thread(target=accept)
        worker.start()
        run_as_nobody(["-c", CONNECT, str(port)], folder)
        worker.join(timeout=30)
    assert owners == [NOBODY]


def test_the_operator_relay_relays_for_the_operator_only(tmp_path, folder):
    require_other_user()
    backend, refused = EchoBackend(tmp_path / "link.sock"), []
    relay = OperatorRelay(backend.path, os.getuid(), refused.append)
    relay.start()
    try:
        with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as sock:
            sock.sendall(b"hello")
            assert sock.recv(100) == b"hello"
        assert backend.connections == 1
        other = run_as_nobody(["-c", CONNECT, str(relay.port)], folder)
        assert json.loads(other.stdout) in ({"echo": ""}, {"error": "ConnectionResetError"}), other
        assert backend.connections == 1 and refused == [NOBODY]  # not one byte of it reached the backend
    finally:
        relay.stop()


def test_the_superlink_namespace_has_no_port_on_this_machine_and_one_private_socket(tmp_path, folder):
    check_isolation()
    require_other_user()
    site = tmp_path / "private"
    site.mkdir(mode=0o700)
    sock = site / "link.sock"
    server = [sys.executable, "-m", "http.server", str(INNER_PORT), "--bind", "127.0.0.1", "--directory", str(tmp_path)]
    (tmp_path / "marker.txt").write_text("inside")
    link = ManagedProcess("test server", isolated_command(server, sock), dict(os.environ), None, lambda line: None)
    try:
        wait_until_ready(sock, link, timeout=60)
        # through the socket: the server in the namespace answers
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(str(sock))
            conn.sendall(b"GET /marker.txt HTTP/1.0\r\n\r\n")
            assert b"inside" in b"".join(iter(lambda: conn.recv(4096), b""))
        # its listening socket exists in its own namespace only
        inner = next(
            pid for pid in descendants(link.proc.pid) if "http.server" in Path(f"/proc/{pid}/cmdline").read_text()
        )
        assert os.readlink(f"/proc/{inner}/ns/net") != os.readlink("/proc/self/ns/net")
        listening = {
            line.split()[9]
            for line in Path(f"/proc/{inner}/net/tcp").read_text().splitlines()[1:]
            if line.split()[3] == "0A" and int(line.split()[1].split(":")[1], 16) == INNER_PORT
        }
        assert listening
        here = {
            line.split()[9]
            for table in ("tcp", "tcp6")
            for line in Path(f"/proc/self/net/{table}").read_text().splitlines()[1:]
        }
        assert not listening & here
        # the socket is the operator's alone
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600 and stat.S_IMODE(site.stat().st_mode) == 0o700
        other = run_as_nobody(
            ["-c", "import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])", str(sock)], folder
        )
        assert other.returncode != 0 and "PermissionError" in other.stderr
    finally:
        link.stop()


def test_without_bubblewrap_the_server_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("FEDJAVA_BWRAP", str(tmp_path / "no-bwrap"))
    with pytest.raises(DeploymentError, match=r"network namespace of its own .* bubblewrap.*install it"):
        check_isolation()
