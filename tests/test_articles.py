"""Reading raw/: the .txt sample format, .jsonl articles, and every kind of bad input reported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from builder.inputs.articles import Problem, load_article_files, load_articles, raw_files

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "raw").glob("*.txt"))


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def good(article_id: str = "good", **fields: object) -> dict[str, object]:
    return {"id": article_id, "text": "The minister spoke on Monday.", **fields}


def only_problem(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


# The .txt sample format ------------------------------------------------------------------


def test_the_sample_articles_load_with_their_date_split_off(tmp_path: Path) -> None:
    assert len(SAMPLES) == 2
    raw = tmp_path / "raw"
    raw.mkdir()
    for sample in SAMPLES:
        shutil.copy(sample, raw / sample.name)
    loaded = load_articles(raw)
    assert loaded.problems == []
    assert [a.id for a in loaded.items] == [p.stem for p in SAMPLES]
    first, second = loaded.items
    assert first.date == "2024-06-26" and second.date == "2024-06-26"
    assert first.text.startswith("This article was last updated on June 26, 2024")
    assert second.text.startswith("At the height of tensions")
    assert "date 2024" not in first.text[:40]
    assert first.language == "en"
    assert first.path == str(raw / SAMPLES[0].name)


def test_a_txt_without_a_date_keeps_all_its_text(tmp_path: Path) -> None:
    path = tmp_path / "plain.txt"
    path.write_text("Headline\n\nBody sentence here.\n", encoding="utf-8")
    (article,) = load_article_files([path]).items
    assert article.id == "plain"
    assert article.date is None
    assert article.text == "Headline\n\nBody sentence here.\n"


def test_a_txt_with_an_impossible_leading_date_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "wrong.txt"
    path.write_text(" date 2024-02-30 Some text here.", encoding="utf-8")
    loaded = load_article_files([path])
    assert loaded.items == []
    problem = only_problem(loaded.problems)
    assert problem.path == str(path) and problem.line == 1
    assert "date" in problem.reason and "2024-02-30" in problem.reason


# .jsonl ------------------------------------------------------------------------------------


def test_a_jsonl_article_keeps_every_field(tmp_path: Path) -> None:
    row = {
        "id": "nyt-1",
        "text": "Five people were killed on Sunday.",
        "title": "Attack on Crimea",
        "date": "2024-06-24",
        "source": "Example Times",
        "url": "https://example.org/a",
        "language": "nl",
        "story_id": "crimea-attack",
    }
    path = write_jsonl(tmp_path / "a.jsonl", [row])
    loaded = load_article_files([path])
    assert loaded.problems == []
    (article,) = loaded.items
    assert article.id == "nyt-1"
    assert article.text == row["text"]
    assert article.title == "Attack on Crimea"
    assert article.date == "2024-06-24"
    assert article.source == "Example Times"
    assert article.url == "https://example.org/a"
    assert article.language == "nl"
    assert article.story_id == "crimea-attack"
    assert article.path == str(path)


def test_a_jsonl_article_without_language_is_english(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [good(), good("other", language=None)])
    assert [a.language for a in load_article_files([path]).items] == ["en", "en"]


def test_a_line_separator_inside_a_json_string_does_not_cut_the_line(tmp_path: Path) -> None:
    # U+2028 is legal inside a JSON string; only "\n" ends a line of a .jsonl file.
    path = tmp_path / "a.jsonl"
    rows = [good("first", text="One\u2028two.\x0cThree."), good("second")]
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    loaded = load_article_files([path])
    assert loaded.problems == []
    assert [a.id for a in loaded.items] == ["first", "second"]
    assert loaded.items[0].text == "One\u2028two.\x0cThree."


def test_windows_line_endings_are_read(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"id": "a", "text": "One."}\r\n{"id": "b", "text": "Two."}\r\n')
    loaded = load_article_files([path])
    assert loaded.problems == []
    assert [a.id for a in loaded.items] == ["a", "b"]


# Bad input: each reported with file, line and reason; the good input is still loaded ---------


def test_an_empty_file_is_reported_and_the_other_files_load(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("  \n\n", encoding="utf-8")
    ok = write_jsonl(tmp_path / "ok.jsonl", [good()])
    loaded = load_article_files([empty, ok])
    assert [a.id for a in loaded.items] == ["good"]
    problem = only_problem(loaded.problems)
    assert problem.path == str(empty)
    assert "empty" in problem.reason
    assert str(problem).startswith(str(empty))


def test_an_empty_txt_file_is_reported(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    problem = only_problem(load_article_files([empty]).problems)
    assert problem.path == str(empty) and "empty" in problem.reason


def test_a_binary_file_is_reported(tmp_path: Path) -> None:
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    ok = write_jsonl(tmp_path / "ok.jsonl", [good()])
    loaded = load_article_files([binary, ok])
    assert [a.id for a in loaded.items] == ["good"]
    problem = only_problem(loaded.problems)
    assert (problem.path, problem.line) == (str(binary), 3)  # the first NUL byte's line
    assert "binary" in problem.reason and "NUL" in problem.reason


def test_invalid_utf8_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("Headline\n\nFirst line.\nCaf\u00e9 on the third line.".encode("latin-1"))
    ok = write_jsonl(tmp_path / "ok.jsonl", [good()])
    loaded = load_article_files([path, ok])
    assert [a.id for a in loaded.items] == ["good"]
    problem = only_problem(loaded.problems)
    assert problem.path == str(path)
    assert problem.line == 4
    assert "UTF-8" in problem.reason
    assert str(problem).startswith(f"{path}:4: ")


def test_invalid_utf8_on_one_jsonl_line_keeps_the_other_lines(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    lines = [
        json.dumps(good("first")).encode(),
        '{"id": "bad", "text": "Caf\u00e9."}'.encode("latin-1"),
        json.dumps(good("third")).encode(),
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    loaded = load_article_files([path])
    assert [a.id for a in loaded.items] == ["first", "third"]
    problem = only_problem(loaded.problems)
    assert (problem.path, problem.line) == (str(path), 2)
    assert "UTF-8" in problem.reason


def test_a_broken_json_line_is_reported_and_the_other_lines_load(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(
        json.dumps(good("first"))
        + "\n"
        + '{"id": "broken", "text": \n'
        + json.dumps(good("third")),
        encoding="utf-8",
    )
    loaded = load_article_files([path])
    assert [a.id for a in loaded.items] == ["first", "third"]
    problem = only_problem(loaded.problems)
    assert (problem.path, problem.line) == (str(path), 2)
    assert "JSON" in problem.reason


def test_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(good("first")) + "\n\n" + "[1, 2]\n", encoding="utf-8")
    loaded = load_article_files([path])
    assert [a.id for a in loaded.items] == ["first"]
    assert only_problem(loaded.problems).line == 3


@pytest.mark.parametrize("value", [[1, 2], "a string", 42, None])
def test_a_line_that_is_not_an_object_is_reported(tmp_path: Path, value: object) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [good("first"), value])
    loaded = load_article_files([path])
    assert [a.id for a in loaded.items] == ["first"]
    problem = only_problem(loaded.problems)
    assert (problem.path, problem.line) == (str(path), 2)
    assert "object" in problem.reason


def test_a_missing_text_is_reported(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [{"id": "no-text"}, good()])
    loaded = load_article_files([path])
    assert [a.id for a in loaded.items] == ["good"]
    problem = only_problem(loaded.problems)
    assert (problem.path, problem.line) == (str(path), 1)
    assert "'text' is a required property" in problem.reason


@pytest.mark.parametrize("text", ["", "   ", " \n\t "])
def test_whitespace_only_text_is_reported(tmp_path: Path, text: str) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [good(), good("blank", text=text)])
    loaded = load_article_files([path])
    assert [a.id for a in loaded.items] == ["good"]
    problem = only_problem(loaded.problems)
    assert problem.line == 2
    assert "$.text" in problem.reason


@pytest.mark.parametrize("bad_date", ["2024-02-30", "2024-13-01", "yesterday", "2024-6-1"])
def test_a_bad_date_is_reported(tmp_path: Path, bad_date: str) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [good(), good("dated", date=bad_date)])
    loaded = load_article_files([path])
    assert [a.id for a in loaded.items] == ["good"]
    assert loaded.problems, f"{bad_date!r} was accepted"
    assert {(p.path, p.line) for p in loaded.problems} == {(str(path), 2)}
    assert all("$.date" in p.reason and bad_date in p.reason for p in loaded.problems)


def test_an_id_used_twice_across_files_keeps_the_first(tmp_path: Path) -> None:
    first = write_jsonl(tmp_path / "a.jsonl", [good("same", text="First version.")])
    second = write_jsonl(tmp_path / "b.jsonl", [good("other"), good("same", text="Second.")])
    loaded = load_article_files([first, second])
    assert [(a.id, a.text) for a in loaded.items] == [
        ("same", "First version."),
        ("other", "The minister spoke on Monday."),
    ]
    problem = only_problem(loaded.problems)
    assert (problem.path, problem.line) == (str(second), 2)
    assert "'same' used twice" in problem.reason
    assert f"{first}:1" in problem.reason


def test_a_txt_and_a_jsonl_article_with_one_id_clash(tmp_path: Path) -> None:
    txt = tmp_path / "story.txt"
    txt.write_text("Body text.", encoding="utf-8")
    jsonl = write_jsonl(tmp_path / "z.jsonl", [good("story")])
    loaded = load_article_files([txt, jsonl])
    assert [a.path for a in loaded.items] == [str(txt)]
    assert "used twice" in only_problem(loaded.problems).reason


@pytest.mark.parametrize("bad_id", ["../etc", "a b", "", "-leading-dash", "x/y", "é", "abc\n"])
def test_an_id_that_is_not_a_plain_name_is_reported(tmp_path: Path, bad_id: str) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [good(bad_id), good()])
    loaded = load_article_files([path])
    assert [a.id for a in loaded.items] == ["good"]
    problem = only_problem(loaded.problems)
    assert (problem.path, problem.line) == (str(path), 1)
    assert "$.id" in problem.reason


@pytest.mark.parametrize("field", ["story_id", "language"])
def test_a_trailing_newline_fails_every_pattern(tmp_path: Path, field: str) -> None:
    # Python's `$` matches before a final newline: "s1\n" must not pass as "s1".
    value = {"story_id": "s1", "language": "en"}[field]
    path = write_jsonl(tmp_path / "a.jsonl", [good("bad", **{field: value + "\n"}), good()])
    loaded = load_article_files([path])
    assert [a.id for a in loaded.items] == ["good"]
    assert f"$.{field}" in only_problem(loaded.problems).reason


def test_a_txt_file_whose_stem_is_not_a_plain_name_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "a b.txt"
    path.write_text("Some text.", encoding="utf-8")
    problem = only_problem(load_article_files([path]).problems)
    assert problem.path == str(path) and "$.id" in problem.reason


def test_an_unknown_field_is_reported(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [good("typo", titel="Oops"), good()])
    loaded = load_article_files([path])
    assert [a.id for a in loaded.items] == ["good"]
    problem = only_problem(loaded.problems)
    assert problem.line == 1
    assert "titel" in problem.reason


def test_a_field_of_the_wrong_type_is_reported(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [good("typed", source=5)])
    problem = only_problem(load_article_files([path]).problems)
    assert "$.source" in problem.reason


# Which files of raw/ are articles ------------------------------------------------------------


def test_reserved_and_other_files_are_not_read_as_articles_and_unread_ones_reported(
    tmp_path: Path,
) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    write_jsonl(raw / "claims.jsonl", [{"claim": "not an article"}])
    write_jsonl(raw / "controls.jsonl", [{"sentence_id": "x", "label": "checkworthy"}])
    (raw / "notes.md").write_text("# not an article", encoding="utf-8")
    (raw / "data.json").write_text("{}", encoding="utf-8")
    (raw / ".hidden.txt").write_text("Hidden.", encoding="utf-8")
    (raw / "sub.txt").mkdir()
    write_jsonl(raw / "news.jsonl", [good("news")])
    (raw / "story.txt").write_text("Body.", encoding="utf-8")
    (raw / "UPPER.TXT").write_text("An article nobody reads.", encoding="utf-8")
    assert [p.name for p in raw_files(raw)] == ["news.jsonl", "story.txt"]
    loaded = load_articles(raw)
    assert [a.id for a in loaded.items] == ["news", "story"]
    # Nothing in raw/ is skipped without a word (hidden files aside).
    reasons = {Path(p.path).name: p.reason for p in loaded.problems}
    assert sorted(reasons) == ["UPPER.TXT", "data.json", "notes.md", "sub.txt"]
    assert "lower-case .txt" in reasons["UPPER.TXT"]
    assert "not read" in reasons["notes.md"] and "folder" in reasons["sub.txt"]


def test_a_missing_raw_dir_has_no_articles(tmp_path: Path) -> None:
    loaded = load_articles(tmp_path / "nowhere")
    assert loaded.items == [] and loaded.problems == []


def test_problem_text_names_file_line_and_reason() -> None:
    assert str(Problem("raw/a.jsonl", 3, "broken JSON")) == "raw/a.jsonl:3: broken JSON"
    assert str(Problem("raw/b.txt", None, "empty file")) == "raw/b.txt: empty file"
