"""Label the hand-written student programs of data/handwritten/ with the real javac and JVM.

    python scripts/make_student_data.py [--source data/handwritten/students.yaml]
                                        [--out data/handwritten/students.jsonl] [--jobs 1]
    python scripts/make_student_data.py --source data/handwritten/novices.yaml --out data/handwritten/novices.jsonl

Every program goes the dataset's own way: compiled and run against its task's tests by
``fedjava.java.runner.check_many`` (one JVM compiles them all, one runs them), labelled by
``fedjava.dataset.label.label`` from what the tools reported, with the tool-results block of the grounded
prompt built as ``fedjava data build`` builds it. The YAML's hand-written intent only supplies what the
tools cannot know: where the fix goes and its text (through a stand-in ``Mutant``), and, where a record has
one, a teacher's ``explanation`` of the mistake, kept as ``meta.reference_explanation``.

A record's ``fix`` replaces a line (``{line, text}``), or with ``action`` inserts a line before ``line``
(``{line, action: insert, text}``, for a missing statement) or deletes it (``{line, action: delete}``), the
three placements the dataset's mutants and the evaluation's fix check know. ``meta.source`` names the file
(``handwritten-students``, ``handwritten-novices``).

The script stops with every problem listed, and writes nothing, when a program's observed verdict, code
or line differs from the intended one written in the YAML, when a fixed program (the fix applied) does
not pass all its tests, or when a task is one of the shipped dataset's tasks: the labels are checked,
not assumed. The output is the same on every run (no clock, no unseeded randomness).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from fedjava.cli.common import add_unsafe_run_option
from fedjava.dataset.label import Dropped, hung_call, label
from fedjava.dataset.localised import localise_samples
from fedjava.java.evidence import evidence_block
from fedjava.java.mutate import Mutant
from fedjava.java.runner import Program, RunOutcome, check_many
from fedjava.java.sandbox import SandboxUnavailableError
from fedjava.java.tasks import MIN_TESTS, TASKS_DIR, Task, load_task, task_tests
from fedjava.prompts import build_messages, write_samples

FAMILIES = ("syntax", "compile", "runtime", "logic", "correct")
FIX_ACTIONS = ("replace", "insert", "delete")


class StudentDataError(RuntimeError):
    """The YAML is malformed or the tools disagree with what a program was written to show."""


def load_records(path: Path) -> list[dict[str, Any]]:
    """The YAML's records, with the keys every one needs (a typo should stop the script, not skip a record)."""
    records = yaml.safe_load(path.read_text(encoding="utf-8"))
    problems = []
    for i, r in enumerate(records):
        missing = [k for k in ("id", "family", "error", "intended", "task", "code") if k not in r]
        if r.get("intended", {}).get("verdict") != "NO_ERROR" and "fix" not in r:
            missing.append("fix")
        if missing:
            problems.append(f"record {i} ({r.get('id', '?')}): missing {', '.join(missing)}")
            continue
        if r["family"] not in FAMILIES:
            problems.append(f"{r['id']}: family must be one of {', '.join(FAMILIES)}")
        if "explanation" in r and not (isinstance(r["explanation"], str) and r["explanation"].strip()):
            problems.append(f"{r['id']}: explanation must be a non-empty string")
        if "fix" in r:
            problems += [f"{r['id']}: {p}" for p in _fix_problems(r["fix"], len(r["code"].rstrip("\n").split("\n")))]
    ids = [r.get("id") for r in records]
    problems += [f"id {i} is used twice" for i in sorted({i for i in ids if ids.count(i) > 1})]
    if problems:
        raise StudentDataError("\n".join(problems))
    return records


