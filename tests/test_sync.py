"""`python -m builder sync` against the session's real Label Studio server.

Every test works in its own project root with its own project titles, runs the real command in
a subprocess, and checks what the server holds through plain HTTP (not through the client under
test).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import LabelStudioServer
from support import (
    CHOICE,
    SAMPLES,
    Api,
    builder_command,
    builder_environment,
    closed_port,
    run,
)

from builder.core.config import Settings
from builder.core.errors import BuilderError
from builder.core.projects import labeling_config
from builder.inputs.corpus import load_corpus
from builder.labelstudio.client import LabelStudioClient
from builder.tasks.claims import claim_tasks

pytestmark = pytest.mark.server

MARKUP = "The minister wrote <b>bold</b> & <script>x</script> in the memo."


# Helpers -----------------------------------------------------------------------------------


def normal(config: str) -> str:
    """A config with all whitespace removed: the comparison is modulo whitespace."""
    return "".join(config.split())


def append_env(root: Path, **values: str) -> None:
    with open(root / ".env", "a", encoding="utf-8") as env:
        for key, value in values.items():
            env.write(f"{key}={value}\n")


def title_of(root: Path) -> str:
    return Settings.load(root).claims_project_title


def sync(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    result = run(root, "sync", "--no-progress", *args, **env)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def synced(root: Path, *args: str) -> str:
    """A sync that must succeed; its stdout."""
    result = sync(root, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def by_sentence(tasks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found = {t["data"].get("sentence_id"): t for t in tasks}
    assert len(found) == len(tasks), "more than one task for a sentence"
    return found


def expected_tasks(root: Path) -> list[dict[str, Any]]:
    return claim_tasks(load_corpus(Settings.load(root)))


def assert_one_task_per_sentence(api: Api, project_id: int, root: Path) -> list[dict[str, Any]]:
    tasks = api.tasks(project_id, include="id,data")
    counts = Counter(t["data"].get("sentence_id") for t in tasks)
    duplicated = {s: n for s, n in counts.items() if n > 1}
    assert not duplicated, f"{len(duplicated)} sentence(s) with more than one task"
    wanted = {t["sentence_id"] for t in expected_tasks(root)}
    assert not wanted - set(counts), f"{len(wanted - set(counts))} sentence(s) without a task"
    assert set(counts) == wanted
    assert api.task_count(project_id) == len(wanted)
    return tasks


@pytest.fixture
def root(server_settings: Settings, project_root: Path) -> Path:
    """The fixture's root with the sample articles and project titles of its own."""
    for sample in SAMPLES:
        shutil.copy(sample, project_root / "raw" / sample.name)
    tag = uuid.uuid4().hex[:10]
    append_env(
        project_root,
        CLAIMS_PROJECT_TITLE=f"test claims {tag}",
        STANCE_PROJECT_TITLE=f"test stance {tag}",
    )
    return project_root


def first_sync(root: Path, api: Api) -> tuple[int, list[dict[str, Any]]]:
    out = synced(root)
    assert "created project" in out
    project_id = api.project_id(title_of(root))
    assert project_id is not None
    return project_id, api.tasks(project_id, include="id,data")


# 1, 3: create, import, and nothing the second time ------------------------------------------


def test_sync_creates_the_project_with_the_declared_config_and_one_task_per_sentence(
    root: Path, api: Api
) -> None:
    (root / "raw" / "markup.jsonl").write_text(
        json.dumps(
            {
                "id": "markup",
                "title": "Markup <i>in</i> a title & more",
                "source": "Example Outlet",
                "date": "2024-06-27",
                "text": f"{MARKUP}\n\nA second sentence follows here.",
            }
        )
        + "\n",
        encoding="utf-8",
    )
    project_id, tasks = first_sync(root, api)

    project = api.project_by_id(project_id)
    assert normal(project["label_config"]) == normal(labeling_config("claims"))
    assert "<Text " in project["label_config"] and "HyperText" not in project["label_config"]

    expected = expected_tasks(root)
    assert len(tasks) == len(expected) == project["task_number"]
    tasks_by_sentence = by_sentence(tasks)
    assert set(tasks_by_sentence) == {t["sentence_id"] for t in expected}
    # The sample's "This article was last updated on …" line is boilerplate: not a task.
    assert not [t for t in tasks if "last updated on" in t["data"]["text"]]
    assert all(t["data"]["kind"] != "boilerplate" for t in tasks)
    for task in tasks:
        for field in (
            "sentence_id",
            "article_id",
            "story_id",
            "text",
            "headline",
            "meta",
            "before",
            "after",
        ):
            assert isinstance(task["data"].get(field), str) and task["data"][field], field

    # Article text is sent as raw text: not escaped, not stripped.
    markup = [t["data"] for t in tasks if t["data"]["article_id"] == "markup"]
    assert [d["text"] for d in markup] == [MARKUP, "A second sentence follows here."]
    assert markup[0]["headline"] == "Markup <i>in</i> a title & more"
    assert markup[1]["before"] == MARKUP
    assert "Example Outlet" in markup[0]["meta"] and "2024-06-27" in markup[0]["meta"]
    # A sample sentence, as the server holds it, is the exact text of the article.
    samples = {s.stem: s.read_text(encoding="utf-8") for s in SAMPLES}
    for task in tasks:
        if task["data"]["article_id"] in samples:
            assert task["data"]["text"] in samples[task["data"]["article_id"]]


