"""Mutation operators of the ``runtime`` family: the program compiles, then throws or never ends."""

from __future__ import annotations

import re
from collections.abc import Iterator

from fedjava.java.mutate_source import (
    IDENT,
    KEYWORDS,
    PRIMITIVES,
    Edit,
    Source,
    calls,
    controls,
    expr_start,
    match_close,
    operand_after,
    operand_before,
    registrar,
    split_args,
)

SPECS: list = []
operator = registrar(SPECS, "runtime")

_SIZE = r"[\w$.\[\]]+?\.(?:length(?!\s*\()|length\(\)|size\(\))"
_DOUBLE_TYPES = ("double", "float", "Double", "Float")
_DOUBLE_HINT = re.compile(r"\d\.\d|\bMath\.(sqrt|pow|random|hypot|log|exp)\b|\(double\)|\bdouble\b")
_MUTATORS = r"(?:add|put|remove|set|addAll|putAll|clear|merge|push|offer|addFirst|addLast|poll|pop|compute\w*)"
_EMPTY_OF = {"List": "List.of()", "Collection": "List.of()", "Map": "Map.of()", "Set": "Set.of()"}


@operator("off_by_one_bound", "a loop runs one step too far: 'i <= arr.length' (also .length(), .size())")
def off_by_one_bound(src: Source) -> Iterator[Edit]:
    for keyword, _kw, open_off, close in controls(src, ("for", "while")):
        for m in re.compile(rf"(?<=\s)<(?=\s+{_SIZE})").finditer(src.blank, open_off, close):
            if src.in_body(m.start()):
                yield src.splice(
                    m.start(),
                    m.end(),
                    "<=",
                    f"wrote '<=' for '<' in the {keyword} bound",
                    **_bound_facts(src, m.start(), m.end(), keyword),
                )


def _bound_facts(src: Source, start: int, end: int, keyword: str) -> dict[str, str]:
    """What ``left < right`` is: the counter, the bound, and whether the bound is exactly a size (``case``)."""
    left = src.text[operand_before(src.blank, start) : start].strip()
    right = src.text[end : operand_after(src.blank, end)].strip()
    size = re.fullmatch(r"(.+?)\.(length|length\(\)|size\(\))", right, re.S)
    kind = {"length": "array", "length()": "string", "size()": "list"}[size[2]] if size else ""
    return {
        "case": "size" if size else "offset",
        "keyword": keyword,
        "left": left,
        "right": right,
        "wrote": "<=",
        "meant": "<",
        "container": size[1] if size else "",
        "kind": kind,
    }


def _whole(code: str) -> str:
    """``code`` when its brackets pair up, else ``""``: a declarator cut at a comma inside ``<...>`` is not code."""
    pairs = ("()", "[]", "{}", "<>")
    return code if all(code.count(a) == code.count(b) for a, b in pairs) else ""


def _loop_counters(src: Source, off: int) -> set[str]:
    names = set()
    method = src.method_at(off)
    for var in src.locals:
        if var.kind == "for" and var.type == "int" and var.scope[0] <= off <= var.scope[1]:
            names.add(var.name)
    for _keyword, _kw, open_off, close in controls(src, ("while",)):
        if method is not None and src.method_at(open_off) is method:
            names.update(re.findall(IDENT, src.blank[open_off:close]))
    return names


@operator("index_plus_one", "an index one too far: 'a[i + 1]', 's.charAt(i + 1)', 'list.get(i + 1)'")
def index_plus_one(src: Source) -> Iterator[Edit]:
    for m in src.matches(rf"(\[|\.charAt\(|\.get\()\s*({IDENT})\s*(\]|\))", group=2):
        name = m[2]
        if name in KEYWORDS or src.type_at(name, m.start(2)) != "int" or name not in _loop_counters(src, m.start(2)):
            continue
        access = m[1].strip()
        container = src.text[expr_start(src.blank, m.start(1)) : m.start(1)].strip()
        kind = {"[": "array", ".charAt(": "string", ".get(": "list"}[access]
        wrote = f"{container}[{name} + 1]" if kind == "array" else f"{container}{access}{name} + 1)"
        yield src.splice(
            m.start(2),
            m.end(2),
            f"{name} + 1",
            f"indexed with '{name} + 1' instead of '{name}'",
            name=name,
            container=container,
            kind=kind,
            wrote=wrote,
        )


