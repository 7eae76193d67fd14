"""Distributed mode with real processes on 127.0.0.1: ``fedjava server`` (Flower SuperLink) and ``fedjava client``
(Flower SuperNodes) on the tiny model, over TLS with client authentication, against the simulation; refused
clients; a client killed mid-round. Every process a test starts is ended by the test, with its descendants."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tests.conftest import make_samples

import fault_injection
from fedjava.cli import main
from fedjava.config import load_config
from fedjava.federated.certs import make_client_keys, make_server_certificates
from fedjava.federated.flower_runtime import descendants, free_port, tool
from other_user import NOBODY, require_other_user, run_as_nobody, shared_folder


def overrides(data: Path, results: Path, algorithm: str, *extra: str) -> list[str]:
    return [
        "model_name=builtin:tiny-qwen3",
        f"data_dir={data}",
        f"results_dir={results}",
        "batch_size=4",
        "gradient_accumulation_steps=1",
        "learning_rate=1e-2",
        "warmup_ratio=0",
        "lr_scheduler=constant",
        "lora_r=8",
        "lora_alpha=16",
        "lora_dropout=0",
        "logging_steps=1",
        "max_seq_length=1024",
        f"algorithm={algorithm}",
        "num_clients=2",
        "num_rounds=2",
        "local_epochs=2",
        "fedadam_eta=0.05",
        *extra,
    ]


class Fedjava:
    """One ``fedjava ...`` process in its own session, its output in a file (no pipe to fill up)."""

    def __init__(self, folder: Path, name: str, args: list[str], env: dict[str, str] | None = None):
        self.out = folder / f"{name}.out"
        self.handle = open(self.out, "w")  # noqa: SIM115 - closed in end()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fedjava.cli", *args],
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
        )
        self.tree: set[int] = {self.proc.pid}

    def text(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_for(self, needle: str, timeout: float = 240) -> None:
        deadline = time.time() + timeout
        while needle not in self.text():
            assert self.proc.poll() is None or needle in self.text(), f"ended before '{needle}':\n{self.text()[-3000:]}"
            assert time.time() < deadline, f"no '{needle}' after {timeout}s:\n{self.text()[-3000:]}"
            time.sleep(0.2)

    def wait(self, timeout: float = 300) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running after {timeout}s:\n{self.text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole tree at once, as a crash or a pulled plug would (no goodbye to the server)."""
        self.tree |= set(descendants(self.proc.pid))
        for pid in self.tree:
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        self.proc.wait(timeout=30)

    def end(self) -> None:
        if self.proc.poll() is None:
            self.tree |= set(descendants(self.proc.pid))
        self.kill()
        self.handle.close()


