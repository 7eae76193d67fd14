"""The pieces of ``fedjava grade`` without a model: finding students (Canvas and Moodle names included), the
rubric's arithmetic (tests passed, errors the tools do not confirm), the gradebook layouts and their check, the
feedback page (escaping, marked lines, the tests table, hidden tests, the teacher's fields), very similar
submissions, the histogram."""

from __future__ import annotations

import zipfile

import pytest
from tests.conftest import BAD, BAD_ANSWER, BAD_EVIDENCE, GOOD, GOOD_ANSWER, GOOD_EVIDENCE

from fedjava.grading.feedback import read_score, render_feedback, set_state, set_total, total_row
from fedjava.grading.grade import REPAIRED_REASON
from fedjava.grading.gradebook import GradeRow, check_gradebook, gradebook_text
from fedjava.grading.rubric import RubricError, load_rubric, parse_rubric
from fedjava.grading.submissions import SubmissionsError, collect, collect_class
from fedjava.grading.summary import score_histogram
from fedjava.java.sources import combine_files


def _write(root, files):
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())


CLASS = {
    "alice.java": GOOD,
    "bob/src/Solution.java": BAD,
    "bob/README.md": "notes",
    "carol.java": "",
    "dave.java": b"\xca\xfe\x00\x01",
    "erin.txt": "no code",  # a top-level file that is not Java: no student
    "frank/A.java": GOOD,
    "frank/B.java": GOOD,
    "gina/notes.txt": "x",
    "hal.java": 'class A { String s = "caf\xe9"; }'.encode("latin-1"),
    "ivy.java": "// padding\n" * 20_000,
    ".DS_Store": b"\x00",
    "__MACOSX/alice.java": b"\x00",
}
PROBLEMS = {
    "carol": "the Java file is empty",
    "dave": "not a text file (it has binary content)",
    "gina": "no .java file in the folder; each student needs one .java file",
    "hal": "not UTF-8 text (byte 25 cannot be read); save it as UTF-8",
    "ivy": "220 KB is too large for a Java file (the limit is 200 KB)",
}


def test_collect_reads_files_and_folders_and_says_why_others_cannot_be_graded(tmp_path):
    _write(tmp_path / "class", CLASS)
    found = {s.student: s for s in collect(tmp_path / "class")}
    assert sorted(found) == ["alice", "bob", "carol", "dave", "frank", "gina", "hal", "ivy"]
    assert collect_class(tmp_path / "class").ignored == ["erin.txt"]
    assert found["alice"].code == GOOD and found["alice"].problem is None and len(found["alice"].sha256) == 64
    assert found["bob"].code == BAD and found["bob"].source == "bob/src/Solution.java"
    assert (
        found["frank"].code == combine_files([("A.java", GOOD), ("B.java", GOOD)]) and found["frank"].source == "frank/"
    )  # several files: one submission, compiled together
    assert {k: s.problem for k, s in found.items() if s.problem} == PROBLEMS

    # the same class zipped inside its folder (as "compress folder" makes it): the same students
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name, data in CLASS.items():
            z.writestr(f"class/{name}", data)
    zipped = {s.student: (s.code, s.problem, s.sha256) for s in collect(archive)}
    assert zipped == {k: (s.code, s.problem, s.sha256) for k, s in found.items()}


def test_collect_refuses_what_is_not_a_class(tmp_path):
    with pytest.raises(SubmissionsError, match="no such folder or zip file"):
        collect(tmp_path / "missing")
    (tmp_path / "one.java").write_text(GOOD)
    with pytest.raises(SubmissionsError, match="not a folder or a zip file"):
        collect(tmp_path / "one.java")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SubmissionsError, match="no submissions found"):
        collect(tmp_path / "empty")
    _write(tmp_path / "junk", {"notes.txt": "x", "grades.xlsx": b"PK"})
    with pytest.raises(SubmissionsError, match=r"no submissions found \(only 2 other file\(s\): grades.xlsx, notes"):
        collect(tmp_path / "junk")
    _write(tmp_path / "mixed", {"amy.java": GOOD, "amy/Solution.java": GOOD})
    assert collect(tmp_path / "mixed")[0].problem == "both a file and a folder are named amy; keep one"


def _table(passed: int, total: int) -> list[dict]:
    return [
        {
            "call": f"Solution.f({i})",
            "expected": "1",
            "actual": "1" if i < passed else "2",
            "status": "PASS" if i < passed else "FAIL",
            "hidden": False,
        }
        for i in range(total)
    ]


