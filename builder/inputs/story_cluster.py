"""Articles into event clusters: weighted TF-IDF evidence, a date window, sparse average linkage."""

from __future__ import annotations

import gc
import re
from array import array
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy import sparse

from builder.inputs.articles import Article

UNDATED = -1  # the day number of an article without a date


@dataclass(frozen=True)
class Options:
    """How articles become stories. The defaults were chosen on half of ECB+'s topics (README)."""

    # Average similarity (over every pair of members) at which two clusters are one story.
    story_threshold: float = 0.15
    # A looser average at which two clusters COULD be one event: they share a split group.
    group_threshold: float = 0.01
    # Two dated articles further apart than this are never evidence for one another.
    max_days: int = 7
    # Weights of the evidence, each a cosine: whole text, title and lead, names and numbers.
    body_weight: float = 0.5
    lead_weight: float = 0.25
    names_weight: float = 0.5
    # The lead: the title and this many first words of the text (stop words not counted).
    lead_words: int = 30
    # A term in more than max(common_floor, common_share × articles) articles names no event
    # ("said", "people", a sentence's first word): it is left out of the evidence. That is also
    # what keeps the comparison sparse: two articles are compared only through the rarer terms
    # they share, never each with every other article of its window.
    common_share: float = 0.01
    common_floor: int = 100
    # Same outlet, same day: a factor on the similarity (1: no evidence either way; below 1:
    # an outlet rarely covers one event twice a day). Measured on ECB+ (README): left at 1.
    same_outlet_day: float = 1.0
    # An undated article is placed in the latest year its text names: a dated article more than
    # this many years from it is not evidence for it (None: undated articles have no window).
    year_slack: int | None = 1
    # Each article keeps its most similar neighbours only, so memory grows with n, not n²; and
    # of those only the pairs at least this similar (a weaker pair is no evidence of one event).
    neighbours: int = 40
    edge_floor: float = 0.02
    # No story grows past this share of the corpus (never below min_cap articles); no split
    # group past it at all, so that whole groups can always be placed near the test share.
    max_share: float = 0.05
    min_cap: int = 50


# Capitalised words (runs of them, "Tara Reid") and numbers of two or more digits ("2008", "6.1").
# Written to start with a character class (and the word boundary as a look-behind), which re
# scans for fast: the same matches as r"\b[A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+)*|\b\d[\d,.:]*\d\b".
NAMES = re.compile(
    r"[A-Z0-9](?<!\w[A-Z0-9])(?:(?<=[A-Z])[\w'’-]+(?:\s+[A-Z][\w'’-]+)*|(?<=\d)[\d,.:]*\d\b)"
)
# Words as scikit-learn's TfidfVectorizer finds them: its r"(?u)\b\w\w+\b" finds the same
# maximal runs of two or more word characters.
WORD = re.compile(r"\w\w+")
YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
# The three kinds of evidence share one vocabulary, told apart by a first character.
LEAD, NAME = "\x01", "\x02"


def named_year(article: Article) -> int:
    """The latest year an undated article's text names (0 if none): a lower bound of its date."""
    if article.date:
        return int(article.date[:4])
    years = [int(y) for y in YEAR.findall(article.text)]
    return max(years) if years else 0


def day_number(value: str | None) -> int:
    return date.fromisoformat(value).toordinal() if value else UNDATED


