"""LabelStudioClient, the one module that talks to Label Studio, against the real server."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime
from typing import Any

import pytest
from conftest import LabelStudioServer
from support import Api

from builder.core.config import Secret, Settings
from builder.core.errors import BuilderError
from builder.core.projects import labeling_config
from builder.labelstudio.client import LabelStudioClient, ProjectInfo

CHOICE = [
    {
        "from_name": "claim",
        "to_name": "text",
        "type": "choices",
        "value": {"choices": ["checkworthy"]},
    }
]


@pytest.fixture
def client(server_settings: Settings) -> LabelStudioClient:
    return LabelStudioClient(server_settings)


def unique(what: str) -> str:
    return f"test {what} {uuid.uuid4().hex[:10]}"


def task(sentence_id: str) -> dict[str, Any]:
    fields = ("article_id", "story_id", "text", "headline", "meta", "before", "after")
    return {"data": {"sentence_id": sentence_id, **{f: f"{f} of {sentence_id}" for f in fields}}}


def admin(labelstudio: LabelStudioServer) -> Api:
    """Plain HTTP to the server as the admin, not through the client under test."""
    return Api(labelstudio.url, labelstudio.token)


def new_project(client: LabelStudioClient, **kwargs: Any) -> ProjectInfo:
    return client.create_project(unique("client"), labeling_config("claims"), "a test", **kwargs)


@pytest.mark.server
def test_find_project_is_none_for_a_missing_title(client: LabelStudioClient) -> None:
    assert client.find_project(unique("no such project")) is None


@pytest.mark.server
def test_create_project_then_find_it(client: LabelStudioClient) -> None:
    title = unique("create")
    config = labeling_config("claims")
    info = client.create_project(title, config, "made by a test", maximum_annotations=2)
    assert info.title == title
    assert "".join(info.label_config.split()) == "".join(config.split())
    assert (info.task_count, info.annotation_count, info.maximum_annotations) == (0, 0, 2)
    assert client.find_project(title) == info
    assert client.project(info.id) == info
    client.update_project(info.id, maximum_annotations=1)
    assert client.project(info.id).maximum_annotations == 1


@pytest.mark.server
def test_import_tasks_returns_the_ids_in_order_and_task_keys_lists_them(
    client: LabelStudioClient, labelstudio: LabelStudioServer
) -> None:
    info = new_project(client)
    assert client.task_keys(info.id, "sentence_id") == {}
    assert client.last_task_id(info.id) is None

    names = [f"s{i:02d}" for i in range(12)]
    ids = client.import_tasks(info.id, [task(n) for n in names])
    assert len(ids) == len(names) and ids == sorted(ids)
    # Each returned id is the task holding that item, in the order sent.
    for task_id, name in zip(ids, names, strict=True):
        assert (
            admin(labelstudio).request("GET", f"/api/tasks/{task_id}")["data"]["sentence_id"]
            == name
        )
    assert client.task_keys(info.id, "sentence_id") == dict(zip(ids, names, strict=True))
    assert client.task_keys(info.id, "pair_id") == dict.fromkeys(ids)
    assert client.last_task_id(info.id) == max(ids)
    assert client.project(info.id).task_count == len(names)

    more = client.import_tasks(info.id, [task("later")])
    assert client.last_task_id(info.id) == more[0] > max(ids)
    # The newest deleted: the newest is the one before it.
    admin(labelstudio).request("DELETE", f"/api/tasks/{more[0]}/")
    assert client.last_task_id(info.id) == max(ids)
    # An older one deleted: the newest stays.
    admin(labelstudio).request("DELETE", f"/api/tasks/{ids[0]}/")
    assert client.last_task_id(info.id) == max(ids)


@pytest.mark.server
def test_task_keys_reads_every_page(
    client: LabelStudioClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = new_project(client)
    ids = client.import_tasks(info.id, [task(f"p{i}") for i in range(25)])
    monkeypatch.setattr("builder.labelstudio.client.PAGE_SIZE", 10)
    assert client.task_keys(info.id, "sentence_id") == {
        task_id: f"p{i}" for i, task_id in enumerate(ids)
    }


@pytest.mark.server
def test_validate_config_refuses_a_broken_config_plainly(client: LabelStudioClient) -> None:
    info = new_project(client)
    client.validate_config(info.id, labeling_config("claims"))
    with pytest.raises(BuilderError, match="HTTP 400"):
        client.validate_config(info.id, labeling_config("claims").replace('"$text"', '"text'))


@pytest.mark.server
def test_export_snapshot_is_json_with_a_server_time_and_since_exports_only_changes(
    client: LabelStudioClient,
) -> None:
    info = new_project(client)
    ids = client.import_tasks(info.id, [task(f"e{i}") for i in range(4)])
    first = client.create_annotation(ids[0], CHOICE)
    client.create_annotation(ids[1], CHOICE)

    data, server_time = client.export_snapshot(info.id)
    exported = json.loads(data)
    # Only annotated tasks, each with its annotations.
    assert sorted(t["id"] for t in exported) == ids[:2]
    by_id = {t["id"]: t for t in exported}
    assert [a["id"] for a in by_id[ids[0]]["annotations"]] == [first]
    assert by_id[ids[0]]["annotations"][0]["result"][0]["value"] == CHOICE[0]["value"]
    # completed_by comes as an object with the annotator's e-mail.
    assert by_id[ids[0]]["annotations"][0]["completed_by"]["email"]
    assert isinstance(datetime.fromisoformat(server_time), datetime)

    # Nothing changed since the export: an empty list.
    data, later = client.export_snapshot(info.id, since=server_time)
    assert json.loads(data) == []
    assert datetime.fromisoformat(later) >= datetime.fromisoformat(server_time)

    time.sleep(0.05)
    client.create_annotation(ids[2], CHOICE)
    skipped_user = client.user_id(f"{uuid.uuid4().hex[:10]}@example.test")
    client.create_annotation(ids[0], [], completed_by=skipped_user, was_cancelled=True)
    data, _ = client.export_snapshot(info.id, since=later)
    changed = json.loads(data)
    assert sorted(t["id"] for t in changed) == [ids[0], ids[2]]
    # A skipped annotation is exported too.
    of_first = {t["id"]: t for t in changed}[ids[0]]["annotations"]
    assert sorted(a["was_cancelled"] for a in of_first) == [False, True]


@pytest.mark.server
def test_user_id_creates_a_user_once(
    client: LabelStudioClient, labelstudio: LabelStudioServer
) -> None:
    email = f"{uuid.uuid4().hex[:10]}@example.test"
    first = client.user_id(email, first_name="Ann")
    assert client.user_id(email) == first
    users = admin(labelstudio).request("GET", "/api/users/")
    assert [u["id"] for u in users if u["email"] == email] == [first]


@pytest.mark.server
def test_task_annotators_lists_who_answered_and_who_skipped(
    client: LabelStudioClient, labelstudio: LabelStudioServer
) -> None:
    info = new_project(client)
    [task_id] = client.import_tasks(info.id, [task("a0")])
    answered = client.user_id(f"{uuid.uuid4().hex[:10]}@example.test")
    skipped = client.user_id(f"{uuid.uuid4().hex[:10]}@example.test")
    client.create_annotation(task_id, CHOICE, completed_by=answered, lead_time=3.5)
    client.create_annotation(task_id, [], completed_by=skipped, was_cancelled=True)
    assert sorted(client.task_annotators(task_id)) == sorted([answered, skipped])
    stored = admin(labelstudio).request("GET", f"/api/tasks/{task_id}")["annotations"]
    # The task view gives completed_by as a user object.
    assert sorted((a["completed_by"]["id"], a["was_cancelled"]) for a in stored) == sorted(
        [(answered, False), (skipped, True)]
    )
    # The annotations list of the task leaves the skip out: task_annotators must not use it.
    listed = admin(labelstudio).request("GET", f"/api/tasks/{task_id}/annotations/")
    assert [a["completed_by"] for a in listed] == [answered]
    # The project counts one answer and one skip: two annotations in all, not three.
    assert client.project(info.id).annotation_count == 2


@pytest.mark.server
def test_errors_are_plain_builder_errors(
    server_settings: Settings, labelstudio: LabelStudioServer
) -> None:
    wrong = server_settings.model_copy(update={"label_studio_api_key": Secret("not-the-key-0000")})
    with pytest.raises(BuilderError, match="refused the API key") as refused:
        LabelStudioClient(wrong).check()
    assert "not-the-key-0000" not in str(refused.value)
    LabelStudioClient(server_settings).check()
    with pytest.raises(BuilderError, match="HTTP 404"):
        LabelStudioClient(server_settings).project(10**8)


def test_data_manager_time_is_utc_with_a_z() -> None:
    from builder.labelstudio.client import data_manager_time

    assert data_manager_time("2026-11-22T19:16:26.836638+00:00") == "2026-11-22T19:16:26.836638Z"
    assert data_manager_time("2026-11-22T19:16:26.836638Z") == "2026-11-22T19:16:26.836638Z"
    assert data_manager_time("2026-11-22T21:16:26+02:00") == "2026-11-22T19:16:26.000000Z"
