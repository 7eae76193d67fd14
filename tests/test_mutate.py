"""Mutation operators: exact edits on small programs, invariants, determinism, and real javac/JVM labels."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from fedjava.java.mutate import FAMILIES, OPERATORS, Mutant, all_mutants, sample_mutants, site_counts
from fedjava.java.tasks import load_tasks

SNIPPET = """\
import java.util.*;

class Solution {
    static int sumPositive(int[] nums) {
        int total = 0;
        for (int i = 0; i < nums.length; i++) {
            if (nums[i] > 0) {
                total += nums[i];
            }
        }
        return total;
    }

    static String describe(String s) {
        // if (x == 1) return i < n;
        String note = "if (x == 1) { return; }";
        if (s.equals("a") && s.length() > 0) {
            return note + s;
        } else {
            return "none";
        }
    }

    static List<Integer> evens(int n) {
        List<Integer> out = new ArrayList<>();
        int k = 0;
        while (k < n) {
            out.add(k);
            k += 2;
        }
        return out;
    }
}
"""

SNIPPET2 = """\
import java.util.Arrays;

class Solution {
    static int digits(String s, int base) {
        int value = 0;
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) == ' ') {
                break;
            }
            value = value * base + (s.charAt(i) - '0');
        }
        return value;
    }

    static double average(int[] a) {
        int sum = 0;
        for (int v : a) {
            sum += v;
        }
        double avg = (double) sum / a.length;
        return avg;
    }

    static int fact(int n) {
        if (n <= 1) {
            return 1;
        }
        return n * fact(n - 1);
    }

    static int range(String text) {
        int dash = text.indexOf('-');
        int low = Integer.parseInt(text.substring(0, dash));
        int high = Integer.parseInt(text.substring(dash + 1));
        int width = Math.max(low, high) - Math.min(low, high);
        int[] cells = new int[width];
        width = width % 7;
        return cells.length + width;
    }

    static String clean(String s) {
        s = s.trim();
        return s;
    }

    static Box[] sortBoxes(Box[] boxes) {
        Box[] copy = boxes.clone();
        Arrays.sort(copy, (x, y) -> Integer.compare(x.size, y.size));
        return copy;
    }
}

class Box {
    int size;

