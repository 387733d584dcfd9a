"""Articles into sentences: paragraphs, then lines, then sentences, with exact character offsets."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

from builder.inputs.articles import Article
from builder.inputs.segment import split_spans

KINDS = ("headline", "subheading", "body", "boilerplate")

LINE = re.compile(r"[^\n]+")
PARAGRAPH = re.compile(r"\S.*?(?=\n[^\S\n]*\n|\Z)", re.DOTALL)
CLOSING_PUNCTUATION = tuple(".!?…:;\"'”’»)]")
# A heading is short; a long line without a final stop is a body sentence that lost its period.
MAX_HEADING_WORDS = 20
BOILERPLATE = re.compile(
    r"^\s*(this (article|story|page) (was|has been) (last )?(updated|published|modified)"
    r"|(last )?updated( on|:)"
    r"|published( on|:)"
    r"|read (more|also)\b"
    r"|sign up\b"
    r"|subscribe\b"
    r"|(©|copyright\b)"
    r"|all rights reserved"
    r"|share (this|on)\b"
    r"|follow us\b)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Sentence:
    article_id: str
    sentence_id: str
    index: int
    kind: str
    start: int
    end: int
    text: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _is_heading(line: str) -> bool:
    return not line.endswith(CLOSING_PUNCTUATION) and len(line.split()) <= MAX_HEADING_WORDS


# A line ending in one of these words runs on into the next line: it is wrapped, not a title.
_RUN_ON = (
    "a an the of to in on at for from by with and or but nor that which who whom whose as than "
    "is are was were be been has have had will would can could should may might must not its "
    "their his her our your my this these those"
)
RUN_ON_WORDS = frozenset(_RUN_ON.split())


def _wrapped(first: str, following: str) -> bool:
    """Whether `following` continues the sentence of the line `first` (hard-wrapped text)."""
    words = first.split()
    last = words[-1].lower() if words else ""
    return following[:1].islower() or first.endswith((",", "-", "–")) or last in RUN_ON_WORDS


def _lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans = []
    for match in LINE.finditer(text, start, end):
        s, e = _strip_span(text, match.start(), match.end())
        if s < e:
            spans.append((s, e))
    return spans


def units(text: str, language: str = "en") -> Iterator[tuple[str, int, int]]:
    """(kind, start, end) for every unit of an article's text, in order.

    A paragraph of one line may be a heading; in a longer paragraph only leading boilerplate and,
    at the top of the article, a title line (one the next line does not continue) are peeled off,
    and the rest is one body block, so hard-wrapped text is not cut at its line ends.
    """
    seen_content = False
    for paragraph in PARAGRAPH.finditer(text):
        lines = _lines(text, paragraph.start(), paragraph.end())
        while lines and BOILERPLATE.match(text[lines[0][0] : lines[0][1]]):
            yield "boilerplate", *lines.pop(0)
        if not lines:
            continue
        first = text[lines[0][0] : lines[0][1]]
        title = len(lines) == 1 or (
            not seen_content and not _wrapped(first, text[lines[1][0] : lines[1][1]])
        )
        if _is_heading(first) and title:
            yield ("subheading" if seen_content else "headline"), *lines.pop(0)
            seen_content = True
        if not lines:
            continue
        seen_content = True
        block_start, block_end = lines[0][0], lines[-1][1]
        for s, e in split_spans(text[block_start:block_end], language):
            yield "body", block_start + s, block_start + e


def sentence_id(article_id: str, text: str, occurrence: int) -> str:
    """From content: the article id, a hash of the sentence (spaces folded), its repeat number."""
    normalized = " ".join(text.split())
    digest = hashlib.sha1(normalized.encode("utf-8")).hexdigest()[:12]
    return f"{article_id}-{digest}" if occurrence == 1 else f"{article_id}-{digest}-{occurrence}"


def split_article(article: Article) -> list[Sentence]:
    """Every sentence of one article, boilerplate included (it is kept but never labeled)."""
    sentences = []
    occurrences: Counter[str] = Counter()
    for index, (kind, start, end) in enumerate(units(article.text, article.language)):
        text = article.text[start:end]
        key = " ".join(text.split())
        occurrences[key] += 1
        sentences.append(
            Sentence(
                article_id=article.id,
                sentence_id=sentence_id(article.id, text, occurrences[key]),
                index=index,
                kind=kind,
                start=start,
                end=end,
                text=text,
            )
        )
    return sentences


def split_articles(articles: Iterable[Article]) -> dict[str, list[Sentence]]:
    return {article.id: split_article(article) for article in articles}
