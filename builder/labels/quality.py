"""Accepted records into quality figures: agreement, per-annotator speed, accuracy, competence."""

from __future__ import annotations

from collections import defaultdict
from statistics import median
from typing import Any

from builder.core.scheme import question_for
from builder.labels.aggregate import Answers, Records, answer, competences, latest_per_annotator
from builder.labels.agreement import RatingTable, agreement_report, confusion_between_annotators


def ratings_of(records: Records | Answers, project: str | None = None) -> RatingTable:
    """The annotators' own answers (adjudications left out: they are not a second opinion)."""
    return Answers.of(records, project).ratings


def agreement_for(project: str, records: Records | Answers) -> dict[str, Any]:
    return agreement_report(ratings_of(records, project), question_for(project).names)


def confusion_for(project: str, records: Records | Answers) -> dict[str, Any]:
    return confusion_between_annotators(ratings_of(records, project), question_for(project).names)


def agreement_and_confusion(
    project: str, records: Records | Answers
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both figures from one reading of the records (the card needs both)."""
    ratings, names = ratings_of(records, project), question_for(project).names
    return agreement_report(ratings, names), confusion_between_annotators(ratings, names)


def control_accuracy(
    records: list[dict[str, Any]], controls: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """annotator -> their share of right answers on control items, and how many it rests on."""
    right: dict[str, int] = defaultdict(int)
    seen: dict[str, int] = defaultdict(int)
    for record in latest_per_annotator(records):
        known = controls.get(record["item_id"])
        if known is None:
            continue
        seen[record["annotator"]] += 1
        right[record["annotator"]] += answer(record) == known
    return {
        annotator: {"accuracy": round(right[annotator] / n, 4), "items": n}
        for annotator, n in sorted(seen.items())
    }


def annotator_table(
    project: str, records: list[dict[str, Any]], controls: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """One row per annotator: annotations, median seconds per task, agreement, control accuracy,
    and Dawid-Skene's estimate of their competence with its confusion matrix."""
    estimated = {c.annotator: c for c in competences(records)}
    agreement = {
        row["annotator"]: row for row in agreement_for(project, records)["agreement_with_majority"]
    }
    accuracy = control_accuracy(records, controls or {}) if project == "claims" else {}
    rows = []
    for annotator in sorted({r["annotator"] for r in records}):
        own = [r for r in records if r["annotator"] == annotator]
        times = [r["lead_time"] for r in own if r["lead_time"] is not None]
        majority = agreement.get(annotator, {})
        control = accuracy.get(annotator, {})
        competence = estimated.get(annotator)
        rows.append(
            {
                "annotator": annotator,
                "annotations": len(own),
                "ground_truth": sum(1 for r in own if r["ground_truth"]),
                "median_seconds": round(median(times), 1) if times else None,
                "agreement_with_majority": majority.get("value"),
                "agreement_items": majority.get("items", 0),
                "control_accuracy": control.get("accuracy"),
                "control_items": control.get("items", 0),
                "competence": competence.competence if competence else None,
                # confusion[true][given], over the question's labels in class-id order.
                "confusion": competence.confusion if competence else None,
            }
        )
    return rows
