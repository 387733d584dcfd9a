"""Annotation quality on a real Label Studio: overlap, adjudication, control items, agreement."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import LabelStudioServer
from support import (
    BELOUSOV,
    FIVE_KILLED,
    HEADLINE,
    HEIGHT,
    LAST_TIME,
    MINISTERS,
    OFFICE,
    PENTAGON,
    ROOT,
    Api,
    User,
    choice,
    dotenv,
    load,
    make_root,
    ok,
    pull_counts,
    run,
    synced_root,
)

from builder.core.config import ADJUDICATION_SUFFIX, MAX_PROJECT_TITLE
from builder.core.projects import labeling_config
from builder.core.scheme import CLAIM

PNG = b"\x89PNG\r\n\x1a\n"


def claims_status(root: Path) -> dict[str, Any]:
    report = json.loads(ok(root, "status", "--json"))
    return next(p for p in report["projects"] if p["project"] == "claims")


# Overlap -------------------------------------------------------------------------------------


@pytest.mark.server
def test_with_overlap_two_annotators_are_given_the_same_task(
    labelstudio: LabelStudioServer, api: Api, tmp_path: Path
) -> None:
    overlap = {"ANNOTATIONS_PER_TASK": "2"}
    root, project, _ = synced_root(tmp_path, labelstudio, api, "quality-overlap", extra_env=overlap)
    assert project["maximum_annotations"] == 2
    a, b, c = (api.user(labelstudio, f"overlap-{n}") for n in "abc")

    def next_task(who: User) -> int:
        return api.get(f"/api/projects/{project['id']}/next", token=who.token)["id"]

    first = next_task(a)
    api.annotate(first, choice("checkworthy"), a)
    assert next_task(b) == first  # handed out again: one annotation is not enough
    api.annotate(first, choice("checkworthy"), b)
    assert next_task(c) != first  # two annotations: done
    assert next_task(a) != first


# Adjudication --------------------------------------------------------------------------------


@dataclass
class Adjudication:
    root: Path
    api: Api
    a: User
    b: User
    c: User
    labelstudio: LabelStudioServer

    @property
    def title(self) -> str:
        return dotenv(self.root)["CLAIMS_PROJECT_TITLE"] + ADJUDICATION_SUFFIX

    def tasks(self) -> list[dict[str, Any]]:
        return self.api.tasks(self.api.project(self.title)["id"])


TIE, LOW, UNANIMOUS = LAST_TIME, MINISTERS, HEADLINE


@pytest.fixture(scope="module")
def adjudication(
    labelstudio: LabelStudioServer, api: Api, tmp_path_factory: pytest.TempPathFactory
) -> Adjudication:
    """Three annotators: a tie (1-1), a 2-1 majority and a unanimous item, pulled."""
    base = tmp_path_factory.mktemp("adjudication")
    root, _, task = synced_root(base, labelstudio, api, "quality-adjudication")
    a, b, c = (api.user(labelstudio, f"adj-{n}") for n in "abc")
    api.annotate(task[TIE], choice("checkworthy"), a)
    api.annotate(task[TIE], choice("not_checkworthy"), b)
    api.annotate(task[LOW], choice("checkworthy"), a)
    api.annotate(task[LOW], choice("checkworthy"), b)
    api.annotate(task[LOW], choice("no_claim"), c)
    for who in (a, b, c):
        api.annotate(task[UNANIMOUS], choice("no_claim"), who)
    assert pull_counts(ok(root, "pull"))["claims"]["accepted"] == 8
    return Adjudication(root, api, a, b, c, labelstudio)


def predictions(api: Api, task_id: int) -> dict[str, list[str]]:
    """model_version -> the choices it predicts, for one task."""
    found = api.task(task_id)["predictions"]
    assert all(len(p["result"]) == 1 for p in found)
    return {p["model_version"]: p["result"][0]["value"]["choices"] for p in found}


@pytest.mark.server
def test_a_tie_goes_to_adjudication_once_and_the_adjudicator_settles_it(
    adjudication: Adjudication, tmp_path: Path
) -> None:
    root, api, a, b = adjudication.root, adjudication.api, adjudication.a, adjudication.b
    assert claims_status(root)["unresolved"] == [TIE]

    output = ok(root, "adjudicate")
    assert "claims: 1 item(s) to adjudicate (1 tie); sent 1 new, 0 already there" in output
    project = api.project(adjudication.title)
    assert f"adjudicate at {api.url}/projects/{project['id']}/data" in output
    assert project["label_config"].strip() == labeling_config("claims", adjudication=True).strip()
    [task] = adjudication.tasks()
    assert task["data"]["sentence_id"] == TIE
    assert task["data"]["adjudication_reason"] == "tie"
    assert a.email in task["data"]["answers_given"] and b.email in task["data"]["answers_given"]
    # Each annotator's answer is a prediction that says who gave it.
    assert predictions(api, task["id"]) == {
        f"annotator {a.email}": ["checkworthy"],
        f"annotator {b.email}": ["not_checkworthy"],
    }

    again = ok(root, "adjudicate")
    assert "sent 0 new, 1 already there" in again
    assert [t["id"] for t in adjudication.tasks()] == [task["id"]]

    # The adjudicator answers in the adjudication project, as in its UI; the pull settles it.
    adjudicator = api.user(adjudication.labelstudio, "adjudicator")
    final = api.annotate(task["id"], choice("not_checkworthy"), adjudicator)
    counts = pull_counts(ok(root, "pull"))
    assert counts["claims-adjudication"] == {
        "pulled": 1,
        "accepted": 1,
        "rejected": 0,
        "skipped": 0,
    }
    assert counts["claims"]["accepted"] == 8
    status = claims_status(root)
    assert status["unresolved"] == []
    assert status["adjudicated"] == 1
    assert "claims: nothing to adjudicate" in ok(root, "adjudicate")

    ok(root, "dataset", "--accept-imbalance")
    manifest = json.loads((root / "exports" / "factcheck" / "manifest.json").read_text())
    assert manifest["unresolved"]["claims"] == []
    claims = load(root, "claims", tmp_path / "hf")
    rows = {r["sentence_id"]: r for split in claims for r in claims[split]}
    names = claims["train"].features["claim"].names
    assert names[rows[TIE]["claim"]] == "not_checkworthy"
    assert rows[TIE]["resolved_by"] == "ground_truth"
    assert rows[TIE]["num_annotations"] == 2
    assert rows[LOW]["resolved_by"] == "majority"
    assert rows[LOW]["agreement"] == pytest.approx(2 / 3, abs=1e-4)
    annotations = load(root, "annotations", tmp_path / "hf")
    truth = [r for s in annotations for r in annotations[s] if r["ground_truth"]]
    assert [(r["annotation_id"], r["item_id"], r["label"]) for r in truth] == [
        (final, TIE, "not_checkworthy")
    ]


@pytest.mark.server
def test_min_agreement_also_sends_low_agreement_items(adjudication: Adjudication) -> None:
    root, api = adjudication.root, adjudication.api
    output = ok(root, "adjudicate", "--min-agreement", "0.9")
    assert "low agreement" in output
    tasks = adjudication.tasks()
    low = [t for t in tasks if t["data"]["sentence_id"] == LOW]
    assert len(low) == 1
    assert low[0]["data"]["adjudication_reason"] == "low agreement"
    assert predictions(api, low[0]["id"]) == {
        f"annotator {adjudication.a.email}": ["checkworthy"],
        f"annotator {adjudication.b.email}": ["checkworthy"],
        f"annotator {adjudication.c.email}": ["no_claim"],
    }
    assert UNANIMOUS not in {t["data"]["sentence_id"] for t in tasks}

    again = ok(root, "adjudicate", "--min-agreement", "0.9")
    assert "sent 0 new" in again
    assert sorted(t["id"] for t in adjudication.tasks()) == sorted(t["id"] for t in tasks)
    # 2 of 3 agree: below 0.9, but not below 0.5.
    assert "low agreement" not in ok(root, "adjudicate", "--min-agreement", "0.5")


# Control items and agreement -----------------------------------------------------------------

CONTROLS = {HEADLINE: "no_claim", FIVE_KILLED: "checkworthy"}  # raw/controls.jsonl
# Two annotators on eight sentences: A is right on both controls, B on one of the two.
ANSWERS = {
    HEADLINE: ("no_claim", "no_claim"),
    FIVE_KILLED: ("checkworthy", "not_checkworthy"),
    MINISTERS: ("checkworthy", "checkworthy"),
    LAST_TIME: ("checkworthy", "checkworthy"),
    PENTAGON: ("not_checkworthy", "not_checkworthy"),
    OFFICE: ("not_checkworthy", "no_claim"),
    HEIGHT: ("checkworthy", "checkworthy"),
    BELOUSOV: ("not_checkworthy", "not_checkworthy"),
}


@dataclass
class Controlled:
    root: Path
    api: Api
    a: User
    b: User
    project_id: int


@pytest.fixture(scope="module")
def controlled(
    labelstudio: LabelStudioServer, api: Api, tmp_path_factory: pytest.TempPathFactory
) -> Controlled:
    lines = (ROOT / "raw" / "controls.jsonl").read_text().splitlines()
    assert {json.loads(line)["sentence_id"]: json.loads(line)["claim"] for line in lines} == (
        CONTROLS
    )
    base = tmp_path_factory.mktemp("controls")
    root, project, task = synced_root(base, labelstudio, api, "quality-controls", controls=True)
    project_id = project["id"]
    a, b = api.user(labelstudio, "ctl-a"), api.user(labelstudio, "ctl-b")
    for sentence, (by_a, by_b) in ANSWERS.items():
        api.annotate(task[sentence], choice(by_a), a)
        api.annotate(task[sentence], choice(by_b), b)
    assert pull_counts(ok(root, "pull"))["claims"]["accepted"] == 2 * len(ANSWERS)
    return Controlled(root, api, a, b, project_id)


def hand_alpha(units: list[tuple[str, ...]]) -> float:
    """Nominal Krippendorff's alpha, by the textbook: 1 - D_o / D_e over pairable values."""
    values = [v for unit in units if len(unit) > 1 for v in unit]
    n = len(values)
    disagreeing = 0.0  # sum over units of the ordered pairs that differ, over m_u - 1
    for unit in units:
        if len(unit) > 1:
            pairs = sum(
                1 for i, x in enumerate(unit) for j, y in enumerate(unit) if i != j and x != y
            )
            disagreeing += pairs / (len(unit) - 1)
    observed = disagreeing / n
    expected = sum(
        values.count(c) * values.count(k) for c in set(values) for k in set(values) if c != k
    )
    return 1 - observed / (expected / (n * (n - 1)))


