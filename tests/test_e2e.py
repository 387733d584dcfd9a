"""End to end against a real Label Studio: sync, annotations by real users, pull, dataset, load.

Every annotation here is made through the server's REST API, as the UI or a script of an
annotation team would make it: by users who signed up, with their own tokens, or by the admin on
their behalf (`completed_by`). Label Studio accepts invalid answers through that API; the builder
must reject them at the pull. The helpers at the top are shared with the stance and quality tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import LabelStudioServer

from builder.core.scheme import CLAIM
from builder.inputs.articles import load_article_files
from builder.inputs.sentences import split_article
from builder.tasks.claims import LABELED_KINDS

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "raw").glob("*.txt"))
EXAMPLES = ROOT / "examples" / "demo_annotations.json"
PASSWORD = "annotator-password-e2e"
COUNTS = re.compile(
    r"^(?P<project>[\w-]+): pulled (?P<pulled>\d+) = accepted (?P<accepted>\d+) \+ rejected "
    r"(?P<rejected>\d+) \+ skipped (?P<skipped>\d+)",
    re.MULTILINE,
)
SAVED = re.compile(
    r"^(?P<project>[\w-]+): saved the export of (?P<what>.+) as (?P<path>\S+)$", re.M
)

# Sentences of the two sample articles (one story, so the splits are by article).
A0 = "000_a8b5c246d29d0359"
A1 = "001_253ef9dc13582fd1"
HEADLINE = f"{A0}-b7bf253e1058"  # America and Russia call for the first time …
MINISTERS = f"{A0}-feedee58bced"  # The defense ministers … spoke by telephone …
LAST_TIME = f"{A0}-aea4621e8c3d"  # The last time a similar conversation took place …
PENTAGON = f"{A0}-cf0e16ae80a7"  # As usual, the Pentagon has not disclosed …
OFFICE = f"{A0}-1cc5a135d8f4"  # The Defense Department office says only …
FIVE_KILLED = f"{A0}-d17e69090288"  # At the attack On Sunday, five people were killed …
FIRST_TIME = f"{A0}-e523c3579774"  # It was the first time the two spoke.
HEIGHT = f"{A1}-79c601c13e1c"  # At the height of tensions … spoke on the phone …
BELOUSOV = f"{A1}-12262a54cf3d"  # With the Russian one, Andrei Belousov …
MOSCOW = f"{A1}-a83cabb80fa8"  # This is Moscow's version …
SINCE_2023 = f"{A1}-69bdc865676c"  # The US Defense Secretary had not spoken … since March 2023.
ECONOMIST = f"{A1}-bd527cd1dd2b"  # The conversation with Belousov, therefore, …
FOUR_KILLED = f"{A1}-b1379bb15c79"  # … a bombing on Crimea in which four civilians were killed …


# Running the builder as a user would ---------------------------------------------------------


def run(root: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`python -m builder …` in `root`, with none of the shell's server settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LABEL_STUDIO_", "LOCAL_LABEL_STUDIO_", "BUILDER_"))
    }
    env["BUILDER_ROOT"] = str(root)
    return subprocess.run(
        [sys.executable, "-m", "builder", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ok(root: Path, *args: str) -> str:
    """Run a command that must succeed; its standard output."""
    result = run(root, *args)
    assert result.returncode == 0, (
        f"`{' '.join(args)}` exited {result.returncode}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result.stdout


def make_root(
    base: Path,
    labelstudio: LabelStudioServer,
    tag: str,
    *,
    controls: bool = False,
    extra_env: dict[str, str] | None = None,
) -> Path:
    """A project root on the session's server with the two sample articles and its own projects."""
    root = base / tag
    for name in ("raw", "schemas", "exports"):
        (root / name).mkdir(parents=True)
    for sample in SAMPLES:
        shutil.copy(sample, root / "raw" / sample.name)
    if controls:
        shutil.copy(ROOT / "raw" / "controls.jsonl", root / "raw" / "controls.jsonl")
    unique = uuid.uuid4().hex[:8]
    lines = {
        "LABEL_STUDIO_URL": labelstudio.url,
        "LABEL_STUDIO_API_KEY": labelstudio.token,
        # Short enough for " · adjudication" to fit in Label Studio's 50 characters.
        "CLAIMS_PROJECT_TITLE": f"{tag[:18]} claims {unique}",
        "STANCE_PROJECT_TITLE": f"{tag[:18]} stance {unique}",
        **(extra_env or {}),
    }
    (root / ".env").write_text("".join(f"{k}={v}\n" for k, v in lines.items()), encoding="utf-8")
    return root


def dotenv(root: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (root / ".env").read_text().splitlines() if line)
    return dict(pairs)


def labelable_sentences(paths: Iterable[Path]) -> list[str]:
    """The sentence ids a sync must turn into tasks (boilerplate is never labeled)."""
    loaded = load_article_files(list(paths))
    return [
        s.sentence_id
        for article in loaded.items
        for s in split_article(article)
        if s.kind in LABELED_KINDS
    ]


def pull_counts(output: str) -> dict[str, dict[str, int]]:
    """project -> pulled, accepted, rejected, skipped as printed by `pull`."""
    return {
        m["project"]: {k: int(m[k]) for k in ("pulled", "accepted", "rejected", "skipped")}
        for m in COUNTS.finditer(output)
    }


