"""Java programming tasks: one YAML file per task, loaded, validated and turned into a test driver.

A task file (``src/fedjava/javadata/tasks/<id>.yaml``) holds::

    id: arrays_sum_positive          # same as the file name
    title: Sum of the positive numbers
    topic: arrays                    # strings|arrays|loops|math|recursion|collections|classes
    requirement: |                   # what a teacher would write on the assignment sheet
      Write a method ...
    solution: |                      # the reference solution: a class named Solution
      class Solution { ... }
    variants:                        # student-style correct programs (at least 2)
      - name: while_loop
        code: |
          class Solution { ... }
    tests:                           # at least 5 cases; each is a Java expression and its value
      - call: Solution.sumPositive(new int[]{1, -2, 3})
        expect: "4"
      - setup: Counter c = new Counter(); c.add(2);   # optional statements run before call
        call: c.total()
        expect: "2"
        hidden: true                                  # optional: counted, never shown to students

The generated ``TestDriver`` only evaluates a case (``run(i)`` returns its expected and actual values);
the test harness (``java/Cases.java``, a Java module the student's code cannot reach) calls it, compares the
values and reports a passing case, a wrong value or an exception thrown from the student's code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from fedjava.errors import UserError

TASKS_DIR = Path(__file__).parent / "tasks"
TOPICS = ("strings", "arrays", "loops", "math", "recursion", "collections", "classes")
MIN_TESTS = 5
MIN_VARIANTS = 2
_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class TaskError(UserError, ValueError):
    """A task file is malformed."""


@dataclass(frozen=True)
class TestCase:
    call: str
    expect: str
    setup: str = ""
    hidden: bool = False
    """counted like any test, but a student's feedback page does not show it (``hidden: true``)"""


@dataclass(frozen=True)
class Variant:
    name: str
    code: str


@dataclass(frozen=True)
class Task:
    id: str
    title: str
    topic: str
    requirement: str
    solution: str
    variants: tuple[Variant, ...]
    tests: tuple[TestCase, ...]
    path: Path | None = field(default=None, compare=False)


def _java_text(value) -> str:
    """A YAML scalar as Java source: unquoted ``true`` arrives as a Python bool."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def load_task(path: str | Path, strict: bool = True) -> Task:
    """Read and validate one task file; raises TaskError naming the file and every problem.

    ``strict=False`` reads a teacher's task for ``fedjava review`` with the same schema, where only
    ``requirement`` is needed: the tests (any number, none included), solution and variants are optional,
    and id, title and topic default to the file's name.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise TaskError(f"{path}: not valid YAML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise TaskError(f"{path}: not UTF-8 text") from exc
    if not isinstance(raw, dict):
        raise TaskError(f"{path}: expected a mapping at the top level (requirement:, tests:, ...)")
    if not strict:
        raw = {"id": path.stem.lower(), "title": path.stem, "topic": "review", "solution": "", **raw}
    problems: list[str] = []
    known = {"id", "title", "topic", "requirement", "solution", "variants", "tests"}
    for key in sorted(set(raw) - known):
        problems.append(f"unknown key '{key}'")
    for key in ("id", "title", "topic", "requirement", "solution") if strict else ("requirement",):
        if not isinstance(raw.get(key), str) or not raw.get(key, "").strip():
            problems.append(f"'{key}' must be a non-empty string")
    task_id = str(raw.get("id", ""))
    if strict:
        if task_id and not _ID_RE.match(task_id):
            problems.append(f"id '{task_id}' must be lower_snake_case")
        if task_id and task_id != path.stem:
            problems.append(f"id '{task_id}' does not match the file name '{path.stem}'")
        if raw.get("topic") not in TOPICS:
            problems.append(f"topic must be one of {', '.join(TOPICS)}")
        if "class Solution" not in str(raw.get("solution", "")):
            problems.append("solution must declare class Solution")
    variants = []
    for i, v in enumerate(raw.get("variants") or []):
        if not isinstance(v, dict) or not v.get("name") or not v.get("code"):
            problems.append(f"variants[{i}] needs 'name' and 'code'")
            continue
        variants.append(Variant(str(v["name"]), str(v["code"])))
    if strict and len(variants) < MIN_VARIANTS:
        problems.append(f"needs at least {MIN_VARIANTS} variants, has {len(variants)}")
    tests = []
    raw_tests = raw.get("tests") or []
    if not isinstance(raw_tests, list):
        problems.append("'tests' must be a list of {call, expect[, setup]}")
        raw_tests = []
    for i, t in enumerate(raw_tests):
        if not isinstance(t, dict) or "call" not in t or "expect" not in t:
            problems.append(f"tests[{i}] needs 'call' and 'expect'")
            continue
        if not isinstance(t.get("hidden", False), bool):
            problems.append(f"tests[{i}] hidden must be true or false")
        tests.append(TestCase(_java_text(t["call"]), _java_text(t["expect"]), str(t.get("setup") or ""),
                              t.get("hidden") is True))
    if strict and len(tests) < MIN_TESTS:
        problems.append(f"needs at least {MIN_TESTS} tests, has {len(tests)}")
    if problems:
        raise TaskError(f"{path}: " + "; ".join(problems))
    return Task(
        id=task_id,
        title=str(raw["title"]).strip(),
        topic=str(raw["topic"]),
        requirement=raw["requirement"].strip(),
        solution=str(raw.get("solution") or "").rstrip() + "\n",
        variants=tuple(Variant(v.name, v.code.rstrip() + "\n") for v in variants),
        tests=tuple(tests),
        path=path,
    )


