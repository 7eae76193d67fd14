"""Where an error comes from (:mod:`fedjava.java.cause`): the lines quoted beside the one the tools name, for
``quote_lines: related`` grounded prompts. Each rule on a program whose fix is known, and the real tools' own
evidence for two of them."""

from __future__ import annotations

import pytest

from fedjava.java.cause import block_opener, brace_cause, cause_lines, enclosing_loop, insertions
from fedjava.prompts import quote_source_lines

LOOP = """class Solution {
    static int[] prefix(int[] values) {
        int[] sums = null;
        int[] out = new int[values.length - 1];
        int total = 0;
        for (int i = 0; i <= values.length; i++) {
            total += values[i];
            out[i] = total;
        }
        return out;
    }
}
"""


def test_an_index_error_points_at_its_loop_and_the_arrays_created():
    block = (
        "javac: compiles\ntests: 0 of 3 passed\nfirst exception: Solution.prefix(new int[]{1, 2}) threw "
        "java.lang.ArrayIndexOutOfBoundsException: Index 1 out of bounds for length 1 at line 8"
    )
    assert cause_lines(block, LOOP) == [(6, "the loop line 8 is in"), (4, "creates out")]
    assert enclosing_loop(LOOP.split("\n"), 6) == 6 and enclosing_loop(LOOP.split("\n"), 3) is None


def test_a_null_variable_points_at_where_it_was_set():
    block = (
        "first exception: Solution.prefix(new int[]{1}) threw java.lang.NullPointerException: Cannot store to "
        'int array because "sums" is null at line 8'
    )
    assert cause_lines(block, LOOP) == [(3, "sets sums")]
    # a value the student never set by name: nothing is guessed
    assert cause_lines(block.replace('"sums"', '"<local4>"'), LOOP) == []


def test_javac_errors_point_at_the_declaration_or_the_brace():
    code = "class A {\n  int f() {\n    int bottom;\n    int top = 2;\n    return top / bottom;\n  }\n}\n"
    uninit = (
        "javac: error at line 5: compiler.err.var.might.not.have.been.initialized: variable bottom might not "
        "have been initialized\ntests: not run (the program does not compile)"
    )
    assert cause_lines(uninit, code) == [(3, "declares bottom")]
    stray = "class A {\n  void f(int c) {\n    if (c > 0); {\n      c++;\n    } else {\n      c--;\n    }\n  }\n}\n"
    assert block_opener(stray.split("\n"), 5) == 3
    assert cause_lines("javac: error at line 5: compiler.err.else.without.if: 'else' without 'if'", stray) == [
        (3, "opens the block this 'else' follows")
    ]
    no_open = (
        "class A {\n  int f(int[] a) {\n    int s = 0;\n    for (int x : a)\n      s += x;\n"
        "      s -= 0;\n    }\n    return s;\n  }\n}\n"
    )
    assert brace_cause(no_open.split("\n")) == (4, "opens a block without '{'")
    no_close = "class A {\n  int f() {\n    if (true) {\n      return 1;\n    return 2;\n  }\n}\n"
    assert brace_cause(no_close.split("\n")) == (5, "the block opened at line 3 ends before this line without '}'")
    assert cause_lines(
        "javac: error at line 7: compiler.err.premature.eof: reached end of file while parsing", no_close
    ) == [(5, "the block opened at line 3 ends before this line without '}'")]
    # a program whose braces and indentation agree gets no brace guess
    assert brace_cause(LOOP.split("\n")) is None


def test_related_quotes_follow_the_tools_lines_only_when_asked():
    block = (
        "first exception: Solution.prefix(new int[]{1}) threw java.lang.NullPointerException: Cannot store to "
        'int array because "sums" is null at line 8'
    )
    plain = quote_source_lines(block, LOOP)
    assert plain.split("\n")[1] == "line 8 reads: out[i] = total;" and "sums = null" not in plain
    related = quote_source_lines(block, LOOP, "related").split("\n")
    assert related[1:] == ["line 8 reads: out[i] = total;", "line 3 (sets sums) reads: int[] sums = null;"]
    with pytest.raises(ValueError, match="quote_lines"):
        quote_source_lines(block, LOOP, "all")


def test_the_real_runners_evidence_gets_the_cause_quoted(tmp_path):
    """Built by javac and the JVM (not written by hand), the evidence's lines match the rules."""
    from fedjava.evaluation.fixcheck import jdk_available
    from fedjava.java.evidence import gather_evidence
    from fedjava.java.tasks import load_task

    if not jdk_available():
        pytest.skip("no JDK")
    code = (
        "class Solution {\n    static int total(int[] values) {\n        int total = 0;\n"
        "        for (int i = 0; i <= values.length; i++) {\n            total += values[i];\n        }\n"
        "        return total;\n    }\n}\n"
    )
    (tmp_path / "total.yaml").write_text(
        "requirement: Sum the array.\ntests:\n  - call: Solution.total(new int[]{1, 2})\n    expect: 3\n"
    )
    evidence, _ = gather_evidence(code, load_task(tmp_path / "total.yaml", strict=False))
    assert "ArrayIndexOutOfBoundsException: Index 2 out of bounds for length 2 at line 5" in evidence
    assert quote_source_lines(evidence, code, "related").endswith(
        "line 5 reads: total += values[i];\n"
        "line 4 (the loop line 5 is in) reads: for (int i = 0; i <= values.length; i++) {"
    )


def test_prompt_mode_passes_the_setting_through_and_it_defaults_to_error():
    from fedjava.config import load_config
    from fedjava.prompts import apply_prompt_mode, build_messages

    block = (
        "javac: compiles\ntests: 0 of 3 passed\nfirst exception: Solution.prefix(new int[]{1, 2}) threw "
        "java.lang.ArrayIndexOutOfBoundsException: Index 1 out of bounds for length 1 at line 8"
    )
    sample = {
        "messages": build_messages("Prefix sums.", LOOP, {"verdict": "NO_ERROR", "errors": [], "score": 10}),
        "meta": {"evidence": "Tool results:\n" + block},
    }
    quoted = "line 6 (the loop line 8 is in) reads:"
    assert quoted not in apply_prompt_mode([sample], "grounded")[0]["messages"][1]["content"]
    assert quoted in apply_prompt_mode([sample], "grounded", quote_lines="related")[0]["messages"][1]["content"]
    assert load_config(None, [], check_files=False).quote_lines == "error"  # adapters saved before the key


def test_a_class_javac_cannot_find_gets_an_import_before_the_first_line():
    code = "class Solution {\n    static List<Integer> xs = new ArrayList<>();\n}\n"
    block = (
        "javac: error at line 2: compiler.err.cant.resolve.location: cannot find symbol symbol: class List "
        "location: class Solution\ntests: not run (the program does not compile)"
    )
    assert insertions(block, code) == [(1, "import")]  # no trailing blank: the model's next token carries it
    assert insertions(block, "package p;\n\n" + code) == [(2, "import")]  # after the package line
    # a class the file declares itself, a variable, and a program that compiles: nothing is missing
    assert insertions(block, code + "class List {}\n") == []
    assert insertions(block.replace("class List", "variable total"), code) == []
    assert insertions("javac: compiles\ntests: 5 of 5 passed", code) == []
    # the quoted cause lines are unchanged: an insertion has no line of its own to quote
    assert cause_lines(block, code) == []
