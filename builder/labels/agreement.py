"""Inter-annotator agreement: Rating items in; alpha, pairwise kappa and majority agreement out.

The coefficients come from well-kept libraries (`krippendorff`, scikit-learn); this module only
shapes the ratings for them and says when a coefficient is undefined.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import krippendorff
import numpy as np


@dataclass(frozen=True)
class Rating:
    """One annotator's label for one item."""

    item_id: str
    annotator: str
    label: str


@dataclass(frozen=True)
class RatingTable:
    """Ratings as codes, one per item and annotator (the last one given), sorted by item, then
    annotator: what every coefficient here reads, built once for all of them."""

    labels: tuple[str, ...]
    items: list[str]  # sorted
    annotators: list[str]  # sorted
    item: np.ndarray  # index into `items`, one per rating
    annotator: np.ndarray  # index into `annotators`
    label: np.ndarray  # index into `labels`

    @classmethod
    def of(cls, ratings: Iterable[Rating], labels: Sequence[str]) -> RatingTable:
        """From Rating objects; an annotator who re-submits an item changed their mind, so the
        last rating wins. Every label is checked against `labels`."""
        if len(set(labels)) != len(labels):
            raise ValueError(f"labels must be distinct, got {list(labels)}")
        code = {label: k for k, label in enumerate(labels)}
        latest: dict[tuple[str, str], int] = {}
        for rating in ratings:
            if rating.label not in code:
                raise ValueError(
                    f"item {rating.item_id!r}: annotator {rating.annotator!r} gave label "
                    f"{rating.label!r}, which is not one of {list(labels)}"
                )
            latest[(rating.item_id, rating.annotator)] = code[rating.label]
        return cls.coded(labels, list(latest), list(latest.values()))

    @classmethod
    def coded(
        cls, labels: Sequence[str], keys: list[tuple[str, str]], label_codes: list[int]
    ) -> RatingTable:
        """From distinct (item id, annotator) keys and the label code each gave."""
        items = sorted({item for item, _ in keys})
        annotators = sorted({annotator for _, annotator in keys})
        item_code = {name: k for k, name in enumerate(items)}
        annotator_code = {name: k for k, name in enumerate(annotators)}
        item = np.fromiter((item_code[i] for i, _ in keys), np.int64, len(keys))
        annotator = np.fromiter((annotator_code[a] for _, a in keys), np.int64, len(keys))
        label = np.asarray(label_codes, dtype=np.int64)
        order = np.lexsort((annotator, item))
        return cls(tuple(labels), items, annotators, item[order], annotator[order], label[order])

    def renamed(self, rename: Callable[[str], str]) -> RatingTable:
        """The same ratings with each annotator renamed (to a pseudonym, say)."""
        names = [rename(name) for name in self.annotators]
        annotators = sorted(set(names))
        position = {name: k for k, name in enumerate(annotators)}
        recoded = np.asarray([position[name] for name in names], dtype=np.int64)[self.annotator]
        order = np.lexsort((recoded, self.item))
        return RatingTable(
            self.labels,
            self.items,
            annotators,
            self.item[order],
            recoded[order],
            self.label[order],
        )

    def counts(self) -> np.ndarray:
        """items x labels: how many ratings of each item gave each label."""
        width = len(self.labels)
        flat = np.bincount(self.item * width + self.label, minlength=len(self.items) * width)
        return flat.reshape(len(self.items), width)

    def pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every two ratings of one item: annotator a < annotator b, the label of each."""
        firsts, seconds = [], []
        # Sorted by item, then annotator: ratings d apart are a pair when their item is one.
        for distance in range(1, len(self.item)):
            same = np.flatnonzero(self.item[:-distance] == self.item[distance:])
            if not len(same):
                break
            firsts.append(same)
            seconds.append(same + distance)
        if not firsts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty, empty
        first, second = np.concatenate(firsts), np.concatenate(seconds)
        return (
            self.annotator[first],
            self.annotator[second],
            self.label[first],
            self.label[second],
        )


Ratings = Sequence[Rating] | RatingTable


@dataclass(frozen=True)
class AlphaResult:
    """Nominal Krippendorff's alpha over the items with at least 2 ratings.

    `value` is None when no item has 2 ratings, or when every one of those ratings carries the
    same label: expected disagreement is then 0 and alpha is 0/0.
    """

    value: float | None
    items: int
    ratings: int


@dataclass(frozen=True)
class KappaResult:
    """Cohen's kappa of two annotators over the items both rated.

    `value` is None when they share no item, or when both used one and the same label on every
    shared item: expected agreement is then 1 and kappa is 0/0.
    """

    annotator_a: str
    annotator_b: str
    value: float | None
    items: int


@dataclass(frozen=True)
class MajorityAgreement:
    """Share of an annotator's ratings that equal the item's unique majority label.

    Only items with at least 2 ratings and no tie count; `value` is None when none is left.
    """

    annotator: str
    value: float | None
    items: int


def unique_majority(counts: np.ndarray) -> np.ndarray:
    """Per row of label counts (items x labels): the label with the top count alone, or -1 on a
    tie or when no label is given."""
    if counts.shape[1] == 0:  # no labels at all (no records): nothing to pick from
        return np.full(len(counts), -1)
    top = counts.max(axis=1)
    alone = (counts == top[:, None]).sum(axis=1) == 1
    return np.where(alone & (top > 0), counts.argmax(axis=1), -1)


def krippendorff_alpha(ratings: Ratings, labels: Sequence[str]) -> AlphaResult:
    """Nominal Krippendorff's alpha (the `krippendorff` package); an annotator's last rating of
    an item replaces earlier ones."""
    table = rating_table(ratings, labels)
    counts = table.counts()
    pairable = counts[counts.sum(axis=1) >= 2]
    n = int(pairable.sum())
    # With fewer than two labels among pairable ratings the expected disagreement is 0 and alpha
    # is 0/0 (the package raises there): say "undefined" instead.
    if np.count_nonzero(pairable.sum(axis=0)) < 2:
        return AlphaResult(value=None, items=len(pairable), ratings=n)
    # The package takes the items' label counts as they are: no annotators x items matrix.
    value = krippendorff.alpha(value_counts=pairable, level_of_measurement="nominal")
    return AlphaResult(value=float(value), items=len(pairable), ratings=n)


def pairwise_kappa(ratings: Ratings, labels: Sequence[str]) -> list[KappaResult]:
    """Cohen's kappa (scikit-learn) for every pair of annotators (names sorted), over the items
    both rated."""
    table = rating_table(ratings, labels)
    first, second, label_a, label_b = table.pairs()
    people = len(table.annotators)
    pair = first * people + second
    order = np.argsort(pair, kind="stable")
    keys, starts = np.unique(pair[order], return_index=True)
    ends = np.append(starts[1:], len(order)) if len(starts) else starts
    bounds = dict(zip(keys.tolist(), zip(starts.tolist(), ends.tolist(), strict=True), strict=True))
    results = []
    for a, b in combinations(range(people), 2):
        start, stop = bounds.get(a * people + b, (0, 0))
        chosen = order[start:stop]
        value = _kappa(label_a[chosen], label_b[chosen], len(labels))
        results.append(KappaResult(table.annotators[a], table.annotators[b], value, stop - start))
    return results


def agreement_with_majority(ratings: Ratings, labels: Sequence[str]) -> list[MajorityAgreement]:
    """For each annotator (sorted), how often their rating equals the item's majority label."""
    table = rating_table(ratings, labels)
    counts = table.counts()
    majority = unique_majority(counts)
    # Only items that 2 or more rated count: one rating agrees with itself.
    has_majority = (counts.sum(axis=1) >= 2) & (majority >= 0)
    counted_mask = has_majority[table.item]
    matched_mask = counted_mask & (table.label == majority[table.item])
    people = len(table.annotators)
    counted = np.bincount(table.annotator[counted_mask], minlength=people)
    matched = np.bincount(table.annotator[matched_mask], minlength=people)
    return [
        MajorityAgreement(
            name, float(matched[k] / counted[k]) if counted[k] else None, int(counted[k])
        )
        for k, name in enumerate(table.annotators)
    ]


