"""``fedjava data build|split|import|localise``: the Java error dataset, client shards, imported and localised samples."""

from __future__ import annotations

import argparse

from fedjava.cli.common import add_unsafe_run_option, error
from fedjava.cli.options import add_options, options_from
from fedjava.dataset.build_options import BuildOptions
from fedjava.java.runner import require_jdk
from fedjava.java.sandbox import require_sandbox
from fedjava.java.tasks import load_tasks

DATA_EPILOG = """examples:
  fedjava data build --seed 0 --jobs 2                # rebuild data/*.jsonl with javac and java (a few minutes)
  fedjava data split --clients 2                      # the guide's 50/50 split
  fedjava data split --clients 4 --partition dirichlet --alpha 0.3
  fedjava data import legacy_grading.jsonl --format legacy --out data/legacy.jsonl
  fedjava data split --clients 4 --force              # replace an earlier split
  fedjava data localise data/handwritten/novices.jsonl   # add suspicious lines and verified changes
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``data`` to the ``fedjava`` sub-commands."""
    data = sub.add_parser(
        "data",
        help="build the Java error dataset, split it into clients, import grading data",
        epilog=DATA_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION")
    build = data_sub.add_parser(
        "build",
        help="rebuild data/train|valid|test.jsonl and DATASET.md from the tasks with javac and java",
        description="Make correct programs and mutants of every task, label each with what javac and the JVM "
        "report, split by task 80/10/10 and write data/train.jsonl, valid.jsonl, test.jsonl and "
        "DATASET.md. The same seed gives byte-identical files. Needs a JDK (17 or newer).",
    )
    add_options(build, BuildOptions, hand_written=("unsafe_run",))  # --unsafe-run: the same for several commands
    add_unsafe_run_option(build, "the tasks' programs and mutants")
    build.set_defaults(func=cmd_data_build)
    split = data_sub.add_parser("split", help="write data/client_0.json ... and data/valid.json for N clients")
    split.add_argument("--clients", type=int, default=2, help="number of clients, 1 to 64 (default 2)")
    split.add_argument(
        "--partition",
        choices=["iid", "dirichlet", "task", "quantity"],
        default="iid",
        help="iid: equal random shares; dirichlet: skewed error families; task: each client "
        "its own tasks; quantity: skewed client sizes (default iid)",
    )
    split.add_argument("--alpha", type=float, default=0.5, help="Dirichlet concentration; smaller = more skew")
    split.add_argument("--seed", type=int, default=42)
    split.add_argument("--data-dir", default="data", help="folder with train.jsonl and valid.jsonl")
    split.add_argument("--train-file", default="train.jsonl")
    split.add_argument("--valid-file", default="valid.jsonl")
    split.add_argument(
        "--force",
        action="store_true",
        help="replace an earlier split in --data-dir (client_*.json, valid.json, clients.json)",
    )
    split.set_defaults(func=cmd_data_split)
    imp = data_sub.add_parser("import", help="convert legacy, chat or alpaca data into the training form")
    imp.add_argument("file", help="JSON or JSONL file to convert")
    imp.add_argument("--format", dest="fmt", choices=["auto", "legacy", "chat", "alpaca"], default="auto")
    imp.add_argument(
        "--on-error",
        choices=["skip", "stop"],
        default="skip",
        help="skip bad rows (each is reported) or stop at the first",
    )
    imp.add_argument("--out", default="data/imported.jsonl", help="output file (.jsonl or .json)")
    imp.add_argument("--force", action="store_true", help="replace --out when it exists")
    imp.set_defaults(func=cmd_data_import)
    loc = data_sub.add_parser(
        "localise",
        help="add localisation evidence (suspicious lines, a verified change) to sample files",
        description="For every sample whose program compiles and fails a test, run the localisation tools "
        "(per-test line coverage and mutants, in the sandbox) and add their lines to meta.evidence; the "
        "files are rewritten in place. fedjava data build already does this.",
    )
    loc.add_argument("files", nargs="+", metavar="FILE", help="sample files (.jsonl or .json)")
    loc.add_argument("--jobs", type=int, default=2, help="JVMs at a time (default 2)")
    loc.add_argument("--max-mutants", type=int, default=40, metavar="N", help="mutants per program (default 40)")
    add_unsafe_run_option(loc, "the samples' programs and their mutants")
    loc.set_defaults(func=cmd_data_localise)
    data.set_defaults(func=lambda args: (data.print_help(), 0)[1])


def cmd_data_build(args: argparse.Namespace) -> int:
    from fedjava.dataset.build import build_dataset

    if args.jobs < 1 or args.correct_per_task < 0 or args.errors_per_family < 0 or args.max_tasks < 0:
        return error("--jobs must be at least 1; --correct-per-task, --errors-per-family, --max-tasks at least 0")
    options = options_from(BuildOptions, args)
    report = build_dataset(options, progress=print)
    counts = ", ".join(f"{split} {len(items)}" for split, items in report.samples.items())
    print(f"Built {counts} samples from {report.programs} programs in {report.seconds:.0f}s")
    for path in report.files:
        print(f"  wrote {path}")
    return 0


def cmd_data_split(args: argparse.Namespace) -> int:
    from fedjava.dataset.split import run_split

    print(
        run_split(
            args.data_dir,
            args.clients,
            args.partition,
            args.alpha,
            args.seed,
            args.train_file,
            args.valid_file,
            force=args.force,
        )
    )
    return 0


def cmd_data_import(args: argparse.Namespace) -> int:
    from fedjava.dataset.importers import run_import

    print(run_import(args.file, args.out, args.fmt, args.on_error, force=args.force))
    return 0


def cmd_data_localise(args: argparse.Namespace) -> int:
    from fedjava.dataset.localised import localise_samples
    from fedjava.prompts import load_samples, write_samples

    if args.jobs < 1 or args.max_mutants < 0:
        return error("--jobs must be at least 1 and --max-mutants at least 0")
    require_jdk()
    if not args.unsafe_run:
        require_sandbox()
    samples = {path: load_samples(path) for path in args.files}  # every file read before any is rewritten
    tasks = {t.id: t for t in load_tasks()}
    for path, rows in samples.items():
        done = localise_samples(
            rows, tasks, max_mutants=args.max_mutants, jobs=args.jobs, unsafe=args.unsafe_run, progress=print
        )
        write_samples(rows, path)
        print(f"{path}: {done} of {len(rows)} sample(s) localised")
    return 0
