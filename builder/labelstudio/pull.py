"""Label Studio exports into saved snapshots, then into accepted records and rejects on disk."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import queue
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from builder.core.atomic import (
    json_line,
    open_atomic,
    sha256_file,
    write_bytes,
    write_json,
    write_new,
)
from builder.core.config import Settings
from builder.core.errors import BuilderError
from builder.core.projects import CLAIMS, PROJECTS, STANCE_PROJECT, member_name
from builder.core.report import Report
from builder.inputs.corpus import Corpus, load_corpus
from builder.labels.records import (
    DamagedFile,
    PullPaths,
    pull_paths,
    read_records,
    read_summary,
    read_task_list,
    read_tasks,
)
from builder.labels.validate import Validated, parse_export, validate_export
from builder.labelstudio import identity
from builder.labelstudio.client import LabelStudioClient
from builder.tasks.claims import claim_tasks

# Changes are looked for from a little before the last export, so none falls between two pulls;
# a task seen twice simply replaces itself.
OVERLAP = timedelta(minutes=2)
# Tasks validated and written at a time: a pull's memory stays flat whatever the project's size.
CHUNK = 1000


def _set_aside(path: Path) -> Path:
    """Move a damaged file out of the way, kept for a look: nothing is deleted."""
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
    path.replace(aside)
    return aside


def repair(paths: PullPaths) -> list[str]:
    """Mend what an earlier pull left damaged before this one reads it; say what was done.

    The merged tasks are rebuilt from the saved pulls they came from (the summary lists
    them); what cannot be rebuilt is set aside, so this pull exports every annotated task
    again. The records and rejects need nothing: every pull rewrites them from the tasks.
    """
    done = []
    try:
        summary = read_summary(paths.summary)
    except DamagedFile as exc:
        aside = _set_aside(paths.summary)
        done.append(f"{exc.message}: set aside as {aside.name}; pulling every annotated task")
        return done
    if summary is None or not paths.tasks.is_file():
        return done
    if summary.get("tasks_sha256") == sha256_file(paths.tasks):
        return done  # as the last pull wrote it: no need to parse it to know
    try:
        read_task_list(paths.tasks)
        return done
    except DamagedFile as exc:
        damage = exc.message
    try:
        by_id: dict[Any, dict[str, Any]] = {}
        for name in summary.get("snapshots") or [summary["snapshot"]]:
            by_id.update({task["id"]: task for task in read_task_list(paths.snapshots / name)})
    except (OSError, KeyError, TypeError, DamagedFile):
        aside = _set_aside(paths.tasks)
        done.append(f"{damage}: set aside as {aside.name}; pulling every annotated task")
        return done
    tasks = [by_id[task_id] for task_id in sorted(by_id)]
    write_bytes(paths.tasks, json.dumps(tasks, ensure_ascii=False).encode("utf-8"))
    done.append(f"{damage}: rebuilt from the saved pulls it came from ({len(tasks)} tasks)")
    return done


def new_pull_name(paths: PullPaths) -> str:
    """A name no earlier pull of this project used: its pages are saved under it."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return f"{paths.project}-{stamp}-{uuid.uuid4().hex[:8]}"


def save_snapshot(paths: PullPaths, data: bytes, pull: str = "", page: int = 0) -> Path:
    """Keep the server's export verbatim under a new name; an earlier pull is never replaced.

    The pages of one paged pull share the pull's name and carry their number.
    """
    name = (pull or new_pull_name(paths)) + (f"-page{page:04d}" if page else "")
    return write_new(paths.snapshots / f"{name}.json", data)


@dataclass
class PullCounts:
    """What a pull counted: annotations accepted, rejected and skipped (by reason)."""

    accepted: int = 0
    rejected: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    changed_tasks: int = 0
    # Counted from the export itself (every annotation and draft), not from the outcome.
    pulled: int = 0

    def add(self, validated: Validated) -> None:
        self.pulled += validated.counts["pulled"]
        self.accepted += len(validated.accepted)
        self.rejected += len(validated.rejected)
        for reason, n in validated.skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + n

    @property
    def counts(self) -> dict[str, int]:
        skipped = sum(self.skipped.values())
        return {
            "pulled": self.pulled,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "skipped": skipped,
            **{f"skipped_{reason}": n for reason, n in sorted(self.skipped.items())},
        }


