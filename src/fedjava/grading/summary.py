"""``summary.html``: the class at a glance, so a teacher knows where to look first.

Counts (graded, to grade by hand, not graded; reviews to check by hand because the tools do not confirm their
error; late submissions; drafts, released, drafts the teacher changed), the verdicts, the most common errors in
plain words (javac's message, not its key), a score histogram (one bar per point up to a cap of 20, else ten
bins), the very similar submissions with their measure, the reviews to check and why, the students who could not
be graded with the reason, the files left out, and every student with a link to the feedback page.
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from fedjava.grading.feedback import format_points, templates
from fedjava.grading.gradebook import GradeRow
from fedjava.grading.kinds import describe_code, error_kind
from fedjava.grading.similarity import VERY_SIMILAR, SimilarPair
from fedjava.prompts import VERDICTS

TOP_ERRORS = 10
STATUS_NAMES = {"graded": "graded", "invalid_answer": "grade by hand", "ungradable": "not graded"}


def render_summary(
    assignment: str,
    rows: list[GradeRow],
    records: dict[str, dict[str, Any]],
    cap: float,
    timing: str,
    pairs: list[SimilarPair] | None = None,
    ignored: list[str] | None = None,
) -> str:
    """The page for ``rows`` (one per student) and their results.jsonl ``records``; ``pairs``: the very similar
    submissions; ``ignored``: the files that were no submission."""
    counts = Counter(r.status for r in rows)
    verdict_counts = Counter(r.verdict for r in rows if r.verdict)
    errors: Counter = Counter()
    for r in rows:
        if r.check:  # not confirmed: no finding to count
            continue
        for error in ((records.get(r.student) or {}).get("answer") or {}).get("errors") or []:
            code = error.get("code") or ""
            errors[(error_kind(error), describe_code(code), code)] += 1
    scores = [r.score for r in rows if r.score is not None]
    histogram = score_histogram(scores, cap)
    return (
        templates()
        .get_template("summary.html")
        .render(
            assignment=assignment,
            cap=cap,
            timing=timing,
            counts={
                "students": len(rows),
                "graded": counts["graded"],
                "invalid_answer": counts["invalid_answer"],
                "ungradable": counts["ungradable"],
                "draft": sum(r.state == "draft" for r in rows),
                "released": sum(r.state == "released" for r in rows),
                "edited": sum(r.edited for r in rows),
                "teacher_scores": sum(r.score_from == "teacher" for r in rows),
                "check": sum(bool(r.check) for r in rows),
                "late": sum(r.late for r in rows),
                "similar": len(pairs or []),
            },
            verdicts=[(v, verdict_counts[v]) for v in VERDICTS if verdict_counts[v]],
            most_verdicts=max(verdict_counts.values(), default=1),
            errors=[(kind, text, code, n) for (kind, text, code), n in errors.most_common(TOP_ERRORS)],
            histogram=histogram,
            most_scores=max((n for _, n in histogram), default=1),
            mean=statistics.mean(scores) if scores else None,
            median=statistics.median(scores) if scores else None,
            ungradable=[r for r in rows if r.status == "ungradable"],
            rows=sorted(rows, key=lambda r: r.student),
            status_names=STATUS_NAMES,
            pairs=pairs or [],
            very_similar=VERY_SIMILAR,
            pages={r.student: r.page for r in rows},
            to_check=[r for r in rows if r.check],
            ignored=ignored or [],
        )
    )


def score_histogram(scores: list[float], cap: float) -> list[tuple[str, int]]:
    """``[(label, count)]`` from 0 to ``cap``: one bin per point when the cap is at most 20, else ten bins.

    A bin holds the scores from its label up to the next label (the last one includes the cap)."""
    if not scores:
        return []
    per_point = cap <= 20 and float(cap).is_integer()
    width = 1.0 if per_point else cap / 10
    counts = [0] * (int(cap) + 1 if per_point else 10)
    for score in scores:
        counts[min(int(score / width), len(counts) - 1)] += 1
    labels = [
        format_points(i * width) if per_point else f"{format_points(i * width)}-{format_points((i + 1) * width)}"
        for i in range(len(counts))
    ]
    return list(zip(labels, counts, strict=True))
