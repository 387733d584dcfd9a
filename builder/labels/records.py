"""Pulled annotations on disk back into records: where each project's pulls live, read back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.core.config import Settings
from builder.core.projects import PROJECTS


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
    def tasks(self) -> Path:
        """The latest version of every annotated task pulled so far, merged across pulls."""
        return self.root / "annotations" / f"{self.project}.tasks.json"

    @property
    def summary(self) -> Path:
        return self.root / "annotations" / f"{self.project}.summary.json"


def pull_paths(settings: Settings, project: str) -> PullPaths:
    return PullPaths(settings.exports_dir, project)


def read_records(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    # Only "\n" ends a record: str.splitlines would also cut at U+2028 inside a JSON string.
    lines = [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    # One parse of the whole file is several times faster than one per line.
    return json.loads("[" + ",".join(lines) + "]")


def read_summary(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def pull_summary(settings: Settings, name: str) -> dict[str, Any] | None:
    """The summary of the last pull of a project (or of its adjudication) by name."""
    return read_summary(pull_paths(settings, name).summary)


def project_records(settings: Settings, project: str) -> list[dict[str, Any]]:
    """A project's accepted records, with its adjudicators' (ground truth) ones after them."""
    records = read_records(pull_paths(settings, project).accepted)
    adjudicated = pull_paths(settings, PROJECTS[project].adjudication_name).accepted
    return records + read_records(adjudicated)


def pulled_tasks(settings: Settings, project: str) -> dict[str, dict[str, Any]]:
    """item id -> the task data the annotators saw, from the pulled (merged) tasks."""
    path = pull_paths(settings, project).tasks
    if not path.is_file():
        return {}
    key = PROJECTS[project].item_key
    tasks = json.loads(path.read_text(encoding="utf-8"))
    return {t["data"][key]: t["data"] for t in tasks if key in (t.get("data") or {})}
