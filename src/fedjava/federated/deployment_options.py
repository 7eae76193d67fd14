"""How ``fedjava server`` and ``fedjava client`` run: :class:`ServerOptions`, which
:func:`fedjava.federated.deployment.run_server` takes, and :class:`ClientOptions`, which
:func:`fedjava.federated.deployment_client.run_client` takes. Their fields are the commands' options
(:mod:`fedjava.cli.options` reads their metadata).

A module of its own, light to import (no Flower, no torch), so that the ``fedjava`` parser is built without them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fedjava.federated import certs
from fedjava.federated.flower_runtime import DEFAULT_PORT
from fedjava.federated.gate_limits import MIB, GateLimits


@dataclass
class ServerOptions:
    """The server's side of a deployment. ``resume`` and ``overwrite`` are options that ``fedjava server`` shares with
    ``fedjava federate``, ``verbose`` is ``fedjava -v``: the command line declares those itself."""

    host: str = field(default="0.0.0.0", metadata={"help": "interface to listen on (default 0.0.0.0: all)"})
    port: int = field(
        default=DEFAULT_PORT, metadata={"help": f"the one TCP port the clients connect to (default {DEFAULT_PORT})"}
    )
    certs_dir: Path = field(
        default=Path("certs"),
        metadata={
            "flag": "--certs",
            "metavar": "DIR",
            "help": "folder with ca.crt, server.pem and server.key from 'fedjava certs' (default certs)",
        },
    )
    client_keys: Path = field(
        default=Path("keys"),
        metadata={
            "metavar": "DIR",
            "help": "folder of the clients' public keys (*.pub); only these clients may join (default keys)",
        },
    )
    insecure: bool = field(
        default=False,
        metadata={"help": "no TLS and no client authentication (prints a warning; trusted networks only)"},
    )
    max_request_mb: float = field(
        default=GateLimits.max_body / MIB,
        metadata={
            "metavar": "MIB",
            "help": "largest request body a client may send, in MiB; larger ones are refused with 413 before they are "
            f"read (default {GateLimits.max_body / MIB:g}: any adapter fits, Flower sends arrays in 5 MiB "
            "chunks)",
        },
    )
    allow_root: bool = field(
        default=False, metadata={"help": "run as root anyway (the ServerApp then runs as root; e.g. in a container)"}
    )
    resume: bool = False
    overwrite: bool = False
    verbose: bool = False
    public_keys: list[Path] = field(default_factory=list, metadata={"cli": False})
    """the client public keys found in ``client_keys`` (filled in by the server's checks)"""


@dataclass
class ClientOptions:
    """One data owner's side of a deployment; the fields with ``help`` are the options of ``fedjava client``
    (:mod:`fedjava.cli.options` reads their metadata), ``verbose`` is ``fedjava -v``."""

    client_id: int = field(metadata={"help": "this client's number, 0 to num_clients-1"})
    server: str = field(metadata={"metavar": "HOST:PORT", "help": "the server's address, e.g. 10.0.0.5:9092"})
    data: Path | None = field(
        default=None, metadata={"metavar": "FILE", "help": "training data (default data/client_ID.json)"}
    )
    ca: Path = field(
        default=Path("certs") / certs.CA_CERT,
        metadata={
            "metavar": "FILE",
            "help": "the CA certificate that signed the server's certificate (default certs/ca.crt)",
        },
    )
    key: Path | None = field(
        default=None,
        metadata={
            "metavar": "FILE",
            "help": "this client's private key, its .pub registered with the server (default keys/clientID.key)",
        },
    )
    insecure: bool = field(
        default=False,
        metadata={"help": "no TLS, no client key (only with a server started with --insecure; prints a warning)"},
    )
    node_port: int = field(
        default=0,
        metadata={
            "metavar": "PORT",
            "help": "local port between the SuperNode and its training process (default: a free one)",
        },
    )
    wait: float = field(
        default=0.0,
        metadata={
            "metavar": "SECONDS",
            "help": "give up when the server is not reachable for this long (default 0: keep waiting)",
        },
    )
    verbose: bool = False
