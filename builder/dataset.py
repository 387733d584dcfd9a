"""Corpus, pulled records and labels into exports/<name>/: parquet per config and split, card, manifest."""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import Dataset, disable_progress_bars

from builder import __version__
from builder.aggregate import ItemLabel, aggregate, answer
from builder.atomic import replace_dir, write_json, write_text
from builder.card import render_card
from builder.config import Settings
from builder.corpus import Corpus
from builder.features import features_for
from builder.pull import pull_paths, read_records, read_summary
from builder.scheme import SCHEME_VERSION, question_for, scheme_hash
from builder.splits import assign_splits
from builder.tasks import claim_tasks

SPLITS = ("train", "test")


@dataclass
class DatasetParts:
    """Everything the dataset is made of, before it is written."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # config -> rows
    group_of_row: dict[str, list[str]] = field(default_factory=dict)  # config -> group per row
    unresolved: dict[str, list[str]] = field(default_factory=dict)  # project -> item ids
    label_counts: dict[str, Counter[str]] = field(default_factory=dict)  # group -> labels


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def pseudonym(annotator: str) -> str:
    """A stable stand-in for an annotator's e-mail, so a published dataset carries no address."""
    return "annotator-" + hashlib.sha256(annotator.encode("utf-8")).hexdigest()[:10]


