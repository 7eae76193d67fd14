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

Inputs are checked (all but the length before the model loads), each failure being one line (exit code 2):

* the file must exist, be a ``.java`` file, be UTF-8 text (no NUL bytes), not be empty or only
  whitespace, and be at most ``MAX_FILE_BYTES`` (200 KB);
* once the model is loaded, the rendered prompt plus ``--max-new-tokens`` must fit in the model's
  context window (``max_position_embeddings``: 32768 tokens for Gemma 3 270M, 4096 for the tiny test
  model); the message gives the token counts. A prompt that fits the window but, with the answer,
  exceeds ``max_seq_length`` (the length the adapter was trained on; longer training prompts were cut)
  is reviewed with a note that the answer may be less reliable. Refusing it instead would turn away
  ordinary programs: with Gemma's tokenizer a numbered Java line is 11-15 tokens, so the default
  ``max_seq_length`` 1536 leaves room for about 80 lines next to the 384 answer tokens (about 40 lines
  with the CPU presets' 1024), while 10% of the shipped test programs are longer than 82 lines;
* the task is ``--task TEXT`` or ``--task-file F`` (a regular file of UTF-8 text, at most ``MAX_TASK_BYTES``,
  20 KB: a YAML task with ``requirement:``, or a ``.txt`` file holding the requirement).
  Without either, a generic task text (:data:`GENERIC_TASK`) is used and a note says so: compile and
  runtime errors are still found, but a logic error can only be judged against a real task;
* the adapter must be a folder with ``adapter_config.json`` (``<results_dir>/<method>/final_model``).

A grounded adapter's fix is checked after the answer (``--no-fix-check``: not): the file with the fix applied is
compiled and, when the task's tests ran, tested, in the sandbox (:mod:`fedjava.evaluation.verify`); the review
says whether it passed. ``--verify-fixes N`` also samples N more fixes from the model where the first fails, and
shows the first that passes, with the line it goes on.

Exit codes: 0 the review was printed; 2 a bad input (above); 3 (:data:`EXIT_INVALID_ANSWER`) the
model's answer is not valid JSON in the answer format: the reason and the raw answer are printed
(with ``--json``: ``{"error": ..., "raw": ...}``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fedjava.errors import UserError

MAX_FILE_BYTES = 200_000
MAX_TASK_BYTES = 20_000
CONTEXT_LINES = 2
EXIT_INVALID_ANSWER = 3
BUILTIN_ADAPTER_NAME = "builtin"
GENERIC_TASK = (
    "No task description was given. Check whether this Java program compiles, runs without an exception, "
    "and does what its names and comments say it should."
)



class ReviewError(UserError):
    """A file, task or adapter that ``fedjava review`` cannot use; the message says which and why."""


# ---------------------------------------------------------------- inputs


def _read_text(path: Path, what: str, limit: int) -> str:
    """The UTF-8 text of ``path`` with newlines normalised; ReviewError for a missing, huge, binary or unreadable
    file, a folder, or anything that is not a regular file (a device or a pipe would never end or never start)."""
    if not path.exists():
        raise ReviewError(f"{path}: no such {what}")
    if path.is_dir():
        raise ReviewError(f"{path}: is a folder, not a {what}")
    if not path.is_file():
        raise ReviewError(f"{path}: not a regular file (a device, pipe or socket); give a {what}")
    size = path.stat().st_size
    if size > limit:
        raise ReviewError(f"{path}: {size / 1000:.0f} KB is too large for a {what} (the limit is "
                          f"{limit // 1000} KB)")
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)  # a file that grows, or lies about its size (/proc), stops at the limit
    except OSError as exc:
        raise ReviewError(f"{path}: cannot read this {what} ({exc.strerror or exc})") from None
    return decode_text(data, str(path), what, limit)


def decode_text(data: bytes, label: str, what: str = "Java file", limit: int = MAX_FILE_BYTES) -> str:
    """``data`` as UTF-8 text with newlines normalised; ReviewError (starting with ``label``) for content that is
    too large, binary, not UTF-8 or empty. Shared by files on disk, entries of a zip and uploads."""
    if len(data) > limit:
        raise ReviewError(f"{label}: {len(data) / 1000:.0f} KB is too large for a {what} (the limit is "
                          f"{limit // 1000} KB)")
    if b"\x00" in data:
        raise ReviewError(f"{label}: not a text file (it has binary content)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReviewError(f"{label}: not UTF-8 text (byte {exc.start} cannot be read); save it as UTF-8") from exc
    if not text.strip():
        raise ReviewError(f"{label}: the {what} is empty" + (" (only whitespace)" if text else ""))
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_java_file(path: str | Path) -> str:
    """The student's code. ReviewError when it is missing, not .java, binary, empty or over 200 KB."""
    path = Path(path)
    if path.suffix.lower() != ".java" and not path.is_dir():
        raise ReviewError(f"{path}: not a .java file (review reads one Java source file, e.g. Solution.java)")
    return _read_text(path, "Java file", MAX_FILE_BYTES)


def read_java_files(paths: list[str]) -> tuple[str, str]:
    """(label, code) of a submission of one or more .java files: several are reviewed as one text, each file under
    a header comment, and compiled together (:mod:`fedjava.javadata.sources`)."""
    from fedjava.javadata.sources import combine_files

    codes = [(Path(p).name, read_java_file(p)) for p in paths]
    names = [name for name, _ in codes]
    if len(set(names)) < len(names):
        raise ReviewError(f"two files are named {next(n for n in names if names.count(n) > 1)}; give each file once")
    return (paths[0] if len(paths) == 1 else " + ".join(names)), combine_files(codes)


def count_lines(code: str) -> int:
    return code.rstrip("\n").count("\n") + 1


def is_text_task(name: str) -> bool:
    """A ``.txt`` task file is the requirement as plain text; any other is a YAML task."""
    return name.lower().endswith(".txt")


def check_task_yaml(text: str, label: str) -> None:
    """ReviewError unless ``text`` is a YAML mapping with a ``requirement`` (the rest is for ``load_task``).

    The messages never quote the file: a secret file given by mistake (``--task-file /etc/shadow``) is named, not
    shown, whereas PyYAML's own errors print the line they stopped on. Aliases (``*name``) are refused: a few
    hundred bytes of them expand to billions of items once the tests are read.
    """
    import yaml

    try:
        events = list(yaml.parse(text, Loader=yaml.SafeLoader))
        raw = yaml.safe_load(text)
    except RecursionError:
        raise ReviewError(f"{label}: not a task file: its YAML is nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ReviewError(f"{label}: not a YAML task file{where}; a task file is YAML with 'requirement:' "
                          "(or a .txt file holding the requirement)") from None
    if any(isinstance(event, yaml.AliasEvent) for event in events):
        raise ReviewError(f"{label}: YAML aliases (*name) are not allowed in a task file; write the values out")
    if not isinstance(raw, dict) or "requirement" not in raw:
        got = "a mapping without 'requirement'" if isinstance(raw, dict) else _yaml_kind(raw)
        raise ReviewError(f"{label}: not a task file: a task file is a YAML mapping with 'requirement:' (and "
                          f"optional tests:); this one is {got}")


def _yaml_kind(value: Any) -> str:
    if isinstance(value, str):
        return "plain text (a task written as text goes in a .txt file)"
    return {type(None): "an empty document", list: "a list"}.get(type(value), f"a {type(value).__name__}")


def parse_task_file(path: Path, text: str, label: str):
    """(requirement, the Task or None) of a task file's ``text`` read from ``path``; ``label`` names it in errors."""
    if is_text_task(path.name):
        return text.strip(), None
    check_task_yaml(text, label)
    from fedjava.javadata.tasks import TaskError, load_task

    try:
        parsed = load_task(path, strict=False)
    except TaskError as exc:
        raise ReviewError(str(exc).replace(str(path), label)) from exc
    return parsed.requirement, parsed


def read_task(task: str | None, task_file: str | None):
    """(task text, whether it is the generic text because none was given, the Task of a YAML task file or None).

    A task file is a regular file of at most ``MAX_TASK_BYTES``. A ``.txt`` file is the task's text; any other
    is a YAML task in the shipped tasks' schema (``requirement``, ``tests``: see :mod:`fedjava.javadata.tasks`),
    where only ``requirement`` is needed (:func:`check_task_yaml`).
    """
    if task is not None and task_file is not None:
        raise ReviewError("give the task either as --task TEXT or as --task-file F, not both")
    if task_file is not None:
        text = _read_text(Path(task_file), "task file", MAX_TASK_BYTES)
        requirement, parsed = parse_task_file(Path(task_file), text, task_file)
        return requirement, False, parsed
    if task is not None:
        if not task.strip():
            raise ReviewError("--task is empty; describe the task, or leave --task out for a generic task")
        if len(task.encode("utf-8")) > MAX_TASK_BYTES:
            raise ReviewError(f"--task is longer than {MAX_TASK_BYTES // 1000} KB; shorten it")
        return task.strip(), False, None
    return GENERIC_TASK, True, None


def check_adapter(path: str | Path) -> Path:
    """The adapter folder (``builtin``: the shipped grader). ReviewError when it is missing or not an adapter."""
    from fedjava.models import BUILTIN_ADAPTER, ModelLoadError, builtin_adapter_dir

    if str(path) == BUILTIN_ADAPTER:
        try:
            return builtin_adapter_dir()
        except ModelLoadError as exc:
            raise ReviewError(str(exc)) from exc
    path = Path(path)
    hint = "trained runs save the adapter in <results_dir>/<method>/final_model"
    if not path.exists():
        raise ReviewError(f"{path}: no such adapter folder ({hint})")
    config = path / "adapter_config.json"
    if not path.is_dir() or not config.is_file():
        raise ReviewError(f"{path}: not an adapter folder (no adapter_config.json; {hint})")
    try:
        json.loads(config.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReviewError(f"{config}: not a readable adapter config ({exc})") from exc
    return path


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


def fix_check_text(check: dict[str, Any]) -> str:
    """One sentence on what checking the first error's fix found (``Review.fix_check``). Without tests only javac ran:
    a fix that compiles may still break the program, so that is not called checked."""
    tests = check.get("tests") or 0
    tried = check.get("fixes_tried") or 0
    if check["status"] in ("first", "sampled"):
        which = "this fix" if check["status"] == "first" else (
            f"this fix (the model's first did not work; this is one of {tried} it proposed)")
        if not tests:
            return (f"Compiles with {which}; no test ran, so whether it is right is not checked: treat it as a "
                    "hint.")
        if check["status"] == "first":
            return f"Checked: with this fix the file compiles and passes all {tests} test(s)."
        return (f"Checked: the model's first fix did not work; with this one (one of {tried} the model proposed) "
                f"the file compiles and passes all {tests} test(s).")
    others = f" (or any of the {tried - 1} other(s) the model proposed)" if tried > 1 else ""
    needed = "compile and pass every test" if tests else "compile"
    return f"Not confirmed: with this fix{others} the file does not {needed}; treat it as a hint."


def guessed_line_text(answer: dict[str, Any], fix_check: dict[str, Any], evidence: str | None) -> str:
    """For a logic error whose fix did not pass: that its line is the model's guess, and where the tools' localisation
    points (the tools name no line for a wrong result); "" otherwise."""
    errors = answer.get("errors") or []
    if answer.get("verdict") != "LOGIC_ERROR" or fix_check.get("status") != "failed" or not errors:
        return ""
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


def format_review(answer: dict[str, Any], code: str, file_label: str, task: str, generic_task: bool,
                  evidence: str | None = None, fix_check: dict[str, Any] | None = None, score=None,
                  tests: list[dict[str, Any]] | None = None) -> str:
    """The parsed answer as text: the task, the tests, the verdict and score, then each error with its line in context.

    ``evidence`` (grounded reviews): the tool results the model was shown, printed before the verdict.
    ``fix_check``: what checking the first error's fix found (:meth:`fedjava.reviewer.Reviewer.check_fixes`).
    ``score``: the rubric's :class:`fedjava.grading.rubric.Score` (the one ``grade`` and ``serve`` give), printed
    instead of the model's own score. ``tests``: the table of the task's tests (:mod:`fedjava.grading.tests_table`).
    A verdict the tools do not back (:func:`fedjava.findings.support`) is shown as possible, with the reason.
    """
    from fedjava.findings import support as tools_support
    from fedjava.grading.kinds import error_title
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
    out.append(f"Verdict: {possible}{verdict}{found}{score_text}")
    if not backed.finding:
        out.append(f"{backed.status.capitalize()}: {backed.reason}."
                   + (" Check it by hand: it is not a finding, and it costs no points." if possible else ""))
    if answer.get("repaired"):
        out += ["(The model's answer broke off before it ended, cut off or not valid JSON from some point on; "
                "what it held up to there is shown, the part being written is not.)"]
    if verdict != "NO_ERROR" and not errors:
        out += ["", "The answer gives no error details."]
    for i, e in enumerate(errors, 1):
        where = f"at line {e['line']}" if e.get("line") is not None else "(no line given)"
        out += ["", f"{'Possible error' if possible else 'Error'} {i} of {len(errors)}: {error_title(e)} {where}"]
        if e.get("message"):
            out.append(f"  Message: {e['message']}")
        if e.get("line") is not None:
            context = code_context(code, e["line"])
            if context:
                out += [f"  {row}" for row in context]
            else:
                out.append(f"  (line {e['line']} is outside the file's {n_lines} lines)")
        out.append(f"  Explanation: {e.get('explanation') or '(none given)'}")
        fix = e.get("fix") or ""
        placed, action = e.get("fix_line"), e.get("fix_action")
        if placed is not None and action == "delete":
            out.append(f"  Fix: delete line {placed}")
        elif fix.strip():
            if placed is not None:
                target = f"insert before line {placed}" if action == "insert" else f"line {placed} becomes"
            else:
                target = f"line {e['line']} becomes" if e.get("line") is not None else "corrected line"
            out += [f"  Fix ({target}):", f"      {fix}"]
        else:
            out.append("  Fix: (none given)")
        if i == 1 and fix_check:
            out.append(f"  {fix_check_text(fix_check)}")
            guess = guessed_line_text(answer, fix_check, evidence)
            if guess:
                out.append(f"  {guess}")
    if score is not None:
        out += ["", "How the score was made (the rubric; fedjava grade and serve give the same):"]
        out += [f"  {('+' if points >= 0 else '-') + format_points(abs(points)):>6}  {what}"
                for what, points in score.steps]
        if score.clipped:
            out.append(f"  {score.clipped}")
    return "\n".join(out)


