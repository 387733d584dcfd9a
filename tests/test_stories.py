"""Articles into stories: given ids win, similar articles close in date are one story, ids stay."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

from builder.inputs.articles import Article, load_article_files
from builder.inputs.stories import assign, assign_stories, load_stories, stories_for

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
    before = stories_for([first, second, sport], state).story_of
    assert state.is_file()
    assert json.loads(state.read_text(encoding="utf-8"))["stories"] == before

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
    after = stories_for([third, first, second, sport], state).story_of
    assert after[first.id] == before[first.id]
    assert after[second.id] == before[second.id]
    assert after["sport"] == before["sport"]
    assert after[third.id] == before[first.id], "the new article did not join the story"
    assert fresh[first.id] != before[first.id], "the test needs a case where ids would move"
    assert json.loads(state.read_text(encoding="utf-8"))["stories"] == after


def test_an_id_stays_when_an_article_leaves_and_comes_back(tmp_path: Path) -> None:
    state = tmp_path / "stories.json"
    first, second = samples()
    before = stories_for([first, second], state).story_of
    stories_for([second], state)
    again = stories_for([first, second], state).story_of
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


# Event-true stories, stable ids, merges, corrections and the `stories` contract (issue 11) ------
FOOTBALL_3 = (
    "Arsenal's striker scored twice against Chelsea at the Emirates stadium on Saturday, and the "
    "Chelsea goalkeeper's penalty save was not enough. Arsenal's manager said the title race "
    "was open."
)


def test_the_date_window_is_hard_even_for_one_event_text() -> None:
    # The same words a month apart are two stories (a derby each season), not one.
    far = assign_stories([art("s1", FOOTBALL, "2024-03-02"), art("s2", FOOTBALL, "2024-04-02")])
    assert far["s1"] != far["s2"]
    near = assign_stories([art("s1", FOOTBALL, "2024-03-02"), art("s2", FOOTBALL, "2024-03-08")])
    assert near["s1"] == near["s2"]


def test_an_undated_article_is_kept_from_dated_ones_of_another_year() -> None:
    # It names 2019 as its latest year; a 2024 article is not evidence for it.
    old = FOOTBALL + " It was the 2019 season."
    stories = assign_stories([art("dated", FOOTBALL, "2024-03-02"), art("undated", old, None)])
    assert stories["dated"] != stories["undated"]
    same_year = FOOTBALL + " It was the 2024 season."
    stories = assign_stories([art("dated", FOOTBALL, "2024-03-02"), art("u", same_year, None)])
    assert stories["dated"] == stories["u"]


def test_a_new_article_of_another_event_gets_a_new_story_and_old_ids_stay(tmp_path: Path) -> None:
    state = tmp_path / "stories.json"
    before = stories_for([art("s1", FOOTBALL), art("s2", FOOTBALL_2)], state).story_of
    after = stories_for([art("s1", FOOTBALL), art("s2", FOOTBALL_2), art("m", BANKING)], state)
    assert {k: after.story_of[k] for k in before} == before
    assert after.story_of["m"] not in before.values()
    assert json.loads(state.read_text(encoding="utf-8"))["stories"] == after.story_of


def test_a_merge_is_reported_and_not_applied(tmp_path: Path) -> None:
    # An earlier run (or a person) put the two derby reports in two stories.
    state = tmp_path / "stories.json"
    state.write_text(json.dumps({"s1": "story-a", "s2": "story-b"}), encoding="utf-8")
    articles = [art("s1", FOOTBALL), art("s2", FOOTBALL_2), art("s3", FOOTBALL_3)]
    result = stories_for(articles, state)
    assert result.story_of["s1"] == "story-a" and result.story_of["s2"] == "story-b"
    assert result.story_of["s3"] in {"story-a", "story-b"}
    assert [m.stories for m in result.new_merges] == [("story-a", "story-b")]
    # One split group: a wrong story boundary must not put one event in train and test.
    assert result.split_group_of["s1"] == result.split_group_of["s2"] == "story-a"
    saved = json.loads(state.read_text(encoding="utf-8"))
    assert saved["merges"][0]["stories"] == ["story-a", "story-b"]
    # The next run keeps both ids and the one group.
    again = stories_for(articles, state)
    assert again.story_of == result.story_of
    assert again.split_group_of == result.split_group_of


def test_split_groups_hold_whole_stories() -> None:
    articles = [art("s1", FOOTBALL), art("s2", FOOTBALL_2), art("s3", FOOTBALL_3)]
    articles += [art("m", BANKING), art("m2", BANKING.replace("Wednesday", "Thursday"))]
    result = assign(articles)
    for a in articles:
        for b in articles:
            if result.story_of[a.id] == result.story_of[b.id]:
                assert result.split_group_of[a.id] == result.split_group_of[b.id]


def short_sentences(n: int, seed: int = 7) -> list[Article]:
    """One-sentence undated 'articles' sharing a small news vocabulary, like claim sentences."""
    rng = random.Random(seed)
    who = "government minister president police officials company union court senator mayor"
    what = "tax jobs prices vaccine election border budget crime schools wages climate oil"
    verbs = "said announced claimed denied reported promised warned confirmed"
    words = [w.split() for w in (who, what, verbs)]
    out = []
    for i in range(n):
        sentence = (
            f"The {rng.choice(words[0])} {rng.choice(words[2])} that {rng.choice(words[1])} "
            f"rose by {rng.randint(2, 99)} percent and {rng.choice(words[1])} would follow."
        )
        out.append(art(f"c{i:05d}", sentence, None))
    return out


def test_many_short_undated_texts_do_not_chain_into_one_story() -> None:
    articles = short_sentences(3000)
    result = assign(articles)
    stories = Counter(result.story_of.values())
    groups = Counter(result.split_group_of.values())
    assert max(stories.values()) <= 0.05 * len(articles), stories.most_common(3)
    assert max(groups.values()) <= 0.05 * len(articles), groups.most_common(3)


def write_raw(root: Path, articles: list[dict[str, str]], corrections: str | None = None) -> None:
    raw = root / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    (raw / "news.jsonl").write_text(
        "".join(json.dumps(a) + "\n" for a in articles), encoding="utf-8"
    )
    if corrections is not None:
        (raw / "stories.jsonl").write_text(corrections, encoding="utf-8")


NEWS = [
    {"id": "s1", "text": FOOTBALL, "date": "2024-06-26"},
    {"id": "s2", "text": FOOTBALL_2, "date": "2024-06-26"},
    {"id": "m", "text": BANKING, "date": "2024-06-26"},
]


def test_corrections_are_honoured(tmp_path: Path) -> None:
    write_raw(
        tmp_path,
        NEWS,
        '{"article_id": "m", "story_id": "my-derby"}\n'
        '{"article_id": "s1", "story_id": "my-derby"}\n',
    )
    loaded = load_article_files([tmp_path / "raw" / "news.jsonl"])
    result, problems = load_stories(tmp_path / "raw", tmp_path / ".builder", loaded.items)
    assert problems == []
    assert result.story_of["m"] == result.story_of["s1"] == "my-derby"


def test_bad_correction_lines_are_reported_with_file_line_and_reason(tmp_path: Path) -> None:
    write_raw(
        tmp_path,
        NEWS,
        '{"article_id": "s1", "story_id": "derby"}\n'
        "not json\n"
        '{"article_id": "nope", "story_id": "x"}\n'
        '{"article_id": "s2"}\n'
        '{"article_id": "s1", "story_id": "other"}\n'
        '{"article_id": "m", "story_id": "bank", "note": 1}\n',
    )
    loaded = load_article_files([tmp_path / "raw" / "news.jsonl"])
    result, problems = load_stories(tmp_path / "raw", tmp_path / ".builder", loaded.items)
    where = [(Path(p.path).name, p.line) for p in problems]
    assert where == [("stories.jsonl", n) for n in (2, 3, 4, 5, 6)]
    reasons = " | ".join(p.reason for p in problems)
    assert "broken JSON" in reasons and "no article 'nope'" in reasons
    assert "story_id" in reasons and "already put in story 'derby' at line 1" in reasons
    assert "note" in reasons
    assert result.story_of["s1"] == "derby"  # the good line is still honoured
    # Through the command: reported on stderr, a non-zero exit.
    done = run_builder(tmp_path, "stories")
    assert done.returncode == 1
    assert "stories.jsonl:2: broken JSON" in done.stderr


def run_builder(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BUILDER_ROOT": str(root)}
    return subprocess.run(
        [sys.executable, "-m", "builder", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_stories_jsonl_contract(tmp_path: Path) -> None:
    write_raw(tmp_path, NEWS)
    done = run_builder(tmp_path, "stories", str(tmp_path / "raw" / "news.jsonl"), "--jsonl")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["article_id"] for line in lines] == ["s1", "s2", "m"]
    assert all(set(line) == {"article_id", "story_id", "split_group"} for line in lines)
    assert lines[0]["story_id"] == lines[1]["story_id"] != lines[2]["story_id"]
    assert not (tmp_path / ".builder").exists(), "the contract writes no state"
    # Bad input: reported on stderr, stdout still only the good articles' lines, exit 1.
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "text": "Some text."}\n{"broken\n', encoding="utf-8")
    done = run_builder(tmp_path, "stories", str(bad), "--jsonl")
    assert done.returncode == 1
    assert [json.loads(line)["article_id"] for line in done.stdout.splitlines()] == ["x"]
    assert "bad.jsonl:2" in done.stderr


def test_make_stories_lists_each_story(tmp_path: Path) -> None:
    write_raw(tmp_path, NEWS)
    done = run_builder(tmp_path, "stories")
    assert done.returncode == 0, done.stderr
    assert "3 articles (0 undated) in 2 stories" in done.stdout
    assert "terms:" in done.stdout and "2024-06-26" in done.stdout
