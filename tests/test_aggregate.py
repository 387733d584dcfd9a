"""Accepted records into one label per item: majority, ties unresolved, ground truth settles."""

from __future__ import annotations

import random
from typing import Any

import pytest
from support import record

from builder.core.scheme import question_for
from builder.labels.aggregate import (
    DS_MIN_SHARED_ITEMS,
    Answers,
    aggregate,
    competences,
    effective_method,
    latest_per_annotator,
    shared_items,
)
from builder.labels.quality import agreement_for
from builder.tasks.adjudicate import adjudications


def rec(
    item: str,
    annotator: str,
    label: str,
    updated_at: str | None = "2024-06-27T10:00:00Z",
    ground_truth: bool = False,
    project: str = "claims",
    annotation_id: int | None = None,
) -> dict[str, Any]:
    return record(
        item,
        annotator,
        label,
        project=project,
        ground_truth=ground_truth,
        updated_at=updated_at,
        annotation_id=annotation_id,
    )


def test_the_majority_is_the_label() -> None:
    labels = aggregate(
        [rec("s1", "a", "checkworthy"), rec("s1", "b", "checkworthy"), rec("s1", "c", "no_claim")]
    )
    item = labels["s1"]
    assert item.label == "checkworthy"
    assert item.resolved_by == "majority"
    assert item.annotations == 3
    assert item.agreement == round(2 / 3, 4)
    assert item.votes == {"checkworthy": 2, "no_claim": 1}


def test_a_single_annotation_is_a_majority_of_one() -> None:
    item = aggregate([rec("s1", "a", "no_claim")])["s1"]
    assert (item.label, item.resolved_by, item.agreement) == ("no_claim", "majority", 1.0)


def test_a_tie_is_unresolved() -> None:
    item = aggregate([rec("s1", "a", "checkworthy"), rec("s1", "b", "no_claim")])["s1"]
    assert item.label is None
    assert item.resolved_by == "tie"
    assert item.agreement == 0.0
    assert item.annotations == 2
    assert item.votes == {"checkworthy": 1, "no_claim": 1}


def test_a_three_way_tie_is_unresolved() -> None:
    records = [rec("s1", "a", "checkworthy"), rec("s1", "b", "no_claim")]
    records.append(rec("s1", "c", "not_checkworthy"))
    assert aggregate(records)["s1"].label is None


def test_ground_truth_settles_a_tie() -> None:
    records = [
        rec("s1", "a", "checkworthy"),
        rec("s1", "b", "no_claim"),
        rec("s1", "lead", "no_claim", ground_truth=True),
    ]
    item = aggregate(records)["s1"]
    assert item.label == "no_claim"
    assert item.resolved_by == "ground_truth"
    # The adjudication does not count as a vote.
    assert item.annotations == 2
    assert item.agreement == 0.5


def test_ground_truth_overrides_a_majority() -> None:
    records = [
        rec("s1", "a", "checkworthy"),
        rec("s1", "b", "checkworthy"),
        rec("s1", "lead", "not_checkworthy", ground_truth=True),
    ]
    item = aggregate(records)["s1"]
    assert (item.label, item.resolved_by) == ("not_checkworthy", "ground_truth")
    assert item.agreement == 0.0


def test_ground_truth_alone_labels_an_item() -> None:
    item = aggregate([rec("s1", "lead", "checkworthy", ground_truth=True)])["s1"]
    assert (item.label, item.resolved_by, item.annotations) == ("checkworthy", "ground_truth", 0)


def test_the_newest_ground_truth_wins() -> None:
    records = [
        rec("s1", "lead", "no_claim", "2024-06-28T09:00:00Z", ground_truth=True),
        rec("s1", "lead", "checkworthy", "2024-06-27T09:00:00Z", ground_truth=True),
    ]
    assert aggregate(records)["s1"].label == "no_claim"


def test_a_reannotation_by_the_same_annotator_counts_once_latest() -> None:
    records = [
        rec("s1", "a", "no_claim", "2024-06-27T10:00:00Z"),
        rec("s1", "b", "checkworthy", "2024-06-27T10:00:00Z"),
        rec("s1", "a", "checkworthy", "2024-06-27T11:00:00Z"),
    ]
    item = aggregate(records)["s1"]
    assert item.annotations == 2
    assert item.votes == {"checkworthy": 2}
    assert (item.label, item.agreement) == ("checkworthy", 1.0)


