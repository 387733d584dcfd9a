"""Accepted annotation records into one label per item (ground truth, else majority or
Dawid-Skene) and each annotator's estimated competence."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from builder.core.config import AGGREGATIONS, DEFAULT_MIN_POSTERIOR
from builder.core.scheme import question_for
from builder.labels.agreement import Rating, RatingTable, unique_majority

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


Records = Sequence[dict[str, Any]]


def answer(record: dict[str, Any]) -> str:
    question = question_for(record["project"])
    return record["answers"][question.name][0]


def latest_per_annotator(records: Records) -> list[dict[str, Any]]:
    """One annotation per annotator and item: a re-annotation replaces the earlier one."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        if record["ground_truth"]:
            continue
        key = (record["item_id"], record["annotator"])
        kept = latest.get(key)
        # The newest by (updated_at, annotation id); of two equal, the later in the pull.
        if kept is None or _recency(record) >= _recency(kept):
            latest[key] = record
    return list(latest.values())


def _recency(record: dict[str, Any]) -> tuple[str, int]:
    return record["updated_at"] or "", record["annotation_id"]


def ground_truth(records: Records) -> dict[str, str]:
    """Item id -> the adjudicator's label; the newest one wins if they changed their mind."""
    truth: dict[str, dict[str, Any]] = {}
    for record in records:
        if record["ground_truth"]:
            previous = truth.get(record["item_id"])
            if previous is None or (record["updated_at"] or "") >= (previous["updated_at"] or ""):
                truth[record["item_id"]] = record
    return {item_id: answer(record) for item_id, record in truth.items()}


@dataclass(frozen=True)
class Answers:
    """One project's accepted records, read once for every figure drawn from them: each
    annotator's latest answer per item as codes (adjudications left out: they are not a second
    opinion), and the adjudicated items' ground truth."""

    ratings: RatingTable
    truth: dict[str, str]

    @classmethod
    def of(cls, records: Records | Answers, project: str | None = None) -> Answers:
        """From one project's records (`project` names it when there may be none)."""
        if isinstance(records, Answers):
            return records
        projects = {record["project"] for record in records} | ({project} if project else set())
        if len(projects) > 1:
            raise ValueError(f"records of several projects at once: {sorted(projects)}")
        labels = question_for(projects.pop()).names if projects else ()
        latest = latest_per_annotator(records)
        ratings = RatingTable.of(
            (Rating(r["item_id"], r["annotator"], answer(r)) for r in latest), labels
        )
        return cls(ratings, ground_truth(records))

    def shared_items(self) -> int:
        """How many items two or more annotators labeled (adjudications not counted)."""
        per_item = np.bincount(self.ratings.item, minlength=len(self.ratings.items))
        return int(np.count_nonzero(per_item >= 2))

    def renamed(self, rename: Callable[[str], str]) -> Answers:
        """The same answers with each annotator renamed (to a pseudonym, say)."""
        return Answers(self.ratings.renamed(rename), self.truth)


def check_method(method: str) -> str:
    if method not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {method!r}: use one of {', '.join(AGGREGATIONS)}")
    return method


def shared_items(records: Records | Answers) -> int:
    """How many items two or more annotators labeled (adjudications not counted)."""
    return Answers.of(records).shared_items()


def effective_method(
    records: Records | Answers, method: str, min_shared_items: int = DS_MIN_SHARED_ITEMS
) -> str:
    """The aggregation actually used: Dawid-Skene falls back to the majority until enough items
    are shared between annotators."""
    check_method(method)
    if method == DAWID_SKENE and shared_items(records) < min_shared_items:
        return MAJORITY
    return method


def aggregate(
    records: Records | Answers,
    method: str = MAJORITY,
    min_posterior: float = DEFAULT_MIN_POSTERIOR,
) -> dict[str, ItemLabel]:
    """item id -> its label. Ground truth always settles an item. Otherwise, by `method`: the
    unique majority (a tie stays unresolved), or Dawid-Skene's most probable label (unresolved
    when its posterior is below `min_posterior`)."""
    return _settle(Answers.of(records), method, min_posterior, estimate=False)[0]


def aggregate_with_competences(
    records: Records | Answers,
    method: str = MAJORITY,
    min_posterior: float = DEFAULT_MIN_POSTERIOR,
    min_shared_items: int = DS_MIN_SHARED_ITEMS,
    fit: Fit | None = None,
) -> tuple[dict[str, ItemLabel], list[Competence]]:
    """The labels of `aggregate` and the competences of `competences`, from one model fit
    (`min_shared_items` lowered only to measure Dawid-Skene on small sets). `fit`, when given,
    is `dawid_skene` of these same answers, made elsewhere (the dataset's worker)."""
    return _settle(Answers.of(records), method, min_posterior, True, min_shared_items, fit)


