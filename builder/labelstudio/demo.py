"""The repository's example annotations onto the sample corpus's tasks, by example users."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from builder.core.config import Settings
from builder.core.errors import BuilderError
from builder.core.projects import CLAIMS, PROJECTS, choice_result
from builder.core.report import Report
from builder.labelstudio import identity
from builder.labelstudio.client import LabelStudioClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "demo_annotations.json"


def load_examples(path: Path = EXAMPLES) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BuilderError(f"cannot read the example annotations {path}: {exc}") from None


def add_example_annotations(
    client: LabelStudioClient,
    project: str,
    project_id: int,
    task_of_item: dict[str, int],
    examples: list[dict[str, Any]],
) -> tuple[int, int]:
    """Annotate each example once: an annotator who already answered a task is left alone.

    Returns (added, already there). An example whose item is not a task is an error: the
    example file and the corpus have drifted apart.
    """
    users: dict[str, int] = {}
    done: dict[int, set[int]] = {}
    added = already = 0
    for example in examples:
        item = example["item_id"]
        if item not in task_of_item:
            raise BuilderError(
                f"example annotation for {item!r} has no task in project {project_id}",
                fix="run `make sync` first; if raw/ changed, the examples no longer match it",
            )
        task_id = task_of_item[item]
        email = example["annotator"]
        if email not in users:
            users[email] = client.user_id(email, first_name="Example")
        if task_id not in done:
            done[task_id] = set(client.task_annotators(task_id))
        if users[email] in done[task_id]:
            already += 1
            continue
        label = example.get("label")
        client.create_annotation(
            task_id,
            [] if label is None else choice_result(project, label),
            completed_by=users[email],
            was_cancelled=label is None,
            lead_time=float(example.get("lead_time", 5.0)),
        )
        done[task_id].add(users[email])
        added += 1
    return added, already


def add_demo_annotations(settings: Settings, report: Report) -> None:
    """The example annotations of each project the examples name, onto its tasks on the server."""
    examples = load_examples()
    client = LabelStudioClient(settings)
    client.check()
    projects = {
        name: (project, title)
        for project in PROJECTS.values()
        for name, title in (
            (project.name, project.title(settings)),
            (project.adjudication_name, project.adjudication_title(settings)),
        )
    }
    for name in [name for name in examples if name in projects]:
        project, title = projects[name]
        info = identity.resolve(client, settings.state_dir, name, title, say=report.say)
        if info is None:
            if name == CLAIMS.name:
                raise BuilderError(f"no project {title!r}", fix="run `make sync` first")
            continue
        task_of_item = {
            item: task for task, item in client.task_keys(info.id, project.item_key).items() if item
        }
        wanted = [e for e in examples[name] if name == project.name or e["item_id"] in task_of_item]
        added, already = add_example_annotations(
            client, project.name, info.id, task_of_item, wanted
        )
        report.read += len(wanted)
        report.kept += added
        report.drop("already annotated", already)
        report.say(
            f"{name}: example annotations (example data): added {added}, {already} already there"
        )
