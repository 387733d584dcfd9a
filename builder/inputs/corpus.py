"""raw/ into the corpus: checked articles, their sentences, stories and control items."""

from __future__ import annotations

from dataclasses import dataclass, field

from builder.core.config import RECORDS_DIR, Settings
from builder.inputs.articles import Article, Problem, load_articles
from builder.inputs.controls import load_controls
from builder.inputs.sentences import Sentence, split_article
from builder.inputs.stories import ReportedMerge, load_stories

# The kinds of sentence annotators label; boilerplate is kept in the text, never labeled.
LABELED_KINDS = ("headline", "subheading", "body")


@dataclass
class Corpus:
    articles: dict[str, Article]
    sentences: dict[str, list[Sentence]]
    story_of: dict[str, str]
    problems: list[Problem] = field(default_factory=list)
    # article id -> split group: articles that could be one event share one, across stories too,
    # so a split by group never puts one event in both train and test (splits use this, not
    # story_of). A group holds whole stories; by default a story is its own group.
    split_group_of: dict[str, str] = field(default_factory=dict)
    # Stories this run's evidence says are one event: both ids kept, one split group.
    story_merges: list[ReportedMerge] = field(default_factory=list)
    controls: dict[str, str] = field(default_factory=dict)  # sentence id -> known claim label

    def all_sentences(self) -> list[Sentence]:
        return [s for article_id in self.articles for s in self.sentences[article_id]]

    def labeled_sentence_ids(self) -> set[str]:
        """The ids of the sentences that become claim tasks."""
        return {s.sentence_id for s in self.all_sentences() if s.kind in LABELED_KINDS}


def load_corpus(settings: Settings, controls: bool = False) -> Corpus:
    """Read, check, split and group every article of raw/ (and, if asked, raw/controls.jsonl);
    bad input is kept as problems."""
    loaded = load_articles(settings.raw_dir)
    articles = {a.id: a for a in loaded.items}
    sentences = {a.id: split_article(a) for a in loaded.items}
    # The pulled tasks carry the story ids they were sent with: they can rebuild a damaged
    # stories.json (read as plain files: this stage knows nothing of Label Studio).
    pulled = sorted((settings.exports_dir / RECORDS_DIR).glob("*.tasks.json"))
    stories, problems = load_stories(
        settings.raw_dir, settings.state_dir, loaded.items, recover_from=pulled
    )
    corpus = Corpus(
        articles,
        sentences,
        stories.story_of,
        loaded.problems + problems,
        split_group_of=stories.split_group_of,
        story_merges=stories.new_merges,
    )
    if controls:
        corpus.controls, problems = load_controls(settings.raw_dir, corpus.labeled_sentence_ids())
        corpus.problems = corpus.problems + problems
    return corpus
