"""Task payloads into a Label Studio project: create it, then import only what it lacks."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from builder.core.atomic import write_bytes
from builder.core.config import DEFAULT_SYNC_BATCH_SIZE
from builder.core.errors import BuilderError
from builder.core.projects import ADJUDICATION_DESCRIPTION, Project
from builder.core.report import Report
from builder.labelstudio.client import LabelStudioClient, ProjectInfo

CHOICE_VALUE = re.compile(r"<Choice\s[^>]*value=\"([^\"]*)\"")


def _normal(config: str) -> str:
    return "\n".join(line.strip() for line in config.strip().splitlines() if line.strip())


def config_hash(config: str) -> str:
    return hashlib.sha256(_normal(config).encode("utf-8")).hexdigest()


@dataclass
class SyncReport:
    project_id: int
    imported: int = 0
    already: int = 0
    gone_from_raw: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    listed_from_server: bool = False


@dataclass
class SyncState:
    """What the last sync saw, so an unchanged project needs no full listing of its tasks."""

    path: Path
    server: str = ""
    project_id: int = 0
    task_count: int = -1
    last_task_id: int | None = None
    tasks: dict[str, int] = field(default_factory=dict)
    inputs: str = ""  # fingerprint of raw/, scheme and builder of the last clean sync

    @classmethod
    def load(cls, path: Path) -> SyncState:
        if not path.is_file():
            return cls(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                path,
                raw["server"],
                raw["project_id"],
                raw["task_count"],
                raw["last_task_id"],
                raw["tasks"],
                raw.get("inputs", ""),
            )
        except (ValueError, KeyError, TypeError):
            return cls(path)  # A damaged cache only costs a full listing.

    def save(self) -> None:
        # Compact: the file is rewritten after every batch and holds one entry per task.
        state = {
            "server": self.server,
            "project_id": self.project_id,
            "task_count": self.task_count,
            "last_task_id": self.last_task_id,
            "tasks": self.tasks,
            "inputs": self.inputs,
        }
        write_bytes(self.path, json.dumps(state, separators=(",", ":")).encode("utf-8"))


def config_difference(current: str, declared: str) -> str:
    diff = difflib.unified_diff(
        _normal(current).splitlines(),
        _normal(declared).splitlines(),
        "project's config",
        "declared config",
        lineterm="",
    )
    return "\n".join(diff)


def ensure_project(
    client: LabelStudioClient,
    project: Project,
    title: str,
    report: Report,
    force_config: bool = False,
    annotations_per_task: int = 1,
    adjudication: bool = False,
) -> ProjectInfo:
    """The project with the declared config: created if missing, updated only if safe.

    `annotations_per_task` is Label Studio's `maximum_annotations` (its overlap): the labeling
    stream keeps handing a task out until that many annotators have answered it.
    """
    declared = project.labeling_config(adjudication)
    description = ADJUDICATION_DESCRIPTION if adjudication else project.description
    info = client.find_project(title)
    if info is None:
        info = client.create_project(
            title, declared, description, maximum_annotations=annotations_per_task
        )
        report.say(f"created project {title!r} (id {info.id}) at {client.url}")
        return info
    if info.maximum_annotations != annotations_per_task:
        client.update_project(info.id, maximum_annotations=annotations_per_task)
        report.say(f"project {title!r}: annotations per task set to {annotations_per_task}")
        info = client.project(info.id)
    if _normal(info.label_config) == _normal(declared):
        return info
    difference = config_difference(info.label_config, declared)
    if info.annotation_count and not force_config:
        raise BuilderError(
            f"project {title!r} (id {info.id}) has {info.annotation_count} annotations and a "
            f"config that differs from the declared one:\n{difference}",
            fix="leave it (set another title to start a new project), or rerun with "
            "--force-config to update it: existing answers are kept",
        )
    old_labels = set(CHOICE_VALUE.findall(info.label_config))
    missing = old_labels - set(project.question.names)
    if info.annotation_count and missing:
        raise BuilderError(
            f"the declared config drops labels {sorted(missing)} that annotations of project "
            f"{info.id} may use; refusing to orphan them",
            fix="labels may be appended, never removed: restore them in builder/core/scheme.py",
        )
    client.validate_config(info.id, declared)
    client.update_project(info.id, label_config=declared)
    report.say(f"updated the config of project {title!r} (id {info.id}):\n{difference}")
    return client.project(info.id)


def inputs_fingerprint(paths: list[Path], *extra: str) -> str:
    """Changes when a file is added, removed, resized or touched, or when `extra` changes."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        stat = path.stat()
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    for value in extra:
        digest.update(value.encode() + b"\n")
    return digest.hexdigest()


def server_unchanged(
    client: LabelStudioClient, state: SyncState, info: ProjectInfo
) -> tuple[bool, int | None]:
    """Whether the project is as the last sync left it: same tasks count and newest task.

    Task ids only grow, so a task deleted or added by hand changes one of the two.
    """
    last_id = client.last_task_id(info.id) if info.task_count else None
    unchanged = (
        state.server == client.url
        and state.project_id == info.id
        and state.task_count == info.task_count
        and state.last_task_id == last_id
        and len(state.tasks) == info.task_count
    )
    return unchanged, last_id


