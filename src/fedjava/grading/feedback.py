"""One HTML feedback page per student (and per file reviewed on the web page), from the same template.

The page shows the task, the verdict, the score, each error with its explanation and fix, the table of the
task's tests and the tool results of a grounded review, how the rubric made the score, and the whole code with
the error lines marked (``.line.marked``, each line ``id="L<n>"``). An error the tools do not confirm
(:func:`fedjava.findings.support`) is shown as a possible error to check, never as a finding, and a hidden
test's call and values are never shown (:mod:`fedjava.grading.tests_table`). Everything the student or the model
wrote is HTML-escaped by the template engine, so a submission holding ``<script>`` stays text. The page is self-contained (no external files), so the teacher
can open, edit and send it as it is.

Three fields are machine-readable so that a teacher's edit counts: ``data-field="state"`` (draft or released,
changed in place by ``fedjava grade --approve``), ``data-field="score"`` (a number the teacher types there
replaces the rubric's score in the gradebook; see :func:`read_score`) and the breakdown's ``data-field="total"``
row, which fedjava rewrites in place (:func:`set_total`) to show a typed score beside the rubric's.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import Any

from fedjava.findings import support
from fedjava.grading.kinds import error_title
from fedjava.grading.rubric import Score
from fedjava.grading.tests_table import STATUS_WORDS, hidden_calls, hide_calls, hide_in_answer, student_rows
from fedjava.grading.wording import plural

STATES = ("draft", "released")
_STATE_RE = re.compile(r'(data-field="state"[^>]*>)\s*(draft|released)\s*(<)')
_STATE_CLASS_RE = re.compile(r'class="state (?:draft|released)"')
_SCORE_RE = re.compile(r'data-field="score"[^>]*>\s*([-+]?\d+(?:[.,]\d+)?)\s*<')
_TOTAL_RE = re.compile(r'<tr data-field="total">.*?</tr>', re.DOTALL)


@lru_cache(maxsize=1)
def templates():
    """The Jinja2 environment of fedjava's page templates (autoescaped HTML)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("fedjava", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["points"] = format_points
    env.filters["signed"] = lambda p: ("+" if p >= 0 else "-") + format_points(abs(p))
    env.filters["error_title"] = error_title
    env.filters["plural"] = plural
    env.globals["status_words"] = STATUS_WORDS
    return env


def format_points(points: float | None) -> str:
    """12.0 -> "12", 7.5 -> "7.5", None -> "" (as in the gradebook)."""
    return "" if points is None else f"{points:.2f}".rstrip("0").rstrip(".")


def marked_lines(code: str, answer: dict[str, Any] | None, word: str = "error") -> list[dict[str, Any]]:
    """Every line of ``code`` with the errors that point at it (``marks``: "error 1", "errors 1, 2" or ""; ``word``
    "possible error" for errors the tools do not confirm)."""
    lines = code.rstrip("\n").split("\n") if code else []
    by_line: dict[int, list[int]] = {}
    for i, error in enumerate((answer or {}).get("errors") or [], 1):
        if isinstance(error.get("line"), int):
            by_line.setdefault(error["line"], []).append(i)
    out = []
    for n, text in enumerate(lines, 1):
        hits = by_line.get(n, [])
        marks = f"{word}{'s' if len(hits) > 1 else ''} {', '.join(map(str, hits))}" if hits else ""
        out.append({"n": n, "text": text, "marks": marks})
    return out


def render_feedback(
    record: dict[str, Any],
    score: Score | None,
    assignment: str,
    state: str | None = None,
    cap: float | None = None,
    rubric_note: str = "",
    back: str | None = None,
    task: str = "",
    teacher_score: float | None = None,
    edit: str | None = None,
) -> str:
    """The page for one reviewed file. ``record`` is a row of results.jsonl (:mod:`fedjava.grading.grade`);
    ``state`` None leaves the review-state badge out (the web page's one-off reviews). ``task``: the task's text,
    shown whole. ``teacher_score``: a score the teacher gave, shown in place of the rubric's (which the breakdown
    keeps). ``edit``: a link to the page's edit form (``fedjava serve``)."""

    answer = record.get("answer")
    hidden = hidden_calls(record.get("tests"))
    shown = hide_in_answer(answer, hidden)
    check = score.check if score is not None else ""
    if answer is not None and score is None:
        backed = support(answer, record.get("evidence"))
        check = "" if backed.finding or answer.get("verdict") == "NO_ERROR" else backed.reason
    return (
        templates()
        .get_template("feedback.html")
        .render(
            assignment=assignment,
            student=record.get("student"),
            source=record.get("source", ""),
            status=record["status"],
            reason=record.get("reason") or "",
            answer=shown,
            raw=hide_calls(record.get("raw") or "", hidden),
            evidence=hide_calls(record.get("evidence"), hidden),
            note=record.get("note"),
            score=score,
            lines=marked_lines(record.get("code") or "", answer, "possible error" if check else "error"),
            cap=cap if cap is not None else (score.cap if score else None),
            state=state,
            rubric_note=rubric_note,
            adapter=record.get("adapter", "the grader"),
            back=back,
            fix_note=_fix_note(record),
            check=check,
            tests=student_rows(record.get("tests") or []),
            task=task.strip(),
            late=bool(record.get("late")),
            replaced=record.get("replaced") or [],
            teacher_score=teacher_score,
            total=total_row(score, teacher_score),
            edit=edit,
        )
    )


