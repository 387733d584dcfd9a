"""The project registry: every task builder agrees with its labeling config (the SDK's reading)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from label_studio_sdk.label_interface import LabelInterface
from support import record

from builder.core.config import MAX_PROJECT_TITLE, Settings
from builder.core.features import features_for
from builder.core.projects import (
    ADJUDICATION_FIELDS,
    CLAIMS,
    LABEL,
    PROJECTS,
    STANCE_PROJECT,
    Project,
    choice_result,
    member_name,
    member_number,
    member_title,
    placement,
)
from builder.inputs.corpus import load_corpus
from builder.labels.aggregate import ItemLabel, aggregate
from builder.tasks.adjudicate import adjudications
from builder.tasks.claims import claim_tasks
from builder.tasks.stance import candidate_pairs, targets_from

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tasks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Tasks of the sample corpus, made by the builders themselves."""
    root = tmp_path_factory.mktemp("root")
    shutil.copytree(ROOT / "raw", root / "raw")
    corpus = load_corpus(Settings(root=root))
    claims = claim_tasks(corpus)
    # Every body sentence checkworthy: targets enough to pair across the two outlets.
    labels = {
        t["sentence_id"]: ItemLabel(t["sentence_id"], "checkworthy", 1, 1.0, "majority", {})
        for t in claims
        if t["kind"] == "body"
    }
    pairs = candidate_pairs(corpus, targets_from(corpus, labels, []), 3, 0.0)
    return {"claims": claims, "stance": [pair.task_data() for pair in pairs]}


def variables(config: str) -> set[str]:
    """Every task field a config reads: its objects' values (as the SDK sees them) and headers."""
    interface = LabelInterface(config)
    names = {tag.value_name for tag in interface.objects if tag.value_is_variable}
    return names | set(re.findall(r'<Header value="\$(\w+)"', config))


@pytest.mark.parametrize("project", PROJECTS.values(), ids=lambda p: p.name)
def test_every_task_builder_fills_its_labeling_config(
    project: Project, tasks: dict[str, list[dict[str, Any]]]
) -> None:
    built = tasks[project.name]
    assert built, "the sample corpus makes no tasks"
    interface = LabelInterface(project.labeling_config())
    for task in built:
        assert tuple(task) == project.task_fields
        assert interface.validate_task({"data": task})
    assert variables(project.labeling_config()) <= set(project.task_fields)
    assert project.item_key in project.task_fields
    # Without a field its config shows, a task is refused.
    shown = sorted(variables(project.labeling_config()) & {o.value_name for o in interface.objects})
    assert not interface.validate_task({"data": {**built[0], shown[0]: None}})


@pytest.mark.parametrize("project", PROJECTS.values(), ids=lambda p: p.name)
def test_adjudication_tasks_and_predictions_fit_the_adjudication_config(
    project: Project, tasks: dict[str, list[dict[str, Any]]]
) -> None:
    item = tasks[project.name][0][project.item_key]
    records = [
        record(item, "amy", project.question.names[0], project=project.name),
        record(item, "bob", project.question.names[1], project=project.name),
    ]
    task_of_item = {t[project.item_key]: t for t in tasks[project.name]}
    [todo] = adjudications(project.name, aggregate(records), records, task_of_item)
    config = project.labeling_config(adjudication=True)
    interface = LabelInterface(config)
    assert tuple(todo.task) == project.task_fields + ADJUDICATION_FIELDS
    assert interface.validate_task({"data": todo.task})
    assert variables(config) <= set(todo.task)
    for prediction in todo.predictions:
        assert interface.validate_prediction(prediction)


@pytest.mark.parametrize("project", PROJECTS.values(), ids=lambda p: p.name)
def test_a_choice_result_is_valid_for_its_config(project: Project) -> None:
    interface = LabelInterface(project.labeling_config())
    for label in project.question.names:
        assert interface.validate_prediction({"result": choice_result(project.name, label)})


def test_a_task_with_other_fields_than_declared_is_refused() -> None:
    values = dict.fromkeys(CLAIMS.task_fields, "x")
    assert tuple(CLAIMS.task(**values)) == CLAIMS.task_fields
    with pytest.raises(ValueError, match="headline"):
        CLAIMS.task(**{k: v for k, v in values.items() if k != "headline"})
    with pytest.raises(ValueError, match="extra"):
        CLAIMS.task(**values, extra="y")


