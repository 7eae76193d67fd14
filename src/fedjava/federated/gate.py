"""The only door clients can knock on in distributed mode: the Fleet API, and nothing else of the SuperLink.

Why it exists: Flower 1.42's SuperLink serves its Fleet API (what a SuperNode needs), its Control API (submit
a job, register a client key, list runs) and its Runtime API (the ServerApp's own channel) on one HTTP port,
and open-source Flower has no login on the Control API. So ``fedjava server`` keeps the SuperLink where no one
else can reach it (:mod:`private_link`) and puts :class:`FleetGate` on the public port: it passes
``POST /v1/fleet/<name>`` (the calls of Flower's SuperNode) through to the SuperLink and answers everything else
403, without forwarding a byte. Client authentication stays with the SuperLink: the signed headers pass through
unchanged.

The SuperLink reads a whole request before it checks the node's signature, so the gate also bounds what anyone
may cost the server before that (:mod:`gate_limits`): the body size (413), the header size (431), open
connections, per-phase deadlines (a slow-loris is cut) and the bytes in flight to the SuperLink.
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from fedjava.federated.gate_limits import MIB, ConnectionTracker, GateLimits, InFlight, RefusalLog

# The Fleet API's paths are /v1/fleet/register-node, /v1/fleet/pull-messages, ...: a strict pattern, so no
# "..", "%2e", "//" or query string can make a path that the SuperLink routes elsewhere.
FLEET_PATH = re.compile(r"/v1/fleet/[a-z][a-z-]{0,62}")
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "expect",
    }
)
CHUNK = 1 << 20
REFUSAL = (
    b"fedjava server: this port serves only the clients' Fleet API. Job submission, key registration and "
    b"run listing are available to the server's operator alone.\n"
)


def server_tls(certfile: Path, keyfile: Path) -> ssl.SSLContext:
    """The public port's TLS: the server certificate the clients verify with ca.crt."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(certfile), str(keyfile))
    return context


def backend_tls(cafile: Path) -> ssl.SSLContext:
    """The gate's own TLS to the SuperLink, verified like any client (the certificate names 127.0.0.1)."""
    return ssl.create_default_context(cafile=str(cafile))


