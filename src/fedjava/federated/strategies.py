"""Flower's strategies (named in the table of :mod:`fedjava.aggregation`), each with the same additions
(the aggregation maths stay Flower's own):

- **screening**: a reply that is an error (the client raised), that lacks its arrays or metrics, whose
  tensors differ from those sent, or whose values are NaN/inf is logged with its reason and left out;
  the round aggregates the rest when at least ``min_fit_clients`` good updates came back, else it keeps
  the global model unchanged and says so;
- **round numbers that survive a resume**: ``round_offset`` is added to the round Flower's loop counts,
  so the clients' seeds and FedAdam's bias correction see the true round after ``--resume``;
- **savable server state**: :func:`server_state` and :func:`restore_server_state` read and write the
  optimizer state (FedAdam/FedYogi/FedAdagrad moments, FedAvgM momentum) for the round checkpoints.

With ``update_compression`` the replies carry encoded updates, decoded (:mod:`fedjava.federated.compression`)
before the screening, and with fp16 and int8 the global adapter goes down encoded too, as a delta against the copy
each node holds (:mod:`fedjava.federated.downlink`); with ``dp_mode`` the screened strategy is Flower's DP wrapper
around the method's strategy, so only screened updates are clipped, averaged and noised, and ``privacy`` keeps the
(ε, δ) spent.

**Client drift**: every round, each good update's cosine similarity to the sample-weighted mean of the round's good
updates, and its norm (:mod:`fedjava.federated.drift`), go into the client's entry of the round report.

Aggregated arrays are cast back to the dtype they were sent in (Flower's FedOpt family returns float64).
No client-side evaluation is configured: the server evaluates the global model itself on valid.json.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.common.constant import ErrorCode
from flwr.serverapp import Grid

from fedjava.aggregation import METHODS
from fedjava.config import Config
from fedjava.federated.adapter_io import arrays_nbytes, arrays_to_numpy, cast_like, non_finite, numpy_to_arrays
from fedjava.federated.compression import DOWNLINK, CompressionError, server_decode
from fedjava.federated.downlink import BASE_KEY, DIGEST_KEY, DownlinkCopies
from fedjava.federated.drift import client_drift
from fedjava.federated.privacy import PrivacyLedger, dp_wrapper_arguments, dp_wrapper_class

log = logging.getLogger("fedjava")

WEIGHT_KEY = "num-examples"
CLIENT_INFO_KEY = "client"
COMPRESSION_KEY = "update-compression"  # in the train config (asked) and the client's info (done)
TOPK_KEY = "topk-fraction"
GLOBAL_COMPRESSION_KEY = "global-compression"  # in the train config: how the global adapter came down


@dataclass
class RoundReport:
    """What happened in one round's training phase, as the server saw it."""

    round: int
    sampled: int = 0
    started: float = field(default_factory=time.time)
    clients: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    missing: list[dict[str, Any]] = field(default_factory=list)  # sampled, but no reply before round_timeout
    aggregated: int = 0
    kept_global: bool = False
    train_phase_seconds: float = 0.0
    dp_epsilon: float | None = None  # the privacy spent after this round (dp_mode other than off)
    dp_noise_multiplier: float | None = None  # this round's, relative to a mean of the updates it aggregated


class RoundListener(Protocol):
    def round_started(self, server_round: int, sampled: int) -> None: ...

    def round_aggregated(self, report: RoundReport) -> None: ...


def _client_label(entry: dict[str, Any]) -> str:
    return f"Client {entry['client']}" if entry.get("client") is not None else f"Node {entry['node']}"


