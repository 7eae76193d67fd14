"""The hand-written samples in data/handwritten/: their tool results are the grounded prompt's block and say
what their answers say; the student programs cover every verdict on tasks the dataset does not have."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fedjava.javadata.label import score
from fedjava.javadata.tasks import TASKS_DIR
from fedjava.prompts import (
    EVIDENCE_SEPARATOR,
    VERDICTS,
    apply_prompt_mode,
    load_samples,
    quote_source_lines,
    split_user_prompt,
)

HANDWRITTEN = Path(__file__).resolve().parents[1] / "data" / "handwritten"
SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
FILES = sorted(HANDWRITTEN.glob("*.jsonl"))
_TESTS_RE = re.compile(r"^tests: (\d+) of (\d+) passed$", re.MULTILINE)


def _answer(sample: dict) -> dict:
    return json.loads(sample["messages"][-1]["content"])


def _line(evidence: str, prefix: str) -> str:
    return next((line for line in evidence.split("\n") if line.startswith(prefix)), "")


def _disagreement(evidence: str, answer: dict) -> str | None:
    """Why the block does not say what the answer says (None when it does)."""
    verdict = answer["verdict"]
    error = answer["errors"][0] if answer["errors"] else {}
    exception, wrong = _line(evidence, "first exception: "), _line(evidence, "first wrong result: ")
    if verdict == "COMPILE_ERROR":
        ok = f"\njavac: error at line {error['line']}: {error['code']}" in evidence
        return None if ok and "tests: not run" in evidence else "no javac line with the answer's line and code"
    tests = _TESTS_RE.search(evidence)
    if not evidence.startswith("Tool results:\njavac: compiles\n") or tests is None:
        return "no 'javac: compiles' and tests line"
    if score(int(tests[1]), int(tests[2])) != answer["score"]:
        return f"'{tests[0]}' does not give score {answer['score']}"
    if verdict == "RUNTIME_ERROR" and error["code"] == "timeout":
        return None if "did not finish within" in exception else "no timeout"
    if verdict == "RUNTIME_ERROR":
        thrown = re.escape(error["code"]) if "." in error["code"] else r"(?:\w+\.)+" + re.escape(error["code"])
        ok = re.search(rf" threw {thrown}(?::| at)", exception) and f" at line {error['line']}" in exception
        return None if ok else f"no exception {error['code']} at line {error['line']}"
    if verdict == "LOGIC_ERROR":
        return None if wrong and not exception else "no wrong result, or an exception"
    return None if tests[1] == tests[2] and not (wrong or exception) else "not every test passed"


def test_there_are_the_old_samples_and_the_students():
    assert [f.name for f in FILES] == ["students.jsonl", "train.jsonl", "valid.jsonl"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_sample_loads_and_its_evidence_is_the_block_its_answer_agrees_with(path):
    samples = load_samples(path)
    problems = []
    for sample in samples:
        meta, answer = sample["meta"], _answer(sample)
        assert answer["verdict"] in VERDICTS and meta["verdict"] == answer["verdict"]
        assert meta["evidence"].startswith("Tool results:\njavac: "), meta["id"]
        assert meta["tool_output"].strip(), meta["id"]  # the raw text the block was made from, kept
        reason = _disagreement(meta["evidence"], answer)
        if reason:
            problems.append(f"{meta['id']}: {reason}\n{meta['evidence']}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_grounded_prompt_mode_shows_each_samples_block(path):
    samples = load_samples(path)
    grounded = apply_prompt_mode(samples, "grounded", name=path.name)
    for before, after in zip(samples, grounded, strict=True):
        user = [m for m in after["messages"] if m["role"] == "user"][-1]["content"]
        block = quote_source_lines(before["meta"]["evidence"].split("\n", 1)[1], split_user_prompt(user)[1])
        assert user.endswith(EVIDENCE_SEPARATOR + block)
        assert after["messages"][-1] == before["messages"][-1]


def test_the_student_programs_cover_every_verdict_on_tasks_the_dataset_does_not_have():
    samples = load_samples(HANDWRITTEN / "students.jsonl")
    records = yaml.safe_load((HANDWRITTEN / "students.yaml").read_text(encoding="utf-8"))
    counts = {v: sum(s["meta"]["verdict"] == v for s in samples) for v in VERDICTS}
    assert len(samples) == len(records) == 20
    assert counts == {"NO_ERROR": 4, "COMPILE_ERROR": 5, "RUNTIME_ERROR": 5, "LOGIC_ERROR": 6}
    assert [s["meta"]["verdict"] for s in samples] == [r["intended"]["verdict"] for r in records]
    shipped_ids = {p.stem for p in TASKS_DIR.glob("*.yaml")}
    shipped_titles = {m.group(1).strip().lower() for p in TASKS_DIR.glob("*.yaml")
                      for m in re.finditer(r"^title: (.+)$", p.read_text(encoding="utf-8"), re.MULTILINE)}
    assert len(shipped_ids) == len(shipped_titles) == 153
    for record, sample in zip(records, samples, strict=True):
        task = record["task"]
        assert sample["meta"]["task_id"] == task["id"] not in shipped_ids
        assert task["title"].strip().lower() not in shipped_titles
        assert len(task["tests"]) >= 5 and "class Solution" in record["code"]
        assert 10 <= len(record["code"].strip().split("\n")) <= 40, record["id"]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_old_evidence_lines_of_every_form_become_the_runners_case_results():
    convert = _script("make_handwritten_data")
    text = "\n".join([
        "case 0 PASS f(1)",
        "case 1 FAIL f(\"a, b\"): expected {\"a\"=1, \"b\"=2}, actual {\"a\"=1}",
        "case 2 ERROR f(null): java.lang.NullPointerException: Cannot invoke \"String.length()\" (Solution.java line 3)",
        "case 3 ERROR f(5): java.lang.StackOverflowError:  (Solution.java line 2)",
        "full stack of the StackOverflowError in case 3: 1024 frames, Solution.java frames by line: line 2 x1, "
        "line 6 x1023 (the top frame's line varies between runs; the recursive call is line 6)",
        "case 4 TIMEOUT f(7): no result within 5 s (cases 4..5 never reported)",
        "thread dumps (SIGQUIT) of the hung JVM, main thread top frame in Solution.java: Solution.f(Solution.java:4)",
        "passed 1/6 -> score 2",
    ])
    outcome, total = convert.parse_run(text)
    assert total == 6 and outcome.timed_out and outcome.passed == 1
    assert [(c.status, c.call) for c in outcome.cases] == [
        ("PASS", "f(1)"), ("FAIL", 'f("a, b")'), ("ERROR", "f(null)"), ("ERROR", "f(5)"), ("TIMEOUT", "f(7)")]
    assert (outcome.cases[1].expected, outcome.cases[1].actual) == ('{"a"=1, "b"=2}', '{"a"=1}')
    assert (outcome.cases[2].line, outcome.cases[2].message) == (3, 'Cannot invoke "String.length()"')
    assert (outcome.cases[3].line, outcome.cases[3].message) == (6, "")  # the recursive call, as Check reports it
    with pytest.raises(convert.EvidenceError, match="unknown evidence line"):
        convert.parse_run("case 0 PASS f(1)\nsomething else\npassed 1/1 -> score 10")
    with pytest.raises(convert.EvidenceError, match="do not add up"):
        convert.parse_run("case 0 PASS f(1)\npassed 1/2 -> score 5")


@pytest.mark.parametrize("name, source", [("make_handwritten_data", "samples.yaml"),
                                          ("make_student_data", "students.yaml")])
def test_the_data_scripts_refuse_without_bubblewrap_unless_unsafe_run(name, source, tmp_path):
    from fedjava.javadata import sandbox

    out = tmp_path / "out"
    command = [sys.executable, str(SCRIPTS / f"{name}.py"), "--source", str(HANDWRITTEN / source),
               "--out", str(out if name == "make_handwritten_data" else out / "students.jsonl")]
    env = {**os.environ, sandbox.BWRAP_ENV: str(tmp_path / "missing" / "bwrap")}
    refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert refused.returncode != 0 and "nothing written" in refused.stderr and "--unsafe-run" in refused.stderr
    assert "Traceback" not in refused.stderr and not out.exists()
    if name == "make_handwritten_data":  # javac only: the quick one (the other runs 40 programs' tests)
        ran = subprocess.run([*command, "--unsafe-run"], env=env, capture_output=True, text=True, timeout=600)
        assert ran.returncode == 0 and ran.stdout.startswith("wrote "), ran.stderr[-2000:]
