"""``fedjava review FILE.java``: one student's file through a trained adapter, printed for a person.

The prompt is the one the model was trained on (:data:`fedjava.prompts.SYSTEM_PROMPT` and
:func:`fedjava.prompts.build_user_prompt`: the task and the code with numbered lines); the answer is
generated greedily (:func:`fedjava.evaluation.generate.generate_answers`) by the adapter on the base
model named in the adapter's ``fedjava_config.yaml`` (``--config PRESET`` and ``key=value`` overrides
change it, as for ``fedjava evaluate``). The output shows the whole task, the tool results and the table of the
task's tests (call, expected, actual, pass or fail), the verdict and the score the rubric gives
(``--rubric``; the one :meth:`fedjava.grading.rubric.Rubric.score` that ``grade`` and ``serve`` use, so the
three agree), then each error with its line in context (``CONTEXT_LINES`` numbered lines either side, the line
marked ``>``), the explanation and the fix, and how the score was made. ``--json`` prints the parsed answer as
JSON instead, with ``points``.

A grounded adapter's fix is checked after the answer (``--no-fix-check``: not): the file with the fix applied is
compiled and, when the task's tests ran, tested, in the sandbox (:mod:`fedjava.evaluation.verify`); the review
says whether it passed. ``--verify-fixes N`` also samples N more fixes from the model where the first fails, and
shows the first that passes, with the line it goes on.

The files, the task and the adapter are read and checked by :mod:`fedjava.review_inputs`; the command is
:mod:`fedjava.cli.review`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fedjava.review_inputs import count_lines

if TYPE_CHECKING:
    from fedjava.findings import Support
    from fedjava.grading.rubric import Score

CONTEXT_LINES = 2


# ---------------------------------------------------------------- output


def code_context(code: str, line: int, context: int = CONTEXT_LINES) -> list[str]:
    """Numbered lines ``line-context .. line+context`` with ``line`` marked ``>``; [] when out of range."""
    lines = code.rstrip("\n").split("\n")
    if not 1 <= line <= len(lines):
        return []
    width = len(str(len(lines)))
    first, last = max(1, line - context), min(len(lines), line + context)
    return [f"{'>' if i == line else ' '} {i:>{width}} | {lines[i - 1]}" for i in range(first, last + 1)]


def format_evidence(evidence: str) -> str:
    """The tool-results block with its lines indented under the header."""
    head, *lines = evidence.split("\n")
    return "\n".join([head] + [f"  {line}" for line in lines])


def guessed_line_text(answer: dict[str, Any], fix_check: dict[str, Any], evidence: str | None) -> str:
    """For a logic error whose fix did not pass: that its line is the model's guess, and where the tools' localisation
    points (the tools name no line for a wrong result); "" otherwise."""
    errors = answer.get("errors") or []
    if answer.get("verdict") != "LOGIC_ERROR" or fix_check.get("status") != "failed" or not errors:
        return ""
    # lazy: fedjava --help imports this module
    from fedjava.evaluation.verify import suspicious_lines

    pointed = suspicious_lines(evidence)
    where = f" The tools' localisation points at line {', '.join(map(str, pointed[:3]))}." if pointed else ""
    return f"Line {errors[0].get('line')} is the model's guess: no fix tried there passes the tests.{where}"


def task_lines(task: str, width: int = 100) -> list[str]:
    """The whole task, wrapped to ``width`` and indented under "Task:" (never cut)."""
    import textwrap

    out = []
    for paragraph in task.strip().split("\n"):
        out += textwrap.wrap(paragraph, width - 2, break_long_words=False, break_on_hyphens=False) or [""]
    return [f"  {line}".rstrip() for line in out]


def format_review(
    answer: dict[str, Any],
    code: str,
    file_label: str,
    task: str,
    generic_task: bool,
    evidence: str | None = None,
    fix_check: dict[str, Any] | None = None,
    score=None,
    tests: list[dict[str, Any]] | None = None,
) -> str:
    """The parsed answer as text: the task, the tests, the verdict and score, then each error with its line in context.

    ``evidence`` (grounded reviews): the tool results the model was shown, printed before the verdict.
    ``fix_check``: what checking the first error's fix found (:meth:`fedjava.reviewer.Reviewer.check_fixes`).
    ``score``: the rubric's :class:`fedjava.grading.rubric.Score` (the one ``grade`` and ``serve`` give), printed
    instead of the model's own score. ``tests``: the table of the task's tests (:mod:`fedjava.grading.tests_table`).
    A verdict the tools do not back (:func:`fedjava.findings.support`) is shown as possible, with the reason.
    """
    from fedjava.findings import support as tools_support
    from fedjava.grading.tests_table import counts, text_table

    backed = tools_support(answer, evidence)
    n_lines = count_lines(code)
    out = [f"Review of {file_label} ({n_lines} lines)"]
    out += ["Task: none given (generic review)"] if generic_task else ["Task:", *task_lines(task)]
    out.append("")
    if evidence:
        out += [format_evidence(evidence), ""]
    if tests:
        out += [f"Tests: {counts(tests)} passed", *(f"  {line}" for line in text_table(tests)), ""]
    out += _verdict_lines(answer, backed, score)
    possible = not (backed.finding or answer["verdict"] == "NO_ERROR")
    errors = answer["errors"]
    for i, e in enumerate(errors, 1):
        heading = f"{'Possible error' if possible else 'Error'} {i} of {len(errors)}"
        out += ["", *_error_lines(e, heading, code, n_lines), *_fix_lines(e)]
        if i == 1 and fix_check:
            from fedjava.grading.feedback import fix_check_text

            out.append(f"  {fix_check_text(fix_check)}")
            guess = guessed_line_text(answer, fix_check, evidence)
            if guess:
                out.append(f"  {guess}")
    if score is not None:
        out += ["", *_score_lines(score)]
    return "\n".join(out)


def _verdict_lines(answer: dict[str, Any], backed: Support, score: Score | None) -> list[str]:
    """The verdict with the score (the rubric's, else the model's own), and what to know before reading the errors:
    whether the tools back the verdict (``backed``), a repaired answer, an error verdict without errors."""
    from fedjava.grading.feedback import format_points

    if score is not None:
        score_text = f"   score {format_points(score.points)}/{format_points(score.cap)}"
    else:
        given = answer.get("score")
        score_text = f"   score {given:g}/10" if isinstance(given, (int, float)) else "   score not given"
    verdict = answer["verdict"]
    errors = answer["errors"]
    found = " (no errors found)" if verdict == "NO_ERROR" and not errors else ""
    possible = "" if backed.finding or verdict == "NO_ERROR" else "possible "
    out = [f"Verdict: {possible}{verdict}{found}{score_text}"]
    if not backed.finding:
        out.append(
            f"{backed.status.capitalize()}: {backed.reason}."
            + (" Check it by hand: it is not a finding, and it costs no points." if possible else "")
        )
    if answer.get("repaired"):
        out += [
            "(The model's answer broke off before it ended, cut off or not valid JSON from some point on; "
            "what it held up to there is shown, the part being written is not.)"
        ]
    if verdict != "NO_ERROR" and not errors:
        out += ["", "The answer gives no error details."]
    return out


def _error_lines(e: dict[str, Any], heading: str, code: str, n_lines: int) -> list[str]:
    """One error: its heading, kind and line, the compiler's message, the line in context, the explanation."""
    from fedjava.grading.kinds import error_title

    where = f"at line {e['line']}" if e.get("line") is not None else "(no line given)"
    out = [f"{heading}: {error_title(e)} {where}"]
    if e.get("message"):
        out.append(f"  Message: {e['message']}")
    if e.get("line") is not None:
        context = code_context(code, e["line"])
        if context:
            out += [f"  {row}" for row in context]
        else:
            out.append(f"  (line {e['line']} is outside the file's {n_lines} lines)")
    out.append(f"  Explanation: {e.get('explanation') or '(none given)'}")
    return out


def _fix_lines(e: dict[str, Any]) -> list[str]:
    """An error's fix and where it goes: a line deleted, inserted or replaced."""
    fix = e.get("fix") or ""
    placed, action = e.get("fix_line"), e.get("fix_action")
    if placed is not None and action == "delete":
        return [f"  Fix: delete line {placed}"]
    if fix.strip():
        if placed is not None:
            target = f"insert before line {placed}" if action == "insert" else f"line {placed} becomes"
        else:
            target = f"line {e['line']} becomes" if e.get("line") is not None else "corrected line"
        return [f"  Fix ({target}):", f"      {fix}"]
    return ["  Fix: (none given)"]


def _score_lines(score: Score) -> list[str]:
    """How the rubric made the score, step by step."""
    from fedjava.grading.feedback import format_points

    out = ["How the score was made (the rubric; fedjava grade and serve give the same):"]
    out += [
        f"  {('+' if points >= 0 else '-') + format_points(abs(points)):>6}  {what}" for what, points in score.steps
    ]
    if score.clipped:
        out.append(f"  {score.clipped}")
    return out
