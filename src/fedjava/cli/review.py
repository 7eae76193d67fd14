"""``fedjava review FILE.java``: one student's file through a trained adapter, printed for a person.

The work is in :mod:`fedjava.review` (reading and rendering) and :mod:`fedjava.reviewer` (the model and the tools).
Exit codes: 0 the review was printed; 2 a bad input; 3 (:data:`EXIT_INVALID_ANSWER`) the model's answer is not valid
JSON in the answer format: the reason and the raw answer are printed (with ``--json``: ``{"error": ..., "raw": ...}``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from fedjava.cli.common import add_adapter_option, add_unsafe_run_option
from fedjava.java.taskcheck import prepare_task
from fedjava.review import format_evidence, format_review
from fedjava.review_inputs import MAX_FILE_BYTES, ReviewError, read_java_files, read_task

if TYPE_CHECKING:
    from fedjava.grading.rubric import Score
    from fedjava.java.tasks import Task
    from fedjava.reviewer import Review, Reviewer

EXIT_INVALID_ANSWER = 3

REVIEW_EPILOG = """examples:
  fedjava review Solution.java --task "Return the sum of the array." \\
      --adapter java_error_federated_results/fedavg/final_model
  fedjava review Solution.java --task-file task.txt --adapter results/centralized_hf/final_model --json
  fedjava review --adapter results/fedavg/final_model --max-new-tokens 512 Solution.java max_seq_length=4096

