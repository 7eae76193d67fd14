"""What the sandbox and the harness's isolation cost: the same Java run two ways, side by side in one run.

    python -m fedjava.bench.sandbox_overhead [--repeats 3] [--programs 50] [--jobs 2] [--baseline REV]

(a) ``run_program`` on a small task (arrays_sum_positive's 12-line solution, 5 tests);
(b) ``gather_evidence`` on a 61-line program with 5 tests (classes_histogram's solution and its first 5 tests):
    exactly the tool time of a ``fedjava review --task-file task.yaml`` with a grounded adapter (one JVM
    compiles, one JVM runs every test);
(c) ``check_many`` on ``--programs`` programs (the solutions and variants of the first tasks), ``--jobs``
    JVMs at a time: a fix check or a data build in small.

Each is run sandboxed and with ``unsafe=True`` (no namespaces; the rlimits, wall clock and output cap stay),
alternately, ``--repeats`` times; the median seconds and their ratio are printed, with the load average.

(d) is (b), sandboxed, with javac's JVM flags as shipped (``runner.JAVAC_FLAGS``: C1 only, serial GC) and with
javac's defaults (``runner.JAVAC_PLAIN_FLAGS``), alternately.

(e) is (c), sandboxed, with each program alone in its JVM (as every program fedjava did not write runs) and
with all in one batch JVM (``trusted=True``, the data build's path), alternately: what isolation costs a fix
check or a class's grading.

(g) is (b) on a copy of the 61-line program with a logic error (its first logic mutant that fails one of the 5
tests), with and without the localisation (``localise.review_evidence(localise=...)``: per-test coverage, the mutants of
the covered lines, a verified change run again alone), alternately: what localising costs a review.

(f), with ``--baseline REV`` (a git revision of this checkout, e.g. ``main``): (b) as a ``fedjava review``
runs it, in a fresh Python process (so the harness is compiled once, as in every review), with this tree's
fedjava and with REV's, alternately; their difference is what this tree adds to a review.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fedjava.java import runner
from fedjava.java.evidence import gather_evidence
from fedjava.java.localise import review_evidence
from fedjava.java.mutate import all_mutants
from fedjava.java.runner import Program, check_many, run_program
from fedjava.java.sandbox import require_sandbox
from fedjava.java.tasks import load_tasks

# (f)'s run in a fresh process: (b), timed from after the imports; prints the seconds.
_REVIEW_RUN = """
import dataclasses, time
from fedjava.java.evidence import gather_evidence
from fedjava.java.tasks import load_tasks
task = next(t for t in load_tasks() if t.id == "classes_histogram")
task = dataclasses.replace(task, tests=task.tests[:5])
started = time.perf_counter()
assert gather_evidence(task.solution, task)[1].all_passed
print(time.perf_counter() - started)
"""


def timed(run: Callable[[bool], bool], repeats: int) -> dict[bool, list[float]]:
    """Seconds per call of ``run(flag)`` (``unsafe`` in (a)-(c)), False and True alternately, so that load
    changes hit both."""
    seconds: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(repeats):
        for unsafe in (False, True):
            started = time.perf_counter()
            if not run(unsafe):
                raise RuntimeError(f"the benchmark's programs failed (unsafe={unsafe})")
            seconds[unsafe].append(time.perf_counter() - started)
    return seconds


def _fresh_review(source: Path) -> float:
    """(f): the seconds of one review's tools in a new Python process importing fedjava from ``source``."""
    env = {**os.environ, "PYTHONPATH": str(source)}
    done = subprocess.run([sys.executable, "-c", _REVIEW_RUN], env=env, capture_output=True, text=True, check=True)
    return float(done.stdout.split()[-1])


