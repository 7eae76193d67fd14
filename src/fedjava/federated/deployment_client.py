"""``fedjava client``: one data owner in distributed mode, a Flower SuperNode whose ClientApp (fedjava's own,
see client_app.py) trains only on this machine's data file.

Before it connects it checks the data file and, over TLS, the server's certificate against the CA, so these
mistakes end with one clear message instead of endless retries. A SuperNode ends when the server it joined
restarts; the client then starts a new one, which joins the restarted server.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fedjava.federated import certs
from fedjava.federated.deployment_options import ClientOptions
from fedjava.federated.flower_runtime import (
    DEFAULT_PORT,
    INSECURE_WARNING,
    DeploymentError,
    ManagedProcess,
    flower_env,
    free_port,
    tool,
)
from fedjava.prompts import SampleError, load_samples

EXIT_NODE_AUTH_REFUSED = 305  # flower-supernode: "Failed to activate SuperNode"


def split_address(server: str) -> tuple[str, int]:
    """``HOST:PORT`` (an IPv6 address in brackets: ``[::1]:9092``) as (host, port); DeploymentError naming what
    is wrong otherwise, before anything connects."""
    example = f"e.g. fl-server.example.org:{DEFAULT_PORT}, 10.0.0.5:{DEFAULT_PORT} or [2001:db8::5]:{DEFAULT_PORT}"
    host, sep, port = server.strip().rpartition(":")
    if "://" in server:
        raise DeploymentError(f"--server {server}: give HOST:PORT without a scheme ({example})")
    if not sep or not host or not port:
        raise DeploymentError(f"--server {server}: expected HOST:PORT ({example})")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise DeploymentError(f"--server {server}: '{port}' is not a port number (1 to 65535)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise DeploymentError(f"--server {server}: '{host}' in brackets is not an IPv6 address") from None
        return host, int(port)
    if ":" in host:
        raise DeploymentError(f"--server {server}: write an IPv6 address in brackets ({example})")
    try:
        certs.check_hosts([host])
    except certs.CertificateError:
        raise DeploymentError(
            f"--server {server}: '{host}' is neither an IP address nor a valid host name ({example})"
        ) from None
    return host, int(port)


def check_client_data(path: Path, client_id: int) -> int:
    """The number of samples in the client's data file; DeploymentError when missing, malformed or empty."""

    if not path.is_file():
        raise DeploymentError(
            f"client {client_id}: data file {path} not found. Pass --data FILE, or make the "
            "shards with 'fedjava data split --clients N' and copy client_"
            f"{client_id}.json here"
        )
    try:
        samples = load_samples(path)
    except (SampleError, ValueError, UnicodeDecodeError) as exc:
        raise DeploymentError(f"client {client_id}: data file {path} is malformed: {exc}") from None
    if not samples:
        raise DeploymentError(f"client {client_id}: data file {path} holds no samples")
    return len(samples)


def check_server_certificate(host: str, port: int, ca: Path, wait: float, printer: Callable[[str], None]) -> None:
    """Connect once over TLS and verify the server's certificate with ``ca`` before the SuperNode starts, so
    a wrong CA or host name fails with a clear message instead of endless retries."""
    context = ssl.create_default_context(cafile=str(ca))
    try:
        with _connect(host, port, wait, printer) as raw, context.wrap_socket(raw, server_hostname=host):
            return
    except ssl.SSLCertVerificationError as exc:
        if exc.verify_code in (18, 19, 20, 21):  # self-signed / unknown issuer / chain not verifiable
            why = (
                f"its certificate is not signed by the CA in {ca} ({exc.verify_message}). Use the ca.crt "
                "made with the server's certificate (fedjava certs on the server) as --ca"
            )
        elif exc.verify_code == 62:  # hostname mismatch
            why = (
                f"its certificate is not valid for the name '{host}' ({exc.verify_message}). Connect with a "
                "name or address given to 'fedjava certs --hosts' on the server"
            )
        else:
            why = f"{exc.verify_message}; check --ca {ca} and the server's certificate"
        raise DeploymentError(f"the server at {host}:{port} cannot be trusted: {why}") from None
    except ssl.SSLError as exc:
        raise DeploymentError(
            f"TLS with the server at {host}:{port} failed ({exc.reason or exc}): was the server "
            "started with --insecure? Then the clients need --insecure too"
        ) from None
    except OSError as exc:  # the connection broke during the handshake
        raise DeploymentError(
            f"TLS with the server at {host}:{port} failed ({exc.strerror or exc}); is the port the server's --port?"
        ) from None


