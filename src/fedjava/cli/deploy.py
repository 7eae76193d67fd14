"""The distributed-mode commands: ``fedjava server``, ``fedjava client`` and ``fedjava certs``.

:func:`register` adds them to the ``fedjava`` parser; the work is in :mod:`fedjava.federated.deployment`, :mod:`fedjava.federated.deployment_client`
and :mod:`fedjava.federated.certs` (imported inside the commands, so ``--help`` stays instant).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from fedjava.cli.common import add_federation_args, federated_config, port, port_or_zero
from fedjava.cli.options import add_options, options_from
from fedjava.federated.certs import (
    CertificateError,
    check_days,
    check_hosts,
    check_key_name,
    make_client_keys,
    make_server_certificates,
)
from fedjava.federated.deployment_options import ClientOptions, ServerOptions
from fedjava.files import writable_dir

SERVER_EPILOG = """examples:
  fedjava certs --hosts server.example.org,192.168.1.10 --out certs   # once, on the server machine
  fedjava server --port 9092 --algorithm fedadam --clients 2 --rounds 3 --client-keys keys
  fedjava server --algorithm fedadam --rounds 3 --resume              # after a crash: continue
  fedjava server --insecure --port 9092 --config demo_cpu              # trusted network only
"""

CLIENT_EPILOG = """examples:
  fedjava certs --client-key client0 --out keys      # once; send keys/client0.pub to the server operator
  fedjava client --client-id 0 --server server.example.org:9092 --ca certs/ca.crt --key keys/client0.key
  fedjava client --client-id 1 --server 192.168.1.10:9092 --data /data/hospital_b.json
"""

CERTS_EPILOG = """examples:
  fedjava certs --hosts server.example.org,192.168.1.10 --out certs   # ca.crt, ca.key, server.pem, server.key
  fedjava certs --client-key client0 --client-key client1 --out keys  # client0.key/.pub, client1.key/.pub
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``server``, ``client`` and ``certs`` to the ``fedjava`` subcommands."""
    server = sub.add_parser(
        "server",
        help="distributed mode: run the federated server (Flower SuperLink) and submit the job",
        description="Start the coordinating side on this machine: a Flower SuperLink listening on --port, with TLS "
        "and client authentication unless --insecure. It registers the client public keys in "
        "--client-keys, submits the federated job (same algorithms, configuration and outputs as "
        "'fedjava federate') and waits for the clients ('fedjava client' on their machines). It "
        "evaluates on <data_dir>/valid.json and writes final_model, checkpoints, "
        "training_history.json and training.log to <results_dir>/<algorithm>/. See docs/DEPLOYMENT.md.",
        epilog=SERVER_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # --resume and --overwrite come with the federation options, --verbose is fedjava's -v
    add_options(server, ServerOptions, hand_written=("resume", "overwrite", "verbose"), convert={"port": port})
    add_federation_args(server)
    server.set_defaults(func=cmd_server)

    client = sub.add_parser(
        "client",
        help="distributed mode: run one data owner (Flower SuperNode) that trains on its own data",
        description="Join the federation at --server as client --client-id and train, each round, only on this "
        "machine's data file (default data/client_ID.json). The data file, the CA certificate and the "
        "key are checked before connecting. Runs until stopped (Ctrl-C). See docs/DEPLOYMENT.md.",
        epilog=CLIENT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(client, ClientOptions, hand_written=("verbose",), convert={"node_port": port_or_zero})
    client.set_defaults(func=cmd_client)

    certs = sub.add_parser(
        "certs",
        help="make a CA and server certificate, and client key pairs, for distributed mode",
        description="--hosts: write ca.crt and ca.key (a private certificate authority) and server.pem and "
        "server.key (the server's certificate for those host names / IP addresses) to --out. Copy "
        "ca.crt to every client; keep ca.key and server.key secret. --client-key NAME: write NAME.key "
        "(stays on the client) and NAME.pub (goes in the server's --client-keys folder).",
        epilog=CERTS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    certs.add_argument(
        "--hosts",
        metavar="NAME[,NAME...]",
        help="the server's host names and/or IP addresses, as the clients will type them",
    )
    certs.add_argument(
        "--client-key",
        action="append",
        default=[],
        metavar="NAME",
        help="also make a client key pair NAME.key / NAME.pub (repeatable)",
    )
    certs.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="output folder (default certs for --hosts, keys for --client-key alone)",
    )
    certs.add_argument("--days", type=int, default=365, help="validity in days (default 365)")
    certs.add_argument("--force", action="store_true", help="replace existing files")
    certs.set_defaults(func=cmd_certs)


def _stop_on_sigterm() -> None:
    """SIGTERM ends the command like Ctrl-C: the finally blocks stop the Flower processes it started."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def _printer(text: str) -> None:
    print(text, flush=True)


def cmd_server(args: argparse.Namespace) -> int:
    from fedjava.federated.deployment import run_server

    cfg = federated_config(args)
    _stop_on_sigterm()
    opts = options_from(ServerOptions, args)
    try:
        code = run_server(cfg, opts, printer=_printer)
    except KeyboardInterrupt:
        print(
            "\nerror: interrupted; the completed rounds' checkpoints are kept: continue with --resume", file=sys.stderr
        )
        return 130
    if code != 0:
        print(
            "error: the federated job did not finish (no final_model); see the messages above, training.log "
            "and superlink.log in the output folder",
            file=sys.stderr,
        )
    return code


def cmd_client(args: argparse.Namespace) -> int:
    from fedjava.federated.deployment_client import run_client

    _stop_on_sigterm()
    opts = options_from(ClientOptions, args)
    if args.client_id < 0:
        print("error: --client-id must be 0 or more", file=sys.stderr)
        return 2
    try:
        return run_client(opts, printer=_printer)
    except KeyboardInterrupt:
        print(f"\nclient {args.client_id}: stopped", file=sys.stderr)
        return 130


def cmd_certs(args: argparse.Namespace) -> int:
    if not args.hosts and not args.client_key:
        raise CertificateError("give --hosts NAME[,NAME...] (server certificate) and/or --client-key NAME")
    check_days(args.days)  # every mistake is refused before a file or folder is written
    if args.hosts:
        check_hosts(args.hosts.split(","))
    for name in args.client_key:
        check_key_name(name)
    out = writable_dir(args.out or Path("certs" if args.hosts else "keys"), "--out", CertificateError)
    if args.hosts:
        for path in make_server_certificates(out, args.hosts.split(","), days=args.days, overwrite=args.force):
            print(f"wrote {path}")
        print(f"Copy {out / 'ca.crt'} to every client machine; keep ca.key and server.key on the server only.")
    for name in args.client_key:
        private, public = make_client_keys(out, name, overwrite=args.force)
        print(f"wrote {private} (keep on the client)\nwrote {public} (put in the server's --client-keys folder)")
    return 0
