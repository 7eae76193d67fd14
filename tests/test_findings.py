"""A verdict is a finding only when the tools show it; otherwise it is the model's guess, and says so."""

from __future__ import annotations

import pytest

from fedjava.findings import CONFIRMED, CONTRADICTED, UNCONFIRMED, support

COMPILE_FAIL = (
    "Tool results:\njavac: error at line 3: compiler.err.expected: ';' expected\n"
    "tests: not run (the program does not compile)"
)
COMPILES = "Tool results:\njavac: compiles\ntests: not run"
PASSES = "Tool results:\njavac: compiles\ntests: 5 of 5 passed"
THROWS = (
    "Tool results:\njavac: compiles\ntests: 3 of 5 passed\nfirst exception: Solution.f(0) threw "
    "java.lang.ArithmeticException: / by zero at line 9"
)
WRONG = "Tool results:\njavac: compiles\ntests: 4 of 5 passed\nfirst wrong result: Solution.g(3) returned 4, expected 6"
ENDLESS = (
    "Tool results:\njavac: compiles\ntests: 4 of 5 passed\nfirst exception: Solution.f(1) did not finish "
    "within 1 s of CPU time"
)


@pytest.mark.parametrize(
    "verdict,evidence,status",
    [
        ("COMPILE_ERROR", COMPILE_FAIL, CONFIRMED),
        ("COMPILE_ERROR", COMPILES, CONTRADICTED),
        ("RUNTIME_ERROR", THROWS, CONFIRMED),
        ("RUNTIME_ERROR", ENDLESS, CONFIRMED),
        ("RUNTIME_ERROR", WRONG, CONTRADICTED),
        ("RUNTIME_ERROR", COMPILES, UNCONFIRMED),
        ("RUNTIME_ERROR", PASSES, CONTRADICTED),
        ("RUNTIME_ERROR", COMPILE_FAIL, CONTRADICTED),
        ("LOGIC_ERROR", WRONG, CONFIRMED),
        ("LOGIC_ERROR", COMPILES, UNCONFIRMED),
        ("LOGIC_ERROR", PASSES, CONTRADICTED),
        ("LOGIC_ERROR", THROWS, CONTRADICTED),
        ("NO_ERROR", PASSES, CONFIRMED),
        ("NO_ERROR", COMPILES, UNCONFIRMED),
        ("NO_ERROR", WRONG, CONTRADICTED),
        ("NO_ERROR", COMPILE_FAIL, CONTRADICTED),
        ("LOGIC_ERROR", None, UNCONFIRMED),
        ("NO_ERROR", None, UNCONFIRMED),
    ],
)
def test_a_verdict_is_a_finding_only_when_a_tool_shows_it(verdict, evidence, status):
    backed = support({"verdict": verdict, "errors": [], "score": 5}, evidence)
    assert backed.status == status and backed.finding == (status == CONFIRMED) and backed.reason


def test_a_guess_without_tests_is_shown_as_possible_in_the_review():
    from conftest import GOOD
    from fedjava.review import format_review

    guess = {
        "verdict": "RUNTIME_ERROR",
        "score": 4,
        "errors": [
            {
                "type": "Runtime Error",
                "code": "java.lang.NullPointerException",
                "line": 3,
                "message": "",
                "explanation": "x may be null",
                "fix": "return 0;",
            }
        ],
    }
    text = format_review(guess, GOOD, "A.java", "task", False, COMPILES)
    assert "Verdict: possible RUNTIME_ERROR" in text and "Possible error 1 of 1" in text
    assert "Unconfirmed: no test ran" in text and "it is not a finding" in text
    shown = format_review(guess, GOOD, "A.java", "task", False, THROWS)
    assert "Verdict: RUNTIME_ERROR" in shown and "Possible" not in shown and "Unconfirmed" not in shown


def test_a_logic_errors_line_whose_fix_fails_is_called_a_guess_beside_the_tools_localisation():
    from conftest import GOOD
    from fedjava.review import format_review

    guess = {
        "verdict": "LOGIC_ERROR",
        "score": 4,
        "errors": [
            {
                "type": "Logical Error",
                "code": "wrong_output",
                "line": 3,
                "message": "",
                "explanation": "x",
                "fix": "return 3 * x;",
            }
        ],
    }
    localised = WRONG + "\nsuspicious lines (mutants): 3, 2\na change that passes every test: line 3: return x + x;"
    failed = {"status": "failed", "tests": 5, "fixes_tried": 1}
    text = format_review(guess, GOOD, "A.java", "task", False, localised, failed)
    assert (
        "Line 3 is the model's guess: no fix tried there passes the tests. The tools' localisation points at "
        "line 3, 2." in text
    )
    assert "model's guess" not in format_review(
        guess, GOOD, "A.java", "task", False, localised, {**failed, "status": "first"}
    )
