"""Distributed mode with real processes on 127.0.0.1: ``fedjava server`` (Flower SuperLink) and ``fedjava client``
(Flower SuperNodes) on the tiny model, over TLS with client authentication, against the simulation; refused
clients; a client killed mid-round. Every process a test starts is ended by the test, with its descendants."""

from __future__ import annotations

import json
import os
import re
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


def overrides(data: Path, results: Path, algorithm: str, *extra: str) -> list[str]:
    return [
        "model_name=builtin:tiny-qwen3", f"data_dir={data}", f"results_dir={results}", "batch_size=4",
        "gradient_accumulation_steps=1", "learning_rate=1e-2", "warmup_ratio=0", "lr_scheduler=constant",
        "lora_r=8", "lora_alpha=16", "lora_dropout=0", "logging_steps=1", "max_seq_length=1024",
        f"algorithm={algorithm}", "num_clients=2", "num_rounds=2", "local_epochs=2", "fedadam_eta=0.05", *extra,
    ]


class Fedjava:
    """One ``fedjava ...`` process in its own session, its output in a file (no pipe to fill up)."""

    def __init__(self, folder: Path, name: str, args: list[str], env: dict[str, str] | None = None):
        self.out = folder / f"{name}.out"
        self.handle = open(self.out, "w")  # noqa: SIM115 - closed in end()
        self.proc = subprocess.Popen([sys.executable, "-m", "fedjava.cli", *args], stdout=self.handle,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})
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
    from fedjava.javadata.split import run_split
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
    server_args = ["server", "--port", str(port), "--certs", str(site / "certs"), "--client-keys",
                   str(site / "registered"), *overrides(site / "data", results, "fedadam")]
    crashed = processes(tmp_path, "server", server_args)
    address = f"localhost:{port}"
    clients = [processes(tmp_path, f"client{i}", [
        "client", "--client-id", str(i), "--server", address, "--ca", str(site / "certs" / "ca.crt"),
        "--key", str(site / "keys" / f"client{i}.key"), "--data", str(site / "data" / f"client_{i}.json")])
        for i in (0, 1)]
    stranger = processes(tmp_path, "stranger", [
        "client", "--client-id", "1", "--server", address, "--ca", str(site / "certs" / "ca.crt"),
        "--key", str(site / "keys" / "stranger.key"), "--data", str(site / "data" / "client_1.json")])
    wrong_ca = processes(tmp_path, "wrong_ca", [
        "client", "--client-id", "0", "--server", address, "--ca", str(site / "other_ca" / "ca.crt"),
        "--key", str(site / "keys" / "client0.key"), "--data", str(site / "data" / "client_0.json")])

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
    server = processes(tmp_path, "server", [
        "server", "--insecure", "--port", str(port),
        *overrides(site / "data", results, "fedavg", "round_timeout=45", "min_fit_clients=1")])
    common = ["client", "--insecure", "--server", f"127.0.0.1:{port}"]
    processes(tmp_path, "client0", [*common, "--client-id", "0", "--data", str(site / "data" / "client_0.json")])
    doomed = processes(tmp_path, "client1", [*common, "--client-id", "1", "--data",
                                             str(site / "data" / "client_1.json")],
                       env=fault_injection.environment("client1:stall@2"))
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
    assert rounds[2]["missing"][0]["reason"] in ("no reply within round_timeout=45s",
                                                 "node unavailable: no heartbeat (stopped, killed or cut off)")
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


def evil_app(folder: Path, marker: Path) -> Path:
    """Someone else's Flower app: its ServerApp asks every client to train, and each part leaves a file in
    ``marker`` when it runs (submitted through the Control API on the server machine, both files appear)."""
    (folder / "evil").mkdir(parents=True)
    (folder / "evil" / "__init__.py").write_text("")
    (folder / "evil" / "apps.py").write_text(EVIL_APP.format(marker=str(marker)))
    (folder / "pyproject.toml").write_text(
        '[project]\nname = "evilapp"\nversion = "1.0.0"\ndescription = "not fedjava"\nlicense = "Apache-2.0"\n'
        '\n[tool.flwr.app]\npublisher = "mallory"\n\n[tool.flwr.app.components]\nserverapp = "evil.apps:server"\n'
        'clientapp = "evil.apps:client"\n\n[tool.flwr.app.config]\n')
    return folder


