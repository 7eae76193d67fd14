"""Real submissions as one compilable ``Solution.java``: ``package`` lines, several files, public helper classes.

Everything downstream of the runner (the prompt's numbered lines, javac's and the stack trace's line numbers, the
feedback page's marks, a fix that replaces line N) reads ONE text per student. So a submission of several files
is shown as one text, the files one after the other, each under a header comment (:func:`combine_files`), and
what javac compiles is that text made legal as one compilation unit without moving any line
(:func:`javac_source`):

* ``package lab4;`` is blanked (spaces, same line): IDEs add it by default, and the generated test driver lives in
  the unnamed package, from where a package-private ``Solution`` in ``lab4`` could not be reached at all;
* an ``import`` after the first type (the second file's imports) is blanked where it stands and written again on
  line 1, which keeps every other line where it was; imports of the submission's own packages are dropped (its
  classes are all in one unit now);
* ``public`` on a top-level type other than ``Solution`` is blanked: one file may hold one public type, named
  after the file.

A submission without any of these is compiled exactly as it was written (the dataset's programs are), so the
labels of every stored program stay what they were.
"""

from __future__ import annotations

import re

FILE_HEADER = "// ---- file: {name} ----"
_HEADER_RE = re.compile(r"^// ---- file: (?P<name>[^\n]+?) ----$", re.MULTILINE)
_PACKAGE_RE = re.compile(r"\bpackage\s+(?P<name>[\w.]+)\s*;")
_IMPORT_RE = re.compile(r"\bimport\s+(?P<static>static\s+)?(?P<name>[\w.]+(?:\s*\.\s*\*)?)\s*;")
_TYPE_RE = re.compile(r"\b(?:class|interface|enum|record)\s+(?P<name>[A-Za-z_$][\w$]*)")
_PUBLIC_TYPE_RE = re.compile(
    r"\bpublic(?=\s+(?:(?:abstract|final|strictfp|sealed|non-sealed|static)\s+)*"
    r"(?:class|interface|enum|record|@interface)\s+(?P<name>[A-Za-z_$][\w$]*))"
)
MAIN_CLASS = "Solution"


def combine_files(files: list[tuple[str, str]]) -> str:
    """Several source files ``(name, text)`` as one text: the file declaring ``class Solution`` first, then the others
    by name, each under a :data:`FILE_HEADER` comment line. One file is returned as it is."""
    if len(files) == 1:
        return files[0][1]
    ordered = sorted(files, key=lambda item: (not _declares(item[1], MAIN_CLASS), item[0]))
    parts = []
    for name, text in ordered:
        parts.append(FILE_HEADER.format(name=name))
        parts.append(text.rstrip("\n"))
    return "\n".join(parts) + "\n"


def file_names(code: str) -> list[str]:
    """The files a combined text (:func:`combine_files`) holds, in order; ``[]`` for a single file."""
    return _HEADER_RE.findall(code)


def _declares(code: str, name: str) -> bool:
    return any(m.group("name") == name for m in _TYPE_RE.finditer(blank_literals(code)))


def javac_source(code: str, main: str = MAIN_CLASS) -> str:
    """``code`` as javac compiles it, written to ``<main>.java``: the same lines, made one legal compilation unit
    (see the module's docstring). Unchanged when nothing needs changing."""
    plain = blank_literals(code)
    packages = {m.group("name") for m in _PACKAGE_RE.finditer(plain) if _depth_at(plain, m.start()) == 0}
    first_type = _first_type(plain)
    late_imports = [
        m
        for m in _IMPORT_RE.finditer(plain)
        if first_type is not None and m.start() > first_type and _depth_at(plain, m.start()) == 0
    ]
    publics = [
        m for m in _PUBLIC_TYPE_RE.finditer(plain) if m.group("name") != main and _depth_at(plain, m.start()) == 0
    ]
    own_imports = [
        m
        for m in _IMPORT_RE.finditer(plain)
        if _depth_at(plain, m.start()) == 0
        and _own(m.group("name").replace(" ", ""), packages, bool(m.group("static")))
    ]
    if not packages and not late_imports and not publics and not own_imports:
        return code
    out = list(code)
    hoisted = []
    for match in [*_PACKAGE_RE.finditer(plain)]:
        if _depth_at(plain, match.start()) == 0:
            _blank(out, match.start(), match.end())
    for match in publics:
        _blank(out, match.start(), match.start() + len("public"))
    own = {m.start() for m in own_imports}
    for match in late_imports:
        if match.start() not in own:
            hoisted.append(code[match.start() : match.end()])
        _blank(out, match.start(), match.end())
    for match in own_imports:
        _blank(out, match.start(), match.end())
    text = "".join(out)
    if hoisted:
        text = " ".join(dict.fromkeys(hoisted)) + " " + text
    return text


def _own(name: str, packages: set[str], static: bool) -> bool:
    """Whether an import names one of the submission's own packages (or a class in one)."""
    if static:
        return False
    owner = name[:-2] if name.endswith(".*") else name.rsplit(".", 1)[0]
    return owner in packages


def _first_type(plain: str) -> int | None:
    for match in _TYPE_RE.finditer(plain):
        if _depth_at(plain, match.start()) == 0:
            return match.start()
    return None


def _depth_at(plain: str, index: int) -> int:
    return plain.count("{", 0, index) - plain.count("}", 0, index)


def _blank(chars: list[str], start: int, end: int) -> None:
    for i in range(start, end):
        if chars[i] != "\n":
            chars[i] = " "


def blank_literals(code: str) -> str:
    """``code`` with string and char literals and comments blanked (same length, newlines kept): what is left is
    only Java's own syntax, for the patterns above."""
    out, i, n = list(code), 0, len(code)
    while i < n:
        two = code[i : i + 2]
        if two == "//":
            j = code.find("\n", i)
            j = n if j < 0 else j
        elif two == "/*":
            j = code.find("*/", i + 2)
            j = n if j < 0 else j + 2
        elif code.startswith('"""', i):
            j = code.find('"""', i + 3)
            j = n if j < 0 else j + 3
        elif code[i] in "\"'":
            j = i + 1
            while j < n and code[j] != code[i] and code[j] != "\n":
                j += 2 if code[j] == "\\" else 1
            j = min(n, j + 1)
        else:
            i += 1
            continue
        _blank(out, i, j)
        i = j
    return "".join(out)
