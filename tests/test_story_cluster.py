"""The story clustering's parts: the sparse neighbour search against a full comparison, no n × n
matrix, common terms left out, outlet evidence, the word patterns, average linkage itself."""

from __future__ import annotations

import random
import re
import tracemalloc
from dataclasses import replace

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from builder.inputs.articles import Article
from builder.inputs.stories import assign
from builder.inputs.story_cluster import (
    NAMES,
    UNDATED,
    WORD,
    Options,
    agglomerate,
    day_number,
    features,
    named_year,
    neighbour_edges,
    outlet_codes,
)

VOCABULARY = [f"w{i}x" for i in range(3000)]


def corpus(n: int, seed: int = 3, days: int = 30, undated: float = 0.2) -> list[Article]:
    """News-like articles: events of 3-12 articles with their own names and words, written with
    a shared vocabulary; some undated, some naming a year."""
    rng = random.Random(seed)
    out: list[Article] = []
    event = 0
    while len(out) < n:
        event += 1
        names = [f"Name{event}a", f"Place{event}b"]
        words = rng.sample(VOCABULARY[100:], 6)
        day = rng.randrange(days)
        for _ in range(min(rng.randint(3, 12), n - len(out))):
            text = " ".join(
                rng.choices(VOCABULARY[:100], k=30) + rng.choices(words, k=8) + names
            ) + (f" In {2020 + event % 5}." if rng.random() < 0.3 else "")
            dated = rng.random() >= undated
            date = f"2024-06-{1 + min(29, day + rng.randint(0, 2)):02d}" if dated else None
            out.append(
                Article(
                    id=f"e{event}-{len(out)}",
                    text=text,
                    path="test",
                    date=date,
                    source=f"outlet{rng.randrange(4)}",
                )
            )
    return out


def full_comparison(
    articles: list[Article], options: Options, floor: float
) -> dict[tuple[int, int], float]:
    """Every pair the rules allow, from the whole similarity matrix (small n only): the window,
    the year of undated articles, the floor, each side's top `neighbours`."""
    matrix = features(articles, options)
    sims = (matrix @ matrix.T).toarray()
    days = np.array([day_number(a.date) for a in articles])
    years = np.array([named_year(a) for a in articles])
    n = len(articles)
    allowed = np.ones((n, n), dtype=bool)
    np.fill_diagonal(allowed, False)
    dated = days != UNDATED
    both = dated[:, None] & dated[None, :]
    allowed &= ~(both & (np.abs(days[:, None] - days[None, :]) > options.max_days))
    one = dated[:, None] != dated[None, :]
    far = np.abs(years[:, None] - years[None, :]) > (options.year_slack or 0)
    allowed &= ~(one & far & (years[:, None] > 0) & (years[None, :] > 0))
    allowed &= sims >= floor
    kept: dict[tuple[int, int], float] = {}
    for i in range(n):
        candidates = np.flatnonzero(allowed[i])
        best = candidates[np.argsort(-sims[i, candidates], kind="stable")][: options.neighbours]
        for j in best:
            kept[min(i, j), max(i, j)] = float(sims[i, j])
    return kept


def edges_of(
    articles: list[Article], options: Options, floor: float
) -> dict[tuple[int, int], float]:
    i, j, s = neighbour_edges(
        features(articles, options),
        np.array([day_number(a.date) for a in articles]),
        options,
        floor,
        years=np.array([named_year(a) for a in articles]),
    )
    return {(int(a), int(b)): float(v) for a, b, v in zip(i, j, s, strict=True)}


@pytest.mark.parametrize("neighbours", [1000, 5])
def test_the_sparse_search_keeps_every_pair_a_full_comparison_keeps(neighbours: int) -> None:
    # Blocks of rows against their window, only pairs sharing a term: the same pairs and
    # similarities as comparing every article with every other.
    articles = corpus(300)
    options = replace(Options(), neighbours=neighbours)
    found = edges_of(articles, options, options.edge_floor)
    expected = full_comparison(articles, options, options.edge_floor)
    if neighbours >= len(articles):
        assert found.keys() == expected.keys()
    else:
        # A row's k-th similarity may tie: the sparse search keeps every tie, so it holds all
        # the full comparison's pairs, and a tie's extra pairs at most.
        assert expected.keys() <= found.keys()
    assert len(found) > 500  # the corpus is not trivially sparse
    for pair, value in expected.items():
        assert found[pair] == pytest.approx(value, abs=1e-5)


def test_only_some_rows_neighbours_are_searched() -> None:
    # With `rows` (new articles), their own neighbours: every pair of theirs the whole search
    # finds (all neighbours kept), and no other.
    articles = corpus(200)
    options = replace(Options(), neighbours=1000)
    matrix = features(articles, options)
    days = np.array([day_number(a.date) for a in articles])
    years = np.array([named_year(a) for a in articles])
    rows = np.array([3, 50, 51, 120])
    i, j, _ = neighbour_edges(matrix, days, options, options.edge_floor, rows=rows, years=years)
    every = edges_of(articles, options, options.edge_floor)
    mine = {pair for pair in every if pair[0] in rows or pair[1] in rows}
    assert mine and {(int(a), int(b)) for a, b in zip(i, j, strict=True)} == mine