def test_the_latest_annotation_wins_whatever_the_input_order() -> None:
    later = rec("s1", "a", "checkworthy", "2024-06-27T11:00:00Z")
    earlier = rec("s1", "a", "no_claim", "2024-06-27T10:00:00Z")
    other = rec("s1", "b", "no_claim", "2024-06-27T10:00:00Z")
    # Without "latest only", a's two annotations would give no_claim a majority of 2 to 1.
    for records in ([earlier, later, other], [later, earlier, other]):
        item = aggregate(records)["s1"]
        assert item.label is None and item.resolved_by == "tie"
        assert item.votes == {"checkworthy": 1, "no_claim": 1}


def test_latest_per_annotator_keys_by_item_and_annotator() -> None:
    records = [
        rec("s1", "a", "no_claim"),
        rec("s2", "a", "checkworthy"),
        rec("s1", "b", "no_claim"),
        rec("s1", "a", "checkworthy", "2024-06-28T00:00:00Z"),
        rec("s1", "lead", "no_claim", ground_truth=True),
    ]
    latest = latest_per_annotator(records)
    assert sorted((r["item_id"], r["annotator"], r["answers"]["claim"][0]) for r in latest) == [
        ("s1", "a", "checkworthy"),
        ("s1", "b", "no_claim"),
        ("s2", "a", "checkworthy"),
    ]


def test_items_are_labeled_independently() -> None:
    labels = aggregate(
        [
            rec("s1", "a", "checkworthy"),
            rec("s2", "a", "no_claim"),
            rec("s2", "b", "checkworthy"),
        ]
    )
    assert sorted(labels) == ["s1", "s2"]
    assert labels["s1"].label == "checkworthy"
    assert labels["s2"].label is None


def test_stance_records_use_the_stance_answer() -> None:
    records = [
        rec("p1", "a", "contradicts", project="stance"),
        rec("p1", "b", "contradicts", project="stance"),
    ]
    assert aggregate(records)["p1"].label == "contradicts"


def test_no_records_no_labels() -> None:
    assert aggregate([]) == {}


def competence_example() -> list[dict[str, Any]]:
    """120 items: `good1` and `good2` always give the true label, `coin` only on half of them
    (right on items 0, 1, wrong on 2, 3, and so on); then `coin` alone on `lone`, and `good1`
    against `coin` on `split`."""
    records = []
    for i in range(120):
        truth = "checkworthy" if i % 2 else "no_claim"
        other = "no_claim" if i % 2 else "checkworthy"
        records += [rec(f"s{i:03}", "good1", truth), rec(f"s{i:03}", "good2", truth)]
        records.append(rec(f"s{i:03}", "coin", truth if i % 4 < 2 else other))
    records.append(rec("lone", "coin", "checkworthy"))
    records += [rec("split", "good1", "checkworthy"), rec("split", "coin", "no_claim")]
    return records


def test_dawid_skene_competences_rank_and_confusion() -> None:
    by_name = {c.annotator: c for c in competences(competence_example())}
    assert list(by_name) == ["coin", "good1", "good2"]
    # The good ones never err: P(answer = true label) is 1 for both labels they used.
    assert by_name["good1"].competence == pytest.approx(1.0, abs=1e-3)
    assert by_name["good2"].competence == pytest.approx(1.0, abs=1e-3)
    # coin is right on 61 of its 122 answers: a coin's competence, and a flat confusion matrix.
    coin = by_name["coin"]
    assert coin.competence == pytest.approx(0.5, abs=0.02)
    assert coin.items == 122
    assert coin.labels == ["no_claim", "not_checkworthy", "checkworthy"]
    no_claim, _, checkworthy = coin.confusion  # rows: the true label; columns: the answer
    assert no_claim[0] == pytest.approx(0.5, abs=0.02)
    assert no_claim[2] == pytest.approx(0.5, abs=0.02)
    assert checkworthy[2] == pytest.approx(0.5, abs=0.02)


def test_dawid_skene_posteriors_weigh_annotators_by_competence() -> None:
    labels = aggregate(competence_example(), "dawid-skene", min_posterior=0.8)
    # Outvoted coin changes nothing: the two reliable annotators make the label near certain.
    assert labels["s002"].label == "no_claim"
    assert labels["s002"].resolved_by == "dawid-skene"
    assert labels["s002"].posterior == pytest.approx(1.0, abs=1e-3)
    assert labels["s002"].agreement == round(2 / 3, 4)
    # One against one: a majority ties, Dawid-Skene believes the reliable annotator.
    assert aggregate(competence_example())["split"].resolved_by == "tie"
    assert labels["split"].label == "checkworthy"
    assert labels["split"].posterior == pytest.approx(1.0, abs=1e-3)


