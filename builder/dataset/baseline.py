"""A dataset's train and test rows into the card's baseline: the builder's text classifier
(labels/model.py) trained on train, scored on test, and a learning curve."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import f1_score, precision_recall_fscore_support
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline, make_pipeline

from builder.core.scheme import question_for
from builder.labels.model import classifier, vectorizer

# The CheckThat! convention: F1 of the positive class.
POSITIVE = {"claims": "checkworthy"}
# Shares of train for the learning curve, before all of it.
CURVE_SHARES = (0.1, 0.25, 0.5)
SEED = 0


def pipeline() -> Pipeline:
    """The builder's classifier, one-vs-rest: its liblinear solver is binary, the questions
    have three and four labels."""
    return make_pipeline(vectorizer(), OneVsRestClassifier(classifier(SEED)))


def text_of(config: str, row: dict[str, Any]) -> str:
    """What the model reads: the sentence; for stance, the target claim and the sentence."""
    if config == "stance":
        return f"{row['target_text']} \n {row['text']}"
    return row["text"]


def _scores(config: str, truth: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    names = question_for(config).names
    # Macro over the labels the test split has or the model predicts: a label absent from both
    # says nothing about the model.
    present = [name for name in names if name in set(truth) | set(predicted)]
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=present, zero_division=0
    )
    scores: dict[str, Any] = {
        "macro_f1": round(float(np.mean(f1)), 4),
        "per_class": {
            name: {
                "precision": round(float(p), 4),
                "recall": round(float(r), 4),
                "f1": round(float(f), 4),
                "support": int(s),
            }
            for name, p, r, f, s in zip(present, precision, recall, f1, support, strict=True)
        },
    }
    if config in POSITIVE:
        positive = POSITIVE[config]
        scores[f"f1_{positive}"] = round(
            float(f1_score(truth, predicted, labels=[positive], average="macro", zero_division=0)),
            4,
        )
    return scores


def _fit_and_score(
    config: str, train: list[dict[str, Any]], test: list[dict[str, Any]]
) -> dict[str, Any]:
    names = question_for(config).names
    field = question_for(config).name
    model = pipeline()
    model.fit([text_of(config, r) for r in train], [names[r[field]] for r in train])
    predicted = [str(p) for p in model.predict([text_of(config, r) for r in test])]
    return _scores(config, [names[r[field]] for r in test], predicted)


def why_not(config: str, train: list[dict[str, Any]], test: list[dict[str, Any]]) -> str | None:
    """Why no baseline can be trained on these rows, or None."""
    field = question_for(config).name
    if not test:
        return "the test split has no rows"
    if len({r[field] for r in train}) < 2:
        return "the train split has fewer than two labels"
    return None


def baseline(config: str, rows_by_split: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Scores on test of the model trained on train, and on growing shares of train.

    The shares are the first rows of one fixed shuffle of train, so the curve is the same for
    the same rows; a share with a single label is left out of the curve.
    """
    train, test = rows_by_split["train"], rows_by_split["test"]
    reason = why_not(config, train, test)
    if reason is not None:
        return {"trained": False, "reason": reason}
    order = np.random.default_rng(SEED).permutation(len(train))
    curve = []
    for share in CURVE_SHARES:
        count = max(1, round(share * len(train)))
        subset = [train[i] for i in order[:count]]
        if count < len(train) and why_not(config, subset, test) is None:
            curve.append(_curve_point(count, _fit_and_score(config, subset, test)))
    scores = _fit_and_score(config, train, test)
    curve.append(_curve_point(len(train), scores))
    return {
        "trained": True,
        "model": "TF-IDF word 1-2-grams (digits as 0) + logistic regression (balanced)",
        "train_rows": len(train),
        "test_rows": len(test),
        **scores,
        "learning_curve": curve,
    }


def _curve_point(count: int, scores: dict[str, Any]) -> dict[str, Any]:
    return {"train_rows": count, **{k: v for k, v in scores.items() if k != "per_class"}}
