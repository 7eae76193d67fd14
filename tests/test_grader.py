"""The shipped grader (``--adapter builtin``) grades: on the 20 handwritten student programs (tasks that are not
in the dataset, one error each or none) it finds the verdicts well above always answering the most common one,
and ``fedjava review`` uses it when no adapter is named, tool results and all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fedjava.cli import main

pytestmark = pytest.mark.slow

HANDWRITTEN = Path(__file__).resolve().parents[1] / "data" / "handwritten"


@pytest.fixture(scope="module")
def grader_metrics(tmp_path_factory):
    from fedjava.config import load_adapter_config
    from fedjava.evaluation.evaluate import EvalOptions, run_evaluation
    from fedjava.models import builtin_adapter_dir

    results = tmp_path_factory.mktemp("results")
    cfg = load_adapter_config(builtin_adapter_dir(), overrides=[f"results_dir={results}"])
    opts = EvalOptions(
        adapter="builtin",
        split=str(HANDWRITTEN / "students.jsonl"),
        max_new_tokens=200,
        batch_size=20,
        fix_check=False,
        eval_loss=False,
        n_boot=200,
    )
    metrics, predictions, _ = run_evaluation(cfg, opts, progress=lambda _: None)
    return metrics, [json.loads(line) for line in predictions.read_text().splitlines()]


def test_the_shipped_grader_decides_on_programs_it_never_saw(grader_metrics):
    metrics, predictions = grader_metrics
    assert metrics["n_samples"] == 20 and metrics["valid_rate"] >= 0.9
    # 4 verdicts over 20 programs (5 compile, 5 runtime, 6 logic, 4 correct): the majority answer scores 0.15
    assert metrics["verdict_macro_f1"] >= 0.6, metrics["confusion"]
    assert metrics["detection_f1"] >= 0.85
    said = {p["parsed"]["verdict"] for p in predictions if p.get("parsed")}
    assert len(said) >= 3, said  # not one answer for everything
    by_verdict = metrics["by_verdict"]
    assert by_verdict["COMPILE_ERROR"]["verdict_recall"] >= 0.8 and by_verdict["RUNTIME_ERROR"]["verdict_recall"] >= 0.6


def test_review_uses_the_shipped_grader_by_default(tmp_path, capsys):
    records = {r["id"]: r for r in yaml.safe_load((HANDWRITTEN / "students.yaml").read_text())}
    record = next(r for r in records.values() if r["intended"]["verdict"] == "RUNTIME_ERROR")
    java = tmp_path / "Solution.java"
    java.write_text(record["code"])
    task = tmp_path / "task.yaml"
    task.write_text(yaml.safe_dump(record["task"]))
    assert main(["review", str(java), "--task-file", str(task), "--json", "--max-new-tokens", "200"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["verdict"] == "RUNTIME_ERROR"
    assert answer["errors"][0]["code"] == record["intended"]["code"]
    assert "first exception:" in answer["tool_results"]


def test_the_grader_card_shows_checked_fixes_beside_the_first_answers():
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "scripts" / "ship_grader.py"
    spec = importlib.util.spec_from_file_location("ship_grader", script)
    ship = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship)
    by = {"LOGIC_ERROR": {"n": 4, "line_within_one": 0.25, "fix_pass_rate": 0.25}}
    checked = {
        "line_within_one": 0.75,
        "fix_pass_rate": 0.5,
        "ci": {"fix_pass_rate": [0.1, 0.9]},
        "by_verdict": {"LOGIC_ERROR": {"n": 4, "line_within_one": 0.5, "fix_pass_rate": 0.5}},
        "verification": {
            "samples": 8,
            "statuses": {"first": 1, "sampled": 1, "failed": 2, "no_fix": 3},
            "programs": 40,
            "seconds": 30.0,
            "first_answer": {"line_within_one": 0.5, "fix_pass_rate": 0.25, "by_verdict": by},
        },
    }
    section = ship._checked(checked)
    assert "`fedjava evaluate --rescore --verify-fixes 8`" in section
    assert "| all errors | 0.500 | 0.750 | 0.250 | 0.500 [0.100, 0.900] |" in section
    assert "| LOGIC_ERROR | 0.250 | 0.500 | 0.250 | 0.500 |" in section
    assert "in 30 s (10.0 s per answer whose first fix failed)" in section
    assert ship._checked({"line_within_one": 0.5}) == ""  # a run without checking has no such section


def test_the_grader_card_shows_what_only_a_model_gives_beside_the_tools_only_rule():
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "scripts" / "ship_grader.py"
    spec = importlib.util.spec_from_file_location("ship_grader", script)
    ship = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship)
    grader = {
        "model_only": {"logic_line_within_one": 0.5, "fix_pass_rate": 0.4, "ci": {"logic_line_within_one": [0.3, 0.7]}}
    }
    tools = {"model_only": {"logic_line_within_one": 0.15, "fix_pass_rate": 0.0}}
    section = ship._model_only(grader, tools)
    assert "| logic line within one | 0.500 [0.300, 0.700] | 0.150 |" in section
    assert "| fix check | 0.400 | 0.000 |" in section and "| runtime line within one | - | - |" in section
    assert ship._model_only({"verdict_macro_f1": 1.0}, tools) == ""  # metrics from before model_only existed
