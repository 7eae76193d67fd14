"""Explanations: every operator's sentences, real mutants labelled with the real JDK, and the shipped data."""

from __future__ import annotations

import difflib
import json
import random
import re
import shutil
from pathlib import Path

import pytest

from fedjava.dataset.explain import Observed, changed_parts, explain, fill_values, render
from fedjava.dataset.explain_templates import FALLBACK, REASONS
from fedjava.dataset.label import label
from fedjava.java.mutate import OPERATORS, Mutant, all_mutants
from fedjava.java.runner import Program, check_many
from fedjava.java.tasks import TASKS_DIR, load_task, load_tasks
from fedjava.prompts import unnumber

HAS_JDK = shutil.which("javac") is not None and shutil.which("java") is not None
needs_jdk = pytest.mark.skipif(not HAS_JDK, reason="needs a JDK")
REPO_DATA = Path(__file__).resolve().parents[1] / "data"

# The shapes of the old explanations, which restated the tool output ("X gives A but should give B, because of
# line N") instead of saying what is wrong on the line.
OLD_SHAPES = [
    re.compile(p)
    for p in (
        r"^For .+ the program returns .+ instead of .+; the cause is line \d+\.$",
        r"^.+ gives .+ but should give .+, because of line \d+\.$",
        r"^Line \d+ computes the wrong result: .+ returns .+, expected .+\.$",
        r"^.+ does not finish within \S+ s: the loop or recursion at line \d+ never stops\.$",
        r"^The program never ends for .+; line \d+ does not move the loop towards its exit\.$",
        r"^For .+, line \d+ divides by zero\.$",
        r"^For .+, line \d+ uses a reference that is null\.$",
        r"^For .+, line \d+ reads an array outside its bounds \(.*\)\.$",
        r"^javac rejects line \d+: .+\.$",
    )
]


# ------------------------------------------------------------------ the sentences themselves


# The shipped programs hold no site for a few rare operator cases (a Tree map keyed by a class, a sibling cast,
# a number parsed from trimmed text, floor and ceil).
RARE = """\
import java.util.*;

class Solution {
    static int count(List<Box> boxes) {
        Map<Box, Integer> seen = new HashMap<>();
        for (Box b : boxes) {
            seen.put(b, 1);
        }
        Shape s = boxes.isEmpty() ? new Square() : new Circle();
        Square q = (Square) s;
        int extra = Integer.parseInt(" 7 ".trim()) + (int) Math.floor(2.5) + (int) Math.ceil(2.5);
        return seen.size() + q.sides() + extra;
    }
}

class Box {
}

class Shape {
}

class Square extends Shape {
    int sides() { return 4; }
}

class Circle extends Shape {
}
"""


def _programs() -> list[str]:
    return [RARE] + [code for t in load_tasks() for code in (t.solution, *(v.code for v in t.variants))]


@pytest.fixture(scope="module")
def mutants_by_entry() -> dict[str, list[Mutant]]:
    """Every mutant of the shipped programs, grouped by the REASONS entry that explains it."""
    groups: dict[str, list[Mutant]] = {}
    for code in _programs():
        for m in all_mutants(code):
            entry = f"{m.operator}:{m.facts.get('case', '')}"
            groups.setdefault(entry if entry in REASONS else m.operator, []).append(m)
    return groups


def _observed(key: str) -> Observed:
    kind, _, code = key.partition(":")
    code = {"index": "java.lang.ArrayIndexOutOfBoundsException"}.get(code, code)
    if kind in ("any", "exception") and not code:
        kind, code = "exception", "java.lang.IllegalStateException"
    # A message that carries every observed detail a sentence may name (the symbol, a lossy conversion).
    message = "cannot find symbol; symbol: class List; possible lossy conversion from double to int"
    return Observed(kind, code or kind, 9, message, call="Solution.f(1)", expected="2", actual="3", detail="/ by zero")


def test_every_operator_has_sentences_and_every_sentence_names_the_changed_line():
    entries = {key.split(":")[0] for key in REASONS}
    assert entries == set(OPERATORS), entries ^ set(OPERATORS)
    for key, by_failure in REASONS.items():
        for failure, templates in by_failure.items():
            assert templates, (key, failure)
            assert all("{fix_line}" in t for t in templates), (key, failure)
    assert all("{change}" in t for templates in FALLBACK.values() for t in templates)


def test_every_sentence_can_be_filled_from_facts_its_operator_gives(mutants_by_entry):
    """A template naming a fact no mutant of its operator carries would never be used: a typo."""
    rng = random.Random(0)
    for entry, by_failure in REASONS.items():
        mutants = mutants_by_entry.get(entry, [])
        assert mutants, f"no shipped program gives a mutant for {entry}"
        for failure, templates in by_failure.items():
            for template in templates:
                assert any(
                    render([template], fill_values(m, _observed(failure), m.code.split("\n")), rng)
                    for m in mutants[:300]
                ), (entry, failure, template)


