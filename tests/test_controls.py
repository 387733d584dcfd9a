"""raw/controls.jsonl into control items, and each annotator's accuracy on them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support import record

from builder.inputs.controls import CONTROLS_FILE, load_controls
from builder.labels.quality import control_accuracy

KNOWN = {"s-1", "s-2", "s-3", "s-4"}


def write_controls(raw: Path, lines: list[str]) -> Path:
    raw.mkdir(parents=True, exist_ok=True)
    path = raw / CONTROLS_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def line(**fields: Any) -> str:
    return json.dumps(fields)


def test_no_file_means_no_controls(tmp_path: Path) -> None:
    assert load_controls(tmp_path / "raw", KNOWN) == ({}, [])
    (tmp_path / "raw").mkdir()
    assert load_controls(tmp_path / "raw", KNOWN) == ({}, [])


def test_good_lines_load(tmp_path: Path) -> None:
    write_controls(
        tmp_path,
        [
            line(sentence_id="s-1", claim="checkworthy"),
            "",
            line(sentence_id="s-2", claim="no_claim", note="an opinion"),
            line(sentence_id="s-3", claim="not_checkworthy"),
        ],
    )
    controls, problems = load_controls(tmp_path, KNOWN)
    assert problems == []
    assert controls == {"s-1": "checkworthy", "s-2": "no_claim", "s-3": "not_checkworthy"}


def test_bad_lines_are_problems_with_file_line_and_reason(tmp_path: Path) -> None:
    path = write_controls(
        tmp_path,
        [
            line(sentence_id="s-1", claim="checkworthy"),  # 1 good
            line(sentence_id="s-99", claim="no_claim"),  # 2 unknown sentence
            line(sentence_id="s-2", claim="maybe"),  # 3 label not in the scheme
            '{"sentence_id": "s-3", "claim": ',  # 4 broken JSON
            line(sentence_id="s-1", claim="no_claim"),  # 5 repeated
            line(sentence_id="s-3"),  # 6 missing claim
            line(sentence_id="s-2", claim="no_claim"),  # 7 good (line 3 did not load)
            line(sentence_id="s-4", claim="checkworthy", extra=1),  # 8 unknown field
        ],
    )
    controls, problems = load_controls(tmp_path, KNOWN)
    assert controls == {"s-1": "checkworthy", "s-2": "no_claim"}
    assert {p.path for p in problems} == {str(path)}
    by_line = {p.line: p.reason for p in problems}
    assert sorted(by_line) == [2, 3, 4, 5, 6, 8]
    assert "unknown sentence_id 's-99'" in by_line[2]
    assert "$.claim" in by_line[3] and "'maybe'" in by_line[3]
    assert "broken JSON" in by_line[4]
    assert "'s-1'" in by_line[5] and "twice" in by_line[5]
    assert "'claim' is a required property" in by_line[6]
    assert "extra" in by_line[8]
    # The message names where and why.
    problem = next(p for p in problems if p.line == 2)
    assert str(problem).startswith(f"{path}:2: ")


def test_a_sentence_id_with_a_trailing_newline_is_a_problem(tmp_path: Path) -> None:
    write_controls(tmp_path, [line(sentence_id="s-1\n", claim="checkworthy")])
    controls, problems = load_controls(tmp_path, KNOWN | {"s-1\n"})
    assert controls == {}
    assert len(problems) == 1 and "$.sentence_id" in problems[0].reason


def test_not_a_json_object_is_a_problem(tmp_path: Path) -> None:
    write_controls(tmp_path, ['["s-1", "checkworthy"]'])
    controls, problems = load_controls(tmp_path, KNOWN)
    assert controls == {}
    assert [(p.line, p.reason) for p in problems] == [(1, "expected a JSON object")]


def rec(
    item: str, who: str, label: str, updated_at: str = "2024-06-27T10:00:00Z", gt: bool = False
) -> dict[str, Any]:
    return record(item, who, label, updated_at=updated_at, ground_truth=gt)


def test_control_accuracy_per_annotator() -> None:
    controls = {"s-1": "checkworthy", "s-2": "no_claim", "s-3": "not_checkworthy"}
    records = [
        rec("s-1", "amy", "checkworthy"),  # right
        rec("s-2", "amy", "no_claim"),  # right
        rec("s-3", "amy", "checkworthy"),  # wrong
        rec("s-1", "bob", "no_claim"),  # wrong
        rec("s-9", "bob", "no_claim"),  # not a control item
        rec("s-9", "cat", "no_claim"),  # cat labeled no control item
    ]
    assert control_accuracy(records, controls) == {
        "amy": {"accuracy": 0.6667, "items": 3},
        "bob": {"accuracy": 0.0, "items": 1},
    }


def test_a_re_annotation_counts_once_the_latest() -> None:
    controls = {"s-1": "checkworthy"}
    records = [
        rec("s-1", "amy", "checkworthy", updated_at="2024-06-27T12:00:00Z"),  # latest: right
        rec("s-1", "amy", "no_claim", updated_at="2024-06-27T09:00:00Z"),
        rec("s-1", "bob", "checkworthy", updated_at="2024-06-27T09:00:00Z"),
        rec("s-1", "bob", "no_claim", updated_at="2024-06-27T12:00:00Z"),  # latest: wrong
    ]
    assert control_accuracy(records, controls) == {
        "amy": {"accuracy": 1.0, "items": 1},
        "bob": {"accuracy": 0.0, "items": 1},
    }


def test_adjudications_do_not_count_as_control_answers() -> None:
    controls = {"s-1": "checkworthy"}
    records = [rec("s-1", "lead", "checkworthy", gt=True), rec("s-1", "amy", "no_claim")]
    assert control_accuracy(records, controls) == {"amy": {"accuracy": 0.0, "items": 1}}
    assert control_accuracy(records, {}) == {}
