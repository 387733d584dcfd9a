"""Reads raw/ (.txt in the sample format, .jsonl one article a line) into checked Articles."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from builder.core.scheme import ARTICLE_SCHEMA

# Files in raw/ that hold something other than articles (user claims, control items, story
# corrections).
RESERVED_FILES = frozenset({"claims.jsonl", "controls.jsonl", "stories.jsonl"})
ARTICLE_SUFFIXES = (".txt", ".jsonl")
DATE_PREFIX = re.compile(r"\A\s*date\s+(\d{4}-\d{2}-\d{2})\s")

_validator = Draft202012Validator(
    ARTICLE_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
)


@dataclass(frozen=True)
class Article:
    id: str
    text: str
    path: str
    title: str | None = None
    date: str | None = None
    source: str | None = None
    url: str | None = None
    language: str = "en"
    story_id: str | None = None


@dataclass(frozen=True)
class Problem:
    """Bad input: where (file and line) and why."""

    path: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.reason}"


@dataclass
class Loaded:
    """What a read of raw/ produced: the good records and the reported problems."""

    items: list[Any] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def schema_problems(validator: Draft202012Validator, record: Any) -> list[str]:
    """Every schema error of `record` as 'JSON path: message', in a stable order."""
    errors = sorted(validator.iter_errors(record), key=lambda e: (e.json_path, e.message))
    return [f"{error.json_path}: {error.message}" for error in errors]


def _binary_or_empty(path: Path, data: bytes) -> Problem | None:
    if not data.strip():
        return Problem(str(path), None, "empty file")
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        return Problem(str(path), line, "binary file (contains NUL bytes), expected UTF-8 text")
    return None


def read_text_file(path: Path) -> tuple[str | None, Problem | None]:
    """The file's text, or why it cannot be read as UTF-8 text."""
    data = path.read_bytes()
    problem = _binary_or_empty(path, data)
    if problem:
        return None, problem
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, Problem(str(path), line, f"invalid UTF-8 at byte {exc.start}: {exc.reason}")


def _jsonl_lines(path: Path, loaded: Loaded) -> list[tuple[int, str]]:
    """(line number, text) of every line of a .jsonl file. Only "\n" ends a line (U+2028 may sit
    inside a JSON string), and a line that is not UTF-8 is reported alone, the rest still read."""
    data = path.read_bytes()
    problem = _binary_or_empty(path, data)
    if problem:
        loaded.problems.append(problem)
        return []
    lines = []
    offset = 0
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            lines.append((number, raw.decode("utf-8-sig" if number == 1 else "utf-8")))
        except UnicodeDecodeError as exc:
            at = offset + exc.start
            loaded.problems.append(
                Problem(str(path), number, f"invalid UTF-8 at byte {at}: {exc.reason}")
            )
        offset += len(raw) + 1
    return lines


def parse_txt(path: Path, text: str) -> tuple[dict[str, Any], int]:
    """A .txt article as a JSON-like record: the id is the stem, a leading date is split off."""
    record: dict[str, Any] = {"id": path.stem}
    match = DATE_PREFIX.match(text)
    if match:
        record["date"] = match.group(1)
        text = text[match.end() :]
    record["text"] = text
    return record, 1


def _article(record: dict[str, Any], path: str) -> Article:
    return Article(
        id=record["id"],
        text=record["text"],
        path=path,
        title=record.get("title"),
        date=record.get("date"),
        source=record.get("source"),
        url=record.get("url"),
        language=record.get("language") or "en",
        story_id=record.get("story_id"),
    )


def iter_records(path: Path, loaded: Loaded) -> list[tuple[dict[str, Any], int]]:
    """The raw records of one file with their line numbers; unreadable parts become problems."""
    if path.suffix == ".txt":
        text, problem = read_text_file(path)
        if problem:
            loaded.problems.append(problem)
            return []
        assert text is not None
        return [parse_txt(path, text)]
    records = []
    for number, line in _jsonl_lines(path, loaded):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            loaded.problems.append(Problem(str(path), number, f"broken JSON: {exc.msg}"))
            continue
        if not isinstance(value, dict):
            loaded.problems.append(Problem(str(path), number, "expected a JSON object"))
            continue
        records.append((value, number))
    return records


def raw_files(raw_dir: Path, reserved: frozenset[str] = RESERVED_FILES) -> list[Path]:
    if not raw_dir.is_dir():
        return []
    return sorted(
        p
        for p in raw_dir.iterdir()
        if p.is_file()
        and not p.name.startswith(".")
        and p.suffix in ARTICLE_SUFFIXES
        and p.name not in reserved
    )


def unread_files(raw_dir: Path) -> list[Problem]:
    """What sits in raw/ that no step reads, so it is not dropped without a word.

    Hidden files (an editor's, .gitkeep) are left alone.
    """
    if not raw_dir.is_dir():
        return []
    problems = []
    for path in sorted(raw_dir.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_dir():
            reason = "a folder: not read (articles are files directly in raw/)"
        elif path.suffix in ARTICLE_SUFFIXES or path.name in RESERVED_FILES:
            continue
        elif path.suffix.lower() in ARTICLE_SUFFIXES:
            reason = f"not read: an article file's name ends in lower-case {path.suffix.lower()}"
        else:
            reason = (
                "not read: articles are .txt or .jsonl files ("
                + " and ".join(sorted(RESERVED_FILES))
                + " have their own steps); move other files out of raw/"
            )
        problems.append(Problem(str(path), None, reason))
    return problems


def load_articles(raw_dir: Path) -> Loaded:
    """Every valid article of raw/, in file order; each bad file or line is a Problem, and so
    is a file of raw/ that nothing reads."""
    loaded = load_article_files(raw_files(raw_dir))
    loaded.problems = unread_files(raw_dir) + loaded.problems
    return loaded


def load_article_files(paths: list[Path]) -> Loaded:
    """Every valid article of these files, in order; each bad file or line is a Problem."""
    loaded = Loaded()
    seen: dict[str, str] = {}
    for path in paths:
        for record, line in iter_records(path, loaded):
            where = f"{path}:{line}"
            errors = schema_problems(_validator, record)
            if errors:
                loaded.problems.extend(Problem(str(path), line, err) for err in errors)
                continue
            if record["id"] in seen:
                loaded.problems.append(
                    Problem(
                        str(path),
                        line,
                        f"article id {record['id']!r} used twice (first at {seen[record['id']]})",
                    )
                )
                continue
            seen[record["id"]] = where
            loaded.items.append(_article(record, str(path)))
    return loaded
