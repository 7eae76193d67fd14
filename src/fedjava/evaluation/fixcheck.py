"""The fix check: apply a predicted fix line to the student code, compile it and run the task's tests.

The answer gives one line (``line``, the line javac or the JVM reported) and the corrected line
(``fix``), but not where the fix goes, which can be another line (the bug in a loop header, the
exception at the array access) or a line to insert or delete. So the fix is tried at a few places,
and the check passes when any of them compiles and passes every test of the task:

* an answer whose fix was placed by :mod:`fedjava.evaluation.verify` (``fix_line`` and ``fix_action`` on the
  error) is tried exactly there first;
* anchors: the predicted line, and every line the answer's explanation names ("... line 8 ...");
* a non-empty fix replaces, near each anchor, the line most similar to it among the anchor ±2
  (:class:`difflib.SequenceMatcher` ratio on stripped lines; ties keep the anchor); it is also tried
  replacing the anchor itself, and inserted before the anchor (a missing line);
* an empty fix deletes the anchor line (a line that should not be there);
* an ``import`` is also inserted at the top of the file (after a ``package`` line), the one place it can go.

Without a JDK the check is "not measured" (None). The programs are model output run in the sandbox of
:mod:`fedjava.java.sandbox` (``unsafe``: without namespaces, ``--unsafe-run``).
"""

from __future__ import annotations

import difflib
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fedjava.java.cause import import_site
from fedjava.java.runner import JdkMissingError, Program, check_many, compile_sources, require_jdk
from fedjava.java.tasks import load_tasks

NEAR = 2
_LINE_RE = re.compile(r"\blines?\s+(\d{1,5})\b", re.IGNORECASE)
_IMPORT_RE = re.compile(r"\s*import\s+(?:static\s+)?[\w.]+(?:\.\*)?\s*;\s*$")
ACTIONS = ("replace", "insert", "delete")


@dataclass(frozen=True)
class Placement:
    """One way to apply a fix: ``action`` (replace, insert before, delete) at ``line``, giving ``code``."""

    line: int
    action: str
    fix: str
    code: str


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.strip(), b.strip()).ratio()


def _lines(code: str) -> list[str]:
    return code.rstrip("\n").split("\n")


