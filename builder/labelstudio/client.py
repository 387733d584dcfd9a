"""The one module that talks to Label Studio: a small client over its SDK, errors made plain."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pydantic

# The generated base client, not `label_studio_sdk.LabelStudio`: that one's extensions load
# pandas and the label-interface models at import (about 0.5 s of every command's start).
from label_studio_sdk.base_client import LabelStudioBase
from label_studio_sdk.core.api_error import ApiError

from builder.core.config import Settings
from builder.core.errors import BuilderError

# Imports and exports of large projects take far longer than the SDK's 60 s default.
TIMEOUT_SECONDS = 900
PAGE_SIZE = 5000
# Set by `make bench`: where to log every request's time (see time_requests; a setting).
REQUEST_LOG = "BUILDER_REQUEST_LOG"
# The view of an earlier version of the builder, reused and renamed if an interrupted pull left it.
CHANGED_VIEW_TITLE = "builder: changed since the last pull"
# What an export snapshot's status can be (Label Studio's data_export ConvertedFormat Status).
EXPORT_STATES = frozenset({"created", "in_progress", "completed", "failed"})
PULL_VIEW_TITLE = "builder: pull"


def _filter(name: str, operator: str, kind: str, value: Any) -> dict[str, Any]:
    """One item of a Data Manager view's filters."""
    return {"filter": name, "operator": operator, "type": kind, "value": value}


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


NOT_LABEL_STUDIO_FIX = (
    "check LABEL_STUDIO_URL (or LABEL_STUDIO_PORT for the local server): it must be the address "
    "of a Label Studio server, not of a proxy's login page or another service"
)


class UnexpectedAnswer(BuilderError):
    """The server answered, but not as Label Studio does."""

    def __init__(self, url: str, what: str) -> None:
        super().__init__(
            f"the server at {url} does not answer like Label Studio: {what}",
            fix=NOT_LABEL_STUDIO_FIX,
        )


@contextmanager
def plain_errors(url: str) -> Iterator[None]:
    """Turn transport and API failures into BuilderErrors that say the cause and the fix.

    An answer of the wrong shape (HTML where JSON belongs, a list where an object belongs,
    a missing field) shows up as a KeyError, TypeError or the like where it is read: inside
    this block that is the server's fault, and said so, not a traceback.
    """
    try:
        yield
    except BuilderError:
        raise
    except httpx.TransportError as exc:
        raise BuilderError(
            f"cannot reach Label Studio at {url} ({type(exc).__name__})",
            fix="start the local one with `make labelstudio`, or check LABEL_STUDIO_URL",
        ) from None
    except ApiError as exc:
        if exc.status_code is not None and 200 <= exc.status_code < 300:
            # The SDK raises ApiError with the success status when the body is not JSON.
            raise UnexpectedAnswer(
                url, f"HTTP {exc.status_code} with a body that is not JSON: {_excerpt(exc.body)}"
            ) from None
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
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        # pydantic's ValidationError is a ValueError: the SDK's models refused the answer.
        kind = "answer refused by the SDK" if isinstance(exc, pydantic.ValidationError) else None
        raise UnexpectedAnswer(
            url,
            f"{kind or 'an answer of an unexpected shape'} ({type(exc).__name__}: "
            f"{_excerpt(str(exc))})",
        ) from None


