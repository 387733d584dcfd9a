"""Articles into sentences: paragraph, line and kind logic, exact offsets, content-derived ids.

The splitter's own rules are tested elsewhere; here the sample articles pin what sentences.py
makes of them, and small hand-written articles pin the paragraph/line/kind logic.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.inputs.articles import Article, load_article_files
from builder.inputs.sentences import KINDS, Sentence, sentence_id, split_article, split_articles

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "raw").glob("*.txt"))


@pytest.fixture(scope="module")
def samples() -> list[Article]:
    loaded = load_article_files(SAMPLES)
    assert loaded.problems == [] and len(loaded.items) == 2
    return loaded.items


@pytest.fixture(scope="module")
def sample_sentences(samples: list[Article]) -> dict[str, list[Sentence]]:
    return split_articles(samples)


def article(text: str, article_id: str = "a1", language: str = "en") -> Article:
    return Article(id=article_id, text=text, path="test", language=language)


def kinds_and_texts(text: str) -> list[tuple[str, str]]:
    return [(s.kind, s.text) for s in split_article(article(text))]


# The sample articles -----------------------------------------------------------------------


def test_every_sentence_round_trips_to_the_article_text(
    samples: list[Article], sample_sentences: dict[str, list[Sentence]]
) -> None:
    for art in samples:
        sentences = sample_sentences[art.id]
        assert sentences
        for index, sentence in enumerate(sentences):
            assert art.text[sentence.start : sentence.end] == sentence.text
            assert sentence.text == sentence.text.strip() and sentence.text
            assert sentence.index == index
            assert sentence.article_id == art.id
            assert sentence.kind in KINDS
        ends = [(s.start, s.end) for s in sentences]
        assert ends == sorted(ends)
        assert all(a[1] <= b[0] for a, b in zip(ends, ends[1:], strict=False))


def test_no_text_of_a_sample_is_lost_between_sentences(
    samples: list[Article], sample_sentences: dict[str, list[Sentence]]
) -> None:
    for art in samples:
        covered = "".join(s.text for s in sample_sentences[art.id])
        assert "".join(covered.split()) == "".join(art.text.split())


def test_last_updated_line_is_boilerplate(
    samples: list[Article], sample_sentences: dict[str, list[Sentence]]
) -> None:
    first = sample_sentences[samples[0].id][0]
    assert first.text == "This article was last updated on June 26, 2024"
    assert first.kind == "boilerplate"
    assert [s for s in sample_sentences[samples[0].id] if s.kind == "boilerplate"] == [first]


def test_headline_is_its_own_unit(
    samples: list[Article], sample_sentences: dict[str, list[Sentence]]
) -> None:
    headline = "America and Russia call for the first time after a year about war in Ukraine"
    matches = [s for s in sample_sentences[samples[0].id] if headline in s.text]
    assert [(s.kind, s.text) for s in matches] == [("headline", headline)]


def test_illegal_annexation_is_a_subheading_of_its_own(
    samples: list[Article], sample_sentences: dict[str, list[Sentence]]
) -> None:
    matches = [s for s in sample_sentences[samples[0].id] if "Illegal annexation" in s.text]
    assert [(s.kind, s.text) for s in matches] == [("subheading", "Illegal annexation")]


def test_the_second_sample_has_only_body_sentences(
    samples: list[Article], sample_sentences: dict[str, list[Sentence]]
) -> None:
    assert {s.kind for s in sample_sentences[samples[1].id]} == {"body"}


def test_double_period_ends_one_sentence_with_no_stray_dot(
    sample_sentences: dict[str, list[Sentence]],
) -> None:
    everything = [s for sentences in sample_sentences.values() for s in sentences]
    ending = [s for s in everything if "initiative." in s.text]
    assert len(ending) == 1
    assert ending[0].text.endswith("which took place on an American initiative..")
    assert ending[0].text.startswith("According to Russia")
    following = everything[everything.index(ending[0]) + 1]
    assert following.text.startswith("No clarification was given")
    assert all(s.text.strip(". ") for s in everything), "a sentence made only of dots"


def test_no_boundary_inside_russiawhich(sample_sentences: dict[str, list[Sentence]]) -> None:
    everything = [s for sentences in sample_sentences.values() for s in sentences]
    (sentence,) = [s for s in everything if "Russiawhich" in s.text]
    assert sentence.text.startswith("At the height of tensions between the US and Russiawhich")
    assert "spoke on the phone for the first time in over a year" in sentence.text


def test_no_boundary_between_at_the_attack_and_on_sunday(
    sample_sentences: dict[str, list[Sentence]],
) -> None:
    everything = [s for sentences in sample_sentences.values() for s in sentences]
    assert not [s for s in everything if s.text == "At the attack"]
    (sentence,) = [s for s in everything if s.text.startswith("At the attack")]
    assert sentence.text == (
        "At the attack On Sunday, five people were killed, according to the local government."
    )


def test_curly_closing_quotes_stay_with_their_sentence(
    sample_sentences: dict[str, list[Sentence]],
) -> None:
    everything = [s for sentences in sample_sentences.values() for s in sentences]
    assert not [s.text for s in everything if s.text[0] in "”’"]
    closing = [s.text for s in everything if s.text.endswith(".”")]
    assert "The Kremlin blamed the United States and threatened “consequences.”" in closing
    assert any(t.endswith("“the importance of open lines of communication.”") for t in closing)


# Paragraphs, lines and kinds --------------------------------------------------------------


def test_hard_wrapped_paragraph_is_not_cut_at_line_ends() -> None:
    text = (
        "Budget talks stall\n"
        "\n"
        "The minister said on Monday that the\n"
        "budget would grow by five percent next\n"
        "year, according to the report. Critics said\n"
        "the plan was too vague.\n"
    )
    assert kinds_and_texts(text) == [
        ("headline", "Budget talks stall"),
        (
            "body",
            "The minister said on Monday that the\nbudget would grow by five percent next\n"
            "year, according to the report.",
        ),
        ("body", "Critics said\nthe plan was too vague."),
    ]


def test_hard_wrapped_first_paragraph_is_not_taken_for_a_title() -> None:
    text = (
        "The minister said on Monday that the\n"
        "budget would grow by five percent next\n"
        "year, according to the report.\n"
    )
    assert kinds_and_texts(text) == [("body", text.strip())]


def test_a_title_line_directly_above_the_body_is_a_headline() -> None:
    text = "Budget talks stall\nThe minister said on Monday that the budget would grow."
    assert kinds_and_texts(text) == [
        ("headline", "Budget talks stall"),
        ("body", "The minister said on Monday that the budget would grow."),
    ]


def test_short_unpunctuated_lines_later_are_subheadings() -> None:
    text = "Main headline\n\nFirst body sentence.\n\nA section title\n\nMore body text here."
    assert kinds_and_texts(text) == [
        ("headline", "Main headline"),
        ("body", "First body sentence."),
        ("subheading", "A section title"),
        ("body", "More body text here."),
    ]


def test_a_long_line_without_a_final_stop_is_body() -> None:
    long_line = " ".join(["word"] * 25)
    text = f"Headline\n\nFirst sentence.\n\n{long_line}"
    assert kinds_and_texts(text)[-1] == ("body", long_line)


def test_a_line_ending_in_a_question_mark_is_body() -> None:
    text = "Headline\n\nWhat will Moscow do next?"
    assert kinds_and_texts(text)[-1] == ("body", "What will Moscow do next?")


def test_boilerplate_lines_are_kept_with_their_kind() -> None:
    text = (
        "Published on June 3, 2024\n"
        "\n"
        "Headline words\n"
        "\n"
        "Body sentence one.\n"
        "\n"
        "Read more: other stories\n"
    )
    assert kinds_and_texts(text) == [
        ("boilerplate", "Published on June 3, 2024"),
        ("headline", "Headline words"),
        ("body", "Body sentence one."),
        ("boilerplate", "Read more: other stories"),
    ]


def test_offsets_round_trip_with_windows_line_endings_and_indentation() -> None:
    text = "  Headline here\r\n\r\n   The first sentence. The second one!\r\n\r\n\tLast one?\r\n"
    art = article(text)
    sentences = split_article(art)
    assert [s.kind for s in sentences] == ["headline", "body", "body", "body"]
    for s in sentences:
        assert text[s.start : s.end] == s.text
        assert "\r" not in s.text and s.text == s.text.strip()


def test_whitespace_between_paragraphs_with_spaces_still_separates_them() -> None:
    text = "Headline\n   \nFirst sentence.\n \t \nSecond paragraph sentence."
    assert [t for _, t in kinds_and_texts(text)] == [
        "Headline",
        "First sentence.",
        "Second paragraph sentence.",
    ]


def test_language_is_passed_to_the_splitter(monkeypatch: pytest.MonkeyPatch) -> None:
    import builder.inputs.sentences as sentences

    seen = []

    def fake_split(text: str, language: str) -> list[tuple[int, int]]:
        seen.append(language)
        return [(0, len(text))]

    monkeypatch.setattr(sentences, "split_spans", fake_split)
    split_article(article("Heading\n\nEin Satz. Noch einer.", language="de"))
    assert seen == ["de"]


# sentence ids -------------------------------------------------------------------------------

BASE = (
    "Budget talks stall\n\n"
    "The minister spoke on Monday. Critics were not convinced. The vote is on Friday.\n\n"
    "A second paragraph follows here."
)


def test_editing_one_sentence_keeps_every_other_id() -> None:
    before = split_article(article(BASE))
    edited = BASE.replace("Critics were not convinced.", "Critics were, once more, unconvinced.")
    after = split_article(article(edited))
    assert len(before) == len(after) == 5
    changed = [i for i, (b, a) in enumerate(zip(before, after, strict=True)) if b.text != a.text]
    assert changed == [2]
    for b, a in zip(before, after, strict=True):
        if b.text == a.text:
            assert b.sentence_id == a.sentence_id
        else:
            assert b.sentence_id != a.sentence_id


def test_inserting_a_sentence_keeps_the_other_ids() -> None:
    before = {s.text: s.sentence_id for s in split_article(article(BASE))}
    edited = BASE.replace("Budget talks stall\n\n", "Budget talks stall\n\nA new opening line.\n\n")
    after = {s.text: s.sentence_id for s in split_article(article(edited))}
    assert set(after) - set(before) == {"A new opening line."}
    assert all(after[text] == sid for text, sid in before.items())


def test_a_repeated_sentence_gets_a_distinct_id() -> None:
    text = "Title\n\nThe vote is on Friday. Nothing else. The vote is on Friday."
    sentences = split_article(article(text))
    repeated = [s for s in sentences if s.text == "The vote is on Friday."]
    assert len(repeated) == 2
    assert repeated[0].sentence_id != repeated[1].sentence_id
    assert repeated[1].sentence_id == repeated[0].sentence_id + "-2"
    assert len({s.sentence_id for s in sentences}) == len(sentences)


def test_ids_are_stable_across_runs_and_derive_from_content() -> None:
    first = [s.sentence_id for s in split_article(article(BASE))]
    second = [s.sentence_id for s in split_article(article(BASE))]
    assert first == second
    assert first[1] == sentence_id("a1", "The minister spoke on Monday.", 1)
    # Pinned, so a change of the hashing (which would orphan every annotation) is noticed.
    assert (
        sentence_id("a1", "The minister spoke on Monday.", 1)
        == "a1-" + __import__("hashlib").sha1(b"The minister spoke on Monday.").hexdigest()[:12]
    )


def test_ids_carry_the_article_id_so_articles_never_share_one() -> None:
    a = split_article(article(BASE, "first"))
    b = split_article(article(BASE, "second"))
    assert all(s.sentence_id.startswith("first-") for s in a)
    assert not {s.sentence_id for s in a} & {s.sentence_id for s in b}


def test_sentence_id_folds_whitespace_only() -> None:
    assert sentence_id("a", "One  two\nthree.", 1) == sentence_id("a", "One two three.", 1)
    assert sentence_id("a", "One two three.", 1) != sentence_id("a", "One two three!", 1)
    assert sentence_id("a", "Same.", 3).endswith("-3")


def test_to_dict_has_the_record_fields() -> None:
    (sentence,) = split_article(article("Only one sentence."))
    assert sentence.to_dict() == {
        "article_id": "a1",
        "sentence_id": sentence.sentence_id,
        "index": 0,
        "kind": "body",
        "start": 0,
        "end": 18,
        "text": "Only one sentence.",
    }
