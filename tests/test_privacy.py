"""Differential privacy through Flower's wrappers and mod: clipping bounds each update, the noise has the configured
scale, and epsilon grows with the rounds as dp-accounting says."""

from __future__ import annotations

import dp_accounting
import numpy as np
import pytest
from dp_accounting.rdp import RdpAccountant
from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict

from fedjava.config import ConfigError, load_config
from fedjava.federated.adapter_io import arrays_to_numpy, numpy_to_arrays
from fedjava.federated.privacy import dp_clipping_mod
from fedjava.federated.strategies import restore_server_state, server_state
from test_federated_units import FakeGrid, reply, strategy_for, task_identity  # noqa: F401


def _norm(values: dict[str, np.ndarray]) -> float:
    return float(np.sqrt(sum(float((v.astype(np.float64) ** 2).sum()) for v in values.values())))


def _round(strategy, glob: dict[str, np.ndarray], trained: list[dict[str, np.ndarray]], server_round: int = 1):
    sent = sorted(
        strategy.configure_train(server_round, numpy_to_arrays(glob), ConfigRecord(), FakeGrid(range(len(trained)))),
        key=lambda m: m.metadata.dst_node_id,
    )
    replies = [
        reply(m, numpy_to_arrays(v), 10 * (i + 1), i) for i, (m, v) in enumerate(zip(sent, trained, strict=True))
    ]
    out, _ = strategy.aggregate_train(server_round, replies)
    return sent, arrays_to_numpy(out)


def test_server_side_clipping_bounds_each_update_norm():
    strategy = strategy_for("fedavg", "dp_mode=server", "dp_clipping_norm=0.5", "dp_noise_multiplier=1e-9", clients=2)
    glob = {"a": np.zeros((4, 8), np.float32), "b": np.ones(8, np.float32)}
    rng = np.random.default_rng(0)
    big = [{k: v + 100 * rng.standard_normal(v.shape).astype(np.float32) for k, v in glob.items()} for _ in range(2)]
    _, out = _round(strategy, glob, big)
    update = {k: out[k] - glob[k] for k in glob}
    assert _norm(update) <= 0.5 + 1e-6  # the mean of two updates clipped to 0.5 (the noise is negligible here)
    assert _norm(update) > 0.25


def test_client_side_clipping_mod_bounds_the_update_it_sends_and_only_when_asked():
    glob = {"w": np.zeros(100, np.float32)}
    huge = {"w": np.full(100, 3.0, np.float32)}  # norm 30

    def train(msg, context):
        return Message(RecordDict({"arrays": numpy_to_arrays(huge), "metrics": ConfigRecord({})}), reply_to=msg)

    def message(config: dict) -> Message:
        return Message(
            RecordDict({"arrays": numpy_to_arrays(glob), "config": ConfigRecord(config)}),
            dst_node_id=1,
            message_type=MessageType.TRAIN,
        )

    context = Context(run_id=1, node_id=1, node_config={}, state=RecordDict(), run_config={})
    # The DP wrapper of dp_mode=client is what puts the norm in the config:
    strategy = strategy_for("fedavg", "dp_mode=client", "dp_clipping_norm=2.0", clients=2)
    sent = list(strategy.configure_train(1, numpy_to_arrays(glob), ConfigRecord(), FakeGrid([1, 2])))
    clipped = dp_clipping_mod(message(dict(sent[0].content["config"].items())), context, train)
    assert _norm(arrays_to_numpy(clipped.content["arrays"])) == pytest.approx(2.0, rel=1e-5)
    untouched = dp_clipping_mod(message({"server-round": 1}), context, train)
    assert _norm(arrays_to_numpy(untouched.content["arrays"])) == pytest.approx(30.0)


