"""The grader's answer, typed: the contract between the model's JSON, the training labels, the metrics and the pages.

An answer is a verdict, the errors (each with its kind, javac-style code, line, message, explanation and fix) and a
score. :meth:`Answer.from_dict` is its one reader (it rejects what does not have the answer's shape and turns
lines and scores into numbers); :meth:`Answer.render` its one writer (compact JSON in a fixed key order: what the
model is taught to write). Everything downstream reads :meth:`Answer.to_dict`, the canonical dict.

Finding an answer in a model's free text (code fences, chatter, an answer cut off at ``max_new_tokens``) is
:func:`fedjava.evaluation.parse.parse_answer`'s job, which gives back this canonical form.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

VERDICTS = ("NO_ERROR", "COMPILE_ERROR", "RUNTIME_ERROR", "LOGIC_ERROR")
ERROR_TYPES = ("Syntax Error", "Runtime Error", "Logical Error")
ANSWER_KEYS = ("type", "code", "line", "message", "explanation", "fix")
"""An error's keys, in the order the model writes them."""


def as_int(value: Any) -> int | None:
    """``value`` as a line number: an int, an integral float or a string of digits; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


@dataclass(frozen=True)
class AnswerError:
    """One error of an answer. ``fix`` None: no fix was given (the fix check tries nothing); "" is a fix that
    deletes the line."""

    type: str = ""
    code: str = ""
    line: int | None = None
    message: str = ""
    explanation: str = ""
    fix: str | None = ""

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> AnswerError | None:
        """The error ``obj`` describes, or None when its ``type`` is not a known kind."""
        kind = obj.get("type", "")
        if kind not in ERROR_TYPES and kind != "":
            return None
        fix = obj.get("fix")
        return cls(
            type=kind,
            code=str(obj.get("code", "") or ""),
            line=as_int(obj.get("line")),
            message=str(obj.get("message", "") or ""),
            explanation=str(obj.get("explanation", "") or ""),
            fix=fix if isinstance(fix, str) else None if "fix" in obj and fix is None else "",
        )

    def to_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in ANSWER_KEYS}


@dataclass(frozen=True)
class Answer:
    """A whole answer: the verdict, its errors (none for NO_ERROR) and the score out of 10 (None: not a number)."""

    verdict: str
    errors: tuple[AnswerError, ...] = ()
    score: float | None = None

    @classmethod
    def from_dict(cls, obj: Any) -> Answer | None:
        """The answer ``obj`` holds, or None when it does not have the answer's shape: a known ``verdict`` and an
        ``errors`` list of objects, each of a known type (or none given)."""
        if not isinstance(obj, dict) or obj.get("verdict") not in VERDICTS:
            return None
        raw = obj.get("errors", [])
        if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
            return None
        errors = tuple(AnswerError.from_dict(e) for e in raw)
        if any(e is None for e in errors):
            return None
        score = obj.get("score")
        if isinstance(score, bool) or not isinstance(score, int | float):
            score = None
        return cls(obj["verdict"], errors, score)

    def to_dict(self) -> dict[str, Any]:
        """The canonical dict that metrics, reviews and pages read."""
        return {"verdict": self.verdict, "errors": [e.to_dict() for e in self.errors], "score": self.score}

    def render(self) -> str:
        """The answer as the model writes it: compact JSON, keys in a fixed order."""
        return json.dumps(self.to_dict(), ensure_ascii=False)