def nothing_to_do(
    client: LabelStudioClient, info: ProjectInfo, state_path: Path, inputs: str
) -> bool:
    """True when neither the inputs nor the project changed since the last clean sync."""
    state = SyncState.load(state_path)
    if not inputs or state.inputs != inputs:
        return False
    return server_unchanged(client, state, info)[0]


def current_tasks(
    client: LabelStudioClient, state: SyncState, info: ProjectInfo, key: str
) -> tuple[dict[str, list[int]], bool]:
    """item id -> task ids on the server; from the cache when the server shows no change."""
    unchanged, last_id = server_unchanged(client, state, info)
    if unchanged:
        return {item: [task] for item, task in state.tasks.items()}, False
    by_item: dict[str, list[int]] = {}
    for task_id, item in sorted(client.task_keys(info.id, key).items()):
        if item is not None:
            by_item.setdefault(item, []).append(task_id)
    state.server, state.project_id = client.url, info.id
    state.task_count, state.last_task_id = info.task_count, last_id
    state.tasks = {item: ids[0] for item, ids in by_item.items()}
    return by_item, True


def sync_tasks(
    client: LabelStudioClient,
    info: ProjectInfo,
    tasks: list[dict[str, Any]],
    key: str,
    state_path: Path,
    progress: bool = True,
    predictions: dict[str, list[dict[str, Any]]] | None = None,
    inputs: str = "",
    batch_size: int = DEFAULT_SYNC_BATCH_SIZE,
) -> SyncReport:
    """Import the tasks whose `key` the project lacks; never touch a task already there.

    `predictions` (item id -> predictions) are attached to new tasks, as the adjudication
    project shows each annotator's answer.
    """
    predictions = predictions or {}
    state = SyncState.load(state_path)
    # A state saved mid-import (a kill between batches) must not vouch for raw/.
    state.inputs = ""
    existing, listed = current_tasks(client, state, info, key)
    report = SyncReport(project_id=info.id, listed_from_server=listed)
    report.duplicated = sorted(item for item, ids in existing.items() if len(ids) > 1)
    wanted = {task[key] for task in tasks}
    report.gone_from_raw = sorted(set(existing) - wanted)
    new = [task for task in tasks if task[key] not in existing]
    report.already = len(tasks) - len(new)
    bar = tqdm(
        total=len(new),
        unit="task",
        desc="importing",
        file=sys.stderr,
        disable=not progress or not new,
    )
    for start in range(0, len(new), batch_size):
        batch = new[start : start + batch_size]
        payload = [
            {"data": task, "predictions": predictions[task[key]]}
            if task[key] in predictions
            else {"data": task}
            for task in batch
        ]
        task_ids = client.import_tasks(info.id, payload)
        if len(task_ids) != len(batch):
            raise BuilderError(
                f"Label Studio returned {len(task_ids)} task ids for {len(batch)} imported tasks",
                fix="run the sync again: it lists the project and imports only what is missing",
            )
        # Each batch is recorded as soon as the server has it, so a kill loses nothing.
        state.tasks.update(
            {task[key]: task_id for task, task_id in zip(batch, task_ids, strict=True)}
        )
        state.task_count += len(batch)
        state.last_task_id = max(task_ids + [state.last_task_id or 0])
        state.save()
        report.imported += len(batch)
        bar.update(len(batch))
    bar.close()
    # Only a clean sync may let the next one skip reading raw/ (see nothing_to_do).
    state.inputs = inputs
    state.save()
    return report


def tell(report: Report, sync: SyncReport, url: str, unit: str) -> None:
    """A sync's outcome in the step report: counts, and what the lead should know."""
    project_id = sync.project_id
    report.read += sync.imported + sync.already
    report.kept += sync.imported
    report.drop(f"{unit} already a task", sync.already)
    if sync.imported:
        report.wrote.append(f"{sync.imported} task(s) to project {project_id}")
        report.say(
            f"imported {sync.imported} new task(s) into project {project_id}; "
            f"{sync.already} already there"
        )
    else:
        report.say(
            f"nothing new: all {sync.already} {unit}(s) are already tasks of project {project_id}"
        )
    if sync.gone_from_raw:
        shown = ", ".join(sync.gone_from_raw[:5]) + (" …" if len(sync.gone_from_raw) > 5 else "")
        report.say(
            f"{len(sync.gone_from_raw)} task(s) of project {project_id} are no longer in raw/ "
            f"(kept, not deleted): {shown}"
        )
    if sync.duplicated:
        report.warn(
            f"warning: {len(sync.duplicated)} {unit}(s) have more than one task: "
            + ", ".join(sync.duplicated[:5])
        )
    report.say(f"label them at {url}/projects/{project_id}/data")
