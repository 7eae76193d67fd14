"""``fedjava grade`` end to end with tiny taught adapters: a class graded into a gradebook CSV that passes the
layout check, feedback pages with the error line marked and the table of the tests, the summary; scores that
follow the tests, the same in ``review``; reruns skip unchanged students without loading the model, and a new
rubric rescores them; a page the teacher edited is kept and its score used (one from 0 to the cap), an undone edit
is no edit; approving releases pages that have a score; Canvas and Moodle zips give the LMS's ids; grounded
adapters run javac and the task's tests; every user error is one line with exit code 2."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
import zipfile

import pytest
from tests.conftest import BAD, GOOD, REQUIREMENT, SEVEN, THREE, save_tiny_adapter

from fedjava.cli import main
from fedjava.grading.gradebook import check_gradebook

ASSIGNMENT = "Week 3: twice (5512)"
TASK_YAML = (
    "requirement: |\n  "
    + REQUIREMENT
    + """
tests:
  - {call: Solution.twice(2), expect: 4}
  - {call: Solution.twice(0), expect: 0}
  - {call: Solution.twice(-3), expect: -6}
  - {call: Solution.twice(7), expect: 14}
  - {call: Solution.twice(50), expect: 100}
"""
)


def _class(root):
    root.mkdir(parents=True)
    (root / "alice.java").write_text(GOOD)
    (root / "bob.java").write_text(BAD)
    (root / "carol").mkdir()
    (root / "carol" / "Solution.java").write_text(SEVEN)
    (root / "dave.java").write_text("   \n")
    (root / "erin.txt").write_text("see attachment")  # no student: a note left in the folder
    return root


def _grade(*argv):
    return main(["grade", *map(str, argv)])


def _rows(path):
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def graded(grounded_taught, twice9, tmp_path_factory):
    """(class folder, task file, out folder, what the first run printed) after one real grading run: the grounded
    taught adapter, javac and the task's nine tests."""
    root = tmp_path_factory.mktemp("grade")
    task = twice9[0]
    klass = _class(root / "class")
    out = root / "out"
    printed = io.StringIO()  # capsys is per test; this fixture runs once for the module
    with contextlib.redirect_stdout(printed):
        assert (
            _grade(
                klass,
                "--task",
                task,
                "--adapter",
                grounded_taught,
                "--out",
                out,
                "--assignment",
                ASSIGNMENT,
                "--batch-size",
                2,
            )
            == 0
        )
    return klass, task, out, printed.getvalue()


def test_grade_writes_gradebook_pages_and_summary(graded):
    _, _, out, printed = graded
    assert "Graded 3 of 4 students in " in printed and " s per student (loading the model " in printed
    assert "  dave: not graded: the Java file is empty (only whitespace)" in printed
    assert f"Wrote {out}/grades.csv (4 rows), grades_detail.csv" in printed
    assert (
        "Left out 1 file that is no submission (not a .java file, not named by Canvas or Moodle): erin.txt" in printed
    )
    assert check_gradebook(out / "grades.csv", ASSIGNMENT) == []
    lines = (out / "grades.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == f"Student,ID,SIS User ID,SIS Login ID,Section,{ASSIGNMENT}"
    # scores that follow the tests: 6 + 4 for all nine; 3 + 0 of 9 - 1 error; 4 + 4 * 7/9 - 1 error
    assert lines[1:] == ["alice,,,alice,,10", "bob,,,bob,,2", "carol,,,carol,,6.11", "dave,,,dave,,"]
    detail = _rows(out / "grades_detail.csv")
    assert detail["bob"]["verdict"] == "COMPILE_ERROR" and detail["bob"]["errors"] == "compiler.err.expected@3"
    assert detail["carol"]["tests"] == "7 of 9" and detail["alice"]["tests"] == "9 of 9"
    assert detail["bob"]["check"] == ""  # javac confirms bob's error
    assert {r["state"] for r in detail.values()} == {"draft"} and detail["carol"]["source"] == "carol/Solution.java"

    bob = (out / "feedback" / "bob.html").read_text(encoding="utf-8")
    assert '<span data-field="state">draft</span>' in bob and '<b data-field="score">2</b> / 10' in bob
    assert 'id="L3" data-line="3"><span class="n">3</span><code>        return 2 * x</code>' in bob
    assert "The return statement on line 3 is missing its semicolon." in bob and "verdict COMPILE_ERROR" in bob
    assert "Syntax error (compiler.err.expected)</span> at <a" in bob
    carol = (out / "feedback" / "carol.html").read_text(encoding="utf-8")
    assert (
        "7 of 9 passed" in carol
        and ("<td><code>Solution.twice(7)</code></td><td><code>14</code></td><td><code>15</code></td><td>fail</td>")
        in carol
    )
    assert "tests: 7 of 9 passed (4 for all, in proportion)" in carol and REQUIREMENT in carol
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["student"] for r in records] == ["alice", "bob", "carol", "dave"]
    assert records[1]["answer"]["errors"][0]["line"] == 3 and records[1]["raw"] and records[1]["model_seconds"] > 0
    assert [t["status"] for t in records[2]["tests"]] == ["PASS"] * 7 + ["FAIL"] * 2
    summary = (out / "summary.html").read_text(encoding="utf-8")
    assert 'data-count="graded">3<' in summary and 'data-count="ungradable">1<' in summary
    assert "compiler.err.expected" not in summary.replace('data-code="compiler.err.expected"', "").replace(
        'title="compiler.err.expected"', ""
    )
    assert "a symbol such as" in summary and "last grading run: 3 students in " in summary and "erin.txt" in summary


