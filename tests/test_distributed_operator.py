"""Who controls a federation, with real processes on 127.0.0.1: only the operator's user reaches the SuperLink's
Control API; another local user's commands and apps are refused and the job still finishes; the public gate caps
what a client may send."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from tests.conftest import federated_overrides

from deployment import tls_client, tls_server
from fedjava.config import load_config
from fedjava.federated.flower_runtime import descendants, free_port, tool
from other_user import NOBODY, require_other_user, run_as_nobody, shared_folder

EVIL_APP = """
from pathlib import Path
from flwr.app import Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import ServerApp

server = ServerApp()
client = ClientApp()


@server.main()
def main(grid, context):
    Path({marker!r}, "serverapp").write_text("ran on the server")
    grid.send_and_receive([Message(RecordDict(), dst_node_id=node, message_type="train")
                           for node in grid.get_node_ids()], timeout=60)


@client.train()
def train(msg, context):
    Path({marker!r}, "clientapp").write_text(str(context.node_config))  # the client's data path, for one
    return Message(RecordDict(), reply_to=msg)
"""


OPERATOR_APP = """
from flwr.clientapp import ClientApp
from flwr.serverapp import ServerApp

server = ServerApp()
client = ClientApp()


@server.main()
def main(grid, context):
    pass
"""


def flower_app(folder: Path, publisher: str, name: str, source: str) -> Path:
    """A Flower app that is not fedjava's, in ``folder`` (readable by every user)."""
    (folder / name).mkdir(parents=True)
    (folder / name / "__init__.py").write_text("")
    (folder / name / "apps.py").write_text(source)
    (folder / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "1.0.0"\ndescription = "not fedjava"\nlicense = "Apache-2.0"\n'
        f'\n[tool.flwr.app]\npublisher = "{publisher}"\n\n[tool.flwr.app.components]\n'
        f'serverapp = "{name}.apps:server"\nclientapp = "{name}.apps:client"\n\n[tool.flwr.app.config]\n'
    )
    for path in (folder, *folder.rglob("*")):
        path.chmod(0o777 if path.is_dir() else 0o666)
    return folder


def evil_app(folder: Path, marker: Path) -> Path:
    """Someone else's Flower app: its ServerApp asks every client to train, and each part leaves a file in
    ``marker`` when it runs (submitted through the Control API on the server machine, both files appear)."""
    return flower_app(folder, "mallory", "evilapp", EVIL_APP.format(marker=str(marker)))


def connection(home: Path, address: str, ca: Path) -> dict[str, str]:
    """A Flower configuration in ``home`` with one connection, ``target``, to ``address`` trusting ``ca``."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "target"\n\n[superlink.target]\naddress = "{address}"\nroot-certificates = "{ca}"\n'
    )
    return dict(os.environ, FLWR_HOME=str(home), FLWR_TELEMETRY_ENABLED="0")


def flwr(home: Path, address: str, ca: Path, *args: str) -> subprocess.CompletedProcess:
    """Flower's own CLI with a connection named ``target`` to ``address``, trusting ``ca`` (all a client holds)."""
    env = connection(home, address, ca)
    return subprocess.run([tool("flwr"), *args], env=env, capture_output=True, text=True, timeout=180)


def flwr_as_nobody(home: Path, address: str, ca: Path, *args: str) -> subprocess.CompletedProcess:
    """The same CLI run by another local user of the server machine (uid 65534), with a copy of ca.crt."""
    connection(home / "flwr", address, ca)
    for path in (home, *home.rglob("*")):
        path.chmod(0o777 if path.is_dir() else 0o666)
    return run_as_nobody(["-c", "from flwr.cli.app import app; app()", *args], home)


def listening_hosts(port: int) -> set[str]:
    """The local addresses something listens on at ``port`` (Linux /proc/net/tcp and tcp6)."""
    hosts = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                hosts.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]) if len(address) == 8 else address)
    return hosts


