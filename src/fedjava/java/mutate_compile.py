"""Mutation operators of the ``compile`` family: the program parses, but ``javac`` rejects it."""

from __future__ import annotations

import re
from collections.abc import Iterator

from fedjava.java.mutate_source import (
    IDENT,
    KEYWORDS,
    Edit,
    Source,
    Var,
    calls,
    controls,
    expr_start,
    operand_after,
    registrar,
    split_args,
)

SPECS: list = []
operator = registrar(SPECS, "compile")

_METHOD_TYPOS = {
    "length": "lenght",
    "charAt": "charat",
    "substring": "subString",
    "equals": "equal",
    "toUpperCase": "toUppercase",
    "toLowerCase": "toLowercase",
    "isEmpty": "isempty",
    "indexOf": "indexof",
    "append": "apend",
    "contains": "contain",
    "containsKey": "containKey",
    "getOrDefault": "getOrDefualt",
    "max": "mx",
    "min": "mn",
    "abs": "absolute",
    "sqrt": "squareRoot",
    "pow": "power",
    "println": "printline",
    "toCharArray": "toCharArry",
    "toString": "tostring",
    "trim": "trimm",
    "split": "spilt",
    "parseInt": "parseint",
    "valueOf": "valueof",
    "isDigit": "isdigit",
    "isLetter": "isletter",
    "keySet": "keyset",
    "entrySet": "entryset",
    "getKey": "getkey",
    "getValue": "getvalue",
    "remove": "remvoe",
    "push": "psuh",
    "peek": "peak",
    "startsWith": "startWith",
    "endsWith": "endWith",
    "replace": "repalce",
    "compareTo": "compare",
    "size": "Size",
    "put": "Put",
    "add": "Add",
    "get": "Get",
    "reverse": "reversed",
    "isWhitespace": "isWhiteSpace",
    "isUpperCase": "isUppercase",
    "isLowerCase": "isLowercase",
    "round": "rnd",
    "floor": "flor",
    "hypot": "hypo",
    "sort": "Sort",
}
_TYPE_TYPOS = {
    "int": "Int",
    "String": "string",
    "boolean": "bool",
    "char": "Char",
    "StringBuilder": "Stringbuilder",
    "ArrayList": "Arraylist",
    "HashMap": "Hashmap",
    "HashSet": "Hashset",
    "Integer": "integer",
}
_UTIL_NAMES = (
    "List ArrayList LinkedList Map HashMap TreeMap LinkedHashMap Set HashSet TreeSet LinkedHashSet Deque ArrayDeque "
    "Queue PriorityQueue Stack Arrays Collections Iterator Scanner Objects Optional Random NoSuchElementException "
    "Comparator StringJoiner Collection"
).split()
_DOUBLE_HINT = re.compile(r"\d\.\d|\bMath\.(sqrt|pow|random|hypot|log|exp|sin|cos)\b|\(double\)|\bDouble\b")


def misspell(name: str, taken: set[str]) -> str:
    """A typo of ``name`` that is not a keyword and not already an identifier in ``taken``."""
    candidates = []
    if len(name) >= 4 and name[-1] != name[-2]:
        candidates.append(name[:-2] + name[-1] + name[-2])
    candidates.append(name[0].swapcase() + name[1:])
    if len(name) >= 3:
        candidates.append(name[:-1])
    candidates.append(name + "s")
    for cand in candidates:
        if cand != name and cand not in taken and cand not in KEYWORDS:
            return cand
    return name + "_"


def _locals_only(var: Var | None) -> bool:
    return var is not None and var.kind in ("local", "param", "for", "catch")


def _uses(src: Source) -> Iterator[tuple[re.Match, Var]]:
    """Every read or write of a local variable or parameter (not its declaration, not a call)."""
    for m in src.matches(rf"(?<![\w$.])({IDENT})(?![\w$])(?!\s*\()", group=1):
        name = m[1]
        if name in KEYWORDS:
            continue
        var = src.visible(name, m.start(1))
        if _locals_only(var) and var.offset != m.start(1):
            yield m, var


