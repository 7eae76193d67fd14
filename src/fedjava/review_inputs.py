"""What ``fedjava review``, ``grade`` and ``serve`` read: the student's files, the task and the adapter, each checked
with one clear error (:class:`ReviewError`, exit code 2).

Inputs are checked (all but the length before the model loads), each failure being one line:

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
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fedjava.errors import UserError
from fedjava.java.sources import combine_files
from fedjava.java.tasks import TaskError, load_task

MAX_FILE_BYTES = 200_000
MAX_TASK_BYTES = 20_000
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
        raise ReviewError(f"{path}: {size / 1000:.0f} KB is too large for a {what} (the limit is {limit // 1000} KB)")
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
        raise ReviewError(
            f"{label}: {len(data) / 1000:.0f} KB is too large for a {what} (the limit is {limit // 1000} KB)"
        )
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
    a header comment, and compiled together (:mod:`fedjava.java.sources`)."""

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
        aliases = _aliases_within_depth(text)
        raw = None if aliases else yaml.safe_load(text)
    except (RecursionError, _TooDeep):
        raise ReviewError(f"{label}: not a task file: its YAML is nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise ReviewError(
            f"{label}: not a YAML task file{where}; a task file is YAML with 'requirement:' "
            "(or a .txt file holding the requirement)"
        ) from None
    if aliases:
        raise ReviewError(f"{label}: YAML aliases (*name) are not allowed in a task file; write the values out")
    if not isinstance(raw, dict) or "requirement" not in raw:
        got = "a mapping without 'requirement'" if isinstance(raw, dict) else _yaml_kind(raw)
        raise ReviewError(
            f"{label}: not a task file: a task file is a YAML mapping with 'requirement:' (and "
            f"optional tests:); this one is {got}"
        )


MAX_TASK_DEPTH = 32
"""The deepest nesting of lists and mappings a task file may have (a real one has 4)."""


class _TooDeep(Exception):
    pass


def _aliases_within_depth(text: str) -> bool:
    """Whether the YAML uses aliases; _TooDeep as soon as its nesting passes MAX_TASK_DEPTH. PyYAML's parser is
    quadratic in the depth of flow collections (a 5,000-deep ``[[[...]]]`` took 9 s), so the events are read
    one by one and the reading stops at the cap."""
    import yaml

    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            return True
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_TASK_DEPTH:
                raise _TooDeep
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return False


def _yaml_kind(value: Any) -> str:
    if isinstance(value, str):
        return "plain text (a task written as text goes in a .txt file)"
    return {type(None): "an empty document", list: "a list"}.get(type(value), f"a {type(value).__name__}")


def parse_task_file(path: Path, text: str, label: str):
    """(requirement, the Task or None) of a task file's ``text`` read from ``path``; ``label`` names it in errors."""
    if is_text_task(path.name):
        return text.strip(), None
    check_task_yaml(text, label)

    try:
        parsed = load_task(path, strict=False)
    except TaskError as exc:
        raise ReviewError(str(exc).replace(str(path), label)) from exc
    return parsed.requirement, parsed


def read_task(task: str | None, task_file: str | None):
    """(task text, whether it is the generic text because none was given, the Task of a YAML task file or None).

    A task file is a regular file of at most ``MAX_TASK_BYTES``. A ``.txt`` file is the task's text; any other
    is a YAML task in the shipped tasks' schema (``requirement``, ``tests``: see :mod:`fedjava.java.tasks`),
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
    # lazy: fedjava --help imports this module
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
