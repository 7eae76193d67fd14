"""Federated learning without the simulation: aggregation maths against hand-computed numbers, fault
screening, server-state checkpoints, the adapter round trip, FedProx on a real client, device layout."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Error, Message, MessageType, MetricRecord, RecordDict

import fault_injection as faults
from fedjava.config import ConfigError, load_config
from fedjava.federated.adapter_io import (
    AdapterMismatchError,
    adapter_to_arrays,
    arrays_to_numpy,
    load_arrays_into,
)
from fedjava.federated.checkpoints import latest_checkpoint, resume_problems, run_identity, save_checkpoint
from fedjava.federated.common import (
    FederatedSetupError,
    check_federated_data,
    config_from_run_config,
    local_config,
    round_seed,
)
from fedjava.federated.devices import client_gpu_share, gpu_for_client, gpu_layout, pin_process_to_gpu
from fedjava.federated.strategies import build_strategy, restore_server_state, server_state

# ---------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def task_identity(monkeypatch):
    """Flower stamps new messages with the running task's identity; give the test process one."""
    from flwr.supercore.task_identity import TaskIdentity

    monkeypatch.setattr(TaskIdentity, "_run_id", 1)
    monkeypatch.setattr(TaskIdentity, "_node_id", 1)
    monkeypatch.setattr(TaskIdentity, "_task_id", 1)


class FakeGrid:
    def __init__(self, nodes):
        self.nodes = list(nodes)

    def get_node_ids(self):
        return self.nodes


def arrays(**values) -> ArrayRecord:
    return ArrayRecord({k: Array(np.asarray(v, dtype=np.float64)) for k, v in values.items()})


def reply(to: Message, values: dict, n: int, client: int, loss: float = 1.0) -> Message:
    content = RecordDict(
        {
            "arrays": arrays(**values) if not isinstance(values, ArrayRecord) else values,
            "metrics": MetricRecord({"num-examples": n, "train_loss": loss}),
            "client": ConfigRecord({"client-id": client}),
        }
    )
    return Message(content, reply_to=to)


def strategy_for(algorithm: str, *extra: str, clients: int = 2):
    cfg = load_config(None, [f"algorithm={algorithm}", f"num_clients={clients}", *extra], check_files=False)
    return build_strategy(cfg)


def run_round(strategy, server_round: int, global_arrays: ArrayRecord, client_values: list[tuple[dict, int]]):
    """configure_train, then one reply per sampled node with the given values and sample counts."""
    sent = list(
        strategy.configure_train(
            server_round, global_arrays, ConfigRecord(), FakeGrid(range(10, 10 + len(client_values)))
        )
    )
    sent.sort(key=lambda m: m.metadata.dst_node_id)
    replies = [reply(msg, values, n, i) for i, (msg, (values, n)) in enumerate(zip(sent, client_values, strict=True))]
    return strategy.aggregate_train(server_round, replies)


def as_np(record: ArrayRecord) -> dict[str, np.ndarray]:
    return arrays_to_numpy(record)


# ---------------------------------------------------------------------- aggregation maths


def test_fedavg_weights_updates_by_client_sample_count():
    strategy = strategy_for("fedavg")
    out, _ = run_round(strategy, 1, arrays(w=[0.0, 0.0]), [({"w": [1.0, 2.0]}, 1), ({"w": [5.0, 6.0]}, 3)])
    # (1 * [1, 2] + 3 * [5, 6]) / 4
    np.testing.assert_allclose(as_np(out)["w"], [4.0, 5.0], rtol=0, atol=1e-12)


def test_fedprox_sends_mu_to_clients_and_averages_like_fedavg():
    strategy = strategy_for("fedprox", "fedprox_mu=0.25")
    sent = list(strategy.configure_train(1, arrays(w=[0.0]), ConfigRecord(), FakeGrid([1, 2])))
    assert all(m.content["config"]["proximal-mu"] == 0.25 for m in sent)
    out, _ = strategy.aggregate_train(1, [reply(sent[0], {"w": [2.0]}, 1, 0), reply(sent[1], {"w": [8.0]}, 1, 1)])
    np.testing.assert_allclose(as_np(out)["w"], [5.0])


