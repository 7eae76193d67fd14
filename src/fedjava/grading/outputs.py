"""What ``fedjava grade`` writes from the reviews: the pages, the gradebook, the detail CSV, the summary; approving.

:func:`write_outputs` scores every review with the rubric (:meth:`fedjava.grading.rubric.Rubric.score`, the one
function ``review`` and ``serve`` score with too), writes each student's page unless the teacher edited it, reads a
score typed into an edited page (only one from 0 to the cap counts: another is reported and leaves the gradebook
cell empty), finds the very similar submissions (:mod:`fedjava.grading.similarity`), and writes ``grades.csv``,
``grades_detail.csv`` and ``summary.html``. :func:`approve` releases pages: ``all`` means every page with a score.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

from fedjava.errors import UserError
from fedjava.grading.feedback import read_score, render_feedback, total_row
from fedjava.grading.gradebook import GradeRow, detail_text, gradebook_text, gradebook_warnings
from fedjava.grading.rubric import DEFAULT_RUBRIC, Rubric, Score, load_rubric, parse_rubric, passed_tests
from fedjava.grading.similarity import similar_pairs, similar_to
from fedjava.grading.store import GradeFolder, write_atomic
from fedjava.grading.summary import render_summary
from fedjava.grading.tests_table import counts
from fedjava.grading.wording import plural


class ApproveError(UserError):
    """An --approve request that cannot be done (no results, an unknown student, a page without a score)."""


def rubric_note(rubric: Rubric, folder: GradeFolder) -> str:
    which = "the default rubric" if rubric.text == DEFAULT_RUBRIC.read_text(encoding="utf-8") else "the course rubric"
    tests = " plus the points of the tests passed," if rubric.tests else ""
    return (
        f"Scored with {which} ({folder.rubric.name} beside the class results): the verdict's points,{tests} minus "
        "the points of each error the tools confirm."
    )


def write_outputs(
    folder: GradeFolder,
    assignment: str,
    rubric: Rubric,
    records: dict[str, dict[str, Any]],
    regraded: set[str],
    released_only: bool,
) -> tuple[list[GradeRow], list[str]]:
    """Every student's page (edited pages kept), ``grades.csv``, ``grades_detail.csv``, ``summary.html``."""

    note, task = rubric_note(rubric, folder), folder.meta.get("task", "")
    pairs = similar_pairs(
        {s: r["code"] for s, r in records.items() if r.get("code") and r["status"] != "ungradable"},
        {s: r.get("sha256", "") for s, r in records.items()},
    )
    similar = similar_to(pairs)
    rows, warnings = [], []
    for student, record in sorted(records.items()):
        score = (
            rubric.score(record["answer"], record.get("evidence"), record.get("tests"))
            if record["status"] == "graded"
            else None
        )
        html = render_feedback(record, score, assignment, state="draft", cap=rubric.cap, rubric_note=note, task=task)
        if folder.write_page(student, html, regraded=student in regraded) == "kept" and student in regraded:
            warnings.append(
                f"{student}: the feedback page was edited by hand, so it was kept; the new review of the "
                f"changed file is in feedback/{folder.page_path(student).stem}.new.html"
            )
        points = _gradebook_points(folder, student, score, rubric.cap)
        if points.reason:
            warnings.append(f"{student}: {points.reason}")
        rows.append(
            _grade_row(student, record, folder.state[student], score, rubric.cap, points, similar.get(student, ""))
        )
    warnings += gradebook_warnings(rows)
    write_atomic(folder.root / "grades.csv", gradebook_text(assignment, rows, released_only, rubric.cap))
    write_atomic(folder.root / "grades_detail.csv", detail_text(rows))
    write_atomic(
        folder.root / "summary.html",
        render_summary(
            assignment, rows, records, rubric.cap, folder.meta.get("timing", ""), pairs, folder.meta.get("ignored", [])
        ),
    )
    folder.save_state()
    return rows, warnings


class _Points(NamedTuple):
    """A student's points in the gradebook."""

    value: float | None
    source: str
    """where they come from: "rubric", "teacher", or "" when there are none"""
    reason: str
    """why a score typed into the page does not count ("" when it does, or there is none)"""


