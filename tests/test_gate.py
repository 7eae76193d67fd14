"""The public port's gate (fedjava.federated.gate) with real sockets on 127.0.0.1 and a stand-in SuperLink behind a
Unix socket that records every byte it gets: what passes, what is refused, and the bounds on what anyone who
reaches the port can cost the server (body size, header size, connections, slow peers, console lines)."""

from __future__ import annotations

import http.client
import os
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from socketserver import ThreadingUnixStreamServer

import numpy as np
import pytest
from flwr.app import Array, ArrayRecord

from fedjava.federated.gate import FleetGate
from fedjava.federated.gate_limits import MIB, GateLimits, RefusalLog


class Backend:
    """A stand-in SuperLink on a Unix socket that records every request and every byte it receives, and echoes
    the body's size."""

    def __init__(self, folder: Path):
        seen, received = self.seen, self.received = [], []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                raw = self.rfile

                class Counting:  # every byte the SuperLink would have to hold
                    def readline(self, size=-1):
                        line = raw.readline(size)
                        received.append(len(line))
                        return line

                    def read(self, size=-1):
                        data = raw.read(size)
                        received.append(len(data))
                        return data

                    def close(self):
                        raw.close()

                self.rfile = Counting()

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if len(body) < int(self.headers["Content-Length"]):
                    return  # cut short: an HTTP server drops an incomplete request
                seen.append((self.path, dict(self.headers), body))
                reply = f"{len(body)} bytes".encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.path = folder / "link.sock"
        self.server = ThreadingUnixStreamServer(str(self.path), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bytes_received(self) -> int:
        return sum(self.received)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gate(tmp_path):
    """Start a gate (limits and refusal log of the test's choosing) in front of a recording backend."""
    started = []

    def start(limits: GateLimits | None = None, window: float = 60.0) -> tuple[FleetGate, Backend, list[str]]:
        backend, lines = Backend(tmp_path), []
        gate = FleetGate(
            "127.0.0.1", 0, backend.path, "127.0.0.1:9091", None, None, RefusalLog(lines.append, window), limits
        )
        gate.start()
        started.append((gate, backend))
        return gate, backend, lines

    yield start
    for gate, backend in started:
        gate.stop()
        backend.close()


def test_the_gate_passes_the_fleet_api_and_nothing_else(gate):
    gate, backend, lines = gate()
    connection = http.client.HTTPConnection("127.0.0.1", gate.port, timeout=10)
    big = os.urandom(3 * 1024 * 1024 + 7)  # streamed through in chunks, bit for bit
    for body in (b"\x08\x01", big):  # two requests on one kept-alive connection
        connection.request(
            "POST",
            "/v1/fleet/push-object",
            body=body,
            headers={"X-Flwr-Node-Signature": "c2ln", "Content-Type": "application/protobuf"},
        )
        answer = connection.getresponse()
        assert (answer.status, answer.read()) == (200, f"{len(body)} bytes".encode())
    assert [(path, got) for path, _, got in backend.seen] == [
        ("/v1/fleet/push-object", b"\x08\x01"),
        ("/v1/fleet/push-object", big),
    ]
    assert backend.seen[0][1]["X-Flwr-Node-Signature"] == "c2ln"  # the node's signed headers pass unchanged
    assert backend.seen[0][1]["Host"] == "127.0.0.1:9091"
    assert gate.largest_body == len(big)

    for method, path in [
        ("POST", "/v1/control/list-runs"),
        ("POST", "/v1/control/start-run"),
        ("POST", "/v1/control/register-node"),
        ("POST", "/v1/runtime/acquire-task"),
        ("POST", "/v1/fleet/../control/list-runs"),
        ("POST", "/v1/fleet/%2e%2e/control/list-runs"),
        ("POST", "/v1/fleet//pull-messages"),
        ("POST", "/v1/fleet/pull-messages?x=1"),
        ("GET", "/v1/fleet/pull-messages"),
        ("GET", "/docs"),
        ("GET", "/health"),
    ]:
        connection = http.client.HTTPConnection("127.0.0.1", gate.port, timeout=10)
        connection.request(method, path, body=b"x" if method == "POST" else None)
        answer = connection.getresponse()
        assert answer.status == 403 and b"only the clients' Fleet API" in answer.read(), path
        connection.close()
    assert len(backend.seen) == 2  # not one refused request reached the SuperLink
    assert lines[:3] == [
        f"REFUSED POST {path} from 127.0.0.1: only the clients' Fleet API is served on port {gate.port}"
        for path in ("/v1/control/list-runs", "/v1/control/start-run", "/v1/control/register-node")
    ]


def test_an_oversized_body_is_refused_before_the_superlink_reads_a_byte(gate):
    gate, backend, lines = gate(GateLimits(max_body=1024 * 1024))
    with socket.create_connection(("127.0.0.1", gate.port), timeout=10) as sock:
        # 1.5 GB announced, as the probe did; the gate must answer from the headers alone
        sock.sendall(b"POST /v1/fleet/push-object HTTP/1.1\r\nHost: x\r\nContent-Length: 1500000000\r\n\r\n")
        sock.sendall(os.urandom(64 * 1024))
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413 ") and b"Connection: close" in answer
    assert backend.bytes_received() == 0 and not backend.seen  # the SuperLink never saw the request
    assert lines == [
        f"REFUSED POST /v1/fleet/push-object from 127.0.0.1: a body of 1500000000 bytes is over the limit "
        f"of {1024 * 1024} bytes (1 MiB, fedjava server --max-request-mb)"
    ]
    # at the limit it passes
    connection = http.client.HTTPConnection("127.0.0.1", gate.port, timeout=10)
    connection.request("POST", "/v1/fleet/push-object", body=b"y" * (1024 * 1024))
    assert connection.getresponse().status == 200 and len(backend.seen) == 1


def test_headers_beyond_their_budget_are_refused(gate):
    gate, backend, lines = gate(GateLimits(max_header_bytes=2048))
    with socket.create_connection(("127.0.0.1", gate.port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/fleet/pull-messages HTTP/1.1\r\n"
            + b"".join(f"X-Padding-{i}: {'a' * 200}\r\n".encode() for i in range(20))
            + b"\r\n"
        )
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert backend.bytes_received() == 0
    assert "request line and headers over 2048 bytes" in lines[0]


def test_idle_connections_beyond_the_cap_are_closed_without_a_thread(gate):
    gate, backend, lines = gate(GateLimits(max_connections=4, max_per_address=3))
    idle = [socket.create_connection(("127.0.0.1", gate.port), timeout=10) for _ in range(3)]
    # a fourth from the same address is over the per-address cap: closed at once, before any request
    extra = socket.create_connection(("127.0.0.1", gate.port), timeout=10)
    assert extra.recv(1) == b""
    deadline = time.time() + 10
    while gate.connections() != 3 and time.time() < deadline:
        time.sleep(0.05)
    assert gate.connections() == 3
    assert lines == ["REFUSED a connection from 127.0.0.1: too many open connections (at most 4, 3 per address)"]
    threads = threading.active_count()
    more = [socket.create_connection(("127.0.0.1", gate.port), timeout=10) for _ in range(20)]
    for sock in more:
        assert sock.recv(1) == b""  # each closed by the gate
    assert gate.connections() == 3 and threading.active_count() <= threads + 1
    for sock in [*idle, extra, *more]:
        sock.close()
    # once the idle ones are gone, a client gets through again
    deadline = time.time() + 10
    while gate.connections() and time.time() < deadline:
        time.sleep(0.05)
    connection = http.client.HTTPConnection("127.0.0.1", gate.port, timeout=10)
    connection.request("POST", "/v1/fleet/send-node-heartbeat", body=b"\x01")
    assert connection.getresponse().status == 200


def bytes_sent_before_cut(sock: socket.socket, start: bytes, most: int = 100, pause: float = 0.2) -> int:
    """Send ``start``, then one byte every ``pause`` s; how many went out before the other side ended the
    connection (``most``: it never did). Steady trickles like this reset a plain socket timeout every time."""
    sock.sendall(start)
    for sent in range(most):
        try:
            sock.sendall(b"a")
            time.sleep(pause)
            if select.select([sock], [], [], 0)[0] and sock.recv(4096) == b"":
                return sent
        except OSError:  # reset by the gate
            return sent
    return most


def wait_for_no_connections(gate: FleetGate) -> None:
    deadline = time.time() + 10
    while gate.connections() and time.time() < deadline:
        time.sleep(0.05)


def test_a_slow_loris_is_cut_at_its_deadline_however_steadily_it_sends(gate):
    gate, backend, lines = gate(GateLimits(idle_seconds=1.5))
    with socket.create_connection(("127.0.0.1", gate.port), timeout=10) as loris:
        assert bytes_sent_before_cut(loris, b"POST /v1/fleet/pull-messages HTTP/1.1\r\nX-Slow: ") < 100
    wait_for_no_connections(gate)
    assert gate.connections() == 0 and backend.bytes_received() == 0
    assert lines == ["REFUSED a connection from 127.0.0.1: cut, no complete request within 1.5s"]


def test_a_slow_body_is_cut_too(gate):
    gate, backend, lines = gate(GateLimits(body_seconds=1.0, min_rate=1024 * 1024))
    with socket.create_connection(("127.0.0.1", gate.port), timeout=10) as sock:
        start = b"POST /v1/fleet/push-object HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
        assert bytes_sent_before_cut(sock, start) < 100
    wait_for_no_connections(gate)  # the line is written before the connection is cut, so it is there now
    assert gate.connections() == 0 and not backend.seen  # the SuperLink never got a whole request
    assert lines == ["REFUSED a connection from 127.0.0.1: cut, a body of 1000 bytes not received in time"]


def test_many_refusals_give_a_bounded_number_of_console_lines(gate):
    gate, backend, lines = gate(window=60.0)
    for i in range(300):  # a scanner varying the path
        with socket.create_connection(("127.0.0.1", gate.port), timeout=10) as sock:
            sock.sendall(f"GET /probe/{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            assert sock.recv(4096).startswith(b"HTTP/1.1 403 ")
    assert len(lines) == 3  # three detailed lines per address, kind of refusal and minute ...
    assert lines[0] == f"REFUSED GET /probe/0 from 127.0.0.1: only the clients' Fleet API is served on port {gate.port}"
    gate.stop()  # ... and, when the minute ends (or the server stops), one line for the rest
    assert lines[3:] == ["REFUSED 297 more request(s) or connection(s) from 127.0.0.1 in the last minute"]


def test_the_refusal_log_bounds_lines_when_the_addresses_vary_too():
    lines: list[str] = []
    log = RefusalLog(lines.append, window=60.0, per_kind=3, max_lines=20)
    for i in range(5000):
        log.note(f"10.0.{i // 256}.{i % 256}", f"REFUSED something from 10.0.{i // 256}.{i % 256}")
    assert len(lines) == 20
    log.flush()
    assert len(lines) == 20 + 20 + 1 and lines[-1].startswith("REFUSED ") and "other address(es)" in lines[-1]
    counted = sum(int(line.split()[1]) for line in lines[20:])
    assert counted == 5000 - 20  # every refusal is accounted for
    log.note("10.9.9.9", "REFUSED again")  # a new window starts fresh
    assert lines[-1] == "REFUSED again"


def _architectures() -> dict:
    """The transformers configs of the models the shipped presets name (meta-device builds: no weights)."""
    from transformers import Gemma3TextConfig, Qwen3Config

    from fedjava.models import build_tiny_qwen3

    return {
        # the built-in model's dimensions, as its GGUF file states them (gemma3.* keys)
        "builtin:gemma-3-270m": Gemma3TextConfig(
            hidden_size=640,
            intermediate_size=2048,
            num_hidden_layers=18,
            num_attention_heads=4,
            num_key_value_heads=1,
            head_dim=256,
            vocab_size=262144,
        ),
        # Qwen3-8B's published config.json
        "Qwen/Qwen3-8B-Base": Qwen3Config(
            hidden_size=4096,
            intermediate_size=12288,
            num_hidden_layers=36,
            num_attention_heads=32,
            num_key_value_heads=8,
            head_dim=128,
            vocab_size=151936,
        ),
        "builtin:tiny-qwen3": build_tiny_qwen3()[0].config,
    }


def test_the_default_body_limit_admits_every_presets_largest_adapter_request_with_margin():
    from fedjava.config import list_presets, load_config
    from wire_size import adapter_of, largest_request, reply_like_fedjavas

    architectures, limit, largest = _architectures(), GateLimits().max_body, {}
    for preset in list_presets():
        cfg = load_config(str(preset), check_files=False)
        assert cfg.model_name in architectures, f"{preset.name}: add {cfg.model_name}'s dimensions to this test"
        largest[(cfg.model_name, cfg.lora_r, tuple(cfg.lora_target_modules))] = None
    for key in largest:
        model, rank, targets = key
        largest[key] = largest_request(reply_like_fedjavas(adapter_of(architectures[model], rank, list(targets))))
        print(f"{model} r={rank}: largest request {largest[key][0]} bytes ({largest[key][1]}), limit {limit}")
    assert max(size for size, _ in largest.values()) * 8 <= limit  # 8x margin over the largest preset's
    # and any adapter at all: Flower sends an array in chunks of at most 5 MiB, so one huge array still fits
    huge = ArrayRecord({"lora_B": Array(np.random.default_rng(0).standard_normal((12288, 256), dtype=np.float32))})
    size, what = largest_request(reply_like_fedjavas(huge))
    assert what == "push-object (ArrayChunk)" and 5 * MIB < size < 5 * MIB + 1024 and size * 1.5 < limit
