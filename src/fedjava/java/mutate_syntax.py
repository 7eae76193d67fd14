"""Mutation operators of the ``syntax`` family: slips that ``javac`` reports while parsing."""

from __future__ import annotations

import re
from collections.abc import Iterator

from fedjava.java.mutate_source import (
    IDENT,
    Edit,
    Source,
    controls,
    match_close,
    operand_after,
    operand_before,
    registrar,
)

SPECS: list = []
operator = registrar(SPECS, "syntax")

_KEYWORD_TYPOS = {
    "return": "retrun",
    "while": "whlie",
    "else": "esle",
    "for": "fro",
    "if": "If",
    "break": "brake",
    "continue": "contine",
    "new": "New",
}


def _statement_ends(src: Source) -> Iterator[tuple[int, int]]:
    """(start, offset of ';') of every non-empty statement in a method body."""
    for start, end, _fid in src.statements:
        if src.in_body(end) and src.blank[start:end].strip():
            yield start, end


@operator("missing_semicolon", "the ';' ending a statement is missing")
def missing_semicolon(src: Source) -> Iterator[Edit]:
    for start, end in _statement_ends(src):
        statement = src.snippet(start, end)
        yield src.splice(end, end + 1, "", f"removed ';' after '{statement}'", statement=src.code(start, end))


@operator("missing_closing_brace", "a '}' closing an inner block is missing (its line deleted)")
def missing_closing_brace(src: Source) -> Iterator[Edit]:
    for frame in src.frames:
        if frame.kind != "block" or frame.method is None or frame.close < 0 or not src.body[frame.close]:
            continue
        li = src.line_of(frame.close)
        if src.blines[li].strip() == "}":
            header = src.snippet(frame.header_start, frame.open)
            yield src.delete(
                li,
                f"removed the '}}' closing '{header} {{'",
                header=src.code(frame.header_start, frame.open),
                header_line=str(src.line_of(frame.open) + 1),
            )


@operator("missing_opening_brace", "the '{' opening an if/else/for/while block is missing")
def missing_opening_brace(src: Source) -> Iterator[Edit]:
    for frame in src.frames:
        if frame.kind != "block" or frame.keyword not in ("if", "else", "for", "while") or not src.body[frame.open]:
            continue
        li, col = src.pos(frame.open)
        if src.blines[li][col + 1 :].strip() or src.line_of(frame.close) == li:
            continue
        start = frame.open
        while start > 0 and src.blank[start - 1] == " ":
            start -= 1
        header = src.snippet(frame.header_start, frame.open)
        yield src.splice(
            start,
            frame.open + 1,
            "",
            f"removed the '{{' after '{header}'",
            header=src.code(frame.header_start, frame.open),
            keyword=frame.keyword,
        )


def _closing_parens(src: Source) -> Iterator[tuple[int, str, dict[str, str]]]:
    """Offsets of ')' that close a control condition or end a statement, with a label and the facts.

    Facts: ``case`` (condition or call), ``code`` (the parenthesised code: ``if (x > 0)``, ``foo(a, b)``) and
    for a condition its ``keyword``.
    """
    seen = set()
    for keyword, kw, open_off, close in controls(src):
        if src.line_of(open_off) == src.line_of(close) and src.in_body(close):
            seen.add(close)
            yield (
                close,
                f"the {keyword} condition",
                {"case": "condition", "keyword": keyword, "code": src.code(kw, close + 1)},
            )
    for start, end in _statement_ends(src):
        k = end
        while k > start and src.blank[k - 1].isspace():
            k -= 1
        if k > start and src.blank[k - 1] == ")" and k - 1 not in seen:
            open_off = _matching_open(src.blank, k - 1)
            if open_off >= 0 and src.line_of(open_off) == src.line_of(k - 1):
                yield k - 1, f"'{src.snippet(start, k)}'", {"case": "call", "code": src.code(start, k)}


def _matching_open(blank: str, close: int) -> int:
    depth = 0
    for k in range(close, -1, -1):
        if blank[k] == ")":
            depth += 1
        elif blank[k] == "(":
            depth -= 1
            if depth == 0:
                return k
    return -1


