"""Task payloads into a Label Studio project: create it, then import only what it lacks."""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from builder.core.atomic import write_bytes
from builder.core.config import DEFAULT_SYNC_BATCH_SIZE
from builder.core.errors import BuilderError
from builder.core.projects import (
    ADJUDICATION_DESCRIPTION,
    Project,
    member_name,
    member_title,
    placement,
)
from builder.core.report import Report
from builder.labelstudio import identity
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
    # Items with more than one task, the extra ones without annotations (--repair removes them).
    duplicated: list[str] = field(default_factory=list)
    # Items with several annotated tasks: kept, every annotation counts for the item.
    annotated_twice: dict[str, list[int]] = field(default_factory=dict)
    listed_from_server: bool = False
    # Tasks that had annotations and were deleted on the server: item id -> old task id.
    # Their items are held back, not imported again, unless asked (--reimport-deleted).
    deleted_annotated: dict[str, int] = field(default_factory=dict)
    # Every project of the set, in order, and how many new tasks went into each.
    project_ids: list[int] = field(default_factory=list)
    imported_into: dict[int, int] = field(default_factory=dict)
    # Tasks deleted on the server that had no annotations: imported again.
    deleted_unannotated: list[str] = field(default_factory=list)
    # Tasks whose data on the server differs from the task built from raw/: item -> fields.
    changed: dict[str, list[str]] = field(default_factory=dict)


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
    held: dict[str, int] = field(default_factory=dict)  # see SyncReport.deleted_annotated

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
                raw.get("held", {}),
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
            "held": self.held,
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


@dataclass(frozen=True)
class ProjectSet:
    """A kind's projects on one server as sync opens them: the first titled `title`, then its
    continuations ("<title> · 2", …, core/projects.py), each with the declared config.

    Each is known by the id recorded in `state_dir` (see identity), so a project renamed in
    Label Studio is still the one used. `annotations_per_task` is Label Studio's
    `maximum_annotations` (its overlap): the labeling stream keeps handing a task out until
    that many annotators have answered it.
    """

    client: LabelStudioClient
    state_dir: Path
    project: Project
    title: str
    report: Report
    force_config: bool = False
    annotations_per_task: int = 1
    adjudication: bool = False

    def name(self, member: int = 1) -> str:
        kind = self.project.adjudication_name if self.adjudication else self.project.name
        return member_name(kind, member)

    def ensure(self, member: int = 1) -> ProjectInfo:
        """The `member`-th project with the declared config: created if missing, updated only
        if safe."""
        info = self.find(member)
        if info is not None:
            return info
        return identity.create(
            self.client,
            self.state_dir,
            self.name(member),
            member_title(self.title, member),
            self.project.labeling_config(self.adjudication),
            ADJUDICATION_DESCRIPTION if self.adjudication else self.project.description,
            self.annotations_per_task,
            say=self.report.say,
        )

    def ensure_all(self) -> list[ProjectInfo]:
        """Every project of the set, each with the declared config; the first created if
        missing, the continuations only found (sync_tasks opens them when the set is full)."""
        found = [self.ensure()]
        while (info := self.find(len(found) + 1)) is not None:
            found.append(info)
        return found

    def find(self, member: int = 1) -> ProjectInfo | None:
        """The `member`-th project brought to the declared config, or None if missing."""
        client, report, project = self.client, self.report, self.project
        declared = project.labeling_config(self.adjudication)
        title = member_title(self.title, member)
        info = identity.resolve(client, self.state_dir, self.name(member), title, say=report.say)
        if info is None:
            return None
        if info.maximum_annotations != self.annotations_per_task:
            client.update_project(info.id, maximum_annotations=self.annotations_per_task)
            report.say(
                f"project {title!r}: annotations per task set to {self.annotations_per_task}"
            )
            info = client.project(info.id)
        if _normal(info.label_config) == _normal(declared):
            return info
        difference = config_difference(info.label_config, declared)
        if info.annotation_count and not self.force_config:
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
    client: LabelStudioClient, members: list[tuple[ProjectInfo, Path]], inputs: str
) -> bool:
    """True when neither the inputs nor any project of the set changed since the last clean
    sync."""
    for info, state_path in members:
        state = SyncState.load(state_path)
        if not inputs or state.inputs != inputs or not server_unchanged(client, state, info)[0]:
            return False
    return True


