"""Accepted annotation records into one label per item (ground truth, else majority or
Dawid-Skene) and each annotator's estimated competence."""

from __future__ import annotations

import warnings
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from builder.core.config import AGGREGATIONS, DEFAULT_MIN_POSTERIOR
from builder.core.scheme import question_for
from builder.labels.agreement import majority_label

MAJORITY, DAWID_SKENE = AGGREGATIONS
# EM stops when the evidence lower bound per annotation gains less than this; crowd-kit's 1e-5
# takes ~100 iterations on 67,000 annotations for no change in the labels (bench/annotators.py).
DS_TOLERANCE = 1e-4
DS_MAX_ITERATIONS = 100
# Dawid-Skene needs items that several annotators labeled to learn who is reliable: with 3
# simulated annotators per item it matched the majority at 20-50 such items and beat it from
# 100 on (bench/annotators.py, README). Below this, the majority decides and no competence is
# estimated.
DS_MIN_SHARED_ITEMS = 100


@dataclass(frozen=True)
class ItemLabel:
    item_id: str
    label: str | None  # None: unresolved (a tie, or a Dawid-Skene posterior below the minimum)
    annotations: int
    agreement: float  # share of the item's annotations that gave the label
    resolved_by: str  # "ground_truth", "majority", "dawid-skene", "tie" or "low posterior"
    votes: dict[str, int]
    # Probability of the label under the aggregation: Dawid-Skene's posterior, the vote share
    # under majority, 1.0 for ground truth; for an unresolved item, that of the likeliest label.
    posterior: float = 0.0


@dataclass(frozen=True)
class Competence:
    """An annotator's estimated accuracy and confusion matrix (Dawid-Skene's error rates)."""

    annotator: str
    competence: float  # probability that their answer is the true label, over the label prior
    items: int
    labels: list[str]
    # confusion[true][given]: probability that they answer `given` when the label is `true`.
    confusion: list[list[float]]


def answer(record: dict[str, Any]) -> str:
    question = question_for(record["project"])
    return record["answers"][question.name][0]


