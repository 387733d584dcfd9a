"""The builder's one model: trains, predicts with confidences, versions by its training labels."""

from __future__ import annotations

import pytest

from builder.labels.model import (
    baseline_pipeline,
    confidences,
    features,
    model_version,
    predicted,
    short_of_minimum,
    train,
)

TEXTS = [
    "Unemployment fell to 3.5 percent last year.",
    "The deficit grew by 400 billion dollars in 2019.",
    "Crime rose 12 percent in the city since 2015.",
    "I love this country and its people.",
    "Thank you all for coming tonight.",
    "What a wonderful crowd we have here.",
]
LABELS = ["yes", "yes", "yes", "no", "no", "no"]


def test_trained_model_predicts_the_labels_it_saw_with_confidences_between_half_and_one() -> None:
    _, matrix = features(TEXTS)
    fitted = train(matrix, LABELS)
    probabilities = fitted.probabilities(matrix)
    assert predicted(fitted, probabilities) == LABELS
    scores = confidences(probabilities)
    assert all(0.5 <= s <= 1.0 for s in scores)


def test_training_needs_two_classes() -> None:
    _, matrix = features(TEXTS[:3])
    with pytest.raises(ValueError, match="two classes"):
        train(matrix, LABELS[:3])


def test_the_baseline_pipeline_is_the_same_model_over_raw_texts() -> None:
    pipeline = baseline_pipeline().fit(TEXTS, LABELS)
    assert list(pipeline.predict(TEXTS)) == LABELS


def test_model_version_changes_with_the_labels_and_not_with_their_order() -> None:
    labels = {"a": "yes", "b": "no"}
    assert model_version(labels) == model_version(dict(reversed(labels.items())))
    assert model_version(labels) != model_version({"a": "yes", "b": "yes"})
    assert model_version(labels) != model_version({**labels, "c": "no"})
    assert model_version(labels).startswith("builder-")


def test_short_of_minimum_names_each_class_below_it_with_its_count() -> None:
    assert short_of_minimum(["yes"] * 3 + ["no"] * 12, ["yes", "no", "maybe"], 10) == {
        "yes": 3,
        "maybe": 0,
    }
