"""What a step did, in one shape: read, kept, dropped per reason, wrote, seconds, what it said."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.core.atomic import write_json

Emit = Callable[[str, bool], None]  # (line, is_warning)


def _quiet(line: str, warning: bool) -> None:
    """A report made outside the command line keeps its lines to itself."""


@dataclass
class Report:
    """One run of one step. Lines are emitted as they are said (the CLI prints them) and kept."""

    step: str
    read: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    wrote: list[str] = field(default_factory=list)
    seconds: float = 0.0
    unchanged: bool = False  # nothing changed since the last run: nothing was done
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # bad input, each with where and why
    # What the user must act on though the step finished (e.g. duplicate tasks): exit non-zero.
    failures: list[str] = field(default_factory=list)
    emit: Emit = field(default=_quiet, repr=False, compare=False)
    started: float = field(default_factory=time.monotonic, repr=False, compare=False)

    def say(self, line: str) -> None:
        self.lines.append(line)
        self.emit(line, False)

    def warn(self, line: str) -> None:
        self.lines.append(line)
        self.emit(line, True)

    def problem(self, problem: object) -> None:
        """Bad input: said at once, counted, and the command exits non-zero at the end."""
        self.problems.append(str(problem))
        self.emit(f"bad input: {problem}", True)

    def fail(self, line: str) -> None:
        """Something the user must act on: said as a warning, and the command exits non-zero."""
        self.failures.append(line)
        self.warn(line)

    def drop(self, reason: str, count: int = 1) -> None:
        if count:
            self.dropped[reason] = self.dropped.get(reason, 0) + count

    def done(self) -> Report:
        self.seconds = round(time.monotonic() - self.started, 3)
        return self

    @property
    def exit_code(self) -> int:
        return 1 if self.problems or self.failures else 0

    def summary(self) -> str:
        """One line: the counts, what was written, how long it took."""
        if self.unchanged:
            return f"{self.step}: nothing changed since the last run ({self.seconds:.1f} s)"
        dropped = sum(self.dropped.values())
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(self.dropped.items()))
        text = f"{self.step}: read {self.read}, kept {self.kept}, dropped {dropped}"
        if reasons:
            text += f" ({reasons})"
        if self.wrote:
            text += f"; wrote {', '.join(self.wrote)}"
        return text + f" ({self.seconds:.1f} s)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "read": self.read,
            "kept": self.kept,
            "dropped": dict(sorted(self.dropped.items())),
            "wrote": self.wrote,
            "seconds": self.seconds,
            "unchanged": self.unchanged,
            "problems": len(self.problems),
            "failures": len(self.failures),
        }

    def save(self, state_dir: Path) -> None:
        """The last report of each step, for `make status`."""
        write_json(reports_dir(state_dir) / f"{self.step}.json", self.to_dict())


def reports_dir(state_dir: Path) -> Path:
    return state_dir / "reports"


def last_reports(state_dir: Path) -> list[dict[str, Any]]:
    """The last saved report of every step, by step name (a damaged file is left out)."""
    reports = []
    for path in sorted(reports_dir(state_dir).glob("*.json")):
        try:
            reports.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return reports