def hand_kappa(pairs: list[tuple[str, str]]) -> float:
    n = len(pairs)
    seen = sum(x == y for x, y in pairs) / n
    labels = {v for pair in pairs for v in pair}
    chance = sum(
        (sum(x == c for x, _ in pairs) / n) * (sum(y == c for _, y in pairs) / n) for c in labels
    )
    return (seen - chance) / (1 - chance)


def test_the_hand_computed_figures_match_the_libraries() -> None:
    from krippendorff import alpha as library_alpha
    from sklearn.metrics import cohen_kappa_score

    units = list(ANSWERS.values())
    # 8 units, 16 values: no_claim 3, not_checkworthy 6, checkworthy 7; 2 units disagree.
    assert hand_alpha(units) == pytest.approx(1 - 15 * 4 / (16 * 16 - (9 + 36 + 49)))
    assert hand_alpha(units) == pytest.approx(1 - 60 / 162)
    # Observed agreement 6/8; chance (1*2 + 3*3 + 4*3) / 64 = 23/64.
    assert hand_kappa(units) == pytest.approx((6 / 8 - 23 / 64) / (1 - 23 / 64))
    assert hand_kappa(units) == pytest.approx(25 / 41)
    codes = {label: i for i, label in enumerate(CLAIM.names)}
    matrix = [[codes[unit[who]] for unit in units] for who in (0, 1)]
    assert library_alpha(reliability_data=matrix, level_of_measurement="nominal") == (
        pytest.approx(hand_alpha(units))
    )
    assert cohen_kappa_score(*matrix) == pytest.approx(hand_kappa(units))


