"""End to end against a real Label Studio: sync, annotations by real users, pull, dataset, load.

Every annotation here is made through the server's REST API, as the UI or a script of an
annotation team would make it: by users who signed up, with their own tokens, or by the admin on
their behalf (`completed_by`). Label Studio accepts invalid answers through that API; the builder
must reject them at the pull. The helpers are in tests/support.py.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import LabelStudioServer
from support import (
    A0,
    A1,
    BELOUSOV,
    ECONOMIST,
    EXAMPLES,
    FIVE_KILLED,
    HEADLINE,
    HEIGHT,
    LAST_TIME,
    MINISTERS,
    MOSCOW,
    OFFICE,
    PENTAGON,
    SAMPLES,
    SINCE_2023,
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
    saved_exports,
    synced_root,
)

from builder.core.scheme import CLAIM


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# The walk: sync, annotations by two annotators and an adjudicator, pull ----------------------


@dataclass
class Walk:
    root: Path
    api: Api
    project_id: int
    a: User
    b: User
    admin: User
    sync_output: str
    pull_output: str
    valid: list[int]  # annotation ids that must be accepted
    invalid: dict[int, tuple[int, str, str]]  # annotation id -> (task id, annotator, what)
    skipped: list[int]  # a cancelled annotation, a draft, an empty annotation


@pytest.fixture(scope="module")
def walk(
    labelstudio: LabelStudioServer, api: Api, tmp_path_factory: pytest.TempPathFactory
) -> Walk:
    root = make_root(tmp_path_factory.mktemp("e2e"), labelstudio, "e2e-walk")
    sync_output = ok(root, "sync", "--no-progress")
    project = api.project(dotenv(root)["CLAIMS_PROJECT_TITLE"])
    task = api.task_of(project["id"])
    a, b = api.user(labelstudio, "annotator-a"), api.user(labelstudio, "annotator-b")
    admin = api.admin()
    valid: list[int] = []
    invalid: dict[int, tuple[int, str, str]] = {}

    def label(sentence: str, who: User, value: str, **extra: Any) -> None:
        # Annotator A works with their own token; B's answers are entered by the admin for B.
        valid.append(api.annotate(task[sentence], choice(value), who, as_admin=who is b, **extra))

    label(MINISTERS, a, "checkworthy")
    label(MINISTERS, b, "checkworthy")
    label(LAST_TIME, a, "checkworthy")  # a tie: left out and listed
    label(LAST_TIME, b, "not_checkworthy")
    label(PENTAGON, a, "not_checkworthy")  # a tie settled by the adjudicator's ground truth
    label(PENTAGON, b, "no_claim")
    valid.append(api.annotate(task[PENTAGON], choice("not_checkworthy"), admin, ground_truth=True))
    label(HEADLINE, a, "no_claim")
    label(HEADLINE, b, "no_claim")
    label(HEIGHT, a, "checkworthy")
    label(HEIGHT, b, "checkworthy")
    label(BELOUSOV, a, "not_checkworthy")
    label(BELOUSOV, b, "not_checkworthy")
    label(ECONOMIST, a, "checkworthy")  # a majority overruled by ground truth
    label(ECONOMIST, b, "checkworthy")
    valid.append(api.annotate(task[ECONOMIST], choice("no_claim"), admin, ground_truth=True))
    label(MOSCOW, a, "no_claim")
    label(OFFICE, a, "checkworthy")

    def bad(sentence: str, who: User, result: list[dict[str, Any]], what: str) -> None:
        annotation = api.annotate(task[sentence], result, who, as_admin=who is b)
        invalid[annotation] = (task[sentence], who.email, what)

    bad(MOSCOW, b, choice("bogus"), "label not in the scheme")
    bad(SINCE_2023, a, choice("checkworthy", "no_claim"), "two choices")
    bad(SINCE_2023, b, choice("checkworthy", name="verdict"), "a control the config lacks")
    skipped = [api.annotate(task[OFFICE], [], b, was_cancelled=True)]
    skipped.append(api.draft(task[MINISTERS], choice("no_claim"), a))  # a draft, never a label
    skipped.append(api.annotate(task[HEIGHT], [], a))  # an empty result, not a skip

    pull_output = ok(root, "pull")
    return Walk(
        root, api, project["id"], a, b, admin, sync_output, pull_output, valid, invalid, skipped
    )


# Expected labels of the walk: sentence -> (label, resolved_by, annotations, agreement).
WALK_LABELS = {
    MINISTERS: ("checkworthy", "majority", 2, 1.0),
    PENTAGON: ("not_checkworthy", "ground_truth", 2, 0.5),
    HEADLINE: ("no_claim", "majority", 2, 1.0),
    HEIGHT: ("checkworthy", "majority", 2, 1.0),
    BELOUSOV: ("not_checkworthy", "majority", 2, 1.0),
    ECONOMIST: ("no_claim", "ground_truth", 2, 0.0),
    MOSCOW: ("no_claim", "majority", 1, 1.0),  # B's answer was rejected
    OFFICE: ("checkworthy", "majority", 1, 1.0),  # B skipped
}


@pytest.mark.server
def test_sync_annotate_pull_dataset_load(walk: Walk, tmp_path: Path) -> None:
    root = walk.root
    sentences = labelable_sentences(SAMPLES)
    assert f"imported {len(sentences)} new task(s) into project {walk.project_id}" in (
        walk.sync_output
    )
    assert sorted(walk.api.task_of(walk.project_id)) == sorted(sentences)

    # The counts reconcile, and are the numbers of annotations made above.
    counts = pull_counts(walk.pull_output)["claims"]
    assert counts == {
        "pulled": len(walk.valid) + len(walk.invalid) + len(walk.skipped),
        "accepted": len(walk.valid),
        "rejected": len(walk.invalid),
        "skipped": len(walk.skipped),
    }
    assert counts["pulled"] == counts["accepted"] + counts["rejected"] + counts["skipped"]
    assert "(cancelled 1, draft 1, empty 1)" in walk.pull_output
    accepted = read_jsonl(root / "exports" / "annotations" / "claims.jsonl")
    assert sorted(r["annotation_id"] for r in accepted) == sorted(walk.valid)

    # One reject per invalid annotation, with its task, annotator, JSON path and reason.
    rejects_path = root / "exports" / "annotations" / "claims.rejects.jsonl"
    assert f"rejects with task, annotator, JSON path and reason: {rejects_path}" in (
        walk.pull_output
    )
    rejects = {r["annotation_id"]: r for r in read_jsonl(rejects_path)}
    assert sorted(rejects) == sorted(walk.invalid)
    for annotation_id, (task_id, annotator, _what) in walk.invalid.items():
        reject = rejects[annotation_id]
        assert reject["task_id"] == task_id
        assert reject["annotator"] == annotator
        assert reject["path"].startswith("$.answers")
        assert reject["reason"]
    by_what = {what: rejects[i] for i, (_t, _a, what) in walk.invalid.items()}
    bogus = by_what["label not in the scheme"]
    assert bogus["path"] == "$.answers.claim[0]"
    assert "'bogus' is not one of" in bogus["reason"]
    assert "too long" in by_what["two choices"]["reason"]
    lacking = by_what["a control the config lacks"]
    assert "'claim' is a required property" in lacking["reason"]
    assert "'verdict'" in lacking["reason"]

    # The server's export, saved verbatim before anything read it.
    what, first = saved_exports(walk.pull_output)["claims"]
    assert what == "every annotated task"
    assert first.parent == root / "exports" / "pulls"
    exported = json.loads(first.read_bytes())
    in_export = {a["id"] for task in exported for a in task["annotations"]}
    cancelled, draft, empty = walk.skipped
    assert in_export == set(walk.valid) | set(walk.invalid) | {cancelled, empty}
    assert [d for task in exported for d in task["drafts"]] == [draft]  # the export's draft ids
    first_bytes = first.read_bytes()

    # A second pull keeps the first file as it was and writes a new one.
    second_output = ok(root, "pull")
    _, second = saved_exports(second_output)["claims"]
    assert second != first and second.is_file()
    assert first.read_bytes() == first_bytes
    assert sorted((root / "exports" / "pulls").glob("claims-*.json")) == sorted([first, second])
    assert pull_counts(second_output)["claims"] == counts

    # The dataset.
    output = ok(root, "dataset", "--accept-imbalance")
    assert "fewer than two split groups" in output
    assert "claims: 1 unresolved item(s) left out: ties or low" in output
    # The baseline is trained on train and scored on test, or the output says why not.
    assert "  baseline (claims" in output
    dataset_dir = root / "exports" / "factcheck"
    manifest = json.loads((dataset_dir / "manifest.json").read_text())
    assert manifest["unresolved"]["claims"] == [LAST_TIME]
    assert manifest["splits"]["by"] == "article_id"
    status = json.loads(ok(root, "status", "--json"))
    claims_status = next(p for p in status["projects"] if p["project"] == "claims")
    assert claims_status["unresolved"] == [LAST_TIME]

    claims = load(root, "claims", tmp_path / "hf")
    assert set(claims) == {"train", "test"}
    assert claims["train"].num_rows > 0 and claims["test"].num_rows > 0
    names = claims["train"].features["claim"].names
    assert names == CLAIM.names == ["no_claim", "not_checkworthy", "checkworthy"]
    rows = {r["sentence_id"]: (split, r) for split in claims for r in claims[split]}
    assert sorted(rows) == sorted(WALK_LABELS)
    for sentence, (label, resolved_by, how_many, agreement) in WALK_LABELS.items():
        _, row = rows[sentence]
        assert names[row["claim"]] == label, sentence
        assert row["resolved_by"] == resolved_by, sentence
        assert row["num_annotations"] == how_many, sentence
        assert row["agreement"] == pytest.approx(agreement), sentence
        assert row["control"] is False
        assert row["text"] and row["article_id"] == sentence.split("-")[0]
    # Grouped by article: every article's sentences in one split, as the manifest says.
    split_of_article: dict[str, set[str]] = {}
    for split, row in rows.values():
        split_of_article.setdefault(row["article_id"], set()).add(split)
    assert all(len(splits) == 1 for splits in split_of_article.values())
    groups = manifest["splits"]["groups"]
    assert {a: s.pop() for a, s in split_of_article.items()} == {a: groups[a] for a in (A0, A1)}

    # The annotations config: one row per accepted annotation, in its sentence's split.
    annotations = load(root, "annotations", tmp_path / "hf")
    annotation_rows = [(split, r) for split in annotations for r in annotations[split]]
    assert sorted(r["annotation_id"] for _, r in annotation_rows) == sorted(walk.valid)
    for split, row in annotation_rows:
        assert split == groups[row["item_id"].split("-")[0]]
        assert "@" not in row["annotator"]  # pseudonyms, never e-mail addresses
    assert Counter(r["ground_truth"] for _, r in annotation_rows)[True] == 2

    # Built again from the same inputs: the same bytes.
    parquet = sorted(dataset_dir.glob("data/*/*.parquet"))
    assert {p.parent.name for p in parquet} == {"claims", "annotations"}
    before = {p.relative_to(dataset_dir): sha256(p) for p in parquet}
    ok(root, "dataset", "--accept-imbalance")
    after = {
        p.relative_to(dataset_dir): sha256(p) for p in sorted(dataset_dir.glob("data/*/*.parquet"))
    }
    assert after == before


@pytest.mark.server
def test_status_text_and_json(walk: Walk) -> None:
    report = json.loads(ok(walk.root, "status", "--json"))
    claims = next(p for p in report["projects"] if p["project"] == "claims")
    sentences = labelable_sentences(SAMPLES)
    assert report["server_error"] is None
    assert claims["tasks"] == len(sentences)
    assert claims["labeled"] == len(WALK_LABELS)
    assert claims["unresolved"] == [LAST_TIME]
    assert claims["labeled"] + claims["unlabeled"] + len(claims["unresolved"]) == claims["tasks"]
    assert claims["rejected"] == len(walk.invalid)
    assert claims["skipped"] == len(walk.skipped)
    assert claims["adjudicated"] == 2
    per_annotator = {a["annotator"]: a["annotations"] for a in claims["annotators"]}
    # A: 10 answers, one rejected; B: 10, three rejected or skipped; the admin's two ground truths.
    assert per_annotator == {walk.a.email: 9, walk.b.email: 7, walk.admin.email: 2}
    assert sum(per_annotator.values()) == len(walk.valid)

    text = ok(walk.root, "status")
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("project "))
    row = next(line for line in lines if line.startswith("claims "))
    table = dict(zip(header.split(), row.split(), strict=True))
    assert table == {
        "project": "claims",
        "tasks": str(len(sentences)),
        "labeled": str(len(WALK_LABELS)),
        "unlabeled": str(claims["unlabeled"]),
        "skipped": str(len(walk.skipped)),
        "rejected": "3",
        "unresolved": "1",
        "adjudicated": "2",
    }
    for email, how_many in per_annotator.items():
        line = next(line for line in lines if line.startswith(email))
        assert line.split()[1] == str(how_many)
    assert f"unresolved: {LAST_TIME}" in text


@pytest.mark.server
def test_incremental_pull_keeps_what_came_before(
    labelstudio: LabelStudioServer, api: Api, tmp_path: Path
) -> None:
    root, _, task = synced_root(tmp_path, labelstudio, api, "e2e-incremental")
    a, b = api.user(labelstudio, "incr-a"), api.user(labelstudio, "incr-b")
    api.annotate(task[MINISTERS], choice("checkworthy"), a)
    api.annotate(task[MINISTERS], choice("checkworthy"), b)
    edited = api.annotate(task[HEADLINE], choice("no_claim"), a)
    api.annotate(task[HEADLINE], choice("bogus"), b)
    api.annotate(task[OFFICE], [], b, was_cancelled=True)

    first = ok(root, "pull")
    assert saved_exports(first)["claims"][0] == "every annotated task"
    before = pull_counts(first)["claims"]
    assert before == {"pulled": 5, "accepted": 3, "rejected": 1, "skipped": 1}
    accepted_path = root / "exports" / "annotations" / "claims.jsonl"
    records_before = read_jsonl(accepted_path)

    new = api.annotate(task[FIVE_KILLED], choice("checkworthy"), a)
    api.update(edited, choice("not_checkworthy"), a)  # A changes their mind
    second = ok(root, "pull")
    what, snapshot = saved_exports(second)["claims"]
    assert what.startswith("the tasks changed since ")
    assert new in {a["id"] for t in json.loads(snapshot.read_bytes()) for a in t["annotations"]}
    after = pull_counts(second)["claims"]
    assert after == {**before, "pulled": before["pulled"] + 1, "accepted": before["accepted"] + 1}
    records_after = read_jsonl(accepted_path)
    by_id = {r["annotation_id"]: r for r in records_after}
    assert all(
        by_id[r["annotation_id"]] == r for r in records_before if r["annotation_id"] != edited
    )
    assert sorted(by_id) == sorted([r["annotation_id"] for r in records_before] + [new])
    assert by_id[edited]["answers"] == {"claim": ["not_checkworthy"]}
    assert len(read_jsonl(root / "exports" / "annotations" / "claims.rejects.jsonl")) == 1

    full = ok(root, "pull", "--full")
    assert saved_exports(full)["claims"][0] == "every annotated task"
    assert pull_counts(full)["claims"] == after
    assert read_jsonl(accepted_path) == records_after
    # Every pull's export is kept.
    assert len(list((root / "exports" / "pulls").glob("claims-*.json"))) == 3


@pytest.mark.server
def test_demo_pieces_add_the_examples_once_and_build_the_dataset(
    labelstudio: LabelStudioServer, api: Api, tmp_path: Path
) -> None:
    """The steps of `make demo` after the server starts, on the sample corpus."""
    root = make_root(tmp_path, labelstudio, "e2e-demo")
    ok(root, "sync", "--no-progress")
    examples = json.loads(EXAMPLES.read_text(encoding="utf-8"))
    claims_examples = examples["claims"]
    skipped = sum(1 for e in claims_examples if e["label"] is None)
    assert skipped >= 1

    first = ok(root, "demo-annotations")
    n = len(claims_examples)
    assert f"claims: example annotations (example data): added {n}, 0 already there" in first
    project = api.project(dotenv(root)["CLAIMS_PROJECT_TITLE"])
    on_server = api.annotations(project["id"])
    assert len(on_server) == n
    assert sum(1 for a in on_server if a["was_cancelled"]) == skipped

    second = ok(root, "demo-annotations")
    assert f"claims: example annotations (example data): added 0, {n} already there" in second
    assert api.project(dotenv(root)["CLAIMS_PROJECT_TITLE"])["id"] == project["id"]
    assert len(api.annotations(project["id"])) == n

    # The examples fit the scheme: nothing rejected, the skip counted as skipped.
    counts = pull_counts(ok(root, "pull"))["claims"]
    assert counts == {"pulled": n, "accepted": n - skipped, "rejected": 0, "skipped": skipped}

    # The stance round and the adjudication of the demo find the examples' pairs and tie.
    ok(root, "stance", "--no-progress")
    stance_n = len(examples["stance"])
    output = ok(root, "demo-annotations")
    assert f"stance: example annotations (example data): added {stance_n}, 0 already" in output
    assert pull_counts(ok(root, "pull"))["stance"]["accepted"] == stance_n
    ok(root, "adjudicate")
    [adjudicated] = examples["claims-adjudication"]
    output = ok(root, "demo-annotations")
    assert "claims-adjudication: example annotations (example data): added 1, 0 already" in output
    assert pull_counts(ok(root, "pull"))["claims-adjudication"]["accepted"] == 1
    ok(root, "dataset", "--accept-imbalance")
    claims = load(root, "claims", tmp_path / "hf")
    rows = {r["sentence_id"]: r for split in claims for r in claims[split]}
    settled = rows[adjudicated["item_id"]]
    assert settled["resolved_by"] == "ground_truth"
    assert CLAIM.names[settled["claim"]] == adjudicated["label"]
    stance = load(root, "stance", tmp_path / "hf")
    assert sum(stance.num_rows.values()) > 0
