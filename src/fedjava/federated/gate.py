"""The only door clients can knock on in distributed mode: the Fleet API, and nothing else of the SuperLink.

Why it exists: Flower 1.42's SuperLink serves its Fleet API (what a SuperNode needs), its Control API (submit
a job, register a client key, list runs) and its Runtime API (the ServerApp's own channel) on one HTTP port,
and open-source Flower has no login on the Control API (``--control-api-address`` is deprecated and only moves a
legacy gRPC copy; the HTTP Control API stays on the shared port). Anyone who can reach that port could submit
code that runs on the server and on every client. So ``fedjava server`` binds the SuperLink to 127.0.0.1 only
and puts :class:`FleetGate` on the public port: it passes ``POST /v1/fleet/<name>`` (the twelve calls of
Flower's SuperNode) through to the SuperLink and answers everything else 403, without forwarding a byte.
Client authentication stays with the SuperLink: the signed headers pass through unchanged.
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

# The Fleet API's paths are /v1/fleet/register-node, /v1/fleet/pull-messages, ...: a strict pattern, so no
# "..", "%2e", "//" or query string can make a path that the SuperLink routes elsewhere.
FLEET_PATH = re.compile(r"/v1/fleet/[a-z][a-z-]{0,62}")
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "host", "expect"})
IDLE_SECONDS = 300.0  # a client connection (or a backend call) silent this long is closed
CHUNK = 1 << 20
REFUSAL = (b"fedjava server: this port serves only the clients' Fleet API. Job submission, key registration and "
           b"run listing are available on the server machine alone.\n")

Refused = Callable[[str, str, str], None]  # (client address, method, path)


def server_tls(certfile: Path, keyfile: Path) -> ssl.SSLContext:
    """The public port's TLS: the server certificate the clients verify with ca.crt."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(certfile), str(keyfile))
    return context


def backend_tls(cafile: Path) -> ssl.SSLContext:
    """The gate's own TLS to the SuperLink on 127.0.0.1, verified like any client (the certificate names it)."""
    return ssl.create_default_context(cafile=str(cafile))


class FleetGate:
    """Listen on ``host:port``; forward Fleet API calls to the SuperLink at ``127.0.0.1:backend_port``."""

    def __init__(self, host: str, port: int, backend_port: int, tls: ssl.SSLContext | None,
                 backend: ssl.SSLContext | None, on_refused: Refused):
        self.server = (_GateServer6 if ":" in host else _GateServer)((host, port), _GateHandler)
        self.server.tls, self.server.backend, self.server.on_refused = tls, backend, on_refused
        self.server.backend_port = backend_port
        self.thread = threading.Thread(target=self.server.serve_forever, name="fleet gate", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _GateServer(ThreadingHTTPServer):
    daemon_threads = True
    tls: ssl.SSLContext | None
    backend: ssl.SSLContext | None
    backend_port: int
    on_refused: Refused

    def finish_request(self, request, client_address) -> None:
        """TLS handshake in the connection's own thread, so a slow or silent peer never blocks the others."""
        request.settimeout(IDLE_SECONDS)
        if self.tls is None:
            return super().finish_request(request, client_address)
        with self.tls.wrap_socket(request, server_side=True) as wrapped:
            super().finish_request(wrapped, client_address)

    def handle_error(self, request, client_address) -> None:
        """A peer that fails the handshake or hangs up is not news; the SuperLink logs what matters."""

    def backend_connection(self) -> http.client.HTTPConnection:
        if self.backend is None:
            return http.client.HTTPConnection("127.0.0.1", self.backend_port, timeout=IDLE_SECONDS)
        return http.client.HTTPSConnection("127.0.0.1", self.backend_port, timeout=IDLE_SECONDS,
                                           context=self.backend)


class _GateServer6(_GateServer):
    address_family = socket.AF_INET6


class _GateHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Flower's SuperNode (httpx) expects
    server: _GateServer
    answering = False  # the SuperLink's answer has started to go back: no other status can follow

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        """Quiet: refusals go to ``on_refused``; everything else is in the SuperLink's log."""

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

    def do_GET(self) -> None:
        self._refuse()

    do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _refuse(self) -> None:
        self.server.on_refused(self.client_address[0], self.command, self.path[:200])
        self._reply(403, REFUSAL, close=True)  # its body is never read, so the connection cannot go on

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
        upstream.putrequest("POST", self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                upstream.putheader(name, value)
        upstream.putheader("Host", f"127.0.0.1:{self.server.backend_port}")
        upstream.putheader("Content-Length", str(length))
        upstream.endheaders()
        _copy(self.rfile.read, upstream.send, length)
        response = upstream.getresponse()
        body = None if response.getheader("Content-Length") else response.read()  # chunked: read it whole
        self.answering = True
        self.send_response(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP and name.lower() not in ("content-length", "server", "date"):
                self.send_header(name, value)
        size = len(body) if body is not None else int(response.getheader("Content-Length", "0"))
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
