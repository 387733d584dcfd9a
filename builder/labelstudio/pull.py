"""Label Studio exports into saved snapshots, then into accepted records and rejects on disk."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from builder.core.atomic import write_bytes, write_json, write_jsonl, write_new
from builder.core.config import Settings
from builder.core.errors import BuilderError
from builder.core.projects import CLAIMS, PROJECTS, STANCE_PROJECT
from builder.core.report import Report
from builder.inputs.corpus import load_corpus
from builder.labels.records import PullPaths, pull_paths, read_summary
from builder.labels.validate import Validated, parse_export, validate_export
from builder.labelstudio.client import LabelStudioClient

# Changes are looked for from a little before the last export, so none falls between two pulls;
# a task seen twice simply replaces itself.
OVERLAP = timedelta(minutes=2)


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
    merge: bool = False,
    server_time: str = "",
) -> Validated:
    """Validate a saved export and write the accepted records, rejects and counts beside it.

    With `merge`, the export holds only the tasks changed since the last pull: they replace
    their earlier versions and the rest is kept. `known_items` says, from the tasks, which item
    ids still belong to the corpus. The summary is written last, so a crash before it leaves
    the next pull to redo this one.
    """
    data = snapshot.read_bytes()
    fresh = parse_export(data, str(snapshot))
    previous = read_summary(paths.summary) if merge else None
    if merge and paths.tasks.is_file():
        # The changed tasks replace their earlier versions; the rest stays as pulled before.
        by_id = {task["id"]: task for task in json.loads(paths.tasks.read_bytes())}
        by_id.update({task["id"]: task for task in fresh})
        tasks = [by_id[task_id] for task_id in sorted(by_id)]
        write_bytes(paths.tasks, json.dumps(tasks, ensure_ascii=False).encode("utf-8"))
    else:
        # A full export is the whole set already: keep its bytes as they came.
        tasks = fresh
        write_bytes(paths.tasks, data)
    validated = validate_export(
        question_project or paths.project, tasks, known_items(tasks), ground_truth
    )
    write_jsonl(paths.rejects, validated.rejected)
    write_jsonl(paths.accepted, validated.accepted)
    snapshots = (previous or {}).get("snapshots", []) + [snapshot.name]
    summary: dict[str, Any] = {
        "project": paths.project,
        "project_id": project_id,
        "snapshot": snapshot.name,
        "snapshots": snapshots,
        "server_time": server_time,
        "incremental": merge,
        "changed_tasks": len(fresh),
        "counts": validated.counts,
    }
    write_json(paths.summary, summary)
    return validated


def since_last_pull(paths: PullPaths, project_id: int, full: bool) -> str | None:
    """The server time from which changes must be pulled, or None for a full pull."""
    previous = read_summary(paths.summary)
    if full or not previous or previous.get("project_id") != project_id:
        return None
    if not previous.get("server_time") or not paths.tasks.is_file():
        return None
    start = datetime.fromisoformat(previous["server_time"]) - OVERLAP
    return start.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def pull_projects(settings: Settings, report: Report, full: bool = False) -> None:
    """Every project's (and its adjudication's) changed tasks: saved verbatim, then validated."""
    corpus = load_corpus(settings)
    for problem in corpus.problems:
        report.problem(problem)
    known_sentences = corpus.labeled_sentence_ids()

    def known_pairs(tasks: list[dict[str, Any]]) -> set[str]:
        data = [t.get("data") or {} for t in tasks]
        key = STANCE_PROJECT.item_key
        return {d[key] for d in data if key in d and d.get(CLAIMS.item_key) in known_sentences}

    known_items = {CLAIMS.name: lambda tasks: known_sentences, STANCE_PROJECT.name: known_pairs}
    client = LabelStudioClient(settings)
    client.check()
    for project in PROJECTS.values():
        for name, title in (
            (project.name, project.title(settings)),
            (project.adjudication_name, project.adjudication_title(settings)),
        ):
            info = client.find_project(title)
            if info is None:
                if name == CLAIMS.name:
                    raise BuilderError(
                        f"no project {title!r} at {client.url}", fix="run `make sync` first"
                    )
                continue
            paths = pull_paths(settings, name)
            since = since_last_pull(paths, info.id, full)
            data, server_time = client.export_snapshot(info.id, since)
            # Saved verbatim, under a new name, before anything reads it.
            snapshot = save_snapshot(paths, data)
            validated = process_snapshot(
                paths,
                snapshot,
                known_items[project.name],
                info.id,
                project.name,
                ground_truth=name != project.name,
                merge=since is not None,
                server_time=server_time,
            )
            tell(report, name, snapshot, validated.counts, paths, since)


def tell(
    report: Report,
    name: str,
    snapshot: Path,
    counts: dict[str, int],
    paths: PullPaths,
    since: str | None,
) -> None:
    """One project's pull in the step report: the counts add up, rejects say where they are."""
    report.read += counts["pulled"]
    report.kept += counts["accepted"]
    report.drop(f"{name} rejected", counts["rejected"])
    for key, count in counts.items():
        if key.startswith("skipped_"):
            report.drop(f"{name} {key.removeprefix('skipped_')}", count)
    report.wrote += [str(snapshot), str(paths.accepted)]
    skipped = ", ".join(
        f"{k.removeprefix('skipped_')} {v}" for k, v in counts.items() if k.startswith("skipped_")
    )
    what = f"the tasks changed since {since}" if since else "every annotated task"
    report.say(f"{name}: saved the export of {what} as {snapshot}")
    report.say(
        f"{name}: pulled {counts['pulled']} = accepted {counts['accepted']} + rejected "
        f"{counts['rejected']} + skipped {counts['skipped']}" + (f" ({skipped})" if skipped else "")
    )
    if counts["rejected"]:
        report.wrote.append(str(paths.rejects))
        report.say(f"{name}: rejects with task, annotator, JSON path and reason: {paths.rejects}")
