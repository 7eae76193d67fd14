"""The fix check: apply a predicted fix line to the student code, compile it and run the task's tests.

The answer gives one line (``line``, the line javac or the JVM reported) and the corrected line
(``fix``), but not where the fix goes, which can be another line (the bug in a loop header, the
exception at the array access) or a line to insert or delete. So the fix is tried at a few places,
and the check passes when any of them compiles and passes every test of the task:

* anchors: the predicted line, and every line the answer's explanation names ("... line 8 ...");
* a non-empty fix replaces, near each anchor, the line most similar to it among the anchor ±2
  (:class:`difflib.SequenceMatcher` ratio on stripped lines; ties keep the anchor); it is also tried
  replacing the anchor itself, and inserted before the anchor (a missing line);
* an empty fix deletes the anchor line (a line that should not be there).

Without a JDK the check is "not measured" (None). The programs are model output run in the sandbox of
:mod:`fedjava.javadata.sandbox` (``unsafe``: without namespaces, ``--unsafe-run``).
"""

from __future__ import annotations

import difflib
import re
import tempfile
from pathlib import Path
from typing import Any

NEAR = 2
_LINE_RE = re.compile(r"\blines?\s+(\d{1,5})\b", re.IGNORECASE)


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.strip(), b.strip()).ratio()


def _lines(code: str) -> list[str]:
    return code.rstrip("\n").split("\n")


def _join(lines: list[str]) -> str:
    return "\n".join(lines) + "\n"


def apply_fix(code: str, line: int | None, fix: str) -> str | None:
    """``code`` with the line the fix belongs to (``line`` or the most similar within ±2) replaced by ``fix``.

    None when ``line`` is outside the code or the fix is empty.
    """
    lines = _lines(code)
    if not isinstance(line, int) or not 1 <= line <= len(lines) or not isinstance(fix, str) or not fix.strip():
        return None
    best, best_sim = line, _similarity(lines[line - 1], fix)
    for cand in range(max(1, line - NEAR), min(len(lines), line + NEAR) + 1):
        sim = _similarity(lines[cand - 1], fix)
        if sim > best_sim:
            best, best_sim = cand, sim
    lines[best - 1] = fix.rstrip("\n")
    return _join(lines)


def candidate_programs(code: str, error: dict[str, Any]) -> list[str]:
    """Every version of ``code`` the predicted error's fix is tried as (see the module docstring)."""
    lines = _lines(code)
    line, fix = error.get("line"), error.get("fix")
    if not isinstance(fix, str):
        return []
    anchors: list[int] = []
    named = [int(m) for m in _LINE_RE.findall(str(error.get("explanation", "")))]
    for a in ([line] if isinstance(line, int) else []) + named:
        if 1 <= a <= len(lines) and a not in anchors:
            anchors.append(a)
    out: list[str] = []
    for a in anchors:
        if fix.strip():
            versions = [
                apply_fix(code, a, fix),
                _join(lines[:a - 1] + [fix.rstrip("\n")] + lines[a:]),
                _join(lines[:a - 1] + [fix.rstrip("\n")] + lines[a - 1:]),
            ]
        else:
            versions = [_join(lines[:a - 1] + lines[a:])]
        out += [v for v in versions if v is not None and v not in out]
    return out


def jdk_available() -> bool:
    from fedjava.javadata.runner import JdkMissingError, require_jdk

    try:
        require_jdk()
    except JdkMissingError:
        return False
    return True


def check_fixes(items: list[tuple[str, str, dict[str, Any] | None]], jobs: int = 2,
                unsafe: bool = False) -> list[bool | None]:
    """For each ``(task_id, code, predicted answer)``: does the first error's fix make every test pass?

    False for a prediction without an error or a usable fix; None for every item when no JDK is
    installed, and for an unknown task (not measured).
    """
    if not items:
        return []
    if not jdk_available():
        return [None] * len(items)
    from fedjava.javadata.runner import Program, check_many
    from fedjava.javadata.tasks import load_tasks

    tasks = {t.id: t for t in load_tasks()}
    results: list[bool | None] = [None] * len(items)
    programs = []
    for i, (task_id, code, pred) in enumerate(items):
        task = tasks.get(task_id)
        if task is None:
            continue
        errors = (pred or {}).get("errors") or []
        results[i] = False
        if errors:
            for j, version in enumerate(candidate_programs(code, errors[0])):
                programs.append(Program(f"{i}:{j}", task, version))
    if programs:
        with tempfile.TemporaryDirectory(prefix="fedjava-fixcheck-") as work:
            outcomes = check_many(programs, Path(work), jobs=jobs, unsafe=unsafe)
        for program in programs:
            outcome = outcomes.get(program.key)
            if outcome is not None and outcome.all_passed:
                results[int(program.key.split(":")[0])] = True
    return results