WRONG = (
    "Tool results:\njavac: compiles\ntests: {} of 9 passed\nfirst wrong result: Solution.f(8) returned 2, expected 1"
)
LOGIC = {"verdict": "LOGIC_ERROR", "errors": [{"type": "Logical Error", "code": "wrong_output", "line": 7}]}


def test_default_rubric_scores_by_verdict_tests_and_error_kind():
    rubric = load_rubric()
    assert rubric.cap == 10 and rubric.tests == {"share": 4}
    ok = rubric.score(GOOD_ANSWER, GOOD_EVIDENCE)
    assert (ok.points, ok.check) == (10, "") and ok.steps == [
        ("verdict NO_ERROR", 6),
        ("tests: 5 of 5 passed (4 for all, in proportion)", 4),
    ]
    bad = rubric.score(BAD_ANSWER, BAD_EVIDENCE, [{"status": "NOT_RUN"}] * 5)
    assert bad.points == 2 and bad.steps == [
        ("verdict COMPILE_ERROR", 3),
        ("tests: 0 of 5 passed (4 for all, in proportion)", 0),
        ("error 1: Syntax error (compiler.err.expected) at line 3", -1),
    ]
    # scores follow the tests: 7 of 9 and 3 of 9 passed, the same verdict and error
    seven, three = (rubric.score(LOGIC, WRONG.format(n), _table(n, 9)) for n in (7, 3))
    assert (seven.points, three.points) == (6.11, 4.33)  # 4 + 4 * 7/9 - 1, 4 + 4 * 3/9 - 1
    assert rubric.score(LOGIC, WRONG.format(7)).points == 6.11  # an older results row: its evidence's counts
    # no test ran (a task without tests): the tests' points follow the verdict; javac confirms a compile error
    alone = (
        "Tool results:\njavac: error at line 3: compiler.err.expected: ';' expected\ntests: not run (the program "
        "does not compile)"
    )
    assert rubric.score(BAD_ANSWER, alone).points == 4  # 3 + 4 * 3/6 - 1


def test_an_error_the_tools_do_not_confirm_costs_nothing_and_is_to_check():
    rubric = load_rubric()
    compiles = "Tool results:\njavac: compiles\ntests: not run"
    guess = rubric.score(LOGIC, compiles)  # a task without tests: the model's reading of the code
    assert guess.points == 10 and guess.verdict == "NO_ERROR"
    assert guess.check == (
        "the grader's LOGIC_ERROR is unconfirmed: no test ran, so nothing confirms this error: it "
        "is the model's reading of the code"
    )
    assert guess.steps[-1] == (
        "error 1: Logic error (wrong result) at line 7: not confirmed by the tools, nothing taken off",
        0,
    )
    contradicted = rubric.score(LOGIC, GOOD_EVIDENCE, _table(5, 5))  # every test passes
    assert contradicted.points == 10 and "contradicted: all 5 test(s) pass" in contradicted.check
    shown = rubric.score(GOOD_ANSWER, WRONG.format(3), _table(3, 9))  # NO_ERROR, but a test fails
    assert shown.verdict == "LOGIC_ERROR" and shown.points == 5.33 and "NO_ERROR is contradicted" in shown.check
    assert rubric.score(LOGIC, WRONG.format(3), _table(3, 9)).check == ""  # confirmed: a finding


def test_rubric_tests_each_and_its_problems():
    each = parse_rubric(
        "verdict: {NO_ERROR: 5, LOGIC_ERROR: 1, RUNTIME_ERROR: 1, COMPILE_ERROR: 0}\ntests: {each: 1}\ncap: 14\n"
    )
    assert each.score(LOGIC, WRONG.format(7), _table(7, 9)).points == 8  # 1 + 7, no per_error: nothing off
    assert each.score(GOOD_ANSWER, GOOD_EVIDENCE).points == 10 and each.score(GOOD_ANSWER).points == 5
    for bad in ("tests: {share: 2, each: 1}", "tests: {bonus: 2}", "tests: 4", "tests: {share: -1}"):
        with pytest.raises(RubricError, match="tests"):
            parse_rubric("verdict: {NO_ERROR: 5, LOGIC_ERROR: 1, RUNTIME_ERROR: 1, COMPILE_ERROR: 0}\ncap: 5\n" + bad)


