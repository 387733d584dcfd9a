"""Label Studio exports into saved snapshots, then into accepted records and rejects on disk."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from builder.core.atomic import json_line, open_atomic, write_bytes, write_json, write_new
from builder.core.config import PULLS_DIR, RECORDS_DIR, Settings
from builder.core.errors import BuilderError
from builder.labels.validate import ITEM_KEY, Validated, parse_export, validate_export

# Changes are looked for from a little before the last export, so none falls between two pulls;
# a task seen twice simply replaces itself.
OVERLAP = timedelta(minutes=2)
# Tasks validated and written at a time: a pull's memory stays flat whatever the project's size.
CHUNK = 1000


@dataclass(frozen=True)
class PullPaths:
    """Where one project's pulls live under exports/."""

    root: Path
    project: str

    @property
    def snapshots(self) -> Path:
        return self.root / PULLS_DIR

    @property
    def accepted(self) -> Path:
        return self.root / RECORDS_DIR / f"{self.project}.jsonl"

    @property
    def rejects(self) -> Path:
        return self.root / RECORDS_DIR / f"{self.project}.rejects.jsonl"

    @property
    def tasks(self) -> Path:
        """The latest version of every annotated task pulled so far, merged across pulls."""
        return self.root / RECORDS_DIR / f"{self.project}.tasks.json"

    @property
    def summary(self) -> Path:
        return self.root / RECORDS_DIR / f"{self.project}.summary.json"


def pull_paths(settings: Settings, project: str) -> PullPaths:
    return PullPaths(settings.exports_dir, project)


class DamagedFile(BuilderError):
    """A file the builder derived from the pulls cannot be read (cut short, edited by hand)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"{path} is damaged ({reason})",
            fix="run `make pull`: it rebuilds exports/annotations/ from the saved pulls in "
            "exports/pulls/ and the server (the saved pulls are never changed)",
        )
        self.path = path


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise DamagedFile(path, f"not JSON: {exc}") from None


def read_task_list(path: Path) -> list[dict[str, Any]]:
    """A saved export or merged tasks file: a JSON list of task objects."""
    tasks = _load_json(path)
    if not isinstance(tasks, list) or not all(isinstance(t, dict) and "id" in t for t in tasks):
        raise DamagedFile(path, "not a JSON list of tasks with ids")
    return tasks


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


def read_tasks(path: Path) -> Iterator[dict[str, Any]]:
    """The tasks of a merged tasks file one at a time (it holds one task a line); a file cut
    short or edited into something else is a DamagedFile, never a traceback."""
    try:
        yield from _read_tasks(path)
    except (ValueError, UnicodeDecodeError, TypeError, KeyError) as exc:
        raise DamagedFile(path, f"not a JSON list of tasks with ids: {exc}") from None


def _read_tasks(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, "rb") as handle:
        if handle.readline().strip() != b"[":
            # A whole-JSON file written by an earlier version of the builder: read it once.
            handle.seek(0)
            yield from sorted(json.loads(handle.read()), key=lambda task: task["id"])
            return
        for line in handle:
            line = line.strip()
            if line and line != b"]":
                yield json.loads(line.rstrip(b","))


def page_tasks(pages: list[Path], counts: PullCounts) -> Iterator[dict[str, Any]]:
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
    pages: list[Path],
    known_items: Callable[[list[dict[str, Any]]], set[str]],
    project_id: int | None,
    question_project: str | None = None,
    ground_truth: bool = False,
    merge: bool = False,
    server_time: str = "",
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
    does not grow with the project. The summary is written last, so a crash before it leaves
    the next pull to redo this one.
    """
    previous = read_summary(paths.summary) if merge else None
    counts = PullCounts()
    fresh = page_tasks(pages, counts)
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
        tasks_out.write(b"[")
        separator = b"\n"
        for chunk in chunks(merged(old, fresh), CHUNK):
            for task in chunk:
                tasks_out.write(separator + json.dumps(task, ensure_ascii=False).encode("utf-8"))
                separator = b",\n"
            validated = validate_export(project, chunk, known_items(chunk), ground_truth)
            check_counts(validated, pages[-1] if pages else paths.tasks)
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
        tasks_out.write(b"\n]\n")
        check_no_records_lost(paths, before, kept, rejected_now, tasks_seen, pages)
    names = [page.name for page in pages]
    summary: dict[str, Any] = {
        "project": paths.project,
        "project_id": project_id,
        "snapshot": names[-1] if names else "",
        "snapshots": (previous or {}).get("snapshots", []) + names,
        "server_time": server_time,
        "incremental": merge,
        "changed_tasks": counts.changed_tasks,
        "counts": counts.counts,
        "data_changed_on_server": changed,
    }
    write_json(paths.summary, summary)
    return counts


