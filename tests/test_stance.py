"""Stance pairing as a pure step: targets, candidates, thresholds, pair ids, user claims."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support import FIVE_KILLED, FOUR_KILLED, HEIGHT, LAST_TIME, SAMPLES

from builder.core.config import DEFAULT_STANCE_MIN_SIMILARITY, DEFAULT_STANCE_TOP_K, Settings
from builder.core.report import Report
from builder.inputs.articles import Article
from builder.inputs.corpus import Corpus, load_corpus
from builder.inputs.sentences import split_article
from builder.labels.aggregate import ItemLabel
from builder.tasks.stance import (
    Pair,
    Target,
    candidate_pairs,
    load_user_claims,
    pair_id,
    targets_from,
)


def article(id: str, text: str, story: str | None = "story", date: str | None = "2024-06-26"):
    return Article(
        id=id, text=text, path=f"{id}.jsonl", date=date, source=f"outlet {id}", story_id=story
    )


def corpus_of(*articles: Article) -> Corpus:
    return Corpus(
        articles={a.id: a for a in articles},
        sentences={a.id: split_article(a) for a in articles},
        story_of={a.id: a.story_id or f"story-of-{a.id}" for a in articles},
    )


def sentence(corpus: Corpus, text: str, article_id: str = "own") -> str:
    """The id of the sentence with this text in that article."""
    found = [
        s.sentence_id
        for s in corpus.all_sentences()
        if s.text == text and s.article_id == article_id
    ]
    assert len(found) == 1, f"{len(found)} sentences read {text!r}"
    return found[0]


def checkworthy(*sentence_ids: str) -> dict[str, ItemLabel]:
    return {
        s: ItemLabel(s, "checkworthy", 2, 1.0, "majority", {"checkworthy": 2}) for s in sentence_ids
    }


def pairs_of(corpus: Corpus, targets: list[Target], **kw: float) -> list[Pair]:
    return candidate_pairs(corpus, targets, **kw)  # type: ignore[arg-type]


KILLED = "Five people were killed in the attack on the harbour on Sunday."
KILLED_AGAIN = "Five people were killed in the attack on the harbour, the mayor repeated on Sunday."
FOUR = "Four civilians were killed in the attack on the harbour on Sunday."
MINISTERS = "The two ministers spoke by phone for the first time in a year."
CLOSE = "The two ministers spoke by phone on Monday for the first time in over a year."
MIDDLE = "The ministers met in Geneva last spring."
FAR = "Rain fell over the harbour all afternoon."


@pytest.fixture
def story() -> Corpus:
    return corpus_of(
        article("own", f"{KILLED} {KILLED_AGAIN} {MINISTERS}"),
        article("other", f"{FOUR} {CLOSE} {MIDDLE} {FAR}"),
        article("elsewhere", f"{KILLED} {CLOSE}", story="another-story"),
    )


def test_never_pairs_a_target_with_its_own_article_or_another_story(story: Corpus) -> None:
    targets = targets_from(story, checkworthy(sentence(story, KILLED)), [])
    assert [t.target_id for t in targets] == [sentence(story, KILLED)]
    pairs = pairs_of(story, targets, top_k=100, min_similarity=0.0)
    # The same sentence in its own article, and the same words in another story, are left out.
    assert {p.task["article_id"] for p in pairs} == {"other"}
    assert len(pairs) == 4
    assert pairs[0].task["text"] == FOUR
    for pair in pairs:
        assert pair.task["story_id"] == pair.target.story_id == "story"
        assert pair.task_data()["article_id"] != pair.task_data()["target_article_id"]


def test_a_story_of_one_article_gives_no_pairs() -> None:
    corpus = corpus_of(article("alone", f"{KILLED} {FOUR}"))
    targets = targets_from(corpus, checkworthy(sentence(corpus, KILLED, "alone")), [])
    assert pairs_of(corpus, targets, top_k=10, min_similarity=0.0) == []


def test_candidates_are_ranked_by_similarity(story: Corpus) -> None:
    targets = targets_from(story, checkworthy(sentence(story, MINISTERS)), [])
    pairs = pairs_of(story, targets, top_k=10, min_similarity=0.0)
    texts = [p.task["text"] for p in pairs]
    assert texts[:2] == [CLOSE, MIDDLE]
    scores = [p.similarity for p in pairs]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > scores[1] > 0.0


def test_top_k_and_min_similarity(story: Corpus) -> None:
    targets = targets_from(
        story, checkworthy(sentence(story, MINISTERS), sentence(story, KILLED)), []
    )
    everything = pairs_of(story, targets, top_k=10, min_similarity=0.0)
    for top_k in (1, 2, 3):
        pairs = pairs_of(story, targets, top_k=top_k, min_similarity=0.0)
        for target in targets:
            mine = [p for p in pairs if p.target == target]
            best = [p for p in everything if p.target == target][:top_k]
            assert [p.pair_id for p in mine] == [p.pair_id for p in best]
    ministers = [p for p in everything if p.target.text == MINISTERS]
    best, second = ministers[0].similarity, ministers[1].similarity
    between = (best + second) / 2
    kept = pairs_of(story, targets, top_k=10, min_similarity=between)
    assert [p.task["text"] for p in kept if p.target.text == MINISTERS] == [CLOSE]
    assert all(p.similarity >= between for p in kept)
    assert pairs_of(story, targets, top_k=10, min_similarity=1.0 + 1e-9) == []
    # The threshold is inclusive.
    exact = pairs_of(story, targets[:1], top_k=1, min_similarity=0.0)[0].similarity
    assert len(pairs_of(story, targets[:1], top_k=1, min_similarity=exact)) == 1


def test_pair_ids_come_from_both_parts_and_stay(story: Corpus) -> None:
    targets = targets_from(
        story, checkworthy(sentence(story, MINISTERS), sentence(story, KILLED)), []
    )
    pairs = pairs_of(story, targets, top_k=10, min_similarity=0.0)
    for pair in pairs:
        assert pair.pair_id == pair_id(pair.target.target_id, pair.task["sentence_id"])
        assert pair.task_data()["pair_id"] == pair.pair_id
    assert len({p.pair_id for p in pairs}) == len(pairs)
    assert pair_id("a", "b") == pair_id("a", "b")
    assert len({pair_id("a", "b"), pair_id("b", "a"), pair_id("a", "c"), pair_id("c", "b")}) == 4
    # More articles change the scores, never the id of a pair that is still found.
    grown = corpus_of(
        *story.articles.values(),
        article("later", "The harbour reopened on Tuesday. Ferries ran again.", story="story"),
    )
    again = pairs_of(
        grown,
        targets_from(grown, checkworthy(*{p.target.target_id for p in pairs}), []),
        top_k=10,
        min_similarity=0.0,
    )
    by_parts = {(p.target.target_id, p.task["sentence_id"]): p.pair_id for p in again}
    for pair in pairs:
        assert by_parts[(pair.target.target_id, pair.task["sentence_id"])] == pair.pair_id


def test_only_checkworthy_sentences_become_targets(story: Corpus) -> None:
    labels = {
        **checkworthy(sentence(story, KILLED)),
        sentence(story, MINISTERS): ItemLabel(
            sentence(story, MINISTERS), "not_checkworthy", 2, 1.0, "majority", {}
        ),
        sentence(story, FOUR, "other"): ItemLabel(
            sentence(story, FOUR, "other"), None, 2, 0.0, "tie", {}
        ),
    }
    targets = targets_from(story, labels, [])
    assert [(t.target_id, t.origin, t.article_id) for t in targets] == [
        (sentence(story, KILLED), "checkworthy", "own")
    ]


def test_user_claims_with_a_date_pair_with_articles_a_few_days_apart() -> None:
    corpus = corpus_of(
        article("near", f"{FOUR} {FAR}", story="s1", date="2024-06-26"),
        article("far", f"{FOUR} {FAR}", story="s2", date="2024-06-01"),
        article("undated", f"{FOUR} {FAR}", story="s3", date=None),
    )
    claim = {"claim_id": "toll", "text": KILLED, "date": "2024-06-27"}
    targets = targets_from(corpus, {}, [claim])
    assert [(t.target_id, t.origin, t.story_id, t.article_id) for t in targets] == [
        ("claim-toll", "user", None, None)
    ]
    pairs = pairs_of(corpus, targets, top_k=10, min_similarity=0.0)
    assert pairs and {p.task["article_id"] for p in pairs} == {"near"}
    assert pairs[0].task["text"] == FOUR


def test_user_claims_with_a_story_pair_within_it() -> None:
    corpus = corpus_of(
        article("a", f"{FOUR} {FAR}", story="s1"),
        article("b", f"{CLOSE} {MIDDLE}", story="s1"),
        article("c", f"{FOUR} {CLOSE}", story="s2"),
    )
    claim = {"claim_id": "toll", "text": KILLED, "story_id": "s1"}
    pairs = pairs_of(corpus, targets_from(corpus, {}, [claim]), top_k=10, min_similarity=0.0)
    assert {p.task["article_id"] for p in pairs} == {"a", "b"}
    assert pairs[0].task["text"] == FOUR
    assert pairs[0].task_data()["target_origin"] == "user"


def test_bad_user_claims_are_reported_with_file_line_and_reason(tmp_path: Path) -> None:
    lines = [
        json.dumps({"claim_id": "toll", "text": KILLED, "story_id": "s1"}),
        json.dumps({"claim_id": "no-text", "story_id": "s1"}),
        json.dumps({"claim_id": "nowhere", "text": KILLED}),
        json.dumps({"claim_id": "bad-date", "text": KILLED, "date": "2024-13-45"}),
        json.dumps({"claim_id": "toll", "text": FOUR, "date": "2024-06-26"}),
        '{"claim_id": "broken", ',
        json.dumps({"claim_id": "call", "text": MINISTERS, "date": "2024-06-27"}),
    ]
    path = tmp_path / "claims.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    loaded = load_user_claims(tmp_path)
    assert [c["claim_id"] for c in loaded.items] == ["toll", "call"]
    reasons = {}
    for problem in loaded.problems:
        assert problem.path == str(path)
        reasons.setdefault(problem.line, []).append(problem.reason)
    assert sorted(reasons) == [2, 3, 4, 5, 6]
    assert "'text' is a required property" in " ".join(reasons[2])
    assert reasons[3] == ["$: needs a story_id or a date (they say which articles to pair it with)"]
    assert reasons[4] == ["$.date: '2024-13-45' is not a 'date'"]
    assert "used twice" in " ".join(reasons[5]) and "line 1" in " ".join(reasons[5])
    assert "broken JSON" in " ".join(reasons[6])


def test_a_claim_or_story_id_with_a_trailing_newline_is_reported(tmp_path: Path) -> None:
    lines = [
        json.dumps({"claim_id": "toll\n", "text": KILLED, "story_id": "s1"}),
        json.dumps({"claim_id": "toll", "text": KILLED, "story_id": "s1\n"}),
        json.dumps({"claim_id": "call", "text": MINISTERS, "story_id": "s1"}),
    ]
    (tmp_path / "claims.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    loaded = load_user_claims(tmp_path)
    assert [c["claim_id"] for c in loaded.items] == ["call"]
    reasons = {p.line: p.reason for p in loaded.problems}
    assert sorted(reasons) == [1, 2]
    assert "$.claim_id" in reasons[1] and "$.story_id" in reasons[2]


def test_defaults_find_the_death_toll_and_the_ministers_pairs(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    for sample in SAMPLES:
        shutil.copy(sample, tmp_path / "raw" / sample.name)
    corpus = load_corpus(Settings(root=tmp_path))
    five, four, last_time, height = FIVE_KILLED, FOUR_KILLED, LAST_TIME, HEIGHT
    targets = targets_from(corpus, checkworthy(five, four, last_time), [])
    pairs = candidate_pairs(corpus, targets)
    assert (DEFAULT_STANCE_TOP_K, DEFAULT_STANCE_MIN_SIMILARITY) == (3, 0.12)
    ids = {p.pair_id for p in pairs}
    assert pair_id(five, four) in ids  # five killed / four civilians killed
    assert pair_id(four, five) in ids
    assert pair_id(last_time, height) in ids  # over a year ago / first time in over a year
    assert all(p.task["article_id"] != p.target.article_id for p in pairs)


def test_what_is_left_out_is_counted(story: Corpus) -> None:
    alone = corpus_of(article("alone", f"{KILLED} {FOUR}"))
    report = Report("stance")
    targets = targets_from(alone, checkworthy(sentence(alone, KILLED, "alone")), [])
    assert candidate_pairs(alone, targets, 10, 0.0, report) == []
    assert report.dropped == {"targets without a candidate in their story": 1}

    targets = targets_from(story, checkworthy(sentence(story, MINISTERS)), [])
    everything = candidate_pairs(story, targets, 10, 0.0)
    between = (everything[0].similarity + everything[1].similarity) / 2
    report = Report("stance")
    kept = candidate_pairs(story, targets, 10, between, report)
    assert len(kept) == 1
    assert report.dropped == {"top candidates below the similarity": len(everything) - 1}