@pytest.mark.parametrize("mode", ["server", "client"])
def test_noise_on_the_mean_has_the_configured_scale(mode):
    z, clip, n = 1.3, 0.8, 4
    strategy = strategy_for(
        "fedavg", f"dp_mode={mode}", f"dp_noise_multiplier={z}", f"dp_clipping_norm={clip}", clients=n
    )
    glob = {"w": np.zeros((200, 200), np.float32)}
    same = {"w": np.full((200, 200), 1e-4, np.float32)}  # norm 0.02: never clipped; the clean mean is `same`
    _, out = _round(strategy, glob, [same] * n)
    noise = (out["w"] - same["w"]).astype(np.float64)
    assert noise.std() == pytest.approx(z * clip / n, rel=0.03)  # 40,000 draws: about 0.4 % sampling error
    # the mean of 40,000 draws has a standard error of sigma / 200: 5 of them (this failed 1 run in 20 at 2)
    assert abs(noise.mean()) < 5 * (z * clip / n) / 200


def _epsilon_by_hand(z: float, rounds: int, delta: float) -> float:
    accountant = RdpAccountant()
    accountant.compose(dp_accounting.GaussianDpEvent(z), rounds)
    return accountant.get_epsilon(delta)


def test_epsilon_grows_with_the_rounds_as_the_accountant_says():
    strategy = strategy_for("fedprox", "dp_mode=adaptive", "dp_noise_multiplier=1.5", "dp_delta=1e-5", clients=3)
    glob = {"w": np.zeros(16, np.float32)}
    spent = []
    for server_round in (1, 2, 3):
        _round(strategy, glob, [{"w": np.full(16, 0.01 * (i + 1), np.float32)} for i in range(3)], server_round)
        spent.append(strategy.reports[server_round].dp_epsilon)
    expected = [_epsilon_by_hand(1.5, k, 1e-5) for k in (1, 2, 3)]
    assert spent == pytest.approx(expected, rel=1e-9)
    assert spent[0] < spent[1] < spent[2]
    print("epsilon after rounds 1-3 (z=1.5, delta=1e-5):", [round(e, 3) for e in spent])
    # a round that aggregates nothing (every update rejected) spends nothing
    sent = list(strategy.configure_train(4, numpy_to_arrays(glob), ConfigRecord(), FakeGrid(range(3))))
    strategy.aggregate_train(4, [reply(m, {"w": [float("nan")] * 16}, 1, i) for i, m in enumerate(sent)])
    assert strategy.privacy.releases == 3 and strategy.privacy.epsilon() == pytest.approx(expected[-1])


def test_a_round_that_averages_fewer_updates_than_sampled_spends_more():
    """Noise sized for 4 updates on a mean of 2 (two were rejected): the round's multiplier is z x 2/4."""
    z, delta = 1.5, 1e-5
    strategy = strategy_for("fedavg", "dp_mode=server", f"dp_noise_multiplier={z}", f"dp_delta={delta}", clients=4)
    glob = {"w": np.zeros(16, np.float32)}
    _round(strategy, glob, [{"w": np.full(16, 0.01, np.float32)}] * 4, 1)
    assert strategy.reports[1].dp_noise_multiplier == z
    sent = list(strategy.configure_train(2, numpy_to_arrays(glob), ConfigRecord(), FakeGrid(range(4))))
    good = [reply(m, {"w": [0.01] * 16}, 1, i) for i, m in enumerate(sent[:2])]
    bad = [reply(m, {"w": [float("nan")] * 16}, 1, i + 2) for i, m in enumerate(sent[2:])]
    strategy.aggregate_train(2, good + bad)
    assert strategy.reports[2].aggregated == 2 and strategy.reports[2].dp_noise_multiplier == pytest.approx(z / 2)
    by_hand = RdpAccountant()
    by_hand.compose(dp_accounting.GaussianDpEvent(z), 1)
    by_hand.compose(dp_accounting.GaussianDpEvent(z / 2), 1)
    assert strategy.reports[2].dp_epsilon == pytest.approx(by_hand.get_epsilon(delta), rel=1e-9)
    assert strategy.reports[2].dp_epsilon > _epsilon_by_hand(z, 2, delta)  # more than two full rounds