def _double_context(src: Source, line: int) -> bool:
    text = src.blines[line]
    if _DOUBLE_HINT.search(text):
        return True
    a = src.line_starts[line]
    return any(src.type_at(n, a + k.start()) in _DOUBLE_TYPES for k in re.finditer(IDENT, text) for n in [k[0]])


@operator("division_by_zero", "an integer division or remainder by zero")
def division_by_zero(src: Source) -> Iterator[Edit]:
    divisor = rf"(?:\d+|{IDENT}(?:\.length(?!\s*\()|\.size\(\)|\.length\(\))?)(?![\w$.(\[])"
    for m in src.matches(rf"(?<=\s)([/%]=?)\s+({divisor})", group=2):
        text = m[2]
        if text == "0" or text in KEYWORDS or _double_context(src, src.line_of(m.start())):
            continue
        first = re.match(IDENT, text)
        if first and not text.endswith(("length", ")")) and src.type_at(first[0], m.start(2)) not in ("int", "long"):
            continue
        yield src.splice(
            m.start(2),
            m.end(2),
            "0",
            f"divided by 0 instead of '{text}'",
            divisor=text,
            op=m[1],
            case="remainder" if m[1].startswith("%") else "division",
        )


@operator("null_dereference", "an object variable is initialised to null and then used")
def null_dereference(src: Source) -> Iterator[Edit]:
    for var in src.locals:
        if var.kind != "local" or not var.init or var.type in PRIMITIVES or not src.in_body(*var.init):
            continue
        init = src.blank[var.init[0] : var.init[1]].strip()
        if init == "null" or src.line_of(var.init[0]) != src.line_of(var.init[1]):
            continue
        name = re.escape(var.name)
        deref = re.compile(rf"(?<![\w$.]){name}\s*[.\[]|:\s*{name}\s*\)")
        if deref.search(src.blank, var.init[1], var.scope[1]):
            value = src.snippet(*var.init)
            yield src.splice(
                *var.init,
                "null",
                f"initialised '{var.name}' to null instead of '{value}'",
                name=var.name,
                value=_whole(src.code(*var.init)),
            )


def _not_comparable(src: Source, cls: str) -> bool:
    frame = src.classes.get(cls)
    return frame is not None and "Comparable" not in frame.header and "enum" not in frame.header.split()


@operator("bad_cast", "a ClassCastException: sorting objects without a comparator, a cast to the wrong class")
def bad_cast(src: Source) -> Iterator[Edit]:
    for name, _off, open_off, close, _q in calls(src):
        if name != "sort" or not src.blank[:_off].rstrip().endswith("Arrays."):
            continue
        args = split_args(src.blank, open_off, close)
        elem = (src.type_at(src.blank[args[0][0] : args[0][1]], open_off) or "") if args else ""
        if len(args) == 2 and elem.endswith("[]") and _not_comparable(src, elem[:-2]):
            yield src.splice(
                args[0][1],
                args[1][1],
                "",
                "sorted objects that are not Comparable without the comparator",
                case="sort",
                type=elem[:-2],
                array=src.text[args[0][0] : args[0][1]],
            )
    for var in src.locals + src.fields:
        m = re.match(rf"(?:Map|Set|Collection)<({IDENT})", var.type)
        if not m or not var.init or not _not_comparable(src, m[1]) or not src.in_body(*var.init):
            continue
        new = re.compile(r"\bnew\s+Hash(Map|Set)\b").search(src.blank, *var.init)
        if new:
            yield src.splice(
                new.start(),
                new.end(),
                f"new Tree{new[1]}",
                f"used a Tree{new[1]} keyed by {m[1]}",
                case="tree",
                type=m[1],
                wrote=f"Tree{new[1]}",
                meant=f"Hash{new[1]}",
                name=var.name,
            )
    subclasses: dict[str, list[str]] = {}
    for cls, frame in src.classes.items():
        ext = re.search(rf"\bextends\s+({IDENT})", frame.header)
        if ext:
            subclasses.setdefault(ext[1], []).append(cls)
    for m in src.matches(rf"\(\s*({IDENT})\s*\)\s*(?=[\w$(])", group=1):
        siblings = [c for group in subclasses.values() if m[1] in group for c in group if c != m[1]]
        if siblings:
            yield src.splice(
                m.start(1),
                m.end(1),
                siblings[0],
                f"cast to {siblings[0]} instead of {m[1]}",
                case="cast",
                wrote=siblings[0],
                meant=m[1],
            )


