"""Tests made from a model solution (issue 24 item 2): inputs from parameter types, the reference's values recorded in
the sandbox and checked against a second run, a correct program never called wrong, a wrong one found, and the
evidence line that says how many generated inputs differ."""

from __future__ import annotations

import random
import re
import shutil

import pytest

from fedjava.java.evidence import Evidence, ReferenceComparison, TestSummary, gather_evidence, parse_fact
from fedjava.java.generate import Budget, GenerateError, generate_tests
from fedjava.java.inputs import Hints, Values, elements, hints_for, parse_type
from fedjava.java.runner import run_program
from fedjava.java.tasks import Task

needs_jdk = pytest.mark.skipif(shutil.which("javac") is None, reason="needs a JDK")


def test_types_from_their_reflected_names():
    assert parse_type("int[][]").java == "int[][]"
    assert parse_type("java.util.List<java.lang.Integer>").kind == "list"
    assert parse_type("java.util.Map<java.lang.String, java.util.List<java.lang.Double>>").kind == "map"
    assert parse_type("java.lang.Character").kind == "box"
    for nothing in ("T", "java.util.List<T>", "Counter", "java.util.List<Counter>", "java.util.Set<int[]>"):
        assert parse_type(nothing) is None, nothing


def test_edge_cases_come_first_and_the_requirement_narrows_them():
    edges = [Values(parse_type("int"), Hints(), random.Random(0)).edge(i) for i in range(12)]
    assert edges[:3] == ["0", "1", "(-1)"]
    assert "java.lang.Integer.MAX_VALUE" in edges and "java.lang.Integer.MIN_VALUE" in edges
    arrays = [Values(parse_type("int[]"), Hints(), random.Random(0)).edge(i) for i in range(8)]
    assert arrays[0] == "new int[] {}" and any(len(elements(a)) == 1 for a in arrays)  # empty, one element
    assert any(len(set(elements(a))) == 1 < len(elements(a)) for a in arrays)  # all equal: duplicates
    requirement = (
        "`den` is never 0 and neither argument is Integer.MIN_VALUE; `n >= 1`; the array `sorted` is "
        "sorted in strictly increasing order"
    )
    den = hints_for("den", requirement)
    assert den.nonzero and "java.lang.Integer.MIN_VALUE" in den.ruled_out
    values = Values(parse_type("int"), den, random.Random(1))
    drawn = [values.edge(i) for i in range(12)] + [values.random() for _ in range(200)]
    assert "0" not in drawn and "java.lang.Integer.MIN_VALUE" not in drawn
    assert hints_for("n", requirement).low == 1 and hints_for("count", "").low == 0
    ordered = Values(parse_type("int[]"), hints_for("sorted", requirement), random.Random(2))
    for _ in range(50):
        items = [int(x.strip("()")) for x in elements(ordered.random())]
        assert items == sorted(set(items))
    assert '"apple:120"' in [
        Values(parse_type("java.lang.String"), hints_for("line", 'e.g. "apple:120"'), random.Random(0)).edge(i)
        for i in range(4)
    ]


REFERENCE = """import java.util.*;

class Solution {
    static int sumPositive(int[] values) {
        int total = 0;
        for (int v : values) {
            if (v > 0) {
                total += v;
            }
        }
        return total;
    }

    static double ratio(int a, int b) {
        if (b == 0) {
            throw new IllegalArgumentException("b is 0");
        }
        return (double) a / b;
    }

    static int first(int[] values) {
        return values[0];  // an empty array is outside the task: ArrayIndexOutOfBounds, not thrown here
    }

    static int roll(int sides) {
        return 1 + (int) (Math.random() * 1_000_000);  // disagrees with itself
    }

    static void reverse(int[] values) {
        for (int i = 0, j = values.length - 1; i < j; i++, j--) {
            int t = values[i];
            values[i] = values[j];
            values[j] = t;
        }
    }

    static Set<Character> letters(String s) {
        Set<Character> out = new TreeSet<>();
        for (char c : s.toCharArray()) {
            if (Character.isLetter(c)) {
                out.add(c);
            }
        }
        return out;
    }

    static Map<String, List<Integer>> positions(String s) {
        Map<String, List<Integer>> out = new TreeMap<>();
        String[] words = s.split(" ");
        for (int i = 0; i < words.length; i++) {
            out.computeIfAbsent(words[i], k -> new ArrayList<>()).add(i);
        }
        return out;
    }
}

class Counter {
    private long total;

    void add(int k) {
        total += k;
    }

    long total() {
        return total;
    }
}
"""
REQUIREMENT = (
    "Write `sumPositive`, `ratio` (IllegalArgumentException when b is 0), `first`, `roll`, `reverse`, "
    "`letters` and `positions` in class `Solution`, and a class `Counter` with `add` and `total`."
)
# Correct, written another way: a stream, a division done otherwise, a HashSet and a HashMap in other orders.
ANOTHER_WAY = """import java.util.*;
import java.util.stream.*;

class Solution {
    static int sumPositive(int[] values) {
        return IntStream.of(values).filter(v -> v > 0).sum();
    }

    static double ratio(int a, int b) {
        if (b == 0) {
            throw new IllegalArgumentException();
        }
        return a * (1.0 / b);
    }

    static int first(int[] values) {
        return values.length == 0 ? -1 : values[0];
    }

    static int roll(int sides) {
        return sides;
    }

    static void reverse(int[] values) {
        int[] copy = values.clone();
        for (int i = 0; i < values.length; i++) {
            values[i] = copy[values.length - 1 - i];
        }
    }

    static Set<Character> letters(String s) {
        Set<Character> out = new HashSet<>();
        for (int i = s.length() - 1; i >= 0; i--) {
            if (Character.isLetter(s.charAt(i))) {
                out.add(s.charAt(i));
            }
        }
        return out;
    }

    static Map<String, List<Integer>> positions(String s) {
        Map<String, List<Integer>> out = new HashMap<>();
        String[] words = s.split(" ");
        for (int i = 0; i < words.length; i++) {
            out.computeIfAbsent(words[i], k -> new LinkedList<>()).add(i);
        }
        return out;
    }
}

class Counter {
    private int total;

    public void add(int k) {
        total = total + k;
    }

    public long total() {
        return total;
    }
}
"""


