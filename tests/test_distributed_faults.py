"""A client killed mid-round, with real ``fedjava server`` and ``fedjava client`` processes on 127.0.0.1: the
round leaves it out and the job finishes."""

from __future__ import annotations

import json

import pytest
from tests.conftest import federated_overrides

import fault_injection
from fedjava.federated.flower_runtime import free_port


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
            *federated_overrides(site / "data", results, "fedavg", "round_timeout=45", "min_fit_clients=1"),
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
