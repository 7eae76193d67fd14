from __future__ import annotations

import json
import statistics
from collections import Counter

import pytest

from fedjava.dataset.split import (
    PARTITIONS,
    SplitError,
    client_table,
    read_manifest,
    run_split,
    sample_label,
    sample_task,
    sample_verdict,
    shard_problem,
    split_clients,
    write_client_files,
)
from fedjava.prompts import build_messages, load_samples, write_samples

FAMILIES = {  # family -> (verdict, error type)
    "none": ("NO_ERROR", None),
    "syntax": ("COMPILE_ERROR", "Syntax Error"),
    "runtime": ("RUNTIME_ERROR", "Runtime Error"),
    "logic": ("LOGIC_ERROR", "Logical Error"),
}
CODE = "class Solution {\n    static int f(int x) {\n        return x;\n    }\n}\n"


def _answer(family: str) -> dict:
    verdict, kind = FAMILIES[family]
    if kind is None:
        return {"verdict": verdict, "errors": [], "score": 10}
    error = {"type": kind, "code": "x", "line": 3, "message": "m", "explanation": "e", "fix": "return x;"}
    return {"verdict": verdict, "errors": [error], "score": 5}


def make_samples(num_tasks: int = 10, per_task: int = 8, with_meta: bool = True) -> list[dict]:
    """``num_tasks * per_task`` samples; families cycle so the overall mix is even."""
    out = []
    families = list(FAMILIES)
    for t in range(num_tasks):
        for j in range(per_task):
            family = families[(t + j) % len(families)]
            sample = {"messages": build_messages(f"Task number {t}: return x.", CODE, _answer(family))}
            if with_meta:
                sample["meta"] = {
                    "id": f"t{t}_{j}",
                    "task_id": f"task_{t}",
                    "family": family,
                    "verdict": FAMILIES[family][0],
                    "operator": "none" if family == "none" else "op",
                }
            else:
                sample["meta"] = {"id": f"t{t}_{j}", "source": "handwritten"}
            out.append(sample)
    return out


def _ids(clients):
    return [[s["meta"]["id"] for s in client] for client in clients]


def _mean_tv(clients) -> float:
    """Mean total-variation distance between each client's family mix and the overall mix."""
    every = Counter(sample_label(s) for c in clients for s in c)
    n = sum(every.values())
    tvs = []
    for client in clients:
        mine = Counter(sample_label(s) for s in client)
        tvs.append(0.5 * sum(abs(mine[f] / len(client) - every[f] / n) for f in every))
    return statistics.mean(tvs)


def _check_partition(samples, clients, num_clients):
    assert len(clients) == num_clients
    flat = sorted(i for ids in _ids(clients) for i in ids)
    assert flat == sorted(s["meta"]["id"] for s in samples)  # every sample exactly once
    assert all(clients)


# ---------------------------------------------------------------- partitions


@pytest.mark.parametrize("num_clients", [2, 3, 7])
def test_iid_sizes_are_equal_within_one(num_clients):
    samples = make_samples(5, 5)
    clients = split_clients(samples, num_clients, "iid", seed=1)
    _check_partition(samples, clients, num_clients)
    sizes = [len(c) for c in clients]
    assert max(sizes) - min(sizes) <= 1


def test_dirichlet_small_alpha_skews_the_family_mix_more_than_large_alpha():
    samples = make_samples(25, 16)  # 400 samples, 100 per family
    for seed in (0, 1, 2):
        skewed = split_clients(samples, 5, "dirichlet", alpha=0.1, seed=seed)
        even = split_clients(samples, 5, "dirichlet", alpha=1000.0, seed=seed)
        _check_partition(samples, skewed, 5)
        _check_partition(samples, even, 5)
        assert _mean_tv(skewed) > 0.3
        assert _mean_tv(even) < 0.05


def test_dirichlet_gives_every_client_its_minimum_even_with_tiny_alpha():
    samples = make_samples(10, 4)
    for seed in range(5):
        clients = split_clients(samples, 10, "dirichlet", alpha=0.01, seed=seed, min_per_client=3)
        _check_partition(samples, clients, 10)
        assert min(len(c) for c in clients) >= 3


def test_task_partition_never_puts_a_task_on_two_clients_and_balances_counts():
    samples = make_samples(9, 2) + make_samples(3, 6)[6:]  # uneven task sizes, ids stay unique per task
    for s in samples[18:]:
        s["meta"]["task_id"] = "big_" + s["meta"]["task_id"]
        s["meta"]["id"] = "big_" + s["meta"]["id"]
    clients = split_clients(samples, 3, "task", seed=3)
    _check_partition(samples, clients, 3)
    tasks = [{s["meta"]["task_id"] for s in c} for c in clients]
    assert not (tasks[0] & tasks[1]) and not (tasks[0] & tasks[2]) and not (tasks[1] & tasks[2])
    sizes = [len(c) for c in clients]
    assert max(sizes) - min(sizes) <= 6  # at most one task's worth apart


