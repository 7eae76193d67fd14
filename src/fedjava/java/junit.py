"""A teacher's JUnit 5 test class, reused as it is: each ``@Test`` method is one test case of the harness.

Why not JUnit's own engine: the engine would run in the student's JVM, its listeners and reports reachable by the
student's code, and its results would come back on stdout. Instead the test class is compiled beside the student's
code against the real JUnit 5 API (Debian's ``junit5`` package), and the generated driver calls one test method a
case the way Jupiter's default lifecycle does: a new instance of the class, ``@BeforeAll`` once, ``@BeforeEach``,
the test, ``@AfterEach``. An assertion that fails is a wrong result (its expected and actual values when it has
them); anything else thrown is an exception; the harness reports each over its socket like every other case.
Features of the engine that need it (``@ParameterizedTest``, ``@Nested``, extensions, ...) are refused by name when
the task is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from fedjava.errors import UserError
from fedjava.java.sources import blank_literals, javac_source

JAR_DIR = Path("/usr/share/java")
JARS = ("junit-jupiter-api.jar", "junit-platform-commons.jar", "opentest4j.jar", "apiguardian-api.jar")
"""What a test class needs on its class path: the Jupiter API (Assertions, the annotations) and what it needs."""
FOLDER = "junit"
"""Where a program's folder holds its copies of :data:`JARS` (the sealed sandbox sees only that folder)."""
LIFECYCLE = ("BeforeAll", "BeforeEach", "AfterEach", "AfterAll")
UNSUPPORTED = (
    "ParameterizedTest",
    "RepeatedTest",
    "TestFactory",
    "TestTemplate",
    "Nested",
    "ExtendWith",
    "RegisterExtension",
    "TempDir",
    "TestInstance",
    "TestMethodOrder",
    "Timeout",
)
_METHOD_RE = re.compile(
    r"(?P<annotations>(?:@[\w.]+(?:\s*\([^()]*\))?\s*)+)"
    r"(?:(?:public|protected|static|final)\s+)*void\s+(?P<name>[A-Za-z_$][\w$]*)\s*\(\s*\)"
)
_ANNOTATION_RE = re.compile(r"@(?:[\w]+\.)*(?P<name>\w+)(?:\s*\((?P<args>[^()]*)\))?")
_CLASS_RE = re.compile(r"\b(?:public\s+)?(?:final\s+)?class\s+(?P<name>[A-Za-z_$][\w$]*)")


class JUnitMissingError(UserError, RuntimeError):
    """Debian's junit5 package (the JUnit 5 API jars) is not installed."""


@dataclass(frozen=True)
class TestClass:
    """One JUnit 5 test class: its name, its source, its test methods and its lifecycle methods by annotation."""

    name: str
    code: str
    tests: tuple[tuple[str, str], ...]
    """(method, the name a report shows: ``@DisplayName`` or ``Class.method()``)"""
    lifecycle: tuple[tuple[str, str], ...] = ()
    """(annotation, method) in the file's order"""

    @property
    def file_name(self) -> str:
        return f"{self.name}.java"

    def methods(self, annotation: str) -> list[str]:
        return [method for kind, method in self.lifecycle if kind == annotation]


def parse_test_class(code: str, label: str) -> TestClass:
    """The test class in ``code``; UserError (starting with ``label``) naming what cannot be used."""
    plain = blank_literals(code)
    declared = _CLASS_RE.search(plain)
    if declared is None:
        raise UserError(f"{label}: no class declared (a JUnit 5 test class with @Test methods)")
    for name in UNSUPPORTED:
        if re.search(rf"@(?:[\w]+\.)*{name}\b", plain):
            raise UserError(
                f"{label}: @{name} is not supported (it needs JUnit's engine); write each case as a "
                "plain @Test method, or as a tests: entry"
            )
    tests, lifecycle = [], []
    for match in _METHOD_RE.finditer(plain):
        annotations = {
            a.group("name"): a for a in _ANNOTATION_RE.finditer(code[match.start() : match.end("annotations")])
        }
        method = match.group("name")
        if "Disabled" in annotations:
            continue
        if "Test" in annotations:
            shown = annotations.get("DisplayName")
            title = _string_argument(shown.group("args")) if shown and shown.group("args") else ""
            tests.append((method, title or f"{declared.group('name')}.{method}()"))
        lifecycle += [(kind, method) for kind in LIFECYCLE if kind in annotations]
    if not tests:
        raise UserError(
            f"{label}: no @Test method found (JUnit 5: org.junit.jupiter.api.Test, on a void method without parameters)"
        )
    return TestClass(declared.group("name"), code, tuple(tests), tuple(lifecycle))


