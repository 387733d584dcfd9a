"""The stance round on a real Label Studio: targets from labeled claims, pairs, pull, dataset.

The corpus is the two sample articles (one story: the strike on Crimea and the ministers' call)
plus two articles of a second story given in a .jsonl file, each with its own check-worthy claim.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import LabelStudioServer
from support import (
    A0,
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
    load,
    make_root,
    ok,
    pull_counts,
    read_jsonl,
    run,
)

from builder.core.config import Settings
from builder.core.projects import labeling_config
from builder.core.scheme import STANCE
from builder.inputs.corpus import load_corpus
from builder.tasks.stance import pair_id

FLOOD_STORY = "valdora-floods"
FLOOD_ARTICLES = [
    {
        "id": "flood-courier",
        "title": "River floods hit Valdora",
        "text": "River floods hit Valdora\n\nHeavy rain flooded the river valley around Valdora on "
        "Tuesday. Twelve people died in the floods, the regional governor said. Rescue teams "
        "evacuated 300 residents from the old town.",
        "date": "2023-03-10",
        "source": "Valdora Courier",
        "story_id": FLOOD_STORY,
    },
    {
        "id": "flood-herald",
        "title": "Valdora counts its dead",
        "text": "Valdora counts its dead\n\nNine people died in the floods in Valdora, according "
        "to the fire brigade. The river burst its banks after two days of heavy rain. Residents "
        "of the old town were evacuated by boat.",
        "date": "2023-03-11",
        "source": "Northern Herald",
        "story_id": FLOOD_STORY,
    },
]
TWELVE = "flood-courier-4eb866981f7e"  # Twelve people died in the floods, …
NINE = "flood-herald-e2febf1eea12"  # Nine people died in the floods in Valdora, …
CHECKWORTHY = [FIVE_KILLED, FOUR_KILLED, LAST_TIME, TWELVE, NINE]
STANCE_NAMES = ["supports", "contradicts", "discusses", "unrelated"]


@dataclass
class Round:
    root: Path
    api: Api
    a: User
    b: User
    stance_output: str
    story_of: dict[str, str]  # article id -> story id

    def stance_project(self) -> dict[str, Any]:
        return self.api.project(dotenv(self.root)["STANCE_PROJECT_TITLE"])

    def stance_tasks(self) -> list[dict[str, Any]]:
        return self.api.tasks(self.stance_project()["id"])


@pytest.fixture(scope="module")
def stance_round(
    labelstudio: LabelStudioServer, api: Api, tmp_path_factory: pytest.TempPathFactory
) -> Round:
    """Claims labeled by two annotators and pulled, then `stance` run once."""
    root = make_root(tmp_path_factory.mktemp("stance"), labelstudio, "stance-round")
    (root / "raw" / "floods.jsonl").write_text(
        "".join(json.dumps(a) + "\n" for a in FLOOD_ARTICLES), encoding="utf-8"
    )
    ok(root, "sync", "--no-progress")
    task = api.task_of(api.project(dotenv(root)["CLAIMS_PROJECT_TITLE"])["id"])
    a, b = api.user(labelstudio, "stance-a"), api.user(labelstudio, "stance-b")
    for sentence in CHECKWORTHY:
        api.annotate(task[sentence], choice("checkworthy"), a)
        api.annotate(task[sentence], choice("checkworthy"), b)
    api.annotate(task[PENTAGON], choice("not_checkworthy"), a)  # labeled, but no target
    api.annotate(task[PENTAGON], choice("not_checkworthy"), b)
    api.annotate(task[FIRST_TIME], choice("checkworthy"), a)  # a tie: no target either
    api.annotate(task[FIRST_TIME], choice("no_claim"), b)
    pulled = pull_counts(ok(root, "pull"))
    assert pulled["claims"]["accepted"] == 2 * len(CHECKWORTHY) + 4
    assert "stance" not in pulled  # no stance project yet
    stance_output = ok(root, "stance", "--no-progress")
    story_of = json.loads((root / ".builder" / "stories.json").read_text())["stories"]
    return Round(root, api, a, b, stance_output, story_of)


@pytest.mark.server
def test_checkworthy_claims_become_targets_and_their_pairs_reach_the_stance_project(
    stance_round: Round,
) -> None:
    project = stance_round.stance_project()
    assert project["label_config"].strip() == labeling_config("stance").strip()
    tasks = stance_round.stance_tasks()
    data = [t["data"] for t in tasks]
    assert f"{len(CHECKWORTHY)} target(s), {len(tasks)} candidate pair(s)" in (
        stance_round.stance_output
    )
    assert f"imported {len(tasks)} new task(s) into project {project['id']}" in (
        stance_round.stance_output
    )
    # Exactly the sentences labeled checkworthy are targets (not the tie, not the others).
    assert {d["target_id"] for d in data} == set(CHECKWORTHY)
    assert {d["target_origin"] for d in data} == {"checkworthy"}
    pairs = {d["pair_id"] for d in data}
    assert pair_id(FIVE_KILLED, FOUR_KILLED) in pairs  # five killed / four civilians killed
    assert pair_id(LAST_TIME, HEIGHT) in pairs  # over a year ago / first time in over a year
    assert pair_id(TWELVE, NINE) in pairs
    story_of = stance_round.story_of
    for d in data:
        assert d["pair_id"] == pair_id(d["target_id"], d["sentence_id"])
        assert d["article_id"] != d["target_article_id"]  # never the target's own article
        assert d["story_id"] == story_of[d["target_article_id"]] == story_of[d["article_id"]]
        assert d["target_text"] and d["text"] and d["target_meta"]
    five = next(d for d in data if d["pair_id"] == pair_id(FIVE_KILLED, FOUR_KILLED))
    assert "five people were killed" in five["target_text"]
    assert "four civilians were killed" in five["text"]


@pytest.mark.server
def test_a_second_stance_imports_nothing(stance_round: Round) -> None:
    before = sorted(t["id"] for t in stance_round.stance_tasks())
    output = ok(stance_round.root, "stance", "--no-progress")
    project_id = stance_round.stance_project()["id"]
    assert f"nothing new: all {len(before)} pair(s) are already tasks of project {project_id}" in (
        output
    )
    assert "imported" not in output
    assert sorted(t["id"] for t in stance_round.stance_tasks()) == before


@pytest.mark.server
def test_stance_annotations_are_validated_and_the_stance_config_loads(
    stance_round: Round, tmp_path: Path
) -> None:
    api, a, b, root = stance_round.api, stance_round.a, stance_round.b, stance_round.root
    task = {t["data"]["pair_id"]: t["id"] for t in stance_round.stance_tasks()}
    toll, call, floods = (
        pair_id(FIVE_KILLED, FOUR_KILLED),
        pair_id(LAST_TIME, HEIGHT),
        pair_id(TWELVE, NINE),
    )
    tie = pair_id(FOUR_KILLED, FIVE_KILLED)
    other = min(set(task) - {toll, call, floods, tie})

    def stance(pair: str, who: User, *labels: str) -> int:
        return api.annotate(task[pair], choice(*labels, name="stance"), who)

    for who in (a, b):
        stance(toll, who, "contradicts")
        stance(call, who, "supports")
        stance(floods, who, "contradicts")
    stance(tie, a, "contradicts")
    stance(tie, b, "discusses")
    rejected = stance(other, a, "agree")  # FNC-1's name, not the scheme's
    api.annotate(task[other], [], b, was_cancelled=True)

    output = ok(root, "pull")
    counts = pull_counts(output)
    assert counts["stance"] == {"pulled": 10, "accepted": 8, "rejected": 1, "skipped": 1}
    assert counts["claims"]["accepted"] == 2 * len(CHECKWORTHY) + 4
    rejects = read_jsonl(root / "exports" / "annotations" / "stance.rejects.jsonl")
    assert [(r["annotation_id"], r["task_id"], r["annotator"]) for r in rejects] == [
        (rejected, task[other], a.email)
    ]
    assert rejects[0]["path"] == "$.answers.stance[0]"
    assert "'agree' is not one of" in rejects[0]["reason"]

    output = ok(root, "dataset", "--accept-imbalance")
    manifest = json.loads((root / "exports" / "factcheck" / "manifest.json").read_text())
    assert manifest["unresolved"]["stance"] == [tie]
    assert manifest["splits"]["by"] == "split_group"

    stance_ds = load(root, "stance", tmp_path / "hf")
    assert set(stance_ds) == {"train", "test"}
    names = stance_ds["train"].features["stance"].names
    assert names == STANCE.names == STANCE_NAMES
    rows = {r["pair_id"]: (split, r) for split in stance_ds for r in stance_ds[split]}
    assert sorted(rows) == sorted([toll, call, floods])
    expected = {toll: "contradicts", call: "supports", floods: "contradicts"}
    for pair, label in expected.items():
        _, row = rows[pair]
        assert names[row["stance"]] == label
        assert (row["num_annotations"], row["agreement"]) == (2, 1.0)
        assert row["similarity"] > 0
        assert row["article_id"] != row["target_article_id"]
    assert rows[toll][1]["target_id"] == FIVE_KILLED
    assert rows[toll][1]["sentence_id"] == FOUR_KILLED

    # No story in both splits, in any config; a story's claims and pairs share a split.
    claims = load(root, "claims", tmp_path / "hf")
    annotations = load(root, "annotations", tmp_path / "hf")
    split_of_story: dict[str, set[str]] = {}
    for config in (claims, stance_ds, annotations):
        for split in config:
            for story in config[split]["story_id"]:
                split_of_story.setdefault(story, set()).add(split)
    assert set(split_of_story) == {stance_round.story_of[A0], FLOOD_STORY}
    assert all(len(splits) == 1 for splits in split_of_story.values()), split_of_story
    assert {s.pop() for s in split_of_story.values()} == {"train", "test"}
    assert {p for split in annotations for p in annotations[split]["project"]} == {
        "claims",
        "stance",
    }
    for split in stance_ds:
        for row in stance_ds[split]:
            claim_splits = {
                s for s in claims for r in claims[s] if r["story_id"] == row["story_id"]
            }
            assert claim_splits == {split}
    assert "stance" in manifest["counts"]
    card = (root / "exports" / "factcheck" / "README.md").read_text()
    assert "config_name: stance" in card


@pytest.mark.server
def test_user_claims_become_targets_and_bad_lines_are_reported(
    labelstudio: LabelStudioServer, api: Api, tmp_path: Path
) -> None:
    root = make_root(tmp_path, labelstudio, "stance-user-claims")
    story = load_corpus(Settings(root=root)).story_of[A0]
    lines = [
        {"claim_id": "toll", "text": "Five people were killed in the attack on Crimea on Sunday.",
         "story_id": story},
        {"claim_id": "no-text", "story_id": story},
        {"claim_id": "nowhere", "text": "The ministers spoke by phone."},
        {"claim_id": "bad-date", "text": "The ministers spoke by phone.", "date": "2024-13-45"},
        {"claim_id": "toll", "text": "Four civilians were killed.", "story_id": story},
        '{"claim_id": "broken", "text": ',
        {"claim_id": "call", "source": "Wire",
         "text": "The defense ministers spoke by phone for the first time in over a year.",
         "date": "2024-06-27"},
        {"claim_id": "later", "date": "2024-08-30",
         "text": "The defense ministers spoke by phone for the first time in over a year."},
    ]  # fmt: skip
    path = root / "raw" / "claims.jsonl"
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines),
        encoding="utf-8",
    )
    result = run(root, "stance", "--no-progress")
    assert result.returncode != 0, result.stdout
    problems = [line for line in result.stderr.splitlines() if line.startswith("bad input: ")]
    by_line: dict[int, str] = {}
    for problem in problems:
        where, _, reason = problem.removeprefix("bad input: ").partition(": ")
        file, _, number = where.rpartition(":")
        assert file == str(path)
        by_line[int(number)] = by_line.get(int(number), "") + reason
    assert sorted(by_line) == [2, 3, 4, 5, 6]
    assert "'text' is a required property" in by_line[2]
    assert "story_id" in by_line[3] and "date" in by_line[3]
    assert "2024-13-45" in by_line[4] and "date" in by_line[4]
    assert "'toll'" in by_line[5] and "line 1" in by_line[5]
    assert "JSON" in by_line[6]

    # The good claims were used all the same; the one dated far from every article has no pair.
    assert "3 target(s)" in result.stdout
    data = [t["data"] for t in api.tasks(api.project(dotenv(root)["STANCE_PROJECT_TITLE"])["id"])]
    assert {d["target_id"] for d in data} == {"claim-toll", "claim-call"}
    assert {d["target_origin"] for d in data} == {"user"}
    toll = [d for d in data if d["target_id"] == "claim-toll"]
    assert {FIVE_KILLED, FOUR_KILLED} & {d["sentence_id"] for d in toll}
    assert all(d["target_text"].startswith("Five people") for d in toll)
    call = [d for d in data if d["target_id"] == "claim-call"]
    assert call and all(d["story_id"] == story for d in call)
    assert any("Wire" in d["target_meta"] for d in call)


def set_env(root: Path, **values: str) -> None:
    """Settings of `root`'s .env replaced (the later line of a name wins nowhere: rewritten)."""
    lines = [
        line
        for line in (root / ".env").read_text(encoding="utf-8").splitlines()
        if line and line.split("=", 1)[0] not in values
    ]
    lines += [f"{name}={value}" for name, value in values.items()]
    (root / ".env").write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


