"""Tests for builder.labels.agreement: hand-worked examples, reference libraries, edge cases."""

from __future__ import annotations

import json
import warnings
from collections import Counter
from itertools import combinations, permutations

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from builder.labels.agreement import (
    AlphaResult,
    KappaResult,
    MajorityAgreement,
    Rating,
    RatingTable,
    agreement_report,
    agreement_with_majority,
    confusion_between_annotators,
    krippendorff_alpha,
    pairwise_kappa,
    unique_majority,
)


def ratings_from(table: dict[str, dict[str, str]]) -> list[Rating]:
    """{item: {annotator: label}} -> ratings."""
    return [
        Rating(item, annotator, label)
        for item, given in table.items()
        for annotator, label in given.items()
    ]


# Example A: two annotators, six items, labels T/F.
#   item:  1 2 3 4 5 6
#   a:     T T T F F T
#   b:     T F T F T T
# Kappa: agree on 1,3,4,6 -> p_o = 4/6. Marginals a: T4 F2, b: T4 F2
#   -> p_e = (4*4 + 2*2)/36 = 5/9; kappa = (6/9 - 5/9) / (1 - 5/9) = 1/4.
# Alpha: every item has 2 ratings, so each ordered pair adds 1/(2-1) = 1.
#   coincidence matrix  T  F        n_T = 8, n_F = 4, n = 12
#                   T   6  2        D_o = (2 + 2)/12 = 1/3
#                   F   2  2        D_e = 2 * 8 * 4 / (12 * 11) = 16/33
#   alpha = 1 - (1/3) / (16/33) = 1 - 11/16 = 5/16.
EXAMPLE_A_LABELS = ["T", "F"]
EXAMPLE_A = ratings_from(
    {
        "1": {"a": "T", "b": "T"},
        "2": {"a": "T", "b": "F"},
        "3": {"a": "T", "b": "T"},
        "4": {"a": "F", "b": "F"},
        "5": {"a": "F", "b": "T"},
        "6": {"a": "T", "b": "T"},
    }
)

# Example B: three annotators, labels S/R/N, missing ratings, one unpairable item.
#   item:  i1 i2 i3 i4 i5
#   a:     S  S  R  N  S
#   b:     S  R  R  -  -
#   c:     S  -  N  N  -
# Alpha (i5 has 1 rating and is left out; m_u = ratings in item u):
#   i1 S3,   m=3: o_SS += 3*2/2 = 3
#   i2 S1 R1, m=2: o_SR += 1, o_RS += 1
#   i3 R2 N1, m=3: o_RR += 2*1/2 = 1, o_RN += 2*1/2 = 1, o_NR += 1
#   i4 N2,   m=2: o_NN += 2*1/1 = 2
#   coincidence matrix  S  R  N       n_S = 4, n_R = 3, n_N = 3, n = 10
#                   S   3  1  0       D_o = 4/10
#                   R   1  1  1       D_e = (10^2 - 4^2 - 3^2 - 3^2) / (10 * 9) = 66/90
#                   N   0  1  2       alpha = 1 - 0.4 / (66/90) = 1 - 6/11 = 5/11
# Kappa (a, b) on i1-i3: a S S R, b S R R; p_o = 2/3, p_e = (2*1 + 1*2)/9 = 4/9
#   -> (2/3 - 4/9) / (5/9) = 2/5.
# Kappa (a, c) on i1,i3,i4: a S R N, c S N N; p_o = 2/3, p_e = (1*1 + 1*0 + 1*2)/9 = 1/3
#   -> (2/3 - 1/3) / (2/3) = 1/2.
# Kappa (b, c) on i1,i3: b S R, c S N; p_o = 1/2, p_e = (1*1)/4 = 1/4 -> (1/4) / (3/4) = 1/3.
# Majority: i1 S, i2 tie (left out), i3 R, i4 N; i5 has one rating (left out).
#   a: 3 of 3, b: 2 of 2, c: i1 yes, i3 no, i4 yes -> 2 of 3.
EXAMPLE_B_LABELS = ["S", "R", "N"]
EXAMPLE_B = ratings_from(
    {
        "i1": {"a": "S", "b": "S", "c": "S"},
        "i2": {"a": "S", "b": "R"},
        "i3": {"a": "R", "b": "R", "c": "N"},
        "i4": {"a": "N", "c": "N"},
        "i5": {"a": "S"},
    }
)


def test_example_a_by_hand() -> None:
    assert krippendorff_alpha(EXAMPLE_A, EXAMPLE_A_LABELS) == AlphaResult(
        pytest.approx(5 / 16), items=6, ratings=12
    )
    assert pairwise_kappa(EXAMPLE_A, EXAMPLE_A_LABELS) == [
        KappaResult("a", "b", pytest.approx(0.25), items=6)
    ]


