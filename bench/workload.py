"""Seeds and sizes in, the bench's inputs out: raw/ articles, roots, task payloads, exports."""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.corpus import news_corpus
from builder.core.config import Settings, env_name
from builder.core.scheme import question_for
from builder.inputs.articles import Article
from builder.inputs.corpus import LABELED_KINDS, load_corpus
from builder.inputs.sentences import split_article
from builder.tasks.claims import claim_tasks

ARTICLES_PER_STORY = 5
PARAGRAPHS_PER_ARTICLE = (3, 6)
OUTLETS = ("Reuters", "AP", "AFP", "BBC", "Kyiv Independent", "The Guardian", "NPR", "DW")
HEADLINE_WORDS = (
    "Talks",
    "Sanctions",
    "Ceasefire",
    "Budget",
    "Strikes",
    "Election",
    "Inquiry",
    "Grain",
    "Energy",
    "Rates",
)
FIRST_DAY = date(2024, 1, 1)
# Settings read these from the environment before .env: a bench child must see only its root's.
SETTING_PREFIXES = ("LABEL_STUDIO_", "LOCAL_LABEL_STUDIO_", "BUILDER_")
SETTING_NAMES = frozenset(env_name(name) for name in Settings.model_fields)


@dataclass(frozen=True)
class Articles:
    records: list[dict[str, Any]]  # one raw/ .jsonl line each
    sentences: int  # how many of their sentences become claim tasks


def labeled_count(record: dict[str, Any]) -> int:
    article = Article(
        id=record["id"], text=record["text"], path="", title=record["title"], date=record["date"]
    )
    return sum(1 for s in split_article(article) if s.kind in LABELED_KINDS)


def article(prefix: str, number: int, headline: str, body: list[str]) -> dict[str, Any]:
    """One raw/ .jsonl record; five consecutive articles share a story, a day and a story_id."""
    story = number // ARTICLES_PER_STORY
    return {
        "id": f"{prefix}-{number:06d}",
        "title": headline,
        "text": headline + "\n\n" + "\n\n".join(body),
        "date": (FIRST_DAY + timedelta(days=story % 365)).isoformat(),
        "source": OUTLETS[number % len(OUTLETS)],
        "url": f"https://news.example.org/{prefix}/{number}",
        "language": "en",
        "story_id": f"{prefix}-story-{story:05d}",
    }


def make_articles(prefix: str, min_sentences: int, seed: int) -> Articles:
    """News-like articles until they hold at least `min_sentences` tasks, and only a few more."""
    rng = random.Random(seed)
    # About 100 bytes a sentence; twice that leaves room for the rounding.
    paragraphs = news_corpus(max(200 * min_sentences, 20_000), seed).split("\n\n")
    records: list[dict[str, Any]] = []
    total = 0
    cursor = 0
    headline, body = "", []
    while total < min_sentences:
        count = rng.randint(*PARAGRAPHS_PER_ARTICLE)
        if cursor + count > len(paragraphs):
            cursor = 0  # Reusing paragraphs is fine: sentence ids include the article id.
        body = paragraphs[cursor : cursor + count]
        cursor += count
        story = len(records) // ARTICLES_PER_STORY
        headline = f"{rng.choice(HEADLINE_WORDS)} update {prefix} {story}: officials meet again"
        # A subheading now and then, as news pages have (a line without closing punctuation).
        if len(body) > 3 and rng.random() < 0.3:
            body.insert(2, "What happens next")
        records.append(article(prefix, len(records), headline, body))
        total += labeled_count(records[-1])
    # Shortening the last article brings the count close to the size asked for.
    while len(body) > 1:
        shorter = article(prefix, len(records) - 1, headline, body[:-1])
        fewer = total - labeled_count(records[-1]) + labeled_count(shorter)
        if fewer < min_sentences:
            break
        records[-1], total, body = shorter, fewer, body[:-1]
    return Articles(records, total)


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )


def make_root(path: Path, raw: dict[str, list[dict[str, Any]]], env: dict[str, str]) -> Path:
    """A project root as a user has it: raw/ files and a .env, no state yet."""
    shutil.rmtree(path, ignore_errors=True)
    for name, records in raw.items():
        write_jsonl(path / "raw" / name, records)
    lines = [f"{key}={value}" for key, value in env.items()]
    (path / ".env").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def copy_root(source: Path, target: Path) -> Path:
    """Raw files and .env only: a root that has never synced or pulled."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source / "raw", target / "raw")
    shutil.copy2(source / ".env", target / ".env")
    return target


def child_environment() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(SETTING_PREFIXES) and key not in SETTING_NAMES
    }
    env["PYTHONUNBUFFERED"] = "1"
    return env


def task_payloads(root: Path, scratch: Path) -> list[dict[str, Any]]:
    """The builder's own claim task payloads for `root`'s raw/, computed in a scratch copy so the
    root itself keeps no state from it."""
    copy_root(root, scratch)
    tasks = claim_tasks(load_corpus(Settings.load(scratch)))
    shutil.rmtree(scratch)
    return tasks


def claim_result(label: str) -> list[dict[str, Any]]:
    return [
        {
            "from_name": question_for("claims").name,
            "to_name": "text",
            "type": "choices",
            "value": {"choices": [label]},
        }
    ]


def synthetic_export(
    tasks: list[dict[str, Any]], per_task: int, annotators: int, seed: int
) -> bytes:
    """A Label Studio JSON export (the shape `projects.exports` gives) of `per_task` annotations
    on each task, by a pool of annotators who mostly agree."""
    rng = random.Random(seed)
    labels = question_for("claims").names
    people = [{"id": i + 1, "email": f"annotator{i + 1}@example.com"} for i in range(annotators)]
    annotation_id = 0
    exported = []
    for task_id, data in enumerate(tasks, start=1):
        truth = rng.choice(labels)
        annotations = []
        for who in rng.sample(people, per_task):
            annotation_id += 1
            label = truth if rng.random() < 0.8 else rng.choice(labels)
            stamp = f"2024-03-{1 + annotation_id % 28:02d}T10:{annotation_id % 60:02d}:00.000000Z"
            annotations.append(
                {
                    "id": annotation_id,
                    "completed_by": who,
                    "result": claim_result(label),
                    "was_cancelled": False,
                    "ground_truth": False,
                    "lead_time": round(rng.uniform(2, 40), 3),
                    "created_at": stamp,
                    "updated_at": stamp,
                    "task": task_id,
                    "project": 1,
                }
            )
        exported.append(
            {
                "id": task_id,
                "data": data,
                "annotations": annotations,
                "drafts": [],
                "predictions": [],
                "meta": {},
                "created_at": "2024-03-01T09:00:00.000000Z",
                "updated_at": "2024-03-01T09:00:00.000000Z",
                "inner_id": task_id,
                "total_annotations": per_task,
                "cancelled_annotations": 0,
                "total_predictions": 0,
                "comment_count": 0,
                "unresolved_comment_count": 0,
                "last_comment_updated_at": None,
                "project": 1,
                "updated_by": None,
                "comment_authors": [],
            }
        )
    return json.dumps(exported, ensure_ascii=False).encode("utf-8")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
