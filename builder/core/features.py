"""The dataset's Features per config: the projects' declared columns, and the annotations."""

from __future__ import annotations

from datasets import Features, Value

from builder.core.projects import LABEL, PROJECTS, Project
from builder.core.scheme import class_label

CONFIGS = ("claims", "stance", "annotations")


def project_features(project: Project) -> Features:
    """A project's dataset config, from its declared columns."""
    return Features(
        {
            column.name: class_label(project.name) if column.dtype == LABEL else Value(column.dtype)
            for column in project.columns
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
    if config == "annotations":
        return annotations_features()
    return project_features(PROJECTS[config])
