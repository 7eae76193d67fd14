"""``fedjava compare RESULTS --publish DIR``: an experiment's report as small files to commit (``docs/results/``).

What is copied: ``report.md`` and the plots it shows, ``experiment.json`` (the settings, the stage times and the
commands), each run's ``metrics.json``, ``teacher_forced.json``, ``training_history.json`` and ``tuning.json``, and
the tuning grid's histories. Adapters, predictions and logs stay where they are: a published folder holds the numbers and how they
were made, not the models.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from fedjava.evaluation.compare import CompareError, find_runs

RUN_FILES = ("metrics.json", "teacher_forced.json", "training_history.json", "tuning.json")
TUNING_FOLDER = "tuning"
MANIFEST = "published.txt"
"""In a published folder: the files the publication wrote, so the next one replaces them and nothing else."""


def publish_report(results_dir: str | Path, dest: str | Path) -> list[Path]:
    """Copy the report of ``results_dir`` (written by ``fedjava compare`` or ``fedjava experiment``) into ``dest``.

    Returns the files written, relative to ``dest``. ``dest`` must be new, empty or an earlier publication (its
    ``published.txt`` lists the files it wrote: those are replaced, so ``dest`` shows one experiment)."""
    root, dest = Path(results_dir), Path(dest)
    report = root / "report.md"
    if not report.is_file():
        raise CompareError(f"{root}: no report.md to publish (write it with: fedjava compare {root})")
    if dest.resolve() == root.resolve() or root.resolve() in dest.resolve().parents:
        raise CompareError(f"--publish {dest}: give a folder outside the results folder {root}")
    text = report.read_text(encoding="utf-8")
    files = {Path("report.md"): report}
    for image in re.findall(r"!\[[^\]]*\]\(([^)/]+\.png)\)", text):
        if (root / image).is_file():
            files[Path(image)] = root / image
    if (root / "experiment.json").is_file():
        files[Path("experiment.json")] = root / "experiment.json"
    for run in find_runs(root):
        for name in RUN_FILES:
            if (run.folder / name).is_file():
                files[Path("runs") / run.name / name] = run.folder / name
    for history in sorted((root / TUNING_FOLDER).glob("*/*/training_history.json")):
        files[history.relative_to(root)] = history
    _clear_earlier(dest)
    for relative, source in files.items():
        (dest / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest / relative)
    written = sorted(files)
    (dest / MANIFEST).write_text("".join(f"{p.as_posix()}\n" for p in written), encoding="utf-8")
    return written


def _clear_earlier(dest: Path) -> None:
    """Remove what an earlier publication wrote in ``dest``; refuse a folder that holds anything else."""
    if not dest.exists():
        return
    if not dest.is_dir():
        raise CompareError(f"--publish {dest}: not a folder")
    manifest = dest / MANIFEST
    if not manifest.is_file():
        if any(dest.iterdir()):
            raise CompareError(f"--publish {dest}: the folder holds other files; give a new or empty folder")
        return
    for line in manifest.read_text(encoding="utf-8").splitlines():
        relative = Path(line)
        if line and not relative.is_absolute() and ".." not in relative.parts and (dest / relative).is_file():
            (dest / relative).unlink()  # only inside dest: an edited list cannot remove files elsewhere
    manifest.unlink()
    for folder in sorted((p for p in dest.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
