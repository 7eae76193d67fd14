"""Schools that differ as real ones do: whole tasks per school, and schools of unequal sizes.

``fedjava data split --partition task`` keeps every task on one client but deals the tasks to the client with the
fewest samples, so the clients come out nearly equal. :func:`split_tasks_unequal` (the experiment's partition
``task_dirichlet``) draws each school's share of the samples from Dirichlet(alpha) first, then deals the tasks,
largest first, to the school furthest below its share: no task is at two schools, and the sizes follow the draw
(a small alpha: a few large schools and small ones; a large alpha: nearly equal). The same samples, number of
schools, alpha and seed give the same split.
"""

from __future__ import annotations

import random
from typing import Any

from fedjava.dataset.split import sample_task
from fedjava.errors import UserError

TASK_DIRICHLET = "task_dirichlet"


class PartitionError(UserError, ValueError):
    """The samples cannot be split as asked; the message says why and what to change."""


def school_shares(num_clients: int, alpha: float, rng: random.Random) -> list[float]:
    """One draw from Dirichlet(alpha, ..., alpha) over ``num_clients`` schools (normalised gamma draws)."""
    draws = [rng.gammavariate(alpha, 1.0) for _ in range(num_clients)]
    total = sum(draws)
    if total <= 0:  # every draw underflowed (a tiny alpha): all of it to one school
        pick = rng.randrange(num_clients)
        draws, total = [1.0 if c == pick else 0.0 for c in range(num_clients)], 1.0
    return [d / total for d in draws]


def split_tasks_unequal(
    samples: list[dict[str, Any]], num_clients: int, alpha: float = 1.0, seed: int = 0, min_per_client: int = 1
) -> tuple[list[list[dict[str, Any]]], list[float]]:
    """Whole tasks per school, school sizes drawn from Dirichlet(``alpha``).

    Args:
        samples: chat samples; a sample's task is ``fedjava.dataset.split.sample_task`` (``meta.task_id``).
        num_clients: schools, at least 1 and at most the number of tasks.
        alpha: Dirichlet concentration of the school sizes, above 0.
        seed: the only source of randomness.
        min_per_client: the fewest samples any school may get.

    Returns:
        (one sample list per school, each in the input's order; the drawn shares).

    Raises:
        PartitionError: fewer tasks than schools, a bad alpha, or a school below ``min_per_client``.
    """

    if not alpha > 0:
        raise PartitionError(f"alpha must be above 0 for the {TASK_DIRICHLET} partition, got {alpha}")
    by_task: dict[str, list[int]] = {}
    for index, sample in enumerate(samples):
        by_task.setdefault(sample_task(sample), []).append(index)
    if not 1 <= num_clients <= len(by_task):
        raise PartitionError(
            f"the {TASK_DIRICHLET} partition needs one task or more per school: the samples hold "
            f"{len(by_task)} task(s) for {num_clients} schools; use fewer schools"
        )
    rng = random.Random(seed)
    shares = school_shares(num_clients, alpha, rng)
    targets = [share * len(samples) for share in shares]
    tasks = sorted(by_task)
    rng.shuffle(tasks)
    tasks.sort(key=lambda t: -len(by_task[t]))  # stable: tasks of one size stay in seeded order
    groups: list[list[str]] = [[] for _ in range(num_clients)]
    sizes = [0] * num_clients
    for task in tasks:
        # the school furthest below its share takes the task (ties: the lower number)
        school = max(range(num_clients), key=lambda c: (targets[c] - sizes[c], -c))
        groups[school].append(task)
        sizes[school] += len(by_task[task])
    for school in range(num_clients):  # a school whose share was too small for any task takes the smallest one
        if not groups[school]:
            donor = max((c for c in range(num_clients) if len(groups[c]) > 1), key=lambda c: (sizes[c], -c))
            task = min(groups[donor], key=lambda t: (len(by_task[t]), t))
            groups[donor].remove(task)
            groups[school].append(task)
            sizes[donor] -= len(by_task[task])
            sizes[school] += len(by_task[task])
    if min(sizes) < min_per_client:
        raise PartitionError(
            f"the {TASK_DIRICHLET} partition gave school sizes {sizes}, below "
            f"min_per_client={min_per_client}; use fewer schools or a larger alpha"
        )
    return [[samples[i] for i in sorted(i for t in group for i in by_task[t])] for group in groups], shares
