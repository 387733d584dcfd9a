"""A Label Studio JSON export into annotation records: accepted, rejected (with why) or skipped."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator

from builder.core.projects import PROJECTS
from builder.core.scheme import annotation_schema

_validator = Draft202012Validator(annotation_schema())
# The same schema compiled to Python: about 60 times faster. It only says "valid"; every record
# it doubts is checked again by jsonschema, which gives the JSON path and the reason.
_fast_check = fastjsonschema.compile(annotation_schema())


@dataclass
class Validated:
    accepted: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        skipped = sum(self.skipped.values())
        accepted, rejected = len(self.accepted), len(self.rejected)
        return {
            "pulled": accepted + rejected + skipped,
            "accepted": accepted,
            "rejected": rejected,
            "skipped": skipped,
            **{f"skipped_{reason}": n for reason, n in sorted(self.skipped.items())},
        }


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
    out = Validated()
    for task in tasks:
        for _draft in task.get("drafts") or []:
            out.skipped["draft"] = out.skipped.get("draft", 0) + 1
        for annotation in task.get("annotations") or []:
            if annotation.get("was_cancelled"):
                out.skipped["cancelled"] = out.skipped.get("cancelled", 0) + 1
                continue
            if not annotation.get("result"):
                out.skipped["empty"] = out.skipped.get("empty", 0) + 1
                continue
            record = record_of(project, task, annotation)
            record["ground_truth"] = record["ground_truth"] or ground_truth
            errors = schema_errors(record)
            if errors:
                # One reject per annotation keeps the counts adding up; every reason is named.
                reason = "; ".join(f"{e.json_path}: {e.message}" for e in errors)
                out.rejected.append(_reject(record, errors[0].json_path, reason))
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
    from builder.core.errors import BuilderError

    try:
        tasks = json.loads(data)
    except json.JSONDecodeError as exc:
        raise BuilderError(
            f"{source}: not a JSON export ({exc.msg} at line {exc.lineno})"
        ) from None
    if not isinstance(tasks, list):
        raise BuilderError(f"{source}: expected a JSON list of tasks")
    return tasks
