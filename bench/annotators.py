"""Simulated annotators on real labels: a gold TSV in; majority vs Dawid-Skene accuracy and the
estimated competences out.

Five annotators (accuracies 0.95, 0.9, 0.8, 0.7 and one who answers at random) each label a
random 3 of them per item; the builder's own aggregation turns their answers into labels, which
are scored against the gold. `python -m bench simulate … --json OUT` and `python -m bench --only
annotators` both call `simulate_annotators`.
"""

from __future__ import annotations

import csv
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from builder.core.config import DEFAULT_MIN_POSTERIOR
from builder.labels.aggregate import aggregate, aggregate_with_competences

# None answers at random.
ACCURACIES: dict[str, float | None] = {
    "acc-0.95": 0.95,
    "acc-0.90": 0.9,
    "acc-0.80": 0.8,
    "acc-0.70": 0.7,
    "random": None,
}
PER_ITEM = 3
# CheckThat!'s Yes/No as the claims question's labels.
GOLD_LABELS = {"Yes": "checkworthy", "No": "not_checkworthy"}
# As bench/bench_splits.py reads it: CHECKWORTHY_DEV, else ../shared/checkworthy-dev.
DEFAULT_POOL = Path(
    os.environ.get(
        "CHECKWORTHY_DEV", Path(__file__).resolve().parents[2] / "shared" / "checkworthy-dev"
    )
)
POOL_FILE = "CT24_checkworthy_english_train.tsv"


def read_gold(path: Path, positive: str = "Yes") -> dict[str, str]:
    """Sentence id -> label, from a CheckThat! TSV (`Sentence_id`, `Text`, `class_label`):
    the positive class is `checkworthy`, any other `not_checkworthy`."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(handle, delimiter="\t")
        return {
            row["Sentence_id"]: GOLD_LABELS[
                "Yes" if row["class_label"].strip() == positive else "No"
            ]
            for row in rows
        }


def simulated_records(gold: dict[str, str], seed: int) -> list[dict[str, Any]]:
    """Annotation records, as the builder's validation writes them, for PER_ITEM annotators
    drawn at random for every item."""
    rng = np.random.default_rng(seed)
    names, labels = list(ACCURACIES), sorted(set(GOLD_LABELS.values()))
    records = []
    for number, (item, truth) in enumerate(sorted(gold.items())):
        for annotator in rng.choice(names, PER_ITEM, replace=False):
            accuracy = ACCURACIES[str(annotator)]
            if accuracy is None:
                given = labels[int(rng.integers(len(labels)))]
            elif rng.random() < accuracy:
                given = truth
            else:
                given = next(label for label in labels if label != truth)
            records.append(
                {
                    "project": "claims",
                    "item_id": item,
                    "task_id": number,
                    "annotation_id": len(records) + 1,
                    "annotator": str(annotator),
                    "answers": {"claim": [given]},
                    "lead_time": None,
                    "created_at": None,
                    "updated_at": None,
                    "ground_truth": False,
                }
            )
    return records


def _accuracy(labels: dict[str, Any], gold: dict[str, str]) -> float:
    right = sum(1 for item, label in labels.items() if label.label == gold[item])
    return right / len(gold)


def one_run(gold: dict[str, str], seed: int, min_posterior: float) -> dict[str, Any]:
    records = simulated_records(gold, seed)
    began = time.process_time()
    majority = aggregate(records, "majority")
    majority_seconds = time.process_time() - began
    began = time.process_time()
    # min_posterior 0: every item gets Dawid-Skene's likeliest label, to compare like with like.
    dawid_skene, competences = aggregate_with_competences(records, "dawid-skene", 0.0)
    dawid_skene_seconds = time.process_time() - began
    # Ties have no majority label: they count as wrong, as they would be left out.
    kept = {i: label for i, label in dawid_skene.items() if label.posterior >= min_posterior}
    competence = {c.annotator: c.competence for c in competences}
    estimated_order = sorted(competence, key=lambda name: -competence[name])
    true_order = sorted(ACCURACIES, key=lambda name: -(ACCURACIES[name] or 0.5))
    return {
        "seed": seed,
        "majority": _accuracy(majority, gold),
        "majority_ties": sum(1 for label in majority.values() if label.label is None),
        "dawid_skene": _accuracy(dawid_skene, gold),
        "competence": competence,
        "ranking_correct": estimated_order == true_order,
        "below_min_posterior": 1 - len(kept) / len(gold),
        "accuracy_above_min_posterior": (
            sum(1 for i, label in kept.items() if label.label == gold[i]) / len(kept)
            if kept
            else None
        ),
        "cpu_seconds": {"majority": majority_seconds, "dawid_skene": dawid_skene_seconds},
    }


SMALL_SETS = (20, 50, 100, 300, 1000)


def small_sets(gold: dict[str, str], seeds: int) -> list[dict[str, Any]]:
    """Majority vs Dawid-Skene on random subsets of the gold: where Dawid-Skene starts to pay
    (the builder's DS_MIN_SHARED_ITEMS); the fallback to the majority is switched off here."""
    rows = []
    items = sorted(gold)
    for size in SMALL_SETS:
        gains = []
        for seed in range(seeds):
            rng = np.random.default_rng(1000 + seed)
            subset = {item: gold[item] for item in rng.choice(items, size, replace=False)}
            records = simulated_records(subset, seed)
            majority = aggregate(records, "majority")
            ds, _ = aggregate_with_competences(records, "dawid-skene", 0.0, min_shared_items=0)
            gains.append(100 * (_accuracy(ds, subset) - _accuracy(majority, subset)))
        rows.append(
            {
                "items": size,
                "median_gain_points": round(statistics.median(gains), 2),
                "worst_gain_points": round(min(gains), 2),
            }
        )
    return rows


def simulate_annotators(
    pool: Path, seeds: int = 5, min_posterior: float = DEFAULT_MIN_POSTERIOR, positive: str = "Yes"
) -> dict[str, Any]:
    """Medians over `seeds` runs on the gold labels of `pool` (a CheckThat! TSV)."""
    gold = read_gold(pool, positive)
    runs = []
    for seed in range(seeds):
        runs.append(one_run(gold, seed, min_posterior))
        print(
            f"annotators: seed {seed}: majority {runs[-1]['majority']:.4f}, "
            f"Dawid-Skene {runs[-1]['dawid_skene']:.4f}",
            file=sys.stderr,
            flush=True,
        )

    def med(key: str) -> float:
        return round(statistics.median(run[key] for run in runs), 4)

    return {
        "pool": str(pool),
        "items": len(gold),
        "annotators": {name: accuracy for name, accuracy in ACCURACIES.items()},
        "per_item": PER_ITEM,
        "seeds": seeds,
        "accuracy": {"majority": med("majority"), "dawid_skene": med("dawid_skene")},
        "gain_points": round(100 * (med("dawid_skene") - med("majority")), 2),
        "ranking_correct": all(run["ranking_correct"] for run in runs),
        "competence": {
            name: round(statistics.median(run["competence"][name] for run in runs), 4)
            for name in ACCURACIES
        },
        "min_posterior": min_posterior,
        "below_min_posterior": med("below_min_posterior"),
        "accuracy_above_min_posterior": med("accuracy_above_min_posterior"),
        "majority_ties": statistics.median(run["majority_ties"] for run in runs),
        "cpu_seconds": {
            method: round(statistics.median(run["cpu_seconds"][method] for run in runs), 2)
            for method in ("majority", "dawid_skene")
        },
        "small_sets": small_sets(gold, seeds),
        "runs": runs,
    }
