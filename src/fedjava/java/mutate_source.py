"""A light structural model of a Java source file, the ground the mutation operators work on.

Nothing here parses Java properly. A small lexer blanks out comments and the insides of string and
char literals (so regexes never match inside them), a brace walk finds classes, method bodies and
blocks, and a few regexes pick up method headers, fields and local variable declarations. That is
enough to mutate student-sized programs safely: every operator only edits text that lies inside a
method body, so method signatures and class names (which the test driver calls) stay intact.

Positions are flat character offsets into the text; ``Source.pos`` turns one into (line, column),
both 0-based. The blanked text has exactly the same length and line breaks as the original.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

IDENT = r"[A-Za-z_$][\w$]*"
TYPE = rf"(?:{IDENT}(?:\s*\.\s*{IDENT})*(?:\s*<[^;(){{}}=]*>)?(?:\s*\[\s*\])*)"
KEYWORDS = frozenset(
    "abstract assert boolean break byte case catch char class const continue default do double else enum "
    "extends final finally float for goto if implements import instanceof int interface long native new "
    "package private protected public return short static strictfp super switch synchronized this throw "
    "throws transient try void volatile while var yield record true false null".split()
)
PRIMITIVES = frozenset("boolean byte char short int long float double".split())
_NOT_A_TYPE = frozenset(
    "return new throw else case do yield break continue assert goto if for while switch try "
    "catch synchronized import package this super".split()
)
_MODIFIERS = (
    r"(?:(?:public|private|protected|static|final|abstract|synchronized|native|strictfp|default|transient|volatile)\s+)"
)
_METHOD_RE = re.compile(
    rf"^(?P<mods>{_MODIFIERS}*)(?:<[^()]*>\s*)?(?:(?P<ret>{TYPE})\s+)?(?P<name>{IDENT})\s*"
    r"\((?P<params>.*)\)\s*(?:throws\s+[\w$.,\s]+)?$",
    re.S,
)
_FIELD_RE = re.compile(rf"^(?P<mods>{_MODIFIERS}*)(?P<type>{TYPE})\s+(?P<name>{IDENT})\s*(?:=|$)", re.S)
DECL_RE = re.compile(rf"(?P<final>final\s+)?(?P<type>{TYPE})\s+(?P<name>{IDENT})\s*(?P<after>=|;|,|:|\)|$)")
_CLASS_RE = re.compile(rf"\b(?:class|interface|enum|record)\s+(?P<name>{IDENT})")
_ANNOTATION_RE = re.compile(rf"@{IDENT}(?:\s*\([^()]*\))?")


@dataclass
class Frame:
    """One ``{ ... }`` pair: a class body, a method body, a block or an array initializer."""

    id: int
    kind: str  # class | method | block | array | init
    keyword: str  # blocks: if, else, for, while, do, try, catch, finally, switch, lambda, plain; classes: the name
    parent: int | None
    open: int  # offset of '{'
    close: int = -1  # offset of the matching '}' (-1 when missing)
    header: str = ""  # blanked text between the previous statement and '{', whitespace collapsed
    header_start: int = 0
    method: int | None = None  # index into Source.methods for a method frame and everything inside it
    saved_paren: int = 0


@dataclass
class Method:
    """A method or constructor that has a body."""

    index: int
    name: str
    class_name: str
    return_type: str | None  # None for a constructor
    params: list[tuple[str, str]]  # (type, name)
    modifiers: tuple[str, ...]
    header_start: int
    frame: int
    open: int
    close: int

    @property
    def is_static(self) -> bool:
        return "static" in self.modifiers

    @property
    def returns_value(self) -> bool:
        return self.return_type is not None and self.return_type != "void"


@dataclass
class Var:
    """A local variable, a parameter or a field."""

    name: str
    type: str
    offset: int  # offset of the name in its declaration
    kind: str  # local | for | param | field | catch
    scope: tuple[int, int]  # offsets between which the name is visible
    method: int | None = None
    init: tuple[int, int] | None = None  # span of the initializer expression (locals and fields)
    decl_start: int = -1  # offset where the declaration statement (its type) starts
    is_static: bool = False
    class_name: str = ""


@dataclass(frozen=True)
class Edit:
    """One change to one line: replace it, delete it, or insert a new line before it (0-based index).

    ``facts`` are what the operator knows about its change, in the program's own words, for the labeller's
    explanation: e.g. ``{"wrote": "<=", "meant": "<", "left": "i", "right": "values.length"}``.
    """

    line: int
    kind: str  # replace | delete | insert
    text: str
    description: str
    facts: dict[str, str] = field(default_factory=dict, hash=False)


def _lex(text: str) -> tuple[str, list[tuple[int, int, str]]]:
    """Blank comments and literal contents (keeping the quotes); return the blanked text and the literal spans."""
    out = list(text)
    literals: list[tuple[int, int, str]] = []
    i, n = 0, len(text)

    def blank(a: int, b: int) -> None:
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            blank(i, j)
            i = j
        elif text.startswith('"""', i):
            j = text.find('"""', i + 3)
            j = n if j < 0 else j + 3
            blank(i + 3, max(i + 3, j - 3))
            literals.append((i, j, "text"))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            closed = j < n and text[j] == c
            end = j + 1 if closed else min(j, n)
            blank(i + 1, end - 1 if closed else end)
            literals.append((i, end, "str" if c == '"' else "char"))
            i = end
        else:
            i += 1
    return "".join(out), literals


