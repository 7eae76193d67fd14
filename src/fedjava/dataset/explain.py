"""The explanation of a labelled error: what is wrong on the line and why, in a teacher's words.

Each mutation operator records what it changed (:attr:`~fedjava.java.mutate.Mutant.facts`: the
variable, the operator written and the one meant, the bound, ...).
:data:`~fedjava.dataset.explain_templates.REASONS` holds, per operator (and sub-case), sentences for each
kind of observed failure that fill in those facts. The sentence is chosen by what javac and the JVM actually reported (:class:`Observed`), tried from the
most specific key to the least:

1. ``"<kind>:<code>"`` (``compile:compiler.err.expected``, ``exception:java.lang.NullPointerException``);
2. ``"<kind>:index"`` for the three index-out-of-bounds exceptions;
3. ``"<kind>"`` (``compile``, ``exception``, ``timeout``, ``wrong_output``);
4. ``"any"``: the change in the operator's words plus the observed effect, true whatever happened.

A sentence is usable only when every fact it names is known (not empty, not overly long), so an operator
whose facts are missing (a hand-made mutant) or whose observed failure has no sentence of its own falls back
to :func:`fallback`: what was observed, with the change read off the two versions of the line. So no
explanation claims a cause the sample does not have, and every one names the changed line.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from fedjava.dataset.explain_templates import COMPILE_MEANING, FALLBACK, REASONS, RUNTIME_MEANING, Short
from fedjava.java.mutate import Mutant
from fedjava.java.runner import TIMEOUT_SECONDS

INDEX_EXCEPTIONS = frozenset(
    {
        "java.lang.ArrayIndexOutOfBoundsException",
        "java.lang.StringIndexOutOfBoundsException",
        "java.lang.IndexOutOfBoundsException",
    }
)
MAX_FACT = 48  # longer code would crowd the sentence; a shorter phrasing is used instead
_SYMBOL_RE = re.compile(r"symbol:\s+(?:variable|method|class)\s+(\w+)")
_DOES = {"+": "adds", "-": "subtracts", "*": "multiplies", "/": "divides", "%": "takes a remainder"}
_DO = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "%": "take a remainder"}
_INSTEAD = {"+": "adding `{value}` to it", "-": "subtracting `{value}` from it", "*": "multiplying it by `{value}`"}


@dataclass(frozen=True)
class Observed:
    """What the tools reported for one program: the failure the label is made of.

    Attributes:
        kind: ``compile``, ``exception``, ``timeout`` or ``wrong_output``.
        code: javac's key, the exception class, ``timeout`` or ``wrong_output``.
        line: The line the label reports.
        message: javac's or the exception's message (one line).
        call: The failing test call (empty for a compile error).
        expected: The expected value of a wrong output.
        actual: The value the program returned.
        detail: The exception's message, or what javac expected.
    """

    kind: str
    code: str
    line: int
    message: str = ""
    call: str = ""
    expected: str = ""
    actual: str = ""
    detail: str = ""

    def keys(self) -> list[str]:
        """The template keys for this failure, most specific first."""
        keys = [f"{self.kind}:{self.code}"]
        if self.code in INDEX_EXCEPTIONS:
            keys.append(f"{self.kind}:index")
        return keys + [self.kind, "any"]


class _Fill(dict):
    """Template values where an empty or overly long fact counts as unknown, so its template is skipped."""

    def __missing__(self, key: str) -> Any:
        raise KeyError(key)

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        if isinstance(value, str) and (not value or len(value) > MAX_FACT) and key in self.facts:
            raise KeyError(key)
        return value

    facts: frozenset[str] = frozenset()


def explain(mutant: Mutant, observed: Observed, lines: list[str], rng: random.Random) -> str:
    """One sentence (or two) saying what is wrong on the changed line and why, true for this sample.

    Args:
        mutant: The change that broke the program (its facts may be empty).
        observed: What javac or the JVM reported.
        lines: The lines of the mutated program.
        rng: Picks among the usable phrasings (one draw per explanation).
    """
    fill = fill_values(mutant, observed, lines)
    op = REASONS.get(f"{mutant.operator}:{mutant.facts.get('case', '')}") or REASONS.get(mutant.operator, {})
    if mutant.facts:
        for key in observed.keys():
            text = render(op.get(key, []), fill, rng)
            if text:
                return text
    return fallback(fill, observed, rng)


def fallback(fill: dict[str, Any], observed: Observed, rng: random.Random) -> str:
    """What was observed, with its meaning where the code or exception has one, and the change made."""
    meaning = ""
    if observed.kind in ("compile", "exception"):
        table = COMPILE_MEANING if observed.kind == "compile" else RUNTIME_MEANING
        meaning = render(table.get(observed.code, []), fill, rng) or render(table["*"], fill, rng)
    text = render(FALLBACK[observed.kind], _Fill(fill, meaning=meaning), rng)
    return text[0].upper() + text[1:]


def render(templates: list[str], fill: dict[str, Any], rng: random.Random) -> str:
    """One of the templates that ``fill`` can complete, chosen by ``rng`` (a :class:`Short` one only when no
    other can be completed); ``""`` when none can."""
    fill = fill if isinstance(fill, _Fill) else _Fill(fill)
    for tier in ([t for t in templates if not isinstance(t, Short)], [t for t in templates if isinstance(t, Short)]):
        usable = []
        for template in tier:
            try:
                usable.append(template.format_map(fill))
            except KeyError:
                continue
        if usable:
            return rng.choice(usable)
    return ""


def fill_values(mutant: Mutant, observed: Observed, lines: list[str]) -> dict[str, Any]:
    """Everything a template may name: the facts, the observed failure, the change and a few derived words."""
    facts = dict(mutant.facts)
    fill = _Fill(
        {
            **facts,
            "line": observed.line,
            "fix_line": mutant.line,
            "message": observed.message,
            "call": observed.call,
            "expected": observed.expected,
            "actual": observed.actual,
            "exception": observed.code.rsplit(".", 1)[-1],
            "detail": observed.detail,
            "paren_detail": f" ({observed.detail})" if observed.detail else "",
            "seconds": TIMEOUT_SECONDS,
            "change": change(mutant),
            "code_line": snippet(mutant.mutated_line),
            "fixed": snippet(mutant.original_line),
        }
    )
    fill.facts = frozenset(facts) | {"reported_name", "symbol"}
    fill["result"] = f"{observed.call} gives {observed.actual} instead of {observed.expected}"
    fill["effect"] = {
        "compile": f"so javac rejects line {observed.line}: {observed.message}",
        "exception": f"so {observed.call} throws {fill['exception']} at line {observed.line}{fill['paren_detail']}",
        "timeout": f"so {observed.call} never finishes",
        "wrong_output": f"so {fill['result']}",
    }[observed.kind]
    reported = lines[observed.line - 1] if 0 < observed.line <= len(lines) else ""
    fill["reported_name"] = _name_from(observed.message, reported)
    m = _SYMBOL_RE.search(observed.message)
    if m:
        fill["symbol"] = m.group(1)
    m = re.search(r"possible lossy conversion from (\S+) to (\S+)", observed.message)
    if m:
        fill["lossy_from"], fill["lossy_to"] = m.group(1), m.group(2)
    if "by zero" in observed.detail:
        fill["by_zero"] = ""
    if "op" in facts and "new_op" in facts:
        fill["does"], fill["should"] = _DOES[facts["new_op"]], _DO[facts["op"]]
    if mutant.operator == "accumulate_overwrite" and facts.get("op") in _INSTEAD:
        fill["instead"] = _INSTEAD[facts["op"]].format(value=facts.get("value", ""))
    if "direction" in facts:
        fill["opposite"] = "up" if facts["direction"] == "down" else "down"
    if "needed" in facts:
        fill["needed_args"] = f"{facts['needed']} argument{'s' if facts['needed'] != '1' else ''}"
        fill["given_args"] = "none" if facts["given"] == "0" else f"only {facts['given']}"
    return fill


def _name_from(message: str, code_line: str) -> str:
    """The identifier javac's message is about, else the first word of the line."""
    m = _SYMBOL_RE.search(message) or re.search(r"variable (\w+)", message) or re.search(r"method (\w+)", message)
    if m:
        return m.group(1)
    m = re.search(r"(\w+)", code_line.strip())
    return m.group(1) if m else ""


