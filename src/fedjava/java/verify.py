"""Check task files with the real JDK: every reference solution and variant passes every case.

Usage: ``python -m fedjava.java.verify [--unsafe-run] [TASK.yaml ...]`` (default: every shipped task).
The programs run in the sandbox like any other (``--unsafe-run``: without it, where bubblewrap is missing).
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fedjava.errors import UserError
from fedjava.java.runner import JdkMissingError, RunOutcome, run_program
from fedjava.java.tasks import TASKS_DIR, Task, TaskError, load_task


def verify_task(task: Task, unsafe: bool = False) -> list[str]:
    """Problems found when running the solution and each variant; empty when all pass."""
    problems = []
    programs = [("solution", task.solution)] + [(f"variant '{v.name}'", v.code) for v in task.variants]
    for name, code in programs:
        outcome = run_program(task, code, unsafe=unsafe)
        if not outcome.all_passed:
            problems.append(f"{task.id}: {name}: {describe(outcome)}")
    if len({task.solution.strip(), *(v.code.strip() for v in task.variants)}) != 1 + len(task.variants):
        problems.append(f"{task.id}: variants must differ from the solution and from each other")
    return problems


def describe(outcome: RunOutcome) -> str:
    if not outcome.compiled:
        return (
            "does not compile: "
            + "; ".join(f"{d.file}:{d.line} {d.key} {d.args}" for d in outcome.diagnostics)
            + ("" if outcome.diagnostics else outcome.stderr[-500:])
        )
    if outcome.timed_out:
        return "timed out"
    if not outcome.cases:
        return "no test case ran: " + outcome.stderr[-500:]
    bad = [c for c in outcome.cases if c.status != "PASS"]
    return "; ".join(
        f"case {c.index} {c.call}: expected {c.expected} got {c.actual}"
        if c.status == "FAIL"
        else f"case {c.index} {c.call}: {c.exception} {c.message} (line {c.line})"
        for c in bad
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    unsafe = "--unsafe-run" in args
    paths = [Path(a) for a in args if a != "--unsafe-run"] or sorted(TASKS_DIR.glob("*.yaml"))
    tasks, problems = [], []
    for path in paths:
        try:
            tasks.append(load_task(path))
        except TaskError as exc:
            problems.append(str(exc))
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            for found in pool.map(lambda task: verify_task(task, unsafe), tasks):
                problems.extend(found)
    except (UserError, JdkMissingError) as exc:  # no sandbox, no JDK
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for p in problems:
        print("FAIL", p)
    print(f"{len(tasks)} task(s) loaded, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
