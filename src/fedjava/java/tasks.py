"""Java programming tasks: one YAML file per task, loaded, validated and turned into a test driver.

A task file (``src/fedjava/java/tasks/<id>.yaml``) holds::

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

Teachers' task files (``fedjava grade --task``, ``review --task-file``: ``strict=False``) need only
``requirement``, and may give more kinds of tests (docs/tasks.md describes every field)::

    reference: Model.java            # a model solution (a path beside the task file, or inline code)
    junit: SolutionTest.java         # a JUnit 5 test class (a path or inline code), each @Test a case
    tests:
      - call: Solution.ratio(1, 0)   # the call must throw this exception (or a subclass)
        throws: IllegalArgumentException
      - stdin: "3 4\n"              # a program with a main: its output for this input,
        stdout: "7\n"               # trailing blanks and line endings ignored

The generated ``TestDriver`` only evaluates a case (``run(i)`` returns its expected and actual values);
the test harness (``resources/Cases.java``, a Java module the student's code cannot reach) calls it, compares the
values and reports a passing case, a wrong value or an exception thrown from the student's code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from fedjava.errors import UserError
from fedjava.java.junit import DRIVER_HELPERS, TestClass, case_lines, parse_test_class

TASKS_DIR = Path(__file__).parent / "tasks"
TOPICS = ("strings", "arrays", "loops", "math", "recursion", "collections", "classes")
MIN_TESTS = 5
MIN_VARIANTS = 2
MAX_SOURCE_BYTES = 200_000
TASK_KEYS = ("id", "title", "topic", "requirement", "solution", "reference", "junit", "variants", "tests")
TEST_KEYS = ("call", "expect", "setup", "throws", "stdin", "stdout", "hidden")
_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class TaskError(UserError, ValueError):
    """A task file is malformed."""


@dataclass(frozen=True)
class TestCase:
    """One test: a call and its expected value (or the exception it must throw), a program's output for an input, or
    a JUnit test method. ``call`` is how a report names it."""

    call: str
    expect: str = ""
    setup: str = ""
    throws: str = ""
    """the exception class the call must throw (``expect`` is then empty)"""
    stdin: str | None = None
    stdout: str | None = None
    """a test of the program's ``main``: what it must print for ``stdin``"""
    junit: str = ""
    """``Class#method``: a JUnit test method of the task's ``junit`` class"""
    hidden: bool = False
    """counted like any test, but a student's feedback page does not show it (``hidden: true``)"""
    generated: bool = False
    """made from the reference solution (:mod:`fedjava.java.generate`), not written by the teacher"""

    @property
    def kind(self) -> str:
        """``call``, ``io`` (stdin/stdout) or ``junit``."""
        return "junit" if self.junit else "io" if self.stdout is not None else "call"


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
    reference: str = ""
    """a model solution's code (``reference:``; the checked task's tests then include inputs made from it)"""
    junit: tuple[TestClass, ...] = ()
    """the JUnit 5 test classes whose @Test methods are among ``tests``"""

    @property
    def model(self) -> str:
        """The code the task's tests must pass: the reference, else the solution ("" when there is neither)."""
        return self.reference if self.reference.strip() else self.solution if self.solution.strip() else ""


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
    for key in sorted(set(raw) - set(TASK_KEYS), key=str):
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
    tests = _read_tests(raw.get("tests"), problems)
    reference = _source(raw.get("reference"), "reference", path, problems) if "reference" in raw else ""
    junit = []
    entries = raw.get("junit")
    for i, entry in enumerate(entries if isinstance(entries, list) else [] if entries is None else [entries]):
        key = "junit" if not isinstance(entries, list) else f"junit[{i}]"
        code = _source(entry, key, path, problems)
        if code:
            try:
                junit.append(parse_test_class(code, key))
            except UserError as exc:
                problems.append(str(exc))
    tests += junit_cases(tuple(junit))
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
        reference=reference,
        junit=tuple(junit),
    )