def fit_wanted(answers: Answers, min_shared_items: int = DS_MIN_SHARED_ITEMS) -> bool:
    """Whether `aggregate_with_competences` fits Dawid-Skene to these answers, whatever the
    aggregation: it estimates competences once enough items are shared."""
    return answers.shared_items() >= min_shared_items


def _settle(
    answers: Answers,
    method: str,
    min_posterior: float,
    estimate: bool,
    min_shared_items: int = DS_MIN_SHARED_ITEMS,
    fit: Fit | None = None,
) -> tuple[dict[str, ItemLabel], list[Competence]]:
    method = effective_method(answers, method, min_shared_items)
    table, truth = answers.ratings, answers.truth
    # effective_method chose Dawid-Skene only with enough shared items; the same holds for
    # estimating competences when asked for them under the majority.
    wanted = method == DAWID_SKENE or (estimate and fit_wanted(answers, min_shared_items))
    if not wanted:
        fit = None
    elif fit is None:
        fit = dawid_skene(answers)
    names = table.labels
    # Votes are listed by label name; an exact tie of posteriors goes to the first name too.
    by_name = sorted(range(len(names)), key=lambda k: names[k])
    row_of = {item_id: k for k, item_id in enumerate(table.items)}
    counted = table.counts()
    majorities = unique_majority(counted).tolist()
    counts = counted.tolist()
    posteriors = fit.posteriors.tolist() if fit is not None else []
    labels: dict[str, ItemLabel] = {}
    for item_id in sorted(row_of.keys() | truth.keys()):
        row = row_of.get(item_id)
        given = counts[row] if row is not None else [0] * len(names)
        total = sum(given)
        votes = {names[k]: given[k] for k in by_name if given[k]}
        if item_id in truth:
            label, how, posterior = truth[item_id], "ground_truth", 1.0
        elif method == DAWID_SKENE:
            probabilities = posteriors[row]
            best = max(by_name, key=lambda k: probabilities[k])
            posterior = probabilities[best]
            resolved = posterior >= min_posterior
            label, how = (names[best], DAWID_SKENE) if resolved else (None, "low posterior")
        else:
            majority = majorities[row]
            label = names[majority] if majority >= 0 else None  # a tie stays unresolved
            how = MAJORITY if label is not None else "tie"
            posterior = max(given) / total
        agreement = votes.get(label, 0) / total if total and label is not None else 0.0
        labels[item_id] = ItemLabel(
            item_id, label, total, round(agreement, 4), how, votes, round(posterior, 4)
        )
    return labels, fit.competences if fit is not None else []


@dataclass(frozen=True)
class Fit:
    """Dawid-Skene fitted to one project's answers."""

    posteriors: np.ndarray  # items (the table's order) x labels: each label's probability
    competences: list[Competence]


def dawid_skene(answers: Answers) -> Fit:
    """Fit crowd-kit's Dawid-Skene to the annotators' own answers; adjudicated items are held
    at their ground truth during EM, so they teach the model who is reliable."""
    # Imported here: crowd-kit takes a second and a half to import (it loads nltk), which
    # every command that imports this module would pay, a `sync` with nothing new included.
    import pandas as pd
    from crowdkit.aggregation import DawidSkene

    table = answers.ratings
    names = list(table.labels)
    if not len(table.item):
        return Fit(np.zeros((0, len(names))), [])
    # Rows sorted by item, then annotator (the table's order): EM's result must not depend on
    # the order of the pull.
    data = pd.DataFrame(
        {
            "task": np.asarray(table.items, dtype=object)[table.item],
            "worker": np.asarray(table.annotators, dtype=object)[table.annotator],
            "label": np.asarray(names, dtype=object)[table.label],
        }
    )
    answered = set(table.items)
    known = pd.Series({item: label for item, label in answers.truth.items() if item in answered})
    model = DawidSkene(n_iter=DS_MAX_ITERATIONS, tol=DS_TOLERANCE)
    with warnings.catch_warnings():
        # crowd-kit 1.4 still passes keywords that pandas 3 deprecates; the results are right.
        warnings.filterwarnings("ignore", module="crowdkit")
        model.fit(data, true_labels=known if len(known) else None)
    posteriors = (
        model.probas_.reindex(index=table.items, columns=names, fill_value=0.0)
        .fillna(0.0)
        .to_numpy()
    )
    priors = model.priors_.reindex(names, fill_value=0.0).fillna(0.0).to_numpy()
    items = np.bincount(table.annotator, minlength=len(table.annotators))
    competences = []
    for k, annotator in enumerate(table.annotators):
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
                items=int(items[k]),
                labels=list(names),
                confusion=[[round(float(p), 4) for p in row] for row in confusion],
            )
        )
    return Fit(posteriors, competences)


def competences(records: Records | Answers) -> list[Competence]:
    """Each annotator's Dawid-Skene competence and confusion matrix, whatever the aggregation
    setting (sorted by annotator); none while too few items are shared to estimate them."""
    return aggregate_with_competences(records, MAJORITY)[1]
