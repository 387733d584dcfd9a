"""Inter-annotator agreement: Rating items in; alpha, pairwise kappa and majority agreement out.

The coefficients come from well-kept libraries (`krippendorff`, scikit-learn); this module only
shapes the ratings for them and says when a coefficient is undefined.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
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


def majority_label(labels_given: Sequence[str]) -> str | None:
    """The unique most common label; None on a tie or when no label is given."""
    top = Counter(labels_given).most_common(2)
    if not top or (len(top) == 2 and top[0][1] == top[1][1]):
        return None
    return top[0][0]


def krippendorff_alpha(ratings: Sequence[Rating], labels: Sequence[str]) -> AlphaResult:
    """Nominal Krippendorff's alpha (the `krippendorff` package); an annotator's last rating of
    an item replaces earlier ones."""
    by_item = _labels_by_item(ratings, labels)
    pairable = [given for given in by_item.values() if len(given) >= 2]
    n = sum(len(given) for given in pairable)
    used = {label for given in pairable for label in given.values()}
    # With fewer than two labels among pairable ratings the expected disagreement is 0 and alpha
    # is 0/0 (the package raises there): say "undefined" instead.
    if len(used) < 2:
        return AlphaResult(value=None, items=len(pairable), ratings=n)
    annotators = _annotators(by_item)
    column = {name: k for k, name in enumerate(annotators)}
    data = np.full((len(annotators), len(pairable)), np.nan)
    for item, given in enumerate(pairable):
        for annotator, label in given.items():
            data[column[annotator], item] = labels.index(label)
    value = krippendorff.alpha(
        reliability_data=data,
        value_domain=list(range(len(labels))),
        level_of_measurement="nominal",
    )
    return AlphaResult(value=float(value), items=len(pairable), ratings=n)


def pairwise_kappa(ratings: Sequence[Rating], labels: Sequence[str]) -> list[KappaResult]:
    """Cohen's kappa (scikit-learn) for every pair of annotators (names sorted), over the items
    both rated."""
    by_item = _labels_by_item(ratings, labels)
    results = []
    for a, b in combinations(_annotators(by_item), 2):
        shared = [(given[a], given[b]) for given in by_item.values() if a in given and b in given]
        results.append(KappaResult(a, b, _kappa(shared, labels), len(shared)))
    return results


def agreement_with_majority(
    ratings: Sequence[Rating], labels: Sequence[str]
) -> list[MajorityAgreement]:
    """For each annotator (sorted), how often their rating equals the item's majority label."""
    by_item = _labels_by_item(ratings, labels)
    counted: Counter[str] = Counter()
    matched: Counter[str] = Counter()
    for given in by_item.values():
        majority = majority_label(list(given.values())) if len(given) >= 2 else None
        if majority is None:
            continue
        for annotator, label in given.items():
            counted[annotator] += 1
            matched[annotator] += label == majority
    results = []
    for name in _annotators(by_item):
        share = matched[name] / counted[name] if counted[name] else None
        results.append(MajorityAgreement(name, share, counted[name]))
    return results


def agreement_report(ratings: Sequence[Rating], labels: Sequence[str]) -> dict[str, Any]:
    """The three agreement results as a JSON-serialisable dict, floats rounded to 4 places."""
    return {
        "labels": list(labels),
        "krippendorff_alpha": _rounded(asdict(krippendorff_alpha(ratings, labels))),
        "pairwise_kappa": [_rounded(asdict(row)) for row in pairwise_kappa(ratings, labels)],
        "agreement_with_majority": [
            _rounded(asdict(row)) for row in agreement_with_majority(ratings, labels)
        ],
    }


def confusion_between_annotators(
    ratings: Sequence[Rating], labels: Sequence[str]
) -> dict[str, Any]:
    """Counts of (label of a, label of b) over every item and ordered pair of its annotators."""
    by_item = _labels_by_item(ratings, labels)
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for given in by_item.values():
        matrix += _ordered_pairs(_label_counts(given.values(), labels))
    return {"labels": list(labels), "matrix": matrix.tolist()}


def _labels_by_item(ratings: Iterable[Rating], labels: Sequence[str]) -> dict[str, dict[str, str]]:
    """Item -> annotator -> label, with every label checked against `labels`."""
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels must be distinct, got {list(labels)}")
    by_item: dict[str, dict[str, str]] = {}
    for rating in ratings:
        if rating.label not in labels:
            raise ValueError(
                f"item {rating.item_id!r}: annotator {rating.annotator!r} gave label "
                f"{rating.label!r}, which is not one of {list(labels)}"
            )
        # An annotator who re-submits an item changed their mind, so the last rating wins.
        by_item.setdefault(rating.item_id, {})[rating.annotator] = rating.label
    return by_item


def _annotators(by_item: dict[str, dict[str, str]]) -> list[str]:
    return sorted({name for given in by_item.values() for name in given})


def _label_counts(given: Iterable[str], labels: Sequence[str]) -> np.ndarray:
    return np.bincount([labels.index(label) for label in given], minlength=len(labels))


def _ordered_pairs(counts: np.ndarray) -> np.ndarray:
    """Number of ordered pairs of distinct ratings with labels (c, k), from one item's counts."""
    return np.outer(counts, counts) - np.diag(counts)


def _kappa(pairs: list[tuple[str, str]], labels: Sequence[str]) -> float | None:
    if not pairs:
        return None
    first, second = [a for a, _ in pairs], [b for _, b in pairs]
    # Both annotators used one and the same label throughout: chance agreement is 1 and kappa
    # is 0/0 (scikit-learn warns and returns nan there).
    if len(set(first) | set(second)) == 1:
        return None
    # Imported here: sklearn.metrics takes a second to import, which every command that
    # aggregates labels would pay, a `sync` with nothing new included.
    from sklearn.metrics import cohen_kappa_score

    return float(cohen_kappa_score(first, second, labels=list(labels)))


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {key: round(val, 4) if isinstance(val, float) else val for key, val in row.items()}