def _adam_by_hand(x0, rounds, eta, b1, b2, tau, yogi=False):
    """Server Adam/Yogi as written in Reddi et al. with Flower's bias-correction convention
    (round t uses powers t + 1; Yogi has none), one coordinate at a time, in plain floats."""
    x, m, v = list(x0), [0.0] * len(x0), [0.0] * len(x0)
    out = []
    for t, avg in enumerate(rounds, start=1):
        delta = [a - xi for a, xi in zip(avg, x, strict=True)]
        m = [b1 * mi + (1 - b1) * d for mi, d in zip(m, delta, strict=True)]
        if yogi:
            v = [
                vi - (1 - b2) * d * d * math.copysign(1.0, vi - d * d) if vi != d * d else vi
                for vi, d in zip(v, delta, strict=True)
            ]
            step = eta
        else:
            v = [b2 * vi + (1 - b2) * d * d for vi, d in zip(v, delta, strict=True)]
            step = eta * math.sqrt(1 - b2 ** (t + 1)) / (1 - b1 ** (t + 1))
        x = [xi + step * mi / (math.sqrt(vi) + tau) for xi, mi, vi in zip(x, m, v, strict=True)]
        out.append((list(x), list(m), list(v)))
    return out


@pytest.mark.parametrize("algorithm", ["fedadam", "fedyogi"])
def test_fedadam_and_fedyogi_moments_over_two_rounds_match_hand_computation(algorithm):
    eta, b1, b2, tau = 0.1, 0.9, 0.99, 1e-3
    strategy = strategy_for(
        algorithm,
        f"{algorithm}_eta={eta}",
        f"{algorithm}_beta1={b1}",
        f"{algorithm}_beta2={b2}",
        f"{algorithm}_tau={tau}",
    )
    x0 = [1.0, 2.0]
    # Round 1: clients send [2, 2] (1 sample) and [1, 6] (3 samples): the average is [1.25, 5.0].
    out1, _ = run_round(strategy, 1, arrays(w=x0), [({"w": [2.0, 2.0]}, 1), ({"w": [1.0, 6.0]}, 3)])
    x1 = as_np(out1)["w"]
    # Round 2: both clients send x1 + [0.5, -1.0] and x1 + [-0.1, 0.2] with equal weight.
    out2, _ = run_round(strategy, 2, out1, [({"w": x1 + [0.5, -1.0]}, 2), ({"w": x1 + [-0.1, 0.2]}, 2)])
    avg2 = list(x1 + [0.2, -0.4])
    expected = _adam_by_hand(x0, [[1.25, 5.0], avg2], eta, b1, b2, tau, yogi=algorithm == "fedyogi")
    # Round 1 by hand, written out: delta = [0.25, 3], m = [0.025, 0.3], v = 0.01 * delta^2.
    np.testing.assert_allclose(expected[0][1], [0.025, 0.3])
    np.testing.assert_allclose(expected[0][2], [0.000625, 0.09])
    np.testing.assert_allclose(x1, expected[0][0], rtol=1e-12)
    np.testing.assert_allclose(as_np(out2)["w"], expected[1][0], rtol=1e-12)
    np.testing.assert_allclose(strategy.m_t["w"], expected[1][1], rtol=1e-12)
    np.testing.assert_allclose(strategy.v_t["w"], expected[1][2], rtol=1e-12)


def test_fedavgm_momentum_over_two_rounds_matches_hand_computation():
    strategy = strategy_for("fedavgm", "fedavgm_server_learning_rate=0.5", "fedavgm_server_momentum=0.9")
    x0 = np.array([1.0, -1.0])
    out1, _ = run_round(strategy, 1, arrays(w=x0), [({"w": [3.0, -1.0]}, 1), ({"w": [1.0, 1.0]}, 1)])
    # average [2, 0]; pseudo-gradient g1 = x0 - avg = [-1, -1]; momentum = g1; x1 = x0 - 0.5 * g1 = [1.5, -0.5]
    np.testing.assert_allclose(as_np(out1)["w"], [1.5, -0.5])
    out2, _ = run_round(strategy, 2, out1, [({"w": [1.5, 0.5]}, 1), ({"w": [1.5, 0.5]}, 1)])
    # g2 = [1.5, -0.5] - [1.5, 0.5] = [0, -1]; momentum = 0.9 * [-1, -1] + [0, -1] = [-0.9, -1.9]
    # x2 = [1.5, -0.5] - 0.5 * [-0.9, -1.9] = [1.95, 0.45]
    np.testing.assert_allclose(as_np(out2)["w"], [1.95, 0.45])
    np.testing.assert_allclose(strategy.momentum_vector[0], [-0.9, -1.9])