def _fix_problems(fix: Any, lines: int) -> list[str]:
    """What is wrong with a record's ``fix``: an unknown action, a line outside the code, text missing or extra."""
    if not isinstance(fix, dict):
        return ["fix must be a mapping {line, text[, action]}"]
    action = fix.get("action", "replace")
    if action not in FIX_ACTIONS:
        return [f"fix action must be one of {', '.join(FIX_ACTIONS)}"]
    problems = []
    if not isinstance(fix.get("line"), int) or not 1 <= fix["line"] <= lines:
        problems.append(f"fix line must be a line of the code (1 to {lines})")
    if action == "delete" and "text" in fix:
        problems.append("a deleting fix has no text")
    if action != "delete" and not (isinstance(fix.get("text"), str) and fix["text"].strip()):
        problems.append(f"a fix that does {action} needs a non-empty text")
    return problems


def load_student_task(record: dict[str, Any], folder: Path) -> Task:
    """The record's task read by ``load_task(strict=False)``, so it gets the shipped tasks' schema checks."""
    raw = record["task"]
    path = folder / f"{raw['id']}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    task = load_task(path, strict=False)
    if len(task.tests) < MIN_TESTS:
        raise StudentDataError(f"{record['id']}: task {task.id} has {len(task.tests)} tests, needs {MIN_TESTS}")
    return task


def shipped_names(tasks_dir: Path = TASKS_DIR) -> set[str]:
    """Ids and titles (lower case) of the dataset's tasks: a student task must not be one of them."""
    names = set()
    for path in tasks_dir.glob("*.yaml"):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        names |= {str(raw["id"]).lower(), str(raw["title"]).strip().lower()}
    return names


def fix_action(record: dict[str, Any]) -> str:
    """How the record's fix is placed: replace (the default), insert before its line, or delete its line."""
    return record["fix"].get("action", "replace")


def fixed_code(record: dict[str, Any]) -> str:
    """The program with the intended fix applied: it must pass every test, which checks fix and tests at once."""
    lines = record["code"].split("\n")
    if "fix" in record:
        at, action = record["fix"]["line"] - 1, fix_action(record)
        if action == "delete":
            del lines[at]
        else:
            lines[at : at + (action == "replace")] = [record["fix"]["text"]]
    return "\n".join(lines)


def stand_in_mutant(record: dict[str, Any]) -> Mutant | None:
    """What ``label`` reads from a mutant: where the fix goes and its text (None for a correct program).

    The verdict, code and reported line come from the tools; ``line`` here is used only where the tools
    cannot point (a wrong value, a timeout) and for the fix. Like a mutant that inserted a line, a deleting
    fix has no original line; like one that deleted a line, an inserting fix has no mutated line.
    """
    if record["intended"]["verdict"] == "NO_ERROR":
        return None
    fix, action = record["fix"], fix_action(record)
    written = record["code"].split("\n")[fix["line"] - 1]
    if action == "replace" and written == fix["text"]:
        raise StudentDataError(f"{record['id']}: the fix does not change line {fix['line']}")
    original = "" if action == "delete" else fix["text"]
    mutated = "" if action == "insert" else written
    return Mutant("handwritten", record["family"], record["code"], fix["line"], original, mutated, record["error"])


def evidence_for(task: Task, outcome: RunOutcome) -> str:
    """The grounded prompt's tool-results block, made exactly as ``fedjava data build`` makes it."""
    hung = hung_call(task, outcome) if outcome.compiled and outcome.timed_out else ""
    return evidence_block(outcome, len(task.tests), hung)


def disagreements(record: dict[str, Any], answer: dict[str, Any], fixed: RunOutcome) -> list[str]:
    """How the observed label and the fixed program's run differ from what the record was written to show."""
    intended = record["intended"]
    problems = []
    if answer["verdict"] != intended["verdict"]:
        problems.append(f"observed {answer['verdict']}, intended {intended['verdict']}")
    elif answer["errors"]:
        error = answer["errors"][0]
        for key in ("code", "line"):
            if error[key] != intended.get(key):
                problems.append(f"observed {key} {error[key]!r}, intended {intended.get(key)!r}")
    if not fixed.all_passed:
        problems.append(
            f"the fixed program passes {fixed.passed} of {len(fixed.cases)} test(s) (compiled: {fixed.compiled})"
        )
    return [f"{record['id']}: {p}" for p in problems]


