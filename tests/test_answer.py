"""The typed answer: one reader, one writer, and the canonical dict every other module reads."""

from __future__ import annotations

import json

import pytest

from fedjava.answer import Answer, AnswerError
from fedjava.evaluation.parse import parse_answer
from fedjava.prompts import format_answer

LOGIC = {
    "verdict": "LOGIC_ERROR",
    "score": 6,
    "errors": [
        {
            "type": "Logical Error",
            "code": "wrong_result",
            "line": 4,
            "message": "f(2) returned 5, expected 4",
            "explanation": "The loop runs one step too far: i <= n reaches n.",
            "fix": "for (int i = 0; i < n; i++) {",
        }
    ],
}


def test_render_writes_the_keys_in_the_order_the_model_is_taught():
    text = Answer.from_dict(LOGIC).render()
    assert list(json.loads(text)) == ["verdict", "errors", "score"]
    assert list(json.loads(text)["errors"][0]) == ["type", "code", "line", "message", "explanation", "fix"]
    assert text == format_answer(LOGIC)  # the training labels are written by the same writer


def test_reading_what_was_written_gives_the_same_answer():
    answer = Answer.from_dict(LOGIC)
    assert Answer.from_dict(json.loads(answer.render())) == answer
    assert parse_answer("Here it is:\n```json\n" + answer.render() + "\n```") == answer.to_dict()


def test_lines_and_scores_become_numbers_and_a_missing_fix_is_not_an_empty_one():
    loose = {
        "verdict": "RUNTIME_ERROR",
        "score": True,
        "errors": [{"type": "Runtime Error", "line": "7", "fix": None}, {"type": "", "line": 3.0}],
    }
    answer = Answer.from_dict(loose)
    assert answer.score is None  # a boolean is no score
    assert answer.errors == (AnswerError("Runtime Error", line=7, fix=None), AnswerError("", line=3, fix=""))
    assert Answer.from_dict({"verdict": "NO_ERROR", "errors": [], "score": 10}).to_dict() == {
        "verdict": "NO_ERROR",
        "errors": [],
        "score": 10,
    }


@pytest.mark.parametrize(
    "shape",
    [
        None,
        [],
        {"verdict": "MAYBE_ERROR", "errors": []},
        {"verdict": "LOGIC_ERROR", "errors": "line 4"},
        {"verdict": "LOGIC_ERROR", "errors": ["line 4"]},
        {"verdict": "LOGIC_ERROR", "errors": [{"type": "Bad Error"}]},
    ],
)
def test_what_has_not_the_answers_shape_is_no_answer(shape):
    assert Answer.from_dict(shape) is None
    with pytest.raises(ValueError, match="not an answer"):
        format_answer(shape if isinstance(shape, dict) else {"verdict": None})