def test_fedadam_casts_float32_adapters_back_to_float32():
    strategy = strategy_for("fedadam", clients=1)
    x0 = ArrayRecord({"w": Array(np.array([1.0, 2.0], dtype=np.float32))})
    sent = list(strategy.configure_train(1, x0, ConfigRecord(), FakeGrid([1])))
    update = ArrayRecord({"w": Array(np.array([1.5, 1.0], dtype=np.float32))})
    out, _ = strategy.aggregate_train(1, [reply(sent[0], update, 4, 0)])
    assert out["w"].numpy().dtype == np.float32
    # ... where Flower's own FedAdam returns float64 for the same replies (the reason for the cast):
    from flwr.serverapp.strategy import FedAdam

    plain = FedAdam(min_available_nodes=1, min_train_nodes=1, eta=strategy.eta, tau=strategy.tau)
    sent = list(plain.configure_train(1, x0, ConfigRecord(), FakeGrid([1])))
    raw, _ = plain.aggregate_train(1, [reply(sent[0], update, 4, 0)])
    assert raw["w"].numpy().dtype == np.float64
    np.testing.assert_allclose(out["w"].numpy(), raw["w"].numpy(), rtol=1e-6)


@pytest.mark.parametrize("algorithm", ["fedadam", "fedavgm", "fedadagrad"])
def test_saved_server_state_and_round_offset_continue_exactly(algorithm, tmp_path):
    rounds = [
        [({"a": [2.0, 2.0], "b": [0.5]}, 1), ({"a": [1.0, 6.0], "b": [1.5]}, 3)],
        [({"a": [1.0, 1.0], "b": [0.0]}, 2), ({"a": [3.0, 0.0], "b": [2.0]}, 1)],
    ]
    extra = ["fedavgm_server_momentum=0.5"] if algorithm == "fedavgm" else []
    straight = strategy_for(algorithm, *extra)
    x = arrays(a=[1.0, 2.0], b=[1.0])
    for r, values in enumerate(rounds, start=1):
        x, _ = run_round(straight, r, x, values)
    first = strategy_for(algorithm, *extra)
    x1, _ = run_round(first, 1, arrays(a=[1.0, 2.0], b=[1.0]), rounds[0])
    order = ["a", "b"]
    save_checkpoint(tmp_path, 1, as_np(x1), server_state(first), {"round": 1}, keep=2)
    saved = latest_checkpoint(tmp_path)
    cfg = load_config(None, [f"algorithm={algorithm}", *extra], check_files=False)
    resumed = build_strategy(cfg, round_offset=1)
    restore_server_state(resumed, saved.server_state, order)
    y, _ = run_round(resumed, 1, ArrayRecord({k: Array(saved.adapter[k]) for k in order}), rounds[1])
    for name in order:
        np.testing.assert_array_equal(as_np(y)[name], as_np(x)[name])


# ---------------------------------------------------------------------- faults in replies


def test_failed_and_non_finite_replies_are_left_out_and_reported():
    strategy = strategy_for("fedavg", clients=4)
    sent = list(strategy.configure_train(1, arrays(w=[0.0, 0.0]), ConfigRecord(), FakeGrid([1, 2, 3, 4])))
    replies = [
        Message(Error(code=0, reason="client 0: OutOfMemoryError: CUDA out of memory"), reply_to=sent[0]),
        reply(sent[1], {"w": [float("nan"), 1.0]}, 5, 1),
        reply(sent[2], {"w": [2.0, 2.0]}, 1, 2),
        reply(sent[3], {"w": [4.0, 8.0]}, 1, 3),
    ]
    out, _ = strategy.aggregate_train(1, replies)
    np.testing.assert_allclose(as_np(out)["w"], [3.0, 5.0])  # only clients 2 and 3, equal weights
    report = strategy.reports[1]
    assert [e["client"] for e in report.clients] == [2, 3] and report.aggregated == 2
    assert "OutOfMemoryError" in report.failed[0]["reason"]
    assert report.rejected[0]["client"] == 1 and "non-finite" in report.rejected[0]["reason"]
    assert report.clients[0]["bytes_sent"] > 0 and report.clients[0]["bytes_received"] > 0


