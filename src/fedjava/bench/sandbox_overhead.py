"""What the sandbox costs: the same Java runs with and without it, side by side in one run.

    python -m fedjava.bench.sandbox_overhead [--repeats 3] [--programs 50] [--jobs 2]

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
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def timed(run: Callable[[bool], bool], repeats: int) -> dict[bool, list[float]]:
    """Seconds per call of ``run(unsafe)``, sandboxed and not, alternating so that load changes hit both."""
    seconds: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(repeats):
        for unsafe in (False, True):
            started = time.perf_counter()
            if not run(unsafe):
                raise RuntimeError(f"the benchmark's programs failed (unsafe={unsafe})")
            seconds[unsafe].append(time.perf_counter() - started)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--programs", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)

    from fedjava.javadata.evidence import gather_evidence
    from fedjava.javadata.runner import Program, check_many, run_program
    from fedjava.javadata.sandbox import require_sandbox
    from fedjava.javadata.tasks import load_tasks

    require_sandbox()
    tasks = {t.id: t for t in load_tasks()}
    small = tasks["arrays_sum_positive"]
    histogram = tasks["classes_histogram"]
    review = dataclasses.replace(histogram, tests=histogram.tests[:5])
    programs = [Program(f"{t.id}/{i}", t, code) for t in tasks.values()
                for i, code in enumerate((t.solution, *(v.code for v in t.variants)))][: args.programs]

    def batch(unsafe: bool) -> bool:
        with tempfile.TemporaryDirectory(prefix="fedjava-bench-") as work:
            outcomes = check_many(programs, Path(work), jobs=args.jobs, unsafe=unsafe)
        return all(o.all_passed for o in outcomes.values())

    cases = [
        (f"(a) run_program, {small.id} ({len(small.solution.splitlines())} lines, {len(small.tests)} tests)",
         lambda unsafe: run_program(small, small.solution, unsafe=unsafe).all_passed),
        (f"(b) review's tools, {histogram.id} ({len(review.solution.splitlines())} lines, {len(review.tests)} tests)",
         lambda unsafe: gather_evidence(review.solution, review, unsafe=unsafe)[1].all_passed),
        (f"(c) check_many, {len(programs)} programs, {args.jobs} JVMs at a time", batch),
    ]
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; median of {args.repeats}")
    print(f"{'':62s} {'sandboxed':>10s} {'unsafe':>8s} {'ratio':>6s}")
    for label, run in cases:
        seconds = timed(run, args.repeats)
        boxed, bare = statistics.median(seconds[False]), statistics.median(seconds[True])
        print(f"{label:62s} {boxed:9.2f}s {bare:7.2f}s {boxed / bare:6.2f}", flush=True)
    from fedjava.javadata import runner

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
    shipped, plain = statistics.median(seconds[False]), statistics.median(seconds[True])
    print(f"{'(d) (b) sandboxed, javac flags':62s} {'shipped':>10s} {'defaults':>8s} {'ratio':>6s}")
    print(f"{'':62s} {shipped:9.2f}s {plain:7.2f}s {shipped / plain:6.2f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