class FedJavaMixin:
    """Screening, round offset and dtype cast around a Flower strategy (put it first in the bases)."""

    def __init__(
        self,
        *,
        min_fit_clients: int = 1,
        round_offset: int = 0,
        listener: RoundListener | None = None,
        round_timeout: float = 0.0,
        update_compression: str = "none",
        topk_fraction: float = 0.1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.update_compression = update_compression
        self.topk_fraction = topk_fraction
        self._global: dict[str, Any] = {}  # this round's global adapter as sent (full precision)
        self.downlink = DownlinkCopies(update_compression) if update_compression in DOWNLINK else None
        self._sent_bytes_to: dict[int, int] = {}  # node -> bytes of its message's arrays
        self.min_fit_clients = min_fit_clients
        self.round_timeout = round_timeout  # for the report only: Flower's start() enforces it
        self.round_offset = round_offset
        self.listener = listener
        self.reports: dict[int, RoundReport] = {}
        self._sent: dict[str, tuple[str, tuple[int, ...]]] = {}
        self._sent_bytes = 0
        self._asked: list[Message] = []  # this round's messages (Flower stamps their ids when it sends them)
        self._node_clients: dict[int, int] = {}  # node id -> client id, learned from the replies
        # With a listener (the server prints the round report) the details go to the log file only.
        self._level = logging.DEBUG if listener is not None else logging.WARNING
        self.privacy: PrivacyLedger | None = None  # set when a DP wrapper adds noise (build_strategy)

    def sampler(self) -> Any:
        """The Flower strategy that samples the clients: this one, or the one a DP wrapper wraps."""
        return getattr(self, "strategy", self)

    # ------------------------------------------------------------------ training rounds

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        true_round = server_round + self.round_offset
        self._sent = {name: (str(a.dtype), tuple(a.shape)) for name, a in arrays.items()}
        self._sent_bytes = arrays_nbytes(arrays)
        self._sent_bytes_to = {}
        self._global = arrays_to_numpy(arrays)
        if self.update_compression != "none":
            config[COMPRESSION_KEY] = self.update_compression
            config[TOPK_KEY] = float(self.topk_fraction)
            if self.update_compression in DOWNLINK:
                config[GLOBAL_COMPRESSION_KEY] = self.update_compression
        report = RoundReport(round=true_round)
        self.reports[true_round] = report
        # Wait for the clients here: Flower sizes its sample from the nodes connected *before* it waits, so a
        # client joining a moment late (distributed mode) would be left out of the round though connected.
        sampler = self.sampler()
        wanted = sampler.min_available_nodes
        waiting_since = time.time()
        while len(list(grid.get_node_ids())) < wanted:
            if time.time() - waiting_since > 10 and not getattr(self, "_said_waiting", False):
                log.warning(
                    "Round %d: waiting for %d client(s) to connect (%d connected)",
                    true_round,
                    wanted,
                    len(list(grid.get_node_ids())),
                )
                self._said_waiting = True
            time.sleep(0.5)
        messages = list(super().configure_train(true_round, arrays, config, grid))  # type: ignore[misc]
        if self.downlink is not None:
            # Flower's strategies keep the full-precision arrays (FedOpt's current_arrays); each node gets the
            # encoded delta to its own copy, in a record of its own (Flower's messages share one).
            shared: dict[str, Any] = {}
            for message in messages:
                node = message.metadata.dst_node_id
                encoded, base, digest = self.downlink.message_for(node, self._global, shared)
                down = numpy_to_arrays(encoded)
                node_config = ConfigRecord(dict(message.content[self.configrecord_key].items()))
                node_config[BASE_KEY], node_config[DIGEST_KEY] = base, digest
                message.content = RecordDict({self.arrayrecord_key: down, self.configrecord_key: node_config})
                self._sent_bytes_to[node] = arrays_nbytes(down)
        # The first round waits until all num_clients clients are connected; later rounds go on with those
        # still there (at least min_fit_clients), so a client lost for good cannot stall a distributed run.
        sampler.min_available_nodes = sampler.min_train_nodes
        report.sampled = len(messages)
        self._asked = messages
        if self.listener:
            self.listener.round_started(true_round, len(messages))
        return messages

    def screen(self, msg: Message) -> tuple[dict[str, Any], str | None]:
        """The client's entry for the round report, and why its update must be left out (None if good)."""
        content = msg.content
        node = msg.metadata.src_node_id
        entry: dict[str, Any] = {"node": node, "bytes_sent": self._sent_bytes_to.get(node, self._sent_bytes)}
        if CLIENT_INFO_KEY in content.config_records:
            info = content.config_records[CLIENT_INFO_KEY]
            entry["client"] = int(info["client-id"]) if "client-id" in info else None
            entry["device"] = str(info.get("device", ""))
        metrics = list(content.metric_records.values())
        if len(metrics) == 1:
            for key, value in metrics[0].items():
                entry[key.replace("-", "_")] = value
        arrays = list(content.array_records.values())
        if len(arrays) != 1 or len(metrics) != 1:
            return entry, f"expected one ArrayRecord and one MetricRecord, got {len(arrays)} and {len(metrics)}"
        entry["bytes_received"] = arrays_nbytes(arrays[0])
        mode = (
            str(content.config_records[CLIENT_INFO_KEY].get(COMPRESSION_KEY, "none"))
            if CLIENT_INFO_KEY in content.config_records
            else "none"
        )
        if mode != "none":
            if self.update_compression == "none":
                return entry, f"a {mode}-compressed update, but this run asked for none"
            try:
                dense = server_decode(arrays_to_numpy(arrays[0]), self._global, mode)
            except CompressionError as exc:
                return entry, f"its {mode} update cannot be decoded: {exc}"
            arrays[0] = numpy_to_arrays(dense)
            content[next(iter(content.array_records))] = arrays[0]
        weight = metrics[0].get(WEIGHT_KEY)
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not weight > 0:
            return entry, f"'{WEIGHT_KEY}' missing or not > 0"
        got = {name: (str(a.dtype), tuple(a.shape)) for name, a in arrays[0].items()}
        if set(got) != set(self._sent):
            return entry, f"its tensors differ from those sent ({len(got)} names, {len(self._sent)} expected)"
        shapes = [n for n, (_, shape) in got.items() if shape != self._sent[n][1]]
        if shapes:
            return entry, f"{len(shapes)} tensor(s) with a wrong shape (e.g. {shapes[0]})"
        bad = non_finite(arrays[0])
        if bad:
            return entry, f"non-finite values (NaN/inf) in {len(bad)} tensor(s), e.g. {bad[0]}"
        loss = metrics[0].get("train_loss")
        if isinstance(loss, float) and not math.isfinite(loss):
            return entry, f"non-finite train_loss {loss}"
        return entry, None

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        true_round = server_round + self.round_offset
        report = self.reports.setdefault(true_round, RoundReport(round=true_round))
        replies = list(replies)
        # An error reply the SuperLink writes itself (e.g. "Node Unavailable") comes from the SuperLink's
        # node id: name the node it was meant for instead, found through the message it replies to.
        asked = {m.metadata.message_id: m.metadata.dst_node_id for m in self._asked if m.metadata.message_id}

        def sender(msg: Message) -> int:
            return asked.get(msg.metadata.reply_to_message_id or "", msg.metadata.src_node_id)

        self._note_missing({sender(msg) for msg in replies}, report, true_round)
        good = self._sort_replies(replies, sender, report, true_round)
        if self.downlink is not None:  # a node whose reply was good holds this round's copy; of the others, who knows
            good_nodes = {sender(msg) for msg in good}
            for node in {m.metadata.dst_node_id for m in self._asked}:
                (self.downlink.confirm if node in good_nodes else self.downlink.forget)(node)
        self._measure_drift(good, report)
        report.clients.sort(key=lambda e: (e.get("client") is None, e.get("client") or 0, e["node"]))
        report.train_phase_seconds = time.time() - report.started
        if len(good) < self.min_fit_clients:
            report.kept_global = True
            log.log(
                self._level,
                "Round %d: %d good update(s), fewer than min_fit_clients=%d: the global model is "
                "kept unchanged this round",
                true_round,
                len(good),
                self.min_fit_clients,
            )
            if self.listener:
                self.listener.round_aggregated(report)
            return None, None
        if self.privacy is not None:
            # DP's noise is calibrated to an unweighted mean of clipped updates: every client weighs the same.
            for msg in good:
                next(iter(msg.content.metric_records.values()))[WEIGHT_KEY] = 1
        arrays, metrics = super().aggregate_train(true_round, good)  # type: ignore[misc]
        if arrays is not None and self.privacy is not None:
            self.privacy.compose(aggregated=len(good))  # fewer than sampled: a larger share each, more ε
            report.dp_epsilon = self.privacy.epsilon()
            report.dp_noise_multiplier = self.privacy.multipliers[-1]
        if arrays is None:  # the method itself declined (Bulyan with fewer than 4f+3 updates)
            report.kept_global = True
            log.log(
                self._level,
                "Round %d: %s did not aggregate the %d good update(s): the global model is kept unchanged this round",
                true_round,
                type(self).__name__,
                len(good),
            )
            if self.listener:
                self.listener.round_aggregated(report)
            return None, None
        arrays = cast_like(arrays, {name: dtype for name, (dtype, _) in self._sent.items()})
        report.aggregated = len(good)
        if self.listener:
            self.listener.round_aggregated(report)
        return arrays, metrics

    def _note_missing(self, replied: set[int], report: RoundReport, true_round: int) -> None:
        """Each node asked this round that did not reply, in the round's report as missing."""
        for node in dict.fromkeys(m.metadata.dst_node_id for m in self._asked):
            if node not in replied:
                entry = {"node": node, "reason": f"no reply within round_timeout={self.round_timeout:g}s"}
                if node in self._node_clients:
                    entry["client"] = self._node_clients[node]
                report.missing.append(entry)
                log.log(
                    self._level,
                    "Round %d: %s did not reply within the round's timeout",
                    true_round,
                    _client_label(entry),
                )

    def _sort_replies(self, replies: list[Message], sender, report: RoundReport, true_round: int) -> list[Message]:
        """The good replies; each other reply in the round's report as failed (an error reply), missing (the
        SuperLink's own reply for a node that stopped) or rejected (screened out), with the reason."""
        good: list[Message] = []
        metric_keys: set[str] | None = None
        for msg in replies:
            if msg.has_error():
                reason = msg.error.reason or f"error code {msg.error.code}"
                failed = {"node": sender(msg), "reason": reason}
                if failed["node"] in self._node_clients:
                    failed["client"] = self._node_clients[failed["node"]]
                if msg.error.code == ErrorCode.NODE_UNAVAILABLE:
                    # The SuperLink's own reply for a node that stopped sending heartbeats: no reply came.
                    failed["reason"] = "node unavailable: no heartbeat (stopped, killed or cut off)"
                    report.missing.append(failed)
                else:
                    report.failed.append(failed)
                log.log(self._level, "Round %d: %s left out: %s", true_round, _client_label(failed), failed["reason"])
                continue
            entry, problem = self.screen(msg)
            if entry.get("client") is not None:
                self._node_clients[entry["node"]] = entry["client"]
            if problem is None:
                keys = set(next(iter(msg.content.metric_records.values())).keys())
                if metric_keys is not None and keys != metric_keys:
                    problem = "its metrics differ from the other clients'"
                metric_keys = metric_keys or keys
            if problem:
                entry["reason"] = problem
                report.rejected.append(entry)
                log.log(self._level, "Round %d: %s's update rejected: %s", true_round, _client_label(entry), problem)
                continue
            report.clients.append(entry)
            good.append(msg)
        return good

    def _measure_drift(self, good: list[Message], report: RoundReport) -> None:
        """Each good update's cosine to the round's sample-weighted mean update, and its norm, in its report entry
        (the updates as the method receives them: decoded, and clipped under client-side DP)."""
        if not good or not self._global:
            return
        updates, weights = [], []
        for msg in good:
            values = arrays_to_numpy(next(iter(msg.content.array_records.values())))
            updates.append({k: values[k] - self._global[k] for k in self._global})
            weights.append(float(next(iter(msg.content.metric_records.values()))[WEIGHT_KEY]))
        by_node = {
            msg.metadata.src_node_id: drift for msg, drift in zip(good, client_drift(updates, weights), strict=True)
        }
        for entry in report.clients:
            entry.update(by_node.get(entry["node"], {}))

    # ------------------------------------------------------------------ evaluation is server-side

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        return []


_SCREENED: dict[type, type] = {}


def screened(flower_class: type) -> type:
    """``flower_class`` with :class:`FedJavaMixin` in front: the same maths, behind the reply screening."""
    if flower_class not in _SCREENED:
        _SCREENED[flower_class] = type(
            f"FedJava{flower_class.__name__}",
            (FedJavaMixin, flower_class),
            {"__doc__": f"Flower's {flower_class.__name__} behind fedjava's screening.", "__module__": __name__},
        )
    return _SCREENED[flower_class]


def build_strategy(cfg: Config, round_offset: int = 0, listener: RoundListener | None = None) -> FedJavaMixin:
    """The strategy of ``cfg.algorithm`` (the table in :mod:`fedjava.aggregation`) with the knobs of ``cfg``;
    with ``dp_mode`` set, Flower's DP wrapper around it, the screening in front of both."""
    method = METHODS[cfg.algorithm]
    sampling: dict[str, Any] = {
        "fraction_train": cfg.fraction_fit,
        "min_train_nodes": min(cfg.min_fit_clients, cfg.num_clients),
        "min_available_nodes": cfg.num_clients,
        "min_evaluate_nodes": 0,
        "weighted_by_key": WEIGHT_KEY,
    }
    ours = {
        "min_fit_clients": cfg.min_fit_clients,
        "round_offset": round_offset,
        "listener": listener,
        "round_timeout": cfg.round_timeout,
        "update_compression": cfg.update_compression,
        "topk_fraction": cfg.topk_fraction,
    }
    if cfg.dp_mode == "off":
        return screened(method.strategy_class())(**ours, **sampling, **method.arguments(cfg))
    inner = method.strategy_class()(**sampling, **method.arguments(cfg))
    sampled = max(int(cfg.num_clients * cfg.fraction_fit), sampling["min_train_nodes"])  # Flower's sample size
    strategy = screened(dp_wrapper_class(cfg.dp_mode))(**ours, **dp_wrapper_arguments(cfg, inner, sampled))
    strategy.privacy = PrivacyLedger(cfg.dp_noise_multiplier, cfg.dp_delta, sampled)
    return strategy


# ---------------------------------------------------------------------- server optimizer state


ADAPTIVE_CLIP_KEY = "dp/clipping_norm"


def _adapts_clipping(strategy) -> bool:
    from flwr.serverapp.strategy.dp_adaptive_clipping import DifferentialPrivacyAdaptiveBase

    return isinstance(strategy, DifferentialPrivacyAdaptiveBase)


def server_state(strategy) -> dict[str, np.ndarray]:
    """The server optimizer's state as named arrays: ``m_t/NAME``, ``v_t/NAME``, ``momentum/NAME``, and the
    clipping norm that ``dp_mode=adaptive`` has moved to (``dp/clipping_norm``)."""
    out: dict[str, np.ndarray] = {}
    if _adapts_clipping(strategy):
        out[ADAPTIVE_CLIP_KEY] = np.asarray([strategy.clipping_norm], dtype=np.float64)
    for attr in ("m_t", "v_t"):
        for name, value in (getattr(strategy, attr, None) or {}).items():
            out[f"{attr}/{name}"] = np.asarray(value)
    momentum = getattr(strategy, "momentum_vector", None)
    if momentum is not None:
        names = list(strategy.current_arrays.keys())
        for name, value in zip(names, momentum, strict=True):
            out[f"momentum/{name}"] = np.asarray(value)
    return out


def restore_server_state(strategy, state: dict[str, np.ndarray], order: list[str]) -> None:
    """Put ``state`` (from :func:`server_state`) back, tensors in the model's ``order``."""
    if ADAPTIVE_CLIP_KEY in state and _adapts_clipping(strategy):
        strategy.clipping_norm = float(np.asarray(state[ADAPTIVE_CLIP_KEY]).reshape(-1)[0])
    for attr in ("m_t", "v_t", "momentum"):
        prefix = f"{attr}/"
        entries = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if not entries:
            continue
        if set(entries) != set(order):
            raise ValueError(f"the checkpoint's server state '{attr}' does not match the adapter's tensors")
        if attr == "momentum":
            strategy.momentum_vector = [entries[name] for name in order]
        else:
            setattr(strategy, attr, {name: entries[name] for name in order})
