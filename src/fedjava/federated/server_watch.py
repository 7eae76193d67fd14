"""What ``fedjava server`` tells its operator: the SuperLink's log and the job's report turned into console lines,
and every run or client key that fedjava did not put there itself."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path

_FLOWER_INFO = re.compile(r"^(INFO|DEBUG)\s*:")
_RUN_STARTED = re.compile(r"Successfully started run (\d+)")
WATCH_SECONDS = 5.0  # how often the runs and keys are compared with fedjava's own


class SuperLinkWatcher:
    """Turns the SuperLink's log into what the operator needs to see: joins, refusals, departures."""

    def __init__(self, printer: Callable[[str], None], expected: int, verbose: bool, names: dict[str, str]):
        self.printer, self.expected, self.verbose, self.names = printer, expected, verbose, names
        self.nodes: set[str] = set()

    def line(self, text: str) -> None:
        if self.verbose:
            self.printer(f"[superlink] {text}")
        if "No SuperNode found with the given public key" in text or "Failed to activate" in text:
            self.printer(
                "REFUSED a client: its public key is not registered with this server (register it by "
                "putting its .pub file in --client-keys and restarting the server)"
            )
        match = re.search(r"\b(Activated|Deactivated) node_id=(\d+)", text)
        if match:
            joined = match.group(1) == "Activated"
            (self.nodes.add if joined else self.nodes.discard)(match.group(2))
            key = f" (key {self.names[match.group(2)]})" if match.group(2) in self.names else ""
            self.printer(
                f"Client node {match.group(2)}{key} {'connected' if joined else 'disconnected'} "
                f"({len(self.nodes)} of {self.expected} connected)"
            )


class JobPrinter:
    """The ServerApp's report as ``flwr run --stream`` relays it, without Flower's INFO chatter; it notes the
    run id that ``flwr run`` got, so that :class:`ForeignActivity` knows fedjava's own run."""

    def __init__(self, printer: Callable[[str], None], verbose: bool):
        self.printer, self.verbose = printer, verbose
        self.run_id: int | None = None

    def line(self, text: str) -> None:
        match = _RUN_STARTED.search(text)
        if match and self.run_id is None:
            self.run_id = int(match.group(1))
        if self.verbose or not (
            _FLOWER_INFO.match(text) or text.startswith(("Successfully installed", "Using SuperLink"))
        ):
            self.printer(text)


class ForeignActivity:
    """Every ``WATCH_SECONDS``, list the SuperLink's runs and registered keys (through the operator's relay) and
    print each one that fedjava did not make: only the operator's user id can reach the Control API, so one of
    these means that someone acting as the operator (or root) used it.

    ``own_run`` returns fedjava's run id once ``flwr run`` has printed it (runs are judged only from then on).
    """

    def __init__(
        self,
        address: str,
        ca: Path | None,
        own_nodes: set[int],
        own_run: Callable[[], int | None],
        printer: Callable[[str], None],
    ):
        self.address, self.ca, self.own_nodes, self.own_run, self.printer = address, ca, own_nodes, own_run, printer
        self.seen_runs: set[int] = set()
        self.seen_nodes: set[int] = set()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="foreign activity", daemon=True)
        self.client = None

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)

    def check(self) -> None:
        """One comparison (raises on a Control API error)."""
        from flwr.proto.control_pb2 import ListNodesRequest, ListRunsRequest

        client = self._client()
        for node in client.ListNodes(ListNodesRequest()).nodes_info:
            if node.node_id not in self.own_nodes and node.node_id not in self.seen_nodes:
                self.seen_nodes.add(node.node_id)
                self.printer(
                    f"WARNING: a client key that fedjava did not register is registered: node {node.node_id}"
                    f"{f' ({node.name})' if node.name else ''}; it may join the federation. It was added "
                    "through the Control API, which only this server's user can reach"
                )
        own = self.own_run()
        if own is None:
            return
        for run_id, run in client.ListRuns(ListRunsRequest()).run_dict.items():
            if run_id != own and run_id not in self.seen_runs:
                self.seen_runs.add(run_id)
                self.printer(
                    f"WARNING: a run that fedjava did not submit: run {run_id} ({run.fab_id} "
                    f"{run.fab_version}); its ServerApp runs on this machine and its ClientApp on the "
                    "clients. It was submitted through the Control API, which only this server's user can "
                    f"reach; stop it with 'flwr stop {run_id}'"
                )

    def _client(self):
        if self.client is None:
            from flwr.supercore.control import ControlHttpClient

            self.client = ControlHttpClient.from_server_address(
                self.address,
                insecure=self.ca is None,
                root_certificates=None if self.ca is None else str(self.ca),
                interceptors=[],
            )
        return self.client

    def _watch(self) -> None:
        failed = False
        while not self.stopped.wait(WATCH_SECONDS):
            try:
                self.check()
            except Exception as exc:  # noqa: BLE001 - the watch must not stop the job; say it once
                if not failed:
                    self.printer(
                        f"warning: cannot list the SuperLink's runs and keys ({exc}); runs or keys added by "
                        "others would go unnoticed"
                    )
                failed = True