def _excerpt(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = " ".join(text.split())
    return repr(text[:limit] + ("…" if len(text) > limit else ""))


def data_manager_time(when: str) -> str:
    """An ISO time as the Data Manager's filters take it (UTC, microseconds, "Z"). Any other
    form (such as the "+00:00" of an export's created_at) fails the filter: the tasks list
    answers HTTP 500 and an export with that view silently exports every task."""
    moment = datetime.fromisoformat(when.strip().replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def time_requests(client: httpx.Client, log: Path) -> None:
    """Append every request's method, path and seconds until its answer came to `log` (JSONL).

    `make bench` reads it for the slowest single request, the one a proxy's timeout would cut.
    Only the path is written: never a header, so never the API key.
    """

    def started(request: httpx.Request) -> None:
        request.extensions["builder_started"] = time.perf_counter()

    def answered(response: httpx.Response) -> None:
        began = response.request.extensions.get("builder_started", time.perf_counter())
        line = {
            "method": response.request.method,
            "path": response.request.url.path,
            "status": response.status_code,
            "seconds": round(time.perf_counter() - began, 4),
        }
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")

    client.event_hooks["request"].append(started)
    client.event_hooks["response"].append(answered)


class LabelStudioClient:
    """What the builder needs from a Label Studio server, nothing more."""

    def __init__(self, settings: Settings) -> None:
        # What messages, state and reports show: a password in LABEL_STUDIO_URL never is.
        self.url = settings.server_url_shown
        if settings.uses_local_server:
            # The local API key goes only to the server `make labelstudio` started.
            from builder.labelstudio.server import verify_local

            verify_local(settings)
        self._sdk = LabelStudioBase(
            base_url=settings.server_url,
            api_key=settings.api_key.reveal(),
            timeout=TIMEOUT_SECONDS,
        )
        log = settings.builder_request_log
        if log:
            time_requests(self._sdk._client_wrapper.httpx_client.httpx_client, Path(log))

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
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("content-type", "no content type")
            raise UnexpectedAnswer(
                self.url,
                f"{method} /{path} gave HTTP {response.status_code} with {kind}, not JSON: "
                f"{_excerpt(response.text)}",
            ) from None

    def check(self) -> None:
        """Fail early, and plainly, if the server is down or the key is refused."""
        with plain_errors(self.url):
            listed = self._call("GET", "api/projects", {"page_size": 1, "include": "id"})
        if not isinstance(listed, dict) or not isinstance(listed.get("results"), list):
            raise UnexpectedAnswer(
                self.url, f"GET /api/projects gave {_excerpt(listed)}, not a list of projects"
            )

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
        """The oldest project of this title, or None."""
        found = self.find_projects(title)
        return self.project(found[0]) if found else None

    def find_projects(self, title: str) -> list[int]:
        """The ids of every project titled exactly `title`, oldest first."""
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
        return sorted(p["id"] for p in matches)

    def project(self, project_id: int) -> ProjectInfo:
        with plain_errors(self.url):
            return self._info(self._call("GET", f"api/projects/{project_id}"))

    def project_or_none(self, project_id: int) -> ProjectInfo | None:
        """The project with this id, or None if the server has none (deleted)."""
        with plain_errors(self.url):
            try:
                return self._info(self._call("GET", f"api/projects/{project_id}"))
            except ApiError as exc:
                if exc.status_code == 404:
                    return None
                raise

    def delete_project(self, project_id: int) -> None:
        with plain_errors(self.url):
            self._call("DELETE", f"api/projects/{project_id}")

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
        return {task["id"]: (task.get("data") or {}).get(key) for task in self.tasks(project_id)}

    def tasks(self, project_id: int, include: str = "id,data") -> list[dict[str, Any]]:
        """Every task of the project with the `include` fields, in pages."""
        found: dict[int, dict[str, Any]] = {}
        params: dict[str, Any] = {"project": project_id, "include": include}
        with plain_errors(self.url):
            for page in itertools.count(1):
                listed = self._call(
                    "GET", "api/tasks", {**params, "page": page, "page_size": PAGE_SIZE}
                )
                tasks = listed.get("tasks") or []
                found.update({task["id"]: task for task in tasks})
                # A page past the last one answers 404, so stop on the total too.
                if len(tasks) < PAGE_SIZE or len(found) >= int(listed.get("total") or 0):
                    break
        return list(found.values())

    def task_work(self, task_id: int) -> int:
        """How many annotations (skips included) and drafts the task has now."""
        with plain_errors(self.url):
            task = self._call("GET", f"api/tasks/{task_id}")
        return len(task.get("annotations") or []) + len(task.get("drafts") or [])

    def delete_task(self, task_id: int) -> None:
        with plain_errors(self.url):
            self._call("DELETE", f"api/tasks/{task_id}")

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
            task_ids = imported["task_ids"]
            if not isinstance(task_ids, list):
                raise TypeError(f"task_ids is {task_ids!r}")
            return task_ids

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
    def _pull_view(self, project_id: int, filters: list[dict[str, Any]], view_id: int = 0) -> int:
        """A Data Manager view of the project's tasks in id order, with these filters.

        Made once per pull (a leftover of an interrupted pull is reused) and then updated.
        """
        data = {
            "title": PULL_VIEW_TITLE,
            "ordering": ["tasks:id"],
            "filters": {"conjunction": "and", "items": filters},
        }
        if not view_id:
            for view in self._sdk.views.list(project=project_id):
                if (view.data or {}).get("title") in (PULL_VIEW_TITLE, CHANGED_VIEW_TITLE):
                    view_id = view.id
                    break
        if view_id:
            self._sdk.views.update(view_id, data=data, project=project_id)
            return view_id
        return self._sdk.views.create(project=project_id, data=data).id

    def _task_id_at(self, project_id: int, view_id: int, position: int) -> tuple[int, int]:
        """The id of the view's task at `position` (0-based, in id order), and the view's size."""
        params = {"project": project_id, "view": view_id, "include": "id", "page_size": 1}
        listed = self._call("GET", "api/tasks", {**params, "page": position + 1})
        return listed["tasks"][0]["id"], int(listed["total"])

    def page_ranges(
        self, project_id: int, view_id: int, page_size: int
    ) -> list[tuple[int, int] | None]:
        """Inclusive task-id ranges of at most `page_size` of the view's tasks each, in order;
        [None] when they fit in one page (no range needed)."""
        params = {"project": project_id, "view": view_id, "include": "id", "page_size": 1}
        total = int(self._call("GET", "api/tasks", params)["total"])
        if total <= page_size:
            return [None]
        # One small request per page: the task at each page's first position, and the last one.
        starts = [self._task_id_at(project_id, view_id, k)[0] for k in range(0, total, page_size)]
        last = self._task_id_at(project_id, view_id, total - 1)[0]
        ends = [start - 1 for start in starts[1:]] + [last]
        return list(zip(starts, ends, strict=True))

    def export_pages(
        self, project_id: int, page_size: int, since: str | None = None
    ) -> Iterator[tuple[bytes, str]]:
        """The server's JSON export of the annotated tasks (only those changed after `since`,
        an ISO time of the server's), with every kind of annotation, as pages of at most
        `page_size` tasks in task-id order; each page with the export's own time.

        The pages are task-id ranges fixed when the pull starts, so a task imported during the
        pull waits for the next one, and no single request exports a project of any size.
        """
        base: list[dict[str, Any]] = []
        if since is not None:
            base.append(
                _filter("filter:tasks:updated_at", "greater", "Datetime", data_manager_time(since))
            )
        with plain_errors(self.url):
            view_id = self._pull_view(project_id, base)
            try:
                for bounds in self.page_ranges(project_id, view_id, page_size):
                    if bounds is not None:
                        low, high = bounds
                        id_range = _filter(
                            "filter:tasks:id", "in", "Number", {"min": low, "max": high}
                        )
                        self._pull_view(project_id, [*base, id_range], view_id)
                    # One page (even an empty one: its time says where the next pull starts).
                    yield self._export(project_id, {"only_with_annotations": True, "view": view_id})
            finally:
                # The view would show up as a tab in the project's Data Manager: remove it.
                self._sdk.views.delete(view_id)

    def export_snapshot(self, project_id: int, since: str | None = None) -> tuple[bytes, str]:
        """The whole export in one request (export_pages with one page), for small projects."""
        pages = list(self.export_pages(project_id, 10**9, since))
        [(data, created)] = pages
        return data, created

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
            if export.id is None or export.status not in EXPORT_STATES:
                raise UnexpectedAnswer(
                    self.url, f"an export of project {project_id} has status {export.status!r}"
                )
            if time.monotonic() > deadline:
                raise BuilderError(f"export {export.id} of project {project_id} timed out")
            time.sleep(0.1)
            export = self._sdk.projects.exports.get(project_id, export.id)
        if export.status == "failed":
            raise BuilderError(f"Label Studio failed to export project {project_id}")
        data = b"".join(
            self._sdk.projects.exports.download(project_id, export.id, export_type="JSON")
        )
        # Our copy is the verbatim record; the server's would pile up, one per page and pull.
        self._sdk.projects.exports.delete(project_id, export.id)
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
