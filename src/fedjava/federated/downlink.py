"""The global adapter on its way down (``update_compression`` fp16 or int8): a delta against the copy the client
already holds, encoded, with error feedback on the server.

Each round the server sends node ``k`` the encoded difference between its float32 global adapter ``G`` and the copy
``H_k`` that node holds, and records the node's new copy ``H_k + decode(encode(G - H_k))``, computed exactly as the
client computes it (float32, the same operations in the same order), so both sides hold the same bits. The rounding
of one round is not lost: it stays in ``G - H_k``, the residual the server keeps per node, and goes down with the
next delta (error feedback). A delta is small next to the weights themselves, so its int8 step (a slice's largest
value / 127) is small too, and the client's copy follows ``G`` closely instead of being re-rounded from scratch
every round. The bytes are those of one encoded adapter either way.

A node with no copy (its first round, or after a failed, missing or rejected reply, when the server cannot know
what it stored) is sent the delta against zero, i.e. the whole adapter encoded. Every message names, by digest,
the copy its delta is against (empty: zero) and the copy it must give; a client whose copy differs refuses to
train on it (a clear error the server logs), and the server sends it the whole adapter next round.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from fedjava.federated.compression import CompressionError, decode_update, encode_update

BASE_KEY = "global-base"  # in the train config: digest of the copy the delta is against ("" = zero)
DIGEST_KEY = "global-digest"  # in the train config: digest of the copy the client must reach
HELD_KEY = "global-held"  # in the client's Context.state: its copy of the global adapter


def adapter_digest(values: dict[str, np.ndarray]) -> str:
    """A short sha256 over the tensors' names, shapes and float32 bytes, in name order: equal only for equal bits."""
    digest = hashlib.sha256()
    for name in sorted(values):
        value = np.ascontiguousarray(values[name], dtype=np.float32)
        digest.update(f"{name}:{value.shape};".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()[:24]


def apply_delta(
    held: dict[str, np.ndarray] | None, encoded: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]], mode: str
) -> dict[str, np.ndarray]:
    """``held + decode(encoded)`` in float32 (``held`` None: zero): the one formula both sides use."""
    delta = decode_update(encoded, shapes, mode)
    if held is None:
        return {name: delta[name].astype(np.float32) for name in shapes}
    return {name: (held[name].astype(np.float32) + delta[name]).astype(np.float32) for name in shapes}


class DownlinkCopies:
    """The server's record of each node's copy of the global adapter, and the deltas that keep it up to date."""

    def __init__(self, mode: str):
        self.mode = mode
        self.held: dict[int, dict[str, np.ndarray]] = {}  # node -> the copy it holds (confirmed)
        self.pending: dict[int, dict[str, np.ndarray]] = {}  # node -> the copy this round's message gives it

    def message_for(
        self, node: int, global_values: dict[str, np.ndarray], cache: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], str, str]:
        """(encoded delta, digest of the copy it is against or "", digest of the copy it gives) for ``node``.

        ``cache`` (one dict per round) shares the work between nodes that hold the same copy, as all of them do
        when every client answered last round.
        """
        held = self.held.get(node)
        base = adapter_digest(held) if held is not None else ""
        cache = {} if cache is None else cache
        if base not in cache:
            reference = (
                held if held is not None else {k: np.zeros_like(v, np.float32) for k, v in global_values.items()}
            )
            delta = {k: global_values[k].astype(np.float32) - reference[k] for k in global_values}
            encoded = encode_update(delta, self.mode)[0]
            shapes = {k: tuple(v.shape) for k, v in global_values.items()}
            copy = apply_delta(held, encoded, shapes, self.mode)
            cache[base] = (encoded, copy, adapter_digest(copy))
        encoded, copy, digest = cache[base]
        self.pending[node] = copy
        return encoded, base, digest

    def confirm(self, node: int) -> None:
        """``node`` answered well: it holds this round's copy."""
        if node in self.pending:
            self.held[node] = self.pending.pop(node)

    def forget(self, node: int) -> None:
        """``node`` failed, timed out or was rejected: what it stored is unknown, so its next delta is from zero."""
        self.held.pop(node, None)
        self.pending.pop(node, None)

    def residual(self, node: int, global_values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``G - H_node``: what the node's copy still lacks, carried into its next delta."""
        held = self.held.get(node) or {k: np.zeros_like(v, np.float32) for k, v in global_values.items()}
        return {k: global_values[k].astype(np.float32) - held[k] for k in global_values}


def client_copy(
    encoded: dict[str, np.ndarray],
    shapes: dict[str, tuple[int, ...]],
    mode: str,
    base: str,
    digest: str,
    held: dict[str, np.ndarray] | None,
) -> dict[str, np.ndarray]:
    """The client's new copy of the global adapter from what came down and the copy it ``held``.

    Raises CompressionError when the delta is against a copy this client does not hold, or when the result is not
    the copy the server recorded (``digest``; empty: not checked, a server that sent no digest).
    """
    if base:
        if held is None:
            raise CompressionError(
                "the global adapter came down as a delta, but this client holds no copy to add it "
                "to (restarted?); the server sends the whole adapter next round"
            )
        if set(held) != set(shapes) or adapter_digest(held) != base:
            raise CompressionError(
                "the global adapter came down as a delta against a copy this client does not hold; "
                "the server sends the whole adapter next round"
            )
    copy = apply_delta(held if base else None, encoded, shapes, mode)
    if digest and adapter_digest(copy) != digest:
        raise CompressionError("the global adapter rebuilt from the delta differs from the server's copy")
    return copy
