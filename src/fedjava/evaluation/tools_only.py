"""The tools-only baseline: the answer a rule gives from the evidence block alone, with no model.

Every autograder already runs javac and the tests, so what a model adds must be measured against what those
tools say by themselves. This rule reads a sample's :class:`~fedjava.java.evidence.Evidence` and answers:

* ``javac: error at line N: KEY`` -> ``COMPILE_ERROR``, code KEY, line N, javac's message; score 0;
* a test that threw (``first exception: ... threw EXC ... at line N``) -> ``RUNTIME_ERROR``, code EXC, line N (the
  stack trace's line; where no frame of the student's file is on it, the guess below);
* a test that did not finish -> ``RUNTIME_ERROR``, code ``timeout``, line: the last loop header of the method the
  call names (the guess below when it has none);
* a wrong result (``first wrong result``) -> ``LOGIC_ERROR``, code ``wrong_output``, line: the last ``return`` of
  the method the failing call names (the tools say *that* a value is wrong, not where it comes from);
* every test passed, or the program compiles and no test ran -> ``NO_ERROR``;
* score ``round(10 x passed / total)`` as the labels give it (10 when no test ran).

The localisation facts (:mod:`fedjava.java.localise`) are tools' output too. With ``localisation`` (``coverage``
or ``mutants``) the rule takes that method's top suspicious line for a logic error or a timeout, and with
``mutants`` a change that passes every test as the fix (its line then becomes the error's line): the
*coverage-only* and *mutation-only* rows of a comparison.

It writes no explanation, and no fix but a verified change: the tools do not say why. The rule is the floor every
trained model is compared with (``fedjava evaluate --tools-only``).
"""

from __future__ import annotations

import math
import re
from typing import Any

from fedjava.dataset.label import ERROR_TYPE
from fedjava.java.evidence import (
    Evidence,
    FirstException,
    FirstTimeout,
    FirstWrongResult,
    JavacResult,
    SuspiciousLines,
    TestSummary,
    VerifiedChange,
)
from fedjava.java.sources import blank_literals

_IDENT = re.compile(r"[A-Za-z_$][\w$]*$")
_LOOP = re.compile(r"^\s*(?:\}\s*)?(?:for|while|do)\b")
_RETURN = re.compile(r"^\s*(?:\}\s*)?(?:else\s+)?return\b")


def called_method(call: str) -> str:
    """The method a test's call names last at the top level: ``new Box().fill(3)`` -> ``fill``,
    ``Solution.f(g(1))`` -> ``f``; ``""`` when there is none."""
    name, depth, quote = "", 0, ""
    for i, ch in enumerate(call):
        if quote:
            if ch == quote and call[i - 1] != "\\":
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            if ch == "(" and depth == 0:
                found = _IDENT.search(call[:i].rstrip())
                if found and found.group(0) != "new":
                    name = found.group(0)
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
    return name


def method_span(code: str, name: str) -> tuple[int, int] | None:
    """(first, last) 1-based lines of the body of the last method declared as ``name``, by brace matching
    outside strings, chars and comments; None when the file declares none."""
    if not name:
        return None
    declaration = re.compile(
        rf"(?<![\w$.])[\w$<>\[\],.?\s]+\s+(?P<name>{re.escape(name)})\s*\([^;{{}}]*\)\s*"
        rf"(?:throws\s+[\w$.,\s]+)?\{{",
        re.MULTILINE,
    )
    plain = blank_literals(code)
    found = None
    for match in declaration.finditer(plain):
        if re.search(r"\b(?:new|return)\s*$", plain[: match.start()].rstrip()[-10:]):
            continue
        found = match
    if found is None:
        return None
    depth, end = 0, len(plain)
    for i in range(found.end() - 1, len(plain)):
        if plain[i] == "{":
            depth += 1
        elif plain[i] == "}":
            depth -= 1
            if depth == 0:
                end = i
                break
    return plain.count("\n", 0, found.start("name")) + 1, plain.count("\n", 0, end) + 1


def guessed_line(code: str, call: str, pattern: re.Pattern = _RETURN) -> int:
    """The last line matching ``pattern`` (default: a ``return``) in the method ``call`` names; else that
    method's declaration line; else 0 (no guess)."""
    span = method_span(code, called_method(call))
    if span is None:
        return 0
    lines = code.split("\n")
    hits = [n for n in range(span[0], min(span[1], len(lines)) + 1) if pattern.match(lines[n - 1])]
    return hits[-1] if hits else span[0]


def _localised(evidence: Evidence, localisation: str) -> tuple[int, str]:
    """(line, fix) from the localisation facts: the method's top suspicious line, or for ``mutants`` the line of a
    change that passes every test, with that change as the fix; (0, "") without them."""
    if not localisation:
        return 0, ""
    if localisation == "mutants":
        change = evidence.first(VerifiedChange)
        if change is not None:
            return change.line, change.text
    ranked = next((f for f in evidence.all(SuspiciousLines) if f.method == localisation and f.lines), None)
    return (ranked.lines[0], "") if ranked else (0, "")


def score(passed: int, total: int) -> int:
    """10 x the share of passed tests, rounded half up (the labels' rule); 10 when none ran."""
    return int(math.floor(10 * passed / total + 0.5)) if total else 10


LOCALISATION = ("coverage", "mutants")


def tools_answer(evidence: Evidence, code: str, localisation: str = "") -> dict[str, Any]:
    """The answer the rule gives (see the module docstring); ``localisation``: ``""``, ``coverage`` or ``mutants``."""
    javac = evidence.first(JavacResult)
    if javac is not None and javac.status in ("error", "failed"):
        error = _error("COMPILE_ERROR", javac.key or "compiler.err", javac.line, javac.message)
        return {"verdict": "COMPILE_ERROR", "errors": [error], "score": 0}
    summary = evidence.first(TestSummary)
    points = score(summary.passed, summary.total) if summary else 10
    stopped = evidence.first(FirstException) or evidence.first(FirstTimeout)
    wrong = evidence.first(FirstWrongResult)
    first = stopped if stopped is not None else wrong  # the labels take an exception over a wrong value
    if first is None:
        return {"verdict": "NO_ERROR", "errors": [], "score": points}
    located, fix = _localised(evidence, localisation)
    if isinstance(first, FirstException):
        line = first.line if first.line > 0 else (located or guessed_line(code, first.call))
        message = f"{first.exception}: {first.message}" if first.message else first.exception
        error = _error("RUNTIME_ERROR", first.exception, line, message, fix if located == line else "")
        return {"verdict": "RUNTIME_ERROR", "errors": [error], "score": points}
    if isinstance(first, FirstTimeout):
        line = located or guessed_line(code, first.call, _LOOP)
        message = f"{first.call} did not finish within {first.budget}"
        return {
            "verdict": "RUNTIME_ERROR",
            "errors": [_error("RUNTIME_ERROR", "timeout", line, message, fix)],
            "score": points,
        }
    line = located or guessed_line(code, first.call)
    message = f"{first.call} returned {first.actual}, expected {first.expected}"
    return {
        "verdict": "LOGIC_ERROR",
        "errors": [_error("LOGIC_ERROR", "wrong_output", line, message, fix)],
        "score": points,
    }


def _error(verdict: str, code: str, line: int, message: str, fix: str = "") -> dict[str, Any]:
    """One error of the answer; ``fix`` None when the tools have none (the fix check then tries nothing: an empty
    fix would mean "delete the line")."""
    return {
        "type": ERROR_TYPE[verdict],
        "code": code,
        "line": line,
        "message": message,
        "explanation": "",
        "fix": fix or None,
    }