def test_task_partition_falls_back_to_the_task_text_without_meta():
    samples = make_samples(6, 3, with_meta=False)
    clients = split_clients(samples, 4, "task", seed=0)
    _check_partition(samples, clients, 4)
    task_sets = [{s["meta"]["id"].split("_")[0] for s in c} for c in clients]
    assert sum(len(t) for t in task_sets) == 6  # every task on exactly one client


def test_task_partition_needs_a_task_per_client():
    with pytest.raises(SplitError, match="2 task\\(s\\) for 3 clients"):
        split_clients(make_samples(2, 5), 3, "task")


def test_quantity_skews_sizes_but_keeps_the_label_mix():
    samples = make_samples(25, 16)
    for seed in (0, 1, 2):
        skewed = split_clients(samples, 5, "quantity", alpha=0.2, seed=seed)
        even = split_clients(samples, 5, "quantity", alpha=1000.0, seed=seed)
        _check_partition(samples, skewed, 5)

        def cv(clients):
            sizes = [len(c) for c in clients]
            return statistics.pstdev(sizes) / statistics.mean(sizes)

        assert cv(skewed) > 0.4 and cv(even) < 0.1
        big = [c for c in skewed if len(c) >= 40]
        assert big and _mean_tv(big) < 0.05


@pytest.mark.parametrize("partition", PARTITIONS)
def test_one_and_sixty_four_clients_work(partition):
    samples = make_samples(64, 2)
    one = split_clients(samples, 1, partition, seed=5)
    _check_partition(samples, one, 1)
    many = split_clients(samples, 64, partition, seed=5)
    _check_partition(samples, many, 64)


@pytest.mark.parametrize("partition", PARTITIONS)
def test_same_seed_same_split_and_different_seed_different(partition):
    samples = make_samples(12, 4)
    a = split_clients(samples, 4, partition, seed=7)
    b = split_clients(samples, 4, partition, seed=7)
    c = split_clients(samples, 4, partition, seed=8)
    assert _ids(a) == _ids(b)
    assert _ids(a) != _ids(c)


def test_more_clients_than_samples_is_a_clear_error():
    with pytest.raises(SplitError, match="cannot split 3 sample\\(s\\) into 5 clients.*at most 3 clients"):
        split_clients(make_samples(1, 3), 5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"partition": "shards"}, "unknown partition 'shards'"),
        ({"num_clients": 0}, "from 1 to 64"),
        ({"num_clients": 65}, "from 1 to 64"),
        ({"partition": "dirichlet", "alpha": 0}, "alpha must be a finite number > 0"),
        ({"partition": "quantity", "alpha": float("inf")}, "alpha must be a finite number > 0"),  # once a hang
    ],
)
def test_bad_arguments_are_split_errors(kwargs, message):
    args = {"num_clients": 2, **kwargs}
    with pytest.raises(SplitError, match=message):
        split_clients(make_samples(4, 4), **args)


# ---------------------------------------------------------------- labels, tasks, table


def test_labels_and_tasks_fall_back_to_the_answer_and_the_task_text():
    with_meta, without = make_samples(2, 4)[5], make_samples(2, 4, with_meta=False)[5]
    assert sample_label(with_meta) == with_meta["meta"]["family"]
    assert sample_label(without) == sample_verdict(without) == with_meta["meta"]["verdict"]
    assert sample_task(with_meta) == "task_1"
    assert sample_task(without).startswith("task-")
    assert sample_task(without) == sample_task(make_samples(2, 4, with_meta=False)[4])
    assert sample_task(without) != sample_task(make_samples(2, 4, with_meta=False)[0])
    legacy = {
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "1) Runtime Error: boom.\n2) Syntax Error: x."},
        ]
    }
    assert sample_verdict(legacy) == "RUNTIME_ERROR"
    legacy["messages"][1]["content"] = "whatever"
    assert sample_verdict(legacy) == "UNKNOWN"


def test_client_table_counts_verdicts_per_client():
    clients = [make_samples(1, 4), make_samples(1, 2)]
    lines = client_table(clients).splitlines()
    assert lines[0].split() == [
        "client",
        "samples",
        "tasks",
        "NO_ERROR",
        "COMPILE_ERROR",
        "RUNTIME_ERROR",
        "LOGIC_ERROR",
    ]
    assert lines[1].split() == ["0", "4", "1", "1", "1", "1", "1"]
    assert lines[2].split() == ["1", "2", "1", "1", "1", "0", "0"]
    assert lines[3].split() == ["total", "6", "1", "2", "2", "1", "1"]


