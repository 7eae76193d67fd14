"""What to call on a model solution, and with which arguments: the first half of the tests made from it
(:mod:`fedjava.java.generate` runs them on the reference).

:func:`signatures` lists the reference's classes, constructors and methods without running any of its code
(``resources/Signatures.java``, on classes compiled with ``-parameters``, so parameters keep their names for
:func:`~fedjava.java.inputs.hints_for`). :func:`targets` picks what to call, as Java expressions: each
non-private static method of ``Solution`` with arguments from :mod:`fedjava.java.inputs` (a void one judged by
what it leaves in its array or collection arguments), and each other class through sequences of calls on a new
object ending in a query; where the requirement names some of them, only those.
"""

from __future__ import annotations

import random
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fedjava.errors import UserError
from fedjava.java import harness
from fedjava.java.inputs import Values, elements, hints_for, parse_type
from fedjava.java.runner import JAVAC_FLAGS, limits, parse_diagnostics
from fedjava.java.sandbox import Sandbox
from fedjava.java.sources import javac_source
from fedjava.java.tasks import TestCase

PRIVATE, STATIC, ABSTRACT = 0x2, 0x8, 0x400
SKIPPED_METHODS = ("main", "hashCode", "equals", "clone", "finalize", "compareTo")
MAX_STEPS = 8
"""The longest sequence of calls before an object's query."""


class GenerateError(UserError):
    """The reference solution cannot give tests (it does not compile, or has nothing to call)."""


@dataclass(frozen=True)
class Member:
    """A class (``name`` ``<class>``, ``returns`` its kind), constructor (``<init>``) or method of the reference."""

    owner: str
    name: str
    modifiers: int
    returns: str = ""
    params: tuple[tuple[str, str], ...] = ()
    """(type, name) of each parameter"""


# ---------------------------------------------------------------- what the reference declares


def signatures(reference: str, *, unsafe: bool = False) -> list[Member]:
    """The reference's classes, constructors (``name`` ``<init>``) and methods; GenerateError when it does not
    compile on its own."""
    with tempfile.TemporaryDirectory(prefix="fedjava-signatures-") as tmp:
        work = Path(tmp)
        (work / "Solution.java").write_text(javac_source(reference), encoding="utf-8")
        (work / "out").mkdir()
        box = Sandbox(work, writable=True, unsafe=unsafe)
        compiled = box.run(
            [
                "javac",
                *JAVAC_FLAGS,
                "-parameters",
                "-XDrawDiagnostics",
                "-encoding",
                "UTF-8",
                "-d",
                "out",
                "Solution.java",
            ],
            limits(60),
        )
        if compiled.returncode != 0:
            first = next(iter(parse_diagnostics(compiled.stderr)), None)
            where = f": line {first.line}: {first.message or first.key}" if first else ""
            raise GenerateError(f"the reference solution does not compile{where}")
        module = harness.place(harness.module_path(JAVAC_FLAGS, unsafe), work)
        listed = Sandbox(work, unsafe=unsafe, reads=(work,)).run(
            [
                "java",
                "-Xmx128m",
                "--module-path",
                box.path(module),
                "-m",
                f"{harness.MODULE}/{harness.MODULE}.Signatures",
                box.path(work / "out"),
            ],
            limits(30),
        )
    if listed.returncode != 0:
        raise RuntimeError(f"listing the reference's methods failed: {listed.stderr[-500:]}")
    members = []
    for line in listed.stdout.splitlines():
        parts = line.split("\t")
        if parts[0] == "@@CLASS":
            members.append(Member(parts[1], "<class>", int(parts[2]), parts[3]))
        elif parts[0] == "@@CTOR":
            members.append(Member(parts[1], "<init>", int(parts[2]), "", _pairs(parts[3:])))
        elif parts[0] == "@@METHOD":
            members.append(Member(parts[1], parts[3], int(parts[2]), parts[4], _pairs(parts[5:])))
    return members


def _pairs(fields: list[str]) -> tuple[tuple[str, str], ...]:
    return tuple((fields[i], fields[i + 1]) for i in range(0, len(fields) - 1, 2))


def _named(requirement: str, names: list[str], fallback: bool = True) -> set[str]:
    """Which of ``names`` the requirement mentions; all of them when it mentions none (``fallback``) or is empty."""
    words = set(re.findall(r"[A-Za-z_$][\w$]*", requirement))
    mentioned = {n for n in names if n in words}
    return mentioned or (set(names) if fallback or not requirement.strip() else set())