@operator("misspelled_variable", "a use of a local variable or parameter is misspelled")
def misspelled_variable(src: Source) -> Iterator[Edit]:
    taken = src.identifiers()
    for m, _var in _uses(src):
        typo = misspell(m[1], taken)
        yield src.splice(m.start(1), m.end(1), typo, f"misspelled '{m[1]}' as '{typo}'", wrote=typo, meant=m[1])


@operator("misspelled_method", "a method call is misspelled (s.lenght(), Math.mx, a typo of a own method)")
def misspelled_method(src: Source) -> Iterator[Edit]:
    taken = src.identifiers()
    for name, off, _open, _close, qualified in calls(src):
        if name.startswith("new ") or name in ("this", "super"):
            continue
        if name in src.declared and name not in _METHOD_TYPOS:
            typo = misspell(name, taken)
        elif qualified and name in _METHOD_TYPOS:
            typo = _METHOD_TYPOS[name]
        else:
            continue
        yield src.splice(
            off,
            off + len(name),
            typo,
            f"misspelled the method '{name}' as '{typo}'",
            wrote=typo,
            meant=name,
            case="own" if name in src.declared else "library",
        )


@operator("length_confusion", "array .length, String .length() and List .size() mixed up")
def length_confusion(src: Source) -> Iterator[Edit]:
    for m in src.matches(r"\.(length|size)(\s*\(\s*\))?(?![\w$])", group=1):
        target = src.text[expr_start(src.blank, m.start()) : m.start()].strip()
        if m[1] == "length" and not m[2]:
            yield src.splice(
                m.start(1),
                m.end(0),
                "length()",
                "wrote '.length()' for the array field '.length'",
                case="array",
                target=target,
                wrote=f"{target}.length()",
                meant=f"{target}.length",
            )
        elif m[1] == "length":
            yield src.splice(
                m.start(1),
                m.end(0),
                "length",
                "wrote '.length' for the String method '.length()'",
                case="string",
                target=target,
                wrote=f"{target}.length",
                meant=f"{target}.length()",
            )
        else:
            yield src.splice(
                m.start(1),
                m.end(0),
                "length",
                "wrote '.length' for '.size()'",
                case="collection",
                target=target,
                wrote=f"{target}.length",
                meant=f"{target}.size()",
            )


def _char_as_string(literal: str) -> str:
    inner = literal[1:-1]
    if inner == '"':
        inner = '\\"'
    elif inner == "\\'":
        inner = "'"
    return f'"{inner}"'


@operator("type_mismatch", "a value of the wrong type: a String for a number, a String for a char")
def type_mismatch(src: Source) -> Iterator[Edit]:
    for var in src.locals:
        if var.kind == "local" and var.init and var.type in ("int", "long", "short", "double"):
            a, b = var.init
            if re.fullmatch(r"-?\d+(\.\d+)?", src.text[a:b]) and src.in_body(a, b):
                value = src.text[a:b]
                yield src.splice(
                    a,
                    b,
                    f'"{value}"',
                    f"initialised the {var.type} '{var.name}' with the String \"{value}\"",
                    case="number",
                    type=var.type,
                    name=var.name,
                    value=value,
                )
    for start, end, kind in src.literals:
        if kind != "char" or not src.in_body(start, end):
            continue
        before, after = src.blank[:start].rstrip(), src.blank[end:].lstrip()
        var_decl = re.search(rf"\bchar\s+{IDENT}\s*=$", before)
        if before.endswith(("==", "!=")) or after.startswith(("==", "!=")) or var_decl:
            literal = src.text[start:end]
            new = _char_as_string(literal)
            yield src.splice(
                start, end, new, f"wrote the char {literal} as the String {new}", case="char", wrote=new, meant=literal
            )


def _plain_assign_before(src: Source, off: int) -> bool:
    before = src.blank[:off].rstrip()
    if before.endswith("return") and not re.search(r"[\w$]return$", before):
        return True
    return before.endswith("=") and (len(before) < 2 or before[-2] not in "=!<>+-*/%&|^")


