"""The pieces of ``fedjava grade`` without a model: finding students, the rubric's arithmetic, the gradebook
layout and its check, the feedback page (escaping, marked lines, the teacher's fields), the histogram."""

from __future__ import annotations

import zipfile

import pytest
from tests.conftest import BAD, BAD_ANSWER, GOOD

from fedjava.grading.feedback import read_score, render_feedback, set_state
from fedjava.grading.grade import REPAIRED_REASON
from fedjava.grading.gradebook import GradeRow, check_gradebook, gradebook_text
from fedjava.grading.rubric import RubricError, load_rubric, parse_rubric
from fedjava.grading.submissions import SubmissionsError, collect
from fedjava.grading.summary import score_histogram
from fedjava.javadata.sources import combine_files


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
    "erin.txt": "no code",
    "frank/A.java": GOOD, "frank/B.java": GOOD,
    "gina/notes.txt": "x",
    "hal.java": "class A { String s = \"caf\xe9\"; }".encode("latin-1"),
    "ivy.java": "// padding\n" * 20_000,
    ".DS_Store": b"\x00", "__MACOSX/alice.java": b"\x00",
}
PROBLEMS = {
    "carol": "the Java file is empty", "dave": "not a text file (it has binary content)",
    "erin": "not a Java file (erin.txt); each student needs one .java file",
    "gina": "no .java file in the folder; each student needs one .java file",
    "hal": "not UTF-8 text (byte 25 cannot be read); save it as UTF-8",
    "ivy": "220 KB is too large for a Java file (the limit is 200 KB)",
}


def test_collect_reads_files_and_folders_and_says_why_others_cannot_be_graded(tmp_path):
    _write(tmp_path / "class", CLASS)
    found = {s.student: s for s in collect(tmp_path / "class")}
    assert sorted(found) == ["alice", "bob", "carol", "dave", "erin", "frank", "gina", "hal", "ivy"]
    assert found["alice"].code == GOOD and found["alice"].problem is None and len(found["alice"].sha256) == 64
    assert found["bob"].code == BAD and found["bob"].source == "bob/src/Solution.java"
    assert found["frank"].code == combine_files([("A.java", GOOD), ("B.java", GOOD)]) and found["frank"].source == \
        "frank/"  # several files: one submission, compiled together
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
    _write(tmp_path / "mixed", {"amy.java": GOOD, "amy/Solution.java": GOOD})
    assert collect(tmp_path / "mixed")[0].problem == "both a file and a folder are named amy; keep one"


def test_default_rubric_scores_by_verdict_and_error_kind():
    rubric = load_rubric()
    assert rubric.cap == 10
    ok = rubric.score({"verdict": "NO_ERROR", "errors": [], "score": 10})
    assert (ok.points, ok.steps) == (10, [("verdict NO_ERROR", 10)])
    bad = rubric.score(BAD_ANSWER)
    assert bad.points == 3 and bad.steps == [("verdict COMPILE_ERROR", 4),
                                             ("error 1: Syntax Error (compiler.err.expected) at line 3", -1)]
    logic = {"verdict": "LOGIC_ERROR", "errors": [{"type": "Logical Error", "code": "wrong_output", "line": 7},
                                                  {"type": "", "code": "", "line": None}]}
    assert rubric.score(logic).points == 5  # 7, -1 for the logical error, -1 for the other


def test_custom_rubric_codes_first_then_types_cap_and_floor(tmp_path):
    text = ("verdict: {NO_ERROR: 20, LOGIC_ERROR: 12, RUNTIME_ERROR: 8, COMPILE_ERROR: 2}\n"
            "per_error: {compiler.err.expected: 0.5, Syntax Error: 3, java.lang.ArithmeticException: 5}\ncap: 20\n")
    rubric = parse_rubric(text)
    assert rubric.score(BAD_ANSWER).points == 1.5  # the javac key wins over the type
    two = {"verdict": "COMPILE_ERROR", "errors": [{"type": "Syntax Error", "code": "compiler.err.cant.resolve"}] * 2}
    floor = rubric.score(two)
    assert (floor.points, floor.clipped) == (0, "raised to 0")  # 2 - 3 - 3
    crash = {"verdict": "RUNTIME_ERROR", "errors": [{"type": "Runtime Error", "code": "timeout"}]}
    assert rubric.score(crash).points == 8  # no key for it: nothing taken off
    path = tmp_path / "rubric.yaml"
    path.write_text("verdict: {NO_ERROR: 12, LOGIC_ERROR: x}\nper_error: {Syntax Error: -1}\ncap: 10\nbonus: 1\n")
    with pytest.raises(RubricError) as err:
        load_rubric(path)
    message = str(err.value)
    for part in ("unknown key 'bonus'", "verdict: RUNTIME_ERROR has no points", "NO_ERROR must be a number from 0 "
                 "to the cap", "LOGIC_ERROR must be a number", "per_error: Syntax Error must be a number of points"):
        assert part in message, message
    with pytest.raises(RubricError, match="no such rubric file"):
        load_rubric(tmp_path / "none.yaml")


def _row(student, score, state="draft", status="graded"):
    return GradeRow(student, score, 10, "rubric" if score is not None else "", "NO_ERROR", "", status, "", state,
                    False, f"{student}.html", f"{student}.java")


