"""Rewrite a correct Java program the way another student might have written it, without changing what it does.

Correct samples must not look like the reference solution only, or the model learns "unusual
code means a bug". Each rewrite keeps behaviour (the dataset build re-runs every rewritten program
against the task's tests and drops any that fail) and changes only style:

* ``rename``: a local variable or parameter gets another name a student might pick;
* ``braces``: opening braces move to their own line (Allman style);
* ``indent``: two-space or tab indentation instead of four spaces;
* ``increment``: ``i++`` becomes ``i += 1`` or ``i = i + 1`` in statements and ``for`` headers;
* ``spacing``: blank lines removed, or one added after each method's first line;
* ``comment``: a short student comment above a method's first statement.

Every function takes the program and a ``random.Random`` and returns the new program (the same
program when the rewrite does not apply). Nothing here runs Java.
"""

from __future__ import annotations

import random
import re

from fedjava.java.mutate_source import Source, analyse

NAMES = (
    "tmp",
    "val",
    "res",
    "acc",
    "cur",
    "num",
    "count2",
    "item",
    "value",
    "current",
    "result2",
    "temp",
    "answer",
    "n2",
    "idx",
    "pos",
    "k",
    "j2",
    "total2",
    "x1",
    "helper",
    "store",
    "buf",
    "out2",
)
COMMENTS = (
    "// go through the input",
    "// main logic",
    "// handle the general case",
    "// compute the answer",
    "// TODO: check edge cases",
    "// my solution",
    "// loop and collect",
    "// start here",
)
_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


def rename(code: str, rng: random.Random) -> str:
    """Give one local variable or parameter a new name everywhere it is visible."""
    src = analyse(code)
    candidates = [v for v in src.locals if v.kind in ("local", "for", "param")]
    if not candidates:
        return code
    var = rng.choice(candidates)
    taken = src.identifiers()
    names = [n for n in NAMES if n not in taken]
    if not names:
        return code
    new = rng.choice(names)
    start, end = min(var.scope[0], var.offset), var.scope[1]
    if var.kind == "param":
        method = src.methods[var.method] if var.method is not None else None
        start = min(start, method.header_start if method else var.offset)
    return _replace_identifier(src, var.name, new, start, end)


def _replace_identifier(src: Source, old: str, new: str, start: int, end: int) -> str:
    text, blank = src.text, src.blank
    pieces, last = [], 0
    for m in _IDENT.finditer(blank, start, end):
        if m.group() != old:
            continue
        before = blank[: m.start()].rstrip()
        after = blank[m.end() :].lstrip()
        if before.endswith(".") or after.startswith("("):
            continue  # a field access or a method call, not the variable
        pieces.append(text[last : m.start()])
        pieces.append(new)
        last = m.end()
    pieces.append(text[last:])
    return "".join(pieces)


def braces(code: str, rng: random.Random) -> str:
    """Allman style: a ``{`` that ends a line with other code moves to a line of its own."""
    src = analyse(code)
    out = []
    for line, bline in zip(src.lines, src.blines, strict=False):
        stripped = bline.rstrip()
        if (
            stripped.endswith("{")
            and stripped.strip() != "{"
            and not stripped.rstrip("{").rstrip().endswith(("=", "]"))
        ):
            cut = len(stripped) - 1
            indent = line[: len(line) - len(line.lstrip())]
            out.append(line[:cut].rstrip())
            out.append(indent + "{" + line[cut + 1 :])
        else:
            out.append(line)
    return "\n".join(out)


def indent(code: str, rng: random.Random) -> str:
    """Re-indent from four spaces to two spaces or a tab per level."""
    unit = rng.choice(["  ", "\t"])
    out = []
    for line in code.split("\n"):
        body = line.lstrip(" ")
        spaces = len(line) - len(body)
        out.append(unit * (spaces // 4) + " " * (spaces % 4) + body)
    return "\n".join(out)


_INC = re.compile(r"\b([A-Za-z_]\w*)(\+\+|--)(?=\s*[;)])")


def increment(code: str, rng: random.Random) -> str:
    """``i++`` / ``i--`` used as a statement or a ``for`` update becomes ``i += 1`` or ``i = i + 1``."""
    src = analyse(code)
    style = rng.choice(["compound", "long"])
    out = []
    for line, bline in zip(src.lines, src.blines, strict=False):
        stripped = bline.strip()
        is_statement = re.fullmatch(r"[A-Za-z_]\w*(\+\+|--);", stripped) is not None
        is_for = stripped.startswith("for") and ";" in stripped
        if not (is_statement or is_for):
            out.append(line)
            continue
        pieces, last = [], 0
        for m in _INC.finditer(bline):
            if is_for and bline[: m.start()].count(";") < 2:
                continue
            name, op = m.group(1), "+" if m.group(2) == "++" else "-"
            pieces.append(line[last : m.start()])
            pieces.append(f"{name} {op}= 1" if style == "compound" else f"{name} = {name} {op} 1")
            last = m.end()
        pieces.append(line[last:])
        out.append("".join(pieces))
    return "\n".join(out)


def spacing(code: str, rng: random.Random) -> str:
    """Drop every blank line inside the class, or add one after each method header."""
    lines = code.split("\n")
    if rng.random() < 0.5 and any(not line.strip() for line in lines[1:-1]):
        first_class = next((i for i, line in enumerate(lines) if "class " in line), 0)
        return "\n".join(
            line for i, line in enumerate(lines) if i <= first_class or line.strip() or i == len(lines) - 1
        )
    src = analyse(code)
    starts = {src.line_of(m.open) for m in src.methods}
    out = []
    for i, line in enumerate(lines):
        out.append(line)
        if i in starts and line.rstrip().endswith("{"):
            out.append("")
    return "\n".join(out)


def comment(code: str, rng: random.Random) -> str:
    """Put a short comment above the first statement of one method."""
    src = analyse(code)
    bodies = [m for m in src.methods if src.line_of(m.close) > src.line_of(m.open) + 1]
    if not bodies:
        return code
    method = rng.choice(bodies)
    first = src.line_of(method.open) + 1
    lines = code.split("\n")
    target = lines[first]
    pad = target[: len(target) - len(target.lstrip())]
    lines.insert(first, pad + rng.choice(COMMENTS))
    return "\n".join(lines)


REWRITES = {
    "rename": rename,
    "braces": braces,
    "indent": indent,
    "increment": increment,
    "spacing": spacing,
    "comment": comment,
}


def restyle(code: str, rng: random.Random, count: int | None = None) -> tuple[str, list[str]]:
    """Apply ``count`` (default 1 to 3) different rewrites in a random order.

    Returns:
        The rewritten program and the names of the rewrites that changed it.
    """
    count = count if count is not None else rng.randint(1, 3)
    names = rng.sample(sorted(REWRITES), min(count, len(REWRITES)))
    applied = []
    for name in names:
        changed = REWRITES[name](code, rng)
        if changed != code:
            applied.append(name)
            code = changed
    return code, applied