def total_row(score: Score | None, teacher_score: float | None = None) -> str:
    """The breakdown's last row: the rubric's total, or the teacher's score with the rubric's beside it."""
    if score is None:
        return ""
    from markupsafe import escape

    if teacher_score is None or teacher_score == score.points:
        return (
            f'<tr data-field="total"><th>total</th><th class="num">{format_points(score.points)} / '
            f"{format_points(score.cap)}</th></tr>"
        )
    return (
        f'<tr data-field="total"><th>total: the score your teacher gave (the rubric gave '
        f'{escape(format_points(score.points))})</th><th class="num">{format_points(teacher_score)} / '
        f"{format_points(score.cap)}</th></tr>"
    )


def set_total(html: str, row: str) -> str:
    """``html`` with its breakdown's total row replaced by ``row`` (the rest of the page as it is)."""
    return _TOTAL_RE.sub(lambda _: row, html, count=1)


def fix_check_text(check: dict[str, Any]) -> str:
    """One sentence on what checking the first error's fix found (``Review.fix_check``). Without tests only javac ran:
    a fix that compiles may still break the program, so that is not called checked."""
    tests = check.get("tests") or 0
    tried = check.get("fixes_tried") or 0
    if check["status"] in ("first", "sampled"):
        which = (
            "this fix"
            if check["status"] == "first"
            else (f"this fix (the model's first did not work; this is one of {tried} it proposed)")
        )
        if not tests:
            return f"Compiles with {which}; no test ran, so whether it is right is not checked: treat it as a hint."
        if check["status"] == "first":
            return f"Checked: with this fix the file compiles and passes all {tests} test(s)."
        return (
            f"Checked: the model's first fix did not work; with this one (one of {tried} the model proposed) "
            f"the file compiles and passes all {tests} test(s)."
        )
    others = f" (or any of the {tried - 1} other(s) the model proposed)" if tried > 1 else ""
    needed = "compile and pass every test" if tests else "compile"
    return f"Not confirmed: with this fix{others} the file does not {needed}; treat it as a hint."


def _fix_note(record: dict[str, Any]) -> str:
    """What checking the first error's fix found, as the review prints it; "" when it was not checked."""
    if not record.get("fix_check"):
        return ""
    return fix_check_text(record["fix_check"])


def set_state(html: str, state: str) -> str:
    """``html`` with its review state changed in place (the rest of an edited page is kept as the teacher left it)."""
    html = _STATE_RE.sub(lambda m: f"{m.group(1)}{state}{m.group(3)}", html, count=1)
    return _STATE_CLASS_RE.sub(f'class="state {state}"', html, count=1)


def read_score(html: str) -> float | None:
    """The number in the page's score field (a decimal comma is read too), or None when it holds none."""
    match = _SCORE_RE.search(html)
    return float(match.group(1).replace(",", ".")) if match else None


MAX_PAGE_STEM = 80
"""Longest page name before ``.html``: far below the 255 bytes a file name may have, with room for ``.new.html``."""


def page_name(student: str) -> str:
    """A safe file name for a student's page: ASCII letters, digits, ``-``, ``_`` and ``.`` kept, the rest ``_``.

    A student id comes from a file name in the submissions (a zip entry's name may be longer than the disk allows):
    a long one keeps its start and gets a short hash of the whole id, so the page is still recognisable and two
    long ids that start alike get different pages.
    """
    safe = re.sub(r"[^\w.-]", "_", student, flags=re.ASCII).strip(".") or "student"
    if len(safe) > MAX_PAGE_STEM:
        digest = hashlib.sha256(student.encode("utf-8", "surrogateescape")).hexdigest()[:12]
        safe = f"{safe[: MAX_PAGE_STEM - 13]}-{digest}"
    return f"{safe}.html"
