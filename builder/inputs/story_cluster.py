"""Articles into event clusters: weighted TF-IDF evidence, a date window, sparse average linkage."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
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
    lead_chars: int = 400
    body_ngrams: int = 1
    # An undated article is placed in the latest year its text names: a dated article more than
    # this many years from it is not evidence for it (None: undated articles have no window).
    year_slack: int | None = 1
    # Each article keeps its most similar neighbours only, so memory grows with n, not n².
    neighbours: int = 40
    # No story grows past this share of the corpus (never below min_cap articles); no split
    # group past it at all, so that whole groups can always be placed near the test share.
    max_share: float = 0.05
    min_cap: int = 50


# Capitalised words (runs of them, "Tara Reid") and numbers of two or more digits ("2008", "6.1").
NAMES = r"\b[A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+)*|\b\d[\d,.:]*\d\b"
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n")


def lead_of(article: Article, chars: int) -> str:
    """Title and the opening of the text: where a news article names its event."""
    head = article.text[:chars]
    return f"{article.title or ''}\n{head}"


YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")


def named_year(article: Article) -> int:
    """The latest year an undated article's text names (0 if none): a lower bound of its date."""
    if article.date:
        return int(article.date[:4])
    years = [int(y) for y in YEAR.findall(article.text)]
    return max(years) if years else 0


def day_number(value: str | None) -> int:
    return date.fromisoformat(value).toordinal() if value else UNDATED


def _view(texts: list[str], **kwargs: object) -> sparse.csr_matrix:
    from sklearn.feature_extraction.text import TfidfVectorizer  # slow to import: only if needed

    vectorizer = TfidfVectorizer(sublinear_tf=True, dtype=np.float32, **kwargs)  # type: ignore[arg-type]
    try:
        return vectorizer.fit_transform(texts).tocsr()
    except ValueError:  # empty vocabulary: no evidence of this kind in any text
        return sparse.csr_matrix((len(texts), 1), dtype=np.float32)


def features(articles: Sequence[Article], options: Options) -> sparse.csr_matrix:
    """One row per article, unit length, so that row · row is the weighted sum of the cosines."""
    texts = [a.text for a in articles]
    views = [
        (
            options.body_weight,
            _view(texts, stop_words="english", ngram_range=(1, options.body_ngrams)),
        ),
        (
            options.lead_weight,
            _view([lead_of(a, options.lead_chars) for a in articles], stop_words="english"),
        ),
        (options.names_weight, _view(texts, lowercase=False, token_pattern=NAMES)),
    ]
    total = sum(w for w, _ in views) or 1.0
    blocks = [m * np.float32(np.sqrt(w / total)) for w, m in views if w > 0]
    return sparse.hstack(blocks, format="csr", dtype=np.float32)


