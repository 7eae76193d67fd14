"""The one table of aggregation methods: the name a user types, Flower's strategy class, and how the config
becomes that class's arguments.

Everything that knows the methods reads this table: the ``--algorithm`` choices of the CLI, config validation,
``fedjava experiment``'s checks, the server's strategy and its printed settings. Adding a method is adding one
:class:`Method` to :data:`METHODS` (and its test). The strategy classes are named, not imported, so that reading
the table (``fedjava --help``, config validation) never imports Flower.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the table reads a Config; config.py validates with the table, so only the type checker imports it
    from fedjava.config import Config

FLOWER_STRATEGIES = "flwr.serverapp.strategy"


def _none(cfg: Config) -> dict[str, Any]:
    return {}


def _no_problems(cfg: Config) -> list[tuple[str, str]]:
    return []


@dataclass(frozen=True)
class Method:
    """One aggregation method."""

    name: str
    """what the user types: ``algorithm=NAME``"""
    flower_class: str
    """the strategy class's name in ``flwr.serverapp.strategy``"""
    arguments: Callable[[Config], dict[str, Any]] = _none
    """the class's own keyword arguments from the config (sampling and weighting are added by the server)"""
    describe: Callable[[Config], str] = lambda cfg: ""
    """its settings as printed in the run's configuration block"""
    check: Callable[[Config], list[tuple[str, str]]] = _no_problems
    """(config key, problem) pairs for settings this method cannot run with"""
    averages: bool = False
    """the aggregate is a (weighted) mean of the updates: what differential privacy's noise calibration assumes"""

    def strategy_class(self) -> type:
        """Flower's class (imports Flower)."""
        return getattr(importlib.import_module(FLOWER_STRATEGIES), self.flower_class)


def _fedopt(prefix: str, *, betas: bool = True) -> Callable[[Config], dict[str, Any]]:
    def arguments(cfg: Config) -> dict[str, Any]:
        out = {"eta": getattr(cfg, f"{prefix}_eta"), "eta_l": cfg.learning_rate, "tau": getattr(cfg, f"{prefix}_tau")}
        if betas:
            out.update(beta_1=getattr(cfg, f"{prefix}_beta1"), beta_2=getattr(cfg, f"{prefix}_beta2"))
        return out

    return arguments


def _describe_fedopt(prefix: str, *, betas: bool = True) -> Callable[[Config], str]:
    def describe(cfg: Config) -> str:
        parts = [f"eta={getattr(cfg, f'{prefix}_eta'):g}"]
        if betas:
            parts += [f"beta1={getattr(cfg, f'{prefix}_beta1'):g}", f"beta2={getattr(cfg, f'{prefix}_beta2'):g}"]
        return ", ".join([*parts, f"tau={getattr(cfg, f'{prefix}_tau'):g}"])

    return describe


def _krum_problems(cfg: Config) -> list[tuple[str, str]]:
    # Krum scores each update by its n - f - 2 nearest neighbours: fewer than one neighbour scores nothing.
    if cfg.num_clients - cfg.num_malicious_clients - 2 < 1:
        return [
            (
                "num_malicious_clients",
                f"{cfg.algorithm} needs num_clients >= num_malicious_clients + 3 (num_clients={cfg.num_clients})",
            )
        ]
    return []


def _multikrum_problems(cfg: Config) -> list[tuple[str, str]]:
    problems = _krum_problems(cfg)
    if cfg.multikrum_selected > cfg.num_clients:
        problems.append(("multikrum_selected", f"must be <= num_clients={cfg.num_clients}"))
    return problems


def _bulyan_problems(cfg: Config) -> list[tuple[str, str]]:
    need = 4 * cfg.num_malicious_clients + 3
    if cfg.num_clients < need:
        # Flower's Bulyan skips a round with fewer good updates than that (the global model is kept).
        return [
            (
                "num_malicious_clients",
                f"bulyan needs num_clients >= 4 * num_malicious_clients + 3 = {need} (num_clients={cfg.num_clients})",
            )
        ]
    return []


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("fedavg", "FedAvg", describe=lambda cfg: "weighted by client sample count", averages=True),
        Method(
            "fedprox",
            "FedProx",
            lambda cfg: {"proximal_mu": cfg.fedprox_mu},
            lambda cfg: f"mu={cfg.fedprox_mu:g}",
            averages=True,
        ),
        Method("fedadam", "FedAdam", _fedopt("fedadam"), _describe_fedopt("fedadam")),
        Method("fedyogi", "FedYogi", _fedopt("fedyogi"), _describe_fedopt("fedyogi")),
        Method(
            "fedadagrad", "FedAdagrad", _fedopt("fedadagrad", betas=False), _describe_fedopt("fedadagrad", betas=False)
        ),
        Method(
            "fedavgm",
            "FedAvgM",
            lambda cfg: {
                "server_learning_rate": cfg.fedavgm_server_learning_rate,
                "server_momentum": cfg.fedavgm_server_momentum,
            },
            lambda cfg: (
                f"server_learning_rate={cfg.fedavgm_server_learning_rate:g}, "
                f"server_momentum={cfg.fedavgm_server_momentum:g}"
            ),
        ),
        # Robust aggregation: a few wild updates cannot drag the model far.
        Method("fedmedian", "FedMedian", describe=lambda cfg: "coordinate-wise median of the updates"),
        Method(
            "fedtrimmedavg",
            "FedTrimmedAvg",
            lambda cfg: {"beta": cfg.trimmed_avg_beta},
            lambda cfg: f"coordinate-wise mean without the {cfg.trimmed_avg_beta:g} highest and lowest shares",
        ),
        Method(
            "krum",
            "Krum",
            lambda cfg: {"num_malicious_nodes": cfg.num_malicious_clients},
            lambda cfg: f"the one update closest to its neighbours, f={cfg.num_malicious_clients}",
            check=_krum_problems,
        ),
        Method(
            "multikrum",
            "MultiKrum",
            lambda cfg: {
                "num_malicious_nodes": cfg.num_malicious_clients,
                "num_nodes_to_select": cfg.multikrum_selected,
            },
            lambda cfg: (
                f"average of the {cfg.multikrum_selected} updates closest to their neighbours, "
                f"f={cfg.num_malicious_clients}"
            ),
            check=_multikrum_problems,
        ),
        Method(
            "bulyan",
            "Bulyan",
            lambda cfg: {"num_malicious_nodes": cfg.num_malicious_clients},
            lambda cfg: f"Multi-Krum selection, then a trimmed coordinate-wise mean, f={cfg.num_malicious_clients}",
            check=_bulyan_problems,
        ),
    ]
}


def method_names() -> list[str]:
    """The names a user may give as ``algorithm``, in the table's order."""
    return list(METHODS)


def describe_method(cfg: Config) -> str:
    """``FedAvg (weighted by client sample count)``: the class and its settings, for the run's header."""
    method = METHODS[cfg.algorithm]
    details = method.describe(cfg)
    return f"{method.flower_class} ({details})" if details else method.flower_class


def method_problems(cfg: Config) -> list[tuple[str, str]]:
    """(key, problem) pairs: an unknown method, or settings the chosen method cannot run with."""
    method = METHODS.get(cfg.algorithm)
    if method is None:
        return [("algorithm", f"must be one of {', '.join(METHODS)}")]
    return method.check(cfg)