def agreement_report(ratings: Ratings, labels: Sequence[str]) -> dict[str, Any]:
    """The three agreement results as a JSON-serialisable dict, floats rounded to 4 places."""
    table = rating_table(ratings, labels)
    return {
        "labels": list(labels),
        "krippendorff_alpha": _rounded(asdict(krippendorff_alpha(table, labels))),
        "pairwise_kappa": [_rounded(asdict(row)) for row in pairwise_kappa(table, labels)],
        "agreement_with_majority": [
            _rounded(asdict(row)) for row in agreement_with_majority(table, labels)
        ],
    }


def confusion_between_annotators(ratings: Ratings, labels: Sequence[str]) -> dict[str, Any]:
    """Counts of (label of a, label of b) over every item and ordered pair of its annotators."""
    counts = rating_table(ratings, labels).counts()
    # Summed over items, outer(c, c) - diag(c): every ordered pair of two distinct ratings.
    matrix = counts.T @ counts - np.diag(counts.sum(axis=0))
    return {"labels": list(labels), "matrix": matrix.tolist()}


def rating_table(ratings: Ratings, labels: Sequence[str]) -> RatingTable:
    """The ratings as a `RatingTable` (they may be one already)."""
    if isinstance(ratings, RatingTable):
        if ratings.labels != tuple(labels):
            raise ValueError(f"ratings coded over {list(ratings.labels)}, not {list(labels)}")
        return ratings
    return RatingTable.of(ratings, labels)


def _kappa(first: np.ndarray, second: np.ndarray, labels: int) -> float | None:
    if not len(first):
        return None
    # Both annotators used one and the same label throughout: chance agreement is 1 and kappa
    # is 0/0 (scikit-learn warns and returns nan there).
    if len(np.union1d(first, second)) == 1:
        return None
    # Imported here: sklearn.metrics takes a second to import, which every command that
    # aggregates labels would pay, a `sync` with nothing new included.
    from sklearn.metrics import cohen_kappa_score

    return float(cohen_kappa_score(first, second, labels=list(range(labels))))


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {key: round(val, 4) if isinstance(val, float) else val for key, val in row.items()}
