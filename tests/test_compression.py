"""Compressed updates: the int8 error bound and size, top-k error feedback, the server decoding what clients send,
and a real client compressing its update with its residual kept in Flower's Context.state."""

from __future__ import annotations

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict

from fedjava.config import ConfigError, load_config
from fedjava.federated.adapter_io import adapter_to_arrays, arrays_nbytes, arrays_to_numpy, numpy_to_arrays
from fedjava.federated.compression import (
    RESIDUAL_KEY,
    client_encode,
    decode_global,
    decode_update,
    encode_global,
    encode_update,
    int8_decode,
    int8_encode,
    topk_decode,
)
from test_federated_units import FakeGrid, reply, strategy_for, task_identity  # noqa: F401

# The built-in model's LoRA shapes at r=16 (hidden 640): A is rank x in, B is out x rank.
GEMMA_SHAPES = {"q.lora_A": (16, 640), "q.lora_B": (1024, 16), "down.lora_A": (16, 2048), "down.lora_B": (640, 16)}


def _lora(seed: int = 0, shapes=GEMMA_SHAPES) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: (rng.standard_normal(s) * rng.uniform(0.001, 0.1, size=(s[0], 1))).astype(np.float32)
            for k, s in shapes.items()}


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
    # fp16 and int8: the global adapter goes down encoded too, and the clients start from the decoded copy
    down = arrays_to_numpy(sent[0].content["arrays"])
    shapes = {k: v.shape for k, v in glob.items()}
    start = decode_global(down, shapes, mode) if mode != "topk" else glob
    assert sent[0].content["config"].get("global-compression", "none") == ("none" if mode == "topk" else mode)
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
        assert sum(np.abs(got[k] - expected[k]).sum() for k in glob) \
            < sum(np.abs(got[k] - on_copy[k]).sum() for k in glob)
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
    from fedjava.federated.client_app import local_train
    from fedjava.javadata.split import run_split
    from fedjava.models import load_for_training

    run_split(data_dir, 2)
    cfg = load_config(None, [*tiny_overrides, "num_clients=2"], check_files=False)
    global_arrays = adapter_to_arrays(load_for_training(cfg)[0])
    context = Context(run_id=1, node_id=5, node_config={"partition-id": 0, "num-partitions": 2},
                      state=RecordDict(), run_config={})
    config = ConfigRecord({"server-round": 1, "local-epochs": 1.0, "update-compression": "topk",
                           "topk-fraction": 0.05})
    msg = Message(RecordDict({"arrays": global_arrays, "config": config}), dst_node_id=5,
                  message_type=MessageType.TRAIN)
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
    from fedjava.federated.client_app import ClientTrainingError, local_train
    from fedjava.javadata.split import run_split
    from fedjava.models import load_for_training

    run_split(data_dir, 2)
    cfg = load_config(None, [*tiny_overrides, "num_clients=2"], check_files=False)
    start = arrays_to_numpy(adapter_to_arrays(load_for_training(cfg)[0]))
    start = {k: v + np.float32(0.01) * np.sign(v + 1e-9) for k, v in start.items()}  # lora_B is zero at init
    down = numpy_to_arrays(encode_global(start, "int8"))
    context = Context(run_id=1, node_id=5, node_config={"partition-id": 0, "num-partitions": 2},
                      state=RecordDict(), run_config={})
    config = ConfigRecord({"server-round": 1, "local-epochs": 1.0, "update-compression": "int8",
                           "global-compression": "int8"})
    out = local_train(Message(RecordDict({"arrays": down, "config": config}), dst_node_id=5,
                              message_type=MessageType.TRAIN), context, cfg.to_dict())
    shapes = {k: v.shape for k, v in start.items()}
    copy = decode_global(arrays_to_numpy(down), shapes, "int8")
    update = decode_update(arrays_to_numpy(out.content["arrays"]), shapes, "int8")
    fp32 = arrays_nbytes(numpy_to_arrays(start))
    # (the tiny model's tensors are small enough for the npy headers to count: 0.26x is shown on real shapes above)
    assert arrays_nbytes(down) <= 0.35 * fp32 and arrays_nbytes(out.content["arrays"]) <= 0.35 * fp32
    assert max(np.abs(u).max() for u in update.values()) > 0  # it trained
    assert max(np.abs(copy[k] - start[k]).max() for k in start) > 0  # and it started from the rounded copy

    wrong = numpy_to_arrays({k: v[:-1] for k, v in encode_global(start, "int8").items()})
    with pytest.raises(ClientTrainingError, match="int8 payload of"):
        local_train(Message(RecordDict({"arrays": wrong, "config": config}), dst_node_id=5,
                            message_type=MessageType.TRAIN), context, cfg.to_dict())