def match_close(blank: str, open_off: int) -> int:
    """Offset of the bracket closing the one at ``open_off`` (any of ``([{``), or -1."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack = [pairs[blank[open_off]]]
    for k in range(open_off + 1, len(blank)):
        ch = blank[k]
        if ch in pairs:
            stack.append(pairs[ch])
        elif ch in ")]}":
            if ch != stack.pop():
                return -1
            if not stack:
                return k
    return -1


def split_args(blank: str, open_off: int, close_off: int) -> list[tuple[int, int]]:
    """Spans (without surrounding spaces) of the top-level comma-separated parts between two parentheses."""
    parts, depth, start = [], 0, open_off + 1
    for k in range(open_off + 1, close_off + 1):
        ch = blank[k]
        if ch in "([{":
            depth += 1
        elif ch in ")]}" and k < close_off:
            depth -= 1
        if (ch == "," and depth == 0) or k == close_off:
            a, b = start, k
            while a < b and blank[a].isspace():
                a += 1
            while b > a and blank[b - 1].isspace():
                b -= 1
            if a < b:
                parts.append((a, b))
            start = k + 1
    return parts


def expr_start(blank: str, end: int) -> int:
    """Start of the postfix expression (``a.b(c)[d].e``) that ends just before ``end``."""
    k = end
    while k > 0 and blank[k - 1] == " ":
        k -= 1
    while k > 0:
        ch = blank[k - 1]
        if ch in ")]":
            opener = {")": "(", "]": "["}[ch]
            depth, j = 0, k - 1
            while j >= 0:
                if blank[j] == ch:
                    depth += 1
                elif blank[j] == opener:
                    depth -= 1
                    if depth == 0:
                        break
                j -= 1
            k = max(j, 0)
        elif ch == '"' or ch == "'":
            j = blank.rfind(ch, 0, k - 1)
            k = max(j, 0)
        elif re.match(r"[\w$.]", ch):
            k -= 1
        else:
            break
    return k


def split_params(text: str) -> list[tuple[str, str]]:
    """``int a, Map<K, V> b`` as [(type, name), ...]."""
    params, depth, cur = [], 0, ""
    for ch in text + ",":
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        if ch == "," and depth == 0:
            part = _ANNOTATION_RE.sub("", cur).replace("final ", "").strip()
            m = re.match(rf"^(?P<type>.+?)\s*(?P<dots>\.\.\.)?\s*(?P<name>{IDENT})$", part, re.S)
            if m:
                params.append((re.sub(r"\s+", "", m["type"]) + ("[]" if m["dots"] else ""), m["name"]))
            cur = ""
        else:
            cur += ch
    return params


def norm_type(text: str) -> str:
    """A type as written, with whitespace removed (``Map<String,Integer>``)."""
    return re.sub(r"\s+", "", text)


class Source:
    """The analysed program: original lines, blanked text, frames, methods and variables."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.blank, self.literals = _lex(text)
        self.lines = text.split("\n")
        self.blines = self.blank.split("\n")
        self.line_starts = [0]
        for line in self.lines[:-1]:
            self.line_starts.append(self.line_starts[-1] + len(line) + 1)
        self.frames: list[Frame] = []
        self.methods: list[Method] = []
        self.fields: list[Var] = []
        self.locals: list[Var] = []
        self.classes: dict[str, Frame] = {}
        self.declared: dict[str, list[int]] = {}  # method name -> parameter counts, bodies or not
        self.varargs: set[str] = set()  # names of methods with a '...' parameter
        self.statements: list[tuple[int, int, int | None]] = []  # (start, end at ';', frame) at paren depth 0
        self.frame_of: list[int] = [-1] * len(text)
        self._walk()
        self._find_locals()
        self.body = [self._in_body_frame(f) for f in self.frame_of]

    # ----------------------------------------------------------------- positions
    def pos(self, off: int) -> tuple[int, int]:
        """(line, column) of an offset, both 0-based."""
        li = bisect.bisect_right(self.line_starts, off) - 1
        return li, off - self.line_starts[li]

    def off(self, line: int, col: int = 0) -> int:
        """Offset of (line, column)."""
        return self.line_starts[line] + col

    def line_of(self, off: int) -> int:
        return bisect.bisect_right(self.line_starts, off) - 1

    def line_span(self, line: int) -> tuple[int, int]:
        start = self.line_starts[line]
        return start, start + len(self.lines[line])

    # ----------------------------------------------------------------- structure
    def _walk(self) -> None:
        blank = self.blank
        stack: list[Frame] = []
        boundary, paren = 0, 0
        for off, ch in enumerate(blank):
            top = stack[-1] if stack else None
            self.frame_of[off] = top.id if top else -1
            if ch == "(":
                paren += 1
            elif ch == ")":
                paren = max(0, paren - 1)
            elif ch == ";" and paren == 0:
                self.statements.append((boundary, off, top.id if top else None))
                if top is not None and top.kind == "class":
                    self._class_member(blank[boundary:off], boundary, top)
                boundary = off + 1
            elif ch == "{":
                frame = self._open_frame(blank, boundary, off, top)
                frame.saved_paren = paren
                paren = 0
                stack.append(frame)
                if frame.kind != "array":
                    boundary = off + 1
            elif ch == "}" and stack:
                frame = stack.pop()
                frame.close = off
                paren = frame.saved_paren
                self.frame_of[off] = stack[-1].id if stack else -1
                if frame.kind != "array":
                    boundary = off + 1
        for frame in self.frames:
            if frame.kind == "method":
                self.methods[frame.method].close = frame.close

    def _open_frame(self, blank: str, boundary: int, off: int, top: Frame | None) -> Frame:
        raw = blank[boundary:off]
        start = boundary + len(raw) - len(raw.lstrip())
        header = " ".join(raw.split())
        header = _ANNOTATION_RE.sub("", header).strip()
        frame = Frame(
            len(self.frames), "block", "plain", top.id if top else None, off, header=header, header_start=start
        )
        self.frames.append(frame)
        if top is None or top.kind == "class":
            cm = _CLASS_RE.search(header)
            if cm:
                frame.kind, frame.keyword = "class", cm["name"]
                self.classes.setdefault(cm["name"], frame)
            elif header.endswith(")") or re.search(r"\)\s*throws\s+[\w$.,\s]+$", header):
                frame.kind = "method"
                self._add_method(frame, top)
            elif "=" in header:
                frame.kind = "array"
            else:
                frame.kind = "init"
            return frame
        frame.method = top.method
        if top.kind == "array" or re.search(r"(=|\])\s*$", header):
            frame.kind = "array"
            return frame
        if re.search(rf"\bnew\s+{IDENT}(?:\s*<[^()]*>)?\s*\([^()]*\)$", header) and not re.match(
            r"(if|while|for|switch|catch|synchronized|else)\b", header
        ):
            frame.kind, frame.keyword = "class", "<anonymous>"
            frame.method = None
            return frame
        if header.endswith("->"):
            frame.keyword = "lambda"
        else:
            km = re.match(r"(else\s+if|if|else|for|while|do|try|catch|finally|switch|synchronized)\b", header)
            frame.keyword = ("if" if km[1].startswith("else") and "if" in km[1] else km[1]) if km else "plain"
        return frame

    def _add_method(self, frame: Frame, top: Frame | None) -> None:
        m = _METHOD_RE.match(frame.header)
        class_name = top.keyword if top else ""
        if not m:
            frame.kind = "init"
            return
        mods = tuple(m["mods"].split())
        ret = norm_type(m["ret"]) if m["ret"] else None
        if ret is None and m["name"] != class_name:
            ret = "?"
        params = split_params(m["params"])
        method = Method(
            len(self.methods), m["name"], class_name, ret, params, mods, frame.header_start, frame.id, frame.open, -1
        )
        frame.method = method.index
        self.methods.append(method)
        self.declared.setdefault(m["name"], []).append(len(params))
        if "..." in m["params"]:
            self.varargs.add(m["name"])

    def _class_member(self, raw: str, boundary: int, top: Frame) -> None:
        text = _ANNOTATION_RE.sub("", " ".join(raw.split())).strip()
        head = text.split("=", 1)[0]
        if "(" in head:
            m = _METHOD_RE.match(text)
            if m:
                self.declared.setdefault(m["name"], []).append(len(split_params(m["params"])))
                if "..." in m["params"]:
                    self.varargs.add(m["name"])
            return
        m = _FIELD_RE.match(text)
        if not m or m["type"] in _NOT_A_TYPE:
            return
        nm = re.search(rf"(?<![\w$]){re.escape(m['name'])}\s*(=|$)", raw)
        name_off = boundary + (nm.start() if nm else 0)
        parent_close = self.frames[top.id].close
        self.fields.append(
            Var(
                m["name"],
                norm_type(m["type"]),
                name_off,
                "field",
                (top.open, parent_close if parent_close > 0 else len(self.text)),
                is_static="static" in m["mods"].split(),
                class_name=top.keyword,
            )
        )

    def _in_body_frame(self, fid: int) -> bool:
        while fid >= 0:
            frame = self.frames[fid]
            if frame.kind == "method":
                return True
            if frame.kind not in ("block", "array"):
                return False
            fid = frame.parent if frame.parent is not None else -1
        return False

    # ----------------------------------------------------------------- variables
    def _find_locals(self) -> None:
        for method in self.methods:
            frame = self.frames[method.frame]
            end = frame.close if frame.close > 0 else len(self.text)
            for ptype, pname in method.params:
                self.locals.append(Var(pname, ptype, method.header_start, "param", (frame.open, end), method.index))
        for frame in self.frames:
            if frame.kind != "block" or frame.method is None:
                continue
            end = frame.close if frame.close > 0 else len(self.text)
            if frame.keyword == "for":
                self._for_vars(frame.header_start, end, frame.method)
            elif frame.keyword == "catch":
                m = re.search(rf"\(\s*(?:final\s+)?([\w$.|\s]+?)\s+({IDENT})\s*\)", frame.header)
                if m:
                    self.locals.append(Var(m[2], m[1], frame.header_start, "catch", (frame.open, end), frame.method))
        for start, end, fid in self.statements:
            if fid is None or self.frames[fid].method is None or self.frames[fid].kind not in ("block", "method"):
                continue
            frame = self.frames[fid]
            scope_end = frame.close if frame.close > 0 else len(self.text)
            text = self.blank[start:end]
            lead = len(text) - len(text.lstrip())
            body = text[lead:]
            if body.startswith("for") and re.match(r"for\s*\(", body):
                self._for_vars(start + lead, end, frame.method)
                continue
            m = DECL_RE.match(body)
            if not m or m["type"].split("<")[0].strip() in _NOT_A_TYPE or m["name"] in KEYWORDS:
                continue
            if m["after"] not in ("=", ";", ","):
                continue
            name_off = start + lead + m.start("name")
            init = None
            if m["after"] == "=":
                eq = start + lead + m.end("after")
                init_end = self._declarator_end(eq, end)
                a = eq
                while a < init_end and self.blank[a].isspace():
                    a += 1
                init = (a, init_end)
            self.locals.append(
                Var(
                    m["name"],
                    norm_type(m["type"]),
                    name_off,
                    "local",
                    (name_off, scope_end),
                    frame.method,
                    init,
                    start + lead,
                )
            )

    def _declarator_end(self, a: int, end: int) -> int:
        depth = 0
        for k in range(a, end):
            ch = self.blank[k]
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
            elif ch == "," and depth == 0:
                return k
        b = end
        while b > a and self.blank[b - 1].isspace():
            b -= 1
        return b

    def _for_vars(self, header_start: int, scope_end: int, method: int | None) -> None:
        m = re.compile(rf"for\s*\(\s*(?:final\s+)?(?P<type>{TYPE})\s+(?P<name>{IDENT})\s*(?P<after>=|:)").match(
            self.blank, header_start
        )
        if m and m["type"] not in _NOT_A_TYPE:
            self.locals.append(
                Var(
                    m["name"],
                    norm_type(m["type"]),
                    m.start("name"),
                    "for",
                    (m.start("name"), scope_end),
                    method,
                    decl_start=m.start("type"),
                )
            )

    # ----------------------------------------------------------------- queries
    def in_body(self, start: int, end: int | None = None) -> bool:
        """Whether every offset in [start, end) lies inside a method body."""
        end = start + 1 if end is None else end
        return start < end and all(self.body[k] for k in range(start, end))

    def line_in_body(self, line: int) -> bool:
        """Whether the line has code and all of it lies inside method bodies."""
        a, b = self.line_span(line)
        code = [k for k in range(a, b) if not self.blank[k].isspace()]
        return bool(code) and all(self.body[k] for k in code)

    def frame_at(self, off: int) -> Frame | None:
        fid = self.frame_of[off] if 0 <= off < len(self.frame_of) else -1
        return self.frames[fid] if fid >= 0 else None

    def method_at(self, off: int) -> Method | None:
        if not (0 <= off < len(self.body)) or not self.body[off]:
            return None
        frame = self.frame_at(off)
        return self.methods[frame.method] if frame is not None and frame.method is not None else None

    def visible(self, name: str, off: int) -> Var | None:
        """The local, parameter or field called ``name`` visible at ``off`` (innermost declaration wins)."""
        method = self.method_at(off)
        best = None
        for var in self.locals:
            if (
                var.name == name
                and var.scope[0] <= off <= var.scope[1]
                and (method is None or var.method == method.index)
            ):
                if var.kind != "param" and var.offset > off:
                    continue
                if best is None or var.offset > best.offset:
                    best = var
        if best is not None:
            return best
        cls = method.class_name if method else None
        for var in self.fields:
            if var.name == name and (cls is None or var.class_name == cls):
                return var
        return None

    def type_at(self, name: str, off: int) -> str | None:
        var = self.visible(name, off)
        return var.type if var else None

    def matches(self, pattern: str | re.Pattern, flags: int = 0, group: int | str = 0):
        """Regex matches over the blanked text whose ``group`` span lies inside a method body."""
        regex = re.compile(pattern, flags) if isinstance(pattern, str) else pattern
        for m in regex.finditer(self.blank):
            a, b = m.span(group)
            if a >= 0 and self.in_body(a, max(b, a + 1)):
                yield m

    def identifiers(self) -> set[str]:
        return set(re.findall(IDENT, self.blank))

    def splice(self, start: int, end: int, new: str, description: str, **facts: str) -> Edit:
        """Replace text[start:end] (on one line) with ``new``; ``facts`` go with the edit (see :class:`Edit`)."""
        li, col = self.pos(start)
        line = self.lines[li]
        return Edit(li, "replace", line[:col] + new + line[col + end - start :], description, facts)

    def delete(self, line: int, description: str, **facts: str) -> Edit:
        return Edit(line, "delete", "", description, facts)

    def insert(self, line: int, text: str, description: str, **facts: str) -> Edit:
        return Edit(line, "insert", text, description, facts)

    def indent(self, line: int) -> str:
        text = self.lines[line]
        return text[: len(text) - len(text.lstrip())]

    def code(self, start: int, end: int) -> str:
        """The original text of a span, whole, without comments around it and with its whitespace collapsed
        (for the facts of an edit)."""
        while start < end and self.blank[start].isspace():
            start += 1
        while end > start and self.blank[end - 1].isspace():
            end -= 1
        return " ".join(self.text[start:end].split())

    def snippet(self, start: int, end: int, limit: int = 40) -> str:
        """The original text of a span, whitespace collapsed and shortened for descriptions."""
        text = " ".join(self.text[start:end].split())
        return text if len(text) <= limit else text[: limit - 3] + "..."


