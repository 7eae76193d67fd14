"""Evaluation: answer parsing, every metric on hand-made predictions, the fix check with the JDK,
legacy feedback metrics, and ``fedjava evaluate`` end to end on the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import BAD, BAD_ANSWER, GOOD, REQUIREMENT

from fedjava.evaluation.fixcheck import candidate_programs
from fedjava.evaluation.metrics import HEADLINE, compute_metrics, grade, legacy_metrics
from fedjava.evaluation.parse import parse_answer
from fedjava.prompts import build_user_prompt, format_answer, number_lines, split_user_prompt, unnumber


def err(verdict, kind, code, line, score, fix=""):
    return {
        "verdict": verdict,
        "errors": [{"type": kind, "code": code, "line": line, "message": "m", "explanation": "e", "fix": fix}],
        "score": score,
    }


OK = {"verdict": "NO_ERROR", "errors": [], "score": 10}
GOLD = [
    OK,
    OK,
    err("COMPILE_ERROR", "Syntax Error", "compiler.err.expected", 3, 0),
    err("RUNTIME_ERROR", "Runtime Error", "java.lang.ArithmeticException", 5, 3),
    err("LOGIC_ERROR", "Logical Error", "wrong_output", 7, 5),
]
PRED = [
    OK,  # right
    err("COMPILE_ERROR", "Syntax Error", "compiler.err.expected", 2, 0),  # false alarm
    err("COMPILE_ERROR", "Syntax Error", "compiler.err.expected", 3, 0),  # perfect, fix passes
    None,  # invalid answer
    err("RUNTIME_ERROR", "Runtime Error", "java.lang.ArithmeticException", 8, 2),  # wrong verdict, line +1
]
FIX = [None, None, True, False, False]


# ---------------------------------------------------------------- parsing


def test_parse_answer_tolerates_fences_and_chatter():
    text = "Sure! Here it is:\n```json\n" + format_answer(BAD_ANSWER) + "\n```\nHope that helps."
    assert parse_answer(text)["errors"][0]["line"] == 3
    assert parse_answer(format_answer(OK)) == {"verdict": "NO_ERROR", "errors": [], "score": 10}


def test_parse_answer_keeps_a_raw_tab_in_a_fix_line():
    text = format_answer(BAD_ANSWER).replace('"fix": "', '"fix": "\t\t', 1)
    assert "\t" in text and parse_answer(text)["errors"][0]["fix"].startswith("\t\t")


def test_parse_answer_invalid_is_none():
    for text in (
        "",
        "garbage <unk> tokens",
        '{"verdict": "MAYBE", "errors": [], "score": 3}',
        '{"verdict": "NO_ERROR", "errors": "none"}',
        '{"verd',
        '{"verdict": "LOGIC_',
        '{"verdict": "COMPILE_ERROR", "errors": [{"type": "Typo"}], "score": 0}',
        None,
        42,
    ):
        assert parse_answer(text) is None


CUT = (
    '{"verdict": "COMPILE_ERROR", "errors": [{"type": "Syntax Error", "code": "compiler.err.expected", "line": 19, '
    '"message": "\';\' expected", "explanation": "Line 19 is missing \';\'.", "fix": "\\t\\t\\t\\t\\t\\t\\t\\t'
)


def test_an_answer_cut_off_in_a_loop_keeps_its_decision_but_not_its_cut_fix():
    answer = parse_answer(CUT)  # what a greedy loop of tabs looks like at max_new_tokens
    assert answer["verdict"] == "COMPILE_ERROR" and answer["repaired"] is True
    error = answer["errors"][0]
    assert (error["code"], error["line"], error["explanation"]) == (
        "compiler.err.expected",
        19,
        "Line 19 is missing ';'.",
    )
    assert error["fix"] is None and answer["score"] is None  # never written whole: not tried by the fix check
    assert candidate_programs("class A {}\n", error) == []
    # a number at the very end may be missing digits: dropped, with its key
    assert (
        parse_answer('{"verdict": "LOGIC_ERROR", "errors": [{"type": "Logical Error", "line": 4')["errors"][0]["line"]
        is None
    )
    # an error object cut before its first key is dropped, the complete one before it is kept
    two = parse_answer(
        '{"verdict": "LOGIC_ERROR", "errors": [{"type": "Logical Error", "line": 4, "fix": "x = 1;"}, {"ty'
    )
    assert [(e["line"], e["fix"]) for e in two["errors"]] == [(4, "x = 1;")]
    assert parse_answer('{"verdict": "NO_ERROR", "errors": [')["errors"] == []
    assert "repaired" not in parse_answer(format_answer(BAD_ANSWER))  # a whole answer is not marked


def test_an_answer_that_stops_being_json_is_closed_where_it_broke():
    stray = (
        '{"verdict": "RUNTIME_ERROR", "errors": [{"type": "Runtime Error", "code": "java.lang.Error", "line": 17, '
        '"fix": "            }"]}], "score": 1}'
    )  # one bracket too many after the fix
    answer = parse_answer(stray)
    assert answer["repaired"] and answer["errors"][0]["fix"] == "            }" and answer["errors"][0]["line"] == 17
    assert answer["score"] is None  # after the break: not read


def test_repaired_answers_are_valid_and_counted():
    gold = parse_answer(format_answer(BAD_ANSWER))
    preds = [parse_answer(format_answer(BAD_ANSWER)), parse_answer(CUT), None]
    m = compute_metrics([gold] * 3, preds, [None] * 3, n_boot=10)
    assert m["valid_rate"] == pytest.approx(2 / 3) and m["repaired_rate"] == pytest.approx(1 / 3)


def test_parse_answer_skips_bad_objects_and_coerces():
    text = (
        '{"note": 1} then {"verdict": "LOGIC_ERROR", "errors": [{"type": "Logical Error", "line": "12"}], "score": "x"}'
    )
    answer = parse_answer(text)
    assert answer["verdict"] == "LOGIC_ERROR"
    assert answer["errors"][0]["line"] == 12
    assert answer["errors"][0]["fix"] == ""
    assert answer["score"] is None


def test_unnumber_round_trips():
    code = "class A {\n\n    int x = 1; // 3 | not a prefix\n}\n"
    assert unnumber(number_lines(code)) == code
    assert split_user_prompt(build_user_prompt(REQUIREMENT, BAD)) == (REQUIREMENT, BAD)


# ---------------------------------------------------------------- metrics


def test_metrics_hand_computed():
    m = compute_metrics(GOLD, PRED, FIX, n_boot=200, seed=1)
    expected = {
        "valid_rate": 4 / 5,
        "detection_accuracy": 3 / 5,
        "detection_precision": 2 / 3,
        "detection_recall": 2 / 3,
        "detection_f1": 2 / 3,
        "false_alarm_rate": 1 / 2,
        "verdict_macro_f1": (2 / 3 + 2 / 3 + 0 + 0) / 4,
        "type_accuracy": 1 / 3,
        "code_accuracy": 1 / 3,
        "line_exact": 1 / 3,
        "line_within_one": 2 / 3,
        "fix_pass_rate": 1 / 3,
        "score_mae": (0 + 10 + 0 + 10 + 3) / 5,
        "grade": (10 + 0 + 10 + 0 + 1) / 5,
    }
    for key, value in expected.items():
        assert m[key] == pytest.approx(value), key
    assert m["n"] == 5
    assert m["counts"] == {"invalid": 1, "with_error": 3, "correct_programs": 2, "fix_measured": 3}
    conf = m["confusion"]
    assert conf["NO_ERROR"]["NO_ERROR"] == 1 and conf["NO_ERROR"]["COMPILE_ERROR"] == 1
    assert conf["COMPILE_ERROR"]["COMPILE_ERROR"] == 1
    assert conf["RUNTIME_ERROR"]["INVALID"] == 1
    assert conf["LOGIC_ERROR"]["RUNTIME_ERROR"] == 1
    assert sum(sum(row.values()) for row in conf.values()) == 5
    by = m["by_verdict"]
    assert set(by) == {"COMPILE_ERROR", "RUNTIME_ERROR", "LOGIC_ERROR"}
    assert by["COMPILE_ERROR"] == {
        "n": 1,
        "verdict_recall": 1.0,
        "type_accuracy": 1.0,
        "code_accuracy": 1.0,
        "line_exact": 1.0,
        "line_within_one": 1.0,
        "fix_pass_rate": 1.0,
    }
    assert by["RUNTIME_ERROR"]["verdict_recall"] == 0.0 and by["RUNTIME_ERROR"]["fix_pass_rate"] == 0.0
    assert by["LOGIC_ERROR"]["line_exact"] == 0.0 and by["LOGIC_ERROR"]["line_within_one"] == 1.0


def test_bootstrap_intervals_are_seeded_and_bracket_the_value():
    a = compute_metrics(GOLD, PRED, FIX, n_boot=200, seed=3)
    b = compute_metrics(GOLD, PRED, FIX, n_boot=200, seed=3)
    assert a["ci"] == b["ci"]
    for key in HEADLINE:
        low, high = a["ci"][key]
        assert low <= a[key] + 1e-9 and a[key] - 1e-9 <= high, key


def test_all_invalid_answers_count_as_wrong():
    m = compute_metrics(GOLD, [None] * 5, n_boot=50)
    assert m["valid_rate"] == 0
    assert m["detection_accuracy"] == 0
    assert m["detection_recall"] == 0
    assert m["false_alarm_rate"] == 1
    assert m["verdict_macro_f1"] == 0
    assert m["type_accuracy"] == m["line_within_one"] == 0
    assert m["fix_pass_rate"] is None  # nothing measured
    assert m["score_mae"] == 10
    assert m["grade"] == 0


def test_grade_rubric():
    gold = GOLD[2]
    assert grade(OK, OK) == 10
    assert grade(OK, gold) == 0
    assert grade(gold, None) == 0
    assert grade(gold, OK) == 0
    assert grade(gold, gold, True) == 10
    assert grade(gold, gold, False) == 8
    assert grade(gold, gold, None) == 10  # fix not measured: 8 points scaled to 10
    near = err("COMPILE_ERROR", "Syntax Error", "x", 4, 0)
    assert grade(gold, near, False) == 4 + 2 + 1
    wrong_type = err("COMPILE_ERROR", "Runtime Error", "x", 9, 0)
    assert grade(gold, wrong_type, None) == pytest.approx(4 * 10 / 8)


def test_metrics_empty():
    m = compute_metrics([], [])
    assert m["n"] == 0 and m["valid_rate"] is None


# ---------------------------------------------------------------- legacy feedback


def test_legacy_metrics_from_text():
    from fedjava.evaluation.metrics import answer_types

    rows = [
        ("1) Syntax Error: missing semicolon.\n2) Logical Error: wrong loop bound.", "1) Syntax Error: missing ;"),
        ("No errors found. Code is correct.", format_answer(OK)),
        ("1) Runtime Error: division by zero.", "garbage"),
        ("Logic error: the loop stops one early.", "1. Logical Error: x is wrong. 2. Runtime Error: crashes."),
    ]
    gold = [answer_types(g) for g, _ in rows]
    pred = [answer_types(p, parse_answer(p)) for _, p in rows]
    assert gold == [["Syntax Error", "Logical Error"], [], ["Runtime Error"], ["Logical Error"]]
    assert pred == [["Syntax Error"], [], None, ["Logical Error", "Runtime Error"]]
    m = legacy_metrics(gold, pred)
    assert m["n"] == 4 and m["invalid"] == 1
    assert m["error_count_accuracy"] == pytest.approx(1 / 4)
    assert m["error_type_precision"] == pytest.approx(2 / 3)
    assert m["error_type_recall"] == pytest.approx(2 / 4)


# ---------------------------------------------------------------- fix check


def test_apply_fix_picks_the_similar_neighbour():
    from fedjava.evaluation.fixcheck import apply_fix

    assert apply_fix(BAD, 3, "        return 2 * x;") == GOOD
    assert apply_fix(BAD, 4, "        return 2 * x;") == GOOD  # reported one line off
    assert apply_fix(BAD, 99, "x") is None
    assert apply_fix(BAD, 3, "  ") is None


def test_fix_check_with_the_jdk():
    from fedjava.evaluation.fixcheck import check_fixes, jdk_available
    from fedjava.java.tasks import load_tasks

    if not jdk_available():
        pytest.skip("no JDK")
    task = load_tasks()[0]
    lines = task.solution.split("\n")
    i = next(k for k, line in enumerate(lines) if line.strip().startswith("return ") and line.rstrip().endswith(";"))
    broken = lines[:]
    broken[i] = broken[i].rstrip()[:-1]
    code = "\n".join(broken)
    right = err("COMPILE_ERROR", "Syntax Error", "compiler.err.expected", i + 1, 0, fix=lines[i])
    wrong = err("COMPILE_ERROR", "Syntax Error", "compiler.err.expected", i + 1, 0, fix=broken[i] + " + 1")
    assert check_fixes(
        [(task.id, code, right), (task.id, code, wrong), (task.id, code, None), ("no_such_task", code, right)]
    ) == [True, False, False, None]


# ---------------------------------------------------------------- the command


@pytest.fixture
def eval_data(data_dir):
    from fedjava.prompts import build_messages, write_samples

    samples = [
        {"messages": build_messages(REQUIREMENT, GOOD, OK), "meta": {"task_id": "twice"}},
        {"messages": build_messages(REQUIREMENT, BAD, BAD_ANSWER), "meta": {"task_id": "twice"}},
        {"messages": build_messages(REQUIREMENT, BAD, BAD_ANSWER), "meta": {"task_id": "twice"}},
        {
            "messages": build_messages(REQUIREMENT, BAD)
            + [{"role": "assistant", "content": "1) Syntax Error: the return lacks its semicolon."}]
        },
    ]
    write_samples(samples, data_dir / "test.jsonl")
    return data_dir


def test_evaluate_base_tiny_model_end_to_end(eval_data, tiny_overrides, tmp_path, capsys):
    from fedjava.cli import main

    code = main(["evaluate", "--base", "--max-new-tokens", "8", "--batch-size", "2", *tiny_overrides])
    assert code == 0
    out = capsys.readouterr().out
    assert "valid answers" in out and "grade (0-10)" in out and "error count accuracy" in out
    folder = tmp_path / "results" / "base"
    rows = [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 4
    assert all(r["valid"] is False and r["parsed"] is None for r in rows)  # random weights: garbage
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["n"] == 3 and metrics["valid_rate"] == 0 and metrics["grade"] == 0
    assert metrics["legacy"]["n"] == 1 and metrics["legacy"]["invalid"] == 1
    assert metrics["eval_loss"] > 0 and metrics["eval_perplexity"] > 1
    assert metrics["seconds_per_sample"] >= 0


def test_an_interrupted_evaluation_resumes_with_the_answers_it_had_generated(
    eval_data, tiny_overrides, tmp_path, monkeypatch
):
    """Each answer is kept as it is generated; the next run generates only the rest and writes what an uninterrupted
    run writes. Answers of other generation settings are set aside, not reused."""
    import fedjava.evaluation.generate as generate
    from fedjava.cli import main
    from fedjava.evaluation.answer_cache import AnswerCache

    run = ["evaluate", "--base", "--batch-size", "1", "--no-fix-check", *tiny_overrides]
    folder = tmp_path / "results" / "base"
    assert main([*run, "--max-new-tokens", "8"]) == 0
    whole = [json.loads(line)["prediction"] for line in (folder / "predictions.jsonl").read_text().splitlines()]
    (folder / "predictions.jsonl").unlink()

    add, added = AnswerCache.add, []

    def add_then_stop(self, prompt, text):
        add(self, prompt, text)
        added.append(text)
        if len(added) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(AnswerCache, "add", add_then_stop)
    assert main([*run, "--max-new-tokens", "8"]) == 130
    partial = folder / "predictions.partial.jsonl"
    assert len(partial.read_text().splitlines()) == 1 + 2  # the fingerprint, then the two answers
    assert not (folder / "predictions.jsonl").exists()
    monkeypatch.setattr(AnswerCache, "add", add)

    asked = []
    real = generate.generate_answers
    monkeypatch.setattr(
        generate,
        "generate_answers",
        lambda m, t, prompts, *a, **k: asked.append(len(prompts)) or real(m, t, prompts, *a, **k),
    )
    assert main([*run, "--max-new-tokens", "8"]) == 0
    resumed = json.loads((folder / "metrics.json").read_text())["answers_resumed"]
    assert resumed >= 2 and asked == [4 - resumed]  # samples of the same prompt share its kept answer
    rows = [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]
    assert [r["prediction"] for r in rows] == whole
    assert not partial.exists()

    monkeypatch.setattr(AnswerCache, "add", add_then_stop)
    added.clear()
    assert main([*run, "--max-new-tokens", "6"]) == 130
    monkeypatch.setattr(AnswerCache, "add", add)
    asked.clear()
    assert main([*run, "--max-new-tokens", "8"]) == 0  # another answer length: nothing is reused
    assert asked == [4] and (folder / "predictions.partial.jsonl.stale").is_file()
    assert [json.loads(line)["prediction"] for line in (folder / "predictions.jsonl").read_text().splitlines()] == whole


def test_rescore_scores_the_earlier_answers_again_without_a_model(
    eval_data, tiny_overrides, tmp_path, capsys, monkeypatch
):
    from fedjava.cli import main

    assert main(["evaluate", "--base", "--rescore", *tiny_overrides]) == 2  # nothing to score again yet
    assert "--rescore: no earlier run" in capsys.readouterr().err
    assert main(["evaluate", "--base", "--max-new-tokens", "4", "--no-fix-check", *tiny_overrides]) == 0
    folder = tmp_path / "results" / "base"
    rows = [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]
    before = json.loads((folder / "metrics.json").read_text())
    rows[0]["prediction"] = rows[0]["gold_text"]  # as if a newer parser now read this answer
    (folder / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    import fedjava.models

    monkeypatch.setattr(fedjava.models, "load_base_model", lambda *a, **k: pytest.fail("--rescore loaded a model"))
    assert main(["evaluate", "--base", "--rescore", "--no-fix-check", *tiny_overrides]) == 0
    after = json.loads((folder / "metrics.json").read_text())
    assert before["valid_rate"] == 0 and after["valid_rate"] > 0
    assert after["eval_loss"] == before["eval_loss"] and after["generation_seconds"] == before["generation_seconds"]
    assert main(["evaluate", "--base", "--rescore", "--max-samples", "2", *tiny_overrides]) == 2  # other samples
    assert "answers to other samples" in capsys.readouterr().err


def test_evaluate_verify_fixes_reports_first_and_checked_answers(
    taught_adapter, eval_data, tiny_overrides, tmp_path, capsys
):
    """The taught adapter answers BAD with its right fix: checked at once (the fixture's task is not in the
    catalogue, so javac alone decides); the metrics keep the first answers' line and fix check beside them."""
    from fedjava.cli import main
    from fedjava.evaluation.fixcheck import jdk_available

    if not jdk_available():
        pytest.skip("no JDK")
    import shutil

    # its own copy: the evaluation writes metrics.json beside the adapter, and the fixture is shared by the workers
    taught_adapter = Path(shutil.copytree(taught_adapter, tmp_path / "taught" / "final_model"))
    argv = [
        "evaluate",
        "--adapter",
        str(taught_adapter),
        "--verify-fixes",
        "2",
        "--max-new-tokens",
        "160",
        *tiny_overrides,
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "checked fixes: 3 first fix passed, 0 passed with a sampled fix" in out  # the legacy row's too
    metrics = json.loads((taught_adapter.parent / "metrics.json").read_text())
    assert metrics["verification"]["statuses"] == {"first": 3, "sampled": 0, "failed": 0, "no_fix": 1}
    assert metrics["verification"]["first_answer"]["line_exact"] == metrics["line_exact"] == 1.0
    rows = [json.loads(line) for line in (taught_adapter.parent / "predictions.jsonl").read_text().splitlines()]
    bad = [r for r in rows if r["verification"]["status"] == "first"]
    assert all(r["parsed"]["errors"][0]["fix_line"] == 3 and r["parsed_first"] == BAD_ANSWER for r in bad)
    # again from the stored answers: the model loads only to sample, and the result is the same
    assert main(argv + ["--rescore"]) == 0
    assert json.loads((taught_adapter.parent / "metrics.json").read_text())["verification"]["statuses"]["first"] == 3
    assert main(["evaluate", "--majority", "--verify-fixes", "2", *tiny_overrides]) == 2
    assert "--verify-fixes needs a model" in capsys.readouterr().err


def test_teacher_forced_scoring_reads_the_decisions_without_generating(
    taught_adapter, eval_data, tiny_overrides, tmp_path, monkeypatch, capsys
):
    """``--teacher-forced`` reads the verdict, code and line from one pass over the reference answers: the taught
    adapter gets them all right, the base tiny model does not; nothing is generated and no predictions written."""
    import fedjava.evaluation.generate as generate
    from fedjava.cli import main

    monkeypatch.setattr(generate, "generate_answers", lambda *a, **k: pytest.fail("--teacher-forced generated"))
    results = tmp_path / "results"
    assert main(["evaluate", "--adapter", str(taught_adapter), "--teacher-forced", *tiny_overrides]) == 0
    assert "teacher-forced, on the reference answers (3 samples)" in capsys.readouterr().out
    taught = json.loads((taught_adapter.parent / "teacher_forced.json").read_text())["teacher_forced"]
    assert not (taught_adapter.parent / "predictions.jsonl").exists()
    # the fixture's split: GOOD (NO_ERROR) and BAD twice (COMPILE_ERROR); the legacy sample has no verdict
    assert taught["n"] == 3 and taught["verdict_accuracy"] == 1.0
    assert taught["code_accuracy"] == taught["line_accuracy"] == taught["compile_line_accuracy"] == 1.0
    assert taught["runtime_line_accuracy"] is None and taught["ci"]["verdict_accuracy"] == [1.0, 1.0]

    assert main(["evaluate", "--base", "--teacher-forced", *tiny_overrides]) == 0
    base = json.loads((results / "base" / "teacher_forced.json").read_text())
    assert base["teacher_forced"]["line_accuracy"] < 1.0 and base["eval_loss"] > 1.0
    assert not (results / "base" / "metrics.json").exists()
    assert main(["evaluate", "--majority", "--teacher-forced", *tiny_overrides]) == 2
    assert "--teacher-forced scores a model" in capsys.readouterr().err


def test_teacher_forced_metrics_by_hand():
    from fedjava.evaluation.metrics import teacher_forced_metrics

    # verdict ids: 0 NO_ERROR, 1 COMPILE, 2 RUNTIME, 3 LOGIC; code and line entries follow the samples with an error
    gold, pred = [0, 1, 2, 3, 3], [0, 1, 3, 3, 0]
    out = teacher_forced_metrics(gold, pred, [True, True, False, True], [True, False, True, False], [1, 2, 3, 3], 200)
    assert out["n"] == 5 and out["verdict_accuracy"] == 3 / 5
    assert out["code_accuracy"] == 3 / 4 and out["line_accuracy"] == 2 / 4
    assert out["compile_line_accuracy"] == 1.0 and out["runtime_line_accuracy"] == 0.0
    assert out["logic_line_accuracy"] == 0.5
    low, high = out["ci"]["logic_line_accuracy"]
    assert 0.0 <= low < 0.5 < high <= 1.0
    with pytest.raises(ValueError, match="do not match"):
        teacher_forced_metrics(gold, pred, [True], [True], [2], 10)


def test_evaluate_adapter_and_few_shot(eval_data, tiny_overrides, tmp_path):
    from fedjava.cli import main
    from fedjava.config import load_config
    from fedjava.models import load_for_training

    model, _ = load_for_training(load_config(None, tiny_overrides, check_files=False))
    adapter = tmp_path / "results" / "fedavg" / "final_model"
    model.save_pretrained(str(adapter))
    assert (
        main(
            [
                "evaluate",
                "--adapter",
                str(adapter),
                "--few-shot",
                "2",
                "--max-samples",
                "2",
                "--max-new-tokens",
                "4",
                "--no-fix-check",
                *tiny_overrides,
            ]
        )
        == 0
    )
    metrics = json.loads((adapter.parent / "metrics_fewshot2.json").read_text())
    assert metrics["run"] == "fedavg" and metrics["n_samples"] == 2


def test_evaluate_majority(eval_data, tiny_overrides, tmp_path):
    from fedjava.cli import main

    assert main(["evaluate", "--majority", *tiny_overrides]) == 0
    metrics = json.loads((tmp_path / "results" / "majority" / "metrics.json").read_text())
    # train is half NO_ERROR, half COMPILE_ERROR: the tie goes to NO_ERROR
    assert metrics["valid_rate"] == 1 and metrics["detection_accuracy"] == pytest.approx(1 / 3)
    assert metrics["eval_loss"] is None


def test_a_split_of_tasks_outside_the_catalogue_is_checked_with_its_own_tests_or_says_why_not(
    eval_data, tiny_overrides, tmp_path, capsys
):
    from fedjava.cli import main
    from fedjava.evaluation.fixcheck import jdk_available

    if not jdk_available():
        pytest.fail("the fix check needs a JDK (make test installs one)")
    students = Path(__file__).resolve().parents[1] / "data" / "handwritten" / "students.jsonl"
    assert main(["evaluate", "--majority", "--split", str(students), *tiny_overrides]) == 0
    metrics = json.loads((tmp_path / "results" / "majority" / "metrics_students.json").read_text())
    assert metrics["fix_check"] == "measured" and metrics["counts"]["fix_measured"] == 16
    bare = tmp_path / "bare.jsonl"
    bare.write_text(
        "".join(
            json.dumps({**s, "meta": {k: v for k, v in s["meta"].items() if k != "tests"}}) + "\n"
            for s in map(json.loads, students.read_text().splitlines())
        )
    )
    capsys.readouterr()
    assert main(["evaluate", "--majority", "--split", str(bare), *tiny_overrides]) == 0
    assert (
        "fix check pass rate       n/a  (not measured (the samples' tasks are not in the task catalogue"
        in capsys.readouterr().out
    )


def test_evaluate_user_errors(eval_data, tiny_overrides, tmp_path, capsys):
    from fedjava.cli import main

    assert main(["evaluate", "--adapter", str(tmp_path / "nothing"), *tiny_overrides]) == 2
    assert "no adapter there" in capsys.readouterr().err
    assert main(["evaluate", "--majority", "--few-shot", "2", *tiny_overrides]) == 2
    assert main(["evaluate", "--base", "--split", "missing", *tiny_overrides]) == 2


# ---------------------------------------------------------------- compare


def test_compare_writes_table_and_plots(tmp_path, capsys):
    from fedjava.cli import main

    results = tmp_path / "results"
    metrics = compute_metrics(GOLD, PRED, FIX, n_boot=50)
    for name in ("base", "fedavg"):
        (results / name).mkdir(parents=True)
        (results / name / "metrics.json").write_text(json.dumps({"run": name, **metrics}))
    (results / "fedavg" / "training_history.json").write_text(
        json.dumps(
            {
                "rounds": [
                    {"round": 0, "eval_loss": 2.0},
                    {"round": 1, "eval_loss": 1.5, "train_loss": 1.8},
                    {"round": 2, "eval_loss": 1.2, "train_loss": 1.3},
                ],
                "summary": {"seconds": 120.0, "bytes_sent": 2_000_000, "bytes_received": 2_000_000},
            }
        )
    )
    (results / "centralized_hf").mkdir()
    (results / "centralized_hf" / "training_history.json").write_text(
        json.dumps(
            {
                "epochs": [{"epoch": 1, "train_loss": 2.0, "eval_loss": 1.9}, {"epoch": 2, "train_loss": 1.0}],
                "summary": {"train_seconds": 60.0},
            }
        )
    )
    (results / "logs").mkdir()
    assert main(["compare", str(results)]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header == ["metric", "base", "centralized_hf", "fedavg"]
    assert "0.600 [" in out and "4.00 MB" in out and "120 s" in out
    md = (results / "report.md").read_text()
    assert "| detection accuracy | 0.600 [" in md and "loss_curves.png" in md and "metric_bars.png" in md
    page = (results / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "<table>" in page  # + every run's validation curves
    for png in ("loss_curves.png", "validation_curves.png", "metric_bars.png"):
        assert (results / png).read_bytes().startswith(b"\x89PNG")


def test_compare_shows_the_first_answers_beside_checked_fixes(tmp_path):
    from fedjava.evaluation.compare import find_runs, table_rows

    results = tmp_path / "results"
    metrics = compute_metrics(GOLD, PRED, FIX, n_boot=50)
    checked = {
        **metrics,
        "fix_pass_rate": 0.9,
        "verification": {
            "first_answer": {"line_within_one": 0.25, "fix_pass_rate": 0.5, "ci": {"fix_pass_rate": [0.2, 0.8]}}
        },
    }
    for name, m in (("fedavg", checked), ("majority", metrics)):
        (results / name).mkdir(parents=True)
        (results / name / "metrics.json").write_text(json.dumps({"run": name, **m}))
    rows = {r[0]: r[1:] for r in table_rows(find_runs(results))}
    assert rows["metric"] == ["majority", "fedavg"]
    assert rows["fix check pass rate"][1].startswith("0.900")  # the checked fix
    assert rows["fix check: first answers"] == [rows["fix check pass rate"][0], "0.500 [0.200, 0.800]"]
    assert rows["line within one: first answers"][1] == "0.250"
    (results / "fedavg" / "metrics.json").write_text(json.dumps({"run": "fedavg", **metrics}))
    assert "fix check: first answers" not in {r[0] for r in table_rows(find_runs(results))}  # nothing was checked


def test_compare_shows_the_teacher_forced_decisions_of_each_run_and_publishes_them(tmp_path):
    from fedjava.evaluation.compare import FORCED_TITLE, write_report
    from fedjava.evaluation.metrics import teacher_forced_metrics
    from fedjava.evaluation.publish import publish_report

    results = tmp_path / "results"
    forced = teacher_forced_metrics([0, 1, 3, 3], [0, 1, 3, 0], [True, True, False], [True, True, False], [1, 3, 3])
    (results / "base").mkdir(parents=True)  # a --teacher-forced run only
    (results / "base" / "teacher_forced.json").write_text(json.dumps({"eval_loss": 2.25, "teacher_forced": forced}))
    (results / "fedavg").mkdir()  # a generating run keeps them in metrics.json
    metrics = compute_metrics(GOLD, PRED, FIX, n_boot=20)
    metrics.update(run="fedavg", split="test", n_samples=5, eval_loss=1.5, teacher_forced=forced)
    (results / "fedavg" / "metrics.json").write_text(json.dumps(metrics))
    text, md_path, _ = write_report(results)
    report = md_path.read_text()
    assert f"## {FORCED_TITLE}" in report and FORCED_TITLE in text
    section = report.split(f"## {FORCED_TITLE}")[1].split("##")[0]
    rows = {line.split("|")[1].strip(): line for line in section.splitlines() if line.startswith("| ")}
    assert "2.250" in rows["base"] and "1.500" in rows["fedavg"]
    assert "0.750 [" in rows["base"]  # verdict accuracy 3/4 with its interval
    assert "| 0.500 [" in rows["fedavg"]  # logic line: 1 of the 2 logic errors
    written = publish_report(results, tmp_path / "published")
    assert Path("runs/base/teacher_forced.json") in written


def test_compare_without_runs_is_a_user_error(tmp_path, capsys):
    from fedjava.cli import main

    assert main(["compare", str(tmp_path / "none")]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(tmp_path / "empty")]) == 2
    assert "no runs found" in capsys.readouterr().err


def test_fix_candidates_follow_the_explanation():
    from fedjava.evaluation.fixcheck import candidate_programs

    code = "a\nb\nc\nd\ne\nf\ng\n"
    insert = {"line": 2, "fix": "X", "explanation": "A line is missing before line 6: `X`."}
    versions = candidate_programs(code, insert)
    assert "a\nb\nc\nd\ne\nX\nf\ng\n" in versions  # inserted before the named line
    assert "a\nX\nc\nd\ne\nf\ng\n" in versions  # the predicted line replaced
    delete = {"line": 7, "fix": "", "explanation": "Line 3 (`c`) should not be there."}
    assert candidate_programs(code, delete) == ["a\nb\nc\nd\ne\nf\n", "a\nb\nd\ne\nf\ng\n"]
    assert candidate_programs(code, {"line": 99, "fix": "X", "explanation": ""}) == []


def test_generation_stops_once_the_answer_object_is_closed(tiny_overrides):
    import torch

    from fedjava.config import load_config
    from fedjava.evaluation.generate import AnswerClosed, json_object_closed
    from fedjava.models import load_base_model

    # braces inside JSON strings (Java code in "fix") and escaped quotes do not count
    assert json_object_closed('{"verdict": "NO_ERROR", "errors": [], "score": 10} trailing chatter')
    assert json_object_closed('```json\n{"fix": "int f() {", "note": "say \\"}\\""}')
    assert not json_object_closed('{"fix": "}", "errors": [{"line": 3}]')
    assert not json_object_closed('The answer is {"verdict": "NO_ERROR"}')  # not the answer format: no early stop
    _, tok = load_base_model(load_config(None, tiny_overrides, check_files=False))
    prompt = tok("Task: ...", add_special_tokens=False)["input_ids"]
    rows = [
        '{"verdict": "COMPILE_ERROR", "errors": [{"fix": "  return x; }"}], "score": 0}',
        '{"verdict": "COMPILE_ERROR", "errors": [{"fix": "  return x; }"}]',
    ]
    encoded = [prompt + tok(r, add_special_tokens=False)["input_ids"] for r in rows]
    width = max(map(len, encoded))
    ids = torch.tensor([e + [tok.pad_token_id] * (width - len(e)) for e in encoded])
    assert AnswerClosed(tok, len(prompt))(ids, None).tolist() == [True, False]


def _tiny_gemma3(tokenizer, sliding_window: int):
    """A two-layer Gemma 3 (one sliding-window layer, one full) with random weights and soft-capped logits."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    config = Gemma3TextConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=16,
        sliding_window=sliding_window,
        layer_types=["sliding_attention", "full_attention"],
        final_logit_softcapping=30.0,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(3)
    with torch.no_grad():
        model = Gemma3ForCausalLM(config).float().eval()
        for p in model.parameters():
            p.normal_(0, 0.05)  # larger than the init, so greedy text varies from token to token
    return model


@pytest.mark.parametrize("family", ["qwen3", "gemma3"])
def test_greedy_stream_writes_what_generate_writes_for_each_prompt_alone(family):
    """Continuous batching (rows leave when done, new prompts join a running batch of another length, a
    sliding-window cache among them) and the exact bfloat16 head write, token for token, what model.generate
    writes for each prompt on its own."""
    import torch

    from fedjava.evaluation.generate import GreedyHead, _hf_generate, greedy_stream
    from fedjava.models import build_tiny_qwen3

    model, tok = build_tiny_qwen3()
    if family == "gemma3":
        model = _tiny_gemma3(tok, sliding_window=6)  # shorter than most prompts: the window slides while decoding
    model.eval()
    assert GreedyHead.for_model(model) is not None
    texts = [
        "Task: sum of an array",
        "Student code: class Solution { int f() { return 1; } }",
        "x",
        "return total;",
        "public static String reverse(String s) { StringBuilder sb = new StringBuilder();",
        "if else",
        '{"verdict": "NO_ERROR", "errors": []}',
    ]
    encoded = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]

    def alone(stops):
        return [
            _hf_generate(
                model,
                tok,
                torch.tensor([e]),
                torch.ones(1, len(e), dtype=torch.long),
                10,
                tok.pad_token_id,
                stops,
                False,
            )[0]
            for e in encoded
        ]

    with torch.no_grad():
        free = alone([tok.eos_token_id])
        # Stop tokens that rows first reach at different steps, so rows leave one by one and others join.
        stops = {
            next((t for k, t in enumerate(row) if k >= at and t not in row[:k]), None)
            for row, at in zip(free[:4], (2, 4, 1, 6), strict=True)
        } - {None, tok.pad_token_id}
        reference = alone(sorted(stops))
        for width, prefill in ((3, 1), (4, 2), (16, 4)):
            for exact_head in (True, False):
                ours = greedy_stream(
                    model,
                    tok,
                    encoded,
                    10,
                    stops,
                    width=width,
                    prefill_rows=prefill,
                    pad_id=tok.pad_token_id,
                    exact_head=exact_head,
                )
                assert ours == reference, (width, prefill, exact_head)
    assert len({len(r) for r in reference}) > 2  # the rows really stopped at different lengths


def test_greedy_head_finds_the_float32_argmax_where_bfloat16_rounding_picks_another_token():
    """The bfloat16 projection only shortlists: two tokens closer than bfloat16 can tell apart are scored in
    float32, and the head returns the exact argmax of every row."""
    import torch

    from fedjava.evaluation.generate import GreedyHead

    torch.manual_seed(0)
    weight = torch.randn(5000, 64) / 8
    hidden = torch.randn(6, 64) * 20
    best = int((hidden[0] @ weight.T).argmax())
    # A later token beats row 0's best by 0.001: their bfloat16 rows are the same, and a tie goes to the first.
    rival = len(weight) - 1 if best < len(weight) - 1 else 0
    weight[rival] = weight[best] + hidden[0] / hidden[0].norm() ** 2 * 1e-3
    exact = hidden @ weight.T
    low = (hidden.bfloat16() @ weight.bfloat16().T).float()
    assert exact[0].argmax() == rival and low[0].argmax() != rival  # bfloat16 alone picks another token

    head = GreedyHead(decoder=None, weight=weight)
    assert head(hidden).tolist() == exact.argmax(1).tolist()


def _logic(line: int, fix: str | None = "x") -> dict:
    return {
        "verdict": "LOGIC_ERROR",
        "score": 5,
        "errors": [
            {
                "type": "Logical Error",
                "code": "wrong_output",
                "line": line,
                "message": "",
                "explanation": "",
                "fix": fix,
            }
        ],
    }


def _runtime(line: int) -> dict:
    return {
        "verdict": "RUNTIME_ERROR",
        "score": 5,
        "errors": [
            {
                "type": "Runtime Error",
                "code": "java.lang.ArithmeticException",
                "line": line,
                "message": "",
                "explanation": "",
                "fix": "y",
            }
        ],
    }


def test_model_only_metrics_and_the_paired_gain_are_counted_by_hand():
    from fedjava.evaluation.metrics import paired_gain

    gold = [_logic(10), _logic(20), _logic(30), _runtime(5), {"verdict": "NO_ERROR", "errors": [], "score": 10}]
    tools = [_logic(40, None), _logic(21, None), _logic(99, None), _runtime(5), gold[4]]
    model = [_logic(11), _logic(20), _logic(50), _runtime(9), gold[4]]
    tools_fix, model_fix = [False, False, False, False, None], [True, False, True, False, None]
    measured = compute_metrics(gold, model, model_fix, n_boot=200)["model_only"]
    assert measured["logic_line_within_one"] == 2 / 3 and measured["runtime_line_within_one"] == 0.0
    assert measured["fix_pass_rate"] == 2 / 4 and measured["logic_fix_pass_rate"] == 2 / 3
    assert measured["ci"]["logic_line_within_one"][0] <= 2 / 3 <= measured["ci"]["logic_line_within_one"][1]
    gain = paired_gain(gold, model, model_fix, tools, tools_fix, n_boot=200)
    assert gain["logic_line_within_one"] == 2 / 3 - 1 / 3 and gain["runtime_line_within_one"] == -1.0
    assert gain["fix_pass_rate"] == 0.5 and gain["runtime_fix_pass_rate"] == 0.0
    low, high = gain["ci"]["logic_line_within_one"]
    assert -1.0 <= low <= 1 / 3 <= high <= 1.0
    with pytest.raises(ValueError, match="same samples"):
        paired_gain(gold, model[:2], model_fix, tools, tools_fix)


def test_compare_shows_what_each_model_adds_over_the_tools_alone(tmp_path):
    from fedjava.evaluation.compare import GAINS_TITLE, find_runs, gain_rows, table_rows, write_report

    gold = [_logic(10), _logic(20), _runtime(5), {"verdict": "NO_ERROR", "errors": [], "score": 10}]
    answers = {
        "tools_only": ([_logic(40, None), _logic(30, None), _runtime(5), gold[3]], [False, False, False, None]),
        "fedavg": ([_logic(10), _logic(20), _runtime(5), gold[3]], [True, False, True, None]),
        "majority": ([gold[3]] * 4, [False, False, False, None]),
    }
    results = tmp_path / "results"
    for name, (pred, fix) in answers.items():
        (results / name).mkdir(parents=True)
        (results / name / "metrics.json").write_text(json.dumps({"run": name, **compute_metrics(gold, pred, fix)}))
        (results / name / "predictions.jsonl").write_text(
            "".join(
                json.dumps({"index": i, "gold": g, "parsed": p, "fix_passed": f}) + "\n"
                for i, (g, p, f) in enumerate(zip(gold, pred, fix, strict=True))
            )
        )
    table = {r[0]: r[1:] for r in gain_rows(find_runs(results), n_boot=100)}
    assert table["gain over tools-only"] == ["fedavg"]  # the majority answer is no model
    assert table["logic line within one"][0].startswith("+1.000")
    assert table["fix check"][0].startswith("+0.667") and table["runtime line within one"][0].startswith("+0.000")
    rows = {r[0]: r[1:] for r in table_rows(find_runs(results))}
    assert rows["only a model: logic line within one"][1].startswith("0.000") and rows["metric"][1] == "tools_only"
    write_report(results)
    assert f"## {GAINS_TITLE}" in (results / "report.md").read_text()
    assert GAINS_TITLE in (results / "report.html").read_text()
