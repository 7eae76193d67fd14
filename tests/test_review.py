"""``fedjava review FILE.java``: the tiny model taught one answer prints every section; bad inputs give
one clear message each (exit 2); an answer that is not JSON is shown raw (exit 3)."""

from __future__ import annotations

import json

import pytest
from tests.conftest import BAD, BAD_ANSWER, REQUIREMENT, save_tiny_adapter

from fedjava.cli import main
from fedjava.cli.review import EXIT_INVALID_ANSWER
from fedjava.review import code_context
from fedjava.review_inputs import MAX_FILE_BYTES


@pytest.fixture(scope="module")
def adapters(taught_adapter, tmp_path_factory):
    """(taught, untrained): the shared tiny-model adapter that learned BAD -> BAD_ANSWER, and a fresh one."""
    return taught_adapter, save_tiny_adapter(tmp_path_factory.mktemp("review") / "untrained" / "final_model")


@pytest.fixture
def student(tmp_path):
    java = tmp_path / "Solution.java"
    java.write_text(BAD)
    task = tmp_path / "task.txt"
    task.write_text(REQUIREMENT + "\n")
    return java, task


def test_review_prints_every_section(adapters, student, capsys):
    java, task = student
    assert main(["review", str(java), "--task-file", str(task), "--adapter", str(adapters[0])]) == 0
    out = capsys.readouterr().out
    expected = [
        "Review of Solution.java (5 lines)",
        "Task:",
        f"  {REQUIREMENT}",
        "",
        "Verdict: possible COMPILE_ERROR   score 10/10",  # a code-only adapter: no tool ran, so nothing taken off
        "Unconfirmed: no tool ran, so nothing confirms this error: it is the model's reading of the code. Check it "
        "by hand: it is not a finding, and it costs no points.",
        "",
        "Possible error 1 of 1: Syntax error (compiler.err.expected) at line 3",
        "  Message: ';' expected",
        "    1 | class Solution {",
        "    2 |     static int twice(int x) {",
        "  > 3 |         return 2 * x",
        "    4 |     }",
        "    5 | }",
        "  Explanation: The return statement on line 3 is missing its semicolon.",
        "  Fix (line 3 becomes):",
        "              return 2 * x;",
        "",
        "How the score was made (the rubric; fedjava grade and serve give the same):",
        "      +6  verdict NO_ERROR (what the tools show; the grader's COMPILE_ERROR is not confirmed)",
        "      +4  tests: none ran, so their 4 points follow the verdict (6 of 6)",
        "      +0  error 1: Syntax error (compiler.err.expected) at line 3: not confirmed by the tools, nothing taken "
        "off",
    ]
    assert out.splitlines() == expected


def test_review_json_and_overrides(adapters, student, capsys):
    from fedjava.evaluation.parse import normalize_answer

    java, _ = student
    # the task as text, overrides before the options
    assert (
        main(
            ["review", str(java), "max_new_tokens_is_not_a_key=1", "--task", REQUIREMENT, "--adapter", str(adapters[0])]
        )
        == 2
    )
    assert "unknown key" in capsys.readouterr().err
    assert (
        main(["review", str(java), "precision=fp32", "--task", REQUIREMENT, "--adapter", str(adapters[0]), "--json"])
        == 0
    )
    shown = json.loads(capsys.readouterr().out)
    assert shown.pop("support")["status"] == "unconfirmed"
    assert (shown.pop("points"), shown.pop("points_possible")) == (10, 10)  # unconfirmed: nothing taken off
    assert shown == normalize_answer(BAD_ANSWER)
    # longer than the adapter was trained on (max_seq_length): reviewed, with a note giving the numbers
    assert main(["review", str(java), "max_seq_length=400", "--task", REQUIREMENT, "--adapter", str(adapters[0])]) == 0
    captured = capsys.readouterr()
    assert "Verdict: possible COMPILE_ERROR" in captured.out
    assert "(5 lines of code with the task) is " in captured.err and "over max_seq_length=400" in captured.err


def test_review_invalid_answer_is_shown_raw(adapters, student, capsys):
    java, _ = student
    code = main(["review", str(java), "--adapter", str(adapters[1]), "--max-new-tokens", "6"])
    captured = capsys.readouterr()
    assert code == EXIT_INVALID_ANSWER
    assert "no --task or --task-file given; using a generic task" in captured.err
    head, raw = captured.out.split("The raw answer:\n")
    assert "not valid JSON in the answer format" in head and raw.strip()
    assert main(["review", str(java), "--adapter", str(adapters[1]), "--max-new-tokens", "6", "--json"]) == 3
    data = json.loads(capsys.readouterr().out)
    assert "not valid JSON" in data["error"] and data["raw"] == raw.rstrip("\n")


