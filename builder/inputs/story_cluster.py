"""Articles into event clusters: weighted TF-IDF evidence, a date window, sparse average linkage."""

from __future__ import annotations

import heapq
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
    group_threshold: float = 0.08
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
    # No story or split group grows past this share of the corpus (never below min_cap).
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
    block = 1024
    k = options.neighbours
    for start in range(0, len(wanted), block):
        chunk = wanted[start : start + block]
        chunk_days = days[chunk]
        if (chunk_days == UNDATED).any():
            columns = np.arange(n)  # an undated article may be any article's neighbour
        else:
            low = np.searchsorted(dated_days, chunk_days.min() - options.max_days, "left")
            high = np.searchsorted(dated_days, chunk_days.max() + options.max_days, "right")
            columns = np.concatenate([dated_order[low:high], undated])
        sims = (matrix[chunk] @ matrix[columns].T).toarray()
        # The hard window: pairs of dated articles too far apart do not count.
        col_days = days[columns]
        gap = np.abs(chunk_days[:, None] - col_days[None, :])
        dated_pair = (chunk_days[:, None] != UNDATED) & (col_days[None, :] != UNDATED)
        sims[dated_pair & (gap > options.max_days)] = 0.0
        if years is not None and options.year_slack is not None:
            # One side undated: compare years, the named one against the other's.
            row_years, col_years = years[chunk][:, None], years[columns][None, :]
            half = ~dated_pair & (row_years > 0) & (col_years > 0)
            far = np.abs(row_years - col_years) > options.year_slack
            one_dated = (chunk_days[:, None] != UNDATED) | (col_days[None, :] != UNDATED)
            sims[half & far & one_dated] = 0.0
        sims[chunk[:, None] == columns[None, :]] = 0.0
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


class _Sets:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def agglomerate(
    n: int,
    edges: tuple[np.ndarray, np.ndarray, np.ndarray],
    fixed: Sequence[str | None],
    options: Options,
    cap: int | None = None,
) -> Clustering:
    """Average linkage over a sparse similarity graph, a missing pair counting as 0.

    Articles with the same `fixed` label start as one cluster; two clusters that both carry a
    fixed label are never joined into one story (the merge is reported) but do share a group.
    Below `story_threshold` stories are frozen and merging goes on to `group_threshold` for the
    split groups only. Neither a story nor a group grows past the size cap.
    """
    if cap is None:
        cap = max(options.min_cap, int(options.max_share * n))
    stories = _Sets(n)
    groups = _Sets(n)
    label: dict[int, str | None] = {}
    first_of: dict[str, int] = {}
    for i, given in enumerate(fixed):
        if given is not None:
            if given in first_of:
                stories.union(first_of[given], i)
                groups.union(first_of[given], i)
            else:
                first_of[given] = i
    size: dict[int, int] = {}
    for i in range(n):
        root = stories.find(i)
        size[root] = size.get(root, 0) + 1
        if fixed[i] is not None:
            label[root] = fixed[i]
    # Cluster similarity sums: neighbours[c][d] = sum of the pair similarities between c and d.
    neighbours: dict[int, dict[int, float]] = {c: {} for c in size}
    for i, j, s in zip(edges[0].tolist(), edges[1].tolist(), edges[2].tolist(), strict=True):
        a, b = stories.find(i), stories.find(j)
        if a == b:
            continue
        neighbours[a][b] = neighbours[a].get(b, 0.0) + s
        neighbours[b][a] = neighbours[b].get(a, 0.0) + s
    version = dict.fromkeys(size, 0)
    heap: list[tuple[float, int, int, int, int]] = []
    for a, row in neighbours.items():
        for b, s in row.items():
            if a < b:
                heap.append((-s / (size[a] * size[b]), a, b, 0, 0))
    heapq.heapify(heap)
    merges: list[Merge] = []
    group_size = dict(size)
    frozen = False
    blocked: list[tuple[float, int, int, int, int]] = []
    while heap:
        entry = heapq.heappop(heap)
        negative, a, b, va, vb = entry
        if version.get(a) != va or version.get(b) != vb:
            continue  # stale: one side has changed since
        average = -negative
        if average < options.group_threshold:
            break
        if not frozen and average < options.story_threshold:
            frozen = True
            for item in blocked:  # fixed pairs held back join as groups now
                heapq.heappush(heap, item)
            blocked.clear()
            heapq.heappush(heap, entry)
            continue
        if not frozen and label.get(a) is not None and label.get(b) is not None:
            merges.append(Merge(a, b, average, applied=False))
            groups.union(a, b)
            blocked.append(entry)
            continue
        if frozen:
            ga, gb = groups.find(a), groups.find(b)
            if ga != gb and group_size[ga] + group_size[gb] <= cap:
                total = group_size[ga] + group_size[gb]
                groups.union(ga, gb)
                group_size[groups.find(ga)] = total
            if groups.find(a) != groups.find(b):
                continue
        elif size[a] + size[b] > cap:
            continue
        # Join b into a (the one with more neighbours keeps its dict, the cheaper update).
        if len(neighbours[a]) < len(neighbours[b]):
            a, b = b, a
        if not frozen:
            merges.append(Merge(a, b, average, applied=True))
            ga, gb = groups.find(a), groups.find(b)
            total = group_size[ga] + (group_size[gb] if ga != gb else 0)
            stories.union(a, b)
            groups.union(a, b)
            keep = stories.find(a)
            group_size[groups.find(a)] = total
        else:
            # After the freeze clusters still merge, but as groups only: track them on the side.
            keep = a
        row_a = neighbours[a]
        row_b = neighbours.pop(b)
        row_a.pop(b, None)
        for c, s in row_b.items():
            if c == a:
                continue
            row_a[c] = row_a.get(c, 0.0) + s
            row_c = neighbours[c]
            row_c.pop(b, None)
            row_c[a] = row_c.get(a, 0.0) + s
        new_size = size.pop(b) + size[a]
        merged_label = label.get(a) or label.get(b)
        label.pop(b, None)
        version.pop(b)
        if keep != a:  # the union-find picked b's index as the root: rename a to it
            neighbours[keep] = neighbours.pop(a)
            for c in neighbours[keep]:
                neighbours[c][keep] = neighbours[c].pop(a)
            size.pop(a)
            version.pop(a)
            label.pop(a, None)
            a = keep
        size[a] = new_size
        label[a] = merged_label
        version[a] = version.get(a, 0) + 1
        for c, s in neighbours[a].items():
            heapq.heappush(heap, (-s / (new_size * size[c]), a, c, version[a], version[c]))
    return Clustering(
        story_root=[stories.find(i) for i in range(n)],
        group_root=[groups.find(i) for i in range(n)],
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