def test_wrong_tensors_are_rejected_and_too_few_good_updates_keep_the_global_model():
    strategy = strategy_for("fedadam", "min_fit_clients=2", clients=3)
    sent = list(strategy.configure_train(1, arrays(w=[0.0, 0.0]), ConfigRecord(), FakeGrid([1, 2, 3])))
    replies = [
        reply(sent[0], {"w": [1.0, 1.0]}, 1, 0),
        reply(sent[1], {"other": [1.0, 1.0]}, 1, 1),
        reply(sent[2], {"w": [1.0, 1.0, 1.0]}, 1, 2),
    ]
    out, metrics = strategy.aggregate_train(1, replies)
    assert out is None and metrics is None  # Flower's loop keeps the current global arrays
    report = strategy.reports[1]
    assert report.kept_global and report.aggregated == 0
    reasons = {e["client"]: e["reason"] for e in report.rejected}
    assert "differ from those sent" in reasons[1] and "wrong shape" in reasons[2]
    assert not strategy.m_t  # the server optimizer did not step


# ---------------------------------------------------------------------- adapter round trip


def _tiny(overrides, *extra):
    from fedjava.models import load_for_training

    cfg = load_config(None, [*overrides, *extra], check_files=False)
    return load_for_training(cfg)[0]


def test_adapter_round_trip_sends_only_lora_tensors_bit_exact(tiny_overrides):
    model = _tiny(tiny_overrides)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_()  # B starts at zero; make every tensor carry information
    record = adapter_to_arrays(model)
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert list(record.keys()) == list(trainable)
    assert all("lora_A" in n or "lora_B" in n for n in record.keys())
    assert sum(a.numpy().size for a in record.values()) < sum(p.numel() for p in model.parameters()) / 5
    other = _tiny(tiny_overrides, "seed=7")
    load_arrays_into(other, record)
    for name, p in other.named_parameters():
        if p.requires_grad:
            assert p.dtype == torch.float32 and torch.equal(p, trainable[name]), name
    with pytest.raises(AdapterMismatchError, match="lora_r"):
        load_arrays_into(_tiny(tiny_overrides, "lora_target_modules=q_proj"), record)


def test_bfloat16_adapter_survives_the_round_trip_in_its_own_dtype(tiny_overrides):
    model = _tiny(tiny_overrides).to(torch.bfloat16)
    record = adapter_to_arrays(model)
    assert all(a.numpy().dtype == np.float32 for a in record.values())
    other = _tiny(tiny_overrides, "seed=3").to(torch.bfloat16)
    load_arrays_into(other, record)
    before = dict(model.named_parameters())
    for name, p in other.named_parameters():
        if p.requires_grad:
            assert p.dtype == torch.bfloat16 and torch.equal(p, before[name])


# ---------------------------------------------------------------------- FedProx on a real client


def _train_message(arrays_record: ArrayRecord, server_round: int, mu: float) -> Message:
    config = ConfigRecord({"server-round": server_round, "local-epochs": 4.0, "proximal-mu": mu})
    return Message(
        RecordDict({"arrays": arrays_record, "config": config}), dst_node_id=5, message_type=MessageType.TRAIN
    )