def test_changed_parts_are_whole_tokens():
    assert changed_parts("i <= n", "i < n") == ("<=", "<")
    assert changed_parts("retrun total + 1;", "return total + 1;") == ("retrun", "return")
    assert changed_parts("return total", "return total;") == ("", ";")
    assert changed_parts("total -= x;", "total += x;") == ("-=", "+=")
    assert changed_parts("f(b, a)", "f(a, b)") == ("b, a", "a, b")


def test_a_hand_made_change_without_facts_is_explained_by_the_change_itself():
    code = "class S {\n  int f(int n) {\n    return n - 1;\n  }\n}"
    m = Mutant("handwritten", "logic", code, 3, "    return n + 1;", "    return n - 1;", "minus for plus")
    seen = Observed("wrong_output", "wrong_output", 3, "", call="S.f(1)", expected="2", actual="0")
    text = explain(m, seen, code.split("\n"), random.Random(0))
    assert "`-`" in text and "`+`" in text and "line 3" in text and "S.f(1) gives 0 instead of 2" in text


def test_phrasings_vary_with_the_seed_and_repeat_with_it():
    task = load_task(TASKS_DIR / "arrays_sum_positive.yaml")
    m = next(m for m in OPERATORS["missing_semicolon"].sites(task.solution) if m.mutated_line.strip() == "return total")
    seen = Observed("compile", "compiler.err.expected", m.line, "';' expected", detail="';'")
    texts = [explain(m, seen, m.code.split("\n"), random.Random(seed)) for seed in range(12)]
    assert len(set(texts)) >= 3
    assert texts == [explain(m, seen, m.code.split("\n"), random.Random(seed)) for seed in range(12)]
    assert all(f"line {m.line}" in t.lower() and "`;`" in t for t in texts)


# ------------------------------------------------------------------ real mutants, real javac and JVM


def _find(code: str, operator: str, mutated: str) -> Mutant:
    return next(m for m in OPERATORS[operator].sites(code) if m.mutated_line.strip() == mutated)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> dict[str, dict]:
    """One real mutant per family (and two whose failure is not the one aimed at), run and labelled."""
    if not HAS_JDK:
        pytest.skip("needs a JDK")
    sums = load_task(TASKS_DIR / "arrays_sum_positive.yaml")
    gcd = load_task(TASKS_DIR / "math_gcd.yaml")
    code = sums.variants[0].code  # the index loop
    plan = {
        "syntax": (sums, _find(code, "missing_semicolon", "return sum")),
        "compile": (sums, _find(code, "misspelled_variable", "return Sum;")),
        "compile_elsewhere": (sums, _find(code, "uninitialized_variable", "int sum;")),
        "runtime": (sums, _find(code, "off_by_one_bound", "for (int i = 0; i <= nums.length; i++) {")),
        "logic": (sums, _find(code, "loop_start_off_by_one", "for (int i = 1; i < nums.length; i++) {")),
        "logic_throws": (gcd, _find(gcd.solution, "relational_swap", "while (y == 0) {")),
    }
    outcomes = check_many(
        [Program(k, t, m.code) for k, (t, m) in plan.items()], tmp_path_factory.mktemp("runs"), jobs=1
    )
    out = {}
    for key, (task, m) in plan.items():
        answer = label(task, m.code, outcomes[key], m, random.Random(key)).answer
        out[key] = {"answer": answer, "error": answer["errors"][0], "mutant": m}
    return out


@needs_jdk
def test_syntax_explanation_names_the_statement_and_the_missing_semicolon(labelled):
    error = labelled["syntax"]["error"]
    assert error["code"] == "compiler.err.expected" and error["line"] == 7
    assert "`;`" in error["explanation"] and "line 7" in error["explanation"].lower()
    assert "`return sum`" in error["explanation"] or "statement" in error["explanation"]


@needs_jdk
def test_compile_explanation_names_the_typo_and_the_real_name(labelled):
    text = labelled["compile"]["error"]["explanation"]
    assert "`Sum`" in text and "`sum`" in text and "line 7" in text


@needs_jdk
def test_compile_error_reported_elsewhere_names_both_lines(labelled):
    error = labelled["compile_elsewhere"]["error"]
    assert error["code"] == "compiler.err.var.might.not.have.been.initialized" and error["line"] == 5
    text = error["explanation"]
    assert "`sum`" in text and "line 3" in text and "line 5" in text


@needs_jdk
def test_runtime_explanation_says_why_the_index_reaches_the_length(labelled):
    error = labelled["runtime"]["error"]
    assert error["code"] == "java.lang.ArrayIndexOutOfBoundsException" and error["line"] == 5
    text = error["explanation"]
    assert "line 4" in text.lower() and "line 5" in text and "<=" in text
    assert "nums.length" in text and ("one past the last index" in text or "the last valid index is one less" in text)