def process_snapshot(
    paths: PullPaths,
    snapshot: Path,
    known_items: Callable[[list[dict[str, Any]]], set[str]],
    project_id: int | None,
    question_project: str | None = None,
    ground_truth: bool = False,
    merge: bool = False,
    server_time: str = "",
    allow_shrink: bool = False,
    expected_data: Callable[[], dict[str, dict[str, Any]]] | None = None,
) -> PullCounts:
    """process_pages of a pull saved as one export."""
    return process_pages(
        paths,
        [snapshot],
        known_items,
        project_id,
        question_project,
        ground_truth,
        merge,
        server_time,
        allow_shrink=allow_shrink,
        expected_data=expected_data,
    )


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
    key = ITEM_KEY[project]
    changed = {}
    for task in tasks:
        data = task.get("data") or {}
        ours = expected.get(data.get(key))
        # Only the fields raw/ makes: an adjudication task adds fields of its own.
        fields = sorted(k for k in ours or {} if data.get(k) != ours.get(k))
        if fields:
            changed[f"{task.get('id')} ({data.get(key)})"] = fields
    return changed


def annotated_task_ids(paths: PullPaths) -> set[int]:
    """The ids of the tasks the pulls so far saw with annotations, skips or drafts."""
    if not paths.tasks.is_file():
        return set()
    try:
        tasks = json.loads(paths.tasks.read_bytes())
    except ValueError:
        raise BuilderError(
            f"{paths.tasks} is damaged: it says which deleted tasks had annotations",
            fix="`make pull ARGS=--full` writes it again from the server",
        ) from None
    return {
        task["id"]
        for task in tasks
        if isinstance(task, dict) and (task.get("annotations") or task.get("drafts"))
    }


def since_last_pull(paths: PullPaths, project_id: int, full: bool) -> str | None:
    """The server time from which changes must be pulled, or None for a full pull."""
    previous = read_summary(paths.summary)
    if full or not previous or previous.get("project_id") != project_id:
        return None
    if not previous.get("server_time") or not paths.tasks.is_file():
        return None
    start = datetime.fromisoformat(previous["server_time"]) - OVERLAP
    return start.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def read_records(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DamagedFile(path, f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    # Only "\n" ends a record: str.splitlines would also cut at U+2028 inside a JSON string.
    lines = [line for line in text.split("\n") if line.strip()]
    try:
        # One parse of the whole file is several times faster than one per line.
        records = json.loads("[" + ",".join(lines) + "]")
        if all(isinstance(record, dict) for record in records):
            return records
    except ValueError:
        pass
    raise DamagedFile(path, f"line {_first_bad_line(text)} is not a JSON record")


def _first_bad_line(text: str) -> int:
    """The number of the first line that is not a JSON object (looked for only on failure)."""
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        try:
            if line.strip() and not isinstance(json.loads(line), dict):
                return number
        except ValueError:
            return number
    return len(lines)


def read_summary(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    summary = _load_json(path)
    if not isinstance(summary, dict) or not isinstance(summary.get("counts"), dict):
        raise DamagedFile(path, "not a pull summary")
    return summary


ADJUDICATED = "{project}-adjudication"


def project_records(settings: Settings, project: str) -> list[dict[str, Any]]:
    """A project's accepted records, with its adjudicators' (ground truth) ones after them."""
    records = read_records(pull_paths(settings, project).accepted)
    adjudicated = pull_paths(settings, ADJUDICATED.format(project=project)).accepted
    return records + read_records(adjudicated)
