"""Where an error comes from, when that is not the line javac or the JVM reports.

javac and the JVM name the line where an error shows, and a student's fix often belongs elsewhere: the
declaration that lacks a value, the loop header whose bound or step is wrong, the array created one too small,
the ``if`` that lost its ``{``. Those lines follow from the message and the code's shape, with no model:

* ``variable X might not have been initialized`` (javac): X's declaration;
* ``... because "X" is null`` (a helpful NullPointerException): the last line before that sets X;
* an index out of bounds (array, string, list): the loop the line is in, and where each array indexed on the
  line is created;
* ``'else' without 'if'``: the line that opens the block the ``else`` follows (``if (c); {`` has a stray ``;``);
* ``illegal start of ...``, ``<identifier> expected``, ``reached end of file while parsing`` and the like (a brace
  missing): a control line whose block, by its indentation, opens without ``{``, or a block that, by its
  indentation, ends without ``}``.

A missing line has no line to point at: :func:`insertions` gives where one goes, and how it starts, for the one
case the message settles, ``cannot find symbol ... class X`` for a class the file does not declare (an
``import`` inserted after a ``package`` line, or else before line 1).

:func:`cause_lines` gives them as ``(line, what it is)``; :func:`fedjava.prompts.quote_source_lines` quotes them
in a grounded prompt when the config asks (``quote_lines: related``). Lines the tools already name are not
repeated, and none is given when nothing fits: a heuristic that guesses would teach the model to trust noise.
"""

from __future__ import annotations

import re

from fedjava.java.evidence import Evidence, FirstException, JavacResult

MAX_CAUSES = 3
_INIT_RE = re.compile(r"variable (\w+) might not have been initialized")
_NULL_RE = re.compile(r'because "([A-Za-z_]\w*)" is null')
_INDEX_RE = re.compile(r"(ArrayIndexOutOfBoundsException|StringIndexOutOfBoundsException|IndexOutOfBoundsException)")
_BRACE_KEYS = (
    "compiler.err.else.without.if",
    "compiler.err.illegal.start.of.",
    "compiler.err.premature.eof",
    "compiler.err.class.method.or.field.expected",
    "compiler.err.expected4",
    "compiler.err.not.stmt",
    "compiler.err.orphaned",
)
_CONTROL_RE = re.compile(r"^\s*(?:\}\s*)?(?:for|while|if|else\s+if|else|do|switch|try|catch|finally)\b")
_LOOP_RE = re.compile(r"^\s*(?:for|while|do)\b")
_CLASS_RE = re.compile(r"cannot find symbol\s+symbol:\s+class ([A-Z]\w*)")


def _indent(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())


def _code_part(line: str) -> str:
    """The line without a trailing // comment (strings are not parsed; good enough for shape)."""
    return line.split("//", 1)[0].rstrip()


def declaration(lines: list[str], name: str, before: int) -> int | None:
    """The last line before ``before`` (1-based) that declares ``name`` (``Type name;`` / ``Type name = ...``)."""
    pattern = re.compile(rf"(?:^|[\s(,])[\w<>\[\],.?]+(?:\[\])*\s+{re.escape(name)}\s*(?:[;=,)]|$)")
    for n in range(min(before, len(lines)) - 1, 0, -1):
        text = _code_part(lines[n - 1])
        if pattern.search(text) and not text.strip().startswith("return"):
            return n
    return None


def assignment(lines: list[str], name: str, before: int) -> int | None:
    """The last line before ``before`` that sets ``name`` (a declaration with a value or ``name = ...``)."""
    pattern = re.compile(rf"(?<![\w.]){re.escape(name)}\s*=(?!=)")
    for n in range(min(before, len(lines)) - 1, 0, -1):
        if pattern.search(_code_part(lines[n - 1])):
            return n
    return None


def enclosing_loop(lines: list[str], line: int) -> int | None:
    """The header of the innermost loop ``line`` is in, by indentation (or the line itself when it is one)."""
    if not 1 <= line <= len(lines):
        return None
    if _LOOP_RE.match(lines[line - 1]):
        return line
    depth = _indent(lines[line - 1])
    for n in range(line - 1, 0, -1):
        text = lines[n - 1]
        if not text.strip():
            continue
        if _indent(text) < depth:
            if _LOOP_RE.match(text):
                return n
            depth = _indent(text)
            if depth == 0:
                return None
    return None


def block_opener(lines: list[str], line: int) -> int | None:
    """The line before ``line`` at its indentation: for ``} else {`` the ``if (...) {`` it should belong to."""
    if not 1 <= line <= len(lines):
        return None
    depth = _indent(lines[line - 1])
    for n in range(line - 1, 0, -1):
        text = lines[n - 1]
        if text.strip() and _indent(text) <= depth:
            return n if _indent(text) == depth and _code_part(text).endswith("{") else None
    return None