def targets(members: list[Member], requirement: str, rng: random.Random, inputs: int = 40, extremes: bool = True):
    """(label, candidate cases) for each method of Solution and each class to test (see :mod:`fedjava.java.generate`):
    at most ``inputs`` cases a method, and a class as many a query, up to three times; ``extremes``: MIN_VALUE and
    MAX_VALUE among the edge cases."""
    classes = [m for m in members if m.name == "<class>" and m.returns == "class" and not m.modifiers & ABSTRACT]
    statics = [
        m
        for m in members
        if m.owner == "Solution"
        and m.name not in ("<class>", "<init>")
        and m.modifiers & STATIC
        and not m.modifiers & PRIVATE
        and m.name not in SKIPPED_METHODS
        and not m.name.startswith("lambda$")
    ]
    ctors = {
        c.owner: sorted(
            (
                m
                for m in members
                if m.owner == c.owner
                and m.name == "<init>"
                and not m.modifiers & PRIVATE
                and all(parse_type(t) for t, _ in m.params)
            ),
            key=lambda m: len(m.params),
        )
        for c in classes
    }
    objects = {name: made[0].params for name, made in ctors.items() if made}  # what a parameter can be made of
    chosen = _named(requirement, [m.name for m in statics] + [c.owner for c in classes if c.owner != "Solution"])
    for method in statics:
        if method.name in chosen:
            cases = _static_cases(method, requirement, rng, inputs, extremes, objects)
            if cases:
                yield f"Solution.{method.name}", cases
    for cls in classes:
        if cls.owner == "Solution" or cls.owner not in chosen:
            continue
        methods = [
            m
            for m in members
            if m.owner == cls.owner
            and m.name not in ("<class>", "<init>")
            and not m.modifiers & (STATIC | PRIVATE)
            and m.name not in SKIPPED_METHODS
            and all(parse_type(t, objects) for t, _ in m.params)
        ]
        wanted = _named(requirement, [m.name for m in methods], fallback=False)  # a helper class: its fields only
        methods = [m for m in methods if m.name in wanted]
        queries = [m for m in methods if m.returns != "void"]
        if ctors[cls.owner] and queries:
            yield (
                cls.owner,
                _object_cases(cls.owner, ctors[cls.owner][0], methods, queries, requirement, rng, inputs, objects),
            )


# ---------------------------------------------------------------- candidate inputs


