"""Mutation operators of the ``logic`` family: the program compiles and runs but computes wrong values."""

from __future__ import annotations

import re
from collections.abc import Iterator

from fedjava.java.mutate_runtime import shift_int
from fedjava.java.mutate_source import (
    IDENT,
    KEYWORDS,
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
operator = registrar(SPECS, "logic")

_SIZE_BOUND = re.compile(r"\s+[\w$.\[\]]+?\.(?:length(?!\s*\()|length\(\)|size\(\))")
_REL_SWAP = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "=="}
_ARITH_SWAP = {"+": "-", "-": "+", "*": "/", "/": "*", "%": "/"}
_LIB_SWAPPABLE = {  # library calls whose arguments have the same type, by the text that must precede the name
    "pow": ("Math.",),
    "floorMod": ("Math.",),
    "floorDiv": ("Math.",),
    "substring": (".",),
    "compare": ("Integer.", "Long.", "Double.", "Character."),
    "copyOfRange": ("Arrays.",),
}
_STRING_RESULT = "trim|strip|toUpperCase|toLowerCase|replace|replaceAll|substring|concat|repeat"


def _loop_bound_sites(src: Source) -> set[int]:
    sites = set()
    for _kw, _k, open_off, close in controls(src, ("for", "while")):
        for m in re.compile(r"(?<=\s)<(?=\s)").finditer(src.blank, open_off, close):
            if _SIZE_BOUND.match(src.blank, m.end()):
                sites.add(m.start())
    return sites


@operator("relational_swap", "a comparison operator swapped: < and <=, > and >=, == and !=")
def relational_swap(src: Source) -> Iterator[Edit]:
    skip = _loop_bound_sites(src)
    for m in src.matches(r"(?<=\s)(<=|>=|==|!=|<|>)(?=\s)"):
        if m.start() not in skip:
            new = _REL_SWAP[m[0]]
            case = "opposite" if m[0] in ("==", "!=") else "includes" if new.endswith("=") else "excludes"
            yield src.splice(
                m.start(),
                m.end(),
                new,
                f"wrote '{new}' for '{m[0]}'",
                wrote=new,
                meant=m[0],
                case=case,
                **_sides(src, m.start(), m.end()),
            )


def _sides(src: Source, start: int, end: int) -> dict[str, str]:
    """The operands around the operator at [start, end): ``left`` and ``right``, as written."""
    return {
        "left": src.text[operand_before(src.blank, start) : start].strip(),
        "right": src.text[end : operand_after(src.blank, end)].strip(),
    }


def _is_binary(src: Source, off: int) -> bool:
    before = src.blank[:off].rstrip()
    if not before or before[-1] not in ")]'\"" and not re.search(r"[\w$]$", before):
        return False
    word = re.search(rf"({IDENT})$", before)
    return not (word and word[1] in ("return", "case", "yield", "throw", "new"))


def _stringy(src: Source, off: int) -> bool:
    """Whether the statement around ``off`` involves a String (so '+' may be a concatenation)."""
    a = max(src.blank.rfind(ch, 0, off) for ch in ";{}") + 1
    ends = [k for k in (src.blank.find(ch, off) for ch in ";{}") if k >= 0]
    b = min(ends) if ends else len(src.blank)
    if any(s < b and e > a and kind in ("str", "text") for s, e, kind in src.literals):
        return True
    for m in re.finditer(IDENT, src.blank[a:b]):
        if (src.type_at(m[0], a + m.start()) or "") in ("String", "StringBuilder", "char", "Character"):
            return True
    return bool(
        re.search(r"\.(toString|substring|charAt|toUpperCase|toLowerCase|trim|getName|name)\s*\(", src.blank[a:b])
    )


