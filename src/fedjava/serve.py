"""``fedjava serve``: a local web page to review one file, grade a class, and check and release its feedback.

Paste or upload a Java file and the task (text, or a task YAML whose tests a grounded adapter runs), and get
the same feedback page ``fedjava grade`` writes for a student, with the error lines marked, the table of the
tests and the score the rubric gives (the one :meth:`fedjava.grading.rubric.Rubric.score`, so ``review``,
``grade`` and ``serve`` agree): the review goes through the one shared path (:class:`fedjava.reviewer.Reviewer`),
loaded once when the server starts, so a broken adapter stops the command before anything listens. The form is
answered at once with a progress page that follows the review (:mod:`fedjava.serve_jobs`).

``--results DIR`` serves a grade folder (:mod:`fedjava.serve_results`): the students, their pages, the summary and
the CSV files; an edit form per student (explanation, fix, score) and a release button; and a form to upload a
whole class zip, graded into DIR by :func:`fedjava.grading.grade.run_grade` with the loaded reviewer. Scores use
``--rubric``, else the rubric saved in DIR, else the default rubric.

It binds to 127.0.0.1 by default: there is no login, so anyone who can reach the port can use the model and
read the results. Bound to a loopback address, it also answers only requests whose ``Host`` is a loopback
name, so a web page in the teacher's browser cannot reach it through DNS rebinding; a form sent by another web
page (cross-site request forgery) is refused by its ``Origin``/``Sec-Fetch-Site`` and by the page's token
(:mod:`fedjava.serve_guard`). ``--unsafe-run`` is refused unless bound to a loopback address, and warned about.
Requests are refused with a page saying why when the body is over ``--max-upload-kb`` (``--max-class-mb`` for a
class zip; checked from Content-Length before anything is read; a POST without one is refused), when the file
is not a ``.java`` file, not UTF-8 text, empty, or does not look like Java source. Reviews run one at a time.
Before anything loads, it checks that fastapi, uvicorn and python-multipart are installed and that it can listen
where asked.
"""

# No `from __future__ import annotations` here: FastAPI reads the route functions' annotations (Request) at
# definition time, inside create_app, where fastapi is imported (so that `fedjava --help` never imports it).
import ipaddress
import re
import tempfile
import threading
from pathlib import Path

from fedjava.java.taskcheck import prepare_task
from fedjava.java.tasks import TaskError
from fedjava.review_inputs import (
    GENERIC_TASK,
    MAX_TASK_BYTES,
    ReviewError,
    decode_text,
    is_text_task,
    parse_task_file,
)
from fedjava.serve_guard import (
    TOKEN_FIELD,
    FormTokens,
    cross_site_reason,
)

DEFAULT_PORT = 8765
DEFAULT_UPLOAD_KB = 256
DEFAULT_CLASS_MB = 50
# A Java file declares a type or at least has braces and a Java keyword; prose, Python or JSON does not.
_JAVA_WORDS = re.compile(r"\b(class|interface|enum|record|void|static|public|private|return|import|package)\b")


def looks_like_java(text: str) -> bool:
    """True for text with a ``{`` and a Java keyword: a lenient check that still refuses prose and other languages."""
    return "{" in text and bool(_JAVA_WORDS.search(text))


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_results_folder(results: Path) -> None:
    """ReviewError unless ``results`` is a grade output folder, a new folder, or an empty one."""
    if results.exists() and not results.is_dir():
        raise ReviewError(
            f"{results}: is a file; --results takes a folder (a fedjava grade output folder, or a new one)"
        )
    if results.is_dir() and any(results.iterdir()) and not (results / "grades_detail.csv").is_file():
        raise ReviewError(
            f"{results}: not a fedjava grade output folder (no grades_detail.csv), and not empty; give "
            "a grade output folder, or a new folder for the class you will upload"
        )


def results_rubric(results: Path):
    """The rubric saved in a grade output folder, else the default (so that scores are out of the class's cap)."""
    # lazy: fedjava --help imports this module
    from fedjava.grading.outputs import saved_rubric
    from fedjava.grading.store import GradeFolder

    return saved_rubric(GradeFolder(results))


