"""``grades.csv`` in the layout Canvas and Moodle import, ``grades_detail.csv`` for people, and the layout's check.

The gradebook layout (docs/grading.md), for a class of plain file or folder names, or of Canvas names::

    Student,ID,SIS User ID,SIS Login ID,Section,<assignment>
    alice,,,alice,,6
    bob,,,bob,,

* UTF-8 without a byte-order mark, comma-separated, RFC 4180 quoting, one header row, then one row per student
  sorted by student id; no "Points Possible" row (Moodle would read it as a student).
* The first five columns are Canvas's identity columns. ``Student`` and ``SIS Login ID`` hold the student id
  (the submission's file or folder name); ``ID``, ``SIS User ID`` and ``Section`` stay empty, since Canvas
  matches a row by any one of them. Moodle's import maps ``SIS Login ID`` to the user's username (or email).
  A student whose files carry Canvas's download names (:mod:`fedjava.grading.lms`) has the name Canvas wrote in
  ``Student`` and Canvas's user id in ``ID``, which Canvas matches first; ``SIS Login ID`` stays empty.
* The last column is the score, headed by the assignment's name exactly as the gradebook shows it (Canvas
  matches "Name (id)" headers too): a number (``.`` as the decimal point, at most two decimals), or empty
  for a student with no score (not gradable, or the grader's answer could not be read), so that importing
  never overwrites a grade with a blank guess. Canvas creates a new assignment for any column it does not
  know, so the file has no other columns: the reasons and states are in ``grades_detail.csv``.
* A class from Moodle's "download all submissions" zip gets Moodle's grading worksheet instead (the file its
  assignment's "Upload grading worksheet" reads), one row per student with a score::

      Identifier,Full name,Grade,Maximum Grade,Last modified (grade)
      Participant 123456,Bob Jones,8,10,2025-03-01T10:00:00+00:00

  Moodle matches ``Identifier`` (the participant id of the zip's folder names) and needs the three columns
  ``Identifier``, ``Grade`` and ``Last modified (grade)``; a grade changed in Moodle after that time is kept.
  A student with no score, or with no participant id, has no row (:func:`gradebook_warnings` says who).
* A text cell that a spreadsheet would read as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a
  carriage return: a student id such as ``=HYPERLINK(...)`` or ``=cmd|' /C calc'!A0``, taken from a file name)
  is written with a single quote in front and in double quotes, as OWASP recommends against CSV injection, in
  both CSV files; a plain number (a score) is written as it is. :func:`cell_value` reads such a cell back.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fedjava.grading.feedback import format_points

IDENTITY_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MOODLE_COLUMNS = ("Identifier", "Full name", "Grade", "Maximum Grade", "Last modified (grade)")
MOODLE_PARTICIPANT = "Participant "
DETAIL_COLUMNS = (
    "student",
    "score",
    "points_possible",
    "score_from",
    "verdict",
    "errors",
    "status",
    "reason",
    "check",
    "tests",
    "late",
    "similar_to",
    "lms_id",
    "state",
    "edited",
    "page",
    "source",
)
_NUMBER_RE = re.compile(r"^\d+(\.\d{1,2})?$")
# What a spreadsheet takes as the start of a formula (OWASP, "CSV Injection"); a plain number is only a number.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER_RE = re.compile(r"^[-+]?\d+(\.\d+)?$")


@dataclass(frozen=True)
class GradeRow:
    student: str
    score: float | None
    points_possible: float
    score_from: str
    """rubric, teacher (a number typed into an edited page) or "" (no score)"""
    verdict: str
    errors: str
    status: str
    reason: str
    state: str
    edited: bool
    page: str
    source: str
    lms: str = ""
    """``canvas`` or ``moodle`` when the student's files carry that LMS's names"""
    lms_id: str = ""
    name: str = ""
    late: bool = False
    check: str = ""
    """why the review is to check by hand (an error the tools do not confirm), else """ ""
    tests: str = ""
    """``7 of 9`` when the task's tests ran"""
    similar_to: str = ""
    """the students whose submission is very similar, with the measure: ``bob (0.97)``"""
    graded_at: str = ""


def moodle_class(rows: list[GradeRow]) -> bool:
    """Whether the class came from Moodle's zip: some student has Moodle's names and none has Canvas's."""
    return any(r.lms == "moodle" for r in rows) and not any(r.lms == "canvas" for r in rows)


def gradebook_text(assignment: str, rows: list[GradeRow], released_only: bool = False, cap: float = 0.0) -> str:
    """The gradebook CSV (see the module's docstring); ``released_only`` leaves out pages not yet released.
    ``cap``: the points possible, which Moodle's worksheet has a column for."""
    rows = [r for r in sorted(rows, key=lambda r: r.student) if r.state == "released" or not released_only]
    if moodle_class(rows):
        lines = [list(MOODLE_COLUMNS)]
        lines += [
            [MOODLE_PARTICIPANT + r.lms_id, r.name, format_points(r.score), format_points(cap), r.graded_at]
            for r in rows
            if r.lms == "moodle" and r.score is not None
        ]
        return csv_text(lines)
    lines = [[*IDENTITY_COLUMNS, assignment]]
    for row in rows:
        if row.lms == "canvas":
            lines.append([row.name, row.lms_id, "", "", "", format_points(row.score)])
        else:
            lines.append([row.student, "", "", row.student, "", format_points(row.score)])
    return csv_text(lines)


def gradebook_warnings(rows: list[GradeRow]) -> list[str]:
    """Who a Moodle worksheet leaves out although they have a score: students without a participant id."""
    if not moodle_class(rows):
        return []
    left = [r.student for r in rows if r.lms != "moodle" and r.score is not None]
    if not left:
        return []
    return [
        f"grades.csv is Moodle's grading worksheet, which matches students by participant id: "
        f"{len(left)} scored student(s) whose files do not carry Moodle's names are not in it "
        f"({', '.join(left[:5])}{' ...' if len(left) > 5 else ''}); grades_detail.csv has their scores"
    ]