def test_custom_rubric_codes_first_then_types_cap_and_floor(tmp_path):
    text = (
        "verdict: {NO_ERROR: 20, LOGIC_ERROR: 12, RUNTIME_ERROR: 8, COMPILE_ERROR: 2}\n"
        "per_error: {compiler.err.expected: 0.5, Syntax Error: 3, java.lang.ArithmeticException: 5}\ncap: 20\n"
    )
    rubric = parse_rubric(text)
    assert rubric.score(BAD_ANSWER, BAD_EVIDENCE).points == 1.5  # the javac key wins over the type
    two = {"verdict": "COMPILE_ERROR", "errors": [{"type": "Syntax Error", "code": "compiler.err.cant.resolve"}] * 2}
    floor = rubric.score(two, BAD_EVIDENCE)
    assert (floor.points, floor.clipped) == (0, "raised to 0")  # 2 - 3 - 3
    crash = {"verdict": "RUNTIME_ERROR", "errors": [{"type": "Runtime Error", "code": "timeout"}]}
    endless = (
        "Tool results:\njavac: compiles\ntests: 4 of 5 passed\nfirst exception: Solution.f(1) did not finish "
        "within 1 s of CPU time"
    )
    assert rubric.score(crash, endless).points == 8  # no key for it: nothing taken off
    path = tmp_path / "rubric.yaml"
    path.write_text("verdict: {NO_ERROR: 12, LOGIC_ERROR: x}\nper_error: {Syntax Error: -1}\ncap: 10\nbonus: 1\n")
    with pytest.raises(RubricError) as err:
        load_rubric(path)
    message = str(err.value)
    for part in (
        "unknown key 'bonus'",
        "verdict: RUNTIME_ERROR has no points",
        "NO_ERROR must be a number from 0 to the cap",
        "LOGIC_ERROR must be a number",
        "per_error: Syntax Error must be a number of points",
    ):
        assert part in message, message
    with pytest.raises(RubricError, match="no such rubric file"):
        load_rubric(tmp_path / "none.yaml")


def _row(student, score, state="draft", status="graded"):
    return GradeRow(
        student,
        score,
        10,
        "rubric" if score is not None else "",
        "NO_ERROR",
        "",
        status,
        "",
        state,
        False,
        f"{student}.html",
        f"{student}.java",
    )


def test_gradebook_layout_and_its_check(tmp_path):
    rows = [_row("bob", None, status="ungradable"), _row("alice", 7.5, "released"), _row("o'neil, jr", 10)]
    path = tmp_path / "grades.csv"
    path.write_bytes(gradebook_text("Homework 3, arrays (1234)", rows).encode())
    assert path.read_bytes().decode().split("\r\n") == [
        'Student,ID,SIS User ID,SIS Login ID,Section,"Homework 3, arrays (1234)"',
        "alice,,,alice,,7.5",
        "bob,,,bob,,",
        '"o\'neil, jr",,,"o\'neil, jr",,10',
        "",
    ]
    assert check_gradebook(path, "Homework 3, arrays (1234)") == []
    path.write_bytes(gradebook_text("HW", rows, released_only=True).encode())
    assert path.read_text().splitlines()[1:] == ["alice,,,alice,,7.5"] and check_gradebook(path) == []

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section,HW\n    Points Possible,,,    Points Possible,,10\n"
        "zed,,,zed,,7,5\namy,1,,amy,,7.123\namy,,,amy,,x\n"
    )
    problems = check_gradebook(bad, "HW")
    assert "row 2: a Points Possible row (Moodle would read it as a student)" in problems
    assert "row 3: 7 fields instead of 6" in problems
    assert (
        "row 4: a row with an ID needs Canvas's numeric user id, the name in Student and an empty SIS Login ID"
        in problems
    )
    assert "row 4: score '7.123' is not a plain number with at most two decimals" in problems
    assert "row 5: amy appears twice" in problems and "rows are not sorted by student id" in problems
    bad.write_text("Name,Score\n")
    assert check_gradebook(bad)[0].startswith("header must be Student, ID, SIS User ID, SIS Login ID, Section")


