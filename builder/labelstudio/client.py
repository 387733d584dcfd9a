"""The one module that talks to Label Studio: a small client over its SDK, errors made plain."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx

# The generated base client, not `label_studio_sdk.LabelStudio`: that one's extensions load
# pandas and the label-interface models at import (about 0.5 s of every command's start).
from label_studio_sdk.base_client import LabelStudioBase
from label_studio_sdk.core.api_error import ApiError

from builder.core.config import Settings
from builder.core.errors import BuilderError

# Imports and exports of large projects take far longer than the SDK's 60 s default.
TIMEOUT_SECONDS = 900
PAGE_SIZE = 5000
CHANGED_VIEW_TITLE = "builder: changed since the last pull"


@dataclass(frozen=True)
class ProjectInfo:
    id: int
    title: str
    label_config: str
    task_count: int
    annotation_count: int
    maximum_annotations: int
    sampling: str = ""
    model_version: str = ""
    show_predictions: bool = True


@contextmanager
def plain_errors(url: str) -> Iterator[None]:
    """Turn transport and API failures into BuilderErrors that say the cause and the fix."""
    try:
        yield
    except httpx.TransportError as exc:
        raise BuilderError(
            f"cannot reach Label Studio at {url} ({type(exc).__name__})",
            fix="start the local one with `make labelstudio`, or check LABEL_STUDIO_URL",
        ) from None
    except ApiError as exc:
        if exc.status_code in (401, 403):
            raise BuilderError(
                f"Label Studio at {url} refused the API key (HTTP {exc.status_code})",
                fix="check LABEL_STUDIO_API_KEY (for the local server: LOCAL_LABEL_STUDIO_TOKEN "
                "in .env, written by `make labelstudio`)",
            ) from None
        body = json.dumps(exc.body)[:500] if exc.body is not None else ""
        raise BuilderError(
            f"Label Studio at {url} answered HTTP {exc.status_code}: {body}"
        ) from None


def data_manager_time(when: str) -> str:
    """An ISO time as the Data Manager's filters take it (UTC, microseconds, "Z"). Any other
    form (such as the "+00:00" of an export's created_at) fails the filter: the tasks list
    answers HTTP 500 and an export with that view silently exports every task."""
    moment = datetime.fromisoformat(when.strip().replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LabelStudioClient:
    """What the builder needs from a Label Studio server, nothing more."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.server_url
        self._sdk = LabelStudioBase(
            base_url=self.url, api_key=settings.api_key.reveal(), timeout=TIMEOUT_SECONDS
        )

    def _call(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        """One request through the SDK's own HTTP client (its auth, token refresh, timeouts).

        Sync's calls go this way: the SDK's generic request encoder walks every value of
        every imported task in Python, which cost more than the server's own work on large
        imports, and plain JSON is all these endpoints take.
        """
        content = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        response = self._sdk._client_wrapper.httpx_client.request(
            path,
            method=method,
            params=params,
            content=content,
            headers={"Content-Type": "application/json"} if content is not None else None,
        )
        if response.status_code >= 400:
            try:
                detail = response.json()
            except ValueError:
                detail = response.text[:500]
            raise ApiError(
                status_code=response.status_code, headers=dict(response.headers), body=detail
            )
        return response.json() if response.content else None

    def check(self) -> None:
        """Fail early, and plainly, if the server is down or the key is refused."""
        with plain_errors(self.url):
            self._call("GET", "api/projects", {"page_size": 1, "include": "id"})

    # Projects ------------------------------------------------------------------------------
    @staticmethod
    def _info(project: dict[str, Any]) -> ProjectInfo:
        return ProjectInfo(
            id=project["id"],
            title=project.get("title") or "",
            label_config=project.get("label_config") or "",
            task_count=project.get("task_number") or 0,
            annotation_count=(project.get("total_annotations_number") or 0)
            + (project.get("skipped_annotations_number") or 0),
            maximum_annotations=project.get("maximum_annotations") or 1,
            sampling=project.get("sampling") or "",
            model_version=project.get("model_version") or "",
            show_predictions=bool(project.get("show_collab_predictions", True)),
        )

    def find_project(self, title: str) -> ProjectInfo | None:
        matches = []
        with plain_errors(self.url):
            page = 1
            while True:
                # `include` spares the server counting every project's tasks (0.7 s with a few
                # large projects); `title` narrows by substring, the exact match is ours.
                query = {"page": page, "page_size": 100, "include": "id,title", "title": title}
                listed = self._call("GET", "api/projects", query)
                matches += [p for p in listed["results"] if p.get("title") == title]
                if not listed.get("next"):
                    break
                page += 1
        if not matches:
            return None
        # Two projects of one title would make "the" project ambiguous: take the oldest.
        return self.project(min(p["id"] for p in matches))

    def project(self, project_id: int) -> ProjectInfo:
        with plain_errors(self.url):
            return self._info(self._call("GET", f"api/projects/{project_id}"))

    def create_project(
        self, title: str, label_config: str, description: str, maximum_annotations: int = 1
    ) -> ProjectInfo:
        fields = {
            "title": title,
            "label_config": label_config,
            "description": description,
            "maximum_annotations": maximum_annotations,
        }
        with plain_errors(self.url):
            created = self._call("POST", "api/projects", body=fields)
        return self.project(created["id"])

    def update_project(self, project_id: int, **fields: Any) -> None:
        with plain_errors(self.url):
            self._call("PATCH", f"api/projects/{project_id}", body=fields)

    def validate_config(self, project_id: int, label_config: str) -> None:
        with plain_errors(self.url):
            self._call(
                "POST", f"api/projects/{project_id}/validate", body={"label_config": label_config}
            )

    # Tasks ---------------------------------------------------------------------------------
    def task_keys(self, project_id: int, key: str) -> dict[int, str | None]:
        """task id -> the value of data[key] for every task of the project (the server's truth)."""
        keys: dict[int, str | None] = {}
        params: dict[str, Any] = {"project": project_id, "include": "id,data"}
        with plain_errors(self.url):
            for page in itertools.count(1):
                listed = self._call(
                    "GET", "api/tasks", {**params, "page": page, "page_size": PAGE_SIZE}
                )
                tasks = listed.get("tasks") or []
                for task in tasks:
                    keys[task["id"]] = (task.get("data") or {}).get(key)
                # A page past the last one answers 404, so stop on the total too.
                if len(tasks) < PAGE_SIZE or len(keys) >= int(listed.get("total") or 0):
                    break
        return keys

    def task_data(self, project_id: int) -> dict[int, dict[str, Any]]:
        """task id -> its data, for every task of the project."""
        tasks: dict[int, dict[str, Any]] = {}
        params: dict[str, Any] = {"project": project_id, "include": "id,data"}
        with plain_errors(self.url):
            for page in itertools.count(1):
                listed = self._call(
                    "GET", "api/tasks", {**params, "page": page, "page_size": PAGE_SIZE}
                )
                batch = listed.get("tasks") or []
                tasks.update({task["id"]: task.get("data") or {} for task in batch})
                if len(batch) < PAGE_SIZE or len(tasks) >= int(listed.get("total") or 0):
                    break
        return tasks

    def last_task_id(self, project_id: int) -> int | None:
        """The newest task's id: with the task count, it tells if tasks were added or deleted."""
        params = {
            "project": project_id,
            "include": "id",
            "page_size": 1,
            "query": json.dumps({"ordering": ["-tasks:id"]}),
        }
        with plain_errors(self.url):
            listed = self._call("GET", "api/tasks", params)
        tasks = listed.get("tasks") or []
        return tasks[0]["id"] if tasks else None

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> list[int]:
        """Import tasks in one request; their new ids, in order."""
        params = {"return_task_ids": True, "commit_to_project": True}
        with plain_errors(self.url):
            imported = self._call("POST", f"api/projects/{project_id}/import", params, tasks)
        return list(imported.get("task_ids") or [])

    # Predictions ---------------------------------------------------------------------------
    def model_versions(self, project_id: int) -> dict[str, int]:
        """model version -> how many predictions of that version the project's tasks carry."""
        with plain_errors(self.url):
            listed = self._call("GET", f"api/projects/{project_id}/model-versions/")
        return {str(version): int(count) for version, count in (listed or {}).items()}

    def import_predictions(self, project_id: int, predictions: list[dict[str, Any]]) -> int:
        """Add predictions (each names its `task`) in one request; how many were created."""
        with plain_errors(self.url):
            created = self._call(
                "POST", f"api/projects/{project_id}/import/predictions", body=predictions
            )
        return int((created or {}).get("created", len(predictions)))

    def delete_predictions(self, project_id: int, model_version: str) -> int:
        """Delete the predictions of one model version (annotations are not predictions: the
        server's endpoint deletes Prediction rows only)."""
        with plain_errors(self.url):
            deleted = self._call(
                "DELETE",
                f"api/projects/{project_id}/model-versions/",
                body={"model_version": model_version},
            )
        return int((deleted or {}).get("deleted_predictions", 0))

    # Annotations ---------------------------------------------------------------------------
    def _changed_view(self, project_id: int, since: str) -> int:
        """A Data Manager view of the tasks updated after `since`, made once and then reused."""
        data = {
            "title": CHANGED_VIEW_TITLE,
            "filters": {
                "conjunction": "and",
                "items": [
                    {
                        "filter": "filter:tasks:updated_at",
                        "operator": "greater",
                        "type": "Datetime",
                        "value": data_manager_time(since),
                    }
                ],
            },
        }
        for view in self._sdk.views.list(project=project_id):
            if (view.data or {}).get("title") == CHANGED_VIEW_TITLE:
                self._sdk.views.update(view.id, data=data, project=project_id)
                return view.id
        return self._sdk.views.create(project=project_id, data=data).id

    def export_snapshot(self, project_id: int, since: str | None = None) -> tuple[bytes, str]:
        """The server's JSON export of the annotated tasks (only those changed after `since`,
        an ISO time of the server's), with every kind of annotation; and the export's own time."""
        with plain_errors(self.url):
            task_filter: dict[str, Any] = {"only_with_annotations": True}
            view_id = None
            if since is not None:
                view_id = self._changed_view(project_id, since)
                task_filter["view"] = view_id
            try:
                return self._export(project_id, task_filter)
            finally:
                # The view would show up as a tab in the project's Data Manager: remove it.
                if view_id is not None:
                    self._sdk.views.delete(view_id)

    def _export(self, project_id: int, task_filter: dict[str, Any]) -> tuple[bytes, str]:
        """One export snapshot, waited for and downloaded."""
        export = self._sdk.projects.exports.create(
            project_id,
            title=f"builder pull {time.strftime('%Y-%m-%dT%H:%M:%S')}",
            task_filter_options=task_filter,
            annotation_filter_options={"usual": True, "ground_truth": True, "skipped": True},
            serialization_options={"annotations__completed_by": {"only_id": False}},
        )
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while export.status not in ("completed", "failed"):
            if time.monotonic() > deadline:
                raise BuilderError(f"export {export.id} of project {project_id} timed out")
            time.sleep(0.1)
            export = self._sdk.projects.exports.get(project_id, export.id)
        if export.status == "failed":
            raise BuilderError(f"Label Studio failed to export project {project_id}")
        data = b"".join(
            self._sdk.projects.exports.download(project_id, export.id, export_type="JSON")
        )
        # The server's clock, not ours, says from when the next pull must look.
        created = export.created_at.isoformat() if export.created_at else ""
        return data, created

    def user_id(self, email: str, first_name: str = "") -> int:
        """The id of the user with this e-mail, created (without a login) if missing."""
        with plain_errors(self.url):
            for user in self._sdk.users.list():
                if user.email == email:
                    return user.id
            username = email.split("@")[0]
            return self._sdk.users.create(username=username, email=email, first_name=first_name).id

    def create_annotation(
        self,
        task_id: int,
        result: list[dict[str, Any]],
        *,
        completed_by: int | None = None,
        was_cancelled: bool = False,
        ground_truth: bool = False,
        lead_time: float | None = None,
    ) -> int:
        extra: dict[str, Any] = {}
        if completed_by is not None:
            extra["completed_by"] = completed_by
        if lead_time is not None:
            extra["lead_time"] = lead_time
        with plain_errors(self.url):
            return self._sdk.annotations.create(
                id=task_id,
                result=result,
                was_cancelled=was_cancelled,
                ground_truth=ground_truth,
                **extra,
            ).id

    def task_annotators(self, task_id: int) -> list[int]:
        """Ids of the users who answered or skipped the task (the task view lists skips too)."""
        with plain_errors(self.url):
            annotations = self._sdk.tasks.get(task_id).annotations or []
        ids = []
        for annotation in annotations:
            who = (
                annotation["completed_by"]
                if isinstance(annotation, dict)
                else annotation.completed_by
            )
            ids.append(who["id"] if isinstance(who, dict) else who)
        return ids