def claims_rows(
    corpus: Corpus, labels: dict[str, ItemLabel], controls: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    controls = controls or {}
    positions = {s.sentence_id: s for s in corpus.all_sentences()}
    rows = []
    for task in claim_tasks(corpus):
        item = labels.get(task["sentence_id"])
        if item is None or item.label is None:
            continue
        sentence = positions[task["sentence_id"]]
        rows.append(
            {
                "sentence_id": task["sentence_id"],
                "text": task["text"],
                "claim": question_for("claims").names.index(item.label),
                "article_id": task["article_id"],
                "story_id": task["story_id"],
                "kind": task["kind"],
                "index": sentence.index,
                "start": sentence.start,
                "end": sentence.end,
                "context_before": task["before"],
                "context_after": task["after"],
                "source": task["source"],
                "date": task["date"],
                "language": task["language"],
                "num_annotations": item.annotations,
                "agreement": item.agreement,
                "resolved_by": item.resolved_by,
                "control": task["sentence_id"] in controls,
            }
        )
    return rows


def annotation_rows(
    records: list[dict[str, Any]], story_of_item: dict[str, str]
) -> list[dict[str, Any]]:
    rows = []
    for record in sorted(records, key=lambda r: (r["project"], r["annotation_id"])):
        if record["item_id"] not in story_of_item:
            continue
        rows.append(
            {
                "annotation_id": record["annotation_id"],
                "task_id": record["task_id"],
                "project": record["project"],
                "item_id": record["item_id"],
                "story_id": story_of_item[record["item_id"]],
                "annotator": pseudonym(record["annotator"]),
                "question": question_for(record["project"]).name,
                "label": answer(record),
                "lead_time": record["lead_time"],
                "created_at": record["created_at"],
                "updated_at": record["updated_at"],
                "ground_truth": record["ground_truth"],
            }
        )
    return rows


def write_split_files(
    staging: Path, config: str, rows_by_split: dict[str, list[dict[str, Any]]]
) -> None:
    features = features_for(config)
    disable_progress_bars()
    for split in SPLITS:
        path = staging / "data" / config / f"{split}-00000-of-00001.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        columns = {name: [row[name] for row in rows_by_split[split]] for name in features}
        Dataset.from_dict(columns, features=features).to_parquet(str(path))


def previous_splits(dataset_dir: Path) -> dict[str, str]:
    manifest = dataset_dir / "manifest.json"
    if not manifest.is_file():
        return {}
    try:
        return json.loads(manifest.read_text(encoding="utf-8"))["splits"]["groups"]
    except (ValueError, KeyError, TypeError):
        return {}


def build_dataset(settings: Settings, corpus: Corpus, stance: Any = None) -> dict[str, Any]:
    """Write exports/<name>/ whole: written aside, then moved into place. Returns the manifest."""
    claims_paths = pull_paths(settings, "claims")
    claim_records = read_records(claims_paths.accepted)
    claim_labels = aggregate(claim_records)
    rows: dict[str, list[dict[str, Any]]] = {"claims": claims_rows(corpus, claim_labels)}
    story_of_item = {t["sentence_id"]: t["story_id"] for t in claim_tasks(corpus)}
    article_of_item = {t["sentence_id"]: t["article_id"] for t in claim_tasks(corpus)}
    records = list(claim_records)
    summaries = {"claims": read_summary(claims_paths.summary)}
    unresolved = {"claims": sorted(i for i, lab in claim_labels.items() if lab.label is None)}
    if stance is not None:
        rows["stance"] = stance.rows
        story_of_item.update(stance.story_of_pair)
        article_of_item.update(stance.article_of_pair)
        records += stance.records
        summaries["stance"] = stance.summary
        unresolved["stance"] = stance.unresolved
    rows["annotations"] = annotation_rows(records, story_of_item)

    stories = {row["story_id"] for config_rows in rows.values() for row in config_rows}
    by_story = len(stories) >= 2
    group_key = "story_id" if by_story else "article_id"

    def group_of(config: str, row: dict[str, Any]) -> str:
        if by_story:
            return row["story_id"]
        if config == "annotations":
            return article_of_item[row["item_id"]]
        return row["article_id"]

    label_counts: dict[str, Counter[str]] = {}
    for config, config_rows in rows.items():
        for row in config_rows:
            counts = label_counts.setdefault(group_of(config, row), Counter())
            if config == "claims":
                counts[f"claim:{row['claim']}"] += 1
            elif config == "stance":
                counts[f"stance:{row['stance']}"] += 1
    previous = previous_splits(settings.dataset_dir) if by_story else {}
    assignment = assign_splits(label_counts, settings.test_size, settings.split_seed, previous)

    staging = settings.exports_dir / f".{settings.dataset_name}.staging-{uuid.uuid4().hex[:8]}"
    try:
        staging.mkdir(parents=True)
        counts: dict[str, dict[str, Any]] = {}
        for config, config_rows in rows.items():
            by_split: dict[str, list[dict[str, Any]]] = {split: [] for split in SPLITS}
            for row in config_rows:
                by_split[assignment[group_of(config, row)]].append(row)
            write_split_files(staging, config, by_split)
            counts[config] = {split: len(by_split[split]) for split in SPLITS}
            label_field = {"claims": "claim", "stance": "stance"}.get(config)
            if label_field:
                names = question_for(config).names
                counts[config]["labels"] = {
                    split: {
                        names[i]: n
                        for i, n in sorted(Counter(r[label_field] for r in by_split[split]).items())
                    }
                    for split in SPLITS
                }
        manifest = {
            "builder_version": __version__,
            "scheme": {"version": SCHEME_VERSION, "hash": scheme_hash()},
            "raw_inputs": {
                str(Path(a.path).relative_to(settings.root))
                if Path(a.path).is_relative_to(settings.root)
                else a.path: sha256_file(Path(a.path))
                for a in corpus.articles.values()
            },
            "exports_used": {
                project: {
                    "file": summary["snapshot"],
                    "sha256": sha256_file(settings.exports_dir / "pulls" / summary["snapshot"]),
                    "project_id": summary["project_id"],
                    "counts": summary["counts"],
                }
                for project, summary in summaries.items()
                if summary
            },
            "counts": counts,
            "unresolved": unresolved,
            "splits": {
                "by": group_key,
                "test_size": settings.test_size,
                "seed": settings.split_seed,
                "groups": dict(sorted(assignment.items())),
            },
        }
        write_json(staging / "manifest.json", manifest)
        write_text(staging / "README.md", render_card(settings.dataset_name, manifest))
        replace_dir(staging, settings.dataset_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return manifest