@operator("lossy_conversion", "a narrowing conversion without a cast (double or long into int, int into char)")
def lossy_conversion(src: Source) -> Iterator[Edit]:
    for m in src.matches(r"(?<![\w$)\]])\(\s*(int|char|short|byte|float)\s*\)\s*"):
        if _plain_assign_before(src, m.start()):
            value = src.text[m.end() : operand_after(src.blank, m.end())].strip()
            yield src.splice(
                m.start(), m.end(), "", f"removed the cast '({m[1]})'", case="cast", cast=m[1], value=value
            )
    for var in src.locals:
        if var.kind != "local" or not var.init or var.type not in ("double", "long"):
            continue
        a, b = var.init
        init = src.blank[a:b]
        hint = _DOUBLE_HINT.search(init) if var.type == "double" else re.search(r"\d[lL]\b", init)
        names = re.findall(IDENT, init)
        if not hint and not any(src.type_at(n, a) == var.type for n in names):
            continue
        type_off = src.blank.find(var.type, var.decl_start, var.offset)
        if type_off >= 0 and src.in_body(type_off):
            yield src.splice(
                type_off,
                type_off + len(var.type),
                "int",
                f"declared '{var.name}' as int but gave it a {var.type} value",
                case="declared",
                name=var.name,
                type=var.type,
            )


def _last_statement(src: Source, method) -> tuple[int, int] | None:
    inside = [(s, e) for s, e, fid in src.statements if fid == method.frame]
    if not inside:
        return None
    start, end = max(inside, key=lambda se: se[1])
    if src.blank[end + 1 : method.close].strip():
        return None
    return start, end


def _remove_statement(src: Source, start: int, end: int, description: str, **facts: str) -> Edit | None:
    """Delete a statement: its whole line when it is alone there, else just its text."""
    a = start
    while a < end and src.blank[a].isspace():
        a += 1
    li = src.line_of(a)
    if src.line_of(end) != li:
        return None
    line_a, line_b = src.line_span(li)
    if not src.blank[line_a:a].strip() and not src.blank[end + 1 : line_b].strip():
        return src.delete(li, description, **facts)
    b = end + 1
    while b < line_b and src.blank[b] == " ":
        b += 1
    return src.splice(a, b, "", description, **facts)


@operator("missing_return", "the final return of a non-void method is deleted")
def missing_return(src: Source) -> Iterator[Edit]:
    for method in src.methods:
        if not method.returns_value or method.close < 0:
            continue
        last = _last_statement(src, method)
        if last and re.match(r"\s*return\b", src.blank[last[0] : last[1]]):
            statement = src.snippet(last[0], last[1] + 1)
            edit = _remove_statement(
                src,
                last[0],
                last[1],
                f"deleted '{statement}' ending {method.name}",
                statement=src.code(last[0], last[1] + 1),
                method=method.name,
                type=method.return_type or "",
            )
            if edit:
                yield edit


def _in_lambda(src: Source, off: int) -> bool:
    frame = src.frame_at(off)
    while frame is not None and frame.kind != "method":
        if frame.keyword == "lambda":
            return True
        frame = src.frames[frame.parent] if frame.parent is not None else None
    return False


@operator("missing_return_value", "'return;' without the value in a non-void method")
def missing_return_value(src: Source) -> Iterator[Edit]:
    for m in src.matches(r"(?<![\w$])return\s+([^;]+?)\s*;"):
        method = src.method_at(m.start())
        if method and method.returns_value and not _in_lambda(src, m.start()):
            value = src.snippet(m.start(1), m.end(1))
            yield src.splice(
                m.start(),
                m.end(),
                "return;",
                f"returned nothing instead of '{value}'",
                value=src.code(m.start(1), m.end(1)),
                method=method.name,
                type=method.return_type or "",
            )


def _read_later(src: Source, var: Var) -> bool:
    a, b = var.scope
    pattern = re.compile(rf"(?<![\w$.]){re.escape(var.name)}(?![\w$])")
    return any(m.start() != var.offset for m in pattern.finditer(src.blank, var.offset + 1, b))


