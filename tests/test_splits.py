"""Groups (stories) into train and test: grouped, near the share, deterministic and stable."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from builder.dataset.splits import (
    assign_by_time,
    assign_splits,
    carry_over,
    groups_of_stories,
    share_problem,
    test_share,
)

LABELS = ("claim:0", "claim:1", "claim:2")


def groups(n: int, seed: int = 0, prefix: str = "story") -> dict[str, Counter[str]]:
    """n groups of varying size (1 to 30 rows) with a varying label mix."""
    rng = random.Random(seed)
    return {
        f"{prefix}-{i:03d}": Counter(rng.choice(LABELS) for _ in range(rng.randint(1, 30)))
        for i in range(n)
    }


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


# Split groups, stability, the share check, time ------------------------------------------------


def gold_corpus() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """A small hand-made gold: 12 events, each covered by 4 articles.

    The story step got some boundaries wrong: events 0-3 are each cut into two stories; its
    split groups join the two halves (and join events 4 and 5, which it could not tell apart).
    Returns article -> gold event, article -> story, article -> split group.
    """
    event_of, story_of, group_of = {}, {}, {}
    for event in range(12):
        for n in range(4):
            article = f"e{event:02d}-a{n}"
            event_of[article] = f"event-{event}"
            cut = event < 4 and n >= 2
            story_of[article] = f"story-{event:02d}" + ("b" if cut else "")
            group_of[article] = "group-04" if event in (4, 5) else f"group-{event:02d}"
    return event_of, story_of, group_of


@pytest.mark.parametrize("seed", range(8))
def test_split_groups_keep_every_gold_event_on_one_side(seed: int) -> None:
    event_of, story_of, group_of = gold_corpus()
    story_group = groups_of_stories(story_of, group_of)
    label_counts: dict[str, Counter[str]] = {}
    for story in story_of.values():
        label_counts.setdefault(story_group[story], Counter())["claim:0"] += 3
    assignment = assign_splits(label_counts, 0.2, seed)
    splits_of_event: dict[str, set[str]] = {}
    for article, story in story_of.items():
        splits_of_event.setdefault(event_of[article], set()).add(assignment[story_group[story]])
    assert all(len(splits) == 1 for splits in splits_of_event.values())
    assert {s for splits in splits_of_event.values() for s in splits} == {"train", "test"}


def test_split_groups_by_story_alone_would_split_an_event() -> None:
    """The same gold without split groups: some seed puts the halves of an event apart."""
    event_of, story_of, _ = gold_corpus()
    story_group = groups_of_stories(story_of, None)
    assert story_group["story-00b"] == "story-00b"
    label_counts = {story: Counter({"claim:0": 6}) for story in set(story_of.values())}
    leaked = False
    for seed in range(8):
        assignment = assign_splits(label_counts, 0.2, seed)
        leaked |= any(
            assignment[f"story-{e:02d}"] != assignment[f"story-{e:02d}b"] for e in range(4)
        )
    assert leaked


def test_a_story_whose_articles_carry_two_groups_joins_them() -> None:
    story_of = {"a1": "s1", "a2": "s1", "a3": "s2", "a4": "s3"}
    group_of = {"a1": "g1", "a2": "g2", "a3": "g2", "a4": "g3"}
    assert groups_of_stories(story_of, group_of) == {"s1": "g1", "s2": "g1", "s3": "g3"}


def test_two_old_groups_that_become_one_go_whole_to_the_split_holding_more_rows() -> None:
    previous = {"s1": "train", "s2": "test", "s3": "test"}
    carried = carry_over(
        {"g1": {"s1", "s2"}, "g3": {"s3"}, "new": {"s4"}}, previous, {"s1": 30, "s2": 10, "s3": 5}
    )
    assert carried.previous == {"g1": "train", "g3": "test"}
    assert carried.merged == [
        {"group": "g1", "kept": "train", "stories_moved": ["s2"], "rows_moved": 10, "from": "test"}
    ]
    # A tie keeps the group in train: a test row moved to train is never graded on again.
    tie = carry_over({"g": {"a", "b"}}, {"a": "train", "b": "test"}, {"a": 4, "b": 4})
    assert tie.previous == {"g": "train"}


def test_a_share_near_the_target_is_no_problem() -> None:
    counts = groups(50)
    assignment = assign_splits(counts, 0.2, 13)
    assert share_problem(counts, assignment, 0.2, kept={}) is None


def test_one_group_holding_most_rows_is_named_as_the_problem() -> None:
    """The checkworthy case: one story of 22,400 sentences and a hundred small ones."""
    counts = {"big": Counter({"claim:0": 22_400})}
    counts |= {f"small-{i:03d}": Counter({"claim:1": 1}) for i in range(101)}
    assignment = assign_splits(counts, 0.2, 13)
    problem = share_problem(counts, assignment, 0.2, kept={})
    assert problem is not None
    assert re.match(r"the test split holds 0\.\d% of the labeled rows, not 20% \(± 5%\)", problem)
    assert "the largest split group, big, holds 99.6% of the rows (22400 of 22501)" in problem


def test_groups_kept_from_before_are_named_when_they_fix_the_share() -> None:
    counts = {f"g{i}": Counter({"claim:0": 10}) for i in range(10)}
    kept = {f"g{i}": "test" for i in range(6)}
    assignment = assign_splits(counts, 0.2, 13, previous=kept)
    problem = share_problem(counts, assignment, 0.2, kept=kept)
    assert problem is not None and "keep their split from the previous build" in problem


def test_by_time_the_latest_groups_form_the_test_split() -> None:
    counts = {f"g{i:02d}": Counter({"claim:0": 10}) for i in range(10)}
    latest = {f"g{i:02d}": f"2024-01-{i + 1:02d}" for i in range(10)}
    latest["g09"] = None  # undated: stays in train, though its name sorts last
    assignment = assign_by_time(counts, latest, 0.2, 13)
    assert sorted(g for g, s in assignment.items() if s == "test") == ["g07", "g08"]
    assert assignment["g09"] == "train"
    problem = share_problem(counts, assignment, 0.2, kept={}, undated=["g09"])
    assert problem is None


def test_by_time_test_is_all_news_after_a_cutoff() -> None:
    rng = random.Random(5)
    counts = groups(60, seed=5)
    latest = {g: f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}" for g in counts}
    assignment = assign_by_time(counts, latest, 0.2, 13)
    test_dates = [latest[g] for g, s in assignment.items() if s == "test"]
    train_dates = [latest[g] for g, s in assignment.items() if s == "train"]
    assert min(test_dates) >= max(train_dates)
    assert abs(test_share(counts, assignment) - 0.2) <= 0.05


def test_by_time_with_every_group_undated_test_is_empty_and_that_is_a_problem() -> None:
    counts = groups(10)
    assignment = assign_by_time(counts, {}, 0.2, 13)
    assert set(assignment.values()) == {"train"}
    problem = share_problem(counts, assignment, 0.2, kept={}, undated=list(counts))
    assert problem is not None and "undated groups hold 100.0% of the rows" in problem
