"""Issue 24 items 1-3 through the real commands: a task with a wrong ``expect`` or a reference that fails its own tests
stops ``fedjava task check``, ``grade``, ``review`` and ``serve`` with one line naming the test, and no student is
graded; a correct program with a ``package`` line, or split over two files, is graded NO_ERROR 10/10 by ``grade``
and ``review``; ``--reference`` alone gives a class tests. Real javac, java and bubblewrap; tiny grounded adapters."""

from __future__ import annotations

import csv
import html
import json
import shutil

import pytest
from tests.conftest import GOOD, GOOD_ANSWER, REQUIREMENT, CountingReviewer, form_token, save_tiny_adapter

from fedjava.cli import main

pytestmark = pytest.mark.skipif(shutil.which("javac") is None, reason="needs a JDK")

TESTS = "".join(f"  - {{call: Solution.twice({x}), expect: {2 * x}}}\n" for x in (2, 0, -3, 7, 50))
TASK = f"title: Twice\nrequirement: |\n  {REQUIREMENT}\ntests:\n{TESTS}"
TYPO = TASK.replace("expect: 14}", "expect: AL}")  # the typo: a name, not a value
WRONG_MODEL = GOOD.replace("2 * x", "x + x + (x > 5 ? 1 : 0)")
PACKAGED = (
    "package lab4;\n\npublic class Solution {\n    public static int twice(int x) {\n        return 2 * x;\n    }\n}\n"
)
SPLIT = {
    "Solution.java": "class Solution {\n    static int twice(int x) {\n        return Doubler.of(x);\n    }\n}\n",
    "Doubler.java": "import java.util.Objects;\n\npublic class Doubler {\n    static int of(int x) {\n"
    "        return Objects.requireNonNull(x) * 2;\n    }\n}\n",
}
PASSED = "Tool results:\njavac: compiles\ntests: 5 of 5 passed"
REFUSED = (
    "Tool results:\njavac: error at line 3: compiler.err.cant.resolve.location: cannot find symbol\n"
    "tests: not run (the program does not compile)"
)
REFUSED_ANSWER = {
    "verdict": "COMPILE_ERROR",
    "errors": [
        {
            "type": "Syntax Error",
            "code": "compiler.err.cant.resolve.location",
            "line": 3,
            "message": "cannot find symbol",
            "explanation": "The test driver cannot find Solution.",
            "fix": "class Solution {",
        }
    ],
    "score": 3,
}


def _combined():
    from fedjava.java.sources import combine_files

    return combine_files(list(SPLIT.items()))


@pytest.fixture(scope="module")
def grounded(tmp_path_factory):
    """A tiny grounded adapter whose verdict follows the tool results it is shown: all tests passed -> NO_ERROR 10,
    javac's error -> COMPILE_ERROR 3 (for the two programs below: the harness decides which it sees)."""
    teach = [
        (code, answer, evidence)
        for code in (PACKAGED, _combined())
        for answer, evidence in ((GOOD_ANSWER, PASSED), (REFUSED_ANSWER, REFUSED))
    ]
    return save_tiny_adapter(
        tmp_path_factory.mktemp("grounded") / "final_model", ["prompt_mode=grounded"], teach, steps=200
    )