def process_of(root: int, program: str) -> int:
    """The descendant of ``root`` that runs ``program`` (a script started by its interpreter, or itself)."""
    for pid in descendants(root):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_text().split("\0")
        except OSError:
            continue
        if any(arg.endswith(program) for arg in args[:3]):
            return pid
    raise AssertionError(f"no {program} under process {root}")


def rss_bytes(pid: int) -> int:
    line = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def post_oversized(port: int, ca: Path, announced: int, most: int) -> tuple[bytes, int]:
    """POST /v1/fleet/push-object announcing ``announced`` bytes over TLS, sending up to ``most`` of them;
    (the status line, the bytes the server let through before it ended the connection)."""
    import ssl

    context = ssl.create_default_context(cafile=str(ca))
    sent, status = 0, b""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as sock,
    ):
        sock.sendall(
            f"POST /v1/fleet/push-object HTTP/1.1\r\nHost: localhost\r\nContent-Length: {announced}\r\n"
            "Content-Type: application/protobuf\r\n\r\n".encode()
        )
        chunk = os.urandom(1 << 20)
        try:
            while sent < most:
                sock.sendall(chunk)
                sent += len(chunk)
            status = sock.recv(100).split(b"\r\n")[0]
        except OSError:
            pass
        if not status:
            try:
                status = sock.recv(100).split(b"\r\n")[0]
            except OSError:
                pass
    return status, sent


