"""``fedjava task check TASK``: a task's tests against its model solution (:mod:`fedjava.java.taskcheck`)."""

from __future__ import annotations

import argparse
from dataclasses import replace

from fedjava.cli.common import add_unsafe_run_option
from fedjava.java.generate import Budget
from fedjava.java.sandbox import require_sandbox
from fedjava.java.taskcheck import check_task
from fedjava.java.tasks import TaskError, task_tests
from fedjava.review_inputs import read_java_file, read_task


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """``fedjava task check TASK [--reference Model.java]``."""
    task = sub.add_parser(
        "task",
        help="check a task file before grading a class with it",
        description="Commands on task files (docs/tasks.md describes the format).",
    )
    commands = task.add_subparsers(dest="task_command", required=True, metavar="COMMAND")
    check = commands.add_parser(
        "check",
        help="the task's tests compile and its model solution passes them; tests from a reference",
        description="Compile the task's tests with its model solution (--reference, else the task's reference: or "
        "solution:) and run them in the sandbox: a test that does not compile, or that the model "
        "solution fails, is named in one line (exit code 2). With a reference, also generate tests "
        "from it and say how many. grade, review and serve run the same check first.",
        epilog="examples:\n  fedjava task check task.yaml\n  fedjava task check task.yaml --reference Model.java "
        "--show\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("task_file", metavar="TASK", help="a task YAML file")
    check.add_argument("--reference", metavar="FILE.java", help="a model solution (instead of the task's own)")
    check.add_argument(
        "--inputs",
        type=int,
        default=Budget.inputs,
        metavar="N",
        help=f"generated inputs per method or class (default {Budget.inputs})",
    )
    check.add_argument(
        "--seconds",
        type=float,
        default=Budget.seconds,
        metavar="S",
        help=f"time for the reference's runs (default {Budget.seconds:g})",
    )
    check.add_argument("--show", action="store_true", help="print the generated tests as YAML (tests: entries)")
    add_unsafe_run_option(check, "the model solution and the tests")
    check.set_defaults(func=cmd_task_check)
    return task


def cmd_task_check(args: argparse.Namespace) -> int:
    if args.inputs < 1 or args.seconds <= 0:
        raise TaskError("--inputs must be at least 1 and --seconds above 0")
    _, _, task = read_task(None, args.task_file)
    if task is None:
        raise TaskError(f"{args.task_file}: a .txt task has no tests to check; give a YAML task file")
    if not args.unsafe_run:
        require_sandbox()
    reference = read_java_file(args.reference) if args.reference else None
    budget = Budget(inputs=args.inputs, seconds=args.seconds)
    report = check_task(task, reference, label=args.task_file, budget=budget, unsafe=args.unsafe_run)
    print(f"{args.task_file}: OK: {report.summary()}")
    if args.show and report.generated is not None:
        import yaml

        shown = task_tests(replace(task, tests=report.generated.tests))
        print(yaml.safe_dump({"tests": shown}, sort_keys=False, allow_unicode=True, width=200), end="")
    return 0
