"""Label Studio exports into saved snapshots, then into accepted records and rejects on disk."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import queue
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from builder import __version__
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
from builder.core.scheme import annotation_schema
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


@functools.lru_cache(maxsize=16)
def _sha256_of(path: Path, size: int, mtime_ns: int, inode: int) -> str:
    return sha256_file(path)


def file_sha256(path: Path) -> str:
    """A file's sha256, computed once per version of it: repair and the carry-over both check
    the tasks file (240 MB at 100,000 tasks). Every write replaces the file (a new inode)."""
    stat = path.stat()
    return _sha256_of(path, stat.st_size, stat.st_mtime_ns, stat.st_ino)


def repair(paths: PullPaths) -> list[str]:
    """Mend what an earlier pull left damaged before this one reads it; say what was done.

    The merged tasks are rebuilt from the saved pulls they came from (the summary lists
    them); what cannot be rebuilt is set aside, so this pull exports every annotated task
    again. The records and rejects need nothing: a pull carries them over only when their
    digests are the last pull's, and otherwise writes them again from the tasks.
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
    if (summary.get("sha256") or {}).get(paths.tasks.name) == file_sha256(paths.tasks):
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

    def remove(self, validated: Validated) -> None:
        """Take back what `validated` (an old version of a replaced task) had added."""
        self.pulled -= validated.counts["pulled"]
        self.accepted -= len(validated.accepted)
        self.rejected -= len(validated.rejected)
        for reason, n in validated.skipped.items():
            self.skipped[reason] -= n
            if not self.skipped[reason]:
                del self.skipped[reason]

    @classmethod
    def totals_of(cls, counts: dict[str, int]) -> PullCounts:
        """The running totals a summary's `counts` hold (this pull's own changed_tasks: 0)."""
        prefix = "skipped_"
        return cls(
            accepted=counts["accepted"],
            rejected=counts["rejected"],
            pulled=counts["pulled"],
            skipped={k.removeprefix(prefix): n for k, n in counts.items() if k.startswith(prefix)},
        )

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


def merged(
    old: Iterator[Any],
    fresh: Iterator[dict[str, Any]],
    old_id: Callable[[Any], int] = lambda task: task["id"],
    replaced: list[Any] | None = None,
) -> Iterator[Any]:
    """Two task streams in id order into one; a fresh task replaces the old entry of its id
    (added to `replaced`, when given)."""
    old_task, fresh_task = next(old, None), next(fresh, None)
    while old_task is not None or fresh_task is not None:
        if fresh_task is None or (old_task is not None and old_id(old_task) < fresh_task["id"]):
            yield old_task
            old_task = next(old, None)
            continue
        following = next(fresh, None)
        # Of two copies of one task in the fresh pages, the later one is the newer.
        if following is None or following["id"] != fresh_task["id"]:
            # Noted before the fresh task is handed on: its reader may need the old one.
            if old_task is not None and old_id(old_task) == fresh_task["id"]:
                if replaced is not None:
                    replaced.append(old_task)
                old_task = next(old, None)
            yield fresh_task
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


@dataclass
class Carried:
    """A task of the last pull that no fresh page replaces: its line of the tasks file and its
    lines of the records and rejects, carried over as written, neither parsed nor validated."""

    id: int
    line: bytes
    accepted: list[bytes]
    rejected: list[bytes]


# The tasks file holds one task a line, its id first (process_pages writes it so).
_TASK_ID = re.compile(rb'\{"id": (-?\d+)[,}]')


def _task_id(line: bytes) -> int:
    match = _TASK_ID.match(line)
    return int(match.group(1)) if match else json.loads(line)["id"]


# A row's task id, found without parsing the line (ten times faster). json_line writes keys
# sorted and escapes every quote inside a string, so the first match is a key: the row's own, or
# (in a reject) that of the record it holds, which is the same task.
_ROW_TASK_ID = re.compile(rb'"task_id": (-?\d+)[,}]')


def _rows(path: Path) -> Iterator[tuple[int, bytes]]:
    """(task id, line) of a records or rejects file, in the task id order it was written in."""
    if not path.is_file():
        return
    with open(path, "rb") as handle:
        for line in handle:
            if line.strip():
                match = _ROW_TASK_ID.search(line)
                yield int(match.group(1)) if match else json.loads(line)["task_id"], line


