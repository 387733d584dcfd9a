"""Suggestions into a Label Studio project: its predictions replaced, uncertainty sampling on.

Only predictions are written or deleted, and only the builder's own (model versions named
"builder-…"): annotations are never touched. The new version is imported first and the project
switched to it before the old versions go, so annotators are never served from a half-written
set; a run killed midway leaves a partial version that the next run deletes and writes again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from builder.core.config import Settings
from builder.core.errors import BuilderError
from builder.core.projects import CLAIMS, STANCE_PROJECT
from builder.core.report import Report
from builder.core.scheme import question_for
from builder.inputs.corpus import Corpus, load_corpus
from builder.labels.aggregate import aggregate
from builder.labels.records import project_records
from builder.labelstudio import identity
from builder.labelstudio.client import LabelStudioClient, ProjectInfo
from builder.labelstudio.sync import SyncState, current_tasks
from builder.tasks.claims import claim_tasks
from builder.tasks.suggest import (
    Item,
    Suggestions,
    claim_item,
    make_pool,
    prediction,
    stance_item,
    suggest,
)

# Label Studio's name of the sampling mode (projects.models.Project.UNCERTAINTY).
UNCERTAINTY_SAMPLING = "Uncertainty sampling"
OWN_VERSION_PREFIX = "builder-"
# Predictions per import request: the server answers about 2.9 s per 1,000.
PREDICTION_BATCH_SIZE = 5000


@dataclass
class SuggestReport:
    project_id: int
    version: str
    written: int = 0
    deleted: dict[str, int] = field(default_factory=dict)  # old version -> predictions deleted
    unchanged: bool = False
    settings_changed: bool = False


def apply_suggestions(
    client: LabelStudioClient,
    info: ProjectInfo,
    project: str,
    suggestions: Suggestions,
    task_of_item: dict[str, int],
    show: bool,
) -> SuggestReport:
    """Write the suggestions on their tasks and order the project by them (rerun-safe)."""
    version = suggestions.version
    wanted = [
        {"task": task_of_item[item_id], **prediction(project, suggestion, version)}
        for item_id, suggestion in sorted(suggestions.by_item.items())
        if item_id in task_of_item
    ]
    report = SuggestReport(info.id, version)
    versions = client.model_versions(info.id)
    settings_wanted = (UNCERTAINTY_SAMPLING, version, show)
    settings_now = (info.sampling, info.model_version, info.show_predictions)
    ours = {v: n for v, n in versions.items() if v.startswith(OWN_VERSION_PREFIX) and n}
    if (
        versions.get(version) == len(wanted)
        and settings_now == settings_wanted
        and not (set(ours) - {version})
    ):
        report.unchanged = True
        return report
    if versions.get(version) != len(wanted):
        if versions.get(version):
            # A run stopped midway left part of this version: write it whole again.
            client.delete_predictions(info.id, version)
        for start in range(0, len(wanted), PREDICTION_BATCH_SIZE):
            report.written += client.import_predictions(
                info.id, wanted[start : start + PREDICTION_BATCH_SIZE]
            )
    if settings_now != settings_wanted:
        # One request: switching `show_collab_predictions` off alone also clears the project's
        # model_version on the server (ProjectSerializer.update), which would stop the ordering.
        client.update_project(
            info.id,
            sampling=UNCERTAINTY_SAMPLING,
            model_version=version,
            show_collab_predictions=show,
        )
        report.settings_changed = True
    for old in sorted(set(ours) - {version}):
        report.deleted[old] = client.delete_predictions(info.id, old)
    return report


@dataclass
class ProjectSuggestions:
    """What `suggest` did for one project: its labels, its model and the server's change."""

    project: str
    title: str
    project_id: int | None = None
    suggestions: Suggestions | None = None
    report: SuggestReport | None = None
    note: str = ""  # why nothing was done, when nothing was


def _labels(settings: Settings, project: str) -> dict[str, str]:
    """item id -> its accepted label (ties are unlabeled: nothing to train on)."""
    settled = aggregate(
        project_records(settings, project), settings.aggregation, settings.min_posterior
    )
    return {item_id: item.label for item_id, item in settled.items() if item.label is not None}


