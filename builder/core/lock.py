"""One writer at a time per project root: a file lock around every command that writes."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from builder.core import atomic
from builder.core.errors import BuilderError

LOCK_NAME = "write.lock"
# filelock truncates the lock file when it opens it, so who holds it is written beside it.
HOLDER_NAME = "write.lock.holder.json"


def _holder(state_dir: Path, patience: float = 2.0) -> str:
    """Who holds the lock, as recorded by the holder; the lock itself is the truth.

    The holder writes its name just after taking the lock: give it `patience` seconds.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            info = json.loads((state_dir / HOLDER_NAME).read_text(encoding="utf-8"))
            return (
                f"`{info['command']}` (pid {info['pid']} on {info['host']}, since {info['since']})"
            )
        except (OSError, ValueError, KeyError, TypeError):
            if time.monotonic() > deadline:
                return "another builder command (who is unknown: it may be starting)"
            time.sleep(0.05)


@contextmanager
def write_lock(state_dir: Path, command: str, wait: float = 0.0) -> Iterator[None]:
    """Hold the project root's write lock for `command`; if another command holds it, wait up
    to `wait` seconds (saying so), then fail naming the holder.

    The operating system releases the lock when its holder dies, so a killed command never
    leaves it stuck. It only orders commands on one machine: two machines against one team
    server are guarded by the server-side checks of sync (duplicates) and pull (shrinking).
    """
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(state_dir / LOCK_NAME))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if wait <= 0:
            raise BuilderError(
                f"another command is writing in {state_dir.parent}: {_holder(state_dir)}",
                fix="wait for it to finish and run this again (BUILDER_LOCK_WAIT=<seconds> "
                "waits for it)",
            ) from None
        print(f"waiting up to {wait:.0f} s for {_holder(state_dir)} to finish…", flush=True)
        try:
            lock.acquire(timeout=wait)
        except Timeout:
            raise BuilderError(
                f"another command is still writing in {state_dir.parent} after {wait:.0f} s: "
                f"{_holder(state_dir)}",
                fix="wait for it to finish and run this again",
            ) from None
    try:
        holder = {
            "command": command,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        atomic.write_text(state_dir / HOLDER_NAME, json.dumps(holder) + "\n")
        yield
    finally:
        (state_dir / HOLDER_NAME).unlink(missing_ok=True)
        lock.release()