@operator("missing_close_paren", "a ')' closing a condition or a call is missing")
def missing_close_paren(src: Source) -> Iterator[Edit]:
    for off, what, facts in _closing_parens(src):
        yield src.splice(off, off + 1, "", f"removed the ')' closing {what}", **facts)


@operator("extra_close_paren", "an extra ')' after a condition or a call")
def extra_close_paren(src: Source) -> Iterator[Edit]:
    for off, what, facts in _closing_parens(src):
        yield src.splice(off, off + 1, "))", f"added an extra ')' after {what}", **facts)


@operator("unclosed_string", "a string literal lacks its closing quote")
def unclosed_string(src: Source) -> Iterator[Edit]:
    for start, end, kind in src.literals:
        if kind == "str" and end - start >= 2 and src.text[end - 1] == '"' and src.in_body(start, end):
            yield src.splice(
                end - 1, end, "", f"removed the closing quote of {src.text[start:end]}", literal=src.text[start:end]
            )


@operator("misspelled_keyword", "a keyword is misspelled (retrun, whlie, esle, fro, If, brake, ...)")
def misspelled_keyword(src: Source) -> Iterator[Edit]:
    pattern = rf"(?<![\w$.])({'|'.join(_KEYWORD_TYPOS)})(?![\w$])"
    for m in src.matches(pattern, group=1):
        word = m[1]
        if word == "return" and re.match(rf"\s+{IDENT}\s*;", src.blank[m.end() :]):
            continue  # 'retrun total;' would declare a variable of type retrun: a semantic error
        typo = _KEYWORD_TYPOS[word]
        yield src.splice(m.start(1), m.end(1), typo, f"misspelled '{word}' as '{typo}'", wrote=typo, meant=word)


@operator("else_without_if", "a ';' after an if condition detaches its else")
def else_without_if(src: Source) -> Iterator[Edit]:
    for frame in src.frames:
        if frame.kind != "block" or frame.keyword != "if" or frame.close < 0 or not src.body[frame.open]:
            continue
        after_close = re.match(r"\s*else\b", src.blank[frame.close + 1 :])
        if not after_close:
            continue
        else_line = src.line_of(frame.close + after_close.end()) + 1
        m = re.compile(r"\bif\s*\(").search(src.blank, frame.header_start, frame.open)
        if not m:
            continue
        close = match_close(src.blank, m.end() - 1)
        if close > 0 and src.line_of(close) == src.line_of(frame.open):
            condition = src.snippet(m.start(), close + 1)
            yield src.splice(
                close + 1,
                close + 1,
                ";",
                f"added ';' after '{condition}'",
                condition=src.code(m.start(), close + 1),
                else_line=str(else_line),
            )


@operator("assign_for_equals", "'=' written for '==' in an if/while condition")
def assign_for_equals(src: Source) -> Iterator[Edit]:
    for keyword, _kw, open_off, close in controls(src, ("if", "while")):
        for m in re.compile(r"(?<=\s)==(?=\s)").finditer(src.blank, open_off, close):
            if src.in_body(m.start()):
                left = src.text[operand_before(src.blank, m.start()) : m.start()].strip()
                right = src.text[m.end() : operand_after(src.blank, m.end())].strip()
                yield src.splice(
                    m.start(),
                    m.end(),
                    "=",
                    f"wrote '=' for '==' in the {keyword} condition",
                    keyword=keyword,
                    left=left,
                    right=right,
                )


@operator("for_header_comma", "a ',' for the first ';' in a for header")
def for_header_comma(src: Source) -> Iterator[Edit]:
    for _keyword, _kw, open_off, close in controls(src, ("for",)):
        semi = src.blank.find(";", open_off, close)
        if semi > 0 and src.in_body(semi):
            yield src.splice(
                semi, semi + 1, ",", "wrote ',' for the first ';' in the for header", init=src.code(open_off + 1, semi)
            )