def suggest_project(
    client: LabelStudioClient,
    settings: Settings,
    project: str,
    members: list[tuple[ProjectInfo, dict[str, int]]],
    items: list[Item],
) -> list[ProjectSuggestions]:
    """One model for a project's set, its suggestions written into each project of the set
    (`members`: each project with the task id of each item it holds)."""
    suggestions = suggest(
        make_pool(items),
        _labels(settings, project),
        question_for(project).names,
        settings.suggest_min_labels,
    )
    done = []
    for info, task_of_item in members:
        one = ProjectSuggestions(project, info.title, info.id, suggestions)
        done.append(one)
        if not suggestions.ready:
            one.note = "too few labels"
        elif not any(item in task_of_item for item in suggestions.by_item):
            one.note = "no unlabeled task"
        else:
            one.report = apply_suggestions(
                client, info, project, suggestions, task_of_item, settings.show_suggestions
            )
    return done


def suggest_all(
    client: LabelStudioClient, settings: Settings, corpus: Corpus
) -> list[ProjectSuggestions]:
    """Suggestions for the claims projects and, when there are any, the stance projects."""
    # By the id the builder keeps (a project renamed in Label Studio is still found).
    claims = identity.resolve_set(
        client, settings.state_dir, CLAIMS.name, CLAIMS.title(settings), remember=False
    )
    if not claims:
        raise BuilderError(
            f"no project {CLAIMS.title(settings)!r} at {client.url}",
            fix="run `make sync` first",
        )
    members = []
    for member, info in enumerate(claims, start=1):
        state = SyncState.load(settings.state_dir / "sync" / CLAIMS.sync_state_file(member=member))
        tasks_by_item, _, _ = current_tasks(client, state, info, CLAIMS.item_key)
        members.append((info, {item: ids[0] for item, ids in tasks_by_item.items()}))
    done = suggest_project(
        client, settings, CLAIMS.name, members, [claim_item(task) for task in claim_tasks(corpus)]
    )
    # Stance pairs depend on the claim labels when `make stance` ran: read them off the server.
    stance_title = STANCE_PROJECT.title(settings)
    stance = identity.resolve_set(
        client, settings.state_dir, STANCE_PROJECT.name, stance_title, remember=False
    )
    if not stance:
        done.append(ProjectSuggestions(STANCE_PROJECT.name, stance_title, note="no project"))
        return done
    key = STANCE_PROJECT.item_key
    items, members = [], []
    for info in stance:
        data = {task: d for task, d in client.task_data(info.id).items() if d.get(key)}
        task_of_pair: dict[str, int] = {}
        for task_id in sorted(data, reverse=True):
            task_of_pair[data[task_id][key]] = task_id  # the oldest task of a pair wins
        items += [stance_item(d) for d in data.values()]
        members.append((info, task_of_pair))
    done += suggest_project(client, settings, STANCE_PROJECT.name, members, items)
    return done


def suggest_step(settings: Settings, report: Report) -> None:
    """Each project's unlabeled tasks ordered by a model trained on its labels, said plainly."""
    corpus = load_corpus(settings)
    for problem in corpus.problems:
        report.problem(problem)
    client = LabelStudioClient(settings)
    client.check()
    for done in suggest_all(client, settings, corpus):
        name, result = done.project, done.suggestions
        if result is None:
            report.say(f"{name}: no project {done.title!r} yet: nothing to suggest")
            continue
        counts = ", ".join(f"{label} {n}" for label, n in result.labels_per_class.items())
        if done.note == "too few labels":
            short = ", ".join(f"{label} has {n}" for label, n in result.short.items())
            report.say(
                f"{name}: too few labels to order by a model ({short}; at least "
                f"{result.minimum} of each needed, SUGGEST_MIN_LABELS): the labeling order of "
                f"project {done.project_id} is left as it is"
            )
            continue
        report.say(f"{name}: model {result.version} trained on {counts}")
        if done.note == "no unlabeled task":
            report.say(
                f"{name}: every task of project {done.project_id} is labeled: nothing to order"
            )
            continue
        written = done.report
        assert written is not None
        if written.unchanged:
            report.say(f"{name}: project {done.project_id} already ordered by {result.version}")
            continue
        deleted = sum(written.deleted.values())
        report.kept += written.written
        report.wrote.append(f"{written.written} prediction(s) to project {done.project_id}")
        report.say(
            f"{name}: wrote {written.written} prediction(s) on unlabeled tasks"
            + (f"; deleted {deleted} of older model versions" if written.deleted else "")
        )
        shown = (
            "shown to annotators as pre-annotations (SHOW_SUGGESTIONS=1)"
            if settings.show_suggestions
            else "hidden from annotators (SHOW_SUGGESTIONS=1 shows them)"
        )
        report.say(
            f"{name}: project {done.project_id} serves the least certain task first "
            f"({UNCERTAINTY_SAMPLING!r}, spread over stories); suggestions {shown}"
        )