def features(articles: Sequence[Article], options: Options) -> sparse.csr_matrix:
    """One row per article, unit length, so that row · row is the weighted sum of the cosines
    of the three kinds of evidence (whole text, lead, names), common terms left out.

    One pass over each text finds all three kinds (they share one vocabulary, told apart by a
    first character); the words are found as scikit-learn's TfidfVectorizer finds them with
    English stop words, and its TfidfTransformer weighs them."""
    from scipy import sparse  # imported here: every command loads this module
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS as stop
    from sklearn.feature_extraction.text import TfidfTransformer

    n = len(articles)
    vocabulary: defaultdict[str, int] = defaultdict()
    vocabulary.default_factory = vocabulary.__len__  # a new term: the next column
    columns, counts, ends = array("q"), array("f"), array("q", [0])
    collecting = gc.isenabled()
    gc.disable()  # the loop makes no reference cycles; collections would walk the corpus
    try:
        for article in articles:
            words = [w for w in WORD.findall(article.text.lower()) if w not in stop]
            title = [w for w in WORD.findall((article.title or "").lower()) if w not in stop]
            bag = Counter(words)
            bag.update([LEAD + w for w in title + words[: options.lead_words]])
            bag.update([NAME + name for name in NAMES.findall(article.text)])
            columns.extend(map(vocabulary.__getitem__, bag))
            counts.extend(bag.values())
            ends.append(len(columns))
    finally:
        if collecting:
            gc.enable()
    if not vocabulary:  # no term in any article
        return sparse.csr_matrix((n, 1), dtype=np.float32)
    matrix = sparse.csr_matrix(
        (
            np.frombuffer(counts, dtype=np.float32),
            np.frombuffer(columns, dtype=np.int64),
            np.frombuffer(ends, dtype=np.int64),
        ),
        shape=(n, len(vocabulary)),
    ).tocsc()
    kind = np.zeros(len(vocabulary), dtype=np.int8)
    for term, column in vocabulary.items():
        kind[column] = 1 if term[0] == LEAD else 2 if term[0] == NAME else 0
    in_articles = np.diff(matrix.indptr)  # CSC: the articles of each term
    common = in_articles > max(options.common_floor, options.common_share * n)
    weights = (options.body_weight, options.lead_weight, options.names_weight)
    total = sum(weights) or 1.0
    blocks = []
    for k, weight in enumerate(weights):
        chosen = np.flatnonzero((kind == k) & ~common)
        if weight <= 0 or not len(chosen):
            continue
        view = TfidfTransformer(sublinear_tf=True).fit_transform(matrix[:, chosen].tocsr())
        blocks.append(view.astype(np.float32) * np.float32(np.sqrt(weight / total)))
    if not blocks:
        return sparse.csr_matrix((n, 1), dtype=np.float32)
    return sparse.hstack(blocks, format="csr", dtype=np.float32)


