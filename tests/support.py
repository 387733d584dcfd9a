"""Shared test support: running the builder as a user does, one HTTP client for the server,
project roots, annotation records made by hand, and the sample corpus's sentence ids."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any, NamedTuple

import requests

from builder.core.scheme import question_for
from builder.inputs.articles import load_article_files
from builder.inputs.corpus import LABELED_KINDS
from builder.inputs.sentences import split_article

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "raw").glob("*.txt"))
EXAMPLES = ROOT / "examples" / "demo_annotations.json"
PASSWORD = "annotator-password-e2e"
# Settings the shell may hold that must not reach a builder run by a test.
SHELL_SETTINGS = ("LABEL_STUDIO_", "LOCAL_LABEL_STUDIO_", "BUILDER_")

# Sentences of the two sample articles (one story, so the splits are by article).
A0 = "000_a8b5c246d29d0359"
A1 = "001_253ef9dc13582fd1"
HEADLINE = f"{A0}-b7bf253e1058"  # America and Russia call for the first time …
MINISTERS = f"{A0}-feedee58bced"  # The defense ministers … spoke by telephone …
LAST_TIME = f"{A0}-aea4621e8c3d"  # The last time a similar conversation took place …
PENTAGON = f"{A0}-cf0e16ae80a7"  # As usual, the Pentagon has not disclosed …
OFFICE = f"{A0}-1cc5a135d8f4"  # The Defense Department office says only …
FIVE_KILLED = f"{A0}-d17e69090288"  # At the attack On Sunday, five people were killed …
FIRST_TIME = f"{A0}-e523c3579774"  # It was the first time the two spoke.
HEIGHT = f"{A1}-79c601c13e1c"  # At the height of tensions … spoke on the phone …
BELOUSOV = f"{A1}-12262a54cf3d"  # With the Russian one, Andrei Belousov …
MOSCOW = f"{A1}-a83cabb80fa8"  # This is Moscow's version …
SINCE_2023 = f"{A1}-69bdc865676c"  # The US Defense Secretary had not spoken … since March 2023.
ECONOMIST = f"{A1}-bd527cd1dd2b"  # The conversation with Belousov, therefore, …
FOUR_KILLED = f"{A1}-b1379bb15c79"  # … a bombing on Crimea in which four civilians were killed …


# Running the builder as a user would ---------------------------------------------------------


def builder_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "builder", *args]


def builder_environment(root: Path, **extra: str) -> dict[str, str]:
    """The shell's environment without its server settings, with BUILDER_ROOT and `extra`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(SHELL_SETTINGS)}
    return {**clean, "BUILDER_ROOT": str(root), **extra}


