"""The hand-written samples in data/handwritten/: their tool results are the grounded prompt's block and say
what their answers say; the student and novice programs cover their verdicts on tasks the dataset does not
have, and the novices' fixes and teachers' explanations are carried into the samples as written."""

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

from fedjava.dataset.label import score
from fedjava.java.tasks import TASKS_DIR
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


def test_there_are_the_old_samples_the_students_and_the_novices():
    assert [f.name for f in FILES] == ["novices.jsonl", "students.jsonl", "train.jsonl", "valid.jsonl"]


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


STUDENT_FILES = {  # name: (verdict counts, shortest program in lines)
    "students": ({"NO_ERROR": 4, "COMPILE_ERROR": 5, "RUNTIME_ERROR": 5, "LOGIC_ERROR": 6}, 10),
    "novices": ({"NO_ERROR": 6, "COMPILE_ERROR": 0, "RUNTIME_ERROR": 10, "LOGIC_ERROR": 24}, 15),
}


def _records(name: str) -> list[dict]:
    return yaml.safe_load((HANDWRITTEN / f"{name}.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", STUDENT_FILES)
def test_the_student_programs_cover_their_verdicts_on_tasks_the_dataset_does_not_have(name):
    samples = load_samples(HANDWRITTEN / f"{name}.jsonl")
    records = _records(name)
    counts = {v: sum(s["meta"]["verdict"] == v for s in samples) for v in VERDICTS}
    expected, shortest = STUDENT_FILES[name]
    assert len(samples) == len(records) == sum(expected.values())
    assert counts == expected
    assert [s["meta"]["verdict"] for s in samples] == [r["intended"]["verdict"] for r in records]
    assert {s["meta"]["source"] for s in samples} == {f"handwritten-{name}"}
    shipped_ids = {p.stem for p in TASKS_DIR.glob("*.yaml")}
    shipped_titles = {
        m.group(1).strip().lower()
        for p in TASKS_DIR.glob("*.yaml")
        for m in re.finditer(r"^title: (.+)$", p.read_text(encoding="utf-8"), re.MULTILINE)
    }
    assert len(shipped_ids) == len(shipped_titles) == 153
    for record, sample in zip(records, samples, strict=True):
        task = record["task"]
        assert sample["meta"]["task_id"] == task["id"] not in shipped_ids
        assert task["title"].strip().lower() not in shipped_titles
        assert len(task["tests"]) >= 5 and "class Solution" in record["code"]
        assert shortest <= len(record["code"].strip().split("\n")) <= 40, record["id"]


def test_no_two_student_programs_share_a_task():
    tasks = [r["task"]["id"] for name in STUDENT_FILES for r in _records(name)]
    titles = [r["task"]["title"].strip().lower() for name in STUDENT_FILES for r in _records(name)]
    assert len(set(tasks)) == len(tasks) and len(set(titles)) == len(titles)


def test_the_novices_are_24_logic_errors_of_eight_kinds_10_runtime_errors_and_6_correct_programs():
    records = _records("novices")
    assert [r["id"] for r in records] == [f"nv_{i:02d}" for i in range(1, 41)]
    logic = [r["error"].split(":")[0] for r in records if r["family"] == "logic"]
    assert {kind: logic.count(kind) for kind in logic} == {
        "missing case": 3,
        "early return": 3,
        "wrong variable": 3,
        "missing update": 3,
        "off by one": 3,
        "wrong method": 3,
        "too strict": 3,
        "misplaced statement": 3,
    }
    assert [r["family"] for r in records[24:]] == ["runtime"] * 10 + ["correct"] * 6
    timeouts = [r["id"] for r in records if r["intended"].get("code") == "timeout"]
    assert len(timeouts) == 1


def test_every_novice_sample_keeps_its_teachers_explanation_and_the_reference_is_not_the_label():
    samples = load_samples(HANDWRITTEN / "novices.jsonl")
    for record, sample in zip(_records("novices"), samples, strict=True):
        reference = sample["meta"]["reference_explanation"]
        assert reference == " ".join(record["explanation"].split()), record["id"]
        assert all(reference != e["explanation"] for e in _answer(sample)["errors"])
    students = load_samples(HANDWRITTEN / "students.jsonl")
    assert not any("reference_explanation" in s["meta"] for s in students)  # students.yaml has none


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", STUDENT_FILES)
def test_each_samples_fix_placed_as_the_evaluation_places_it_is_the_fix_the_script_ran(name):
    """meta's fix_line and fix_action, with the answer's fix, rebuild the program the script saw pass."""
    from fedjava.evaluation.fixcheck import place

    script = _script("make_student_data")
    actions = set()
    for record, sample in zip(_records(name), load_samples(HANDWRITTEN / f"{name}.jsonl"), strict=True):
        if "fix" not in record:
            assert "fix_line" not in sample["meta"] and not _answer(sample)["errors"]
            continue
        meta, fix = sample["meta"], _answer(sample)["errors"][0]["fix"]
        placed = place(record["code"], meta["fix_line"], meta["fix_action"], fix)
        assert placed is not None and placed.code.rstrip("\n") == script.fixed_code(record).rstrip("\n"), meta["id"]
        actions.add(meta["fix_action"])
    assert actions == ({"replace"} if name == "students" else {"replace", "insert", "delete"})


@pytest.mark.slow
def test_the_evaluation_checks_a_handwritten_fix_with_the_samples_own_tests():
    """Their tasks are not shipped: each sample carries its tests (meta.tests), and the fix check runs them."""
    from fedjava.evaluation.fixcheck import check_fixes
    from fedjava.java.tasks import task_for_sample

    samples = [s for s in load_samples(HANDWRITTEN / "novices.jsonl") if _answer(s)["errors"]][:3]
    items = []
    for sample in samples:
        task = task_for_sample(sample["meta"], "", catalogue={})
        assert task is not None and len(task.tests) == len(sample["meta"]["tests"]) >= 5
        code = split_user_prompt(sample["messages"][1]["content"])[1]
        answer = _answer(sample)
        error = {
            **answer["errors"][0],
            "fix_line": sample["meta"]["fix_line"],
            "fix_action": sample["meta"]["fix_action"],
        }
        items += [
            (task, code, {**answer, "errors": [error]}),
            (task, code, answer | {"errors": [{**error, "fix": "        int broken = ;", "fix_action": "replace"}]}),
        ]
    assert check_fixes(items, jobs=1) == [True, False] * len(samples)
    assert task_for_sample({"task_id": "nowhere"}, "", catalogue={}) is None


def test_the_student_script_refuses_a_malformed_fix_or_explanation(tmp_path):
    script = _script("make_student_data")
    good = _records("novices")[0]
    bad = [
        {**good, "id": "a", "fix": {"line": 9, "action": "move", "text": "x"}},
        {**good, "id": "b", "fix": {"line": 99, "text": "x"}},
        {**good, "id": "c", "fix": {"line": 9, "action": "delete", "text": "x"}},
        {**good, "id": "d", "fix": {"line": 9, "action": "insert"}},
        {**good, "id": "e", "explanation": "  "},
    ]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump([good, *bad]), encoding="utf-8")
    with pytest.raises(script.StudentDataError) as refused:
        script.load_records(path)
    assert str(refused.value).split("\n") == [
        "a: fix action must be one of replace, insert, delete",
        "b: fix line must be a line of the code (1 to 15)",
        "c: a deleting fix has no text",
        "d: a fix that does insert needs a non-empty text",
        "e: explanation must be a non-empty string",
    ]
    inserted = script.fixed_code(good).split("\n")
    assert inserted[8:10] == ["        if (n == 0) return 1;", "        while (n > 0) {"]
    deleted = script.fixed_code({**good, "fix": {"line": 9, "action": "delete"}}).split("\n")
    assert len(deleted) == len(good["code"].split("\n")) - 1 and "while" not in deleted[8]


