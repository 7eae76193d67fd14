"""``fedjava experiment``: the main job, an experiment preset run end to end."""

from __future__ import annotations

import argparse
import shlex

from fedjava.cli.common import add_unsafe_run_option, error

EXPERIMENT_EPILOG = """examples:
  fedjava experiment --preset demo_cpu                 # what make demo runs (about 10 minutes on 2 CPU cores)
  fedjava experiment --preset demo_cpu test_samples=40 max_new_tokens=256
  fedjava experiment --preset qwen3_8b_gpu model_name=/models/Qwen3-8B-Base
  fedjava experiment --preset demo_cpu --only evaluate,report --force
  fedjava experiment --list
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``experiment`` to the ``fedjava`` sub-commands."""
    experiment = sub.add_parser(
        "experiment",
        help="the main job: data, centralized and federated training, evaluation, report",
        description="Run an experiment preset (configs/experiments/NAME.yaml) end to end: seeded data subsets "
        "and client shards, centralized and federated training on the same samples, evaluation of "
        "every model and the baselines on the same test samples, then report.md/report.html. "
        "Stages already done with the same settings are skipped.",
        epilog=EXPERIMENT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    experiment.add_argument("--preset", help="experiment preset name or YAML path (see --list)")
    experiment.add_argument("--list", action="store_true", help="list the experiment presets and exit")
    experiment.add_argument("--force", action="store_true", help="redo stages that are already done")
    experiment.add_argument(
        "--only", metavar="STAGES", help="comma-separated stages to run: data,train,evaluate,report (default: all)"
    )
    experiment.add_argument(
        "--data-dir", default="data", metavar="DIR", help="where train/valid/test.jsonl are read from (default data)"
    )
    add_unsafe_run_option(experiment, "the fix check's programs (model output)")
    experiment.add_argument(
        "settings",
        nargs="*",
        metavar="key=value",
        help="experiment keys (test_samples=20, algorithms=fedavg,fedprox) or training-config "
        "keys for every run (learning_rate=1e-4)",
    )
    experiment.set_defaults(func=cmd_experiment)


def cmd_experiment(args: argparse.Namespace) -> int:
    from fedjava.experiment import list_experiments, load_experiment, run_experiment

    if args.list:
        from fedjava.config import ConfigError, read_yaml_mapping

        for path in list_experiments():
            try:
                description = read_yaml_mapping(path).get("description", "")
            except ConfigError as exc:
                description = f"(cannot be read: {exc.problems[0]})"
            print(f"{path.stem:20s} {description}")
        return 0
    if not args.preset:
        return error("give --preset NAME (fedjava experiment --list shows them)")
    exp = load_experiment(args.preset, args.settings)
    only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
    run_experiment(
        exp,
        source_dir=args.data_dir,
        force=args.force,
        only=only,
        unsafe_run=args.unsafe_run,
        command=command_line(args),
    )
    return 0


def command_line(args: argparse.Namespace) -> str:
    """The command as typed, rebuilt from its arguments (what the report gives as the way to make its numbers)."""
    words = ["fedjava", "experiment", "--preset", args.preset]
    words += ["--force"] * args.force + ["--unsafe-run"] * args.unsafe_run
    words += ["--only", args.only] if args.only else []
    words += ["--data-dir", args.data_dir] if args.data_dir != "data" else []
    return shlex.join([*words, *args.settings])
