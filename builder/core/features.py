"""The dataset's Features per config: item keys and label columns from the project registry."""

from __future__ import annotations

from datasets import Features, Value

from builder.core.projects import CLAIMS, STANCE_PROJECT
from builder.core.scheme import class_label

CONFIGS = ("claims", "stance", "annotations")


def claims_features() -> Features:
    return Features(
        {
            CLAIMS.item_key: Value("string"),
            "text": Value("string"),
            CLAIMS.question.name: class_label("claims"),
            "article_id": Value("string"),
            "story_id": Value("string"),
            "kind": Value("string"),
            "index": Value("int32"),
            "start": Value("int32"),
            "end": Value("int32"),
            "context_before": Value("string"),
            "context_after": Value("string"),
            "source": Value("string"),
            "date": Value("string"),
            "language": Value("string"),
            "num_annotations": Value("int32"),
            "agreement": Value("float32"),
            # Probability of the label under the aggregation (Dawid-Skene's posterior, the
            # vote share under the majority; 1 for ground truth and control items).
            "posterior": Value("float32"),
            "resolved_by": Value("string"),
            "control": Value("bool"),
        }
    )


def stance_features() -> Features:
    return Features(
        {
            STANCE_PROJECT.item_key: Value("string"),
            "target_id": Value("string"),
            "target_text": Value("string"),
            "target_article_id": Value("string"),
            "target_source": Value("string"),
            "sentence_id": Value("string"),
            "text": Value("string"),
            "article_id": Value("string"),
            "source": Value("string"),
            "story_id": Value("string"),
            STANCE_PROJECT.question.name: class_label("stance"),
            "similarity": Value("float32"),
            "num_annotations": Value("int32"),
            "agreement": Value("float32"),
            "posterior": Value("float32"),
            "resolved_by": Value("string"),
        }
    )


def annotations_features() -> Features:
    return Features(
        {
            "annotation_id": Value("int64"),
            "task_id": Value("int64"),
            "project": Value("string"),
            "item_id": Value("string"),
            "story_id": Value("string"),
            "annotator": Value("string"),
            "question": Value("string"),
            "label": Value("string"),
            "lead_time": Value("float64"),
            "created_at": Value("string"),
            "updated_at": Value("string"),
            "ground_truth": Value("bool"),
        }
    )


def features_for(config: str) -> Features:
    return {
        "claims": claims_features,
        "stance": stance_features,
        "annotations": annotations_features,
    }[config]()