def _baseline_tree(revision: str, folder: Path) -> Path:
    """``src`` of ``revision`` of the git checkout this module is in, exported into ``folder``."""
    top = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=Path(__file__).parent, capture_output=True, text=True, check=True
    ).stdout.strip()
    archive = subprocess.run(["git", "archive", revision, "src"], cwd=top, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder / "src"


def _failing_mutant(task) -> str:
    """The first logic mutant of ``task``'s solution that fails one of its tests (a review that localises)."""

    mutants = [m.code for m in all_mutants(task.solution, "logic")][:40]
    with tempfile.TemporaryDirectory(prefix="fedjava-bench-") as work:
        outcomes = check_many([Program(str(i), task, c) for i, c in enumerate(mutants)], Path(work), trusted=True)
    return next(
        mutants[i] for i in range(len(mutants)) if not outcomes[str(i)].all_passed and outcomes[str(i)].compiled
    )


def _side_by_side(label: str, names: tuple[str, str], seconds: dict[bool, list[float]]) -> None:
    first, second = statistics.median(seconds[False]), statistics.median(seconds[True])
    print(f"{label:62s} {names[0]:>10s} {names[1]:>8s} {'ratio':>6s} {'diff':>6s}")
    print(f"{'':62s} {first:9.2f}s {second:7.2f}s {first / second:6.2f} {first - second:+5.2f}s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--programs", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--baseline", default="", help="a git revision to compare a review's tools with: (f)")
    args = parser.parse_args(argv)

    require_sandbox()
    tasks = {t.id: t for t in load_tasks()}
    small = tasks["arrays_sum_positive"]
    histogram = tasks["classes_histogram"]
    review = dataclasses.replace(histogram, tests=histogram.tests[:5])
    programs = [
        Program(f"{t.id}/{i}", t, code)
        for t in tasks.values()
        for i, code in enumerate((t.solution, *(v.code for v in t.variants)))
    ][: args.programs]

    def batch(unsafe: bool, trusted: bool = False) -> bool:
        with tempfile.TemporaryDirectory(prefix="fedjava-bench-") as work:
            outcomes = check_many(programs, Path(work), jobs=args.jobs, unsafe=unsafe, trusted=trusted)
        return all(o.all_passed for o in outcomes.values())

    cases = [
        (
            f"(a) run_program, {small.id} ({len(small.solution.splitlines())} lines, {len(small.tests)} tests)",
            lambda unsafe: run_program(small, small.solution, unsafe=unsafe).all_passed,
        ),
        (
            f"(b) review's tools, {histogram.id} ({len(review.solution.splitlines())} lines, {len(review.tests)} tests)",
            lambda unsafe: gather_evidence(review.solution, review, unsafe=unsafe)[1].all_passed,
        ),
        (f"(c) check_many, {len(programs)} programs, {args.jobs} JVMs at a time", batch),
    ]
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; median of {args.repeats}")
    print(f"{'':62s} {'sandboxed':>10s} {'unsafe':>8s} {'ratio':>6s}")
    for label, run in cases:
        seconds = timed(run, args.repeats)
        boxed, bare = statistics.median(seconds[False]), statistics.median(seconds[True])
        print(f"{label:62s} {boxed:9.2f}s {bare:7.2f}s {boxed / bare:6.2f}", flush=True)

    tuned = runner.JAVAC_FLAGS
    seconds: dict[bool, list[float]] = {False: [], True: []}
    try:
        for _ in range(args.repeats):
            for plain in (False, True):
                runner.JAVAC_FLAGS = runner.JAVAC_PLAIN_FLAGS if plain else tuned
                started = time.perf_counter()
                if not gather_evidence(review.solution, review)[1].all_passed:
                    raise RuntimeError("the review benchmark's program failed")
                seconds[plain].append(time.perf_counter() - started)
    finally:
        runner.JAVAC_FLAGS = tuned
    _side_by_side("(d) (b) sandboxed, javac flags", ("shipped", "defaults"), seconds)
    _side_by_side(
        f"(e) (c) sandboxed, {len(programs)} programs",
        ("alone", "batch"),
        timed(lambda trusted: batch(False, trusted), args.repeats),
    )
    wrong = _failing_mutant(review)
    seconds = timed(lambda plain: bool(review_evidence(wrong, review, localise=not plain)[0]), args.repeats)
    _side_by_side("(g) (b) with a logic error, localisation", ("with", "without"), seconds)
    if args.baseline:
        with tempfile.TemporaryDirectory(prefix="fedjava-baseline-") as folder:
            trees = {False: Path(__file__).parents[2], True: _baseline_tree(args.baseline, Path(folder))}
            seconds = {False: [], True: []}
            for _ in range(args.repeats):
                for baseline in (False, True):
                    seconds[baseline].append(_fresh_review(trees[baseline]))
        _side_by_side(f"(f) (b) in a fresh process: this tree and {args.baseline}", ("this", args.baseline), seconds)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
