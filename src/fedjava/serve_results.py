"""The class pages of ``fedjava serve --results DIR``: browse a graded class, edit and release feedback, grade a zip.

* ``/results``: every student with the score, tests passed, verdict (and whether it is to check by hand), state;
  links to the pages, the summary and the CSV files (``/results/files/...``, read-only, nothing outside DIR).
* ``/results/edit/<student>``: a form with the page's explanation and fix of each error and the score, which the
  teacher changes and saves, or saves and releases. The page is written anew from the form (an edited page, as one
  edited by hand: never overwritten by a rerun); a score must be from 0 to the rubric's cap; an edit that puts
  everything back makes the page fedjava's again. ``grades.csv``, ``grades_detail.csv`` and the summary follow.
* ``/batch``: a class zip (or a Canvas or Moodle download) and its task, graded into DIR by
  :func:`fedjava.grading.grade.run_grade` with the server's loaded reviewer, as a job whose progress page counts
  the students (:mod:`fedjava.serve_jobs`). A rerun of the same class regrades only changed files.
"""

# No `from __future__ import annotations`: FastAPI reads the route functions' annotations (Request) at definition
# time, inside add_results_routes, where fastapi is imported.
import html as html_text
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fedjava.grading.feedback import read_score, render_feedback, templates
from fedjava.grading.grade import GradeOptions, run_grade, run_line
from fedjava.grading.gradebook import read_detail
from fedjava.grading.outputs import rubric_note, saved_rubric, write_outputs
from fedjava.grading.store import GradeFolder
from fedjava.grading.summary import STATUS_NAMES
from fedjava.review_inputs import MAX_TASK_BYTES, ReviewError, decode_text, is_text_task
from fedjava.serve_guard import TOKEN_FIELD

_EXPLANATION_RE = re.compile(r'data-field="explanation-(\d+)">(.*?)</span>', re.DOTALL)
_FIX_RE = re.compile(r'<pre data-field="fix-(\d+)">(.*?)</pre>', re.DOTALL)
MAX_EDIT_FIELD = 20_000
"""Longest explanation or fix the edit form takes (characters)."""


def page_fields(page: str) -> dict[str, str]:
    """The teacher-editable fields of a feedback page as it is now: ``explanation-N``, ``fix-N`` (unescaped)."""
    fields = {f"explanation-{n}": html_text.unescape(text) for n, text in _EXPLANATION_RE.findall(page)}
    fields.update({f"fix-{n}": html_text.unescape(text) for n, text in _FIX_RE.findall(page)})
    return fields


def edited_answer(answer: dict | None, form) -> dict | None:
    """``answer`` with each error's explanation and fix as the form gives them."""
    if not answer:
        return answer
    errors = []
    for i, error in enumerate(answer.get("errors") or [], 1):
        changed = dict(error)
        for key in ("explanation", "fix"):
            value = form.get(f"{key}-{i}")
            if value is not None:
                changed[key] = str(value).replace("\r\n", "\n")[:MAX_EDIT_FIELD]
        errors.append(changed)
    return {**answer, "errors": errors}


def typed_score(text: str, cap: float) -> float | None:
    """The score typed into the form (None: empty, the rubric's stands); ReviewError unless a number from 0 to cap."""
    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ReviewError(
            f"'{text[:20]}' is not a number; type a score from 0 to {cap:g}, or leave it empty for the rubric's"
        ) from None
    if not 0 <= value <= cap:
        raise ReviewError(f"{value:g} is not a score from 0 to the {cap:g} points possible; nothing was saved")
    return round(value, 2)


@dataclass
class _Context:
    """What the results routes share with the rest of the server."""

    results: Path | None
    reviewer: Any
    lock: Any
    jobs: Any
    tokens: Any
    page: Any
    refuse: Any
    current_rubric: Any
    run_tests: bool

    def no_folder(self):
        return self.refuse(
            "start the server with --results DIR (a fedjava grade output folder, or a new folder for "
            "a class you upload here) to browse, edit and grade a class",
            404,
            "No results folder",
        )

    def checked(self, form) -> bool:
        return self.tokens.valid(str(form.get(TOKEN_FIELD) or ""))

    def stale(self):
        return self.refuse(
            "the form's token is missing or out of date (was the server restarted?); reload the page "
            "and send the form again",
            403,
            "Refused",
        )


