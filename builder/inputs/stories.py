"""Articles into stories and split groups: ids given by people win, ids once given stay, new
articles are clustered (story_cluster) into existing stories or new ones, state kept atomically."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from builder.core.atomic import write_json
from builder.core.graph import components
from builder.inputs.articles import Article, Loaded, Problem, iter_records
from builder.inputs.story_cluster import (
    UNDATED,
    Options,
    agglomerate,
    day_number,
    features,
    named_year,
    neighbour_edges,
    outlet_codes,
)

# The date window of a story (days). Stance pairs use it too: claims of one news cycle.
MAX_DAYS = Options().max_days
CORRECTIONS_FILE = "stories.jsonl"  # in raw/: a user's article -> story id corrections
STATE_VERSION = 2


@dataclass
class ReportedMerge:
    """Two stories that new evidence says are one event: both ids kept, one split group."""

    stories: tuple[str, str]
    similarity: float

    def to_dict(self) -> dict[str, Any]:
        return {"stories": list(self.stories), "similarity": round(self.similarity, 4)}


@dataclass
class StoryState:
    """What earlier runs decided: .builder/stories.json."""

    story_of: dict[str, str] = field(default_factory=dict)
    # Pairs of story ids that could be one event: their articles share a split group.
    links: list[tuple[str, str]] = field(default_factory=list)
    merges: list[ReportedMerge] = field(default_factory=list)
    # The least sure join inside each story (average similarity), for people to check.
    weakest: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "stories": self.story_of,
            "links": sorted([list(pair) for pair in set(self.links)]),
            "merges": [m.to_dict() for m in self.merges],
            "weakest": {k: round(v, 4) for k, v in sorted(self.weakest.items())},
        }


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


def _parse_state(data: Any) -> StoryState:
    if "version" not in data:  # the first layout: just article id -> story id
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise TypeError("not an article id -> story id map")
        return StoryState(story_of=dict(data))
    return StoryState(
        story_of=dict(data["stories"]),
        links=[(a, b) for a, b in data.get("links", [])],
        merges=[
            ReportedMerge((m["stories"][0], m["stories"][1]), m["similarity"])
            for m in data.get("merges", [])
        ],
        weakest=dict(data.get("weakest", {})),
    )


def load_state(path: Path, recover_from: Sequence[Path] = ()) -> StoryState:
    """The stories of earlier runs. A damaged file is set aside (kept) and the story ids are
    taken again from the tasks of the saved pulls (`recover_from`), which carry them."""
    if not path.is_file():
        return StoryState()
    try:
        return _parse_state(json.loads(path.read_bytes()))
    except (ValueError, TypeError, KeyError, AttributeError, IndexError):
        pass  # damaged or hand-edited: handled below, never a traceback
    aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
    path.replace(aside)
    recovered = _story_ids_of_tasks(recover_from)
    print(
        f"warning: {path} was damaged; kept as {aside.name}; the story ids of "
        f"{len(recovered)} article(s) were taken again from the saved pulls, the other "
        "articles' stories are clustered again",
        file=sys.stderr,
    )
    return StoryState(story_of=recovered)


def load_known(path: Path) -> dict[str, str]:
    """article id -> story id from earlier runs."""
    return load_state(path).story_of


def load_corrections(raw_dir: Path, article_ids: Iterable[str] | None = None) -> Loaded:
    """raw/stories.jsonl: one {"article_id", "story_id"} a line; bad lines become Problems."""
    loaded = Loaded()
    path = raw_dir / CORRECTIONS_FILE
    if not path.is_file():
        return loaded
    known = set(article_ids) if article_ids is not None else None
    seen: dict[str, tuple[str, int]] = {}
    for record, line in iter_records(path, loaded):
        reason = None
        extra = sorted(set(record) - {"article_id", "story_id"})
        article_id, story_id = record.get("article_id"), record.get("story_id")
        if not isinstance(article_id, str) or not article_id.strip():
            reason = 'needs "article_id", a non-empty string'
        elif not isinstance(story_id, str) or not story_id.strip():
            reason = 'needs "story_id", a non-empty string'
        elif extra:
            reason = f"unknown field(s) {', '.join(extra)}: only article_id and story_id"
        elif known is not None and article_id not in known:
            reason = f"no article {article_id!r} in raw/"
        elif article_id in seen and seen[article_id][0] != story_id:
            first, at = seen[article_id]
            reason = f"article {article_id!r} already put in story {first!r} at line {at}"
        if reason:
            loaded.problems.append(Problem(str(path), line, reason))
            continue
        seen[article_id] = (story_id, line)
    loaded.items = [(article_id, story) for article_id, (story, _) in seen.items()]
    return loaded


def new_story_id(member_ids: Sequence[str]) -> str:
    digest = hashlib.sha1(min(member_ids).encode("utf-8")).hexdigest()[:10]
    return f"story-{digest}"


@dataclass
class Assignment:
    story_of: dict[str, str]
    split_group_of: dict[str, str]
    state: StoryState
    new_merges: list[ReportedMerge]


def _candidates(days: np.ndarray, new: np.ndarray, max_days: int) -> np.ndarray:
    """The articles a new article could join: the new ones, the undated and those in a window."""
    if len(new) == 0:
        return new
    new_days = days[new]
    if (new_days == UNDATED).any():
        return np.arange(len(days))  # an undated article may belong to any story
    window = np.sort(new_days)
    spot = np.clip(np.searchsorted(window, days), 0, len(window) - 1)
    before = np.clip(spot - 1, 0, len(window) - 1)
    nearest = np.minimum(np.abs(window[spot] - days), np.abs(window[before] - days))
    near = (days == UNDATED) | (nearest <= max_days)
    near[new] = True
    return np.flatnonzero(near)


def group_ids(story_of: dict[str, str], links: Iterable[tuple[str, str]]) -> dict[str, str]:
    """article id -> split group: the stories joined by links, named by their smallest story id."""
    named = {node: group[0] for group in components(story_of.values(), links) for node in group}
    return {article: named[story] for article, story in story_of.items()}


def assign(
    articles: Sequence[Article],
    state: StoryState | None = None,
    corrections: dict[str, str] | None = None,
    options: Options | None = None,
) -> Assignment:
    """Stories and split groups of `articles`. A user's correction wins, then an article's own
    story_id, then the id an earlier run gave; only the rest is clustered (incrementally)."""
    options = options or Options()
    state = state or StoryState()
    corrections = corrections or {}
    given = {
        a.id: corrections.get(a.id) or a.story_id
        for a in articles
        if corrections.get(a.id) or a.story_id
    }
    fixed = [given.get(a.id) or state.story_of.get(a.id) for a in articles]
    new = np.array([i for i, label in enumerate(fixed) if label is None], dtype=np.int64)
    story_of = {a.id: label for a, label in zip(articles, fixed, strict=True) if label}
    links = list(state.links)
    merges: list[ReportedMerge] = []
    weakest = dict(state.weakest)
    if len(new):
        days = np.array([day_number(a.date) for a in articles], dtype=np.int64)
        chosen = _candidates(days, new, options.max_days)
        part = [articles[i] for i in chosen]
        matrix = features(part, options)
        years = np.array([named_year(a) for a in part], dtype=np.int64)
        # Every pair in the window counts, old ones too: a story's average is over all pairs.
        edges = neighbour_edges(
            matrix,
            days[chosen],
            options,
            floor=options.edge_floor,
            years=years,
            outlets=outlet_codes(part),
        )
        cap = max(options.min_cap, int(options.max_share * len(articles)))
        group_cap = int(options.max_share * len(articles))
        clustering = agglomerate(
            len(part), edges, [fixed[i] for i in chosen], options, cap=cap, group_cap=group_cap
        )
        members: dict[int, list[int]] = {}
        for local, root in enumerate(clustering.story_root):
            members.setdefault(root, []).append(local)
        story_of_root: dict[int, str] = {}
        for root, locals_ in members.items():
            labels = {fixed[chosen[k]] for k in locals_} - {None}
            # At most one label: two fixed stories are never joined, only reported.
            story_of_root[root] = (
                labels.pop() if labels else new_story_id([part[k].id for k in locals_])
            )
        for local, article in enumerate(part):
            story_of.setdefault(article.id, story_of_root[clustering.story_root[local]])
        by_group: dict[int, set[str]] = {}
        for local, root in enumerate(clustering.group_root):
            by_group.setdefault(root, set()).add(story_of_root[clustering.story_root[local]])
        for stories in by_group.values():
            ordered = sorted(stories)
            links += [(ordered[0], other) for other in ordered[1:]]
        found: dict[tuple[str, str], float] = {}
        for root, value in clustering.weakest.items():
            story = story_of_root[root]
            weakest[story] = min(weakest.get(story, 1.0), value)
        for merge in clustering.merges:
            a = story_of_root[clustering.story_root[merge.a]]
            b = story_of_root[clustering.story_root[merge.b]]
            if a != b:
                pair = (min(a, b), max(a, b))
                best = max(found.get(pair, 0.0), merge.similarity)
                found[pair] = best
                links.append(pair)  # one event, maybe: one split group, whatever the cap
        merges = [ReportedMerge(pair, value) for pair, value in sorted(found.items())]
    known = {**state.story_of, **story_of}
    reported = {m.stories: m for m in state.merges}
    reported.update({m.stories: m for m in merges})
    new_state = StoryState(
        story_of=known,
        links=sorted(set(links)),
        merges=sorted(reported.values(), key=lambda m: m.stories),
        weakest=weakest,
    )
    groups = group_ids(known, new_state.links)
    return Assignment(
        story_of=story_of,
        split_group_of={a.id: groups[a.id] for a in articles},
        state=new_state,
        new_merges=merges,
    )


def assign_stories(
    articles: Sequence[Article],
    known: dict[str, str] | None = None,
    options: Options | None = None,
) -> dict[str, str]:
    """article id -> story id. Input story ids win, then ids given in earlier runs (`known`)."""
    return assign(articles, StoryState(story_of=dict(known or {})), options=options).story_of


def stories_for(
    articles: Sequence[Article],
    state_path: Path,
    corrections: dict[str, str] | None = None,
    options: Options | None = None,
    recover_from: Sequence[Path] = (),
) -> Assignment:
    """Assign stories and remember them, so later runs keep every id already given."""
    state = load_state(state_path, recover_from)
    result = assign(articles, state, corrections, options)
    if result.state.to_dict() != state.to_dict() or not state_path.is_file():
        write_json(state_path, result.state.to_dict())
    return result


def load_stories(
    raw_dir: Path,
    state_dir: Path,
    articles: Sequence[Article],
    options: Options | None = None,
    recover_from: Sequence[Path] = (),
) -> tuple[Assignment, list[Problem]]:
    """The stories of raw/'s articles with the user's corrections; bad correction lines reported
    (and not applied, the rest are). `recover_from`: saved pulled tasks, which carry the story
    ids they were sent with, to rebuild a damaged state file."""
    corrections = load_corrections(raw_dir, [a.id for a in articles])
    result = stories_for(
        articles, state_dir / "stories.json", dict(corrections.items), options, recover_from
    )
    return result, corrections.problems
