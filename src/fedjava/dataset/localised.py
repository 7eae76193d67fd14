"""The localisation facts of a dataset's samples: for every program that compiled and failed a test, the suspicious
lines and a verified change (:mod:`fedjava.java.localise`) added to its evidence, as ``fedjava data localise`` and
the dataset build do."""

from __future__ import annotations

from fedjava.java.evidence import Evidence
from fedjava.java.localise import MAX_MUTANTS, localise_many
from fedjava.java.runner import RunOutcome, parse_cases
from fedjava.java.tasks import Task, task_for_sample
from fedjava.prompts import split_user_prompt


def localise_samples(
    samples: list[dict],
    tasks: dict[str, Task],
    *,
    max_mutants: int = MAX_MUTANTS,
    jobs: int = 2,
    unsafe: bool = False,
    progress=lambda _: None,
) -> int:
    """Add the localisation facts to the evidence (``meta.evidence``) of every sample whose program compiled and
    failed a test, in place, reading its run back from ``meta.tool_output`` (the ``@@CASE`` lines). The task is
    ``tasks[meta.task_id]`` or the sample's own ``meta.tests``. Sample files are the project's data, fedjava's own
    programs or ones its authors wrote: their mutants run in shared batches (:func:`localise_many`, ``trusted``).
    Returns how many samples were localised."""

    items, owners = [], {}
    for n, sample in enumerate(samples):
        meta = sample.get("meta") or {}
        evidence = Evidence.parse(meta.get("evidence") or "")
        if not evidence.compiled or evidence.tests is None or evidence.tests.passed == evidence.tests.total:
            continue
        evidence = evidence.without_localisation()  # localised before: run again afresh
        requirement, code = split_user_prompt(sample["messages"][1]["content"])
        task = task_for_sample(meta, requirement, tasks)
        if task is None:
            continue
        cases = parse_cases(meta.get("tool_output") or "")
        outcome = RunOutcome(True, cases=cases, timed_out=len(cases) < len(task.tests))
        items.append((str(n), task, code, outcome))
        owners[str(n)] = (sample, evidence)
    progress(f"localising {len(items)} program(s) that compile and fail a test")
    found = localise_many(items, max_mutants=max_mutants, jobs=jobs, unsafe=unsafe, trusted=True)
    for key, (sample, evidence) in owners.items():
        sample["meta"]["evidence"] = evidence.with_facts(*found[key].facts()).render()
    return len(items)
