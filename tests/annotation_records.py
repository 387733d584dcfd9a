"""Accepted annotation records, as builder.labels.validate writes them, made by hand."""

from __future__ import annotations

from itertools import count
from typing import Any

from builder.core.scheme import question_for

_annotation_ids = count(1)


def record(
    item: str,
    annotator: str,
    label: str,
    *,
    project: str = "claims",
    lead_time: float | None = 1.0,
    ground_truth: bool = False,
    updated_at: str | None = "2024-06-27T10:00:00Z",
    annotation_id: int | None = None,
) -> dict[str, Any]:
    """One record; annotation ids count up across the test session unless one is given."""
    return {
        "project": project,
        "item_id": item,
        "task_id": 1,
        "annotation_id": annotation_id if annotation_id is not None else next(_annotation_ids),
        "annotator": annotator,
        "answers": {question_for(project).name: [label]},
        "lead_time": lead_time,
        "created_at": updated_at,
        "updated_at": updated_at,
        "ground_truth": ground_truth,
    }
