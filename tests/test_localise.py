"""Localisation for programs that compile and fail a test: per-test line coverage and mutants, with the real JDK
in the sandbox."""

from __future__ import annotations

import pytest

from fedjava.java.evidence import Evidence, SuspiciousLines, VerifiedChange
from fedjava.java.localise import failing_cases, localise, localise_many, ochiai, with_localisation
from fedjava.java.runner import Program, check_many
from fedjava.java.tasks import Task
from fedjava.java.tasks import TestCase as Case

pytestmark = pytest.mark.slow

COUNT = """class Solution {
    // how many values are at least the limit
    static int countAtLeast(int[] values, int limit) {
        int count = 0;
        for (int v : values) {
            if (v > limit) {
                count++;
            }
        }
        return count;
    }

    static int spin(int n) {
        while (n != 0) {
            n = n + 0;
        }
        return n;
    }
}
"""
TASK = Task(
    "count_at_least",
    "Count",
    "arrays",
    "Count the values that are at least the limit.",
    "",
    (),
    (
        Case("Solution.countAtLeast(new int[]{1, 5, 9}, 2)", "2"),
        Case("Solution.countAtLeast(new int[]{}, 2)", "0"),
        Case("Solution.countAtLeast(new int[]{3, 3}, 3)", "2"),
        Case("Solution.countAtLeast(new int[]{1, 2}, 2)", "1"),
        Case("Solution.spin(0)", "0"),
    ),
)


def _run(task: Task, code: str, tmp_path):
    return check_many([Program("p", task, code)], tmp_path / "run", jobs=1)["p"]


def test_ochiai_ranks_lines_run_by_failing_tests_and_few_passing_ones():
    coverage = {0: frozenset({3, 4, 5}), 1: frozenset({3, 4, 6}), 2: frozenset({3, 6}), 3: frozenset({3})}
    ranking = ochiai(coverage, frozenset({1, 2}), 4)
    assert ranking[0] == (6, 1.0)  # both failing tests, no passing one
    assert dict(ranking)[3] == pytest.approx(2 / (2 * 2) ** 0.5 / 2**0.5 * 1)  # ef 2, ep 2: 2 / sqrt(2 * 4)
    assert dict(ranking)[4] == pytest.approx(1 / (2 * 2) ** 0.5)  # ef 1, ep 1
    assert 5 not in dict(ranking) and ochiai(coverage, frozenset(), 4) == []


def test_a_wrong_comparison_is_found_by_its_mutants_and_verified_by_every_test(tmp_path):
    outcome = _run(TASK, COUNT, tmp_path)
    assert failing_cases(TASK, outcome) == frozenset({2, 3})
    found = localise(TASK, COUNT, outcome)
    assert found.coverage[2] == {4, 5, 6, 10} and found.coverage[0] == {4, 5, 6, 7, 10}
    assert found.coverage[4] == {14, 17}
    assert found.coverage_ranking[0][0] == 6  # both failing tests run it, of the passing ones only the first
    assert found.mutant_ranking[0][0] == 6 and found.verified == (6, "            if (v >= limit) {")
    facts = found.facts()
    assert facts[1] == SuspiciousLines("mutants", tuple(n for n, _ in found.mutant_ranking[:3]))
    assert facts[2] == VerifiedChange(6, "if (v >= limit) {")


def test_an_endless_loop_still_reports_the_lines_it_spins_in(tmp_path):
    task = Task(
        "spin",
        "Spin",
        "loops",
        "Return n after counting it down.",
        "",
        (),
        (Case("Solution.spin(0)", "0"), Case("Solution.spin(3)", "0")),
    )
    outcome = _run(task, COUNT, tmp_path)
    found = localise(task, COUNT, outcome, max_mutants=0)
    assert found.coverage[1] == frozenset({14, 15}) and found.coverage_ranking[0][0] == 15


def test_evidence_gains_localisation_only_when_a_test_fails(tmp_path):
    fixed = COUNT.replace("v > limit", "v >= limit")
    evidence = Evidence.parse("Tool results:\njavac: compiles\ntests: 5 of 5 passed")
    same, found = with_localisation(evidence, TASK, fixed, _run(TASK, fixed, tmp_path))
    assert same == evidence and found is None
    block = "Tool results:\njavac: compiles\ntests: 3 of 5 passed\nfirst wrong result: ..."
    richer, found = with_localisation(Evidence.parse(block), TASK, COUNT, _run(TASK, COUNT, tmp_path / "b"))
    assert richer.first(VerifiedChange) == VerifiedChange(6, "if (v >= limit) {")
    assert Evidence.parse(richer.render()) == richer


def test_many_programs_are_localised_in_one_batch_each_with_its_own_coverage(tmp_path):
    spin_task = Task(
        "spin",
        "Spin",
        "loops",
        "Return n after counting it down.",
        "",
        (),
        (Case("Solution.spin(0)", "0"), Case("Solution.spin(3)", "0")),
    )
    broken = COUNT.replace("v > limit", "v >= limit").replace("count++;", "count += 2;")
    items = [
        ("a key with spaces\tand a tab", TASK, COUNT, _run(TASK, COUNT, tmp_path / "a")),
        ("endless", spin_task, COUNT, _run(spin_task, COUNT, tmp_path / "b")),
        ("twice", TASK, broken, _run(TASK, broken, tmp_path / "c")),
    ]
    found = localise_many(items, max_mutants=12, jobs=1)
    assert found["a key with spaces\tand a tab"].verified == (6, "            if (v >= limit) {")
    assert found["endless"].coverage == {0: frozenset({14, 17}), 1: frozenset({14, 15})}
    assert found["twice"].coverage[0] == {4, 5, 6, 7, 10} and found["twice"].mutant_ranking[0][0] == 7


def test_data_localise_adds_the_facts_to_sample_files_and_running_it_again_changes_nothing(tmp_path, capsys):
    import json

    from fedjava.cli import main
    from fedjava.java.evidence import evidence_block
    from fedjava.java.tasks import task_tests
    from fedjava.prompts import build_messages, write_samples

    outcome = _run(TASK, COUNT, tmp_path)
    failing = {
        "messages": build_messages(TASK.requirement, COUNT, {"verdict": "LOGIC_ERROR", "errors": [], "score": 6}),
        "meta": {
            "task_id": "not_shipped",
            "tests": task_tests(TASK),
            "tool_output": outcome.stdout,
            "evidence": evidence_block(outcome, len(TASK.tests)),
        },
    }
    compiles = {
        **failing,
        "meta": {**failing["meta"], "evidence": "Tool results:\njavac: compiles\ntests: 5 of 5 passed"},
    }
    path = tmp_path / "samples.jsonl"
    write_samples([failing, compiles], path)
    assert main(["data", "localise", str(path), "--jobs", "1", "--max-mutants", "20"]) == 0
    assert "1 of 2 sample(s) localised" in capsys.readouterr().out
    first = path.read_text()
    rows = [json.loads(line) for line in first.splitlines()]
    evidence = Evidence.parse(rows[0]["meta"]["evidence"])
    assert evidence.first(VerifiedChange) == VerifiedChange(6, "if (v >= limit) {")
    assert rows[1]["meta"]["evidence"] == compiles["meta"]["evidence"]
    assert main(["data", "localise", str(path), "--jobs", "1", "--max-mutants", "20"]) == 0
    assert path.read_text() == first
