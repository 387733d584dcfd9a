"""Atomic file writes (a temporary file beside the target, then os.replace), and file digests."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def sha256_file(path: Path) -> str:
    """The file's sha256, read a megabyte at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def shared_mode() -> int:
    """The mode an ordinary new file gets here (0644 under the usual umask 022)."""
    # os.umask is the only portable way to read the umask: set it, then put it back.
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _publish(
    path: Path, data: bytes, move: Callable[[str, Path], None], shared: bool = False
) -> None:
    """Write `data` to a synced temporary file beside `path`, then `move` it into place.

    The temporary file is private (0600), and so is the result, unless `shared`: then it gets
    the mode of any other new file (the dataset's card beside its parquet files).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if shared:
            os.chmod(tmp_name, shared_mode())
        move(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes, shared: bool = False) -> None:
    """Write `data` to `path` so a reader sees the old file or the new one, never half of one.

    The file is readable by its owner only (.env, state), unless `shared` (see _publish).
    """
    _publish(Path(path), data, os.replace, shared)


def write_text(path: Path, text: str, shared: bool = False) -> None:
    write_bytes(path, text.encode("utf-8"), shared)


def json_text(value: Any) -> str:
    """The one JSON layout of the files people read: indented, keys sorted, a final newline."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def write_json(path: Path, value: Any, shared: bool = False) -> None:
    write_text(path, json_text(value), shared)


# One encoder for every line: json.dumps with options builds a new one per call, which
# dominated writing 100,000 records.
_LINE_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


def json_line(row: Any) -> bytes:
    """One row of a .jsonl file, as write_jsonl writes it."""
    return (_LINE_ENCODER.encode(row) + "\n").encode("utf-8")


def write_jsonl(path: Path, rows: Iterable[Any], shared: bool = False) -> None:
    write_text(path, "".join(_LINE_ENCODER.encode(row) + "\n" for row in rows), shared)


@contextmanager
def open_atomic(path: Path) -> Iterator[IO[bytes]]:
    """A file to stream into; it replaces `path` only when the block ends without an error.

    For outputs too large to hold in memory: a reader sees the old file or the new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def write_new(path: Path, data: bytes) -> Path:
    """Write `data` to `path` only if nothing is there yet; never overwrites (pulls keep all)."""
    # os.link fails if the target exists, so an earlier file is never replaced.
    _publish(Path(path), data, os.link)
    return Path(path)


def _old_of(target: Path) -> Path:
    return target.with_name(f".{target.name}.old")


def recover_dir(target: Path) -> str | None:
    """Finish a replace_dir that was killed midway; says what it did, None if nothing.

    Killed between its two renames, it leaves the previous directory at `.<name>.old` and
    nothing at `target`: that one is put back. Killed after them, the `.old` is only rubbish.
    """
    target = Path(target)
    old = _old_of(target)
    if not old.exists():
        return None
    if not target.exists():
        os.replace(old, target)
        return f"restored {target} from an interrupted replacement ({old.name})"
    shutil.rmtree(old)
    return f"removed {old}, left by an interrupted replacement"


def replace_dir(staging: Path, target: Path) -> None:
    """Move a fully written `staging` directory into place as `target`, whole or not at all."""
    staging, target = Path(staging), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    old = _old_of(target)
    # Never remove a leftover `.old` while it is the only copy of the previous directory.
    recover_dir(target)
    if target.exists():
        os.replace(target, old)
    try:
        os.replace(staging, target)
    except BaseException:
        # Put the previous directory back: a failed move must not lose it.
        if old.exists() and not target.exists():
            os.replace(old, target)
        raise
    if old.exists():
        shutil.rmtree(old)
