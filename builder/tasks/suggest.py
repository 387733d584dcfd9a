"""Labeled and unlabeled items into suggestions: a prediction per unlabeled item (a pure step).

Label Studio's "Uncertainty sampling" serves first the task whose current-version prediction has
the lowest `score`, spreading each annotator across `cluster`s; so the score is the model's
confidence (or, when random picks are mixed in, the item's place in that order) and the cluster
is the item's story.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from builder.core.projects import CLAIMS, STANCE_PROJECT
from builder.core.scheme import question_for
from builder.labels.model import (
    DEFAULT_MIN_LABELS_PER_CLASS,
    Fitted,
    confidences,
    features,
    model_version,
    predicted,
    short_of_minimum,
    train,
)

# Topic clusters when items have no story: measured in the bench's simulation (README).
TOPIC_CLUSTERS = 50
# Of every EXPLORE_EVERY places in the serving order, one goes to a random item rather than the
# least confident (0: none). Measured on CheckThat! dev and a held-out part of the pool (README):
# with digits read as 0 the plain order kept its saving and held on later debates, while every
# 4th or 8th place random lost the saving; so none by default.
EXPLORE_EVERY = 0


@dataclass(frozen=True)
class Item:
    """What the model reads of one task: its text and the story it belongs to."""

    item_id: str
    text: str
    story: str = ""


@dataclass(frozen=True)
class Suggestion:
    label: str
    score: float  # the confidence, or the place in a mixed order: the lowest is served first
    cluster: int
    confidence: float = 1.0  # the model's probability of `label`


@dataclass
class Suggestions:
    """Suggestions for the unlabeled items, or why there are none (too few labels)."""

    version: str
    labels_per_class: dict[str, int]
    short: dict[str, int] = field(default_factory=dict)  # class -> labels, below the minimum
    minimum: int = DEFAULT_MIN_LABELS_PER_CLASS
    by_item: dict[str, Suggestion] = field(default_factory=dict)
    # The trained model (None when too few labels); not part of a suggestion's identity.
    fitted: Fitted | None = field(default=None, compare=False, repr=False)

    @property
    def ready(self) -> bool:
        return not self.short


@dataclass(frozen=True)
class Pool:
    """Every item of a project with its features and cluster, computed once per run."""

    items: tuple[Item, ...]
    row_of: dict[str, int]
    vectorizer: Any
    matrix: Any
    clusters: tuple[int, ...]


def cluster_of(story: str) -> int:
    """A story as Label Studio's integer `cluster`: stable across runs, whatever else changes."""
    return int(hashlib.sha256(story.encode("utf-8")).hexdigest()[:7], 16)


def topic_clusters(matrix: Any, count: int = TOPIC_CLUSTERS) -> list[int]:
    """Clusters of similar texts, for items that come without a story (k-means on TF-IDF)."""
    from sklearn.cluster import MiniBatchKMeans

    count = max(1, min(count, matrix.shape[0]))
    found = MiniBatchKMeans(count, random_state=0, n_init=3, batch_size=2048).fit_predict(matrix)
    return [int(c) for c in found]


def make_pool(items: Sequence[Item]) -> Pool:
    ordered = tuple(
        sorted({item.item_id: item for item in items}.values(), key=lambda i: i.item_id)
    )
    fitted, matrix = features([item.text for item in ordered])
    stories = [item.story for item in ordered]
    if not all(stories):
        # Without stories (the bench's CheckThat! pool) topics stand in for them.
        topics = topic_clusters(matrix)
        stories = [story or f"topic-{topic}" for story, topic in zip(stories, topics, strict=True)]
    return Pool(
        items=ordered,
        row_of={item.item_id: row for row, item in enumerate(ordered)},
        vectorizer=fitted,
        matrix=matrix,
        clusters=tuple(cluster_of(story) for story in stories),
    )


def claim_item(task: Mapping[str, Any]) -> Item:
    """A claim task's sentence. Context and kind were not used: see the README (measured)."""
    return Item(task[CLAIMS.item_key], task["text"], task.get("story_id") or "")


def stance_item(task: Mapping[str, Any]) -> Item:
    """A stance pair: the target and the candidate read as one text, apart by a marker."""
    text = f"{task.get('target_text', '')} ||| {task.get('text', '')}"
    return Item(task[STANCE_PROJECT.item_key], text, task.get("story_id") or "")


def prediction(project: str, suggestion: Suggestion, version: str) -> dict[str, Any]:
    """A suggestion as a Label Studio prediction (the task id is added by who imports it)."""
    question = question_for(project)
    return {
        "model_version": version,
        "score": suggestion.score,
        "cluster": suggestion.cluster,
        "result": [
            {
                "from_name": question.name,
                "to_name": "text",
                "type": "choices",
                "value": {"choices": [suggestion.label]},
            }
        ],
    }


def suggest(
    pool: Pool,
    labels: Mapping[str, str],
    names: Sequence[str],
    minimum: int = DEFAULT_MIN_LABELS_PER_CLASS,
    seed: int = 0,
    explore_every: int = EXPLORE_EVERY,
) -> Suggestions:
    """Train on the labeled items of the pool, suggest a label for every unlabeled one.

    Each of `names` (the question's labels) needs `minimum` labels, else nothing is suggested:
    a model that barely saw a class is confidently wrong about it, and would order by that.
    """
    known = {item_id: label for item_id, label in labels.items() if item_id in pool.row_of}
    result = Suggestions(
        version=model_version(known, ",".join(names)),
        labels_per_class={n: sum(1 for label in known.values() if label == n) for n in names},
        short=short_of_minimum(known.values(), names, minimum),
        minimum=minimum,
    )
    if not result.ready:
        return result
    labeled = sorted(known)
    fitted = train(
        pool.matrix[[pool.row_of[i] for i in labeled]], [known[i] for i in labeled], seed
    )
    result.fitted = fitted
    rows = [row for row, item in enumerate(pool.items) if item.item_id not in known]
    if not rows:
        return result
    probabilities = fitted.probabilities(pool.matrix[rows])
    sure = [round(float(c), 6) for c in confidences(probabilities)]
    ids = [pool.items[row].item_id for row in rows]
    # Without random picks the score is the confidence itself (the order is the same).
    places = serving_order(ids, sure, result.version, explore_every) if explore_every else None
    for row, item_id, label, confidence in zip(
        rows, ids, predicted(fitted, probabilities), sure, strict=True
    ):
        score = round(places[item_id] / len(ids), 6) if places else confidence
        result.by_item[item_id] = Suggestion(label, score, pool.clusters[row], confidence)
    return result


def serving_order(
    ids: Sequence[str], confidence: Sequence[float], version: str, every: int = EXPLORE_EVERY
) -> dict[str, int]:
    """item id -> its place: the least confident first, every `every`-th place a random item.

    The random order is seeded by the model version, so the same labels give the same order
    (a rerun changes nothing) and new labels a new draw.
    """
    import numpy as np

    by_confidence = [ids[i] for i in sorted(range(len(ids)), key=lambda i: (confidence[i], ids[i]))]
    seed = int(hashlib.sha256(version.encode("utf-8")).hexdigest()[:8], 16)
    shuffled = [ids[i] for i in np.random.default_rng(seed).permutation(len(ids))]
    places: dict[str, int] = {}
    sources = (iter(by_confidence), iter(shuffled))
    for place in range(len(ids)):
        source = sources[1] if every and place % every == every - 1 else sources[0]
        item = next(item for item in source if item not in places)
        places[item] = place
    return places
