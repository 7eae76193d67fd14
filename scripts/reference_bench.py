"""Tests from a model solution alone: how often the tools find an error, and call a correct program wrong.

Issue 24 item 2. Each program is tested only with inputs generated from a model solution
(:mod:`fedjava.java.generate`), never with its task's own tests, and judged by the tools-only rule
(:mod:`fedjava.evaluation.tools_only`: javac, the tests, no model):

* the test split (``data/test.jsonl``): the shipped tasks' ``solution:`` is the model solution;
* the 20 handwritten students (``data/handwritten/students.yaml``): their tasks have no solution, so the program
  with the record's intended fix applied is the model solution (a correct program is its own).

Prints, for each: detection (a program with an error gets a verdict other than NO_ERROR), false alarms (a correct
program does not), the verdict right, and the programs behind every miss and false alarm::

    python scripts/reference_bench.py                     # both, 40 inputs a method (about 10 minutes on 2 cores)
    python scripts/reference_bench.py --only handwritten --inputs 20
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from make_student_data import fixed_code, load_records

from fedjava.evaluation.tools_only import tools_answer
from fedjava.java.evidence import evidence_of, hung_call
from fedjava.java.generate import Budget, GenerateError, generate_tests
from fedjava.java.runner import Program, check_many
from fedjava.java.tasks import Task, load_tasks
from fedjava.prompts import split_user_prompt

ROOT = Path(__file__).resolve().parent.parent


def with_generated(task: Task, reference: str, budget: Budget) -> Task:
    """``task`` whose tests are only the inputs generated from ``reference``."""
    made = generate_tests(reference, task.requirement, budget)
    print(f"  {task.id}: {made.summary()}", file=sys.stderr)
    return Task(task.id, task.title, task.topic, task.requirement, task.solution, (), made.tests, reference=reference)


def judge(items: list[tuple[str, Task, str, str]], jobs: int) -> list[dict]:
    """Run each (key, task, code, intended verdict) and judge it with the tools-only rule."""
    with tempfile.TemporaryDirectory(prefix="fedjava-reference-bench-") as tmp:
        outcomes = check_many([Program(key, task, code) for key, task, code, _ in items], Path(tmp), jobs=jobs)
    rows = []
    for key, task, code, intended in items:
        outcome = outcomes[key]
        hung = hung_call(task, outcome) if outcome.compiled and outcome.timed_out and task.tests else ""
        evidence = evidence_of(outcome, len(task.tests), hung)
        verdict = tools_answer(evidence, code)["verdict"]
        rows.append(
            {
                "key": key,
                "task": task.id,
                "intended": intended,
                "verdict": verdict,
                "evidence": evidence.render().split("\n")[1:],
            }
        )
    return rows


def report(name: str, rows: list[dict]) -> dict:
    """Print and return detection, false alarms and verdicts right for ``rows``."""
    wrong = [r for r in rows if r["intended"] != "NO_ERROR"]
    correct = [r for r in rows if r["intended"] == "NO_ERROR"]
    found = [r for r in wrong if r["verdict"] != "NO_ERROR"]
    alarms = [r for r in correct if r["verdict"] != "NO_ERROR"]
    ran = [r for r in wrong if r["intended"] in ("RUNTIME_ERROR", "LOGIC_ERROR")]
    ran_found = [r for r in ran if r["verdict"] != "NO_ERROR"]
    right = sum(r["verdict"] == r["intended"] for r in rows)
    numbers = {
        "programs": len(rows),
        "with_error": len(wrong),
        "detected": len(found),
        "correct": len(correct),
        "false_alarms": len(alarms),
        "runtime_or_logic": len(ran),
        "runtime_or_logic_detected": len(ran_found),
        "verdict_right": right,
    }
    print(f"\n{name}: {len(rows)} programs")
    print(
        f"  detection: {len(found)}/{len(wrong)} = {len(found) / max(1, len(wrong)):.3f} "
        f"(runtime and logic errors alone: {len(ran_found)}/{len(ran)} = {len(ran_found) / max(1, len(ran)):.3f})"
    )
    print(f"  false alarms: {len(alarms)}/{len(correct)} = {len(alarms) / max(1, len(correct)):.3f}")
    print(f"  verdict right: {right}/{len(rows)}")
    for r in [r for r in wrong if r["verdict"] == "NO_ERROR"] + alarms:
        kind = "false alarm" if r["intended"] == "NO_ERROR" else f"missed {r['intended']}"
        print(f"  {kind}: {r['key']} ({r['task']}): {' | '.join(r['evidence'])[:300]}")
    return numbers


def test_split(path: Path, budget: Budget, jobs: int) -> dict:
    samples = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    shipped = {t.id: t for t in load_tasks()}
    print(f"generating tests for {len({s['meta']['task_id'] for s in samples})} tasks ...", file=sys.stderr)
    generated = {
        tid: with_generated(shipped[tid], shipped[tid].solution, budget)
        for tid in sorted({s["meta"]["task_id"] for s in samples})
    }
    items = []
    for n, sample in enumerate(samples):
        _, code = split_user_prompt(sample["messages"][1]["content"])
        intended = json.loads(sample["messages"][2]["content"])["verdict"]
        items.append((f"test-{n}", generated[sample["meta"]["task_id"]], code, intended))
    return report(f"test split ({path.name}), tests replaced by reference-generated inputs", judge(items, jobs))


def handwritten(path: Path, budget: Budget, jobs: int) -> dict:
    items = []
    for record in load_records(path):
        raw = record["task"]
        task = Task(raw["id"], raw["title"], raw["topic"], raw["requirement"].strip(), "", (), ())
        reference = fixed_code(record)
        try:
            task = with_generated(task, reference, budget)
        except GenerateError as exc:
            print(f"  {record['id']}: {exc}", file=sys.stderr)
            continue
        items.append((record["id"], task, record["code"], record["intended"]["verdict"]))
    return report(f"handwritten students ({path.name}), a model solution and no tests", judge(items, jobs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default=str(ROOT / "data" / "test.jsonl"))
    parser.add_argument("--handwritten", default=str(ROOT / "data" / "handwritten" / "students.yaml"))
    parser.add_argument("--only", choices=("split", "handwritten"))
    parser.add_argument("--inputs", type=int, default=Budget.inputs, help="generated inputs per method or class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-extremes", action="store_true", help="no MIN_VALUE/MAX_VALUE edge cases")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    args = parser.parse_args()
    budget = Budget(inputs=args.inputs, seed=args.seed, extremes=not args.no_extremes)
    started = time.perf_counter()
    numbers = {}
    if args.only != "split":
        numbers["handwritten"] = handwritten(Path(args.handwritten), budget, args.jobs)
    if args.only != "handwritten":
        numbers["test_split"] = test_split(Path(args.split), budget, args.jobs)
    print(f"\n{time.perf_counter() - started:.0f} s in all")
    if args.json:
        Path(args.json).write_text(json.dumps(numbers, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
