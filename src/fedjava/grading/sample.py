"""A made-up class of student submissions for a shipped task, built with the dataset's own tools.

Why: ``fedjava grade`` needs a realistic folder to be tried and timed on, and its tests need one, without real
students' code. :func:`make_class` takes the task's reference solution and correct variants, restyles them
(:mod:`fedjava.dataset.restyle`: renamed variables, other brace and indent styles) and injects one error into
most of them with the mutation operators (:mod:`fedjava.java.mutate`), a quarter correct and the rest spread
over the syntax, compile, runtime and logic families, all seeded. ``broken=True`` adds the submissions a real
class also has: an empty file, a binary file, a text file (left out: no student's), a folder with two ``.java``
files and a folder submission (``student_folder/Solution.java``).

    python scripts/make_class.py --task arrays_count_peaks --students 30 --out /tmp/class
"""

from __future__ import annotations

import random
from pathlib import Path

from fedjava.dataset.restyle import restyle
from fedjava.java.mutate import FAMILIES, sample_mutants
from fedjava.java.tasks import TASKS_DIR, Task, load_task

BROKEN = {
    "empty_file.java": b"",
    "binary_file.java": b"\xca\xfe\xba\xbe\x00\x00\x00\x3d\x00\x1d",
    "wrong_type.txt": b"I could not finish the assignment, sorry.\n",
    "two_files/Solution.java": b"class Solution {}\n",
    "two_files/Helper.java": b"class Helper {}\n",
}


def shipped_task(task_id: str) -> Task:
    """A task shipped with fedjava, by id (``arrays_count_peaks``)."""
    return load_task(TASKS_DIR / f"{task_id}.yaml")


def make_class(task: Task, students: int, seed: int = 0, broken: bool = False) -> dict[str, bytes]:
    """``{relative path: file bytes}``: ``students`` Java submissions named ``student01.java`` ..., plus the
    broken ones when asked; the last Java submission is a folder (``student30/Solution.java``)."""
    rng = random.Random(f"class:{seed}:{task.id}")
    bases = [task.solution] + [v.code for v in task.variants]
    programs = []
    for i in range(students):
        code = bases[i % len(bases)]
        code, _ = restyle(code, rng)
        if i % 4 != 0:  # three in four students make one mistake, families taken in turn
            family = FAMILIES[(i // 4 * 3 + i % 4 - 1) % len(FAMILIES)]
            mutants = sample_mutants(code, rng, per_operator=1, operators=[family])
            if mutants:
                code = rng.choice(mutants).code
        programs.append(code if code.endswith("\n") else code + "\n")
    width = max(2, len(str(students)))
    files = {f"student{i + 1:0{width}d}.java": code.encode("utf-8") for i, code in enumerate(programs)}
    if files:
        last = max(files)
        files[f"{last[:-5]}/Solution.java"] = files.pop(last)
    if broken:
        files.update(BROKEN)
    return files


def write_class(files: dict[str, bytes], out: str | Path) -> Path:
    """Write :func:`make_class`'s files under ``out`` (a folder, or a ``.zip`` file when it ends so)."""
    out = Path(out)
    if out.suffix.lower() == ".zip":
        import zipfile

        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in sorted(files.items()):
                archive.writestr(f"{out.stem}/{name}", data)
        return out
    for name, data in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return out