def test_feedback_page_escapes_marks_lines_and_reads_the_teachers_fields():
    code = BAD.replace("class Solution {", "class Solution { // </code><script>alert(1)</script>")
    record = {
        "student": "bob",
        "source": "bob.java",
        "code": code,
        "status": "graded",
        "answer": BAD_ANSWER,
        "evidence": BAD_EVIDENCE,
        "adapter": "tiny",
    }
    html = render_feedback(record, load_rubric().score(BAD_ANSWER, BAD_EVIDENCE), "Twice <b>", state="draft")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "Twice &lt;b&gt;" in html
    assert (
        '<div class="line marked" id="L3" data-line="3"><span class="n">3</span><code>        return 2 * x</code>'
        '<span class="mark">&#9664; error 1</span></div>' in html
    )
    assert html.count("line marked") == 1 and "What javac and the tests reported" in html
    assert "verdict COMPILE_ERROR" in html and '<b data-field="score">4</b> / 10' in html
    assert read_score(html) == 4.0 and read_score(html.replace(">4</b>", "> 7,5 </b>")) == 7.5
    # the title has its space, and names the kind from javac's key
    assert 'Error 1 of 1: <span data-field="kind">Syntax error (compiler.err.expected)</span> at <a href="#L3">' in html
    released = set_state(html, "released")
    assert '<p class="state released">Feedback <span data-field="state">released</span>' in released
    unreadable = render_feedback(
        {**record, "status": "ungradable", "reason": "the Java file is empty", "code": None},
        None,
        "Twice",
        state="draft",
        cap=10,
    )
    assert "Not graded" in unreadable and "the Java file is empty" in unreadable and read_score(unreadable) is None
    assert 'data-field="repaired"' not in html
    cut = {**BAD_ANSWER, "repaired": True}
    repaired = render_feedback(
        {**record, "answer": cut, "reason": REPAIRED_REASON, "raw": '{"verdict": "COMPILE_ERR...'},
        load_rubric().score(cut, BAD_EVIDENCE),
        "Twice",
        state="draft",
    )
    assert 'data-field="repaired">the grader&#39;s answer broke off' in repaired and "COMPILE_ERR..." in repaired
    assert read_score(repaired) == 4.0  # graded all the same: its verdict and error stand
    assert 'data-field="fix-check"' not in html and "Fix</b> (line 3 becomes)" in html  # not checked: no note
    placed = {**BAD_ANSWER, "errors": [{**BAD_ANSWER["errors"][0], "fix_line": 2, "fix_action": "insert"}]}
    checked = render_feedback(
        {**record, "answer": placed, "fix_check": {"status": "sampled", "tests": 5, "fixes_tried": 3, "programs": 8}},
        load_rubric().score(placed, BAD_EVIDENCE),
        "Twice",
        state="draft",
    )
    assert "Fix</b> (insert before line 2)" in checked
    assert (
        'data-field="fix-check">Checked: the model&#39;s first fix did not work; with this one (one of 3 the '
        "model proposed) the file compiles and passes all 5 test(s)."
    ) in checked
    deleted = {**BAD_ANSWER, "errors": [{**BAD_ANSWER["errors"][0], "fix": "", "fix_line": 4, "fix_action": "delete"}]}
    failed = render_feedback(
        {**record, "answer": deleted, "fix_check": {"status": "failed", "tests": 5, "fixes_tried": 1, "programs": 1}},
        load_rubric().score(deleted, BAD_EVIDENCE),
        "Twice",
        state="draft",
    )
    assert "<b>Fix:</b> delete line 4" in failed and "Not confirmed: with this fix the file does not compile" in failed


SECRET_CALL = "Solution.twice(7)"
TESTS = [
    {"call": "Solution.twice(2)", "expected": "4", "actual": "4", "status": "PASS", "hidden": False},
    {"call": SECRET_CALL, "expected": "14", "actual": "15", "status": "FAIL", "hidden": True},
]
OFF_BY_ONE = {
    "verdict": "LOGIC_ERROR",
    "errors": [
        {
            "type": "Logical Error",
            "code": "wrong_output",
            "line": 3,
            "message": f"{SECRET_CALL} returned 15, expected 14",
            "explanation": f"For {SECRET_CALL} the result is one too many.",
            "fix": "        return 2 * x;",
        }
    ],
}
OFF_EVIDENCE = (
    f"Tool results:\njavac: compiles\ntests: 1 of 2 passed\nfirst wrong result: {SECRET_CALL} returned 15, expected 14"
)


