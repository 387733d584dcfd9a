"""Suggestions from labels (a pure step): who gets a prediction, its score, cluster and version."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.core.config import Settings
from builder.core.errors import BuilderError
from builder.tasks.suggest import (
    Item,
    cluster_of,
    make_pool,
    prediction,
    serving_order,
    suggest,
)

NAMES = ["no_claim", "not_checkworthy", "checkworthy"]
LABELED = {
    "s1": ("Unemployment fell to 3.5 percent last year.", "checkworthy"),
    "s2": ("The deficit grew by 400 billion dollars in 2019.", "checkworthy"),
    "s3": ("The mayor opened a new library on Monday.", "not_checkworthy"),
    "s4": ("The school choir sang on Friday evening.", "not_checkworthy"),
    "s5": ("What a wonderful crowd we have here.", "no_claim"),
    "s6": ("Thank you all for coming tonight.", "no_claim"),
}
UNLABELED = {
    "u1": "Crime rose 12 percent in the city since 2015.",
    "u2": "Thank you, what a wonderful night.",
    "u3": "The council met on Tuesday.",
}


def items(story: str = "story-a") -> list[Item]:
    texts = {**{k: t for k, (t, _) in LABELED.items()}, **UNLABELED}
    return [Item(item_id, text, story) for item_id, text in texts.items()]


def labels() -> dict[str, str]:
    return {k: label for k, (_, label) in LABELED.items()}


def test_every_unlabeled_item_and_no_labeled_one_gets_a_suggestion() -> None:
    result = suggest(make_pool(items()), labels(), NAMES, minimum=2)
    assert result.ready
    assert set(result.by_item) == set(UNLABELED)
    for suggestion in result.by_item.values():
        assert suggestion.label in NAMES
        assert 1 / 3 <= suggestion.confidence <= 1.0  # the top probability of three classes
        assert suggestion.score == suggestion.confidence  # no random picks by default
        assert suggestion.cluster == cluster_of("story-a")
    mixed = suggest(make_pool(items()), labels(), NAMES, minimum=2, explore_every=2)
    assert sorted(s.score for s in mixed.by_item.values()) == [0, round(1 / 3, 6), round(2 / 3, 6)]
    for suggestion in result.by_item.values():
        assert suggestion.cluster == cluster_of("story-a")


def test_too_few_labels_of_a_class_gives_no_suggestion_and_says_which() -> None:
    result = suggest(make_pool(items()), labels(), NAMES, minimum=3)
    assert not result.ready
    assert result.short == {"no_claim": 2, "not_checkworthy": 2, "checkworthy": 2}
    assert result.by_item == {} and result.fitted is None


def test_the_version_follows_the_labels_and_a_rerun_is_the_same() -> None:
    pool = make_pool(items())
    first = suggest(pool, labels(), NAMES, minimum=2)
    assert suggest(make_pool(items()), labels(), NAMES, minimum=2) == first
    changed = suggest(pool, {**labels(), "u1": "checkworthy"}, NAMES, minimum=2)
    assert changed.version != first.version
    assert "u1" not in changed.by_item


def test_a_prediction_is_a_label_studio_choice_with_score_cluster_and_version() -> None:
    result = suggest(make_pool(items()), labels(), NAMES, minimum=2)
    payload = prediction("claims", result.by_item["u1"], result.version)
    assert payload["model_version"] == result.version
    assert payload["score"] == result.by_item["u1"].score
    assert isinstance(payload["cluster"], int)
    assert payload["result"][0]["from_name"] == "claim"
    assert payload["result"][0]["value"]["choices"] == [result.by_item["u1"].label]


def test_the_least_confident_are_served_first_with_every_fourth_place_a_random_pick() -> None:
    ids = [f"i{n:02d}" for n in range(40)]
    confidence = [0.5 + n / 100 for n in range(40)]  # i00 the least confident
    places = serving_order(ids, confidence, "builder-v1", every=4)
    order = sorted(ids, key=places.__getitem__)
    assert sorted(places.values()) == list(range(40))
    by_model = [item for place, item in enumerate(order) if place % 4 != 3]
    assert by_model == sorted(by_model)  # least confident first among the model's places
    assert order[:3] == ["i00", "i01", "i02"]
    picked = [order[place] for place in range(3, 40, 4)]
    assert picked != sorted(picked)  # random picks, not the next least confident
    assert serving_order(ids, confidence, "builder-v1", every=4) == places  # rerun: same
    assert serving_order(ids, confidence, "builder-v2", every=4) != places  # new labels: new draw
    plain = serving_order(ids, confidence, "builder-v1", every=0)
    assert sorted(ids, key=plain.__getitem__) == ids


def test_items_without_a_story_are_clustered_by_topic() -> None:
    pool = make_pool(items(story=""))
    assert len(pool.clusters) == len(LABELED) + len(UNLABELED)
    assert len(set(pool.clusters)) > 1


def test_bad_suggest_settings_are_refused_with_their_name(tmp_path: Path) -> None:
    # Checked at start, both named in one error.
    (tmp_path / ".env").write_text("SUGGEST_MIN_LABELS=zero\nSHOW_SUGGESTIONS=maybe\n")
    with pytest.raises(BuilderError, match="SUGGEST_MIN_LABELS='zero'") as caught:
        Settings.load(tmp_path)
    assert "SHOW_SUGGESTIONS='maybe'" in caught.value.message
    assert Settings.load(tmp_path / "none").show_suggestions is False
    assert Settings.load(tmp_path / "none").suggest_min_labels == 10
