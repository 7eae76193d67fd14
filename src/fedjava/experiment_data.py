"""What the experiment's data stage draws beyond plain seeded subsets: a subset stratified by the samples' error
family, and client shards of any partition (``fedjava data split``'s, or whole tasks per school of unequal sizes).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from fedjava.dataset.split import PARTITIONS, client_table, run_split, sample_label, write_client_files
from fedjava.federated.partition import TASK_DIRICHLET, split_tasks_unequal
from fedjava.prompts import load_samples


def partitions() -> tuple[str, ...]:
    """The client splits an experiment may ask for: ``fedjava data split``'s and ``task_dirichlet``."""

    return (*PARTITIONS, TASK_DIRICHLET)


def stratified_subset(samples: list[dict[str, Any]], count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` samples drawn so that every label (``fedjava.dataset.split.sample_label``: the error family, else
    the verdict) keeps its share of ``samples`` (largest remainders round; ties go to the larger label), each label's
    samples drawn with ``seed``; returned in the file's order. All of them when ``count`` is 0 or too large."""

    if not count or count >= len(samples):
        return samples
    by_label: dict[str, list[int]] = {}
    for index, sample in enumerate(samples):
        by_label.setdefault(sample_label(sample), []).append(index)
    labels = sorted(by_label)
    exact = {label: count * len(by_label[label]) / len(samples) for label in labels}
    quota = {label: int(exact[label]) for label in labels}
    order = sorted(labels, key=lambda label: (-(exact[label] - quota[label]), -len(by_label[label]), label))
    for label in order[: count - sum(quota.values())]:
        quota[label] += 1
    rng = random.Random(seed)
    keep = [i for label in labels for i in rng.sample(by_label[label], quota[label])]
    return [samples[i] for i in sorted(keep)]


def write_client_shards(data_dir: Path, num_clients: int, partition: str, alpha: float, seed: int) -> str:
    """Split ``data_dir/train.jsonl`` into ``client_<i>.json`` (and ``valid.jsonl`` into ``valid.json``) with the
    manifest, as ``fedjava data split`` does, replacing an earlier split (the folder is the experiment's own);
    returns the text to print (the per-client table)."""

    if partition != TASK_DIRICHLET:
        return run_split(data_dir, num_clients, partition, alpha, seed, force=True)
    train, valid = data_dir / "train.jsonl", data_dir / "valid.jsonl"
    samples = load_samples(train)
    clients, shares = split_tasks_unequal(samples, num_clients, alpha, seed)
    write_client_files(
        clients,
        load_samples(valid),
        data_dir,
        partition=partition,
        alpha=alpha,
        seed=seed,
        source=train,
        valid_source=valid,
    )
    drawn = ", ".join(f"{share:.2f}" for share in shares)
    return (
        f"{len(samples)} sample(s) from {train} split into {num_clients} school(s), whole tasks each, "
        f"partition={partition} alpha={alpha} seed={seed} (shares drawn: {drawn})\n\n{client_table(clients)}"
    )