@functools.lru_cache(maxsize=32)
def analyse(code: str) -> Source:
    """The cached analysis of ``code`` (treat the result as read-only)."""
    return Source(code)


def controls(
    src: Source, keywords: tuple[str, ...] = ("if", "while", "for", "switch")
) -> list[tuple[str, int, int, int]]:
    """(keyword, keyword offset, open paren, close paren) of every control header in a method body."""
    found = []
    for m in src.matches(rf"\b({'|'.join(keywords)})\s*\(", group=1):
        open_off = m.end() - 1
        close = match_close(src.blank, open_off)
        if close > 0:
            found.append((m[1], m.start(1), open_off, close))
    return found


def calls(src: Source) -> list[tuple[str, int, int, int, bool]]:
    """(name, name offset, '(' offset, ')' offset, qualified) of every method or constructor call in a body."""
    found = []
    for m in src.matches(rf"(?<![\w$])({IDENT})\s*\(", group=1):
        name = m[1]
        if name in KEYWORDS and name not in ("this", "super"):
            continue
        open_off = m.end() - 1
        close = match_close(src.blank, open_off)
        if close < 0:
            continue
        before = src.blank[: m.start(1)].rstrip()
        qualified = before.endswith(".")
        if re.search(r"\bnew$", before):
            name = "new " + name
        found.append((name, m.start(1), open_off, close, qualified))
    return found