@pytest.mark.server
def test_stance_is_ordered_by_a_model_once_its_labels_suffice(
    stance_round: Round, labelstudio: LabelStudioServer
) -> None:
    api, root, a = stance_round.api, stance_round.root, stance_round.a
    project = stance_round.stance_project()
    tasks = stance_round.stance_tasks()
    # Too few labels of a class: said per class, and the project's order left alone.
    set_env(root, SUGGEST_MIN_LABELS="50")
    ok(root, "pull")
    before = api.get(f"/api/projects/{project['id']}")
    out = ok(root, "suggest")
    assert "stance: too few labels to order by a model" in out
    assert all(f"{name} has" in out for name in STANCE_NAMES)
    after = api.get(f"/api/projects/{project['id']}")
    for key in ("sampling", "model_version", "show_collab_predictions"):
        assert after[key] == before[key]
    assert api.get(f"/api/projects/{project['id']}/model-versions/") == {}

    # One new label of each class that has none (on tasks nobody annotated), a minimum of 1.
    missing = [name for name in STANCE_NAMES if f"{name} has 0" in out]
    fresh = sorted(t["id"] for t in tasks if not t.get("total_annotations"))
    assert len(fresh) > len(missing), "the round has too few stance pairs for this test"
    labeled = fresh[: len(missing)]
    for task_id, name in zip(labeled, missing, strict=True):
        api.annotate(task_id, choice(name, name="stance"), a)
    set_env(root, SUGGEST_MIN_LABELS="1")
    ok(root, "pull")
    out = ok(root, "suggest")
    assert "stance: model builder-" in out
    assert "stance: project" in out and "serves the least certain task first" in out
    settings = api.get(f"/api/projects/{project['id']}")
    assert settings["sampling"] == "Uncertainty sampling"
    assert settings["show_collab_predictions"] is False
    version = settings["model_version"]
    assert version.startswith("builder-")
    predictions = {
        t["id"]: t["predictions"]
        for t in api.get("/api/tasks/", project=project["id"], page_size=10000, fields="all")[
            "tasks"
        ]
    }
    assert all(predictions[task_id] == [] for task_id in labeled)
    scores = {}
    for task_id in fresh[len(missing) :]:
        (only,) = predictions[task_id]
        assert only["model_version"] == version
        assert only["result"][0]["from_name"] == "stance"
        assert only["result"][0]["value"]["choices"][0] in STANCE_NAMES
        scores[task_id] = only["score"]
    versions = api.get(f"/api/projects/{project['id']}/model-versions/")
    assert set(versions) == {version}
    # A new annotator is served the least certain of the tasks nobody annotated yet.
    annotator = api.user(labelstudio, "stance-suggest")
    served = api.get(f"/api/projects/{project['id']}/next", token=annotator.token)
    assert served["id"] in scores
    assert scores[served["id"]] == min(scores.values())
