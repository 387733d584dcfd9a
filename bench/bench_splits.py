"""Splits and the leakage audit measured: the audit's cost against the rest of `make dataset`,
event leakage after the split on ECB+ (../shared/story-gold), and the checkworthy-dev case.

`python -m bench --only audit split-ecb split-checkworthy` runs them; the audit's child process is
`python -m bench.bench_splits ROOT EXPORT` (one process, as `make dataset` runs).
"""

from __future__ import annotations

import csv
import json
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[2] / "shared"
# ../shared beside the repository, or where these say (as bench/bench_stories.py reads it).
STORY_GOLD = Path(os.environ.get("STORY_GOLD", SHARED / "story-gold"))
CHECKWORTHY = Path(os.environ.get("CHECKWORTHY_DEV", SHARED / "checkworthy-dev")) / (
    "CT24_checkworthy_english_train.tsv"
)


def audit_child(root: Path, export_file: Path) -> dict[str, float]:
    """Pull's offline half (untimed), then `make dataset`'s work, with the audit timed inside."""
    import builder.dataset.build as build_module
    import builder.dataset.leakage as leakage_module
    from builder.core.config import Settings
    from builder.dataset.stance_rows import stance_parts
    from builder.inputs.corpus import load_corpus
    from builder.labels.records import pull_paths
    from builder.labelstudio.pull import process_pages, save_snapshot
    from builder.tasks.claims import claim_tasks

    settings = Settings.load(root)
    corpus = load_corpus(settings)
    known = {task["sentence_id"] for task in claim_tasks(corpus)}
    paths = pull_paths(settings, "claims")
    process_pages(paths, [save_snapshot(paths, export_file.read_bytes())], lambda t: known, 1)

    audited: dict[str, float] = {}
    # build_dataset runs it in this process (its analyst is in-process): analysis.py calls
    # the leakage module's audit.
    real_audit = leakage_module.audit

    def timed_audit(rows_by_split: Any) -> Any:
        mark = time.perf_counter()
        result = real_audit(rows_by_split)
        audited["audit"] = time.perf_counter() - mark
        return result

    leakage_module.audit = timed_audit
    # The dataset step as `make dataset` runs it: corpus, labels, splits, audit, files.
    mark = time.perf_counter()
    corpus = load_corpus(settings)
    manifest = build_module.build_dataset(settings, corpus, stance_parts(settings))
    total = time.perf_counter() - mark
    leakage = manifest["leakage"]
    return {
        "dataset": total,
        "audit": audited["audit"],
        "rest": total - audited["audit"],
        "sentences": sum(manifest["counts"]["claims"][s] for s in ("train", "test")),
        "exact": leakage["exact_duplicates"],
        "near": leakage["near_duplicates"],
        "similar_stories": leakage["similar_stories"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# Event leakage on gold ---------------------------------------------------------------------


def gold_corpus(articles_file: Path, scratch: Path) -> Any:
    """The builder's corpus (stories and split groups) of a gold file, read where it lies."""
    from builder.core.config import Settings
    from builder.inputs.corpus import load_corpus

    (scratch / "raw").mkdir(parents=True)
    # A link, not a copy: the gold stays in ../shared.
    (scratch / "raw" / "articles.jsonl").symlink_to(articles_file)
    return load_corpus(Settings(root=scratch, values={}))


def event_leakage(
    corpus: Any,
    event_of: dict[str, str],
    test_size: float,
    seed: int,
    use_groups: bool,
    by_time: bool = False,
) -> dict[str, Any]:
    """Split the corpus's groups as the dataset does (sentences as rows); then the share of test
    articles whose gold event has an article in train, and the test share reached."""
    from builder.dataset.splits import (
        assign_by_time,
        assign_splits,
        groups_of_stories,
        share_problem,
        test_share,
    )
    from builder.tasks.claims import claim_tasks

    split_groups = getattr(corpus, "split_group_of", None) if use_groups else None
    story_group = groups_of_stories(corpus.story_of, split_groups)
    rows = Counter(task["article_id"] for task in claim_tasks(corpus))
    label_counts: dict[str, Counter[str]] = {}
    for article_id, count in rows.items():
        group = story_group[corpus.story_of[article_id]]
        label_counts.setdefault(group, Counter())["claims:0"] += count
    latest: dict[str, str] = {}
    for article_id, article in corpus.articles.items():
        group = story_group[corpus.story_of[article_id]]
        if article.date and latest.get(group, "") < article.date:
            latest[group] = article.date
    if by_time:
        assignment = assign_by_time(label_counts, latest, test_size, seed)
    else:
        assignment = assign_splits(label_counts, test_size, seed)
    split_of = {a: assignment[story_group[corpus.story_of[a]]] for a in rows}
    train_events = {event_of[a] for a, s in split_of.items() if s == "train"}
    test_articles = [a for a, s in split_of.items() if s == "test"]
    leaked = sum(1 for a in test_articles if event_of[a] in train_events)
    return {
        "groups": len(label_counts),
        "stories": len(set(corpus.story_of.values())),
        "test_share": test_share(label_counts, assignment),
        "test_articles": len(test_articles),
        "leaked": leaked,
        "leak_share": leaked / len(test_articles) if test_articles else 0.0,
        "problem": share_problem(
            label_counts,
            assignment,
            test_size,
            kept={},
            undated=[g for g in label_counts if g not in latest] if by_time else [],
        ),
    }


def ecb(test_size: float = 0.2, seed: int = 13) -> dict[str, Any] | None:
    if not (STORY_GOLD / "labels.json").is_file():
        return None
    event_of = json.loads((STORY_GOLD / "labels.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="bench-ecb-") as scratch:
        started = time.perf_counter()
        corpus = gold_corpus(STORY_GOLD / "articles.jsonl", Path(scratch))
        seconds = time.perf_counter() - started
        by_group = event_leakage(corpus, event_of, test_size, seed, use_groups=True)
        by_story = event_leakage(corpus, event_of, test_size, seed, use_groups=False)
        by_time = event_leakage(corpus, event_of, test_size, seed, use_groups=True, by_time=True)
    return {"groups": by_group, "stories": by_story, "time": by_time, "corpus_seconds": seconds}


def checkworthy(test_size: float = 0.2, seed: int = 13) -> dict[str, Any] | None:
    """The 22,500 sentences of checkworthy-dev train, each a one-sentence undated article."""
    if not CHECKWORTHY.is_file():
        return None
    with CHECKWORTHY.open(encoding="utf-8", newline="") as handle:
        records = [
            {"id": f"cw-{row['Sentence_id']}", "text": row["Text"]}
            for row in csv.DictReader(handle, delimiter="\t")
        ]
    from builder.dataset.splits import assign_splits, groups_of_stories, share_problem, test_share
    from builder.tasks.claims import claim_tasks

    with tempfile.TemporaryDirectory(prefix="bench-checkworthy-") as scratch:
        # Articles made from the gold's sentences live only in this temporary directory.
        articles = Path(scratch) / "articles.jsonl"
        articles.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
        )
        root = Path(scratch) / "root"
        started = time.perf_counter()
        corpus = gold_corpus(articles, root)
        seconds = time.perf_counter() - started
    story_group = groups_of_stories(corpus.story_of, getattr(corpus, "split_group_of", None))
    label_counts: dict[str, Counter[str]] = {}
    for task in claim_tasks(corpus):
        group = story_group[corpus.story_of[task["article_id"]]]
        label_counts.setdefault(group, Counter())["claims:0"] += 1
    assignment = assign_splits(label_counts, test_size, seed)
    sizes = sorted((sum(c.values()) for c in label_counts.values()), reverse=True)
    return {
        "articles": len(records),
        "rows": sum(sizes),
        "groups": len(label_counts),
        "largest_group": sizes[0] if sizes else 0,
        "test_rows": sum(
            sum(label_counts[g].values()) for g, s in assignment.items() if s == "test"
        ),
        "test_share": test_share(label_counts, assignment),
        "problem": share_problem(label_counts, assignment, test_size, kept={}),
        "corpus_seconds": seconds,
    }


if __name__ == "__main__":
    print(json.dumps(audit_child(Path(sys.argv[1]), Path(sys.argv[2]))))
