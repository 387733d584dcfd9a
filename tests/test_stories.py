"""Articles into stories: given ids win, similar articles close in date are one story, ids stay."""

from __future__ import annotations

import json
import os
from pathlib import Path

from builder.inputs.articles import Article, load_article_files
from builder.inputs.stories import assign_stories, stories_for

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "raw").glob("*.txt"))

FOOTBALL = (
    "Arsenal beat Chelsea three goals to one at the Emirates stadium on Saturday. The striker "
    "scored twice in the second half and the goalkeeper saved a penalty. The manager praised the "
    "midfield and said the league title race was far from over."
)
FOOTBALL_2 = (
    "Chelsea lost to Arsenal at the Emirates stadium on Saturday. Two second-half goals by the "
    "Arsenal striker and a saved penalty decided the match. The Chelsea manager said the league "
    "title race goes on."
)
BANKING = (
    "The central bank raised its interest rate by a quarter point on Wednesday to curb inflation. "
    "Bond yields rose and the currency strengthened against the dollar. Economists expect one "
    "more rate increase before the end of the year."
)


def art(article_id: str, text: str, date: str | None = "2024-06-26", **fields: str) -> Article:
    return Article(id=article_id, text=text, path="test", date=date, **fields)


def samples() -> list[Article]:
    loaded = load_article_files(SAMPLES)
    assert loaded.problems == []
    return loaded.items


def test_the_two_sample_articles_are_one_story() -> None:
    first, second = samples()
    stories = assign_stories([first, second])
    assert stories[first.id] == stories[second.id]
    assert stories[first.id].startswith("story-")


def test_unrelated_articles_are_different_stories() -> None:
    first, second = samples()
    articles = [first, art("sport", FOOTBALL), art("money", BANKING), second]
    stories = assign_stories(articles)
    assert stories[first.id] == stories[second.id]
    assert len({stories["sport"], stories["money"], stories[first.id]}) == 3


def test_similar_articles_on_one_event_are_one_story() -> None:
    stories = assign_stories([art("s1", FOOTBALL), art("s2", FOOTBALL_2), art("m", BANKING)])
    assert stories["s1"] == stories["s2"] != stories["m"]


def test_articles_far_apart_in_date_are_not_joined() -> None:
    stories = assign_stories(
        [art("s1", FOOTBALL, "2024-03-02"), art("s2", FOOTBALL_2, "2024-09-14")]
    )
    assert stories["s1"] != stories["s2"]
    close = assign_stories([art("s1", FOOTBALL, "2024-03-02"), art("s2", FOOTBALL_2, "2024-03-04")])
    assert close["s1"] == close["s2"]


def test_an_undated_article_joins_on_text_alone() -> None:
    stories = assign_stories([art("s1", FOOTBALL), art("s2", FOOTBALL_2, None)])
    assert stories["s1"] == stories["s2"]


def test_a_given_story_id_wins() -> None:
    first, second = samples()
    given = Article(**{**second.__dict__, "story_id": "crimea-call"})
    stories = assign_stories([first, given, art("sport", FOOTBALL, story_id="derby")])
    assert stories[given.id] == "crimea-call"
    assert stories["sport"] == "derby"
    # The undated-id sample joins the story its similar neighbour was given.
    assert stories[first.id] == "crimea-call"


def test_a_given_story_id_joins_unrelated_articles() -> None:
    stories = assign_stories(
        [art("sport", FOOTBALL, story_id="mixed"), art("money", BANKING, story_id="mixed")]
    )
    assert stories == {"sport": "mixed", "money": "mixed"}


def test_ids_do_not_depend_on_input_order() -> None:
    articles = [art("s1", FOOTBALL), art("s2", FOOTBALL_2), art("m", BANKING)]
    assert assign_stories(articles) == assign_stories(list(reversed(articles)))


def test_known_ids_win_over_new_clustering() -> None:
    stories = assign_stories(
        [art("s1", FOOTBALL), art("s2", FOOTBALL_2)], known={"s1": "story-old"}
    )
    assert stories == {"s1": "story-old", "s2": "story-old"}


def test_an_id_once_given_stays_when_a_new_article_joins(tmp_path: Path) -> None:
    state = tmp_path / "state" / "stories.json"
    first, second = samples()
    sport = art("sport", FOOTBALL)
    before = stories_for([first, second, sport], state)
    assert state.is_file()
    assert json.loads(state.read_text(encoding="utf-8")) == before

    # A third article on the Crimea story arrives later; its id sorts before the others, so a
    # fresh clustering would name the story after it.
    third = art(
        "000_0_new",
        "The defense ministers of Russia and the United States spoke by telephone about the war "
        "in Ukraine after the attack on Crimea. Austin and Belousov discussed escalation and "
        "the supply of American missiles, the Pentagon and the Russian ministry said.",
        "2024-06-27",
    )
    fresh = assign_stories([third, first, second, sport])
    after = stories_for([third, first, second, sport], state)
    assert after[first.id] == before[first.id]
    assert after[second.id] == before[second.id]
    assert after["sport"] == before["sport"]
    assert after[third.id] == before[first.id], "the new article did not join the story"
    assert fresh[first.id] != before[first.id], "the test needs a case where ids would move"
    assert json.loads(state.read_text(encoding="utf-8")) == after


def test_an_id_stays_when_an_article_leaves_and_comes_back(tmp_path: Path) -> None:
    state = tmp_path / "stories.json"
    first, second = samples()
    before = stories_for([first, second], state)
    stories_for([second], state)
    again = stories_for([first, second], state)
    assert again == before


def test_stories_for_does_not_rewrite_an_unchanged_state(tmp_path: Path) -> None:
    state = tmp_path / "stories.json"
    first, second = samples()
    stories_for([first, second], state)
    old = state.stat().st_mtime_ns - 10**9
    os.utime(state, ns=(old, old))
    stories_for([first, second], state)
    assert state.stat().st_mtime_ns == old


def test_a_single_article_and_none() -> None:
    assert assign_stories([]) == {}
    only = assign_stories([art("s1", FOOTBALL)])
    assert list(only) == ["s1"] and only["s1"].startswith("story-")
