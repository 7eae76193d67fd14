"""Compressed client updates on the wire (``update_compression``): fp16, int8 and top-k with error feedback.

A client that is asked to compress sends its *update* (trained adapter minus the global adapter it received),
encoded, one array per tensor under the tensor's own name; the server decodes it and adds it back to the global
adapter, so every strategy aggregates dense weights as before.

With ``fp16`` and ``int8`` the global adapter also travels down encoded the same way (:data:`DOWNLINK`), as a
delta against the copy the client already holds, with error feedback on the server
(:mod:`fedjava.federated.downlink`): the client trains from its copy and sends its update against that copy, and
the server adds the update to its own full-precision global adapter. The rounding of the way down is therefore
never aggregated into the model (it only moves each client's starting point), and an int8 round costs about a
quarter of float32 bytes both ways. With ``topk`` the global adapter travels down dense (float32): it is the
sum of every update so far, and a sparse copy of it would lose most of the model.

Formats (each tensor one array, so a reply has the same names as the adapter):

- ``fp16``: the update cast to float16 (half the bytes).
- ``int8``: symmetric 8-bit integers with one float32 scale per slice along the tensor's shorter axis (the LoRA
  rank axis: ``A`` is rank x in, ``B`` is out x rank), packed as ``[scales as float32 bytes | int8 values]``. The
  rounding error of a value is at most half its slice's scale, ``max|slice| / 254``.
- ``topk``: the ``topk_fraction`` largest-magnitude values of each tensor, packed as ``[int32 flat indices |
  float32 values]``. What is left out is not lost: the client keeps it (``residual``) and adds it to its next
  update (error feedback), so every part of the update is sent eventually.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MODES = ("none", "fp16", "int8", "topk")
DOWNLINK = ("fp16", "int8")  # the modes whose global adapter also travels down encoded
RESIDUAL_KEY = "topk-residual"  # where a client keeps its top-k residual in its Flower Context.state


class CompressionError(ValueError):
    """An encoded update cannot be decoded for the tensor it claims to be."""


def _rank_axis(shape: tuple[int, ...]) -> int:
    """The axis the int8 scales run along: the shorter of a matrix's two (0 for a vector)."""
    return 0 if len(shape) < 2 or shape[0] <= shape[1] else 1


def int8_encode(value: np.ndarray) -> np.ndarray:
    """``value`` as ``[float32 scales | int8 values]`` bytes (see the module docstring)."""
    value = np.asarray(value, dtype=np.float32)
    matrix = value.reshape(value.shape[0], -1) if value.ndim >= 2 else value.reshape(1, -1)
    axis = _rank_axis(matrix.shape) if value.ndim >= 2 else 1
    if axis == 1 and value.ndim >= 2:
        matrix = matrix.T
    # One scale per row of `matrix` (rows = the short axis after the transpose above).
    peak = np.abs(matrix).max(axis=1) if matrix.size else np.zeros(matrix.shape[0], np.float32)
    scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    quantized = np.clip(np.rint(matrix / scales[:, None]), -127, 127).astype(np.int8)
    return np.concatenate([scales.view(np.uint8), quantized.reshape(-1).view(np.uint8)])


