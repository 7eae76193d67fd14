"""The dataset build: batch runs, labels from the real javac/JVM, restyled programs, splits, shipped data."""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import pytest

from fedjava.dataset.build import BuildOptions, build_dataset, candidates_for, split_tasks
from fedjava.dataset.label import Dropped, label, score
from fedjava.dataset.restyle import REWRITES, restyle
from fedjava.java.mutate import OPERATORS, Mutant
from fedjava.java.runner import (
    CaseResult,
    Diagnostic,
    Program,
    RunOutcome,
    check_many,
    compile_many,
    run_many,
    run_program,
)
from fedjava.java.tasks import TASKS_DIR, load_task, load_tasks

pytestmark = pytest.mark.filterwarnings("ignore")
HAS_JDK = shutil.which("javac") is not None and shutil.which("java") is not None
needs_jdk = pytest.mark.skipif(not HAS_JDK, reason="needs a JDK")
REPO_DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def task():
    return load_task(TASKS_DIR / "arrays_sum_positive.yaml")


def _mutant(task, old: str, new: str, operator: str = "hand", family: str = "logic") -> Mutant:
    code = task.solution.replace(old, new, 1)
    assert code != task.solution
    lines = task.solution.split("\n")
    number = next(i for i, line in enumerate(lines, 1) if old in line)
    return Mutant(operator, family, code, number, lines[number - 1], code.split("\n")[number - 1], "by hand")


# ------------------------------------------------------------------ labels from hand-made outcomes


def test_score_is_ten_times_the_share_rounded_half_up():
    assert [score(p, 8) for p in range(9)] == [0, 1, 3, 4, 5, 6, 8, 9, 10]
    assert score(1, 4) == 3 and score(0, 0) == 0


def test_compile_error_label_uses_the_first_error_in_the_student_file(task):
    m = _mutant(task, "return total;", "return total", "missing_semicolon", "syntax")
    outcome = RunOutcome(
        False,
        [
            Diagnostic("TestDriver.java", 3, 1, "compiler.err.cant.resolve", "", "cannot find symbol"),
            Diagnostic("Solution.java", m.line, 21, "compiler.err.expected", "", "';' expected"),
        ],
    )
    got = label(task, m.code, outcome, m, random.Random(0))
    error = got.answer["errors"][0]
    assert got.answer["verdict"] == "COMPILE_ERROR" and got.answer["score"] == 0
    assert (error["type"], error["code"], error["line"], error["message"]) == (
        "Syntax Error",
        "compiler.err.expected",
        m.line,
        "';' expected",
    )
    assert error["fix"] == m.original_line and f"line {m.line}" in error["explanation"]
    assert "TestDriver.java:3" in got.raw


def test_errors_only_in_the_driver_and_equivalent_mutants_are_dropped(task):
    m = _mutant(task, "n > 0", "n > 0 == true")
    driver_only = RunOutcome(False, [Diagnostic("TestDriver.java", 3, 1, "compiler.err.cant.resolve", "", "x")])
    with pytest.raises(Dropped) as exc:
        label(task, m.code, driver_only, m, random.Random(0))
    assert exc.value.reason == "error_in_driver"
    passing = RunOutcome(True, cases=[CaseResult(i, "PASS", "c") for i in range(len(task.tests))])
    with pytest.raises(Dropped) as exc:
        label(task, m.code, passing, m, random.Random(0))
    assert exc.value.reason == "equivalent"
    assert label(task, task.solution, passing, None, random.Random(0)).answer == {
        "verdict": "NO_ERROR",
        "errors": [],
        "score": 10,
    }


def test_runtime_label_takes_class_message_and_student_line_from_the_first_exception(task):
    m = _mutant(task, "n > 0", "n / 0 > 0", "division_by_zero", "runtime")
    cases = [
        CaseResult(0, "PASS", "a"),
        CaseResult(1, "FAIL", "b", "1", "2"),
        CaseResult(
            2,
            "ERROR",
            "Solution.sumPositive(x)",
            exception="java.lang.ArithmeticException",
            line=7,
            message="/ by zero",
        ),
    ]
    cases += [CaseResult(i, "PASS", "z") for i in range(3, len(task.tests))]
    got = label(task, m.code, RunOutcome(True, cases=cases), m, random.Random(1)).answer
    error = got["errors"][0]
    assert got["verdict"] == "RUNTIME_ERROR" and got["score"] == score(len(task.tests) - 2, len(task.tests))
    assert (error["type"], error["code"], error["line"], error["message"]) == (
        "Runtime Error",
        "java.lang.ArithmeticException",
        7,
        "java.lang.ArithmeticException: / by zero",
    )
    assert "Solution.sumPositive(x)" in error["explanation"]


