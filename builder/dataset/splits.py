"""Split groups into train and test: grouped, near the test share, by story or by time, stable."""

from __future__ import annotations

import bisect
import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from builder.core.graph import components

# How far the test share may land from TEST_SIZE (in labeled rows) before the build refuses.
SHARE_TOLERANCE = 0.05


def _order_key(seed: int, group: str) -> str:
    return hashlib.sha256(f"{seed}:{group}".encode()).hexdigest()


def _size(counts: Counter[str]) -> int:
    return sum(counts.values())


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


def _kept(
    label_counts: Mapping[str, Counter[str]], previous: Mapping[str, str] | None
) -> tuple[dict[str, str], Counter[str], Counter[str]]:
    """The groups that keep an earlier split, the label totals and the totals kept in test."""
    assignment: dict[str, str] = {}
    total: Counter[str] = Counter()
    test: Counter[str] = Counter()
    for group, counts in label_counts.items():
        total.update(counts)
        split = (previous or {}).get(group)
        if split in ("train", "test"):
            assignment[group] = split
            if split == "test":
                test.update(counts)
    return assignment, total, test


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
    assignment, total, test = _kept(label_counts, previous)
    new_groups = sorted(
        (g for g in label_counts if g not in assignment), key=lambda g: _order_key(seed, g)
    )
    # Largest groups first, so small ones can fine-tune the share at the end.
    new_groups.sort(key=lambda g: -_size(label_counts[g]))
    for group in new_groups:
        with_group = test + label_counts[group]
        to_test = _cost(with_group, total, test_size) < _cost(test, total, test_size)
        assignment[group] = "test" if to_test else "train"
        if to_test:
            test = with_group
    test = _repair_share(label_counts, assignment, new_groups, test, total, test_size, seed)
    if len(assignment) == 1 and new_groups:
        # A lone group is all the training data there is.
        assignment[new_groups[0]] = "train"
    elif new_groups and len(assignment) >= 2 and len(set(assignment.values())) == 1:
        # With at least two groups neither split may be empty (a large test share can fill
        # test as a small one fills train): move the smallest new group over.
        group = min(new_groups, key=lambda g: (_size(label_counts[g]), _order_key(seed, g)))
        assignment[group] = "test" if assignment[group] == "train" else "train"
    return assignment


def _repair_share(
    label_counts: Mapping[str, Counter[str]],
    assignment: dict[str, str],
    movable: list[str],
    test: Counter[str],
    total: Counter[str],
    test_size: float,
    seed: int,
) -> Counter[str]:
    """Move single new groups across while the share is out of tolerance and a move brings it in
    closer: the label balance the greedy pass weighs may not cost the share itself."""
    n_total = _size(total)
    if not n_total:
        return test
    for _ in range(len(movable)):
        gap = abs(_size(test) / n_total - test_size)
        if gap <= SHARE_TOLERANCE:
            break
        best: tuple[bool, float, str] | None = None
        for group in movable:
            size = _size(label_counts[group])
            after = _size(test) + (size if assignment[group] == "train" else -size)
            if abs(after / n_total - test_size) >= gap:
                continue
            moved = test + label_counts[group] if assignment[group] == "train" else test.copy()
            if assignment[group] == "test":
                moved.subtract(label_counts[group])
            key = (
                abs(after / n_total - test_size) > SHARE_TOLERANCE,
                _cost(+moved, total, test_size),
                _order_key(seed, group),
            )
            if best is None or key < best:
                best, chosen, chosen_test = key, group, +moved
        if best is None:
            break
        assignment[chosen] = "test" if assignment[chosen] == "train" else "train"
        test = chosen_test
    return _repair_by_swaps(label_counts, assignment, movable, test, n_total, test_size)


def _repair_by_swaps(
    label_counts: Mapping[str, Counter[str]],
    assignment: dict[str, str],
    movable: list[str],
    test: Counter[str],
    n_total: int,
    test_size: float,
) -> Counter[str]:
    """Swap a test group for a train group of a better size while that brings the share closer
    (a lone move can overshoot where a swap lands): sorted sizes and bisection, no pair loop."""
    for _ in range(20):
        test_rows = _size(test)
        gap = abs(test_rows / n_total - test_size)
        if gap <= SHARE_TOLERANCE:
            break
        needed = round(test_size * n_total) - test_rows  # rows test should gain
        train_side = sorted(
            (_size(label_counts[g]), g) for g in movable if assignment[g] == "train"
        )
        sizes = [size for size, _ in train_side]
        best: tuple[float, str, str] | None = None
        for group in sorted(g for g in movable if assignment[g] == "test"):
            want = _size(label_counts[group]) + needed
            at = bisect.bisect_left(sizes, want)
            for index in (at - 1, at):
                if 0 <= index < len(sizes):
                    after = test_rows - _size(label_counts[group]) + sizes[index]
                    key = (abs(after / n_total - test_size), group, train_side[index][1])
                    if key[0] < gap and (best is None or key < best):
                        best = key
        if best is None:
            break
        _, out, into = best
        assignment[out], assignment[into] = "train", "test"
        test = test + label_counts[into]
        test.subtract(label_counts[out])
        test = +test
    return test