def flwr(home: Path, address: str, ca: Path, *args: str) -> subprocess.CompletedProcess:
    """Flower's own CLI with a connection named ``target`` to ``address``, trusting ``ca`` (all a client holds)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(f'[superlink]\ndefault = "target"\n\n[superlink.target]\naddress = "{address}"\n'
                                      f'root-certificates = "{ca}"\n')
    env = dict(os.environ, FLWR_HOME=str(home), FLWR_TELEMETRY_ENABLED="0")
    return subprocess.run([tool("flwr"), *args], env=env, capture_output=True, text=True, timeout=180)


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


@pytest.mark.slow
def test_clients_reach_only_the_fleet_api_not_jobs_keys_or_runs(site, processes, tmp_path):
    port = free_port()
    processes.ports.append(port)
    ca = site / "certs" / "ca.crt"
    server = processes(tmp_path, "server", [
        "server", "--port", str(port), "--certs", str(site / "certs"), "--client-keys", str(site / "registered"),
        *overrides(site / "data", tmp_path / "results", "fedavg")])
    client = processes(tmp_path, "client1", [
        "client", "--client-id", "1", "--server", f"localhost:{port}", "--ca", str(ca),
        "--key", str(site / "keys" / "client1.key"), "--data", str(site / "data" / "client_1.json")])
    server.wait_for("reachable from this machine only")
    control = int(re.search(r"Control API \(.*\): 127\.0\.0\.1:(\d+)", server.text()).group(1))
    processes.ports.append(control)
    assert listening_hosts(control) == {"127.0.0.1"}  # no other machine can reach the Control API
    client.wait_for("joined the federation")
    public = f"localhost:{port}"  # everything a client holds: the address and ca.crt

    # Flower's CLI words a 403 in more than one way; the server's REFUSED lines below say what happened.
    # 1. list the runs
    listed = flwr(tmp_path / "attacker", public, ca, "ls", "target")
    assert listed.returncode != 0 and "fedjava-job" not in listed.stdout, listed
    # 2. register an extra key
    registered = flwr(tmp_path / "attacker", public, ca, "supernode", "register",
                      str(site / "keys" / "stranger.pub"), "target")
    assert registered.returncode != 0 and "registered successfully" not in registered.stdout, registered
    # 3. join with that key
    stranger = processes(tmp_path, "stranger", [
        "client", "--client-id", "0", "--server", public, "--ca", str(ca), "--key", str(site / "keys" / "stranger.key"),
        "--data", str(site / "data" / "client_0.json")])
    assert stranger.wait() == 2 and "stranger.key is not registered there" in stranger.text()
    # 4. submit another app, whose ServerApp would run on the server and ClientApp on client 1
    marker = tmp_path / "evil_ran"
    marker.mkdir()
    submitted = flwr(tmp_path / "attacker", public, ca, "run", str(evil_app(tmp_path / "evilapp", marker)), "target")
    assert submitted.returncode != 0, submitted

    text = server.text()
    for path in ("/v1/control/list-runs", "/v1/control/register-node", "/v1/control/start-run"):
        assert f"REFUSED POST {path} from 127.0.0.1: only the clients' Fleet API is served" in text, text
    assert "REFUSED a client: its public key is not registered" in text
    # the operator's view, from the server machine: fedjava's run alone, the two registered keys alone
    operator = tmp_path / "operator"
    runs = json.loads(flwr(operator, f"127.0.0.1:{control}", ca, "ls", "target", "--format", "json").stdout)
    assert [run["fab-id"] for run in runs["runs"]] == ["fedjava/fedjava-job"], runs
    nodes = json.loads(flwr(operator, f"127.0.0.1:{control}", ca, "supernode", "list", "target", "--format",
                            "json").stdout)
    assert len(nodes["nodes"]) == 2, nodes
    time.sleep(2)
    assert not list(marker.iterdir()), "the other app ran"
    assert "joined the federation" in client.text() and "Traceback" not in client.text()


# ---------------------------------------------------------------------- without Flower processes


def test_the_run_config_rebuilds_the_servers_exact_config(tmp_path):
    from fedjava.federated.common import config_from_run_config
    from fedjava.federated.deployment import run_config_overrides

    cfg = load_config(None, overrides(tmp_path / "my data", tmp_path / "res", "fedprox", "fedprox_mu=0.25",
                                      "lora_target_modules=q_proj,v_proj", "use_gradient_checkpointing=false",
                                      "round_timeout=33.5"), check_files=False)
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
        code = main(["client", "--client-id", "0", "--server", f"127.0.0.1:{port}", "--data", str(shard),
                     "--ca", str(tmp_path / "ca.crt")])
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
    from fedjava.javadata.split import run_split
    from fedjava.prompts import write_samples

    data = tmp_path / "data"
    write_samples(make_samples(4), data / "train.jsonl")
    write_samples(make_samples(2), data / "valid.jsonl")
    run_split(data, 2)
    base = ["server", "--port", str(free_port()), f"data_dir={data}", f"results_dir={tmp_path / 'res'}"]
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
        return Message(RecordDict({"arrays": weights, "metrics": MetricRecord({"num-examples": 2, "train_loss": 1.0}),
                                   "client": ConfigRecord({"client-id": client})}), reply_to=to)

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
        (2, 23, "no reply within round_timeout=30s")]


@pytest.mark.parametrize("command", ["server", "client", "certs"])
def test_the_distributed_commands_have_help_with_examples_and_load_nothing_heavy(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert f"usage: fedjava {command}" in out and "examples:" in out and f"fedjava {command} " in out
    code = (f"import sys; from fedjava.cli import main\ntry:\n main(['{command}', '--help'])\nexcept SystemExit: pass\n"
            "print(sorted(m for m in ('torch', 'flwr', 'transformers', 'cryptography') if m in sys.modules))")
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
    worker = threading.Thread(target=lambda: sent.extend(strategy.configure_train(2, weights, ConfigRecord(),
                                                                                  Grid([1, 3]))), daemon=True)
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


class Backend:
    """A stand-in SuperLink on 127.0.0.1 that records every request it gets and echoes the body's size."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        seen = self.seen = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                seen.append((self.path, dict(self.headers), body))
                reply = f"{len(body)} bytes".encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.port = self.httpd.server_address[1]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_the_gate_passes_the_fleet_api_and_nothing_else():
    import http.client

    from fedjava.federated.gate import FleetGate

    backend, refused = Backend(), []
    gate = FleetGate("127.0.0.1", 0, backend.port, None, None, lambda *args: refused.append(args))
    gate.start()
    port = gate.server.server_address[1]
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        big = os.urandom(3 * 1024 * 1024 + 7)  # streamed through in chunks, bit for bit
        for body in (b"\x08\x01", big):  # two requests on one kept-alive connection
            connection.request("POST", "/v1/fleet/push-object", body=body,
                               headers={"X-Flwr-Node-Signature": "c2ln", "Content-Type": "application/protobuf"})
            answer = connection.getresponse()
            assert (answer.status, answer.read()) == (200, f"{len(body)} bytes".encode())
        assert [(path, got) for path, _, got in backend.seen] == [("/v1/fleet/push-object", b"\x08\x01"),
                                                                  ("/v1/fleet/push-object", big)]
        assert backend.seen[0][1]["X-Flwr-Node-Signature"] == "c2ln"  # the node's signed headers pass unchanged

        for method, path in [("POST", "/v1/control/list-runs"), ("POST", "/v1/control/start-run"),
                             ("POST", "/v1/control/register-node"), ("POST", "/v1/runtime/acquire-task"),
                             ("POST", "/v1/fleet/../control/list-runs"), ("POST", "/v1/fleet/%2e%2e/control/list-runs"),
                             ("POST", "/v1/fleet//pull-messages"), ("POST", "/v1/fleet/pull-messages?x=1"),
                             ("GET", "/v1/fleet/pull-messages"), ("GET", "/docs"), ("GET", "/health")]:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request(method, path, body=b"x" if method == "POST" else None)
            answer = connection.getresponse()
            assert answer.status == 403 and b"only the clients' Fleet API" in answer.read(), path
            connection.close()
        assert len(backend.seen) == 2  # not one refused request reached the SuperLink
        assert [(m, p) for _, m, p in refused][:2] == [("POST", "/v1/control/list-runs"),
                                                        ("POST", "/v1/control/start-run")]
    finally:
        gate.stop()
        backend.close()