def test_review_bad_inputs_give_one_clear_message(adapters, tmp_path, capsys):
    adapter = str(adapters[1])

    last_err = [""]

    def fails(argv, message):
        assert main(["review", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert message in err, (argv, err)
        last_err[0] = err.strip().splitlines()[-1]  # after the progress line on stderr, one error line
        assert sum(line.startswith("error:") for line in err.splitlines()) == 1, err

    good = tmp_path / "A.java"
    good.write_text(BAD)
    fails([str(tmp_path / "Missing.java"), "--adapter", adapter], "Missing.java: no such Java file")
    (tmp_path / "notes.txt").write_text(BAD)
    fails([str(tmp_path / "notes.txt"), "--adapter", adapter], "notes.txt: not a .java file")
    (tmp_path / "Dir.java").mkdir()
    fails([str(tmp_path / "Dir.java"), "--adapter", adapter], "Dir.java: is a folder, not a Java file")
    (tmp_path / "Empty.java").write_text("")
    fails([str(tmp_path / "Empty.java"), "--adapter", adapter], "Empty.java: the Java file is empty")
    (tmp_path / "Blank.java").write_text("  \n\t\n")
    fails([str(tmp_path / "Blank.java"), "--adapter", adapter], "the Java file is empty (only whitespace)")
    (tmp_path / "Binary.java").write_bytes(b"\xca\xfe\xba\xbe\x00\x00\x00\x3d")
    fails([str(tmp_path / "Binary.java"), "--adapter", adapter], "Binary.java: not a text file")
    (tmp_path / "Latin.java").write_bytes('class A { String s = "caf\u00e9"; }\n'.encode("latin-1"))
    fails([str(tmp_path / "Latin.java"), "--adapter", adapter], "Latin.java: not UTF-8 text")
    (tmp_path / "Huge.java").write_text("// padding\n" * (MAX_FILE_BYTES // 11 + 10))
    fails([str(tmp_path / "Huge.java"), "--adapter", adapter], "is too large for a Java file (the limit is 200 KB)")
    (tmp_path / "Long.java").write_text("class A {\n" + "    int x;\n" * 1000 + "}\n")  # 12 KB
    fails(
        [str(tmp_path / "Long.java"), "--adapter", adapter],
        "Long.java: too long for the model: its prompt (1002 lines of code with the task) is ",
    )
    assert "over the 4096 tokens the model can read (room for 3712 prompt tokens)" in last_err[0]

    fails([str(good), "--task", "  ", "--adapter", adapter], "--task is empty")
    fails([str(good), "--task-file", str(tmp_path / "none.txt"), "--adapter", adapter], "none.txt: no such task file")
    fails([str(good), "--adapter", str(tmp_path / "nowhere")], "nowhere: no such adapter folder")
    fails([str(good), "--adapter", str(tmp_path)], "not an adapter folder (no adapter_config.json")
    fails([str(good), str(tmp_path / "B.java"), "--adapter", adapter], "B.java: no such Java file")  # one submission
    fails(["max_seq_length=4096", "--adapter", adapter], "give the FILE.java to review")
    fails([str(good), str(good), "--adapter", adapter], "two files are named A.java; give each file once")


def test_code_context_marks_the_line_and_stays_in_the_file():
    code = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n"
    assert code_context(code, 1) == [">  1 | a", "   2 | b", "   3 | c"]
    assert code_context(code, 10) == ["   8 | h", "   9 | i", "> 10 | j"]
    assert code_context(code, 11) == [] and code_context(code, 0) == []


def test_format_review_no_error_missing_line_and_generic_task():
    from fedjava.review import format_review
    from fedjava.review_inputs import GENERIC_TASK

    ok = format_review({"verdict": "NO_ERROR", "errors": [], "score": 10}, BAD, "A.java", REQUIREMENT, False)
    assert ok.splitlines()[4:6] == [
        "Verdict: NO_ERROR (no errors found)   score 10/10",
        "Unconfirmed: no tool ran: the program was neither compiled nor tested.",
    ]
    assert "Error" not in ok
    answer = {
        "verdict": "LOGIC_ERROR",
        "score": None,
        "errors": [
            {"type": "Logical Error", "code": "wrong_output", "line": 9, "message": "", "explanation": "", "fix": ""},
            {"type": "", "code": "", "line": None, "message": "", "explanation": "Off by one.", "fix": "x"},
        ],
    }
    lines = format_review(answer, BAD, "A.java", GENERIC_TASK, True).splitlines()
    assert lines[1] == "Task: none given (generic review)"
    assert lines[3] == "Verdict: possible LOGIC_ERROR   score not given" and lines[4].startswith("Unconfirmed: ")
    assert lines[5:] == [
        "",
        "Possible error 1 of 2: Logic error (wrong result) at line 9",
        "  (line 9 is outside the file's 5 lines)",
        "  Explanation: (none given)",
        "  Fix: (none given)",
        "",
        "Possible error 2 of 2: Error (no line given)",
        "  Explanation: Off by one.",
        "  Fix (corrected line):",
        "      x",
    ]
    assert "broke off" not in "\n".join(lines)
    cut = format_review(
        {**answer, "repaired": True, "errors": [{**answer["errors"][0], "fix": None}]},
        BAD,
        "A.java",
        GENERIC_TASK,
        True,
    ).splitlines()
    assert cut[5].startswith("(The model's answer broke off before it ended") and cut[-1] == "  Fix: (none given)"


TASK_YAML = """requirement: |
  Write a static method `int twice(int x)` in class `Solution` that returns two times x.
tests:
  - call: Solution.twice(2)
    expect: 4
  - call: Solution.twice(0)
    expect: 0
  - call: Solution.twice(-3)
    expect: -6
  - call: Solution.twice(100 / Solution.twice(0))
    expect: 0
  - call: Solution.twice(7)
    expect: 14
"""


@pytest.fixture(scope="module")
def grounded_adapter(tmp_path_factory):
    """A tiny-model adapter saved with prompt_mode=grounded (untrained: the tools' part is what is tested)."""
    return save_tiny_adapter(tmp_path_factory.mktemp("grounded") / "final_model", ["prompt_mode=grounded"])


def test_grounded_review_compiles_and_runs_the_task_yaml_tests(grounded_adapter, tmp_path, capsys):
    from tests.conftest import GOOD

    task = tmp_path / "twice.yaml"
    task.write_text(TASK_YAML)
    wrong = tmp_path / "Solution.java"
    wrong.write_text(GOOD.replace("return 2 * x;", "return x + x + (x > 5 ? 1 : 0);"))
    argv = ["review", str(wrong), "--task-file", str(task), "--adapter", str(grounded_adapter), "--max-new-tokens", "4"]
    assert main(argv) == EXIT_INVALID_ANSWER  # an untrained adapter: the tool results are still shown
    captured = capsys.readouterr()
    tools = captured.out.split("Tool results:\n")[1].split("\n\n")[0].splitlines()
    assert tools == [
        "  javac: compiles",
        "  tests: 3 of 5 passed",
        "  first exception: Solution.twice(100 / Solution.twice(0)) threw java.lang.ArithmeticException:"
        " / by zero outside the student's code",
        "  first wrong result: Solution.twice(7) returned 15, expected 14",
        "  suspicious lines (coverage): 3",
        "  suspicious lines (mutants): 3",
    ]  # the one line there is
    assert "Tools: compiled and ran 5 test(s) in " in captured.err
    with pytest.MonkeyPatch.context() as patch:  # no sandbox: refused before the model loads, unless asked
        patch.setenv("FEDJAVA_BWRAP", str(tmp_path / "missing" / "bwrap"))
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "error: untrusted Java code" in err and "--unsafe-run" in err and "Loading" not in err
        assert main(argv + ["--unsafe-run"]) == EXIT_INVALID_ANSWER
        assert "  tests: 3 of 5 passed" in capsys.readouterr().out

    assert main(argv + ["--json"]) == EXIT_INVALID_ANSWER
    assert json.loads(capsys.readouterr().out)["tool_results"].endswith(
        "returned 15, expected 14\nsuspicious lines (coverage): 3\nsuspicious lines (mutants): 3"
    )
    main(argv + ["--no-run"])  # compile only
    assert "Tool results:\n  javac: compiles\n  tests: not run\n" in capsys.readouterr().out
    broken = tmp_path / "Broken.java"
    broken.write_text(BAD)
    main(["review", str(broken), "--adapter", str(grounded_adapter), "--max-new-tokens", "4"])  # no task: javac only
    assert (
        "Tool results:\n  javac: error at line 3: compiler.err.expected: ';' expected\n"
        "  tests: not run (the program does not compile)\n"
    ) in capsys.readouterr().out


def test_review_task_yaml_errors_and_builtin_grader_missing(grounded_adapter, tmp_path, capsys, monkeypatch):
    java = tmp_path / "Solution.java"
    java.write_text(BAD)
    bad_yaml = tmp_path / "task.yaml"
    bad_yaml.write_text("requirement: Double it.\ntests:\n  - call: Solution.twice(2)\nhints: none\n")
    assert main(["review", str(java), "--task-file", str(bad_yaml), "--adapter", str(grounded_adapter)]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'hints'" in err and "tests[0] needs 'call' and 'expect'" in err
    import fedjava.models

    monkeypatch.setattr(fedjava.models, "__file__", str(tmp_path / "models.py"))  # an installation without it
    assert main(["review", str(java)]) == 2
    assert "the shipped grader is not installed here" in capsys.readouterr().err


def test_a_review_prints_no_library_warning(adapters, student):
    """Issue 24: every command that loaded an adapter printed transformers' FutureWarning about
    is_gradient_checkpointing (PEFT asks for it); a teacher sees only fedjava's own lines."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    java, task = student
    src = str(Path(__file__).resolve().parents[1] / "src")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fedjava.cli",
            "review",
            str(java),
            "--task-file",
            str(task),
            "--adapter",
            str(adapters[0]),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": src},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Warning" not in done.stderr and "warnings.warn" not in done.stderr, done.stderr
