"""Atomic writes: a reader sees the old file or the new one; pulls never overwrite; a directory
appears whole or not at all."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import builder.core.atomic as atomic
from builder.core.atomic import replace_dir, write_bytes, write_json, write_jsonl, write_new


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_write_new_creates_the_file_and_its_parents(tmp_path: Path) -> None:
    target = tmp_path / "pulls" / "deep" / "claims-1.json"
    assert write_new(target, b"[1]") == target
    assert target.read_bytes() == b"[1]"
    assert leftovers(target.parent) == []


def test_write_new_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "claims-1.json"
    write_new(target, b"first pull")
    with pytest.raises(FileExistsError):
        write_new(target, b"second pull")
    assert target.read_bytes() == b"first pull"
    assert leftovers(tmp_path) == []


def test_write_bytes_replaces_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "a" / "state.json"
    write_bytes(target, b"one")
    write_bytes(target, b"two")
    assert target.read_bytes() == b"two"
    assert leftovers(target.parent) == []


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "state.json"
    write_bytes(target, b"old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("simulated")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError, match="simulated"):
        write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


def test_write_json_and_jsonl_are_stable_text(tmp_path: Path) -> None:
    write_json(tmp_path / "a.json", {"b": 1, "a": "é"})
    assert (tmp_path / "a.json").read_text(encoding="utf-8") == '{\n  "a": "é",\n  "b": 1\n}\n'
    write_jsonl(tmp_path / "a.jsonl", [{"b": 1, "a": 2}, {"c": "\u2028"}])
    lines = (tmp_path / "a.jsonl").read_text(encoding="utf-8").split("\n")
    assert lines[0] == '{"a": 2, "b": 1}'
    assert json.loads(lines[1]) == {"c": "\u2028"}
    assert lines[2] == ""


def make_dir(path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text, encoding="utf-8")
    return path


def read_dir(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): p.read_text(encoding="utf-8")
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def test_replace_dir_puts_a_new_dir_in_place(tmp_path: Path) -> None:
    staging = make_dir(tmp_path / ".staging", {"a.txt": "A", "sub/b.txt": "B"})
    target = tmp_path / "exports" / "factcheck"
    replace_dir(staging, target)
    assert read_dir(target) == {"a.txt": "A", "sub/b.txt": "B"}
    assert not staging.exists()


def test_replace_dir_replaces_a_whole_dir(tmp_path: Path) -> None:
    target = make_dir(tmp_path / "factcheck", {"old.txt": "old", "data/x.parquet": "x"})
    staging = make_dir(tmp_path / ".staging", {"new.txt": "new"})
    replace_dir(staging, target)
    # Nothing of the old dir survives next to the new one.
    assert read_dir(target) == {"new.txt": "new"}
    assert not staging.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["factcheck"]


def test_replace_dir_clears_a_leftover_old_dir(tmp_path: Path) -> None:
    make_dir(tmp_path / ".factcheck.old", {"stale.txt": "from a crash"})
    target = make_dir(tmp_path / "factcheck", {"old.txt": "old"})
    replace_dir(make_dir(tmp_path / ".staging", {"new.txt": "new"}), target)
    assert read_dir(target) == {"new.txt": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["factcheck"]


def test_replace_dir_keeps_the_old_dir_when_the_move_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = make_dir(tmp_path / "factcheck", {"old.txt": "old"})
    staging = make_dir(tmp_path / ".staging", {"new.txt": "new"})
    real_replace = os.replace

    def fail_on_staging(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        if Path(src) == staging:
            raise OSError("simulated")
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", fail_on_staging)
    with pytest.raises(OSError, match="simulated"):
        replace_dir(staging, target)
    assert read_dir(target) == {"old.txt": "old"}
    assert read_dir(staging) == {"new.txt": "new"}
