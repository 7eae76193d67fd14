"""What a grading run does: :class:`GradeOptions`, which :func:`fedjava.grading.grade.run_grade` takes and whose fields
are options of ``fedjava grade`` (:mod:`fedjava.cli.options` reads their metadata).

A module of its own, light to import, so that the ``fedjava`` parser is built without the grading's imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fedjava.review_inputs import BUILTIN_ADAPTER_NAME


@dataclass
class GradeOptions:
    """A grading run; the fields with ``help`` are options of ``fedjava grade`` (:mod:`fedjava.cli.options` reads
    their metadata), the others it declares itself: SUBMISSIONS, ``--task`` and ``--out`` (which its ``--approve``
    and ``--print-rubric`` do without), the options it shares with ``fedjava review`` and the flags that set False."""

    submissions: str
    task: str
    out: str
    rubric: str | None = field(
        default=None,
        metadata={
            "metavar": "R",
            "help": "rubric YAML (default: the one saved in --out by an earlier run, else the default "
            "rubric; 'default' to go back to it)",
        },
    )
    adapter: str = BUILTIN_ADAPTER_NAME
    max_new_tokens: int = 384
    reference: str | None = field(
        default=None,
        metadata={
            "metavar": "MODEL.java",
            "help": "a model solution: the task's tests must pass with it before anyone is graded, and tests generated "
            "from it run too (docs/tasks.md)",
        },
    )
    run_tests: bool = True
    """grounded adapters: run the task's tests, not only javac (``--no-run`` turns it off)"""
    unsafe_run: bool = False
    """run the students' code without the sandbox (``--unsafe-run``)"""
    verify_fixes: int = field(
        default=0,
        metadata={
            "metavar": "N",
            "help": "grounded adapters check each fix with the tools; where it fails, sample N more fixes from the model "
            "and keep the first that passes (default 0: only check)",
        },
    )
    fix_check: bool = True
    """grounded adapters: check each review's fix with the tools (:meth:`fedjava.reviewer.Reviewer.check_fixes`)"""
    assignment: str | None = field(
        default=None,
        metadata={
            "metavar": "NAME",
            "help": "the gradebook column's name (default: the name of the last run in --out, else the task's title); "
            "Canvas also takes 'Name (id)'",
        },
    )
    batch_size: int = field(default=16, metadata={"metavar": "N", "help": "students per generation batch (16)"})
    released_only: bool = field(
        default=False, metadata={"help": "grades.csv holds only the students whose pages are released"}
    )