def test_feedback_page_shows_the_tests_and_never_a_hidden_one():
    record = {
        "student": "amy",
        "source": "amy.java",
        "code": GOOD,
        "status": "graded",
        "answer": OFF_BY_ONE,
        "evidence": OFF_EVIDENCE,
        "tests": TESTS,
        "raw": f"... {SECRET_CALL} ...",
        "adapter": "tiny",
    }
    score = load_rubric().score(OFF_BY_ONE, OFF_EVIDENCE, TESTS)
    assert score.points == 5 and score.check == ""  # 4 + 4 * 1/2 - 1: the hidden test counts
    html = render_feedback(record, score, "Twice", state="draft", task="Double x.\nSecond line of the task.")
    assert SECRET_CALL not in html and "<code>15</code>" not in html and "<code>14</code>" not in html
    assert "For a hidden test the result is one too many." in html  # the explanation, without the call
    assert (
        '<tr class="pass"><td class="num">1</td><td><code>Solution.twice(2)</code></td><td><code>4</code></td>'
        "<td><code>4</code></td><td>pass</td></tr>"
    ) in html
    assert '<td colspan="3" class="muted">hidden test</td><td>fail</td>' in html
    assert "1 of 2 passed (1 hidden test: counted, not shown)" in html
    assert "first wrong result: a hidden test returned 15" not in html and "a hidden test returned" in html
    assert 'data-field="task">Double x.\nSecond line of the task.</div>' in html  # the whole task, never cut


def test_an_unconfirmed_error_is_shown_as_possible_never_as_a_finding():
    compiles = "Tool results:\njavac: compiles\ntests: not run"
    record = {
        "student": "amy",
        "source": "amy.java",
        "code": GOOD,
        "status": "graded",
        "answer": OFF_BY_ONE,
        "evidence": compiles,
        "adapter": "tiny",
    }
    score = load_rubric().score(OFF_BY_ONE, compiles)
    html = render_feedback(record, score, "Twice", state="draft")
    assert '<span class="possible-word">possible </span><span class="verdict" data-field="verdict">LOGIC_ERROR' in html
    assert "Possible error 1 of 1:" in html and "Error 1 of 1" not in html and 'class="box error"' not in html
    assert "<b>Not confirmed:</b> the grader&#39;s LOGIC_ERROR is unconfirmed: no test ran" in html
    assert "&#9664; possible error 1</span>" in html and '<b data-field="score">10</b> / 10' in html


def test_a_typed_score_is_shown_beside_the_rubrics_in_the_total():
    score = load_rubric().score(BAD_ANSWER, BAD_EVIDENCE)
    record = {
        "student": "bob",
        "source": "bob.java",
        "code": BAD,
        "status": "graded",
        "answer": BAD_ANSWER,
        "evidence": BAD_EVIDENCE,
    }
    html = render_feedback(record, score, "Twice", state="draft")
    assert '<tr data-field="total"><th>total</th><th class="num">4 / 10</th></tr>' in html
    typed = set_total(html, total_row(score, 3))
    assert (
        '<tr data-field="total"><th>total: the score your teacher gave (the rubric gave 4)</th><th class="num">3 / '
        "10</th></tr>"
    ) in typed and typed.count('data-field="total"') == 1
    assert set_total(typed, total_row(score)) == html


def test_score_histogram_bins():
    assert score_histogram([10, 3, 3, 0, 6.5], 10) == [
        (str(i), n) for i, n in enumerate([1, 0, 0, 2, 0, 0, 1, 0, 0, 0, 1])
    ]
    wide = score_histogram([0, 49, 100], 100)
    assert wide[0] == ("0-10", 1) and wide[4] == ("40-50", 1) and wide[-1] == ("90-100", 1) and len(wide) == 10
    assert score_histogram([], 10) == []


def test_canvas_and_moodle_names_give_the_lms_ids():
    from fedjava.grading.lms import newest, own_name, parse_name

    late = parse_name("smithalice_late_101_5002_Solution-1.java")
    assert (late.lms, late.name, late.user_id, late.file_id, late.file, late.late, late.student) == (
        "canvas",
        "smithalice",
        "101",
        5002,
        "Solution-1.java",
        True,
        "smithalice_101",
    )
    moodle = parse_name("Bob Jones_123456_assignsubmission_file_", folder=True)
    assert (moodle.lms, moodle.name, moodle.user_id, moodle.student) == (
        "moodle",
        "Bob Jones",
        "123456",
        "Bob Jones_123456",
    )
    flat = parse_name("Bob Jones_123456_assignsubmission_file_Solution.java")
    assert flat.file == "Solution.java" and parse_name("Bob Jones_123456_assignsubmission_file_") is None
    for plain in ("alice.java", "student_01.java", "bob", "x_late_1.java"):
        assert parse_name(plain) is None and parse_name(plain, folder=True) is None, plain
    assert own_name("Solution-12.java") == "Solution.java" and own_name("My-Solution.java") == "My-Solution.java"
    uploads = [(parse_name(n), n) for n in ("a_1_7_Solution.java", "a_late_1_9_Solution-1.java", "a_1_8_Helper.java")]
    kept, replaced = newest(uploads)
    assert [n for _, n in kept] == ["a_1_8_Helper.java", "a_late_1_9_Solution-1.java"]
    assert [n for _, n in replaced] == ["a_1_7_Solution.java"]


