"""Distributed mode with real processes on 127.0.0.1: ``fedjava server`` (Flower SuperLink) and ``fedjava client``
(Flower SuperNodes) on the tiny model, over TLS with client authentication, against the simulation; the commands'
refusals, without processes. A client killed mid-round: test_distributed_faults.py; who may control the federation:
test_distributed_operator.py. Every process a test starts is ended by the test, with its descendants."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
import torch
from tests.conftest import federated_overrides, make_samples

from deployment import adapter, tls_client, tls_server
from fedjava.cli import main
from fedjava.config import load_config
from fedjava.federated.certs import make_client_keys, make_server_certificates
from fedjava.federated.flower_runtime import free_port


@pytest.mark.slow
def test_tls_run_with_client_auth_survives_a_server_crash_and_matches_the_simulation(site, processes, tmp_path):
    port = free_port()
    processes.ports.append(port)
    results = tmp_path / "distributed"
    server_args = tls_server(site, port, results, "fedadam")
    crashed = processes(tmp_path, "server", server_args)
    address = f"localhost:{port}"
    clients = [
        processes(
            tmp_path,
            f"client{i}",
            tls_client(site, i, address),
        )
        for i in (0, 1)
    ]
    stranger = processes(
        tmp_path,
        "stranger",
        tls_client(site, 1, address, key="stranger"),
    )
    wrong_ca = processes(
        tmp_path,
        "wrong_ca",
        tls_client(site, 0, address, ca=site / "other_ca" / "ca.crt"),
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

    cfg = load_config(None, federated_overrides(site / "data", tmp_path / "simulation", "fedadam"), check_files=False)
    run_federated(cfg, printer=lambda line: None)
    got, want = adapter(results / "fedadam"), adapter(tmp_path / "simulation" / "fedadam")
    assert got.keys() == want.keys() and len(got) > 0
    worst = max((got[k] - want[k]).abs().max().item() for k in got)
    print(f"distributed vs simulation final adapter: max abs difference {worst:.3g}")
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-4, atol=1e-6)
    assert any((want[k] != 0).any() for k in want)  # a trained adapter, not two zero tensors


def test_the_run_config_rebuilds_the_servers_exact_config(tmp_path):
    from fedjava.federated.common import config_from_run_config
    from fedjava.federated.deployment import run_config_overrides

    cfg = load_config(
        None,
        federated_overrides(
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