@operator("arithmetic_swap", "an arithmetic operator swapped: + and -, * and /, % for /")
def arithmetic_swap(src: Source) -> Iterator[Edit]:
    for m in src.matches(r"(?<=\s)([-+*/%])(=?)(?=\s)"):
        op = m[1]
        if not m[2] and not _is_binary(src, m.start()):
            continue
        if op == "+" and _stringy(src, m.start()):
            continue
        new = _ARITH_SWAP[op] + m[2]
        facts = {"wrote": new, "meant": m[0], "op": op, "new_op": _ARITH_SWAP[op]}
        if m[2]:
            facts.update(case="compound", **_sides(src, m.start(), m.end()))
        else:
            facts.update(
                case="binary",
                left=src.text[expr_start(src.blank, m.start()) : m.start()].strip(),
                right=src.text[m.end() : _operand_after(src.blank, m.end())].strip(),
            )
        yield src.splice(m.start(), m.end(), new, f"wrote '{new}' for '{m[0]}'", **facts)


def _for_parts(src: Source) -> Iterator[tuple[int, int, int, int]]:
    """(open paren, first ';', second ';', close paren) of every classic for header."""
    for _kw, _k, open_off, close in controls(src, ("for",)):
        first = src.blank.find(";", open_off, close)
        second = src.blank.find(";", first + 1, close) if first >= 0 else -1
        if second > 0:
            yield open_off, first, second, close


@operator("loop_start_off_by_one", "a for loop starts at 1 instead of 0")
def loop_start_off_by_one(src: Source) -> Iterator[Edit]:
    for open_off, first, second, _close in _for_parts(src):
        m = re.compile(r"=\s*(0)\s*$").search(src.blank, open_off, first)
        if m and src.in_body(m.start(1)):
            name = re.search(rf"({IDENT})\s*$", src.blank[open_off + 1 : m.start()])
            yield src.splice(
                m.start(1),
                m.end(1),
                "1",
                "started the loop at 1 instead of 0",
                name=name[1] if name else "",
                condition=src.code(first + 1, second),
            )


@operator("loop_bound_minus_one", "a for loop stops one step early ('i < n - 1')")
def loop_bound_minus_one(src: Source) -> Iterator[Edit]:
    for _open, first, second, close in _for_parts(src):
        m = re.compile(rf"\s*({IDENT})\s*(<=?)\s*([^;]+?)\s*$").match(src.blank, first + 1, second)
        if not m or re.search(r"&&|\|\||\?", m[3]) or not src.in_body(m.start(3)):
            continue
        bound = src.text[m.start(3) : m.end(3)]
        new = str(int(bound) - 1) if bound.isdigit() else f"{bound} - 1"
        last = bound if m[2] == "<=" else shift_int(bound, -1)
        update = src.blank[second + 1 : close].strip()
        unit = re.fullmatch(rf"{re.escape(m[1])}\s*\+\+|\+\+\s*{re.escape(m[1])}|{re.escape(m[1])}\s*\+=\s*1", update)
        yield src.splice(
            m.start(3),
            m.end(3),
            new,
            f"loop bound '{new}' instead of '{bound}'",
            name=m[1],
            op=m[2],
            wrote=new,
            meant=bound,
            last=last,
            case="unit" if unit else "step",
        )


@operator("wrong_initial_value", "a variable starts with the wrong value (count = 1, max = 0, found = true)")
def wrong_initial_value(src: Source) -> Iterator[Edit]:
    for var in src.locals:
        if var.kind != "local" or not var.init or not src.in_body(*var.init):
            continue
        text = src.text[var.init[0] : var.init[1]].strip()
        new = {
            "0": "1",
            "1": "0",
            "0.0": "1.0",
            "1.0": "0.0",
            "true": "false",
            "false": "true",
            "0L": "1L",
            "1L": "0L",
        }.get(text)
        if new is None and (
            re.fullmatch(rf"{IDENT}\[0\]", text) or re.fullmatch(r"(Integer|Long|Double)\.(MIN|MAX)_VALUE", text)
        ):
            new = "0"
        if new is not None:
            yield src.splice(
                *var.init,
                new,
                f"initialised '{var.name}' to {new} instead of {text}",
                name=var.name,
                wrote=new,
                meant=text,
                **_role(src, var, text, new),
            )