@operator("uninitialized_variable", "a local variable's initializer is removed ('int total;')")
def uninitialized_variable(src: Source) -> Iterator[Edit]:
    for var in src.locals:
        if var.kind != "local" or not var.init or not src.in_body(var.offset):
            continue
        if src.line_of(var.offset) != src.line_of(var.init[1]) or not _read_later(src, var):
            continue
        a = var.offset + len(var.name)
        yield src.splice(
            a, var.init[1], "", f"removed the initializer of '{var.name}'", name=var.name, value=src.code(*var.init)
        )


@operator("unreachable_statement", "a statement after return, break or continue in the same block")
def unreachable_statement(src: Source) -> Iterator[Edit]:
    stmts = [(s, e, fid) for s, e, fid in src.statements if src.in_body(e)]
    for i, (start, end, fid) in enumerate(stmts):
        text = src.blank[start:end].strip()
        m = re.match(r"(return|break|continue)\b\s*(.*)$", text, re.S)
        if not m:
            continue
        li = src.line_of(end)
        if src.blines[li].strip() != text + ";":
            continue
        indent = src.indent(li)
        if m[1] == "return" and re.fullmatch(r"[A-Za-z_$][\w$.]*", m[2]) and m[2] not in KEYWORDS:
            new = f"{indent}System.out.println({m[2]});"
        else:
            prev = stmts[i - 1] if i else None
            if not prev or prev[2] != fid:
                continue
            ptext = src.text[prev[0] : prev[1] + 1].strip()
            pli = src.line_of(prev[1])
            if (
                "\n" in ptext
                or src.lines[pli].strip() != ptext
                or re.match(r"(return|break|continue|if|for|while)\b", ptext)
            ):
                continue
            if re.match(rf"{IDENT}(\s*<[^;]*>)?(\[\])*\s+{IDENT}\s*(=|;)", ptext):
                continue
            new = indent + ptext
        yield src.insert(
            li + 1, new, f"added '{new.strip()}' after '{text};'", added=new.strip(), after=f"{text};", exit=m[1]
        )


@operator("wrong_arg_count", "a call of a method or constructor defined in the file drops its last argument")
def wrong_arg_count(src: Source) -> Iterator[Edit]:
    for name, _off, open_off, close, _qualified in calls(src):
        target = name[4:] if name.startswith("new ") else name
        if target in ("this", "super") or target not in src.declared or target in src.varargs:
            continue
        args = split_args(src.blank, open_off, close)
        if not args or len(args) - 1 in src.declared[target] or src.line_of(open_off) != src.line_of(close):
            continue
        cut = args[-2][1] if len(args) >= 2 else open_off + 1
        dropped = src.snippet(*args[-1])
        yield src.splice(
            cut,
            args[-1][1],
            "",
            f"called {target} without its last argument '{dropped}'",
            method=target,
            dropped=src.code(*args[-1]),
            given=str(len(args) - 1),
            needed=str(len(args)),
            case="constructor" if name.startswith("new ") else "method",
        )


@operator("static_context", "an instance member used from a static method")
def static_context(src: Source) -> Iterator[Edit]:
    static_calls = {}
    for name, off, _open, _close, qualified in calls(src):
        caller = src.method_at(off)
        if not qualified and caller is not None and caller.is_static and caller.name != name:
            static_calls.setdefault(name, caller)
    for method in src.methods:
        if "private" in method.modifiers and method.is_static and method.name in static_calls:
            m = re.compile(r"\bstatic\s+").search(src.blank, method.header_start, method.open)
            if m:
                yield src.splice(
                    m.start(),
                    m.end(),
                    "",
                    f"made {method.name} an instance method but {static_calls[method.name].name} is static",
                    case="method",
                    method=method.name,
                    caller=static_calls[method.name].name,
                )
    for m in src.matches(rf"^[ \t]*({IDENT})\s*(=(?!=)|\+=|-=|\*=|\+\+|--)", re.M, group=1):
        method = src.method_at(m.start(1))
        var = src.visible(m[1], m.start(1))
        if method and method.is_static and var is not None and var.kind in ("local", "param"):
            yield src.splice(
                m.start(1),
                m.start(1),
                "this.",
                f"wrote 'this.{m[1]}' in the static method {method.name}",
                case="this",
                name=m[1],
                method=method.name,
            )


