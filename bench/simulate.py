"""A labeled pool and eval files (CheckThat! TSV) in; F1 of the positive class per order and budget.

Real labels act as the oracle: each round "annotators" label the tasks an ordering serves next,
the builder's model is retrained at every budget step (not per label) and scored on each eval
file. Two orderings: random (Label Studio's default) and the builder's: `builder.tasks.suggest`
writes the predictions (score = confidence, cluster = story, or a topic without stories) and the
tasks are served as Label Studio's "Uncertainty sampling" serves them (`serve` below mirrors
`projects/functions/next_task.py` of label-studio 1.23.2: per annotator, the cluster they
solved least first, then the lowest score).

    python -m bench simulate --pool FILE --eval FILE [--eval FILE ...] --seeds 5 --json OUT
"""

from __future__ import annotations

import argparse
import csv
import heapq
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.annotators import simulate_annotators
from builder.labels.model import MODEL_SPEC
from builder.tasks.suggest import Item, Pool, Suggestions, make_pool, suggest

FIRST = 200  # random labels before any model (both orderings start from the same ones)
STEP = 200  # labels per round: the model is retrained after each
LAST = 5000
# The targets: the builder's order reaches on the first eval file what random order
# reaches with 3,000 labels using at most 1,800; on the others it is never more than 0.02 below
# random at 1,000, 2,000 and 3,000 labels.
REFERENCE_BUDGET, SAVING_BUDGET = 3000, 1800
SHIFTED_BUDGETS, SHIFTED_TOLERANCE = (1000, 2000, 3000), 0.02


@dataclass(frozen=True)
class Labeled:
    ids: list[str]
    texts: list[str]
    labels: list[str]


def read_tsv(path: Path) -> Labeled:
    """A CheckThat! task 1 file: Sentence_id, Text, class_label (tab-separated, a header)."""
    ids, texts, labels = [], [], []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, dialect="excel-tab")
        missing = {"Sentence_id", "Text", "class_label"} - set(reader.fieldnames or [])
        if missing:
            raise SystemExit(f"{path}: not in the CheckThat! layout (missing {sorted(missing)})")
        for line, row in enumerate(reader, start=2):
            if not row["Text"] or not row["class_label"]:
                raise SystemExit(f"{path}:{line}: empty Text or class_label")
            ids.append(str(row["Sentence_id"]))
            texts.append(row["Text"])
            labels.append(row["class_label"])
    return Labeled(ids, texts, labels)


def serve(suggestions: Suggestions, count: int) -> list[str]:
    """The next `count` items one annotator is served under Uncertainty sampling.

    Label Studio orders the tasks carrying current-version predictions by how many tasks of
    their cluster this annotator solved (among tasks with predictions: this round's), then by
    score. Ties of score are broken by item id, as a stable stand-in for the database's order.
    """
    by_cluster: dict[int, list[tuple[float, str]]] = defaultdict(list)
    for item_id, suggestion in suggestions.by_item.items():
        by_cluster[suggestion.cluster].append((suggestion.score, item_id))
    for queue in by_cluster.values():
        heapq.heapify(queue)
    solved = dict.fromkeys(by_cluster, 0)
    # Heap of (solved in cluster, its lowest score, item id, cluster).
    fronts = [(0, queue[0][0], queue[0][1], c) for c, queue in by_cluster.items()]
    heapq.heapify(fronts)
    served: list[str] = []
    while fronts and len(served) < count:
        _, _, item_id, cluster = heapq.heappop(fronts)
        heapq.heappop(by_cluster[cluster])
        served.append(item_id)
        solved[cluster] += 1
        queue = by_cluster[cluster]
        if queue:
            heapq.heappush(fronts, (solved[cluster], queue[0][0], queue[0][1], cluster))
    return served


def f1_positive(truth: Sequence[str], predicted: Sequence[str], positive: str) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(list(truth), list(predicted), pos_label=positive, zero_division=0))


def run_seed(
    pool: Pool,
    truth: dict[str, str],
    names: list[str],
    evals: dict[str, Labeled],
    eval_features: dict[str, Any],
    ordering: str,
    seed: int,
    budgets: list[int],
    positive: str,
) -> dict[str, dict[int, float]]:
    """One labeling run: eval name -> budget -> F1 of the positive class."""
    rng = np.random.default_rng(seed)
    order = [pool.items[i].item_id for i in rng.permutation(len(pool.items))]
    labels = {item_id: truth[item_id] for item_id in order[:FIRST]}
    scores: dict[str, dict[int, float]] = {name: {} for name in evals}
    for budget in budgets:
        # A minimum of 1 label a class: the pool's first labels always hold both classes here.
        suggestions = suggest(pool, labels, names, minimum=1, seed=seed)
        fitted = suggestions.fitted
        if fitted is None:
            raise SystemExit(f"seed {seed}: the first {FIRST} labels hold a single class")
        for name, matrix in eval_features.items():
            probabilities = fitted.probabilities(matrix)
            predicted = [fitted.classes[i] for i in probabilities.argmax(axis=1)]
            scores[name][budget] = f1_positive(evals[name].labels, predicted, positive)
        room = min(STEP, budgets[-1] - budget)
        if room <= 0:
            break
        if ordering == "random":
            chosen = [i for i in order if i not in labels][:room]
        else:
            chosen = serve(suggestions, room)
        labels.update({item_id: truth[item_id] for item_id in chosen})
    return scores