def int8_decode(packed: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    size = int(np.prod(shape))
    if len(shape) >= 2:
        rows_cols = (shape[0], size // shape[0])
        axis = _rank_axis(rows_cols)
        rows = rows_cols[axis]
    else:
        axis, rows = 1, 1
    if packed.dtype != np.uint8 or packed.size != 4 * rows + size:
        raise CompressionError(f"int8 payload of {packed.size} bytes, expected {4 * rows + size} for shape {shape}")
    scales = packed[: 4 * rows].view(np.float32)
    matrix = packed[4 * rows :].view(np.int8).reshape(rows, -1).astype(np.float32) * scales[:, None]
    if len(shape) >= 2 and axis == 1:
        matrix = matrix.T
    return matrix.reshape(shape)


def topk_encode(value: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(``[int32 indices | float32 values]`` of the largest-magnitude share ``fraction``, what was left out)."""
    flat = np.asarray(value, dtype=np.float32).reshape(-1)
    k = max(1, int(round(fraction * flat.size))) if flat.size else 0
    keep = np.sort(np.argpartition(np.abs(flat), flat.size - k)[flat.size - k :]) if k else np.zeros(0, np.int64)
    kept = flat[keep]
    left = flat.copy()
    left[keep] = 0.0
    packed = np.concatenate([keep.astype(np.int32).view(np.uint8), kept.astype(np.float32).view(np.uint8)])
    return packed, left.reshape(np.shape(value))


def topk_decode(packed: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    size = int(np.prod(shape))
    if packed.dtype != np.uint8 or packed.size % 8:
        raise CompressionError(f"top-k payload of {packed.size} bytes is not whole (index, value) pairs")
    k = packed.size // 8
    index = packed[: 4 * k].view(np.int32)
    if k > size or (k and (index.min() < 0 or index.max() >= size)):
        raise CompressionError(f"top-k indices outside a tensor of {size} values")
    out = np.zeros(size, np.float32)
    out[index] = packed[4 * k :].view(np.float32)
    return out.reshape(shape)


def encode_update(
    update: dict[str, np.ndarray], mode: str, fraction: float = 0.1, residual: dict[str, np.ndarray] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(the encoded update, the new top-k residual: empty for the other modes)."""
    if mode == "fp16":
        return {k: v.astype(np.float16) for k, v in update.items()}, {}
    if mode == "int8":
        return {k: int8_encode(v) for k, v in update.items()}, {}
    if mode == "topk":
        encoded, left = {}, {}
        for name, value in update.items():
            carried = value.astype(np.float32) + (residual[name] if residual and name in residual else 0.0)
            encoded[name], left[name] = topk_encode(carried, fraction)
        return encoded, left
    raise ValueError(f"unknown update compression '{mode}' (choose from {', '.join(MODES[1:])})")


def decode_update(
    encoded: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]], mode: str
) -> dict[str, np.ndarray]:
    """The dense float32 update; CompressionError when a payload does not fit its tensor."""
    missing = sorted(set(shapes) - set(encoded))
    if missing or set(encoded) - set(shapes):
        raise CompressionError(f"its tensors differ from those sent ({len(encoded)} names, {len(shapes)} expected)")
    out = {}
    for name, shape in shapes.items():
        value = encoded[name]
        if mode == "fp16":
            if value.dtype != np.float16 or tuple(value.shape) != tuple(shape):
                raise CompressionError(f"{name}: fp16 payload {value.dtype}{tuple(value.shape)} for shape {shape}")
            out[name] = value.astype(np.float32)
        elif mode == "int8":
            out[name] = int8_decode(value, shape)
        elif mode == "topk":
            out[name] = topk_decode(value, shape)
        else:
            raise CompressionError(f"unknown update compression '{mode}'")
    return out


def client_encode(
    sent: dict[str, np.ndarray], trained: dict[str, np.ndarray], mode: str, fraction: float, state: Any
) -> dict[str, np.ndarray]:
    """A client's reply arrays for ``mode``: its encoded update; the top-k residual lives in ``state`` (the
    client's Flower ``Context.state``, kept by Flower from round to round)."""
    from flwr.app import Array, ArrayRecord

    update = {k: trained[k].astype(np.float32) - sent[k].astype(np.float32) for k in sent}
    residual = None
    if mode == "topk" and RESIDUAL_KEY in state.array_records:
        residual = {k: a.numpy() for k, a in state.array_records[RESIDUAL_KEY].items()}
    encoded, left = encode_update(update, mode, fraction, residual)
    if mode == "topk":
        state[RESIDUAL_KEY] = ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in left.items()})
    return encoded


def server_decode(encoded: dict[str, np.ndarray], sent: dict[str, np.ndarray], mode: str) -> dict[str, np.ndarray]:
    """The client's dense adapter: the global adapter it was sent plus its decoded update, in the sent dtypes."""
    update = decode_update(encoded, {k: tuple(v.shape) for k, v in sent.items()}, mode)
    return {k: (sent[k].astype(np.float32) + update[k]).astype(sent[k].dtype) for k in sent}
