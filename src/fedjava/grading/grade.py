"""Grade a class: every student's file reviewed through the one review path, scored, and written out.

:func:`run_grade` reads the submissions (:mod:`fedjava.grading.submissions`), skips the students whose file and
grading setup are unchanged since the last run (sha256 of the file; the run's fingerprint: task file, adapter
weights, prompt mode, tests run or not, answer length), reviews the rest with a :class:`fedjava.reviewer.Reviewer`
(tools per student for grounded adapters, then generation in batches of similar length), appends each batch's
rows to ``results.jsonl``, and writes the outputs (:func:`fedjava.grading.outputs.write_outputs`): the feedback
pages, ``grades.csv``, ``grades_detail.csv`` and ``summary.html``. :func:`fedjava.grading.outputs.approve`
releases pages and writes the outputs again. The model is loaded only when some student needs grading, so a rerun
of an unchanged class takes seconds, and a new rubric rescores everyone without it.

``fedjava serve`` grades an uploaded class through the same :func:`run_grade`, with its loaded reviewer and a
``listener`` that is told each step (:class:`Listener`), so that its page can show how far the run is.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fedjava.errors import UserError
from fedjava.grading.gradebook import GradeRow
from fedjava.grading.options import GradeOptions
from fedjava.grading.outputs import ApproveError, approve, write_outputs  # noqa: F401  (the grade module's API)
from fedjava.grading.rubric import Rubric, load_rubric, parse_rubric
from fedjava.grading.store import GradeFolder, write_atomic, written_by_grade
from fedjava.grading.submissions import Submission, collect_class
from fedjava.grading.wording import plural
from fedjava.java.taskcheck import fingerprint_extra, prepare_task
from fedjava.review_inputs import ReviewError, read_task
from fedjava.reviewer import Reviewer, ToolsUnavailableError, adapter_label, open_adapter

if TYPE_CHECKING:
    from fedjava.config import Config

Listener = Callable[[str, int, int], None]
"""Told ``(step, done, total)`` during a run: step "tools" (javac and the tests, per student), "grading" (the
model's answers) or "checking" (the fixes)."""

INVALID_REASON = (
    "the grader's answer is not valid JSON in the answer format, so this submission needs grading by "
    "hand (the raw answer is on the page)"
)

REPAIRED_REASON = (
    "the grader's answer broke off before it ended and was closed at its last complete value: "
    "its verdict stands, check its explanation and fix (the raw answer is on the page)"
)


class GradeError(UserError):
    """A grade request that cannot run (missing options, an --out folder with no results to approve, ...)."""


@dataclass
class GradeReport:
    students: int
    graded: int = 0
    skipped: int = 0
    rescored: int = 0
    """students scored again, unchanged, because the rubric changed"""
    seconds: float = 0.0
    tool_seconds: float = 0.0
    model_seconds: float = 0.0
    load_seconds: float = 0.0
    rows: list[GradeRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    """top-level files that are no submission"""
    replaced: int = 0
    """older uploads of a file left out (Canvas)"""


def run_line(report: GradeReport) -> str:
    """What a grading run did, in one line: graded, rescored with a new rubric, or nothing to do."""
    students = plural(report.students, "student")
    if report.graded:
        n = report.graded
        return (
            f"Graded {n} of {students} in {report.seconds:.1f} s, {report.seconds / n:.1f} s per student "
            f"(loading the model {report.load_seconds:.1f} s once; then per student: tools "
            f"{report.tool_seconds / n:.1f} s, model {report.model_seconds / n:.1f} s); {report.skipped} "
            "unchanged, skipped" + (" and rescored with the new rubric" if report.rescored and report.skipped else "")
        )
    if report.rescored:
        return (
            f"Rescored {plural(report.rescored, 'student')} with the new rubric; no review needed: the "
            f"{students}' files are unchanged ({report.seconds:.1f} s)"
        )
    return f"Nothing to grade: {report.skipped} of {students} unchanged since the last run ({report.seconds:.1f} s)"


def run_grade(
    opts: GradeOptions,
    progress: bool = True,
    reviewer=None,
    listener: Listener | None = None,
) -> GradeReport:
    """Grade ``opts.submissions`` into ``opts.out`` (see the module's docstring). ``reviewer``: an adapter already
    loaded (``fedjava serve``), used instead of ``opts.adapter``; ``listener``: told each step."""

    started = time.perf_counter()
    _check_numbers(opts)
    task_text, _, task_spec = read_task(None, opts.task)
    adapter, cfg = (reviewer.adapter, reviewer.cfg) if reviewer is not None else open_adapter(opts.adapter)

    task_spec = prepare_task(
        task_spec,
        task_text,
        opts.reference,
        opts.task,
        cfg.prompt_mode == "grounded" and opts.run_tests,
        opts.unsafe_run,
    )  # a broken task stops here: no student is graded
    # Before anything is written (the rubric below): a bad SUBMISSIONS leaves no output folder behind.
    out_inside = _inside(Path(opts.out), Path(opts.submissions))
    collected = collect_class(opts.submissions, lambda paths: written_by_grade(paths, out_inside))
    submissions = collected.submissions
    folder = GradeFolder(opts.out)
    assignment = (
        opts.assignment or folder.meta.get("assignment") or (task_spec.title if task_spec else Path(opts.task).stem)
    )  # a rerun keeps the column's name
    before = folder.rubric.read_text(encoding="utf-8") if folder.rubric.is_file() else None
    rubric = current_rubric(folder, opts.rubric)
    run_tests = cfg.prompt_mode == "grounded" and opts.run_tests and task_spec is not None and bool(task_spec.tests)
    checks = opts.verify_fixes if opts.fix_check and cfg.prompt_mode == "grounded" else None
    task_bytes = Path(opts.task).read_bytes() + fingerprint_extra(task_spec)
    run = fingerprint(task_bytes, adapter, cfg.prompt_mode, run_tests, opts.max_new_tokens, checks)
    label = adapter_label(adapter)
    records, todo = _kept_and_todo(submissions, folder.load_records(), run, label)
    report = GradeReport(
        students=len(submissions),
        skipped=len(submissions) - len(todo) - sum(s.code is None for s in submissions),
        ignored=collected.ignored,
        replaced=sum(len(s.replaced) for s in submissions),
    )
    if before is not None and before != rubric.text:
        report.rescored = sum(r["status"] == "graded" for s, r in records.items())
    if todo:
        reviewer, report.load_seconds = _loaded_reviewer(reviewer, adapter, cfg, opts)
        graded_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        for row in _review_all(
            reviewer,
            todo,
            task_text,
            task_spec,
            run_tests,
            opts.batch_size,
            folder,
            run,
            label,
            graded_at,
            progress,
            checks,
            listener,
        ):
            records[row["student"]] = row
            report.tool_seconds += row.get("tool_seconds", 0.0)
            report.model_seconds += row.get("model_seconds", 0.0)
        report.graded = len(todo)
    folder.save_records([records[s.student] for s in submissions])
    report.seconds = time.perf_counter() - started
    _update_meta(folder, opts, assignment, task_text, collected.ignored, report)
    report.rows, report.warnings = write_outputs(
        folder, assignment, rubric, records, {s.student for s in todo}, opts.released_only
    )
    return report


def _check_numbers(opts: GradeOptions) -> None:
    if opts.batch_size < 1 or opts.max_new_tokens < 1:
        raise GradeError("--batch-size and --max-new-tokens must be at least 1")
    if opts.verify_fixes < 0:
        raise GradeError("--verify-fixes must be at least 0")


def _kept_and_todo(
    submissions: list[Submission], old: dict[str, dict[str, Any]], run: str, label: str
) -> tuple[dict[str, dict[str, Any]], list[Submission]]:
    """(the rows that need no model: ungradable submissions, and those unchanged since they were graded by the same
    ``run``; the submissions left to grade)."""
    records: dict[str, dict[str, Any]] = {}
    todo: list[Submission] = []
    for sub in submissions:
        previous = old.get(sub.student)
        if sub.code is None:
            records[sub.student] = _row(sub, "ungradable", run, label, reason=sub.problem)
        elif previous and previous.get("sha256") == sub.sha256 and previous.get("run") == run:
            records[sub.student] = {**previous, **_who(sub)}
        else:
            todo.append(sub)
    return records, todo


def _loaded_reviewer(
    reviewer: Reviewer | None, adapter: Path, cfg: Config, opts: GradeOptions
) -> tuple[Reviewer, float]:
    """(``reviewer``, or the adapter's loaded now if it is None; the seconds that took)."""
    loaded = time.perf_counter()
    if reviewer is None:
        reviewer = Reviewer.load(adapter, cfg, opts.max_new_tokens, unsafe=opts.unsafe_run)
    return reviewer, time.perf_counter() - loaded


def _update_meta(
    folder: GradeFolder, opts: GradeOptions, assignment: str, task_text: str, ignored: list[str], report: GradeReport
) -> None:
    folder.meta.update(assignment=assignment, task=task_text, ignored=ignored, released_only=opts.released_only)
    if report.graded:  # a rerun that skips everyone keeps the timing of the run that did the work
        folder.meta["timing"] = (
            f"last grading run: {plural(report.graded, 'student')} in {report.seconds:.0f} s, "
            f"{report.seconds / report.graded:.1f} s per student"
        )


def _inside(out: Path, submissions: Path) -> tuple[str, ...] | None:
    """``out`` relative to the class folder ``submissions`` (``()``: the same folder); None when it is not inside."""
    if not submissions.is_dir():
        return None
    try:
        return out.resolve().relative_to(submissions.resolve()).parts
    except ValueError:
        return None


def _review_all(
    reviewer,
    todo: list[Submission],
    task_text: str,
    task_spec,
    run_tests: bool,
    batch_size: int,
    folder: GradeFolder,
    run: str,
    label: str,
    graded_at: str,
    progress: bool,
    checks: int | None = None,
    listener: Listener | None = None,
):
    """Rows for ``todo``: tools and prompts per student, then generation in batches of similar prompt length, then
    (``checks`` not None) each fix checked, with ``checks`` more fixes sampled where it fails. The bars move with
    every student, and ``listener`` is told the same."""
    from tqdm import tqdm

    tell = listener or (lambda *_: None)
    prepared, rows = [], []
    steps = tqdm(todo, desc="tools", unit="student", file=sys.stderr, disable=not (progress and reviewer.grounded))
    for done, sub in enumerate(steps):
        if reviewer.grounded:
            tell("tools", done, len(todo))
        try:
            prepared.append((sub, reviewer.prepare(sub.code, sub.source, task_text, task_spec, run_tests)))
        except ToolsUnavailableError:
            raise
        except ReviewError as exc:  # too long for the model, or the tools failed on this one file
            rows.append(_row(sub, "ungradable", run, label, reason=str(exc).removeprefix(f"{sub.source}: ")))
    folder.append_records(rows)
    yield from rows
    prepared.sort(key=lambda item: item[1].prompt_tokens)
    with tqdm(total=len(prepared), desc="grading", unit="student", file=sys.stderr, disable=not progress) as bar:
        for start in range(0, len(prepared), batch_size):
            batch = prepared[start : start + batch_size]

            def answered(finished: int, _total: int, start: int = start) -> None:
                bar.update(start + finished - bar.n)
                tell("grading", start + finished, len(prepared))

            tell("grading", start, len(prepared))
            reviews = reviewer.generate([p for _, p in batch], batch_size, progress=answered)
            if checks is not None and reviewer.grounded:
                tell("checking", start, len(prepared))
                reviews = reviewer.check_fixes([p for _, p in batch], reviews, samples=checks)
            done = []
            for (sub, _), review in zip(batch, reviews, strict=True):
                status = "graded" if review.answer is not None else "invalid_answer"
                reason = (
                    INVALID_REASON
                    if review.answer is None
                    else (REPAIRED_REASON if review.answer.get("repaired") else None)
                )
                done.append(
                    _row(
                        sub,
                        status,
                        run,
                        label,
                        reason=reason,
                        answer=review.answer,
                        raw=review.raw,
                        evidence=review.evidence,
                        note=review.note,
                        tool_seconds=round(review.tool_seconds, 3),
                        model_seconds=round(review.model_seconds, 3),
                        graded_at=graded_at,
                        fix_check=review.fix_check,
                        tests=review.tests,
                    )
                )
            folder.append_records(done)  # an interrupted run keeps every finished batch
            yield from done
            bar.update(start + len(batch) - bar.n)


def _row(sub: Submission, status: str, run: str, adapter: str, reason: str | None = None, **fields) -> dict:
    return {
        "student": sub.student,
        "source": sub.source,
        "sha256": sub.sha256,
        "status": status,
        "reason": reason,
        "code": sub.code,
        "run": run,
        "adapter": adapter,
        **_who(sub),
        **fields,
    }


def _who(sub: Submission) -> dict[str, Any]:
    """What the LMS's names say about the submission (empty for plain names)."""
    return {"lms": sub.lms, "lms_id": sub.lms_id, "name": sub.name, "late": sub.late, "replaced": list(sub.replaced)}


def fingerprint(
    task: bytes, adapter: Path, prompt_mode: str, run_tests: bool, max_new_tokens: int, checks: int | None = None
) -> str:
    """What made a student's review, short: a change to any of it regrades everyone (``checks``: fixes checked, with
    that many sampled where the first fails)."""
    digest = hashlib.sha256(task)
    for name in ("adapter_config.json", "adapter_model.safetensors", "fedjava_config.yaml"):
        if (adapter / name).is_file():
            digest.update(name.encode() + hashlib.sha256((adapter / name).read_bytes()).digest())
    digest.update(f"{prompt_mode}:{run_tests}:{max_new_tokens}".encode())
    if checks is not None:
        digest.update(f":fixcheck{checks}".encode())
    return digest.hexdigest()[:16]


def current_rubric(folder: GradeFolder, path: str | None) -> Rubric:
    """``--rubric`` when given (and saved into the folder), else the folder's saved rubric, else the default."""
    if path is None and folder.rubric.is_file():
        return parse_rubric(folder.rubric.read_text(encoding="utf-8"), str(folder.rubric))
    rubric = load_rubric(path)
    folder.root.mkdir(parents=True, exist_ok=True)
    write_atomic(folder.rubric, rubric.text)
    return rubric