@pytest.mark.server
def test_tasks_carry_no_trace_of_control_items(controlled: Controlled) -> None:
    tasks = {t["data"]["sentence_id"]: t for t in controlled.api.tasks(controlled.project_id)}
    keys = {frozenset(t["data"]) for t in tasks.values()}
    assert len(keys) == 1, keys  # a control task has the same fields as any other
    [fields] = keys
    assert not [f for f in fields if "control" in f.lower() or "known" in f.lower()]
    for sentence in CONTROLS:
        data = tasks[sentence]["data"]
        assert not [v for v in data.values() if "control" in str(v).lower()]
        assert data["sentence_id"] == sentence


@pytest.mark.server
def test_status_reports_control_accuracy_and_agreement(controlled: Controlled) -> None:
    a, b = controlled.a, controlled.b
    status = claims_status(controlled.root)
    annotators = {row["annotator"]: row for row in status["annotators"]}
    assert (annotators[a.email]["control_accuracy"], annotators[a.email]["control_items"]) == (
        1.0,
        2,
    )
    assert (annotators[b.email]["control_accuracy"], annotators[b.email]["control_items"]) == (
        0.5,
        2,
    )
    units = list(ANSWERS.values())
    alpha = status["agreement"]["krippendorff_alpha"]
    assert alpha["value"] == round(hand_alpha(units), 4) == round(1 - 60 / 162, 4)
    assert (alpha["items"], alpha["ratings"]) == (8, 16)
    [kappa] = status["agreement"]["pairwise_kappa"]
    assert sorted([kappa["annotator_a"], kappa["annotator_b"]]) == sorted([a.email, b.email])
    assert kappa["value"] == round(hand_kappa(units), 4) == round(25 / 41, 4)
    assert kappa["items"] == 8
    # With two annotators the majority exists only where they agree: 6 items, all agreed.
    majority = {row["annotator"]: row for row in status["agreement"]["agreement_with_majority"]}
    assert {k: (v["value"], v["items"]) for k, v in majority.items()} == {
        a.email: (1.0, 6),
        b.email: (1.0, 6),
    }
    # A control item's annotators may tie: its answer is known, so only the other tie waits.
    assert status["unresolved"] == [OFFICE]
    assert status["labeled"] == len(ANSWERS) - 1

    text = ok(controlled.root, "status")
    first, second = sorted([a.email, b.email])
    assert f"Krippendorff's alpha {1 - 60 / 162:.3f} over 8 items" in text
    assert f"Cohen's kappa {first} / {second}: {25 / 41:.3f} over 8 items" in text
    line_of = {
        who: next(x for x in text.splitlines() if x.startswith(who)) for who in (a.email, b.email)
    }
    assert "1.000 (2)" in line_of[a.email]
    assert "0.500 (2)" in line_of[b.email]


