"""Claim labels, user claims and the corpus into stance targets and candidate pairs."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from builder.core.config import DEFAULT_STANCE_MIN_SIMILARITY, DEFAULT_STANCE_TOP_K
from builder.core.projects import STANCE_PROJECT
from builder.core.report import Report
from builder.core.scheme import CLAIM_SCHEMA
from builder.inputs.articles import Loaded, Problem, iter_records, schema_problems
from builder.inputs.corpus import Corpus
from builder.inputs.stories import MAX_DAYS
from builder.labels.aggregate import ItemLabel
from builder.tasks.claims import article_meta, claim_tasks

USER_CLAIMS_FILE = "claims.jsonl"

_claim_validator = Draft202012Validator(
    CLAIM_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
)


@dataclass(frozen=True)
class Target:
    target_id: str
    text: str
    origin: str  # "checkworthy" (from the claims round) or "user"
    story_id: str | None
    article_id: str | None
    source: str
    date: str
    meta: str


@dataclass(frozen=True)
class Pair:
    pair_id: str
    target: Target
    task: dict[str, Any]  # the candidate sentence's claim task (text, context, article, story)
    similarity: float

    def task_data(self) -> dict[str, Any]:
        """The stance task: the target and the candidate in its context, apart."""
        return STANCE_PROJECT.task(
            pair_id=self.pair_id,
            target_id=self.target.target_id,
            target_text=self.target.text,
            target_meta=self.target.meta,
            target_origin=self.target.origin,
            target_article_id=self.target.article_id or "",
            target_source=self.target.source,
            sentence_id=self.task["sentence_id"],
            text=self.task["text"],
            meta=self.task["meta"],
            before=self.task["before"],
            after=self.task["after"],
            article_id=self.task["article_id"],
            source=self.task["source"],
            story_id=self.task["story_id"],
            similarity=round(self.similarity, 4),
        )


def pair_id(target_id: str, sentence_id: str) -> str:
    """From its two parts, so a pair keeps its id in every run."""
    digest = hashlib.sha1(f"{target_id}|{sentence_id}".encode()).hexdigest()[:16]
    return f"pair-{digest}"


def _claim_problems(record: dict[str, Any]) -> list[str]:
    """Schema errors of a user claim, the "story_id or date" rule said plainly (jsonschema's
    anyOf message only repeats the whole record)."""
    errors = schema_problems(_claim_validator, record)
    if "story_id" not in record and "date" not in record:
        errors = [
            e for e in errors if not e.endswith("is not valid under any of the given schemas")
        ]
        errors.append("$: needs a story_id or a date (they say which articles to pair it with)")
    return errors


def load_user_claims(raw_dir: Path) -> Loaded:
    """raw/claims.jsonl, each line checked against the claim schema; bad lines are Problems."""
    loaded = Loaded()
    path = raw_dir / USER_CLAIMS_FILE
    if not path.is_file():
        return loaded
    seen: dict[str, int] = {}
    for record, line in iter_records(path, loaded):
        errors = _claim_problems(record)
        if errors:
            loaded.problems.extend(Problem(str(path), line, error) for error in errors)
        elif record["claim_id"] in seen:
            loaded.problems.append(
                Problem(
                    str(path),
                    line,
                    f"claim id {record['claim_id']!r} used twice (first at line "
                    f"{seen[record['claim_id']]})",
                )
            )
        else:
            seen[record["claim_id"]] = line
            loaded.items.append(record)
    return loaded


def targets_from(
    corpus: Corpus, claim_labels: dict[str, ItemLabel], user_claims: list[dict[str, Any]]
) -> list[Target]:
    """Sentences labeled checkworthy, then the user's claims, in a stable order."""
    targets = []
    for task in claim_tasks(corpus):
        item = claim_labels.get(task["sentence_id"])
        if item is not None and item.label == "checkworthy":
            article = corpus.articles[task["article_id"]]
            targets.append(
                Target(
                    target_id=task["sentence_id"],
                    text=task["text"],
                    origin="checkworthy",
                    story_id=task["story_id"],
                    article_id=task["article_id"],
                    source=task["source"],
                    date=task["date"],
                    meta=article_meta(article),
                )
            )
    for claim in user_claims:
        source = claim.get("source", "")
        targets.append(
            Target(
                target_id=f"claim-{claim['claim_id']}",
                text=claim["text"],
                origin="user",
                story_id=claim.get("story_id"),
                article_id=None,
                source=source,
                date=claim.get("date", ""),
                meta=f"{source or 'claim supplied by the user'} · {claim.get('date') or 'no date'}",
            )
        )
    return targets


def _candidate_pool(target: Target, tasks: list[dict[str, Any]]) -> list[int]:
    """Indexes of the tasks a target may be paired with: same story, never its own article."""
    pool = []
    for index, task in enumerate(tasks):
        if target.article_id is not None and task["article_id"] == target.article_id:
            continue
        if target.story_id is not None:
            if task["story_id"] != target.story_id:
                continue
        elif (
            not task["date"]
            or not target.date
            or abs((date.fromisoformat(task["date"]) - date.fromisoformat(target.date)).days)
            > MAX_DAYS
        ):
            continue
        pool.append(index)
    return pool


def candidate_pairs(
    corpus: Corpus,
    targets: list[Target],
    top_k: int = DEFAULT_STANCE_TOP_K,
    min_similarity: float = DEFAULT_STANCE_MIN_SIMILARITY,
    report: Report | None = None,
) -> list[Pair]:
    """For each target, the top_k most similar candidates at or above min_similarity.

    What is left out is counted in `report`: targets with no candidate in their story, and
    top candidates below the similarity."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    tasks = [t for t in claim_tasks(corpus) if t["kind"] == "body"]
    if not tasks or not targets:
        return []
    vectorizer = TfidfVectorizer(sublinear_tf=True, stop_words="english")
    vectorizer.fit([t["text"] for t in tasks] + [target.text for target in targets])
    task_vectors = vectorizer.transform([t["text"] for t in tasks])
    target_vectors = vectorizer.transform([target.text for target in targets])
    pairs = []
    for row, target in enumerate(targets):
        pool = _candidate_pool(target, tasks)
        if not pool:
            if report is not None:
                report.drop("targets without a candidate in their story")
            continue
        scores = (task_vectors[pool] @ target_vectors[row].T).toarray().ravel()
        ranked = sorted(
            zip(scores, pool, strict=True), key=lambda s: (-s[0], tasks[s[1]]["sentence_id"])
        )
        for score, index in ranked[:top_k]:
            if score < min_similarity:
                if report is not None:
                    report.drop("top candidates below the similarity")
                continue
            task = tasks[index]
            pairs.append(
                Pair(pair_id(target.target_id, task["sentence_id"]), target, task, float(score))
            )
    return pairs


def target_dict(target: Target) -> dict[str, Any]:
    return asdict(target)
