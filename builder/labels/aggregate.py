"""Accepted annotation records into one label per item: ground truth, else a unique majority."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from builder.core.scheme import question_for
from builder.labels.agreement import majority_label


@dataclass(frozen=True)
class ItemLabel:
    item_id: str
    label: str | None  # None: unresolved (a tie)
    annotations: int
    agreement: float  # share of the item's annotations that gave the label
    resolved_by: str  # "ground_truth", "majority" or "tie"
    votes: dict[str, int]


def answer(record: dict[str, Any]) -> str:
    question = question_for(record["project"])
    return record["answers"][question.name][0]


def latest_per_annotator(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One annotation per annotator and item: a re-annotation replaces the earlier one."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for record in sorted(records, key=lambda r: (r["updated_at"] or "", r["annotation_id"])):
        if not record["ground_truth"]:
            latest[(record["item_id"], record["annotator"])] = record
    return list(latest.values())


def aggregate(records: list[dict[str, Any]]) -> dict[str, ItemLabel]:
    """item id -> its label; a tie stays unresolved unless a ground-truth annotation settles it."""
    by_item: dict[str, list[dict[str, Any]]] = defaultdict(list)
    truth: dict[str, dict[str, Any]] = {}
    for record in records:
        if record["ground_truth"]:
            # The newest ground-truth annotation wins if an adjudicator changed their mind.
            previous = truth.get(record["item_id"])
            if previous is None or (record["updated_at"] or "") >= (previous["updated_at"] or ""):
                truth[record["item_id"]] = record
    for record in latest_per_annotator(records):
        by_item[record["item_id"]].append(record)
    labels: dict[str, ItemLabel] = {}
    for item_id in sorted(set(by_item) | set(truth)):
        given = [answer(r) for r in by_item.get(item_id, [])]
        votes = {label: given.count(label) for label in sorted(set(given))}
        if item_id in truth:
            label, how = answer(truth[item_id]), "ground_truth"
        else:
            label = majority_label(given)
            how = "majority" if label is not None else "tie"
        agreement = votes.get(label, 0) / len(given) if given and label is not None else 0.0
        labels[item_id] = ItemLabel(item_id, label, len(given), round(agreement, 4), how, votes)
    return labels