@pytest.mark.slow
def test_the_novices_file_is_what_the_script_makes_from_the_yaml(tmp_path):
    out = tmp_path / "novices.jsonl"
    command = [
        sys.executable,
        str(SCRIPTS / "make_student_data.py"),
        "--source",
        str(HANDWRITTEN / "novices.yaml"),
        "--out",
        str(out),
    ]
    ran = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert out.read_bytes() == (HANDWRITTEN / "novices.jsonl").read_bytes()


def test_old_evidence_lines_of_every_form_become_the_runners_case_results():
    convert = _script("make_handwritten_data")
    text = "\n".join(
        [
            "case 0 PASS f(1)",
            'case 1 FAIL f("a, b"): expected {"a"=1, "b"=2}, actual {"a"=1}',
            'case 2 ERROR f(null): java.lang.NullPointerException: Cannot invoke "String.length()" (Solution.java line 3)',
            "case 3 ERROR f(5): java.lang.StackOverflowError:  (Solution.java line 2)",
            "full stack of the StackOverflowError in case 3: 1024 frames, Solution.java frames by line: line 2 x1, "
            "line 6 x1023 (the top frame's line varies between runs; the recursive call is line 6)",
            "case 4 TIMEOUT f(7): no result within 5 s (cases 4..5 never reported)",
            "thread dumps (SIGQUIT) of the hung JVM, main thread top frame in Solution.java: Solution.f(Solution.java:4)",
            "passed 1/6 -> score 2",
        ]
    )
    outcome, total = convert.parse_run(text)
    assert total == 6 and outcome.timed_out and outcome.passed == 1
    assert [(c.status, c.call) for c in outcome.cases] == [
        ("PASS", "f(1)"),
        ("FAIL", 'f("a, b")'),
        ("ERROR", "f(null)"),
        ("ERROR", "f(5)"),
        ("TIMEOUT", "f(7)"),
    ]
    assert (outcome.cases[1].expected, outcome.cases[1].actual) == ('{"a"=1, "b"=2}', '{"a"=1}')
    assert (outcome.cases[2].line, outcome.cases[2].message) == (3, 'Cannot invoke "String.length()"')
    assert (outcome.cases[3].line, outcome.cases[3].message) == (6, "")  # the recursive call, as Check reports it
    with pytest.raises(convert.EvidenceError, match="unknown evidence line"):
        convert.parse_run("case 0 PASS f(1)\nsomething else\npassed 1/1 -> score 10")
    with pytest.raises(convert.EvidenceError, match="do not add up"):
        convert.parse_run("case 0 PASS f(1)\npassed 1/2 -> score 5")


@pytest.mark.parametrize(
    "name, source", [("make_handwritten_data", "samples.yaml"), ("make_student_data", "students.yaml")]
)
def test_the_data_scripts_refuse_without_bubblewrap_unless_unsafe_run(name, source, tmp_path):
    from fedjava.java import sandbox

    out = tmp_path / "out"
    command = [
        sys.executable,
        str(SCRIPTS / f"{name}.py"),
        "--source",
        str(HANDWRITTEN / source),
        "--out",
        str(out if name == "make_handwritten_data" else out / "students.jsonl"),
    ]
    env = {**os.environ, sandbox.BWRAP_ENV: str(tmp_path / "missing" / "bwrap")}
    refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert refused.returncode != 0 and "nothing written" in refused.stderr and "--unsafe-run" in refused.stderr
    assert "Traceback" not in refused.stderr and not out.exists()
    if name == "make_handwritten_data":  # javac only: the quick one (the other runs 40 programs' tests)
        ran = subprocess.run([*command, "--unsafe-run"], env=env, capture_output=True, text=True, timeout=600)
        assert ran.returncode == 0 and ran.stdout.startswith("wrote "), ran.stderr[-2000:]
