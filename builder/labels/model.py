"""Labeled sentences into the builder's one text classifier (TF-IDF + logistic regression).

The same model orders the labeling (`make suggest`, the bench's simulation) and is the card's
baseline: change it here and every use follows. It is a pure step: texts and labels in,
probabilities out; the model version is a hash of what it was trained on.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from builder.core.config import DEFAULT_SUGGEST_MIN_LABELS

if TYPE_CHECKING:
    from scipy.sparse import spmatrix
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

# Part of every model version: a change of features or model must change the version too.
MODEL_SPEC = "tfidf(word 1-2, sublinear)+logreg(balanced, C=1, lbfgs)/v2"
# Below this many labels of any one class the model's confidences mean little: no ordering.
DEFAULT_MIN_LABELS_PER_CLASS = DEFAULT_SUGGEST_MIN_LABELS


def vectorizer() -> TfidfVectorizer:
    """Word 1–2-grams; sublinear term frequencies (long sentences do not dominate)."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, dtype=np.float64)


def classifier(seed: int = 0) -> LogisticRegression:
    """Balanced class weights: check-worthy sentences are the minority (about 1 in 4)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(
        C=1.0, class_weight="balanced", max_iter=1000, solver="lbfgs", random_state=seed
    )


def baseline_pipeline(seed: int = 0) -> Pipeline:
    """The model as one scikit-learn pipeline over raw texts (the card's baseline)."""
    from sklearn.pipeline import make_pipeline

    return make_pipeline(vectorizer(), classifier(seed))


@dataclass(frozen=True)
class Fitted:
    """A classifier trained on some rows of a feature matrix, and its class names."""

    model: LogisticRegression
    classes: tuple[str, ...]

    def probabilities(self, features: spmatrix) -> Any:
        """rows x classes, in the order of `classes`."""
        return self.model.predict_proba(features)


def features(all_texts: Sequence[str]) -> tuple[TfidfVectorizer, spmatrix]:
    """A vectorizer fitted on every text of the pool (labeled or not) and the pool's matrix.

    Fitting the vocabulary on the unlabeled texts too is fair (they are the pool being
    labeled) and lets retraining reuse one matrix instead of refitting TF-IDF each round.
    """
    fitted = vectorizer()
    return fitted, fitted.fit_transform(all_texts)


def train(features_of_labeled: spmatrix, labels: Sequence[str], seed: int = 0) -> Fitted:
    """Fit the classifier on labeled rows; needs at least two classes."""
    if len(set(labels)) < 2:
        raise ValueError("training needs labels of at least two classes")
    fitted = classifier(seed).fit(features_of_labeled, list(labels))
    return Fitted(fitted, tuple(str(c) for c in fitted.classes_))


def confidences(probabilities: Any) -> Any:
    """The model's confidence per row: its highest class probability (lowest = least sure)."""
    return probabilities.max(axis=1)


def predicted(fitted: Fitted, probabilities: Any) -> list[str]:
    return [fitted.classes[i] for i in probabilities.argmax(axis=1)]


def short_of_minimum(labels: Iterable[str], names: Sequence[str], minimum: int) -> dict[str, int]:
    """The classes (of `names`) with fewer than `minimum` labels, and how many they have."""
    counts = Counter(labels)
    return {name: counts.get(name, 0) for name in names if counts.get(name, 0) < minimum}


def model_version(labels: Mapping[str, str], extra: str = "") -> str:
    """A short hash of the training labels (item id -> label) and the model's spec."""
    digest = hashlib.sha256(MODEL_SPEC.encode() + b"\n" + extra.encode() + b"\n")
    digest.update(json.dumps(sorted(labels.items()), ensure_ascii=False).encode("utf-8"))
    return "builder-" + digest.hexdigest()[:16]