def neighbour_edges(
    matrix: sparse.csr_matrix,
    days: np.ndarray,
    options: Options,
    floor: float,
    rows: np.ndarray | None = None,
    years: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, similarity), i < j: each article's nearest neighbours in its date window.

    Only pairs within `max_days` (or with an undated side) are compared, a block of rows at a
    time, so no n × n matrix is ever held. With `rows`, only those articles' neighbours.
    """
    n = matrix.shape[0]
    order = np.argsort(days, kind="stable")
    sorted_days = days[order]
    undated = order[sorted_days == UNDATED]
    dated_order = order[sorted_days != UNDATED]
    dated_days = days[dated_order]
    wanted = np.arange(n) if rows is None else np.asarray(rows)
    wanted = wanted[np.argsort(days[wanted], kind="stable")]
    out_i: list[np.ndarray] = []
    out_j: list[np.ndarray] = []
    out_s: list[np.ndarray] = []
    # Dated rows are compared with their window; undated ones with everything, in blocks small
    # enough that a block's similarities stay near 4 million numbers.
    k = options.neighbours
    dated_rows = wanted[days[wanted] != UNDATED]
    undated_rows = wanted[days[wanted] == UNDATED]
    small = max(32, min(1024, 2**22 // max(n, 1)))
    chunks = [dated_rows[i : i + 1024] for i in range(0, len(dated_rows), 1024)]
    chunks += [undated_rows[i : i + small] for i in range(0, len(undated_rows), small)]
    for chunk in chunks:
        chunk_days = days[chunk]
        if (chunk_days == UNDATED).any():
            columns = np.arange(n)  # an undated article may be any article's neighbour
        else:
            low = np.searchsorted(dated_days, chunk_days.min() - options.max_days, "left")
            high = np.searchsorted(dated_days, chunk_days.max() + options.max_days, "right")
            columns = np.concatenate([dated_order[low:high], undated])
        sims = (matrix[chunk] @ matrix[columns].T).toarray()
        col_days = days[columns]
        dated_cols = int(np.count_nonzero(col_days != UNDATED))  # the dated come first, sorted
        if not (chunk_days == UNDATED).any():
            # The hard window, per row a range of the sorted dated columns.
            low = np.searchsorted(col_days[:dated_cols], chunk_days - options.max_days, "left")
            high = np.searchsorted(col_days[:dated_cols], chunk_days + options.max_days, "right")
            position = np.arange(sims.shape[1])
            outside = (position[None, :] < low[:, None]) | (position[None, :] >= high[:, None])
            outside[:, dated_cols:] = False
            sims[outside] = 0.0
            row_dated = np.ones(len(chunk), dtype=bool)
        else:
            row_dated = chunk_days != UNDATED  # all False: a chunk is dated or undated
        if years is not None and options.year_slack is not None:
            # One side undated: the years its text names must fit the other's year.
            row_years, col_years = years[chunk][:, None], years[columns][None, :]
            if row_dated.all():
                part = sims[:, dated_cols:]  # only the undated columns can clash
                far = np.abs(row_years - col_years[:, dated_cols:]) > options.year_slack
                part[far & (col_years[:, dated_cols:] > 0)] = 0.0
                sims[:, dated_cols:] = part
            else:
                col_dated = (col_days != UNDATED)[None, :]
                half = row_dated[:, None] != col_dated
                far = np.abs(row_years - col_years) > options.year_slack
                sims[half & far & (row_years > 0) & (col_years > 0)] = 0.0
        # An article is not its own neighbour.
        sorter = np.argsort(columns, kind="stable")
        spot = np.clip(np.searchsorted(columns, chunk, sorter=sorter), 0, len(columns) - 1)
        mine = sorter[spot]
        hit = columns[mine] == chunk
        sims[np.flatnonzero(hit), mine[hit]] = 0.0
        if sims.shape[1] > k:
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        else:
            top = np.broadcast_to(np.arange(sims.shape[1]), sims.shape)
        values = np.take_along_axis(sims, top, axis=1)
        keep = values >= floor
        i = np.broadcast_to(chunk[:, None], top.shape)[keep]
        j = columns[top[keep]]
        out_i.append(i)
        out_j.append(j)
        out_s.append(values[keep])
    if not out_i:
        empty = np.array([], dtype=np.int64)
        return empty, empty, np.array([], dtype=np.float32)
    i = np.concatenate(out_i)
    j = np.concatenate(out_j)
    s = np.concatenate(out_s)
    low, high = np.minimum(i, j), np.maximum(i, j)
    # A pair found from both sides is one edge.
    pairs, first = np.unique(low.astype(np.int64) * n + high, return_index=True)
    return pairs // n, pairs % n, s[first]


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
    merges: list[Merge] = field(default_factory=list)


def _rounds(
    graph: sparse.csr_matrix,
    size: np.ndarray,
    labeled: np.ndarray,
    rep: np.ndarray,
    threshold: float,
    cap: int,
    keep_labeled_apart: bool,
) -> tuple[np.ndarray, sparse.csr_matrix, np.ndarray, np.ndarray, np.ndarray, list[Merge]]:
    """Average linkage by rounds of reciprocal best pairs, all merged at once (reducibility makes
    that the same as one pair at a time), the cluster graph shrinking each round.

    `graph` holds the similarity sums between clusters, so a pair's average is its sum over the
    product of the sizes, and a pair without an edge has average 0. Returns each input cluster's
    new cluster, and the new graph, sizes, labeled flags and representatives (smallest article).
    """
    k = graph.shape[0]
    member = np.arange(k)
    merges: list[Merge] = []
    while graph.nnz:
        coo = graph.tocoo()
        r, c = coo.row, coo.col
        average = coo.data / (size[r] * size[c])
        ok = (r != c) & (average >= threshold) & (size[r] + size[c] <= cap)
        if keep_labeled_apart:
            ok &= ~(labeled[r] & labeled[c])
        r, c, average = r[ok], c[ok], average[ok]
        if not len(r):
            break
        order = np.lexsort((rep[c], -average, r))  # each row's best first, ties to the older
        r, c, average = r[order], c[order], average[order]
        first = np.ones(len(r), dtype=bool)
        first[1:] = r[1:] != r[:-1]
        best = np.full(len(size), -1, dtype=np.int64)
        best_avg = np.zeros(len(size))
        best[r[first]] = c[first]
        best_avg[r[first]] = average[first]
        rows = r[first]
        pair = rows[(best[best[rows]] == rows) & (rows < best[rows])]
        if not len(pair):
            break
        merges += [
            Merge(int(rep[a]), int(rep[b]), float(best_avg[a]), applied=True)
            for a, b in zip(pair.tolist(), best[pair].tolist(), strict=True)
        ]
        target = np.arange(len(size))
        target[best[pair]] = pair
        _, new = np.unique(target, return_inverse=True)
        m = int(new.max()) + 1
        project = sparse.csr_matrix(
            (np.ones(len(new), dtype=np.float64), (np.arange(len(new)), new)), shape=(len(new), m)
        )
        graph = (project.T @ graph @ project).tocsr()
        graph.setdiag(0)
        graph.eliminate_zeros()
        size = np.bincount(new, weights=size, minlength=m)
        labeled = np.bincount(new, weights=labeled, minlength=m) > 0
        new_rep = np.full(m, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(new_rep, new, rep)
        rep = new_rep
        member = new[member]
    return member, graph, size, labeled, rep, merges


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
    _, start = np.unique(start, return_inverse=True)
    k = int(start.max()) + 1
    i, j, s = edges
    pairs = sparse.csr_matrix(
        (
            np.concatenate([s, s]).astype(np.float64),
            (np.concatenate([i, j]), np.concatenate([j, i])),
        ),
        shape=(n, n),
    )
    project = sparse.csr_matrix((np.ones(n), (np.arange(n), start)), shape=(n, k))
    graph = (project.T @ pairs @ project).tocsr()
    graph.setdiag(0)
    graph.eliminate_zeros()
    size = np.bincount(start, minlength=k).astype(np.float64)
    labeled = np.zeros(k, dtype=bool)
    labeled[start[[i for i, given in enumerate(fixed) if given is not None]]] = True
    rep = np.full(k, n, dtype=np.int64)
    np.minimum.at(rep, start, np.arange(n))
    story, graph, size, labeled, rep, merges = _rounds(
        graph, size, labeled, rep, options.story_threshold, cap, keep_labeled_apart=True
    )
    # Labeled stories the evidence would have joined: reported, never applied.
    coo = graph.tocoo()
    average = coo.data / (size[coo.row] * size[coo.col])
    held = (coo.row < coo.col) & labeled[coo.row] & labeled[coo.col]
    held &= average >= options.story_threshold
    merges += [
        Merge(int(rep[a]), int(rep[b]), float(v), applied=False)
        for a, b, v in zip(coo.row[held], coo.col[held], average[held], strict=True)
    ]
    story_rep = rep
    group, _, _, _, group_rep, _ = _rounds(
        graph, size, labeled, rep, options.group_threshold, group_cap, keep_labeled_apart=False
    )
    story_of_start = story[start]
    return Clustering(
        story_root=story_rep[story_of_start].tolist(),
        group_root=group_rep[group[story_of_start]].tolist(),
        merges=merges,
    )


@dataclass
class Result:
    story: dict[str, int]  # article id -> story representative index
    group: dict[str, int]
    clustering: Clustering


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
    edges = neighbour_edges(matrix, days, options, floor=options.group_threshold / 2, years=years)
    clustering = agglomerate(n, edges, fixed, options)
    return Result(
        {a.id: clustering.story_root[i] for i, a in enumerate(articles)},
        {a.id: clustering.group_root[i] for i, a in enumerate(articles)},
        clustering,
    )