def snippet(line: str, limit: int = 60) -> str:
    """A line of code with its whitespace collapsed, shortened to ``limit`` characters."""
    text = " ".join(line.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _token_class(ch: str) -> str:
    """``word`` for identifier characters, ``op`` for operator characters, ``""`` for anything else."""
    if ch.isalnum() or ch in "_$":
        return "word"
    return "op" if ch in "-+*/%=<>!&|^~" else ""


def changed_parts(written: str, meant: str) -> tuple[str, str]:
    """The smallest differing parts of two versions of a line, widened to whole tokens (``<=`` and ``<``)."""
    a, b = " ".join(written.split()), " ".join(meant.split())
    p = 0
    while p < min(len(a), len(b)) and a[p] == b[p]:
        p += 1
    s = 0
    while s < min(len(a), len(b)) - p and a[len(a) - 1 - s] == b[len(b) - 1 - s]:
        s += 1

    def parts() -> list[str]:
        return [d for d in (a[p : len(a) - s], b[p : len(b) - s]) if d]

    # Grow over shared characters that continue a token at either edge of the change.
    while p > 0 and _token_class(a[p - 1]) and any(_token_class(d[0]) == _token_class(a[p - 1]) for d in parts()):
        p -= 1
    while (
        s > 0
        and _token_class(a[len(a) - s])
        and any(_token_class(d[-1]) == _token_class(a[len(a) - s]) for d in parts())
    ):
        s -= 1
    return a[p : len(a) - s].strip(), b[p : len(b) - s].strip()


def change(mutant: Mutant) -> str:
    """The change in plain words: what line ``fix_line`` has, and what it should have."""
    line = mutant.line
    if not mutant.mutated_line.strip():
        return f"the line `{snippet(mutant.original_line)}` is missing before line {line}"
    if not mutant.original_line.strip():
        return f"line {line} (`{snippet(mutant.mutated_line)}`) should not be there"
    wrote, meant = changed_parts(mutant.mutated_line, mutant.original_line)
    if wrote and meant:
        return f"line {line} has `{snippet(wrote, 40)}` where `{snippet(meant, 40)}` belongs"
    if meant:
        return f"line {line} (`{snippet(mutant.mutated_line)}`) is missing `{snippet(meant, 40)}`"
    return f"`{snippet(wrote, 40)}` on line {line} should not be there"