@pytest.fixture
def processes():
    """Start fedjava processes; whatever happens, end them all and check nothing is left."""
    started: list[Fedjava] = []
    ports: list[int] = []

    def start(folder: Path, name: str, args: list[str], env: dict[str, str] | None = None) -> Fedjava:
        proc = Fedjava(folder, name, args, env)
        started.append(proc)
        return proc

    start.ports = ports  # type: ignore[attr-defined]
    yield start
    for proc in started:
        proc.end()
    time.sleep(0.5)
    leftovers = [pid for proc in started for pid in proc.tree if _alive(pid)]
    assert not leftovers, f"processes left running: {leftovers}"
    for port in ports:
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"something still listens on port {port}"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Data split for 2 clients, a CA with a server certificate for localhost, registered client keys,
    an unregistered key and a second, unrelated CA."""
    from fedjava.dataset.split import run_split
    from fedjava.prompts import write_samples

    root = tmp_path_factory.mktemp("distributed")
    data = root / "data"
    write_samples(make_samples(8), data / "train.jsonl")
    write_samples(make_samples(4), data / "valid.jsonl")
    run_split(data, 2)
    make_server_certificates(root / "certs", ["localhost"])
    make_server_certificates(root / "other_ca", ["localhost"])
    for name in ("client0", "client1", "stranger"):
        make_client_keys(root / "keys", name)
    (root / "registered").mkdir()
    for name in ("client0", "client1"):
        (root / "registered" / f"{name}.pub").write_bytes((root / "keys" / f"{name}.pub").read_bytes())
    return root


def adapter(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path / "final_model" / "adapter_model.safetensors"))


@pytest.mark.slow
def test_tls_run_with_client_auth_survives_a_server_crash_and_matches_the_simulation(site, processes, tmp_path):
    port = free_port()
    processes.ports.append(port)
    results = tmp_path / "distributed"
    server_args = [
        "server",
        "--allow-root",
        "--port",
        str(port),
        "--certs",
        str(site / "certs"),
        "--client-keys",
        str(site / "registered"),
        *overrides(site / "data", results, "fedadam"),
    ]
    crashed = processes(tmp_path, "server", server_args)
    address = f"localhost:{port}"
    clients = [
        processes(
            tmp_path,
            f"client{i}",
            [
                "client",
                "--client-id",
                str(i),
                "--server",
                address,
                "--ca",
                str(site / "certs" / "ca.crt"),
                "--key",
                str(site / "keys" / f"client{i}.key"),
                "--data",
                str(site / "data" / f"client_{i}.json"),
            ],
        )
        for i in (0, 1)
    ]
    stranger = processes(
        tmp_path,
        "stranger",
        [
            "client",
            "--client-id",
            "1",
            "--server",
            address,
            "--ca",
            str(site / "certs" / "ca.crt"),
            "--key",
            str(site / "keys" / "stranger.key"),
            "--data",
            str(site / "data" / "client_1.json"),
        ],
    )
    wrong_ca = processes(
        tmp_path,
        "wrong_ca",
        [
            "client",
            "--client-id",
            "0",
            "--server",
            address,
            "--ca",
            str(site / "other_ca" / "ca.crt"),
            "--key",
            str(site / "keys" / "client0.key"),
            "--data",
            str(site / "data" / "client_0.json"),
        ],
    )

    # the unregistered client is refused, and both sides say so
    assert stranger.wait() == 2
    assert "refused this client: its key" in stranger.text() and "stranger.key is not registered" in stranger.text()
    # the client given another CA stops before connecting
    assert wrong_ca.wait() == 2
    assert "cannot be trusted: its certificate is not signed by the CA in" in wrong_ca.text()
    assert "joined the federation" not in wrong_ca.text()
    text = crashed.text()
    assert "TLS, client authentication" in text and "Registered client key client0.pub" in text
    assert "REFUSED a client: its public key is not registered" in text
    assert "No SuperNode found with the given public key" in (results / "fedadam" / "superlink.log").read_text()

    # the whole server dies (kill -9) after round 1; restarted with --resume it goes on with the same clients
    checkpoint = results / "fedadam" / "checkpoints" / "round_001"
    deadline = time.time() + 300
    while not checkpoint.is_dir():
        assert crashed.proc.poll() is None and time.time() < deadline, crashed.text()[-3000:]
        time.sleep(0.2)
    crashed.kill()
    assert "Round 1/2:" in crashed.text() and "Model saved" not in crashed.text()
    server = processes(tmp_path, "server_resumed", [*server_args, "--resume"])
    assert server.wait() == 0, server.text()[-4000:]
    text = server.text()
    assert "Resuming after round 1" in text and "Round 1/2:" not in text
    block = text.split("Round 2/2:")[1]
    assert "Client 0: train_loss=" in block and "Client 1: train_loss=" in block
    assert f"Model saved: {results / 'fedadam' / 'final_model'}" in text
    for i, client in enumerate(clients):
        client.wait_for(f"Client {i}, round 2: trained on 4 samples")
        assert client.text().count("joined the federation") == 2 and "reconnecting" in client.text()
    history = json.loads((results / "fedadam" / "training_history.json").read_text())
    assert [r["round"] for r in history["rounds"]] == [0, 1, 2]
    assert all([c["client"] for c in r["clients"]] == [0, 1] for r in history["rounds"][1:])
    assert (results / "fedadam" / "checkpoints" / "round_002" / "server_state.safetensors").is_file()
    assert "Round 2/2:" in (results / "fedadam" / "training.log").read_text()

    # the same job in the simulation gives the same adapter
    from fedjava.federated.simulation import run_federated

    cfg = load_config(None, overrides(site / "data", tmp_path / "simulation", "fedadam"), check_files=False)
    run_federated(cfg, printer=lambda line: None)
    got, want = adapter(results / "fedadam"), adapter(tmp_path / "simulation" / "fedadam")
    assert got.keys() == want.keys() and len(got) > 0
    worst = max((got[k] - want[k]).abs().max().item() for k in got)
    print(f"distributed vs simulation final adapter: max abs difference {worst:.3g}")
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-4, atol=1e-6)
    assert any((want[k] != 0).any() for k in want)  # a trained adapter, not two zero tensors


@pytest.mark.slow
def test_a_client_killed_mid_round_is_left_out_and_the_job_finishes(site, processes, tmp_path):
    port = free_port()
    processes.ports.append(port)
    results = tmp_path / "results"
    server = processes(
        tmp_path,
        "server",
        [
            "server",
            "--allow-root",
            "--insecure",
            "--port",
            str(port),
            *overrides(site / "data", results, "fedavg", "round_timeout=45", "min_fit_clients=1"),
        ],
    )
    common = ["client", "--insecure", "--server", f"127.0.0.1:{port}"]
    processes(tmp_path, "client0", [*common, "--client-id", "0", "--data", str(site / "data" / "client_0.json")])
    doomed = processes(
        tmp_path,
        "client1",
        [*common, "--client-id", "1", "--data", str(site / "data" / "client_1.json")],
        env=fault_injection.environment("client1:stall@2"),
    )
    doomed.wait_for("Client 1, round 2: stalls")  # it holds round 2's task: now it dies
    doomed.kill()

    assert server.wait() == 0, server.text()[-4000:]
    text = server.text()
    assert "warning: --insecure: TLS is off" in text
    round2 = text.split("Round 2/2:")[1]
    # The round ends at round_timeout, or sooner when Flower notices the node stopped sending heartbeats:
    # either way client 1 is named as missing and left out, and client 0's update is aggregated.
    assert "Client 0: train_loss=" in round2 and "Client 1: NO REPLY, left out of this round: " in round2, round2
    history = json.loads((results / "fedavg" / "training_history.json").read_text())
    rounds = {r["round"]: r for r in history["rounds"]}
    assert [c["client"] for c in rounds[1]["clients"]] == [0, 1] and not rounds[1]["missing"]
    assert [c["client"] for c in rounds[2]["clients"]] == [0] and rounds[2]["aggregated"] == 1
    assert [m["client"] for m in rounds[2]["missing"]] == [1] and not rounds[2]["failed"]
    assert rounds[2]["missing"][0]["reason"] in (
        "no reply within round_timeout=45s",
        "node unavailable: no heartbeat (stopped, killed or cut off)",
    )
    assert rounds[2]["eval_loss"] != rounds[1]["eval_loss"]
    assert (results / "fedavg" / "final_model" / "adapter_model.safetensors").is_file()


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
        [
            "server",
            "--allow-root",
            "--port",
            str(port),
            "--certs",
            str(site / "certs"),
            "--client-keys",
            str(site / "registered"),
            *overrides(site / "data", results, "fedavg"),
        ],
    )
    client1 = processes(
        tmp_path,
        "client1",
        [
            "client",
            "--client-id",
            "1",
            "--server",
            f"localhost:{port}",
            "--ca",
            str(ca),
            "--key",
            str(site / "keys" / "client1.key"),
            "--data",
            str(site / "data" / "client_1.json"),
        ],
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
        [
            "client",
            "--client-id",
            "0",
            "--server",
            public,
            "--ca",
            str(ca),
            "--key",
            str(site / "keys" / "stranger.key"),
            "--data",
            str(site / "data" / "client_0.json"),
        ],
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
        [
            "client",
            "--client-id",
            "0",
            "--server",
            public,
            "--ca",
            str(ca),
            "--key",
            str(site / "keys" / "client0.key"),
            "--data",
            str(site / "data" / "client_0.json"),
        ],
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
    cfg = load_config(None, overrides(site / "data", results, "fedavg"), check_files=False)
    from fedjava.federated.adapter_io import adapter_to_arrays
    from fedjava.models import load_for_training
    from wire_size import distinct, largest_request, reply_like_fedjavas

    trained = distinct(adapter_to_arrays(load_for_training(cfg)[0]))  # after training, no two arrays are equal
    predicted, _ = largest_request(reply_like_fedjavas(trained))
    assert abs(largest - predicted) <= 64, (largest, predicted)


# ---------------------------------------------------------------------- without Flower processes


def test_the_run_config_rebuilds_the_servers_exact_config(tmp_path):
    from fedjava.federated.common import config_from_run_config
    from fedjava.federated.deployment import run_config_overrides

    cfg = load_config(
        None,
        overrides(
            tmp_path / "my data",
            tmp_path / "res",
            "fedprox",
            "fedprox_mu=0.25",
            "lora_target_modules=q_proj,v_proj",
            "use_gradient_checkpointing=false",
            "round_timeout=33.5",
        ),
        check_files=False,
    )
    rebuilt, resume = config_from_run_config({"preset": "", "resume": True, "overrides": run_config_overrides(cfg)})
    assert rebuilt == cfg and resume is True


def test_certs_makes_a_ca_a_server_certificate_and_client_keys_flower_accepts(tmp_path, capsys):
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_ssh_private_key, load_ssh_public_key

    assert main(["certs", "--hosts", "server.example.org,10.1.2.3", "--out", str(tmp_path / "certs")]) == 0
    assert main(["certs", "--client-key", "client0", "--out", str(tmp_path / "keys")]) == 0
    ca = x509.load_pem_x509_certificate((tmp_path / "certs" / "ca.crt").read_bytes())
    server = x509.load_pem_x509_certificate((tmp_path / "certs" / "server.pem").read_bytes())
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.DNSName)) == {"server.example.org", "localhost"}
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {"10.1.2.3", "127.0.0.1"}
    assert oct((tmp_path / "certs" / "server.key").stat().st_mode & 0o777) == "0o600"
    private = load_ssh_private_key((tmp_path / "keys" / "client0.key").read_bytes(), None)
    public = load_ssh_public_key((tmp_path / "keys" / "client0.pub").read_bytes())
    assert isinstance(private, ec.EllipticCurvePrivateKey) and private.curve.name == "secp384r1"
    assert private.public_key().public_numbers() == public.public_numbers()
    assert (tmp_path / "keys" / "client0.pub").read_text().startswith("ecdsa-sha2-nistp384 ")
    capsys.readouterr()
    assert main(["certs", "--client-key", "client0", "--out", str(tmp_path / "keys")]) == 2
    assert "already exist" in capsys.readouterr().err


def one_error_line(capsys) -> str:
    """The one ``error: ...`` line a refused command printed (and no traceback)."""
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--hosts", "localhost", "--days", "99999999"], "--days 99999999: give a validity from 1 to 36500 days"),
        (["--hosts", "localhost", "--days", "0"], "--days 0: give a validity from 1 to 36500 days"),
        (["--hosts", "bad host name!"], "'bad host name!' is neither an IP address nor a valid host name"),
        (["--hosts", "fl.example.org,under_score.example.org"], "'under_score.example.org' is neither"),
        (["--hosts", "10.0.0.300"], "'10.0.0.300' is neither"),
        (["--hosts=-lead.example.org"], "'-lead.example.org' is neither"),
        (["--hosts", "a..b"], "'a..b' is neither"),
        (["--hosts", "localhost", "--client-key", "../escape"], "'../escape' is not a usable file name"),
    ],
)
def test_certs_refuses_a_bad_validity_or_name_before_writing_anything(args, expected, tmp_path, capsys):
    out = tmp_path / "certs"
    assert main(["certs", *args, "--out", str(out)]) == 2
    assert expected in one_error_line(capsys)
    assert not out.exists()


def test_certs_accepts_every_kind_of_valid_name(tmp_path):
    from cryptography import x509

    hosts = "fl-server.example.org.,xn--bcher-kva.example,10.0.0.5,2001:db8::5,server-1"
    assert main(["certs", "--hosts", hosts, "--days", "36500", "--out", str(tmp_path)]) == 0
    server = x509.load_pem_x509_certificate((tmp_path / "server.pem").read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"fl-server.example.org.", "xn--bcher-kva.example", "server-1"} <= set(
        names.get_values_for_type(x509.DNSName)
    )


@pytest.mark.parametrize(
    "address, expected",
    [
        ("localhost:70000", "'70000' is not a port number (1 to 65535)"),
        ("localhost:0", "'0' is not a port number"),
        ("localhost:-1", "'-1' is not a port number"),
        ("localhost", "expected HOST:PORT"),
        (":9092", "expected HOST:PORT"),
        ("http://localhost:9092", "without a scheme"),
        ("::1:9092", "write an IPv6 address in brackets"),
        ("[fl-server]:9092", "'fl-server' in brackets is not an IPv6 address"),
        ("bad host!:9092", "'bad host!' is neither an IP address nor a valid host name"),
    ],
)
def test_a_malformed_server_address_is_refused_at_once(address, expected, tmp_path, capsys):
    code = main(["client", "--client-id", "0", "--server", address, "--data", str(tmp_path / "missing.json")])
    assert code == 2 and f"--server {address}: " in (line := one_error_line(capsys)) and expected in line


def test_a_tls_client_says_the_server_is_insecure(tmp_path, capsys):
    from fedjava.prompts import write_samples

    shard = tmp_path / "client_0.json"
    write_samples(make_samples(2), shard)
    make_server_certificates(tmp_path / "certs", ["localhost"])
    make_client_keys(tmp_path / "keys", "client0")
    with socket.socket() as listener:  # a plain server, as fedjava server --insecure: it answers in HTTP
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def serve() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.recv(4096)
                connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

        threading.Thread(target=serve, daemon=True).start()
        code = main(
            [
                "client",
                "--client-id",
                "0",
                "--data",
                str(shard),
                "--server",
                f"localhost:{port}",
                "--ca",
                str(tmp_path / "certs" / "ca.crt"),
                "--key",
                str(tmp_path / "keys" / "client0.key"),
                "--wait",
                "5",
            ]
        )
    assert code == 2
    assert "was the server started with --insecure? Then the clients need --insecure too" in one_error_line(capsys)


@pytest.mark.skipif(os.geteuid() != 0, reason="the refusal is for root; tests elsewhere run as root")
def test_the_server_refuses_to_run_as_root_unless_allowed(tmp_path, capsys):
    from fedjava.dataset.split import run_split
    from fedjava.prompts import write_samples

    data = tmp_path / "data"
    write_samples(make_samples(4), data / "train.jsonl")
    write_samples(make_samples(2), data / "valid.jsonl")
    run_split(data, 2)
    assert (
        main(
            ["server", "--insecure", "--port", str(free_port()), f"data_dir={data}", f"results_dir={tmp_path / 'res'}"]
        )
        == 2
    )
    line = one_error_line(capsys)
    assert "fedjava server is running as root" in line and "--allow-root" in line
    assert not (tmp_path / "res").exists()  # nothing started, nothing written


@pytest.mark.parametrize("problem", ["missing", "malformed", "empty"])
def test_a_client_with_a_bad_shard_fails_before_connecting(problem, tmp_path, capsys):
    shard = tmp_path / "client_0.json"
    if problem == "malformed":
        shard.write_text('[{"messages": "not a conversation"}]')
    elif problem == "empty":
        shard.write_text("[]")
    with socket.socket() as listener:  # a server that would notice any connection
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        code = main(
            [
                "client",
                "--client-id",
                "0",
                "--server",
                f"127.0.0.1:{port}",
                "--data",
                str(shard),
                "--ca",
                str(tmp_path / "ca.crt"),
            ]
        )
        with pytest.raises(BlockingIOError):
            listener.accept()
    err = capsys.readouterr().err
    assert code == 2 and f"client 0: data file {shard}" in err
    assert {"missing": "not found", "malformed": "is malformed", "empty": "no samples"}[problem] in err


def test_an_insecure_client_says_the_server_uses_tls_and_gives_up_after_wait(tmp_path, capsys):
    import ssl

    from fedjava.prompts import write_samples

    shard = tmp_path / "client_0.json"
    write_samples(make_samples(2), shard)
    make_server_certificates(tmp_path / "certs", ["localhost"])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tmp_path / "certs" / "server.pem"), str(tmp_path / "certs" / "server.key"))
    with socket.socket() as listener:  # a TLS server, as fedjava server without --insecure
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def serve() -> None:
            connection, _ = listener.accept()
            try:
                with context.wrap_socket(connection, server_side=True):
                    pass
            except OSError:
                pass

        threading.Thread(target=serve, daemon=True).start()
        client = ["client", "--insecure", "--client-id", "0", "--data", str(shard), "--wait", "1"]
        assert main([*client, "--server", f"127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err
    assert f"the server at 127.0.0.1:{port} uses TLS, but this client was started with --insecure" in err
    started = time.time()
    assert main([*client, "--server", f"127.0.0.1:{free_port()}"]) == 2  # nobody there: gives up after --wait
    assert time.time() - started < 15 and "is not reachable" in capsys.readouterr().err


def test_the_server_needs_certificates_and_client_keys_unless_insecure(tmp_path, capsys):
    from fedjava.dataset.split import run_split
    from fedjava.prompts import write_samples

    data = tmp_path / "data"
    write_samples(make_samples(4), data / "train.jsonl")
    write_samples(make_samples(2), data / "valid.jsonl")
    run_split(data, 2)
    base = ["server", "--allow-root", "--port", str(free_port()), f"data_dir={data}", f"results_dir={tmp_path / 'res'}"]
    assert main([*base, "--certs", str(tmp_path / "nothing")]) == 2
    assert "make the certificates with 'fedjava certs --hosts" in capsys.readouterr().err
    make_server_certificates(tmp_path / "certs", ["localhost"])
    assert main([*base, "--certs", str(tmp_path / "certs"), "--client-keys", str(tmp_path / "nokeys")]) == 2
    assert "no client public keys (*.pub)" in capsys.readouterr().err
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "c.pub").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHj2 c")
    assert main([*base, "--certs", str(tmp_path / "certs"), "--client-keys", str(tmp_path / "keys")]) == 2
    assert "c.pub" in capsys.readouterr().err
    assert not (tmp_path / "res").exists()  # nothing started, nothing written


def test_stall_is_a_client_fault():
    import fault_injection as faults

    assert faults.parse("client1:stall@2") == [("client1", "stall", "2")]
    assert faults.wanted("client1", "stall", 2, {faults.ENV: "client1:stall@2"})
    with pytest.raises(ValueError):
        faults.parse("server:stall@1")


def test_the_round_report_names_the_clients_whose_reply_never_came(monkeypatch):
    import numpy as np
    from flwr.app import Array, ArrayRecord, ConfigRecord, Error, Message, MetricRecord, RecordDict
    from flwr.common.constant import ErrorCode
    from flwr.supercore.task_identity import TaskIdentity

    from fedjava.federated.strategies import build_strategy

    for attr in ("_run_id", "_node_id", "_task_id"):
        monkeypatch.setattr(TaskIdentity, attr, 1)

    class Grid:
        def get_node_ids(self):
            return [21, 22, 23]

    strategy = build_strategy(load_config(None, ["num_clients=3", "round_timeout=30"], check_files=False))
    weights = ArrayRecord({"w": Array(np.zeros(2, dtype=np.float32))})

    def reply(to: Message, client: int) -> Message:
        return Message(
            RecordDict(
                {
                    "arrays": weights,
                    "metrics": MetricRecord({"num-examples": 2, "train_loss": 1.0}),
                    "client": ConfigRecord({"client-id": client}),
                }
            ),
            reply_to=to,
        )

    def send(server_round: int) -> dict[int, Message]:
        sent = list(strategy.configure_train(server_round, weights, ConfigRecord(), Grid()))
        for msg in sent:  # as Flower's grid stamps each message when it pushes it
            msg.metadata.__dict__["_message_id"] = f"r{server_round}-n{msg.metadata.dst_node_id}"
        return {msg.metadata.dst_node_id: msg for msg in sent}

    sent = send(1)
    strategy.aggregate_train(1, [reply(sent[n], c) for n, c in ((21, 0), (22, 1), (23, 2))])
    sent = send(2)
    # node 22's machine died: the SuperLink answers for it; node 23 just never answers before the timeout
    unavailable = Message(Error(code=ErrorCode.NODE_UNAVAILABLE, reason="Error: Node Unavailable"), reply_to=sent[22])
    unavailable.metadata.__dict__["_src_node_id"] = 1  # the SuperLink's own node id
    strategy.aggregate_train(2, [reply(sent[21], 0), unavailable])
    report = strategy.reports[2]
    assert [c["client"] for c in report.clients] == [0] and not report.failed
    assert sorted((m["client"], m["node"], m["reason"]) for m in report.missing) == [
        (1, 22, "node unavailable: no heartbeat (stopped, killed or cut off)"),
        (2, 23, "no reply within round_timeout=30s"),
    ]


@pytest.mark.parametrize("command", ["server", "client", "certs"])
def test_the_distributed_commands_have_help_with_examples_and_load_nothing_heavy(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: fedjava {command}" in out and "examples:" in out and f"fedjava {command} " in out
    code = (
        f"import sys; from fedjava.cli import main\ntry:\n main(['{command}', '--help'])\nexcept SystemExit: pass\n"
        "print(sorted(m for m in ('torch', 'flwr', 'transformers', 'cryptography') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip().endswith("[]")


def test_after_the_first_round_a_client_lost_for_good_does_not_stall_the_run(monkeypatch):
    import threading

    import numpy as np
    from flwr.app import Array, ArrayRecord, ConfigRecord
    from flwr.supercore.task_identity import TaskIdentity

    from fedjava.federated.strategies import build_strategy

    for attr in ("_run_id", "_node_id", "_task_id"):
        monkeypatch.setattr(TaskIdentity, attr, 1)

    class Grid:
        def __init__(self, nodes):
            self.nodes = nodes

        def get_node_ids(self):
            return self.nodes

    strategy = build_strategy(load_config(None, ["num_clients=3", "min_fit_clients=2"], check_files=False))
    weights = ArrayRecord({"w": Array(np.zeros(2, dtype=np.float32))})
    assert len(list(strategy.configure_train(1, weights, ConfigRecord(), Grid([1, 2, 3])))) == 3
    sent: list = []
    worker = threading.Thread(
        target=lambda: sent.extend(strategy.configure_train(2, weights, ConfigRecord(), Grid([1, 3]))), daemon=True
    )
    worker.start()
    worker.join(timeout=20)  # Flower's sampling would wait forever for a third node
    assert not worker.is_alive() and sorted(m.metadata.dst_node_id for m in sent) == [1, 3]


def test_a_round_asks_every_client_connected_once_enough_have_joined(monkeypatch):
    import numpy as np
    from flwr.app import Array, ArrayRecord, ConfigRecord
    from flwr.supercore.task_identity import TaskIdentity

    from fedjava.federated.strategies import build_strategy

    for attr in ("_run_id", "_node_id", "_task_id"):
        monkeypatch.setattr(TaskIdentity, attr, 1)

    class LateGrid:  # one client is connected when the round starts, the other two a moment later
        calls = 0

        def get_node_ids(self):
            self.calls += 1
            return [1] if self.calls <= 2 else [1, 2, 3]

    strategy = build_strategy(load_config(None, ["num_clients=3"], check_files=False))
    weights = ArrayRecord({"w": Array(np.zeros(2, dtype=np.float32))})
    sent = list(strategy.configure_train(1, weights, ConfigRecord(), LateGrid()))
    assert sorted(m.metadata.dst_node_id for m in sent) == [1, 2, 3]