def shift_int(text: str, delta: int) -> str:
    """An int expression plus or minus one: '3' -> '4', 'k + 1' -> 'k', 'k' -> 'k + 1'."""
    if text.isdigit():
        return str(int(text) + delta)
    tail = re.fullmatch(r"(.*?\S)\s*([-+])\s*(\d+)", text, re.S)
    if tail and not re.search(r"[*/%]", tail[1]):
        value = int(tail[3]) * (1 if tail[2] == "+" else -1) + delta
        if value == 0:
            return tail[1]
        return f"{tail[1]} {'+' if value > 0 else '-'} {abs(value)}"
    return f"{text} {'+' if delta > 0 else '-'} 1"


def _shift(src: Source, span: tuple[int, int], delta: int, description: str, **facts: str) -> Edit:
    old = src.text[span[0] : span[1]]
    new = shift_int(old, delta)
    return src.splice(span[0], span[1], new, description, wrote=new, meant=old, **facts)


@operator("parse_non_number", "Integer.parseInt on text that is not a number (a separator left in)")
def parse_non_number(src: Source) -> Iterator[Edit]:
    for name, off, open_off, close, _q in calls(src):
        if name not in ("parseInt", "parseLong", "parseDouble", "valueOf"):
            continue
        if not re.search(r"\b(Integer|Long|Double)\.$", src.blank[:off].rstrip()):
            continue
        inner = src.blank[open_off:close]
        parser = src.code(expr_start(src.blank, off), off + len(name))
        sub = re.compile(r"\.substring\s*\(").search(src.blank, open_off, close)
        if sub:
            s_close = match_close(src.blank, sub.end() - 1)
            args = split_args(src.blank, sub.end() - 1, s_close)
            text = src.text[expr_start(src.blank, sub.start()) : sub.start()].strip()
            if len(args) == 2:
                yield _shift(
                    src,
                    args[1],
                    +1,
                    "parsed one character too many (the separator)",
                    case="end",
                    parser=parser,
                    text=text,
                )
            elif len(args) == 1:
                yield _shift(
                    src,
                    args[0],
                    -1,
                    "parsed from one character too early (the separator)",
                    case="start",
                    parser=parser,
                    text=text,
                )
        elif re.search(r"\.trim\(\)\s*$", inner):
            trim = src.blank.rfind(".trim", open_off, close)
            text = src.text[expr_start(src.blank, trim) : trim].strip()
            yield src.splice(
                trim,
                trim + len(".trim()"),
                "",
                "parsed the text without trimming the spaces",
                case="trim",
                parser=parser,
                text=text,
            )


@operator("removed_base_case", "the return of a recursion's base case is deleted (endless recursion)")
def removed_base_case(src: Source) -> Iterator[Edit]:
    for method in src.methods:
        recursive = [
            off for name, off, _o, _c, q in calls(src) if name == method.name and not q and src.method_at(off) is method
        ]
        if not recursive:
            continue
        first = min(recursive)
        for start, end, fid in src.statements:
            if not (method.open < end < first) or fid is None:
                continue
            frame = src.frames[fid]
            text = src.blank[start:end].strip()
            li = src.line_of(end)
            if src.blines[li].strip() != text + ";":
                continue
            if frame.keyword == "if" and text.startswith("return") and frame.method == method.index:
                condition = src.snippet(frame.header_start, frame.open)
                yield src.delete(
                    li,
                    f"deleted '{text};' from the base case '{condition}'",
                    case="block",
                    statement=src.code(start, end + 1),
                    condition=src.code(frame.header_start, frame.open),
                    method=method.name,
                )
            elif re.match(r"if\s*\(.*\)\s*return\b", text, re.S):
                statement = src.snippet(start, end + 1, 60)
                yield src.delete(
                    li,
                    f"deleted the base case '{statement}'",
                    case="inline",
                    statement=src.code(start, end + 1),
                    method=method.name,
                )


def _updates(text: str, names: set[str]) -> bool:
    m = re.match(rf"(?:(\+\+|--)\s*({IDENT})|({IDENT})\s*(\+\+|--|[-+*/%]=|=(?!=))(.*))$", text, re.S)
    if not m:
        return False
    name = m[2] or m[3]
    if name not in names:
        return False
    return not m[4] or m[4] != "=" or re.search(rf"(?<![\w$]){re.escape(name)}(?![\w$])", m[5] or "") is not None