def test_names_titles_and_files_derive_from_the_declaration(tmp_path: Path) -> None:
    settings = Settings(root=tmp_path)
    assert [p.name for p in PROJECTS.values()] == ["claims", "stance"]
    assert CLAIMS.names() == ("claims", "claims-adjudication")
    assert STANCE_PROJECT.title(settings) == "Fact-check stance"
    assert CLAIMS.adjudication_title(settings) == "Fact-check claims · adjudication"
    assert CLAIMS.sync_state_file() == "claims.json"
    assert STANCE_PROJECT.sync_state_file(adjudication=True) == "stance-adjudication.json"
    assert {p.name: p.item_key for p in PROJECTS.values()} == {
        "claims": "sentence_id",
        "stance": "pair_id",
    }


@pytest.mark.parametrize("project", PROJECTS.values(), ids=lambda p: p.name)
def test_dataset_columns_derive_from_the_declaration(
    project: Project, tasks: dict[str, list[dict[str, Any]]]
) -> None:
    copied = {c.copies for c in project.columns if c.copies}
    assert copied <= set(project.task_fields)
    assert project.item_key in copied
    features = features_for(project.name)
    assert list(features) == [c.name for c in project.columns]
    assert features[project.question.name].names == project.question.names
    made = {c.name: None for c in project.columns if not c.copies and c.dtype != LABEL}
    task = tasks[project.name][0]
    row = project.row(task, 1, **made)
    assert list(row) == list(features)
    assert row[project.question.name] == 1
    assert all(row[c.name] == task[c.copies] for c in project.columns if c.copies)


def test_a_row_with_other_made_columns_than_declared_is_refused(
    tasks: dict[str, list[dict[str, Any]]],
) -> None:
    made = {c.name: 0 for c in CLAIMS.columns if not c.copies and c.dtype != LABEL}
    with pytest.raises(ValueError, match="control"):
        CLAIMS.row(tasks["claims"][0], 0, **{k: v for k, v in made.items() if k != "control"})
    with pytest.raises(ValueError, match="extra"):
        CLAIMS.row(tasks["claims"][0], 0, **made, extra=1)


# A kind's set of projects past MAX_TASKS_PER_PROJECT ----------------------------------------


def test_placement_fills_each_project_up_to_the_limit_then_opens_the_next() -> None:
    assert placement([], 12, 5) == [5, 5, 2]
    assert placement([0], 3, 5) == [3]
    assert placement([3], 4, 5) == [2, 2]
    assert placement([5, 5, 2], 0, 5) == [0, 0, 0]
    assert placement([5, 5, 2], 9, 5) == [0, 0, 3, 5, 1]
    # A project short of the limit (a task deleted there) is filled again first.
    assert placement([4, 5, 5], 2, 5) == [1, 0, 0, 1]
    # Over the limit (it was lowered): nothing more goes there, nothing is moved out.
    assert placement([8], 2, 5) == [0, 2]
    assert sum(placement([1, 2], 1000, 7)) == 1000


def test_placement_never_passes_the_limit_of_a_project() -> None:
    for counts in ([], [0], [3], [5, 1], [7]):
        for new in range(0, 30):
            added = placement(counts, new, 5)
            assert sum(added) == new and len(added) >= len(counts)
            totals = [c + a for c, a in zip([*counts, *[0] * len(added)], added, strict=False)]
            assert all(total <= 5 for total, a in zip(totals, added, strict=False) if a)
            # Only the last project that gets tasks may end short of the limit.
            taking = [i for i, a in enumerate(added) if a]
            assert all(totals[i] == 5 for i in taking[:-1])


def test_the_projects_of_a_set_are_named_and_titled_from_the_first() -> None:
    assert [member_name("claims", n) for n in (1, 2, 3)] == ["claims", "claims-2", "claims-3"]
    assert member_name("claims-adjudication", 2) == "claims-adjudication-2"
    assert member_title("Fact-check claims", 1) == "Fact-check claims"
    assert member_title("Fact-check claims", 2) == "Fact-check claims · 2"
    assert member_number("claims", "claims") == 1
    assert member_number("claims-12", "claims") == 12
    for other in ("claims-adjudication", "claims-adjudication-2", "claims-1", "claims-02", "x-2"):
        assert member_number(other, "claims") is None
    assert member_number("claims-adjudication-2", "claims-adjudication") == 2


def test_a_set_title_fits_label_studios_50_characters(tmp_path: Path) -> None:
    longest = "x" * MAX_PROJECT_TITLE
    settings = Settings(root=tmp_path, claims_project_title=longest)
    title = CLAIMS.title(settings)
    assert member_title(title, 9) == longest + " · 9"  # a first project's title fits whole
    adjudication = CLAIMS.adjudication_title(settings)
    assert len(adjudication) == 50
    for member in (2, 10, 1000):
        shortened = member_title(adjudication, member)
        assert len(shortened) == 50 and shortened.endswith(f"… · {member}")
        assert shortened.startswith(longest)