@pytest.mark.slow
def test_only_the_operator_controls_the_federation_and_the_job_still_finishes(site, processes, tmp_path):
    """The probe of issue 22 as real processes: another local user (uid 65534, holding ca.crt) tries to list
    runs, register a key and submit an app through every way in; a client tries the same on the public port; an
    oversized body is sent; meanwhile fedjava's own job runs to its end and the operator's own use is reported."""
    require_other_user()
    port = free_port()
    processes.ports.append(port)
    ca = site / "certs" / "ca.crt"
    results = tmp_path / "results"
    server = processes(
        tmp_path,
        "server",
        tls_server(site, port, results, "fedavg"),
    )
    client1 = processes(
        tmp_path,
        "client1",
        tls_client(site, 1, f"localhost:{port}"),
    )
    server.wait_for("clients reach the Fleet API only")  # the gate is open: keys registered, job being submitted
    control = int(
        re.search(r"Control API \(.*\): 127\.0\.0\.1:(\d+), for user root \(uid 0\) only", server.text()).group(1)
    )
    assert listening_hosts(control) == {"127.0.0.1"}  # no other machine can reach the Control API
    client1.wait_for("joined the federation")  # the job waits for client 0, which comes last
    public = f"localhost:{port}"  # everything a client holds: the address and ca.crt

    # 1. A client, on the public port (Flower's CLI words a 403 in more than one way; the REFUSED lines say it)
    attacker = tmp_path / "attacker"
    listed = flwr(attacker, public, ca, "ls", "target")
    assert listed.returncode != 0 and "fedjava-job" not in listed.stdout, listed
    registered = flwr(attacker, public, ca, "supernode", "register", str(site / "keys" / "stranger.pub"), "target")
    assert registered.returncode != 0 and "registered successfully" not in registered.stdout, registered
    stranger = processes(
        tmp_path,
        "stranger",
        tls_client(site, 0, public, key="stranger"),
    )
    assert stranger.wait() == 2 and "stranger.key is not registered there" in stranger.text()

    # 2. Another local user of the server machine, on the operator's port, with ca.crt and an app of its own
    local = shared_folder()
    try:
        shutil.copy(ca, local / "ca.crt")
        shutil.copy(site / "keys" / "stranger.pub", local / "stranger.pub")
        marker = local / "evil_ran"
        marker.mkdir(mode=0o777)
        operator_port = f"127.0.0.1:{control}"
        runs = flwr_as_nobody(local, operator_port, local / "ca.crt", "ls", "target")
        assert runs.returncode != 0 and "fedjava-job" not in runs.stdout, runs
        key = flwr_as_nobody(
            local, operator_port, local / "ca.crt", "supernode", "register", str(local / "stranger.pub"), "target"
        )
        assert key.returncode != 0 and "registered successfully" not in key.stdout, key
        app = evil_app(local / "evilapp", marker)
        for address in (operator_port, public):
            submitted = flwr_as_nobody(local, address, local / "ca.crt", "run", str(app), "target")
            assert submitted.returncode != 0 and "Successfully started run" not in submitted.stdout, submitted
        assert not list(marker.iterdir())  # neither part of the other user's app ran
        # the SuperLink's own socket is the operator's alone, and its port exists in its own namespace only
        launcher = Path(f"/proc/{process_of(server.proc.pid, 'fedjava.federated.private_link')}/cmdline")
        socket_path = launcher.read_text().split("\0")[3]
        direct = run_as_nobody(
            ["-c", "import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])", socket_path], local
        )
        assert direct.returncode != 0 and "PermissionError" in direct.stderr, direct
        link = process_of(server.proc.pid, "flower-superlink")
        assert os.readlink(f"/proc/{link}/ns/net") != os.readlink("/proc/self/ns/net")
    finally:
        shutil.rmtree(local, ignore_errors=True)

    # 3. Anyone on the public port: a body far over the limit is refused before the SuperLink reads it
    before = rss_bytes(link)
    status, sent = post_oversized(port, ca, announced=1_500_000_000, most=200 << 20)
    assert status.startswith(b"HTTP/1.1 413"), status
    assert sent < 200 << 20 and rss_bytes(link) - before < 20 << 20

    # 4. The operator (the user running fedjava server) keeps Flower's CLI; what it adds is reported
    operator = tmp_path / "operator"
    added = flwr(
        operator, f"127.0.0.1:{control}", ca, "supernode", "register", str(site / "keys" / "stranger.pub"), "target"
    )
    assert "registered successfully" in added.stdout, added
    extra = flwr(
        operator,
        f"127.0.0.1:{control}",
        ca,
        "run",
        str(flower_app(tmp_path / "operator_app", "operator", "noopapp", OPERATOR_APP)),
        "target",
    )
    assert "Successfully started run" in extra.stdout, extra
    server.wait_for("WARNING: a client key that fedjava did not register is registered: node ")
    server.wait_for("WARNING: a run that fedjava did not submit: run ")

    # fedjava's own job runs to its end once client 0 joins
    processes(
        tmp_path,
        "client0",
        tls_client(site, 0, public),
    )
    assert server.wait() == 0, server.text()[-4000:]
    text = server.text()
    assert "Model saved:" in text and "Round 2/2:" in text and "Traceback" not in text
    for path in ("/v1/control/list-runs", "/v1/control/register-node", "/v1/control/start-run"):
        assert f"REFUSED POST {path} from 127.0.0.1: only the clients' Fleet API is served" in text, text
    assert f"REFUSED a connection to the Control API from user nobody (uid {NOBODY}): only root (uid 0)" in text
    assert "REFUSED POST /v1/fleet/push-object from 127.0.0.1: a body of 1500000000 bytes is over the limit" in text
    assert "REFUSED a client: its public key is not registered" in text
    # each foreign run and key is reported once; the other user's app never became a run (it would be reported)
    assert text.count("WARNING: a run that fedjava did not submit") == 1 and "(operator/noopapp 1.0.0)" in text
    assert text.count("WARNING: a client key that fedjava did not register") == 1 and "mallory" not in text
    # the largest request of the job is the one computed with Flower's serializer for this adapter
    largest = int(re.search(r"Largest client request: (\d+) bytes", text).group(1))
    cfg = load_config(None, federated_overrides(site / "data", results, "fedavg"), check_files=False)
    from fedjava.federated.adapter_io import adapter_to_arrays
    from fedjava.models import load_for_training
    from wire_size import distinct, largest_request, reply_like_fedjavas

    trained = distinct(adapter_to_arrays(load_for_training(cfg)[0]))  # after training, no two arrays are equal
    predicted, _ = largest_request(reply_like_fedjavas(trained))
    assert abs(largest - predicted) <= 64, (largest, predicted)


# ---------------------------------------------------------------------- without Flower processes
