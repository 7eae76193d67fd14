"""``fedjava server``: distributed mode's coordinating side, fedjava's ServerApp on Flower's deployment runtime.

:func:`run_server` starts a Flower SuperLink (TLS and client authentication unless ``insecure``) in a network
namespace of its own (:mod:`private_link`), so that its Control API is the operator's alone: it is reached through
:class:`~fedjava.federated.relay.OperatorRelay` on 127.0.0.1, for the user running fedjava server only. It registers
the clients' public keys, opens the public port through :mod:`gate` (clients reach the Fleet API and nothing else,
within bounds), submits the federated job with ``flwr run``, relays the ServerApp's report and prints every run or
key it did not make (:mod:`server_watch`); it stops the SuperLink when the job ends. The clients' side is
:mod:`deployment_client`; the process handling is :mod:`flower_runtime`.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from fedjava.config import Config
from fedjava.federated import certs
from fedjava.federated.checkpoints import prepare_output_dir
from fedjava.federated.common import RUN_CONFIG_OVERRIDES, RUN_CONFIG_PRESET, RUN_CONFIG_RESUME, method_name, valid_path
from fedjava.federated.deployment_options import ServerOptions
from fedjava.federated.flower_runtime import (
    ANSI,
    INSECURE_WARNING,
    DeploymentError,
    ManagedProcess,
    flower_env,
    tool,
)
from fedjava.federated.gate import FleetGate, backend_tls, server_tls
from fedjava.federated.gate_limits import MIB, GateLimits, RefusalLog
from fedjava.federated.private_link import INNER_PORT, SOCKET_NAME, check_isolation, isolated_command, wait_until_ready
from fedjava.federated.relay import OperatorRelay
from fedjava.federated.server_watch import ForeignActivity, JobPrinter, SuperLinkWatcher

CONNECTION = "fedjava"  # the SuperLink connection's name in the private Flower configuration file


# ---------------------------------------------------------------------- the server side


ROOT_REFUSAL = (
    "fedjava server is running as root: the ServerApp of its job, and of any app submitted to it, would run "
    "as root. Run it as an ordinary user, or pass --allow-root where root is the only user (e.g. a "
    "container)"
)


def check_server_options(opts: ServerOptions) -> None:
    """Fail before anything starts: root, bubblewrap, certificates, client keys, the body limit, a free port."""
    if os.geteuid() == 0 and not opts.allow_root:
        raise DeploymentError(ROOT_REFUSAL)
    if not 0.001 <= opts.max_request_mb <= 4096:
        raise DeploymentError(
            f"--max-request-mb {opts.max_request_mb:g}: give a size in MiB from 0.001 to 4096 "
            f"(default {GateLimits.max_body // MIB})"
        )
    check_isolation()
    if not opts.insecure:
        for name in (certs.CA_CERT, certs.SERVER_CERT, certs.SERVER_KEY):
            if not (opts.certs_dir / name).is_file():
                raise DeploymentError(
                    f"{opts.certs_dir / name} not found: make the certificates with 'fedjava certs "
                    f"--hosts SERVER_NAME --out {opts.certs_dir}' (or pass --certs DIR, or "
                    "--insecure on a trusted network)"
                )
        certs.check_certificate(opts.certs_dir / certs.CA_CERT, "CA certificate")
        certs.check_certificate(opts.certs_dir / certs.SERVER_CERT, "server certificate")
        keys = sorted(opts.client_keys.glob(f"*{certs.PUBLIC_KEY_SUFFIX}")) if opts.client_keys.is_dir() else []
        if not keys:
            raise DeploymentError(
                f"no client public keys (*.pub) in {opts.client_keys}: make one per client with "
                f"'fedjava certs --client-key client0 --out {opts.client_keys}' and keep the .pub "
                "files there (or pass --client-keys DIR)"
            )
        for key in keys:
            certs.check_public_key(key)
        opts.public_keys = keys
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the SuperLink binds: TIME_WAIT is fine
        try:
            probe.bind((opts.host, opts.port))
        except OSError as exc:
            raise _port_taken(opts, exc) from None


def _port_taken(opts: ServerOptions, exc: OSError) -> DeploymentError:
    return DeploymentError(
        f"cannot listen on {opts.host}:{opts.port} ({exc.strerror}): is another server running? "
        "Stop it or choose another --port"
    )


def run_config_overrides(cfg: Config) -> str:
    """Every key of ``cfg`` that differs from the defaults, as the ``overrides`` string of the run config:
    the ServerApp and every ClientApp rebuild exactly ``cfg`` from it (see common.config_from_run_config)."""
    default = Config()
    items = []
    for f in fields(Config):
        value = getattr(cfg, f.name)
        if value == getattr(default, f.name):
            continue
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = str(value).lower()
        items.append(f"{f.name}={value}")
    return shlex.join(items)


def absolute_paths(cfg: Config) -> Config:
    """``cfg`` with its folders made absolute: the ServerApp runs in a process Flower starts elsewhere."""
    import dataclasses

    changes = {}
    for key in ("data_dir", "results_dir", "output_dir", "model_cache_dir"):
        value = getattr(cfg, key, "")
        if value:
            changes[key] = str(Path(value).expanduser().resolve())
    return dataclasses.replace(cfg, **changes)


def run_server(cfg: Config, opts: ServerOptions, printer: Callable[[str], None] = print) -> int:
    """Start the SuperLink, submit the job, stream its report; 0 when final_model was written."""

    cfg = absolute_paths(cfg)
    if not valid_path(cfg).is_file():
        raise DeploymentError(
            f"{valid_path(cfg)} not found: the server evaluates the global model on it. "
            f"Make it with 'fedjava data split --clients {cfg.num_clients} --data-dir "
            f"{cfg.data_dir}' (the clients' shards may stay on their machines)"
        )
    check_server_options(opts)
    prepare_output_dir(cfg, opts.resume, opts.overwrite)
    if opts.insecure:
        printer(f"warning: {INSECURE_WARNING}")
    out = cfg.resolved_output_dir(method_name(cfg))
    work = Path(tempfile.mkdtemp(prefix="fedjava-server-"))  # mode 0700: the SuperLink's socket is in there
    env = flower_env(work / "flwr_home")
    socket_path = work / SOCKET_NAME
    ca = None if opts.insecure else (opts.certs_dir / certs.CA_CERT).resolve()
    app_dir = write_app(work / "app")
    run_config = work / "run_config.toml"
    write_run_config(run_config, cfg, opts.resume)
    watcher = SuperLinkWatcher(printer, cfg.num_clients, opts.verbose, {})
    job_printer = JobPrinter(printer, opts.verbose)
    refusals = RefusalLog(printer)
    started = time.time()
    running: list[ManagedProcess] = []
    stops: list[Callable[[], None]] = []
    gate = None
    try:
        # The SuperLink, the SuperExec and the ServerApp in a network namespace of their own: the Control API has
        # no login in open-source Flower, so no port of theirs may exist where another user could connect.
        link = ManagedProcess(
            "SuperLink",
            isolated_command(superlink_command(opts, INNER_PORT, work / "superlink.db"), socket_path),
            env,
            out / "superlink.log",
            watcher.line,
        )
        running.append(link)
        wait_until_ready(socket_path, link, timeout=120)
        operator = open_operator_relay(socket_path, refusals, printer)
        stops.append(operator.stop)
        write_connection(work / "flwr_home", f"127.0.0.1:{operator.port}", ca)
        watcher.names = register_keys(opts.public_keys, env, printer)
        foreign = ForeignActivity(
            f"127.0.0.1:{operator.port}", ca, {int(node) for node in watcher.names}, lambda: job_printer.run_id, printer
        )
        foreign.start()
        stops.append(foreign.stop)
        gate = open_gate(opts, socket_path, refusals, printer)
        stops.append(gate.stop)
        printer(f"Flower's log: {out / 'superlink.log'}")
        printer(
            f"Submitting the job: {cfg.algorithm}, {cfg.num_rounds} round(s); waiting for {cfg.num_clients} "
            "client(s) to connect"
        )
        job = ManagedProcess(
            "flwr run",
            [tool("flwr"), "run", str(app_dir), CONNECTION, "--stream", "--run-config", str(run_config)],
            env,
            out / "flwr_run.log",
            job_printer.line,
        )
        running.append(job)
        job.wait()
        printer(
            f"Largest client request: {gate.largest_body} bytes (limit {gate.server.limits.max_body}, --max-request-mb)"
        )
    finally:
        for stop in reversed(stops):
            stop()
        for proc in reversed(running):
            proc.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0 if _job_finished(out, started) else 1


def _job_finished(out: Path, started: float) -> bool:
    history = out / "training_history.json"
    final = out / "final_model"
    if not final.is_dir() or not history.is_file() or history.stat().st_mtime < started:
        return False
    return "summary" in json.loads(history.read_text(encoding="utf-8"))


def write_app(folder: Path) -> Path:
    """The Flower app that ``flwr run`` submits: fedjava's ServerApp and ClientApp (fedjava must be installed
    where they run) and the three run-config keys the job uses."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(
        f"""[project]
name = "fedjava-job"
version = "0.1.0"
description = "fedjava's federated LoRA job (written by fedjava server)"
license = "Apache-2.0"

[tool.flwr.app]
publisher = "fedjava"

[tool.flwr.app.components]
serverapp = "fedjava.federated.server_app:app"
clientapp = "fedjava.federated.client_app:app"

[tool.flwr.app.config]
{RUN_CONFIG_PRESET} = ""
{RUN_CONFIG_RESUME} = false
{RUN_CONFIG_OVERRIDES} = ""
""",
        encoding="utf-8",
    )
    return folder


