"""Compressed updates: the int8 error bound and size, top-k error feedback, the server decoding what clients send,
and a real client compressing its update with its residual kept in Flower's Context.state."""

from __future__ import annotations

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Error, Message, MessageType, RecordDict

from fedjava.config import ConfigError, load_config
from fedjava.federated.adapter_io import adapter_to_arrays, arrays_nbytes, arrays_to_numpy, numpy_to_arrays
from fedjava.federated.compression import (
    RESIDUAL_KEY,
    client_encode,
    decode_update,
    encode_update,
    int8_decode,
    int8_encode,
    topk_decode,
)
from fedjava.federated.downlink import (
    BASE_KEY,
    DIGEST_KEY,
    HELD_KEY,
    DownlinkCopies,
    adapter_digest,
    apply_delta,
    client_copy,
)
from test_federated_units import FakeGrid, reply, strategy_for, task_identity  # noqa: F401

# The built-in model's LoRA shapes at r=16 (hidden 640): A is rank x in, B is out x rank.
GEMMA_SHAPES = {"q.lora_A": (16, 640), "q.lora_B": (1024, 16), "down.lora_A": (16, 2048), "down.lora_B": (640, 16)}


def _lora(seed: int = 0, shapes=GEMMA_SHAPES) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        k: (rng.standard_normal(s) * rng.uniform(0.001, 0.1, size=(s[0], 1))).astype(np.float32)
        for k, s in shapes.items()
    }


def test_int8_round_trip_error_is_within_half_a_step_of_its_rank_row():
    for name, value in _lora().items():
        decoded = int8_decode(int8_encode(value), value.shape)
        # each slice along the rank axis has its own scale max|slice| / 127: the error is at most half of it
        axis = 1 if value.shape[0] <= value.shape[1] else 0
        step = np.abs(value).max(axis=axis, keepdims=True) / 127
        assert np.all(np.abs(decoded - value) <= step / 2 + 1e-7), name
        assert np.abs(decoded - value).max() > 0  # it is lossy: the bound above is what is tested
    assert np.array_equal(int8_decode(int8_encode(np.zeros((4, 8))), (4, 8)), np.zeros((4, 8)))


def test_int8_and_topk_update_bytes_on_the_wire_against_fp32():
    update = _lora(1)
    fp32 = arrays_nbytes(numpy_to_arrays(update))
    int8 = arrays_nbytes(numpy_to_arrays(encode_update(update, "int8")[0]))
    fp16 = arrays_nbytes(numpy_to_arrays(encode_update(update, "fp16")[0]))
    topk = arrays_nbytes(numpy_to_arrays(encode_update(update, "topk", 0.1)[0]))
    print(f"bytes vs fp32: int8 {int8 / fp32:.4f}, fp16 {fp16 / fp32:.4f}, topk 10% {topk / fp32:.4f}")
    assert int8 <= 0.26 * fp32 and fp16 <= 0.51 * fp32 and topk <= 0.21 * fp32


def test_topk_error_feedback_carries_what_was_left_out_into_the_next_round():
    shapes = {"w": (4, 25)}
    rng = np.random.default_rng(3)
    updates = [{"w": rng.standard_normal((4, 25)).astype(np.float32)} for _ in range(5)]
    residual: dict[str, np.ndarray] = {}
    sent_total = np.zeros((4, 25), np.float32)
    for i, update in enumerate(updates):
        before = residual.get("w", 0.0)
        encoded, residual = encode_update(update, "topk", 0.1, residual)
        sent = decode_update(encoded, shapes, "topk")["w"]
        assert np.count_nonzero(sent) == 10
        # what is sent plus what is kept back is this round's update plus last round's residual, exactly
        np.testing.assert_allclose(sent + residual["w"], update["w"] + before, rtol=0, atol=1e-6)
        sent_total += sent
        if i == 0:
            assert np.abs(residual["w"]).sum() > 0
    # nothing is lost: everything sent plus the residual is the sum of the updates
    np.testing.assert_allclose(sent_total + residual["w"], sum(u["w"] for u in updates), atol=1e-5)
    # a small value left out of round 1 reaches the server once its residual has grown
    small = {"w": np.array([[1.0, 0.6]], np.float32)}
    first, left = encode_update(small, "topk", 0.5)
    second, _ = encode_update(small, "topk", 0.5, left)
    np.testing.assert_allclose(topk_decode(first["w"], (1, 2)), [[1.0, 0.0]])
    np.testing.assert_allclose(topk_decode(second["w"], (1, 2)), [[0.0, 1.2]])  # two rounds of 0.6 at once