def page_tasks(pages: Iterable[Path], counts: PullCounts) -> Iterator[dict[str, Any]]:
    """The tasks of saved export pages, one page in memory at a time, in task id order.

    Pages cover ascending, disjoint ranges of task ids (client.export_pages); a task seen twice
    is the same task, and its later copy is kept.
    """
    last = None
    for page in pages:
        tasks = sorted(parse_export(page.read_bytes(), str(page)), key=lambda t: t["id"])
        for task in tasks:
            if last is not None and task["id"] < last:
                raise BuilderError(
                    f"{page}: task {task['id']} comes after task {last} of an earlier page",
                    fix="run `make pull ARGS=--full`",
                )
            counts.changed_tasks += task["id"] != last
            last = task["id"]
            yield task


def merged(old: Iterator[dict[str, Any]], fresh: Iterator[dict[str, Any]]) -> Iterator[dict]:
    """Two task streams in id order into one; a fresh task replaces the old one of its id."""
    old_task, fresh_task = next(old, None), next(fresh, None)
    while old_task is not None or fresh_task is not None:
        if fresh_task is None or (old_task is not None and old_task["id"] < fresh_task["id"]):
            yield old_task
            old_task = next(old, None)
            continue
        following = next(fresh, None)
        # Of two copies of one task in the fresh pages, the later one is the newer.
        if following is None or following["id"] != fresh_task["id"]:
            yield fresh_task
            if old_task is not None and old_task["id"] == fresh_task["id"]:
                old_task = next(old, None)
        fresh_task = following


