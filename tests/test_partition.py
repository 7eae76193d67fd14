"""Schools by task with unequal sizes (the experiment's task_dirichlet partition) and the stratified test subset."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from fedjava.experiment_data import stratified_subset, write_client_shards
from fedjava.federated.partition import PartitionError, split_tasks_unequal
from fedjava.prompts import load_samples, write_samples


def _samples(task_sizes: dict[str, int]) -> list[dict]:
    """Real chat samples of the given tasks, interleaved as a data file has them, each program its own."""
    from conftest import BAD_ANSWER, GOOD, GOOD_ANSWER, REQUIREMENT
    from fedjava.prompts import build_messages

    out = []
    for round_ in range(max(task_sizes.values())):
        for task, size in task_sizes.items():
            if round_ < size:
                answer = GOOD_ANSWER if round_ % 2 == 0 else BAD_ANSWER
                out.append(
                    {
                        "messages": build_messages(f"{REQUIREMENT} ({task})", f"{GOOD}// {task} #{round_}\n", answer),
                        "meta": {"task_id": task, "family": ["none", "compile", "runtime", "logic"][round_ % 4]},
                    }
                )
    return out


def _text(sample: dict) -> str:
    return sample["messages"][1]["content"]


TASKS = {f"t{i:02d}": 2 + (i * 7) % 11 for i in range(30)}  # 30 tasks of 2 to 12 samples


def _task(sample: dict) -> str:
    return sample["meta"]["task_id"]


def test_schools_hold_whole_tasks_in_unequal_seeded_sizes():
    samples = _samples(TASKS)
    schools, shares = split_tasks_unequal(samples, 4, alpha=1.0, seed=0)
    # every sample at exactly one school, in the file's order
    assert sorted(_text(s) for school in schools for s in school) == sorted(_text(s) for s in samples)
    for school in schools:
        assert [samples.index(s) for s in school] == sorted(samples.index(s) for s in school)
    # no task at two schools
    owners = Counter(task for school in schools for task in {_task(s) for s in school})
    assert set(owners.values()) == {1} and len(owners) == len(TASKS)
    # unequal sizes that follow the drawn shares: each school within its largest task of its target
    sizes = [len(school) for school in schools]
    assert len(set(sizes)) == 4 and max(sizes) >= 2 * min(sizes), sizes
    assert sum(shares) == pytest.approx(1.0)
    for size, share in zip(sizes, shares, strict=True):
        assert abs(size - share * len(samples)) <= max(TASKS.values()), (sizes, shares)
    # seeded: the same seed gives the same split, another seed another
    again, _ = split_tasks_unequal(samples, 4, alpha=1.0, seed=0)
    assert again == schools
    assert split_tasks_unequal(samples, 4, alpha=1.0, seed=1)[0] != schools
    # a large alpha draws nearly equal shares
    even = [len(s) for s in split_tasks_unequal(samples, 4, alpha=1000.0, seed=0)[0]]
    assert max(even) - min(even) <= max(TASKS.values())


def test_a_school_whose_share_fits_no_task_still_gets_one_and_too_few_tasks_is_an_error():
    samples = _samples({"big": 40, "mid": 30, "small": 2, "tiny": 1})
    for seed in range(20):  # a small alpha puts almost all of the mass on one school for some seeds
        schools, _ = split_tasks_unequal(samples, 4, alpha=0.05, seed=seed)
        assert all(schools) and sorted(len({_task(s) for s in school}) for school in schools) == [1, 1, 1, 1]
    with pytest.raises(PartitionError, match="4 task\\(s\\) for 5 schools"):
        split_tasks_unequal(samples, 5, alpha=1.0, seed=0)
    with pytest.raises(PartitionError, match="alpha must be above 0"):
        split_tasks_unequal(samples, 2, alpha=0.0, seed=0)
    with pytest.raises(PartitionError, match="below min_per_client=3"):
        split_tasks_unequal(samples, 4, alpha=1.0, seed=0, min_per_client=3)


def test_the_shards_and_manifest_are_written_as_fedjava_data_split_writes_them(tmp_path):
    from fedjava.dataset.split import shard_problem

    samples = _samples(TASKS)
    write_samples(samples, tmp_path / "train.jsonl")
    write_samples(samples[:5], tmp_path / "valid.jsonl")
    text = write_client_shards(tmp_path, 4, "task_dirichlet", 1.0, 0)
    assert shard_problem(tmp_path, 4) is None and len(load_samples(tmp_path / "valid.json")) == 5
    shards = [load_samples(tmp_path / f"client_{i}.json") for i in range(4)]
    assert shards == split_tasks_unequal(samples, 4, alpha=1.0, seed=0)[0]
    manifest = json.loads((tmp_path / "clients.json").read_text())
    assert manifest["partition"] == "task_dirichlet" and manifest["alpha"] == 1.0 and manifest["seed"] == 0
    assert manifest["counts"] == [len(s) for s in shards]
    assert "whole tasks each" in text and "shares drawn" in text and "total" in text


def test_the_stratified_subset_keeps_each_familys_share_seeded_in_file_order():
    samples = _samples({f"t{i}": 1 for i in range(100)})  # one sample per task: families none/compile/... by index
    for i, sample in enumerate(samples):  # 50 logic, 30 runtime, 15 compile, 5 none
        sample["meta"]["family"] = "logic" if i < 50 else "runtime" if i < 80 else "compile" if i < 95 else "none"
    picked = stratified_subset(samples, 20, seed=4)
    assert Counter(s["meta"]["family"] for s in picked) == {"logic": 10, "runtime": 6, "compile": 3, "none": 1}
    assert [samples.index(s) for s in picked] == sorted(samples.index(s) for s in picked)
    assert stratified_subset(samples, 20, seed=4) == picked and stratified_subset(samples, 20, seed=5) != picked
    # shares that do not divide evenly: the largest remainders round up, the total is exact
    odd = stratified_subset(samples, 7, seed=0)
    assert len(odd) == 7 and Counter(s["meta"]["family"] for s in odd) == {"logic": 4, "runtime": 2, "compile": 1}
    assert stratified_subset(samples, 0, seed=0) == samples and stratified_subset(samples, 500, seed=0) == samples