def _steers(src: Source, var, updates: list[re.Match]) -> bool:
    """Whether the variable may change the program's path: read in a condition, a ternary or an index.

    Only a value that no test depends on stays off by exactly the amount it started off by."""
    spans = [(m.start(), m.end()) for m in updates]
    headers = [(a, b) for _kw, _k, a, b in controls(src)]
    for m in re.compile(rf"(?<![\w$.]){re.escape(var.name)}(?![\w$])").finditer(src.blank, var.init[1], var.scope[1]):
        if any(a <= m.start() < b for a, b in spans):
            continue
        statement_start = max(src.blank.rfind(ch, 0, m.start()) for ch in ";{}") + 1
        statement_end = min(
            (k for k in (src.blank.find(ch, m.end()) for ch in ";{}") if k >= 0), default=len(src.blank)
        )
        statement = src.blank[statement_start:statement_end]
        inside_index = src.blank.rfind("[", statement_start, m.start()) > src.blank.rfind(
            "]", statement_start, m.start()
        )
        if any(a < m.start() < b for a, b in headers) or "?" in statement or inside_index:
            return True
    return False


def _role(src: Source, var, old: str, new: str) -> dict[str, str]:
    """How the variable is used: ``case`` sum (only +=, -=, ++, --), product (only *=), flag (a boolean),
    extreme (a running max or min's start) or other; ``by`` how far off a sum or count starts."""
    if old in ("true", "false"):
        return {"case": "flag"}
    if new == "0" and old not in ("1", "1L"):
        return {"case": "extreme"}
    name = re.escape(var.name)
    update = re.compile(rf"(?<![\w$.]){name}\s*(\+\+|--|[-+*/%&|^]?=(?!=))([^;]*)|(?:\+\+|--)\s*{name}(?![\w$])")
    found = list(update.finditer(src.blank, var.init[1], var.scope[1]))
    kinds = {m[1] or "++" for m in found}
    # A value added to itself (total += total) or scaled would not stay off by the same amount.
    self_ref = any(re.search(rf"(?<![\w$.]){name}(?![\w$])", m[2] or "") for m in found)
    if kinds and kinds <= {"++", "--", "+=", "-="} and not self_ref and not _steers(src, var, found):
        return {
            "case": "sum",
            "by": "one too large" if float(new.rstrip("L")) > float(old.rstrip("L")) else "one too small",
        }
    if kinds == {"*="} and new in ("0", "0L", "0.0"):
        return {"case": "product"}
    return {"case": "other"}


@operator("negated_condition", "a condition negated: a '!' dropped or added")
def negated_condition(src: Source) -> Iterator[Edit]:
    headers = controls(src, ("if", "while", "for"))
    for m in src.matches(r"!(?!=)"):
        keyword = next((kw for kw, _k, a, b in headers if a < m.start() < b), "")
        yield src.splice(
            m.start(),
            m.end(),
            "",
            f"dropped the '!' in '{src.snippet(m.start(), m.start() + 30)}'",
            case="dropped",
            keyword=keyword,
            operand=src.code(m.end(), _postfix_after(src.blank, m.end())),
        )
    for _kw, _k, open_off, close in controls(src, ("if",)):
        cond = src.blank[open_off + 1 : close].strip()
        if not cond or cond.startswith("!") or not src.in_body(open_off + 1, close):
            continue
        a, b = open_off + 1, close
        original = src.text[a:b].strip()
        simple = re.fullmatch(r"[\w$.]+(\([^()]*\))?", cond)
        new = f"!{original}" if simple else f"!({original})"
        yield src.splice(
            a,
            b,
            new,
            f"negated the if condition '{src.snippet(a, b)}'",
            case="added",
            condition=src.code(a, b),
            wrote=new,
        )


