"""Pulls on disk, without a server: verbatim snapshots, records, rejects, merged tasks, summary."""

from __future__ import annotations

import json
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from builder.core.atomic import write_json, write_jsonl
from builder.core.config import Settings
from builder.core.errors import BuilderError
from builder.labels.records import (
    PullPaths,
    annotated_task_ids,
    project_records,
    pull_paths,
    pulled_tasks,
    read_records,
    read_summary,
    set_names,
)
from builder.labelstudio import pull
from builder.labelstudio.pull import (
    PullCounts,
    new_pull_name,
    process_pages,
    save_snapshot,
    since_last_pull,
)

KNOWN = {"s-1", "s-2", "s-3", "s-4"}


def known(_tasks: list[dict[str, Any]]) -> set[str]:
    return KNOWN


def annotation(
    ann_id: int,
    label: str | list[str] | None,
    email: str = "ann@example.org",
    user: int = 7,
    **fields: Any,
) -> dict[str, Any]:
    labels = [label] if isinstance(label, str) else label
    result = (
        []
        if labels is None
        else [
            {
                "id": f"r{ann_id}",
                "from_name": "claim",
                "to_name": "text",
                "type": "choices",
                "origin": "manual",
                "value": {"choices": labels},
            }
        ]
    )
    return {
        "id": ann_id,
        "completed_by": {"id": user, "email": email},
        "result": result,
        "was_cancelled": False,
        "ground_truth": False,
        "lead_time": 3.5,
        "created_at": "2024-06-27T10:00:00.000000Z",
        "updated_at": "2024-06-27T10:00:05.000000Z",
        **fields,
    }


def task(
    task_id: int,
    sentence_id: str,
    annotations: list[dict[str, Any]],
    drafts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "id": task_id,
        "data": {"sentence_id": sentence_id, "text": f"Sentence {sentence_id}."},
        "annotations": annotations,
        "drafts": drafts or [],
        "predictions": [],
    }


def first_export() -> list[dict[str, Any]]:
    return [
        # Two annotators agree: 2 accepted.
        task(
            1,
            "s-1",
            [
                annotation(101, "checkworthy", "a@x.org", 1),
                annotation(102, "checkworthy", "b@x.org", 2),
            ],
        ),
        # One cancelled, one with a label not in the scheme (rejected), and a draft.
        task(
            2,
            "s-2",
            [
                annotation(201, None, "a@x.org", 1, was_cancelled=True),
                annotation(202, "maybe", "b@x.org", 2),
            ],
            drafts=[{"id": 9, "result": []}],
        ),
        # An unknown sentence id: rejected.
        task(3, "s-unknown", [annotation(301, "no_claim", "a@x.org", 1)]),
        # An empty result: skipped.
        task(4, "s-4", [annotation(401, None, "b@x.org", 2)]),
    ]


def save(paths: PullPaths, export: list[dict[str, Any]]) -> Path:
    return save_snapshot(paths, json.dumps(export).encode("utf-8"))


@pytest.fixture
def paths(tmp_path: Path) -> PullPaths:
    return PullPaths(tmp_path / "exports", "claims")


# save_snapshot ---------------------------------------------------------------------------


def test_save_snapshot_never_overwrites(paths: PullPaths) -> None:
    data = b'[{"id": 1, "annotations": []}]'
    first = save_snapshot(paths, data)
    second = save_snapshot(paths, data)
    assert first != second
    assert first.parent == second.parent == paths.snapshots
    assert sorted(p.name for p in paths.snapshots.iterdir()) == sorted([first.name, second.name])
    assert first.read_bytes() == data
    assert second.read_bytes() == data
    assert first.name.startswith("claims-") and first.suffix == ".json"


def test_save_snapshot_keeps_the_bytes_verbatim(paths: PullPaths) -> None:
    data = '[ {"id": 1,\n "text": "naïve \u2028 line"} ]\r\n'.encode()
    assert save_snapshot(paths, data).read_bytes() == data