@pytest.mark.parametrize("mode", ["fp16", "int8", "topk"])
def test_the_server_decodes_compressed_updates_before_screening_and_aggregating(mode):
    strategy = strategy_for("fedavg", f"update_compression={mode}", "topk_fraction=1.0", clients=3)
    glob = _lora(5)  # the built-in model's LoRA shapes: bytes as on the wire
    sent = list(strategy.configure_train(1, numpy_to_arrays(glob), ConfigRecord(), FakeGrid([1, 2, 3])))
    assert sent[0].content["config"]["update-compression"] == mode
    # fp16 and int8: the global adapter goes down encoded too (round 1: the delta against zero, i.e. all of it), and
    # the clients start from the decoded copy
    down = arrays_to_numpy(sent[0].content["arrays"])
    shapes = {k: v.shape for k, v in glob.items()}
    start = apply_delta(None, down, shapes, mode) if mode != "topk" else glob
    assert sent[0].content["config"].get("global-compression", "none") == ("none" if mode == "topk" else mode)
    if mode != "topk":
        assert sent[0].content["config"][BASE_KEY] == "" and sent[0].content["config"][DIGEST_KEY] == adapter_digest(
            start
        )
    fp32 = arrays_nbytes(numpy_to_arrays(glob))
    assert arrays_nbytes(sent[0].content["arrays"]) <= {"fp16": 0.51, "int8": 0.26, "topk": 1.0}[mode] * fp32
    trained = [_lora(10 + i) for i in range(2)]
    replies = []
    for i, values in enumerate(trained):
        encoded = client_encode(start, values, mode, 1.0, RecordDict())
        msg = reply(sent[i], numpy_to_arrays(encoded), 1, i)
        msg.content["client"]["update-compression"] = mode
        replies.append(msg)
    bad = reply(sent[2], ArrayRecord({k: Array(np.zeros(3, np.uint8)) for k in glob}), 1, 2)
    bad.content["client"]["update-compression"] = mode
    out, _ = strategy.aggregate_train(1, [*replies, bad])
    # the clients' updates are added to the server's own float32 adapter, not to the rounded copy they started from
    expected = {k: glob[k] + (trained[0][k] + trained[1][k]) / 2 - start[k] for k in glob}
    tolerance = {"fp16": 5e-4, "int8": 2e-3, "topk": 1e-6}[mode]
    for k, v in arrays_to_numpy(out).items():
        assert v.dtype == np.float32
        np.testing.assert_allclose(v, expected[k], atol=tolerance)
    if mode == "int8":  # closer to the float32 global + updates than to the rounded copy + updates
        got = arrays_to_numpy(out)
        on_copy = {k: (trained[0][k] + trained[1][k]) / 2 for k in glob}
        assert sum(np.abs(got[k] - expected[k]).sum() for k in glob) < sum(
            np.abs(got[k] - on_copy[k]).sum() for k in glob
        )
    report = strategy.reports[1]
    assert report.aggregated == 2 and "cannot be decoded" in report.rejected[0]["reason"]
    assert report.clients[0]["bytes_sent"] == arrays_nbytes(sent[0].content["arrays"])
    if mode != "topk":  # topk_fraction=1 here (exact aggregate): index + value pairs are twice the bytes
        assert report.clients[0]["bytes_received"] <= {"fp16": 0.51, "int8": 0.26}[mode] * fp32