def create_app(
    reviewer,
    rubric,
    results: Path | None = None,
    max_upload_bytes: int = DEFAULT_UPLOAD_KB * 1000,
    run_tests: bool = True,
    allowed_hosts: tuple[str, ...] | None = None,
    max_class_bytes: int = DEFAULT_CLASS_MB * 10**6,
    rubric_given: bool = True,
):
    """The FastAPI application around a loaded :class:`fedjava.reviewer.Reviewer`; ``allowed_hosts`` (None: any)
    are the names a request's ``Host`` header may give (without the port). ``rubric_given`` False: the scores use
    the rubric saved in ``results`` once a class is graded there."""
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse

    from fedjava.grading.feedback import templates
    from fedjava.reviewer import adapter_label
    from fedjava.serve_jobs import Jobs
    from fedjava.serve_results import add_results_routes

    app = FastAPI(title="fedjava", docs_url=None, redoc_url=None, openapi_url=None)
    lock = threading.Lock()
    tokens = FormTokens()  # a new key with every server: a page from before a restart must be reloaded
    jobs = Jobs()
    adapter = adapter_label(reviewer.adapter)
    current_rubric = _rubric_source(rubric, rubric_given, results)

    def page(name: str, status: int = 200, **context) -> HTMLResponse:
        return HTMLResponse(templates().get_template(name).render(**context), status_code=status)

    def refuse(message: str, status: int = 400, heading: str = "Not reviewed") -> HTMLResponse:
        return page("message.html", status, heading=heading, message=message)

    _add_request_checks(app, refuse, allowed_hosts, max_upload_bytes, max_class_bytes)

    @app.get("/", response_class=HTMLResponse)
    def index():
        return page(
            "index.html",
            adapter=adapter,
            mode=reviewer.cfg.prompt_mode,
            results=results,
            limit_kb=max_upload_bytes // 1000,
            class_mb=max_class_bytes // 10**6,
            token_field=TOKEN_FIELD,
            token=tokens.issue(),
            cap=current_rubric().cap,
        )

    _add_review_route(
        app,
        reviewer=reviewer,
        adapter=adapter,
        tokens=tokens,
        jobs=jobs,
        lock=lock,
        refuse=refuse,
        current_rubric=current_rubric,
        run_tests=run_tests,
    )
    _add_job_routes(app, jobs, page, refuse)
    add_results_routes(
        app,
        results=results,
        reviewer=reviewer,
        lock=lock,
        jobs=jobs,
        tokens=tokens,
        page=page,
        refuse=refuse,
        current_rubric=current_rubric,
        run_tests=run_tests,
    )
    return app


def _rubric_source(rubric, rubric_given: bool, results: Path | None):
    """A function that gives the server's rubric: --rubric, else the results folder's (a class graded since may have
    saved one)."""
    scoring = {"rubric": rubric}

    def current_rubric():
        if not rubric_given and results is not None and (results / "rubric.yaml").is_file():
            scoring["rubric"] = results_rubric(results)
        return scoring["rubric"]

    return current_rubric


def _add_review_route(
    app,
    *,
    reviewer,
    adapter: str,
    tokens: FormTokens,
    jobs,
    lock: threading.Lock,
    refuse,
    current_rubric,
    run_tests: bool,
) -> None:
    """POST /review: one student's file (and task) from the form, reviewed as a job whose page the browser follows."""
    from fastapi import Request
    from fastapi.responses import HTMLResponse, RedirectResponse
    from starlette.concurrency import run_in_threadpool

    @app.post("/review", response_class=HTMLResponse)
    async def review(request: Request):
        form = await request.form(max_files=2, max_fields=8)
        if not tokens.valid(str(form.get(TOKEN_FIELD) or "")):
            return refuse(
                "the form's token is missing or out of date (was the server restarted?); reload the page "
                "and send the form again",
                403,
                "Refused",
            )
        try:
            label, code = await _code_from(form)
            task, spec = await _task_from(form)
            # a broken task file is named and nothing is reviewed: its error is the teacher's, not the code's
            spec = await run_in_threadpool(
                prepare_task, spec, task, None, "the task file", run_tests and reviewer.grounded, reviewer.unsafe
            )
        except (ReviewError, TaskError) as exc:
            return refuse(str(exc))
        scorer = current_rubric()

        def work(job) -> str:
            with lock:  # one generation at a time: the model is shared
                job.update("tools" if reviewer.grounded else "model")  # no longer waiting for another review
                done = reviewer.review(code, label, task, spec, run_tests, check=0, stage=job.update)
            job.update("writing")
            return _review_page(done, label, code, task, spec, adapter, scorer)

        job = jobs.start("review", work)
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)


def _review_page(done, label: str, code: str, task: str, spec, adapter: str, scorer) -> str:
    """The feedback page of one review, scored with the server's rubric."""
    from fedjava.grading.feedback import render_feedback

    record = {
        "source": label,
        "code": code,
        "status": "graded" if done.answer else "invalid_answer",
        "reason": None if done.answer else "the grader's answer is not valid JSON, so it cannot be shown",
        "answer": done.answer,
        "raw": done.raw,
        "evidence": done.evidence,
        "note": done.note,
        "adapter": adapter,
        "fix_check": done.fix_check,
        "tests": done.tests,
    }
    score = scorer.score(done.answer, done.evidence, done.tests) if done.answer else None
    return render_feedback(
        record,
        score,
        _title(task, spec),
        cap=scorer.cap,
        back="/",
        task=task,
        rubric_note="Scored with the server's rubric (the one fedjava grade and review use): the "
        "verdict's points, plus the tests', minus the points of each error the tools "
        "confirm.",
    )