def _join(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def place(code: str, line: int, action: str, fix: str) -> Placement | None:
    """``fix`` applied to ``code`` by ``action`` at ``line``; None when the line is outside the code, the action is
    unknown, or a replacement or insertion has no text."""
    lines = _lines(code)
    if not isinstance(line, int) or not 1 <= line <= len(lines) or action not in ACTIONS:
        return None
    if action == "delete":
        return Placement(line, action, "", _join(lines[: line - 1] + lines[line:]))
    if not isinstance(fix, str) or not fix.strip():
        return None
    new = fix.rstrip("\n")
    if action == "replace":
        return Placement(line, action, fix, _join(lines[: line - 1] + [new] + lines[line:]))
    return Placement(line, action, fix, _join(lines[: line - 1] + [new] + lines[line - 1 :]))


def most_similar_line(code: str, line: int, fix: str, near: int = NEAR) -> int:
    """The line among ``line`` ± ``near`` whose text is most like ``fix`` (ties keep ``line``)."""
    lines = _lines(code)
    best, best_sim = line, _similarity(lines[line - 1], fix)
    for cand in range(max(1, line - near), min(len(lines), line + near) + 1):
        sim = _similarity(lines[cand - 1], fix)
        if sim > best_sim:
            best, best_sim = cand, sim
    return best


def apply_fix(code: str, line: int | None, fix: str) -> str | None:
    """``code`` with the line the fix belongs to (``line`` or the most similar within ±2) replaced by ``fix``.

    None when ``line`` is outside the code or the fix is empty.
    """
    if not isinstance(line, int) or not 1 <= line <= len(_lines(code)) or not isinstance(fix, str) or not fix.strip():
        return None
    placed = place(code, most_similar_line(code, line, fix), "replace", fix)
    return placed.code if placed else None


def anchors(code: str, error: dict[str, Any]) -> list[int]:
    """The predicted line, then every line the explanation names, inside the code and each once."""
    n = len(_lines(code))
    line = error.get("line")
    named = [int(m) for m in _LINE_RE.findall(str(error.get("explanation", "")))]
    out: list[int] = []
    for a in ([line] if isinstance(line, int) and not isinstance(line, bool) else []) + named:
        if 1 <= a <= n and a not in out:
            out.append(a)
    return out


def placements(
    code: str, error: dict[str, Any], fix: str | None = None, window: int = 0, min_similarity: float = 0.6
) -> list[Placement]:
    """Every way the error's fix (or ``fix``) is tried, in order, each program once (see the module docstring).

    ``window`` > 0 also tries replacing each line within ``window`` of an anchor whose text is at least
    ``min_similarity`` like the fix (what :mod:`fedjava.evaluation.verify` searches; the plain check uses 0)."""
    own = fix is None
    fix = error.get("fix") if own else fix
    if not isinstance(fix, str):
        return []
    out: list[Placement] = []
    seen: set[str] = set()

    def add(p: Placement | None) -> None:
        if p is not None and p.code not in seen:
            seen.add(p.code)
            out.append(p)

    if own and isinstance(error.get("fix_line"), int) and error.get("fix_action") in ACTIONS:
        add(place(code, error["fix_line"], error["fix_action"], fix))
    n = len(_lines(code))
    lines = _lines(code)
    if _IMPORT_RE.match(fix):  # an import has one place: the top of the file
        add(place(code, import_site(lines), "insert", fix.strip()))
    for a in anchors(code, error):
        if fix.strip():
            add(place(code, most_similar_line(code, a, fix), "replace", fix))
            add(place(code, a, "replace", fix))
            add(place(code, a, "insert", fix))
            for cand in range(max(1, a - window), min(n, a + window) + 1):
                if window and _similarity(lines[cand - 1], fix) >= min_similarity:
                    add(place(code, cand, "replace", fix))
        else:
            add(place(code, a, "delete", fix))
    return out


def candidate_programs(code: str, error: dict[str, Any]) -> list[str]:
    """Every version of ``code`` the predicted error's fix is tried as (see the module docstring)."""
    return [p.code for p in placements(code, error)]


def jdk_available() -> bool:
    try:
        require_jdk()
    except JdkMissingError:
        return False
    return True


def first_passing(
    groups: list[tuple[Any, list[Placement]]],
    jobs: int = 2,
    unsafe: bool = False,
) -> list[Placement | None]:
    """For each ``(task, placements)``: the first placement whose program compiles and passes every test of the
    task, or None. A task without tests (or no task, None) asks only that the program compiles. All programs
    are compiled in one batch and run in one batch, in the sandbox."""

    tested, compiled_only = [], {}
    for g, (task, group) in enumerate(groups):
        for j, p in enumerate(group):
            if task is not None and task.tests:
                tested.append(Program(f"{g}:{j}", task, p.code))
            else:
                compiled_only[f"{g}:{j}"] = p.code
    passed: set[str] = set()
    if tested:
        with tempfile.TemporaryDirectory(prefix="fedjava-fixcheck-") as work:
            outcomes = check_many(tested, Path(work), jobs=jobs, unsafe=unsafe)
        passed |= {key for key, outcome in outcomes.items() if outcome.all_passed}
    if compiled_only:
        passed |= {key for key, ok in compile_sources(compiled_only, unsafe=unsafe).items() if ok}
    return [next((p for j, p in enumerate(group) if f"{g}:{j}" in passed), None) for g, (_, group) in enumerate(groups)]


def check_fixes(
    items: list[tuple[Any, str, dict[str, Any] | None]], jobs: int = 2, unsafe: bool = False
) -> list[bool | None]:
    """For each ``(task, code, predicted answer)``: does the first error's fix make every test pass?

    ``task`` is a :class:`~fedjava.java.tasks.Task` or a shipped task's id. False for a prediction without an
    error or a usable fix; None for every item when no JDK is installed, and for an unknown task (not measured).
    """
    if not items:
        return []
    if not jdk_available():
        return [None] * len(items)

    tasks = {t.id: t for t in load_tasks()} if any(isinstance(t, str) for t, _, _ in items) else {}
    results: list[bool | None] = [None] * len(items)
    groups, owners = [], []
    for i, (task_or_id, code, pred) in enumerate(items):
        task = tasks.get(task_or_id) if isinstance(task_or_id, str) else task_or_id
        if task is None:
            continue
        errors = (pred or {}).get("errors") or []
        results[i] = False
        group = placements(code, errors[0]) if errors else []
        if group:
            groups.append((task, group))
            owners.append(i)
    for i, found in zip(owners, first_passing(groups, jobs=jobs, unsafe=unsafe), strict=True):
        results[i] = found is not None
    return results