def _postfix_after(blank: str, off: int) -> int:
    """End of the operand of a unary operator at ``off``: a parenthesised group or a chain like ``a.b(c)[d]``."""
    while off < len(blank) and blank[off] == " ":
        off += 1
    end = off
    while end < len(blank):
        if blank[end] in "([":
            close = match_close(blank, end)
            if close < 0:
                break
            end = close + 1
        elif re.match(r"[\w$.]", blank[end]):
            end += 1
        else:
            break
    return end


def _param_types(src: Source, name: str, count: int) -> list[str] | None:
    found = [m.params for m in src.methods if m.name == name and len(m.params) == count]
    return [t for t, _n in found[0]] if len(found) == 1 else None


@operator("swapped_arguments", "two arguments of a call swapped")
def swapped_arguments(src: Source) -> Iterator[Edit]:
    for name, off, open_off, close, _qualified in calls(src):
        if src.line_of(open_off) != src.line_of(close):
            continue
        args = split_args(src.blank, open_off, close)
        if len(args) < 2:
            continue
        types = _param_types(src, name, len(args)) if not name.startswith("new ") else None
        before = src.blank[:off].rstrip()
        if types is None:
            prefixes = _LIB_SWAPPABLE.get(name, ())
            if not any(before.endswith(p) for p in prefixes):
                continue
            types = ["?"] * len(args)
            if name == "copyOfRange":
                types[0] = "array"
        for i in range(len(args) - 1):
            a, b = args[i], args[i + 1]
            left, right = src.text[a[0] : a[1]], src.text[b[0] : b[1]]
            if types[i] != types[i + 1] or left == right:
                continue
            line = src.lines[src.line_of(a[0])]
            col_a, col_b = src.pos(a[0])[1], src.pos(b[0])[1]
            new_line = line[:col_a] + right + line[col_a + len(left) : col_b] + left + line[col_b + len(right) :]
            receiver = src.blank[:off].rstrip()
            start = expr_start(src.blank, len(receiver) - 1) if receiver.endswith(".") else off
            callee = src.code(start, off + len(name))
            yield Edit(
                src.line_of(a[0]),
                "replace",
                new_line,
                f"swapped the arguments '{left}' and '{right}' of {name}",
                {"method": callee, "first": left, "second": right},
            )


@operator("wrong_return_variable", "returns another variable of the same type")
def wrong_return_variable(src: Source) -> Iterator[Edit]:
    for m in src.matches(rf"(?<![\w$])return\s+({IDENT})\s*;", group=1):
        var = src.visible(m[1], m.start(1))
        if var is None:
            continue
        others = []
        for cand in src.locals + src.fields:
            if cand.name == var.name or cand.type != var.type or cand.name in [o.name for o in others]:
                continue
            if src.visible(cand.name, m.start(1)) is cand:
                others.append(cand)
        others.sort(key=lambda v: (v.kind == "field", -v.offset))
        method = src.method_at(m.start(1))
        for cand in others[:3]:
            yield src.splice(
                m.start(1),
                m.end(1),
                cand.name,
                f"returned '{cand.name}' instead of '{var.name}'",
                wrote=cand.name,
                meant=var.name,
                method=method.name if method else "",
            )


@operator("string_identity_compare", "'==' instead of .equals() to compare objects")
def string_identity_compare(src: Source) -> Iterator[Edit]:
    for name, off, open_off, close, qualified in calls(src):
        if name != "equals" or not qualified or src.line_of(off) != src.line_of(close):
            continue
        args = split_args(src.blank, open_off, close)
        dot = src.blank.rfind(".", 0, off)
        start = expr_start(src.blank, dot)
        if len(args) != 1 or start >= dot or src.blank[start:dot].strip() in ("Objects", "Arrays", ""):
            continue
        receiver, arg = src.text[start:dot].strip(), src.text[args[0][0] : args[0][1]]
        bang = src.blank[:start].rstrip()
        facts = {"left": receiver, "right": arg, "type": src.type_at(receiver, start) or ""}
        if bang.endswith("!") and not bang.endswith("!="):
            a = len(bang) - 1
            yield src.splice(
                a,
                close + 1,
                f"{receiver} != {arg}",
                f"compared with '!=' instead of !{receiver}.equals",
                case="different",
                op="!=",
                wrote=f"{receiver} != {arg}",
                meant=f"!{receiver}.equals({arg})",
                **facts,
            )
        else:
            yield src.splice(
                start,
                close + 1,
                f"{receiver} == {arg}",
                f"compared with '==' instead of {receiver}.equals",
                case="same",
                op="==",
                wrote=f"{receiver} == {arg}",
                meant=f"{receiver}.equals({arg})",
                **facts,
            )


