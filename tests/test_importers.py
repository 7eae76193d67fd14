from __future__ import annotations

import json

import pytest

from fedjava.dataset.importers import (
    FeedbackError,
    ImportFormatError,
    detect_format,
    import_file,
    parse_legacy_feedback,
    run_import,
)
from fedjava.prompts import SYSTEM_PROMPT, build_messages, check_sample, load_samples, write_samples

REQ = "Write a static method `int twice(int x)` in class `Solution` that returns two times x."
FLAT = "class Solution { static int twice(int x) { return 2 * x } }"
TWO_ITEMS = "1) Logical Error: The method returns x plus two.\n2) Syntax Error: The return lacks its semicolon."


def legacy_row(feedback: str = TWO_ITEMS, code: str = FLAT, requirement: str = REQ) -> dict:
    return {
        "system_prompt": "You are a Java teacher. List the errors.",
        "user_prompt": f"Java code requirement: {requirement} student code: {code}",
        "feedback": feedback,
    }


def write_jsonl(path, rows) -> None:
    """Rows as lines; a str row is written verbatim (to make bad JSON and blank lines)."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")


# ---------------------------------------------------------------- legacy


def test_legacy_row_with_two_items_becomes_our_exact_answer(tmp_path):
    path = tmp_path / "legacy.jsonl"
    write_jsonl(path, [legacy_row()])
    result = import_file(path, "legacy")
    assert (result.read, result.converted, result.skipped, result.problems) == (1, 1, 0, [])
    sample = result.samples[0]
    assert check_sample(sample) is None
    system, user, assistant = sample["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    assert user["content"] == f"Task:\n{REQ}\n\nStudent code:\n1 | {FLAT}"  # flattened code: one numbered line
    assert assistant["content"] == (
        '{"verdict": "LOGIC_ERROR", "errors": ['
        '{"type": "Logical Error", "code": "", "line": 0, "message": "The method returns x plus two.", '
        '"explanation": "The method returns x plus two.", "fix": ""}, '
        '{"type": "Syntax Error", "code": "", "line": 0, "message": "The return lacks its semicolon.", '
        '"explanation": "The return lacks its semicolon.", "fix": ""}], "score": 0}'
    )
    assert sample["meta"] == {
        "source": "legacy",
        "verdict": "LOGIC_ERROR",
        "legacy_feedback": TWO_ITEMS,
        "origin": "legacy.jsonl:1",
    }


def test_legacy_no_error_row_and_scores(tmp_path):
    path = tmp_path / "legacy.jsonl"
    write_jsonl(
        path,
        [
            legacy_row("Correct! No errors."),
            legacy_row("1) Runtime Error: Throws when x is huge."),
        ],
    )
    samples = import_file(path).samples
    assert samples[0]["messages"][-1]["content"] == '{"verdict": "NO_ERROR", "errors": [], "score": 10}'
    assert json.loads(samples[1]["messages"][-1]["content"])["verdict"] == "RUNTIME_ERROR"
    assert json.loads(samples[1]["messages"][-1]["content"])["score"] == 5


def test_legacy_multi_line_code_keeps_its_lines(tmp_path):
    code = "class Solution {\n    static int twice(int x) {\n        return 2 * x;\n    }\n}"
    path = tmp_path / "legacy.jsonl"
    write_jsonl(path, [legacy_row("Correct solution.", code=code)])
    user = import_file(path).samples[0]["messages"][1]["content"]
    assert user == build_messages(REQ, code)[1]["content"]
    assert "\n3 |         return 2 * x;" in user


def test_each_kind_of_bad_row_is_reported_with_its_line(tmp_path):
    path = tmp_path / "legacy.jsonl"
    no_feedback = legacy_row()
    del no_feedback["feedback"]
    write_jsonl(
        path,
        [
            legacy_row(),  # 1 good
            '{"user_prompt": "Java code requirement: x',  # 2 not JSON
            "",  # 3 blank: not a row
            no_feedback,  # 4 missing key
            legacy_row(code="   "),  # 5 empty code
            legacy_row("1) Type Error: x is an int."),  # 6 unknown error type
            [1, 2],  # 7 not an object
            {"user_prompt": "Fix this: class A {}", "feedback": "Correct."},  # 8 prompt layout
            legacy_row("Please try harder."),  # 9 feedback neither items nor no-error
            legacy_row(feedback=7),  # 10 wrong type
            legacy_row("Correct solution."),  # 11 good
        ],
    )
    result = import_file(path, "legacy")
    assert (result.read, result.converted, result.skipped) == (10, 2, 8)
    assert [s["meta"]["origin"] for s in result.samples] == ["legacy.jsonl:1", "legacy.jsonl:11"]
    expected = [
        (2, "not valid JSON"),
        (4, "missing key 'feedback' for the legacy format"),
        (5, "empty student code"),
        (6, "unknown error type 'Type Error'"),
        (7, "expected a JSON object, got list"),
        (8, "user_prompt does not read 'Java code requirement: <task> student code: <code>'"),
        (9, "no typed error items and no no-error wording"),
        (10, "'feedback' must be a string, got int"),
    ]
    assert len(result.problems) == len(expected)
    for problem, (line, reason) in zip(result.problems, expected, strict=True):
        assert problem.startswith(f"{path}:{line}: ") and reason in problem
    summary = result.summary()
    assert "10 row(s) read as legacy, 2 converted, 8 skipped:" in summary
    assert f"{path}:6: item 1: unknown error type" in summary


def test_stop_raises_at_the_first_bad_row(tmp_path):
    path = tmp_path / "legacy.jsonl"
    write_jsonl(path, [legacy_row(), legacy_row(code=""), "not json"])
    with pytest.raises(ImportFormatError, match=f"^{path}:2: empty student code"):
        import_file(path, on_error="stop")
    assert import_file(path, on_error="skip").skipped == 2


# ---------------------------------------------------------------- chat, alpaca, auto


def test_chat_array_passes_through_and_bad_rows_keep_their_lines(tmp_path):
    good = {
        "messages": build_messages(REQ, FLAT, {"verdict": "NO_ERROR", "errors": [], "score": 10}),
        "meta": {"id": "x1"},
    }
    bad = {"messages": good["messages"][:2]}  # no assistant answer
    path = tmp_path / "chat.json"
    path.write_text(json.dumps([good, bad, good], indent=1), encoding="utf-8")
    result = import_file(path)
    assert result.format == "chat" and result.samples == [good, good]
    line_of_bad = path.read_text().splitlines().index(" {", 2) + 1  # second element's opening brace
    assert result.problems == [f"{path}:{line_of_bad}: no assistant answer at the end"]


def test_broken_json_array_reports_where_reading_stopped(tmp_path):
    path = tmp_path / "chat.json"
    path.write_text('[\n{"messages": []},\n{"messages": oops}\n]\n', encoding="utf-8")
    result = import_file(path, "chat")
    assert result.problems[0] == f"{path}:2: 'messages' is empty"
    assert result.problems[1].startswith(f"{path}:3: not valid JSON") and "rest of the array" in result.problems[1]


def test_alpaca_rows_with_and_without_input(tmp_path):
    path = tmp_path / "alpaca.jsonl"
    write_jsonl(
        path,
        [
            {"instruction": "Grade this Java program.", "input": "class A {}", "output": "Correct."},
            {"instruction": "Say hello.", "output": "hello"},
            {"instruction": "Grade.", "input": "x", "output": ""},
        ],
    )
    result = import_file(path)
    assert result.format == "alpaca" and result.converted == 2
    first, second = result.samples
    assert first["messages"] == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "Grade this Java program.\n\nclass A {}"},
        {"role": "assistant", "content": "Correct."},
    ]
    assert second["messages"][1]["content"] == "Say hello."
    assert result.problems == [f"{path}:3: empty 'output'"]


@pytest.mark.parametrize(
    "row, fmt",
    [
        (legacy_row(), "legacy"),
        ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}, "chat"),
        ({"instruction": "i", "output": "o"}, "alpaca"),
    ],
)
def test_auto_detects_the_format_from_the_first_object_row(tmp_path, row, fmt):
    path = tmp_path / "in.jsonl"
    write_jsonl(path, ["{broken", row])  # the first row is not JSON: detection looks further
    result = import_file(path, "auto")
    assert result.format == fmt and result.converted == 1 and result.problems[0].startswith(f"{path}:1: ")


def test_auto_refuses_unknown_keys_and_files_that_cannot_be_read(tmp_path):
    path = tmp_path / "in.jsonl"
    write_jsonl(path, [{"question": "q", "answer": "a"}])
    with pytest.raises(ImportFormatError, match="cannot tell the format.*answer, question"):
        import_file(path)
    with pytest.raises(ImportFormatError, match="file not found"):
        import_file(tmp_path / "missing.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(ImportFormatError, match="no rows"):
        import_file(tmp_path / "empty.jsonl")
    with pytest.raises(ImportFormatError, match="unknown import format"):
        import_file(path, "csv")
    with pytest.raises(ImportFormatError, match="no row is a JSON object"):
        detect_format([(1, [1]), (2, "x")])


def test_explicit_format_that_does_not_fit_reports_every_row(tmp_path):
    path = tmp_path / "in.jsonl"
    write_jsonl(path, [legacy_row(), legacy_row()])
    result = import_file(path, "alpaca")
    assert result.converted == 0
    assert result.problems == [f"{path}:{n}: missing key 'instruction' for the alpaca format" for n in (1, 2)]


def test_run_import_writes_loadable_jsonl(tmp_path):
    src, out = tmp_path / "legacy.jsonl", tmp_path / "out" / "train.jsonl"
    write_jsonl(src, [legacy_row(), "nope", legacy_row("No errors found. Code is correct.")])
    text = run_import(src, out)
    assert "3 row(s) read as legacy, 2 converted, 1 skipped" in text and f"wrote 2 sample(s) to {out}" in text
    assert out.read_text().count("\n") == 2
    assert [s["meta"]["verdict"] for s in load_samples(out)] == ["LOGIC_ERROR", "NO_ERROR"]


def test_run_import_writes_nothing_when_no_row_converts(tmp_path):
    src, out = tmp_path / "legacy.jsonl", tmp_path / "train.jsonl"
    write_jsonl(src, [legacy_row(code="")])
    with pytest.raises(ImportFormatError, match="nothing written"):
        run_import(src, out)
    assert not out.exists()


def test_imported_chat_round_trips_through_write_samples(tmp_path):
    path = tmp_path / "legacy.jsonl"
    write_jsonl(path, [legacy_row()])
    samples = import_file(path).samples
    write_samples(samples, tmp_path / "again.json")
    assert import_file(tmp_path / "again.json").samples == samples


# ---------------------------------------------------------------- parse_legacy_feedback


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            TWO_ITEMS,
            [("Logical Error", "The method returns x plus two."), ("Syntax Error", "The return lacks its semicolon.")],
        ),
        (
            "1) Syntax Error: Missing ';' after return. 2) Runtime Error: Index 5 is out of bounds.",
            [("Syntax Error", "Missing ';' after return."), ("Runtime Error", "Index 5 is out of bounds.")],
        ),
        (
            "1. Logic error - the loop stops one early.\n2. Compilation Error: `Sting` is not a type.",
            [("Logical Error", "the loop stops one early."), ("Syntax Error", "`Sting` is not a type.")],
        ),
        (
            "Runtime Exception: a NullPointerException when s is null.",
            [("Runtime Error", "a NullPointerException when s is null.")],
        ),
        (
            "Errors found:\n1) Logical Error: It throws a runtime exception: when the array is empty.",
            [("Logical Error", "It throws a runtime exception: when the array is empty.")],
        ),
        ("No errors found. Code is correct.", []),
        ("Correct solution.", []),
        ("Correct! No errors.", []),
        ("The code is correct.", []),
        ("no issues", []),
    ],
)
def test_parse_legacy_feedback(text, expected):
    assert parse_legacy_feedback(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty feedback"),
        ("The code is not correct.", "no typed error items"),
        ("Incorrect.", "no typed error items"),
        ("1) Type Error: x is a String.", "unknown error type 'Type Error'"),
        ("1) Syntax Error:\n2) Logical Error: wrong.", "item 1 \\(Syntax Error\\): no explanation"),
    ],
)
def test_parse_legacy_feedback_rejects(text, message):
    with pytest.raises(FeedbackError, match=message):
        parse_legacy_feedback(text)