def test_very_similar_submissions_are_paired_with_their_measure():
    from fedjava.grading.sample import shipped_task
    from fedjava.grading.similarity import MIN_TOKENS, normalised_tokens, similar_pairs, similar_to

    task = shipped_task("arrays_count_peaks")
    copy = (
        "// my own work!\nclass Solution\n{\n\tstatic int countPeaks(int[] a)\n\t{\n\t\tint n = 0; /* start */\n"
        "\t\tfor (int k = 1; k < a.length - 1; k++)\n\t\t{\n\t\t\tif (a[k] > a[k - 1] && a[k] > a[k + 1])\n"
        "\t\t\t{\n\t\t\t\tn++;\n\t\t\t}\n\t\t}\n\t\treturn n;\n\t}\n}\n"
    )
    assert normalised_tokens(copy) == normalised_tokens(task.solution)  # renamed, re-laid-out, commented
    assert normalised_tokens("int x = 10; String s = \"a//b\"; char c = 'x';") == [
        "int",
        "ID",
        "=",
        "NUM",
        ";",
        "ID",
        "ID",
        "=",
        "STR",
        ";",
        "char",
        "ID",
        "=",
        "CHR",
        ";",
    ]
    programs = {
        "ann": task.solution,
        "ben": copy,
        "cal": task.variants[1].code,
        "dan": task.solution,
        "eve": "class Solution { int f() { return 1; } }",
    }
    pairs = similar_pairs(programs, {"ann": "same", "dan": "same", "ben": "other"})
    assert [(p.first, p.second, p.similarity, p.identical) for p in pairs] == [
        ("ann", "ben", 1.0, False),
        ("ann", "dan", 1.0, True),
        ("ben", "dan", 1.0, False),
    ]
    assert similar_to(pairs)["ann"] == "ben (1.00), dan (1.00)" and "cal" not in similar_to(pairs)
    assert len(normalised_tokens(programs["eve"])) < MIN_TOKENS  # too short to pair with anything


def test_summary_names_errors_in_words_and_lists_what_to_look_at():
    from fedjava.grading.similarity import SimilarPair
    from fedjava.grading.summary import render_summary

    unknown = {
        "verdict": "COMPILE_ERROR",
        "errors": [{"type": "Syntax Error", "code": "compiler.err.cant.resolve.location", "line": 2}],
    }
    records = {"amy": {"answer": unknown}, "bob": {"answer": BAD_ANSWER}, "cat": {"answer": OFF_BY_ONE}}
    rows = [
        GradeRow(
            "amy", 5, 10, "rubric", "COMPILE_ERROR", "", "graded", "", "draft", False, "amy.html", "amy.java", late=True
        ),
        GradeRow("bob", 4, 10, "rubric", "COMPILE_ERROR", "", "graded", "", "draft", False, "bob.html", "bob.java"),
        GradeRow(
            "cat",
            10,
            10,
            "rubric",
            "LOGIC_ERROR",
            "",
            "graded",
            "",
            "draft",
            False,
            "cat.html",
            "cat.java",
            check="the grader's LOGIC_ERROR is unconfirmed: no test ran",
        ),
    ]
    html = render_summary(
        "HW",
        rows,
        records,
        10,
        "last grading run: 1 student in 3 s, 3.0 s per student",
        [SimilarPair("amy", "bob", 0.95, False)],
        ["notes.txt"],
    )
    assert "compiler.err" not in html.replace('data-code="compiler.err', "").replace('title="compiler.err', "")
    assert "<td>Unknown name</td><td" in html and ">cannot find symbol</td>" in html
    assert ">a symbol such as &#39;;&#39; or &#39;)&#39; is missing</td>" in html and "wrong result" not in html
    assert 'data-count="check">1<' in html and 'data-count="late">1<' in html and 'data-count="similar">1<' in html
    assert '<td class="num">0.95</td>' in html and "not that anyone copied" in html
    assert "plagiar" not in html.lower() and "1 student in 3 s" in html and "3 students" in html
    assert "no test ran" in html.split("Reviews to check by hand")[1] and "notes.txt" in html