def test_fedprox_large_mu_keeps_the_client_update_closer_to_the_global_weights(tiny_overrides, data_dir):
    from fedjava.dataset.split import run_split
    from fedjava.federated.client_app import local_train

    run_split(data_dir, 2)
    cfg = load_config(None, [*tiny_overrides, "num_clients=2", "learning_rate=5e-2"], check_files=False)
    global_arrays = adapter_to_arrays(_tiny(tiny_overrides))
    context = Context(
        run_id=1, node_id=5, node_config={"partition-id": 0, "num-partitions": 2}, state=RecordDict(), run_config={}
    )
    start = as_np(global_arrays)

    def distance(mu):
        out = local_train(_train_message(global_arrays, 1, mu), context, cfg.to_dict())
        assert out.content["metrics"]["num-examples"] == 4
        new = as_np(out.content["arrays"])
        return math.sqrt(sum(float(((new[k] - start[k]) ** 2).sum()) for k in start))

    free, held = distance(0.0), distance(50.0)
    assert free > 0 and held < 0.5 * free, (free, held)
    assert distance(0.0) == pytest.approx(free, rel=1e-6)  # same data and seed: the same update


def test_client_seed_depends_on_seed_round_and_client_only():
    assert round_seed(42, 3, 1) == round_seed(42, 3, 1)
    assert len({round_seed(42, r, c) for r in range(1, 4) for c in range(4)}) == 12
    assert round_seed(43, 3, 1) != round_seed(42, 3, 1)
    cfg = load_config(None, [], check_files=False)
    local = local_config(cfg, 2, 1)
    assert local.seed == round_seed(cfg.seed, 2, 1) and local.save_strategy == "no" and cfg.seed == 42


# ---------------------------------------------------------------------- devices, faults, config


def test_clients_are_spread_over_gpus_in_contiguous_blocks():
    assert [gpu_for_client(c, 4, 2) for c in range(4)] == [0, 0, 1, 1]
    assert gpu_layout(4, 2) == [[0, 1], [2, 3]]
    assert gpu_layout(3, 2) == [[0, 1], [2]] and gpu_layout(2, 4) == [[0], [1]]
    assert gpu_layout(8, 3) == [[0, 1, 2], [3, 4, 5], [6, 7]]
    assert gpu_for_client(1, 4, 0) is None and gpu_layout(4, 0) == []
    assert client_gpu_share(4, 2) == 0.5 and client_gpu_share(3, 2) == 0.5 and client_gpu_share(2, 4) == 1.0
    assert client_gpu_share(8, 3) == pytest.approx(1 / 3) and client_gpu_share(4, 0) == 0.0
    assert client_gpu_share(4, 2, requested=0.25) == 0.25
    env = {}
    assert pin_process_to_gpu(3, 4, 2, env) == "1" and env == {"CUDA_VISIBLE_DEVICES": "1"}
    assert pin_process_to_gpu(0, 4, 2, env) is None  # already chosen: left alone
    with pytest.raises(ValueError):
        gpu_for_client(4, 4, 2)


def test_simulation_resources_follow_the_gpu_layout():
    from fedjava.federated.simulation import backend_config

    cfg = load_config(None, ["num_clients=4", "client_num_cpus=2"], check_files=False)
    conf = backend_config(cfg, cpus=16, gpus=2)
    assert conf["client_resources"] == {"num_cpus": 2.0, "num_gpus": 0.5}
    assert conf["init_args"]["num_gpus"] == 2 and conf["init_args"]["num_cpus"] == 16
    assert backend_config(cfg, cpus=1, gpus=0)["init_args"]["num_cpus"] == 2.0  # one client always fits


def test_fault_injection_spec():
    env = {faults.ENV: "client0:raise@1, client1:nan@*,server:kill@2"}
    assert faults.wanted("client0", "raise", 1, env) and not faults.wanted("client0", "raise", 2, env)
    assert faults.wanted("client1", "nan", 7, env) and faults.wanted("server", "kill", 2, env)
    assert not faults.wanted("client2", "raise", 1, env) and not faults.wanted("client0", "raise", 1, {})
    with pytest.raises(ValueError, match="cannot read 'client0:kill@1'"):
        faults.parse("client0:kill@1")


