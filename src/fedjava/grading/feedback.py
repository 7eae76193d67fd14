"""One HTML feedback page per student (and per file reviewed on the web page), from the same template.

The page shows the verdict, the score, each error with its explanation and fix, the tool results of a grounded
review, how the rubric made the score, and the whole code with the error lines marked (``.line.marked``, each
line ``id="L<n>"``). Everything the student or the model wrote is HTML-escaped by the template engine, so a
submission holding ``<script>`` stays text. The page is self-contained (no external files), so the teacher
can open, edit and send it as it is.

Two fields are machine-readable so that a teacher's edit counts: ``data-field="state"`` (draft or released,
changed in place by ``fedjava grade --approve``) and ``data-field="score"`` (a number the teacher types there
replaces the rubric's score in the gradebook; see :func:`read_score`).
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import Any

from fedjava.grading.rubric import Score

STATES = ("draft", "released")
_STATE_RE = re.compile(r'(data-field="state"[^>]*>)\s*(draft|released)\s*(<)')
_STATE_CLASS_RE = re.compile(r'class="state (?:draft|released)"')
_SCORE_RE = re.compile(r'data-field="score"[^>]*>\s*([-+]?\d+(?:[.,]\d+)?)\s*<')


@lru_cache(maxsize=1)
def templates():
    """The Jinja2 environment of fedjava's page templates (autoescaped HTML)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("fedjava", "templates"), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["points"] = format_points
    env.filters["signed"] = lambda p: ("+" if p >= 0 else "-") + format_points(abs(p))
    return env


def format_points(points: float | None) -> str:
    """12.0 -> "12", 7.5 -> "7.5", None -> "" (as in the gradebook)."""
    return "" if points is None else f"{points:.2f}".rstrip("0").rstrip(".")


def marked_lines(code: str, answer: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every line of ``code`` with the errors that point at it (``marks``: "error 1", "errors 1, 2" or "")."""
    lines = code.rstrip("\n").split("\n") if code else []
    by_line: dict[int, list[int]] = {}
    for i, error in enumerate((answer or {}).get("errors") or [], 1):
        if isinstance(error.get("line"), int):
            by_line.setdefault(error["line"], []).append(i)
    out = []
    for n, text in enumerate(lines, 1):
        hits = by_line.get(n, [])
        marks = f"error{'s' if len(hits) > 1 else ''} {', '.join(map(str, hits))}" if hits else ""
        out.append({"n": n, "text": text, "marks": marks})
    return out


def render_feedback(record: dict[str, Any], score: Score | None, assignment: str, state: str | None = None,
                    cap: float | None = None, rubric_note: str = "", back: str | None = None) -> str:
    """The page for one reviewed file. ``record`` is a row of results.jsonl (:mod:`fedjava.grading.grade`);
    ``state`` None leaves the review-state badge out (the web page's one-off reviews)."""
    return templates().get_template("feedback.html").render(
        assignment=assignment, student=record.get("student"), source=record.get("source", ""),
        status=record["status"], reason=record.get("reason") or "", answer=record.get("answer"),
        raw=record.get("raw") or "", evidence=record.get("evidence"), note=record.get("note"),
        lines=marked_lines(record.get("code") or "", record.get("answer")), score=score,
        cap=cap if cap is not None else (score.cap if score else None), state=state, rubric_note=rubric_note,
        adapter=record.get("adapter", "the grader"), back=back, fix_note=_fix_note(record))


def _fix_note(record: dict[str, Any]) -> str:
    """What checking the first error's fix found, as the review prints it; "" when it was not checked."""
    if not record.get("fix_check"):
        return ""
    from fedjava.review import fix_check_text

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
        safe = f"{safe[:MAX_PAGE_STEM - 13]}-{digest}"
    return f"{safe}.html"
