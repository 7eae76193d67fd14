"""``fedjava grade``: the command line of a teacher's workflow (grade a class, approve pages, print the rubric).

The work is in :mod:`fedjava.grading`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fedjava.cli.common import add_adapter_option, add_unsafe_run_option
from fedjava.cli.options import add_options, options_from
from fedjava.grading.options import GradeOptions
from fedjava.grading.wording import plural

MAX_LISTED = 12
GRADE_EPILOG = """examples:
  fedjava grade submissions/ --task task.yaml                      # writes submissions_graded/
  fedjava grade class.zip --task task.yaml --out hw3 --rubric rubric.yaml --assignment "Homework 3 (1234)"
  fedjava grade --approve alice,bob --out hw3                      # release two checked pages
  fedjava grade --approve all --out hw3 --released-only            # release all; grades.csv of released rows
  fedjava grade --print-rubric > rubric.yaml                       # the default rubric, to edit

SUBMISSIONS: a folder or zip with one .java file per student (alice.java) or one folder per student
(bob/Solution.java), whose name is the student id; or the zip Canvas or Moodle gives ("download all
submissions"): the LMS's ids are read from its file names, the newest upload is graded and lateness noted.
A rerun regrades only changed files. Outputs in --out: grades.csv (Canvas import; Moodle's grading worksheet for
a Moodle zip), grades_detail.csv, results.jsonl, feedback/*.html (drafts until approved; a page you edit is
never overwritten), summary.html (very similar submissions, reviews to check by hand).
The task file's format: docs/tasks.md.
"""

# The options whose shape no rule fits: SUBMISSIONS, --task and --out, which --approve and --print-rubric do
# without; --adapter, --max-new-tokens and --unsafe-run, which several commands share; flags that set False.
HAND_WRITTEN = ("submissions", "task", "out", "adapter", "max_new_tokens", "unsafe_run", "run_tests", "fix_check")


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``grade`` to the ``fedjava`` sub-commands."""
    grade = sub.add_parser(
        "grade",
        help="grade a class's Java submissions: gradebook CSV, feedback pages, summary",
        description="Review every student's Java file with the grader (the adapter's prompt mode decides whether "
        "javac and the task's tests run first), score each review with a rubric, and write a gradebook "
        "CSV for Canvas and Moodle, one feedback page per student (draft until --approve) and a class "
        "summary. Students whose file did not change since the last run are skipped.",
        usage="fedjava grade SUBMISSIONS --task TASK [--reference MODEL.java] [--out DIR] [--rubric R] "
        "[--adapter PATH|builtin] [--no-run] "
        "[--assignment NAME] [--batch-size N] [--released-only]\n"
        "       fedjava grade --approve ID[,ID...]|all --out DIR [--released-only]\n"
        "       fedjava grade --print-rubric",
        epilog=GRADE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    grade.add_argument(
        "submissions",
        nargs="?",
        metavar="SUBMISSIONS",
        help="a folder or .zip: one .java file or one folder per student",
    )
    grade.add_argument(
        "--task",
        metavar="TASK",
        help="the task: a YAML file (requirement, optional tests; docs/tasks.md) or a text file with the requirement",
    )
    grade.add_argument("--out", metavar="DIR", help="output folder (default: SUBMISSIONS_graded beside the input)")
    add_options(grade, GradeOptions, hand_written=HAND_WRITTEN)
    add_adapter_option(grade)
    grade.add_argument(
        "--no-run", action="store_true", help="grounded adapters: only compile each file, do not run the task's tests"
    )
    add_unsafe_run_option(grade, "javac and the task's tests on the students' code (grounded adapters)")
    grade.add_argument("--no-fix-check", action="store_true", help="do not check the fixes with the tools")
    grade.add_argument(
        "--approve",
        metavar="IDS",
        help="release the feedback pages of these students (comma-separated) or 'all' (every page "
        "with a score), in --out",
    )
    grade.add_argument("--print-rubric", action="store_true", help="print the default rubric (YAML) and exit")
    grade.set_defaults(func=cmd_grade)
    return grade


def cmd_grade(args: argparse.Namespace) -> int:
    from fedjava.grading.grade import GradeError

    if args.print_rubric:
        from fedjava.grading.rubric import DEFAULT_RUBRIC

        print(DEFAULT_RUBRIC.read_text(encoding="utf-8"), end="")
        return 0
    if args.approve is not None:
        if args.submissions or not args.out:
            raise GradeError("--approve works on the results of an earlier run: give --out DIR and no SUBMISSIONS")
        return _approve(args)
    if not args.submissions or not args.task:
        raise GradeError("give SUBMISSIONS (a folder or .zip) and --task TASK (a YAML or text file)")
    from fedjava.grading.grade import run_grade, run_line

    out = args.out or str(default_out(args.submissions))
    opts = options_from(GradeOptions, args, out=out, run_tests=not args.no_run, fix_check=not args.no_fix_check)
    report = run_grade(opts)
    print(run_line(report))
    if report.ignored:
        print(
            f"Left out {plural(len(report.ignored), 'file')} that {'is' if len(report.ignored) == 1 else 'are'} no "
            f"submission (not a .java file, not named by Canvas or Moodle): {', '.join(report.ignored[:MAX_LISTED])}"
            + (" ..." if len(report.ignored) > MAX_LISTED else "")
        )
    if report.replaced:
        print(
            f"Graded each student's newest upload; {plural(report.replaced, 'older upload')} left out "
            "(grades_detail.csv, summary.html)"
        )
    _print_outcome(report.rows, report.warnings, out, args.released_only)
    return 0


def _approve(args: argparse.Namespace) -> int:
    from fedjava.grading.outputs import approve

    released, unscored, (rows, warnings) = approve(args.out, args.approve, args.released_only)
    print(f"Released {plural(len(released), 'feedback page')} in {args.out}")
    if unscored:
        print(
            f"Left {plural(len(unscored), 'page')} as drafts: no score yet (not graded, or to grade by hand; type a "
            f"score into the page first): {', '.join(unscored[:MAX_LISTED])}"
            + (" ..." if len(unscored) > MAX_LISTED else "")
        )
    _print_outcome(rows, warnings, args.out, args.released_only)
    return 0


def _print_outcome(rows, warnings: list[str], out: str, released_only: bool) -> None:
    from fedjava.grading.outputs import summary_counts

    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    not_graded = [r for r in rows if r.status != "graded"]
    for row in not_graded[:MAX_LISTED]:
        print(f"  {row.student}: {'not graded' if row.status == 'ungradable' else 'grade by hand'}: {row.reason}")
    if len(not_graded) > MAX_LISTED:
        print(f"  ... and {len(not_graded) - MAX_LISTED} more not graded or to grade by hand (grades_detail.csv)")
    looks = summary_counts(rows)
    if looks:
        print(f"To look at (summary.html): {looks}")
    drafts = sum(r.state == "draft" for r in rows)
    in_csv = _csv_rows(out)
    print(
        f"Wrote {out}/grades.csv ({plural(in_csv, 'row')}{', released only' if released_only else ''}), "
        f"grades_detail.csv, results.jsonl, summary.html, feedback/ ({drafts} draft, {len(rows) - drafts} "
        f"released, {sum(r.edited for r in rows)} edited by you)"
    )
    if drafts:
        print(
            f"Next: read the drafts in {out}/feedback/ (edit any you like), then fedjava grade --approve all "
            f"--out {out}"
        )


def _csv_rows(out: str) -> int:
    """The students' rows in the gradebook just written (its header left out)."""
    text = (Path(out) / "grades.csv").read_text(encoding="utf-8")
    return max(0, len(text.splitlines()) - 1)


def default_out(submissions: str) -> Path:
    """``class/`` -> ``class_graded/``; ``class.zip`` -> ``class_graded/`` beside it."""
    path = Path(submissions)
    name = path.stem if path.suffix.lower() == ".zip" else path.name
    return path.resolve().parent / f"{name}_graded"