_INT_TYPES = ("int", "long", "short", "byte", "char", "Integer", "Long")


def _operand_after(blank: str, off: int) -> int:
    """End of the operand (a parenthesised group, or a name with an optional '()' / '[..]') starting at ``off``."""
    while off < len(blank) and blank[off] == " ":
        off += 1
    if off < len(blank) and blank[off] == "(":
        close = match_close(blank, off)
        return close + 1 if close > 0 else off
    m = re.compile(r"[\w$.]+(\(\s*\)|\[[^\]]*\])*").match(blank, off)
    return m.end() if m else off


def _all_int(src: Source, a: int, b: int) -> bool:
    """Whether the expression in [a, b) is made only of int-typed names, sizes and int literals."""
    text = src.blank[a:b]
    if a >= b or re.search(r"\d\.\d|\d[dDfF]\b|\.\d", text):
        return False
    pattern = re.compile(rf"(?<![\w$.])({IDENT})((?:\s*\.\s*{IDENT})*)(\s*\()?")
    for m in pattern.finditer(text):
        if m[1][0].isdigit():
            continue
        if re.fullmatch(r"\s*\.\s*(length|size)", m[2] or "") and (m[3] is None) == m[2].strip().endswith("length"):
            continue
        if m[3] or m[2] or src.type_at(m[1], a + m.start()) not in _INT_TYPES:
            return False
    return True


@operator("integer_division", "integer division where a double was computed ((double) or 1.0 dropped)")
def integer_division(src: Source) -> Iterator[Edit]:
    blank = src.blank
    for m in src.matches(r"\(\s*double\s*\)\s*"):
        end = _operand_after(blank, m.end())
        slash = re.compile(r"\s*/(?!=)\s*").match(blank, end)
        before = blank[: m.start()].rstrip()
        if slash:
            ok = _all_int(src, m.end(), end) and _all_int(src, slash.end(), _operand_after(blank, slash.end()))
        elif before.endswith("/") and not before.endswith("//"):
            cut = len(before) - 1
            ok = _all_int(src, m.end(), end) and _all_int(src, expr_start(blank, cut), cut)
        else:
            ok = False
        if ok:
            if slash:
                division = src.text[m.end() : _operand_after(blank, slash.end())]
            else:
                division = src.text[expr_start(blank, len(before) - 1) : end]
            yield src.splice(
                m.start(),
                m.end(),
                "",
                "dropped the (double) cast so the division is an int division",
                case="cast",
                division=" ".join(division.replace("(double)", "").split()),
            )
    for m in src.matches(r"(?<=/\s)(\d+)\.0\b|\b(\d+)\.0(?=\s*/)"):
        if m[1]:
            cut = blank.rfind("/", 0, m.start())
            ok = _all_int(src, expr_start(blank, cut), cut)
        else:
            slash = re.compile(r"\s*/\s*").match(blank, m.end())
            ok = _all_int(src, slash.end(), _operand_after(blank, slash.end()))
        if ok:
            digits = m[1] or m[2]
            if m[1]:
                division = src.text[expr_start(blank, cut) : m.start()] + digits
            else:
                division = digits + src.text[m.end() : _operand_after(blank, slash.end())]
            yield src.splice(
                m.start(),
                m.end(),
                digits,
                f"wrote '{digits}' for '{digits}.0' so the division is an int division",
                case="literal",
                division=" ".join(division.split()),
                digits=digits,
            )


