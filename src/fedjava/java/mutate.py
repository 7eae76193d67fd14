"""Inject one realistic student error into a correct Java program.

Each :class:`Operator` finds every place where it applies in a program and returns one
:class:`Mutant` per place: the whole program with exactly one change, nearly always to a single
line (some operators delete a line, ``unreachable_statement`` inserts one). Operators come in four
families, named after the kind of error a student would usually get:

* ``syntax``: ``javac`` fails while parsing (missing ``;``, ``}``, ``)``, misspelled keyword, ...);
* ``compile``: the program parses but ``javac`` rejects it (unknown symbol, type mismatch, missing
  return, uninitialised variable, ...);
* ``runtime``: it compiles and then throws or never ends (index out of bounds, division by zero,
  null dereference, endless loop or recursion, ...);
* ``logic``: it compiles and runs but computes wrong values (operator swaps, off-by-one bounds,
  wrong initial value, ...).

The family is only what the operator usually produces; the label of a mutant must always be taken
from what ``javac`` and the JVM report (see :mod:`fedjava.java.runner`), because a mutant can
compile when the operator meant a compile error, or still pass every test.

Operators only edit code inside method bodies, so method signatures and class names, which the
generated test driver calls, stay intact (``static_context`` is the one exception: it may drop
``static`` from a *private* helper, which the driver cannot call). String and char literals and
comments are never touched except by operators about literals. Everything is deterministic: the
same program and the same ``random.Random`` seed give the same mutants in the same order.

Example::

    import random
    from fedjava.java.mutate import OPERATORS, sample_mutants

    mutants = sample_mutants(code, random.Random(0), per_operator=1)
    for m in mutants:
        print(m.family, m.operator, m.line, m.original_line.strip(), "->", m.mutated_line.strip())
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from fedjava.java import mutate_compile, mutate_logic, mutate_runtime, mutate_syntax
from fedjava.java.mutate_source import Edit, Source, analyse

FAMILIES = ("syntax", "compile", "runtime", "logic")


@dataclass(frozen=True)
class Mutant:
    """One mutated program.

    Attributes:
        operator: Name of the operator that made it, e.g. ``"missing_semicolon"``.
        family: The family the operator usually produces: syntax, compile, runtime or logic.
        code: The whole mutated program.
        line: 1-based line of the change in the mutated code (for a deleted line, the line that
            took its place, i.e. where it should be put back).
        original_line: The line before the change, with its indentation (the fix). For a deleted
            line the deleted line; for an inserted line ``""``.
        mutated_line: The line after the change; ``""`` when the line was deleted.
        description: Short human text, e.g. ``"removed ';' after 'return total'"``.
        facts: What the operator changed, in the program's own words, for the explanation templates of
            :mod:`fedjava.dataset.explain` (e.g. ``{"wrote": "<=", "meant": "<", "left": "i", ...}``);
            empty for a hand-made mutant.
    """

    operator: str
    family: str
    code: str
    line: int
    original_line: str
    mutated_line: str
    description: str
    facts: dict[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Operator:
    """A named way to inject one error.

    Attributes:
        name: Operator name, unique in :data:`OPERATORS`.
        family: syntax, compile, runtime or logic.
        description: What the operator does, in a few words.
    """

    name: str
    family: str
    description: str
    finder: Callable[[Source], Iterable[Edit]] = field(repr=False, compare=False, default=lambda src: ())

    def sites(self, code: str) -> list[Mutant]:
        """Every mutant this operator makes from ``code``, one per place it applies.

        Args:
            code: A Java program (normally one that compiles and passes its tests).

        Returns:
            The mutants in source order; no two have the same code and none equals ``code``.
        """
        src = analyse(code)
        seen = {code}
        mutants = []
        for edit in self.finder(src):
            mutant = _apply(src, edit, self)
            if mutant.code not in seen:
                seen.add(mutant.code)
                mutants.append(mutant)
        mutants.sort(key=lambda m: m.line)
        return mutants


def _apply(src: Source, edit: Edit, op: Operator) -> Mutant:
    lines = list(src.lines)
    if edit.kind == "replace" and not edit.text.strip():
        edit = Edit(edit.line, "delete", "", edit.description, edit.facts)
    if edit.kind == "replace":
        original, mutated = lines[edit.line], edit.text
        lines[edit.line] = edit.text
    elif edit.kind == "delete":
        original, mutated = lines.pop(edit.line), ""
    elif edit.kind == "insert":
        original, mutated = "", edit.text
        lines.insert(edit.line, edit.text)
    else:
        raise ValueError(f"unknown edit kind {edit.kind!r}")
    return Mutant(
        op.name, op.family, "\n".join(lines), edit.line + 1, original, mutated, edit.description, dict(edit.facts)
    )


def _build() -> dict[str, Operator]:
    operators: dict[str, Operator] = {}
    for module in (mutate_syntax, mutate_compile, mutate_runtime, mutate_logic):
        for name, family, description, finder in module.SPECS:
            if name in operators:
                raise RuntimeError(f"duplicate mutation operator {name!r}")
            operators[name] = Operator(name, family, description, finder)
    return operators


OPERATORS: dict[str, Operator] = _build()


def select(operators: Iterable[str] | None = None) -> list[Operator]:
    """The operators named in ``operators`` (names or family names), all of them for ``None``.

    Raises:
        KeyError: A name is neither an operator nor a family.
    """
    if operators is None:
        return list(OPERATORS.values())
    if isinstance(operators, str):
        operators = [operators]
    chosen: list[Operator] = []
    for name in operators:
        if name in FAMILIES:
            found = [op for op in OPERATORS.values() if op.family == name]
        elif name in OPERATORS:
            found = [OPERATORS[name]]
        else:
            raise KeyError(f"unknown mutation operator or family {name!r}; known: {', '.join(OPERATORS)}")
        chosen.extend(op for op in found if op not in chosen)
    return chosen


def all_mutants(code: str, operators: Iterable[str] | None = None) -> list[Mutant]:
    """Every mutant of ``code`` from the chosen operators (default: all), operator by operator.

    Args:
        code: A Java program.
        operators: Operator names or family names; ``None`` for every operator.

    Returns:
        The mutants, grouped by operator in :data:`OPERATORS` order (or the order given).
    """
    return [m for op in select(operators) for m in op.sites(code)]


def sample_mutants(
    code: str, rng: random.Random, per_operator: int = 1, operators: Iterable[str] | None = None
) -> list[Mutant]:
    """Up to ``per_operator`` mutants of each chosen operator, picked at random among its sites.

    Args:
        code: A Java program.
        rng: The random source; the same seed gives the same mutants in the same order.
        per_operator: How many mutants to take from each operator at most.
        operators: Operator names or family names; ``None`` for every operator.

    Returns:
        The chosen mutants, operator by operator, each operator's in source order.
    """
    chosen = []
    for op in select(operators):
        sites = op.sites(code)
        if not sites or per_operator <= 0:
            continue
        picks = sorted(rng.sample(range(len(sites)), min(per_operator, len(sites))))
        chosen.extend(sites[i] for i in picks)
    return chosen


def site_counts(code: str, operators: Iterable[str] | None = None) -> dict[str, int]:
    """How many mutants each chosen operator makes from ``code``."""
    return {op.name: len(op.sites(code)) for op in select(operators)}
