"""The JDK runner and the task format, with the real javac and java."""

from __future__ import annotations

import pytest

from fedjava.java.runner import parse_diagnostics, run_program
from fedjava.java.tasks import TASKS_DIR, TaskError, load_task, load_tasks

pytestmark = pytest.mark.filterwarnings("ignore")


@pytest.fixture(scope="module")
def task():
    return load_task(TASKS_DIR / "arrays_sum_positive.yaml")


def test_reference_and_variants_pass(task):
    for code in [task.solution] + [v.code for v in task.variants]:
        outcome = run_program(task, code)
        assert outcome.all_passed and outcome.passed == len(task.tests) == 5


def test_compile_error_key_and_line_come_from_javac(task):
    outcome = run_program(task, task.solution.replace("return total;", "return total"))
    assert not outcome.compiled
    assert [(d.file, d.line, d.key) for d in outcome.diagnostics] == [("Solution.java", 9, "compiler.err.expected")]


def test_errors_without_arguments_are_parsed():
    text = "Solution.java:7:5: compiler.err.missing.ret.stmt\nSolution.java:9:2: compiler.err.premature.eof\n1 error"
    assert [d.key for d in parse_diagnostics(text)] == ["compiler.err.missing.ret.stmt", "compiler.err.premature.eof"]


def test_runtime_exception_names_class_and_student_line(task):
    bad = task.solution.replace("for (int n : nums) {", "for (int i = 0; i <= nums.length; i++) { int n = nums[i];")
    outcome = run_program(task, bad)
    errors = [c for c in outcome.cases if c.status == "ERROR"]
    assert errors and errors[0].exception == "java.lang.ArrayIndexOutOfBoundsException" and errors[0].line == 4
    assert "out of bounds for length" in errors[0].message


def test_wrong_values_are_reported_per_case(task):
    outcome = run_program(task, task.solution.replace("n > 0", "n >= -1"))
    failed = [c for c in outcome.cases if c.status == "FAIL"]
    assert outcome.compiled and failed
    assert failed[0].call == "Solution.sumPositive(new int[]{-5, -1, 0})"
    assert (failed[0].expected, failed[0].actual) == ("0", "-1")


def test_endless_loop_times_out(task):
    outcome = run_program(task, task.solution.replace("total += n;", "while (n > 0) { total += 0; }"), timeout=3)
    assert outcome.compiled and outcome.timed_out and not outcome.all_passed


def test_every_shipped_task_file_is_well_formed():
    tasks = load_tasks()
    assert len(tasks) >= 150
    assert len({t.id for t in tasks}) == len(tasks)
    assert all(len(t.variants) >= 2 and len(t.tests) >= 5 for t in tasks)


def test_malformed_task_lists_every_problem(tmp_path):
    path = tmp_path / "broken_task.yaml"
    path.write_text("id: other\ntopic: poetry\nsolution: class Foo {}\ntests: []\nextra: 1\n")
    with pytest.raises(TaskError) as info:
        load_task(path)
    text = str(info.value)
    for part in (
        "unknown key 'extra'",
        "'title' must be",
        "does not match the file name",
        "topic must be one of",
        "must declare class Solution",
        "at least 2 variants",
        "at least 5 tests",
    ):
        assert part in text


def test_batch_compile_in_one_jvm_matches_javac(task, tmp_path):
    from fedjava.java.runner import Program, compile_many

    programs = [
        Program("ok", task, task.solution),
        Program("semicolon", task, task.solution.replace("return total;", "return total")),
        Program("missing_return", task, task.solution.replace("        return total;\n", "")),
    ]
    results = compile_many(programs, tmp_path)
    assert results["ok"] == (True, [])
    ok, errors = results["semicolon"]
    assert not ok and [(e.file, e.line, e.key) for e in errors] == [("Solution.java", 9, "compiler.err.expected")]
    assert errors[0].message == "';' expected"
    ok, errors = results["missing_return"]
    assert (
        not ok and errors[0].key == "compiler.err.missing.ret.stmt" and errors[0].message == "missing return statement"
    )
    assert (tmp_path / "0" / "out" / "Solution.class").is_file()


def test_a_program_run_alone_formats_numbers_as_a_full_jdk_does(task):
    """Its JVM has java.base and the harness only, plus the JDK's locale data: German decimals keep their comma."""
    shown = '        System.out.println("formatted " + String.format(java.util.Locale.GERMANY, "%.2f", 3.14159));\n'
    code = task.solution.replace("class Solution {\n", "class Solution {\n    static {\n" + shown + "    }\n", 1)
    outcome = run_program(task, code)
    assert outcome.all_passed and "formatted 3,14" in outcome.stdout


def test_a_program_runs_alone_from_a_folder_too_deep_for_a_socket_path(task, tmp_path, monkeypatch):
    """The harness's report socket is bound through /proc/self/fd when its path is over the 108-byte limit."""
    import tempfile

    deep = tmp_path / ("deep-" * 25)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    assert len(str(deep / "fedjava-x" / "report.sock")) > 108
    outcome = run_program(task, task.solution)
    assert outcome.all_passed and outcome.passed == 5
