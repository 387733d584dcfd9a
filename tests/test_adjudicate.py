"""Unresolved items into adjudication tasks with each annotator's answer as a prediction."""

from __future__ import annotations

import re
from typing import Any

from support import record

from builder.core.projects import labeling_config
from builder.core.report import Report
from builder.core.scheme import question_for
from builder.labels.aggregate import aggregate
from builder.tasks.adjudicate import adjudications, answer_prediction, needs_adjudication


def rec(
    item: str,
    who: str,
    label: str,
    project: str = "claims",
    ground_truth: bool = False,
    updated_at: str = "2024-06-27T10:00:00Z",
) -> dict[str, Any]:
    return record(
        item,
        who,
        label,
        project=project,
        lead_time=2.0,
        ground_truth=ground_truth,
        updated_at=updated_at,
    )


RECORDS = [
    # A tie.
    rec("s-tie", "bob", "no_claim"),
    rec("s-tie", "amy", "checkworthy"),
    # A majority of 2 out of 3: agreement 0.6667.
    rec("s-low", "amy", "checkworthy"),
    rec("s-low", "bob", "checkworthy"),
    rec("s-low", "cat", "no_claim"),
    # Everyone agrees.
    rec("s-agree", "amy", "checkworthy"),
    rec("s-agree", "bob", "checkworthy"),
    # A tie settled by an adjudicator.
    rec("s-gt", "amy", "checkworthy"),
    rec("s-gt", "bob", "no_claim"),
    rec("s-gt", "lead", "no_claim", ground_truth=True),
    # A tie whose task is not known.
    rec("s-notask", "amy", "checkworthy"),
    rec("s-notask", "bob", "no_claim"),
    # One annotation only.
    rec("s-single", "amy", "not_checkworthy"),
]


def task_data(item: str) -> dict[str, Any]:
    return {"sentence_id": item, "text": f"Text of {item}.", "headline": "H", "before": "b"}


TASKS = {item: task_data(item) for item in ("s-tie", "s-low", "s-agree", "s-gt", "s-single")}


def test_only_ties_without_a_threshold() -> None:
    chosen = adjudications("claims", aggregate(RECORDS), RECORDS, TASKS)
    assert [(a.item_id, a.reason) for a in chosen] == [("s-tie", "tie")]


def test_low_agreement_with_a_threshold() -> None:
    chosen = adjudications("claims", aggregate(RECORDS), RECORDS, TASKS, min_agreement=0.7)
    assert [(a.item_id, a.reason) for a in chosen] == [("s-low", "low agreement"), ("s-tie", "tie")]
    # At or below the item's agreement nothing more is chosen.
    chosen = adjudications("claims", aggregate(RECORDS), RECORDS, TASKS, min_agreement=0.6)
    assert [a.item_id for a in chosen] == ["s-tie"]


def test_ground_truth_settled_items_are_never_chosen() -> None:
    labels = aggregate(RECORDS)
    assert labels["s-gt"].resolved_by == "ground_truth"
    for threshold in (None, 0.99, 1.0):
        chosen = adjudications("claims", labels, RECORDS, TASKS, min_agreement=threshold)
        assert "s-gt" not in [a.item_id for a in chosen]
    assert needs_adjudication(labels["s-gt"], 1.0) is None


def test_single_annotations_are_not_low_agreement() -> None:
    labels = aggregate(RECORDS)
    assert needs_adjudication(labels["s-single"], 1.0) is None
    assert needs_adjudication(labels["s-agree"], 1.0) is None
    assert needs_adjudication(labels["s-low"], 1.0) == "low agreement"


def test_items_without_a_task_are_skipped() -> None:
    labels = aggregate(RECORDS)
    assert labels["s-notask"].label is None  # a tie, but there is no task to send
    chosen = adjudications("claims", labels, RECORDS, TASKS, min_agreement=0.7)
    assert "s-notask" not in [a.item_id for a in chosen]


def test_the_task_carries_the_original_data_and_the_answers() -> None:
    [tie] = adjudications("claims", aggregate(RECORDS), RECORDS, TASKS)
    assert tie.task == {
        **task_data("s-tie"),
        "adjudication_reason": "tie",
        "answers_given": "amy: checkworthy; bob: no_claim",
    }
    # The caller's task is not changed.
    assert "adjudication_reason" not in TASKS["s-tie"]
    # The adjudication view shows the two fields it adds.
    config = labeling_config("claims", adjudication=True)
    assert 'value="$adjudication_reason"' in config
    assert 'value="$answers_given"' in config


def test_one_prediction_per_annotator_with_their_latest_answer() -> None:
    # bob first said checkworthy, then changed to no_claim (in RECORDS): one prediction each.
    records = [rec("s-tie", "bob", "checkworthy", updated_at="2024-06-27T09:00:00Z"), *RECORDS]
    [tie] = adjudications("claims", aggregate(records), records, TASKS)
    assert [p["model_version"] for p in tie.predictions] == ["annotator amy", "annotator bob"]
    assert [p["result"][0]["value"]["choices"] for p in tie.predictions] == [
        ["checkworthy"],
        ["no_claim"],
    ]
    assert tie.task["answers_given"] == "amy: checkworthy; bob: no_claim"


def _config_names(config: str) -> tuple[set[str], set[str], dict[str, str]]:
    choices = dict(re.findall(r'<Choices name="([^"]+)" toName="([^"]+)"', config))
    texts = set(re.findall(r'<Text name="([^"]+)"', config))
    values = set(re.findall(r'<Choice value="([^"]+)"', config))
    return texts, values, choices


def test_predictions_are_valid_results_for_the_project() -> None:
    for project, label in (("claims", "not_checkworthy"), ("stance", "contradicts")):
        prediction = answer_prediction(project, "amy@x.org", label)
        assert prediction["model_version"] == "annotator amy@x.org"
        [result] = prediction["result"]
        texts, values, choices = _config_names(labeling_config(project, adjudication=True))
        assert result["type"] == "choices"
        assert result["from_name"] == question_for(project).name
        assert choices == {result["from_name"]: result["to_name"]}
        assert result["to_name"] in texts
        assert result["value"] == {"choices": [label]}
        assert set(result["value"]["choices"]) <= values


def test_stance_adjudications() -> None:
    records = [
        rec("p-1", "amy", "supports", project="stance"),
        rec("p-1", "bob", "contradicts", project="stance"),
    ]
    tasks = {"p-1": {"pair_id": "p-1", "text": "x", "target_text": "y"}}
    [item] = adjudications("stance", aggregate(records), records, tasks)
    assert item.item_id == "p-1"
    assert item.task["pair_id"] == "p-1"
    assert item.task["answers_given"] == "amy: supports; bob: contradicts"
    assert {p["result"][0]["from_name"] for p in item.predictions} == {"stance"}


def test_items_without_a_task_are_counted() -> None:
    report = Report("adjudicate")
    adjudications("claims", aggregate(RECORDS), RECORDS, TASKS, min_agreement=0.7, report=report)
    assert report.dropped == {
        "claims: tie without a task (gone from raw/ or a control)": 1,
    }