class FleetGate:
    """Listen on ``host:port``; forward Fleet API calls to the SuperLink behind the Unix socket ``backend``.

    ``backend_host`` is the Host header the SuperLink expects (its own address in its network namespace).
    """

    def __init__(
        self,
        host: str,
        port: int,
        backend: Path,
        backend_host: str,
        tls: ssl.SSLContext | None,
        backend_context: ssl.SSLContext | None,
        refusals: RefusalLog,
        limits: GateLimits | None = None,
    ):
        server = self.server = (_GateServer6 if ":" in host else _GateServer)((host, port), _GateHandler)
        server.tls, server.backend_context, server.refusals = tls, backend_context, refusals
        server.backend, server.backend_host = backend, backend_host
        server.limits = limits or GateLimits()
        server.tracker = ConnectionTracker(
            server.limits,
            lambda peer, why: refusals.note(peer, f"REFUSED a connection from {peer}: cut, {why}", "slow"),
        )
        server.tracker.ticks.append(refusals.flush_if_due)
        server.in_flight = InFlight(server.limits.in_flight)
        server.largest_body = 0
        server.local = threading.local()
        self.thread = threading.Thread(target=server.serve_forever, name="fleet gate", daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def largest_body(self) -> int:
        """The largest request body forwarded so far (bytes)."""
        return self.server.largest_body

    def connections(self) -> int:
        return self.server.tracker.count()

    def start(self) -> None:
        self.server.tracker.start()
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.server.tracker.stop()
        self.server.refusals.flush()


class _GateServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() must not wait for a peer that is still sending
    tls: ssl.SSLContext | None
    backend_context: ssl.SSLContext | None
    backend: Path
    backend_host: str
    refusals: RefusalLog
    limits: GateLimits
    tracker: ConnectionTracker
    in_flight: InFlight
    largest_body: int
    local: threading.local

    def process_request(self, request, client_address) -> None:
        """Admit the connection within the caps, or close it at once: no thread is started for it."""
        peer = client_address[0]
        record = self.tracker.admit(peer, request)
        if record is None:
            self.refusals.note(
                peer,
                f"REFUSED a connection from {peer}: too many open connections (at most "
                f"{self.limits.max_connections}, {self.limits.max_per_address} per address)",
                "connections",
            )
            self.shutdown_request(request)
            return
        threading.Thread(target=self._serve, args=(request, client_address, record), daemon=True).start()

    def _serve(self, request, client_address, record) -> None:
        """The TLS handshake in the connection's own thread (under its deadline), then its requests."""
        try:
            request.settimeout(self.limits.idle_seconds)
            if self.tls is not None:
                request = record.sock = self.tls.wrap_socket(request, server_side=True)
            self.local.record = record
            self.RequestHandlerClass(request, client_address, self)
        except Exception:  # noqa: BLE001 - a peer that fails the handshake or hangs up is not news
            pass
        finally:
            self.shutdown_request(request)
            self.tracker.release(record)

    def backend_connection(self) -> http.client.HTTPConnection:
        return _UnixConnection(self.backend, self.backend_context, self.limits.backend_seconds)


class _GateServer6(_GateServer):
    address_family = socket.AF_INET6


class _UnixConnection(http.client.HTTPConnection):
    """HTTP (over TLS unless ``context`` is None) to the SuperLink through its Unix socket."""

    def __init__(self, path: Path, context: ssl.SSLContext | None, timeout: float):
        super().__init__("127.0.0.1", timeout=timeout)
        self.path, self.context = path, context

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.path))
            self.sock = self.context.wrap_socket(sock, server_hostname="127.0.0.1") if self.context else sock
        except OSError:
            sock.close()
            raise


class _HeadersTooLarge(Exception):
    pass


class _BoundedReader:
    """The request stream, with a byte budget for the request line and headers (the body is read unbounded)."""

    def __init__(self, raw):
        self.raw, self.left = raw, -1

    def readline(self, size: int = -1) -> bytes:
        if self.left < 0:
            return self.raw.readline(size)
        line = self.raw.readline(self.left + 1 if size < 0 else min(size, self.left + 1))
        self.left -= len(line)
        if self.left < 0:
            raise _HeadersTooLarge
        return line

    def read(self, size: int = -1) -> bytes:
        return self.raw.read(size)


