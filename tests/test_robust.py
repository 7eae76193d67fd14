"""The table of aggregation methods and Flower's robust strategies: every consumer reads the table, a new method
is one entry, the robust maths by hand, the screening in front of them, and a poisoned client on a real model."""

from __future__ import annotations

import math

import numpy as np
import pytest
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict

import fault_injection as faults
from fedjava.aggregation import METHODS, Method, describe_method
from fedjava.config import ConfigError, load_config
from fedjava.federated.adapter_io import adapter_to_arrays, arrays_to_numpy
from fedjava.federated.strategies import FedJavaMixin, build_strategy
from test_federated_units import FakeGrid, arrays, as_np, reply, run_round, strategy_for, task_identity  # noqa: F401


def test_every_method_of_the_table_builds_its_flower_class_behind_the_screening():
    for name, method in METHODS.items():
        strategy = strategy_for(name, clients=7)
        assert isinstance(strategy, method.strategy_class()) and isinstance(strategy, FedJavaMixin), name
    assert {"fedmedian", "fedtrimmedavg", "krum", "multikrum", "bulyan"} <= set(METHODS)


def test_a_new_method_needs_only_its_table_entry(monkeypatch, capsys):
    from fedjava.cli import build_parser
    from fedjava.experiment import Experiment, check_experiment

    monkeypatch.setitem(
        METHODS, "trim10", Method("trim10", "FedTrimmedAvg", lambda cfg: {"beta": 0.1}, lambda cfg: "beta=0.1")
    )
    cfg = load_config(None, ["algorithm=trim10", "num_clients=10"], check_files=False)  # config validation
    args = build_parser().parse_args(["federate", "--algorithm", "trim10"])  # the CLI's choices
    assert args.algorithm == "trim10"
    check_experiment(Experiment(algorithms=["trim10"]))  # the experiment's checks
    assert describe_method(cfg) == "FedTrimmedAvg (beta=0.1)"  # the server's header
    strategy = build_strategy(cfg)  # the server's strategy
    assert type(strategy).__name__ == "FedJavaFedTrimmedAvg" and strategy.beta == 0.1
    values = [({"w": [float(i)]}, 1) for i in range(10)]  # 0..9: a 10% cut drops 0 and 9
    out, _ = run_round(strategy, 1, arrays(w=[0.0]), values)
    np.testing.assert_allclose(as_np(out)["w"], [4.5])
    monkeypatch.delitem(METHODS, "trim10")
    with pytest.raises(ConfigError, match="algorithm=trim10: must be one of fedavg, fedprox"):
        load_config(None, ["algorithm=trim10"], check_files=False)


def test_robust_aggregation_matches_hand_computation():
    values = [({"w": [1.0, 10.0]}, 1), ({"w": [2.0, 20.0]}, 5), ({"w": [3.0, 30.0]}, 1), ({"w": [100.0, -500.0]}, 1)]
    out, _ = run_round(strategy_for("fedmedian", clients=4), 1, arrays(w=[0.0, 0.0]), values)
    np.testing.assert_allclose(as_np(out)["w"], [2.5, 15.0])  # per coordinate, unweighted
    out, _ = run_round(
        strategy_for("fedtrimmedavg", "trimmed_avg_beta=0.25", clients=4), 1, arrays(w=[0.0, 0.0]), values
    )
    np.testing.assert_allclose(as_np(out)["w"], [2.5, 15.0])  # 0.25 of 4: one cut at each end, mean of the middle
    # Krum, f=1, five updates: each one's score is the sum of squared distances to its n-f-2 = 2 nearest others.
    # Along [1, 10]: 1, 2, 3.5, 6 and an outlier score 7.25, 3.25, 8.5, 22.25 (x 101): [2, 20] wins.
    five = [
        ({"w": [1.0, 10.0]}, 1),
        ({"w": [2.0, 20.0]}, 5),
        ({"w": [3.5, 35.0]}, 1),
        ({"w": [6.0, 60.0]}, 1),
        ({"w": [100.0, -500.0]}, 1),
    ]
    out, _ = run_round(strategy_for("krum", "num_malicious_clients=1", clients=5), 1, arrays(w=[0.0, 0.0]), five)
    np.testing.assert_allclose(as_np(out)["w"], [2.0, 20.0])
    # MultiKrum averages the 2 best scored ([2, 20] and [1, 10]), weighted by sample count.
    out, _ = run_round(
        strategy_for("multikrum", "num_malicious_clients=1", "multikrum_selected=2", clients=5),
        1,
        arrays(w=[0.0, 0.0]),
        five,
    )
    np.testing.assert_allclose(as_np(out)["w"], [(5 * 2 + 1) / 6, (5 * 20 + 10) / 6])


def test_bulyan_aggregates_with_4f_plus_3_updates_and_keeps_the_model_with_fewer():
    good = [({"w": [float(v)]}, 1) for v in (1, 2, 3, 4, 5, 6)]
    out, _ = run_round(
        strategy_for("bulyan", "num_malicious_clients=1", clients=7), 1, arrays(w=[0.0]), [*good, ({"w": [1000.0]}, 1)]
    )
    assert 2.0 <= as_np(out)["w"][0] <= 5.0  # the outlier never gets in
    strategy = strategy_for("bulyan", "num_malicious_clients=1", clients=7)
    sent = list(strategy.configure_train(1, arrays(w=[0.0]), ConfigRecord(), FakeGrid(range(7))))
    replies = [reply(m, {"w": [float(i)]}, 1, i) for i, m in enumerate(sent)]
    replies[0] = reply(sent[0], {"w": [float("nan")]}, 1, 0)  # screened out: 6 < 7 good updates
    out, _ = strategy.aggregate_train(1, replies)
    assert out is None and strategy.reports[1].kept_global and strategy.reports[1].rejected[0]["client"] == 0
    with pytest.raises(ConfigError, match="num_malicious_clients=1: bulyan needs num_clients >= "):
        load_config(None, ["algorithm=bulyan", "num_malicious_clients=1", "num_clients=6"], check_files=False)
    with pytest.raises(ConfigError, match="krum needs num_clients >= num_malicious_clients \\+ 3"):
        load_config(None, ["algorithm=krum", "num_malicious_clients=2", "num_clients=4"], check_files=False)