Finder = Callable[[Source], Iterable[Edit]]


def registrar(
    specs: list[tuple[str, str, str, Finder]], family: str
) -> Callable[[str, str], Callable[[Finder], Finder]]:
    """A decorator factory that records ``(name, family, description, finder)`` in ``specs``."""

    def operator(name: str, description: str) -> Callable[[Finder], Finder]:
        def wrap(fn: Finder) -> Finder:
            specs.append((name, family, description, fn))
            return fn

        return wrap

    return operator


def _assignment_at(blank: str, k: int) -> bool:
    """Whether the '=' at ``k`` assigns (``=``, ``+=``, ...), rather than being part of ==, !=, <= or >=."""
    before, after = blank[k - 1 : k], blank[k + 1 : k + 2]
    return blank[k] == "=" and after != "=" and before not in ("=", "!", "<", ">")


def _operand_bound(blank: str, first: int, step: int) -> int:
    """Offset of the first character that ends an operand, scanning from ``first`` by ``step`` (+1 or -1).

    The operand ends at an unmatched bracket, at ``&&``, ``||``, ``->``, ``,``, ``;``, a brace, ``?``, ``:`` or an
    assignment; brackets it opens are skipped whole. -1 or ``len(blank)`` when it runs to the text's edge.
    """
    entering, leaving = ("([", ")]") if step > 0 else (")]", "([")
    k, depth = first, 0
    while 0 <= k < len(blank):
        ch = blank[k]
        pair = blank[k : k + 2] if step > 0 else blank[max(k - 1, 0) : k + 1]
        if ch in entering:
            depth += 1
        elif ch in leaving:
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and (ch in ",;{}?:" or pair in ("&&", "||", "->") or _assignment_at(blank, k)):
            break
        k += step
    return k


def operand_before(blank: str, end: int) -> int:
    """Start of the operand of a comparison or logical operator that ends at ``end`` (whitespace trimmed).

    It stops where :func:`_operand_bound` does, and after a leading ``return``; arithmetic inside the operand
    is kept (``a + 1`` in ``a + 1 < b``).
    """
    k = _operand_bound(blank, end - 1, -1) + 1
    while k < end and blank[k].isspace():
        k += 1
    m = re.compile(r"(?:return|case|yield|throw|assert)\s+").match(blank, k)
    return m.end() if m and m.end() <= end else k


def operand_after(blank: str, start: int) -> int:
    """End of the operand that starts at ``start`` (the mirror of :func:`operand_before`)."""
    k = _operand_bound(blank, start, 1)
    while k > start and blank[k - 1].isspace():
        k -= 1
    return k