def test_dawid_skene_below_the_minimum_posterior_goes_to_adjudication() -> None:
    records = competence_example()
    labels = aggregate(records, "dawid-skene", min_posterior=0.8)
    # coin alone is a coin toss: the posterior is about 0.5, below 0.8, so unresolved.
    lone = labels["lone"]
    assert lone.label is None
    assert lone.resolved_by == "low posterior"
    assert lone.posterior == pytest.approx(0.5, abs=0.05)
    tasks = {item: {"sentence_id": item, "text": item} for item in labels}
    chosen = {a.item_id: a.reason for a in adjudications("claims", labels, records, tasks)}
    assert chosen == {"lone": "low posterior"}
    # A lower minimum accepts it.
    assert aggregate(records, "dawid-skene", min_posterior=0.4)["lone"].label is not None


def test_dawid_skene_ground_truth_still_wins() -> None:
    records = competence_example()
    # The adjudicator overrules both reliable annotators on s002 and settles the lone item.
    records.append(rec("s002", "lead", "checkworthy", ground_truth=True))
    records.append(rec("lone", "lead", "no_claim", ground_truth=True))
    labels = aggregate(records, "dawid-skene")
    assert (labels["s002"].label, labels["s002"].resolved_by) == ("checkworthy", "ground_truth")
    assert (labels["lone"].label, labels["lone"].resolved_by) == ("no_claim", "ground_truth")
    assert labels["s002"].posterior == 1.0
    assert "lead" not in {c.annotator for c in competences(records)}


def test_dawid_skene_needs_shared_items_else_the_majority_decides() -> None:
    # Below DS_MIN_SHARED_ITEMS items with 2+ annotations Dawid-Skene did no better than the
    # majority (README, "Measured"): the majority decides and no competence is estimated.
    few = [r for r in competence_example() if r["item_id"] < f"s{DS_MIN_SHARED_ITEMS - 30:03}"]
    assert shared_items(few) < DS_MIN_SHARED_ITEMS
    assert effective_method(few, "dawid-skene") == "majority"
    assert {item.resolved_by for item in aggregate(few, "dawid-skene").values()} == {"majority"}
    assert competences(few) == []
    assert effective_method(competence_example(), "dawid-skene") == "dawid-skene"


def test_unknown_aggregation_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown aggregation 'mean'.*majority, dawid-skene"):
        aggregate([rec("s1", "a", "no_claim")], "mean")


def _random_records(seed: int) -> list[dict[str, Any]]:
    """Re-annotations with equal and missing timestamps, ground truth among them, shuffled."""
    rng = random.Random(seed)
    names = question_for("claims").names
    stamps = [None, "2024-06-27T10:00:00Z", "2024-06-27T11:00:00Z"]
    records = [
        rec(
            f"s{rng.randrange(15)}",
            f"ann{rng.randrange(4)}",
            rng.choice(names),
            updated_at=rng.choice(stamps),
            ground_truth=rng.random() < 0.1,
            annotation_id=rng.randrange(5),
        )
        for _ in range(120)
    ]
    rng.shuffle(records)
    return records


@pytest.mark.parametrize("seed", range(8))
def test_latest_per_annotator_is_the_last_of_the_records_in_time_order(seed: int) -> None:
    records = _random_records(seed)
    # The definition: sorted by (updated_at, annotation id), stable, the last one kept.
    expected: dict[tuple[str, str], dict[str, Any]] = {}
    for r in sorted(records, key=lambda r: (r["updated_at"] or "", r["annotation_id"])):
        if not r["ground_truth"]:
            expected[(r["item_id"], r["annotator"])] = r
    kept = latest_per_annotator(records)
    assert sorted(map(id, kept)) == sorted(map(id, expected.values()))


@pytest.mark.parametrize("seed", range(4))
def test_answers_coded_once_give_what_the_records_give(seed: int) -> None:
    records = _random_records(seed)
    answers = Answers.of(records)
    assert aggregate(answers) == aggregate(records)
    assert shared_items(answers) == shared_items(records)
    assert agreement_for("claims", answers) == agreement_for("claims", records)
    renamed = [{**r, "annotator": r["annotator"].upper()} for r in records]
    assert agreement_for("claims", answers.renamed(str.upper)) == agreement_for("claims", renamed)


def test_answers_are_of_one_project() -> None:
    with pytest.raises(ValueError, match="several projects"):
        Answers.of(
            [rec("s1", "amy", "checkworthy"), rec("p1", "amy", "supports", project="stance")]
        )
    assert Answers.of([], "stance").ratings.labels == tuple(question_for("stance").names)