def peak_bytes(articles: list[Article], options: Options) -> int:
    tracemalloc.start()
    try:
        result = assign(articles, options=options)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(set(result.story_of.values())) > len(articles) / 20
    return peak


@pytest.mark.parametrize("undated", [0.2, 1.0])
def test_no_n_by_n_matrix_is_ever_held(undated: float) -> None:
    # The whole clustering (features, neighbours, average linkage) of twice the articles takes
    # about twice the memory, not four times; and far less than one n × n float32 matrix, even
    # when no article has a date (every article then in every window). Ten neighbours each,
    # so that both sizes keep as many per article (with 40, the smaller corpus has fewer).
    n = 3000
    options = replace(Options(), neighbours=10)
    small = peak_bytes(corpus(n, seed=5, days=60, undated=undated), options)
    large = peak_bytes(corpus(2 * n, seed=5, days=120, undated=undated), options)
    assert large < 2.5 * small, (small, large)
    assert large < (2 * n) ** 2 * 4 / 4, f"peak {large / 1e6:.0f} MB for {2 * n} articles"


def test_a_term_in_too_many_articles_is_no_evidence() -> None:
    # 150 articles share "harbour" (common) and two share "zeppelin" too; alone, "harbour"
    # would join every pair of them.
    filler = [f"text{i}" for i in range(150)]
    articles = [
        Article(id=f"a{i}", text=f"harbour {word} {word}q {word}r", path="t", date=None)
        for i, word in enumerate(filler)
    ]
    articles[0] = replace(articles[0], text=articles[0].text + " zeppelin")
    articles[1] = replace(articles[1], text=articles[1].text + " zeppelin")
    options = replace(Options(), names_weight=0.0, lead_weight=0.0)
    found = edges_of(articles, options, 0.001)
    assert set(found) == {(0, 1)}
    counted = edges_of(articles, replace(options, common_floor=1000), 0.001)
    assert len(counted) > 1000


def test_same_outlet_same_day_is_evidence_only_when_asked() -> None:
    text = (
        "Flooding closed the Danube bridge at Linz on Monday; the mayor Anna Berger said repairs "
        "would take weeks and the ferry would run in the meantime."
    )
    articles = [
        Article(id="x1", text=text, path="t", date="2024-05-06", source="linz.example"),
        Article(
            id="x2", text=text + " Updated.", path="t", date="2024-05-06", source="linz.example"
        ),
    ]
    assert len(set(assign(articles).story_of.values())) == 1
    apart = assign(articles, options=replace(Options(), same_outlet_day=0.0))
    assert len(set(apart.story_of.values())) == 2
    # Another outlet, or another day, is not affected.
    other = [articles[0], replace(articles[1], source="wien.example")]
    assert (
        len(set(assign(other, options=replace(Options(), same_outlet_day=0.0)).story_of.values()))
        == 1
    )
    assert outlet_codes([*articles, replace(articles[0], source=None)]).tolist() == [0, 0, -1]


def test_the_fast_patterns_find_what_the_reference_patterns_find() -> None:
    from sklearn.feature_extraction.text import CountVectorizer

    texts = [
        "Tara Reid's rehab: the 6.1 quake hit at 9:53 on 2008-03-14, Gov. O'Neill said.",
        "a bc d éé ñ x_y 1 22 _ __ ÀB Çd naïve 3,400 people",
        "Lindsay Lohan entered rehab; 'US Open' 2013 — NYPD's 12th precinct. 5 42.",
    ]
    reference_names = re.compile(r"\b[A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+)*|\b\d[\d,.:]*\d\b")
    tokenize = CountVectorizer().build_tokenizer()
    for text in texts:
        assert NAMES.findall(text) == reference_names.findall(text)
        assert WORD.findall(text.lower()) == tokenize(text.lower())


def test_the_rounds_are_average_linkage() -> None:
    # Every pair present: the stories must be scipy's average linkage cut at the threshold.
    rng = np.random.default_rng(4)
    n = 60
    points = rng.normal(size=(n, 5)) + np.repeat(rng.normal(scale=3, size=(8, 5)), 8, axis=0)[:n]
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    sims = np.clip(points @ points.T, 0, 1)
    i, j = np.triu_indices(n, 1)
    options = replace(Options(), story_threshold=0.6, max_share=1.0, min_cap=n)
    clustering = agglomerate(n, (i, j, sims[i, j]), [None] * n, options)
    distance = squareform(1 - sims, checks=False)
    expected = fcluster(linkage(distance, "average"), t=1 - 0.6, criterion="distance")
    ours: dict[int, set[int]] = {}
    theirs: dict[int, set[int]] = {}
    for k in range(n):
        ours.setdefault(clustering.story_root[k], set()).add(k)
        theirs.setdefault(int(expected[k]), set()).add(k)
    assert sorted(map(sorted, ours.values())) == sorted(map(sorted, theirs.values()))
    assert 3 < len(ours) < n