def test_the_adaptive_clipping_norm_is_checkpointed_and_restored():
    args = ("dp_mode=adaptive", "dp_noise_multiplier=0.5", "dp_clipping_norm=1.0")
    strategy = strategy_for("fedavg", *args, clients=3)
    glob = {"w": np.zeros(16, np.float32)}
    for server_round in (1, 2):  # the norm follows a noisy count of the clipped updates: it moves
        _round(strategy, glob, [{"w": np.full(16, 1e-3, np.float32)}] * 3, server_round)
    moved = strategy.clipping_norm
    assert moved != 1.0
    state = server_state(strategy)
    assert state["dp/clipping_norm"].tolist() == [moved]
    resumed = strategy_for("fedavg", *args, clients=3)
    assert resumed.clipping_norm == 1.0
    restore_server_state(resumed, state, ["w"])
    assert resumed.clipping_norm == moved  # the resumed run clips where the interrupted one had got to
    assert "dp/clipping_norm" not in server_state(strategy_for("fedavg", "dp_mode=server", clients=3))


def test_dp_updates_are_averaged_with_equal_weights():
    strategy = strategy_for("fedavg", "dp_mode=server", "dp_noise_multiplier=1e-9", "dp_clipping_norm=10", clients=2)
    glob = {"w": np.zeros(2, np.float32)}
    _, out = _round(strategy, glob, [{"w": np.array([1.0, 0.0], np.float32)}, {"w": np.array([0.0, 1.0], np.float32)}])
    np.testing.assert_allclose(out["w"], [0.5, 0.5], atol=1e-6)  # sample counts 10 and 20 are ignored


def test_dp_keys_are_validated():
    with pytest.raises(ConfigError) as err:
        load_config(
            None, ["dp_mode=server", "algorithm=krum", "dp_noise_multiplier=0", "dp_delta=1"], check_files=False
        )
    text = str(err.value)
    assert "dp_mode=server needs an averaging algorithm (fedavg, fedprox)" in text
    assert "dp_noise_multiplier=0.0: must be > 0" in text and "dp_delta=1.0: must be in (0, 1)" in text
    with pytest.raises(ConfigError, match="cannot be combined with update_compression=int8"):
        load_config(None, ["dp_mode=client", "update_compression=int8"], check_files=False)


def test_flower_has_secagg_plus_only_for_the_legacy_api():
    """What docs/federated.md's SecAgg+ paragraph says: if Flower adds it to the Message API, this fails and it can be wired."""
    import flwr.clientapp as clientapp
    import flwr.clientapp.mod as client_mods
    import flwr.serverapp as serverapp
    import flwr.serverapp.strategy as strategies
    from flwr.server.workflow import SecAggPlusWorkflow

    names = dir(clientapp) + dir(client_mods) + dir(serverapp) + dir(strategies)
    assert not [n for n in names if "secagg" in n.lower()]
    context = Context(run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config={})
    with pytest.raises(TypeError, match="LegacyContext"):
        SecAggPlusWorkflow(num_shares=3, reconstruction_threshold=2)(None, context)


def test_the_report_states_the_privacy_spent(tmp_path):
    import json

    from fedjava.evaluation.compare import find_runs, table_rows

    for name, summary in (
        ("fedavg", {"bytes_sent": 10, "bytes_received": 10}),
        (
            "fedavg_dp",
            {"bytes_sent": 10, "bytes_received": 10, "dp_mode": "server", "dp_epsilon": 5.583, "dp_delta": 1e-5},
        ),
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name / "training_history.json").write_text(json.dumps({"rounds": [], "summary": summary}))
    rows = {row[0]: row[1:] for row in table_rows(find_runs(tmp_path))}
    assert rows["privacy spent (epsilon at delta)"] == ["-", "5.58 at 1e-05"]