def test_scores_follow_the_tests_and_review_gives_the_same(graded, grounded_taught, twice9, tmp_path, capsys):
    """Issue 24: 7 of 9 and 3 of 9 tests passed give different scores, and fedjava review prints grade's score."""
    klass, task, _, _ = graded
    one = tmp_path / "one"
    one.mkdir()
    (one / "seven.java").write_text(SEVEN)
    (one / "three.java").write_text(THREE)
    assert _grade(one, "--task", task, "--adapter", grounded_taught, "--out", tmp_path / "out") == 0
    detail = _rows(tmp_path / "out" / "grades_detail.csv")
    assert (detail["seven"]["tests"], detail["three"]["tests"]) == ("7 of 9", "3 of 9")
    assert (detail["seven"]["score"], detail["three"]["score"]) == ("6.11", "4.33")
    capsys.readouterr()
    for name in ("seven", "three"):
        java = tmp_path / "Solution.java"
        java.write_text(SEVEN if name == "seven" else THREE)
        assert main(["review", str(java), "--task-file", str(task), "--adapter", str(grounded_taught), "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert str(shown["points"]) == detail[name]["score"] and shown["points_possible"] == 10
    assert main(["review", str(java), "--task-file", str(task), "--adapter", str(grounded_taught)]) == 0
    text = capsys.readouterr().out
    assert "Verdict: LOGIC_ERROR   score 4.33/10" in text and "Tests: 3 of 9 passed" in text
    assert "  4  Solution.twice(3)  6         3       fail" in text
    assert f"Task:\n  {REQUIREMENT}\n" in text  # the whole task, never cut

    # the web page: the same score for the same file, and its table of the tests
    from starlette.testclient import TestClient
    from tests.conftest import finished, form_token

    from fedjava.grading.rubric import load_rubric
    from fedjava.reviewer import Reviewer, open_adapter
    from fedjava.serve import create_app

    client = TestClient(
        create_app(Reviewer.load(*open_adapter(grounded_taught)), load_rubric()),
        headers={"origin": "http://testserver"},
    )
    page = finished(
        client,
        client.post(
            "/review",
            data={"form_token": form_token(client)},
            files={"code_file": ("Solution.java", SEVEN), "task_file": ("twice9.yaml", task.read_text())},
        ),
    ).text
    assert f'<b data-field="score">{detail["seven"]["score"]}</b> / 10' in page and "7 of 9 passed" in page


def test_rerun_skips_unchanged_keeps_edits_and_approves(graded, grounded_taught, tmp_path, capsys, monkeypatch):
    klass, task, first_out, _ = graded
    out = tmp_path / "out"
    shutil.copytree(first_out, out)
    import fedjava.reviewer

    def no_model(*args, **kwargs):
        raise AssertionError("the model must not load when nothing changed")

    monkeypatch.setattr(fedjava.reviewer.Reviewer, "load", no_model)
    adapter = grounded_taught
    assert _grade(klass, "--task", task, "--adapter", adapter, "--out", out) == 0
    assert "Nothing to grade: 3 of 4 students unchanged since the last run" in capsys.readouterr().out

    # the teacher edits bob's draft (a kinder score and a note): kept by reruns, its score used, and its breakdown
    # says so (it read 5 at the top and 2 below)
    page = out / "feedback" / "bob.html"
    original = page.read_text()
    page.write_text(
        original.replace('data-field="score">2<', 'data-field="score">5<').replace(
            "<h2>The code</h2>", "<p>See me after class.</p><h2>The code</h2>"
        )
    )
    assert _grade(klass, "--task", task, "--adapter", adapter, "--out", out) == 0
    assert "1 edited by you" in capsys.readouterr().out
    edited = page.read_text()
    assert "See me after class." in edited and '<b data-field="score">5</b>' in edited
    assert (
        '<tr data-field="total"><th>total: the score your teacher gave (the rubric gave 2)</th><th class="num">5 / '
        "10</th></tr>"
    ) in edited
    assert _rows(out / "grades_detail.csv")["bob"]["score_from"] == "teacher"
    assert (
        "bob,,,bob,,5" in (out / "grades.csv").read_text()
        and 'data-count="edited">1<' in (out / "summary.html").read_text()
    )

    # a score above the points possible is not taken: reported, and no score in grades.csv until it is corrected
    page.write_text(edited.replace('data-field="score">5<', 'data-field="score">25<'))
    assert _grade(klass, "--task", task, "--adapter", adapter, "--out", out) == 0
    assert (
        "warning: bob: the score typed into the page (25) is not from 0 to the 10 points possible"
        in capsys.readouterr().err
    )
    assert "bob,,,bob,," in (out / "grades.csv").read_text().splitlines()
    page.write_text(edited)

    # approval: bob's edited page changes only in its state; the CSV may hold released rows only
    assert _grade("--approve", "bob", "--out", out, "--released-only") == 0
    assert "Released 1 feedback page in" in capsys.readouterr().out
    assert page.read_text() == edited.replace('class="state draft"', 'class="state released"').replace(
        'data-field="state">draft<', 'data-field="state">released<'
    )
    assert (out / "grades.csv").read_text().splitlines()[1:] == ["bob,,,bob,,5"]
    assert check_gradebook(out / "grades.csv", ASSIGNMENT) == []
    assert json.loads((out / "state.json").read_text())["students"]["bob"]["state"] == "released"
    assert _grade("--approve", "zed", "--out", out) == 2
    assert "--approve: no student zed in" in capsys.readouterr().err
    assert _grade("--approve", "dave", "--out", out) == 2  # not graded: nothing to release
    assert "dave has no score (not graded, or to grade by hand)" in capsys.readouterr().err
    assert _grade("--approve", "all", "--out", out) == 0
    assert "Left 1 page as drafts: no score yet" in capsys.readouterr().out
    states = {s: r["state"] for s, r in _rows(out / "grades_detail.csv").items()}
    assert states == {"alice": "released", "bob": "released", "carol": "released", "dave": "draft"}

    # an edit undone is no edit: the page is fedjava's again
    page.write_text(
        original.replace('data-field="state">draft<', 'data-field="state">released<').replace(
            'class="state draft"', 'class="state released"'
        )
    )
    assert _grade(klass, "--task", task, "--adapter", adapter, "--out", out) == 0
    assert "0 edited by you" in capsys.readouterr().out and _rows(out / "grades_detail.csv")["bob"]["edited"] == "no"

    # a new rubric rescores everyone without the model, and says so
    (tmp_path / "strict.yaml").write_text(
        "verdict: {NO_ERROR: 10, LOGIC_ERROR: 5, RUNTIME_ERROR: 5, COMPILE_ERROR: 0}\ncap: 10\n"
    )
    assert _grade(klass, "--task", task, "--adapter", adapter, "--out", out, "--rubric", tmp_path / "strict.yaml") == 0
    assert "Rescored 3 students with the new rubric; no review needed" in capsys.readouterr().out
    assert (out / "grades.csv").read_text().splitlines()[1:3] == ["alice,,,alice,,10", "bob,,,bob,,0"]


def test_changed_files_are_regraded_and_return_to_draft(graded, tmp_path, capsys, grounded_taught):
    klass, task, first_out, _ = graded
    out, changed = tmp_path / "out", tmp_path / "class"
    shutil.copytree(first_out, out)
    shutil.copytree(klass, changed)
    assert _grade("--approve", "all", "--out", out) == 0
    page = out / "feedback" / "alice.html"
    page.write_text(page.read_text().replace("No errors found", "Well done. No errors found"))
    (changed / "alice.java").write_text(BAD)  # alice resubmits (and breaks it)
    (changed / "carol" / "Solution.java").write_text(BAD)
    capsys.readouterr()
    assert _grade(changed, "--task", task, "--adapter", grounded_taught, "--out", out) == 0
    captured = capsys.readouterr()
    assert "Graded 2 of 4 students" in captured.out and "1 unchanged, skipped" in captured.out
    assert "alice: the feedback page was edited by hand, so it was kept" in captured.err
    assert "Well done." in page.read_text() and "COMPILE_ERROR" in (out / "feedback" / "alice.new.html").read_text()
    detail = _rows(out / "grades_detail.csv")
    assert detail["carol"]["state"] == "draft" and detail["carol"]["verdict"] == "COMPILE_ERROR"
    assert detail["bob"]["state"] == "released"  # unchanged file: still released
    assert "last grading run: 2 students in" in (out / "summary.html").read_text()


CANVAS = {  # a Canvas "download all submissions" zip: flat, <name>[_late]_<user id>_<file id>_<file name>
    "smithalice_101_5001_Solution.java": BAD,
    "smithalice_late_101_5002_Solution-1.java": GOOD,  # her late resubmission: the one graded
    "jonesbob_102_5003_Solution.java": BAD,
    "leecarl_103_5004_notes.txt": "I ran out of time",
}
MOODLE = {  # Moodle's: a folder per student and plugin, <Full Name>_<participant id>_assignsubmission_<plugin>_
    "Bob Jones_123456_assignsubmission_file_/src/Solution.java": BAD,
    "Bob Jones_123456_assignsubmission_onlinetext_/onlinetext.html": "<p>see my file</p>",
    "Alice Smith_123457_assignsubmission_file_/Solution.java": GOOD,
}


def test_the_grading_bar_moves_with_every_answer(taught_adapter, tmp_path, monkeypatch):
    """Issue 24: the model's progress bar sat at 0% until a whole batch was done; now each answer moves it (on a
    slow machine; here every answer is reported, as PROGRESS_SECONDS allows after 0 s)."""
    import fedjava.evaluation.generate
    from fedjava.grading.grade import GradeOptions, run_grade

    monkeypatch.setattr(fedjava.evaluation.generate, "PROGRESS_SECONDS", 0.0)
    klass = tmp_path / "class"
    klass.mkdir()
    for name, code in (("ann", GOOD), ("ben", BAD), ("cat", GOOD.replace("2 * x", "x * 2"))):
        (klass / f"{name}.java").write_text(code)
    task = tmp_path / "twice.txt"
    task.write_text(REQUIREMENT)
    told = []
    run_grade(
        GradeOptions(str(klass), str(task), str(tmp_path / "out"), adapter=str(taught_adapter)),
        progress=False,
        listener=lambda step, done, total: told.append((step, done, total)),
    )
    grading = [done for step, done, total in told if step == "grading"]
    assert grading[0] == 0 and grading[-1] == 3 and {1, 2} <= set(grading), told  # one batch of 16, three answers


def test_canvas_and_moodle_zips_give_a_gradebook_with_the_lms_ids(taught_adapter, twice9, tmp_path, capsys):
    for name, files in (("canvas", CANVAS), ("moodle", MOODLE)):
        archive = tmp_path / f"{name}.zip"
        with zipfile.ZipFile(archive, "w") as zipped:
            for path, text in files.items():
                zipped.writestr(path, text)
        assert _grade(archive, "--task", twice9[0], "--adapter", taught_adapter, "--out", tmp_path / name) == 0
    printed = capsys.readouterr().out
    assert "1 older upload left out" in printed
    canvas = (tmp_path / "canvas" / "grades.csv").read_text().splitlines()
    assert canvas[0].startswith("Student,ID,SIS User ID,SIS Login ID,Section,")
    # Canvas matches the ID column (a code-only adapter: nothing confirms bob's error, so it costs nothing yet)
    assert canvas[1:] == ["jonesbob,102,,,,10", "leecarl,103,,,,", "smithalice,101,,,,10"]
    assert check_gradebook(tmp_path / "canvas" / "grades.csv") == []
    detail = _rows(tmp_path / "canvas" / "grades_detail.csv")
    assert detail["smithalice_101"]["late"] == "yes" and detail["smithalice_101"]["verdict"] == "NO_ERROR"
    assert detail["smithalice_101"]["source"] == "smithalice_late_101_5002_Solution-1.java"
    assert detail["leecarl_103"]["reason"].startswith("no .java file in the submission (files: notes.txt)")
    assert detail["jonesbob_102"]["lms_id"] == "102" and detail["jonesbob_102"]["late"] == ""
    assert "submitted late" in (tmp_path / "canvas" / "feedback" / "smithalice_101.html").read_text()
    moodle = (tmp_path / "moodle" / "grades.csv").read_text().splitlines()
    assert moodle[0] == "Identifier,Full name,Grade,Maximum Grade,Last modified (grade)"  # Moodle's grading worksheet
    assert [row.split(",")[:4] for row in moodle[1:]] == [
        ["Participant 123457", "Alice Smith", "10", "10"],
        ["Participant 123456", "Bob Jones", "10", "10"],
    ]
    assert check_gradebook(tmp_path / "moodle" / "grades.csv") == []
    assert (
        _rows(tmp_path / "moodle" / "grades_detail.csv")["Bob Jones_123456"]["source"]
        == "Bob Jones_123456_assignsubmission_file_/src/Solution.java"
    )


def test_grounded_grading_runs_the_tools_and_surfaces_their_refusal(tmp_path, capsys, monkeypatch):
    adapter = save_tiny_adapter(tmp_path / "grounded", ["prompt_mode=grounded"])
    klass = tmp_path / "class"
    klass.mkdir()
    (klass / "ok.java").write_text(GOOD)
    (klass / "off.java").write_text(GOOD.replace("2 * x", "x + x + (x > 5 ? 1 : 0)"))
    task = tmp_path / "twice.yaml"
    task.write_text(TASK_YAML)
    argv = [klass, "--task", task, "--adapter", adapter, "--max-new-tokens", 4]
    assert _grade(*argv, "--out", tmp_path / "out") == 0
    records = {r["student"]: r for r in map(json.loads, (tmp_path / "out" / "results.jsonl").read_text().splitlines())}
    assert records["ok"]["evidence"] == "Tool results:\njavac: compiles\ntests: 5 of 5 passed"
    assert (
        "\nfirst wrong result: Solution.twice(7) returned 15, expected 14\nsuspicious lines (coverage): "
        in records["off"]["evidence"]
    )
    assert records["off"]["status"] == "invalid_answer"  # untrained: its few tokens are no answer
    assert "What javac and the tests reported" in (tmp_path / "out" / "feedback" / "off.html").read_text()
    assert _grade(*argv, "--out", tmp_path / "compiled", "--no-run") == 0
    assert (
        json.loads((tmp_path / "compiled" / "results.jsonl").read_text().splitlines()[0])["evidence"]
        == "Tool results:\njavac: compiles\ntests: not run"
    )

    capsys.readouterr()
    import fedjava.java.localise
    from fedjava.errors import UserError

    def refuse(*args, **kwargs):
        raise UserError("cannot isolate the student's code here (no bubblewrap); install it, or pass --unsafe-run")

    monkeypatch.setattr(fedjava.java.localise, "review_evidence", refuse)
    assert _grade(*argv, "--out", tmp_path / "refused") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "error: cannot isolate the student's code here (no bubblewrap); install it, or pass --unsafe-run"
    assert sum(line.startswith("error:") for line in err) == 1
    monkeypatch.undo()
    monkeypatch.setenv("PATH", str(tmp_path / "no-jdk"))
    assert _grade(*argv, "--out", tmp_path / "nobwrap") == 2  # no sandbox: refused before the model loads
    err = capsys.readouterr().err
    assert "only run inside a sandbox" in err and "--unsafe-run" in err and "Loading" not in err
    assert _grade(*argv, "--out", tmp_path / "nojdk", "--unsafe-run") == 2
    assert "javac and java not found on PATH" in capsys.readouterr().err


def test_symlinks_that_leave_the_class_are_refused_and_the_rest_graded(taught_adapter, tmp_path, capsys):
    """Issue 22 item 5: ``linky.java -> a teacher-only file`` is not read, in a folder or in a zip (whose entries
    can be links too); the student's row says why, the others are graded, and nothing shows the file's text."""
    import stat
    import uuid
    import zipfile

    secret_text = f"TEACHER-ONLY-{uuid.uuid4().hex}"
    secret = tmp_path / "teacher" / "answers.txt"
    secret.parent.mkdir()
    secret.write_text(secret_text)
    task = tmp_path / "twice.yaml"
    task.write_text(TASK_YAML)
    klass = tmp_path / "class"
    klass.mkdir()
    (klass / "alice.java").write_text(GOOD)
    (klass / "linky.java").symlink_to(secret)
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("alice.java", GOOD)
        link = zipfile.ZipInfo("linky.java")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16  # as zip --symlinks stores a link: its target as content
        zipped.writestr(link, str(secret))
    for submissions, outside in ((klass, "outside the class folder"), (archive, "outside the zip")):
        out = tmp_path / f"graded-{submissions.name}"
        assert _grade(submissions, "--task", task, "--adapter", taught_adapter, "--out", out) == 0
        printed = capsys.readouterr().out
        detail = _rows(out / "grades_detail.csv")
        assert detail["alice"]["status"] == "graded" and detail["alice"]["verdict"] == "NO_ERROR"
        assert detail["linky"]["status"] == "ungradable"
        assert detail["linky"]["reason"].startswith(f"linky.java is a symbolic link to {secret}, {outside}")
        assert "  linky: not graded: linky.java is a symbolic link to " in printed
        assert "Graded 1 of 2 students" in printed  # alice's file; linky is a student, not graded
        assert "last grading run: 1 student in " in (out / "summary.html").read_text()  # not "1 students"
        assert not [f for f in out.rglob("*") if f.is_file() and secret_text in f.read_text(errors="replace")]


def test_grade_user_errors_are_one_line(tmp_path, capsys):
    def fails(argv, message):
        assert _grade(*argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (argv, err)

    task = tmp_path / "twice.yaml"
    task.write_text(TASK_YAML)
    klass = _class(tmp_path / "class")
    fails([], "give SUBMISSIONS (a folder or .zip) and --task TASK")
    fails([klass], "give SUBMISSIONS (a folder or .zip) and --task TASK")
    fails([klass, "--task", tmp_path / "none.yaml"], "none.yaml: no such task file")
    fails([tmp_path / "nothing", "--task", task, "--adapter", tmp_path], "not an adapter folder")
    (tmp_path / "rubric.yaml").write_text("cap: 0\n")
    fails(
        [klass, "--task", task, "--rubric", tmp_path / "rubric.yaml", "--out", tmp_path / "o"],
        "'cap' must be a number above 0",
    )
    fails(["--approve", "all", "--out", tmp_path / "nowhere"], "no grading results here")
    fails(["--approve", "all"], "--approve works on the results of an earlier run")
    assert _grade("--print-rubric") == 0
    from fedjava.grading.rubric import load_rubric, parse_rubric

    assert parse_rubric(capsys.readouterr().out) == load_rubric()


def test_make_class_from_a_shipped_task(tmp_path):
    from fedjava.grading.sample import make_class, shipped_task, write_class
    from fedjava.grading.submissions import collect

    task = shipped_task("arrays_count_peaks")
    files = make_class(task, 8, seed=1, broken=True)
    assert files == make_class(task, 8, seed=1, broken=True)  # seeded
    write_class(files, tmp_path / "class.zip")
    found = {s.student: s for s in collect(tmp_path / "class.zip")}
    # wrong_type.txt is no student; two_files is one submission of two files
    assert len(found) == 11 and sum(s.problem is not None for s in found.values()) == 2
    assert found["two_files"].code.startswith("// ---- file: Solution.java ----\n")
    codes = [s.code for name, s in found.items() if s.code and name != "two_files"]
    bases = {task.solution, *(v.code for v in task.variants)}
    assert len(codes) == 8 and len(set(codes)) == 8 and not bases & set(codes)
    assert found["student08"].source == "student08/Solution.java"


def test_teacher_commands_have_help_and_stay_light(capsys):
    import subprocess
    import sys

    for command in ("grade", "serve", "export"):
        with pytest.raises(SystemExit) as info:
            main([command, "--help"])
        assert info.value.code == 0 and "examples:" in capsys.readouterr().out
    code = (
        "import sys; from fedjava.cli import main\ntry:\n main(['grade', '--help'])\nexcept SystemExit: pass\n"
        "print(sorted(m for m in ('torch', 'transformers', 'jinja2', 'fastapi', 'uvicorn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