    Box(int size) { this.size = size; }
}
"""

# (operator, program, 1-based line, original line, mutated line), both lines without indentation.
EXPECTED = [
    ("missing_semicolon", SNIPPET, 11, "return total;", "return total"),
    ("missing_closing_brace", SNIPPET, 9, "}", ""),
    ("missing_opening_brace", SNIPPET, 27, "while (k < n) {", "while (k < n)"),
    ("missing_close_paren", SNIPPET, 7, "if (nums[i] > 0) {", "if (nums[i] > 0 {"),
    ("extra_close_paren", SNIPPET, 28, "out.add(k);", "out.add(k));"),
    ("unclosed_string", SNIPPET, 20, 'return "none";', 'return "none;'),
    ("misspelled_keyword", SNIPPET, 27, "while (k < n) {", "whlie (k < n) {"),
    (
        "else_without_if",
        SNIPPET,
        17,
        'if (s.equals("a") && s.length() > 0) {',
        'if (s.equals("a") && s.length() > 0); {',
    ),
    ("assign_for_equals", SNIPPET2, 7, "if (s.charAt(i) == ' ') {", "if (s.charAt(i) = ' ') {"),
    (
        "for_header_comma",
        SNIPPET,
        6,
        "for (int i = 0; i < nums.length; i++) {",
        "for (int i = 0, i < nums.length; i++) {",
    ),
    ("misspelled_variable", SNIPPET, 11, "return total;", "return totla;"),
    (
        "misspelled_method",
        SNIPPET,
        17,
        'if (s.equals("a") && s.length() > 0) {',
        'if (s.equals("a") && s.lenght() > 0) {',
    ),
    (
        "length_confusion",
        SNIPPET,
        6,
        "for (int i = 0; i < nums.length; i++) {",
        "for (int i = 0; i < nums.length(); i++) {",
    ),
    ("type_mismatch", SNIPPET, 5, "int total = 0;", 'int total = "0";'),
    ("lossy_conversion", SNIPPET2, 20, "double avg = (double) sum / a.length;", "int avg = (double) sum / a.length;"),
    ("missing_return", SNIPPET, 11, "return total;", ""),
    ("missing_return_value", SNIPPET, 31, "return out;", "return;"),
    ("uninitialized_variable", SNIPPET, 5, "int total = 0;", "int total;"),
    ("unreachable_statement", SNIPPET, 12, "", "System.out.println(total);"),
    ("wrong_arg_count", SNIPPET2, 28, "return n * fact(n - 1);", "return n * fact();"),
    ("static_context", SNIPPET, 29, "k += 2;", "this.k += 2;"),
    ("missing_import", SNIPPET, 1, "import java.util.*;", ""),
    ("duplicate_variable", SNIPPET2, 37, "width = width % 7;", "int width = width % 7;"),
    ("misspelled_type", SNIPPET, 5, "int total = 0;", "Int total = 0;"),
    ("undeclared_variable", SNIPPET, 26, "int k = 0;", "k = 0;"),
    (
        "off_by_one_bound",
        SNIPPET,
        6,
        "for (int i = 0; i < nums.length; i++) {",
        "for (int i = 0; i <= nums.length; i++) {",
    ),
    ("index_plus_one", SNIPPET, 8, "total += nums[i];", "total += nums[i + 1];"),
    ("division_by_zero", SNIPPET2, 37, "width = width % 7;", "width = width % 0;"),
    ("null_dereference", SNIPPET, 25, "List<Integer> out = new ArrayList<>();", "List<Integer> out = null;"),
    ("bad_cast", SNIPPET2, 48, "Arrays.sort(copy, (x, y) -> Integer.compare(x.size, y.size));", "Arrays.sort(copy);"),
    (
        "parse_non_number",
        SNIPPET2,
        34,
        "int high = Integer.parseInt(text.substring(dash + 1));",
        "int high = Integer.parseInt(text.substring(dash));",
    ),
    ("removed_base_case", SNIPPET2, 26, "return 1;", ""),
    ("missing_increment", SNIPPET, 29, "k += 2;", ""),
    (
        "wrong_step_direction",
        SNIPPET,
        6,
        "for (int i = 0; i < nums.length; i++) {",
        "for (int i = 0; i < nums.length; i--) {",
    ),
    ("array_too_small", SNIPPET2, 36, "int[] cells = new int[width];", "int[] cells = new int[width - 1];"),
    ("immutable_collection", SNIPPET, 25, "List<Integer> out = new ArrayList<>();", "List<Integer> out = List.of();"),
    ("relational_swap", SNIPPET, 7, "if (nums[i] > 0) {", "if (nums[i] >= 0) {"),
    ("arithmetic_swap", SNIPPET, 8, "total += nums[i];", "total -= nums[i];"),
    (
        "loop_start_off_by_one",
        SNIPPET,
        6,
        "for (int i = 0; i < nums.length; i++) {",
        "for (int i = 1; i < nums.length; i++) {",
    ),
    (
        "loop_bound_minus_one",
        SNIPPET,
        6,
        "for (int i = 0; i < nums.length; i++) {",
        "for (int i = 0; i < nums.length - 1; i++) {",
    ),
    ("wrong_initial_value", SNIPPET, 5, "int total = 0;", "int total = 1;"),
    ("negated_condition", SNIPPET, 7, "if (nums[i] > 0) {", "if (!(nums[i] > 0)) {"),
    (
        "swapped_arguments",
        SNIPPET2,
        48,
        "Arrays.sort(copy, (x, y) -> Integer.compare(x.size, y.size));",
        "Arrays.sort(copy, (x, y) -> Integer.compare(y.size, x.size));",
    ),
    ("wrong_return_variable", SNIPPET2, 12, "return value;", "return base;"),
    (
        "string_identity_compare",
        SNIPPET,
        17,
        'if (s.equals("a") && s.length() > 0) {',
        'if (s == "a" && s.length() > 0) {',
    ),
    ("integer_division", SNIPPET2, 20, "double avg = (double) sum / a.length;", "double avg = sum / a.length;"),
    ("and_or_swap", SNIPPET, 17, 'if (s.equals("a") && s.length() > 0) {', 'if (s.equals("a") || s.length() > 0) {'),
    ("removed_break", SNIPPET2, 8, "break;", ""),
    ("accumulate_overwrite", SNIPPET, 8, "total += nums[i];", "total = nums[i];"),
    (
        "char_digit_value",
        SNIPPET2,
        10,
        "value = value * base + (s.charAt(i) - '0');",
        "value = value * base + (s.charAt(i));",
    ),
    (
        "min_max_swap",
        SNIPPET2,
        35,
        "int width = Math.max(low, high) - Math.min(low, high);",
        "int width = Math.min(low, high) - Math.min(low, high);",
    ),
    ("ignored_string_result", SNIPPET2, 42, "s = s.trim();", "s.trim();"),
]


# What each operator records about its change at the EXPECTED site (Mutant.facts, for the explanations).
FACTS = {
    "missing_semicolon": {"statement": "return total"},
    "missing_closing_brace": {"header": "if (nums[i] > 0)", "header_line": "7"},
    "missing_opening_brace": {"header": "while (k < n)", "keyword": "while"},
    "missing_close_paren": {"case": "condition", "keyword": "if", "code": "if (nums[i] > 0)"},
    "extra_close_paren": {"case": "call", "code": "out.add(k)"},
    "unclosed_string": {"literal": '"none"'},
    "misspelled_keyword": {"wrote": "whlie", "meant": "while"},
    "else_without_if": {"condition": 'if (s.equals("a") && s.length() > 0)', "else_line": "19"},
    "assign_for_equals": {"keyword": "if", "left": "s.charAt(i)", "right": "' '"},
    "for_header_comma": {"init": "int i = 0"},
    "misspelled_variable": {"wrote": "totla", "meant": "total"},
    "misspelled_method": {"wrote": "lenght", "meant": "length", "case": "library"},
    "length_confusion": {"case": "array", "target": "nums", "wrote": "nums.length()", "meant": "nums.length"},
    "type_mismatch": {"case": "number", "type": "int", "name": "total", "value": "0"},
    "lossy_conversion": {"case": "declared", "name": "avg", "type": "double"},
    "missing_return": {"statement": "return total;", "method": "sumPositive", "type": "int"},
    "missing_return_value": {"value": "out", "method": "evens", "type": "List<Integer>"},
    "uninitialized_variable": {"name": "total", "value": "0"},
    "unreachable_statement": {"added": "System.out.println(total);", "after": "return total;", "exit": "return"},
    "wrong_arg_count": {"method": "fact", "dropped": "n - 1", "given": "0", "needed": "1", "case": "method"},
    "static_context": {"case": "this", "name": "k", "method": "evens"},
    "missing_import": {"imported": "java.util.*", "package": "java.util"},
    "duplicate_variable": {"name": "width", "type": "int", "first_line": "35", "case": "statement"},
    "misspelled_type": {"wrote": "Int", "meant": "int"},
    "undeclared_variable": {"name": "k", "type": "int"},
    "off_by_one_bound": {
        "case": "size",
        "keyword": "for",
        "left": "i",
        "right": "nums.length",
        "wrote": "<=",
        "meant": "<",
        "container": "nums",
        "kind": "array",
    },
    "index_plus_one": {"name": "i", "container": "nums", "kind": "array", "wrote": "nums[i + 1]"},
    "division_by_zero": {"divisor": "7", "op": "%", "case": "remainder"},
    "null_dereference": {"name": "out", "value": "new ArrayList<>()"},
    "bad_cast": {"case": "sort", "type": "Box", "array": "copy"},
    "parse_non_number": {
        "wrote": "dash",
        "meant": "dash + 1",
        "case": "start",
        "parser": "Integer.parseInt",
        "text": "text",
    },
    "removed_base_case": {"case": "block", "statement": "return 1;", "condition": "if (n <= 1)", "method": "fact"},
    "missing_increment": {"statement": "k += 2;", "loop": "while (k < n)", "name": "k"},
    "wrong_step_direction": {"wrote": "i--", "meant": "i++", "name": "i", "direction": "down"},
    "array_too_small": {"wrote": "width - 1", "meant": "width"},
    "immutable_collection": {"name": "out", "wrote": "List.of()", "meant": "new ArrayList<>()", "kind": "List"},
    "relational_swap": {"wrote": ">=", "meant": ">", "case": "includes", "left": "nums[i]", "right": "0"},
    "arithmetic_swap": {
        "wrote": "-=",
        "meant": "+=",
        "op": "+",
        "new_op": "-",
        "case": "compound",
        "left": "total",
        "right": "nums[i]",
    },
    "loop_start_off_by_one": {"name": "i", "condition": "i < nums.length"},
    "loop_bound_minus_one": {
        "name": "i",
        "op": "<",
        "wrote": "nums.length - 1",
        "meant": "nums.length",
        "last": "nums.length - 1",
        "case": "unit",
    },
    "wrong_initial_value": {"name": "total", "wrote": "1", "meant": "0", "case": "sum", "by": "one too large"},
    "negated_condition": {"case": "added", "condition": "nums[i] > 0", "wrote": "!(nums[i] > 0)"},
    "swapped_arguments": {"method": "Integer.compare", "first": "x.size", "second": "y.size"},
    "wrong_return_variable": {"wrote": "base", "meant": "value", "method": "digits"},
    "string_identity_compare": {
        "case": "same",
        "op": "==",
        "wrote": 's == "a"',
        "meant": 's.equals("a")',
        "left": "s",
        "right": '"a"',
        "type": "String",
    },
    "integer_division": {"case": "cast", "division": "sum / a.length"},
    "and_or_swap": {"wrote": "||", "meant": "&&", "case": "or", "left": 's.equals("a")', "right": "s.length() > 0"},
    "removed_break": {"statement": "break;", "case": "loop"},
    "accumulate_overwrite": {"name": "total", "op": "+", "value": "nums[i]"},
    "char_digit_value": {"char": "s.charAt(i)"},
    "min_max_swap": {"wrote": "Math.min", "meant": "Math.max", "case": "max"},
    "ignored_string_result": {"name": "s", "method": "trim"},
}


def check_one_change(code: str, m: Mutant) -> None:
    """``m.code`` differs from ``code`` in exactly one replaced, deleted or inserted line, as described."""
    old, new = code.split("\n"), m.code.split("\n")
    i = m.line - 1
    assert m.code != code, m
    if m.original_line and m.mutated_line:
        assert len(new) == len(old) and old[i] == m.original_line and new[i] == m.mutated_line, m
        assert sum(a != b for a, b in zip(old, new, strict=True)) == 1, m
        indent = len(m.original_line) - len(m.original_line.lstrip())
        assert m.mutated_line[:indent] == m.original_line[:indent], m
    elif m.original_line:
        assert new == old[:i] + old[i + 1 :] and old[i] == m.original_line, m
    else:
        assert m.operator == "unreachable_statement" and new == old[:i] + [m.mutated_line] + old[i:], m


# ----------------------------------------------------------------------------------------- pure Python


def test_operator_table():
    assert len(OPERATORS) >= 32
    assert FAMILIES == ("syntax", "compile", "runtime", "logic")
    for name, op in OPERATORS.items():
        assert op.name == name and op.family in FAMILIES and op.description
    for family in FAMILIES:
        assert sum(op.family == family for op in OPERATORS.values()) >= 6, family
    assert {op for op, *_ in EXPECTED} == set(OPERATORS), "every operator has an exact expectation"


@pytest.mark.parametrize("name, code, line, original, mutated", EXPECTED, ids=[e[0] for e in EXPECTED])
def test_operator_makes_the_expected_edit(name, code, line, original, mutated):
    found = [(m.line, m.original_line.strip(), m.mutated_line.strip()) for m in OPERATORS[name].sites(code)]
    assert (line, original, mutated) in found, found
    for m in OPERATORS[name].sites(code):
        assert m.operator == name and m.family == OPERATORS[name].family and m.description
        check_one_change(code, m)


def test_each_operator_records_what_it_changed():
    assert set(FACTS) == set(OPERATORS)
    for name, code, line, original, mutated in EXPECTED:
        m = next(
            m
            for m in OPERATORS[name].sites(code)
            if (m.line, m.original_line.strip(), m.mutated_line.strip()) == (line, original, mutated)
        )
        assert m.facts == FACTS[name], name
    for m in all_mutants(SNIPPET) + all_mutants(SNIPPET2):
        assert m.facts and all(isinstance(k, str) and isinstance(v, str) for k, v in m.facts.items()), m


def test_every_mutant_is_one_line_change_over_shipped_programs():
    programs = [SNIPPET, SNIPPET2] + [t.solution for t in load_tasks()[::3]]
    for code in programs:
        for m in all_mutants(code):
            check_one_change(code, m)


def test_no_mutation_inside_string_literals_comments_or_signatures():
    literal, comment = '"if (x == 1) { return; }"', "// if (x == 1) return i < n;"
    headers = {3, 4, 14, 24}
    for m in all_mutants(SNIPPET):
        assert comment in m.code and m.line not in headers | {15}, m
        if m.operator in ("unclosed_string", "uninitialized_variable", "null_dereference"):
            continue
        assert literal in m.code, m
    for m in all_mutants(SNIPPET2):
        assert m.line not in {3, 4, 15, 24, 31, 41, 46, 53}, m


def test_class_and_method_names_survive():
    for code, names in ((SNIPPET, ("sumPositive", "describe", "evens")), (SNIPPET2, ("digits", "fact", "sortBoxes"))):
        for m in all_mutants(code):
            assert "class Solution {" in m.code
            for name in names:
                assert f" {name}(" in m.code, m


def test_sampling_is_deterministic_and_bounded():
    first = sample_mutants(SNIPPET, random.Random(3), per_operator=2)
    again = sample_mutants(SNIPPET, random.Random(3), per_operator=2)
    assert first == again and first
    counts = site_counts(SNIPPET)
    per_op = {name: sum(m.operator == name for m in first) for name in OPERATORS}
    assert all(per_op[name] == min(2, counts[name]) for name in OPERATORS)
    others = [sample_mutants(SNIPPET, random.Random(seed), per_operator=2) for seed in range(4, 8)]
    assert any(o != first for o in others)
    assert all_mutants(SNIPPET) == all_mutants(SNIPPET)


def test_operator_and_family_selection():
    logic = sample_mutants(SNIPPET2, random.Random(0), operators=["logic"])
    assert logic and {m.family for m in logic} == {"logic"}
    only = all_mutants(SNIPPET, operators=["missing_semicolon", "relational_swap"])
    assert {m.operator for m in only} == {"missing_semicolon", "relational_swap"}
    assert only == [m for m in all_mutants(SNIPPET) if m.operator in ("missing_semicolon", "relational_swap")]
    with pytest.raises(KeyError):
        all_mutants(SNIPPET, operators=["no_such_operator"])


def test_same_result_in_a_fresh_interpreter_with_another_hash_seed():
    script = (
        "import json, random\n"
        "from fedjava.java.mutate import sample_mutants\n"
        f"code = {SNIPPET2!r}\n"
        "ms = sample_mutants(code, random.Random(11), per_operator=3)\n"
        "print(json.dumps([[m.operator, m.line, m.mutated_line] for m in ms]))\n"
    )
    outputs = []
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1] and outputs[0]


def test_every_operator_applies_somewhere_in_the_shipped_tasks():
    totals = dict.fromkeys(OPERATORS, 0)
    for task in load_tasks():
        for name, n in site_counts(task.solution).items():
            totals[name] += n
    assert all(totals.values()), [name for name, n in totals.items() if not n]


# ----------------------------------------------------------------------------------------- real JDK

JDK_TASKS = (
    "arrays_sum_positive",
    "classes_interval",
    "classes_text_editor_undo",
    "collections_word_frequency",
    "loops_harmonic_sum",
    "math_gcd",
    "recursion_to_binary",
    "strings_count_words",
    "strings_expand_ranges",
    "strings_is_palindrome",
)
MAX_TRIES = 6


def _try_operator(name, tasks):
    """Run this operator's mutants over the tasks' programs until one is a real error (at most MAX_TRIES)."""
    from fedjava.java.runner import run_program

    candidates = [
        (task, m)
        for task in tasks
        for code in (task.solution, *(v.code for v in task.variants))
        for m in OPERATORS[name].sites(code)
    ]
    random.Random(name).shuffle(candidates)
    tried = []
    for task, m in candidates[:MAX_TRIES]:
        outcome = run_program(task, m.code, timeout=4)
        tried.append((task.id, m, outcome))
        if not outcome.all_passed:
            break
    return tried


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("javac") is None or shutil.which("java") is None, reason="needs a JDK")
def test_mutants_are_real_errors_of_their_family_with_the_jdk():
    tasks = [t for t in load_tasks() if t.id in JDK_TASKS]
    assert len(tasks) == len(JDK_TASKS)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(OPERATORS, pool.map(lambda n: _try_operator(n, tasks), OPERATORS), strict=True))
    no_error, wrong_family = [], []
    for name, tried in results.items():
        for task_id, m, outcome in tried:
            if not outcome.compiled:
                files = {d.file for d in outcome.diagnostics}
                assert files == {"Solution.java"}, (name, task_id, m.mutated_line, outcome.stderr[-400:])
        task_id, m, outcome = tried[-1] if tried else (None, None, None)
        if outcome is None or outcome.all_passed:
            no_error.append(name)
            continue
        expect_compiled = OPERATORS[name].family in ("runtime", "logic")
        if outcome.compiled != expect_compiled:
            wrong_family.append((name, task_id, m.mutated_line.strip()))
    assert not no_error, f"operators without a failing mutant: {no_error}"
    assert len(wrong_family) <= len(OPERATORS) // 10, wrong_family