@operator("missing_increment", "the update of a while loop's variable is deleted (endless loop)")
def missing_increment(src: Source) -> Iterator[Edit]:
    for frame in src.frames:
        if frame.kind != "block" or frame.keyword not in ("while", "do") or frame.close < 0 or not src.body[frame.open]:
            continue
        header = src.snippet(frame.header_start, frame.open)
        loop = src.code(frame.header_start, frame.open)
        if frame.keyword == "while":
            cond = frame.header
        else:
            m = re.match(r"\s*while\s*\((.*?)\)\s*;", src.blank[frame.close + 1 :], re.S)
            cond = m[1] if m else ""
            if m:
                loop = f"do ... while ({src.code(frame.close + 1 + m.start(1), frame.close + 1 + m.end(1))})"
        names = set(re.findall(rf"(?<![\w$.])({IDENT})", cond)) - KEYWORDS
        for start, end, fid in src.statements:
            if fid != frame.id:
                continue
            text = src.blank[start:end].strip()
            li = src.line_of(end)
            if src.blines[li].strip() == text + ";" and _updates(text, names):
                yield src.delete(
                    li,
                    f"deleted '{text};' from the loop '{header}'",
                    statement=f"{text};",
                    loop=loop,
                    name=re.search(IDENT, text)[0],
                )


@operator("wrong_step_direction", "a for loop steps the wrong way ('i--' for 'i++')")
def wrong_step_direction(src: Source) -> Iterator[Edit]:
    swaps = {"++": "--", "--": "++", "+=": "-=", "-=": "+="}
    for _keyword, _kw, open_off, close in controls(src, ("for",)):
        first = src.blank.find(";", open_off, close)
        second = src.blank.find(";", first + 1, close) if first >= 0 else -1
        if second < 0:
            continue
        update = " ".join(src.text[second + 1 : close].split())
        for m in re.compile(r"\+\+|--|\+=|-=").finditer(src.blank, second, close):
            if src.in_body(m.start()):
                wrong = " ".join((src.text[second + 1 : m.start()] + swaps[m[0]] + src.text[m.end() : close]).split())
                name = re.search(rf"({IDENT})\s*$", src.blank[second + 1 : m.start()]) or re.match(
                    rf"\s*({IDENT})", src.blank[m.end() : close]
                )
                yield src.splice(
                    m.start(),
                    m.end(),
                    swaps[m[0]],
                    f"wrote '{swaps[m[0]]}' for '{m[0]}' in the for update",
                    wrote=wrong,
                    meant=update,
                    name=name[1] if name else "",
                    direction="down" if swaps[m[0]] in ("--", "-=") else "up",
                )


@operator("array_too_small", "an array is created one element too small")
def array_too_small(src: Source) -> Iterator[Edit]:
    for m in src.matches(rf"\bnew\s+{IDENT}\s*((?:\[[^\]\[]*\]\s*)+)"):
        for dim in re.compile(r"\[([^\]\[]*)\]").finditer(src.blank, m.start(1), m.end(1)):
            size = dim[1].strip()
            if not size or size == "0":
                continue
            new = shift_int(src.text[dim.start(1) : dim.end(1)].strip(), -1)
            yield src.splice(
                dim.start(1),
                dim.end(1),
                new,
                f"created the array with size '{new}' instead of '{size}'",
                wrote=new,
                meant=src.text[dim.start(1) : dim.end(1)].strip(),
            )


@operator("immutable_collection", "an empty immutable List.of()/Map.of()/Set.of() that is then modified")
def immutable_collection(src: Source) -> Iterator[Edit]:
    for m in src.matches(
        rf"(?:^|[;{{}}])\s*(?:{IDENT}\s*(?:<[^;=]*>)?\s+)?(?:this\.)?({IDENT})\s*=\s*"
        rf"(new\s+(?:Array|Linked|Hash|Tree|LinkedHash)(?:List|Map|Set)\s*<[^;()]*>\s*\(\s*\))",
        re.M,
        group=2,
    ):
        var = src.visible(m[1], m.start(1))
        kind = re.match(IDENT, var.type)[0] if var else ""
        if kind not in _EMPTY_OF:
            continue
        scope_a, scope_b = (0, len(src.blank)) if var.kind == "field" else var.scope
        later = re.compile(rf"(?<![\w$]){re.escape(m[1])}\s*\.\s*{_MUTATORS}\s*\(")
        if later.search(src.blank, scope_a, scope_b):
            yield src.splice(
                m.start(2),
                m.end(2),
                _EMPTY_OF[kind],
                f"initialised '{m[1]}' with {_EMPTY_OF[kind]}",
                name=m[1],
                wrote=_EMPTY_OF[kind],
                meant=src.code(m.start(2), m.end(2)),
                kind=_EMPTY_OF[kind].split(".")[0],
            )