def sample(
    record: dict[str, Any], task: Task, answer: dict[str, Any], raw: str, evidence: str, source: str
) -> dict[str, Any]:
    """One chat sample in the shipped files' form (code-only turns; the evidence in ``meta``)."""
    meta: dict[str, Any] = {
        "id": record["id"],
        "source": source,
        "task_id": task.id,
        "topic": task.topic,
        "verdict": answer["verdict"],
        "family": record["family"],
        "error": record["error"],
    }
    if "fix" in record:
        meta.update({"fix_line": record["fix"]["line"], "fix_action": fix_action(record)})
    if "explanation" in record:
        meta["reference_explanation"] = " ".join(record["explanation"].split())
    meta["tests"] = task_tests(task)  # the evaluation's fix check runs them: the task is not a shipped one
    meta["tool_output"] = raw
    meta["evidence"] = evidence
    return {"messages": build_messages(task.requirement, record["code"], answer), "meta": meta}


def make_samples(
    records: list[dict[str, Any]], jobs: int = 1, unsafe: bool = False, source: str = "handwritten-students"
) -> list[dict[str, Any]]:
    """Run, label and check every record; raises StudentDataError listing every problem.

    ``source`` is each sample's ``meta.source``: ``handwritten-`` and the YAML file's name.
    """
    shipped = shipped_names()
    with tempfile.TemporaryDirectory(prefix="fedjava-students-") as tmp:
        folder = Path(tmp) / "tasks"
        folder.mkdir()
        tasks = {r["id"]: load_student_task(r, folder) for r in records}
        problems = [
            f"{r['id']}: task '{tasks[r['id']].id}' / '{tasks[r['id']].title}' is a shipped task"
            for r in records
            if {tasks[r["id"]].id, tasks[r["id"]].title.lower()} & shipped
        ]
        mutants = {r["id"]: stand_in_mutant(r) for r in records}
        programs = [Program(r["id"], tasks[r["id"]], r["code"]) for r in records]
        programs += [Program(f"{r['id']}/fixed", tasks[r["id"]], fixed_code(r)) for r in records]
        # trusted: the data set's own way; these programs are the project's, written and reviewed in students.yaml
        outcomes = check_many(programs, Path(tmp) / "runs", jobs=jobs, unsafe=unsafe, trusted=True)
    samples = []
    for r in records:
        task, outcome = tasks[r["id"]], outcomes[r["id"]]
        try:
            labelled = label(task, r["code"], outcome, mutants[r["id"]], random.Random(f"student:{r['id']}"))
        except Dropped as exc:
            problems.append(f"{r['id']}: no label ({exc}), intended {r['intended']['verdict']}")
            continue
        problems += disagreements(r, labelled.answer, outcomes[f"{r['id']}/fixed"])
        samples.append(sample(r, task, labelled.answer, labelled.raw, evidence_for(task, outcome), source))
    if problems:
        raise StudentDataError("\n".join(problems))
    localise_samples(samples, {}, jobs=jobs, unsafe=unsafe)  # as fedjava data build does: the tasks travel in meta
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="data/handwritten/students.yaml")
    parser.add_argument("--out", default="data/handwritten/students.jsonl")
    parser.add_argument("--jobs", type=int, default=1, help="JVMs at a time")
    add_unsafe_run_option(parser, "the student programs")
    args = parser.parse_args()
    source = Path(args.source)
    try:
        samples = make_samples(load_records(source), args.jobs, args.unsafe_run, f"handwritten-{source.stem}")
    except (StudentDataError, SandboxUnavailableError) as exc:
        sys.exit(f"make_student_data: nothing written:\n{exc}")
    write_samples(samples, Path(args.out))
    counts: dict[str, int] = {}
    for s in samples:
        counts[s["meta"]["verdict"]] = counts.get(s["meta"]["verdict"], 0) + 1
    print(f"wrote {len(samples)} samples to {args.out}: " + ", ".join(f"{v} {n}" for v, n in sorted(counts.items())))


if __name__ == "__main__":
    main()