def add_results_routes(app, results, reviewer, lock, jobs, tokens, page, refuse, current_rubric, run_tests):
    """The routes above, on ``app`` (``results`` None: they say how to start the server with a folder)."""
    from fastapi.staticfiles import StaticFiles

    context = _Context(results, reviewer, lock, jobs, tokens, page, refuse, current_rubric, run_tests)
    _browse_routes(app, context)
    _edit_routes(app, context)
    _batch_route(app, context)
    if results is not None:
        app.mount("/results/files", StaticFiles(directory=results), name="results")


def _browse_routes(app, context: _Context) -> None:
    """``GET /results``: the class's table."""
    from fastapi.responses import HTMLResponse

    results, page, tokens, no_folder = context.results, context.page, context.tokens, context.no_folder

    @app.get("/results", response_class=HTMLResponse)
    def browse(saved: str = ""):
        if results is None:
            return no_folder()
        detail = results / "grades_detail.csv"
        rows = read_detail(detail) if detail.is_file() else []
        folder = GradeFolder(results)
        return page(
            "results.html",
            assignment=folder.meta.get("assignment", results.name),
            folder=results,
            rows=rows,
            status_names=STATUS_NAMES,
            saved=saved,
            token_field=TOKEN_FIELD,
            token=tokens.issue(),
        )


def _edit_routes(app, context: _Context) -> None:
    """``GET`` and ``POST /results/edit/STUDENT``: the edit form of one page, and saving (or releasing) it."""
    _edit_form_route(app, context)
    _save_edit_route(app, context)


def _edit_form_route(app, context: _Context) -> None:
    from fastapi.responses import HTMLResponse

    results, page, refuse, tokens = context.results, context.page, context.refuse, context.tokens
    no_folder = context.no_folder

    @app.get("/results/edit/{student}", response_class=HTMLResponse)
    def edit_form(student: str):
        if results is None:
            return no_folder()
        folder = GradeFolder(results)
        record = folder.load_records().get(student)
        if record is None:
            return refuse(f"no student {student} in {results}", 404, "Not found")
        path = folder.page_path(student)
        shown = path.read_text(encoding="utf-8") if path.is_file() else ""

        rubric = saved_rubric(folder)
        score = (
            rubric.score(record["answer"], record.get("evidence"), record.get("tests"))
            if record["status"] == "graded"
            else None
        )
        return page(
            "edit.html",
            student=student,
            record=record,
            fields=page_fields(shown),
            typed=read_score(shown),
            score=score,
            cap=rubric.cap,
            state=folder.state.get(student, {}).get("state", "draft"),
            page_name=path.name,
            token_field=TOKEN_FIELD,
            token=tokens.issue(),
            assignment=folder.meta.get("assignment", results.name),
        )


def _save_edit_route(app, context: _Context) -> None:
    from fastapi import Request
    from fastapi.responses import HTMLResponse, RedirectResponse

    results, refuse = context.results, context.refuse
    no_folder, checked, stale = context.no_folder, context.checked, context.stale

    @app.post("/results/edit/{student}", response_class=HTMLResponse)
    async def save_edit(student: str, request: Request):
        if results is None:
            return no_folder()
        form = await request.form(max_files=0, max_fields=200)
        if not checked(form):
            return stale()
        folder = GradeFolder(results)
        records = folder.load_records()
        record = records.get(student)
        if record is None:
            return refuse(f"no student {student} in {results}", 404, "Not found")
        rubric = saved_rubric(folder)
        try:
            typed = typed_score(str(form.get("score") or ""), rubric.cap)
        except ReviewError as exc:
            return refuse(str(exc), 400, "Not saved")
        score = (
            rubric.score(record["answer"], record.get("evidence"), record.get("tests"))
            if record["status"] == "graded"
            else None
        )
        if form.get("action") == "release" and score is None and typed is None:
            return refuse(
                f"{student} has no score yet (not graded, or to grade by hand): type a score to release the page",
                400,
                "Not released",
            )
        assignment, task, note = (
            folder.meta.get("assignment", results.name),
            folder.meta.get("task", ""),
            rubric_note(rubric, folder),
        )
        own = render_feedback(record, score, assignment, state="draft", cap=rubric.cap, rubric_note=note, task=task)
        teacher = typed if typed is not None and (score is None or typed != score.points) else None
        mine = render_feedback(
            {**record, "answer": edited_answer(record.get("answer"), form)},
            score,
            assignment,
            state="draft",
            cap=rubric.cap,
            rubric_note=note,
            task=task,
            teacher_score=teacher,
        )
        edited = folder.write_edited(student, mine, own)
        if form.get("action") == "release":
            folder.release(student, datetime.now(timezone.utc).isoformat(timespec="seconds"))
        folder.save_state()
        write_outputs(folder, assignment, rubric, records, set(), bool(folder.meta.get("released_only")))
        what = ("released" if form.get("action") == "release" else "saved") + (", edited" if edited else "")
        return RedirectResponse(f"/results?saved={student}: {what}", status_code=303)