def _gradebook_points(folder: GradeFolder, student: str, score: Score | None, cap: float) -> _Points:
    """A score the teacher typed into an edited page replaces the rubric's, and the page's breakdown total is brought
    in line with it."""
    points, source, reason = (score.points, "rubric", "") if score else (None, "", "")
    if folder.is_edited(student):
        typed = read_score(folder.page_path(student).read_text(encoding="utf-8"))
        if typed is not None and not 0 <= typed <= cap:
            reason = (
                f"the score typed into the page ({typed:g}) is not from 0 to the {cap:g} points "
                "possible, so grades.csv has no score for this student until the page is corrected"
            )
            points, source = None, ""
        elif typed is not None and typed != points:
            points, source = typed, "teacher"
        if score is not None:  # the breakdown's total says what the gradebook has
            folder.update_total(student, total_row(score, typed if source == "teacher" else None))
    return _Points(points, source, reason)


def _grade_row(
    student: str,
    record: dict[str, Any],
    entry: dict[str, Any],
    score: Score | None,
    cap: float,
    points: _Points,
    similar: str,
) -> GradeRow:
    """The student's gradebook row, from the review record and the page's state ``entry``."""
    answer = record.get("answer") or {}
    errors = "; ".join(
        f"{e.get('code') or e.get('type') or 'error'}@{e.get('line')}" for e in answer.get("errors") or []
    )
    tests = counts(record.get("tests") or []) or _tests_from_evidence(record.get("evidence"))
    return GradeRow(
        student,
        points.value,
        cap,
        points.source,
        answer.get("verdict", ""),
        errors,
        record["status"],
        points.reason or record.get("reason") or "",
        entry["state"],
        entry["edited"],
        entry["page"],
        record.get("source", ""),
        record.get("lms", ""),
        record.get("lms_id", ""),
        record.get("name", ""),
        bool(record.get("late")),
        score.check if score else "",
        tests,
        similar,
        record.get("graded_at", ""),
    )


def _tests_from_evidence(evidence: str | None) -> str:
    counted = passed_tests(evidence, None)
    return f"{counted[0]} of {counted[1]}" if counted else ""


def saved_rubric(folder: GradeFolder) -> Rubric:
    """The rubric saved in the output folder (the default when there is none)."""

    if folder.rubric.is_file():
        return parse_rubric(folder.rubric.read_text(encoding="utf-8"), str(folder.rubric))
    return load_rubric()


def approve(out: str | Path, which: str, released_only: bool = False) -> tuple[list[str], list[str], list]:
    """Release the pages of ``which`` (comma-separated student ids, or ``all``: every page with a score); the
    outputs are written again. (released, left as drafts because they have no score, the report's rows and
    warnings as :class:`fedjava.grading.grade.GradeReport` would hold them)."""
    folder = GradeFolder(out)
    if not folder.exists():
        raise ApproveError(
            f"{out}: no grading results here (results.jsonl); run fedjava grade SUBMISSIONS --task "
            f"TASK --out {out} first"
        )
    records = folder.load_records()
    everyone = which.strip() == "all"
    wanted = list(records) if everyone else [s.strip() for s in which.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in records]
    if unknown or not wanted:
        known = ", ".join(sorted(records)[:8]) + (" ..." if len(records) > 8 else "")
        raise ApproveError(
            f"--approve: no student {', '.join(unknown) or '(none given)'} in {out} (students: {known}; or 'all')"
        )
    assignment, rubric = folder.meta.get("assignment", "Assignment"), saved_rubric(folder)
    rows, _ = write_outputs(folder, assignment, rubric, records, set(), released_only)
    scored = {r.student for r in rows if r.score is not None}
    unscored = [s for s in wanted if s not in scored]
    if unscored and not everyone:
        raise ApproveError(
            f"--approve: {', '.join(unscored)} {'has' if len(unscored) == 1 else 'have'} no score "
            "(not graded, or to grade by hand): type a score into the page (or edit it in fedjava "
            "serve) first, then approve"
        )
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    released = [s for s in wanted if s in scored]
    for student in released:
        folder.release(student, when)
    rows, warnings = write_outputs(folder, assignment, rubric, records, set(), released_only)
    return released, unscored, (rows, warnings)


def summary_counts(rows: list[GradeRow]) -> str:
    """The line the command prints about what to look at: reviews to check, late files, similar pairs."""
    parts = []
    check = sum(bool(r.check) for r in rows)
    if check:
        parts.append(
            f"{plural(check, 'review')} name an error the tools do not confirm: check "
            f"{'it' if check == 1 else 'them'} by hand"
        )
    late = sum(r.late for r in rows)
    if late:
        parts.append(f"{plural(late, 'late submission')}")
    similar = sum(bool(r.similar_to) for r in rows)
    if similar:
        parts.append(f"{plural(similar, 'student')} with a very similar submission")
    return "; ".join(parts)
