"""The work ``fedjava serve`` does after answering: a review, or a class graded, each a :class:`Job` in a thread.

A review takes half a minute on a busy CPU, and a class many minutes, so the page that sent the form is answered
at once with a progress page (``/jobs/<id>``) that follows the job: which step it is on (waiting for the model,
javac and the tests, the grader writing, checking the fix), how far (students done of all, for a class), and how
long the last jobs of its kind took, from which the bar and "about N s left" are worked out. The page reads
``/jobs/<id>.json`` every second (and reloads itself every few seconds without JavaScript); when the job ends it
shows what it made. A job's id is random: only the page that started it knows where to look.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fedjava.errors import UserError

KEEP = 100
"""Finished jobs remembered (the oldest are forgotten first)."""
STEP_WORDS = {
    "queued": "waiting for the review before it to finish (one at a time: the model is shared)",
    "tools": "compiling the program and running the task's tests",
    "model": "the grader is writing its review",
    "fix check": "checking the grader's fix with javac and the tests",
    "grading": "the grader is writing the reviews",
    "checking": "checking the grader's fixes",
    "writing": "writing the pages, grades.csv and the summary",
    "done": "done",
    "failed": "stopped",
}
FIRST_GUESS = {"review": 30.0, "class": 30.0}
"""Seconds a job of each kind is assumed to take (per student for a class) before one has been timed."""


@dataclass
class Job:
    """One piece of work: its step, how far it is, and what it made (an HTML page) or why it stopped."""

    id: str
    kind: str
    """``review`` or ``class``"""
    started: float = field(default_factory=time.monotonic)
    step: str = "queued"
    done: int = 0
    total: int = 0
    finished: float | None = None
    page: str | None = None
    error: str | None = None

    def update(self, step: str, done: int = 0, total: int = 0) -> None:
        """What the job is doing now (called from its thread)."""
        self.step, self.done, self.total = step, done, total

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started


class Jobs:
    """The jobs of one server, and how long the finished ones took."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._took: dict[str, deque[float]] = {"review": deque(maxlen=10), "class": deque(maxlen=10)}

    def start(self, kind: str, work: Callable[[Job], str]) -> Job:
        """Run ``work(job)`` in a thread; what it returns is the job's page. A UserError it raises is the page's
        message; anything else is reported as a failure in one line (the server goes on)."""
        job = Job(secrets.token_urlsafe(16), kind)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP:
                self._jobs.popitem(last=False)

        def run() -> None:
            try:
                job.page = work(job)
                per = max(1, job.total) if kind == "class" else 1
                self._took[kind].append(job.elapsed / per)
                job.step = "done"
            except UserError as exc:
                job.error, job.step = str(exc), "failed"
            except Exception as exc:  # noqa: BLE001  (a bug in one job must not stop the server)
                job.error, job.step = f"the job failed: {type(exc).__name__}: {exc}", "failed"
            finally:
                job.finished = time.monotonic()

        threading.Thread(target=run, name=f"fedjava-{kind}-{job.id[:6]}", daemon=True).start()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def progress(self, job: Job) -> dict[str, Any]:
        """What the progress page shows: the step in words, a percentage, the seconds so far and an estimate."""
        took = self._took[job.kind]
        each = sum(took) / len(took) if took else FIRST_GUESS[job.kind]
        expected = each * max(1, job.total) if job.kind == "class" else each
        if job.step in ("done", "failed"):
            percent = 100
        elif job.kind == "class" and job.total:
            share = {"tools": 0.0, "grading": 0.3, "checking": 0.9, "writing": 0.97}.get(job.step, 0.0)
            span = {"tools": 0.3, "grading": 0.6, "checking": 0.07}.get(job.step, 0.0)
            percent = round(100 * (share + span * job.done / job.total))
        else:
            percent = min(95, round(100 * job.elapsed / expected))
        left = max(0.0, expected - job.elapsed)
        how_far = f" ({job.done} of {job.total} students)" if job.kind == "class" and job.total else ""
        return {
            "step": STEP_WORDS.get(job.step, job.step) + how_far,
            "percent": percent,
            "elapsed": round(job.elapsed),
            "done": job.finished is not None,
            "estimate": (
                f"about {left:.0f} s left (the last {'reviews' if job.kind == 'review' else 'classes'} "
                f"took {each:.0f} s{' per student' if job.kind == 'class' else ''})"
            )
            if took and job.finished is None
            else "",
        }