def simulate(
    pool_path: Path, eval_paths: list[Path], seeds: int, positive: str, budgets: list[int]
) -> dict[str, Any]:
    began = time.perf_counter()
    pool_rows = read_tsv(pool_path)
    if len(set(pool_rows.ids)) != len(pool_rows.ids):
        raise SystemExit(f"{pool_path}: a Sentence_id is used twice")
    names = sorted(set(pool_rows.labels))
    if positive not in names:
        raise SystemExit(f"{pool_path}: no {positive!r} label (labels: {names})")
    pool = make_pool([Item(i, t) for i, t in zip(pool_rows.ids, pool_rows.texts, strict=True)])
    truth = dict(zip(pool_rows.ids, pool_rows.labels, strict=True))
    evals = {path.name: read_tsv(path) for path in eval_paths}
    eval_features = {name: pool.vectorizer.transform(rows.texts) for name, rows in evals.items()}
    setup = time.perf_counter() - began
    curves: dict[str, dict[str, Any]] = {name: {} for name in evals}
    for ordering in ("random", "builder"):
        per_seed = [
            run_seed(pool, truth, names, evals, eval_features, ordering, seed, budgets, positive)
            for seed in range(seeds)
        ]
        for name in evals:
            curves[name][ordering] = {
                "median_f1": {
                    str(b): round(statistics.median(run[name][b] for run in per_seed), 4)
                    for b in budgets
                },
                "f1_per_seed": {
                    str(b): [round(run[name][b], 4) for run in per_seed] for b in budgets
                },
            }
        print(f"simulate: {ordering} done ({time.perf_counter() - began:.0f} s)", file=sys.stderr)
    return {
        "pool": str(pool_path),
        "pool_size": len(pool_rows.ids),
        "positive": positive,
        "model": MODEL_SPEC,
        "first_labels": FIRST,
        "step": STEP,
        "seeds": seeds,
        "budgets": budgets,
        "evals": curves,
        "targets": targets(curves, [p.name for p in eval_paths], budgets),
        # The annotator simulation on the pool's labels: majority vote against Dawid–Skene
        # (bench/annotators.py; also `python -m bench --only annotators`).
        "annotators": simulate_annotators(pool_path, seeds, positive=positive),
        "seconds": {"setup": round(setup, 1), "total": round(time.perf_counter() - began, 1)},
    }


def labels_to_reach(curve: dict[str, float], level: float) -> int | None:
    """The fewest labels at which a median curve reaches `level`."""
    reached = [int(b) for b, f1 in curve.items() if f1 >= level]
    return min(reached) if reached else None


def targets(curves: dict[str, Any], names: list[str], budgets: list[int]) -> dict[str, Any]:
    """The issue's two checks: a saving on the first eval file, no loss on the others."""
    out: dict[str, Any] = {}
    if not names or REFERENCE_BUDGET not in budgets:
        return out
    first = curves[names[0]]
    level = first["random"]["median_f1"][str(REFERENCE_BUDGET)]
    needed = labels_to_reach(first["builder"]["median_f1"], level)
    out["saving"] = {
        "eval": names[0],
        "random_f1_at_3000": level,
        "builder_labels_to_reach_it": needed,
        "limit": SAVING_BUDGET,
        "passed": needed is not None and needed <= SAVING_BUDGET,
    }
    for name in names[1:]:
        gaps = {
            str(b): round(
                curves[name]["builder"]["median_f1"][str(b)]
                - curves[name]["random"]["median_f1"][str(b)],
                4,
            )
            for b in SHIFTED_BUDGETS
            if b in budgets
        }
        out[f"no_loss:{name}"] = {
            "builder_minus_random": gaps,
            "tolerance": SHIFTED_TOLERANCE,
            "passed": all(gap >= -SHIFTED_TOLERANCE for gap in gaps.values()),
        }
    return out


def plot(result: dict[str, Any], path: Path) -> None:
    """Both curves for each eval file, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["evals"])
    figure, axes = plt.subplots(1, len(names), figsize=(5.5 * len(names), 4), squeeze=False)
    for axis, name in zip(axes[0], names, strict=True):
        for ordering, style in (("random", "--"), ("builder", "-")):
            curve = result["evals"][name][ordering]["median_f1"]
            axis.plot([int(b) for b in curve], list(curve.values()), style, label=ordering)
        axis.set_title(name)
        axis.set_xlabel("labels")
        axis.set_ylabel(f"F1 of {result['positive']} (median of {result['seeds']} seeds)")
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(figure)


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
    os.replace(tmp, path)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench simulate", description=__doc__)
    parser.add_argument("--pool", type=Path, required=True, help="the labeled pool (TSV)")
    parser.add_argument(
        "--eval", type=Path, action="append", required=True, help="an eval file (TSV); repeat"
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    parser.add_argument("--positive", default="Yes", help="the positive class (default Yes)")
    parser.add_argument("--last", type=int, default=LAST, help=f"largest budget ({LAST})")
    parser.add_argument("--plot", type=Path, help="also draw the curves into this PNG")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    for path in [args.pool, *args.eval]:
        if not path.is_file():
            raise SystemExit(f"no such file: {path}")
    budgets = list(range(FIRST, args.last + 1, STEP))
    result = simulate(args.pool, args.eval, args.seeds, args.positive, budgets)
    write_json(args.json, result)
    if args.plot:
        plot(result, args.plot)
    for name, curves in result["evals"].items():
        for ordering in ("random", "builder"):
            shown = ", ".join(
                f"{b}: {curves[ordering]['median_f1'][str(b)]:.3f}"
                for b in budgets
                if b in (1000, 1800, 2000, 3000, 5000)
            )
            print(f"{name} {ordering:>7}: {shown}")
    for name, check in result["targets"].items():
        print(f"target {name}: {'met' if check['passed'] else 'MISSED'} {check}")
    print(f"wrote {args.json}")
    return 0