def _top_per_row(
    rows: np.ndarray, values: np.ndarray, k: int, n_rows: int, by_row: bool = False
) -> np.ndarray:
    """Indices of the entries among each row's k largest values (and any equal to the k-th).

    `rows` < 65,536: the sort by row is numpy's radix sort; a row's k-th value is found by
    partitioning a padded block of rows, never by sorting the values. `by_row`: the entries
    already come row by row."""
    if by_row:
        order = np.arange(len(rows))
    else:
        order = np.argsort(rows.astype(np.uint16), kind="stable")
        rows, values = rows[order], values[order]
    counts = np.bincount(rows, minlength=n_rows)
    if counts.max(initial=0) <= k:
        return order
    starts = np.cumsum(counts) - counts
    kth = np.full(n_rows, -np.inf, dtype=np.float32)
    width = int(counts.max())
    step = max(1, 2**20 // width)  # rows per padded block: about a million numbers
    for first in range(0, n_rows, step):
        last = min(first + step, n_rows)
        lo, hi = starts[first], starts[last - 1] + counts[last - 1]
        padded = np.full((last - first, width), -np.inf, dtype=np.float32)
        at = np.arange(lo, hi)
        padded[rows[lo:hi] - first, at - starts[rows[lo:hi]]] = values[lo:hi]
        kth[first:last] = -np.partition(-padded, k - 1, axis=1)[:, k - 1]
    return order[values >= kth[rows]]


def neighbour_edges(
    matrix: sparse.csr_matrix,
    days: np.ndarray,
    options: Options,
    floor: float,
    rows: np.ndarray | None = None,
    years: np.ndarray | None = None,
    outlets: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, similarity), i < j: each article's nearest neighbours in its date window.

    The similarities are sparse products of a block of rows with the rows of its window (all
    rows for an undated block), so only pairs that share a term are ever held: never an n × n
    matrix, nor a block × window one. With `rows`, only those articles' neighbours. `outlets`:
    an outlet code per article (-1 none), for `same_outlet_day`.
    """
    n = matrix.shape[0]
    empty = np.array([], dtype=np.int64)
    if n == 0:
        return empty, empty, np.array([], dtype=np.float32)
    dated = days != UNDATED
    # Dated articles by day, then the undated: a dated block's window is one slice of rows.
    order = np.argsort(np.where(dated, days, np.iinfo(np.int64).max), kind="stable")
    ordered = matrix[order]
    sorted_days = days[order]
    n_dated = int(np.count_nonzero(dated))
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    wanted = np.sort(position[np.asarray(rows, dtype=np.int64)]) if rows is not None else None
    if wanted is None:
        wanted = np.arange(n)
    block = 1024
    chunks = [wanted[i : i + block] for i in range(0, len(wanted), block)]
    # A block is all dated or all undated (the dated come first in the order).
    chunks = [
        part
        for chunk in chunks
        for part in np.split(chunk, [np.searchsorted(chunk, n_dated)])
        if len(part)
    ]
    check_years = years is not None and options.year_slack is not None
    sorted_years = years[order] if years is not None else None
    sorted_outlets = outlets[order] if outlets is not None else None
    out_i: list[np.ndarray] = []
    out_j: list[np.ndarray] = []
    out_s: list[np.ndarray] = []
    k = options.neighbours
    transposed: dict[tuple[int, int], sparse.csr_matrix] = {}

    def right(a: int, b: int) -> sparse.csr_matrix:
        """The window's rows as columns; the spans every block shares are made once."""
        if (a, b) in transposed:
            return transposed[a, b]
        made = ordered[a:b].T.tocsr()
        if b == n:  # (n_dated, n) and (0, n): the undated, or all
            transposed[a, b] = made
        return made

    for chunk in chunks:
        chunk_dated = chunk[0] < n_dated
        if chunk_dated:
            low = np.searchsorted(sorted_days[:n_dated], sorted_days[chunk[0]] - options.max_days)
            high = np.searchsorted(
                sorted_days[:n_dated], sorted_days[chunk[-1]] + options.max_days, "right"
            )
            spans = [(low, high), (n_dated, n)]
        else:
            spans = [(0, n)]  # an undated article may be any article's neighbour
        left = ordered[chunk]
        found_r, found_j, found_s = [], [], []
        for a, b in spans:
            if b <= a:
                continue
            product = (left @ right(a, b)).tocoo()
            weak = product.data < floor  # most pairs share a rare word or two: dropped first
            r, col, s = product.row[~weak], product.col[~weak], product.data[~weak]
            # Tests on the block's rows (a small array) and on columns, not on both days.
            keep = col != (chunk - a)[r]
            if chunk_dated and a < n_dated:  # both dated: the hard window, per pair
                window = sorted_days[a:b]
                row_days = sorted_days[chunk]
                first = np.searchsorted(window, row_days - options.max_days)
                last = np.searchsorted(window, row_days + options.max_days, "right")
                keep &= (col >= first[r]) & (col < last[r])
            r, col, s = r[keep], col[keep], s[keep]
            j = col.astype(np.int64) + a
            if check_years and not (chunk_dated and a < n_dated):
                # One side undated: the years its text names must fit the other's.
                i = chunk[r]
                yi, yj = sorted_years[i], sorted_years[j]  # type: ignore[index]
                one_dated = (sorted_days[i] != UNDATED) != (sorted_days[j] != UNDATED)
                fits = ~(one_dated & (np.abs(yi - yj) > options.year_slack) & (yi > 0) & (yj > 0))
                r, j, s = r[fits], j[fits], s[fits]
            found_r.append(r)
            found_j.append(j)
            found_s.append(s)
        r, j, s = np.concatenate(found_r), np.concatenate(found_j), np.concatenate(found_s)
        i = chunk[r]
        if sorted_outlets is not None and options.same_outlet_day != 1.0:
            same = (sorted_outlets[i] >= 0) & (sorted_outlets[i] == sorted_outlets[j])
            same &= (sorted_days[i] == sorted_days[j]) & (sorted_days[i] != UNDATED)
            s = np.where(same, s * np.float32(options.same_outlet_day), s)
        # One product's entries come row by row; two products' need sorting by row.
        top = _top_per_row(r, s, k, len(chunk), by_row=len(found_r) == 1)
        out_i.append(i[top])
        out_j.append(j[top])
        out_s.append(s[top])
    if not sum(len(part) for part in out_i):
        return empty, empty, np.array([], dtype=np.float32)
    i = order[np.concatenate(out_i)]
    j = order[np.concatenate(out_j)]
    s = np.concatenate(out_s)
    low, high = np.minimum(i, j), np.maximum(i, j)
    # A pair found from both sides is one edge (either side's similarity: the same number).
    keys = low.astype(np.int64) * n + high
    bits = max(1, (len(keys) - 1).bit_length())
    if (n * n).bit_length() + bits <= 62:  # sort the keys with their index packed in: faster
        packed = np.sort((keys << bits) | np.arange(len(keys)))
        by_key, keys = packed & ((1 << bits) - 1), packed >> bits
    else:
        by_key = np.argsort(keys)
        keys = keys[by_key]
    first = np.r_[True, keys[1:] != keys[:-1]]
    pairs = keys[first]
    return pairs // n, pairs % n, s[by_key[first]]


@dataclass
class Merge:
    """Two clusters joined (or, between two fixed stories, only reported) at this average."""

    a: int  # an article index of each side
    b: int
    similarity: float
    applied: bool


@dataclass
class Clustering:
    story_root: list[int]  # article index -> representative article index of its story
    group_root: list[int]  # article index -> representative of its split group
    merges: list[Merge] = field(default_factory=list)  # between fixed stories: reported only
    # story representative -> the least average at which two of its parts were joined
    weakest: dict[int, float] = field(default_factory=dict)


def _graph(rows: np.ndarray, cols: np.ndarray, sums: np.ndarray, k: int) -> sparse.csr_matrix:
    """The symmetric cluster graph: both directions, duplicates summed, no self pairs, each
    row's columns in order (the first of equal averages is then the oldest cluster)."""
    from scipy import sparse  # imported here: every command loads this module

    keep = rows != cols
    graph = sparse.csr_matrix((sums[keep], (rows[keep], cols[keep])), shape=(k, k))
    graph.sum_duplicates()
    return graph


def _rounds(
    graph: sparse.csr_matrix,
    size: np.ndarray,
    labeled: np.ndarray,
    rep: np.ndarray,
    threshold: float,
    cap: int,
    keep_labeled_apart: bool,
) -> tuple[np.ndarray, sparse.csr_matrix, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Average linkage by rounds of reciprocal best pairs, all merged at once (reducibility makes
    that the same as one pair at a time), the cluster graph shrinking each round.

    `graph` holds the similarity sums between clusters, so a pair's average is its sum over the
    product of the sizes, and a pair without an edge has average 0. Clusters are numbered in
    the order of their representatives (smallest article), and stay so. Returns each input
    cluster's new cluster, and the new graph, sizes, labeled flags and representatives, and
    each join as (representative of one side, average).
    """
    k = graph.shape[0]
    member = np.arange(k)
    joins: list[np.ndarray] = []
    while graph.nnz:
        r = np.repeat(np.arange(graph.shape[0]), np.diff(graph.indptr))
        c = graph.indices
        average = graph.data / (size[r] * size[c])
        ok = (average >= threshold) & (size[r] + size[c] <= cap)
        if keep_labeled_apart:
            ok &= ~(labeled[r] & labeled[c])
        if not ok.any():
            break
        rr, cc, aa = r[ok], c[ok], average[ok]
        # Each row's best: its highest average, of equal ones the first (oldest) column. Rows
        # come in order (CSR), so a row's entries are one run.
        starts = np.flatnonzero(np.r_[True, rr[1:] != rr[:-1]])
        lengths = np.diff(np.r_[starts, len(rr)])
        top = np.repeat(np.maximum.reduceat(aa, starts), lengths)
        hits = np.flatnonzero(aa == top)
        first = hits[np.r_[True, rr[hits][1:] != rr[hits][:-1]]]
        best = np.full(len(size), -1, dtype=np.int64)
        best_avg = np.zeros(len(size))
        best[rr[first]] = cc[first]
        best_avg[rr[first]] = aa[first]
        rows = rr[first]
        pair = rows[(best[best[rows]] == rows) & (rows < best[rows])]
        if not len(pair):
            break
        joins.append(np.stack([rep[pair].astype(np.float64), best_avg[pair]], axis=1))
        target = np.arange(len(size))
        target[best[pair]] = pair
        _, new = np.unique(target, return_inverse=True)
        m = int(new.max()) + 1
        graph = _graph(new[r], new[c], graph.data, m)
        size = np.bincount(new, weights=size, minlength=m)
        labeled = np.bincount(new, weights=labeled, minlength=m) > 0
        new_rep = np.full(m, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(new_rep, new, rep)
        rep = new_rep
        member = new[member]
    joined = np.concatenate(joins) if joins else np.zeros((0, 2))
    return member, graph, size, labeled, rep, joined


def agglomerate(
    n: int,
    edges: tuple[np.ndarray, np.ndarray, np.ndarray],
    fixed: Sequence[str | None],
    options: Options,
    cap: int | None = None,
    group_cap: int | None = None,
) -> Clustering:
    """Average linkage over a sparse similarity graph, a missing pair counting as 0.

    Articles with the same `fixed` label start as one cluster; two clusters that both carry a
    fixed label are never joined into one story (the merge is reported) but do share a group.
    Stories stop at `story_threshold`; from them, merging goes on to `group_threshold` for the
    split groups only. Neither a story nor a group grows past the size cap.
    """
    if cap is None:
        cap = max(options.min_cap, int(options.max_share * n))
    if group_cap is None:
        group_cap = int(options.max_share * n)
    if n == 0:
        return Clustering([], [])
    first: dict[str, int] = {}
    start = np.arange(n)
    for i, given in enumerate(fixed):
        if given is not None:
            start[i] = first.setdefault(given, i)
    # Clusters numbered by their first article: the order _rounds keeps.
    _, start = np.unique(start, return_inverse=True)
    k = int(start.max()) + 1
    i, j, s = edges
    sums = np.concatenate([s, s]).astype(np.float64)
    graph = _graph(start[np.concatenate([i, j])], start[np.concatenate([j, i])], sums, k)
    size = np.bincount(start, minlength=k).astype(np.float64)
    labeled = np.zeros(k, dtype=bool)
    labeled[start[[i for i, given in enumerate(fixed) if given is not None]]] = True
    rep = np.full(k, n, dtype=np.int64)
    np.minimum.at(rep, start, np.arange(n))
    story, graph, size, labeled, rep, joined = _rounds(
        graph, size, labeled, rep, options.story_threshold, cap, keep_labeled_apart=True
    )
    # Labeled stories the evidence would have joined: reported, never applied.
    coo = graph.tocoo()
    average = coo.data / (size[coo.row] * size[coo.col])
    held = (coo.row < coo.col) & labeled[coo.row] & labeled[coo.col]
    held &= average >= options.story_threshold
    merges = [
        Merge(int(rep[a]), int(rep[b]), float(v), applied=False)
        for a, b, v in zip(coo.row[held], coo.col[held], average[held], strict=True)
    ]
    story_rep = rep
    group, _, _, _, group_rep, _ = _rounds(
        graph, size, labeled, rep, options.group_threshold, group_cap, keep_labeled_apart=False
    )
    story_of_start = story[start]
    story_root = story_rep[story_of_start]
    # The least sure join of each story, for people to check.
    least = np.full(n, np.inf)
    np.minimum.at(least, story_root[joined[:, 0].astype(np.int64)], joined[:, 1])
    weakest = {int(r): float(least[r]) for r in np.flatnonzero(np.isfinite(least))}
    return Clustering(
        story_root=story_root.tolist(),
        group_root=group_rep[group[story_of_start]].tolist(),
        merges=merges,
        weakest=weakest,
    )


@dataclass
class Result:
    story: dict[str, int]  # article id -> story representative index
    group: dict[str, int]
    clustering: Clustering


def outlet_codes(articles: Sequence[Article]) -> np.ndarray:
    """An integer per article's outlet (`source`), -1 for none."""
    codes: dict[str, int] = {}
    return np.array(
        [codes.setdefault(a.source, len(codes)) if a.source else -1 for a in articles],
        dtype=np.int64,
    )


def cluster_articles(
    articles: Sequence[Article], options: Options, fixed: Sequence[str | None] | None = None
) -> Result:
    """Cluster these articles from scratch (fixed labels kept)."""
    n = len(articles)
    fixed = list(fixed) if fixed is not None else [None] * n
    if n == 0:
        return Result({}, {}, Clustering([], []))
    matrix = features(articles, options)
    days = np.array([day_number(a.date) for a in articles], dtype=np.int64)
    years = np.array([named_year(a) for a in articles], dtype=np.int64)
    edges = neighbour_edges(
        matrix,
        days,
        options,
        floor=options.edge_floor,
        years=years,
        outlets=outlet_codes(articles),
    )
    clustering = agglomerate(n, edges, fixed, options)
    return Result(
        {a.id: clustering.story_root[i] for i, a in enumerate(articles)},
        {a.id: clustering.group_root[i] for i, a in enumerate(articles)},
        clustering,
    )