@pytest.mark.server
def test_control_items_are_flagged_kept_out_of_test_and_the_card_shows_agreement(
    controlled: Controlled, tmp_path: Path
) -> None:
    root = controlled.root
    output = ok(root, "dataset", "--accept-imbalance")
    assert "claims: 1 unresolved item(s) left out: ties or low" in output
    claims = load(root, "claims", tmp_path / "hf")
    names = claims["train"].features["claim"].names
    rows = {r["sentence_id"]: (split, r) for split in claims for r in claims[split]}
    assert sorted(rows) == sorted(set(ANSWERS) - {OFFICE})  # the tie of a control stays in
    for sentence, known in CONTROLS.items():
        split, row = rows[sentence]
        assert split == "train"
        assert row["control"] is True
        assert row["resolved_by"] == "control"
        assert names[row["claim"]] == known
    assert claims["test"].num_rows > 0
    assert not any(claims["test"]["control"])
    assert sum(claims["train"]["control"]) == len(CONTROLS)

    dataset_dir = root / "exports" / "factcheck"
    manifest = json.loads((dataset_dir / "manifest.json").read_text())
    assert manifest["unresolved"]["claims"] == [OFFICE]
    units = list(ANSWERS.values())
    alpha, kappa = hand_alpha(units), hand_kappa(units)
    agreement = manifest["agreement"]["claims"]
    assert agreement["krippendorff_alpha"]["value"] == round(alpha, 4)
    assert agreement["pairwise_kappa"][0]["value"] == round(kappa, 4)
    card = (dataset_dir / "README.md").read_text()
    assert f"| `claim` | {alpha:.3f} | 8 |" in card
    [kappa_line] = [line for line in card.splitlines() if "| `claim` | annotator-" in line]
    assert kappa_line.endswith(f"| {kappa:.3f} | 8 |")
    for picture in ("label_distribution.png", "annotator_confusion.png"):
        assert f"]({picture})" in card
        assert (dataset_dir / picture).read_bytes().startswith(PNG)


