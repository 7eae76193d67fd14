"""Inputs for a method from its parameter types, as Java expressions: edge cases first, then seeded random ones.

Types are read from their generic names as reflection gives them (``int[]``, ``java.util.List<java.lang.Integer>``,
``java.util.Map<java.lang.String, java.lang.Integer>``): ints, longs, doubles, floats, shorts, bytes, booleans,
chars and Strings, boxed or not, arrays of them (2-D included), and lists, sets and maps of them. Any other type
(a class of the program's own, a type variable) has no inputs: :func:`parse_type` gives None.

Edge cases: 0, 1, -1, MIN and MAX of the numbers, the empty string and array, one element, duplicates, sorted and
reversed arrays, negatives. Values stay small otherwise, so that a correct but slower program (a loop where the
reference has a formula) is not stopped for running out of time. A parameter's name and the requirement narrow
the values (:class:`Hints`): a ``sorted`` array is generated sorted, a count or size is not negative, a bound
the requirement states (``n >= 1``, "a non-negative n") is kept, so that a program is not judged on inputs
its task rules out.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

PRIMITIVES = {
    "int": "java.lang.Integer",
    "long": "java.lang.Long",
    "double": "java.lang.Double",
    "float": "java.lang.Float",
    "short": "java.lang.Short",
    "byte": "java.lang.Byte",
    "boolean": "java.lang.Boolean",
    "char": "java.lang.Character",
}
BOXES = {box: prim for prim, box in PRIMITIVES.items()}
LISTS = {
    "java.util.List": "java.util.ArrayList",
    "java.util.ArrayList": "java.util.ArrayList",
    "java.util.Collection": "java.util.ArrayList",
    "java.lang.Iterable": "java.util.ArrayList",
    "java.util.LinkedList": "java.util.LinkedList",
}
SETS = {
    "java.util.Set": "java.util.LinkedHashSet",
    "java.util.HashSet": "java.util.HashSet",
    "java.util.LinkedHashSet": "java.util.LinkedHashSet",
    "java.util.TreeSet": "java.util.TreeSet",
    "java.util.SortedSet": "java.util.TreeSet",
}
MAPS = {
    "java.util.Map": "java.util.LinkedHashMap",
    "java.util.HashMap": "java.util.HashMap",
    "java.util.LinkedHashMap": "java.util.LinkedHashMap",
    "java.util.TreeMap": "java.util.TreeMap",
    "java.util.SortedMap": "java.util.TreeMap",
}
SIZE_NAMES = re.compile(
    r"^(n|m|k|count|size|length|len|times|width|height|rows|cols|columns|steps|amount|"
    r"repeat|repeats|copies|digits|places|limit|capacity|number|num)$|count|size|length|times",
    re.IGNORECASE,
)
INDEX_NAMES = re.compile(
    r"^(i|j|index|idx|pos|position|from|to|start|end|begin|row|col|column|at)$|index|position", re.IGNORECASE
)
WORDS = [
    "",
    "a",
    "ab",
    "aa",
    "abc",
    "Hello",
    "hello world",
    "racecar",
    "Java",
    "  two  spaces ",
    "a,b,,c",
    "123",
    "AbC dEf",
    "x y z",
]
VOCABULARY = ["the", "a", "cat", "Dog", "and", "sun", "apple", "kiwi", "java", "level", "moon", "x"]
CHARS = ["a", "z", "A", "Z", "0", "9", " ", "!", "e", "x"]


@dataclass(frozen=True)
class JType:
    """A parameter's type: ``kind`` one of prim, box, string, array, list, set, map, object; ``name`` the
    primitive's name for prim and box, the class to build for a collection or an object."""

    kind: str
    name: str = ""
    items: tuple[JType, ...] = ()
    names: tuple[str, ...] = ()
    """an object's constructor's parameter names (kind ``object``: ``name`` is its class, ``items`` their types)"""

    @property
    def java(self) -> str:
        """How a declaration writes the type."""
        if self.kind == "prim":
            return self.name
        if self.kind == "box":
            return PRIMITIVES[self.name]
        if self.kind == "string":
            return "java.lang.String"
        if self.kind == "object":
            return self.name
        if self.kind == "array":
            return self.items[0].java + "[]"
        generic = {"list": "java.util.List", "set": "java.util.Set", "map": "java.util.Map"}[self.kind]
        return f"{generic}<{', '.join(i.boxed for i in self.items)}>"

    @property
    def boxed(self) -> str:
        return PRIMITIVES[self.name] if self.kind == "prim" else self.java

    @property
    def mutable(self) -> bool:
        """Whether a call can change the value it was given (what a void method's test looks at)."""
        return self.kind in ("array", "list", "set", "map")