def test_federated_keys_are_validated_together():
    with pytest.raises(ConfigError) as info:
        load_config(
            None,
            [
                "algorithm=fedsgd",
                "num_clients=0",
                "fedprox_mu=-1",
                "fedadam_beta1=1",
                "fraction_fit=0",
                "client_num_cpus=0",
            ],
            check_files=False,
        )
    text = "\n".join(info.value.problems)
    for expected in (
        "algorithm=fedsgd: must be one of fedavg, fedprox, fedadam",
        "num_clients=0: must be in 1..64",
        "fedprox_mu=-1.0: must be >= 0",
        "fedadam_beta1=1.0: must be in [0, 1)",
        "fraction_fit=0.0: must be in (0, 1]",
        "client_num_cpus=0.0: must be > 0",
    ):
        assert expected in text
    with pytest.raises(ConfigError, match="min_fit_clients=3: must be <= num_clients=2"):
        load_config(None, ["min_fit_clients=3"], check_files=False)


def test_flower_run_config_maps_onto_fedjava_keys():
    cfg, resume = config_from_run_config(
        {
            "preset": "tiny_smoke",
            "algorithm": "fedprox",
            "num-clients": 4,
            "local-epochs": 1.5,
            "resume": True,
            "overrides": "fedprox_mu=0.1 lora_r=4",
        }
    )
    assert (cfg.algorithm, cfg.num_clients, cfg.local_epochs, cfg.fedprox_mu, cfg.lora_r) == ("fedprox", 4, 1.5, 0.1, 4)
    assert cfg.model_name == "builtin:tiny-qwen3" and resume is True  # from the preset
    with pytest.raises(ConfigError, match="unknown key 'lerning_rate'"):
        config_from_run_config({"overrides": "lerning_rate=1"})


def test_missing_or_stale_shards_name_the_split_command(tiny_overrides, data_dir, capsys):
    from fedjava.cli import main
    from fedjava.dataset.split import run_split

    cfg = load_config(None, [*tiny_overrides, "num_clients=3"], check_files=False)
    with pytest.raises(FederatedSetupError, match=f"fedjava data split --clients 3 --data-dir {data_dir}"):
        check_federated_data(cfg)
    run_split(data_dir, 2)
    assert main(["federate", "--clients", "3", *tiny_overrides]) == 2
    err = capsys.readouterr().err
    assert "made for 2 client(s), not 3" in err and "fedjava data split --clients 3" in err and "Traceback" not in err


def test_checkpoints_are_pruned_and_a_different_run_cannot_resume(tmp_path):
    cfg = load_config(None, ["algorithm=fedadam"], check_files=False)
    for r in (1, 2, 3):
        save_checkpoint(
            tmp_path,
            r,
            {"w": np.full(2, r, dtype=np.float32)},
            {"m_t/w": np.zeros(2)},
            {"round": r, "identity": run_identity(cfg)},
            keep=2,
        )
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["round_002", "round_003"]
    last = latest_checkpoint(tmp_path)
    assert last.round == 3 and last.adapter["w"].dtype == np.float32 and last.adapter["w"][0] == 3
    assert resume_problems(last, cfg) == []
    other = load_config(None, ["algorithm=fedavg", "lora_r=8"], check_files=False)
    problems = "; ".join(resume_problems(last, other))
    assert "algorithm: the checkpoint has 'fedadam'" in problems and "lora_r" in problems


