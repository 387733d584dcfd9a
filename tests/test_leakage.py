"""The leakage audit: exact and near-duplicate sentences across splits, similar stories."""

from __future__ import annotations

import random

import numpy as np
from datasketch import MinHash

from builder.dataset.leakage import (
    MINHASH_SEED,
    NUM_PERM,
    audit,
    normalise,
    shingle_hashes,
    signatures,
)

WORDS = [
    "minister",
    "council",
    "harbour",
    "bridge",
    "flood",
    "vaccine",
    "budget",
    "tariff",
    "court",
    "strike",
    "election",
    "rate",
    "river",
    "border",
    "police",
    "school",
    "factory",
    "train",
    "airport",
    "museum",
    "festival",
    "wheat",
    "copper",
    "drought",
]


def sentence(rng: random.Random, n: int = 16) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def rows(texts: list[str], prefix: str, story: str | None = None) -> list[dict[str, str]]:
    return [
        {"sentence_id": f"{prefix}-{i:03d}", "text": t, "story_id": story or f"{prefix}-story{i}"}
        for i, t in enumerate(texts)
    ]


def planted() -> dict[str, list[dict[str, str]]]:
    """Unrelated random sentences, plus one exact and one near duplicate planted in test."""
    rng = random.Random(7)
    train = rows([sentence(rng) for _ in range(300)], "train")
    test = rows([sentence(rng) for _ in range(80)], "test")
    # Exact after normalising case, spaces and punctuation.
    test[10]["text"] = "  " + train[42]["text"].upper().replace(" ", " ,  ").rstrip(".") + "!"
    # Near: one word of 16 changed.
    words = train[99]["text"].rstrip(".").split()
    words[8] = "lighthouse"
    test[20]["text"] = " ".join(words) + "."
    return {"train": train, "test": test}


def test_normalise_drops_case_punctuation_and_extra_spaces() -> None:
    assert normalise("  Five people — were KILLED,\tsaid the  police!  ") == (
        "five people were killed said the police"
    )
    assert normalise("snake_case") == "snake case"


def test_the_signatures_are_datasketch_minhashes() -> None:
    texts = [normalise(t) for t in ("Five people were killed in the blast.", "Rates rose.", "one")]
    matrix = shingle_hashes(texts)
    ours = signatures(matrix)
    for row, text in enumerate(texts):
        hashes = matrix.indices[matrix.indptr[row] : matrix.indptr[row + 1]]
        theirs = MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED, hashfunc=int)
        theirs.update_batch([int(h) for h in hashes])
        assert np.array_equal(ours[row], theirs.hashvalues), text


def test_the_audit_finds_a_planted_exact_and_near_duplicate_and_nothing_else() -> None:
    result = audit(planted())
    exact = [f for f in result.findings if f["kind"] == "exact"]
    near = [f for f in result.findings if f["kind"] == "near"]
    assert [(f["test_id"], f["train_ids"]) for f in exact] == [("test-010", ["train-042"])]
    assert [(f["test_id"], f["train_id"]) for f in near] == [("test-020", "train-099")]
    assert 0.7 <= near[0]["similarity"] < 1.0
    assert result.summary["exact_duplicates"] == 1
    assert result.summary["near_duplicates"] == 1
    assert result.summary["test_sentences"] == 80


def test_the_audit_is_the_same_for_any_row_order() -> None:
    splits = planted()
    first = audit(splits)
    shuffled = {split: random.Random(3).sample(r, len(r)) for split, r in splits.items()}
    assert audit(shuffled).findings == first.findings
    assert audit(splits) == first


def test_test_stories_most_similar_to_a_train_story_are_listed() -> None:
    rng = random.Random(11)
    flood = [
        "The river burst its banks and flooded the valley town overnight.",
        "Rescue boats took residents from flooded homes in the valley.",
    ]
    train = rows(flood, "train", "flood-a") + rows(
        [sentence(rng) for _ in range(20)], "other", "noise"
    )
    test = rows(
        [
            "Flooded homes in the valley town were emptied by rescue boats.",
            "The river banks burst overnight.",
        ],
        "test",
        "flood-b",
    ) + rows(["The orchestra played a new symphony at the festival."], "music", "concert")
    result = audit({"train": train, "test": test})
    stories = [f for f in result.findings if f["kind"] == "similar_story"]
    assert stories[0]["test_story"] == "flood-b" and stories[0]["train_story"] == "flood-a"
    assert stories[0]["similarity"] >= 0.5
    assert result.summary["similar_stories"] == 1
    assert result.summary["top_story_pairs"][0]["test_story"] == "flood-b"


def test_an_empty_split_gives_an_empty_audit() -> None:
    result = audit({"train": rows(["Rates rose."], "train"), "test": []})
    assert result.findings == []
    assert result.summary["exact_duplicates"] == result.summary["near_duplicates"] == 0
