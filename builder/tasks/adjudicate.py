"""Unresolved items and their annotators' answers into adjudication tasks (a pure step)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from builder.core.projects import choice_result
from builder.core.report import Report
from builder.labels.aggregate import ItemLabel, answer, latest_per_annotator


@dataclass(frozen=True)
class Adjudication:
    item_id: str
    reason: str  # "tie", "low posterior" or "low agreement"
    task: dict[str, Any]
    predictions: list[dict[str, Any]]


def needs_adjudication(label: ItemLabel, min_agreement: float | None) -> str | None:
    """Why an item needs an adjudicator, or None. Ground truth already settled it."""
    if label.resolved_by == "ground_truth":
        return None
    if label.label is None:
        # A Dawid-Skene label below the minimum posterior is unresolved, like a tie.
        return "low posterior" if label.resolved_by == "low posterior" else "tie"
    if min_agreement is not None and label.annotations >= 2 and label.agreement < min_agreement:
        return "low agreement"
    return None


def answer_prediction(project: str, annotator: str, label: str) -> dict[str, Any]:
    """One annotator's answer as a Label Studio prediction, named after who gave it."""
    return {
        "model_version": f"annotator {annotator}",
        "score": 1.0,
        "result": choice_result(project, label),
    }


def adjudications(
    project: str,
    labels: dict[str, ItemLabel],
    records: list[dict[str, Any]],
    task_of_item: dict[str, dict[str, Any]],
    min_agreement: float | None = None,
    report: Report | None = None,
) -> list[Adjudication]:
    """The items to adjudicate, each with the task the annotators saw and their answers.

    An item that needs it but has no task (gone from raw/, or a control item) is counted in
    `report`."""
    answers: dict[str, list[tuple[str, str]]] = {}
    for record in latest_per_annotator(records):
        answers.setdefault(record["item_id"], []).append((record["annotator"], answer(record)))
    out = []
    for item_id, label in sorted(labels.items()):
        reason = needs_adjudication(label, min_agreement)
        if reason is None:
            continue
        if item_id not in task_of_item:
            if report is not None:
                report.drop(f"{project}: {reason} without a task (gone from raw/ or a control)")
            continue
        given = sorted(answers.get(item_id, []))
        task = dict(task_of_item[item_id])
        task["adjudication_reason"] = reason
        task["answers_given"] = "; ".join(f"{who}: {what}" for who, what in given)
        out.append(
            Adjudication(
                item_id=item_id,
                reason=reason,
                task=task,
                predictions=[answer_prediction(project, who, what) for who, what in given],
            )
        )
    return out