def saved_exports(output: str) -> dict[str, tuple[str, Path]]:
    """project -> (what was exported, the file it was saved as) as printed by `pull`."""
    return {m["project"]: (m["what"], Path(m["path"])) for m in SAVED.finditer(output)}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load(root: Path, config: str, cache: Path) -> Any:
    import datasets

    return datasets.load_dataset(str(root / "exports" / "factcheck"), config, cache_dir=str(cache))


# Talking to the server as annotators do ------------------------------------------------------


def choice(*labels: str, name: str = "claim") -> list[dict[str, Any]]:
    """A result as the UI sends it for a Choices control."""
    return [
        {"from_name": name, "to_name": "text", "type": "choices", "value": {"choices": [*labels]}}
    ]


@dataclass(frozen=True)
class User:
    email: str
    token: str
    id: int


@dataclass
class Api:
    """Plain REST calls to the server, with the admin's token unless a user's is given."""

    url: str
    token: str
    created: list[dict[str, Any]] = field(default_factory=list)

    def _headers(self, token: str | None) -> dict[str, str]:
        return {"Authorization": f"Token {token or self.token}"}

    def get(self, path: str, token: str | None = None, **params: Any) -> Any:
        answer = requests.get(
            f"{self.url}{path}", headers=self._headers(token), params=params, timeout=120
        )
        assert answer.status_code == 200, f"GET {path}: {answer.status_code} {answer.text[:300]}"
        return answer.json()

    def user(self, labelstudio: LabelStudioServer, name: str) -> User:
        """A new user who signed up, with a name unique to this session."""
        email = f"{name}-{uuid.uuid4().hex[:8]}@e2e.test"
        token = labelstudio.create_user(email, PASSWORD)
        me = self.get("/api/current-user/whoami", token=token)
        return User(email, token, me["id"])

    def admin(self) -> User:
        me = self.get("/api/current-user/whoami")
        return User(me["email"], self.token, me["id"])

    def project(self, title: str) -> dict[str, Any]:
        found = [p for p in self.get("/api/projects/", page_size=1000)["results"]]
        matches = [p for p in found if p["title"] == title]
        assert len(matches) == 1, f"{len(matches)} projects titled {title!r}"
        return matches[0]

    def has_project(self, title: str) -> bool:
        return any(
            p["title"] == title for p in self.get("/api/projects/", page_size=1000)["results"]
        )

    def tasks(self, project_id: int) -> list[dict[str, Any]]:
        return self.get("/api/tasks/", project=project_id, page_size=10000)["tasks"]

    def annotations(self, project_id: int) -> list[dict[str, Any]]:
        """Every annotation of a project, skipped ones included, in one listing."""
        tasks = self.get("/api/tasks/", project=project_id, page_size=10000, fields="all")
        return [a for task in tasks["tasks"] for a in task["annotations"]]

    def task_of(self, project_id: int, key: str = "sentence_id") -> dict[str, int]:
        """item id (data[key]) -> task id."""
        return {t["data"][key]: t["id"] for t in self.tasks(project_id)}

    def task(self, task_id: int) -> dict[str, Any]:
        return self.get(f"/api/tasks/{task_id}/")

    def annotate(
        self,
        task_id: int,
        result: list[dict[str, Any]],
        by: User,
        *,
        as_admin: bool = False,
        **extra: Any,
    ) -> int:
        """POST an annotation as user `by` (with their own token), or by the admin on their
        behalf (`completed_by`). Returns the annotation's id."""
        body: dict[str, Any] = {"result": result, "lead_time": 4.5, **extra}
        token = by.token
        if as_admin:
            body["completed_by"] = by.id
            token = self.token
        answer = requests.post(
            f"{self.url}/api/tasks/{task_id}/annotations/",
            headers=self._headers(token),
            json=body,
            timeout=120,
        )
        assert answer.status_code == 201, f"annotation of {task_id}: {answer.text[:300]}"
        created = answer.json()
        assert created["completed_by"] == by.id
        self.created.append(created)
        return created["id"]

    def draft(self, task_id: int, result: list[dict[str, Any]], by: User) -> int:
        """A draft, as the UI saves one before Submit. Returns the draft's id."""
        answer = requests.post(
            f"{self.url}/api/tasks/{task_id}/drafts",
            headers=self._headers(by.token),
            json={"result": result, "lead_time": 2.0},
            timeout=120,
        )
        assert answer.status_code == 201, f"draft of {task_id}: {answer.text[:300]}"
        return answer.json()["id"]

    def update(self, annotation_id: int, result: list[dict[str, Any]], by: User) -> None:
        """An annotator changes their submitted answer (Update in the UI)."""
        answer = requests.patch(
            f"{self.url}/api/annotations/{annotation_id}/",
            headers=self._headers(by.token),
            json={"result": result},
            timeout=120,
        )
        assert answer.status_code == 200, f"update of {annotation_id}: {answer.text[:300]}"


@pytest.fixture(scope="module")
def api(labelstudio: LabelStudioServer) -> Api:
    return Api(labelstudio.url, labelstudio.token)


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
    root = make_root(tmp_path, labelstudio, "e2e-incremental")
    ok(root, "sync", "--no-progress")
    project_id = api.project(dotenv(root)["CLAIMS_PROJECT_TITLE"])["id"]
    task = api.task_of(project_id)
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
