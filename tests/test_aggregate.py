"""Accepted records into one label per item: majority, ties unresolved, ground truth settles."""

from __future__ import annotations

from typing import Any

from support import record

from builder.labels.aggregate import aggregate, latest_per_annotator


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