@pytest.mark.server
def test_a_tie_on_a_control_item_is_not_sent_to_adjudication(controlled: Controlled) -> None:
    output = ok(controlled.root, "adjudicate")
    assert "claims: 1 item(s) to adjudicate (1 tie)" in output
    title = dotenv(controlled.root)["CLAIMS_PROJECT_TITLE"] + ADJUDICATION_SUFFIX
    tasks = controlled.api.tasks(controlled.api.project(title)["id"])
    assert [t["data"]["sentence_id"] for t in tasks] == [OFFICE]


def test_a_title_with_no_room_for_the_adjudication_suffix_is_refused(tmp_path: Path) -> None:
    assert MAX_PROJECT_TITLE + len(ADJUDICATION_SUFFIX) == 50  # Label Studio's limit
    (tmp_path / "raw").mkdir()
    title = "x" * (MAX_PROJECT_TITLE + 1)
    (tmp_path / ".env").write_text(
        f"LABEL_STUDIO_URL=http://127.0.0.1:9\nLABEL_STUDIO_API_KEY=k\nCLAIMS_PROJECT_TITLE={title}\n"
    )
    result = run(tmp_path, "status")
    assert result.returncode != 0
    assert f"CLAIMS_PROJECT_TITLE={title!r} is {len(title)} characters long" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.server
def test_bad_control_lines_are_reported_with_file_line_and_reason(
    labelstudio: LabelStudioServer, tmp_path: Path
) -> None:
    root = make_root(tmp_path, labelstudio, "quality-bad-controls")
    path = root / "raw" / "controls.jsonl"
    lines = [
        json.dumps({"sentence_id": HEADLINE, "claim": "no_claim"}),
        json.dumps({"sentence_id": "000_a8b5c246d29d0359-000000000000", "claim": "no_claim"}),
        json.dumps({"sentence_id": FIVE_KILLED, "claim": "true"}),
        '{"sentence_id": ',
        json.dumps({"sentence_id": HEADLINE, "claim": "checkworthy"}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for command in (["dataset", "--accept-imbalance"], ["status"]):
        result = run(root, *command)
        by_line: dict[int, str] = {}
        for problem in result.stderr.splitlines():
            if problem.startswith("bad input: "):
                where, _, reason = problem.removeprefix("bad input: ").partition(": ")
                file, _, number = where.rpartition(":")
                assert file == str(path)
                by_line[int(number)] = reason
        assert sorted(by_line) == [2, 3, 4, 5], result.stderr
        assert "unknown sentence_id '000_a8b5c246d29d0359-000000000000'" in by_line[2]
        assert "'true' is not one of ['no_claim', 'not_checkworthy', 'checkworthy']" in by_line[3]
        assert "broken JSON" in by_line[4]
        assert "given twice" in by_line[5]
        if command[0] == "dataset":
            assert result.returncode != 0
    # The good line was used: the control is in the dataset with its known answer.
    claims = load(root, "claims", tmp_path / "hf")
    [row] = [r for s in claims for r in claims[s]]
    assert (row["sentence_id"], row["control"], row["claim"]) == (HEADLINE, True, 0)