def _run(capsys, *argv):
    code = main([*map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def _one_error(err: str) -> str:
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    return errors[0]


def test_task_check_names_the_test_with_the_typo_and_the_test_the_reference_fails(tmp_path, capsys):
    typo = tmp_path / "typo.yaml"
    typo.write_text(TYPO)
    code, _, err = _run(capsys, "task", "check", typo)
    assert code == 2 and _one_error(err) == (
        f"error: {typo}: the expected value of test 4 (Solution.twice(7)) does not "
        "compile: cannot find symbol (variable AL)"
    )
    typo.write_text(TYPO + f"solution: |\n  {GOOD.replace(chr(10), chr(10) + '  ')}\n")
    code, _, err = _run(capsys, "task", "check", typo)
    assert code == 2 and _one_error(err) == (
        f"error: {typo}: test 4 (Solution.twice(7)) does not compile with the "
        "task's solution: cannot find symbol (variable AL)"
    )
    task, model = tmp_path / "twice.yaml", tmp_path / "Model.java"
    task.write_text(TASK)
    model.write_text(WRONG_MODEL)
    code, _, err = _run(capsys, "task", "check", task, "--reference", model)
    assert code == 2 and _one_error(err) == (
        f"error: {task}: the reference solution fails test 4 (Solution.twice(7)): returned 15, expected 14"
    )
    model.write_text(GOOD)
    code, out, _ = _run(capsys, "task", "check", task, "--reference", model, "--inputs", "6", "--show")
    assert code == 0 and out.startswith(
        f"{task}: OK: 5 test(s) compile and pass with the reference solution; "
        "6 generated test(s) for Solution.twice in "
    )
    assert "s, from the reference solution (checked in " in out.split("\n")[0]
    assert "tests:\n- call: Solution.twice(0)\n  expect: '0'\n" in out


def test_a_broken_task_grades_no_student(grounded, tmp_path, capsys):
    typo = tmp_path / "typo.yaml"
    typo.write_text(TYPO)
    klass = tmp_path / "class"
    klass.mkdir()
    (klass / "alice.java").write_text(GOOD)
    code, _, err = _run(capsys, "grade", klass, "--task", typo, "--adapter", grounded, "--out", tmp_path / "out")
    assert code == 2 and "test 4 (Solution.twice(7))" in _one_error(err) and "cannot find symbol (variable AL)" in err
    assert "Loading" not in err and not (tmp_path / "out").exists()  # refused before the model, nothing written
    (klass / "Solution.java").write_text(GOOD)
    code, _, err = _run(capsys, "review", klass / "Solution.java", "--task-file", typo, "--adapter", grounded)
    assert code == 2 and "test 4 (Solution.twice(7))" in _one_error(err) and "Loading" not in err
    model = tmp_path / "Wrong.java"
    model.write_text(WRONG_MODEL)
    typo.write_text(TASK)
    code, _, err = _run(
        capsys, "grade", klass, "--task", typo, "--reference", model, "--adapter", grounded, "--out", tmp_path / "out"
    )
    assert code == 2 and "the reference solution fails test 4 (Solution.twice(7)): returned 15, expected 14" in err


def test_serve_names_a_broken_task_file_and_reviews_nothing(grounded):
    from starlette.testclient import TestClient

    from fedjava.grading.rubric import load_rubric
    from fedjava.reviewer import Reviewer, open_adapter
    from fedjava.serve import create_app

    counting = CountingReviewer(Reviewer.load(*open_adapter(grounded), max_new_tokens=8))
    client = TestClient(create_app(counting, load_rubric()), headers={"origin": "http://testserver"})
    refused = client.post(
        "/review", data={"code": GOOD, "form_token": form_token(client)}, files={"task_file": ("typo.yaml", TYPO)}
    )
    assert refused.status_code == 400 and counting.reviews == 0
    assert (
        "the task file: the expected value of test 4 (Solution.twice(7)) does not compile: cannot find symbol "
        "(variable AL)"
    ) in html.unescape(refused.text)


def test_a_package_line_or_two_files_are_graded_no_error_10_of_10(grounded, tmp_path, capsys):
    task = tmp_path / "twice.yaml"
    task.write_text(TASK)
    klass = tmp_path / "class"
    (klass / "bob").mkdir(parents=True)
    (klass / "alice.java").write_text(PACKAGED)
    for name, code in SPLIT.items():
        (klass / "bob" / name).write_text(code)
    code, out, err = _run(capsys, "grade", klass, "--task", task, "--adapter", grounded, "--out", tmp_path / "out")
    assert code == 0, err
    records = {r["student"]: r for r in map(json.loads, (tmp_path / "out" / "results.jsonl").read_text().splitlines())}
    assert records["alice"]["evidence"] == records["bob"]["evidence"] == PASSED
    assert records["bob"]["code"] == _combined() and records["bob"]["source"] == "bob/"
    with (tmp_path / "out" / "grades_detail.csv").open(encoding="utf-8", newline="") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert {s: (rows[s]["verdict"], rows[s]["score"], rows[s]["points_possible"]) for s in ("alice", "bob")} == {
        s: ("NO_ERROR", "10", "10") for s in ("alice", "bob")
    }, rows

    split = [klass / "bob" / name for name in SPLIT]
    code, out, err = _run(capsys, "review", *split, "--task-file", task, "--adapter", grounded, "--json")
    answer = json.loads(out)
    assert code == 0 and (answer["verdict"], answer["score"], answer["tool_results"]) == ("NO_ERROR", 10, PASSED)
    code, out, _ = _run(capsys, "review", klass / "alice.java", "--task-file", task, "--adapter", grounded, "--json")
    answer = json.loads(out)
    assert code == 0 and (answer["verdict"], answer["score"], answer["tool_results"]) == ("NO_ERROR", 10, PASSED)


def test_a_reference_alone_gives_the_class_its_tests(grounded, tmp_path, capsys):
    task, model = tmp_path / "twice.txt", tmp_path / "Model.java"
    task.write_text(REQUIREMENT + "\n")  # a task as plain text: no tests at all
    model.write_text(GOOD)
    klass = tmp_path / "class"
    klass.mkdir()
    (klass / "ok.java").write_text(GOOD.replace("2 * x", "x << 1"))
    (klass / "off.java").write_text(WRONG_MODEL)
    code, _, err = _run(
        capsys,
        "grade",
        klass,
        "--task",
        task,
        "--reference",
        model,
        "--adapter",
        grounded,
        "--max-new-tokens",
        4,
        "--out",
        tmp_path / "out",
    )
    assert code == 0, err
    assert "Task check: 40 generated test(s) for Solution.twice in " in err
    records = {r["student"]: r for r in map(json.loads, (tmp_path / "out" / "results.jsonl").read_text().splitlines())}
    assert records["ok"]["evidence"] == (
        "Tool results:\njavac: compiles\ntests: 40 of 40 passed\nreference: all 40 generated inputs agree"
    )
    lines = records["off"]["evidence"].split("\n")
    differ = next(line for line in lines if line.startswith("reference: "))
    passed = int(lines[2].split()[1])
    assert differ.startswith(f"reference: {40 - passed} of 40 generated inputs differ; first: Solution.twice(")
    assert ", the reference returns " in differ
