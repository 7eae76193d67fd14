"""``fedjava config show|check|keys|presets``: a configuration shown or checked without loading a model."""

from __future__ import annotations

import argparse
import sys

from fedjava.cli.common import add_config_args, preset_and_overrides

CONFIG_EPILOG = """examples:
  fedjava config show demo_cpu learning_rate=5e-5
  fedjava config check centralized_qwen3_8b
  fedjava config keys
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``config`` to the ``fedjava`` sub-commands."""
    config = sub.add_parser(
        "config",
        help="show or check a configuration without loading a model",
        epilog=CONFIG_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION")
    show = config_sub.add_parser("show", help="print the resolved configuration as YAML")
    add_config_args(show, positional_preset=True)
    show.set_defaults(func=cmd_config_show)
    check = config_sub.add_parser("check", help="validate a configuration (exit 2 listing every problem)")
    add_config_args(check, positional_preset=True)
    check.set_defaults(func=cmd_config_check)
    keys = config_sub.add_parser("keys", help="list every key with its default and meaning")
    keys.set_defaults(func=cmd_config_keys)
    presets = config_sub.add_parser("presets", help="list the shipped presets")
    presets.set_defaults(func=cmd_config_presets)
    config.set_defaults(func=lambda args: (config.print_help(), 0)[1])


def cmd_config_show(args: argparse.Namespace) -> int:
    from fedjava.config import ConfigError, load_config, to_yaml, validate

    preset, overrides = preset_and_overrides(args)
    cfg = load_config(preset, overrides, check_files=False)
    print(to_yaml(cfg), end="")
    try:
        file_problems = validate(cfg, check_files=True)
    except ConfigError:
        file_problems = []
    for problem in file_problems:
        print(f"warning: {problem}", file=sys.stderr)
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    from fedjava.config import load_config, warnings_for

    preset, overrides = preset_and_overrides(args)
    cfg = load_config(preset, overrides)
    for note in warnings_for(cfg):
        print(f"warning: {note}", file=sys.stderr)
    print(f"config OK{f' ({preset})' if preset else ''}: model {cfg.model_name}, train {cfg.data_path(cfg.train_file)}")
    return 0


def cmd_config_keys(args: argparse.Namespace) -> int:
    from fedjava.config import field_docs

    for name, default, doc in field_docs():
        print(f"{name} = {default}" + (f"\n    {doc}" if doc else ""))
    return 0


def cmd_config_presets(args: argparse.Namespace) -> int:
    from fedjava.config import list_presets

    for path in list_presets():
        header = next((line[1:].strip() for line in path.read_text().splitlines() if line.startswith("#")), "")
        print(f"{path.stem:28s} {header}")
    return 0
