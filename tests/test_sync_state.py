"""The pure parts of sync: its saved state, the inputs fingerprint, config hashes and diffs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from builder.core.projects import labeling_config
from builder.labelstudio.sync import SyncState, config_difference, config_hash, inputs_fingerprint


def test_state_round_trip(tmp_path: Path) -> None:
    path = tmp_path / ".builder" / "sync-claims.json"
    state = SyncState(
        path,
        server="http://127.0.0.1:8080",
        project_id=3,
        task_count=2,
        last_task_id=17,
        tasks={"s-1": 16, "s-2": 17},
        inputs="abc123",
    )
    state.save()
    assert SyncState.load(path) == state
    assert json.loads(path.read_text(encoding="utf-8"))["tasks"] == {"s-1": 16, "s-2": 17}


def test_a_missing_state_is_empty(tmp_path: Path) -> None:
    state = SyncState.load(tmp_path / "none.json")
    assert state == SyncState(tmp_path / "none.json")
    assert (state.task_count, state.last_task_id, state.tasks, state.inputs) == (-1, None, {}, "")


def test_a_state_without_inputs_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    old = {"server": "s", "project_id": 1, "task_count": 0, "last_task_id": None, "tasks": {}}
    path.write_text(json.dumps(old), encoding="utf-8")
    state = SyncState.load(path)
    assert (state.server, state.project_id, state.inputs) == ("s", 1, "")


@pytest.mark.parametrize(
    "damage",
    [
        "{not json",
        "",
        "[1, 2, 3]",
        '"a string"',
        "null",
        '{"server": "s"}',
        b"\xff\xfe\x00garbage",
    ],
)
def test_a_damaged_state_loads_as_empty(tmp_path: Path, damage: str | bytes) -> None:
    path = tmp_path / "sync.json"
    if isinstance(damage, bytes):
        path.write_bytes(damage)
    else:
        path.write_text(damage, encoding="utf-8")
    assert SyncState.load(path) == SyncState(path)


def _files(tmp_path: Path) -> list[Path]:
    raw = tmp_path / "raw"
    raw.mkdir(exist_ok=True)
    for name, text in (("a.txt", "first article"), ("b.jsonl", '{"id": "b", "text": "x"}\n')):
        (raw / name).write_text(text, encoding="utf-8")
        os.utime(raw / name, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    return sorted(raw.iterdir())


def test_fingerprint_is_stable(tmp_path: Path) -> None:
    paths = _files(tmp_path)
    assert inputs_fingerprint(paths, "v1") == inputs_fingerprint(list(reversed(paths)), "v1")


def test_fingerprint_follows_files_and_extras(tmp_path: Path) -> None:
    paths = _files(tmp_path)
    base = inputs_fingerprint(paths, "scheme-hash", "builder-0.1")
    seen = {base}

    def changed(value: str) -> None:
        assert value not in seen
        seen.add(value)

    # Added.
    extra = tmp_path / "raw" / "c.txt"
    extra.write_text("third", encoding="utf-8")
    changed(inputs_fingerprint([*paths, extra], "scheme-hash", "builder-0.1"))
    # Removed.
    changed(inputs_fingerprint(paths[:1], "scheme-hash", "builder-0.1"))
    # Resized (same modification time).
    stat = paths[0].stat()
    paths[0].write_text("first article, longer", encoding="utf-8")
    os.utime(paths[0], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    resized = inputs_fingerprint(paths, "scheme-hash", "builder-0.1")
    changed(resized)
    # Touched (same size, new modification time).
    os.utime(paths[1], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000))
    changed(inputs_fingerprint(paths, "scheme-hash", "builder-0.1"))
    # Extra values: another scheme, another builder, one value more or less.
    changed(inputs_fingerprint(paths, "other-scheme", "builder-0.1"))
    changed(inputs_fingerprint(paths, "scheme-hash", "builder-0.2"))
    changed(inputs_fingerprint(paths, "scheme-hash"))
    changed(inputs_fingerprint(paths, "scheme-hash", "builder-0.1", "annotations-2"))
    # And nothing changed gives the same value again.
    assert inputs_fingerprint(paths, "other-scheme", "builder-0.1") in seen


def test_config_difference_is_a_unified_diff() -> None:
    current = '<View>\n  <Choice value="a"/>\n  <Choice value="b"/>\n</View>\n'
    declared = '<View>\n  <Choice value="a"/>\n  <Choice value="c"/>\n</View>\n'
    diff = config_difference(current, declared).splitlines()
    assert diff[0] == "--- project's config"
    assert diff[1] == "+++ declared config"
    assert diff[2].startswith("@@")
    assert '-<Choice value="b"/>' in diff
    assert '+<Choice value="c"/>' in diff
    assert ' <Choice value="a"/>' in diff
    assert config_difference(current, current) == ""


def test_config_hash_ignores_whitespace_only_differences() -> None:
    config = labeling_config("claims")
    reindented = "\n\n".join("\t" + line.strip() + "   " for line in config.splitlines()) + "\n\n"
    assert config_hash(config) == config_hash(reindented)
    assert config_hash(config) == config_hash(config.rstrip("\n"))
    assert config_hash(config) == config_hash(config.replace("\n", "\r\n"))
    assert config_difference(config, reindented) == ""
    # A real change is one.
    assert config_hash(config) != config_hash(config.replace("checkworthy", "check_worthy"))
    assert config_hash(config) != config_hash(labeling_config("claims", adjudication=True))
    assert config_hash(config) != config_hash(labeling_config("stance"))
