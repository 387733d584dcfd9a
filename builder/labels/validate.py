"""A Label Studio JSON export into annotation records: accepted, rejected (with why) or skipped."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator

from builder.core.errors import BuilderError
from builder.core.projects import PROJECTS
from builder.core.scheme import LABELED_TEXT, annotation_schema

_validator = Draft202012Validator(annotation_schema())
# The same schema compiled to Python: about 60 times faster. It only says "valid"; every record
# it doubts is checked again by jsonschema, which gives the JSON path and the reason.
_fast_check = fastjsonschema.compile(annotation_schema())


@dataclass
class Validated:
    accepted: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    # task id -> skipped annotations and drafts of that task.
    skipped_by_task: Counter = field(default_factory=Counter)
    # task id -> annotations and drafts in the export, counted from the export itself
    # (export_counts), not from what validation made of them.
    pulled: Counter = field(default_factory=Counter)

    def accounted(self) -> Counter:
        """task id -> annotations and drafts validation accepted, rejected or skipped."""
        done = Counter(r["task_id"] for r in self.accepted)
        done.update(r["task_id"] for r in self.rejected)
        done.update(self.skipped_by_task)
        return done

    def mismatches(self) -> dict[Any, tuple[int, int]]:
        """task id -> (in the export, accounted for) where the two differ."""
        done = self.accounted()
        return {
            task: (self.pulled[task], done[task])
            for task in sorted(set(self.pulled) | set(done), key=str)
            if self.pulled[task] != done[task]
        }

    @property
    def counts(self) -> dict[str, int]:
        skipped = sum(self.skipped.values())
        accepted, rejected = len(self.accepted), len(self.rejected)
        return {
            "pulled": sum(self.pulled.values()),
            "accepted": accepted,
            "rejected": rejected,
            "skipped": skipped,
            **{f"skipped_{reason}": n for reason, n in sorted(self.skipped.items())},
        }


def export_counts(tasks: list[dict[str, Any]]) -> Counter:
    """task id -> how many annotations and drafts the export holds for it (every kind)."""
    counts: Counter = Counter()
    for task in tasks:
        task_id = task.get("id") if isinstance(task, dict) else None
        for kind in ("annotations", "drafts"):
            found = task.get(kind) if isinstance(task, dict) else None
            counts[task_id] += len(found) if isinstance(found, list) else 0
    return counts


def annotator_of(annotation: dict[str, Any]) -> str:
    """The annotator's e-mail (exports made with only_id=False), else their user id."""
    who = annotation.get("completed_by")
    if isinstance(who, dict):
        return str(who.get("email") or who.get("id"))
    return str(who) if who is not None else ""


def answers_of(result: list[dict[str, Any]]) -> dict[str, Any]:
    """Control name -> chosen values; every control named is kept, so unknown ones show."""
    answers: dict[str, Any] = {}
    for item in result:
        name = str(item.get("from_name", ""))
        value = item.get("value") or {}
        if item.get("type") == "choices" and isinstance(value.get("choices"), list):
            answers.setdefault(name, []).extend(value["choices"])
        else:
            answers[name] = value
    return answers


def record_of(project: str, task: dict[str, Any], annotation: dict[str, Any]) -> dict[str, Any]:
    return {
        "project": project,
        "item_id": str((task.get("data") or {}).get(PROJECTS[project].item_key, "")),
        "task_id": task.get("id"),
        "annotation_id": annotation.get("id"),
        "annotator": annotator_of(annotation),
        "answers": answers_of(annotation.get("result") or []),
        "lead_time": annotation.get("lead_time"),
        "created_at": annotation.get("created_at"),
        "updated_at": annotation.get("updated_at"),
        "ground_truth": bool(annotation.get("ground_truth")),
    }


def schema_errors(record: dict[str, Any]) -> list[Any]:
    """The record's JSON Schema errors, by path; none for a valid record."""
    try:
        _fast_check(record)
        return []
    except fastjsonschema.JsonSchemaException:
        return sorted(_validator.iter_errors(record), key=lambda e: e.json_path)


def wrong_target(annotation: dict[str, Any]) -> tuple[str, str] | None:
    """(JSON path, reason) of the first result item that points at nothing in the labeling
    config: its answer labels no text the annotator saw, so it is no vote."""
    for index, item in enumerate(annotation.get("result") or []):
        to_name = item.get("to_name")
        if to_name != LABELED_TEXT:
            return (
                f"$.result[{index}].to_name",
                f"to_name {to_name!r} points at nothing in the labeling config (its choices "
                f"label {LABELED_TEXT!r})",
            )
    return None


def _reject(record: dict[str, Any], path: str, reason: str) -> dict[str, Any]:
    return {
        "task_id": record["task_id"],
        "annotation_id": record["annotation_id"],
        "annotator": record["annotator"],
        "item_id": record["item_id"],
        "path": path,
        "reason": reason,
        "record": record,
    }


def validate_export(
    project: str,
    tasks: list[dict[str, Any]],
    known_items: set[str],
    ground_truth: bool = False,
) -> Validated:
    """Every annotation and draft of an export, each counted exactly once.

    With `ground_truth`, every annotation is an adjudicator's and settles its item.
    """
    out = Validated(pulled=export_counts(tasks))

    def skip(task_id: Any, reason: str) -> None:
        out.skipped[reason] = out.skipped.get(reason, 0) + 1
        out.skipped_by_task[task_id] += 1

    for task in tasks:
        for _draft in task.get("drafts") or []:
            skip(task.get("id"), "draft")
        for annotation in task.get("annotations") or []:
            if annotation.get("was_cancelled"):
                skip(task.get("id"), "cancelled")
                continue
            if not annotation.get("result"):
                skip(task.get("id"), "empty")
                continue
            record = record_of(project, task, annotation)
            record["ground_truth"] = record["ground_truth"] or ground_truth
            errors = schema_errors(record)
            target = wrong_target(annotation)
            if errors:
                # One reject per annotation keeps the counts adding up; every reason is named.
                reason = "; ".join(f"{e.json_path}: {e.message}" for e in errors)
                out.rejected.append(_reject(record, errors[0].json_path, reason))
            elif target is not None:
                out.rejected.append(_reject(record, *target))
            elif record["item_id"] not in known_items:
                out.rejected.append(
                    _reject(
                        record,
                        "$.item_id",
                        f"unknown {PROJECTS[project].item_key} {record['item_id']!r}: not in raw/",
                    )
                )
            else:
                out.accepted.append(record)
    return out


def parse_export(data: bytes, source: str) -> list[dict[str, Any]]:
    """A Label Studio JSON export, its shape checked down to the result items, so nothing
    later stumbles on a server's (or a proxy's) odd answer."""
    try:
        tasks = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BuilderError(f"{source}: not a JSON export ({exc})") from None
    if not isinstance(tasks, list):
        raise BuilderError(f"{source}: expected a JSON list of tasks")
    for index, task in enumerate(tasks):
        where = f"{source}: task [{index}]"
        if not isinstance(task, dict) or "id" not in task:
            raise BuilderError(f"{where} is not a task object with an id")
        if not isinstance(task.get("data") or {}, dict):
            raise BuilderError(f"{where}: its data is not an object")
        # Drafts are only counted (the export lists them by id), annotations are read.
        if not isinstance(task.get("drafts") or [], list):
            raise BuilderError(f"{where}: drafts is not a list")
        annotations = task.get("annotations") or []
        if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
            raise BuilderError(f"{where}: annotations is not a list of objects")
        for annotation in annotations:
            result = annotation.get("result") or []
            if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
                raise BuilderError(f"{where}: a result of its annotations is not a list of objects")
    return tasks
