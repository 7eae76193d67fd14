"""What the public port allows anyone who reaches it, before any key is checked: the bounds of :mod:`gate`.

Client authentication happens in the SuperLink, after it has read a whole request; so everything that costs the
server memory or threads before that point is bounded here, whoever asks:

- :class:`GateLimits`: the numbers (request body, connections, deadlines, bytes in flight to the SuperLink).
- :class:`ConnectionTracker`: admits connections up to the caps and cuts any that misses its deadline, so a
  peer sending a byte every few seconds (slow-loris) holds a thread for a bounded time, not for ever.
- :class:`InFlight`: the request bodies being handed to the SuperLink at once, which buffers each one whole.
- :class:`RefusalLog`: the console lines about refusals, rate-limited and aggregated per address, so varying the
  path or the address cannot flood the operator's console.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

MIB = 1 << 20

# The largest body a SuperNode sends is one object of a message (Flower's push-object). Flower cuts every array
# into chunks of at most 5 MiB (FLWR_PRIVATE_MAX_ARRAY_CHUNK_SIZE), so no adapter, however large, needs a bigger
# body than 5 MiB plus ~300 bytes of framing. Measured with Flower's own serializer (docs/DEPLOYMENT.md): the
# built-in model's r=16 adapter sends at most 131,377 bytes in one request, Qwen3-8B at r=16 (the largest preset)
# 786,737 bytes. 8 MiB is the 5 MiB ceiling with a 60% margin: ten times the largest preset's.
DEFAULT_MAX_BODY_MB = 8


@dataclass(frozen=True)
class GateLimits:
    """The public port's bounds (``fedjava server --max-request-mb`` sets ``max_body``)."""

    max_body: int = DEFAULT_MAX_BODY_MB * MIB
    """bytes: a larger Content-Length is refused with 413 before one byte of the body is read"""
    max_header_bytes: int = 16 * 1024
    """bytes of request line and headers (Flower's signed headers need well under 1 KiB)"""
    max_connections: int = 64
    """open connections at once, all peers together; one thread each"""
    max_per_address: int = 16
    """open connections at once from one address (a SuperNode keeps two or three)"""
    idle_seconds: float = 60.0
    """a connection must deliver its next request line and headers within this time (TLS handshake included)"""
    body_seconds: float = 30.0
    """a request body or an answer gets this long, plus 1 s per ``min_rate`` bytes"""
    min_rate: int = 16 * 1024
    """bytes per second a peer must at least sustain while sending a body or reading an answer"""
    backend_seconds: float = 300.0
    """how long the SuperLink may take to answer one request"""
    in_flight: int = 64 * MIB
    """request bytes being handed to the SuperLink at once (it buffers each body whole)"""

    def transfer_seconds(self, size: int) -> float:
        """The deadline for moving ``size`` bytes to or from a peer."""
        return self.body_seconds + size / self.min_rate


class _Connection:
    __slots__ = ("address", "sock", "deadline", "why", "cut")

    def __init__(self, address: str, sock: socket.socket, deadline: float):
        self.address, self.sock, self.deadline, self.why, self.cut = address, sock, deadline, "", False


