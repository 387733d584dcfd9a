"""The dataset card: YAML that declares every config and its features, and the agreement text."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from datasets import Features

from builder.core.features import features_for
from builder.core.scheme import question_for
from builder.dataset.card import agreement_section, card_metadata, render_card
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
    assert 'claims = load_dataset("exports/factcheck", "claims")' in card
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
    assert "Unresolved (ties) left out: {'claims': 1}" in card
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
    assert 'load_dataset("exports/small", "claims")' in card


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
