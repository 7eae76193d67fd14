"""Write a made-up class of Java submissions for a shipped task, to try and time ``fedjava grade``.

    python scripts/make_class.py --task arrays_count_peaks --students 30 --out /tmp/class [--broken]
    python scripts/make_class.py --task arrays_count_peaks --students 30 --out /tmp/class.zip

A quarter of the students are correct (restyled reference solution and variants), the rest carry one error from
the dataset's mutation operators (syntax, compile, runtime, logic in turn); --broken adds an empty file, a binary
file, a text file and a folder with two .java files (see fedjava.grading.sample). The task's YAML is copied
beside the class as TASK.yaml, ready for fedjava grade --task.
"""

from __future__ import annotations

import argparse
import shutil

from fedjava.grading.sample import make_class, shipped_task, write_class


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="arrays_count_peaks", help="a shipped task id (default arrays_count_peaks)")
    parser.add_argument("--students", type=int, default=30, help="how many Java submissions (default 30)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--broken", action="store_true", help="add unreadable, empty and non-Java submissions")
    parser.add_argument("--out", required=True, help="a folder, or a .zip file")
    args = parser.parse_args()
    task = shipped_task(args.task)
    out = write_class(make_class(task, args.students, args.seed, args.broken), args.out)
    task_copy = out.parent / f"{task.id}.yaml"
    shutil.copyfile(task.path, task_copy)
    print(f"wrote {out} ({args.students} students) and {task_copy}")
    print(f"next: fedjava grade {out} --task {task_copy}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