def _add_request_checks(
    app, refuse, allowed_hosts: tuple[str, ...] | None, max_upload_bytes: int, max_class_bytes: int
) -> None:
    """Before any route: the Host header (DNS rebinding), another site's form (CSRF) and the upload's size, each
    refused before the body is read."""
    from fastapi import Request

    @app.middleware("http")
    async def check_request(request: Request, call_next):
        if allowed_hosts is not None and _host_name(request.headers.get("host", "")) not in allowed_hosts:
            return refuse(
                "this page answers only on this machine (http://127.0.0.1 or http://localhost)", 400, "Wrong host"
            )
        if request.method == "POST":
            reason = cross_site_reason(request.headers)
            if reason is not None:  # before the body is read: another site's form gets nothing done
                return refuse(
                    f"{reason}. This page takes forms only from itself: open it and send the form there", 403, "Refused"
                )
            length = request.headers.get("content-length")
            if length is None or not length.isdigit():
                return refuse("the request gave no Content-Length; send the form from the page", 411)
            limit = max_class_bytes if request.url.path == "/batch" else max_upload_bytes
            what = "a class zip and its task" if request.url.path == "/batch" else "one Java file and its task"
            if int(length) > limit:
                return refuse(
                    f"the upload is {int(length) / 1000:.0f} KB; the limit is {limit // 1000} KB ({what})",
                    413,
                    "Too large",
                )
        return await call_next(request)


def _add_job_routes(app, jobs, page, refuse) -> None:
    """A review's or a class run's progress page (and its JSON), then its result once done."""
    from fastapi.responses import HTMLResponse, JSONResponse

    @app.get("/jobs/{job_id}.json")
    def follow_json(job_id: str):
        job = jobs.get(job_id)
        if job is None:
            return JSONResponse({"error": "no such job"}, status_code=404)
        return JSONResponse(jobs.progress(job))

    @app.get("/jobs/{job_id}", response_class=HTMLResponse)
    def follow(job_id: str):
        job = jobs.get(job_id)
        if job is None:
            return refuse(
                "no such review or grading run (the server keeps the last 100; was it restarted?)", 404, "Not found"
            )
        if job.error is not None:
            return refuse(job.error, 400, "Not reviewed" if job.kind == "review" else "Not graded")
        if job.page is not None and job.finished is not None:
            return HTMLResponse(job.page)
        return page(
            "progress.html",
            job=job,
            progress=jobs.progress(job),
            heading="Reviewing" if job.kind == "review" else "Grading the class",
        )


def _title(task: str, spec) -> str:
    """A review page's heading: the task file's title, else the task's first sentence (the page shows it whole)."""
    if spec is not None:
        return spec.title
    if task == GENERIC_TASK:
        return "Review (no task given)"
    first = re.split(r"(?<=[.!?])\s", task.strip(), maxsplit=1)[0].strip()
    return first if len(first) <= 100 else first[: first.rfind(" ", 0, 100)] + " ..."


def _host_name(header: str) -> str:
    """The name in a ``Host`` header, without its port: "127.0.0.1:8765" -> "127.0.0.1", "[::1]:80" -> "::1"."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


async def _code_from(form) -> tuple[str, str]:
    """(label, code) from the uploaded .java file, else the text box; ReviewError saying what is wrong."""
    upload = form.get("code_file")
    if upload is not None and getattr(upload, "filename", ""):
        name = Path(upload.filename).name
        if not name.lower().endswith(".java"):
            raise ReviewError(f"{name}: not a .java file; upload the Java source file (e.g. Solution.java)")
        code = decode_text(await upload.read(), name)
    else:
        text = str(form.get("code") or "")
        if not text.strip():
            raise ReviewError("no code: paste the Java program or choose a .java file")
        name, code = "pasted code", decode_text(text.encode("utf-8"), "pasted code")
    if not looks_like_java(code):
        raise ReviewError(
            f"{name}: this does not look like Java source (no braces with a Java keyword such as "
            "class, static or return)"
        )
    return name, code


async def _task_from(form):
    """(task text, the Task of an uploaded YAML or None); the generic task when none is given. An uploaded task
    file is read as ``--task-file`` reads one: a ``.txt`` file is the text, any other a YAML task."""
    upload = form.get("task_file")
    if upload is not None and getattr(upload, "filename", ""):
        name = Path(upload.filename).name
        text = decode_text(await upload.read(MAX_TASK_BYTES + 1), name, "task file", MAX_TASK_BYTES)
        if is_text_task(name):
            return text.strip(), None
        with tempfile.TemporaryDirectory(prefix="fedjava-task-") as tmp:
            # the uploaded name's stem (a task's default title), made safe: it may be too long or odd for the disk
            path = Path(tmp) / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', Path(name).stem)[:80] or 'task'}.yaml"
            path.write_text(text, encoding="utf-8")
            return parse_task_file(path, text, name)
    text = str(form.get("task") or "").strip()
    if len(text.encode("utf-8")) > MAX_TASK_BYTES:
        raise ReviewError(f"the task is longer than {MAX_TASK_BYTES // 1000} KB; shorten it")
    return (text or GENERIC_TASK), None
