"""How often ``fedjava grade`` shows an error as a finding on a correct program when the task has no tests.

    python scripts/grade_without_tests.py --out /tmp/no_tests [--adapter builtin] [--only-correct]

Takes the correct programs of ``data/handwritten/`` (the records of ``students.yaml`` and ``novices.yaml`` whose
intended verdict is NO_ERROR, and, unless ``--only-correct``, every other record with its fix applied: a fixed
program passes every test of its task, so it is correct too), and grades them as a teacher with a task text and no
tests would: one class per task, the task given as a ``.txt`` file holding its requirement only, through
:func:`fedjava.grading.grade.run_grade` (what ``fedjava grade`` runs) with the grader loaded once. A grounded
grader still compiles each program; nothing can run that would show a runtime or logic error.

It prints, over the programs: how many the grader called wrong (its verdict is not NO_ERROR), how many of those
the pages show as a finding (an error javac confirms: a correct program compiles, so none should be) and how many
as a possible error to check by hand, with rates and the model time per program. The target is a rate of errors
shown as findings of at most 0.10.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("students.yaml", "novices.yaml")


def _student_data():
    """scripts/make_student_data.py as a module (its YAML reader and its fix placement)."""
    spec = importlib.util.spec_from_file_location("make_student_data", ROOT / "scripts" / "make_student_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def correct_programs(only_correct: bool) -> list[tuple[str, dict, str]]:
    """(program id, its task, its code) of every correct hand-written program."""
    data = _student_data()
    out = []
    for source in SOURCES:
        for record in data.load_records(ROOT / "data" / "handwritten" / source):
            if record["intended"]["verdict"] == "NO_ERROR":
                out.append((record["id"], record["task"], record["code"]))
            elif not only_correct:
                out.append((f"{record['id']}_fixed", record["task"], data.fixed_code(record)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="a folder for the graded classes (one per task)")
    parser.add_argument("--adapter", default="builtin", help="the grader (default: the shipped one)")
    parser.add_argument(
        "--only-correct",
        action="store_true",
        help="only the programs written correct, not the others with their fix applied",
    )
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    from fedjava.grading.grade import GradeOptions, run_grade
    from fedjava.grading.gradebook import read_detail
    from fedjava.reviewer import Reviewer, open_adapter

    programs = correct_programs(args.only_correct)
    by_task: dict[str, list[tuple[str, str]]] = {}
    texts: dict[str, str] = {}
    for program_id, task, code in programs:
        by_task.setdefault(task["id"], []).append((program_id, code))
        texts[task["id"]] = task["requirement"]
    out = Path(args.out)
    adapter, cfg = open_adapter(args.adapter)
    started = time.perf_counter()
    reviewer = Reviewer.load(adapter, cfg)
    print(
        f"loaded {adapter} in {time.perf_counter() - started:.1f} s; {len(programs)} correct programs on "
        f"{len(by_task)} tasks",
        file=sys.stderr,
    )
    rows, model_seconds = [], 0.0
    for task_id, members in sorted(by_task.items()):
        folder = out / "classes" / task_id
        folder.mkdir(parents=True, exist_ok=True)
        for program_id, code in members:
            (folder / f"{re.sub(r'[^A-Za-z0-9_]', '_', program_id)}.java").write_text(code, encoding="utf-8")
        task_file = out / "tasks" / f"{task_id}.txt"  # the task's text only: no tests
        task_file.parent.mkdir(parents=True, exist_ok=True)
        task_file.write_text(texts[task_id].strip() + "\n", encoding="utf-8")
        report = run_grade(
            GradeOptions(
                str(folder),
                str(task_file),
                str(out / "graded" / task_id),
                adapter=str(adapter),
                batch_size=args.batch_size,
            ),
            progress=False,
            reviewer=reviewer,
        )
        model_seconds += report.model_seconds
        rows += read_detail(out / "graded" / task_id / "grades_detail.csv")
    graded = [r for r in rows if r["status"] == "graded"]
    wrong = [r for r in graded if r["verdict"] != "NO_ERROR"]
    finding = [r for r in wrong if not r["check"]]
    possible = [r for r in wrong if r["check"]]
    n = len(rows)
    print(f"correct programs: {n} ({len(graded)} with a readable answer, {n - len(graded)} to grade by hand)")
    print(f"called wrong by the grader: {len(wrong)} ({len(wrong) / max(1, n):.3f})")
    print(f"  shown as a finding (false alarms on the page): {len(finding)} ({len(finding) / max(1, n):.3f})")
    print(
        f"  shown as a possible error to check by hand, no points lost: {len(possible)} "
        f"({len(possible) / max(1, n):.3f})"
    )
    print(f"model time: {model_seconds:.0f} s in all, {model_seconds / max(1, n):.1f} s per program")
    for r in finding:
        print(f"  finding: {r['student']}: {r['verdict']} {r['errors']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
