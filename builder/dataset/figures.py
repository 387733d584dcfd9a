"""Counts and confusion matrices into the dataset card's PNG pictures (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402

from builder.core.scheme import question_for  # noqa: E402

# Fixed metadata keeps the PNG bytes the same for the same inputs.
PNG_METADATA = {"Software": None}


def label_distribution(path: Path, counts: dict[str, dict[str, Any]]) -> None:
    """Bars of the label counts per split, one panel per labeled config."""
    configs = [c for c in ("claims", "stance") if c in counts and "labels" in counts[c]]
    fig, axes = plt.subplots(1, max(len(configs), 1), figsize=(5 * max(len(configs), 1), 3.2))
    axes = axes if hasattr(axes, "__len__") else [axes]
    for ax, config in zip(axes, configs, strict=False):
        per_split = counts[config]["labels"]
        labels = question_for(config).names  # every label, in class-id order
        width = 0.38
        for offset, split in enumerate(("train", "test")):
            xs = [i + (offset - 0.5) * width for i in range(len(labels))]
            ax.bar(xs, [per_split[split].get(label, 0) for label in labels], width, label=split)
        ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize=8)
        ax.set_title(f"{config}: labels per split", fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata=PNG_METADATA)
    plt.close(fig)


def annotator_confusion(path: Path, confusions: dict[str, dict[str, Any]]) -> None:
    """Heatmaps of how often two annotators of one item gave each pair of labels."""
    projects = [p for p, c in confusions.items() if c["matrix"]]
    fig, axes = plt.subplots(1, max(len(projects), 1), figsize=(4.6 * max(len(projects), 1), 4))
    axes = axes if hasattr(axes, "__len__") else [axes]
    for ax, project in zip(axes, projects, strict=False):
        labels, matrix = confusions[project]["labels"], confusions[project]["matrix"]
        ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        for i, row in enumerate(matrix):
            for j, value in enumerate(row):
                ax.text(j, i, str(value), ha="center", va="center", fontsize=8)
        ax.set_title(f"{project}: annotator vs annotator", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata=PNG_METADATA)
    plt.close(fig)


def learning_curve(path: Path, baselines: dict[str, dict[str, Any]]) -> None:
    """The baseline's test scores against the number of train rows, one line per score."""
    trained = {config: b for config, b in baselines.items() if b.get("trained")}
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for config, result in trained.items():
        points = result["learning_curve"]
        rows = [point["train_rows"] for point in points]
        for key, name in (("f1_checkworthy", "F1 checkworthy"), ("macro_f1", "macro-F1")):
            if key in points[0]:
                ax.plot(
                    rows, [point[key] for point in points], marker="o", label=f"{config}: {name}"
                )
    if not trained:
        ax.text(0.5, 0.5, "no baseline: too few labels", ha="center", va="center")
    ax.set_xlabel("train rows", fontsize=9)
    ax.set_ylabel("score on test", fontsize=9)
    ax.set_ylim(0, 1)
    ax.set_title("Baseline learning curve (TF-IDF + logistic regression)", fontsize=10)
    if trained:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata=PNG_METADATA)
    plt.close(fig)