def test_compression_keys_are_validated():
    with pytest.raises(ConfigError) as err:
        load_config(None, ["update_compression=zip", "topk_fraction=0"], check_files=False)
    assert "update_compression=zip: must be one of none, fp16, int8, topk" in str(err.value)
    assert "topk_fraction=0.0: must be in (0, 1]" in str(err.value)


def test_a_real_client_sends_its_topk_update_and_keeps_the_residual_in_its_context(tiny_overrides, data_dir):
    from fedjava.dataset.split import run_split
    from fedjava.federated.client_app import local_train
    from fedjava.models import load_for_training

    run_split(data_dir, 2)
    cfg = load_config(None, [*tiny_overrides, "num_clients=2"], check_files=False)
    global_arrays = adapter_to_arrays(load_for_training(cfg)[0])
    context = Context(
        run_id=1, node_id=5, node_config={"partition-id": 0, "num-partitions": 2}, state=RecordDict(), run_config={}
    )
    config = ConfigRecord({"server-round": 1, "local-epochs": 1.0, "update-compression": "topk", "topk-fraction": 0.05})
    msg = Message(
        RecordDict({"arrays": global_arrays, "config": config}), dst_node_id=5, message_type=MessageType.TRAIN
    )
    out = local_train(msg, context, cfg.to_dict())
    assert out.content["client"]["update-compression"] == "topk"
    sent = arrays_to_numpy(out.content["arrays"])
    residual = {k: a.numpy() for k, a in context.state[RESIDUAL_KEY].items()}
    start = arrays_to_numpy(global_arrays)
    update = {k: topk_decode(v, start[k].shape) for k, v in sent.items()}
    assert all(v.dtype == np.uint8 for v in sent.values())
    assert arrays_nbytes(out.content["arrays"]) < 0.2 * arrays_nbytes(global_arrays)
    assert sum(np.abs(r).sum() for r in residual.values()) > 0  # the part not sent is kept for the next round
    # sent + kept back = the whole update the client trained
    trained = {k: start[k] + update[k] + residual[k] for k in start}
    assert max(np.abs(trained[k] - start[k]).max() for k in start) > 0


def test_a_real_client_trains_from_an_int8_global_adapter_and_sends_an_int8_update(tiny_overrides, data_dir):
    """Both ways int8: the client decodes what came down, trains from it, and its update decodes against the
    same copy; a global adapter that does not fit the client's tensors is one clear error."""
    from fedjava.dataset.split import run_split
    from fedjava.federated.client_app import ClientTrainingError, local_train
    from fedjava.models import load_for_training

    run_split(data_dir, 2)
    cfg = load_config(None, [*tiny_overrides, "num_clients=2"], check_files=False)
    start = arrays_to_numpy(adapter_to_arrays(load_for_training(cfg)[0]))
    start = {k: v + np.float32(0.01) * np.sign(v + 1e-9) for k, v in start.items()}  # lora_B is zero at init
    down = numpy_to_arrays(encode_update(start, "int8")[0])
    context = Context(
        run_id=1, node_id=5, node_config={"partition-id": 0, "num-partitions": 2}, state=RecordDict(), run_config={}
    )
    config = ConfigRecord(
        {"server-round": 1, "local-epochs": 1.0, "update-compression": "int8", "global-compression": "int8"}
    )
    out = local_train(
        Message(RecordDict({"arrays": down, "config": config}), dst_node_id=5, message_type=MessageType.TRAIN),
        context,
        cfg.to_dict(),
    )
    shapes = {k: v.shape for k, v in start.items()}
    copy = apply_delta(None, arrays_to_numpy(down), shapes, "int8")
    update = decode_update(arrays_to_numpy(out.content["arrays"]), shapes, "int8")
    fp32 = arrays_nbytes(numpy_to_arrays(start))
    # (the tiny model's tensors are small enough for the npy headers to count: 0.26x is shown on real shapes above)
    assert arrays_nbytes(down) <= 0.35 * fp32 and arrays_nbytes(out.content["arrays"]) <= 0.35 * fp32
    assert max(np.abs(u).max() for u in update.values()) > 0  # it trained
    assert max(np.abs(copy[k] - start[k]).max() for k in start) > 0  # and it started from the rounded copy

    wrong = numpy_to_arrays({k: v[:-1] for k, v in encode_update(start, "int8")[0].items()})
    with pytest.raises(ClientTrainingError, match="int8 payload of"):
        local_train(
            Message(RecordDict({"arrays": wrong, "config": config}), dst_node_id=5, message_type=MessageType.TRAIN),
            context,
            cfg.to_dict(),
        )