def test_write_new_refuses_to_replace_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "snap.json"
    target.write_bytes(b"old")
    with pytest.raises(FileExistsError):
        pull.write_new(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["snap.json"]  # no temporary file left


# process_pages ---------------------------------------------------------------------------


def test_process_pages_writes_records_rejects_tasks_and_summary(paths: PullPaths) -> None:
    snapshot = save(paths, first_export())
    validated = process_pages(paths, [snapshot], known, 42, server_time="2024-06-27T10:05:00")

    accepted = read_records(paths.accepted)
    assert [(r["item_id"], r["annotator"], r["answers"]) for r in accepted] == [
        ("s-1", "a@x.org", {"claim": ["checkworthy"]}),
        ("s-1", "b@x.org", {"claim": ["checkworthy"]}),
    ]
    assert accepted[0]["task_id"] == 1 and accepted[0]["annotation_id"] == 101
    assert accepted[0]["lead_time"] == 3.5 and accepted[0]["ground_truth"] is False

    rejects = read_records(paths.rejects)
    assert [(r["task_id"], r["annotator"], r["path"]) for r in rejects] == [
        (2, "b@x.org", "$.answers.claim[0]"),
        (3, "a@x.org", "$.item_id"),
    ]
    assert "maybe" in rejects[0]["reason"]
    assert "s-unknown" in rejects[1]["reason"]

    tasks = json.loads(paths.tasks.read_text(encoding="utf-8"))
    assert [t["id"] for t in tasks] == [1, 2, 3, 4]
    assert tasks[1]["data"]["sentence_id"] == "s-2"

    summary = read_summary(paths.summary)
    assert summary is not None
    assert summary["project"] == "claims"
    assert summary["project_id"] == 42
    assert summary["snapshot"] == snapshot.name
    assert summary["snapshots"] == [snapshot.name]
    assert summary["server_time"] == "2024-06-27T10:05:00"
    assert summary["incremental"] is False
    assert summary["changed_tasks"] == 4
    counts = summary["counts"]
    assert counts == validated.counts
    assert counts["accepted"] == 2
    assert counts["rejected"] == 2
    assert counts["skipped"] == 3
    assert (counts["skipped_cancelled"], counts["skipped_draft"], counts["skipped_empty"]) == (
        1,
        1,
        1,
    )
    assert counts["pulled"] == counts["accepted"] + counts["rejected"] + counts["skipped"] == 7
    # The snapshot itself is left as it was saved.
    assert json.loads(snapshot.read_bytes()) == first_export()


def test_summary_is_written_last(paths: PullPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    order: list[str] = []
    real_open, real_json = pull.open_atomic, pull.write_json

    @contextmanager
    def spy_open(path: Path) -> Iterator[Any]:
        with real_open(path) as handle:
            yield handle
        order.append(Path(path).name)

    def spy_json(path: Path, value: Any) -> None:
        order.append(Path(path).name)
        real_json(path, value)

    monkeypatch.setattr(pull, "open_atomic", spy_open)
    monkeypatch.setattr(pull, "write_json", spy_json)
    process_pages(paths, [save(paths, first_export())], known, 1)
    assert order[-1] == "claims.summary.json"
    assert set(order) == {
        "claims.tasks.json",
        "claims.rejects.jsonl",
        "claims.jsonl",
        "claims.summary.json",
    }


def test_a_crash_before_the_summary_leaves_no_summary(
    paths: PullPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pull.open_atomic

    @contextmanager
    def failing(path: Path) -> Iterator[Any]:
        with real(path) as handle:
            yield handle
            if Path(path) == paths.accepted:
                raise OSError("disk full")

    monkeypatch.setattr(pull, "open_atomic", failing)
    with pytest.raises(OSError):
        process_pages(paths, [save(paths, first_export())], known, 1)
    # Nothing half-written: none of the outputs appeared, and no temporary file is left.
    assert not paths.summary.exists()
    assert not paths.accepted.exists() and not paths.tasks.exists()
    assert not any(p.name.endswith(".tmp") for p in paths.root.rglob("*"))


def test_merge_replaces_only_the_changed_tasks(paths: PullPaths) -> None:
    first = save(paths, first_export())
    process_pages(paths, [first], known, 42, server_time="2024-06-27T10:05:00+00:00")
    # Task 2 changed: the rejected annotation was fixed and a third annotator labeled it.
    changed = [
        task(
            2,
            "s-2",
            [
                annotation(202, "no_claim", "b@x.org", 2, updated_at="2024-06-27T11:00:00Z"),
                annotation(203, "no_claim", "c@x.org", 3),
            ],
        )
    ]
    second = save(paths, changed)
    validated = process_pages(
        paths, [second], known, 42, merge=True, server_time="2024-06-27T11:05:00+00:00"
    )

    accepted = read_records(paths.accepted)
    assert sorted((r["item_id"], r["annotation_id"]) for r in accepted) == [
        ("s-1", 101),
        ("s-1", 102),
        ("s-2", 202),
        ("s-2", 203),
    ]
    rejects = read_records(paths.rejects)
    assert [r["task_id"] for r in rejects] == [3]  # task 2's reject is gone, task 3's kept
    tasks = json.loads(paths.tasks.read_text(encoding="utf-8"))
    assert [t["id"] for t in tasks] == [1, 2, 3, 4]
    assert [a["id"] for a in tasks[1]["annotations"]] == [202, 203]
    assert tasks[1]["drafts"] == []

    summary = read_summary(paths.summary)
    assert summary is not None
    assert summary["snapshots"] == [first.name, second.name]
    assert summary["snapshot"] == second.name
    assert summary["incremental"] is True
    assert summary["changed_tasks"] == 1
    assert summary["server_time"] == "2024-06-27T11:05:00+00:00"
    counts = summary["counts"]
    assert counts == validated.counts
    # 4 accepted, 1 rejected (task 3), skipped: task 4's empty result only.
    assert (counts["accepted"], counts["rejected"], counts["skipped"]) == (4, 1, 1)
    assert counts["skipped_empty"] == 1
    assert "skipped_cancelled" not in counts and "skipped_draft" not in counts
    assert counts["pulled"] == 6


def test_merge_grows_the_snapshot_list_with_every_pull(paths: PullPaths) -> None:
    names = []
    for n in range(3):
        snapshot = save(paths, [task(10 + n, "s-1", [annotation(500 + n, "no_claim")])])
        process_pages(paths, [snapshot], known, 1, merge=n > 0)
        names.append(snapshot.name)
    summary = read_summary(paths.summary)
    assert summary is not None and summary["snapshots"] == names
    assert len(read_records(paths.accepted)) == 3


def test_without_merge_the_new_export_replaces_everything_when_allowed(paths: PullPaths) -> None:
    process_pages(paths, [save(paths, first_export())], known, 42)
    second = save(paths, [task(2, "s-2", [annotation(203, "no_claim", "c@x.org", 3)])])
    # It drops the records of the first (tests/test_faults.py: refused unless allowed).
    validated = process_pages(paths, [second], known, 42, merge=False, allow_shrink=True)
    assert [(r["item_id"], r["annotation_id"]) for r in read_records(paths.accepted)] == [
        ("s-2", 203)
    ]
    assert read_records(paths.rejects) == []
    assert [t["id"] for t in json.loads(paths.tasks.read_text(encoding="utf-8"))] == [2]
    summary = read_summary(paths.summary)
    assert summary is not None
    assert summary["snapshots"] == [second.name]
    assert summary["counts"] == validated.counts
    assert summary["counts"]["pulled"] == summary["counts"]["accepted"] == 1


def test_ground_truth_pull_marks_every_record(tmp_path: Path) -> None:
    paths = PullPaths(tmp_path, "claims-adjudication")
    snapshot = save(paths, [task(1, "s-1", [annotation(9, "no_claim", "lead@x.org")])])
    process_pages(paths, [snapshot], known, 5, question_project="claims", ground_truth=True)
    [record] = read_records(paths.accepted)
    assert record["project"] == "claims"
    assert record["ground_truth"] is True


def test_known_items_is_given_the_merged_tasks(paths: PullPaths) -> None:
    process_pages(paths, [save(paths, first_export())], known, 1)
    seen: list[list[int]] = []

    def spy(tasks: list[dict[str, Any]]) -> set[str]:
        seen.append([t["id"] for t in tasks])
        return KNOWN

    process_pages(paths, [save(paths, [task(3, "s-3", [])])], spy, 1, merge=True)
    assert seen == [[1, 2, 3, 4]]


# process_pages: the pages of a paged pull ------------------------------------------------


def save_pages(paths: PullPaths, *pages: list[dict[str, Any]]) -> list[Path]:
    name = new_pull_name(paths)
    return [
        save_snapshot(paths, json.dumps(page).encode("utf-8"), name, n)
        for n, page in enumerate(pages, start=1)
    ]


def test_pages_are_saved_under_one_pull_name_and_read_as_one_export(paths: PullPaths) -> None:
    export = first_export()
    pages = save_pages(paths, export[:2], [], export[2:])
    assert [p.name.rsplit("-", 1)[1] for p in pages] == [
        "page0001.json",
        "page0002.json",
        "page0003.json",
    ]
    counts = process_pages(paths, pages, known, 42, server_time="2024-06-27T10:05:00")

    whole = PullPaths(paths.root / "whole", "claims")
    assert counts.counts == process_pages(whole, [save(whole, export)], known, 42).counts
    assert read_records(paths.accepted) == read_records(whole.accepted)
    assert read_records(paths.rejects) == read_records(whole.rejects)
    assert json.loads(paths.tasks.read_bytes()) == export
    summary = read_summary(paths.summary)
    assert summary is not None
    assert summary["snapshots"] == [p.name for p in pages]
    assert summary["changed_tasks"] == 4


def test_an_incremental_paged_pull_replaces_its_tasks_and_keeps_the_rest(
    paths: PullPaths,
) -> None:
    process_pages(paths, save_pages(paths, first_export()), known, 42)
    new_task_2 = task(2, "s-2", [annotation(203, "no_claim", "c@x.org", 3)])
    new_task_5 = task(5, "s-3", [annotation(501, "no_claim", "c@x.org", 3)])
    pages = save_pages(paths, [new_task_2], [new_task_5])
    counts = process_pages(paths, pages, known, 42, merge=True)
    assert [t["id"] for t in json.loads(paths.tasks.read_bytes())] == [1, 2, 3, 4, 5]
    assert sorted(r["annotation_id"] for r in read_records(paths.accepted)) == [101, 102, 203, 501]
    assert counts.changed_tasks == 2


def test_pages_are_processed_as_they_arrive_while_the_next_is_exported(
    paths: PullPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pull, "CHUNK", 1)
    export = first_export()
    first, second = save_pages(paths, export[:2], export[2:])
    validating = threading.Event()

    def spy(tasks: list[dict[str, Any]]) -> set[str]:
        validating.set()
        return KNOWN

    feed = pull.PageFeed()
    with ThreadPoolExecutor(max_workers=1) as worker:
        processing = worker.submit(
            process_pages, paths, feed, spy, 42, server_time=feed.server_time
        )
        try:
            feed.put(first, "2024-06-27T10:05:00")
            # The first page is validated before the second exists: the export and the
            # validation overlap.
            assert validating.wait(timeout=30)
            assert not processing.done()
            feed.put(second, "2024-06-27T10:06:00")
        finally:
            feed.close(complete=validating.is_set())
        counts = processing.result(timeout=30)
    whole = PullPaths(paths.root / "whole", "claims")
    assert counts.counts == process_pages(whole, [save(whole, export)], known, 42).counts
    assert read_records(paths.accepted) == read_records(whole.accepted)
    summary = read_summary(paths.summary)
    assert summary is not None
    assert summary["snapshots"] == [first.name, second.name]
    assert summary["server_time"] == "2024-06-27T10:05:00"


def test_an_export_that_stops_before_its_last_page_publishes_nothing(paths: PullPaths) -> None:
    process_pages(paths, save_pages(paths, first_export()), known, 42)
    before = {f: f.read_bytes() for f in (paths.tasks, paths.accepted, paths.summary)}
    [page] = save_pages(paths, [task(1, "s-1", [])])
    feed = pull.PageFeed()
    feed.put(page, "2024-06-27T11:00:00")
    feed.close(complete=False)
    with pytest.raises(pull.PullInterrupted, match="before its last page"):
        process_pages(paths, feed, known, 42, allow_shrink=True)
    assert {f: f.read_bytes() for f in before} == before


def test_a_task_in_two_pages_is_kept_once_the_later_copy(paths: PullPaths) -> None:
    old = task(1, "s-1", [annotation(101, "no_claim")])
    new = task(1, "s-1", [annotation(101, "checkworthy")])
    process_pages(paths, save_pages(paths, [old], [new]), known, 1)
    [record] = read_records(paths.accepted)
    assert record["answers"] == {"claim": ["checkworthy"]}


def test_pages_out_of_task_order_are_refused(paths: PullPaths) -> None:
    pages = save_pages(paths, [task(5, "s-1", [])], [task(2, "s-2", [])])
    with pytest.raises(BuilderError, match="comes after task 5"):
        process_pages(paths, pages, known, 1)
    assert not paths.summary.exists() and not paths.tasks.exists()


def test_a_tasks_file_of_an_earlier_version_is_merged(paths: PullPaths) -> None:
    # Earlier pulls kept a full export's bytes as they came: one JSON document, any order.
    paths.tasks.parent.mkdir(parents=True)
    export = first_export()
    paths.tasks.write_text(json.dumps([export[2], export[0], export[3], export[1]]))
    process_pages(paths, save_pages(paths, [task(3, "s-3", [])]), known, 1, merge=True)
    tasks = json.loads(paths.tasks.read_bytes())
    assert [t["id"] for t in tasks] == [1, 2, 3, 4]
    assert tasks[2]["annotations"] == []


PAGE = 50  # tasks per page, and per chunk, of the memory test: small pages, many of them


def big_pull(paths: PullPaths, tasks: int) -> int:
    """The peak memory (bytes) of processing a pull of `tasks` tasks in pages of PAGE."""
    pages = []
    name = new_pull_name(paths)
    for page, first in enumerate(range(0, tasks, PAGE), start=1):
        export = [
            task(n, f"s-{n}", [annotation(2 * n, "no_claim"), annotation(2 * n + 1, "no_claim")])
            for n in range(first, min(first + PAGE, tasks))
        ]
        pages.append(save_snapshot(paths, json.dumps(export).encode(), name, page))
    items = {f"s-{n}" for n in range(tasks)}
    tracemalloc.start()
    try:
        process_pages(paths, pages, lambda _tasks: items, 1)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_pull_streams_its_memory_does_not_grow_with_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pull, "CHUNK", PAGE)
    small = big_pull(PullPaths(tmp_path / "small", "claims"), 5 * PAGE)
    large = big_pull(PullPaths(tmp_path / "large", "claims"), 50 * PAGE)
    assert len(read_records(tmp_path / "large/annotations/claims.jsonl")) == 100 * PAGE
    # Ten times the tasks, the same peak (a page and a chunk of records at a time).
    assert large < 1.2 * small, (small, large)


# since_last_pull -------------------------------------------------------------------------


def test_since_last_pull(paths: PullPaths) -> None:
    assert since_last_pull(paths, 42, full=False) is None  # no summary yet
    process_pages(
        paths, [save(paths, first_export())], known, 42, server_time="2024-06-27T10:05:00+00:00"
    )
    assert since_last_pull(paths, 42, full=False) == "2024-06-27T10:03:00.000000Z"
    assert since_last_pull(paths, 43, full=False) is None  # another project
    assert since_last_pull(paths, 42, full=True) is None
    paths.tasks.unlink()
    assert since_last_pull(paths, 42, full=False) is None


def test_since_last_pull_converts_to_utc(paths: PullPaths) -> None:
    process_pages(
        paths,
        [save(paths, first_export())],
        known,
        7,
        server_time="2024-06-27T12:00:30.250000+02:00",
    )
    assert since_last_pull(paths, 7, full=False) == "2024-06-27T09:58:30.250000Z"
    assert pull.OVERLAP.total_seconds() == 120


def test_since_last_pull_needs_a_server_time(paths: PullPaths) -> None:
    process_pages(paths, [save(paths, first_export())], known, 42, server_time="")
    assert since_last_pull(paths, 42, full=False) is None


# read_records and project_records --------------------------------------------------------


def test_read_records_survives_unicode_line_separators(tmp_path: Path) -> None:
    rows = [
        {"text": "one\u2028two", "n": 1},
        {"text": "three\u0085four\u2029five\x1cs\x1d\x1e\x0b\x0c", "n": 2},
        {"text": "six", "n": 3},
    ]
    path = tmp_path / "records.jsonl"
    write_jsonl(path, rows)
    assert "\u2028" in path.read_text(encoding="utf-8")  # written raw, not escaped
    assert read_records(path) == rows


def test_read_records_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert read_records(tmp_path / "nothing.jsonl") == []
    assert read_summary(tmp_path / "nothing.json") is None


def test_project_records_puts_adjudications_after_the_claims(tmp_path: Path) -> None:
    settings = Settings(root=tmp_path)
    claims = [{"item_id": "s-1", "n": 1}, {"item_id": "s-2", "n": 2}]
    adjudicated = [{"item_id": "s-2", "n": 3, "ground_truth": True}]
    write_jsonl(pull_paths(settings, "claims").accepted, claims)
    write_jsonl(pull_paths(settings, "claims-adjudication").accepted, adjudicated)
    write_jsonl(pull_paths(settings, "stance").accepted, [{"item_id": "p-1", "n": 4}])
    assert project_records(settings, "claims") == claims + adjudicated
    assert project_records(settings, "stance") == [{"item_id": "p-1", "n": 4}]
    assert pull_paths(settings, "claims").accepted == tmp_path / "exports/annotations/claims.jsonl"


def summarize(settings: Settings, name: str) -> None:
    write_json(pull_paths(settings, name).summary, {"project": name, "counts": {}})


def test_the_records_of_a_set_of_projects_are_read_as_one(tmp_path: Path) -> None:
    settings = Settings(root=tmp_path)
    for name in ("claims", "claims-2", "claims-10", "claims-adjudication", "claims-adjudication-2"):
        summarize(settings, name)
    summarize(settings, "claims-x")  # not a project of the set
    assert set_names(settings, "claims") == ["claims", "claims-2", "claims-10"]
    assert set_names(settings, "claims-adjudication") == [
        "claims-adjudication",
        "claims-adjudication-2",
    ]
    assert set_names(settings, "stance") == ["stance"]
    parts = {
        "claims": [{"item_id": "s-1", "n": 1}],
        "claims-2": [{"item_id": "s-2", "n": 2}],
        "claims-10": [{"item_id": "s-3", "n": 3}],
        "claims-adjudication-2": [{"item_id": "s-2", "n": 4, "ground_truth": True}],
    }
    for name, rows in parts.items():
        write_jsonl(pull_paths(settings, name).accepted, rows)
    assert [r["n"] for r in project_records(settings, "claims")] == [1, 2, 3, 4]
    for number, name in enumerate(("claims", "claims-2"), start=1):
        task = {"id": 10 * number, "data": {"sentence_id": f"s-{number}"}, "annotations": [{}]}
        pull_paths(settings, name).tasks.write_text(json.dumps([task]), encoding="utf-8")
    assert sorted(pulled_tasks(settings, "claims")) == ["s-1", "s-2"]
    assert annotated_task_ids(settings, "claims") == {10, 20}


def test_project_records_without_pulls_is_empty(tmp_path: Path) -> None:
    assert project_records(Settings(root=tmp_path), "claims") == []


# repair ----------------------------------------------------------------------------------


def test_repair_trusts_the_tasks_file_by_its_digest_and_mends_a_damaged_one(
    paths: PullPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    process_pages(paths, [save(paths, first_export())], known, 42)
    parsed: list[Path] = []
    read_task_list = pull.read_task_list

    def spy(path: Path) -> list[dict[str, Any]]:
        parsed.append(path)
        return read_task_list(path)

    monkeypatch.setattr(pull, "read_task_list", spy)
    # As the last pull wrote it: its digest says so, nothing is parsed.
    assert pull.repair(paths) == []
    assert parsed == []
    # Cut short: the digest differs, the file is read, found damaged and rebuilt.
    whole = paths.tasks.read_bytes()
    paths.tasks.write_bytes(whole[: len(whole) // 2])
    [message] = pull.repair(paths)
    assert "rebuilt from the saved pulls" in message
    assert json.loads(paths.tasks.read_bytes()) == json.loads(whole)


# Carrying the unchanged tasks of an incremental pull over ----------------------------------


def expected_claims() -> dict[str, dict[str, Any]]:
    # Task 1's text was edited on the server: the summary lists it, pull after pull.
    data = {f"s-{n}": {"sentence_id": f"s-{n}", "text": f"Sentence s-{n}."} for n in range(1, 5)}
    data["s-1"]["text"] = "The sentence as raw/ has it."
    return data


def second_pages() -> list[list[dict[str, Any]]]:
    """Changes since the first pull: task 2 fixed and labeled again, task 4 newly labeled,
    task 5 new; tasks 1 and 3 unchanged."""
    return [
        [
            task(2, "s-2", [annotation(202, "no_claim", "b@x.org", 2), annotation(203, "maybe")]),
            task(4, "s-4", [annotation(401, None, "b@x.org", 2), annotation(402, "no_claim")]),
        ],
        [task(5, "s-3", [annotation(501, "checkworthy", "c@x.org", 3)], [{"id": 8}])],
    ]


def two_pulls(paths: PullPaths, inputs: str | None) -> PullCounts:
    """A first pull, then an incremental one of second_pages(); `inputs` names what the known
    items depend on (None: never carried over, everything validated again)."""
    key = None if inputs is None else (lambda: inputs)
    process_pages(
        paths,
        save_pages(paths, first_export()),
        known,
        42,
        expected_data=expected_claims,
        inputs_key=key,
    )
    return process_pages(
        paths,
        save_pages(paths, *second_pages()),
        known,
        42,
        merge=True,
        expected_data=expected_claims,
        inputs_key=key,
        server_time="2024-06-28T10:00:00Z",
    )


def outputs(paths: PullPaths) -> dict[str, Any]:
    summary = read_summary(paths.summary) or {}
    return {
        "tasks": paths.tasks.read_bytes(),
        "accepted": paths.accepted.read_bytes(),
        "rejects": paths.rejects.read_bytes(),
        "counts": summary["counts"],
        "changed": summary["data_changed_on_server"],
    }


def validated_task_ids(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The ids of every task validate_export is given from now on."""
    seen: list[int] = []
    real = pull.validate_export

    def spy(project: str, tasks: list[dict[str, Any]], *args: Any) -> Any:
        seen.extend(t["id"] for t in tasks)
        return real(project, tasks, *args)

    monkeypatch.setattr(pull, "validate_export", spy)
    return seen


def test_an_incremental_pull_carries_the_unchanged_tasks_over_without_validating_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    everything = PullPaths(tmp_path / "everything", "claims")
    two_pulls(everything, inputs=None)
    carried = PullPaths(tmp_path / "carried", "claims")
    seen = validated_task_ids(monkeypatch)
    counts = two_pulls(carried, inputs="corpus v1")
    # The same files, byte for byte, and the same summary as validating every task again...
    assert outputs(carried) == outputs(everything)
    assert counts.counts == outputs(everything)["counts"]
    assert outputs(carried)["changed"] == {"1 (s-1)": ["text"]}
    # ...but of the second pull only the fresh tasks (and the old versions of 2 and 4, to take
    # back their counts) were validated: 1 and 3 were carried over as written.
    assert sorted(seen[4:]) == [2, 2, 4, 4, 5]
    assert read_summary(carried.summary)["changed_tasks"] == 3  # type: ignore[index]


def test_a_pull_validates_everything_again_when_its_inputs_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = PullPaths(tmp_path / "exports", "claims")
    process_pages(paths, save_pages(paths, first_export()), known, 42, inputs_key=lambda: "v1")
    # raw/ changed: s-1 is no longer in the corpus, so its records are rejected now.
    monkeypatch.setattr(sys.modules[__name__], "KNOWN", KNOWN - {"s-1"})
    seen = validated_task_ids(monkeypatch)
    pages = save_pages(paths, [task(4, "s-4", [annotation(402, "no_claim")])])
    process_pages(paths, pages, known, 42, merge=True, allow_shrink=True, inputs_key=lambda: "v2")
    assert seen == [1, 2, 3, 4]
    assert [r["task_id"] for r in read_records(paths.rejects)] == [1, 1, 2, 3]


@pytest.mark.parametrize("edited", ["accepted", "rejects", "tasks"])
def test_a_file_edited_since_the_last_pull_is_validated_again_not_carried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edited: str
) -> None:
    paths = PullPaths(tmp_path / "exports", "claims")
    process_pages(paths, save_pages(paths, first_export()), known, 42, inputs_key=lambda: "v1")
    path = getattr(paths, edited)
    # Still a valid file of its kind, but not the bytes the last pull wrote.
    path.write_bytes(path.read_bytes().replace(b"\n", b"\n\n", 1))
    seen = validated_task_ids(monkeypatch)
    pages = save_pages(paths, [task(4, "s-4", [annotation(402, "no_claim")])])
    process_pages(paths, pages, known, 42, merge=True, inputs_key=lambda: "v1")
    assert seen == [1, 2, 3, 4]
    assert sorted(r["annotation_id"] for r in read_records(paths.accepted)) == [101, 102, 402]


def test_a_carried_pull_still_refuses_to_lose_a_record_of_a_replaced_task(
    paths: PullPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    process_pages(paths, save_pages(paths, first_export()), known, 42, inputs_key=lambda: "v1")
    before = outputs(paths)
    seen = validated_task_ids(monkeypatch)
    # Annotation 102 of task 1 was deleted on the server.
    pages = save_pages(paths, [task(1, "s-1", [annotation(101, "checkworthy", "a@x.org", 1)])])
    with pytest.raises(BuilderError, match=r"drop 1 of the 2 record\(s\).*deleted on the server"):
        process_pages(paths, pages, known, 42, merge=True, inputs_key=lambda: "v1")
    assert seen == [1, 1]  # carried over, not validated again
    assert outputs(paths) == before
    process_pages(paths, pages, known, 42, merge=True, inputs_key=lambda: "v1", allow_shrink=True)
    assert [r["annotation_id"] for r in read_records(paths.accepted)] == [101]