def write_run_config(path: Path, cfg: Config, resume: bool) -> None:
    path.write_text(
        f'{RUN_CONFIG_PRESET} = ""\n{RUN_CONFIG_RESUME} = {str(resume).lower()}\n'
        f"{RUN_CONFIG_OVERRIDES} = {json.dumps(run_config_overrides(cfg))}\n",
        encoding="utf-8",
    )


def write_connection(flwr_home: Path, address: str, ca: Path | None) -> None:
    """Flower's configuration file (in a private FLWR_HOME) with one connection to the local SuperLink."""
    flwr_home.mkdir(parents=True, exist_ok=True)
    security = "insecure = true" if ca is None else f"root-certificates = {json.dumps(str(ca.resolve()))}"
    (flwr_home / "config.toml").write_text(
        f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\naddress = "{address}"\n{security}\n',
        encoding="utf-8",
    )


def superlink_command(opts: ServerOptions, port: int, database: Path) -> list[str]:
    """The SuperLink on 127.0.0.1:``port`` of its own network namespace (see :func:`isolated_command`)."""
    command = [
        tool("flower-superlink"),
        "--disable-runtime-dependency-installation",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--database",
        str(database),
    ]
    if opts.insecure:
        return command + ["--insecure"]
    return command + [
        "--ssl-ca-certfile",
        str((opts.certs_dir / certs.CA_CERT).resolve()),
        "--ssl-certfile",
        str((opts.certs_dir / certs.SERVER_CERT).resolve()),
        "--ssl-keyfile",
        str((opts.certs_dir / certs.SERVER_KEY).resolve()),
        "--enable-supernode-auth",
    ]


