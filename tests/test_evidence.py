"""Tool results for grounded prompts: the block's format, the shipped data's evidence, and prompt modes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import BAD_ANSWER, GOOD, REQUIREMENT
from fedjava.java.evidence import compile_only, evidence_block
from fedjava.java.runner import CaseResult, Diagnostic, RunOutcome
from fedjava.prompts import (
    GROUNDED_SYSTEM_PROMPT,
    SYSTEM_PROMPT,
    SampleError,
    apply_prompt_mode,
    build_messages,
    quote_source_lines,
    split_user_prompt,
)

DATA = Path(__file__).resolve().parents[1] / "data"


def test_block_for_a_compile_error_names_javacs_first_error_in_the_student_file():
    outcome = RunOutcome(
        False,
        [
            Diagnostic("TestDriver.java", 2, 1, "compiler.err.cant.resolve", "x"),
            Diagnostic("Solution.java", 7, 20, "compiler.err.expected", "';'", "';' expected"),
        ],
    )
    assert evidence_block(outcome, 5) == (
        "Tool results:\njavac: error at line 7: compiler.err.expected: ';' expected\n"
        "tests: not run (the program does not compile)"
    )


def test_block_for_test_runs_shows_the_first_exception_and_the_first_wrong_result():
    cases = [
        CaseResult(0, "PASS", "Solution.f(1)"),
        CaseResult(1, "FAIL", "Solution.f(2)", expected="4", actual="5"),
        CaseResult(
            2,
            "ERROR",
            "Solution.f(0)",
            exception="java.lang.ArithmeticException",
            line=9,
            message="/ by zero (in unnamed module of loader 'app' @1b2c3d)",
        ),
        CaseResult(3, "TIMEOUT", "Solution.f(-1)"),
    ]
    assert evidence_block(RunOutcome(True, cases=cases), 4).split("\n") == [
        "Tool results:",
        "javac: compiles",
        "tests: 1 of 4 passed",
        "first exception: Solution.f(0) threw java.lang.ArithmeticException: / by zero at line 9",
        "first wrong result: Solution.f(2) returned 5, expected 4",
    ]
    timeout = RunOutcome(True, cases=cases[3:])
    assert "first exception: Solution.f(-1) did not finish within 1 s of CPU time" in evidence_block(timeout, 4)
    halted = RunOutcome(True, cases=cases[:1], timed_out=True)
    assert "first exception: new Box().fill() did not finish" in evidence_block(halted, 4, "new Box().fill()")
    passing = evidence_block(RunOutcome(True, cases=cases[:1]), 1)
    assert passing == "Tool results:\njavac: compiles\ntests: 1 of 1 passed"
    assert evidence_block(RunOutcome(True), 0).endswith("\ntests: not run")
    assert evidence_block(RunOutcome(True), 5, ran_tests=False).endswith("\ntests: not run")
    assert evidence_block(None, 5) == "Tool results:\njavac: not run\ntests: not run"
    long_value = "x" * 500
    block = evidence_block(RunOutcome(True, cases=[CaseResult(0, "FAIL", "f()", long_value, "y")]), 1)
    assert max(len(line) for line in block.split("\n")) < 200


def test_compile_only_keeps_the_javac_line_and_hides_the_tests():
    block = "Tool results:\njavac: compiles\ntests: 1 of 4 passed\nfirst wrong result: f() returned 1, expected 2"
    assert compile_only(block) == "Tool results:\njavac: compiles\ntests: not run"
    failed = (
        "Tool results:\njavac: error at line 3: compiler.err.expected\ntests: not run (the program does not compile)"
    )
    assert compile_only(failed) == failed


@pytest.mark.parametrize("split", ["valid", "test"])
def test_shipped_evidence_agrees_with_every_label(split):
    """What the grounded prompt shows is what the label was read from: never a contradiction."""
    for line in (DATA / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
        sample = json.loads(line)
        evidence, answer = sample["meta"]["evidence"], json.loads(sample["messages"][-1]["content"])
        assert evidence.startswith("Tool results:\njavac: ")
        if answer["verdict"] == "NO_ERROR":
            assert re.search(r"\ntests: (\d+) of \1 passed$", evidence), evidence
            continue
        error = answer["errors"][0]
        if answer["verdict"] == "COMPILE_ERROR":
            assert f"javac: error at line {error['line']}: {error['code']}" in evidence
        elif error["code"] == "timeout":
            assert "did not finish within" in evidence and "javac: compiles" in evidence
        elif answer["verdict"] == "RUNTIME_ERROR":
            assert f" threw {error['code']}" in evidence and f"at line {error['line']}" in evidence
        else:
            assert "first wrong result: " in evidence and "first exception" not in evidence


def test_grounded_mode_adds_the_tool_results_after_the_code():
    evidence = "Tool results:\njavac: error at line 3: compiler.err.expected: ';' expected\ntests: not run"
    bad = GOOD.replace("return 2 * x;", "return 2 * x")
    sample = {"messages": build_messages(REQUIREMENT, bad, BAD_ANSWER), "meta": {"evidence": evidence}}
    (grounded,) = apply_prompt_mode([sample], "grounded")
    system, user, answer = grounded["messages"]
    assert system == {"role": "system", "content": GROUNDED_SYSTEM_PROMPT}
    assert user["content"].endswith(
        "\n\nTool results:\njavac: error at line 3: compiler.err.expected: ';' expected"
        "\nline 3 reads: return 2 * x\ntests: not run"
    )  # the named line, quoted
    assert split_user_prompt(user["content"]) == (REQUIREMENT, bad)  # evaluation still finds task and code
    assert answer == sample["messages"][-1]
    assert sample["messages"][0]["content"] == SYSTEM_PROMPT  # the input is not changed
    assert apply_prompt_mode([sample], "code_only") == [sample]
    assert build_messages(REQUIREMENT, bad, BAD_ANSWER, evidence=evidence) == grounded["messages"]


def test_the_line_a_tool_names_is_quoted_when_it_is_in_the_code():
    code = "class A {\n    int f(int[] a) {\n        return a[3];\n    }\n}\n"
    thrown = (
        "javac: compiles\ntests: 0 of 2 passed\nfirst exception: A.f(new int[0]) threw "
        "java.lang.ArrayIndexOutOfBoundsException: Index 3 out of bounds for length 0 at line 3\n"
        "first wrong result: A.f(x) returned 1, expected 2"
    )
    assert quote_source_lines(thrown, code).split("\n")[3] == "line 3 reads: return a[3];"
    assert quote_source_lines(thrown, code).count("reads:") == 1  # a wrong result names no line
    assert (
        quote_source_lines("javac: error at line 9: compiler.err.premature.eof", code)
        == "javac: error at line 9: compiler.err.premature.eof"
    )  # past the end of the code: nothing to quote
    outside = "javac: compiles\nfirst exception: A.f(x) threw java.lang.Error outside the student's code"
    assert quote_source_lines(outside, code) == outside
    assert quote_source_lines("javac: compiles\ntests: not run", "") == "javac: compiles\ntests: not run"


def test_grounded_mode_needs_evidence_and_tests_dropout_hides_test_results():
    plain = {"messages": build_messages(REQUIREMENT, GOOD, {"verdict": "NO_ERROR", "errors": [], "score": 10})}
    with pytest.raises(SampleError, match="1 of 2 sample.*meta.evidence"):
        apply_prompt_mode([plain, {**plain, "meta": {"evidence": "Tool results:\njavac: compiles"}}], "grounded")
    with pytest.raises(SampleError, match="unknown prompt_mode"):
        apply_prompt_mode([plain], "tools")
    tested = {**plain, "meta": {"evidence": "Tool results:\njavac: compiles\ntests: 5 of 5 passed"}}
    users = [s["messages"][1]["content"] for s in apply_prompt_mode([tested] * 200, "grounded", tests_dropout=0.25)]
    hidden = sum(u.endswith("javac: compiles\ntests: not run") for u in users)
    assert 30 <= hidden <= 70 and hidden + sum(u.endswith("5 of 5 passed") for u in users) == 200
    again = [s["messages"][1]["content"] for s in apply_prompt_mode([tested] * 200, "grounded", tests_dropout=0.25)]
    assert again == users  # seeded


def test_gather_evidence_compiles_a_public_class_under_its_own_name():
    from fedjava.java.evidence import gather_evidence

    code = 'public class Greeter {\n    static String hi() {\n        return "hi"\n    }\n}\n'
    block, outcome = gather_evidence(code)
    assert not outcome.compiled and outcome.diagnostics[0].file == "Greeter.java"
    assert block == (
        "Tool results:\njavac: error at line 3: compiler.err.expected: ';' expected\n"
        "tests: not run (the program does not compile)"
    )
    fixed, _ = gather_evidence(code.replace('"hi"\n', '"hi";\n'))
    assert fixed == "Tool results:\njavac: compiles\ntests: not run"


def test_every_kind_of_fact_renders_one_line_that_parses_back_to_it():
    from fedjava.java.evidence import (
        Evidence,
        FirstException,
        FirstTimeout,
        FirstWrongResult,
        JavacResult,
        SuspiciousLines,
        TestsNotRun,
        TestSummary,
        VerifiedChange,
        parse_fact,
    )

    facts = [
        JavacResult("compiles"),
        JavacResult("failed"),
        JavacResult("not_run"),
        JavacResult("error", 12, "compiler.err.expected", "';' expected"),
        JavacResult("error", 3, "compiler.err.premature.eof"),
        TestsNotRun(),
        TestsNotRun("the program does not compile"),
        TestSummary(7, 10),
        FirstException("Solution.f(0)", "java.lang.ArithmeticException", "/ by zero", 9),
        FirstException("new Box().get(3)", "java.lang.IllegalStateException", "", -1),
        FirstTimeout("Solution.loop(5)"),
        FirstWrongResult("Solution.g(3)", "4", "6"),
        SuspiciousLines("coverage", (10, 9, 4)),
        SuspiciousLines("mutants", (7,)),
        VerifiedChange(7, "if (v >= limit) {"),
    ]
    for fact in facts:
        assert parse_fact(fact.render()) == fact, fact
    block = Evidence(tuple(facts[3:4] + facts[6:7]))
    assert Evidence.parse(block.render()) == block
    assert block.render() == (
        "Tool results:\njavac: error at line 12: compiler.err.expected: ';' expected\n"
        "tests: not run (the program does not compile)"
    )
    assert [f.named_line for f in facts[3:5] + facts[8:10] + facts[12:]] == [12, 3, 9, None, 10, 7, 7]


@pytest.mark.parametrize("split", ["train", "valid", "test"])
def test_the_shipped_blocks_parse_into_known_facts_and_render_unchanged(split):
    from fedjava.java.evidence import Evidence, OtherLine

    for line in (DATA / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
        block = json.loads(line)["meta"]["evidence"]
        evidence = Evidence.parse(block)
        assert not evidence.all(OtherLine), block
        assert evidence.render() == block


def test_a_new_kind_of_evidence_is_one_registered_class():
    from dataclasses import dataclass

    from fedjava.java import evidence as ev

    @dataclass(frozen=True)
    class Coverage(ev.Fact):
        lines: tuple[int, ...]

        def render(self) -> str:
            return "covered by the failing test: " + ", ".join(map(str, self.lines))

        @classmethod
        def parse(cls, line):
            head = "covered by the failing test: "
            return cls(tuple(int(n) for n in line[len(head) :].split(", "))) if line.startswith(head) else None

    block = "Tool results:\njavac: compiles\ntests: 1 of 2 passed\ncovered by the failing test: 4, 7"
    assert ev.Evidence.parse(block).all(ev.OtherLine)  # unknown before it is registered, but kept
    ev.register(Coverage)
    try:
        parsed = ev.Evidence.parse(block)
        assert parsed.first(Coverage) == Coverage((4, 7)) and parsed.render() == block
        assert parsed.compile_only().render() == "Tool results:\njavac: compiles\ntests: not run"
    finally:
        ev.FACT_KINDS.remove(Coverage)