def test_logic_and_timeout_labels(task):
    m = _mutant(task, "n > 0", "n >= 0")
    cases = [CaseResult(0, "FAIL", "Solution.sumPositive(new int[]{0})", "0", "1")]
    cases += [CaseResult(i, "PASS", "z") for i in range(1, len(task.tests))]
    got = label(task, m.code, RunOutcome(True, cases=cases), m, random.Random(2)).answer
    error = got["errors"][0]
    assert (got["verdict"], error["type"], error["code"], error["line"]) == (
        "LOGIC_ERROR",
        "Logical Error",
        "wrong_output",
        m.line,
    )
    assert error["message"] == "Solution.sumPositive(new int[]{0}) returned 1, expected 0"
    timed = RunOutcome(True, cases=[CaseResult(0, "PASS", "a"), CaseResult(1, "PASS", "b")], timed_out=True)
    got = label(task, m.code, timed, m, random.Random(2)).answer
    assert got["verdict"] == "RUNTIME_ERROR" and got["errors"][0]["code"] == "timeout"
    assert got["score"] == score(2, len(task.tests)) and task.tests[2].call in got["errors"][0]["message"]


def test_the_first_failing_case_decides_a_timeout_label(task):
    m = _mutant(task, "n > 0", "n >= 0", "missing_increment", "runtime")
    cases = [
        CaseResult(0, "PASS", "a"),
        CaseResult(1, "TIMEOUT", "Solution.sumPositive(new int[]{7})"),
        CaseResult(2, "ERROR", "c", exception="java.lang.ArithmeticException", line=4, message="/ by zero"),
    ]
    cases += [CaseResult(i, "PASS", "z") for i in range(3, len(task.tests))]
    got = label(task, m.code, RunOutcome(True, cases=cases, timed_out=True), m, random.Random(0)).answer
    error = got["errors"][0]
    assert (got["verdict"], error["code"], error["line"]) == ("RUNTIME_ERROR", "timeout", m.line)
    assert error["message"].startswith("Solution.sumPositive(new int[]{7}) did not finish")
    assert got["score"] == score(len(task.tests) - 2, len(task.tests))


def test_explanations_vary_and_name_real_values(task):
    m = _mutant(task, "n > 0", "n >= 0")
    cases = [CaseResult(0, "FAIL", "Solution.sumPositive(new int[]{0})", "0", "1")]
    cases += [CaseResult(i, "PASS", "z") for i in range(1, len(task.tests))]
    texts = {
        label(task, m.code, RunOutcome(True, cases=cases), m, random.Random(s)).answer["errors"][0]["explanation"]
        for s in range(20)
    }
    assert len(texts) >= 2
    assert all("Solution.sumPositive(new int[]{0})" in t and f"line {m.line}" in t.lower() for t in texts)


# ------------------------------------------------------------------ restyled programs


STYLE_SAMPLE = """class Solution {
    static int countEven(int[] values) {
        int count = 0;

        for (int i = 0; i < values.length; i++) {
            if (values[i] % 2 == 0) {
                count++;
            }
        }
        return count;
    }
}
"""


def test_each_rewrite_changes_style_only():
    rng = random.Random(3)
    for name, rewrite in REWRITES.items():
        assert rewrite(STYLE_SAMPLE, rng) != STYLE_SAMPLE, name
    allman = REWRITES["braces"](STYLE_SAMPLE, rng)
    assert all(line.strip() == "{" or not line.rstrip().endswith("{") for line in allman.split("\n"))
    increments = REWRITES["increment"](STYLE_SAMPLE, rng)
    assert "++" not in increments and ("i += 1" in increments or "i = i + 1" in increments)
    for seed in range(5):
        renamed = REWRITES["rename"](STYLE_SAMPLE, random.Random(seed))
        before, after = set(re.findall(r"\w+", STYLE_SAMPLE)), set(re.findall(r"\w+", renamed))
        assert len(before - after) == 1 and len(after - before) == 1 and "countEven" in after
        assert before - after <= {"values", "count", "i"}
    code, applied = restyle(STYLE_SAMPLE, random.Random(7), count=3)
    assert len(applied) >= 2 and code != STYLE_SAMPLE


@needs_jdk
def test_restyled_programs_still_pass_their_tests(tmp_path):
    tasks = load_tasks()[::10]
    programs = []
    for task in tasks:
        rng = random.Random(task.id)
        for base in (task.solution, *(v.code for v in task.variants)):
            for _ in range(2):
                code, applied = restyle(base, rng)
                if applied:
                    programs.append(Program(f"{task.id}/{len(programs)}", task, code))
    outcomes = check_many(programs, tmp_path, jobs=2, trusted=True)
    failed = [p.key for p in programs if not outcomes[p.key].all_passed]
    # Rewrites are checked again in every build; almost all must keep the program correct.
    assert len(failed) <= len(programs) // 20, failed