def _read_tests(raw_tests, problems: list[str]) -> list[TestCase]:
    """The ``tests:`` entries; each problem (naming the entry and the key as written) is added to ``problems``."""
    if raw_tests is None:
        return []
    if not isinstance(raw_tests, list):
        problems.append("'tests' must be a list of {call, expect[, setup]} (or {call, throws}, {stdin, stdout})")
        return []
    tests = []
    for i, t in enumerate(raw_tests):
        if not isinstance(t, dict):
            problems.append(f"tests[{i}] needs 'call' and 'expect'")
            continue
        unknown = sorted(set(t) - set(TEST_KEYS), key=str)
        if unknown:
            problems.append(f"tests[{i}]: unknown key '{unknown[0]}' (a test has {', '.join(TEST_KEYS)})")
            continue
        if not isinstance(t.get("hidden", False), bool):
            problems.append(f"tests[{i}] hidden must be true or false")
            continue
        hidden = t.get("hidden") is True
        if "stdout" in t or "stdin" in t:
            if "stdout" not in t or set(t) & {"call", "expect", "throws", "setup"}:
                problems.append(f"tests[{i}]: a test of the program's output has 'stdout' (and 'stdin'), nothing else")
                continue
            stdin = "" if t.get("stdin") is None else _java_text(t["stdin"])
            tests.append(TestCase(io_call(stdin), stdin=stdin, stdout=_java_text(t["stdout"]), hidden=hidden))
            continue
        if "call" not in t or ("expect" in t) == ("throws" in t):
            problems.append(
                f"tests[{i}] needs 'call' and 'expect'" + (" (or 'throws', not both)" if "call" in t else "")
            )
            continue
        throws = str(t.get("throws") or "").strip()
        if "throws" in t and not re.fullmatch(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*", throws):
            problems.append(f"tests[{i}]: throws must name an exception class, e.g. IllegalArgumentException")
            continue
        tests.append(
            TestCase(
                _java_text(t["call"]),
                "" if throws else _java_text(t["expect"]),
                str(t.get("setup") or ""),
                throws,
                hidden=hidden,
            )
        )
    return tests


def _source(value, key: str, task_path: Path, problems: list[str]) -> str:
    """Java code given inline or as a path to a ``.java`` file beside the task file (inside its folder: a task
    uploaded to ``fedjava serve`` cannot name a file of the server's); "" with a problem added when unusable."""
    if not isinstance(value, str) or not value.strip():
        problems.append(f"'{key}' must be Java code or the path of a .java file")
        return ""
    if "{" in value:
        return value.rstrip() + "\n"
    name = value.strip()
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts or relative.suffix != ".java":
        problems.append(f"'{key}': {name} must be a .java file inside the task file's folder (or inline code)")
        return ""
    file = task_path.parent / relative
    if not file.is_file():
        problems.append(f"'{key}': no file {name} beside the task file")
        return ""
    data = file.read_bytes()[: MAX_SOURCE_BYTES + 1]
    if len(data) > MAX_SOURCE_BYTES or b"\x00" in data:
        problems.append(f"'{key}': {name} is not a Java source file of at most {MAX_SOURCE_BYTES // 1000} KB")
        return ""
    try:
        return data.decode("utf-8-sig").replace("\r\n", "\n").rstrip() + "\n"
    except UnicodeDecodeError:
        problems.append(f"'{key}': {name} is not UTF-8 text")
        return ""


def io_call(stdin: str) -> str:
    """How a report names a test of the program's output: ``main with stdin "3 4\\n"``."""
    return f"main with stdin {_java_string(stdin)}" if stdin else "main with no input"


def junit_cases(junit: tuple[TestClass, ...]) -> list[TestCase]:
    """One case per @Test method of each test class."""
    return [TestCase(shown, junit=f"{test.name}#{method}") for test in junit for method, shown in test.tests]


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
    out = []
    for t in task.tests:
        if t.kind == "io":
            out.append({"stdin": t.stdin or "", "stdout": t.stdout or ""})
        elif t.kind == "call":
            out.append(
                {
                    "call": t.call,
                    **({"throws": t.throws} if t.throws else {"expect": t.expect}),
                    **({"setup": t.setup} if t.setup else {}),
                }
            )
    return out


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
    cases = tuple(_read_tests([t for t in tests if isinstance(t, dict)], []))
    return Task(task_id or "sample", task_id or "sample", "review", requirement, "", (), cases)


def _java_string(text: str) -> str:
    escaped = (
        text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    )
    return f'"{escaped}"'


def render_driver(task: Task) -> str:
    """The ``TestDriver.java`` source that evaluates each test case of ``task`` for the harness.

    ``cases()`` is their number, ``call(i)`` the call shown for case ``i`` and ``run(i)`` its ``{expected,
    actual}`` (whatever the case throws is thrown on). Each case is a method of its own, so that a setup's
    variables stay in their case, and its lines are where the harness's earlier driver (one ``try`` block a
    case) had them, so that javac's messages about the driver name the same lines as in datasets built
    before. JDK names the driver chooses are fully qualified: a class of the student's named ``Object``
    does not change them. The helpers of output tests and JUnit tests come last, only in a driver that has such
    tests.
    """
    return _render(task)[0]


def driver_spans(task: Task) -> list[tuple[int, int]]:
    """The driver's lines (first, last; 1-based) of each test case's method: which test a javac error is in."""
    return _render(task)[1]


def _render(task: Task) -> tuple[str, list[tuple[int, int]]]:
    n = len(task.tests)
    lines = ["import java.util.*;", "class TestDriver {", f"    static int cases() {{ return {n}; }}"]
    spans = []
    classes = {test.name: test for test in task.junit}
    started: set[str] = set()
    for i, case in enumerate(task.tests):
        first = len(lines) + 1
        lines.append(f"    private static java.lang.Object[] c{i}() throws java.lang.Throwable {{")
        if case.kind == "junit":
            name, method = case.junit.split("#", 1)
            lines += case_lines(classes[name], method, name not in started)
            started.add(name)
        else:
            lines += _case_body(case)
        spans.append((first, len(lines)))
        lines += ["    }", "", ""]
    lines += ["    static java.lang.String call(int i) {", "        switch (i) {"]
    for i, case in enumerate(task.tests):
        shown = (case.setup + " " if case.setup else "") + case.call
        lines.append(f"            case {i}: return {_java_string(shown)};")
    lines += [
        '            default: return "";',
        "        }",
        "    }",
        "",
        "    static java.lang.Object[] run(int i) throws java.lang.Throwable {",
        "        switch (i) {",
    ]
    lines += [f"            case {i}: return c{i}();" for i in range(n)]
    lines += [
        '            default: throw new java.lang.IllegalArgumentException("no test case " + i);',
        "        }",
        "    }",
    ]
    if any(case.kind == "io" for case in task.tests):
        lines += IO_HELPERS.split("\n")
    if task.junit:
        lines += DRIVER_HELPERS.split("\n")
    lines += ["}", ""]
    return "\n".join(lines), spans


def _case_body(case: TestCase) -> list[str]:
    """The lines of one call or output test's method, up to its return."""
    if case.kind == "io":
        return [
            f"        java.lang.Object actual = fedjava$main({_java_string(case.stdin or '')});",
            f"        java.lang.Object expected = fedjava$clean({_java_string(case.stdout or '')});",
            "        return new java.lang.Object[] {expected, actual};",
        ]
    if case.throws:
        thrown = _java_string(f"throws {case.throws}")
        return [
            f"        java.lang.Object actual; try {{ {case.setup + ' ' if case.setup else ''}actual = {case.call}; }} "
            f"catch ({case.throws} fedjava$thrown) {{ actual = {thrown}; }}",
            f"        java.lang.Object expected = {thrown};",
            "        return new java.lang.Object[] {expected, actual};",
        ]
    return [
        *([f"        {case.setup}"] if case.setup else []),
        f"        java.lang.Object actual = {case.call};",
        f"        java.lang.Object expected = {case.expect};",
        "        return new java.lang.Object[] {expected, actual};",
    ]


IO_HELPERS = """
    /** The program's output for {@code stdin}: its main run in a class loader of its own, so that a static
     * Scanner over System.in reads this case's input, not an earlier case's. */
    private static java.lang.String fedjava$main(java.lang.String stdin) throws java.lang.Throwable {
        java.net.URL here = TestDriver.class.getProtectionDomain().getCodeSource().getLocation();
        java.lang.ClassLoader loader = new java.net.URLClassLoader(new java.net.URL[] {here},
                java.lang.ClassLoader.getPlatformClassLoader());
        java.lang.reflect.Method main = fedjava$mainMethod(loader, new java.io.File(here.toURI()));
        java.io.InputStream in = java.lang.System.in;
        java.io.PrintStream out = java.lang.System.out;
        java.io.ByteArrayOutputStream printed = new java.io.ByteArrayOutputStream();
        java.lang.System.setIn(new java.io.ByteArrayInputStream(stdin.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        java.lang.System.setOut(new java.io.PrintStream(printed, true, java.nio.charset.StandardCharsets.UTF_8));
        try {
            main.invoke(null, (java.lang.Object) new java.lang.String[0]);
        } catch (java.lang.reflect.InvocationTargetException e) {
            throw e.getCause();
        } finally {
            java.lang.System.out.flush();
            java.lang.System.setIn(in);
            java.lang.System.setOut(out);
        }
        return fedjava$clean(printed.toString(java.nio.charset.StandardCharsets.UTF_8));
    }

    /** The program's main: Solution's, else the only top-level class that has one. */
    private static java.lang.reflect.Method fedjava$mainMethod(java.lang.ClassLoader loader, java.io.File classes)
            throws java.lang.Throwable {
        java.util.List<java.lang.String> names = new java.util.ArrayList<>(java.util.List.of("Solution"));
        java.lang.String[] files = classes.list();
        java.util.Arrays.sort(files);
        for (java.lang.String file : files) {
            if (file.endsWith(".class") && !file.contains("$") && !file.equals("TestDriver.class")) {
                names.add(file.substring(0, file.length() - 6));
            }
        }
        for (java.lang.String name : names) {
            try {
                java.lang.reflect.Method main = java.lang.Class.forName(name, false, loader)
                        .getMethod("main", java.lang.String[].class);
                if (java.lang.reflect.Modifier.isStatic(main.getModifiers())) {
                    main.setAccessible(true);
                    return main;
                }
            } catch (java.lang.ClassNotFoundException | java.lang.NoSuchMethodException e) {
                continue;
            }
        }
        throw new java.lang.NoSuchMethodError("no class has a public static void main(String[] args)");
    }

    /** Output as the tests compare it: line endings and trailing blanks ignored, and blank lines at the end. */
    private static java.lang.String fedjava$clean(java.lang.String text) {
        java.lang.StringBuilder out = new java.lang.StringBuilder();
        for (java.lang.String line : text.replace("\\r\\n", "\\n").replace('\\r', '\\n').split("\\n", -1)) {
            out.append(line.stripTrailing()).append('\\n');
        }
        int end = out.length();
        while (end > 0 && out.charAt(end - 1) == '\\n') {
            end--;
        }
        return out.substring(0, end);
    }
"""