def test_example_b_by_hand() -> None:
    assert krippendorff_alpha(EXAMPLE_B, EXAMPLE_B_LABELS) == AlphaResult(
        pytest.approx(5 / 11), items=4, ratings=10
    )
    assert pairwise_kappa(EXAMPLE_B, EXAMPLE_B_LABELS) == [
        KappaResult("a", "b", pytest.approx(2 / 5), items=3),
        KappaResult("a", "c", pytest.approx(1 / 2), items=3),
        KappaResult("b", "c", pytest.approx(1 / 3), items=2),
    ]
    assert agreement_with_majority(EXAMPLE_B, EXAMPLE_B_LABELS) == [
        MajorityAgreement("a", 1.0, items=3),
        MajorityAgreement("b", 1.0, items=2),
        MajorityAgreement("c", pytest.approx(2 / 3), items=3),
    ]


def test_confusion_counts_ordered_pairs_of_annotators() -> None:
    # i1: 3 annotators on S -> 6 ordered pairs; i2: S/R once each way;
    # i3: R,R,N -> (R,R) 2, (R,N) 2, (N,R) 2; i4: (N,N) 2; i5: one rating, no pair.
    assert confusion_between_annotators(EXAMPLE_B, EXAMPLE_B_LABELS) == {
        "labels": ["S", "R", "N"],
        "matrix": [[6, 1, 0], [1, 2, 2], [0, 2, 2]],
    }


def test_report_is_json_and_rounded() -> None:
    report = agreement_report(EXAMPLE_B, EXAMPLE_B_LABELS)
    assert json.loads(json.dumps(report)) == {
        "labels": ["S", "R", "N"],
        "krippendorff_alpha": {"value": 0.4545, "items": 4, "ratings": 10},
        "pairwise_kappa": [
            {"annotator_a": "a", "annotator_b": "b", "value": 0.4, "items": 3},
            {"annotator_a": "a", "annotator_b": "c", "value": 0.5, "items": 3},
            {"annotator_a": "b", "annotator_b": "c", "value": 0.3333, "items": 2},
        ],
        "agreement_with_majority": [
            {"annotator": "a", "value": 1.0, "items": 3},
            {"annotator": "b", "value": 1.0, "items": 2},
            {"annotator": "c", "value": 0.6667, "items": 3},
        ],
    }


def random_ratings(seed: int) -> tuple[list[Rating], list[str], list[str], int]:
    """Random ratings with about a third missing; returns ratings, labels, annotators, items."""
    rng = np.random.default_rng(seed)
    labels = [f"label{k}" for k in range(int(rng.integers(2, 5)))]
    annotators = [f"user{k}@example.org" for k in range(int(rng.integers(2, 6)))]
    n_items = int(rng.integers(10, 60))
    # Skewed label probabilities so agreement is not just zero on average.
    weights = rng.dirichlet(np.ones(len(labels)))
    ratings = [
        Rating(f"s{item}", annotator, labels[rng.choice(len(labels), p=weights)])
        for item in range(n_items)
        for annotator in annotators
        if rng.random() > 0.35
    ]
    return ratings, labels, annotators, n_items


@pytest.mark.parametrize("seed", range(12))
def test_alpha_matches_krippendorff_package(seed: int) -> None:
    ratings, labels, annotators, n_items = random_ratings(seed)
    data = np.full((len(annotators), n_items), np.nan)
    for rating in ratings:
        data[annotators.index(rating.annotator), int(rating.item_id[1:])] = labels.index(
            rating.label
        )
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")

    per_item = (~np.isnan(data)).sum(axis=0)
    result = krippendorff_alpha(ratings, labels)
    assert result.value == pytest.approx(expected, abs=1e-12)
    assert result.items == int((per_item >= 2).sum())
    assert result.ratings == int(per_item[per_item >= 2].sum())


@pytest.mark.parametrize("seed", range(12))
def test_kappa_matches_sklearn(seed: int) -> None:
    ratings, labels, annotators, _ = random_ratings(seed)
    given = {(r.item_id, r.annotator): r.label for r in ratings}
    results = pairwise_kappa(ratings, labels)

    assert [(r.annotator_a, r.annotator_b) for r in results] == list(
        combinations(sorted(annotators), 2)
    )
    for result in results:
        shared = sorted(
            item
            for item, name in given
            if name == result.annotator_a and (item, result.annotator_b) in given
        )
        a = [given[item, result.annotator_a] for item in shared]
        b = [given[item, result.annotator_b] for item in shared]
        assert result.items == len(shared)
        assert result.value == pytest.approx(cohen_kappa_score(a, b, labels=labels), abs=1e-12)