def detail_text(rows: list[GradeRow]) -> str:
    """Everything a teacher wants beside the score: verdict, errors, status and why, what to check by hand, the
    tests passed, lateness, very similar submissions, review state, page."""
    lines = [list(DETAIL_COLUMNS)]
    for r in sorted(rows, key=lambda r: r.student):
        lines.append(
            [
                r.student,
                format_points(r.score),
                format_points(r.points_possible),
                r.score_from,
                r.verdict,
                r.errors,
                r.status,
                r.reason,
                r.check,
                r.tests,
                "yes" if r.late else "",
                r.similar_to,
                r.lms_id,
                r.state,
                "yes" if r.edited else "no",
                r.page,
                r.source,
            ]
        )
    return csv_text(lines)


def csv_text(rows: Iterable[list[str]]) -> str:
    """RFC 4180 CSV (CRLF line ends, quotes only where needed) with every formula-like text cell neutralised.

    Written by hand because the csv module cannot quote one cell and not the next (QUOTE_STRINGS is Python 3.12).
    """
    return "".join(",".join(_cell(value) for value in row) + "\r\n" for row in rows)


def _cell(value: str) -> str:
    if value.startswith(FORMULA_START) and not _PLAIN_NUMBER_RE.match(value):
        return '"' + ("'" + value).replace('"', '""') + '"'
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def cell_value(cell: str) -> str:
    """The text a neutralised cell stands for: ``'=1+2`` -> ``=1+2``; any other cell as it is."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_START) else cell


def read_detail(path: str | Path) -> list[dict[str, str]]:
    """The rows of a ``grades_detail.csv``, with neutralised cells read back as the text they stand for."""
    with Path(path).open(encoding="utf-8", newline="") as handle:
        return [{key: cell_value(value or "") for key, value in row.items()} for row in csv.DictReader(handle)]


def check_gradebook(path: str | Path, assignment: str | None = None) -> list[str]:
    """Every way ``path`` departs from the gradebook layout ([] when it follows it)."""
    data = Path(path).read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        return ["starts with a byte-order mark"]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return ["not UTF-8"]
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        return ["empty file"]
    formulas = [
        f"row {number}: the cell {cell[:20]!r} starts like a formula; a spreadsheet would run it"
        for number, row in enumerate(rows, 1)
        for cell in row
        if cell.startswith(FORMULA_START) and not _PLAIN_NUMBER_RE.match(cell)
    ]
    problems = formulas[:5]
    rows = [[cell_value(cell) for cell in row] for row in rows]
    header = rows[0]
    if tuple(header) == MOODLE_COLUMNS:
        return problems + _check_worksheet(rows)
    if tuple(header[:5]) != IDENTITY_COLUMNS or len(header) != 6:
        problems.append(f"header must be {', '.join(IDENTITY_COLUMNS)}, <assignment>; got {', '.join(header)}")
    elif not header[5].strip() or header[5] in IDENTITY_COLUMNS:
        problems.append("the score column must be named after the assignment")
    elif assignment is not None and header[5] != assignment:
        problems.append(f"the score column is '{header[5]}', not the assignment '{assignment}'")
    seen = set()
    for number, row in enumerate(rows[1:], 2):
        if len(row) != 6:
            problems.append(f"row {number}: {len(row)} fields instead of 6")
            continue
        student, canvas_id, sis_user, login, section, score = row
        if canvas_id:  # a Canvas download's student: matched by Canvas's user id
            if not canvas_id.isdigit() or login or not student:
                problems.append(
                    f"row {number}: a row with an ID needs Canvas's numeric user id, the name in "
                    "Student and an empty SIS Login ID"
                )
        elif not student or login != student:
            problems.append(f"row {number}: Student and SIS Login ID must both hold the student id")
        if sis_user or section:
            problems.append(f"row {number}: SIS User ID and Section must be empty")
        if student.strip().lower() == "points possible":
            problems.append(f"row {number}: a Points Possible row (Moodle would read it as a student)")
        if student in seen:
            problems.append(f"row {number}: {student} appears twice")
        seen.add(student)
        if score and not _NUMBER_RE.match(score):
            problems.append(f"row {number}: score '{score}' is not a plain number with at most two decimals")
    students = [r[0] for r in rows[1:] if r and not (len(r) > 1 and r[1])]  # Canvas-id rows: sorted by their id
    if students != sorted(students):
        problems.append("rows are not sorted by student id")
    return problems


def _check_worksheet(rows: list[list[str]]) -> list[str]:
    """How the rows of a Moodle grading worksheet depart from what its upload reads."""
    problems, seen = [], set()
    for number, row in enumerate(rows[1:], 2):
        if len(row) != len(MOODLE_COLUMNS):
            problems.append(f"row {number}: {len(row)} fields instead of {len(MOODLE_COLUMNS)}")
            continue
        identifier, _, grade, possible, modified = row
        if not identifier.startswith(MOODLE_PARTICIPANT) or not identifier[len(MOODLE_PARTICIPANT) :].isdigit():
            problems.append(f"row {number}: Identifier must be 'Participant <id>', not '{identifier}'")
        if identifier in seen:
            problems.append(f"row {number}: {identifier} appears twice")
        seen.add(identifier)
        if not _NUMBER_RE.match(grade) or not _NUMBER_RE.match(possible):
            problems.append(f"row {number}: Grade and Maximum Grade must be plain numbers")
        if not modified:
            problems.append(f"row {number}: Last modified (grade) is empty")
    return problems
