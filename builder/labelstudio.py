"""The one module that talks to Label Studio: a small client over its SDK, errors made plain."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from builder.config import Settings
from builder.errors import BuilderError

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
        self._sdk = LabelStudio(
            base_url=self.url, api_key=settings.api_key.reveal(), timeout=TIMEOUT_SECONDS
        )

    def check(self) -> None:
        """Fail early, and plainly, if the server is down or the key is refused."""
        with plain_errors(self.url):
            self._sdk.projects.list(page_size=1)

    # Projects ------------------------------------------------------------------------------
    def _info(self, project: Any) -> ProjectInfo:
        return ProjectInfo(
            id=project.id,
            title=project.title or "",
            label_config=project.label_config or "",
            task_count=project.task_number or 0,
            annotation_count=(project.total_annotations_number or 0)
            + (project.skipped_annotations_number or 0),
            maximum_annotations=project.maximum_annotations or 1,
        )

    def find_project(self, title: str) -> ProjectInfo | None:
        with plain_errors(self.url):
            matches = [p for p in self._sdk.projects.list(page_size=100) if p.title == title]
            if not matches:
                return None
            # Two projects of one title would make "the" project ambiguous: take the oldest.
            return self.project(min(p.id for p in matches))

    def project(self, project_id: int) -> ProjectInfo:
        with plain_errors(self.url):
            return self._info(self._sdk.projects.get(project_id))

    def create_project(
        self, title: str, label_config: str, description: str, maximum_annotations: int = 1
    ) -> ProjectInfo:
        with plain_errors(self.url):
            created = self._sdk.projects.create(
                title=title,
                label_config=label_config,
                description=description,
                maximum_annotations=maximum_annotations,
            )
            return self.project(created.id)

    def update_project(self, project_id: int, **fields: Any) -> None:
        with plain_errors(self.url):
            self._sdk.projects.update(project_id, **fields)

    def validate_config(self, project_id: int, label_config: str) -> None:
        with plain_errors(self.url):
            self._sdk.projects.validate_label_config(id=project_id, label_config=label_config)

    # Tasks ---------------------------------------------------------------------------------
    def task_keys(self, project_id: int, key: str) -> dict[int, str | None]:
        """task id -> the value of data[key] for every task of the project (the server's truth)."""
        keys: dict[int, str | None] = {}
        with plain_errors(self.url):
            pager = self._sdk.tasks.list(project=project_id, include="id,data", page_size=PAGE_SIZE)
            for task in pager:
                keys[task.id] = (task.data or {}).get(key)
        return keys

    def last_task_id(self, project_id: int) -> int | None:
        """The newest task's id: with the task count, it tells if tasks were added or deleted."""
        query = json.dumps({"ordering": ["-tasks:id"]})
        with plain_errors(self.url):
            page = self._sdk.tasks.list(project=project_id, include="id", page_size=1, query=query)
            for task in page:
                return task.id
        return None

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> list[int]:
        with plain_errors(self.url):
            response = self._sdk.projects.import_tasks(
                project_id, request=tasks, return_task_ids=True, commit_to_project=True
            )
        return list(response.task_ids or [])

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