def test_no_pairable_items() -> None:
    # Each item has a single rating, so no pair of ratings exists anywhere.
    ratings = [Rating("1", "a", "T"), Rating("2", "b", "F"), Rating("3", "a", "F")]
    assert krippendorff_alpha(ratings, ["T", "F"]) == AlphaResult(None, items=0, ratings=0)
    assert pairwise_kappa(ratings, ["T", "F"]) == [KappaResult("a", "b", None, items=0)]
    assert agreement_with_majority(ratings, ["T", "F"]) == [
        MajorityAgreement("a", None, items=0),
        MajorityAgreement("b", None, items=0),
    ]
    assert confusion_between_annotators(ratings, ["T", "F"])["matrix"] == [[0, 0], [0, 0]]


def test_no_ratings_at_all() -> None:
    assert krippendorff_alpha([], ["T", "F"]) == AlphaResult(None, items=0, ratings=0)
    assert pairwise_kappa([], ["T", "F"]) == []
    assert agreement_with_majority([], ["T", "F"]) == []


def test_perfect_agreement() -> None:
    ratings = ratings_from(
        {
            "1": {"a": "T", "b": "T", "c": "T"},
            "2": {"a": "F", "b": "F", "c": "F"},
            "3": {"a": "T", "b": "T"},
        }
    )
    assert krippendorff_alpha(ratings, ["T", "F"]) == AlphaResult(1.0, items=3, ratings=8)
    assert [r.value for r in pairwise_kappa(ratings, ["T", "F"])] == [1.0, 1.0, 1.0]
    assert [r.value for r in agreement_with_majority(ratings, ["T", "F"])] == [1.0, 1.0, 1.0]


def test_all_same_label_leaves_alpha_and_kappa_undefined() -> None:
    # Expected disagreement is 0 (alpha 0/0) and expected agreement is 1 (kappa 0/0);
    # the reference libraries refuse or return nan here as well.
    ratings = ratings_from({"1": {"a": "T", "b": "T"}, "2": {"a": "T", "b": "T"}})
    assert krippendorff_alpha(ratings, ["T", "F"]) == AlphaResult(None, items=2, ratings=4)
    assert pairwise_kappa(ratings, ["T", "F"]) == [KappaResult("a", "b", None, items=2)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(cohen_kappa_score(["T", "T"], ["T", "T"], labels=["T", "F"]))
    with pytest.raises(ValueError):
        krippendorff.alpha(reliability_data=[[0, 0], [0, 0]], level_of_measurement="nominal")
    # Majority agreement is still well defined: everyone matched the majority.
    assert [r.value for r in agreement_with_majority(ratings, ["T", "F"])] == [1.0, 1.0]


def test_kappa_defined_when_one_annotator_uses_one_label() -> None:
    # a always says T, b varies: p_o = 1/2, p_e = (2*1 + 0*1)/4 = 1/2, kappa = 0 (not None).
    ratings = ratings_from({"1": {"a": "T", "b": "T"}, "2": {"a": "T", "b": "F"}})
    assert pairwise_kappa(ratings, ["T", "F"]) == [KappaResult("a", "b", 0.0, items=2)]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["T", "F", "T"], "T"),
        (["T", "F"], None),
        (["T", "F", "F", "T", "N"], None),
        (["N", "N", "T", "F"], "N"),
        (["T"], "T"),
        ([], None),
    ],
)
def test_unique_majority(given: list[str], expected: str | None) -> None:
    names = ["T", "F", "N"]
    counts = np.array([[given.count(name) for name in names]])
    [found] = unique_majority(counts).tolist()
    assert (names[found] if found >= 0 else None) == expected


def majority_label(given: list[str]) -> str | None:
    """The definition: the one most common label, None on a tie or when none is given."""
    top = Counter(given).most_common(2)
    if not top or (len(top) == 2 and top[0][1] == top[1][1]):
        return None
    return top[0][0]


def test_ties_are_left_out_of_majority_agreement() -> None:
    # Item 1 is a 1-1 tie and item 2 a 1-1-1 tie: only item 3 (T, T, F) counts.
    ratings = ratings_from(
        {
            "1": {"a": "T", "b": "F"},
            "2": {"a": "T", "b": "F", "c": "N"},
            "3": {"a": "T", "b": "T", "c": "F"},
        }
    )
    assert agreement_with_majority(ratings, ["T", "F", "N"]) == [
        MajorityAgreement("a", 1.0, items=1),
        MajorityAgreement("b", 1.0, items=1),
        MajorityAgreement("c", 0.0, items=1),
    ]


