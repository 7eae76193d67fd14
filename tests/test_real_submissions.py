"""Real submissions through the real JDK and bubblewrap: a ``package`` line, a submission of several files, a program
whose ``main`` reads stdin and prints stdout, and a teacher's JUnit 5 tests reused as they are (issue 24 item 3)."""

from __future__ import annotations

import shutil

import pytest

from fedjava.java.evidence import gather_evidence
from fedjava.java.runner import run_program
from fedjava.java.sources import combine_files, file_names, javac_source
from fedjava.java.tasks import Task, TaskError, TestCase, load_task

pytestmark = pytest.mark.skipif(shutil.which("javac") is None, reason="needs a JDK")

TWICE = Task(
    "twice",
    "Twice",
    "math",
    "Write twice.",
    "",
    (),
    tuple(TestCase(f"Solution.twice({x})", str(2 * x)) for x in (2, 0, -3, 7, 50)),
)
IN_PACKAGE = """package lab4;

import java.util.List;

public class Solution {
    public static int twice(int x) {
        return Helper.times(x, List.of(2).get(0));
    }
}

class Helper {
    static int times(int x, int k) {
        return x * k;
    }
}
"""
SOLUTION_FILE = """package lab4.app;

import lab4.util.Helper;

public class Solution {
    public static int twice(int x) {
        return Helper.times(x, 2);
    }
}
"""
HELPER_FILE = """package lab4.util;

import java.util.Objects;

public class Helper {
    public static int times(int x, int k) {
        return Objects.requireNonNull(x) * k;
    }
}
"""


def test_javac_source_keeps_every_line_and_leaves_plain_programs_alone():
    plain = "import java.util.*;\n\nclass Solution {\n    static int f() { return 1; }\n}\n"
    assert javac_source(plain) is plain  # the dataset's programs compile exactly as written
    compiled = javac_source(IN_PACKAGE)
    assert compiled.count("\n") == IN_PACKAGE.count("\n")
    assert "package" not in compiled and compiled.split("\n")[2] == "import java.util.List;"
    assert "public class Solution" in compiled  # the file's own class stays public
    combined = combine_files([("Helper.java", HELPER_FILE), ("Solution.java", SOLUTION_FILE)])
    assert file_names(combined) == ["Solution.java", "Helper.java"]  # the file declaring Solution first
    unit = javac_source(combined)
    assert unit.count("\n") == combined.count("\n")
    first = unit.split("\n")[0]
    assert first.startswith("import java.util.Objects; ")  # the later file's import, on line 1
    assert "lab4.util" not in unit and "public class Helper" not in unit and "class Helper" in unit
    for line, (before, after) in enumerate(zip(combined.split("\n")[1:], unit.split("\n")[1:], strict=True), 2):
        if "import" not in before and "package" not in before and "public class Helper" not in before:
            assert before == after, line


@pytest.mark.parametrize(
    "code", [IN_PACKAGE, combine_files([("Solution.java", SOLUTION_FILE), ("Helper.java", HELPER_FILE)])]
)
def test_a_package_line_or_two_files_pass_the_tests(code):
    outcome = run_program(TWICE, code)
    assert outcome.compiled, outcome.diagnostics
    assert outcome.all_passed and outcome.passed == 5


def test_an_error_in_the_second_file_is_reported_on_its_line_of_the_combined_text():
    combined = combine_files([("Solution.java", SOLUTION_FILE), ("Helper.java", HELPER_FILE.replace("* k;", "* k"))])
    outcome = run_program(TWICE, combined)
    line = next(n for n, text in enumerate(combined.split("\n"), 1) if "* k" in text)
    assert not outcome.compiled and outcome.diagnostics[0].line == line


SUMS = """import java.util.Scanner;

public class Main {
    static Scanner in = new Scanner(System.in);  // one static Scanner: each test still reads its own input

    public static void main(String[] args) {
        int a = in.nextInt();
        int b = in.nextInt();
        System.out.print((a + b) + "   \\r\\n");
        System.out.println("done");
    }
}
"""