def _string_argument(args: str) -> str:
    found = re.search(r'"((?:[^"\\]|\\.)*)"', args)
    return found.group(1) if found else ""


def case_lines(test: TestClass, method: str, first: bool) -> list[str]:
    """The statements of a driver's case that runs ``method`` of ``test``: ``first`` (the class's first case) also
    runs its ``@BeforeAll`` methods."""
    before_all = "".join(f"{test.name}.{m}(); " for m in test.methods("BeforeAll")) if first else ""
    before = "".join(f"fedjava$test.{m}(); " for m in test.methods("BeforeEach"))
    after = "".join(f"fedjava$test.{m}(); " for m in test.methods("AfterEach"))
    body = (
        f"{before}try {{ fedjava$test.{method}(); }} finally {{ {after}}}"
        if after
        else f"{before}fedjava$test.{method}();"
    )
    return [
        f"        {before_all}{test.name} fedjava$test = new {test.name}();",
        f"        return fedjava$junit(() -> {{ {body} }});",
    ]


DRIVER_HELPERS = """
    interface JUnitBody {
        void run() throws java.lang.Throwable;
    }

    /** {expected, actual[, message]}: a failed assertion's values (the message: it failed, whatever they are). */
    private static java.lang.Object[] fedjava$junit(JUnitBody body) throws java.lang.Throwable {
        try {
            body.run();
        } catch (org.opentest4j.TestAbortedException aborted) {
            return new java.lang.Object[] {"passes", "passes"};
        } catch (org.opentest4j.AssertionFailedError failed) {
            java.lang.Object expected = failed.isExpectedDefined() ? failed.getExpected().getValue() : "passes";
            java.lang.Object actual = failed.isActualDefined() ? failed.getActual().getValue()
                    : "fails: " + failed.getMessage();
            return new java.lang.Object[] {expected, actual, "fails: " + failed.getMessage()};
        } catch (java.lang.AssertionError failed) {
            return new java.lang.Object[] {"passes", "fails: " + failed.getMessage(), "fails"};
        }
        return new java.lang.Object[] {"passes", "passes"};
    }
"""


def jar_paths() -> list[Path]:
    """The JUnit 5 API jars; JUnitMissingError saying how to install them."""
    missing = [name for name in JARS if not (JAR_DIR / name).is_file()]
    if missing:
        raise JUnitMissingError(
            f"JUnit 5 is not installed ({', '.join(missing)} not in {JAR_DIR}): install Debian's "
            "junit5 package ('apt-get install junit5'; make test installs it)"
        )
    return [JAR_DIR / name for name in JARS]


def place_jars(folder: Path) -> list[str]:
    """Copies of the jars in ``folder/junit``; their paths relative to ``folder`` (a class path's entries)."""
    target = folder / FOLDER
    target.mkdir(parents=True, exist_ok=True)
    names = []
    for jar in jar_paths():
        copy = target / jar.name
        if not copy.exists():
            copy.write_bytes(jar.read_bytes())
        names.append(f"{FOLDER}/{jar.name}")
    return names


def source_files(tests: tuple[TestClass, ...]) -> dict[str, str]:
    """``{file name: source}`` of the test classes as javac compiles them beside the student's code (a ``package``
    line blanked like the student's: both end up in the unnamed package)."""
    return {test.file_name: javac_source(test.code, test.name) for test in tests}


def method_at(test: TestClass, line: int) -> str | None:
    """The test method whose body holds ``line`` of the test class's file (for naming a test that does not compile)."""
    plain = blank_literals(test.code)
    best = None
    for match in _METHOD_RE.finditer(plain):
        start = plain.count("\n", 0, match.start("name")) + 1
        if start <= line and match.group("name") in {m for m, _ in test.tests}:
            best = match.group("name")
    return best