@pytest.fixture(scope="module")
def generated():
    return generate_tests(REFERENCE, REQUIREMENT, Budget(inputs=20))


@needs_jdk
def test_the_reference_gives_expected_values_and_what_it_cannot_answer_is_left_out(generated):
    tests = generated.tests
    assert generated.targets == [
        f"Solution.{m}" for m in ("first", "letters", "positions", "ratio", "reverse", "roll", "sumPositive")
    ] + ["Counter"]
    assert all(t.generated for t in tests)
    calls = {t.call: t for t in tests}
    assert calls["Solution.sumPositive(new int[] {})"].expect == "0"
    by_zero = [t for t in tests if re.fullmatch(r"Solution\.ratio\(.*, 0\)", t.call)]
    assert by_zero and all(t.throws == "java.lang.IllegalArgumentException" for t in by_zero)  # the reference's throw
    assert all(
        t.expect.endswith("d") and not t.throws
        for t in tests
        if t.call.startswith("Solution.ratio(") and t not in by_zero
    )
    assert "Solution.first(new int[] {})" not in calls  # ArrayIndexOutOfBounds: outside the task, left out
    assert generated.left_out["the reference throws ArrayIndexOutOfBoundsException"] >= 1
    assert not any(t.call.startswith("Solution.roll(") for t in tests)  # Math.random: it disagrees with itself
    assert generated.left_out["the reference disagrees with itself"] >= 1
    reversed_ = [t for t in tests if t.setup.endswith("Solution.reverse(a0);")]
    assert reversed_ and all(t.call == "a0" for t in reversed_)  # a void method: its argument afterwards
    assert any("java.util.Map.entry(" in t.expect for t in tests)
    assert any(t.setup.startswith("var obj = new Counter();") and t.call == "obj.total()" for t in tests)
    assert "generated test(s) for Solution.first, " in generated.summary()


@needs_jdk
def test_a_correct_program_written_another_way_passes_every_generated_test(generated):
    task = Task("mixed", "Mixed", "review", REQUIREMENT, "", (), generated.tests, reference=REFERENCE)
    outcome = run_program(task, ANOTHER_WAY)
    assert outcome.all_passed, [c for c in outcome.cases if c.status != "PASS"][:3]


@needs_jdk
def test_a_wrong_program_is_found_and_the_evidence_says_how_many_inputs_differ(generated):
    task = Task("mixed", "Mixed", "review", REQUIREMENT, "", (), generated.tests, reference=REFERENCE)
    wrong = ANOTHER_WAY.replace("filter(v -> v > 0).sum();", "filter(v -> v > 0).sum() + (values.length > 4 ? 1 : 0);")
    block, outcome = gather_evidence(wrong, task)
    evidence = Evidence.parse(block)
    fact = evidence.first(ReferenceComparison)
    assert fact is not None and fact.total == len(generated.tests)
    summary = evidence.first(TestSummary)
    assert fact.differ == summary.total - summary.passed > 0
    assert fact.call.startswith("Solution.sumPositive(") and fact.student.startswith("returned ")
    assert fact.reference.startswith("returns ")
    assert f"reference: {fact.differ} of {fact.total} generated inputs differ; first: Solution.sumPositive(" in block
    right, _ = gather_evidence(ANOTHER_WAY, task)
    assert f"reference: all {len(generated.tests)} generated inputs agree" in right


def test_the_reference_comparison_line_round_trips():
    for fact in (
        ReferenceComparison(3, 40, "Solution.f(0)", "returned 1", "returns 0"),
        ReferenceComparison(
            1,
            9,
            "var obj = new C(); obj.get(2)",
            "threw java.lang.NullPointerException",
            "throws java.lang.IndexOutOfBoundsException",
        ),
        ReferenceComparison(
            2, 5, "Solution.g(new int[] {1, 2})", "did not finish within 1 s of CPU time", "returns [1, 2]"
        ),
        ReferenceComparison(0, 40),
    ):
        assert parse_fact(fact.render()) == fact
    assert (
        ReferenceComparison(3, 40, "Solution.f(0)", "returned 1", "returns 0").render()
        == "reference: 3 of 40 generated inputs differ; first: Solution.f(0) returned 1, the reference returns 0"
    )


@needs_jdk
def test_a_reference_that_does_not_compile_or_has_nothing_to_call_is_named():
    with pytest.raises(GenerateError, match="does not compile: line 2"):
        generate_tests("class Solution {\n    static int f() { return 1 }\n}\n", "")
    with pytest.raises(GenerateError, match="has no method to test"):
        generate_tests("class Solution {\n    static void hello() {}\n}\n", "")
