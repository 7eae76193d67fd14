"""Client drift: each update's cosine to the round's sample-weighted mean update, against numbers computed by hand,
and in the server's round report."""

from __future__ import annotations

import math

import numpy as np
import pytest
from flwr.app import ConfigRecord

from fedjava.federated.drift import client_drift
from test_federated_units import FakeGrid, arrays, reply, strategy_for, task_identity  # noqa: F401


def test_cosine_to_the_weighted_mean_matches_hand_computation():
    # u1 = (1, 0) with 1 sample, u2 = (0, 1) with 3: mean = (0.25, 0.75), |mean| = sqrt(0.625)
    # cos1 = 0.25 / sqrt(0.625) = 1/sqrt(10), cos2 = 0.75 / sqrt(0.625) = 3/sqrt(10)
    out = client_drift([{"w": np.array([1.0, 0.0])}, {"w": np.array([0.0, 1.0])}], [1, 3])
    assert out[0]["update_cosine"] == pytest.approx(1 / math.sqrt(10), abs=1e-12)
    assert out[1]["update_cosine"] == pytest.approx(3 / math.sqrt(10), abs=1e-12)
    assert [d["update_norm"] for d in out] == [1.0, 1.0]
    # the tensors count as one vector: the same numbers split over two tensors (in any name order) give the same
    split = client_drift(
        [{"b": np.array([0.0]), "a": np.array([[1.0]])}, {"a": np.array([[0.0]]), "b": np.array([1.0])}], [1, 3]
    )
    assert [d["update_cosine"] for d in split] == pytest.approx([1 / math.sqrt(10), 3 / math.sqrt(10)], abs=1e-12)
    # (3, 4) against (-3, -4) with equal weights: the mean is zero, so there is no direction to compare
    cancel = client_drift([{"w": np.array([3.0, 4.0])}, {"w": np.array([-3.0, -4.0])}], [2, 2])
    assert [d["update_cosine"] for d in cancel] == [None, None] and cancel[0]["update_norm"] == 5.0
    # (2, 0) with 1 sample against (-1, 1) with 1: mean (0.5, 0.5); cos = 1/sqrt(2) and 0
    opposed = client_drift([{"w": np.array([2.0, 0.0], np.float32)}, {"w": np.array([-1.0, 1.0], np.float32)}], [1, 1])
    assert [d["update_cosine"] for d in opposed] == pytest.approx([1 / math.sqrt(2), 0.0], abs=1e-7)
    # one client: it is the mean
    assert client_drift([{"w": np.array([0.3, -2.0])}], [5])[0]["update_cosine"] == pytest.approx(1.0)


def test_drift_refuses_what_it_cannot_compare():
    with pytest.raises(ValueError, match="as many"):
        client_drift([{"w": np.ones(2)}], [1, 2])
    with pytest.raises(ValueError, match="not above 0"):
        client_drift([{"w": np.ones(2)}], [0])
    with pytest.raises(ValueError, match="same tensors"):
        client_drift([{"w": np.ones(2)}, {"v": np.ones(2)}], [1, 1])


@pytest.mark.parametrize("algorithm", ["fedavg", "fedmedian"])
def test_each_clients_drift_is_in_the_round_report(algorithm):
    strategy = strategy_for(algorithm, clients=3)
    sent = sorted(
        strategy.configure_train(1, arrays(w=[1.0, 1.0]), ConfigRecord(), FakeGrid([7, 8, 9])),
        key=lambda m: m.metadata.dst_node_id,
    )
    # updates (1, 0) x1 sample, (0, 1) x3 samples; the third reply is NaN and left out of the mean
    replies = [
        reply(sent[0], {"w": [2.0, 1.0]}, 1, 0),
        reply(sent[1], {"w": [1.0, 2.0]}, 3, 1),
        reply(sent[2], {"w": [float("nan"), 1.0]}, 2, 2),
    ]
    strategy.aggregate_train(1, replies)
    report = strategy.reports[1]
    cosines = {e["client"]: e["update_cosine"] for e in report.clients}
    assert cosines == pytest.approx({0: 1 / math.sqrt(10), 1: 3 / math.sqrt(10)}, abs=1e-12)
    assert all(e["update_norm"] == pytest.approx(1.0) for e in report.clients)
    assert "update_cosine" not in report.rejected[0]
