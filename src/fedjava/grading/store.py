"""The grade output folder: the full answers, the review state of each feedback page, and the teacher's edits.

Layout of ``--out DIR``:

* ``results.jsonl``: one row per student (the last row of a student wins): the code and its sha256, the
  status (graded, invalid_answer, ungradable) and why, the parsed answer, the raw answer, the tool results,
  timings, and ``run``, a fingerprint of what produced it (task, adapter, prompt mode, tests run or not).
  Rows are appended after every generation batch, so an interrupted run loses at most one batch;
* ``state.json``: the assignment's name and the last run's timing, and per student the page's file name, its state (``draft`` until approved, then ``released``),
  the sha256 of the page as fedjava last wrote it, and ``edited``;
* ``feedback/<student>.html``, ``rubric.yaml`` (the rubric in use), ``grades.csv``, ``grades_detail.csv``,
  ``summary.html``.

A page whose text no longer matches the recorded sha256 was edited by the teacher (by hand, or with the edit
form of ``fedjava serve``): it is marked ``edited`` and never overwritten; a new review of that student goes to
``feedback/<student>.new.html``. The sha256 is of the page's canonical text (:func:`canonical_page`: the review
state and the score breakdown's total row, which fedjava itself changes in place, set aside), so releasing a page
keeps it as it is, and an edit the teacher undoes makes the page fedjava's again (no longer ``edited``).

The folder may sit inside the class folder it grades (or be that folder): :func:`written_by_grade` names the files
of a grade output folder among the submissions, so that they are never collected as students.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from fedjava.grading.feedback import page_name, set_state, set_total

OUTPUT_NAMES = frozenset(
    {"results.jsonl", "state.json", "rubric.yaml", "grades.csv", "grades_detail.csv", "summary.html", "feedback"}
)
"""What ``fedjava grade`` writes at the top of its output folder (``feedback`` is a folder)."""
MARKERS = ("results.jsonl", "state.json")
"""A folder holding both is a grade output folder: no student submits these two."""


def written_by_grade(paths: list[tuple[str, ...]], out: tuple[str, ...] | None = None) -> set[tuple[str, ...]]:
    """The ``paths`` (parts relative to the submissions' root) that ``fedjava grade`` wrote.

    ``out`` is the ``--out`` folder relative to the root (``()``: the root itself), None when it is elsewhere.
    Everything below ``out`` is left out; in ``out`` when it is the root, and in any folder holding
    :data:`MARKERS` (an earlier run's output, maybe the class folder itself inside a zip), the names in
    :data:`OUTPUT_NAMES` and their ``.tmp`` files: a student's file beside them is still a submission.
    """
    files = set(paths)
    folders = {path[:-1] for path in files if path[-1] == MARKERS[0] and (*path[:-1], MARKERS[1]) in files}
    if out == ():
        folders.add(())
    found = set()
    for path in files:
        if out and path[: len(out)] == out:
            found.add(path)
        elif any(len(path) > len(f) and path[: len(f)] == f and _is_output(path[len(f)]) for f in folders):
            found.add(path)
    return found


def _is_output(name: str) -> bool:
    return name in OUTPUT_NAMES or name.removesuffix(".tmp") in OUTPUT_NAMES


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_page(html: str) -> str:
    """A page without what fedjava changes in place (its state, its total row): what an edit is measured against."""
    return set_total(set_state(html, "draft"), "")


def page_digest(html: str) -> str:
    """The sha256 recorded for a page fedjava wrote (of :func:`canonical_page`)."""
    return sha256_text(canonical_page(html))


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file and a rename: a crash never leaves half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8", newline="")
    os.replace(tmp, path)


class GradeFolder:
    """The files of one ``fedjava grade --out DIR`` (see the module's docstring)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.results = self.root / "results.jsonl"
        self.state_file = self.root / "state.json"
        self.pages = self.root / "feedback"
        self.rubric = self.root / "rubric.yaml"
        saved = json.loads(self.state_file.read_text(encoding="utf-8")) if self.state_file.is_file() else {}
        self.state: dict[str, dict[str, Any]] = saved.get("students", {})
        self.meta: dict[str, Any] = saved.get("meta", {})
        """the assignment's name and the last run's timing, for the commands that run without the task"""

    def exists(self) -> bool:
        return self.results.is_file()

    # ------------------------------------------------------------ results.jsonl

    def load_records(self) -> dict[str, dict[str, Any]]:
        """The latest row of every student; a row cut short by a crash is skipped."""
        records: dict[str, dict[str, Any]] = {}
        if not self.results.is_file():
            return records
        for line in self.results.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and "student" in row:
                records[row["student"]] = row
        return records

    def append_records(self, rows: list[dict[str, Any]]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with self.results.open("a", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")

    def save_records(self, rows: list[dict[str, Any]]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomic(self.results, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

    # ------------------------------------------------------------ pages and their state

    def page_path(self, student: str) -> Path:
        entry = self.state.get(student)
        if entry is None:
            used = {e["page"] for e in self.state.values()}
            name = page_name(student)
            if name in used:  # two ids that differ only in characters a file name cannot hold
                name = f"{name[:-5]}-{hashlib.sha1(student.encode()).hexdigest()[:6]}.html"
            entry = self.state[student] = {"page": name, "state": "draft", "page_sha256": "", "edited": False}
        return self.pages / entry["page"]

    def is_edited(self, student: str) -> bool:
        """Whether the teacher changed the page since fedjava wrote it (looked at again every time: an edit that
        was undone no longer counts)."""
        entry = self.state.get(student)
        if entry is None:
            return False
        path = self.pages / entry["page"]
        if path.is_file() and entry["page_sha256"]:
            html = path.read_text(encoding="utf-8", errors="replace")
            # a page written before the digest was of the canonical text matches its recorded sha256 as it is
            entry["edited"] = entry["page_sha256"] not in (
                page_digest(html),
                sha256_text(html),
                sha256_text(set_state(html, "draft")),
            )
        return entry["edited"]

    def write_page(self, student: str, html: str, regraded: bool) -> str:
        """Write a student's page unless the teacher edited it; what happened: written, unchanged, kept.

        ``regraded`` (a new review of a changed file) puts the page back to ``draft``.
        """
        path = self.page_path(student)
        entry = self.state[student]
        if regraded:
            entry["state"] = "draft"
        html = set_state(html, entry["state"])
        if path.is_file() and self.is_edited(student):
            if regraded:
                path.with_name(path.name[:-5] + ".new.html").write_text(html, encoding="utf-8")
            return "kept"
        if path.is_file() and path.read_text(encoding="utf-8", errors="replace") == html:
            entry["page_sha256"] = page_digest(html)
            return "unchanged"
        self.pages.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8", newline="")
        entry["page_sha256"] = page_digest(html)
        return "written"

    def write_edited(self, student: str, html: str, written: str) -> bool:
        """Write the page the teacher edited in ``fedjava serve`` (``html``), where fedjava's own page would be
        ``written``; whether it now counts as edited (not when it is fedjava's page again)."""
        path = self.page_path(student)
        entry = self.state[student]
        html = set_state(html, entry["state"])
        self.pages.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8", newline="")
        entry["page_sha256"] = page_digest(written)
        return self.is_edited(student)

    def update_total(self, student: str, total: str) -> None:
        """Put ``total`` (an HTML table row) in place of an edited page's total row; the rest stays as it is."""
        path = self.page_path(student)
        if path.is_file():
            html = path.read_text(encoding="utf-8")
            changed = set_total(html, total)
            if changed != html:
                path.write_text(changed, encoding="utf-8", newline="")

    def release(self, student: str, when: str) -> None:
        """Mark a student's page released, changing only its state field (an edited page keeps its edits)."""
        path = self.page_path(student)
        entry = self.state[student]
        if path.is_file():
            html = set_state(path.read_text(encoding="utf-8"), "released")
            path.write_text(html, encoding="utf-8", newline="")
        entry.update(state="released", released_at=when)
        self.is_edited(student)

    def save_state(self) -> None:
        """Write state.json, with every page's edits looked at first."""
        for student in self.state:
            self.is_edited(student)
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomic(
            self.state_file, json.dumps({"meta": self.meta, "students": self.state}, indent=1, sort_keys=True) + "\n"
        )
