"""Label Studio exports into saved snapshots, then into accepted records and rejects on disk."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.atomic import write_json, write_jsonl, write_new
from builder.config import Settings
from builder.validate import Validated, parse_export, validate_export


@dataclass(frozen=True)
class PullPaths:
    """Where one project's pulls live under exports/."""

    root: Path
    project: str

    @property
    def snapshots(self) -> Path:
        return self.root / "pulls"

    @property
    def accepted(self) -> Path:
        return self.root / "annotations" / f"{self.project}.jsonl"

    @property
    def rejects(self) -> Path:
        return self.root / "annotations" / f"{self.project}.rejects.jsonl"

    @property
    def summary(self) -> Path:
        return self.root / "annotations" / f"{self.project}.summary.json"


def pull_paths(settings: Settings, project: str) -> PullPaths:
    return PullPaths(settings.exports_dir, project)


def save_snapshot(paths: PullPaths, data: bytes) -> Path:
    """Keep the server's export verbatim under a new name; an earlier pull is never replaced."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    name = f"{paths.project}-{stamp}-{uuid.uuid4().hex[:8]}.json"
    return write_new(paths.snapshots / name, data)


def process_snapshot(
    paths: PullPaths,
    snapshot: Path,
    known_items: Callable[[list[dict[str, Any]]], set[str]],
    project_id: int | None,
    question_project: str | None = None,
    ground_truth: bool = False,
) -> Validated:
    """Validate a saved export and write the accepted records, rejects and counts beside it.

    `known_items` says, from the export's tasks, which item ids still belong to the corpus.
    """
    tasks = parse_export(snapshot.read_bytes(), str(snapshot))
    validated = validate_export(
        question_project or paths.project, tasks, known_items(tasks), ground_truth
    )
    write_jsonl(paths.rejects, validated.rejected)
    write_jsonl(paths.accepted, validated.accepted)
    summary: dict[str, Any] = {
        "project": paths.project,
        "project_id": project_id,
        "snapshot": snapshot.name,
        "counts": validated.counts,
    }
    # The summary is written last: it names the snapshot the records came from.
    write_json(paths.summary, summary)
    return validated


def read_records(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def read_summary(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


ADJUDICATED = "{project}-adjudication"


def project_records(settings: Settings, project: str) -> list[dict[str, Any]]:
    """A project's accepted records, with its adjudicators' (ground truth) ones after them."""
    records = read_records(pull_paths(settings, project).accepted)
    adjudicated = pull_paths(settings, ADJUDICATED.format(project=project)).accepted
    return records + read_records(adjudicated)