def brace_cause(lines: list[str]) -> tuple[int, str] | None:
    """A control line whose block opens without ``{``, or a block that ends without ``}``, by indentation."""
    code = [_code_part(t) for t in lines]
    nonblank = [n for n in range(1, len(code) + 1) if code[n - 1].strip()]
    for k, n in enumerate(nonblank[:-1]):
        text = code[n - 1]
        after = nonblank[k + 1]
        if _CONTROL_RE.match(text) and not text.endswith(("{", ";")) and _indent(code[after - 1]) > _indent(text):
            # several more-indented lines, then a '}' at the header's indentation: the block lost its '{'
            body = [m for m in nonblank[k + 1 :] if _indent(code[m - 1]) > _indent(text)]
            end = next((m for m in nonblank[k + 1 :] if _indent(code[m - 1]) <= _indent(text)), None)
            if len(body) > 1 and end is not None and code[end - 1].strip().startswith("}"):
                return n, "opens a block without '{'"
    for k, n in enumerate(nonblank):
        text = code[n - 1]
        if not text.endswith("{"):
            continue
        end = next((m for m in nonblank[k + 1 :] if _indent(code[m - 1]) <= _indent(text)), None)
        if end is None:
            return len(code), f"the block opened at line {n} is never closed"
        if not code[end - 1].strip().startswith("}"):
            return end, f"the block opened at line {n} ends before this line without '}}'"
    return None


def cause_lines(block: str, code: str) -> list[tuple[int, str]]:
    """``(line, what it is)`` for the lines the error in the tool-results ``block`` likely comes from, beside the
    one the tools name (see the module docstring); at most ``MAX_CAUSES``."""
    lines = code.rstrip("\n").split("\n") if code else []
    named: set[int] = set()
    out: list[tuple[int, str]] = []

    def add(n: int | None, what: str) -> None:
        if n is not None and 1 <= n <= len(lines) and n not in named and all(n != m for m, _ in out):
            out.append((n, what))

    for fact in Evidence.parse(block).facts:
        if isinstance(fact, JavacResult) and fact.status == "error":
            at, key, message = fact.line, fact.key, fact.message
            named.add(at)
            init = _INIT_RE.search(message)
            if init:
                add(declaration(lines, init.group(1), at), f"declares {init.group(1)}")
            elif key == "compiler.err.else.without.if":
                add(block_opener(lines, at), "opens the block this 'else' follows")
            elif key.startswith(_BRACE_KEYS) or "reached end of file" in message or "<identifier> expected" in message:
                found = brace_cause(lines)
                if found:
                    add(*found)
        elif isinstance(fact, FirstException) and fact.named_line is not None:
            at = fact.line
            named.add(at)
            null = _NULL_RE.search(fact.message)
            if null:
                add(
                    assignment(lines, null.group(1), at) or declaration(lines, null.group(1), at),
                    f"sets {null.group(1)}",
                )
            if _INDEX_RE.search(fact.exception) and 1 <= at <= len(lines):
                add(enclosing_loop(lines, at), f"the loop line {at} is in")
                for name in dict.fromkeys(re.findall(r"(\w+)\s*\[", _code_part(lines[at - 1]))):
                    made = next(
                        (
                            n
                            for n in range(at - 1, 0, -1)
                            if re.search(rf"(?<![\w.]){re.escape(name)}\s*=\s*new\b", lines[n - 1])
                        ),
                        None,
                    )
                    add(made, f"creates {name}")
    return out[:MAX_CAUSES]


def insertions(block: str, code: str) -> list[tuple[int, str]]:
    """``(line, lead)`` for each line the error in ``block`` says is missing: the new line goes before ``line``
    and starts with ``lead``. Only an ``import`` for now: javac cannot find a class the file does not declare.
    A lead never ends in a blank: the model's tokens carry their leading space (``▁java``), so a forced blank
    would leave it to continue mid-token."""
    lines = code.rstrip("\n").split("\n") if code else []
    out: list[tuple[int, str]] = []
    for javac in Evidence.parse(block).all(JavacResult):
        found = _CLASS_RE.search(javac.message) if javac.status == "error" else None
        if not found or re.search(rf"\b(?:class|interface|enum|record)\s+{found.group(1)}\b", code):
            continue
        at = import_site(lines)
        if (at, "import") not in out:
            out.append((at, "import"))
    return out


def import_site(lines: list[str]) -> int:
    """The line an ``import`` is inserted before: the first after a ``package`` declaration, else line 1."""
    package = next((n for n, t in enumerate(lines, 1) if t.strip().startswith("package ")), 0)
    return min(package + 1, max(1, len(lines)))