def carried_tasks(paths: PullPaths) -> Iterator[Carried]:
    """The last pull's tasks with their rows, streamed from its three files, in task id order."""
    accepted, rejected = _rows(paths.accepted), _rows(paths.rejects)
    next_accepted, next_rejected = next(accepted, None), next(rejected, None)
    with open(paths.tasks, "rb") as handle:
        handle.readline()  # "["
        for raw in handle:
            line = raw.strip().removesuffix(b",")
            if not line or line == b"]":
                continue
            entry = Carried(_task_id(line), line, [], [])
            while next_accepted is not None and next_accepted[0] == entry.id:
                entry.accepted.append(next_accepted[1])
                next_accepted = next(accepted, None)
            while next_rejected is not None and next_rejected[0] == entry.id:
                entry.rejected.append(next_rejected[1])
                next_rejected = next(rejected, None)
            yield entry
    if next_accepted is not None or next_rejected is not None:
        # The digests matched, so only a builder bug gets here: refuse rather than drop rows.
        raise BuilderError(
            f"{paths.project}: records of the last pull are not in the tasks file's order",
            fix="run `make pull ARGS=--full`",
        )


def validation_key(
    project: str, ground_truth: bool, inputs: str, expected: dict[str, Any] | None
) -> str:
    """What a task's validation depends on besides the task: the same key, the same outcome."""
    digest = hashlib.sha256()
    for part in (__version__, project, str(ground_truth), inputs):
        digest.update(part.encode("utf-8") + b"\0")
    digest.update(json.dumps(annotation_schema(), sort_keys=True).encode("utf-8") + b"\0")
    digest.update(json.dumps(expected, sort_keys=True, ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()


def _can_carry(paths: PullPaths, previous: dict[str, Any] | None, key: str) -> bool:
    """Whether the last pull's outputs can be carried over as written: validated under the same
    key, and each of its three files as it wrote them (their digests)."""
    if not previous or not key or previous.get("validated_with") != key:
        return False
    digests = previous.get("sha256") or {}
    return all(
        path.is_file() and digests.get(path.name) == file_sha256(path)
        for path in (paths.tasks, paths.accepted, paths.rejects)
    )


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
    inputs_key: Callable[[], str] | None = None,
) -> PullCounts:
    """Validate the saved pages of one pull and write the accepted records, rejects and counts.

    Nothing is written when the counts do not add up, or when records of the last pull would be
    lost (unless `allow_shrink`). `expected_data` (item id -> the task data built from raw/)
    finds tasks whose data was changed on the server: they are kept and listed in the summary.

    With `merge`, the pages hold only the tasks changed since the last pull: they replace
    their earlier versions and the rest is kept. `known_items` says, from the tasks, which item
    ids still belong to the corpus; `inputs_key` names what it (and so validation) depends on:
    when that, the schema and the builder are as the last pull had them, the tasks no page
    replaces are carried over as written, with their records, instead of validated again.
    Everything is streamed, CHUNK tasks at a time, so memory does not grow with the project.
    `pages` may still be arriving (a PageFeed): each is read when it comes, and `server_time`
    may then be asked for once they are all in. The summary is written last, so a crash before
    it leaves the next pull to redo this one.
    """
    previous = read_summary(paths.summary) if merge else None
    project = question_project or paths.project
    expected = expected_data() if expected_data else None
    key = validation_key(project, ground_truth, inputs_key(), expected) if inputs_key else ""
    carry = merge and _can_carry(paths, previous, key)
    counts = PullCounts.totals_of(previous["counts"]) if carry and previous else PullCounts()
    read: list[Path] = []
    fresh = page_tasks(_noted(pages, read), counts)
    replaced: list[Carried] = []
    if carry:
        old: Iterator[Any] = merged(
            carried_tasks(paths), fresh, old_id=lambda entry: entry.id, replaced=replaced
        )
    else:
        old_tasks = read_tasks(paths.tasks) if merge and paths.tasks.is_file() else iter(())
        old = merged(old_tasks, fresh)
    # What the last pull accepted (annotation id -> task id), to refuse losing any of it. Only
    # ids of those records are collected below, so a first pull holds nothing. Carried over,
    # only the records of the replaced tasks can be lost: they are collected as they come.
    before = {} if allow_shrink or carry else previous_accepted(paths)
    had = previous["counts"]["accepted"] if carry and previous else len(before)
    before_tasks = set(before.values())
    kept: set[Any] = set()
    rejected_now: set[Any] = set()
    tasks_seen: set[Any] = set()
    # "task id (item id)" -> fields: of the carried tasks, what the last pull found.
    changed_before: dict[str, list[str]] = {}
    if carry and previous:
        changed_before = previous.get("data_changed_on_server") or {}
    changed_of = {_id_of(name): name for name in changed_before}
    changed: dict[str, list[str]] = {}
    # The three files are published only when all are written (innermost first); an error
    # inside the block (counts that do not add up, records lost) publishes none of them.
    with (
        open_atomic(paths.tasks) as tasks_out,
        open_atomic(paths.rejects) as rejects_out,
        open_atomic(paths.accepted) as accepted_out,
    ):
        # Their digests, in the summary, let the next pull trust them without parsing them.
        digests = {name: hashlib.sha256() for name in ("tasks", "accepted", "rejects")}

        def write(out: Any, name: str, data: bytes) -> None:
            out.write(data)
            digests[name].update(data)

        write(tasks_out, "tasks", b"[")
        separator = b"\n"
        for chunk in chunks(old, CHUNK):
            tasks = [entry for entry in chunk if not isinstance(entry, Carried)]
            for entry in replaced:
                # The old version of a task a page replaced: its counts and records go.
                task = json.loads(entry.line)
                counts.remove(validate_export(project, [task], known_items([task]), ground_truth))
                if not allow_shrink:
                    for line in entry.accepted:
                        before[json.loads(line)["annotation_id"]] = entry.id
                    before_tasks.add(entry.id)
            replaced.clear()
            validated = validate_export(project, tasks, known_items(tasks), ground_truth)
            check_counts(validated, read[-1] if read else paths.tasks)
            counts.add(validated)
            if before:
                tasks_seen.update(t["id"] for t in tasks if t.get("id") in before_tasks)
                kept.update(
                    r["annotation_id"] for r in validated.accepted if r["annotation_id"] in before
                )
                rejected_now.update(
                    r["annotation_id"] for r in validated.rejected if r["annotation_id"] in before
                )
            changed.update(data_changes(project, tasks, expected))
            fresh_rows = _lines_by_task(validated)
            for entry in chunk:
                if isinstance(entry, Carried):
                    line, accepted, rejected = entry.line, entry.accepted, entry.rejected
                    if entry.id in changed_of:
                        changed[changed_of[entry.id]] = changed_before[changed_of[entry.id]]
                else:
                    line = json.dumps({"id": entry["id"], **entry}, ensure_ascii=False).encode()
                    accepted, rejected = fresh_rows.get(entry["id"], ([], []))
                write(tasks_out, "tasks", separator + line)
                separator = b",\n"
                for row in accepted:
                    write(accepted_out, "accepted", row)
                for row in rejected:
                    write(rejects_out, "rejects", row)
        write(tasks_out, "tasks", b"\n]\n")
        check_no_records_lost(paths, before, kept, rejected_now, tasks_seen, read, had)
    names = [page.name for page in read]
    summary: dict[str, Any] = {
        "project": paths.project,
        "project_id": project_id,
        "snapshot": names[-1] if names else "",
        "snapshots": (previous or {}).get("snapshots", []) + names,
        "server_time": server_time() if callable(server_time) else server_time,
        "incremental": merge,
        "sha256": {
            paths.tasks.name: digests["tasks"].hexdigest(),
            paths.accepted.name: digests["accepted"].hexdigest(),
            paths.rejects.name: digests["rejects"].hexdigest(),
        },
        "validated_with": key,
        "changed_tasks": counts.changed_tasks,
        "counts": counts.counts,
        # In task id order, carried and fresh alike.
        "data_changed_on_server": dict(sorted(changed.items(), key=lambda c: _id_of(c[0]))),
    }
    write_json(paths.summary, summary)
    return counts


def _id_of(change: str) -> int:
    """The task id of a data_changes key, "task id (item id)"."""
    return int(change.split(" ", 1)[0])


def _lines_by_task(validated: Validated) -> dict[Any, tuple[list[bytes], list[bytes]]]:
    """task id -> its accepted and rejected rows, as lines of their files."""
    rows: dict[Any, tuple[list[bytes], list[bytes]]] = {}
    for row in validated.accepted:
        rows.setdefault(row["task_id"], ([], []))[0].append(json_line(row))
    for row in validated.rejected:
        rows.setdefault(row["task_id"], ([], []))[1].append(json_line(row))
    return rows


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
    had: int,
) -> None:
    """Refuse a pull whose accepted records (`now`) miss some that the last pull had (`had`
    in all; `before` may hold only those that could be lost)."""
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
        f"{paths.project}: this pull would drop {len(lost)} of the {had} "
        f"record(s) the last pull had ({detail}); {paths.accepted} was left as it was",
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

    @functools.cache
    def corpus_key() -> str:
        # What the known items of both kinds of project depend on: the corpus's sentences.
        return hashlib.sha256("\n".join(sorted(corpus_sentences())).encode("utf-8")).hexdigest()

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
                inputs_key=corpus_key,
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