def run(
    root: Path, *args: str, timeout: float = 600, **env: str
) -> subprocess.CompletedProcess[str]:
    """`python -m builder …` in `root`, with none of the shell's server settings."""
    return subprocess.run(
        builder_command(*args),
        cwd=root,
        env=builder_environment(root, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ok(root: Path, *args: str) -> str:
    """Run a command that must succeed without a traceback; its standard output."""
    result = run(root, *args)
    assert result.returncode == 0, (
        f"`{' '.join(args)}` exited {result.returncode}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Project roots and what the builder leaves in them -------------------------------------------


def make_root(
    base: Path,
    labelstudio: Any,
    tag: str,
    *,
    controls: bool = False,
    extra_env: dict[str, str] | None = None,
) -> Path:
    """A project root on the session's server with the two sample articles and its own projects."""
    root = base / tag
    for name in ("raw", "schemas", "exports"):
        (root / name).mkdir(parents=True)
    for sample in SAMPLES:
        shutil.copy(sample, root / "raw" / sample.name)
    if controls:
        shutil.copy(ROOT / "raw" / "controls.jsonl", root / "raw" / "controls.jsonl")
    unique = uuid.uuid4().hex[:8]
    lines = {
        "LABEL_STUDIO_URL": labelstudio.url,
        "LABEL_STUDIO_API_KEY": labelstudio.token,
        # Short enough for " · adjudication" to fit in Label Studio's 50 characters.
        "CLAIMS_PROJECT_TITLE": f"{tag[:18]} claims {unique}",
        "STANCE_PROJECT_TITLE": f"{tag[:18]} stance {unique}",
        **(extra_env or {}),
    }
    (root / ".env").write_text("".join(f"{k}={v}\n" for k, v in lines.items()), encoding="utf-8")
    return root


def dotenv(root: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (root / ".env").read_text().splitlines() if line)
    return dict(pairs)


def labelable_sentences(paths: Iterable[Path]) -> list[str]:
    """The sentence ids a sync must turn into tasks (boilerplate is never labeled)."""
    loaded = load_article_files(list(paths))
    return [
        s.sentence_id
        for article in loaded.items
        for s in split_article(article)
        if s.kind in LABELED_KINDS
    ]


COUNTS = re.compile(
    r"^(?P<project>[\w-]+): pulled (?P<pulled>\d+) = accepted (?P<accepted>\d+) \+ rejected "
    r"(?P<rejected>\d+) \+ skipped (?P<skipped>\d+)",
    re.MULTILINE,
)
SAVED = re.compile(
    r"^(?P<project>[\w-]+): saved the export of (?P<what>.+) as (?P<path>\S+)$", re.M
)


def pull_counts(output: str) -> dict[str, dict[str, int]]:
    """project -> pulled, accepted, rejected, skipped as printed by `pull`."""
    return {
        m["project"]: {k: int(m[k]) for k in ("pulled", "accepted", "rejected", "skipped")}
        for m in COUNTS.finditer(output)
    }


def saved_exports(output: str) -> dict[str, tuple[str, Path]]:
    """project -> (what was exported, the file it was saved as) as printed by `pull`."""
    return {m["project"]: (m["what"], Path(m["path"])) for m in SAVED.finditer(output)}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def load(root: Path, config: str, cache: Path) -> Any:
    import datasets

    return datasets.load_dataset(str(root / "exports" / "factcheck"), config, cache_dir=str(cache))


# Annotation records as builder.labels.validate writes them, made by hand ----------------------

_annotation_ids = count(1)


def record(
    item: str,
    annotator: str,
    label: str,
    *,
    project: str = "claims",
    lead_time: float | None = 1.0,
    ground_truth: bool = False,
    updated_at: str | None = "2024-06-27T10:00:00Z",
    annotation_id: int | None = None,
) -> dict[str, Any]:
    """One record; annotation ids count up across the test session unless one is given."""
    return {
        "project": project,
        "item_id": item,
        "task_id": 1,
        "annotation_id": annotation_id if annotation_id is not None else next(_annotation_ids),
        "annotator": annotator,
        "answers": {question_for(project).name: [label]},
        "lead_time": lead_time,
        "created_at": updated_at,
        "updated_at": updated_at,
        "ground_truth": ground_truth,
    }


# Talking to the server as annotators and the admin do ----------------------------------------


def choice(*labels: str, name: str = "claim") -> list[dict[str, Any]]:
    """A result as the UI sends it for a Choices control."""
    return [
        {"from_name": name, "to_name": "text", "type": "choices", "value": {"choices": [*labels]}}
    ]


CHOICE = choice("checkworthy")


@dataclass(frozen=True)
class User:
    email: str
    token: str
    id: int


@dataclass
class Api:
    """Plain REST calls to the server, with the admin's token unless a user's is given."""

    url: str
    token: str
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def _headers(self, token: str | None) -> dict[str, str]:
        return {"Authorization": f"Token {token or self.token}"}

    def request(
        self,
        method: str,
        path: str,
        token: str | None = None,
        expect: int | None = None,
        **kwargs: Any,
    ) -> Any:
        """One call; any 2xx answer, or exactly `expect`."""
        answer = self.session.request(
            method, f"{self.url}{path}", headers=self._headers(token), timeout=120, **kwargs
        )
        good = answer.status_code == expect if expect else answer.ok
        assert good, f"{method} {path}: HTTP {answer.status_code} {answer.text[:500]}"
        return answer.json() if answer.content else None

    def get(self, path: str, token: str | None = None, **params: Any) -> Any:
        return self.request("GET", path, token=token, expect=200, params=params)

    # Users ---------------------------------------------------------------------------------
    def user(self, labelstudio: Any, name: str) -> User:
        """A new user who signed up, with a name unique to this session."""
        email = f"{name}-{uuid.uuid4().hex[:8]}@e2e.test"
        token = labelstudio.create_user(email, PASSWORD)
        me = self.get("/api/current-user/whoami", token=token)
        return User(email, token, me["id"])

    def admin(self) -> User:
        me = self.get("/api/current-user/whoami")
        return User(me["email"], self.token, me["id"])

    # Projects ------------------------------------------------------------------------------
    def projects(self) -> list[dict[str, Any]]:
        found, page = [], 1
        while True:
            body = self.get("/api/projects/", page=page, page_size=100, include="id,title")
            found += body["results"]
            if not body.get("next"):
                return found
            page += 1

    def project_ids(self, title: str) -> list[int]:
        """The ids of every project titled `title` (two syncs at once must leave one)."""
        return sorted(p["id"] for p in self.projects() if p["title"] == title)

    def project_id(self, title: str) -> int | None:
        ids = self.project_ids(title)
        assert len(ids) <= 1, f"{len(ids)} projects titled {title!r}"
        return ids[0] if ids else None

    def project(self, title: str) -> dict[str, Any]:
        project_id = self.project_id(title)
        assert project_id is not None, f"no project titled {title!r}"
        return self.project_by_id(project_id)

    def project_by_id(self, project_id: int) -> dict[str, Any]:
        return self.get(f"/api/projects/{project_id}")

    def has_project(self, title: str) -> bool:
        return self.project_id(title) is not None

    # Tasks ---------------------------------------------------------------------------------
    def task_count(self, project_id: int) -> int:
        return self.get("/api/tasks", project=project_id, page_size=1, include="id")["total"]

    def tasks(self, project_id: int, include: str | None = None) -> list[dict[str, Any]]:
        """Every task of the project, page by page (`include`: only those fields)."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            params: dict[str, Any] = {"project": project_id, "page": page, "page_size": 1000}
            if include:
                params["include"] = include
            answer = self.session.get(
                f"{self.url}/api/tasks", headers=self._headers(None), params=params, timeout=120
            )
            if answer.status_code == 404:  # past the last page
                break
            answer.raise_for_status()
            body = answer.json()
            found += body["tasks"]
            if len(found) >= body["total"] or not body["tasks"]:
                break
            page += 1
        return found

    def task_of(self, project_id: int, key: str = "sentence_id") -> dict[str, int]:
        """item id (data[key]) -> task id."""
        return {t["data"][key]: t["id"] for t in self.tasks(project_id, include="id,data")}

    def sentence_counts(self, project_id: int) -> Counter[str]:
        """sentence id -> how many tasks of the project hold it (more than 1: a duplicate)."""
        return Counter(t["data"]["sentence_id"] for t in self.tasks(project_id, include="id,data"))

    def import_tasks(self, project_id: int, data: list[dict[str, Any]]) -> list[int]:
        """Import tasks by hand, as someone in the UI would; the new tasks' ids."""
        body = [{"data": d} for d in data]
        path = f"/api/projects/{project_id}/import?return_task_ids=true"
        return self.request("POST", path, json=body)["task_ids"]

    def task(self, task_id: int) -> dict[str, Any]:
        return self.get(f"/api/tasks/{task_id}/")

    def task_with_text(self, project_id: int, text: str) -> dict[str, Any]:
        query = {
            "filters": {
                "conjunction": "and",
                "items": [
                    {
                        "filter": "filter:tasks:data.text",
                        "operator": "equal",
                        "type": "String",
                        "value": text,
                    }
                ],
            }
        }
        body = self.get(
            "/api/tasks",
            project=project_id,
            page_size=10,
            include="id,data",
            query=json.dumps(query),
        )
        assert len(body["tasks"]) == 1, f"{len(body['tasks'])} task(s) with text {text!r}"
        return body["tasks"][0]

    # Annotations ---------------------------------------------------------------------------
    def annotations(self, project_id: int) -> list[dict[str, Any]]:
        """Every annotation of a project, skipped ones included, in one listing."""
        tasks = self.get("/api/tasks/", project=project_id, page_size=10000, fields="all")
        return [a for task in tasks["tasks"] for a in task["annotations"]]

    def task_annotations(self, task_id: int) -> list[dict[str, Any]]:
        return self.get(f"/api/tasks/{task_id}/annotations/")

    def annotate(
        self,
        task_id: int,
        result: list[dict[str, Any]],
        by: User | None = None,
        *,
        as_admin: bool = False,
        **extra: Any,
    ) -> int:
        """POST an annotation as user `by` (with their own token), by the admin on their behalf
        (`completed_by`), or, without `by`, by the admin. Returns the annotation's id."""
        body: dict[str, Any] = {"result": result, "lead_time": 4.5, **extra}
        token = by.token if by is not None else self.token
        if as_admin and by is not None:
            body["completed_by"] = by.id
            token = self.token
        path = f"/api/tasks/{task_id}/annotations/"
        created = self.request("POST", path, token, expect=201, json=body)
        if by is not None:
            assert created["completed_by"] == by.id
        return created["id"]

    def draft(self, task_id: int, result: list[dict[str, Any]], by: User) -> int:
        """A draft, as the UI saves one before Submit. Returns the draft's id."""
        body = {"result": result, "lead_time": 2.0}
        path = f"/api/tasks/{task_id}/drafts"
        return self.request("POST", path, by.token, expect=201, json=body)["id"]

    def update(self, annotation_id: int, result: list[dict[str, Any]], by: User) -> None:
        """An annotator changes their submitted answer (Update in the UI)."""
        path = f"/api/annotations/{annotation_id}/"
        self.request("PATCH", path, by.token, expect=200, json={"result": result})


class Synced(NamedTuple):
    root: Path
    project: dict[str, Any]  # its claims project, as the server describes it
    tasks: dict[str, int]  # sentence id -> task id


def synced_root(base: Path, labelstudio: Any, api: Api, tag: str, **options: Any) -> Synced:
    """`make_root(base, labelstudio, tag, **options)` after its first sync."""
    root = make_root(base, labelstudio, tag, **options)
    ok(root, "sync", "--no-progress")
    project = api.project(dotenv(root)["CLAIMS_PROJECT_TITLE"])
    return Synced(root, project, api.task_of(project["id"]))