def test_gradebook_layout_and_its_check(tmp_path):
    rows = [_row("bob", None, status="ungradable"), _row("alice", 7.5, "released"), _row("o'neil, jr", 10)]
    path = tmp_path / "grades.csv"
    path.write_bytes(gradebook_text("Homework 3, arrays (1234)", rows).encode())
    assert path.read_bytes().decode().split("\r\n") == [
        'Student,ID,SIS User ID,SIS Login ID,Section,"Homework 3, arrays (1234)"',
        "alice,,,alice,,7.5", "bob,,,bob,,", '"o\'neil, jr",,,"o\'neil, jr",,10', ""]
    assert check_gradebook(path, "Homework 3, arrays (1234)") == []
    path.write_bytes(gradebook_text("HW", rows, released_only=True).encode())
    assert path.read_text().splitlines()[1:] == ["alice,,,alice,,7.5"] and check_gradebook(path) == []

    bad = tmp_path / "bad.csv"
    bad.write_text("Student,ID,SIS User ID,SIS Login ID,Section,HW\n    Points Possible,,,    Points Possible,,10\n"
                   "zed,,,zed,,7,5\namy,1,,amy,,7.123\namy,,,amy,,x\n")
    problems = check_gradebook(bad, "HW")
    assert "row 2: a Points Possible row (Moodle would read it as a student)" in problems
    assert "row 3: 7 fields instead of 6" in problems and "row 4: ID, SIS User ID and Section must be empty" in problems
    assert "row 4: score '7.123' is not a plain number with at most two decimals" in problems
    assert "row 5: amy appears twice" in problems and "rows are not sorted by student id" in problems
    bad.write_text("Name,Score\n")
    assert check_gradebook(bad)[0].startswith("header must be Student, ID, SIS User ID, SIS Login ID, Section")


def test_feedback_page_escapes_marks_lines_and_reads_the_teachers_fields():
    code = BAD.replace("class Solution {", "class Solution { // </code><script>alert(1)</script>")
    record = {"student": "bob", "source": "bob.java", "code": code, "status": "graded", "answer": BAD_ANSWER,
              "evidence": "Tool results:\njavac: error at line 3", "adapter": "tiny"}
    html = render_feedback(record, load_rubric().score(BAD_ANSWER), "Twice <b>", state="draft")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "Twice &lt;b&gt;" in html
    assert '<div class="line marked" id="L3" data-line="3"><span class="n">3</span><code>        return 2 * x</code>' \
           '<span class="mark">&#9664; error 1</span></div>' in html
    assert html.count("line marked") == 1 and "What javac and the tests reported" in html
    assert "verdict COMPILE_ERROR" in html and '<b data-field="score">3</b> / 10' in html
    assert read_score(html) == 3.0 and read_score(html.replace(">3</b>", "> 7,5 </b>")) == 7.5
    released = set_state(html, "released")
    assert '<p class="state released">Feedback <span data-field="state">released</span>' in released
    unreadable = render_feedback({**record, "status": "ungradable", "reason": "the Java file is empty", "code": None},
                                 None, "Twice", state="draft", cap=10)
    assert "Not graded" in unreadable and "the Java file is empty" in unreadable and read_score(unreadable) is None
    assert 'data-field="repaired"' not in html
    cut = {**BAD_ANSWER, "repaired": True}
    repaired = render_feedback({**record, "answer": cut, "reason": REPAIRED_REASON, "raw": '{"verdict": "COMPILE_ERR...'},
                               load_rubric().score(cut), "Twice", state="draft")
    assert 'data-field="repaired">the grader&#39;s answer broke off' in repaired and "COMPILE_ERR..." in repaired
    assert read_score(repaired) == 3.0  # graded all the same: its verdict and error stand
    assert 'data-field="fix-check"' not in html and "Fix</b> (line 3 becomes)" in html  # not checked: no note
    placed = {**BAD_ANSWER, "errors": [{**BAD_ANSWER["errors"][0], "fix_line": 2, "fix_action": "insert"}]}
    checked = render_feedback({**record, "answer": placed, "fix_check": {"status": "sampled", "tests": 5,
                                                                        "fixes_tried": 3, "programs": 8}},
                              load_rubric().score(placed), "Twice", state="draft")
    assert "Fix</b> (insert before line 2)" in checked
    assert ('data-field="fix-check">Checked: the model&#39;s first fix did not work; with this one (one of 3 the '
            "model proposed) the file compiles and passes all 5 test(s).") in checked
    deleted = {**BAD_ANSWER, "errors": [{**BAD_ANSWER["errors"][0], "fix": "", "fix_line": 4, "fix_action": "delete"}]}
    failed = render_feedback({**record, "answer": deleted, "fix_check": {"status": "failed", "tests": 5,
                                                                        "fixes_tried": 1, "programs": 1}},
                             load_rubric().score(deleted), "Twice", state="draft")
    assert "<b>Fix:</b> delete line 4" in failed and "Not confirmed: with this fix the file does not compile" in failed


def test_score_histogram_bins():
    assert score_histogram([10, 3, 3, 0, 6.5], 10) == [(str(i), n) for i, n in
                                                      enumerate([1, 0, 0, 2, 0, 0, 1, 0, 0, 0, 1])]
    wide = score_histogram([0, 49, 100], 100)
    assert wide[0] == ("0-10", 1) and wide[4] == ("40-50", 1) and wide[-1] == ("90-100", 1) and len(wide) == 10
    assert score_histogram([], 10) == []