# ---------------------------------------------------------------------- the way down: deltas with error feedback


def _drifting_globals(rounds: int, seed: int = 7) -> list[dict[str, np.ndarray]]:
    """A global adapter per round that moves a little each round, as training moves it."""
    rng = np.random.default_rng(seed)
    current = _lora(seed)
    out = []
    for _ in range(rounds):
        current = {
            k: (v + 0.02 * np.abs(v).max() * rng.standard_normal(v.shape)).astype(np.float32)
            for k, v in current.items()
        }
        out.append(current)
    return out


def test_int8_deltas_down_rebuild_the_servers_copy_bit_exact_and_feed_the_rounding_back():
    globals_ = _drifting_globals(5)
    shapes = {k: v.shape for k, v in globals_[0].items()}
    copies = DownlinkCopies("int8")
    fp32 = arrays_nbytes(numpy_to_arrays(globals_[0]))
    held, base_seen, errors = None, [], []
    for glob in globals_:
        encoded, base, digest = copies.message_for(node=3, global_values=glob)
        base_seen.append(base)
        assert arrays_nbytes(numpy_to_arrays(encoded)) <= 0.26 * fp32  # a delta costs what the whole adapter did
        held = client_copy(encoded, shapes, "int8", base, digest, held)
        copies.confirm(3)
        # the client's copy is the server's record, bit for bit
        assert all(np.array_equal(held[k], copies.held[3][k]) for k in shapes) and adapter_digest(held) == digest
        errors.append(max(np.abs(glob[k] - held[k]).max() for k in shapes))
        # what the copy lacks is exactly the residual the server carries into the next delta
        residual = copies.residual(3, glob)
        assert all(np.array_equal(residual[k], glob[k] - held[k]) for k in shapes)
    assert base_seen[0] == "" and all(base_seen[1:])  # round 1 from zero, then deltas against the held copy
    # rounding the whole adapter afresh each round (the way down before deltas) errs by half a step of the weights;
    # a delta's step is that of one round's change, and the rounding left over goes down with the next delta
    fresh = max(
        np.abs(apply_delta(None, encode_update(globals_[-1], "int8")[0], shapes, "int8")[k] - globals_[-1][k]).max()
        for k in shapes
    )
    assert errors[-1] < fresh / 5, (errors, fresh)
    # with the global adapter standing still, error feedback closes the gap round after round
    still = globals_[-1]
    for _ in range(3):
        encoded, base, digest = copies.message_for(3, still)
        held = client_copy(encoded, shapes, "int8", base, digest, held)
        copies.confirm(3)
    assert max(np.abs(still[k] - held[k]).max() for k in shapes) < errors[-1] / 10


