"""Groups (stories) into train and test: grouped, near the share, deterministic and stable."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from builder.dataset.splits import assign_splits

LABELS = ("claim:0", "claim:1", "claim:2")


def groups(n: int, seed: int = 0, prefix: str = "story") -> dict[str, Counter[str]]:
    """n groups of varying size (1 to 30 rows) with a varying label mix."""
    rng = random.Random(seed)
    return {
        f"{prefix}-{i:03d}": Counter(rng.choice(LABELS) for _ in range(rng.randint(1, 30)))
        for i in range(n)
    }


def test_share(label_counts: dict[str, Counter[str]], assignment: dict[str, str]) -> float:
    total = sum(sum(c.values()) for c in label_counts.values())
    test = sum(sum(label_counts[g].values()) for g, s in assignment.items() if s == "test")
    return test / total


test_share.__test__ = False  # a helper, not a test


def test_every_group_gets_exactly_one_split() -> None:
    counts = groups(50)
    assignment = assign_splits(counts, 0.2, seed=13)
    assert set(assignment) == set(counts)
    assert set(assignment.values()) == {"train", "test"}


@pytest.mark.parametrize("seed", [0, 1, 13, 99])
@pytest.mark.parametrize("share", [0.1, 0.2, 0.3])
def test_the_test_share_is_near_the_requested_one(seed: int, share: float) -> None:
    counts = groups(50, seed=seed)
    assignment = assign_splits(counts, share, seed=seed)
    assert abs(test_share(counts, assignment) - share) <= 0.05


def test_the_label_mix_of_test_is_near_the_whole() -> None:
    counts = groups(80, seed=3)
    assignment = assign_splits(counts, 0.2, seed=3)
    total: Counter[str] = Counter()
    test: Counter[str] = Counter()
    for group, c in counts.items():
        total.update(c)
        if assignment[group] == "test":
            test.update(c)
    for label in LABELS:
        share_all = total[label] / sum(total.values())
        share_test = test[label] / sum(test.values())
        assert abs(share_all - share_test) <= 0.1


def test_deterministic_for_a_seed() -> None:
    counts = groups(50)
    first = assign_splits(counts, 0.2, seed=7)
    assert assign_splits(dict(reversed(list(counts.items()))), 0.2, seed=7) == first
    assert assign_splits(counts, 0.2, seed=7) == first


def test_another_seed_may_give_another_split() -> None:
    counts = {f"g{i:02d}": Counter({"claim:0": 5}) for i in range(40)}
    results = {tuple(sorted(assign_splits(counts, 0.2, seed=s).items())) for s in range(5)}
    assert len(results) > 1


def test_old_groups_keep_their_split_when_new_ones_arrive() -> None:
    old = groups(30, seed=1)
    previous = assign_splits(old, 0.2, seed=13)
    new = {**old, **groups(30, seed=2, prefix="later")}
    # The old groups grow too: later builds bring more rows for them.
    for counts in list(new.values())[:10]:
        counts["claim:1"] += 20
    later = assign_splits(new, 0.2, seed=13, previous=previous)
    assert {g: later[g] for g in old} == previous
    assert abs(test_share(new, later) - 0.2) <= 0.1
    assert {later[g] for g in new if g.startswith("later")} == {"train", "test"}


def test_a_previous_split_wins_even_against_the_share() -> None:
    counts = {"a": Counter({"claim:0": 10}), "b": Counter({"claim:0": 10})}
    assert assign_splits(counts, 0.2, 13, previous={"a": "test", "b": "test"}) == {
        "a": "test",
        "b": "test",
    }


def test_a_previous_entry_that_is_not_a_split_is_ignored() -> None:
    counts = {"a": Counter({"claim:0": 10}), "b": Counter({"claim:0": 1})}
    assignment = assign_splits(counts, 0.2, 13, previous={"a": "validation"})
    assert set(assignment.values()) == {"train", "test"}


def test_no_groups() -> None:
    assert assign_splits({}, 0.2, 13) == {}


def test_one_group_goes_to_train() -> None:
    assert assign_splits({"only": Counter({"claim:0": 12})}, 0.2, 13) == {"only": "train"}
    assert assign_splits({"only": Counter({"claim:0": 12})}, 0.9, 13) == {"only": "train"}


@pytest.mark.parametrize("share", [0.05, 0.2, 0.5, 0.8, 0.95])
@pytest.mark.parametrize("sizes", [(1, 1), (1, 50), (50, 1), (10, 12)])
def test_two_groups_get_one_split_each(share: float, sizes: tuple[int, int]) -> None:
    counts = {"a": Counter({"claim:0": sizes[0]}), "b": Counter({"claim:0": sizes[1]})}
    assignment = assign_splits(counts, share, 13)
    assert sorted(assignment.values()) == ["test", "train"]


@pytest.mark.parametrize("share", [0.1, 0.5, 0.9])
def test_with_several_groups_neither_split_is_empty(share: float) -> None:
    counts = {f"g{i}": Counter({"claim:0": 3}) for i in range(3)}
    assert set(assign_splits(counts, share, 13).values()) == {"train", "test"}
