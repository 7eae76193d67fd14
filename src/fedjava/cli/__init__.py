"""The ``fedjava`` command: one module per command (or family of commands), each with a ``register(sub)`` that adds
its sub-parser and the functions that run it.

This package is the floor the library stands on: only here is argparse imported, is a command's result printed
for a person and is an exit code chosen. The library below takes typed options and raises the project's
:class:`fedjava.errors.UserError`, which :func:`main` turns into one line ``error: ...`` and exit code 2. Heavy
imports (torch, transformers, flwr) live inside the commands so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from fedjava.cli import config, data, deploy, evaluate, experiment, export, grade, review, serve, task, train
from fedjava.cli.common import EXIT_INTERRUPTED, EXIT_USAGE, error
from fedjava.errors import UserError
from fedjava.tracking import setup_logging

# The order of the commands in ``fedjava --help``.
COMMANDS = (train, evaluate, review, grade, serve, task, export, config, data, experiment, deploy)


def build_parser() -> argparse.ArgumentParser:
    """The ``fedjava`` parser with every command's sub-parser."""
    parser = argparse.ArgumentParser(
        prog="fedjava",
        description="Fine-tune an LLM with LoRA into a Java code error evaluator, centrally or federated.",
        epilog="Run 'fedjava COMMAND --help' for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``fedjava ARGV``; the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    setup_logging(verbose=args.verbose)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except UserError as exc:
        return error(str(exc))
    except OSError as exc:
        if exc.filename is None or args.verbose:
            raise  # not about a file the user named: a bug to see in full
        return error(f"{exc.filename}: {exc.strerror or exc}")
    except KeyboardInterrupt:
        print("\nerror: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