def test_second_sync_imports_nothing_and_says_so(root: Path, api: Api) -> None:
    project_id, tasks = first_sync(root, api)
    out = synced(root)
    assert "nothing new" in out
    assert "imported" not in out
    after = assert_one_task_per_sentence(api, project_id, root)
    assert sorted(t["id"] for t in after) == sorted(t["id"] for t in tasks)


# 2: Label Studio's own validation ----------------------------------------------------------


def test_declared_configs_pass_label_studios_validation(
    server_settings: Settings, root: Path, api: Api
) -> None:
    client = LabelStudioClient(server_settings)
    tag = uuid.uuid4().hex[:10]
    for project in ("claims", "stance"):
        for adjudication in (False, True):
            config = labeling_config(project, adjudication=adjudication)
            info = client.create_project(f"validate {project} {adjudication} {tag}", config, "")
            client.validate_config(info.id, config)
            # The same endpoint really validates: a control pointing at no object is refused.
            broken = config.replace('toName="text"', 'toName="nowhere"')
            with pytest.raises(BuilderError, match="HTTP 400"):
                client.validate_config(info.id, broken)
    # And against a project that holds the synced tasks (their data must fit the config).
    project_id, _ = first_sync(root, api)
    client.validate_config(project_id, labeling_config("claims"))


# 4, 5: edited and removed articles -------------------------------------------------------------


def test_editing_one_sentence_imports_exactly_one_new_task(root: Path, api: Api) -> None:
    project_id, before = first_sync(root, api)
    path = root / "raw" / SAMPLES[0].name
    old = "The last time a similar conversation took place was over a year ago."
    new = "The last time a similar conversation took place was two years ago."
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path.write_text(text.replace(old, new), encoding="utf-8")

    out = synced(root)
    assert "imported 1 new task" in out
    after = api.tasks(project_id, include="id,data")
    assert len(after) == len(before) + 1
    old_by_id = {t["id"]: t for t in before}
    # Every task that was there is still there, with the same data.
    assert {t["id"]: t for t in after if t["id"] in old_by_id} == old_by_id
    added = [t for t in after if t["id"] not in old_by_id]
    assert [t["data"]["text"] for t in added] == [new]
    # The old sentence left raw/: reported, kept.
    gone = [t for t in before if t["data"]["text"] == old]
    assert len(gone) == 1
    assert "no longer in raw/" in out and gone[0]["data"]["sentence_id"] in out


def test_an_article_that_left_raw_is_reported_not_deleted(root: Path, api: Api) -> None:
    project_id, before = first_sync(root, api)
    removed = SAMPLES[1].name
    (root / "raw" / removed).unlink()
    gone = sorted(
        t["data"]["sentence_id"] for t in before if t["data"]["article_id"] == Path(removed).stem
    )
    assert gone

    out = synced(root)
    assert "nothing new" in out
    assert f"{len(gone)} task(s)" in out and "no longer in raw/" in out
    assert gone[0] in out
    after = api.tasks(project_id, include="id,data")
    assert sorted(t["id"] for t in after) == sorted(t["id"] for t in before)


# 7: tasks deleted or added by hand ---------------------------------------------------------