@needs_jdk
def test_logic_explanation_gives_the_cause_then_the_observed_consequence(labelled):
    error = labelled["logic"]["error"]
    assert error["code"] == "wrong_output" and error["line"] == 4
    text = error["explanation"]
    assert "starts `i` at 1 instead of 0" in text or ("`i = 1`" in text and "first pass" in text)
    assert "Solution.sumPositive(new int[]{1, -2, 3}) gives 3 instead of 4" in text
    assert not any(p.match(text) for p in OLD_SHAPES)


@needs_jdk
def test_a_logic_change_that_throws_is_explained_by_what_happened(labelled):
    error = labelled["logic_throws"]["error"]
    assert labelled["logic_throws"]["answer"]["verdict"] == "RUNTIME_ERROR"
    assert error["code"] == "java.lang.ArithmeticException"
    text = error["explanation"]
    assert "`==`" in text and "`!=`" in text and "line 5" in text.lower()
    assert "ArithmeticException" in text and f"line {error['line']}" in text
    assert " gives " not in text  # no wrong-value claim: nothing returned a wrong value


# ------------------------------------------------------------------ the shipped data


def _samples(split: str) -> list[dict]:
    return [json.loads(line) for line in (REPO_DATA / f"{split}.jsonl").read_text().splitlines()]


_TOKEN = re.compile(
    r"'(?:\\.|[^'])'|\"(?:\\.|[^\"])*\"|[A-Za-z_$][\w$]*|\d+(?:\.\d+)?|<=|>=|==|!=|&&|\|\||\+\+|--"
    r"|[-+*/%]=|->|[^\s\w]"
)


def _tokens(line: str) -> list[str]:
    """Java tokens of a line, without the brackets and separators that carry no meaning of their own."""
    return [t for t in _TOKEN.findall(line) if t not in set("()[]{};,.")]


def changed_lines(sample: dict) -> tuple[str, str]:
    """(the line as the student wrote it, the line as it should be) of a shipped sample ("" for none)."""
    code = unnumber(sample["messages"][1]["content"].split("Student code:\n", 1)[1]).split("\n")
    error = json.loads(sample["messages"][-1]["content"])["errors"][0]
    meta = sample["meta"]
    # fix_action says what the fix does: "insert" puts back a line the mutant lost, "delete" removes one it added.
    written = code[meta["fix_line"] - 1] if meta["fix_action"] != "insert" else ""
    return written, error["fix"] if meta["fix_action"] != "delete" else ""


def explanation_checks(samples: list[dict]) -> dict[str, float]:
    """Rule-based checks of the explanations of mutated samples (shares, 0..1, and a count).

    * ``old_shape``: how many explanations have the shape of an old template that restated the tool output;
    * ``names_fix_line``: the explanation names the changed line ("line N");
    * ``quotes_changed_code``: it quotes (in backticks) code from the line as written or as it should be;
    * ``logic_names_both``: for logic samples labelled LOGIC_ERROR, it names the tokens written and the tokens
      meant (the token-level difference of the two versions of the line).
    """
    errors = [s for s in samples if s["meta"]["operator"]]
    counts = {"old_shape": 0, "names_fix_line": 0, "quotes_changed_code": 0, "logic": 0, "logic_names_both": 0}
    for s in errors:
        text = json.loads(s["messages"][-1]["content"])["errors"][0]["explanation"]
        written, meant = changed_lines(s)
        counts["old_shape"] += any(p.match(text) for p in OLD_SHAPES)
        counts["names_fix_line"] += f"line {s['meta']['fix_line']}" in text.lower()
        lines = (" ".join(written.split()), " ".join(meant.split()))
        quoted = [q.replace("...", "") for q in re.findall(r"`([^`]+)`", text)]
        counts["quotes_changed_code"] += any(q.strip() and any(q.strip() in x for x in lines) for q in quoted)
        if s["meta"]["family"] == "logic" and s["meta"]["verdict"] == "LOGIC_ERROR":
            a, b = _tokens(written), _tokens(meant)
            ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
            wrote = [t for tag, i1, i2, _j1, _j2 in ops if tag != "equal" for t in a[i1:i2]]
            want = [t for tag, _i1, _i2, j1, j2 in ops if tag != "equal" for t in b[j1:j2]]
            counts["logic"] += 1
            counts["logic_names_both"] += all(t in text for t in wrote + want)
    n = max(len(errors), 1)
    return {
        "samples": len(errors),
        "old_shape": counts["old_shape"],
        "names_fix_line": counts["names_fix_line"] / n,
        "quotes_changed_code": counts["quotes_changed_code"] / n,
        "logic_names_both": counts["logic_names_both"] / max(counts["logic"], 1),
    }


@pytest.mark.parametrize("split", ["train", "valid", "test"])
def test_shipped_explanations_say_what_is_wrong_not_what_the_tools_said(split):
    checks = explanation_checks(_samples(split))
    assert checks["samples"] > 300
    assert checks["old_shape"] == 0
    assert checks["names_fix_line"] == 1.0
    assert checks["quotes_changed_code"] >= 0.97, checks
    assert checks["logic_names_both"] >= 0.9, checks