def current_tasks(
    client: LabelStudioClient, state: SyncState, info: ProjectInfo, key: str, full: bool = False
) -> tuple[dict[str, list[int]], dict[str, dict[str, Any]] | None, dict[str, int]]:
    """item id -> task ids on the server, from the cache when the server shows no change (and
    not `full`); the data of each item's first task when listed; and the tasks of the last
    listing that are gone now (item -> old task id)."""
    unchanged, last_id = server_unchanged(client, state, info)
    if unchanged and not full:
        return {item: [task] for item, task in state.tasks.items()}, None, {}
    by_item: dict[str, list[int]] = {}
    data_of: dict[str, dict[str, Any]] = {}
    for task in sorted(client.tasks(info.id), key=lambda t: t["id"]):
        data = task.get("data") or {}
        item = data.get(key)
        if item is not None:
            by_item.setdefault(item, []).append(task["id"])
            data_of.setdefault(item, data)
    gone = {}
    if state.server == client.url and state.project_id == info.id:
        gone = {item: task for item, task in state.tasks.items() if item not in by_item}
    state.server, state.project_id = client.url, info.id
    state.task_count, state.last_task_id = info.task_count, last_id
    state.tasks = {item: ids[0] for item, ids in by_item.items()}
    return by_item, data_of, gone