def _batch_route(app, context: _Context) -> None:
    """``POST /batch``: a class zip graded into the results folder, as a job with a progress page."""
    from fastapi import Request
    from fastapi.responses import HTMLResponse, RedirectResponse

    results, refuse, reviewer, lock, jobs = (
        context.results,
        context.refuse,
        context.reviewer,
        context.lock,
        context.jobs,
    )
    current_rubric, run_tests = context.current_rubric, context.run_tests
    no_folder, checked, stale = context.no_folder, context.checked, context.stale

    @app.post("/batch", response_class=HTMLResponse)
    async def batch(request: Request):
        if results is None:
            return no_folder()
        form = await request.form(max_files=2, max_fields=8)
        if not checked(form):
            return stale()
        upload = form.get("class_zip")
        if upload is None or not getattr(upload, "filename", ""):
            return refuse(
                "choose the class's zip file (one .java file or folder per student, or the zip Canvas or Moodle gives)",
                400,
                "Not graded",
            )
        work_dir = Path(tempfile.mkdtemp(prefix="fedjava-class-"))
        try:
            zipped = work_dir / "class.zip"
            with zipped.open("wb") as out:
                shutil.copyfileobj(upload.file, out)
            task = await _task_file(form, work_dir)
        except ReviewError as exc:
            shutil.rmtree(work_dir, ignore_errors=True)
            return refuse(str(exc), 400, "Not graded")
        assignment = str(form.get("assignment") or "").strip() or None

        def work(job) -> str:
            try:
                with lock:  # the model is shared with the reviews
                    opts = GradeOptions(
                        str(zipped),
                        str(task),
                        str(results),
                        rubric=_rubric_file(current_rubric(), work_dir, results),
                        adapter=str(reviewer.adapter),
                        run_tests=run_tests,
                        assignment=assignment,
                        max_new_tokens=reviewer.max_new_tokens,
                        unsafe_run=reviewer.unsafe,
                    )
                    report = run_grade(opts, progress=False, reviewer=reviewer, listener=job.update)
                    job.update("writing", report.students, report.students)
            finally:
                shutil.rmtree(work_dir, ignore_errors=True)
            lines = [run_line(report)] + [f"warning: {w}" for w in report.warnings]
            if report.ignored:
                lines.append(f"Left out (no submission): {', '.join(report.ignored[:12])}")

            return (
                templates()
                .get_template("message.html")
                .render(
                    heading="Class graded",
                    message=" ".join(lines),
                    links=[("/results", "check and release the pages"), ("/results/files/summary.html", "the summary")],
                )
            )

        job = jobs.start("class", work)
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)


def _rubric_file(rubric, work_dir: Path, results: Path) -> str | None:
    """The server's rubric as a file for run_grade (None: it is the folder's own, kept as it is)."""
    saved = results / "rubric.yaml"
    if saved.is_file() and saved.read_text(encoding="utf-8") == rubric.text:
        return None
    path = work_dir / "rubric.yaml"
    path.write_text(rubric.text, encoding="utf-8")
    return str(path)


async def _task_file(form, work_dir: Path) -> Path:
    """The uploaded task file (or the text typed) saved in ``work_dir``, as ``fedjava grade --task`` reads one."""
    upload = form.get("task_file")
    if upload is not None and getattr(upload, "filename", ""):
        name = Path(upload.filename).name
        text = decode_text(await upload.read(MAX_TASK_BYTES + 1), name, "task file", MAX_TASK_BYTES)
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(name).stem)[:80] or "task"
        path = work_dir / (f"{stem}.txt" if is_text_task(name) else f"{stem}.yaml")
        path.write_text(text, encoding="utf-8")
        return path
    text = str(form.get("task") or "").strip()
    if not text:
        raise ReviewError("give the task: a task file (YAML with requirement and tests, see docs/tasks.md) or its text")
    if len(text.encode("utf-8")) > MAX_TASK_BYTES:
        raise ReviewError(f"the task is longer than {MAX_TASK_BYTES // 1000} KB; shorten it")
    path = work_dir / "task.txt"
    path.write_text(text + "\n", encoding="utf-8")
    return path
