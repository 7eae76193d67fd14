"""Turn the hand-written, tool-checked samples into the chat files training reads.

    python scripts/make_handwritten_data.py [--source data/handwritten/samples.yaml] [--out data/handwritten]

The first 48 records become data/handwritten/train.jsonl, the rest data/handwritten/valid.jsonl (the
records are ordered so that the validation tasks do not appear in training). These 60 samples were
written by hand and checked with javac and java; the main dataset is built by ``fedjava data build``.
Train on them with ``data_dir=data/handwritten``.

Each record's ``evidence`` is the tool output written down when it was checked, in a free-text form of
its own ("case 1 FAIL f(2): expected 5, actual 4", "passed 4/7 -> score 6", javac's output). The grounded
prompt shows ``meta.evidence`` to the model verbatim, so it must be the block that ``fedjava data build``
and ``fedjava review`` show (:func:`fedjava.java.evidence.evidence_block`). The old text is kept as
``meta.tool_output``; ``meta.evidence`` is made from it:

* test runs: the case lines are parsed back into ``CaseResult``s (PASS, FAIL, ERROR, TIMEOUT; a
  StackOverflowError's line is the most frequent line of its recorded stack, as the runner reports it);
* compile errors: the recorded ``-XDrawDiagnostics`` line gives javac's key, line and column; the program
  is compiled again through the dataset's compiler for javac's message in the exact words the block shows
  (``java.lang.String``, where the command line's message says ``String``), and the key, line and column
  must be the recorded ones. This step needs a JDK.

Every record's block must agree with its answer (verdict, code, line, score): the script stops otherwise.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

import yaml

from fedjava.cli.common import add_unsafe_run_option
from fedjava.dataset.label import score
from fedjava.java.evidence import evidence_block
from fedjava.java.runner import CaseResult, Program, RunOutcome, check_many, parse_diagnostics
from fedjava.java.sandbox import SandboxUnavailableError
from fedjava.java.tasks import Task
from fedjava.prompts import build_messages, write_samples

TRAIN_COUNT = 48
_PASS_RE = re.compile(r"^case (\d+) PASS (.+)$")
_FAIL_RE = re.compile(r"^case (\d+) FAIL (.+?): expected (.*?), actual (.*)$")
_ERROR_RE = re.compile(r"^case (\d+) ERROR (.+?): ((?:[a-z_]\w*\.)+[A-Z][\w$]*): ?(.*) \(Solution\.java line (\d+)\)$")
_TIMEOUT_RE = re.compile(r"^case (\d+) TIMEOUT (.+?): no result within .*$")
_PASSED_RE = re.compile(r"^passed (\d+)/(\d+) -> score (\d+)$")
_STACK_RE = re.compile(
    r"^full stack of the StackOverflowError in case (\d+): .*Solution\.java frames by line: (.*?) \("
)
_FRAMES_RE = re.compile(r"line (\d+) x(\d+)")
_THREAD_DUMP = "thread dumps (SIGQUIT)"


class EvidenceError(ValueError):
    """A record's old evidence has a form this script does not know, or disagrees with its answer."""


def recursion_line(frames: str) -> int:
    """The line the runner reports for a StackOverflowError: the most frequent, the lowest on a tie.

    ``frames`` is the recorded "line 3 x1, line 6 x1023"; the top frame alone depends on where the
    stack happened to run out, so the runner's ``Check`` picks the recursive call this way.
    """
    counts = [(int(n), int(line)) for line, n in _FRAMES_RE.findall(frames)]
    if not counts:
        raise EvidenceError(f"no frame counts in '{frames}'")
    return min(counts, key=lambda c: (-c[0], c[1]))[1]


def parse_case(text: str) -> CaseResult | None:
    """One old "case N STATUS call..." line as the runner's CaseResult (None for another kind of line)."""
    if m := _PASS_RE.match(text):
        return CaseResult(int(m[1]), "PASS", m[2])
    if m := _FAIL_RE.match(text):
        return CaseResult(int(m[1]), "FAIL", m[2], expected=m[3], actual=m[4])
    if m := _ERROR_RE.match(text):
        return CaseResult(int(m[1]), "ERROR", m[2], exception=m[3], line=int(m[5]), message=m[4].strip())
    if m := _TIMEOUT_RE.match(text):
        return CaseResult(int(m[1]), "TIMEOUT", m[2])
    return None


def parse_run(text: str) -> tuple[RunOutcome, int]:
    """An old test-run record as (the runner's outcome, the number of test cases); unknown lines stop it."""
    cases: list[CaseResult] = []
    stack_lines: dict[int, int] = {}
    totals = None
    for line in text.strip().splitlines():
        case = parse_case(line)
        if case is not None:
            cases.append(case)
        elif m := _STACK_RE.match(line):
            stack_lines[int(m[1])] = recursion_line(m[2])
        elif m := _PASSED_RE.match(line):
            totals = (int(m[1]), int(m[2]))
        elif not line.startswith(_THREAD_DUMP):  # where a hung JVM was: the block never shows it
            raise EvidenceError(f"unknown evidence line: {line!r}")
    if totals is None:
        raise EvidenceError("no 'passed X/Y -> score S' line")
    cases = [_with_stack_line(c, stack_lines) for c in cases]
    outcome = RunOutcome(True, cases=cases, timed_out=any(c.status == "TIMEOUT" for c in cases))
    passed, total = totals
    if outcome.passed != passed or len(cases) > total or (len(cases) < total and not outcome.timed_out):
        raise EvidenceError(
            f"{len(cases)} case lines with {outcome.passed} PASS do not add up to 'passed {passed}/{total}'"
        )
    return outcome, total


