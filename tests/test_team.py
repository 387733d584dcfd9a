"""A team's server at work: annotators posting while pulls run, and pulls paged by task id."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import LabelStudioServer
from support import Api, User, choice, ok, read_jsonl, synced_root

from builder.labels.records import read_summary

ANNOTATORS = 4
MOST = 25  # annotations per annotator at most
PACE = 0.2  # seconds between one annotator's annotations
PULLS_WHILE_ANNOTATING = 2
PAGE_SIZE = 8  # tasks per export request: the sample corpus's tasks make several pages
PAGED = {"PULL_PAGE_SIZE": str(PAGE_SIZE)}


def accepted_ids(root: Path) -> list[int]:
    return [r["annotation_id"] for r in read_jsonl(root / "exports/annotations/claims.jsonl")]


@pytest.mark.server
def test_annotations_made_while_pulls_run_are_each_pulled_once(
    labelstudio: LabelStudioServer, api: Api, tmp_path: Path
) -> None:
    root, project, tasks = synced_root(tmp_path, labelstudio, api, "team", extra_env=PAGED)
    task_ids = sorted(tasks.values())
    users = [api.user(labelstudio, f"annotator{n}") for n in range(ANNOTATORS)]

    # annotation id -> the time its POST had returned (it exists on the server from then on).
    posted: dict[int, float] = {}
    lock = threading.Lock()
    stop = threading.Event()
    failures: list[BaseException] = []

    def annotate(user: User, offset: int) -> None:
        try:
            for n in range(MOST):
                if stop.is_set():
                    return
                # Each annotator walks the tasks from its own place, across every page.
                task_id = task_ids[(offset + n * 3) % len(task_ids)]
                annotation_id = Api(api.url, api.token).annotate(task_id, choice("no_claim"), user)
                with lock:
                    posted[annotation_id] = time.monotonic()
                time.sleep(PACE)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [
        threading.Thread(target=annotate, args=(user, n * 10)) for n, user in enumerate(users)
    ]
    for thread in threads:
        thread.start()
    # (start, end, annotation ids accepted) of each pull
    pulls: list[tuple[float, float, list[int]]] = []
    for _ in range(PULLS_WHILE_ANNOTATING):
        started = time.monotonic()
        ok(root, "pull")
        pulls.append((started, time.monotonic(), accepted_ids(root)))
    stop.set()
    for thread in threads:
        thread.join()
    assert not failures, failures
    started = time.monotonic()
    ok(root, "pull")
    pulls.append((started, time.monotonic(), accepted_ids(root)))

    # Annotators were posting while pulls ran.
    during = [at for at in posted.values() for begin, end, _ in pulls[:-1] if begin < at < end]
    assert during, "no annotation was made while a pull ran"
    assert len(pulls[0][2]) < len(posted)
    for started, _, pulled in pulls:
        # None twice, none invented.
        assert len(pulled) == len(set(pulled))
        assert set(pulled) <= set(posted)
        # Every annotation made before the pull started is in it (later ones come at the
        # latest with the next pull: the last pull, after every POST returned, has them all).
        before = {a for a, at in posted.items() if at < started}
        assert before <= set(pulled), sorted(before - set(pulled))
    assert sorted(pulls[-1][2]) == sorted(posted)
    # Incremental pulls after the first one, each paged.
    summary = read_summary(root / "exports/annotations/claims.summary.json")
    assert summary is not None and summary["incremental"] is True


@pytest.mark.server
def test_a_full_pull_is_paged_and_every_page_is_kept_verbatim(
    labelstudio: LabelStudioServer, api: Api, tmp_path: Path
) -> None:
    root, project, tasks = synced_root(tmp_path, labelstudio, api, "paged", extra_env=PAGED)
    task_ids = sorted(tasks.values())
    admin = api.admin()
    annotated = [api.annotate(t, choice("checkworthy"), admin) for t in task_ids[::2]]

    printed = ok(root, "pull", "--full")

    summary = read_summary(root / "exports/annotations/claims.summary.json")
    assert summary is not None
    pages = [root / "exports/pulls" / name for name in summary["snapshots"]]
    # One request per PAGE_SIZE tasks, none with more, every annotated task in one page.
    assert len(pages) == -(-len(task_ids) // PAGE_SIZE) > 2, printed
    exported = [json.loads(page.read_bytes()) for page in pages]
    assert all(len(tasks) <= PAGE_SIZE for tasks in exported)
    # Pages in task-id order (within a page, PostgreSQL's export keeps no order).
    ids = [task_id for tasks in exported for task_id in sorted(task["id"] for task in tasks)]
    assert ids == sorted(task_ids[::2])
    assert len(pages) == len({p.name for p in pages}) and all(p.is_file() for p in pages)
    assert Counter(accepted_ids(root)) == Counter(annotated)
    assert f"in {len(pages)} pages" in printed
    # The pull's view is gone from the project's Data Manager.
    assert api.get("/api/dm/views/", project=project["id"]) == []
