"""The stories as people check them: size, dates, outlets, top terms, least sure joins, merges."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from builder.inputs.articles import Article
from builder.inputs.stories import Assignment

TERMS = 5


def top_terms(articles: Sequence[Article], story_of: dict[str, str]) -> dict[str, list[str]]:
    """Each story's highest summed TF-IDF terms: what it is about, at a glance."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not articles:
        return {}
    vectorizer = TfidfVectorizer(sublinear_tf=True, stop_words="english", max_features=50_000)
    try:
        matrix = vectorizer.fit_transform([a.text for a in articles]).tocsr()
    except ValueError:  # no words at all
        return {}
    vocabulary = vectorizer.get_feature_names_out()
    rows: dict[str, list[int]] = {}
    for i, article in enumerate(articles):
        rows.setdefault(story_of[article.id], []).append(i)
    terms = {}
    for story, members in rows.items():
        summed = np.asarray(matrix[members].sum(axis=0)).ravel()
        best = np.argsort(-summed, kind="stable")[:TERMS]
        terms[story] = [str(vocabulary[j]) for j in best if summed[j] > 0]
    return terms


def render_stories(articles: Sequence[Article], result: Assignment, top: int = 0) -> str:
    members: dict[str, list[Article]] = {}
    for article in articles:
        members.setdefault(result.story_of[article.id], []).append(article)
    groups = {result.split_group_of[a.id] for a in articles}
    undated = sum(1 for a in articles if not a.date)
    terms = top_terms(articles, result.story_of)
    weakest = result.state.weakest
    lines = [
        f"{len(articles)} articles ({undated} undated) in {len(members)} stories, "
        f"{len(groups)} split groups",
        "",
    ]
    order = sorted(members, key=lambda s: (-len(members[s]), s))
    for story in order[:top] if top else order:
        items = members[story]
        dates = sorted(a.date for a in items if a.date)
        span = f"{dates[0]} … {dates[-1]}" if dates else "undated"
        if dates and len(dates) < len(items):
            span += f" (+{len(items) - len(dates)} undated)"
        outlets = Counter(a.source for a in items if a.source)
        outlet_text = ", ".join(o for o, _ in outlets.most_common(3)) or "-"
        if len(outlets) > 3:
            outlet_text += f" (+{len(outlets) - 3})"
        group = result.split_group_of[items[0].id]
        sure = f"  least sure join {weakest[story]:.3f}" if story in weakest else ""
        lines.append(
            f"{story}  {len(items)} article(s)  {span}  outlets: {outlet_text}"
            + (f"  group {group}" if group != story else "")
            + sure
        )
        lines.append(f"    terms: {', '.join(terms.get(story, [])) or '-'}")
    shown = {s for s in members}
    least = sorted((v, s) for s, v in weakest.items() if s in shown)[:10]
    if least:
        lines += ["", "least sure stories (lowest average similarity at which they were joined):"]
        lines += [f"  {s}  {v:.3f}  {len(members[s])} article(s)" for v, s in least]
    merges = [m for m in result.state.merges if set(m.stories) <= shown]
    if merges:
        lines += ["", "stories that could be one event (both ids kept, one split group):"]
        lines += [
            f"  {a} + {b}  similarity {m.similarity:.3f}" for m in merges for a, b in [m.stories]
        ]
    return "\n".join(lines)