def parse_type(text: str, objects: dict[str, tuple[tuple[str, str], ...]] | None = None) -> JType | None:
    """The type a reflected generic name denotes; None when no input can be made for it. ``objects``: the program's
    own classes that can be made, with their constructor's (type, name) parameters (``new Book("a", "b")``)."""
    text = text.strip()
    if text.endswith("[]"):
        inner = parse_type(text[:-2], objects)
        return JType("array", items=(inner,)) if inner and inner.kind not in ("list", "set", "map") else None
    if objects and text in objects:
        params = [parse_type(t) for t, _ in objects[text]]  # one level: an object made of plain values
        return JType("object", text, tuple(params), tuple(n for _, n in objects[text])) if all(params) else None
    if text in PRIMITIVES:
        return JType("prim", text)
    if text in BOXES:
        return JType("box", BOXES[text])
    if text == "java.lang.String":
        return JType("string")
    found = re.fullmatch(r"([\w.]+)<(.*)>", text)
    if not found:
        return None
    raw, args = found.group(1), [parse_type(a, objects) for a in _split_args(found.group(2))]
    if any(a is None or a.kind == "prim" for a in args):
        return None
    if raw in LISTS and len(args) == 1:
        return JType("list", LISTS[raw], tuple(args))
    if raw in SETS and len(args) == 1 and args[0].kind in ("box", "string"):
        return JType("set", SETS[raw], tuple(args))
    if raw in MAPS and len(args) == 2 and args[0].kind in ("box", "string"):
        return JType("map", MAPS[raw], tuple(args))
    return None


