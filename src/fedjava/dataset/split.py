"""Split training samples into federated clients and write them in the guide's layout.

``data/client_0.json`` ... ``data/client_{N-1}.json`` and ``data/valid.json`` are JSON arrays of chat
samples; ``data/clients.json`` is a manifest (how the shards were made) so later steps can tell shards
made for another number of clients. Four partitions:

- ``iid``: a seeded shuffle dealt round-robin (sizes equal within 1).
- ``dirichlet``: for each label, the share of every client is drawn from Dirichlet(alpha); a small
  alpha gives each client a few dominant labels (label skew), a large alpha approaches ``iid``.
- ``task``: whole tasks per client, so no task is on two clients; tasks are dealt greedily, largest
  first, to the client with the fewest samples.
- ``quantity``: every client gets the same label mix, but client sizes are drawn from Dirichlet(alpha).

A sample's label is ``meta["family"]`` (``none``, ``syntax``, ``compile``, ``runtime``, ``logic``) when
present, else its verdict: ``meta["verdict"]``, else the ``verdict`` of the assistant's JSON answer,
else the verdict implied by a legacy-style feedback answer, else ``UNKNOWN``. Its task is
``meta["task_id"]``, else a hash of the user turn's ``Task:`` text.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

from fedjava.dataset.importers import FeedbackError, legacy_answer, parse_legacy_feedback
from fedjava.errors import UserError
from fedjava.prompts import VERDICTS, load_samples, split_user_prompt, write_samples

log = logging.getLogger("fedjava")

PARTITIONS = ("iid", "dirichlet", "task", "quantity")
MAX_CLIENTS = 64
MANIFEST = "clients.json"
VALID_SHARD = "valid.json"
_SHARD_RE = re.compile(r"^client_(\d+)\.json$")


class SplitError(UserError, ValueError):
    """The samples cannot be split as asked; the message says why and what to change."""


# ---------------------------------------------------------------- public API


def split_clients(
    samples: list[dict[str, Any]],
    num_clients: int,
    partition: str = "iid",
    alpha: float = 0.5,
    seed: int = 42,
    min_per_client: int = 1,
) -> list[list[dict[str, Any]]]:
    """Deal samples to ``num_clients`` clients.

    Args:
        samples: chat samples (``meta`` optional; see the module docstring for labels and tasks).
        num_clients: 1 to 64.
        partition: ``iid``, ``dirichlet``, ``task`` or ``quantity``.
        alpha: Dirichlet concentration for ``dirichlet`` and ``quantity`` (smaller = more skew).
        seed: the only source of randomness; the same inputs and seed give the same split.
        min_per_client: the fewest samples any client may get.

    Returns:
        One list of samples per client; every sample is on exactly one client.

    Raises:
        SplitError: an unknown partition, a bad number, or too few samples (or tasks) for the clients.
    """
    if partition not in PARTITIONS:
        raise SplitError(f"unknown partition {partition!r}; choose one of {', '.join(PARTITIONS)}")
    if isinstance(num_clients, bool) or not isinstance(num_clients, int) or not 1 <= num_clients <= MAX_CLIENTS:
        raise SplitError(f"num_clients must be an integer from 1 to {MAX_CLIENTS}, got {num_clients!r}")
    if min_per_client < 1:
        raise SplitError(f"min_per_client must be at least 1, got {min_per_client}")
    if partition in ("dirichlet", "quantity") and not 0 < alpha < math.inf:  # Gamma(inf) draws never return
        raise SplitError(f"alpha must be a finite number > 0 for the {partition} partition, got {alpha}")
    n = len(samples)
    if n < num_clients * min_per_client:
        each = f" with at least {min_per_client} each" if min_per_client > 1 else ""
        raise SplitError(
            f"cannot split {n} sample(s) into {num_clients} clients{each}: every client needs data; "
            f"use at most {n // min_per_client} clients or add samples"
        )
    rng = random.Random(seed)
    if partition == "iid":
        groups = _split_iid(n, num_clients, rng)
    elif partition == "dirichlet":
        groups = _split_dirichlet([sample_label(s) for s in samples], num_clients, alpha, min_per_client, rng)
    elif partition == "task":
        groups = _split_task([sample_task(s) for s in samples], num_clients, min_per_client, rng)
    else:
        groups = _split_quantity([sample_label(s) for s in samples], num_clients, alpha, min_per_client, rng)
    return [[samples[i] for i in group] for group in groups]


def write_client_files(
    clients: list[list[dict[str, Any]]],
    valid_samples: list[dict[str, Any]] | None,
    data_dir: str | Path,
    *,
    partition: str = "iid",
    alpha: float | None = None,
    seed: int | None = None,
    source: str | Path | None = None,
    valid_source: str | Path | None = None,
) -> list[Path]:
    """Write the shards, the validation file and the manifest; remove shards left from a larger split.

    Args:
        clients: one sample list per client, as ``split_clients`` returns.
        valid_samples: written to ``valid.json``; None writes no validation file.
        data_dir: the folder (created when missing).
        partition, alpha, seed, source, valid_source: recorded in the manifest only.

    Returns:
        The paths written: ``client_0.json`` ... ``client_{N-1}.json``, then ``valid.json`` (when
        written), then ``clients.json``.
    """
    written, _removed = _write_shards(
        clients,
        valid_samples,
        Path(data_dir),
        partition=partition,
        alpha=alpha,
        seed=seed,
        source=source,
        valid_source=valid_source,
    )
    return written


def client_table(clients: list[list[dict[str, Any]]]) -> str:
    """A text table: per client the samples, distinct tasks, and the count of each verdict, then a total row."""
    verdicts = [[sample_verdict(s) for s in client] for client in clients]
    extra = sorted({v for vs in verdicts for v in vs} - set(VERDICTS))
    columns = ["samples", "tasks", *VERDICTS, *extra]
    rows = []
    for i, (client, vs) in enumerate(zip(clients, verdicts, strict=True)):
        counts = Counter(vs)
        rows.append([str(i), len(client), len({sample_task(s) for s in client}), *(counts[c] for c in columns[2:])])
    every = [s for client in clients for s in client]
    total = Counter(v for vs in verdicts for v in vs)
    rows.append(["total", len(every), len({sample_task(s) for s in every}), *(total[c] for c in columns[2:])])
    header = ["client", *columns]
    widths = [max(len(str(row[j])) for row in [header, *rows]) for j in range(len(header))]
    lines = [
        "  ".join(
            str(cell).rjust(w) if j else str(cell).ljust(w) for j, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *rows]
    ]
    return "\n".join(lines)


def run_split(
    data_dir: str | Path = "data",
    num_clients: int = 2,
    partition: str = "iid",
    alpha: float = 0.5,
    seed: int = 42,
    train_file: str = "train.jsonl",
    valid_file: str = "valid.jsonl",
    force: bool = False,
) -> str:
    """Load the training (and validation) samples, split them, write the files.

    ``train_file``/``valid_file`` are taken as given when absolute or an existing path with a folder,
    else under ``data_dir`` (as ``Config.data_path`` does). An empty ``valid_file`` writes no
    ``valid.json``. An earlier split in ``data_dir`` is replaced only with ``force`` (:func:`check_no_split`).

    Returns:
        The text to print: the per-client table and the files written (and removed).

    Raises:
        SplitError: as ``split_clients``, or an earlier split is there and ``force`` is not given.
        SampleError: a sample file is missing or malformed.
    """
    data_dir = Path(data_dir)
    if not force:
        check_no_split(data_dir)
    train_path = _data_path(data_dir, train_file)
    samples = load_samples(train_path)
    valid_path = _data_path(data_dir, valid_file) if valid_file else None
    valid = load_samples(valid_path) if valid_path else None
    clients = split_clients(samples, num_clients, partition=partition, alpha=alpha, seed=seed)
    used_alpha = alpha if partition in ("dirichlet", "quantity") else None  # iid and task ignore alpha
    written, removed = _write_shards(
        clients,
        valid,
        data_dir,
        partition=partition,
        alpha=used_alpha,
        seed=seed,
        source=train_path,
        valid_source=valid_path,
    )
    lines = [
        f"{len(samples)} sample(s) from {train_path} split into {num_clients} client(s), "
        f"partition={partition}"
        + (f" alpha={alpha}" if partition in ("dirichlet", "quantity") else "")
        + f" seed={seed}",
        "",
        client_table(clients),
        "",
    ]
    shards = written[:num_clients]
    lines.append(f"wrote {shards[0]}" + (f" ... {shards[-1]}" if len(shards) > 1 else ""))
    lines += [
        f"wrote {p}" + (f" ({len(valid)} sample(s))" if p.name == VALID_SHARD and valid else "")
        for p in written[num_clients:]
    ]
    if removed:
        lines.append("removed stale " + ", ".join(str(p) for p in removed))
    return "\n".join(lines)


def check_no_split(data_dir: str | Path) -> None:
    """SplitError when ``data_dir`` holds the files of an earlier split (shards, ``valid.json``, the manifest),
    before anything is read: a second ``data split`` must not replace the shards a federation trains on unasked."""
    data_dir = Path(data_dir)
    found = (
        sorted(p.name for p in data_dir.glob("*.json") if _SHARD_RE.match(p.name) or p.name in (MANIFEST, VALID_SHARD))
        if data_dir.is_dir()
        else []
    )
    if found:
        shown = ", ".join(found[:3]) + (" ..." if len(found) > 3 else "")
        raise SplitError(f"{data_dir} holds an earlier split ({shown}): pass --force to replace it")


def read_manifest(data_dir: str | Path) -> dict[str, Any] | None:
    """The manifest ``data_dir/clients.json`` as a dict, or None when there is none.

    Raises:
        SplitError: the manifest exists but is not a JSON object.
    """
    path = Path(data_dir) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SplitError(f"{path}: not valid JSON ({exc}); run the split again") from None
    if not isinstance(manifest, dict):
        raise SplitError(f"{path}: expected a JSON object; run the split again")
    return manifest


def shard_problem(data_dir: str | Path, num_clients: int) -> str | None:
    """Why ``data_dir`` holds no usable shards for ``num_clients`` clients (one sentence), or None."""
    data_dir = Path(data_dir)
    try:
        manifest = read_manifest(data_dir)
    except SplitError as exc:
        return str(exc)
    hint = f"run the split with num_clients={num_clients}"
    if manifest is None:
        return f"{data_dir / MANIFEST} not found; {hint}"
    if manifest.get("num_clients") != num_clients:
        made = manifest.get("num_clients")
        return f"the shards in {data_dir} were made for {made} client(s), not {num_clients}; {hint}"
    missing = [f"client_{k}.json" for k in range(num_clients) if not (data_dir / f"client_{k}.json").is_file()]
    if missing:
        return f"{data_dir} lacks {', '.join(missing)}; {hint}"
    return None


# ---------------------------------------------------------------- labels and tasks


def sample_verdict(sample: dict[str, Any]) -> str:
    """``meta.verdict``, else the assistant answer's verdict (JSON or legacy feedback), else ``UNKNOWN``."""
    meta = sample.get("meta") or {}
    if isinstance(meta.get("verdict"), str) and meta["verdict"]:
        return meta["verdict"]
    messages = sample.get("messages") or []
    content = messages[-1].get("content", "") if messages and isinstance(messages[-1], dict) else ""
    try:
        answer = json.loads(content)
    except (json.JSONDecodeError, TypeError):
        answer = None
    if isinstance(answer, dict) and isinstance(answer.get("verdict"), str):
        return answer["verdict"]
    try:
        return legacy_answer(parse_legacy_feedback(content))["verdict"]
    except FeedbackError:
        return "UNKNOWN"