def test_federate_command_help_and_scripts_refuse_what_they_cannot_run(capsys):
    import subprocess
    from pathlib import Path

    from fedjava.cli import main

    with pytest.raises(SystemExit) as info:
        main(["federate", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    from fedjava.aggregation import method_names

    shown = " ".join(out.split())  # argparse wraps the long list of choices
    assert "--algorithm {" + ",".join(method_names()) + "}" in shown.replace(", ", ",") and "--resume" in out
    scripts = Path(__file__).resolve().parents[1] / "scripts"
    # the distributed modes reach fedjava server / fedjava client (test_distributed.py runs them for real)
    server = subprocess.run(
        ["bash", str(scripts / "run_federated_fedadam.sh"), "--mode", "server", "data_dir=/nonexistent/fedjava-data"],
        capture_output=True,
        text=True,
    )
    assert server.returncode == 2 and "/nonexistent/fedjava-data/valid.json not found" in server.stderr
    client = subprocess.run(
        [
            "bash",
            str(scripts / "run_federated_fedadam.sh"),
            "--mode",
            "client",
            "--client-id",
            "0",
            "--data",
            "/nonexistent/client_0.json",
        ],
        capture_output=True,
        text=True,
    )
    assert client.returncode == 2 and "client 0: data file /nonexistent/client_0.json not found" in client.stderr
    bogus = subprocess.run(
        ["bash", str(scripts / "run_federated_fedadam.sh"), "--mode", "bogus"], capture_output=True, text=True
    )
    assert bogus.returncode == 2 and "unknown --mode 'bogus'" in bogus.stderr
    other = subprocess.run(
        ["bash", str(scripts / "run_federated_fedavg.sh"), "--algorithm", "fedyogi"], capture_output=True, text=True
    )
    assert other.returncode == 2 and "runs fedavg or fedprox" in other.stderr


def test_pruning_never_removes_the_checkpoint_just_saved(tmp_path):
    # An old 5-round run's newest checkpoints are there; a new run saves its round 1 (keep 2), then round 2.
    for r in (4, 5):
        save_checkpoint(tmp_path, r, {"w": np.zeros(2, dtype=np.float32)}, {}, {"round": r}, keep=2)
    save_checkpoint(tmp_path, 1, {"w": np.ones(2, dtype=np.float32)}, {}, {"round": 1}, keep=2)
    # the old run's later rounds go (a --resume would continue them), this run's round 1 stays
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["round_001"]
    save_checkpoint(tmp_path, 2, {"w": np.ones(2, dtype=np.float32)}, {}, {"round": 2}, keep=1)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["round_002"]
    assert latest_checkpoint(tmp_path).round == 2


def test_resume_needs_a_checkpoint_and_a_whole_one(tiny_overrides, tmp_path):
    from fedjava.federated.checkpoints import resume_checkpoint
    from fedjava.runs import RunFolderError

    cfg = load_config(None, [*tiny_overrides, "algorithm=fedadam"], check_files=False)
    out = tmp_path / "results" / "fedadam"
    with pytest.raises(FederatedSetupError, match="--resume: no round checkpoint in .*nothing to continue"):
        resume_checkpoint(cfg)
    save_checkpoint(
        out, 1, {"w": np.ones(2, dtype=np.float32)}, {}, {"round": 1, "identity": run_identity(cfg)}, keep=2
    )
    assert resume_checkpoint(cfg).round == 1
    other = load_config(None, [*tiny_overrides, "algorithm=fedadam", "lora_alpha=8"], check_files=False)
    with pytest.raises(RunFolderError, match="lora_alpha: the checkpoint has 16, this run 8"):
        resume_checkpoint(other)
    (out / "checkpoints" / "round_002").mkdir()
    (out / "checkpoints" / "round_002" / "state.json").write_text("")
    with pytest.raises(FederatedSetupError, match="the newest checkpoint .*round_002 is damaged or empty"):
        resume_checkpoint(cfg)


def test_federate_keeps_a_folder_holding_another_run_unless_asked(tiny_overrides, data_dir, tmp_path, capsys):
    from fedjava.cli import main
    from fedjava.dataset.split import run_split

    run_split(data_dir, 2)
    out = tmp_path / "results" / "fedavg"
    assert main(["federate", "--resume", *tiny_overrides]) == 2  # nothing to continue: said before Ray starts
    assert "--resume: no round checkpoint in" in capsys.readouterr().err
    save_checkpoint(out, 5, {"w": np.ones(2, dtype=np.float32)}, {}, {"round": 5}, keep=2)
    (out / "final_model").mkdir()
    assert main(["federate", "--rounds", "1", *tiny_overrides]) == 2  # refused before Ray starts
    err = capsys.readouterr().err
    assert f"{out} holds another run (final_model, checkpoints)" in err and "Traceback" not in err
    assert (out / "checkpoints" / "round_005").is_dir() and (out / "final_model").is_dir()
    from fedjava.federated.checkpoints import prepare_output_dir

    cfg = load_config(None, tiny_overrides, check_files=False)
    prepare_output_dir(cfg, resume=False, overwrite=True)  # what fedjava federate --overwrite does first
    assert list(out.iterdir()) == []
