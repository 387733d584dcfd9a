"""The card's baseline: scores of the builder's classifier on hand-made rows, and the same
figures and picture every time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sklearn.metrics import f1_score

from builder.core.scheme import question_for
from builder.dataset.baseline import baseline
from builder.dataset.figures import learning_curve

CLAIMS = question_for("claims").names
STANCE = question_for("stance").names


def claim_rows(count: int, offset: int = 0) -> list[dict[str, Any]]:
    """Sentences whose words give their label away, with a few that mislead."""
    words = {
        "checkworthy": "unemployment rose by {n} percent last year",
        "no_claim": "what a wonderful evening it was {n}",
        "not_checkworthy": "the mayor wore a blue tie on day {n}",
    }
    rows = []
    for i in range(offset, offset + count):
        label = CLAIMS[i % 3]
        text = words[CLAIMS[(i + 1) % 3] if i % 7 == 0 else label].format(n=i)
        rows.append({"text": text, "claim": CLAIMS.index(label)})
    return rows


def test_claims_baseline_scores_on_test() -> None:
    train, test = claim_rows(90), claim_rows(30, offset=90)
    result = baseline("claims", {"train": train, "test": test})
    assert result["trained"]
    assert (result["train_rows"], result["test_rows"]) == (90, 30)
    # Every 7th test sentence reads like another label: it is the only kind of error.
    truth = [CLAIMS[r["claim"]] for r in test]
    assert set(result["per_class"]) == set(CLAIMS)
    assert sum(c["support"] for c in result["per_class"].values()) == len(test)
    recall = result["per_class"]["checkworthy"]["recall"]
    assert 0.7 <= recall <= 1.0
    assert 0.0 < result["f1_checkworthy"] <= 1.0
    assert 0.0 < result["macro_f1"] <= 1.0
    # F1 of the positive class is scikit-learn's binary F1 of `checkworthy` against the rest.
    per_class_f1 = result["per_class"]["checkworthy"]["f1"]
    assert result["f1_checkworthy"] == per_class_f1
    assert f1_score(truth, truth, labels=["checkworthy"], average="macro") == 1.0
    # The learning curve grows train to all of it, with the same scores at the end.
    points = result["learning_curve"]
    assert [p["train_rows"] for p in points] == [9, 22, 45, 90]
    assert points[-1]["macro_f1"] == result["macro_f1"]


def test_stance_baseline_is_class_wise_macro_f1() -> None:
    def pair(i: int) -> dict[str, Any]:
        label = STANCE[i % 4]
        return {
            "target_text": f"five people were killed {i}",
            "text": f"{label} sentence {i}",
            "stance": STANCE.index(label),
        }

    result = baseline(
        "stance", {"train": [pair(i) for i in range(40)], "test": [pair(i) for i in range(40, 60)]}
    )
    assert result["trained"]
    assert "f1_checkworthy" not in result
    per_class = [c["f1"] for c in result["per_class"].values()]
    assert result["macro_f1"] == round(sum(per_class) / len(per_class), 4)


def test_too_few_labels_or_no_test_rows_is_said() -> None:
    one_label = [{"text": "x", "claim": 0}, {"text": "y", "claim": 0}]
    assert baseline("claims", {"train": one_label, "test": claim_rows(3)}) == {
        "trained": False,
        "reason": "the train split has fewer than two labels",
    }
    assert baseline("claims", {"train": claim_rows(9), "test": []})["reason"] == (
        "the test split has no rows"
    )


def test_the_same_rows_give_the_same_figures_and_picture(tmp_path: Path) -> None:
    split = {"train": claim_rows(90), "test": claim_rows(30, offset=90)}
    first, second = baseline("claims", split), baseline("claims", split)
    assert first == second
    learning_curve(tmp_path / "one.png", {"claims": first})
    learning_curve(tmp_path / "two.png", {"claims": second})
    assert (tmp_path / "one.png").read_bytes() == (tmp_path / "two.png").read_bytes()
