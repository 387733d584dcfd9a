"""Projects past MAX_TASKS_PER_PROJECT on a real Label Studio: one set of projects, used as one.

MAX_TASKS_PER_PROJECT is 15, so the 41 sentences of the sample articles fill three claims
projects (15, 15, 11); every step then treats the three as one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import LabelStudioServer
from support import (
    FIRST_TIME,
    FIVE_KILLED,
    FOUR_KILLED,
    HEIGHT,
    LAST_TIME,
    PENTAGON,
    Api,
    User,
    choice,
    dotenv,
    labelable_sentences,
    load,
    make_root,
    ok,
    pull_counts,
    read_jsonl,
)

from builder.core.projects import labeling_config

pytestmark = pytest.mark.server

LIMIT = 15
FLOODS = {
    "id": "flood-courier",
    "title": "River floods hit Valdora",
    "text": "River floods hit Valdora\n\nHeavy rain flooded the river valley around Valdora on "
    "Tuesday. Twelve people died in the floods, the regional governor said. Rescue teams "
    "evacuated 300 residents from the old town. The governor asked for help from the capital. "
    "Schools stay closed until Monday.",
    "date": "2023-03-10",
    "source": "Valdora Courier",
    "story_id": "valdora-floods",
}


@dataclass
class SetRound:
    root: Path
    api: Api
    a: User
    b: User
    first_sync: str
    titles: list[str]  # of the claims projects, in order

    def ids(self, members: int = 3) -> list[int]:
        return [self.api.project(title)["id"] for title in self.titles[:members]]

    def task_of(self, members: int = 3) -> dict[str, tuple[int, int]]:
        """sentence id -> (project id, task id), across the set; fails on an item twice."""
        found: dict[str, tuple[int, int]] = {}
        for project_id in self.ids(members):
            for task in self.api.tasks(project_id, include="id,data"):
                item = task["data"]["sentence_id"]
                assert item not in found, f"{item} has a task in two projects"
                found[item] = (project_id, task["id"])
        return found


@pytest.fixture(scope="module")
def set_round(
    labelstudio: LabelStudioServer, api: Api, tmp_path_factory: pytest.TempPathFactory
) -> SetRound:
    root = make_root(
        tmp_path_factory.mktemp("max-tasks"),
        labelstudio,
        "max-tasks",
        extra_env={"MAX_TASKS_PER_PROJECT": str(LIMIT)},
    )
    first = ok(root, "sync", "--no-progress")
    title = dotenv(root)["CLAIMS_PROJECT_TITLE"]
    titles = [title, *(f"{title} · {n}" for n in range(2, 5))]
    a, b = api.user(labelstudio, "max-a"), api.user(labelstudio, "max-b")
    return SetRound(root, api, a, b, first, titles)


def test_a_sync_past_the_limit_fills_projects_of_one_set_each_item_once(
    set_round: SetRound,
) -> None:
    api, root = set_round.api, set_round.root
    ids = set_round.ids()
    assert [api.task_count(i) for i in ids] == [15, 15, 11]
    assert not api.has_project(f"{set_round.titles[0]} · 4")
    for project_id in ids:  # each opened with the same labeling config as the first
        config = api.project_by_id(project_id)["label_config"]
        assert config.strip() == labeling_config("claims").strip()
    placed = set_round.task_of()
    assert sorted(placed) == sorted(labelable_sentences((root / "raw").glob("*.txt")))
    assert "imported 41 new task(s) into projects " in set_round.first_sync
    assert f"{ids[0]} (15), {ids[1]} (15), {ids[2]} (11)" in set_round.first_sync
    # Each continuation is remembered by id, like the first.
    known = json.loads((root / ".builder" / "projects.json").read_text())
    names = next(iter(known.values()))
    assert [names[n]["id"] for n in ("claims", "claims-2", "claims-3")] == ids


def test_a_second_sync_imports_nothing_and_moves_nothing(set_round: SetRound) -> None:
    before = set_round.task_of()
    ids = set_round.ids()
    out = ok(set_round.root, "sync", "--no-progress")
    assert "nothing new" in out and "projects " + ", ".join(map(str, ids)) in out
    # Listed in full (not from the cache): still nothing, and every task where it was.
    out = ok(set_round.root, "sync", "--no-progress", "--full")
    assert "nothing new: all 41 sentence(s) are already tasks of projects" in out
    assert set_round.task_of() == before


def test_annotations_in_every_project_of_the_set_reach_records_stance_and_dataset(
    set_round: SetRound, tmp_path: Path
) -> None:
    api, root, a, b = set_round.api, set_round.root, set_round.a, set_round.b
    placed = set_round.task_of()
    ids = set_round.ids()
    # The sentences the test labels are spread over the three projects.
    assert {placed[s][0] for s in (FIVE_KILLED, LAST_TIME, PENTAGON)} == {ids[0]}
    assert placed[HEIGHT][0] == ids[1] and placed[FIRST_TIME][0] == ids[1]
    assert placed[FOUR_KILLED][0] == ids[2]
    for sentence in (FIVE_KILLED, FOUR_KILLED, LAST_TIME):
        api.annotate(placed[sentence][1], choice("checkworthy"), a)
        api.annotate(placed[sentence][1], choice("checkworthy"), b)
    for who in (a, b):
        api.annotate(placed[HEIGHT][1], choice("not_checkworthy"), who)
        api.annotate(placed[PENTAGON][1], choice("not_checkworthy"), who)
    api.annotate(placed[FIRST_TIME][1], choice("checkworthy"), a)  # a tie, in project 2
    api.annotate(placed[FIRST_TIME][1], choice("no_claim"), b)

    counts = pull_counts(ok(root, "pull"))
    # Each project of the set is pulled into files of its own; the first keeps today's names.
    assert {n: counts[n]["accepted"] for n in ("claims", "claims-2", "claims-3")} == {
        "claims": 6,
        "claims-2": 4,
        "claims-3": 2,
    }
    annotations = root / "exports" / "annotations"
    records = [
        r
        for n in ("claims", "claims-2", "claims-3")
        for r in read_jsonl(annotations / f"{n}.jsonl")
    ]
    assert len(records) == 12 == len({r["annotation_id"] for r in records})
    assert {r["item_id"] for r in records} == {
        FIVE_KILLED,
        FOUR_KILLED,
        LAST_TIME,
        HEIGHT,
        PENTAGON,
        FIRST_TIME,
    }

    # The tie of project 2 goes to adjudication; its answer settles it at the next pull.
    out = ok(root, "adjudicate")
    assert "claims: 1 item(s) to adjudicate" in out
    adjudication = api.project(f"{set_round.titles[0]} · adjudication")
    task = api.task_of(adjudication["id"])[FIRST_TIME]
    api.annotate(task, choice("checkworthy"))
    assert pull_counts(ok(root, "pull"))["claims-adjudication"]["accepted"] == 1

    # Stance targets come from labels of projects 1 and 3 (FIVE_KILLED, FOUR_KILLED).
    stance_out = ok(root, "stance", "--no-progress")
    assert "3 target(s)" in stance_out or "4 target(s)" in stance_out

    status = json.loads(ok(root, "status", "--json"))
    claims = next(p for p in status["projects"] if p["project"] == "claims")
    assert claims["tasks"] == 41
    assert [p["project_id"] for p in claims["server"]["projects"]] == ids
    assert [p["tasks"] for p in claims["server"]["projects"]] == [15, 15, 11]
    assert claims["labeled"] == 6 and claims["adjudicated"] == 1
    assert claims["unresolved"] == []
    rendered = ok(root, "status")
    assert f"claims: one set of 3 projects: {ids[0]} (15 tasks)" in rendered

    ok(root, "dataset", "--accept-imbalance")
    manifest = json.loads((root / "exports" / "factcheck" / "manifest.json").read_text())
    assert {"claims", "claims-2", "claims-3"} <= set(manifest["exports_used"])
    dataset = load(root, "claims", tmp_path / "hf")
    rows: dict[str, Any] = {r["sentence_id"]: r for split in dataset for r in dataset[split]}
    names = dataset["train"].features["claim"].names
    assert names[rows[FOUR_KILLED]["claim"]] == "checkworthy"  # labeled in project 3
    assert names[rows[HEIGHT]["claim"]] == "not_checkworthy"  # labeled in project 2
    assert names[rows[FIRST_TIME]["claim"]] == "checkworthy"  # adjudicated


def test_new_items_fill_the_last_project_then_open_the_next(set_round: SetRound) -> None:
    root, api = set_round.root, set_round.api
    before = set_round.task_of()
    (root / "raw" / "floods.jsonl").write_text(json.dumps(FLOODS) + "\n", encoding="utf-8")
    out = ok(root, "sync", "--no-progress")
    ids = set_round.ids(4)
    after = set_round.task_of(4)
    new = set(after) - set(before)
    assert len(new) == 6  # the headline and five sentences of the article
    assert [api.task_count(i) for i in ids] == [15, 15, 15, 2]
    assert all(after[item] == before[item] for item in before)  # nothing moved
    assert f"created project {set_round.titles[3]!r} (id {ids[3]})" in out
    assert "nothing new" in ok(root, "sync", "--no-progress")
