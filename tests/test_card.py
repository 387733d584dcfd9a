"""The dataset card: YAML that declares every config and its features, and the agreement text."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from datasets import Features

from builder.core.features import features_for
from builder.core.scheme import question_for
from builder.dataset.card import agreement_section, card_metadata, render_card, size_category
from builder.labels.agreement import Rating, agreement_report


def agreement() -> dict[str, Any]:
    claims = question_for("claims").names
    cw, nc = "checkworthy", "no_claim"
    ratings = [
        Rating("s1", "annotator-aa", cw),
        Rating("s1", "annotator-bb", cw),
        Rating("s2", "annotator-aa", cw),
        Rating("s2", "annotator-bb", nc),
        Rating("s3", "annotator-aa", nc),
        Rating("s3", "annotator-bb", cw),
    ]
    stance = [Rating("p1", "annotator-aa", "supports")]  # one rating: nothing to agree on
    return {
        "claims": agreement_report(ratings, claims),
        "stance": agreement_report(stance, question_for("stance").names),
    }


def manifest(configs: tuple[str, ...] = ("claims", "stance", "annotations")) -> dict[str, Any]:
    counts: dict[str, Any] = {
        "claims": {
            "train": 5,
            "test": 2,
            "labels": {
                "train": {"no_claim": 2, "checkworthy": 3},
                "test": {"not_checkworthy": 1, "checkworthy": 1},
            },
        },
        "stance": {
            "train": 3,
            "test": 1,
            "labels": {"train": {"supports": 2, "unrelated": 1}, "test": {"contradicts": 1}},
        },
        "annotations": {"train": 12, "test": 4},
    }
    return {
        "builder_version": "0.1.0",
        "scheme": {"version": 1, "hash": "0123456789abcdef" * 4},
        "raw_inputs": [{"path": "raw/a.txt", "sha256": "x"}, {"path": "raw/b.txt", "sha256": "y"}],
        "exports_used": {
            "claims": {
                "file": "claims-20240627T100000Z-abcd1234.json",
                "project_id": 3,
                "counts": {"pulled": 20, "accepted": 16, "rejected": 1, "skipped": 3},
            }
        },
        "counts": {config: counts[config] for config in configs},
        "unresolved": {"claims": ["s9"], "stance": []},
        "splits": {
            "by": "split_group",
            "mode": "story",
            "test_size": 0.2,
            "seed": 13,
            "tolerance": 0.05,
            "test_share": 0.2143,
            "imbalance": None,
            "merged_across_splits": [],
            "groups": {"story-1": "test"},
        },
        "leakage": {
            "file": "leakage.jsonl",
            "test_sentences": 2,
            "exact_duplicates": 1,
            "near_duplicates": 0,
            "test_stories": 1,
            "similar_stories": 1,
            "top_story_pairs": [
                {"test_story": "story-1", "train_story": "story-2", "similarity": 0.61}
            ],
            "method": {"exact": "equal after normalising", "near": "MinHash", "stories": "TF-IDF"},
        },
        "agreement": agreement(),
    }


def card_yaml(card: str) -> dict[str, Any]:
    lines = card.split("\n")
    assert lines[0] == "---"
    end = lines.index("---", 1)
    return yaml.safe_load("\n".join(lines[1:end]))


def test_agreement_section_tables() -> None:
    lines = agreement_section(agreement())
    text = "\n".join(lines)
    assert lines[0] == "## Annotation and agreement"
    assert "| question | Krippendorff's alpha (nominal) | items |" in lines
    # s1 (cw cw), s2 (cw nc), s3 (nc cw): alpha = 1 - 5 * 4 / 16 = -0.25 over 3 items.
    assert "| `claim` | -0.250 | 3 |" in lines
    assert "| `stance` | n/a | 0 |" in lines
    assert "| question | annotators | Cohen's kappa | items |" in lines
    # kappa = (3 * 1 - 5) / (9 - 5) = -0.5 over 3 shared items
    assert "| `claim` | annotator-aa / annotator-bb | -0.500 | 3 |" in lines
    assert "stance` | annotator" not in text  # one annotator: no pair
    assert "![Label distribution per split](label_distribution.png)" in lines
    assert "![Confusion between annotators of the same item](annotator_confusion.png)" in lines


@pytest.mark.parametrize(
    "configs", [("claims", "stance", "annotations"), ("claims", "annotations")]
)
def test_card_yaml_declares_every_config(configs: tuple[str, ...]) -> None:
    card = render_card("factcheck", manifest(configs))
    meta = card_yaml(card)
    assert meta == card_metadata(manifest(configs))
    assert [c["config_name"] for c in meta["configs"]] == list(configs)
    for config in meta["configs"]:
        name = config["config_name"]
        assert config["data_files"] == [
            {"split": "train", "path": f"data/{name}/train-*.parquet"},
            {"split": "test", "path": f"data/{name}/test-*.parquet"},
        ]
    infos = {info["config_name"]: info for info in meta["dataset_info"]}
    assert list(infos) == list(configs)
    for name, info in infos.items():
        features = Features._from_yaml_list(info["features"])
        assert features == features_for(name)
        class_labels = {
            f["name"]: f["dtype"]["class_label"]["names"]
            for f in info["features"]
            if isinstance(f["dtype"], dict) and "class_label" in f["dtype"]
        }
        expected = {"claims": {"claim"}, "stance": {"stance"}, "annotations": set()}[name]
        assert set(class_labels) == expected
        for field, names in class_labels.items():
            labels = question_for("claims" if field == "claim" else "stance").names
            assert [names[key] for key in sorted(names, key=int)] == labels
            assert features[field].names == labels


def test_card_text() -> None:
    card = render_card("factcheck", manifest())
    assert card.endswith("\n")
    assert 'claims = load_dataset("exports/factcheck")  # the default config: claims' in card
    assert 'stance = load_dataset("exports/factcheck", "stance")' in card
    assert "| `claims` | 5 | 2 |" in card
    assert "| `annotations` | 12 | 4 |" in card
    # Label definitions with class ids, and counts per split and label.
    assert "- `checkworthy` (2): " in card
    assert "- `unrelated` (3): " in card
    assert "| `checkworthy` | 3 | 1 |" in card
    assert "| `not_checkworthy` | 0 | 1 |" in card
    assert "| `discusses` | 0 | 0 |" in card
    assert "grouped by split group" in card and "seed 13" in card
    assert "Requested test share (`TEST_SIZE`): 0.2; reached: 21.4% of the labeled rows" in card
    assert "off target" not in card
    # The leakage audit, counted, with where its list is.
    assert "## Leakage audit" in card and "`leakage.jsonl`" in card
    assert "| test sentences with an exact duplicate in train | 1 |" in card
    assert "- `story-1` and `story-2`: 0.610" in card
    assert "pulled 20 = accepted 16 + rejected 1 + skipped 3" in card
    assert "Unresolved (ties, low posteriors) left out: {'claims': 1}" in card
    assert "2 raw input files" in card
    assert "## Annotation and agreement" in card
    assert "annotator_confusion.png" in card


def test_card_without_stance_or_agreement() -> None:
    data = manifest(("claims", "annotations"))
    del data["agreement"]
    data["splits"]["by"] = "article_id"
    card = render_card("small", data)
    assert [c["config_name"] for c in card_yaml(card)["configs"]] == ["claims", "annotations"]
    assert "### `stance`" not in card
    assert "## Annotation and agreement" not in card
    assert "grouped by article" in card
    assert 'load_dataset("exports/small")  # the default config: claims' in card
    assert 'load_dataset("exports/small", "stance")' not in card


def test_an_accepted_imbalance_is_explained_in_the_card() -> None:
    data = manifest()
    data["splits"]["test_share"] = 0.0
    data["splits"]["imbalance"] = {
        "reason": "the largest split group holds 99.5%",
        "accepted": True,
    }
    card = render_card("x", data)
    assert "reached: 0.0% of the labeled rows" in card
    assert "**The test share is off target**" in card
    assert "the largest split group holds 99.5%" in card
    assert "near a test share" not in card  # no claim of a share it did not reach


def test_a_time_split_and_a_merge_across_splits_are_described() -> None:
    data = manifest()
    data["splits"]["mode"] = "time"
    data["splits"]["time"] = {"test_from": "2024-06-20", "undated_groups_in_train": 3}
    data["splits"]["merged_across_splits"] = [
        {"group": "g1", "kept": "train", "stories_moved": ["s2"], "rows_moved": 4, "from": "test"}
    ]
    card = render_card("x", data)
    assert "The split is by time" in card and "from 2024-06-20 on" in card
    assert "Undated groups stay in train (3 of them)" in card
    assert "it stays in train, and 4 row(s) of `s2` moved from test" in card


def test_a_split_without_rows_is_not_declared() -> None:
    data = manifest(("claims", "annotations"))
    data["counts"]["annotations"] = {"train": 9, "test": 0}
    configs = {c["config_name"]: c for c in card_yaml(render_card("x", data))["configs"]}
    assert [f["split"] for f in configs["annotations"]["data_files"]] == ["train"]
    assert [f["split"] for f in configs["claims"]["data_files"]] == ["train", "test"]


def test_card_shows_each_annotators_competence_and_confusion() -> None:
    with_competence = {
        **manifest(),
        "agreement": agreement(),
        "aggregation": {"claims": "dawid-skene", "stance": "majority"},
        "competence": {
            "claims": [
                {
                    "annotator": "annotator-aa",
                    "competence": 0.8125,
                    "items": 120,
                    "labels": ["no_claim", "not_checkworthy", "checkworthy"],
                    "confusion": [[0.9, 0.1, 0.0], [0.25, 0.75, 0.0], [0.0, 0.2, 0.8]],
                }
            ],
            "stance": [],
        },
    }
    card = render_card("factcheck", with_competence)
    assert "### Annotator competence" in card
    assert "- `claim`, annotator-aa: competence 0.812 over 120 items" in card
    assert "  | `not_checkworthy` | 0.250 | 0.750 | 0.000 |" in card
    assert "Dawid-Skene model (crowd-kit)" in card  # how the claims were aggregated
    assert "`stance`: the label is the majority" in card


def test_card_says_when_no_competence_could_be_estimated() -> None:
    card = render_card("factcheck", {**manifest(), "competence": {"claims": [], "stance": []}})
    assert "Not estimated: fewer than 100 items were labeled by two or more annotators." in card


def test_card_yaml_follows_the_hub_conventions() -> None:
    data = {**manifest(), "license": "cc-by-4.0"}
    meta = card_yaml(render_card("factcheck", data))
    assert meta["license"] == "cc-by-4.0"
    assert meta["task_categories"] == ["text-classification"]
    assert meta["task_ids"] == [
        "fact-checking",
        "multi-class-classification",
        "natural-language-inference",
    ]
    assert meta["size_categories"] == ["n<1K"]  # 7 claims rows
    assert meta["annotations_creators"] == ["expert-generated"]
    assert meta["language_creators"] == ["found"]
    assert meta["source_datasets"] == ["original"]
    assert meta["language"] == ["en"]
    # claims is the default config (load_dataset(path) with no name), and the only one.
    defaults = [c["config_name"] for c in meta["configs"] if c.get("default")]
    assert defaults == ["claims"]


@pytest.mark.parametrize(
    ("rows", "category"),
    [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K"), (54_321, "10K<n<100K"), (10**6, "1M<n<10M")],
)
def test_size_category(rows: int, category: str) -> None:
    assert size_category(rows) == category


def test_card_has_a_citation_block() -> None:
    card = render_card("fact-check", manifest())
    start = card.index("## Citation")
    block = card[start:].split("```")
    assert block[1].startswith("bibtex\n@misc{fact_check,")
    assert "builder 0.1.0, label scheme version 1" in block[1]
    assert block[1].rstrip().endswith("}")


def test_card_reports_the_baseline() -> None:
    scores = {
        "trained": True,
        "model": "tf-idf + logreg",
        "train_rows": 40,
        "test_rows": 10,
        "macro_f1": 0.5,
        "f1_checkworthy": 0.6667,
        "per_class": {
            "no_claim": {"precision": 0.5, "recall": 0.25, "f1": 0.3333, "support": 4},
            "checkworthy": {"precision": 0.5, "recall": 1.0, "f1": 0.6667, "support": 6},
        },
        "learning_curve": [],
    }
    not_trained = {"trained": False, "reason": "the test split has no rows"}
    card = render_card(
        "factcheck", {**manifest(), "baseline": {"claims": scores, "stance": not_trained}}
    )
    assert "## Baseline" in card
    assert (
        "- `claim` (40 train rows, 10 test rows): F1 of `checkworthy` 0.667, macro-F1 0.500" in card
    )
    assert "  | `no_claim` | 0.500 | 0.250 | 0.333 | 4 |" in card
    assert "- `stance`: not trained: the test split has no rows." in card
    assert "![Baseline learning curve](learning_curve.png)" in card