# ------------------------------------------------------------------ batch runs against single runs


@needs_jdk
def test_batch_run_in_one_jvm_matches_separate_jvms(task, tmp_path):
    programs = {
        "ok": task.solution,
        "wrong": task.solution.replace("n > 0", "n >= 0"),
        "throws": task.solution.replace("n > 0", "n / (n - n) > 0"),
        "endless": task.solution.replace("total += n;", "while (n > 0) { total += 0; }"),
        "deep": task.solution.replace("return total;", "return sumPositive(nums);"),
        "exits": task.solution.replace("total += n;", "System.exit(3);"),
    }
    items = [Program(key, task, code) for key, code in programs.items()]
    outcomes = check_many(items, tmp_path / "batch", jobs=1, trusted=True)
    direct = compile_many(items, tmp_path / "direct")
    assert all(ok for ok, _ in direct.values())
    batch_only = run_many(
        [(p.key, tmp_path / "direct" / str(i) / "out") for i, p in enumerate(items)], tmp_path / "direct" / "shared"
    )
    assert "exits" not in batch_only  # it ended its JVM: left for a run of its own
    assert batch_only["ok"].all_passed and batch_only["endless"].timed_out
    # Its first case hangs: stopped after its CPU budget, and the run ends there.
    assert [c.status for c in batch_only["endless"].cases] == ["TIMEOUT"]
    for key, code in programs.items():
        alone = run_program(task, code)
        mine = outcomes[key]
        assert (mine.compiled, mine.timed_out) == (alone.compiled, alone.timed_out), key
        if key == "endless" and not alone.cases:
            continue  # on a busy machine the alone run's 10 s wall clock can stop it before its CPU budget does
        if key != "exits":
            assert [(c.status, c.exception, c.line, c.actual) for c in mine.cases] == [
                (c.status, c.exception, c.line, c.actual) for c in alone.cases
            ], key
    assert outcomes["deep"].cases[0].exception == "java.lang.StackOverflowError"


@needs_jdk
def test_every_reference_solution_and_variant_passes_its_tests(tmp_path):
    programs = [
        Program(f"{t.id}/{i}", t, code)
        for t in load_tasks()
        for i, code in enumerate((t.solution, *(v.code for v in t.variants)))
    ]
    outcomes = check_many(programs, tmp_path, jobs=2, trusted=True)
    failed = [p.key for p in programs if not outcomes[p.key].all_passed]
    assert not failed, failed
    assert len(programs) >= 450


# ------------------------------------------------------------------ every operator, labelled and re-checked

OPERATOR_TASKS = (
    "arrays_sum_positive",
    "classes_interval",
    "collections_word_frequency",
    "loops_harmonic_sum",
    "math_gcd",
    "recursion_to_binary",
    "strings_count_words",
    "strings_is_palindrome",
    "classes_text_editor_undo",
    "strings_expand_ranges",
)


@needs_jdk
def test_every_operator_yields_a_labelled_sample_and_labels_match_a_fresh_run(tmp_path):
    tasks = [t for t in load_tasks() if t.id in OPERATOR_TASKS]
    rng = random.Random(0)
    plan = []
    for name, op in OPERATORS.items():
        sites = [(t, m) for t in tasks for code in (t.solution, *(v.code for v in t.variants)) for m in op.sites(code)]
        rng.shuffle(sites)
        plan += [(f"{name}/{i}", t, m) for i, (t, m) in enumerate(sites[:3])]
    outcomes = check_many([Program(k, t, m.code) for k, t, m in plan], tmp_path, jobs=2, trusted=True)
    labelled, by_kind = {}, {}
    for key, t, m in plan:
        try:
            answer = label(t, m.code, outcomes[key], m, random.Random(key)).answer
        except Dropped:
            continue
        labelled.setdefault(m.operator, []).append((key, t, m, answer))
        error = answer["errors"][0]
        kind = (answer["verdict"], error["code"] if answer["verdict"] == "RUNTIME_ERROR" else "")
        by_kind.setdefault(kind, (key, t, m, answer))
    missing = [name for name in OPERATORS if name not in labelled]
    assert not missing, f"operators without a labelled sample: {missing}"
    # Re-run a sample of every kind of label on its own with javac and java: same label.
    for key, t, m, answer in by_kind.values():
        again = label(t, m.code, run_program(t, m.code), m, random.Random(key)).answer
        mine, theirs = answer["errors"][0], again["errors"][0]
        assert (answer["verdict"], answer["score"]) == (again["verdict"], again["score"]), key
        assert (mine["code"], mine["line"]) == (theirs["code"], theirs["line"]), key
    assert {"COMPILE_ERROR", "RUNTIME_ERROR", "LOGIC_ERROR"} <= {v for v, _ in by_kind}