class ConnectionTracker:
    """Counts open connections against the caps; a watchdog thread cuts each one that passes its deadline.

    A socket timeout alone would not do: it restarts with every byte received, so a slow peer could keep a
    thread for ever. The deadline is absolute and only the gate moves it, phase by phase.
    """

    def __init__(self, limits: GateLimits, on_cut: Callable[[str, str], None]):
        self.limits, self.on_cut = limits, on_cut
        self.lock = threading.Lock()
        self.open: set[_Connection] = set()
        self.per_address: dict[str, int] = {}
        self.stopped = threading.Event()
        self.ticks: list[Callable[[], None]] = []  # also run by the watchdog, about once a second
        self.watchdog = threading.Thread(target=self._watch, name="gate watchdog", daemon=True)

    def start(self) -> None:
        self.watchdog.start()

    def stop(self) -> None:
        self.stopped.set()

    def admit(self, address: str, sock: socket.socket) -> _Connection | None:
        """A record for this new connection, or None when a cap is reached (the caller closes it at once)."""
        with self.lock:
            if len(self.open) >= self.limits.max_connections:
                return None
            if self.per_address.get(address, 0) >= self.limits.max_per_address:
                return None
            record = _Connection(address, sock, time.monotonic() + self.limits.idle_seconds)
            self.open.add(record)
            self.per_address[address] = self.per_address.get(address, 0) + 1
            return record

    def release(self, record: _Connection) -> None:
        with self.lock:
            if record in self.open:
                self.open.discard(record)
                left = self.per_address[record.address] - 1
                if left:
                    self.per_address[record.address] = left
                else:
                    del self.per_address[record.address]

    def allow(self, record: _Connection, seconds: float, why: str) -> None:
        """The connection has ``seconds`` from now for what ``why`` names (said when it is cut)."""
        record.deadline, record.why = time.monotonic() + seconds, why

    def count(self) -> int:
        with self.lock:
            return len(self.open)

    def _watch(self) -> None:
        last_tick = time.monotonic()
        while not self.stopped.wait(0.2):
            now = time.monotonic()
            with self.lock:
                late = [record for record in self.open if record.deadline < now]
            for record in late:
                record.deadline, record.cut = float("inf"), True  # cut once; what was read is not forwarded
                # said first: once the socket is shut, the handler's thread ends and the connection is gone
                self.on_cut(record.address, record.why or "too slow")
                try:  # the plain socket call, also for a TLS socket: it ends a read blocked in the handler's thread
                    socket.socket.shutdown(record.sock, socket.SHUT_RDWR)
                except OSError:
                    pass
            if now - last_tick >= 1.0:
                last_tick = now
                for tick in self.ticks:
                    tick()


class InFlight:
    """A budget of request bytes on their way to the SuperLink; a request waits for room, up to a deadline."""

    def __init__(self, budget: int):
        self.left = budget
        self.condition = threading.Condition()

    def take(self, size: int, timeout: float) -> bool:
        with self.condition:
            return self.condition.wait_for(lambda: self.left >= size, timeout) and self._take(size)

    def _take(self, size: int) -> bool:
        self.left -= size
        return True

    def give_back(self, size: int) -> None:
        with self.condition:
            self.left += size
            self.condition.notify_all()


class RefusalLog:
    """Console lines about refused requests and connections: rate-limited and aggregated.

    In each window (a minute) an address gets ``per_kind`` detailed lines for each kind of refusal (wrong path,
    body too large, too many connections, ...), and all addresses together ``max_lines``; what follows is counted
    and summed up when the window ends ("REFUSED N more ... from ADDR in the last minute", at most ``max_lines``
    such lines, then one line for all other addresses). So neither varying the path nor varying the address can
    flood the operator's console.
    """

    def __init__(self, printer: Callable[[str], None], window: float = 60.0, per_kind: int = 3, max_lines: int = 20):
        self.printer, self.window, self.per_kind, self.max_lines = printer, window, per_kind, max_lines
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.detailed: dict[tuple[str, str], int] = {}
        self.more: dict[str, int] = {}

    def note(self, address: str, line: str, kind: str = "") -> None:
        """One refusal of ``kind`` from ``address``; ``line`` says what and why, printed unless the window's quota
        is used up."""
        self.flush_if_due()
        with self.lock:
            shown = self.detailed.get((address, kind), 0)
            if shown < self.per_kind and sum(self.detailed.values()) < self.max_lines:
                self.detailed[(address, kind)] = shown + 1
                self.printer(line)
            else:
                self.more[address] = self.more.get(address, 0) + 1

    def flush_if_due(self) -> None:
        if time.monotonic() - self.started >= self.window:
            self.flush()

    def flush(self) -> None:
        """Print the counts of this window and start a new one."""
        with self.lock:
            more, self.more = self.more, {}
            self.detailed = {}
            self.started = time.monotonic()
        span = "in the last minute" if self.window == 60.0 else f"in the last {self.window:g}s"
        shown = sorted(more.items(), key=lambda item: -item[1])
        for address, count in shown[: self.max_lines]:
            self.printer(f"REFUSED {count} more request(s) or connection(s) from {address} {span}")
        rest = shown[self.max_lines :]
        if rest:
            self.printer(
                f"REFUSED {sum(count for _, count in rest)} more request(s) or connection(s) from "
                f"{len(rest)} other address(es) {span}"
            )