def test_stdin_stdout_tests_ignore_trailing_blanks_and_line_endings(tmp_path):
    path = tmp_path / "sums.yaml"
    path.write_text(
        'requirement: Read two ints and print their sum, then "done".\ntests:\n'
        '  - {stdin: "3 4\\n", stdout: "7\\ndone\\n"}\n  - {stdin: "-1 1", stdout: "0\\ndone"}\n'
        '  - {stdin: "2 2\\n", stdout: "5\\ndone\\n"}\n'
    )
    task = load_task(path, strict=False)
    assert [t.kind for t in task.tests] == ["io"] * 3 and task.tests[0].call == 'main with stdin "3 4\\n"'
    outcome = run_program(task, SUMS)
    assert [c.status for c in outcome.cases] == ["PASS", "PASS", "FAIL"]
    assert (outcome.cases[2].expected, outcome.cases[2].actual) == ('"5\ndone"', '"4\ndone"')
    crashed = run_program(task, SUMS.replace("in.nextInt();\n        System", "in.nextInt() / 0;\n        System"))
    assert crashed.cases[0].status == "ERROR" and crashed.cases[0].exception == "java.lang.ArithmeticException"


JUNIT = """package lab4;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

class CounterTest {
    private Counter counter;

    @BeforeEach
    void setUp() {
        counter = new Counter();
    }

    @Test
    void startsAtZero() {
        assertEquals(0, counter.total());
    }

    @Test
    @DisplayName("adds what it is given")
    void adds() {
        counter.add(2);
        counter.add(3);
        assertEquals(5, counter.total(), "2 + 3");
    }

    @Test
    void refusesNegatives() {
        assertThrows(IllegalArgumentException.class, () -> counter.add(-1));
    }

    @Disabled
    @Test
    void notYet() {
        assertEquals(1, 2);
    }
}
"""
COUNTER = """package lab4;

public class Counter {
    private int total;

    public void add(int k) {
        if (k < 0) {
            throw new IllegalArgumentException("negative");
        }
        total += k;
    }

    public int total() {
        return total;
    }
}
"""


def test_junit_tests_run_one_case_each_in_the_sandbox(tmp_path):
    (tmp_path / "CounterTest.java").write_text(JUNIT)
    path = tmp_path / "counter.yaml"
    path.write_text("requirement: Write a class Counter.\njunit: CounterTest.java\n")
    task = load_task(path, strict=False)
    assert [t.call for t in task.tests] == [
        "CounterTest.startsAtZero()",
        "adds what it is given",
        "CounterTest.refusesNegatives()",
    ]  # @Disabled left out
    assert run_program(task, COUNTER).all_passed
    wrong = run_program(task, COUNTER.replace("total += k;", "total += k + 1;").replace("if (k < 0)", "if (k < -5)"))
    assert [c.status for c in wrong.cases] == ["PASS", "FAIL", "FAIL"]
    assert (wrong.cases[1].expected, wrong.cases[1].actual) == ("5", "7")  # the assertion's own values
    assert "Expected java.lang.IllegalArgumentException to be thrown" in wrong.cases[2].actual
    block, _ = gather_evidence(COUNTER.replace("total += k;", "total += k + 1;"), task)  # as review and grade see it
    assert block == (
        "Tool results:\njavac: compiles\ntests: 2 of 3 passed\n"
        "first wrong result: adds what it is given returned 7, expected 5"
    )
    missing = run_program(task, "class Solution {}\n")  # no Counter: javac names the test class's line
    assert not missing.compiled and missing.diagnostics[0].file == "CounterTest.java"


def test_junit_features_that_need_the_engine_are_refused_by_name(tmp_path):
    (tmp_path / "T.java").write_text(
        JUNIT.replace("@Test\n    void startsAtZero", "@ParameterizedTest\n    void startsAtZero")
    )
    path = tmp_path / "t.yaml"
    path.write_text("requirement: x\njunit: T.java\n")
    with pytest.raises(TaskError, match="@ParameterizedTest is not supported"):
        load_task(path, strict=False)
    path.write_text("requirement: x\njunit: ../T.java\n")
    with pytest.raises(TaskError, match="must be a .java file inside the task file's folder"):
        load_task(path, strict=False)