def latest_per_annotator(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One annotation per annotator and item: a re-annotation replaces the earlier one."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for record in sorted(records, key=lambda r: (r["updated_at"] or "", r["annotation_id"])):
        if not record["ground_truth"]:
            latest[(record["item_id"], record["annotator"])] = record
    return list(latest.values())


def ground_truth(records: list[dict[str, Any]]) -> dict[str, str]:
    """Item id -> the adjudicator's label; the newest one wins if they changed their mind."""
    truth: dict[str, dict[str, Any]] = {}
    for record in records:
        if record["ground_truth"]:
            previous = truth.get(record["item_id"])
            if previous is None or (record["updated_at"] or "") >= (previous["updated_at"] or ""):
                truth[record["item_id"]] = record
    return {item_id: answer(record) for item_id, record in truth.items()}


def check_method(method: str) -> str:
    if method not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {method!r}: use one of {', '.join(AGGREGATIONS)}")
    return method


def shared_items(records: list[dict[str, Any]]) -> int:
    """How many items two or more annotators labeled (adjudications not counted)."""
    per_item: dict[str, int] = defaultdict(int)
    for record in latest_per_annotator(records):
        per_item[record["item_id"]] += 1
    return sum(1 for n in per_item.values() if n >= 2)


def effective_method(
    records: list[dict[str, Any]], method: str, min_shared_items: int = DS_MIN_SHARED_ITEMS
) -> str:
    """The aggregation actually used: Dawid-Skene falls back to the majority until enough items
    are shared between annotators."""
    check_method(method)
    if method == DAWID_SKENE and shared_items(records) < min_shared_items:
        return MAJORITY
    return method


def aggregate(
    records: list[dict[str, Any]],
    method: str = MAJORITY,
    min_posterior: float = DEFAULT_MIN_POSTERIOR,
) -> dict[str, ItemLabel]:
    """item id -> its label. Ground truth always settles an item. Otherwise, by `method`: the
    unique majority (a tie stays unresolved), or Dawid-Skene's most probable label (unresolved
    when its posterior is below `min_posterior`)."""
    return _settle(records, method, min_posterior, estimate=False)[0]


def aggregate_with_competences(
    records: list[dict[str, Any]],
    method: str = MAJORITY,
    min_posterior: float = DEFAULT_MIN_POSTERIOR,
    min_shared_items: int = DS_MIN_SHARED_ITEMS,
) -> tuple[dict[str, ItemLabel], list[Competence]]:
    """The labels of `aggregate` and the competences of `competences`, from one model fit
    (`min_shared_items` lowered only to measure Dawid-Skene on small sets)."""
    return _settle(records, method, min_posterior, True, min_shared_items)


def _settle(
    records: list[dict[str, Any]],
    method: str,
    min_posterior: float,
    estimate: bool,
    min_shared_items: int = DS_MIN_SHARED_ITEMS,
) -> tuple[dict[str, ItemLabel], list[Competence]]:
    method = effective_method(records, method, min_shared_items)
    truth = ground_truth(records)
    by_item: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in latest_per_annotator(records):
        by_item[record["item_id"]].append(record)
    # effective_method chose Dawid-Skene only with enough shared items; the same holds for
    # estimating competences when asked for them under the majority.
    wanted = method == DAWID_SKENE or (estimate and shared_items(records) >= min_shared_items)
    fit = _dawid_skene(records, truth) if wanted else None
    posteriors = fit.posteriors if fit is not None else {}
    labels: dict[str, ItemLabel] = {}
    for item_id in sorted(set(by_item) | set(truth)):
        given = [answer(r) for r in by_item.get(item_id, [])]
        votes = {label: given.count(label) for label in sorted(set(given))}
        if item_id in truth:
            label, how, posterior = truth[item_id], "ground_truth", 1.0
        elif method == DAWID_SKENE:
            probabilities = posteriors[item_id]
            # Sorted by name first so that an exact tie of probabilities resolves the same way
            # every time; such a tie is below any sensible minimum anyway.
            best = max(sorted(probabilities), key=lambda name: probabilities[name])
            posterior = probabilities[best]
            resolved = posterior >= min_posterior
            label, how = (best, DAWID_SKENE) if resolved else (None, "low posterior")
        else:
            label = majority_label(given)
            how = MAJORITY if label is not None else "tie"
            top = max(votes.values())
            posterior = top / len(given)
        agreement = votes.get(label, 0) / len(given) if given and label is not None else 0.0
        labels[item_id] = ItemLabel(
            item_id, label, len(given), round(agreement, 4), how, votes, round(posterior, 4)
        )
    return labels, fit.competences if fit is not None else []


@dataclass(frozen=True)
class _Fit:
    posteriors: dict[str, dict[str, float]]  # item -> label -> probability
    competences: list[Competence]


def _dawid_skene(records: list[dict[str, Any]], truth: dict[str, str]) -> _Fit:
    """Fit crowd-kit's Dawid-Skene to the annotators' own answers; adjudicated items are held
    at their ground truth during EM, so they teach the model who is reliable."""
    # Imported here: crowd-kit takes a second and a half to import (it loads nltk), which
    # every command that imports this module would pay, a `sync` with nothing new included.
    import pandas as pd
    from crowdkit.aggregation import DawidSkene

    answers = latest_per_annotator(records)
    if not answers:
        return _Fit({}, [])
    project = answers[0]["project"]
    names = question_for(project).names
    # Rows in a fixed order: EM's result must not depend on the order of the pull.
    data = pd.DataFrame(
        sorted((r["item_id"], r["annotator"], answer(r)) for r in answers),
        columns=["task", "worker", "label"],
    )
    answered = set(data.task)
    known = pd.Series({item: label for item, label in truth.items() if item in answered})
    model = DawidSkene(n_iter=DS_MAX_ITERATIONS, tol=DS_TOLERANCE)
    with warnings.catch_warnings():
        # crowd-kit 1.4 still passes keywords that pandas 3 deprecates; the results are right.
        warnings.filterwarnings("ignore", module="crowdkit")
        model.fit(data, true_labels=known if len(known) else None)
    probas = model.probas_.reindex(columns=names, fill_value=0.0).fillna(0.0)
    posteriors = {
        str(item): {name: float(p) for name, p in zip(names, row, strict=True)}
        for item, row in zip(probas.index, probas.to_numpy(), strict=True)
    }
    priors = model.priors_.reindex(names, fill_value=0.0).fillna(0.0).to_numpy()
    items = data.groupby("worker").size()
    competences = []
    for annotator in sorted(items.index):
        # errors_ holds P(given | true) with rows (worker, given) and columns true.
        errors = (
            model.errors_.loc[annotator]
            .reindex(index=names, columns=names, fill_value=0.0)
            .fillna(0.0)
            .to_numpy()
        )
        confusion = errors.T  # confusion[true][given]
        competence = float(np.dot(priors, np.diag(confusion)))
        competences.append(
            Competence(
                annotator=str(annotator),
                competence=round(competence, 4),
                items=int(items[annotator]),
                labels=list(names),
                confusion=[[round(float(p), 4) for p in row] for row in confusion],
            )
        )
    return _Fit(posteriors, competences)


def competences(records: list[dict[str, Any]]) -> list[Competence]:
    """Each annotator's Dawid-Skene competence and confusion matrix, whatever the aggregation
    setting (sorted by annotator); none while too few items are shared to estimate them."""
    return aggregate_with_competences(records, MAJORITY)[1]
