"""`suggest` on a real Label Studio: predictions on unlabeled tasks, uncertainty sampling served."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import LabelStudioServer
from support import Api, Synced, User, choice, make_root, ok, run, synced_root

from builder.core.scheme import CLAIM


def synced(
    tmp_path: Path, labelstudio: LabelStudioServer, api: Api, tag: str, **env: str
) -> Synced:
    """A synced root whose model needs only two labels of each class."""
    extra_env = {"SUGGEST_MIN_LABELS": "2", **env}
    return synced_root(tmp_path, labelstudio, api, tag, extra_env=extra_env)


def label_some(api: Api, tasks: dict[str, int], labels: list[str]) -> list[int]:
    """The admin labels the first tasks (by sentence id) with these labels, in order."""
    admin = api.admin()
    ids = [tasks[s] for s in sorted(tasks)[: len(labels)]]
    for task_id, label in zip(ids, labels, strict=True):
        api.annotate(task_id, choice(label), admin)
    return ids


TWO_OF_EACH = [name for name in CLAIM.names for _ in range(2)]


def predictions_of(api: Api, project_id: int) -> dict[int, list[dict[str, Any]]]:
    tasks = api.get("/api/tasks/", project=project_id, page_size=10000, fields="all")["tasks"]
    return {t["id"]: t["predictions"] for t in tasks}


def annotations_of(api: Api, project_id: int) -> list[tuple[Any, ...]]:
    return sorted(
        (a["id"], a["task"], str(a["result"]), a["updated_at"], a["completed_by"])
        for a in api.annotations(project_id)
    )


@pytest.mark.server
def test_too_few_labels_says_so_and_leaves_the_project_alone(
    labelstudio: LabelStudioServer, api: Api, tmp_path: Path
) -> None:
    root, project, tasks = synced(tmp_path, labelstudio, api, "suggest-few")
    label_some(api, tasks, ["checkworthy", "no_claim", "no_claim"])
    ok(root, "pull")
    before = api.get(f"/api/projects/{project['id']}")
    out = ok(root, "suggest")
    assert "too few labels to order by a model" in out
    assert "checkworthy has 1" in out and "not_checkworthy has 0" in out
    assert "left as it is" in out
    after = api.get(f"/api/projects/{project['id']}")
    for key in ("sampling", "model_version", "show_collab_predictions"):
        assert after[key] == before[key]
    assert api.get(f"/api/projects/{project['id']}/model-versions/") == {}


@pytest.mark.server
def test_an_annotator_is_served_the_lowest_score_first_and_sees_no_suggestion(
    labelstudio: LabelStudioServer, api: Api, tmp_path: Path
) -> None:
    root, project, tasks = synced(tmp_path, labelstudio, api, "suggest-order")
    labeled = label_some(api, tasks, TWO_OF_EACH)
    out = ok(root, "pull", "--suggest")
    assert "serves the least certain task first" in out
    settings = api.get(f"/api/projects/{project['id']}")
    assert settings["sampling"] == "Uncertainty sampling"
    assert settings["show_collab_predictions"] is False
    version = settings["model_version"]
    assert version.startswith("builder-") and version in out
    predictions = predictions_of(api, project["id"])
    # Exactly one prediction on every unlabeled task, none on a labeled one.
    assert all(not predictions[t] for t in labeled)
    unlabeled = {t: p for t, p in predictions.items() if t not in labeled}
    assert all(len(p) == 1 and p[0]["model_version"] == version for p in unlabeled.values())
    scores = {t: p[0]["score"] for t, p in unlabeled.items()}
    assert len(set(scores.values())) > 1, "the scores must differ for the order to mean anything"
    annotator: User = api.user(labelstudio, "suggest-annotator")
    served = api.get(f"/api/projects/{project['id']}/next", token=annotator.token)
    assert scores[served["id"]] == min(scores.values())
    assert served["predictions"] == []  # hidden: a suggestion would anchor the answer
    # They answer it; the next one is the next lowest.
    api.annotate(served["id"], choice("no_claim"), annotator)
    second = api.get(f"/api/projects/{project['id']}/next", token=annotator.token)
    rest = {t: s for t, s in scores.items() if t != served["id"]}
    assert scores[second["id"]] == min(rest.values())


@pytest.mark.server
def test_show_suggestions_shows_the_prediction_to_annotators(
    labelstudio: LabelStudioServer, api: Api, tmp_path: Path
) -> None:
    root, project, tasks = synced(tmp_path, labelstudio, api, "suggest-show", SHOW_SUGGESTIONS="1")
    label_some(api, tasks, TWO_OF_EACH)
    ok(root, "pull")
    assert "shown to annotators" in ok(root, "suggest")
    settings = api.get(f"/api/projects/{project['id']}")
    assert settings["show_collab_predictions"] is True
    assert settings["sampling"] == "Uncertainty sampling"
    annotator = api.user(labelstudio, "suggest-shown")
    served = api.get(f"/api/projects/{project['id']}/next", token=annotator.token)
    assert [p["model_version"] for p in served["predictions"]] == [settings["model_version"]]


@pytest.mark.server
def test_new_labels_replace_old_predictions_and_never_touch_an_annotation(
    labelstudio: LabelStudioServer, api: Api, tmp_path: Path
) -> None:
    root, project, tasks = synced(tmp_path, labelstudio, api, "suggest-replace")
    label_some(api, tasks, TWO_OF_EACH)
    ok(root, "pull")
    ok(root, "suggest")
    first = api.get(f"/api/projects/{project['id']}")["model_version"]
    annotations = annotations_of(api, project["id"])
    # Rerun with nothing new: nothing written, nothing deleted.
    again = ok(root, "suggest")
    assert f"already ordered by {first}" in again
    assert annotations_of(api, project["id"]) == annotations
    # A new label: a new model version replaces every old prediction.
    admin = api.admin()
    newly = sorted(tasks)[len(TWO_OF_EACH)]
    api.annotate(tasks[newly], choice("checkworthy"), admin)
    annotations = annotations_of(api, project["id"])
    ok(root, "pull")
    out = ok(root, "suggest")
    second = api.get(f"/api/projects/{project['id']}")["model_version"]
    assert second != first
    assert "deleted" in out
    versions = api.get(f"/api/projects/{project['id']}/model-versions/")
    assert set(versions) == {second}
    assert versions[second] == len(tasks) - len(TWO_OF_EACH) - 1
    assert annotations_of(api, project["id"]) == annotations
    predictions = predictions_of(api, project["id"])
    assert predictions[tasks[newly]] == []


@pytest.mark.server
def test_suggest_before_any_sync_says_to_sync_first(
    labelstudio: LabelStudioServer, tmp_path: Path
) -> None:
    root = make_root(tmp_path, labelstudio, "suggest-nosync")
    result = run(root, "suggest")
    assert result.returncode != 0
    assert "no project" in result.stderr and "make sync" in result.stderr
