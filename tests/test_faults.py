"""Fault injection: what a careless team does to the builder, and what must hold anyway.

Two commands at once on one root, two machines at once against one server, a project renamed or
edited in Label Studio behind the builder's back, a pull that would lose records, a validation
that loses an annotation, a stranger on the local server's port, a visitor signing up. The
server scenarios run the real command in subprocesses against the session's real Label Studio
and check the server through plain HTTP.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import (
    TEST_DATABASE,
    LabelStudioServer,
    Template,
    local_server_from_template,
    postgres,
)
from support import (
    CHOICE,
    SAMPLES,
    Api,
    builder_command,
    builder_environment,
    free_port,
    make_root,
    synced_root,
)

from builder.core.config import TOKEN_KEY
from builder.core.errors import BuilderError
from builder.core.lock import write_lock
from builder.labels import validate
from builder.labels.records import PullPaths, read_records
from builder.labelstudio import pull, server
from builder.labelstudio.pull import process_pages, save_snapshot

# Helpers -----------------------------------------------------------------------------------


def start(root: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        builder_command(*args),
        cwd=root,
        env=builder_environment(root, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    out, err = process.communicate(timeout=300)
    assert "Traceback" not in err, err
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def run(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return finish(start(root, *args, **env))


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def titles(tag: str) -> dict[str, str]:
    """Project titles made of `tag` alone: two roots of one tag stand for two machines syncing
    into the same projects."""
    return {"CLAIMS_PROJECT_TITLE": f"faults {tag}", "STANCE_PROJECT_TITLE": f"faults stance {tag}"}


def machine_root(base: Path, labelstudio: LabelStudioServer, tag: str, name: str) -> Path:
    """The root of one machine (`name`) with the sample articles and `tag`'s projects."""
    return make_root(base, labelstudio, name, extra_env=titles(tag))


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex[:10]


# 1. One writer at a time per root ------------------------------------------------------------

WRITERS = ["sync", "pull", "suggest", "dataset", "stance", "adjudicate", "demo-annotations"]


@pytest.mark.parametrize("command", WRITERS)
def test_a_writing_command_refuses_while_another_holds_the_root(
    tmp_path: Path, command: str
) -> None:
    (tmp_path / "raw").mkdir()
    with write_lock(tmp_path / ".builder", "sync"):
        result = run(tmp_path, command)
    assert result.returncode != 0
    assert "another command is writing" in result.stderr
    # Who holds it: the command and its process, so a colleague knows whom to ask.
    assert f"`sync` (pid {os.getpid()}" in result.stderr


