"""Small helpers for the sentences the grading commands and pages print."""

from __future__ import annotations


def plural(n: int, noun: str, many: str | None = None) -> str:
    """ "1 student", "2 students" (``many``: the plural when it is not ``noun`` + "s")."""
    return f"{n} {noun if n == 1 else (many or noun + 's')}"
