"""Pulled annotations on disk back into records: where each project's pulls live, read back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.core.config import PULLS_DIR, RECORDS_DIR, Settings
from builder.core.errors import BuilderError
from builder.core.projects import PROJECTS, member_number


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


def set_names(settings: Settings, name: str) -> list[str]:
    """The pulled projects of `name`'s set, in order: `name` itself, then the continuations
    ("claims-2", …, see core/projects.py) that a pull saved records of."""
    folder = settings.exports_dir / RECORDS_DIR
    numbers = {1}
    if folder.is_dir():
        for path in folder.glob(f"{name}-*.summary.json"):
            number = member_number(path.name.removesuffix(".summary.json"), name)
            if number is not None:
                numbers.add(number)
    return [name if n == 1 else f"{name}-{n}" for n in sorted(numbers)]


def set_summaries(settings: Settings, name: str) -> list[dict[str, Any]]:
    """The last pull's summary of each pulled project of `name`'s set."""
    found = (pull_summary(settings, member) for member in set_names(settings, name))
    return [summary for summary in found if summary is not None]


class DamagedFile(BuilderError):
    """A file the builder derived from the pulls cannot be read (cut short, edited by hand)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"{path} is damaged ({reason})",
            fix="run `make pull`: it rebuilds exports/annotations/ from the saved pulls in "
            "exports/pulls/ and the server (the saved pulls are never changed)",
        )
        self.path = path


def load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise DamagedFile(path, f"not JSON: {exc}") from None


def read_task_list(path: Path) -> list[dict[str, Any]]:
    """A saved export or merged tasks file: a JSON list of task objects."""
    tasks = load_json(path)
    if not isinstance(tasks, list) or not all(isinstance(t, dict) and "id" in t for t in tasks):
        raise DamagedFile(path, "not a JSON list of tasks with ids")
    return tasks


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
    summary = load_json(path)
    if not isinstance(summary, dict) or not isinstance(summary.get("counts"), dict):
        raise DamagedFile(path, "not a pull summary")
    return summary


def pull_summary(settings: Settings, name: str) -> dict[str, Any] | None:
    """The summary of the last pull of a project (or of its adjudication) by name."""
    return read_summary(pull_paths(settings, name).summary)


def project_records(settings: Settings, project: str) -> list[dict[str, Any]]:
    """A project's accepted records, with its adjudicators' (ground truth) ones after them;
    each of the two is the union of its set (an item lives in one project of a set)."""
    records = []
    for name in (project, PROJECTS[project].adjudication_name):
        for member in set_names(settings, name):
            records += read_records(pull_paths(settings, member).accepted)
    return records


def pulled_tasks(settings: Settings, project: str) -> dict[str, dict[str, Any]]:
    """item id -> the task data the annotators saw, from the pulled (merged) tasks of the set."""
    key = PROJECTS[project].item_key
    found: dict[str, dict[str, Any]] = {}
    for member in set_names(settings, project):
        path = pull_paths(settings, member).tasks
        if path.is_file():
            data = ((task.get("data") or {}) for task in read_task_list(path))
            found.update({d[key]: d for d in data if key in d})
    return found


def annotated_task_ids(settings: Settings, name: str) -> set[int]:
    """The ids of the tasks the pulls so far saw with annotations, skips or drafts, in every
    project of `name`'s set (task ids are unique across a server)."""
    found: set[int] = set()
    for member in set_names(settings, name):
        found |= _annotated_task_ids(pull_paths(settings, member))
    return found


def _annotated_task_ids(paths: PullPaths) -> set[int]:
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