def _with_stack_line(case: CaseResult, stack_lines: dict[int, int]) -> CaseResult:
    """``case`` with the line the runner would report for it, where its full stack was recorded."""
    if case.index not in stack_lines or case.exception != "java.lang.StackOverflowError":
        return case
    return CaseResult(
        case.index,
        case.status,
        case.call,
        case.expected,
        case.actual,
        case.exception,
        stack_lines[case.index],
        case.message,
    )


def is_compile_record(record: dict) -> bool:
    return "-XDrawDiagnostics" in record.get("evidence", "")


def recompile(records: list[dict], unsafe: bool = False) -> dict[str, RunOutcome]:
    """javac's diagnostics for the compile-error records, through the dataset's compiler (one JVM for all)."""
    programs = []
    for r in records:
        task = Task(r["id"], r["id"], "review", r["requirement"], "", (), ())  # no tests: only javac matters
        programs.append(Program(r["id"], task, r["code"]))
    with tempfile.TemporaryDirectory(prefix="fedjava-handwritten-") as tmp:
        return check_many(programs, Path(tmp), jobs=1, unsafe=unsafe)


def compile_evidence(record: dict, outcome: RunOutcome) -> str:
    """The block of a compile error, after checking that javac today says what the record says it said."""
    recorded = parse_diagnostics(record["evidence"])
    mine = [d for d in outcome.diagnostics if d.file == "Solution.java"]
    if not recorded or outcome.compiled or not mine:
        raise EvidenceError("no javac error recorded, or the program compiles now")
    now, then = mine[0], recorded[0]
    if (now.key, now.line, now.column) != (then.key, then.line, then.column):
        raise EvidenceError(
            f"javac now reports {now.key} at {now.line}:{now.column}, "
            f"the record {then.key} at {then.line}:{then.column}"
        )
    return evidence_block(outcome, 0)


def run_evidence(record: dict) -> tuple[str, RunOutcome, int]:
    """The block of a record whose program ran its tests, with the outcome and test count it came from."""
    outcome, total = parse_run(record["evidence"])
    return evidence_block(outcome, total), outcome, total


def check_answer(answer: dict, outcome: RunOutcome, total: int) -> None:
    """Raise unless the parsed run leads to the record's verdict, code, line and score (as label.py would)."""
    stopped = [c for c in outcome.cases if c.status in ("ERROR", "TIMEOUT")]
    wrong = [c for c in outcome.cases if c.status == "FAIL"]
    verdict = "RUNTIME_ERROR" if stopped else "LOGIC_ERROR" if wrong else "NO_ERROR"
    problems = []
    if verdict != answer["verdict"]:
        problems.append(f"the run gives {verdict}")
    if stopped and answer["errors"]:
        error, case = answer["errors"][0], stopped[0]
        code = "timeout" if case.status == "TIMEOUT" else case.exception.rsplit(".", 1)[-1]
        if error["code"].rsplit(".", 1)[-1] != code:
            problems.append(f"the run gives code {code}")
        if case.status == "ERROR" and case.line != error["line"]:
            problems.append(f"the run gives line {case.line}")
    if score(outcome.passed, total) != answer["score"]:
        problems.append(f"the run gives score {score(outcome.passed, total)}")
    if problems:
        raise EvidenceError(f"answer {answer['verdict']}: " + "; ".join(problems))


def evidence_blocks(records: list[dict], unsafe: bool = False) -> dict[str, str]:
    """``{id: block}`` for every record; raises EvidenceError naming every record it could not convert."""
    compiled = recompile([r for r in records if is_compile_record(r)], unsafe)
    blocks, problems = {}, []
    for r in records:
        try:
            if is_compile_record(r):
                block = compile_evidence(r, compiled[r["id"]])
                error = r["answer"]["errors"][0]
                if r["answer"]["verdict"] != "COMPILE_ERROR" or f"line {error['line']}: {error['code']}" not in block:
                    raise EvidenceError(f"the block '{block.splitlines()[1]}' does not match the answer")
            else:
                block, outcome, total = run_evidence(r)
                check_answer(r["answer"], outcome, total)
            blocks[r["id"]] = block
        except EvidenceError as exc:
            problems.append(f"{r['id']}: {exc}")
    if problems:
        raise EvidenceError("\n".join(problems))
    return blocks


def convert(records: list[dict], unsafe: bool = False) -> list[dict]:
    blocks = evidence_blocks(records, unsafe)
    return [
        {
            "messages": build_messages(r["requirement"], r["code"], r["answer"]),
            "meta": {
                "id": r["id"],
                "source": "handwritten",
                "verdict": r["answer"]["verdict"],
                "tool_output": r.get("evidence", ""),
                "evidence": blocks[r["id"]],
            },
        }
        for r in records
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="data/handwritten/samples.yaml")
    parser.add_argument("--out", default="data/handwritten")
    add_unsafe_run_option(parser, "javac on the handwritten programs")
    args = parser.parse_args()
    records = yaml.safe_load(Path(args.source).read_text(encoding="utf-8"))
    try:
        samples = convert(records, args.unsafe_run)
    except SandboxUnavailableError as exc:
        sys.exit(f"make_handwritten_data: nothing written: {exc}")
    write_samples(samples[:TRAIN_COUNT], Path(args.out) / "train.jsonl")
    write_samples(samples[TRAIN_COUNT:], Path(args.out) / "valid.jsonl")
    verdicts = Counter(s["meta"]["verdict"] for s in samples)
    print(
        f"wrote {min(len(samples), TRAIN_COUNT)} training and {max(len(samples) - TRAIN_COUNT, 0)} validation "
        f"samples ({', '.join(f'{v} {n}' for v, n in sorted(verdicts.items()))})"
    )


if __name__ == "__main__":
    main()