class _GateHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Flower's SuperNode (httpx) expects
    server: _GateServer
    answering = False  # the SuperLink's answer has started to go back: no other status can follow
    # What a refusal names when the request line itself was never read whole:
    command, path, request_version = "?", "?", "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.record = self.server.local.record
        self.rfile = _BoundedReader(self.rfile)

    def handle_one_request(self) -> None:
        limits = self.server.limits
        self.server.tracker.allow(
            self.record, limits.idle_seconds, f"no complete request within {limits.idle_seconds:g}s"
        )
        self.rfile.left = limits.max_header_bytes
        try:
            super().handle_one_request()
        except _HeadersTooLarge:
            self._log(f"request line and headers over {limits.max_header_bytes} bytes", "size")
            self._reply(431, b"request headers too large\n", close=True)

    def parse_request(self) -> bool:
        ok = super().parse_request()
        self.rfile.left = -1  # the headers are in; the body is bounded by Content-Length and its deadline
        return ok and not self.record.cut  # a connection cut mid-headers looks complete: never forward it

    def handle_expect_100(self) -> bool:
        """Invite the body ("100 Continue") only when it will be forwarded; else do_POST refuses it unread."""
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return True
        if FLEET_PATH.fullmatch(self.path) and 0 <= length <= self.server.limits.max_body:
            return super().handle_expect_100()
        return True

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        """Quiet: refusals go to the refusal log; everything else is in the SuperLink's log."""

    def do_POST(self) -> None:
        if not FLEET_PATH.fullmatch(self.path):
            return self._refuse()
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._reply(411, b"a Content-Length is required\n", close=True)
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0:
            return self._reply(400, b"bad Content-Length\n", close=True)
        limits = self.server.limits
        if length > limits.max_body:
            self._log(
                f"a body of {length} bytes is over the limit of {limits.max_body} bytes "
                f"({limits.max_body / MIB:g} MiB, fedjava server --max-request-mb)",
                "size",
            )
            return self._reply(413, f"request body over {limits.max_body} bytes\n".encode(), close=True)
        self.server.tracker.allow(
            self.record,
            limits.body_seconds + limits.transfer_seconds(length),
            f"a body of {length} bytes not received in time",
        )
        if not self.server.in_flight.take(length, limits.body_seconds):
            return self._reply(503, b"the server is busy; try again\n", close=True)
        upstream, self.answering = self.server.backend_connection(), False
        try:
            self._forward(upstream, length)
        except (OSError, http.client.HTTPException):
            if self.answering:
                self.close_connection = True  # half an answer went out: the client sees a cut connection
            else:
                self._reply(502, b"the SuperLink is not answering\n", close=True)
        finally:
            upstream.close()
            self.server.in_flight.give_back(length)

    def do_GET(self) -> None:
        self._refuse()

    do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _refuse(self) -> None:
        self._log(f"only the clients' Fleet API is served on port {self.server.server_address[1]}", "path")
        self._reply(403, REFUSAL, close=True)  # its body is never read, so the connection cannot go on

    def _log(self, why: str, kind: str) -> None:
        peer = self.client_address[0]
        path = "".join(c if c.isprintable() else "?" for c in self.path[:200])
        self.server.refusals.note(peer, f"REFUSED {self.command} {path} from {peer}: {why}", kind)

    def _reply(self, status: int, body: bytes, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if close:  # the request body may still be unread: the connection cannot carry another request
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self, upstream: http.client.HTTPConnection, length: int) -> None:
        """Send this request to the SuperLink and its answer back, both streamed in chunks. One connection per
        request: the SuperLink closes idle ones after a few seconds, and a request body cannot be sent twice."""
        tracker, limits = self.server.tracker, self.server.limits
        tracker.allow(self.record, limits.transfer_seconds(length), f"a body of {length} bytes not received in time")
        upstream.putrequest("POST", self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                upstream.putheader(name, value)
        upstream.putheader("Host", self.server.backend_host)
        upstream.putheader("Content-Length", str(length))
        upstream.endheaders()
        _copy(self.rfile.read, upstream.send, length)
        self.server.largest_body = max(self.server.largest_body, length)
        tracker.allow(self.record, limits.backend_seconds + limits.body_seconds, "the SuperLink did not answer")
        response = upstream.getresponse()
        body = None if response.getheader("Content-Length") else response.read()  # chunked: read it whole
        size = len(body) if body is not None else int(response.getheader("Content-Length", "0"))
        tracker.allow(self.record, limits.transfer_seconds(size), f"an answer of {size} bytes not read in time")
        self.answering = True
        self.send_response(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP and name.lower() not in ("content-length", "server", "date"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if body is not None:
            self.wfile.write(body)
        else:
            _copy(response.read, self.wfile.write, size)


def _copy(read: Callable[[int], bytes], write: Callable[[bytes], object], length: int) -> None:
    """Move exactly ``length`` bytes without holding them all in memory (an adapter can be large)."""
    left = length
    while left > 0:
        chunk = read(min(CHUNK, left))
        if not chunk:
            raise ConnectionError(f"the peer closed the connection with {left} byte(s) still to come")
        write(chunk)
        left -= len(chunk)