def test_annotator_rating_an_item_twice_keeps_the_last_rating() -> None:
    # a first said F on item 1, then T; only T counts, so this equals Example A.
    twice = [Rating("1", "a", "F"), *EXAMPLE_A]
    assert krippendorff_alpha(twice, EXAMPLE_A_LABELS) == AlphaResult(
        pytest.approx(5 / 16), items=6, ratings=12
    )
    assert pairwise_kappa(twice, EXAMPLE_A_LABELS) == [
        KappaResult("a", "b", pytest.approx(0.25), items=6)
    ]
    assert confusion_between_annotators(twice, EXAMPLE_A_LABELS)["matrix"] == [[6, 2], [2, 2]]

    # The other way round the later F wins: item 1 becomes a disagreement.
    changed = [*EXAMPLE_A, Rating("1", "a", "F")]
    # Agreement on 3,4,6 -> p_o = 3/6; a: T3 F3, b: T4 F2 -> p_e = (12 + 6)/36 = 1/2; kappa 0.
    assert pairwise_kappa(changed, EXAMPLE_A_LABELS) == [KappaResult("a", "b", 0.0, items=6)]
    # An annotator is never paired with themselves, so a lone re-rater gives no pair at all.
    alone = [Rating("1", "a", "F"), Rating("1", "a", "T")]
    assert confusion_between_annotators(alone, EXAMPLE_A_LABELS)["matrix"] == [[0, 0], [0, 0]]
    assert krippendorff_alpha(alone, EXAMPLE_A_LABELS) == AlphaResult(None, items=0, ratings=0)


@pytest.mark.parametrize(
    "function",
    [
        krippendorff_alpha,
        pairwise_kappa,
        agreement_with_majority,
        agreement_report,
        confusion_between_annotators,
    ],
)
def test_unknown_label_names_item_annotator_and_label(function) -> None:
    ratings = [Rating("s1", "ann@example.org", "T"), Rating("s2", "bob@example.org", "Maybe")]
    with pytest.raises(ValueError, match=r"'s2'.*'bob@example\.org'.*'Maybe'"):
        function(ratings, ["T", "F"])


def test_duplicate_labels_are_rejected() -> None:
    with pytest.raises(ValueError, match="distinct"):
        krippendorff_alpha([Rating("1", "a", "T")], ["T", "F", "T"])


@pytest.mark.parametrize("seed", range(12))
def test_majority_agreement_and_confusion_match_their_definitions(seed: int) -> None:
    ratings, labels, annotators, _ = random_ratings(seed)
    by_item: dict[str, dict[str, str]] = {}
    for rating in ratings:
        by_item.setdefault(rating.item_id, {})[rating.annotator] = rating.label
    counted = dict.fromkeys(annotators, 0)
    matched = dict.fromkeys(annotators, 0)
    pairs = np.zeros((len(labels), len(labels)), dtype=int)
    for given in by_item.values():
        for a, b in permutations(given, 2):
            pairs[labels.index(given[a]), labels.index(given[b])] += 1
        majority = majority_label(list(given.values())) if len(given) >= 2 else None
        for name, label in given.items():
            if majority is not None:
                counted[name] += 1
                matched[name] += label == majority

    rated = sorted({r.annotator for r in ratings})
    assert agreement_with_majority(ratings, labels) == [
        MajorityAgreement(
            name, matched[name] / counted[name] if counted[name] else None, counted[name]
        )
        for name in rated
    ]
    assert confusion_between_annotators(ratings, labels)["matrix"] == pairs.tolist()


def test_a_rating_table_gives_what_its_ratings_give() -> None:
    ratings, labels, _, _ = random_ratings(3)
    table = RatingTable.of(ratings, labels)
    assert agreement_report(table, labels) == agreement_report(ratings, labels)
    assert confusion_between_annotators(table, labels) == confusion_between_annotators(
        ratings, labels
    )
    with pytest.raises(ValueError, match="coded over"):
        agreement_report(table, list(reversed(labels)))


def test_renamed_annotators_keep_their_ratings_and_sort_by_the_new_names() -> None:
    ratings = ratings_from({"s1": {"amy": "a", "bob": "b"}, "s2": {"amy": "a", "bob": "a"}})
    renamed = RatingTable.of(ratings, ["a", "b"]).renamed({"amy": "zed", "bob": "abe"}.get)
    assert renamed.annotators == ["abe", "zed"]
    assert agreement_with_majority(renamed, ["a", "b"]) == [
        MajorityAgreement("abe", 1.0, 1),
        MajorityAgreement("zed", 1.0, 1),
    ]
    kappa = pairwise_kappa(renamed, ["a", "b"])
    assert [(k.annotator_a, k.annotator_b, k.items) for k in kappa] == [("abe", "zed", 2)]