def load_tasks(directory: str | Path = TASKS_DIR) -> list[Task]:
    """Load every ``*.yaml`` task in a directory, sorted by id; errors list every bad file."""
    tasks, errors = [], []
    for path in sorted(Path(directory).glob("*.yaml")):
        try:
            tasks.append(load_task(path))
        except TaskError as exc:
            errors.append(str(exc))
    if errors:
        raise TaskError("\n".join(errors))
    return tasks


def task_tests(task: Task) -> list[dict[str, str]]:
    """``task``'s tests as a sample's ``meta.tests`` holds them (a task that is not shipped travels with its samples)."""
    return [{"call": t.call, "expect": t.expect, **({"setup": t.setup} if t.setup else {})} for t in task.tests]


def task_for_sample(meta: dict | None, requirement: str = "", catalogue: dict[str, Task] | None = None) -> Task | None:
    """The task a sample was made for: the shipped task named by ``meta.task_id``, else one built from the
    sample's own ``meta.tests`` (hand-written programs on tasks of their own), else None."""
    meta = meta or {}
    catalogue = catalogue if catalogue is not None else {t.id: t for t in load_tasks()}
    task_id = str(meta.get("task_id") or "")
    if task_id in catalogue:
        return catalogue[task_id]
    tests = meta.get("tests")
    if not isinstance(tests, list) or not tests:
        return None
    cases = tuple(TestCase(str(t["call"]), str(t["expect"]), str(t.get("setup") or "")) for t in tests
                  if isinstance(t, dict) and "call" in t and "expect" in t)
    return Task(task_id or "sample", task_id or "sample", "review", requirement, "", (), cases)


def _java_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def render_driver(task: Task) -> str:
    """The ``TestDriver.java`` source that evaluates each test case of ``task`` for the harness.

    ``cases()`` is their number, ``call(i)`` the call shown for case ``i`` and ``run(i)`` its ``{expected,
    actual}`` (whatever the case throws is thrown on). Each case is a method of its own, so that a setup's
    variables stay in their case, and its lines are where the harness's earlier driver (one ``try`` block a
    case) had them, so that javac's messages about the driver name the same lines as in datasets built
    before. JDK names the driver chooses are fully qualified: a class of the student's named ``Object``
    does not change them.
    """
    n = len(task.tests)
    lines = ["import java.util.*;", "class TestDriver {", f"    static int cases() {{ return {n}; }}"]
    for i, case in enumerate(task.tests):
        lines.append(f"    private static java.lang.Object[] c{i}() throws java.lang.Throwable {{")
        if case.setup:
            lines.append(f"        {case.setup}")
        lines += [f"        java.lang.Object actual = {case.call};", f"        java.lang.Object expected = {case.expect};",
                  "        return new java.lang.Object[] {expected, actual};", "    }", "", ""]
    lines += ["    static java.lang.String call(int i) {", "        switch (i) {"]
    for i, case in enumerate(task.tests):
        shown = (case.setup + " " if case.setup else "") + case.call
        lines.append(f"            case {i}: return {_java_string(shown)};")
    lines += ["            default: return \"\";", "        }", "    }", "",
              "    static java.lang.Object[] run(int i) throws java.lang.Throwable {", "        switch (i) {"]
    lines += [f"            case {i}: return c{i}();" for i in range(n)]
    lines += ["            default: throw new java.lang.IllegalArgumentException(\"no test case \" + i);",
              "        }", "    }", "}", ""]
    return "\n".join(lines)