@pytest.mark.parametrize("algorithm", ["fedmedian", "krum", "fedtrimmedavg"])
def test_robust_methods_screen_non_finite_updates_like_the_others(algorithm):
    strategy = strategy_for(algorithm, clients=4)
    sent = list(strategy.configure_train(1, arrays(w=[0.0]), ConfigRecord(), FakeGrid([1, 2, 3, 4])))
    replies = [reply(sent[0], {"w": [float("inf")]}, 1, 0)] + [
        reply(m, {"w": [2.0]}, 1, i + 1) for i, m in enumerate(sent[1:])
    ]
    out, _ = strategy.aggregate_train(1, replies)
    np.testing.assert_allclose(as_np(out)["w"], [2.0])
    assert "non-finite" in strategy.reports[1].rejected[0]["reason"]


def test_fault_spec_knows_the_scaled_random_and_the_flipped_client():
    env = {faults.ENV: "client3:scaled@*,client1:flipped@2"}
    assert faults.wanted("client3", "scaled", 5, env) and not faults.wanted("client2", "scaled", 5, env)
    assert faults.wanted("client1", "flipped", 2, env) and not faults.wanted("client1", "flipped", 1, env)


def _distance(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    return math.sqrt(sum(float(((a[k].astype(np.float64) - b[k]) ** 2).sum()) for k in a))


def test_one_poisoned_client_of_four_moves_fedavg_far_but_not_median_or_krum(tiny_overrides, data_dir, monkeypatch):
    """Four real tiny-model clients train one round; client 3 sends a random update 50x its honest norm, or
    its own update sign-flipped and scaled 50x (a directed attack)."""
    from fedjava.dataset.split import run_split
    from fedjava.federated import client_app
    from fedjava.models import load_for_training

    faults.install()
    run_split(data_dir, 4)
    overrides = [*tiny_overrides, "num_clients=4", "num_malicious_clients=1", "num_epochs=2"]
    cfg = load_config(None, overrides, check_files=False)
    global_arrays = adapter_to_arrays(load_for_training(cfg)[0])
    start = arrays_to_numpy(global_arrays)

    def train(clients, faulty: str) -> list[Message]:
        monkeypatch.setenv(faults.ENV, faulty)
        out = []
        for client in clients:
            msg = Message(
                RecordDict({"arrays": global_arrays, "config": ConfigRecord({"server-round": 1, "local-epochs": 2.0})}),
                dst_node_id=10 + client,
                message_type=MessageType.TRAIN,
            )
            context = Context(
                run_id=1,
                node_id=10 + client,
                state=RecordDict(),
                run_config={},
                node_config={"partition-id": client, "num-partitions": 4},
            )
            out.append(client_app.local_train(msg, context, cfg.to_dict()))
        return out

    clean_replies = train(range(4), "")
    poisoned_replies = clean_replies[:3] + train([3], "client3:scaled@1")  # same seeds: the same honest updates
    flipped_replies = clean_replies[:3] + train([3], "client3:flipped@1")

    def aggregate(algorithm: str, replies: list[Message]) -> dict[str, np.ndarray]:
        strategy = build_strategy(load_config(None, [*overrides, f"algorithm={algorithm}"], check_files=False))
        sent = sorted(
            strategy.configure_train(1, global_arrays, ConfigRecord(), FakeGrid(range(10, 14))),
            key=lambda m: m.metadata.dst_node_id,
        )
        copies = [
            Message(RecordDict({**r.content, "arrays": ArrayRecord(dict(r.content["arrays"].items()))}), reply_to=m)
            for r, m in zip(replies, sent, strict=True)
        ]
        out, _ = strategy.aggregate_train(1, copies)
        assert strategy.reports[1].aggregated == 4
        return arrays_to_numpy(out)

    clean = aggregate("fedavg", clean_replies)
    step = _distance(clean, start)  # how far one clean round moves the adapter
    honest = arrays_to_numpy(clean_replies[3].content["arrays"])
    sent_back = arrays_to_numpy(poisoned_replies[3].content["arrays"])
    assert _distance(sent_back, start) == pytest.approx(50 * _distance(honest, start), rel=1e-3)
    far = {a: _distance(aggregate(a, poisoned_replies), clean) / step for a in ("fedavg", "fedmedian", "krum")}
    print("distance to the clean FedAvg model, in clean steps:", far)
    assert step > 0 and far["fedavg"] > 5, far  # a quarter of a 50x update: the model is thrown far off
    assert far["fedmedian"] < 1 and far["krum"] < 1.5, far  # within about one clean round of the clean model

    flipped = arrays_to_numpy(flipped_replies[3].content["arrays"])
    for name in start:  # exactly the honest update, turned around and made 50x longer
        np.testing.assert_allclose(
            flipped[name] - start[name], -50 * (honest[name] - start[name]), rtol=1e-4, atol=1e-6
        )
    far = {a: _distance(aggregate(a, flipped_replies), clean) / step for a in ("fedavg", "fedmedian", "krum")}
    print("flipped client: distance to the clean FedAvg model, in clean steps:", far)
    assert far["fedavg"] > 5, far
    assert far["fedmedian"] < 1 and far["krum"] < 1.5, far
