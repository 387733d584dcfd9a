"""Corpus into Label Studio task payloads for the claims project (a pure step)."""

from __future__ import annotations

from typing import Any

from builder.core.projects import CLAIMS
from builder.inputs.articles import Article
from builder.inputs.corpus import LABELED_KINDS, Corpus
from builder.inputs.sentences import Sentence


def article_meta(article: Article) -> str:
    outlet = article.source or "outlet not given"
    when = article.date or "date not given"
    return f"{outlet} · {when} · article {article.id}"


def headline_of(article: Article, sentences: list[Sentence]) -> str:
    if article.title:
        return article.title
    return next((s.text for s in sentences if s.kind == "headline"), "(no headline)")


def claim_tasks(corpus: Corpus) -> list[dict[str, Any]]:
    """One task per labelable sentence, boilerplate left out, in corpus order."""
    tasks = []
    for article_id, article in corpus.articles.items():
        sentences = corpus.sentences[article_id]
        labeled = [s for s in sentences if s.kind in LABELED_KINDS]
        headline = headline_of(article, sentences)
        for index, sentence in enumerate(labeled):
            before = labeled[index - 1].text if index > 0 else "(start of article)"
            after = labeled[index + 1].text if index + 1 < len(labeled) else "(end of article)"
            tasks.append(
                CLAIMS.task(
                    sentence_id=sentence.sentence_id,
                    article_id=article_id,
                    story_id=corpus.story_of[article_id],
                    kind=sentence.kind,
                    text=sentence.text,
                    headline=headline,
                    meta=article_meta(article),
                    before=before,
                    after=after,
                    source=article.source or "",
                    date=article.date or "",
                    language=article.language,
                )
            )
    return tasks
