"""Per-annotator quality figures on a small hand-made set, with values computed by hand."""

from __future__ import annotations

from typing import Any

from support import record

from builder.labels.quality import agreement_for, annotator_table, confusion_for, ratings_of


def rec(
    item: str,
    who: str,
    label: str,
    lead_time: float | None,
    gt: bool = False,
    project: str = "claims",
) -> dict[str, Any]:
    return record(item, who, label, project=project, lead_time=lead_time, ground_truth=gt)


CW, NC = "checkworthy", "no_claim"

RECORDS = [
    # s1: majority checkworthy
    rec("s1", "amy", CW, 2.0),
    rec("s1", "bob", CW, 3.0),
    rec("s1", "cat", NC, 1.0),
    # s2: majority no_claim
    rec("s2", "amy", NC, 4.0),
    rec("s2", "bob", CW, 8.0),
    rec("s2", "cat", NC, 2.0),
    # s3: a tie (no majority), settled by the lead
    rec("s3", "amy", CW, 10.0),
    rec("s3", "bob", NC, None),
    rec("s3", "lead", NC, 30.0, gt=True),
    # s4: one annotation (no majority)
    rec("s4", "amy", CW, 6.0),
]

CONTROLS = {"s2": "no_claim", "s4": "checkworthy"}


def test_annotator_table_by_hand() -> None:
    rows = {row["annotator"]: row for row in annotator_table("claims", RECORDS, CONTROLS)}
    assert list(rows) == ["amy", "bob", "cat", "lead"]
    # Four items are too few shared ones for Dawid-Skene to estimate anyone's competence.
    # amy: 4 annotations, times 2 4 10 6 -> median 5.0; majority items s1 (right), s2 (right);
    # controls s2 (right) and s4 (right).
    assert rows["amy"] == {
        "annotator": "amy",
        "annotations": 4,
        "ground_truth": 0,
        "median_seconds": 5.0,
        "agreement_with_majority": 1.0,
        "agreement_items": 2,
        "control_accuracy": 1.0,
        "control_items": 2,
        "competence": None,
        "confusion": None,
    }
    # bob: 3 annotations, times 3 8 (one missing) -> 5.5; s1 right, s2 wrong; s2 control wrong.
    assert rows["bob"] == {
        "annotator": "bob",
        "annotations": 3,
        "ground_truth": 0,
        "median_seconds": 5.5,
        "agreement_with_majority": 0.5,
        "agreement_items": 2,
        "control_accuracy": 0.0,
        "control_items": 1,
        "competence": None,
        "confusion": None,
    }
    # cat: times 1 2 -> 1.5; s1 wrong, s2 right; s2 control right.
    assert rows["cat"] == {
        "annotator": "cat",
        "annotations": 2,
        "ground_truth": 0,
        "median_seconds": 1.5,
        "agreement_with_majority": 0.5,
        "agreement_items": 2,
        "control_accuracy": 1.0,
        "control_items": 1,
        "competence": None,
        "confusion": None,
    }
    # The adjudicator is listed, but their answer is no rating.
    assert rows["lead"] == {
        "annotator": "lead",
        "annotations": 1,
        "ground_truth": 1,
        "median_seconds": 30.0,
        "agreement_with_majority": None,
        "agreement_items": 0,
        "control_accuracy": None,
        "control_items": 0,
        "competence": None,
        "confusion": None,
    }


def test_no_lead_times_and_no_controls() -> None:
    records = [rec("s1", "amy", CW, None), rec("s1", "bob", CW, None)]
    rows = annotator_table("claims", records)
    assert [(r["median_seconds"], r["control_accuracy"], r["control_items"]) for r in rows] == [
        (None, None, 0),
        (None, None, 0),
    ]
    assert [r["agreement_with_majority"] for r in rows] == [1.0, 1.0]


def test_stance_has_no_control_accuracy() -> None:
    records = [rec("p1", "amy", "supports", 1.0, project="stance")]
    [row] = annotator_table("stance", records, {"p1": "supports"})
    assert row["control_accuracy"] is None and row["control_items"] == 0


def test_adjudications_are_not_ratings() -> None:
    ratings = ratings_of(RECORDS)
    assert "lead" not in ratings.annotators
    assert len(ratings.item) == 9
    report = agreement_for("claims", RECORDS)
    # s3 stays a tie among the annotators: with the lead as a third rater it would have a
    # majority and amy and bob would each get a third item.
    majority = {row["annotator"]: row for row in report["agreement_with_majority"]}
    assert sorted(majority) == ["amy", "bob", "cat"]
    assert majority["amy"]["items"] == 2
    assert report["krippendorff_alpha"]["items"] == 3  # s1, s2, s3 (s4 has one rating)
    assert report["krippendorff_alpha"]["ratings"] == 8
    assert report == agreement_for("claims", [r for r in RECORDS if not r["ground_truth"]])


def test_agreement_by_hand() -> None:
    # s1: cw cw nc; s2: nc cw nc; s3: cw nc. Label totals: cw 4, nc 4, n = 8.
    # Disagreeing ordered pairs: s1 4/(3-1) = 2, s2 4/2 = 2, s3 2/1 = 2 -> D_o sum 6.
    # Expected: n*n - sum(t*t) = 64 - 32 = 32. alpha = 1 - (n-1)*6/32 = 1 - 42/32 = -0.3125.
    report = agreement_for("claims", RECORDS)
    assert report["krippendorff_alpha"]["value"] == -0.3125
    kappas = {(k["annotator_a"], k["annotator_b"]): k for k in report["pairwise_kappa"]}
    # amy/bob on s1 s2 s3: (cw,cw) (nc,cw) (cw,nc): agreed 1 of 3; amy cw 2 nc 1, bob cw 2 nc 1;
    # chance*9 = 4 + 1 = 5; kappa = (3*1 - 5) / (9 - 5) = -0.5
    assert kappas[("amy", "bob")]["value"] == -0.5
    assert kappas[("amy", "bob")]["items"] == 3
    # amy/cat on s1 s2: (cw,nc) (nc,nc): agreed 1; amy cw1 nc1, cat nc2; chance*4 = 2;
    # kappa = (2*1 - 2) / (4 - 2) = 0
    assert kappas[("amy", "cat")]["value"] == 0.0
    assert kappas[("amy", "cat")]["items"] == 2


def test_confusion_between_annotators_leaves_adjudications_out() -> None:
    confusion = confusion_for("claims", RECORDS)
    assert confusion["labels"] == ["no_claim", "not_checkworthy", "checkworthy"]
    # Ordered pairs: s1 cw-cw 2, cw-nc 2, nc-cw 2; s2 nc-nc 2, nc-cw 2, cw-nc 2;
    # s3 cw-nc 1, nc-cw 1; s4 none.
    assert confusion["matrix"] == [[2, 0, 5], [0, 0, 0], [5, 0, 2]]
