"""Client drift: how far each school's update points from the round's average update.

An update is what a client's training moved the global adapter by (its returned adapter minus the one it was sent),
all tensors taken as one vector. Its cosine similarity to the sample-weighted mean of the round's updates (the
update FedAvg applies) is 1 when the client pulls where the federation goes, near 0 when its pull is unrelated, and
negative when it pulls against it; non-IID schools (different tasks, different error mixes) drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np


def client_drift(
    updates: Sequence[Mapping[str, np.ndarray]], weights: Sequence[float]
) -> list[dict[str, float | None]]:
    """Per update, ``{"update_cosine": cos(u_i, mean), "update_norm": ||u_i||}``, the mean weighted by ``weights``.

    Sums run in float64. The cosine is None when the update or the mean is all zeros (no direction to compare).

    Raises:
        ValueError: no updates, a weight count that differs from the updates', weights that do not sum above 0, or
            updates with different tensors.
    """
    if not updates or len(updates) != len(weights):
        raise ValueError(f"{len(updates)} update(s) and {len(weights)} weight(s): expected as many, at least one")
    total = float(sum(weights))
    if not total > 0:
        raise ValueError(f"the weights sum to {total}, not above 0")
    names = sorted(updates[0])
    if any(sorted(u) != names for u in updates):
        raise ValueError("the updates do not name the same tensors")
    mean = {
        n: sum(float(w) * np.asarray(u[n], np.float64) for u, w in zip(updates, weights, strict=True)) / total
        for n in names
    }
    mean_norm = math.sqrt(sum(float(np.vdot(m, m)) for m in mean.values()))
    out: list[dict[str, float | None]] = []
    for update in updates:
        values = {n: np.asarray(update[n], np.float64) for n in names}
        norm = math.sqrt(sum(float(np.vdot(v, v)) for v in values.values()))
        dot = sum(float(np.vdot(values[n], mean[n])) for n in names)
        cosine = dot / (norm * mean_norm) if norm > 0 and mean_norm > 0 else None
        out.append({"update_cosine": None if cosine is None else max(-1.0, min(1.0, cosine)), "update_norm": norm})
    return out
