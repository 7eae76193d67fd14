"""Bring existing grading data into fedjava's chat form.

Three input formats, each a JSONL file or a JSON array of objects:

- ``legacy``: ``{"system_prompt", "user_prompt": "Java code requirement: <task> student code: <code>",
  "feedback": "1) Logical Error: ...\\n2) Syntax Error: ..."}``. The feedback becomes our JSON answer
  (see ``prompts.SYSTEM_PROMPT``); the legacy system prompt is replaced by ours because the answer
  format changes, and the raw feedback is kept in ``meta["legacy_feedback"]``.
- ``chat``: fedjava chat samples, checked with ``prompts.check_sample`` and passed through unchanged.
- ``alpaca``: ``{"instruction", "input", "output"}``; ``input`` is optional.

``auto`` picks the format from the keys of the file's first row that is a JSON object. Every bad row
is reported as ``file:line: reason``: ``on_error="skip"`` carries on, ``"stop"`` raises
``ImportFormatError`` at the first one. Nothing is dropped without a line in ``ImportResult.problems``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedjava.errors import UserError
from fedjava.files import read_text, writable_file
from fedjava.prompts import SYSTEM_PROMPT, build_messages, check_sample, write_samples

FORMATS = ("auto", "legacy", "chat", "alpaca")
ON_ERROR = ("skip", "stop")
TYPE_TO_VERDICT = {"Syntax Error": "COMPILE_ERROR", "Runtime Error": "RUNTIME_ERROR", "Logical Error": "LOGIC_ERROR"}
MAX_LISTED_PROBLEMS = 20


class ImportFormatError(UserError, ValueError):
    """An input file cannot be imported (or, with ``on_error="stop"``, one of its rows cannot)."""


class FeedbackError(ValueError):
    """A feedback text is neither a list of typed error items nor a no-error wording."""


@dataclass
class ImportResult:
    """What ``import_file`` produced: the samples, every problem, and the counts.

    Attributes:
        path: the file that was read.
        format: the format used (the detected one when ``fmt="auto"``).
        samples: the converted chat samples, in file order.
        problems: one ``file:line: reason`` string per skipped row.
        read: rows read (every JSONL line that is not blank, every array element).
        converted: rows turned into samples.
        skipped: rows that were reported in ``problems`` instead.
    """

    path: Path
    format: str
    samples: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    read: int = 0
    converted: int = 0
    skipped: int = 0

    def summary(self) -> str:
        """A few lines for the user: the counts, then the problems (at most 20 listed)."""
        head = (
            f"{self.path}: {self.read} row(s) read as {self.format}, {self.converted} converted, {self.skipped} skipped"
        )
        lines = [head + (":" if self.problems else "")]
        lines += [f"  {p}" for p in self.problems[:MAX_LISTED_PROBLEMS]]
        if len(self.problems) > MAX_LISTED_PROBLEMS:
            lines.append(f"  ... and {len(self.problems) - MAX_LISTED_PROBLEMS} more")
        return "\n".join(lines)


# ---------------------------------------------------------------- public API


def import_file(path: str | Path, fmt: str = "auto", on_error: str = "skip") -> ImportResult:
    """Read one file of grading data and convert every row to a chat sample.

    Args:
        path: a JSONL file or a JSON array file.
        fmt: ``legacy``, ``chat``, ``alpaca``, or ``auto`` (decided by the first object row's keys).
        on_error: ``skip`` reports bad rows in ``problems`` and carries on; ``stop`` raises at the first.

    Returns:
        The samples, the problems and the read/converted/skipped counts.

    Raises:
        ImportFormatError: unknown ``fmt``/``on_error``, a missing or empty file, a format that ``auto``
            cannot tell, or (with ``on_error="stop"``) the first bad row.
    """
    if fmt not in FORMATS:
        raise ImportFormatError(f"unknown import format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if on_error not in ON_ERROR:
        raise ImportFormatError(f"unknown on_error {on_error!r}; choose skip or stop")
    path = Path(path)
    rows = _read_rows(path)
    if not rows:
        raise ImportFormatError(f"{path}: no rows to import")
    if fmt == "auto":
        fmt = detect_format(rows, path)
    convert = _CONVERTERS[fmt]
    result = ImportResult(path=path, format=fmt)
    for number, row in rows:
        result.read += 1
        try:
            if isinstance(row, _BadJSON):
                raise _RowError(row.reason)
            if not isinstance(row, dict):
                raise _RowError(f"expected a JSON object, got {type(row).__name__}")
            sample = convert(row, path, number)
        except _RowError as exc:
            problem = f"{path}:{number}: {exc}"
            if on_error == "stop":
                raise ImportFormatError(f"{problem} (stopped at the first bad row; on_error=skip skips them)") from None
            result.problems.append(problem)
            result.skipped += 1
            continue
        result.samples.append(sample)
        result.converted += 1
    return result


def run_import(
    path: str | Path, out_path: str | Path, fmt: str = "auto", on_error: str = "skip", force: bool = False
) -> str:
    """Import ``path`` and write the samples to ``out_path`` (JSONL for ``.jsonl``, else a JSON array).

    An existing ``out_path`` is replaced only with ``force``: ``--out data/train.jsonl`` would otherwise swap the
    shipped training set for the few imported rows without a word.

    Returns:
        The text to print: the summary and where the samples went.

    Raises:
        ImportFormatError: as ``import_file``; when ``out_path`` exists and ``force`` is not given; or when no row
            could be converted (nothing is written then).
    """
    writable_file(out_path, "--out", ImportFormatError)  # before the work, not after
    if Path(out_path).exists() and not force:
        raise ImportFormatError(f"{out_path} exists already: pass --force to replace it, or choose another --out")
    result = import_file(path, fmt=fmt, on_error=on_error)
    if not result.samples:
        raise ImportFormatError(f"no row of {path} could be converted, nothing written\n{result.summary()}")
    write_samples(result.samples, out_path)
    return f"{result.summary()}\nwrote {len(result.samples)} sample(s) to {out_path}"


def detect_format(rows: list[tuple[int, Any]], path: str | Path = "<rows>") -> str:
    """The format of a file, told by the keys of its first row that is a JSON object.

    Raises:
        ImportFormatError: no row is an object, or the first object's keys fit no format.
    """
    for _number, row in rows:
        if isinstance(row, dict):
            keys = set(row)
            if "messages" in keys:
                return "chat"
            if keys & {"user_prompt", "feedback"}:
                return "legacy"
            if keys & {"instruction", "output"}:
                return "alpaca"
            shown = ", ".join(sorted(map(str, keys))[:8]) or "none"
            raise ImportFormatError(
                f"{path}: cannot tell the format from the first row's keys ({shown}); "
                "pass the format (legacy, chat or alpaca) explicitly"
            )
    raise ImportFormatError(f"{path}: no row is a JSON object, cannot tell the format")


# ---------------------------------------------------------------- legacy feedback

# An item starts with a number ("1)", "2."), a bullet, or the start of a line, then a label that ends
# in "error"/"exception", then ":" or a dash. A bare label is only an item at the start of a line, so
# "... throws a runtime exception: ..." inside a sentence does not open a new item.
_ITEM_RE = re.compile(
    r"(?:(?:^|(?<=\s))(?:\d{1,3}[.)]|[-*\u2022])[ \t]*|^[ \t]*)"
    r"(?P<label>[A-Za-z][A-Za-z \t-]{0,30}?(?:error|exception))[ \t]*(?:[:\u2013\u2014]|-(?=\s))",
    re.IGNORECASE | re.MULTILINE,
)
_LABELS = {
    "syntax error": "Syntax Error",
    "compile error": "Syntax Error",
    "compilation error": "Syntax Error",
    "compiler error": "Syntax Error",
    "compile-time error": "Syntax Error",
    "compile time error": "Syntax Error",
    "runtime error": "Runtime Error",
    "run-time error": "Runtime Error",
    "run time error": "Runtime Error",
    "runtime exception": "Runtime Error",
    "logical error": "Logical Error",
    "logic error": "Logical Error",
}
_NO_ERROR_RE = re.compile(
    r"\b(?:no\s+(?:errors?|issues?|problems?|mistakes?|bugs?)|correct|looks\s+good|well\s+done|perfect)\b",
    re.IGNORECASE,
)
_NEGATION_RE = re.compile(r"\b(?:not|isn't|incorrect|but)\b", re.IGNORECASE)


def parse_legacy_feedback(text: str) -> list[tuple[str, str]]:
    """The typed items of a legacy feedback text.

    ``"1) Logical Error: a.\\n2) Syntax Error: b."`` gives ``[("Logical Error", "a."), ("Syntax Error",
    "b.")]``. Items may sit on one line or several, numbered ``1)``/``1.``, bulleted, or (one item) bare.
    Labels are normalized (``Logic error``, ``Compilation Error``, ``Runtime Exception`` ...) to
    ``Syntax Error``, ``Runtime Error`` or ``Logical Error``.

    Args:
        text: the feedback.

    Returns:
        The ``(type, sentence)`` items in order; ``[]`` for a no-error wording ("No errors found. Code
        is correct.", "Correct solution.", "Correct! No errors.", ...).

    Raises:
        FeedbackError: an item's type is unknown, an item has no sentence, or the text is neither
            typed items nor a no-error wording.
    """
    if not isinstance(text, str) or not text.strip():
        raise FeedbackError("empty feedback")
    matches = list(_ITEM_RE.finditer(text))
    if not matches:
        if _NO_ERROR_RE.search(text) and not _NEGATION_RE.search(text):
            return []
        snippet = " ".join(text.split())[:60]
        raise FeedbackError(f"feedback has no typed error items and no no-error wording: {snippet!r}")
    items = []
    for i, match in enumerate(matches, 1):
        label = " ".join(match["label"].split())
        kind = _LABELS.get(label.lower())
        if kind is None:
            raise FeedbackError(f"item {i}: unknown error type {label!r} (expected Syntax, Runtime or Logical Error)")
        end = matches[i].start() if i < len(matches) else len(text)
        sentence = " ".join(text[match.end() : end].split())
        if not sentence:
            raise FeedbackError(f"item {i} ({kind}): no explanation")
        items.append((kind, sentence))
    return items


def legacy_answer(items: list[tuple[str, str]]) -> dict[str, Any]:
    """Our answer object for parsed legacy items (code and line unknown: ``""`` and 0).

    Verdict from the first item's type; score 10 with no items, 0 with any Syntax Error, else 5.
    """
    if not items:
        return {"verdict": "NO_ERROR", "errors": [], "score": 10}
    errors = [
        {"type": kind, "code": "", "line": 0, "message": sentence, "explanation": sentence, "fix": ""}
        for kind, sentence in items
    ]
    score = 0 if any(kind == "Syntax Error" for kind, _ in items) else 5
    return {"verdict": TYPE_TO_VERDICT[items[0][0]], "errors": errors, "score": score}


# ---------------------------------------------------------------- row converters


class _RowError(Exception):
    """One row cannot be converted; the message is the reason."""


@dataclass(frozen=True)
class _BadJSON:
    reason: str


_PROMPT_RE = re.compile(
    r"^\s*java\s+code\s+requirement\s*:(?P<req>.*?)student\s+code\s*:(?P<code>.*)$", re.IGNORECASE | re.DOTALL
)


def _text(row: dict[str, Any], key: str, fmt: str, required: bool = True) -> str:
    if key not in row:
        if required:
            raise _RowError(f"missing key {key!r} for the {fmt} format")
        return ""
    value = row[key]
    if not isinstance(value, str):
        raise _RowError(f"{key!r} must be a string, got {type(value).__name__}")
    return value


def _convert_legacy(row: dict[str, Any], path: Path, number: int) -> dict[str, Any]:
    prompt = _text(row, "user_prompt", "legacy")
    feedback = _text(row, "feedback", "legacy")
    _text(row, "system_prompt", "legacy", required=False)  # replaced by ours, but must not be garbage
    match = _PROMPT_RE.match(prompt)
    if not match:
        raise _RowError("user_prompt does not read 'Java code requirement: <task> student code: <code>'")
    requirement, code = match["req"].strip(), match["code"].strip()
    if not requirement:
        raise _RowError("empty task text in user_prompt")
    if not code:
        raise _RowError("empty student code in user_prompt")
    try:
        items = parse_legacy_feedback(feedback)
    except FeedbackError as exc:
        raise _RowError(str(exc)) from None
    answer = legacy_answer(items)
    return {
        "messages": build_messages(requirement, code, answer),
        "meta": {
            "source": "legacy",
            "verdict": answer["verdict"],
            "legacy_feedback": feedback,
            "origin": f"{path.name}:{number}",
        },
    }


def _convert_chat(row: dict[str, Any], path: Path, number: int) -> dict[str, Any]:
    reason = check_sample(row)
    if reason:
        raise _RowError(reason)
    return row


def _convert_alpaca(row: dict[str, Any], path: Path, number: int) -> dict[str, Any]:
    instruction = _text(row, "instruction", "alpaca").strip()
    output = _text(row, "output", "alpaca").strip()
    extra = _text(row, "input", "alpaca", required=False).strip()
    if not instruction:
        raise _RowError("empty 'instruction'")
    if not output:
        raise _RowError("empty 'output'")
    user = instruction + ("\n\n" + extra if extra else "")
    return {
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": user},
            {"role": "assistant", "content": output},
        ],
        "meta": {"source": "alpaca", "origin": f"{path.name}:{number}"},
    }


_CONVERTERS = {"legacy": _convert_legacy, "chat": _convert_chat, "alpaca": _convert_alpaca}


# ---------------------------------------------------------------- reading rows


def _read_rows(path: Path) -> list[tuple[int, Any]]:
    """``(line_number, value)`` for each JSONL line or JSON array element; bad JSON as ``_BadJSON``."""
    text = read_text(path, "file", ImportFormatError)
    if text.lstrip().startswith("["):
        return _array_rows(text)
    rows: list[tuple[int, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            rows.append((number, _BadJSON(f"not valid JSON ({exc.msg}, column {exc.colno})")))
    return rows


def _array_rows(text: str) -> list[tuple[int, Any]]:
    """Elements of a top-level JSON array with the line each starts on; stops at the first bad one."""
    decoder = json.JSONDecoder()
    rows: list[tuple[int, Any]] = []
    pos = text.index("[") + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            rows.append((text.count("\n") + 1, _BadJSON("not valid JSON (the array is not closed)")))
            return rows
        if text[pos] == "]":
            return rows
        line = text.count("\n", 0, pos) + 1
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            rows.append((line, _BadJSON(f"not valid JSON ({exc.msg}); the rest of the array cannot be read")))
            return rows
        rows.append((line, value))