def check_server_is_plain(host: str, port: int, wait: float, printer: Callable[[str], None]) -> None:
    """With ``--insecure``: DeploymentError when the server speaks TLS, which the SuperNode would retry forever
    without saying why."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only asking whether it speaks TLS at all; nothing is sent
    try:
        with _connect(host, port, wait, printer) as raw:
            raw.settimeout(5.0)
            with context.wrap_socket(raw, server_hostname=host):
                pass
    except OSError:  # no TLS handshake (ssl.SSLError and time-outs are OSErrors): a plain server, as expected
        return
    raise DeploymentError(
        f"the server at {host}:{port} uses TLS, but this client was started with --insecure: "
        "leave out --insecure (the client then needs the server's ca.crt as --ca and its key as "
        "--key)"
    )


def _connect(host: str, port: int, wait: float, printer: Callable[[str], None]) -> socket.socket:
    """A TCP connection to the server, waiting up to ``wait`` seconds (0: forever) for it to be reachable."""
    deadline = time.time() + wait if wait > 0 else None
    said = False
    while True:
        try:
            return socket.create_connection((host, port), timeout=10)
        except OSError as exc:
            if deadline is not None and time.time() > deadline:
                raise DeploymentError(
                    f"the server at {host}:{port} is not reachable ({exc}); is it running, and is "
                    "the port open in its firewall?"
                ) from None
            if not said:
                printer(f"Waiting for the server at {host}:{port} ({exc.strerror or exc}) ...")
                said = True
            time.sleep(1.0)


def run_client(opts: ClientOptions, printer: Callable[[str], None] = print) -> int:
    """Check the data and the server, then run the SuperNode until it ends (Ctrl-C or SIGTERM stop it)."""
    host, port = split_address(opts.server)
    data = (opts.data or Path("data") / f"client_{opts.client_id}.json").expanduser().resolve()
    count = check_client_data(data, opts.client_id)
    printer(f"Client {opts.client_id}: {count} training sample(s) in {data}")
    key = opts.key or Path("keys") / f"client{opts.client_id}{certs.PRIVATE_KEY_SUFFIX}"
    if opts.insecure:
        printer(f"warning: {INSECURE_WARNING}")
        check_server_is_plain(host, port, opts.wait, printer)
    else:
        if not opts.ca.is_file():
            raise DeploymentError(
                f"CA certificate {opts.ca} not found: copy the server's ca.crt here (or pass --ca FILE)"
            )
        certs.check_certificate(opts.ca, "CA certificate")
        if not key.is_file():
            raise DeploymentError(
                f"client key {key} not found: make it with 'fedjava certs --client-key "
                f"client{opts.client_id} --out {key.parent}', give the .pub file to the server "
                "operator, or pass --key FILE"
            )
        certs.check_private_key(key)
        check_server_certificate(host, port, opts.ca, opts.wait, printer)
    node_port = opts.node_port or free_port()
    node_config = f'partition-id={opts.client_id} data-file="{data}"'
    command = [
        tool("flower-supernode"),
        "--superlink",
        f"{host}:{port}",
        "--node-config",
        node_config,
        "--port",
        str(node_port),
    ]
    if opts.insecure:
        command.append("--insecure")
    else:
        command += ["--root-certificates", str(opts.ca.resolve()), "--auth-supernode-private-key", str(key.resolve())]
    env = flower_env(Path(tempfile.mkdtemp(prefix="fedjava-client-")) / "flwr_home")
    while True:
        watcher = _SuperNodeWatcher(printer, opts.client_id, opts.server, opts.verbose)
        node = ManagedProcess(f"client {opts.client_id}", command, env, None, watcher.line)
        try:
            code = node.wait()
        finally:
            node.stop()
        code = watcher.exit_code or code  # the SuperNode names Flower's exit code, then exits with 1
        if code == EXIT_NODE_AUTH_REFUSED:
            raise DeploymentError(
                f"client {opts.client_id}: the server at {opts.server} refused this client: its key {key} is not "
                f"registered there. Give {key.with_suffix(certs.PUBLIC_KEY_SUFFIX).name} to the server operator (it "
                "goes in the server's --client-keys folder) and restart the server"
            )
        if not watcher.joined:
            tail = " | ".join(line for line in node.tail[-6:] if line.strip())
            raise DeploymentError(
                f"client {opts.client_id}: Flower's SuperNode stopped (exit code {code}) before "
                f"joining the federation: {tail}"
            )
        # A SuperNode ends when the server it joined restarts (e.g. fedjava server --resume after a crash):
        # start a new one, which joins the new server once it is reachable.
        printer(f"Client {opts.client_id}: the server went away (restarted?); reconnecting ...")
        time.sleep(2.0)
        if opts.insecure:
            check_server_is_plain(host, port, opts.wait, printer)
        else:
            check_server_certificate(host, port, opts.ca, opts.wait, printer)


class _SuperNodeWatcher:
    def __init__(self, printer: Callable[[str], None], client_id: int, server: str, verbose: bool):
        self.printer, self.client_id, self.server, self.verbose = printer, client_id, server, verbose
        self.retrying = False
        self.exit_code = 0
        self.joined = False

    def line(self, text: str) -> None:
        match = re.search(r"Exit Code: (\d+)", text)
        if match:
            self.exit_code = int(match.group(1))
        match = re.search(r"SuperNode ID: (\d+)", text)
        self.joined = self.joined or match is not None
        if self.verbose:
            self.printer(f"[supernode] {text}")
            return
        if self.exit_code:
            return  # the SuperNode is on its way out; run_client says why
        who = f"Client {self.client_id}"
        if match:
            self.retrying = False
            self.printer(f"{who}: joined the federation at {self.server} as node {match.group(1)}; waiting for rounds")
        elif "Connection attempt failed" in text:
            if not self.retrying:
                self.printer(
                    f"{who}: {'lost the connection to' if self.joined else 'cannot reach'} the server, retrying ..."
                )
            self.retrying = True
        elif "Receiving: train message" in text:
            self.printer(f"{who}: received the global adapter, training ...")
        elif text.startswith((f"{who}, round", "ERROR", "error")):
            self.printer(text)