# ------------------------------------------------------------------ the build on a few tasks


def _task_subset(tmp_path) -> Path:
    folder = tmp_path / "tasks"
    folder.mkdir()
    for name in (
        "arrays_sum_positive",
        "math_gcd",
        "strings_is_palindrome",
        "loops_harmonic_sum",
        "recursion_to_binary",
    ):
        shutil.copy(TASKS_DIR / f"{name}.yaml", folder)
    return folder


def test_splits_are_task_disjoint_and_stratified():
    tasks = load_tasks()
    one = split_tasks(tasks, seed=0)
    assert one == split_tasks(tasks, seed=0) and one != split_tasks(tasks, seed=1)
    shares = {s: sum(v == s for v in one.values()) / len(tasks) for s in ("train", "valid", "test")}
    assert 0.75 <= shares["train"] <= 0.85 and 0.07 <= shares["valid"] <= 0.13 and 0.07 <= shares["test"] <= 0.13
    for topic in {t.topic for t in tasks}:
        assert {one[t.id] for t in tasks if t.topic == topic} == {"train", "valid", "test"}, topic


def test_candidates_are_deterministic_and_one_change_each(task):
    a_ok, a_mut = candidates_for(task, BuildOptions(seed=5))
    b_ok, b_mut = candidates_for(task, BuildOptions(seed=5))
    assert [c.code for c in a_ok + a_mut] == [c.code for c in b_ok + b_mut]
    assert len({c.code for c in a_ok + a_mut}) == len(a_ok + a_mut)
    assert {c.mutant.family for c in a_mut} == {"syntax", "compile", "runtime", "logic"}


@needs_jdk
def test_build_small_subset_same_seed_same_bytes(tmp_path):
    tasks_dir = _task_subset(tmp_path)
    # without the localisation step: its own determinism is test_localise's (a second run changes nothing), and it
    # would double this test's time
    options = dict(
        tasks_dir=tasks_dir,
        correct_per_task=3,
        errors_per_family=1,
        restyles_per_base=1,
        valid_share=0.2,
        test_share=0.2,
        localise=False,
    )
    first = build_dataset(BuildOptions(out_dir=tmp_path / "a", **options))
    build_dataset(BuildOptions(out_dir=tmp_path / "b", jobs=1, **options))
    for name in ("train.jsonl", "valid.jsonl", "test.jsonl", "DATASET.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    task_sets = {split: {s["meta"]["task_id"] for s in items} for split, items in first.samples.items()}
    assert not (task_sets["train"] & task_sets["valid"]) and not (task_sets["train"] & task_sets["test"])
    assert not (task_sets["valid"] & task_sets["test"])
    everything = [s for items in first.samples.values() for s in items]
    assert len(everything) == 5 * (3 + 4 * 1)
    verdicts = [s["meta"]["verdict"] for s in everything]
    assert verdicts.count("NO_ERROR") == 15
    for sample in everything:
        answer = json.loads(sample["messages"][-1]["content"])
        assert answer["verdict"] == sample["meta"]["verdict"]
        assert re.search(r"^ ?1 \| ", sample["messages"][1]["content"], re.M)  # numbered lines
        if answer["errors"]:
            assert sample["meta"]["tool_output"] and sample["meta"]["operator"] in OPERATORS
    card = (tmp_path / "a" / "DATASET.md").read_text()
    assert f"| train | {len(task_sets['train'])} | {len(first.samples['train'])} |" in card


def test_build_without_a_jdk_stops_with_a_clear_message(tmp_path, monkeypatch, capsys):
    from fedjava.cli import main

    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["data", "build", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "javac" in err and "JDK" in err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ the shipped data


def test_shipped_dataset_has_the_promised_shape():
    splits = {
        s: [json.loads(line) for line in (REPO_DATA / f"{s}.jsonl").read_text().splitlines()]
        for s in ("train", "valid", "test")
    }
    assert len(splits["train"]) >= 3000
    total = sum(len(v) for v in splits.values())
    assert 0.7 <= len(splits["train"]) / total <= 0.86
    tasks = {s: {x["meta"]["task_id"] for x in v} for s, v in splits.items()}
    assert not (tasks["train"] & tasks["valid"]) and not (tasks["train"] & tasks["test"])
    assert not (tasks["valid"] & tasks["test"])
    no_error = sum(x["meta"]["verdict"] == "NO_ERROR" for v in splits.values() for x in v)
    assert 0.2 <= no_error / total <= 0.3
    families = {x["meta"]["family"] for v in splits.values() for x in v}
    assert families == {"correct", "syntax", "compile", "runtime", "logic"}
    card = (REPO_DATA / "DATASET.md").read_text()
    for split, items in splits.items():
        assert f"| {split} | {len(tasks[split])} | {len(items)} |" in card