@operator("and_or_swap", "'&&' and '||' swapped")
def and_or_swap(src: Source) -> Iterator[Edit]:
    for m in src.matches(r"&&|\|\|"):
        new = "||" if m[0] == "&&" else "&&"
        yield src.splice(
            m.start(),
            m.end(),
            new,
            f"wrote '{new}' for '{m[0]}'",
            wrote=new,
            meant=m[0],
            case="or" if new == "||" else "and",
            **_sides(src, m.start(), m.end()),
        )


@operator("removed_break", "a 'break' is deleted")
def removed_break(src: Source) -> Iterator[Edit]:
    for start, end, _fid in src.statements:
        text = src.blank[start:end].strip()
        if not src.in_body(end) or not re.fullmatch(r"(if\s*\(.*\)\s*)?break", text, re.S):
            continue
        li = src.line_of(end)
        if src.blines[li].strip() == text + ";":
            yield src.delete(li, f"deleted '{text};'", statement=f"{text};", case=_broken_out_of(src, end))


def _broken_out_of(src: Source, off: int) -> str:
    """What a ``break`` at ``off`` leaves: ``loop`` or ``switch`` (the innermost of them around it)."""
    frame = src.frame_at(off)
    while frame is not None and frame.kind == "block":
        if frame.keyword in ("for", "while", "do"):
            return "loop"
        if frame.keyword == "switch":
            return "switch"
        frame = src.frames[frame.parent] if frame.parent is not None else None
    return "loop"


@operator("accumulate_overwrite", "'total = x' instead of 'total += x'")
def accumulate_overwrite(src: Source) -> Iterator[Edit]:
    for m in src.matches(rf"({IDENT})(\s*)([-+*])=(?=\s)"):
        if src.type_at(m[1], m.start()) in ("String", None) or m[1] in KEYWORDS:
            continue
        value = src.text[m.end() : operand_after(src.blank, m.end())].strip()
        yield src.splice(
            m.start(3), m.end(), "=", f"wrote '{m[1]} =' for '{m[1]} {m[3]}='", name=m[1], op=m[3], value=value
        )


@operator("char_digit_value", "a digit char used as a number: the \"- '0'\" dropped")
def char_digit_value(src: Source) -> Iterator[Edit]:
    for start, end, kind in src.literals:
        if kind == "char" and src.text[start:end] == "'0'" and src.in_body(start, end):
            m = re.search(r"\s*-\s*$", src.blank[:start])
            if m:
                char = src.text[expr_start(src.blank, m.start()) : m.start()].strip()
                yield src.splice(m.start(), end, "", "used the char code instead of \"c - '0'\"", char=char)


@operator("min_max_swap", "Math.max and Math.min (or floor and ceil) swapped")
def min_max_swap(src: Source) -> Iterator[Edit]:
    swaps = {"max": "min", "min": "max", "floor": "ceil", "ceil": "floor"}
    for m in src.matches(r"\bMath\s*\.\s*(max|min|floor|ceil)\b", group=1):
        yield src.splice(
            m.start(1),
            m.end(1),
            swaps[m[1]],
            f"wrote Math.{swaps[m[1]]} for Math.{m[1]}",
            wrote=f"Math.{swaps[m[1]]}",
            meant=f"Math.{m[1]}",
            case=m[1],
        )


@operator("ignored_string_result", "a String method's result ignored ('s.trim();' for 's = s.trim();')")
def ignored_string_result(src: Source) -> Iterator[Edit]:
    for m in src.matches(rf"(?:^|[;{{}}])\s*(({IDENT})\s*=\s*)\2\s*\.\s*({_STRING_RESULT})\s*\(", re.M, group=1):
        if src.type_at(m[2], m.start(1)) == "String":
            yield src.splice(
                m.start(1), m.end(1), "", f"dropped '{m[2]} =' so the new String is thrown away", name=m[2], method=m[3]
            )
