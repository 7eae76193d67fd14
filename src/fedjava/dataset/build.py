"""Build the Java error dataset: tasks -> correct programs and mutants -> javac/JVM -> labelled samples.

``fedjava data build [--seed N] [--jobs N]`` runs :func:`build_dataset`:

1. Split the tasks 80/10/10 into train/valid/test **by task**, stratified by topic.
2. For every task, take the reference solution and its correct variants, plus restyled copies of
   each (:mod:`fedjava.dataset.restyle`), and sample mutants of all of them with every operator
   (:mod:`fedjava.java.mutate`), a few more than needed per family.
3. Compile every program with javac (many per JVM, ``jobs`` JVMs at a time) and run the ones that
   compile against the task's test driver (:func:`fedjava.java.runner.check_many`).
4. Label each from what the tools reported (:mod:`fedjava.dataset.label`); drop equivalent mutants
   and errors outside the student's file; a correct program that fails is dropped (restyled copies)
   or stops the build (the task's own solution and variants).
5. Keep per task ``correct_per_task`` correct programs and ``errors_per_family`` mutants of each
   family (filling a short family from the others).
6. Localise the kept programs that compile and fail a test (:mod:`fedjava.java.localise`: the suspicious
   lines by coverage and by mutants, and a change that passes every test where one exists), and write
   ``train.jsonl``, ``valid.jsonl``, ``test.jsonl`` and ``DATASET.md``. The same seed gives the same files (a
   mutant that runs close to the time limit may rank differently on a very busy machine).
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedjava.dataset.build_options import BuildOptions
from fedjava.dataset.label import Dropped, label
from fedjava.dataset.localised import localise_samples
from fedjava.dataset.restyle import restyle
from fedjava.errors import UserError
from fedjava.files import writable_dir
from fedjava.java.evidence import evidence_block, hung_call
from fedjava.java.mutate import FAMILIES, Mutant, sample_mutants
from fedjava.java.runner import TIMEOUT_SECONDS, Program, RunOutcome, check_many, require_jdk
from fedjava.java.sandbox import require_sandbox
from fedjava.java.tasks import Task, load_tasks
from fedjava.prompts import build_messages, write_samples

SPLITS = ("train", "valid", "test")
# How many candidates to try per kept sample of each family (some are equivalent or dropped).
OVERSAMPLE = {"syntax": 1.25, "compile": 1.5, "runtime": 2.0, "logic": 2.0}


class BuildError(UserError, RuntimeError):
    """The dataset cannot be built (a task's own correct program fails, no tasks, ...)."""


@dataclass
class Candidate:
    key: str
    task: Task
    code: str
    base: str
    restyles: tuple[str, ...]
    mutant: Mutant | None = None


@dataclass
class BuildReport:
    samples: dict[str, list[dict[str, Any]]]
    dropped: Counter = field(default_factory=Counter)
    programs: int = 0
    seconds: float = 0.0
    files: list[Path] = field(default_factory=list)


def split_tasks(tasks: list[Task], seed: int, valid_share: float = 0.1, test_share: float = 0.1) -> dict[str, str]:
    """``{task_id: split}``: task-disjoint, about the given shares in every topic, seeded."""
    rng = random.Random(f"split:{seed}")
    by_topic: dict[str, list[Task]] = defaultdict(list)
    for task in sorted(tasks, key=lambda t: t.id):
        by_topic[task.topic].append(task)
    assignment = {}
    carry = {"valid": 0.0, "test": 0.0}
    for topic in sorted(by_topic):
        group = by_topic[topic]
        rng.shuffle(group)
        counts = {}
        for name, share in (("valid", valid_share), ("test", test_share)):
            exact = len(group) * share + carry[name]
            counts[name] = int(exact + 0.5)
            carry[name] = exact - counts[name]
        start = 0
        for name in ("valid", "test"):
            for task in group[start : start + counts[name]]:
                assignment[task.id] = name
            start += counts[name]
        for task in group[start:]:
            assignment[task.id] = "train"
    return assignment


def candidates_for(task: Task, options: BuildOptions) -> tuple[list[Candidate], list[Candidate]]:
    """The correct programs and the mutants to try for one task, in the order they are preferred."""
    rng = random.Random(f"{options.seed}:{task.id}")
    bases = [("solution", task.solution)] + [(v.name, v.code) for v in task.variants]
    seen: set[str] = set()
    correct: list[Candidate] = []
    styled: list[Candidate] = []
    for name, code in bases:
        seen.add(code)
        correct.append(Candidate(f"{task.id}/ok/{len(correct)}", task, code, name, ()))
    for name, code in bases:
        for _ in range(options.restyles_per_base):
            new, applied = restyle(code, rng)
            if applied and new not in seen:
                seen.add(new)
                styled.append(Candidate(f"{task.id}/ok/{len(correct) + len(styled)}", task, new, name, tuple(applied)))
    rng.shuffle(styled)
    correct += styled
    pool: dict[str, dict[str, list[Candidate]]] = {f: defaultdict(list) for f in FAMILIES}
    for program in correct:
        for mutant in sample_mutants(program.code, rng, per_operator=1):
            if mutant.code in seen:
                continue
            seen.add(mutant.code)
            pool[mutant.family][mutant.operator].append(
                Candidate("", task, mutant.code, program.base, program.restyles, mutant)
            )
    mutants: list[Candidate] = []
    for family in FAMILIES:
        wanted = int(options.errors_per_family * OVERSAMPLE[family] + 0.999)
        operators = sorted(pool[family])
        rng.shuffle(operators)
        for ops in pool[family].values():
            rng.shuffle(ops)
        picked: list[Candidate] = []
        depth = 0
        while len(picked) < wanted and any(len(pool[family][op]) > depth for op in operators):
            for op in operators:
                if len(picked) < wanted and len(pool[family][op]) > depth:
                    picked.append(pool[family][op][depth])
            depth += 1
        for c in picked:
            c.key = f"{task.id}/{family}/{len(mutants)}"
            mutants.append(c)
    return correct, mutants


def _evidence(c: Candidate, outcome: RunOutcome) -> str:
    hung = hung_call(c.task, outcome) if outcome.compiled and outcome.timed_out else ""
    return evidence_block(outcome, len(c.task.tests), hung)


def _sample(c: Candidate, answer: dict[str, Any], raw: str, split: str, evidence: str) -> dict[str, Any]:
    m = c.mutant
    meta: dict[str, Any] = {
        "task_id": c.task.id,
        "topic": c.task.topic,
        "split": split,
        "verdict": answer["verdict"],
        "family": m.family if m else "correct",
        "operator": m.operator if m else "",
        "base": c.base,
        "restyles": list(c.restyles),
    }
    if m is not None:
        action = "delete" if not m.original_line else "insert" if not m.mutated_line else "replace"
        meta.update({"mutation": m.description, "fix_line": m.line, "fix_action": action})
    meta["tool_output"] = raw
    meta["evidence"] = evidence
    return {"messages": build_messages(c.task.requirement, c.code, answer), "meta": meta}


def build_dataset(options: BuildOptions, progress: Callable[[str], None] = lambda _: None) -> BuildReport:
    """Build, label and write the dataset; see the module docstring."""
    require_jdk()
    if not options.unsafe_run:
        require_sandbox()  # tasks from --tasks-dir are code this project did not write
    check_output(Path(options.out_dir), options.force)
    started = time.time()
    tasks = load_tasks(options.tasks_dir)
    if options.max_tasks:
        tasks = tasks[: options.max_tasks]
    if not tasks:
        raise BuildError(f"no tasks in {options.tasks_dir}")
    assignment = split_tasks(tasks, options.seed, options.valid_share, options.test_share)
    plans = {task.id: candidates_for(task, options) for task in tasks}
    programs = [Program(c.key, c.task, c.code) for correct, mutants in plans.values() for c in correct + mutants]
    progress(f"{len(tasks)} tasks, {len(programs)} programs to compile and run ({options.jobs} JVMs at a time)")
    done = Counter()

    def tick(stage: str, count: int, total: int) -> None:
        done[stage] += count
        progress(f"  {stage} {done[stage]}/{total} ({time.time() - started:.0f}s)")

    with tempfile.TemporaryDirectory(prefix="fedjava-build-") as tmp:
        # trusted: every program is a mutant or restyle fedjava made of a task's own solution (runner module docstring)
        outcomes = check_many(
            programs, Path(tmp), jobs=options.jobs, progress=tick, unsafe=options.unsafe_run, trusted=True
        )
    report = BuildReport(samples={s: [] for s in SPLITS}, programs=len(programs))
    for task in tasks:
        split = assignment[task.id]
        report.samples[split] += _task_samples(task, plans[task.id], outcomes, split, options, report)
    for split in SPLITS:
        random.Random(f"order:{options.seed}:{split}").shuffle(report.samples[split])
    if options.localise:
        localise_samples(
            [s for split in SPLITS for s in report.samples[split]],
            {t.id: t for t in tasks},
            jobs=options.jobs,
            unsafe=options.unsafe_run,
            progress=progress,
        )
    out = Path(options.out_dir)
    for split in SPLITS:
        path = out / f"{split}.jsonl"
        write_samples(report.samples[split], path)
        report.files.append(path)
    dataset_md = out / "DATASET.md"
    dataset_md.write_text(dataset_card(report, options, len(tasks)), encoding="utf-8")
    report.files.append(dataset_md)
    report.seconds = time.time() - started
    return report


def _task_samples(task, plan, outcomes, split: str, options: BuildOptions, report: BuildReport) -> list[dict[str, Any]]:
    """One task's samples: its labelled correct programs (at most ``correct_per_task``), then up to
    ``errors_per_family`` mutants of each family, topped up from the other families' surplus; what is dropped is
    counted in ``report.dropped``."""
    correct, mutants = plan
    kept_ok = []
    for c in correct:
        try:
            labelled = label(task, c.code, outcomes[c.key], None, random.Random(f"{options.seed}:{c.key}"))
        except Dropped as exc:
            if not c.restyles:
                raise BuildError(f"task {task.id}: its {c.base} fails its own tests ({exc})") from exc
            report.dropped[f"restyled_{exc.reason}"] += 1
            continue
        kept_ok.append(_sample(c, labelled.answer, labelled.raw, split, _evidence(c, outcomes[c.key])))
    report.dropped["surplus_correct"] += max(0, len(kept_ok) - options.correct_per_task)
    chosen = kept_ok[: options.correct_per_task]
    by_family: dict[str, list[dict[str, Any]]] = {f: [] for f in FAMILIES}
    for c in mutants:
        try:
            labelled = label(task, c.code, outcomes[c.key], c.mutant, random.Random(f"{options.seed}:{c.key}"))
        except Dropped as exc:
            report.dropped[exc.reason] += 1
            continue
        by_family[c.mutant.family].append(
            _sample(c, labelled.answer, labelled.raw, split, _evidence(c, outcomes[c.key]))
        )
    extra = []
    for family in FAMILIES:
        chosen += by_family[family][: options.errors_per_family]
        extra += by_family[family][options.errors_per_family :]
    shortfall = options.correct_per_task + len(FAMILIES) * options.errors_per_family - len(chosen)
    chosen += extra[: max(0, shortfall)]
    report.dropped["surplus_mutant"] += max(0, len(extra) - max(0, shortfall))
    return chosen


def check_output(out: Path, force: bool) -> None:
    """Before any work: ``out`` must be a writable folder, and hold no dataset unless ``force``, so a quick
    ``--max-tasks`` build never silently replaces the shipped data."""
    writable_dir(out, "--out", BuildError)
    found = [name for name in (*(f"{split}.jsonl" for split in SPLITS), "DATASET.md") if (out / name).exists()]
    if found and not force:
        raise BuildError(
            f"{out} holds a dataset already ({', '.join(found)}): pass --force to replace it, or "
            "--out DIR to build elsewhere"
        )


# ------------------------------------------------------------------ DATASET.md


def _table(title: str, rows: dict[str, Counter], splits: tuple[str, ...] = SPLITS) -> str:
    lines = [f"| {title} | " + " | ".join(splits) + " | total |", "|---|" + "---:|" * (len(splits) + 1)]
    for name in sorted(rows, key=lambda r: (-sum(rows[r].values()), r)):
        counts = rows[name]
        lines.append(
            f"| {name} | " + " | ".join(str(counts.get(s, 0)) for s in splits) + f" | {sum(counts.values())} |"
        )
    return "\n".join(lines)


def count_by(
    samples: dict[str, list[dict[str, Any]]], key: Callable[[dict[str, Any]], str | None]
) -> dict[str, Counter]:
    rows: dict[str, Counter] = defaultdict(Counter)
    for split, items in samples.items():
        for sample in items:
            value = key(sample)
            if value is not None:
                rows[value][split] += 1
    return rows


def _answer(sample: dict[str, Any]) -> dict[str, Any]:
    return json.loads(sample["messages"][-1]["content"])


def dataset_card(report: BuildReport, options: BuildOptions, n_tasks: int) -> str:
    samples = report.samples
    tasks = {s: len({x["meta"]["task_id"] for x in samples[s]}) for s in SPLITS}
    total = sum(len(v) for v in samples.values())
    no_error = sum(1 for v in samples.values() for x in v if x["meta"]["verdict"] == "NO_ERROR")
    parts = [
        "# The fedjava Java error dataset",
        "",
        f"Generated by `fedjava data build --seed {options.seed}` from {n_tasks} tasks in `src/fedjava/java/tasks/`; do not "
        f"edit by hand. Every label was observed with the real javac and JVM (timeout: {TIMEOUT_SECONDS:g} s of CPU time per test case).",
        "",
        "Splits are by task: no task appears in two splits. Each sample's `meta` holds the task id, the "
        "mutation operator and family, the program it was made from, the fix line and the raw tool output.",
        "",
        f"Samples: {total} ({100 * no_error / max(total, 1):.1f}% NO_ERROR).",
        "",
        "## Splits",
        "",
        "| split | tasks | samples |",
        "|---|---:|---:|",
        *[f"| {s} | {tasks[s]} | {len(samples[s])} |" for s in SPLITS],
        "",
        "## Verdicts",
        "",
        _table("verdict", count_by(samples, lambda x: x["meta"]["verdict"])),
        "",
        "## Mutation families (what the operator aimed at; the verdict is what the tools saw)",
        "",
        _table("family", count_by(samples, lambda x: x["meta"]["family"])),
        "",
        "## Topics",
        "",
        _table("topic", count_by(samples, lambda x: x["meta"]["topic"])),
        "",
        "## javac keys (COMPILE_ERROR)",
        "",
        _table(
            "javac key",
            count_by(
                samples, lambda x: _answer(x)["errors"][0]["code"] if x["meta"]["verdict"] == "COMPILE_ERROR" else None
            ),
        ),
        "",
        "## Exception classes and timeouts (RUNTIME_ERROR)",
        "",
        _table(
            "code",
            count_by(
                samples, lambda x: _answer(x)["errors"][0]["code"] if x["meta"]["verdict"] == "RUNTIME_ERROR" else None
            ),
        ),
        "",
        "## Operators",
        "",
        _table("operator", count_by(samples, lambda x: x["meta"]["operator"] or None)),
        "",
        "## Programs tried and not kept",
        "",
        "| reason | programs |",
        "|---|---:|",
        *[f"| {reason} | {count} |" for reason, count in sorted(report.dropped.items())],
        "",
        f"Programs compiled and run: {report.programs}.",
        "",
    ]
    return "\n".join(parts)