def _split_args(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "<"
        depth -= ch == ">"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


@dataclass(frozen=True)
class Hints:
    """What narrows a parameter's values: its lowest allowed number (None: any), whether its arrays are sorted
    (``strict``: without repeats)."""

    low: int | None = None
    sorted: bool = False
    strict: bool = False
    non_empty: bool = False
    index: bool = False
    """a position in an array or a string: small numbers, from -1 up"""
    examples: tuple[str, ...] = ()
    """the strings the requirement quotes ("apple:120"): edge cases, and the shape of random strings"""
    numbers: tuple[int, ...] = ()
    """the numbers the requirement names, each with its neighbours (the boundaries of its cases)"""
    nonzero: bool = False
    """the requirement rules 0 out ("den is never 0")"""
    ruled_out: tuple[str, ...] = ()
    """the extreme values the requirement rules out ("neither argument is Integer.MIN_VALUE")"""
    size: bool = False
    """a count, a size or a length (``n``, ``count``): never MIN_VALUE or MAX_VALUE, which no loop over it ends"""
    high: int | None = None
    """the highest allowed number (``between 0 and 9``, ``at most 30``, ``n <= 30``)"""

    def of_elements(self) -> Hints:
        """What an array's or a collection's elements keep of these hints."""
        return Hints(
            self.items[0] if self.items else self.low,
            examples=self.examples,
            numbers=self.numbers,
            high=self.items[1] if self.items else self.high,
        )

    items: tuple[int, int] | None = None
    """the range of an array's elements (``every element is between 0 and 9``)"""
    no_leading_zero: bool = False
    """an array of digits has no leading zeros (the requirement says so)"""


def hints_for(name: str, requirement: str) -> Hints:
    """The hints for a parameter called ``name`` under ``requirement`` (see the module's docstring)."""
    text = requirement.replace("`", "")
    word = rf"\b{re.escape(name)}\b" if name else r"(?!)"
    size = bool(name) and SIZE_NAMES.search(name) is not None
    low, high = _bounds(word, text)
    if low is None and size:
        low = 0
    sorted_ = (
        bool(re.search(r"\bsorted\b|ascending|non-decreasing|increasing order", text, re.I)) or "sorted" in name.lower()
    )
    strict = sorted_ and (
        bool(re.search(r"strictly|no (?:repeated|duplicate)|distinct|unique", text, re.I))
        or not re.search(r"duplicate|repeat|non-decreasing|equal", text, re.I)
    )
    items = re.search(
        r"(?:every|each|all)\s+(?:element|value|number|digit|entr(?:y|ies)|item)s?\b[^.]{0,20}?"
        r"between (-?\d+) and (-?\d+)",
        text,
        re.I,
    )
    return Hints(
        low=low,
        high=high,
        sorted=sorted_,
        strict=strict,
        size=size,
        non_empty=re.search(
            rf"non-empty|not empty|at least one (?:element|value|number|item)|{word}[^.]{{0,30}}\b"
            "never empty",
            text,
            re.I,
        )
        is not None,
        index=bool(name) and INDEX_NAMES.search(name) is not None,
        examples=tuple(dict.fromkeys(m.group(1) for m in re.finditer(r'"([^"\n]{1,40})"', requirement))),
        numbers=tuple(
            dict.fromkeys(
                n + d
                for m in re.finditer(r"(?<![\w.])-?\d{1,5}(?![\w.])", text)
                for n in [int(m.group(0))]
                for d in (-1, 0, 1)
            )
        ),
        nonzero=re.search(
            rf"{word}[^.]{{0,12}}\b(?:is never|is not|never|isn't|must not be|cannot be|!=)\s*"
            rf"(?:0|zero)\b|\b(?:non-zero|nonzero)\s+(?:\w+\s+)?{word}",
            text,
            re.I,
        )
        is not None,
        ruled_out=tuple(
            f"{box}.{end}_VALUE"
            for end in ("MIN", "MAX")
            for box in ("java.lang.Integer", "java.lang.Long")
            if re.search(
                rf"\b(?:not|never|neither|nor|no)\b[^.]{{0,50}}?\b(?:(?:Integer|Long)\.)?"
                rf"{end}_VALUE",
                text,
            )
        ),
        items=(int(items.group(1)), int(items.group(2))) if items else None,
        no_leading_zero=re.search(r"\bno leading zero", text, re.I) is not None,
    )


def _bounds(word: str, text: str) -> tuple[int | None, int | None]:
    """The lowest and highest value the requirement allows the parameter ``word`` (a regex of its name): ``n >= 1``,
    ``0 <= k <= n``, ``between 1 and 12``, "a non-negative n", "a positive n", ``at most 30``."""
    low = high = None
    found = re.search(rf"{word}\s*(>=|>|≥)\s*(-?\d+)", text) or re.search(rf"(-?\d+)\s*(<=|<|≤)\s*{word}", text)
    if found and found.group(1)[0] in "<>≥≤":
        low = int(found.group(2)) + (found.group(1) == ">")
    elif found:
        low = int(found.group(1)) + (found.group(2) == "<")
    found = re.search(rf"{word}\s*(<=|<|≤)\s*(-?\d+)", text) or re.search(
        rf"{word}(?:\s+is)?\s+at most (-?\d+)()", text, re.I
    )
    if found:
        high = int(found.group(2) if found.group(1)[:1] in "<≤" else found.group(1)) - (found.group(1) == "<")
    found = re.search(rf"{word}(?:\s+is)?\s+(?:between|from) (-?\d+) (?:and|to) (-?\d+)", text, re.I)
    if found:
        low, high = int(found.group(1)), int(found.group(2))
    if low is None and re.search(
        rf"(?:non-?negative|positive)\s+(?:\w+\s+){{0,2}}{word}|{word}[^.]{{0,40}}\b"
        r"(?:non-?negative|positive|at least (?:0|1|one))",
        text,
        re.I,
    ):
        positive = re.search(
            rf"(?<!non-)(?<!non)positive\b[^.]{{0,30}}{word}|{word}[^.]{{0,40}}\b(?<!non-)(?<!non)"
            r"positive|at least (?:1|one)",
            text,
            re.I,
        )
        low = 1 if positive else 0
    return low, high


class Values:
    """Values of one type under its hints, from a seeded generator; ``edge(i)`` is the i-th edge case (cycling),
    ``random()`` a random one, ``size`` (when set) the length arrays and collections get."""

    def __init__(self, jtype: JType, hints: Hints, rng: random.Random, extremes: bool = True, narrow: bool = False):
        self.type, self.hints, self.rng, self.extremes = jtype, hints, rng, extremes
        self.narrow = narrow
        """draw random values mostly from a few small ones (an object's calls then meet again: a value added is
        the one looked up, repeats happen)"""

    # numbers and other scalars ------------------------------------------------------------------

    def _scalar_edges(self, t: JType) -> list[str]:
        low = self.hints.low
        if t.kind == "string":
            return [_string(w) for w in dict.fromkeys([*WORDS[:2], *self.hints.examples, *WORDS[2:]])]
        if t.name == "boolean":
            return ["true", "false"]
        if t.name == "char":
            return [_char(c) for c in CHARS]
        numbers = (
            [0, 1, 2, -1, 3, 5]
            if self.hints.index
            else list(
                dict.fromkeys([0, 1, -1, 2, *self.hints.numbers, 10, -7, *([] if self.hints.size else [100]), 3, 5])
            )
        )
        extreme = (
            {}
            if self.hints.index
            else {
                "int": ("java.lang.Integer.MAX_VALUE", "java.lang.Integer.MIN_VALUE"),
                "long": ("java.lang.Long.MAX_VALUE", "java.lang.Long.MIN_VALUE"),
            }.get(t.name, ())
        )
        out = [_number(n, t.name) for n in numbers if self._allowed(n)]
        if t.name in ("double", "float"):
            out += [_number(x, t.name) for x in (0.5, -2.25, 1e-3) if self._allowed(x)]
        if self.extremes and not self.hints.size and self.hints.high is None:  # MAX_VALUE as a size: no loop ends
            out += [e for e in (extreme if low is None else extreme[:1]) if e not in self.hints.ruled_out]
        return [x for x in out if not (self.hints.nonzero and x in ("0", "0L", "0.0d", "0.0f"))]

    def _scalar_random(self, t: JType) -> str:
        text = self._any_random(t)
        one = {"long": "1L", "double": "1.0d", "float": "1.0f"}.get(t.name, "1")
        return one if self.hints.nonzero and text in ("0", "0L", "0.0d", "0.0f") else text

    def _any_random(self, t: JType) -> str:
        rng = self.rng
        if t.kind == "string":
            return _string(rng.choice(VOCABULARY[:4]) if self.narrow and rng.random() < 0.7 else self._random_text())
        if t.name == "boolean":
            return rng.choice(["true", "false"])
        if t.name == "char":
            return _char(rng.choice("abcxyzABCXYZ019 .!"))
        return _number(self._clamp(self._random_number(t.name)), t.name)

    def _random_number(self, prim: str) -> float:
        rng, low = self.rng, self.hints.low
        if self.narrow and rng.random() < 0.7:
            return rng.randint(max(low or 0, 0), max(low or 0, 0) + 9)
        if self.hints.index:
            return rng.randint(max(-1, low if low is not None else -1), 6)
        named = [x for x in self.hints.numbers if self._allowed(x)]
        if named and rng.random() < 0.3:
            return rng.choice(named)
        # a size stays small: an exponential but correct program (naive recursion) must finish where the reference
        # has a formula or a table
        lo, top = self.span(20 if self.hints.size else {"byte": 100, "short": 200}.get(prim, 40))
        if prim in ("double", "float"):
            return round(rng.uniform(lo, top), 2)
        wide = rng.random() >= 0.8 and self.hints.high is None and not self.hints.size
        return rng.randint(lo, top * 5 if wide else top)

    def span(self, width: int = 40) -> tuple[int, int]:
        """The range random numbers are drawn from: the allowed range, else about -20 to ``width``."""
        low, high = self.hints.low, self.hints.high
        lo = low if low is not None else (min(-20, high - width) if high is not None else -20)
        return lo, high if high is not None else max(lo, width) if low is None or low < width else low + width

    def _allowed(self, x: float) -> bool:
        return (self.hints.low is None or x >= self.hints.low) and (self.hints.high is None or x <= self.hints.high)

    def _clamp(self, x: float) -> float:
        if self.hints.low is not None:
            x = max(x, self.hints.low)
        return x if self.hints.high is None else min(x, self.hints.high)

    def _random_text(self) -> str:
        """A random string: shaped like one the requirement quotes (its digits and letters redrawn), words of a small
        vocabulary with repeats and spaces, or random characters."""
        rng, draw = self.rng, self.rng.random()
        if self.hints.examples and draw < 0.4:
            return re.sub(
                r"\d+|[A-Za-z]+",
                lambda m: (
                    str(rng.randint(0, 300))
                    if m.group(0).isdigit()
                    else rng.choice(VOCABULARY).capitalize()
                    if m.group(0)[0].isupper()
                    else rng.choice(VOCABULARY)
                ),
                rng.choice(self.hints.examples),
            )
        if draw < 0.7:
            return " ".join(rng.choice(VOCABULARY[:6]) for _ in range(rng.randint(1, 6)))
        alphabet = "abcdeABC xyz,.!019"
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10)))

    # any type -----------------------------------------------------------------------------------

    def edge(self, i: int, size: int | None = None) -> str:
        return self._make(self.type, i, size)

    def random(self, size: int | None = None) -> str:
        return self._make(self.type, None, size)

    def _make(self, t: JType, edge: int | None, size: int | None) -> str:
        if t.kind == "object":
            made = [
                Values(item, hints_for(name, ""), self.rng, False, self.narrow)._make(item, None, None)
                for item, name in zip(t.items, t.names, strict=True)
            ]
            return f"new {t.name}({', '.join(made)})"
        if t.kind in ("prim", "box", "string"):
            pool = self._scalar_edges(t)
            text = pool[edge % len(pool)] if edge is not None else self._scalar_random(t)
            return f"({t.boxed}) {text}" if t.kind == "box" and t.name in ("short", "byte") else text
        if t.kind == "array" and t.items[0].kind == "array":
            rows = self._length(edge, size)
            cols = rows if rows else 0
            return "new " + t.java + " {" + ", ".join(self._make(t.items[0], None, cols) for _ in range(rows)) + "}"
        items = self._items(t.items[0], edge, size) if t.kind != "map" else []
        if t.kind == "array":
            return "new " + t.java + " {" + ", ".join(items) + "}"
        if t.kind in ("list", "set"):
            return (
                f"new {t.name}<{t.items[0].boxed}>(java.util.Arrays.asList(new {t.items[0].boxed}[] {{"
                + ", ".join(items)
                + "}))"
            )
        keys = self._items(t.items[0], edge, size)
        entries = "; ".join(f"put({k}, {self._make(t.items[1], None, None)})" for k in keys)
        return (
            f"new {t.name}<{t.items[0].boxed}, {t.items[1].boxed}>() {{{{ {entries}; }}}}"
            if keys
            else f"new {t.name}<{t.items[0].boxed}, {t.items[1].boxed}>()"
        )

    def _length(self, edge: int | None, size: int | None) -> int:
        low = 1 if self.hints.non_empty else 0
        if size is not None:
            return max(low, size)
        if edge is not None:
            return max(low, (0, 3, 2, 3, 1, 5, 4, 2)[edge % 8])  # shape 1 (all equal) long enough to repeat
        return self.rng.randint(max(low, 0), 7)

    def _items(self, t: JType, edge: int | None, size: int | None) -> list[str]:
        n = self._length(edge, size)
        element = Values(t, self.hints.of_elements(), self.rng, False, self.narrow)
        shape = (edge or 0) % 8 if edge is not None else self.rng.randint(0, 7)
        if t.kind in ("prim", "box") and t.name not in ("boolean", "char"):
            numbers = self._numbers(n, shape, element)
            return [_number(x, t.name, t.kind == "box") for x in numbers]
        values = [element._make(t, None, None) for _ in range(n)]
        if n > 1 and shape in (3, 6):
            values[-1] = values[0]  # a repeat
        if self.hints.sorted:
            values = sorted(set(values) if self.hints.strict else values)
        return values

    def _numbers(self, n: int, shape: int, element: Values) -> list[float]:
        low = element.hints.low
        base, top = element.span()
        rng = self.rng
        named = [x for x in self.hints.numbers if element._allowed(x)]
        numbers = [rng.choice(named) if named and rng.random() < 0.25 else rng.randint(base, top) for _ in range(n)]
        if shape == 1 and n:
            numbers = [rng.randint(1, 9)] * n  # all equal
        elif shape == 2 and low is None:
            numbers = [-abs(x) - 1 for x in numbers]  # negatives
        elif shape == 3 and n > 1:
            numbers[-1] = numbers[0]  # a repeat
        elif shape == 4:
            numbers.sort(reverse=True)
        elif shape == 5:
            numbers = [rng.randint(max(base, 0), 9) for _ in range(n)]
        numbers = [element._clamp(x) for x in numbers]
        if self.hints.no_leading_zero and len(numbers) > 1 and numbers[0] == 0:
            numbers[0] = element._clamp(1)
        if self.hints.sorted:
            numbers = sorted(set(numbers)) if self.hints.strict else sorted(numbers)
        elif shape == 6:
            numbers.sort()
        if element.type.name in ("double", "float"):
            return [x + rng.choice((0, 0.5, 0.25)) for x in numbers]
        return numbers