@operator("missing_import", "an import the program needs is deleted")
def missing_import(src: Source) -> Iterator[Edit]:
    for li, line in enumerate(src.blines):
        m = re.match(r"\s*import\s+(static\s+)?([\w.]+)(\.\*)?\s*;\s*$", line)
        if not m:
            continue
        rest = "\n".join(x for i, x in enumerate(src.blines) if i != li)
        if m[3]:
            names = _UTIL_NAMES if m[2] == "java.util" else []
        else:
            names = [m[2].rsplit(".", 1)[-1]]
        if any(re.search(rf"(?<![\w$.]){re.escape(n)}(?![\w$])", rest) for n in names):
            package = m[2] if m[3] else m[2].rsplit(".", 1)[0]
            yield src.delete(li, f"deleted '{line.strip()}'", imported=m[2] + (m[3] or ""), package=package)


@operator("duplicate_variable", "a variable is declared again where it was only assigned")
def duplicate_variable(src: Source) -> Iterator[Edit]:
    for m in src.matches(rf"(?:^|[;{{}}])[ \t]*({IDENT})\s*=(?!=)", re.M, group=1):
        var = src.visible(m[1], m.start(1))
        if var is not None and var.kind in ("local", "param", "for") and var.offset < m.start(1):
            in_header = any(a < m.start(1) < b for _kw, _k, a, b in controls(src, ("for",)))
            yield src.splice(
                m.start(1),
                m.start(1),
                var.type + " ",
                f"declared '{m[1]}' again as {var.type}",
                name=m[1],
                type=var.type,
                first_line=str(src.line_of(var.offset) + 1),
                case="for_header" if in_header else "statement",
            )


@operator("misspelled_type", "a type name is misspelled or wrongly capitalised (Int, string, bool, ...)")
def misspelled_type(src: Source) -> Iterator[Edit]:
    spans = [(v.decl_start, v.offset) for v in src.locals if v.kind in ("local", "for") and v.decl_start >= 0]
    pattern = re.compile(rf"(?<![\w$.])({'|'.join(_TYPE_TYPOS)})(?![\w$])")
    for a, b in spans:
        for m in pattern.finditer(src.blank, a, b):
            if src.in_body(m.start()):
                yield src.splice(
                    m.start(),
                    m.end(),
                    _TYPE_TYPOS[m[1]],
                    f"wrote the type '{m[1]}' as '{_TYPE_TYPOS[m[1]]}'",
                    wrote=_TYPE_TYPOS[m[1]],
                    meant=m[1],
                )
    for m in src.matches(r"\bnew\s+(StringBuilder|ArrayList|HashMap|HashSet)\b", group=1):
        yield src.splice(
            m.start(1),
            m.end(1),
            _TYPE_TYPOS[m[1]],
            f"wrote 'new {m[1]}' as 'new {_TYPE_TYPOS[m[1]]}'",
            wrote=_TYPE_TYPOS[m[1]],
            meant=m[1],
        )


@operator("undeclared_variable", "a local variable is used without its declaration ('total = 0;')")
def undeclared_variable(src: Source) -> Iterator[Edit]:
    for var in src.locals:
        if var.kind == "local" and var.init and var.decl_start >= 0 and src.in_body(var.decl_start):
            if src.line_of(var.decl_start) == src.line_of(var.offset) and src.blank[var.init[1] :].lstrip().startswith(
                ";"
            ):
                declared = src.snippet(var.decl_start, var.offset)
                yield src.splice(
                    var.decl_start,
                    var.offset,
                    "",
                    f"dropped the declaration '{declared}' of '{var.name}'",
                    name=var.name,
                    type=src.code(var.decl_start, var.offset),
                )