def changed_fields(server: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    """The data fields in which a task on the server differs from the one built from raw/."""
    return sorted(k for k in set(server) | set(ours) if server.get(k) != ours.get(k))


Member = tuple[ProjectInfo, Path]  # a project of a set, and the file of its SyncState


def sync_tasks(
    client: LabelStudioClient,
    members: list[Member],
    tasks: list[dict[str, Any]],
    key: str,
    progress: bool = True,
    predictions: dict[str, list[dict[str, Any]]] | None = None,
    inputs: str = "",
    batch_size: int = DEFAULT_SYNC_BATCH_SIZE,
    annotated_tasks: Callable[[], set[int]] = set,
    full: bool = False,
    reimport_deleted: bool = False,
    limit: int = 0,
    open_next: Callable[[int], Member] | None = None,
) -> SyncReport:
    """Import the tasks whose `key` no project of the set has; never touch a task already there.

    `members` are the set's projects (core/projects.py), in order. Each item lives in one of
    them and stays there; new items fill the projects in order up to `limit` tasks each (0: no
    limit), and `open_next(n)` creates the set's n-th project when they are full.
    `predictions` (item id -> predictions) are attached to new tasks, as the adjudication
    project shows each annotator's answer. `annotated_tasks` gives the ids of the tasks the
    pulls saw annotated: one of them deleted on the server is reported and its item held back
    (`reimport_deleted` imports it again). `full` lists every task even when the projects
    look unchanged, to compare their data with raw/'s and find duplicates.
    """
    predictions = predictions or {}
    infos = [info for info, _ in members]
    states = [SyncState.load(path) for _, path in members]
    existing: dict[str, list[int]] = {}
    data_of: dict[str, dict[str, Any]] | None = {}
    gone: dict[str, tuple[int, int]] = {}  # item -> (member index, old task id)
    for index, (info, state) in enumerate(zip(infos, states, strict=True)):
        # A state saved mid-import (a kill between batches) must not vouch for raw/.
        state.inputs = ""
        by_item, listed_data, gone_here = current_tasks(client, state, info, key, full)
        for item, ids in by_item.items():
            existing.setdefault(item, []).extend(ids)
        if listed_data is None:
            data_of = None
        elif data_of is not None:
            for item, data in listed_data.items():
                data_of.setdefault(item, data)
        gone.update({item: (index, task) for item, task in gone_here.items()})
    report = SyncReport(project_id=infos[0].id, listed_from_server=data_of is not None)
    report.project_ids = [info.id for info in infos]
    report.duplicated = sorted(item for item, ids in existing.items() if len(ids) > 1)
    gone = {item: where for item, where in gone.items() if item not in existing}
    if gone:
        annotated = annotated_tasks()
        for item, (index, task_id) in sorted(gone.items()):
            if task_id in annotated:
                states[index].held[item] = task_id
            else:
                report.deleted_unannotated.append(item)
    held: dict[str, int] = {}
    for state in states:
        if reimport_deleted:
            state.held = {}
        state.held = {item: task for item, task in state.held.items() if item not in existing}
        held.update(state.held)
    report.deleted_annotated = dict(held)
    wanted = {task[key] for task in tasks}
    report.gone_from_raw = sorted(set(existing) - wanted)
    if data_of is not None:
        for task in tasks:
            server_data = data_of.get(task[key])
            if server_data is not None and server_data != task:
                report.changed[task[key]] = changed_fields(server_data, task)
    new = [task for task in tasks if task[key] not in existing and task[key] not in held]
    report.already = len(tasks) - len(new)
    counts = [
        max(state.task_count, info.task_count) for info, state in zip(infos, states, strict=True)
    ]
    shares = placement(counts, len(new), limit) if limit else [len(new)]
    bar = tqdm(
        total=len(new),
        unit="task",
        desc="importing",
        file=sys.stderr,
        disable=not progress or not new,
    )
    start = 0
    touched = []
    for index, share in enumerate(shares):
        if not share:
            continue
        if index == len(members):
            if open_next is None:
                raise BuilderError("the set is full and cannot grow")  # a builder bug
            member = open_next(index + 1)
            members.append(member)
            infos.append(member[0])
            states.append(SyncState.load(member[1]))
            report.project_ids.append(member[0].id)
        info, state = infos[index], states[index]
        if state.project_id != info.id or state.server != client.url:
            # A new project: its state starts empty (a leftover file may name another one).
            state = states[index] = SyncState(state.path, client.url, info.id, 0, None)
        imported = import_batches(
            client, info, state, new[start : start + share], key, predictions, batch_size, bar
        )
        start += share
        touched.append(index)
        report.imported += imported
        report.imported_into[info.id] = imported
    bar.close()
    grew = [i for i in touched if client.project(infos[i].id).task_count != states[i].task_count]
    if grew:
        # Someone else imported into the set meanwhile (another machine: no lock spans
        # machines): look again for items that now have two tasks.
        counter: Counter[str] = Counter()
        for info in infos:
            keys = client.task_keys(info.id, key)
            counter.update(item for item in keys.values() if item is not None)
        report.duplicated = sorted(item for item, n in counter.items() if n > 1)
        for index in grew:
            states[index].task_count = -1  # the next sync lists the project again
    if report.duplicated:
        # Rare, so only then the slower listing that says which tasks have annotations.
        plan = plan_repair(client, infos, key)
        report.duplicated = sorted(plan.extra)
        report.annotated_twice = plan.annotated_twice
    # Only a clean sync may let the next one skip reading raw/ (see nothing_to_do).
    for state in states:
        state.inputs = inputs
        state.save()
    return report


def import_batches(
    client: LabelStudioClient,
    info: ProjectInfo,
    state: SyncState,
    new: list[dict[str, Any]],
    key: str,
    predictions: dict[str, list[dict[str, Any]]],
    batch_size: int,
    bar: Any,
) -> int:
    """Import `new` into one project, batch by batch, each recorded in its state at once."""
    imported = 0
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
        imported += len(batch)
        bar.update(len(batch))
    return imported


@dataclass
class RepairReport:
    # item id -> its extra tasks without annotations, skips or drafts: safe to delete.
    extra: dict[str, list[int]] = field(default_factory=dict)
    # item id -> its tasks with annotations, all kept: every annotation counts for the item.
    annotated_twice: dict[str, list[int]] = field(default_factory=dict)
    deleted: list[int] = field(default_factory=list)


def plan_repair(client: LabelStudioClient, infos: list[ProjectInfo], key: str) -> RepairReport:
    """Which tasks of items that have more than one in the set could go, and which must stay.

    Per item, every task with annotations, skips or drafts stays; if there is none, the
    oldest task does (task ids are unique across the server's projects).
    """
    report = RepairReport()
    by_item: dict[str, list[dict[str, Any]]] = {}
    include = "id,data,total_annotations,cancelled_annotations,drafts"
    for info in infos:
        for task in client.tasks(info.id, include):
            item = (task.get("data") or {}).get(key)
            if item is not None:
                by_item.setdefault(item, []).append(task)

    def worked(task: dict[str, Any]) -> bool:
        done = (task.get("total_annotations") or 0) + (task.get("cancelled_annotations") or 0)
        return bool(done or task.get("drafts"))

    for item, found in sorted(by_item.items()):
        if len(found) < 2:
            continue
        found.sort(key=lambda t: t["id"])
        keep = [t["id"] for t in found if worked(t)] or [found[0]["id"]]
        if len(keep) > 1:
            report.annotated_twice[item] = keep
        extra = [t["id"] for t in found if t["id"] not in keep]
        if extra:
            report.extra[item] = extra
    return report


def repair_duplicates(
    client: LabelStudioClient, infos: list[ProjectInfo], key: str
) -> RepairReport:
    """Delete the extra tasks of items that have more than one, never a task with work on it.

    Each task is checked again just before it is deleted, so an annotation made since the
    listing keeps its task.
    """
    report = plan_repair(client, infos, key)
    for task_ids in report.extra.values():
        for task_id in task_ids:
            if client.task_work(task_id) == 0:
                client.delete_task(task_id)
                report.deleted.append(task_id)
    return report


def listed(items: Sequence[Any], limit: int = 5) -> str:
    return ", ".join(str(i) for i in items[:limit]) + (" …" if len(items) > limit else "")


def projects_named(project_ids: Sequence[int]) -> str:
    """ "project 12", or for a set "projects 12, 13, 14"."""
    if len(project_ids) == 1:
        return f"project {project_ids[0]}"
    return "projects " + ", ".join(str(i) for i in project_ids)


def tell_held(report: Report, held: dict[str, int], project_ids: Sequence[int]) -> None:
    """Warn of the items whose annotated task was deleted on the server (held back)."""
    if held:
        items = [f"{item} (task {task})" for item, task in held.items()]
        report.warn(
            f"warning: {len(items)} annotated task(s) were deleted from "
            f"{projects_named(project_ids)} on the server: {listed(items)}. Not imported again "
            "(their annotations stay in exports/pulls/); `sync --reimport-deleted` imports them "
            "again"
        )


def tell_repair(report: Report, repaired: RepairReport, project_ids: Sequence[int]) -> None:
    report.drop("duplicate task deleted", len(repaired.deleted))
    report.say(
        f"repair: deleted {len(repaired.deleted)} duplicate task(s) without annotations from "
        f"{projects_named(project_ids)}"
        + (f": {listed(repaired.deleted)}" if repaired.deleted else "")
    )


def tell_links(
    report: Report, url: str, project_ids: Sequence[int], what: str = "label them"
) -> None:
    report.say(f"{what} at " + ", ".join(f"{url}/projects/{i}/data" for i in project_ids))


def tell(report: Report, sync: SyncReport, url: str, unit: str, command: str = "sync") -> None:
    """A sync's outcome in the step report: counts, and what the lead should know; duplicate
    tasks make the step fail (the user must repair them)."""
    where = projects_named(sync.project_ids or [sync.project_id])
    report.read += sync.imported + sync.already
    report.kept += sync.imported
    report.drop(f"{unit} already a task", sync.already)
    for project_id, imported in sync.imported_into.items():
        report.wrote.append(f"{imported} task(s) to project {project_id}")
    if sync.imported:
        into = [f"{i} ({n})" for i, n in sync.imported_into.items()]
        if len(into) == 1:
            into_where = f"project {next(iter(sync.imported_into))}"
        else:
            into_where = "projects " + ", ".join(into)
        report.say(
            f"imported {sync.imported} new task(s) into {into_where}; {sync.already} already there"
        )
        if len(sync.project_ids) > 1:
            report.say(
                f"the {unit}s are spread over {where}, each holding at most MAX_TASKS_PER_PROJECT "
                "tasks; every step treats them as one"
            )
    else:
        report.say(f"nothing new: all {sync.already} {unit}(s) are already tasks of {where}")
    if sync.gone_from_raw:
        report.say(
            f"{len(sync.gone_from_raw)} task(s) of {where} are no longer in raw/ "
            f"(kept, not deleted): {listed(sync.gone_from_raw)}"
        )
    if sync.deleted_unannotated:
        report.say(
            f"{len(sync.deleted_unannotated)} task(s) without annotations were deleted from "
            f"{where} on the server; imported again: " + listed(sync.deleted_unannotated)
        )
    tell_held(report, sync.deleted_annotated, sync.project_ids or [sync.project_id])
    if sync.changed:
        items = [f"{item} ({', '.join(fields)})" for item, fields in sync.changed.items()]
        report.warn(
            f"warning: {len(items)} task(s) of {where} hold data that differs from "
            f"raw/ (edited on the server?); left as they are: {listed(items)}"
        )
    for item, task_ids in sync.annotated_twice.items():
        report.say(
            f"note: {item} has {len(task_ids)} annotated tasks in {where} "
            f"({listed(task_ids)}): all kept, every annotation counts for it"
        )
    if sync.duplicated:
        report.fail(
            f"error: {len(sync.duplicated)} {unit}(s) have more than one task in {where} "
            f"(imported twice, e.g. by two machines at once): "
            + listed(sync.duplicated)
            + f"\n  fix: `make {command} ARGS=--repair` deletes the extra tasks that have no "
            "annotations (never an annotated one)"
        )
    tell_links(report, url, sync.project_ids or [sync.project_id])
