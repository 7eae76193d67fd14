"""Reading a model's answer and the student code back out of a sample.

:func:`parse_answer` finds the first JSON object in the text (code fences and chatter around it are
tolerated) that has the answer's shape; anything else is an invalid answer (``None``), never an error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from fedjava.prompts import ERROR_TYPES, VERDICTS

_FENCE_RE = re.compile(r"```[a-zA-Z]*\s*")


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def normalize_answer(obj: Any) -> dict[str, Any] | None:
    """The answer in canonical form, or None when ``obj`` does not have the answer's shape.

    Needs a known ``verdict`` and an ``errors`` list of objects; each error's ``type`` must be a known
    type when present. ``line`` becomes an int (None when missing or not a number); ``score`` becomes
    a number (None when missing or not a number).
    """
    if not isinstance(obj, dict) or obj.get("verdict") not in VERDICTS:
        return None
    errors = obj.get("errors", [])
    if not isinstance(errors, list) or not all(isinstance(e, dict) for e in errors):
        return None
    out_errors = []
    for e in errors:
        kind = e.get("type", "")
        if kind not in ERROR_TYPES and kind != "":
            return None
        out_errors.append({
            "type": kind,
            "code": str(e.get("code", "") or ""),
            "line": _as_int(e.get("line")),
            "message": str(e.get("message", "") or ""),
            "explanation": str(e.get("explanation", "") or ""),
            "fix": e.get("fix") if isinstance(e.get("fix"), str) else "",
        })
    score = obj.get("score")
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        score = None
    return {"verdict": obj["verdict"], "errors": out_errors, "score": score}


def parse_answer(text: Any) -> dict[str, Any] | None:
    """The first well-formed answer object anywhere in ``text``, or None (invalid answer)."""
    if not isinstance(text, str):
        return None
    for obj in json_objects(_FENCE_RE.sub("", text)):
        answer = normalize_answer(obj)
        if answer is not None:
            return answer
    return None


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
