"""Very similar submissions: pairs of students whose programs are the same once names and layout are set aside.

A teacher wants to know where to look twice, not a verdict: this module never says "plagiarism". Two students
solving one small task often write much the same program, and a pair is only a pair to look at.

How: each program becomes its list of Java tokens with comments and whitespace dropped, identifiers turned into
``ID``, and number, character and string literals into ``NUM``, ``CHR`` and ``STR`` (keywords, operators and
punctuation stay), so renamed variables, other brace styles, new comments or changed messages do not hide a copy.
The similarity of two lists is difflib's ratio ``2 * M / T``: ``M`` tokens matched in order, in blocks, out of the
``T`` tokens of both (1.0: the same token list). A pair at or above :data:`VERY_SIMILAR` is reported; programs
shorter than :data:`MIN_TOKENS` are left out, since every short correct answer to a small task looks alike.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

VERY_SIMILAR = 0.9
MIN_TOKENS = 40
_TOKEN_RE = re.compile(
    r'''
    (?P<comment>//[^\n]*|/\*.*?(?:\*/|\Z))
  | (?P<text>"""(?:\\.|[^\\])*?(?:"""|\Z)|"(?:\\.|[^"\\\n])*"?)
  | (?P<char>'(?:\\.|[^'\\\n])*'?)
  | (?P<number>(?:0[xX][\da-fA-F_]+|0[bB][01_]+|(?:\d[\d_]*)?\.?\d[\d_]*(?:[eE][+-]?\d+)?)[lLfFdD]?)
  | (?P<word>[A-Za-z_$][\w$]*)
  | (?P<space>\s+)
  | (?P<operator>>>>=|<<=|>>=|>>>|\.\.\.|->|::|\+\+|--|&&|\|\||[=!<>+\-*/%&|^]=|<<|>>|\S)
''',
    re.VERBOSE | re.DOTALL,
)
KEYWORDS = frozenset(
    """abstract assert boolean break byte case catch char class const continue default do double else
enum extends final finally float for goto if implements import instanceof int interface long native new package
private protected public return short static strictfp super switch synchronized this throw throws transient try
void volatile while var record yield true false null""".split()
)
_LITERALS = {"text": "STR", "char": "CHR", "number": "NUM"}


@dataclass(frozen=True)
class SimilarPair:
    """Two students (in id order) whose submissions are very similar, and how similar (0 to 1)."""

    first: str
    second: str
    similarity: float
    identical: bool
    """the two files are the same bytes"""


def normalised_tokens(code: str) -> list[str]:
    """``code`` as tokens, comments and whitespace dropped, identifiers and literals replaced by their kind."""
    tokens = []
    for match in _TOKEN_RE.finditer(code):
        kind = match.lastgroup
        if kind in ("comment", "space"):
            continue
        if kind == "word":
            word = match.group()
            tokens.append(word if word in KEYWORDS else "ID")
        else:
            tokens.append(_LITERALS.get(kind, match.group()))
    return tokens


def similarity(first: list[str], second: list[str]) -> float:
    """difflib's ratio of two token lists: the share of their tokens that match, in order (1.0: the same)."""
    return difflib.SequenceMatcher(None, first, second, autojunk=False).ratio()


def similar_pairs(
    programs: dict[str, str],
    digests: dict[str, str] | None = None,
    threshold: float = VERY_SIMILAR,
    min_tokens: int = MIN_TOKENS,
) -> list[SimilarPair]:
    """The pairs of ``programs`` (student id -> code) at or above ``threshold``, most similar first.

    ``digests`` (student id -> sha256 of the file) marks pairs of identical files. difflib's cheap upper bounds
    are tried first, so a class of a few hundred students takes seconds, not minutes.
    """
    tokens = {student: normalised_tokens(code) for student, code in programs.items()}
    students = sorted(s for s, t in tokens.items() if len(t) >= min_tokens)
    digests = digests or {}
    pairs = []
    for i, first in enumerate(students):
        matcher = difflib.SequenceMatcher(None, autojunk=False)
        matcher.set_seq2(tokens[first])
        for second in students[i + 1 :]:
            matcher.set_seq1(tokens[second])
            if matcher.real_quick_ratio() < threshold or matcher.quick_ratio() < threshold:
                continue
            ratio = matcher.ratio()
            if ratio >= threshold:
                same = bool(digests.get(first)) and digests.get(first) == digests.get(second)
                pairs.append(SimilarPair(first, second, round(ratio, 3), same))
    return sorted(pairs, key=lambda p: (-p.similarity, p.first, p.second))


def similar_to(pairs: list[SimilarPair]) -> dict[str, str]:
    """Per student, the others of their pairs with the measure: ``{"alice": "bob (0.97), carol (1.00)"}``."""
    others: dict[str, list[tuple[str, float]]] = {}
    for pair in pairs:
        others.setdefault(pair.first, []).append((pair.second, pair.similarity))
        others.setdefault(pair.second, []).append((pair.first, pair.similarity))
    return {
        student: ", ".join(f"{other} ({value:.2f})" for other, value in sorted(found))
        for student, found in others.items()
    }
