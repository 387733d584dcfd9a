"""Groups (stories) into train and test: grouped, near the test share and label balance, stable."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping


def _order_key(seed: int, group: str) -> str:
    return hashlib.sha256(f"{seed}:{group}".encode()).hexdigest()


def _cost(test: Counter[str], total: Counter[str], test_size: float) -> float:
    """Distance from the requested test share, plus the distance of the test label mix."""
    n_total = sum(total.values())
    n_test = sum(test.values())
    if n_total == 0:
        return 0.0
    share_gap = abs(n_test / n_total - test_size)
    balance_gap = 0.0
    if n_test:
        balance_gap = sum(
            abs(test[label] / n_test - total[label] / n_total) for label in total
        ) / max(len(total), 1)
    return share_gap + 0.5 * balance_gap


def assign_splits(
    label_counts: Mapping[str, Counter[str]],
    test_size: float,
    seed: int,
    previous: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """group -> "train" or "test". A group split before keeps its split; new ones fill the gap.

    New groups are taken in an order fixed by the seed; each goes where the test share and the
    test label mix end up closest to the target, so the result is deterministic and greedy.
    """
    previous = previous or {}
    total: Counter[str] = Counter()
    for counts in label_counts.values():
        total.update(counts)
    assignment: dict[str, str] = {}
    test: Counter[str] = Counter()
    for group, counts in label_counts.items():
        if previous.get(group) in ("train", "test"):
            assignment[group] = previous[group]
            if previous[group] == "test":
                test.update(counts)
    new_groups = sorted(
        (g for g in label_counts if g not in assignment), key=lambda g: _order_key(seed, g)
    )
    # Largest groups first, so small ones can fine-tune the share at the end.
    new_groups.sort(key=lambda g: -sum(label_counts[g].values()))
    for group in new_groups:
        with_group = test + label_counts[group]
        to_test = _cost(with_group, total, test_size) < _cost(test, total, test_size)
        assignment[group] = "test" if to_test else "train"
        if to_test:
            test = with_group
    if len(assignment) == 1 and new_groups:
        # A lone group is all the training data there is.
        assignment[new_groups[0]] = "train"
    elif new_groups and len(assignment) >= 2 and len(set(assignment.values())) == 1:
        # With at least two groups neither split may be empty (a large test share can fill
        # test as a small one fills train): move the smallest new group over.
        group = min(new_groups, key=lambda g: (sum(label_counts[g].values()), _order_key(seed, g)))
        assignment[group] = "test" if assignment[group] == "train" else "train"
    return assignment