def _number(x: float, prim: str, boxed: bool = False) -> str:
    if prim in ("double", "float"):
        text = repr(float(x))
        text = text + ("f" if prim == "float" else "d")
    elif prim == "long":
        text = f"{int(x)}L"
    else:
        text = str(int(x))
    if prim in ("short", "byte"):
        return f"(({prim}) {text})" if not boxed else f"(({PRIMITIVES[prim]}) ({prim}) {text})"
    return f"({text})" if text.startswith("-") else text


def _string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _char(c: str) -> str:
    return "'" + ("\\'" if c == "'" else "\\\\" if c == "\\" else c) + "'"


def elements(expression: str) -> list[str]:
    """The element expressions of a one-dimensional array or collection expression made here (``new int[] {1, 2}``,
    ``new java.util.ArrayList<...>(java.util.Arrays.asList(new java.lang.Integer[] {1, 2}))``); [] otherwise."""
    start, end = expression.find("{"), expression.rfind("}")
    if (
        start < 0
        or end < start
        or "{" in expression[start + 1 : end]
        or expression.startswith("new java.util.")
        and "Map" in expression.split("<", 1)[0]
    ):
        return []
    body = expression[start + 1 : end]
    items, depth, quote, current = [], 0, "", ""
    for i, ch in enumerate(body):
        if quote:
            quote = "" if ch == quote and body[i - 1] != "\\" else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(current.strip())
            current = ""
            continue
        current += ch
    return [*items, current.strip()] if current.strip() else items
