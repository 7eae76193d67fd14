"""What the ``fedjava`` commands share: the exit codes, the one way an error is printed, and the argument builders
(the config options, the run-folder options, the federation options, ports, ``--unsafe-run``, ``--adapter``).

Nothing heavy is imported here (argparse, and the method table for the choices), so ``fedjava --help`` stays
instant.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fedjava.aggregation import method_names
from fedjava.review_inputs import BUILTIN_ADAPTER_NAME

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C


def error(message: str) -> int:
    """Print ``error: message`` on stderr; the usage exit code (2) to return."""
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def add_unsafe_run_option(parser: argparse.ArgumentParser, what: str) -> None:
    """The ``--unsafe-run`` option of a command that runs ``what`` (code it did not write)."""
    parser.add_argument(
        "--unsafe-run",
        action="store_true",
        help=f"run {what} without the bubblewrap sandbox (no network, read-only files, limits) "
        "when bubblewrap is missing or cannot work here; only for code you trust",
    )


def add_adapter_option(parser: argparse.ArgumentParser, answer_length: bool = True) -> None:
    """``--adapter PATH|builtin`` (and ``--max-new-tokens``), the same for every command that reviews files."""
    parser.add_argument(
        "--adapter",
        metavar="PATH",
        default=BUILTIN_ADAPTER_NAME,
        help="a trained adapter folder (<results_dir>/<method>/final_model), or 'builtin' (default): "
        "the grader shipped with fedjava",
    )
    if answer_length:
        parser.add_argument("--max-new-tokens", type=int, default=384, metavar="N", help="answer length cap (384)")


def add_config_args(parser: argparse.ArgumentParser, positional_preset: bool = False) -> None:
    """``--config PRESET`` (or a positional PRESET) and ``key=value`` overrides."""
    if positional_preset:
        parser.add_argument("preset", nargs="?", help="preset name in configs/ or a YAML path")
    else:
        parser.add_argument(
            "--config", dest="preset", metavar="PRESET", help="preset name in configs/ (e.g. demo_cpu) or a YAML path"
        )
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value", help="override any config key, e.g. learning_rate=5e-5 lora_r=8"
    )


def preset_and_overrides(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    """(preset, overrides) of a command with a positional PRESET: argparse gives the first ``key=value`` to
    PRESET when no preset is named (``fedjava config check lora_r=0``); it is an override then."""
    preset, overrides = args.preset, list(args.overrides)
    if preset and "=" in preset and not Path(preset).exists():
        return None, [preset, *overrides]
    return preset, overrides


def port(text: str) -> int:
    """argparse type of a TCP port: 1 to 65535."""
    value = port_or_zero(text)
    if value == 0:
        raise argparse.ArgumentTypeError("0 is not a port number (1 to 65535)")
    return value


def port_or_zero(text: str) -> int:
    """argparse type of a TCP port, or 0 for a free one."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number (1 to 65535)") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (1 to 65535)")
    return value


def add_run_folder_args(parser: argparse.ArgumentParser, checkpoint: str) -> None:
    """``--resume`` / ``--overwrite``: what to do with an output folder that holds a run already."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--resume",
        action="store_true",
        help=f"continue from the {checkpoint} in the output folder (same model and LoRA settings)",
    )
    group.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run the output folder holds (its final_model, checkpoints, history, log "
        "and evaluation results are removed first); without --resume or --overwrite a folder "
        "holding a run is refused",
    )


def add_federation_args(parser: argparse.ArgumentParser) -> None:
    """The options of a federated run (``fedjava federate``, ``fedjava server``) that have config keys."""
    parser.add_argument(
        "--algorithm", choices=method_names(), help="aggregation algorithm (default: the config's, fedavg)"
    )
    parser.add_argument("--clients", type=int, help="number of clients (config key num_clients, default 2)")
    parser.add_argument("--rounds", type=int, help="federated rounds (config key num_rounds, default 3)")
    parser.add_argument(
        "--local-epochs", type=float, help="local epochs per client per round (config key local_epochs, default 3)"
    )
    add_run_folder_args(parser, "last completed round's checkpoint")
    add_config_args(parser)


def federated_config(args: argparse.Namespace):
    """The Config of a federated command (federate, server): preset, key=value, then the named options."""
    from fedjava.config import load_config, warnings_for

    overrides = list(args.overrides)
    for key, value in (
        ("algorithm", args.algorithm),
        ("num_clients", args.clients),
        ("num_rounds", args.rounds),
        ("local_epochs", args.local_epochs),
    ):
        if value is not None:
            overrides.append(f"{key}={value}")
    cfg = load_config(args.preset, overrides, check_files=False)
    for note in warnings_for(cfg):
        print(f"warning: {note}", file=sys.stderr)
    return cfg