key=value overrides go right after FILE.java (before or after all the options, as one group).
exit codes: 0 review printed; 2 bad input (file, task, adapter, config); 3 the model's answer is not
valid JSON (its raw answer is printed)
"""


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``review`` to the ``fedjava`` sub-commands."""
    review = sub.add_parser(
        "review",
        help="evaluate one student's .java file with a trained adapter and print the errors",
        description="Run a trained adapter on one student's Java file and print its evaluation: verdict and "
        "score, each error with its line in context, the explanation and the fix. The base model "
        "comes from the adapter's fedjava_config.yaml (change it with --config or key=value). "
        f"Files over {MAX_FILE_BYTES // 1000} KB, or too long for the model's context window with "
        "the prompt and answer, are refused (longer than max_seq_length: reviewed with a note). "
        "Without --task/--task-file a generic task text is used.",
        usage="fedjava review FILE.java [MORE.java ...] [--task TEXT | --task-file F] [--reference MODEL.java] "
        "[--adapter PATH|builtin] [--no-run] [--json] [--verify-fixes N | --no-fix-check] [--rubric R] "
        "[--max-new-tokens N] [--config PRESET] [key=value ...]",
        epilog=REVIEW_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # One positional list, so that key=value overrides may come before or after the options.
    review.add_argument(
        "inputs",
        nargs="+",
        metavar="FILE.java [key=value ...]",
        help="the student's Java source file (UTF-8; several files of one submission are compiled "
        "together), then any config overrides, e.g. max_seq_length=4096 precision=fp32",
    )
    task = review.add_mutually_exclusive_group()
    task.add_argument("--task", metavar="TEXT", help="the programming task the code should solve")
    task.add_argument(
        "--task-file",
        metavar="F",
        help="a task YAML (requirement:, optional tests:) or a .txt file with the requirement",
    )
    add_adapter_option(review)
    review.add_argument(
        "--reference",
        metavar="MODEL.java",
        help="a model solution: the task's tests must pass with it, and tests generated from it run "
        "too (docs/tasks.md)",
    )
    review.add_argument(
        "--no-run", action="store_true", help="grounded adapters: only compile the file, do not run the task's tests"
    )
    review.add_argument("--json", action="store_true", help="print the parsed answer as JSON")
    review.add_argument(
        "--verify-fixes",
        type=int,
        default=0,
        metavar="N",
        help="grounded adapters check the fix shown with the tools (the task's tests, or javac); "
        "where it fails, sample N more fixes from the model and show the first that passes "
        "(default 0: only check)",
    )
    review.add_argument("--no-fix-check", action="store_true", help="do not check the fix with the tools")
    review.add_argument(
        "--rubric",
        metavar="R",
        help="rubric YAML for the score (default: the default rubric, as fedjava grade --print-rubric "
        "shows); the score is the one fedjava grade gives with that rubric",
    )
    review.add_argument(
        "--config",
        dest="preset",
        metavar="PRESET",
        help="preset or YAML path instead of the adapter's fedjava_config.yaml",
    )
    add_unsafe_run_option(review, "javac and the task's tests on the student's code (grounded adapters)")
    review.set_defaults(func=cmd_review)
    return review


def split_inputs(inputs: list[str]) -> tuple[list[str], list[str]]:
    """(the files, the key=value overrides) from the positional arguments, in any order."""
    files = [a for a in inputs if "=" not in a or a.lower().endswith(".java")]
    overrides = [a for a in inputs if a not in files]
    if not files:
        raise ReviewError("give the FILE.java to review (or the .java files of one submission)")
    return files, overrides


def cmd_review(args: argparse.Namespace) -> int:
    from fedjava.grading.rubric import load_rubric
    from fedjava.reviewer import Reviewer, open_adapter

    if args.max_new_tokens < 1:
        raise ReviewError("--max-new-tokens must be at least 1")
    if args.verify_fixes < 0:
        raise ReviewError("--verify-fixes must be at least 0")
    files, args.overrides = split_inputs(args.inputs)
    args.file, code = read_java_files(files)
    task, generic, task_spec = read_task(args.task, args.task_file)
    rubric = load_rubric(args.rubric)
    adapter, cfg = open_adapter(args.adapter, args.preset, args.overrides)  # checked before the model loads

    task_spec = prepare_task(
        task_spec,
        task,
        args.reference,
        args.task_file or "the task",
        cfg.prompt_mode == "grounded" and not args.no_run,
        args.unsafe_run,
    )  # a broken task stops here
    _print_input_notes(adapter, cfg.prompt_mode, generic, task_spec)
    reviewer = Reviewer.load(adapter, cfg, args.max_new_tokens, unsafe=args.unsafe_run)
    result = _review_code(reviewer, args, code, task, task_spec)
    if result.answer is None:
        _print_invalid_answer(result.raw, result.evidence, args.json)
        return EXIT_INVALID_ANSWER
    score = rubric.score(result.answer, result.evidence, result.tests)  # the one function grade and serve score with
    if args.json:
        _print_review_json(result, score)
    else:
        print(
            format_review(
                result.answer,
                code,
                Path(args.file).name,
                task,
                generic,
                result.evidence,
                result.fix_check,
                score,
                result.tests,
            )
        )
    return 0


def _print_input_notes(adapter: Path, prompt_mode: str, generic: bool, task_spec: Task | None) -> None:
    """Say on stderr what the review will not do with these inputs: judge a logic error against a real task, or run
    the task's tests with an adapter that never saw tool results."""
    if generic:
        print(
            "note: no --task or --task-file given; using a generic task, so a logic error can only be "
            "judged from the code itself",
            file=sys.stderr,
        )
    if prompt_mode != "grounded" and task_spec is not None and task_spec.tests:
        print(
            f"note: {adapter} was trained without tool results (prompt_mode=code_only): the task's tests are not run",
            file=sys.stderr,
        )


def _review_code(reviewer: Reviewer, args: argparse.Namespace, code: str, task: str, task_spec: Task | None) -> Review:
    """Run the tools, the model and (unless --no-fix-check) the fix check on the code, saying on stderr what the tools
    did; the one review result."""
    prepared = reviewer.prepare(code, args.file, task, task_spec, not args.no_run)
    if prepared.tools:
        print(f"Tools: {prepared.tools} in {prepared.tool_seconds:.1f}s", file=sys.stderr)
    if prepared.note:
        print(prepared.note, file=sys.stderr)
    result = reviewer.generate([prepared], batch_size=1)[0]
    if not args.no_fix_check and result.answer is not None:
        result = reviewer.check_fixes([prepared], [result], samples=args.verify_fixes)[0]
        if result.fix_check:
            print(
                f"Fix check: {result.fix_check['programs']} program(s) in {result.fix_check['seconds']:.1f}s",
                file=sys.stderr,
            )
    return result


def _print_invalid_answer(raw: str, evidence: str | None, as_json: bool) -> None:
    """Why there is no review, and the model's raw answer (with the tool results it was given)."""
    reason = (
        "the model's answer is not valid JSON in the answer format "
        '({"verdict", "errors", "score"}), so it cannot be shown as a review'
    )
    if as_json:
        shown = {"error": reason, "raw": raw, **({"tool_results": evidence} if evidence else {})}
        print(json.dumps(shown, ensure_ascii=False, indent=1))
    else:
        if evidence:
            print(format_evidence(evidence) + "\n")
        print(f"{reason[0].upper()}{reason[1:]}. The raw answer:\n{raw}")


def _print_review_json(result: Review, score: Score) -> None:
    """``--json``: the answer, how well the tools back it, its points, and what the tools found."""
    from fedjava.findings import support

    answer, evidence = result.answer, result.evidence
    backed = support(answer, evidence)
    print(
        json.dumps(
            {
                **answer,
                "support": {"status": backed.status, "reason": backed.reason},
                "points": score.points,
                "points_possible": score.cap,
                **({"tool_results": evidence} if evidence else {}),
                **({"tests": result.tests} if result.tests else {}),
                **({"fix_check": result.fix_check} if result.fix_check else {}),
            },
            ensure_ascii=False,
            indent=1,
        )
    )