def chunks(tasks: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for task in tasks:
        chunk.append(task)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def process_pages(
    paths: PullPaths,
    pages: Iterable[Path],
    known_items: Callable[[list[dict[str, Any]]], set[str]],
    project_id: int | None,
    question_project: str | None = None,
    ground_truth: bool = False,
    merge: bool = False,
    server_time: str | Callable[[], str] = "",
    allow_shrink: bool = False,
    expected_data: Callable[[], dict[str, dict[str, Any]]] | None = None,
) -> PullCounts:
    """Validate the saved pages of one pull and write the accepted records, rejects and counts.

    Nothing is written when the counts do not add up, or when records of the last pull would be
    lost (unless `allow_shrink`). `expected_data` (item id -> the task data built from raw/)
    finds tasks whose data was changed on the server: they are kept and listed in the summary.

    With `merge`, the pages hold only the tasks changed since the last pull: they replace
    their earlier versions and the rest is kept. `known_items` says, from the tasks, which item
    ids still belong to the corpus. Everything is streamed, CHUNK tasks at a time, so memory
    does not grow with the project. `pages` may still be arriving (a PageFeed): each is read
    when it comes, and `server_time` may then be asked for once they are all in. The summary is
    written last, so a crash before it leaves the next pull to redo this one.
    """
    previous = read_summary(paths.summary) if merge else None
    counts = PullCounts()
    read: list[Path] = []
    fresh = page_tasks(_noted(pages, read), counts)
    old = read_tasks(paths.tasks) if merge and paths.tasks.is_file() else iter(())
    project = question_project or paths.project
    expected = expected_data() if expected_data else None
    # What the last pull accepted (annotation id -> task id), to refuse losing any of it. Only
    # ids of those records are collected below, so a first pull holds nothing.
    before = {} if allow_shrink else previous_accepted(paths)
    before_tasks = set(before.values())
    kept: set[Any] = set()
    rejected_now: set[Any] = set()
    tasks_seen: set[Any] = set()
    changed: dict[str, list[str]] = {}
    # The three files are published only when all are written (innermost first); an error
    # inside the block (counts that do not add up, records lost) publishes none of them.
    with (
        open_atomic(paths.tasks) as tasks_out,
        open_atomic(paths.rejects) as rejects_out,
        open_atomic(paths.accepted) as accepted_out,
    ):
        # Its digest, in the summary, lets the next pull trust it without parsing it (repair).
        digest = hashlib.sha256()

        def write_tasks(data: bytes) -> None:
            tasks_out.write(data)
            digest.update(data)

        write_tasks(b"[")
        separator = b"\n"
        for chunk in chunks(merged(old, fresh), CHUNK):
            for task in chunk:
                write_tasks(separator + json.dumps(task, ensure_ascii=False).encode("utf-8"))
                separator = b",\n"
            validated = validate_export(project, chunk, known_items(chunk), ground_truth)
            check_counts(validated, read[-1] if read else paths.tasks)
            if before:
                tasks_seen.update(t["id"] for t in chunk if t.get("id") in before_tasks)
                kept.update(
                    r["annotation_id"] for r in validated.accepted if r["annotation_id"] in before
                )
                rejected_now.update(
                    r["annotation_id"] for r in validated.rejected if r["annotation_id"] in before
                )
            changed.update(data_changes(project, chunk, expected))
            rejects_out.writelines(json_line(row) for row in validated.rejected)
            accepted_out.writelines(json_line(row) for row in validated.accepted)
            counts.add(validated)
        write_tasks(b"\n]\n")
        check_no_records_lost(paths, before, kept, rejected_now, tasks_seen, read)
    names = [page.name for page in read]
    summary: dict[str, Any] = {
        "project": paths.project,
        "project_id": project_id,
        "snapshot": names[-1] if names else "",
        "snapshots": (previous or {}).get("snapshots", []) + names,
        "server_time": server_time() if callable(server_time) else server_time,
        "incremental": merge,
        "tasks_sha256": digest.hexdigest(),
        "changed_tasks": counts.changed_tasks,
        "counts": counts.counts,
        "data_changed_on_server": changed,
    }
    write_json(paths.summary, summary)
    return counts


def _noted(pages: Iterable[Path], read: list[Path]) -> Iterator[Path]:
    """The pages, each added to `read` as it is handed on."""
    for page in pages:
        read.append(page)
        yield page


class PullInterrupted(BuilderError):
    """The export stopped before its last page: what was processed must not be published."""


class PageFeed:
    """Saved export pages, handed from the thread that exports them to the one that processes
    them, so the server exports the next page while the last one is validated."""

    _END = object()

    def __init__(self) -> None:
        self._queue: queue.Queue[object] = queue.Queue()
        self.times: list[str] = []

    def put(self, page: Path, page_time: str) -> None:
        self.times.append(page_time)
        self._queue.put(page)

    def close(self, complete: bool) -> None:
        """No more pages; an incomplete feed makes its reader raise PullInterrupted."""
        self._queue.put(self._END if complete else None)

    def server_time(self) -> str:
        """The first page's time: what changes after it, the next pull looks for."""
        return min(self.times)

    def __iter__(self) -> Iterator[Path]:
        while True:
            item = self._queue.get()
            if item is self._END:
                return
            if item is None:
                raise PullInterrupted("the export stopped before its last page: nothing written")
            assert isinstance(item, Path)
            yield item


def check_counts(validated: Validated, snapshot: Path) -> None:
    """Every annotation and draft of the export is accepted, rejected or skipped exactly once."""
    wrong = validated.mismatches()
    if wrong:
        shown = "; ".join(
            f"task {task}: {pulled} in the export, {done} accounted for"
            for task, (pulled, done) in list(wrong.items())[:10]
        )
        raise BuilderError(
            f"{snapshot}: the counts do not add up for {len(wrong)} task(s) (annotations and "
            f"drafts in the export against accepted + rejected + skipped): {shown}",
            fix="nothing was written but the export itself; report this as a builder bug with "
            "that file",
        )


def previous_accepted(paths: PullPaths) -> dict[Any, Any]:
    """annotation id -> task id of the records the last pull accepted."""
    if not paths.accepted.is_file():
        return {}
    try:
        return {r["annotation_id"]: r["task_id"] for r in read_records(paths.accepted)}
    except (DamagedFile, KeyError, TypeError):
        # The records are derived: this pull writes them again from the tasks. What the damaged
        # file held cannot be compared, and saying so beats refusing every pull from now on.
        print(
            f"warning: {paths.accepted} is damaged: written again by this pull; records it held "
            "that the server no longer has cannot be detected this once",
            file=sys.stderr,
        )
        return {}


def check_no_records_lost(
    paths: PullPaths,
    before: dict[Any, Any],
    now: set[Any],
    rejected: set[Any],
    in_export: set[Any],
    pages: list[Path],
) -> None:
    """Refuse a pull whose accepted records (`now`) miss some that the last pull had."""
    lost = [{"annotation_id": a, "task_id": task} for a, task in before.items() if a not in now]
    if not lost:
        return
    snapshot = pages[-1] if pages else paths.snapshots
    why: dict[str, list[str]] = {}
    for r in lost:
        if r["annotation_id"] in rejected:
            reason = "rejected now (see the rejects file)"
        elif r["task_id"] in in_export:
            reason = "annotation deleted on the server"
        else:
            reason = "task gone from the export (deleted on the server, or another project)"
        why.setdefault(reason, []).append(f"task {r['task_id']}")
    detail = "; ".join(
        f"{reason}: {', '.join(sorted(set(items))[:5])}" for reason, items in why.items()
    )
    raise BuilderError(
        f"{paths.project}: this pull would drop {len(lost)} of the {len(before)} record(s) the "
        f"last pull had ({detail}); {paths.accepted} was left as it was",
        fix=f"check the project in Label Studio; to accept the smaller set run the pull again "
        f"with --allow-shrink (the export was kept as {snapshot}, earlier ones stay in "
        f"{paths.snapshots})",
    )


def data_changes(
    project: str, tasks: list[dict[str, Any]], expected: dict[str, dict[str, Any]] | None
) -> dict[str, list[str]]:
    """Task "id (item id)" -> the data fields that differ from the task built from raw/."""
    if not expected:
        return {}
    key = PROJECTS[project].item_key
    changed = {}
    for task in tasks:
        data = task.get("data") or {}
        ours = expected.get(data.get(key))
        # Only the fields raw/ makes: an adjudication task adds fields of its own.
        fields = sorted(k for k in ours or {} if data.get(k) != ours.get(k))
        if fields:
            changed[f"{task.get('id')} ({data.get(key)})"] = fields
    return changed


def since_last_pull(paths: PullPaths, project_id: int, full: bool) -> str | None:
    """The server time from which changes must be pulled, or None for a full pull."""
    previous = read_summary(paths.summary)
    if full or not previous or previous.get("project_id") != project_id:
        return None
    if not previous.get("server_time") or not paths.tasks.is_file():
        return None
    start = datetime.fromisoformat(previous["server_time"]) - OVERLAP
    return start.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def pull_projects(
    settings: Settings, report: Report, full: bool = False, allow_shrink: bool = False
) -> None:
    """Every project's (and its adjudication's) changed tasks: saved verbatim page by page,
    then validated; a pull that would lose records of the last one is refused unless
    `allow_shrink`.

    The server's export is most of a pull's time, spent waiting: a second thread meanwhile
    reads raw/ and validates each saved page while the server exports the next.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pull") as worker:
        loading = worker.submit(load_corpus, settings)
        try:
            _pull_all(settings, report, full, allow_shrink, worker, loading)
        finally:
            # Said even when the pull fails (bad input may be why): waits for raw/ to be read.
            if loading.exception() is None:
                for problem in loading.result().problems:
                    report.problem(problem)


def _pull_all(
    settings: Settings,
    report: Report,
    full: bool,
    allow_shrink: bool,
    worker: ThreadPoolExecutor,
    loading: Future[Corpus],
) -> None:
    @functools.cache
    def corpus_sentences() -> set[str]:
        # Called on the worker thread, after `loading` (the worker runs one job at a time).
        return loading.result().labeled_sentence_ids()

    def claim_data() -> dict[str, dict[str, Any]]:
        return {task[CLAIMS.item_key]: task for task in claim_tasks(loading.result())}

    def known_pairs(tasks: list[dict[str, Any]]) -> set[str]:
        data = [t.get("data") or {} for t in tasks]
        key = STANCE_PROJECT.item_key
        known = corpus_sentences()
        return {d[key] for d in data if key in d and d.get(CLAIMS.item_key) in known}

    known_items: dict[str, Callable[[list[dict[str, Any]]], set[str]]] = {
        CLAIMS.name: lambda tasks: corpus_sentences(),
        STANCE_PROJECT.name: known_pairs,
    }
    client = LabelStudioClient(settings)
    client.check()
    kinds = [
        (project, name, title)
        for project in PROJECTS.values()
        for name, title in (
            (project.name, project.title(settings)),
            (project.adjudication_name, project.adjudication_title(settings)),
        )
    ]
    for project, set_name, title in kinds:
        # Every project of the set (the first, then "<title> · 2", …), each into files of
        # its own: the readers of the records take the set's union.
        infos = identity.resolve_set(client, settings.state_dir, set_name, title, say=report.say)
        if not infos and set_name == CLAIMS.name:
            raise BuilderError(f"no project {title!r} at {client.url}", fix="run `make sync` first")
        for member, info in enumerate(infos, start=1):
            name = member_name(set_name, member)
            paths = pull_paths(settings, name)
            for message in repair(paths):
                report.warn(f"{name}: {message}")
            since = since_last_pull(paths, info.id, full)
            pull_name = new_pull_name(paths)
            feed = PageFeed()
            processing = worker.submit(
                process_pages,
                paths,
                feed,
                known_items[project.name],
                info.id,
                project.name,
                ground_truth=set_name != project.name,
                merge=since is not None,
                server_time=feed.server_time,
                allow_shrink=allow_shrink,
                expected_data=claim_data if project is CLAIMS else None,
            )
            pages: list[Path] = []
            complete = False
            try:
                for number, (data, page_time) in enumerate(
                    client.export_pages(info.id, settings.pull_page_size, since), start=1
                ):
                    # Each page saved verbatim, under the pull's name, before anything reads it.
                    pages.append(save_snapshot(paths, data, pull_name, number))
                    feed.put(pages[-1], page_time)
                    if processing.done():
                        break  # it failed: its error is raised below, no use exporting more
                else:
                    complete = True
            finally:
                feed.close(complete)
                if not complete:
                    # Our own error goes first; the worker's ("interrupted") is only its echo.
                    with contextlib.suppress(Exception):
                        processing.result()
            counts = processing.result()
            tell(report, name, pages, counts.counts, paths, since)
            changed = (read_summary(paths.summary) or {}).get("data_changed_on_server") or {}
            if changed:
                items = [f"task {task}: {', '.join(f)}" for task, f in changed.items()]
                shown = ", ".join(items[:5]) + (" …" if len(items) > 5 else "")
                report.warn(
                    f"warning: {name}: {len(items)} annotated task(s) hold data that differs "
                    f"from raw/ (edited on the server?); their annotations are kept: {shown}"
                )


def tell(
    report: Report,
    name: str,
    pages: list[Path],
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
    report.wrote += [*(str(page) for page in pages), str(paths.accepted)]
    skipped = ", ".join(
        f"{k.removeprefix('skipped_')} {v}" for k, v in counts.items() if k.startswith("skipped_")
    )
    what = f"the tasks changed since {since}" if since else "every annotated task"
    if len(pages) == 1:
        report.say(f"{name}: saved the export of {what} as {pages[0]}")
    else:
        report.say(f"{name}: saved the export of {what} in {len(pages)} pages: {pages[0]} …")
    report.say(
        f"{name}: pulled {counts['pulled']} = accepted {counts['accepted']} + rejected "
        f"{counts['rejected']} + skipped {counts['skipped']}" + (f" ({skipped})" if skipped else "")
    )
    if counts["rejected"]:
        report.wrote.append(str(paths.rejects))
        report.say(f"{name}: rejects with task, annotator, JSON path and reason: {paths.rejects}")
