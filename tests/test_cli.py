"""The command line, run as `python -m builder …` in a tmp root: output, errors and exit codes.

No test here needs a Label Studio server: the sync tests point at a closed port on purpose.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support import SAMPLES, free_port, run

from builder.inputs.articles import load_article_files
from builder.inputs.sentences import split_article

KEY = "secret-xyz-4711"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "raw").mkdir()
    return tmp_path


# sentences ---------------------------------------------------------------------------------


def test_sentences_prints_one_json_object_per_sentence(root: Path) -> None:
    result = run(root, "sentences", *map(str, SAMPLES))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    objects = [json.loads(line) for line in lines]
    expected = [s.to_dict() for a in load_article_files(SAMPLES).items for s in split_article(a)]
    assert objects == expected
    for obj in objects:
        assert list(obj) == ["article_id", "sentence_id", "index", "kind", "start", "end", "text"]
    assert {o["article_id"] for o in objects} == {p.stem for p in SAMPLES}
    assert objects[0]["kind"] == "boilerplate"


def test_sentences_reads_jsonl_too(root: Path) -> None:
    path = root / "raw" / "a.jsonl"
    path.write_text(
        json.dumps({"id": "j1", "text": "Headline\n\nOne sentence. Two sentences."}) + "\n",
        encoding="utf-8",
    )
    result = run(root, "sentences", str(path))
    assert result.returncode == 0, result.stderr
    assert [(o["kind"], o["text"]) for o in map(json.loads, result.stdout.splitlines())] == [
        ("headline", "Headline"),
        ("body", "One sentence."),
        ("body", "Two sentences."),
    ]


def test_sentences_prints_the_good_file_and_names_the_bad_one(root: Path) -> None:
    bad = root / "raw" / "broken.jsonl"
    bad.write_text('{"id": "x", "text": "fine."}\n{"id": oops}\n', encoding="utf-8")
    result = run(root, "sentences", str(SAMPLES[0]), str(bad))
    assert result.returncode == 1
    ids = {json.loads(line)["article_id"] for line in result.stdout.splitlines()}
    assert ids == {SAMPLES[0].stem, "x"}
    assert f"{bad}:2" in result.stderr
    assert "broken JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_sentences_names_an_empty_file(root: Path) -> None:
    empty = root / "raw" / "empty.txt"
    empty.write_text("", encoding="utf-8")
    result = run(root, "sentences", str(empty), str(SAMPLES[1]))
    assert result.returncode == 1
    assert result.stdout.count("\n") == len(
        split_article(load_article_files([SAMPLES[1]]).items[0])
    )
    assert str(empty) in result.stderr and "empty file" in result.stderr


def test_sentences_on_a_missing_file_fails_plainly(root: Path) -> None:
    result = run(root, "sentences", str(root / "nope.txt"))
    assert result.returncode == 1
    assert "no such file" in result.stderr and "nope.txt" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


# sync without a server ---------------------------------------------------------------------


def test_sync_with_an_empty_raw_dir_says_no_articles(root: Path) -> None:
    port = free_port()
    result = run(
        root,
        "sync",
        "--no-progress",
        LABEL_STUDIO_URL=f"http://127.0.0.1:{port}",
        LABEL_STUDIO_API_KEY=KEY,
    )
    assert result.returncode == 1
    assert "no articles to sync" in result.stderr
    assert str(root / "raw") in result.stderr
    assert "fix:" in result.stderr
    # It stops at the missing articles, before trying the server.
    assert str(port) not in result.stderr
    assert "Traceback" not in result.stderr
    assert KEY not in result.stdout + result.stderr


def test_sync_with_only_bad_articles_reports_them_and_no_articles(root: Path) -> None:
    (root / "raw" / "bad.jsonl").write_text('{"id": "a b", "text": "x."}\n', encoding="utf-8")
    result = run(
        root,
        "sync",
        "--no-progress",
        LABEL_STUDIO_URL=f"http://127.0.0.1:{free_port()}",
        LABEL_STUDIO_API_KEY=KEY,
    )
    assert result.returncode == 1
    assert f"{root / 'raw' / 'bad.jsonl'}:1" in result.stderr
    assert "no articles to sync" in result.stderr


def test_sync_to_an_unreachable_server_names_the_address_and_hides_the_key(root: Path) -> None:
    for sample in SAMPLES:
        shutil.copy(sample, root / "raw" / sample.name)
    url = f"http://127.0.0.1:{free_port()}"
    result = run(root, "sync", "--no-progress", LABEL_STUDIO_URL=url, LABEL_STUDIO_API_KEY=KEY)
    assert result.returncode == 1
    assert f"cannot reach Label Studio at {url}" in result.stderr
    assert "LABEL_STUDIO_URL" in result.stderr  # the fix says what to check
    assert "Traceback" not in result.stderr
    assert KEY not in result.stdout
    assert KEY not in result.stderr


def test_sync_with_a_url_but_no_key_says_which_variable_is_missing(root: Path) -> None:
    shutil.copy(SAMPLES[0], root / "raw" / SAMPLES[0].name)
    result = run(root, "sync", "--no-progress", LABEL_STUDIO_URL="http://127.0.0.1:9")
    assert result.returncode == 1
    assert "LABEL_STUDIO_API_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_main_returns_the_exit_code_and_prints_no_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from builder.cli.main import main

    monkeypatch.setenv("BUILDER_ROOT", str(tmp_path))
    monkeypatch.delenv("BUILDER_DEBUG", raising=False)
    assert main(["sentences", str(tmp_path / "missing.txt")]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error: no such file")
    assert "Traceback" not in captured.err


# errors at the edge ------------------------------------------------------------------------


def test_a_bad_setting_stops_every_command_at_start(root: Path) -> None:
    (root / ".env").write_text("TEST_SIZE=0.2\nANNOTATIONS_PER_TASK=two\n", encoding="utf-8")
    result = run(root, "sentences", str(SAMPLES[0]))
    assert result.returncode == 1
    assert result.stdout == ""
    assert "error: ANNOTATIONS_PER_TASK='two' must be a whole number ≥ 1" in result.stderr
    assert "fix:" in result.stderr and "README: Configuration" in result.stderr
    assert "--debug" in result.stderr and "BUILDER_DEBUG=1" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_error_says_how_to_see_the_traceback(root: Path) -> None:
    result = run(root, "sentences", str(root / "nope.txt"))
    assert result.returncode == 1
    assert result.stderr.rstrip().endswith("rerun with --debug (or BUILDER_DEBUG=1))")
    shown = run(root, "--debug", "sentences", str(root / "nope.txt"))
    assert shown.returncode == 1 and "Traceback" in shown.stderr
    assert "rerun with --debug" not in shown.stderr
    shown = run(root, "sentences", str(root / "nope.txt"), BUILDER_DEBUG="1")
    assert "Traceback" in shown.stderr


def test_a_file_system_error_is_a_plain_message_with_a_hint(root: Path) -> None:
    shutil.copy(SAMPLES[0], root / "raw" / SAMPLES[0].name)
    (root / "exports").write_text("not a folder", encoding="utf-8")
    result = run(root, "dataset", "--accept-imbalance")
    assert result.returncode == 1
    assert "error: cannot use" in result.stderr and str(root / "exports") in result.stderr
    assert "fix:" in result.stderr and "--debug" in result.stderr
    assert "Traceback" not in result.stderr
    assert (root / "exports").read_text(encoding="utf-8") == "not a folder"


def test_settings_lists_values_and_hides_secrets(root: Path) -> None:
    result = run(root, "settings", LABEL_STUDIO_URL="http://ls.example", LABEL_STUDIO_API_KEY=KEY)
    assert result.returncode == 0, result.stderr
    assert "LABEL_STUDIO_URL=http://ls.example" in result.stdout
    assert "LABEL_STUDIO_API_KEY=(set)" in result.stdout
    assert KEY not in result.stdout + result.stderr


# step reports ------------------------------------------------------------------------------


def test_a_step_prints_its_report_and_status_shows_the_last_one(root: Path) -> None:
    for sample in SAMPLES:
        shutil.copy(sample, root / "raw" / sample.name)
    first = run(root, "dataset", "--accept-imbalance")
    assert first.returncode == 0, first.stderr
    summary = first.stdout.splitlines()[-1]
    assert summary.startswith("dataset: read ")
    assert "claims: not labeled yet" in summary and f"wrote {root / 'exports'}" in summary
    again = run(root, "dataset", "--accept-imbalance")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("nothing changed")
    assert again.stdout.splitlines()[-1].startswith("dataset: nothing changed since the last run")
    status = run(root, "status", "--json")
    assert status.returncode == 0, status.stderr
    [step] = json.loads(status.stdout)["steps"]
    assert (step["step"], step["unchanged"], step["problems"]) == ("dataset", True, 0)
    assert "last run of each step:" in run(root, "status").stdout


def test_status_exits_non_zero_after_printing_bad_input(root: Path) -> None:
    shutil.copy(SAMPLES[0], root / "raw")
    (root / "raw" / "bad.jsonl").write_text('{"id": "x", "text": \n', encoding="utf-8")
    (root / "raw" / "notes.md").write_text("# notes", encoding="utf-8")
    result = run(
        root,
        "status",
        LABEL_STUDIO_URL=f"http://127.0.0.1:{free_port()}",
        LABEL_STUDIO_API_KEY=KEY,
    )
    assert result.returncode == 1
    assert f"bad input: {root / 'raw' / 'bad.jsonl'}:1: broken JSON" in result.stderr
    assert f"bad input: {root / 'raw' / 'notes.md'}: not read" in result.stderr
    assert "Traceback" not in result.stderr
    assert "claims" in result.stdout  # the report itself is still printed


def test_a_password_in_label_studio_url_is_never_shown(root: Path) -> None:
    shutil.copy(SAMPLES[0], root / "raw")
    secret = "hunter2-url-password"
    url = f"http://annotator:{secret}@127.0.0.1:{free_port()}"
    for args, env in [
        (("sync", "--no-progress"), {"LABEL_STUDIO_API_KEY": KEY}),
        (("pull",), {"LABEL_STUDIO_API_KEY": KEY}),
        (("status",), {"LABEL_STUDIO_API_KEY": KEY}),
        (("sync",), {}),  # no key: the message names the URL
        (("labelstudio", "start"), {"LABEL_STUDIO_API_KEY": KEY}),
    ]:
        result = run(root, *args, LABEL_STUDIO_URL=url, **env)
        shown = result.stdout + result.stderr
        assert secret not in shown, (args, shown)
        assert "annotator:***@127.0.0.1" in shown, (args, shown)


def test_a_bad_aggregation_is_refused_with_the_choices(root: Path) -> None:
    done = run(root, "status", "--json", AGGREGATION="mean")
    assert done.returncode != 0
    assert "AGGREGATION='mean' is not a known aggregation" in done.stderr
    assert "majority, dawid-skene" in done.stderr
    assert "Traceback" not in done.stderr
