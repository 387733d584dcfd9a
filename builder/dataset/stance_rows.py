"""The stance pull (records and the saved export's task data) into the dataset's stance rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from builder.core.config import Settings
from builder.core.projects import STANCE_PROJECT
from builder.labels.aggregate import aggregate
from builder.labels.records import project_records, pull_summary, pulled_tasks


@dataclass
class StanceParts:
    rows: list[dict[str, Any]] = field(default_factory=list)
    story_of_pair: dict[str, str] = field(default_factory=dict)
    article_of_pair: dict[str, str] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    unresolved: list[str] = field(default_factory=list)
    unlabeled: int = 0  # pairs pulled as tasks without an accepted annotation


def stance_parts(settings: Settings) -> StanceParts | None:
    """None when no stance round was pulled yet."""
    summary = pull_summary(settings, "stance")
    if summary is None:
        return None
    records = project_records(settings, "stance")
    data = pulled_tasks(settings, "stance")
    labels = aggregate(records, settings.aggregation, settings.min_posterior)
    names = STANCE_PROJECT.question.names
    parts = StanceParts(records=records, summary=summary)
    for pair_id, pair in sorted(data.items()):
        parts.story_of_pair[pair_id] = pair["story_id"]
        parts.article_of_pair[pair_id] = pair["article_id"]
        item = labels.get(pair_id)
        if item is None:
            parts.unlabeled += 1
            continue
        if item.label is None:
            parts.unresolved.append(pair_id)
            continue
        parts.rows.append(
            STANCE_PROJECT.row(
                pair,
                names.index(item.label),
                num_annotations=item.annotations,
                agreement=item.agreement,
                posterior=item.posterior,
                resolved_by=item.resolved_by,
            )
        )
    return parts