def assign_by_time(
    label_counts: Mapping[str, Counter[str]],
    latest_date: Mapping[str, str | None],
    test_size: float,
    seed: int,
    previous: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """group -> split, the latest groups (by their latest article's date) in test.

    Walking back from the newest group, each goes to test while that brings the test share
    closer to `test_size`; the first that would not, and every older one, go to train, so test
    is all news after a cutoff. An undated group goes to train: nothing shows it is newer than
    the training data. Groups split before keep their split.
    """
    assignment, total, test = _kept(label_counts, previous)
    n_total = _size(total)
    dated = sorted(
        (g for g in label_counts if g not in assignment and latest_date.get(g)),
        key=lambda g: (str(latest_date[g]), _order_key(seed, g)),
        reverse=True,
    )
    filling = True
    for group in dated:
        with_group = _size(test) + _size(label_counts[group])
        if (
            filling
            and n_total
            and abs(with_group / n_total - test_size) < abs(_size(test) / n_total - test_size)
        ):
            assignment[group] = "test"
            test.update(label_counts[group])
        else:
            filling = False
            assignment[group] = "train"
    for group in label_counts:
        assignment.setdefault(group, "train")  # undated
    return assignment


def test_share(label_counts: Mapping[str, Counter[str]], assignment: Mapping[str, str]) -> float:
    """The share of labeled rows in test (0 when there are none)."""
    total = sum(_size(c) for c in label_counts.values())
    test = sum(_size(c) for g, c in label_counts.items() if assignment.get(g) == "test")
    return test / total if total else 0.0


test_share.__test__ = False  # type: ignore[attr-defined]  # pytest: a function, not a test


def groups_of_stories(
    story_of: Mapping[str, str], split_group_of: Mapping[str, str] | None
) -> dict[str, str]:
    """story id -> split group: the stories' articles' split groups, joined where they overlap.

    Split groups are meant to be coarser than stories; should two articles of one story carry
    different groups, both groups become one, so no story can ever straddle the split. Without
    split groups every story is its own group.
    """
    nodes = ["s:" + story for story in story_of.values()]
    links = [
        ("s:" + story, "g:" + (split_group_of or {})[article_id])
        for article_id, story in story_of.items()
        if (split_group_of or {}).get(article_id) is not None
    ]
    result = {}
    for nodes_of_one in components(nodes, links):
        # Named after its smallest split group, or its smallest story when it has none.
        groups = [n[2:] for n in nodes_of_one if n.startswith("g:")]
        stories = [n[2:] for n in nodes_of_one if n.startswith("s:")]
        for story in stories:
            result[story] = groups[0] if groups else stories[0]
    return result


@dataclass
class Carried:
    """What an earlier build's splits say about the groups of this one."""

    previous: dict[str, str] = field(default_factory=dict)  # group -> split it keeps
    merged: list[dict[str, object]] = field(default_factory=list)  # groups joined across splits


def carry_over(
    members: Mapping[str, Iterable[str]],
    previous_story_split: Mapping[str, str],
    story_rows: Mapping[str, int],
) -> Carried:
    """group -> the split its stories had before; a group whose stories had both goes whole.

    When new evidence joins a story that was in train with one that was in test, keeping both
    splits would put one event on both sides: the group goes whole to the split that held more
    of its rows (train on a tie), and the move is reported, since it changes a published split.
    """
    carried = Carried()
    for group in sorted(members):
        before: dict[str, list[str]] = {"train": [], "test": []}
        for story in sorted(members[group]):
            split = previous_story_split.get(story)
            if split in before:
                before[split].append(story)
        if before["train"] and before["test"]:
            rows = {s: sum(story_rows.get(x, 0) for x in before[s]) for s in before}
            kept = "test" if rows["test"] > rows["train"] else "train"
            moved = "train" if kept == "test" else "test"
            carried.previous[group] = kept
            carried.merged.append(
                {
                    "group": group,
                    "kept": kept,
                    "stories_moved": before[moved],
                    "rows_moved": rows[moved],
                    "from": moved,
                }
            )
        elif before["train"] or before["test"]:
            carried.previous[group] = "train" if before["train"] else "test"
    return carried


def share_problem(
    label_counts: Mapping[str, Counter[str]],
    assignment: Mapping[str, str],
    test_size: float,
    kept: Mapping[str, str],
    undated: Iterable[str] = (),
    tolerance: float = SHARE_TOLERANCE,
) -> str | None:
    """Why the test share is more than `tolerance` away from `test_size`; None when it is not."""
    share = test_share(label_counts, assignment)
    if abs(share - test_size) <= tolerance + 1e-12:
        return None
    total = sum(_size(c) for c in label_counts.values()) or 1
    causes = []
    if len(label_counts) < 2:
        causes.append(f"there is only {len(label_counts)} split group")
    largest = sorted(label_counts, key=lambda g: (-_size(label_counts[g]), g))[:1]
    if largest:
        big = largest[0]
        big_share = _size(label_counts[big]) / total
        if big_share > min(test_size, 1 - test_size) + tolerance:
            causes.append(
                f"the largest split group, {big}, holds {big_share:.1%} of the rows "
                f"({_size(label_counts[big])} of {total}), so no placing of whole groups can "
                "reach the share"
            )
    kept_test = sum(_size(label_counts[g]) for g, s in kept.items() if s == "test")
    kept_train = sum(_size(label_counts[g]) for g, s in kept.items() if s == "train")
    if kept_test / total > test_size + tolerance or kept_train / total > 1 - test_size + tolerance:
        causes.append(
            f"groups that keep their split from the previous build or hold control items "
            f"already fix {kept_test / total:.1%} of the rows in test and "
            f"{kept_train / total:.1%} in train"
        )
    undated_rows = sum(_size(label_counts[g]) for g in undated if g in label_counts)
    if undated_rows / total > 1 - test_size + tolerance:
        causes.append(
            f"undated groups hold {undated_rows / total:.1%} of the rows and a time split keeps "
            "them in train"
        )
    if not causes:
        causes.append(f"the {len(label_counts)} split groups' sizes do not add up to the share")
    return (
        f"the test split holds {share:.1%} of the labeled rows, not {test_size:.0%} "
        f"(± {tolerance:.0%}): " + "; ".join(causes)
    )