def test_a_reading_command_runs_while_a_writer_holds_the_root(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    with write_lock(tmp_path / ".builder", "sync"):
        result = run(tmp_path, "schemas", "--check")
    assert "another command is writing" not in result.stderr


def test_with_builder_lock_wait_a_second_writer_waits_then_runs(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    state = tmp_path / ".builder"
    held = threading.Event()

    def hold() -> None:
        with write_lock(state, "pull"):
            held.set()
            time.sleep(3)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    began = time.monotonic()
    result = run(tmp_path, "dataset", BUILDER_LOCK_WAIT="60")
    holder.join()
    assert "waiting up to 60 s for `pull`" in result.stdout
    assert "another command is writing" not in result.stderr
    assert time.monotonic() - began >= 2  # it did wait for the holder


def test_a_killed_holder_leaves_the_lock_free(tmp_path: Path) -> None:
    code = (
        "import sys, time; from pathlib import Path; from builder.core.lock import write_lock\n"
        "with write_lock(Path(sys.argv[1]), 'sync'):\n    print('held', flush=True)\n"
        "    time.sleep(600)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / ".builder")], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(BuilderError, match=r"`sync` \(pid"), write_lock(tmp_path / ".builder", "x"):
        pass
    holder.kill()
    holder.wait()
    with write_lock(tmp_path / ".builder", "dataset"):
        pass


# 7. pulled is counted from the export itself ------------------------------------------------


def export() -> list[dict[str, Any]]:
    def annotation(i: int, **extra: Any) -> dict[str, Any]:
        return {"id": i, "completed_by": {"id": 1, "email": "a@x.org"}, "result": CHOICE, **extra}

    return [
        {"id": 1, "data": {"sentence_id": "s-1"}, "annotations": [annotation(11)], "drafts": []},
        {
            "id": 2,
            "data": {"sentence_id": "s-2"},
            "annotations": [annotation(21), annotation(22, was_cancelled=True, result=[])],
            "drafts": [{"id": 5, "result": CHOICE}],
        },
    ]


def known(tasks: list[dict[str, Any]]) -> set[str]:
    return {"s-1", "s-2"}


def test_pulled_counts_every_annotation_and_draft_of_the_export() -> None:
    validated = validate.validate_export("claims", export(), {"s-1", "s-2"})
    assert validated.counts["pulled"] == 4
    assert validated.mismatches() == {}
    # Validation that accounts for fewer than the export holds no longer adds up by itself.
    validated.accepted.pop()
    assert validated.counts["pulled"] == 4
    assert validated.counts["accepted"] + validated.counts["rejected"] == 1
    assert validated.mismatches() == {2: (3, 2)}


def test_a_validation_that_loses_an_annotation_fails_the_pull_naming_the_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = PullPaths(tmp_path, "claims")
    real = pull.validate_export

    def losing(*args: Any, **kwargs: Any) -> validate.Validated:
        validated = real(*args, **kwargs)
        validated.accepted = [r for r in validated.accepted if r["annotation_id"] != 21]
        return validated

    monkeypatch.setattr(pull, "validate_export", losing)
    snapshot = save_snapshot(paths, json.dumps(export()).encode())
    with pytest.raises(BuilderError, match=r"task 2: 3 in the export, 2 accounted for"):
        process_pages(paths, [snapshot], known, 1)
    assert not paths.accepted.exists() and not paths.summary.exists()


# 2. A pull never silently drops what the last one had ---------------------------------------


def test_a_pull_that_would_drop_records_refuses_unless_allowed(tmp_path: Path) -> None:
    paths = PullPaths(tmp_path, "claims")
    process_pages(paths, [save_snapshot(paths, json.dumps(export()).encode())], known, 1)
    before = paths.accepted.read_bytes()
    assert len(read_records(paths.accepted)) == 2
    # Task 2 was deleted on the server: a full pull no longer has it.
    smaller = save_snapshot(paths, json.dumps(export()[:1]).encode())
    with pytest.raises(BuilderError, match=r"drop 1 of the 2 record\(s\).*task 2") as error:
        process_pages(paths, [smaller], known, 1)
    assert "--allow-shrink" in str(error.value)
    assert paths.accepted.read_bytes() == before
    assert smaller.is_file()  # the export itself is kept, verbatim
    process_pages(paths, [smaller], known, 1, allow_shrink=True)
    assert [r["annotation_id"] for r in read_records(paths.accepted)] == [11]


# 5. The local API key goes only to the server `make labelstudio` started -----------------------


class Recorder(BaseHTTPRequestHandler):
    """A stranger's server: says it is healthy, answers anything, remembers what it got."""

    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        Recorder.seen.append(dict(self.headers))
        body = json.dumps({"status": "UP", "results": [], "next": None}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET  # noqa: N815

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stranger() -> Iterator[int]:
    """A foreign HTTP server on a free port; its port."""
    Recorder.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()


def local_root(tmp_path: Path, port: int, token: str) -> Path:
    root = tmp_path / "local"
    (root / "raw").mkdir(parents=True)
    for sample in SAMPLES:
        shutil.copy(sample, root / "raw" / sample.name)
    (root / ".env").write_text(f"LABEL_STUDIO_PORT={port}\n{TOKEN_KEY}={token}\n", encoding="utf-8")
    return root


def test_the_local_token_is_not_sent_to_a_stranger_on_the_port(
    tmp_path: Path, stranger: int
) -> None:
    token = "local0secret0token0" + uuid.uuid4().hex
    root = local_root(tmp_path, stranger, token)
    for command in ("sync", "pull", "demo-annotations"):
        result = run(root, command)
        assert result.returncode != 0, command
        assert "not sending" in result.stderr, result.stderr
    # status works offline: it shows the refusal as its server problem.
    assert "not sending" in run(root, "status").stdout
    assert not any(token in json.dumps(headers) for headers in Recorder.seen)


@pytest.mark.server
def test_local_server_closed_signup_invite_link_and_key_checks(
    tmp_path: Path, labelstudio_template: Template, stranger: int
) -> None:
    """`make labelstudio`'s server: the key goes to it (and only it); nobody signs up without
    the invite link; the admin still logs in."""
    root = local_root(tmp_path, free_port(), labelstudio_template.token)
    settings = local_server_from_template(root, labelstudio_template)
    info = server.start(settings)
    try:
        ours = LabelStudioServer(
            info.url,
            labelstudio_template.token,
            labelstudio_template.email,
            labelstudio_template.password,
            root / ".labelstudio" / "data",
        )
        # The builder talks to it.
        assert ok(run(root, "sync", "--no-progress"))
        # A visitor without the invite link gets no account.
        answer, session = ours.signup("visitor@example.test", "visitor-password-1")
        assert answer.status_code == 403
        assert session.get(f"{info.url}/api/current-user/token", timeout=30).status_code != 200
        users = requests.get(
            f"{info.url}/api/users",
            headers={"Authorization": f"Token {ours.token}"},
            timeout=30,
        ).json()
        assert "visitor@example.test" not in {u["email"] for u in users}
        # An annotator invited with the link signs up; the admin still logs in.
        assert ours.create_user("invited@example.test", "invited-password-1")
        login = requests.Session()
        form = login.get(f"{info.url}/user/login/", timeout=30)
        csrf = form.cookies.get("csrftoken")
        answer = login.post(
            f"{info.url}/user/login/",
            data={
                "email": ours.email,
                "password": ours.password,
                "csrfmiddlewaretoken": csrf,
            },
            headers={"Referer": f"{info.url}/user/login/"},
            allow_redirects=False,
            timeout=30,
        )
        assert answer.status_code == 302
        # This project's pid file, pointed at a stranger's port: still refused.
        other = local_root(tmp_path / "other", stranger, labelstudio_template.token)
        (other / ".labelstudio").mkdir()
        (other / ".labelstudio" / "server.pid").write_text(f"{info.pid} {stranger}\n")
        result = run(other, "sync")
        assert result.returncode != 0 and "not sending" in result.stderr
        assert not any(ours.token in json.dumps(headers) for headers in Recorder.seen)
    finally:
        server.stop(settings)
        if settings.label_studio_database:
            name = settings.label_studio_database.rpartition("/")[2]
            postgres("dropdb", TEST_DATABASE, "--if-exists", name)


# 1. Two syncs at once -------------------------------------------------------------------------


def together(*processes: subprocess.Popen[str]) -> list[subprocess.CompletedProcess[str]]:
    return [finish(p) for p in processes]


@pytest.mark.server
def test_two_syncs_at_once_on_a_new_title_make_one_project(
    tmp_path: Path, labelstudio: LabelStudioServer, api: Api, tag: str
) -> None:
    root = machine_root(tmp_path, labelstudio, tag, "root")
    results = together(
        start(root, "sync", "--no-progress", BUILDER_LOCK_WAIT="120"),
        start(root, "sync", "--no-progress", BUILDER_LOCK_WAIT="120"),
    )
    projects = api.project_ids(f"faults {tag}")
    assert len(projects) == 1, f"{len(projects)} projects titled 'faults {tag}'"
    counts = api.sentence_counts(projects[0])
    assert counts and max(counts.values()) == 1
    for result in results:
        ok(result)
    # The second one waited for the first, and said so.
    assert any("waiting up to" in r.stdout for r in results)


@pytest.mark.server
def test_two_syncs_at_once_into_an_existing_project_import_each_sentence_once(
    tmp_path: Path, labelstudio: LabelStudioServer, api: Api, tag: str
) -> None:
    root = machine_root(tmp_path, labelstudio, tag, "root")
    later = root / "raw" / SAMPLES[1].name
    later.rename(tmp_path / later.name)
    ok(run(root, "sync", "--no-progress"))
    [project_id] = api.project_ids(f"faults {tag}")
    before = sum(api.sentence_counts(project_id).values())
    (tmp_path / later.name).rename(later)
    # Small batches: each sync spends a while importing, the other one tries meanwhile.
    first = start(root, "sync", "--no-progress", SYNC_BATCH_SIZE="5")
    second = start(root, "sync", "--no-progress", SYNC_BATCH_SIZE="5")
    results = together(first, second)
    refused = [r for r in results if r.returncode != 0]
    for result in refused:
        assert "another command is writing" in result.stderr and "`sync` (pid" in result.stderr
    counts = api.sentence_counts(project_id)
    assert max(counts.values()) == 1, [s for s, n in counts.items() if n > 1][:5]
    assert sum(counts.values()) > before
    ok(run(root, "sync", "--no-progress"))  # whatever was refused is imported now, once
    assert max(api.sentence_counts(project_id).values()) == 1


@pytest.mark.server
def test_two_machines_at_once_one_project_then_duplicates_reported_and_repaired(
    tmp_path: Path, labelstudio: LabelStudioServer, api: Api, tag: str
) -> None:
    """No lock spans two machines: two roots against one server stand for them."""
    a = machine_root(tmp_path, labelstudio, tag, "a")
    b = machine_root(tmp_path, labelstudio, tag, "b")
    results = together(
        start(a, "sync", "--no-progress", SYNC_BATCH_SIZE="5"),
        start(b, "sync", "--no-progress", SYNC_BATCH_SIZE="5"),
    )
    # However the two interleaved, one project of that title is left (said: what each run said).
    projects = api.project_ids(f"faults {tag}")
    assert len(projects) == 1, [(r.returncode, r.stdout[-500:], r.stderr[-500:]) for r in results]
    [project_id] = projects
    counts = api.sentence_counts(project_id)
    # Both imported at once: whatever sentences got two tasks are reported, and repaired.
    raced = sorted(s for s, n in counts.items() if n > 1)
    result = run(a, "sync", "--no-progress")
    if raced:
        assert result.returncode != 0
        assert f"{len(raced)} sentence(s) have more than one task" in result.stderr
    else:
        assert result.returncode == 0, result.stderr
    ok(run(a, "sync", "--no-progress", "--repair"))
    assert api.sentence_counts(project_id) == Counter(dict.fromkeys(counts, 1))

    # A second import of the same sentences (as a machine whose sync state was lost would do):
    # three sentences imported again by hand; one pair gets an annotation on its newer task,
    # one on both tasks.
    again = [t["data"] for t in api.tasks(project_id)[:3]]
    api.import_tasks(project_id, again)
    first, second, third = sorted(d["sentence_id"] for d in again)
    task_ids: dict[str, list[int]] = {}
    for task in api.tasks(project_id):
        task_ids.setdefault(task["data"]["sentence_id"], []).append(task["id"])
    api.annotate(max(task_ids[first]), CHOICE)
    for task_id in task_ids[second]:
        api.annotate(task_id, CHOICE)

    result = run(a, "sync", "--no-progress")
    assert result.returncode != 0
    assert "2 sentence(s) have more than one task" in result.stderr
    assert first in result.stderr and third in result.stderr and "--repair" in result.stderr
    # Both of its tasks are annotated: nothing to repair, both kept, and said so.
    assert f"note: {second} has 2 annotated tasks" in result.stdout

    ok(run(a, "sync", "--no-progress", "--repair"))
    after: dict[str, list[int]] = {}
    for task in api.tasks(project_id):
        after.setdefault(task["data"]["sentence_id"], []).append(task["id"])
    assert set(after) == set(counts)
    # The annotated tasks are all still there; only unannotated extras went.
    assert after[first] == [max(task_ids[first])]
    assert sorted(after[second]) == sorted(task_ids[second])
    assert all(len(ids) == 1 for s, ids in after.items() if s != second)
    annotations = [
        a for task_id in [*after[first], *after[second]] for a in api.task_annotations(task_id)
    ]
    assert len(annotations) == 3
    # The other machine sees the repaired project: nothing left to repair; the sentence with
    # two annotated tasks is noted (both kept), not an error.
    result = run(b, "sync", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert f"note: {second} has 2 annotated tasks" in result.stdout
    assert first not in result.stdout + result.stderr


# 2. A project renamed, edited or deleted in Label Studio --------------------------------------


@pytest.mark.server
def test_a_renamed_project_is_still_used_reported_and_nothing_is_lost(
    tmp_path: Path, labelstudio: LabelStudioServer, api: Api, tag: str
) -> None:
    root, project, _ = synced_root(tmp_path, labelstudio, api, "root", extra_env=titles(tag))
    project_id = project["id"]
    tasks = api.tasks(project_id)
    for task in tasks[:6]:
        api.annotate(task["id"], CHOICE)
    ok(run(root, "pull"))
    records = read_records(root / "exports" / "annotations" / "claims.jsonl")
    assert len(records) == 6
    # A handful of labels cannot reach the test share: that check is not what this is about.
    ok(run(root, "dataset", "--accept-imbalance"))
    rows_before = json.loads((root / "exports" / "factcheck" / "manifest.json").read_text())[
        "counts"
    ]

    api.request("PATCH", f"/api/projects/{project_id}", json={"title": f"renamed {tag}"})

    out = ok(run(root, "sync", "--no-progress"))
    assert f"titled 'renamed {tag}'" in out and "still using it" in out
    assert api.project_ids(f"faults {tag}") == []  # no second project
    assert len(api.tasks(project_id)) == len(tasks)  # nothing imported again
    out = ok(run(root, "pull"))
    assert "still using it" in out
    assert read_records(root / "exports" / "annotations" / "claims.jsonl") == records
    ok(run(root, "dataset", "--accept-imbalance"))
    rows_after = json.loads((root / "exports" / "factcheck" / "manifest.json").read_text())[
        "counts"
    ]
    assert rows_after == rows_before
    status = ok(run(root, "status", "--json"))
    assert f'"project_id": {project_id}' in status


@pytest.mark.server
def test_deleted_and_edited_tasks_are_reported_never_silently_reimported_or_dropped(
    tmp_path: Path, labelstudio: LabelStudioServer, api: Api, tag: str
) -> None:
    root, project, _ = synced_root(tmp_path, labelstudio, api, "root", extra_env=titles(tag))
    project_id = project["id"]
    tasks = api.tasks(project_id)
    annotated, plain, edited = tasks[0], tasks[1], tasks[2]
    api.annotate(annotated["id"], CHOICE)
    api.annotate(edited["id"], CHOICE)
    ok(run(root, "pull"))
    assert len(read_records(root / "exports" / "annotations" / "claims.jsonl")) == 2

    api.request("DELETE", f"/api/tasks/{annotated['id']}")
    api.request("DELETE", f"/api/tasks/{plain['id']}")
    data = {**edited["data"], "text": "Text edited on the server."}
    api.request("PATCH", f"/api/tasks/{edited['id']}", json={"data": data})

    result = run(root, "sync", "--no-progress")
    assert result.returncode == 0, result.stderr
    sentence = annotated["data"]["sentence_id"]
    assert "annotated task(s) were deleted" in result.stderr and sentence in result.stderr
    assert "without annotations were deleted" in result.stdout
    assert plain["data"]["sentence_id"] in result.stdout
    # Only the edited task: the others' data round-trips through the server unchanged.
    assert f"1 task(s) of project {project_id} hold data that differs" in result.stderr
    assert edited["data"]["sentence_id"] in result.stderr and "(text)" in result.stderr
    counts = api.sentence_counts(project_id)
    assert sentence not in counts  # held back, not imported again
    assert counts[plain["data"]["sentence_id"]] == 1  # unannotated: imported again, reported
    # The next sync still holds it back and still says so.
    result = run(root, "sync", "--no-progress")
    assert sentence in result.stderr and sentence not in api.sentence_counts(project_id)

    result = run(root, "pull", "--full")
    assert result.returncode != 0
    assert "would drop 1 of the 2 record(s)" in result.stderr
    assert f"task {annotated['id']}" in result.stderr
    assert len(read_records(root / "exports" / "annotations" / "claims.jsonl")) == 2
    out = ok(run(root, "pull", "--full", "--allow-shrink"))
    assert "1 annotated task(s) hold data that differs from raw/" in out
    assert edited["data"]["sentence_id"] in out
    assert len(read_records(root / "exports" / "annotations" / "claims.jsonl")) == 1

    ok(run(root, "sync", "--no-progress", "--reimport-deleted"))
    assert api.sentence_counts(project_id)[sentence] == 1


@pytest.mark.server
def test_a_deleted_project_is_an_error_not_a_new_import(
    tmp_path: Path, labelstudio: LabelStudioServer, api: Api, tag: str
) -> None:
    root, project, _ = synced_root(tmp_path, labelstudio, api, "root", extra_env=titles(tag))
    project_id = project["id"]
    api.request("DELETE", f"/api/projects/{project_id}")
    for command in ("sync", "pull"):
        result = run(root, command)
        assert result.returncode != 0
        assert f"project {project_id}" in result.stderr and "gone" in result.stderr
    assert api.project_ids(f"faults {tag}") == []
