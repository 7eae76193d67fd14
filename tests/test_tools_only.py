"""The tools-only baseline: the answer a rule reads from javac's and the tests' output, with no model."""

from __future__ import annotations

import json

import pytest

from fedjava.evaluation.tools_only import called_method, guessed_line, method_span, tools_answer
from fedjava.java.evidence import Evidence

CODE = """class Solution {
    // returns the mean; "return" in a comment and a string: "return x;"
    static double mean(int[] xs) {
        int total = 0;
        for (int i = 0; i < xs.length; i++) {
            total += xs[i];
        }
        if (xs.length == 0) {
            return 0;
        }
        return total / xs.length;
    }

    static int spin(int n) {
        while (n > 0) {
            n = n + 0;
        }
        return n;
    }
}
"""


@pytest.mark.parametrize(
    "call,name",
    [
        ("Solution.mean(new int[]{1, 2})", "mean"),
        ("new Box().fill(3)", "fill"),
        ('Solution.f(g(1), "h(2)")', "f"),
        ("c.total()", "total"),
        ("new Box()", "Box"),
        ("42", ""),
    ],
)
def test_the_method_a_call_names(call, name):
    assert called_method(call) == name


def test_the_last_return_of_the_called_method_and_its_last_loop():
    assert method_span(CODE, "mean") == (3, 12)
    assert guessed_line(CODE, "Solution.mean(new int[]{1, 2})") == 11
    assert guessed_line(CODE, "Solution.spin(3)", re_loop()) == 15
    assert guessed_line(CODE, "Solution.missing(3)") == 0


def re_loop():
    from fedjava.evaluation import tools_only

    return tools_only._LOOP


def _answer(block: str) -> dict:
    return tools_answer(Evidence.parse(block), CODE)


def test_each_kind_of_evidence_gives_the_verdict_code_line_and_score_the_labels_give():
    compile_error = _answer(
        "javac: error at line 6: compiler.err.expected: ';' expected\ntests: not run (the program does not compile)"
    )
    assert (compile_error["verdict"], compile_error["score"]) == ("COMPILE_ERROR", 0)
    assert compile_error["errors"][0] == {
        "type": "Syntax Error",
        "code": "compiler.err.expected",
        "line": 6,
        "message": "';' expected",
        "explanation": "",
        "fix": None,
    }
    thrown = _answer(
        "javac: compiles\ntests: 3 of 5 passed\nfirst exception: Solution.mean(new int[]{}) threw "
        "java.lang.ArithmeticException: / by zero at line 11"
    )
    assert (thrown["verdict"], thrown["errors"][0]["code"], thrown["errors"][0]["line"], thrown["score"]) == (
        "RUNTIME_ERROR",
        "java.lang.ArithmeticException",
        11,
        6,
    )
    endless = _answer(
        "javac: compiles\ntests: 4 of 5 passed\nfirst exception: Solution.spin(3) did not finish within 1 s of CPU time"
    )
    assert (endless["errors"][0]["code"], endless["errors"][0]["line"], endless["score"]) == ("timeout", 15, 8)
    wrong = _answer(
        "javac: compiles\ntests: 1 of 4 passed\n"
        "first wrong result: Solution.mean(new int[]{1, 2}) returned 1.0, expected 1.5"
    )
    assert (wrong["verdict"], wrong["errors"][0]["code"], wrong["errors"][0]["line"], wrong["score"]) == (
        "LOGIC_ERROR",
        "wrong_output",
        11,
        3,
    )
    both = _answer(
        "javac: compiles\ntests: 1 of 4 passed\nfirst exception: Solution.spin(1) did not finish within "
        "1 s of CPU time\nfirst wrong result: Solution.mean(new int[]{1, 2}) returned 1.0, expected 1.5"
    )
    assert both["verdict"] == "RUNTIME_ERROR"  # the labels take an exception over a wrong value
    assert _answer("javac: compiles\ntests: 5 of 5 passed") == {"verdict": "NO_ERROR", "errors": [], "score": 10}
    assert _answer("javac: compiles\ntests: not run")["verdict"] == "NO_ERROR"


def test_the_rule_agrees_with_every_shipped_test_label_on_verdict_code_and_score():
    from pathlib import Path

    from fedjava.prompts import split_user_prompt

    for line in (Path(__file__).resolve().parents[1] / "data" / "test.jsonl").read_text().splitlines():
        sample = json.loads(line)
        gold = json.loads(sample["messages"][-1]["content"])
        code = split_user_prompt(sample["messages"][1]["content"])[1]
        answer = tools_answer(Evidence.parse(sample["meta"]["evidence"]), code)
        assert (answer["verdict"], answer["score"]) == (gold["verdict"], gold["score"])
        if gold["errors"]:
            assert answer["errors"][0]["code"] == gold["errors"][0]["code"]
            if gold["verdict"] == "COMPILE_ERROR":
                assert answer["errors"][0]["line"] == gold["errors"][0]["line"]


def test_evaluate_tools_only_runs_no_model_and_writes_its_own_run(data_dir, tmp_path, capsys):
    from fedjava.cli import main

    code = main(
        [
            "evaluate",
            "--tools-only",
            "--split",
            "valid",
            "--no-fix-check",
            f"data_dir={data_dir}",
            f"results_dir={tmp_path / 'results'}",
            "model_name=/nonexistent/model",
        ]
    )
    assert code == 0
    metrics = json.loads((tmp_path / "results" / "tools_only" / "metrics_valid.json").read_text())
    assert metrics["run"] == "tools_only" and metrics["verdict_macro_f1"] == 1.0
    rows = [json.loads(r) for r in (tmp_path / "results" / "tools_only" / "predictions_valid.jsonl").open()]
    assert {r["parsed"]["verdict"] for r in rows} == {"NO_ERROR", "COMPILE_ERROR"}
    assert main(["evaluate", "--tools-only", "--verify-fixes", "2", f"data_dir={data_dir}"]) == 2
    assert "--verify-fixes needs a model" in capsys.readouterr().err


def test_the_localisation_rows_take_their_methods_top_line_and_the_mutants_verified_change():
    block = (
        "javac: compiles\ntests: 1 of 4 passed\n"
        "first wrong result: Solution.mean(new int[]{1, 2}) returned 1.0, expected 1.5\n"
        "suspicious lines (coverage): 6, 4\nsuspicious lines (mutants): 5\n"
        "a change that passes every test: line 11: return (double) total / xs.length;"
    )
    evidence = Evidence.parse(block)
    assert tools_answer(evidence, CODE)["errors"][0]["line"] == 11  # the last return of mean
    coverage = tools_answer(evidence, CODE, "coverage")["errors"][0]
    assert (coverage["line"], coverage["fix"]) == (6, None)
    verified = tools_answer(evidence, CODE, "mutants")["errors"][0]
    assert (verified["line"], verified["fix"]) == (11, "return (double) total / xs.length;")
    unverified = Evidence.parse(block.rsplit("\n", 1)[0])
    assert tools_answer(unverified, CODE, "mutants")["errors"][0]["line"] == 5
    thrown = Evidence.parse(
        "javac: compiles\ntests: 3 of 5 passed\nfirst exception: Solution.mean(new int[]{}) threw "
        "java.lang.ArithmeticException: / by zero at line 11\n"
        "a change that passes every test: line 9: return 0.0;"
    )
    error = tools_answer(thrown, CODE, "mutants")["errors"][0]
    assert (error["line"], error["fix"]) == (11, None)  # the change is not on the line the stack trace names
