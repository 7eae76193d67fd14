"""Differential privacy for the federated run (``dp_mode``), through Flower's own wrappers and mod, and the privacy
spent, from Google's ``dp-accounting`` library.

- ``client``: each client clips its update to ``dp_clipping_norm`` (Flower's ``fixedclipping_mod``, run by
  :func:`dp_clipping_mod` when the server asks for it); the server adds Gaussian noise to the average
  (``DifferentialPrivacyClientSideFixedClipping``). The server never sees an unclipped update.
- ``server``: the server clips each update and adds the noise (``DifferentialPrivacyServerSideFixedClipping``).
- ``adaptive``: as ``server``, with the clipping norm adapted each round towards the updates' median norm,
  starting from ``dp_clipping_norm`` (``DifferentialPrivacyServerSideAdaptiveClipping``); the noisy count of clipped
  updates that steers it shares the privacy budget, so the update's own noise is a little larger than in ``server``.

The noise's standard deviation is ``dp_noise_multiplier * clipping norm / clients sampled``: the sensitivity of an
unweighted mean of clipped updates, so under DP the updates are averaged with equal weights. The guarantee is per
client (one school's whole data), per aggregated round; ε is computed for ``dp_delta`` by composing one Gaussian
mechanism per aggregated round in the Rényi-DP accountant of ``dp-accounting``, without any amplification by
sampling (conservative: Flower samples a fixed number of clients, not Poisson).

A round that aggregates only k of the n sampled updates (the others failed or were rejected by the screening)
averages over k, so one client moves the mean by up to clip / k, while the noise is still sized for n: that round
is composed with the smaller multiplier ``dp_noise_multiplier * k / n``, and costs more ε.
"""

from __future__ import annotations

from typing import Any

DP_MODES = ("off", "client", "server", "adaptive")


def dp_wrapper_class(mode: str) -> type:
    """Flower's strategy wrapper for ``mode``."""
    from flwr.serverapp.strategy import (
        DifferentialPrivacyClientSideFixedClipping,
        DifferentialPrivacyServerSideAdaptiveClipping,
        DifferentialPrivacyServerSideFixedClipping,
    )

    return {
        "client": DifferentialPrivacyClientSideFixedClipping,
        "server": DifferentialPrivacyServerSideFixedClipping,
        "adaptive": DifferentialPrivacyServerSideAdaptiveClipping,
    }[mode]


def dp_wrapper_arguments(cfg, inner, sampled: int) -> dict[str, Any]:
    """The wrapper's keyword arguments: the inner strategy, the noise multiplier, the (initial) clipping norm."""
    args: dict[str, Any] = {
        "strategy": inner,
        "noise_multiplier": cfg.dp_noise_multiplier,
        "num_sampled_clients": sampled,
    }
    if cfg.dp_mode == "adaptive":
        args["initial_clipping_norm"] = cfg.dp_clipping_norm
        # Flower splits the noise budget between the update and the count of clipped updates (Andrew et al. 2019)
        # and needs noise_multiplier < 2 x the count's noise; its default (clients / 20) is too small for a few
        # schools. The count's noise equal to the multiplier costs the update 1.155 x its noise.
        args["clipped_count_stddev"] = max(sampled / 20, cfg.dp_noise_multiplier)
    else:
        args["clipping_norm"] = cfg.dp_clipping_norm
    return args


class PrivacyLedger:
    """(ε, δ) spent so far: one Gaussian mechanism per aggregated round, of ``noise_multiplier`` when all
    ``sampled`` updates were averaged and of ``noise_multiplier * aggregated / sampled`` when fewer were."""

    def __init__(self, noise_multiplier: float, delta: float, sampled: int = 0):
        self.noise_multiplier = noise_multiplier
        self.delta = delta
        self.sampled = sampled
        self.releases = 0
        self.multipliers: list[float] = []  # the effective multiplier of each release, in order
        self._accountant = self._new()

    def _new(self):
        from dp_accounting.rdp import RdpAccountant

        return RdpAccountant()

    def effective_multiplier(self, aggregated: int | None) -> float:
        """The noise multiplier relative to the sensitivity of a mean of ``aggregated`` clipped updates."""
        if not self.sampled or not aggregated or aggregated >= self.sampled:
            return self.noise_multiplier
        return self.noise_multiplier * aggregated / self.sampled

    def compose(self, count: int = 1, aggregated: int | None = None) -> None:
        """Account for ``count`` more noised rounds, each the mean of ``aggregated`` updates (None: all sampled)."""
        import dp_accounting

        if count > 0:
            multiplier = self.effective_multiplier(aggregated)
            self._accountant.compose(dp_accounting.GaussianDpEvent(multiplier), count)
            self.releases += count
            self.multipliers += [multiplier] * count

    def epsilon(self) -> float:
        """ε at ``delta`` after the rounds composed so far (0 before any)."""
        return float(self._accountant.get_epsilon(self.delta)) if self.releases else 0.0


def dp_clipping_mod(msg, context, call_next):
    """Flower's ``fixedclipping_mod`` for the training messages whose config asks for client-side clipping (the
    ``DifferentialPrivacyClientSideFixedClipping`` wrapper puts the norm there); every other message passes as is."""
    from flwr.app import MessageType
    from flwr.clientapp.mod import fixedclipping_mod
    from flwr.supercore.differential_privacy import KEY_CLIPPING_NORM

    config = msg.content.config_records.get("config") if msg.metadata.message_type == MessageType.TRAIN else None
    if config is not None and KEY_CLIPPING_NORM in config:
        return fixedclipping_mod(msg, context, call_next)
    return call_next(msg, context)
