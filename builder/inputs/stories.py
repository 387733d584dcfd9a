"""Articles into stories: given story ids kept, the rest clustered by date and TF-IDF similarity."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from builder.core.atomic import write_json
from builder.inputs.articles import Article

# Two articles within MAX_DAYS of each other whose texts reach MIN_SIMILARITY tell one story.
MAX_DAYS = 3
MIN_SIMILARITY = 0.2


def _days_apart(a: str | None, b: str | None) -> int:
    if not a or not b:
        return 0  # An undated article may join a story on text alone.
    return abs((date.fromisoformat(a) - date.fromisoformat(b)).days)


def similar_pairs(
    articles: Sequence[Article],
    min_similarity: float = MIN_SIMILARITY,
    only: Sequence[int] | None = None,
) -> list[tuple[int, int]]:
    """Index pairs (i, j), i < j, of articles close in date whose texts are similar.

    With `only`, just the pairs that involve one of those articles (the ones without a story
    yet): the others keep theirs, so comparing them again would change nothing.
    """
    if len(articles) < 2 or (only is not None and not only):
        return []
    from sklearn.feature_extraction.text import TfidfVectorizer  # slow to import: only if needed

    vectorizer = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=1)
    matrix = vectorizer.fit_transform([a.text for a in articles])
    rows = list(range(len(articles))) if only is None else list(only)
    # Rows are L2-normalised, so the product is the cosine.
    similarity = (matrix[rows] @ matrix.T).tocoo()
    keep = similarity.data >= min_similarity  # filter in numpy before any Python loop
    pairs = set()
    for r, j in zip(similarity.row[keep], similarity.col[keep], strict=True):
        i, j = rows[int(r)], int(j)
        if i != j and _days_apart(articles[i].date, articles[j].date) <= MAX_DAYS:
            pairs.add((min(i, j), max(i, j)))
    return sorted(pairs)


def _new_story_id(member_ids: Sequence[str]) -> str:
    digest = hashlib.sha1(min(member_ids).encode("utf-8")).hexdigest()[:10]
    return f"story-{digest}"


def assign_stories(
    articles: Sequence[Article],
    known: dict[str, str] | None = None,
    min_similarity: float = MIN_SIMILARITY,
) -> dict[str, str]:
    """article id -> story id. Input story ids win, then ids given in earlier runs (`known`)."""
    known = dict(known or {})
    parent = list(range(len(articles)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    free = [i for i, a in enumerate(articles) if not a.story_id and a.id not in known]
    for i, j in similar_pairs(articles, min_similarity, only=free):
        parent[find(i)] = find(j)
    # Articles whose story is given in the input are joined by that id too.
    by_given: dict[str, int] = {}
    for i, article in enumerate(articles):
        if article.story_id:
            if article.story_id in by_given:
                parent[find(i)] = find(by_given[article.story_id])
            by_given[article.story_id] = i

    groups: dict[int, list[int]] = {}
    for i in range(len(articles)):
        groups.setdefault(find(i), []).append(i)

    result: dict[str, str] = {}
    for members in groups.values():
        ids = [articles[i].id for i in members]
        # A new member joins the story its group already has: the id most of its members carry.
        existing = Counter(
            articles[i].story_id or known[articles[i].id]
            for i in members
            if articles[i].story_id or articles[i].id in known
        )
        fallback = (
            min(existing, key=lambda s: (-existing[s], s)) if existing else _new_story_id(ids)
        )
        for i in members:
            article = articles[i]
            # An id once given stays: a given or earlier id is never replaced.
            result[article.id] = article.story_id or known.get(article.id) or fallback
    return result


def _story_ids_of_tasks(paths: Sequence[Path]) -> dict[str, str]:
    """article id -> story id, as the tasks sent to Label Studio carried them."""
    found: dict[str, str] = {}
    for path in paths:
        try:
            tasks = json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue
        for task in tasks if isinstance(tasks, list) else []:
            data = task.get("data") if isinstance(task, dict) else None
            if isinstance(data, dict) and data.get("article_id") and data.get("story_id"):
                found.setdefault(str(data["article_id"]), str(data["story_id"]))
    return found


def load_known(path: Path, recover_from: Sequence[Path] = ()) -> dict[str, str]:
    """The story ids given in earlier runs. A damaged file is set aside (kept) and the ids are
    taken again from the tasks of the saved pulls (`recover_from`), which carry them."""
    if not path.is_file():
        return {}
    known: Any = None
    with contextlib.suppress(ValueError):  # a damaged file is handled below, as a wrong one
        known = json.loads(path.read_bytes())
    if isinstance(known, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in known.items()
    ):
        return known
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
    path.replace(aside)
    recovered = _story_ids_of_tasks(recover_from)
    print(
        f"warning: {path} was damaged; kept as {aside.name}; the story ids of "
        f"{len(recovered)} article(s) were taken again from the saved pulls, the other "
        "articles' stories are clustered again",
        file=sys.stderr,
    )
    return recovered


def stories_for(
    articles: Sequence[Article], state_path: Path, recover_from: Sequence[Path] = ()
) -> dict[str, str]:
    """Assign stories and remember them, so later runs keep every id already given."""
    known = load_known(state_path, recover_from)
    assigned = assign_stories(articles, known)
    merged = {**known, **assigned}
    if merged != known:
        write_json(state_path, merged)
    return assigned
