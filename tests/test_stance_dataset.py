"""The stance pull on disk into the dataset's stance rows, ties and story/article maps."""

from __future__ import annotations

import json
from itertools import count
from pathlib import Path
from typing import Any

from builder.core.atomic import write_json
from builder.core.config import Settings
from builder.core.scheme import question_for
from builder.dataset.stance_rows import stance_parts
from builder.labels.records import pull_paths, pulled_tasks
from builder.labelstudio.pull import process_pages, save_snapshot

_ids = count(100)


def pair(pair_id: str, story: str = "story-1", article: str = "art-b") -> dict[str, Any]:
    return {
        "pair_id": pair_id,
        "target_id": "art-a-000000000001",
        "target_text": "Five people were killed.",
        "target_meta": "Outlet A, 2024-06-27",
        "target_origin": "label",
        "target_article_id": "art-a",
        "target_source": "Outlet A",
        "sentence_id": f"{article}-{pair_id}",
        "text": f"Sentence of {pair_id}.",
        "meta": "Outlet B, 2024-06-28",
        "before": "",
        "after": "",
        "article_id": article,
        "source": "Outlet B",
        "story_id": story,
        "similarity": 0.4321,
    }


def annotation(label: str | None, who: str, **fields: Any) -> dict[str, Any]:
    result = [
        {
            "from_name": "stance",
            "to_name": "text",
            "type": "choices",
            "value": {"choices": [label]},
        }
    ]
    return {
        "id": next(_ids),
        "completed_by": {"id": 1, "email": who},
        "result": result if label else [],
        "was_cancelled": label is None,
        "ground_truth": False,
        "lead_time": 5.0,
        "created_at": "2024-06-27T10:00:00Z",
        "updated_at": "2024-06-27T10:00:00Z",
        **fields,
    }


def task(task_id: int, data: dict[str, Any], annotations: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": task_id, "data": data, "annotations": annotations, "drafts": []}


def pull(settings: Settings, name: str, export: list[dict[str, Any]], ground_truth: bool) -> None:
    paths = pull_paths(settings, name)
    snapshot = save_snapshot(paths, json.dumps(export).encode())
    process_pages(
        paths,
        [snapshot],
        lambda tasks: {t["data"]["pair_id"] for t in tasks},
        7,
        question_project="stance",
        ground_truth=ground_truth,
    )


def stance_pulled(tmp_path: Path) -> Settings:
    settings = Settings(root=tmp_path)
    export = [
        # p-agree: both say supports.
        task(
            1,
            pair("p-agree"),
            [annotation("supports", "amy@x.org"), annotation("supports", "bob@x.org")],
        ),
        # p-tie: a tie, left unresolved.
        task(
            2,
            pair("p-tie", story="story-2", article="art-c"),
            [annotation("contradicts", "amy@x.org"), annotation("unrelated", "bob@x.org")],
        ),
        # p-skip: only a cancelled annotation: no label, but its story is known.
        task(3, pair("p-skip", article="art-d"), [annotation(None, "amy@x.org")]),
        # p-adj: a tie settled by the adjudicator.
        task(
            4,
            pair("p-adj"),
            [annotation("discusses", "amy@x.org"), annotation("supports", "bob@x.org")],
        ),
    ]
    pull(settings, "stance", export, ground_truth=False)
    adjudication = [task(40, pair("p-adj"), [annotation("unrelated", "lead@x.org")])]
    pull(settings, "stance-adjudication", adjudication, ground_truth=True)
    return settings


def test_no_stance_pull_gives_none(tmp_path: Path) -> None:
    settings = Settings(root=tmp_path)
    assert stance_parts(settings) is None
    assert pulled_tasks(settings, "stance") == {}
    # Records alone, without the pull's summary, are no stance round either.
    write_json(pull_paths(settings, "claims").summary, {"counts": {}})
    assert stance_parts(settings) is None


def test_one_row_per_labeled_pair(tmp_path: Path) -> None:
    parts = stance_parts(stance_pulled(tmp_path))
    assert parts is not None
    names = question_for("stance").names
    rows = {row["pair_id"]: row for row in parts.rows}
    assert sorted(rows) == ["p-adj", "p-agree"]
    agree = rows["p-agree"]
    assert agree["stance"] == names.index("supports") == 0
    assert agree["num_annotations"] == 2
    assert agree["agreement"] == 1.0
    assert agree["resolved_by"] == "majority"
    assert agree["similarity"] == 0.4321
    assert agree["target_id"] == "art-a-000000000001"
    assert agree["target_text"] == "Five people were killed."
    assert agree["target_article_id"] == "art-a"
    assert agree["target_source"] == "Outlet A"
    assert agree["sentence_id"] == "art-b-p-agree"
    assert agree["text"] == "Sentence of p-agree."
    assert (agree["article_id"], agree["source"], agree["story_id"]) == (
        "art-b",
        "Outlet B",
        "story-1",
    )
    adjudicated = rows["p-adj"]
    assert adjudicated["stance"] == names.index("unrelated") == 3
    assert adjudicated["resolved_by"] == "ground_truth"
    assert adjudicated["num_annotations"] == 2
    assert adjudicated["agreement"] == 0.0  # neither annotator gave the adjudicated label


def test_ties_maps_records_and_summary(tmp_path: Path) -> None:
    parts = stance_parts(stance_pulled(tmp_path))
    assert parts is not None
    assert parts.unresolved == ["p-tie"]
    assert parts.story_of_pair == {
        "p-adj": "story-1",
        "p-agree": "story-1",
        "p-skip": "story-1",
        "p-tie": "story-2",
    }
    assert parts.article_of_pair == {
        "p-adj": "art-b",
        "p-agree": "art-b",
        "p-skip": "art-d",
        "p-tie": "art-c",
    }
    # Every accepted record, the adjudicator's last.
    assert len(parts.records) == 7
    assert parts.records[-1]["annotator"] == "lead@x.org"
    assert parts.records[-1]["ground_truth"] is True
    assert parts.summary is not None and parts.summary["project"] == "stance"
    assert parts.summary["counts"]["skipped_cancelled"] == 1


def test_pulled_tasks_reads_the_merged_tasks(tmp_path: Path) -> None:
    settings = stance_pulled(tmp_path)
    data = pulled_tasks(settings, "stance")
    assert sorted(data) == ["p-adj", "p-agree", "p-skip", "p-tie"]
    assert data["p-tie"] == pair("p-tie", story="story-2", article="art-c")
