"""Reading a model's answer and the student code back out of a sample.

:func:`parse_answer` finds the first JSON object in the text (code fences and chatter around it are
tolerated) that has the answer's shape; anything else is an invalid answer (``None``), never an error.

An answer that breaks off before its object closes keeps what it had decided. It may be cut off at
``max_new_tokens`` (most often in a greedy loop that repeats a tab in a fix line) or stop being JSON at a
stray bracket or an unescaped quote; :func:`close_broken` closes it at its last complete value. The value
being written where it broke is dropped, and the answer is marked ``"repaired": True``. A fix that was
dropped is ``None``: the fix check does not try it (an empty fix would mean "delete the line").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from fedjava.answer import Answer

_FENCE_RE = re.compile(r"```[a-zA-Z]*\s*")


def normalize_answer(obj: Any) -> dict[str, Any] | None:
    """The answer in canonical form (:meth:`fedjava.answer.Answer.to_dict`), or None when ``obj`` does not have the
    answer's shape (:meth:`fedjava.answer.Answer.from_dict`)."""
    answer = Answer.from_dict(obj)
    return None if answer is None else answer.to_dict()


def parse_answer(text: Any) -> dict[str, Any] | None:
    """The first well-formed answer object anywhere in ``text``, or None (invalid answer).

    When there is none, an answer object that broke off (cut off, or not valid JSON from some point on),
    closed at its last complete value (see the module docstring); it must at least hold its verdict.
    """
    if not isinstance(text, str):
        return None
    text = _FENCE_RE.sub("", text)
    for obj in json_objects(text):
        answer = normalize_answer(obj)
        if answer is not None:
            return answer
    start = text.find('{"verdict"')
    if start == -1:
        return None
    broken = text[start:].rstrip()
    try:
        json.JSONDecoder(strict=False).raw_decode(broken)
        return None  # a complete value, already read above and not an answer
    except json.JSONDecodeError as exc:
        closed = close_broken(broken[: exc.pos], cut_off=exc.pos >= len(broken))
    if isinstance(closed, dict) and isinstance(closed.get("errors"), list):
        closed["errors"] = [e for e in closed["errors"] if e != {}]  # one whose first key was cut
    answer = normalize_answer(closed)
    if answer is None:
        return None
    for error, raw in zip(answer["errors"], closed.get("errors", []), strict=True):
        if not isinstance(raw.get("fix"), str):
            error["fix"] = None
    answer["repaired"] = True
    return answer


_TRAILING_SCALAR_RE = re.compile(r'(,\s*"[^"\\]*"\s*:|\[|,)\s*[-+\w.]+$')


def close_broken(head: str, cut_off: bool = False) -> Any | None:
    """The JSON object ``head`` (the start of one, valid JSON up to its end) was writing, closed there.

    A string still open at the end is dropped, with its key when it was a value; with ``cut_off`` (the text
    ended there) a number or word at the end is dropped too, since it may be missing digits. The containers
    still open are closed. None when that does not parse or ``head`` closed its object already.
    """
    _, string_start = _open_containers(head)
    if string_start is not None:
        head = head[:string_start]
    elif cut_off:
        match = _TRAILING_SCALAR_RE.search(head)
        if match:
            head = head[: match.start()] + ("[" if match.group(1) == "[" else "")
    head = head.rstrip()
    if head.endswith(":"):  # this key's value was dropped: drop the key too
        head = head[:-1].rstrip()
        head = head[: head.rfind('"', 0, len(head) - 1)] if head.endswith('"') else head
    head = head.rstrip().rstrip(",")
    stack, string_start = _open_containers(head)
    if not stack or string_start is not None:
        return None
    try:
        return json.loads(head + "".join(reversed(stack)), strict=False)
    except json.JSONDecodeError:
        return None


def json_structure(text: str) -> Iterator[tuple[int, str]]:
    """(position, character) of every character of ``text`` outside JSON strings, and of each quote that opens or
    closes one (escapes inside strings honoured): what brackets and strings a JSON prefix has open."""
    in_string = escaped = False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
                yield i, ch
        else:
            if ch == '"':
                in_string = True
            yield i, ch


def _open_containers(text: str) -> tuple[list[str], int | None]:
    """(the closers of the containers open at the end of ``text``, where a string open at its end starts)."""
    stack: list[str] = []
    string_start = None
    for i, ch in json_structure(text):
        if ch == '"':
            string_start = i if string_start is None else None
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
    return stack, string_start


def json_objects(text: str) -> Iterator[Any]:
    """Every JSON value that starts at a ``{`` in ``text``, in order (chatter between them is skipped)."""
    decoder = json.JSONDecoder(strict=False)  # a raw tab or newline inside a string (as in a fix line) is kept
    pos = text.find("{")
    while pos != -1:
        try:
            yield decoder.raw_decode(text, pos)[0]
        except json.JSONDecodeError:
            pass
        pos = text.find("{", pos + 1)