def test_a_task_deleted_by_hand_is_imported_again(root: Path, api: Api) -> None:
    project_id, before = first_sync(root, api)
    victim = before[len(before) // 2]
    api.request("DELETE", f"/api/tasks/{victim['id']}/")
    assert api.task_count(project_id) == len(before) - 1

    out = synced(root)
    assert "imported 1 new task" in out
    after = assert_one_task_per_sentence(api, project_id, root)
    again = by_sentence(after)[victim["data"]["sentence_id"]]
    assert again["id"] != victim["id"] and again["data"] == victim["data"]


def test_the_newest_task_deleted_by_hand_is_imported_again(root: Path, api: Api) -> None:
    project_id, before = first_sync(root, api)
    newest = max(before, key=lambda t: t["id"])
    api.request("DELETE", f"/api/tasks/{newest['id']}/")
    assert "imported 1 new task" in synced(root)
    assert_one_task_per_sentence(api, project_id, root)


def test_a_task_added_by_hand_does_not_break_the_sync(root: Path, api: Api) -> None:
    project_id, before = first_sync(root, api)
    foreign = {**before[0]["data"], "sentence_id": "by-hand-0001", "text": "Added by hand."}
    api.request("POST", f"/api/projects/{project_id}/import", json=[{"data": foreign}])
    # The server checks task data against the config, so it has every shown field.
    no_key = {k: v for k, v in before[0]["data"].items() if k != "sentence_id"}
    no_key["text"] = "A task without any sentence_id."
    api.request("POST", f"/api/projects/{project_id}/import", json=[{"data": no_key}])

    out = synced(root)
    assert "no longer in raw/" in out and "by-hand-0001" in out
    after = api.tasks(project_id, include="id,data")
    assert len(after) == len(before) + 2
    ours = [t for t in after if t["data"].get("sentence_id") not in (None, "by-hand-0001")]
    assert sorted(t["id"] for t in ours) == sorted(t["id"] for t in before)
    # The next run has nothing to do either.
    assert "imported" not in synced(root).replace("imported 0", "")


# 8: the project's config differs from the declared one -------------------------------------


def hand_config() -> str:
    declared = labeling_config("claims")
    changed = declared.replace("Is this sentence a claim worth checking?", "An older prompt?")
    assert changed != declared
    return changed


def test_a_differing_config_without_annotations_is_updated(root: Path, api: Api) -> None:
    project_id, _ = first_sync(root, api)
    api.request("PATCH", f"/api/projects/{project_id}", json={"label_config": hand_config()})
    assert normal(api.project_by_id(project_id)["label_config"]) == normal(hand_config())

    out = synced(root)
    assert "updated the config" in out
    config = api.project_by_id(project_id)["label_config"]
    assert normal(config) == normal(labeling_config("claims"))


def test_a_differing_config_with_annotations_is_left_alone_until_forced(
    root: Path, api: Api
) -> None:
    project_id, tasks = first_sync(root, api)
    annotation = api.annotate(tasks[0]["id"], CHOICE)
    api.request("PATCH", f"/api/projects/{project_id}", json={"label_config": hand_config()})

    refused = sync(root)
    assert refused.returncode != 0
    assert "An older prompt?" in refused.stderr  # the diff: what the project has …
    assert "Is this sentence a claim worth checking?" in refused.stderr  # … and what is declared
    assert "--force-config" in refused.stderr
    assert normal(api.project_by_id(project_id)["label_config"]) == normal(hand_config())

    out = synced(root, "--force-config")
    assert "updated the config" in out
    project = api.project_by_id(project_id)
    assert normal(project["label_config"]) == normal(labeling_config("claims"))
    assert [a["id"] for a in api.task_annotations(tasks[0]["id"])] == [annotation]
    assert project["total_annotations_number"] == 1


# 9: annotated tasks ------------------------------------------------------------------------


def test_annotated_tasks_are_never_deleted_or_changed(root: Path, api: Api) -> None:
    project_id, before = first_sync(root, api)
    target = next(t for t in before if t["data"]["kind"] == "body")
    annotation = api.annotate(target["id"], CHOICE)
    # Its sentence leaves raw/ (the rest of its article stays).
    path = root / "raw" / f"{target['data']['article_id']}.txt"
    text = path.read_text(encoding="utf-8")
    assert text.count(target["data"]["text"]) == 1
    path.write_text(text.replace(target["data"]["text"], ""), encoding="utf-8")

    out = synced(root)
    assert target["data"]["sentence_id"] in out and "no longer in raw/" in out
    after = {t["id"]: t for t in api.tasks(project_id, include="id,data")}
    assert after[target["id"]]["data"] == target["data"]
    assert [a["id"] for a in api.task_annotations(target["id"])] == [annotation]
    assert api.task_annotations(target["id"])[0]["result"][0]["value"] == CHOICE[0]["value"]
    # Also a second sync with the whole article gone keeps it.
    path.unlink()
    synced(root)
    assert api.request("GET", f"/api/tasks/{target['id']}")["data"] == target["data"]
    assert [a["id"] for a in api.task_annotations(target["id"])] == [annotation]


# 10: errors --------------------------------------------------------------------------------


def test_errors_name_the_cause_and_the_fix_and_never_print_the_key(
    root: Path, api: Api, labelstudio: LabelStudioServer
) -> None:
    wrong = "wrong-key-" + uuid.uuid4().hex
    outputs = []

    url = f"http://127.0.0.1:{closed_port()}"
    down = sync(root, LABEL_STUDIO_URL=url, LABEL_STUDIO_API_KEY=wrong)
    assert down.returncode != 0
    assert url in down.stderr and "fix:" in down.stderr
    outputs.append(down)

    refused = sync(root, LABEL_STUDIO_API_KEY=wrong)
    assert refused.returncode != 0
    assert "refused" in refused.stderr and "LABEL_STUDIO_API_KEY" in refused.stderr
    outputs.append(refused)
    assert api.project_id(title_of(root)) is None  # nothing was made with a refused key

    ok = sync(root)
    assert ok.returncode == 0, ok.stderr
    outputs.append(ok)

    for article in (root / "raw").iterdir():
        article.unlink()
    empty = sync(root)
    assert empty.returncode != 0
    assert "no articles" in empty.stderr and str(root / "raw") in empty.stderr
    outputs.append(empty)

    for result in outputs:
        assert "Traceback" not in result.stderr
        for key in (wrong, labelstudio.token):
            assert key not in result.stdout and key not in result.stderr
    written = [p for d in (".builder", "exports") for p in (root / d).rglob("*") if p.is_file()]
    assert written  # the sync state at least
    for path in written:
        assert labelstudio.token.encode() not in path.read_bytes(), path


# 11: annotations per task (overlap) ------------------------------------------------------------


def next_task(api: Api, project_id: int) -> int:
    return api.request("GET", f"/api/projects/{project_id}/next")["id"]


def test_annotations_per_task_sets_the_overlap_on_the_server(
    root: Path, api: Api, labelstudio: LabelStudioServer
) -> None:
    append_env(root, ANNOTATIONS_PER_TASK="2")
    project_id, _ = first_sync(root, api)
    assert api.project_by_id(project_id)["maximum_annotations"] == 2

    tag = uuid.uuid4().hex[:8]
    a = Api(labelstudio.url, labelstudio.create_user(f"a-{tag}@example.test", "pw-annotator-a-1"))
    b = Api(labelstudio.url, labelstudio.create_user(f"b-{tag}@example.test", "pw-annotator-b-1"))
    first = next_task(a, project_id)
    assert next_task(b, project_id) == first  # two annotators are handed the same task
    a.annotate(first, CHOICE)
    assert next_task(b, project_id) == first  # it still needs B's answer
    assert next_task(a, project_id) != first

    # One annotation per task (another project): A's task is not handed to B.
    append_env(root, CLAIMS_PROJECT_TITLE=f"overlap one {tag}", ANNOTATIONS_PER_TASK="1")
    single, _ = first_sync(root, api)
    assert api.project_by_id(single)["maximum_annotations"] == 1
    first = next_task(a, single)
    # Label Studio locks a handed-out task while it needs one more answer: B gets another.
    assert next_task(b, single) != first
    a.annotate(first, CHOICE)
    assert next_task(b, single) != first

    # Changing the setting updates the existing project.
    append_env(root, ANNOTATIONS_PER_TASK="3")
    assert "annotations per task set to 3" in synced(root)
    assert api.project_by_id(single)["maximum_annotations"] == 3


# 6: a killed sync ------------------------------------------------------------------------------


def write_big_corpus(raw: Path, articles: int, sentences: int) -> None:
    with open(raw / "big.jsonl", "w", encoding="utf-8") as out:
        for a in range(articles):
            paragraphs = [
                " ".join(
                    f"Report {a} paragraph {p} line {s} says that {a * 7 + s} officials met "
                    "in the capital on Monday."
                    for s in range(5)
                )
                for p in range(sentences // 5)
            ]
            record = {
                "id": f"big{a:04d}",
                "title": f"Generated story number {a}",
                "date": "2024-06-26",
                "source": "Generated",
                "story_id": f"story{a % 10}",
                "text": "\n\n".join(paragraphs),
            }
            out.write(json.dumps(record) + "\n")


def kill_sync(root: Path, api: Api, when: str, delay: float) -> tuple[bool, int]:
    """Start a real sync; SIGKILL it `delay` s after `when` ("start", or "batch": the server's
    task count grew). Whether it was still running, and the server's count at the kill."""
    title = title_of(root)
    process = subprocess.Popen(
        builder_command("sync", "--no-progress"),
        cwd=root,
        env=builder_environment(root),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        started = time.monotonic()
        if when == "batch":
            project_id = count = None
            while process.poll() is None and time.monotonic() - started < 60:
                project_id = project_id or api.project_id(title)
                if project_id is not None:
                    now = api.task_count(project_id)
                    if count is not None and now > count:
                        break
                    count = now
                time.sleep(0.05)
        time.sleep(delay)
        running = process.poll() is None
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    project_id = api.project_id(title)
    return running, api.task_count(project_id) if project_id else 0


def settle(api: Api, project_id: int) -> None:
    """Wait until an import the killed client had sent is finished on the server.

    The server completes an import whose client died. A sync started while it is still
    writing (within a fraction of a second of the kill) would not see those tasks yet and
    import them again: a limit of any client-side sync, not what this test is about."""
    last, stable_since = -1, time.monotonic()
    while time.monotonic() - stable_since < 1.0:
        now = api.task_count(project_id)
        if now != last:
            last, stable_since = now, time.monotonic()
        time.sleep(0.2)


def test_a_killed_sync_ends_with_exactly_one_task_per_sentence(root: Path, api: Api) -> None:
    write_big_corpus(root / "raw", articles=180, sentences=35)
    append_env(root, SYNC_BATCH_SIZE="1000")  # several import requests to kill in between
    total = len(expected_tasks(root))
    assert total > 6000  # seven batches of 1,000: a batch takes the server about 0.3 s
    state = root / ".builder" / "sync" / "claims.json"

    plan = [
        ("start", 0.5, None),  # while it starts, reads raw/ or makes the project
        ("batch", 0.0, None),  # as soon as the server holds a new batch (often before the
        # sync has recorded it)
        ("batch", 0.15, "corrupt"),  # in the middle of the next batch, the state file corrupt
        ("batch", 0.0, "delete"),  # and without any state file
        ("start", 1.0, None),  # while it lists the project's tasks
    ]
    partial, log = 0, []
    for when, delay, damage in plan:
        if damage == "corrupt" and state.exists():
            state.write_text('{"server": "http://elsewhere", "tasks": {', encoding="utf-8")
        if damage == "delete":
            state.unlink(missing_ok=True)
        running, count = kill_sync(root, api, when, delay)
        partial += running and 0 < count < total
        log.append((when, delay, damage, running, count))
        project_id = api.project_id(title_of(root))
        if project_id:
            settle(api, project_id)
    # Most kills must have hit a sync in the middle of its import, or this tests nothing.
    assert partial >= 3, f"only {partial} kill(s) hit a partial import: {log}"

    # The run to the end starts from a damaged state file too: the server stays the truth.
    state.write_text('{"server": "', encoding="utf-8")
    synced(root)
    project_id = api.project_id(title_of(root))
    assert_one_task_per_sentence(api, project_id, root)
    assert "nothing new" in synced(root)

    # Every task gone from the server (by hand) after a clean sync, and the sync that imports
    # them again killed between two batches: the next sync must not trust its state of the last
    # clean run. (A timed kill rarely hits that moment, so the kill comes from the progress bar,
    # right after a batch is recorded; the client and the server are the real ones.)
    api.request("DELETE", f"/api/projects/{project_id}/tasks/")
    assert api.task_count(project_id) == 0
    killed = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_FIRST_BATCH],
        cwd=root,
        env=builder_environment(root),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert api.task_count(project_id) == 1000
    out = synced(root)
    assert "nothing new" not in out
    assert_one_task_per_sentence(api, project_id, root)


KILL_AFTER_FIRST_BATCH = """
import os, signal, sys
import builder.labelstudio.sync

class KillingBar(builder.labelstudio.sync.tqdm):
    def update(self, n=1):
        os.kill(os.getpid(), signal.SIGKILL)

builder.labelstudio.sync.tqdm = KillingBar
from builder.cli.main import main
sys.exit(main(["sync", "--no-progress"]))
"""