def sample_label(sample: dict[str, Any]) -> str:
    """The label the ``dirichlet`` and ``quantity`` partitions balance or skew: family, else verdict."""
    family = (sample.get("meta") or {}).get("family")
    return family if isinstance(family, str) and family else sample_verdict(sample)


def sample_task(sample: dict[str, Any]) -> str:
    """``meta.task_id``, else ``task-`` + a hash of the user turn's ``Task:`` text (whole turn if none)."""
    task_id = (sample.get("meta") or {}).get("task_id")
    if isinstance(task_id, str) and task_id:
        return task_id
    user = next(
        (m.get("content", "") for m in sample.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"),
        "",
    )
    text = " ".join(split_user_prompt(user)[0].split())  # whitespace differences do not make a new task
    return "task-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


# ---------------------------------------------------------------- partitions (indices only)


def _split_iid(n: int, k: int, rng: random.Random) -> list[list[int]]:
    order = list(range(n))
    rng.shuffle(order)
    return [order[c::k] for c in range(k)]


def _split_dirichlet(labels: list[str], k: int, alpha: float, minimum: int, rng: random.Random) -> list[list[int]]:
    groups: list[list[int]] = [[] for _ in range(k)]
    for members in _by_label(labels, rng).values():
        counts = _allocate(len(members), _dirichlet(k, alpha, rng))
        start = 0
        for c, count in enumerate(counts):
            groups[c] += members[start : start + count]
            start += count
    # Top up clients below the minimum from the largest one, taking its most common label, so the
    # skew the draw produced survives as far as possible.
    while True:
        short = min(range(k), key=lambda c: (len(groups[c]), c))
        if len(groups[short]) >= minimum:
            break
        donor = max(range(k), key=lambda c: (len(groups[c]), -c))
        top = Counter(labels[i] for i in groups[donor]).most_common(1)[0][0]
        pick = next(j for j in range(len(groups[donor]) - 1, -1, -1) if labels[groups[donor][j]] == top)
        groups[short].append(groups[donor].pop(pick))
    for group in groups:
        rng.shuffle(group)
    return groups


def _split_task(tasks: list[str], k: int, minimum: int, rng: random.Random) -> list[list[int]]:
    by_task: dict[str, list[int]] = {}
    for i, task in enumerate(tasks):
        by_task.setdefault(task, []).append(i)
    if len(by_task) < k:
        raise SplitError(
            f"the task partition needs at least one task per client, but the samples hold {len(by_task)} "
            f"task(s) for {k} clients; use at most {len(by_task)} clients or another partition"
        )
    order = sorted(by_task)
    rng.shuffle(order)
    order.sort(key=lambda t: -len(by_task[t]))  # stable: equal sizes stay in seeded order
    groups: list[list[int]] = [[] for _ in range(k)]
    for task in order:
        smallest = min(range(k), key=lambda c: (len(groups[c]), c))
        groups[smallest] += by_task[task]
    sizes = [len(g) for g in groups]
    if min(sizes) < minimum:
        raise SplitError(
            f"the task partition gave client sizes {sizes}, below min_per_client={minimum}; use fewer clients"
        )
    for group in groups:
        rng.shuffle(group)
    return groups


def _split_quantity(labels: list[str], k: int, alpha: float, minimum: int, rng: random.Random) -> list[list[int]]:
    # Lay the samples out so every label is spread evenly along the line (sample j of a label with m
    # samples sits at (j + 0.5) / m); any contiguous stretch then has about the overall label mix.
    keyed = []
    for members in _by_label(labels, rng).values():
        keyed += [((j + 0.5) / len(members), rng.random(), i) for j, i in enumerate(members)]
    line = [i for *_key, i in sorted(keyed)]
    n = len(line)
    sizes = [minimum + extra for extra in _allocate(n - k * minimum, _dirichlet(k, alpha, rng))]
    groups, start = [], 0
    for size in sizes:
        groups.append(line[start : start + size])
        start += size
    for group in groups:
        rng.shuffle(group)
    return groups


def _by_label(labels: list[str], rng: random.Random) -> dict[str, list[int]]:
    """Indices per label, labels in sorted order, each list shuffled."""
    out: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        out.setdefault(label, []).append(i)
    ordered = {label: out[label] for label in sorted(out)}
    for members in ordered.values():
        rng.shuffle(members)
    return ordered


def _dirichlet(k: int, alpha: float, rng: random.Random) -> list[float]:
    """One draw from Dirichlet(alpha, ..., alpha) over k parts (normalized gamma draws)."""
    draws = [rng.gammavariate(alpha, 1.0) for _ in range(k)]
    total = sum(draws)
    if total <= 0:  # every draw underflowed (tiny alpha): all mass on one part
        draws = [0.0] * k
        draws[rng.randrange(k)] = 1.0
        total = 1.0
    return [d / total for d in draws]


def _allocate(total: int, weights: list[float]) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder; sums to total)."""
    exact = [total * w for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda c: (-(exact[c] - counts[c]), c))
    for c in by_remainder[: total - sum(counts)]:
        counts[c] += 1
    return counts


# ---------------------------------------------------------------- files


def _data_path(data_dir: Path, name: str | Path) -> Path:
    path = Path(name)
    if path.is_absolute() or (path.parent != Path(".") and path.exists()):
        return path
    return data_dir / path


def _write_shards(
    clients: list[list[dict[str, Any]]],
    valid_samples: list[dict[str, Any]] | None,
    data_dir: Path,
    *,
    partition: str,
    alpha: float | None,
    seed: int | None,
    source: str | Path | None,
    valid_source: str | Path | None,
) -> tuple[list[Path], list[Path]]:
    """Write everything; return (paths written, stale shards removed)."""
    if not clients:
        raise SplitError("no clients to write")
    data_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for k, client in enumerate(clients):
        path = data_dir / f"client_{k}.json"
        write_samples(client, path)
        written.append(path)
    removed = []
    for path in sorted(data_dir.glob("client_*.json")):
        match = _SHARD_RE.match(path.name)
        if match and int(match[1]) >= len(clients):
            path.unlink()
            removed.append(path)
    if removed:
        log.info(
            "removed %d stale shard(s) from an earlier split: %s", len(removed), ", ".join(p.name for p in removed)
        )
    if valid_samples is not None:
        write_samples(valid_samples, data_dir / VALID_SHARD)
        written.append(data_dir / VALID_SHARD)
    manifest = {
        "num_clients": len(clients),
        "partition": partition,
        "alpha": alpha,
        "seed": seed,
        "source": str(source) if source is not None else None,
        "valid_source": str(valid_source) if valid_source is not None else None,
        "num_samples": sum(len(c) for c in clients),
        "num_valid": len(valid_samples) if valid_samples is not None else None,
        "counts": [len(c) for c in clients],
        "files": [f"client_{k}.json" for k in range(len(clients))],
        "verdicts": [dict(sorted(Counter(sample_verdict(s) for s in c).items())) for c in clients],
    }
    (data_dir / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    written.append(data_dir / MANIFEST)
    return written, removed