# ---------------------------------------------------------------- files


def test_written_shards_are_byte_identical_for_the_same_seed(tmp_path):
    samples, valid = make_samples(8, 4), make_samples(1, 3)
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        clients = split_clients(samples, 3, "dirichlet", alpha=0.5, seed=seed)
        write_client_files(clients, valid, tmp_path / name, partition="dirichlet", alpha=0.5, seed=seed)
    files = [f"client_{k}.json" for k in range(3)]
    a = [(tmp_path / "a" / f).read_bytes() for f in files]
    assert a == [(tmp_path / "b" / f).read_bytes() for f in files]
    assert a != [(tmp_path / "c" / f).read_bytes() for f in files]


def test_write_client_files_layout_and_manifest(tmp_path):
    samples, valid = make_samples(4, 4), make_samples(1, 3)
    clients = split_clients(samples, 3, "task", seed=2)
    paths = write_client_files(clients, valid, tmp_path, partition="task", alpha=0.5, seed=2, source="data/train.jsonl")
    assert [p.name for p in paths] == ["client_0.json", "client_1.json", "client_2.json", "valid.json", "clients.json"]
    for k, client in enumerate(clients):
        text = (tmp_path / f"client_{k}.json").read_text()
        assert text.lstrip().startswith("[")  # the guide's layout: JSON arrays
        assert json.loads(text) == client
    assert load_samples(tmp_path / "valid.json") == valid
    manifest = read_manifest(tmp_path)
    assert manifest["num_clients"] == 3 and manifest["partition"] == "task"
    assert manifest["alpha"] == 0.5 and manifest["seed"] == 2 and manifest["source"] == "data/train.jsonl"
    assert manifest["counts"] == [len(c) for c in clients] and manifest["num_samples"] == 16
    assert manifest["num_valid"] == 3
    assert shard_problem(tmp_path, 3) is None
    assert "made for 3 client(s), not 4" in shard_problem(tmp_path, 4)


def test_stale_shards_from_a_larger_split_are_removed(tmp_path):
    samples = make_samples(4, 4)
    write_client_files(split_clients(samples, 5), None, tmp_path)
    (tmp_path / "client_notes.json").write_text("{}")  # not a shard: left alone
    write_client_files(split_clients(samples, 2), None, tmp_path)
    assert sorted(p.name for p in tmp_path.glob("client_*.json")) == [
        "client_0.json",
        "client_1.json",
        "client_notes.json",
    ]
    assert read_manifest(tmp_path)["num_clients"] == 2
    assert not (tmp_path / "valid.json").exists()


def test_read_manifest_without_or_with_a_broken_manifest(tmp_path):
    assert read_manifest(tmp_path) is None
    assert "not found" in shard_problem(tmp_path, 2)
    (tmp_path / "clients.json").write_text("{broken")
    with pytest.raises(SplitError, match="not valid JSON"):
        read_manifest(tmp_path)


def test_run_split_end_to_end_on_hand_written_style_data(tmp_path):
    data = tmp_path / "data"
    write_samples(make_samples(6, 4, with_meta=False), data / "train.jsonl")
    write_samples(make_samples(1, 4, with_meta=False), data / "valid.jsonl")
    for k in range(4):
        (data / f"client_{k}.json").write_text("[]")
    with pytest.raises(SplitError, match="holds an earlier split .client_0.json, client_1.json, client_2.json ...."):
        run_split(data, num_clients=2, partition="task", seed=3)  # never replaced unasked
    text = run_split(data, num_clients=2, partition="task", seed=3, force=True)
    assert "24 sample(s)" in text and "partition=task seed=3" in text
    assert "NO_ERROR" in text and "total" in text
    assert f"wrote {data / 'client_0.json'} ... {data / 'client_1.json'}" in text
    assert f"wrote {data / 'valid.json'} (4 sample(s))" in text
    assert "removed stale" in text and "client_3.json" in text
    assert not (data / "client_2.json").exists()
    assert sum(len(load_samples(data / f"client_{k}.json")) for k in range(2)) == 24
    manifest = read_manifest(data)
    assert manifest["source"] == str(data / "train.jsonl") and manifest["valid_source"] == str(data / "valid.jsonl")
    assert manifest["partition"] == "task" and manifest["alpha"] is None  # alpha is not used by task


def test_run_split_without_validation_file(tmp_path):
    write_samples(make_samples(2, 4), tmp_path / "train.jsonl")
    text = run_split(tmp_path, num_clients=3, partition="quantity", alpha=1.0, valid_file="")
    assert "alpha=1.0" in text and not (tmp_path / "valid.json").exists()
    assert read_manifest(tmp_path)["num_valid"] is None and read_manifest(tmp_path)["alpha"] == 1.0