def test_a_client_whose_copy_differs_refuses_the_delta_and_gets_the_whole_adapter_next_round():
    from fedjava.federated.compression import CompressionError

    strategy = strategy_for("fedavg", "update_compression=int8", clients=2)
    g1, g2, g3 = _drifting_globals(3, seed=11)
    shapes = {k: v.shape for k, v in g1.items()}
    sent = sorted(
        strategy.configure_train(1, numpy_to_arrays(g1), ConfigRecord(), FakeGrid([1, 2])),
        key=lambda m: m.metadata.dst_node_id,
    )
    assert {m.content["config"][BASE_KEY] for m in sent} == {""}
    copies = [
        client_copy(
            arrays_to_numpy(m.content["arrays"]),
            shapes,
            "int8",
            m.content["config"][BASE_KEY],
            m.content["config"][DIGEST_KEY],
            None,
        )
        for m in sent
    ]
    # node 1 answers, node 2 fails: only node 1 is known to hold the copy
    good = reply(sent[0], numpy_to_arrays(client_encode(copies[0], g2, "int8", 1.0, RecordDict())), 4, 0)
    good.content["client"]["update-compression"] = "int8"
    failed = Message(Error(code=0, reason="client 1: RuntimeError: out of memory"), reply_to=sent[1])
    strategy.aggregate_train(1, [good, failed])
    sent = sorted(
        strategy.configure_train(2, numpy_to_arrays(g3), ConfigRecord(), FakeGrid([1, 2])),
        key=lambda m: m.metadata.dst_node_id,
    )
    first, second = (m.content["config"] for m in sent)
    assert first[BASE_KEY] == adapter_digest(copies[0]) and second[BASE_KEY] == ""
    assert sent[0].content["arrays"] is not sent[1].content["arrays"]  # each node its own delta
    rebuilt = client_copy(
        arrays_to_numpy(sent[0].content["arrays"]), shapes, "int8", first[BASE_KEY], first[DIGEST_KEY], copies[0]
    )
    assert adapter_digest(rebuilt) == first[DIGEST_KEY]
    # a client holding another copy (or none) cannot add the delta to it: one clear error, not a wrong model
    other = {k: v + np.float32(1e-3) for k, v in copies[0].items()}
    for held in (other, None):
        with pytest.raises(CompressionError, match="delta"):
            client_copy(
                arrays_to_numpy(sent[0].content["arrays"]), shapes, "int8", first[BASE_KEY], first[DIGEST_KEY], held
            )
    report = strategy.reports[1]
    assert report.clients[0]["bytes_sent"] <= 0.26 * arrays_nbytes(numpy_to_arrays(g1))


def test_a_real_client_keeps_its_copy_in_its_context_and_adds_the_next_delta_to_it(tiny_overrides, data_dir):
    """Two rounds on a real client: round 1 brings the whole adapter (a delta against zero), round 2 a delta against
    the copy the client kept in its Context.state; both copies are the server's records bit for bit."""
    from fedjava.dataset.split import run_split
    from fedjava.federated.client_app import local_train
    from fedjava.models import load_for_training

    run_split(data_dir, 2)
    cfg = load_config(None, [*tiny_overrides, "num_clients=2", "num_epochs=1"], check_files=False)
    start = arrays_to_numpy(adapter_to_arrays(load_for_training(cfg)[0]))
    context = Context(
        run_id=1, node_id=5, node_config={"partition-id": 0, "num-partitions": 2}, state=RecordDict(), run_config={}
    )
    copies = DownlinkCopies("int8")
    glob = {k: v + np.float32(0.01) * np.sign(v + 1e-9) for k, v in start.items()}
    shapes = {k: v.shape for k, v in glob.items()}
    for server_round in (1, 2):
        encoded, base, digest = copies.message_for(5, glob)
        config = ConfigRecord(
            {
                "server-round": server_round,
                "local-epochs": 1.0,
                "update-compression": "int8",
                "global-compression": "int8",
                BASE_KEY: base,
                DIGEST_KEY: digest,
            }
        )
        out = local_train(
            Message(
                RecordDict({"arrays": numpy_to_arrays(encoded), "config": config}),
                dst_node_id=5,
                message_type=MessageType.TRAIN,
            ),
            context,
            cfg.to_dict(),
        )
        assert (base == "") == (server_round == 1)
        kept = arrays_to_numpy(context.state[HELD_KEY])
        assert all(np.array_equal(kept[k], copies.pending[5][k]) for k in shapes)
        copies.confirm(5)
        update = decode_update(arrays_to_numpy(out.content["arrays"]), shapes, "int8")
        glob = {k: glob[k] + update[k] for k in shapes}  # one client: the server's new global adapter
    assert max(np.abs(glob[k] - kept[k]).max() for k in shapes) > 0