def _arguments(
    params,
    requirement: str,
    rng: random.Random,
    count: int,
    extremes: bool = True,
    narrow: bool = False,
    objects: dict | None = None,
) -> list[list[str]]:
    """Up to ``count`` distinct argument lists: edge cases (each parameter its i-th), then random ones; the arrays
    and collections of one list mostly share a length (the two arrays of a dot product). ``narrow``: random
    values mostly from a few small ones (:class:`~fedjava.java.inputs.Values`)."""
    values = [Values(parse_type(t, objects), hints_for(name, requirement), rng, extremes, narrow) for t, name in params]
    shared = sum(v.type.kind in ("array", "list", "set", "map") for v in values) > 1
    matrices = sum(v.type.kind == "array" and v.type.items[0].kind == "array" for v in values) > 1  # always square
    out: list[list[str]] = []
    seen: set[str] = set()
    for i in range(max(1, min(count // 2, 16)) if values else 1):
        # a third of the edge lists aligned (0, 0), (1, 1) ...; the others pair the scalars' edges differently, while
        # arrays and collections keep one length (two matrices of a product stay the same size)
        _add(
            out,
            seen,
            _with_members(
                [
                    v.edge(i if v.type.kind in ("array", "list", "set", "map") else i + j * (i % 3))
                    for j, v in enumerate(values)
                ],
                values,
                rng,
            ),
        )
    for _ in range(count * 4):
        if len(out) >= count:
            break
        size = rng.randint(0, 7) if shared and (rng.random() < 0.6 or matrices) else None
        _add(out, seen, _with_members([v.random(size) for v in values], values, rng))
    return out[:count]


def _with_members(args: list[str], values: list[Values], rng: random.Random) -> list[str]:
    """Half the time, a scalar argument is taken from another argument: an element of an array or collection of its
    type, a word of a String, a character of a String. The value searched for, counted or removed is then often
    there."""
    for i, value in enumerate(values):
        if value.type.kind not in ("prim", "box", "string") or value.hints.index or rng.random() < 0.5:
            continue
        for j, other in enumerate(values):
            if j == i:
                continue
            found = []
            if other.type.kind in ("array", "list", "set") and other.type.items[0].boxed == value.type.boxed:
                found = elements(args[j])
            elif (
                other.type.kind == "string"
                and args[j].startswith('"')
                and value.type.boxed in ("java.lang.String", "java.lang.Character")
            ):
                text = args[j][1:-1]
                pieces = text.split(" ") if value.type.kind == "string" else list(text.replace("\\", ""))
                found = [f'"{w}"' if value.type.kind == "string" else f"'{w}'" for w in pieces if w and w != "'"]
            if found:
                args[i] = rng.choice(found)
                break
    return args


def _add(out: list[list[str]], seen: set[str], args: list[str]) -> None:
    key = "\t".join(args)
    if key not in seen:
        seen.add(key)
        out.append(args)


def _static_cases(
    method: Member,
    requirement: str,
    rng: random.Random,
    inputs: int,
    extremes: bool,
    objects: dict,
) -> list[TestCase]:
    types = [parse_type(t, objects) for t, _ in method.params]
    if any(t is None for t in types):
        return []
    mutable = [i for i, t in enumerate(types) if t.mutable]
    if method.returns == "void" and not mutable:
        return []  # nothing to look at
    cases = []
    for args in _arguments(method.params, requirement, rng, inputs, extremes, objects=objects):
        if method.returns != "void":
            cases.append(TestCase(f"Solution.{method.name}({', '.join(args)})", "null", generated=True))
            continue
        setup = " ".join(f"var a{i} = {arg};" for i, arg in enumerate(args))
        names = ", ".join(f"a{i}" if i in mutable else arg for i, arg in enumerate(args))
        shown = (
            f"a{mutable[0]}"
            if len(mutable) == 1
            else "java.util.Arrays.asList(new java.lang.Object[] {" + ", ".join(f"a{i}" for i in mutable) + "})"
        )
        cases.append(TestCase(shown, "null", f"{setup} Solution.{method.name}({names});", generated=True))
    return cases


def _object_cases(
    owner: str,
    ctor: Member,
    methods: list[Member],
    queries: list[Member],
    requirement: str,
    rng: random.Random,
    inputs: int,
    objects: dict,
) -> list[TestCase]:
    """Sequences of calls on a new object, each ending in a query (a method that returns a value): mostly calls that
    change the object (void or boolean methods: add, remove, vote), with arguments drawn from a few small values and,
    half the time, from what the object was already given, so that what was added is what is looked up."""
    made = _arguments(ctor.params, requirement, rng, inputs, extremes=False, narrow=True)
    calls = {
        m: _arguments(m.params, requirement, rng, 12, extremes=False, narrow=True, objects=objects) for m in methods
    }
    changers = [m for m in methods if m.returns in ("void", "boolean")] or methods
    wanted = inputs * min(len(queries), 3)
    cases, seen = [], set()
    for n in range(wanted * 3):
        if len(cases) >= wanted:
            break
        steps = n % (MAX_STEPS + 1) if n < 2 * (MAX_STEPS + 1) else rng.randint(0, MAX_STEPS)
        built = made[n % len(made)]
        given: dict[str, list[str]] = {}  # the plain values the object was given so far, by type
        _remember(given, ctor.params, built, objects)
        setup = [f"var obj = new {owner}({', '.join(built)});"]
        for _ in range(steps):
            step = rng.choice(changers if rng.random() < 0.7 else methods)
            args = _reuse(given, step.params, rng.choice(calls[step]), requirement, rng, objects)
            _remember(given, step.params, args, objects)
            setup.append(f"obj.{step.name}({', '.join(args)});")
        query = queries[n % len(queries)]
        call = f"obj.{query.name}({', '.join(_reuse(given, query.params, rng.choice(calls[query]), requirement, rng, objects))})"
        key = " ".join(setup) + call
        if key not in seen:
            seen.add(key)
            cases.append(TestCase(call, "null", " ".join(setup), generated=True))
    return cases


def _remember(given: dict[str, list[str]], params, args: list[str], objects: dict) -> None:
    """Add the plain values among ``args`` (and the elements of its arrays and collections) to ``given``."""
    for (kind, _), arg in zip(params, args, strict=True):
        jtype = parse_type(kind, objects)
        if jtype is None or jtype.kind == "object":
            continue
        if jtype.kind in ("prim", "box", "string"):
            given.setdefault(jtype.boxed, []).append(arg)
        elif jtype.kind in ("array", "list", "set") and jtype.items[0].kind in ("prim", "box", "string"):
            given.setdefault(jtype.items[0].boxed, []).extend(elements(arg))


def _reuse(
    given: dict[str, list[str]], params, args: list[str], requirement: str, rng: random.Random, objects: dict
) -> list[str]:
    """``args``, each plain one (not a position) replaced half the time by a value of its type given before."""
    out = []
    for (kind, name), arg in zip(params, args, strict=True):
        jtype = parse_type(kind, objects)
        pool = given.get(jtype.boxed, []) if jtype is not None and jtype.kind in ("prim", "box", "string") else []
        out.append(rng.choice(pool) if pool and not hints_for(name, requirement).index and rng.random() < 0.5 else arg)
    return out