def register_keys(keys: list[Path], env: dict[str, str], printer: Callable[[str], None]) -> dict[str, str]:
    """Register every client key with the SuperLink, before the gate opens (so no client is refused for
    connecting too early); returns {node id: key name}."""
    names = {}
    for key in keys:
        node = register_key(key, env)
        names[node] = key.stem
        printer(f"Registered client key {key.name} (node {node})")
    return names


def open_operator_relay(socket_path: Path, refusals: RefusalLog, printer: Callable[[str], None]) -> OperatorRelay:
    """The Control API for Flower's CLI on 127.0.0.1, for this user id only."""
    uid = os.getuid()
    user = _user_name(uid)

    def refused(owner: int | None) -> None:
        who = f"user {_user_name(owner)} (uid {owner})" if owner is not None else "a process of unknown owner"
        refusals.note(
            f"uid {owner}",
            f"REFUSED a connection to the Control API from {who}: only {user} (uid {uid}), "
            "who runs fedjava server, may use it",
        )

    relay = OperatorRelay(socket_path, uid, refused)
    relay.start()
    printer(
        f"Control API (job submission, key registration, run listing): 127.0.0.1:{relay.port}, for user {user} "
        f"(uid {uid}) only; the SuperLink itself runs in a network namespace of its own"
    )
    return relay


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def open_gate(
    opts: ServerOptions, socket_path: Path, refusals: RefusalLog, printer: Callable[[str], None]
) -> FleetGate:
    """Listen on ``--host:--port`` for the clients, passing only the Fleet API through to the SuperLink."""
    tls = backend = None
    if not opts.insecure:
        tls = server_tls(opts.certs_dir / certs.SERVER_CERT, opts.certs_dir / certs.SERVER_KEY)
        backend = backend_tls(opts.certs_dir / certs.CA_CERT)
    max_body = int(opts.max_request_mb * MIB)
    limits = GateLimits(max_body=max_body, in_flight=max(GateLimits.in_flight, max_body))  # one body always fits
    try:
        gate = FleetGate(opts.host, opts.port, socket_path, f"127.0.0.1:{INNER_PORT}", tls, backend, refusals, limits)
    except OSError as exc:
        raise _port_taken(opts, exc) from None
    gate.start()
    where = "every interface" if opts.host in ("0.0.0.0", "") else opts.host
    security = "INSECURE: no TLS, no client authentication" if opts.insecure else "TLS, client authentication"
    printer(
        f"Server listening on {where}, port {opts.port} ({security}; clients reach the Fleet API only, requests "
        f"up to {limits.max_body} bytes, at most {limits.max_connections} connections)"
    )
    return gate


def register_key(key: Path, env: dict[str, str]) -> str:
    """Register one public key; returns the node id Flower gives it."""
    result = subprocess.run(
        [tool("flwr"), "supernode", "register", str(key.resolve()), CONNECTION, "--name", key.stem],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    text = ANSI.sub("", result.stdout + result.stderr)
    match = re.search(r"SuperNode (\d+) registered successfully", text)
    if result.returncode != 0 or not match:
        raise DeploymentError(f"could not register the client key {key}: {' '.join(text.split())[-400:]}")
    return match.group(1)
