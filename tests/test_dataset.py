"""The Hugging Face dataset: built from raw/ and pulled records in a tmp root, then loaded back."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import datasets
import pyarrow.parquet as pq
import pytest
import yaml

import builder.dataset.build as dataset_module
from builder.core.atomic import write_jsonl
from builder.core.config import Settings
from builder.core.errors import BuilderError
from builder.core.report import Report
from builder.core.scheme import CLAIM
from builder.dataset.build import build_dataset, make_dataset
from builder.inputs.corpus import load_corpus
from builder.labels.records import pull_paths
from builder.tasks.claims import claim_tasks

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "raw").glob("*.txt"))
SNAPSHOT = "claims-20240627T100000Z-0123abcd.json"
CLAIM_NAMES = ["no_claim", "not_checkworthy", "checkworthy"]

EXTRA_STORIES = {
    "derby": [
        "Arsenal beat Chelsea three goals to one on Saturday. The striker scored twice.",
        "Chelsea lost at the Emirates on Saturday. Their manager blamed the referee.",
    ],
    "rates": [
        "The central bank raised its rate by a quarter point. Bond yields rose at once.",
    ],
    "floods": [
        "Heavy rain flooded the river valley on Tuesday. Two bridges were closed.",
        "Rescue teams evacuated 300 residents. The army sent four helicopters.",
    ],
    "election": [
        "The governing party won 41 percent of the vote. Turnout was the lowest since 1990.",
    ],
    "vaccine": [
        "The regulator approved a new vaccine for children. Trials included 4,000 children.",
    ],
}


def write_raw(root: Path, extra: bool) -> None:
    raw = root / "raw"
    raw.mkdir(parents=True)
    for sample in SAMPLES:
        shutil.copy(sample, raw / sample.name)
    if extra:
        rows = [
            {"id": f"{story}-{n}", "text": text, "story_id": story, "date": "2024-06-26"}
            for story, texts in EXTRA_STORIES.items()
            for n, text in enumerate(texts)
        ]
        (raw / "more.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
        )


def annotation_records(settings: Settings) -> list[dict[str, Any]]:
    """Two annotators per sentence; they disagree (a tie) on every seventh sentence."""
    records = []
    annotation_id = 1
    for number, task in enumerate(claim_tasks(load_corpus(settings))):
        label = CLAIM_NAMES[number % 3]
        other = CLAIM_NAMES[(number + 1) % 3] if number % 7 == 3 else label
        for who, given in (("ann1@example.org", label), ("ann2@example.org", other)):
            records.append(
                {
                    "project": "claims",
                    "item_id": task["sentence_id"],
                    "task_id": 1000 + number,
                    "annotation_id": annotation_id,
                    "annotator": who,
                    "answers": {"claim": [given]},
                    "lead_time": 3.5,
                    "created_at": "2024-06-27T10:00:00.000000Z",
                    "updated_at": "2024-06-27T10:00:00.000000Z",
                    "ground_truth": False,
                }
            )
            annotation_id += 1
    return records


def write_pull(settings: Settings, records: list[dict[str, Any]]) -> None:
    paths = pull_paths(settings, "claims")
    paths.snapshots.mkdir(parents=True, exist_ok=True)
    (paths.snapshots / SNAPSHOT).write_text('[{"id": 1, "annotations": []}]', encoding="utf-8")
    write_jsonl(paths.accepted, records)
    paths.summary.write_text(
        json.dumps(
            {
                "project": "claims",
                "project_id": 3,
                "snapshot": SNAPSHOT,
                "counts": {
                    "pulled": len(records) + 1,
                    "accepted": len(records),
                    "rejected": 0,
                    "skipped": 1,
                },
            }
        ),
        encoding="utf-8",
    )


def make_root(root: Path, extra: bool = True) -> Settings:
    write_raw(root, extra)
    settings = Settings(root=root.resolve())
    write_pull(settings, annotation_records(settings))
    return settings


def build(settings: Settings, accept_imbalance: bool = False) -> dict[str, Any]:
    return build_dataset(settings, load_corpus(settings), accept_imbalance=accept_imbalance)


def load(settings: Settings, config: str, cache: Path) -> datasets.DatasetDict:
    return datasets.load_dataset(str(settings.dataset_dir), config, cache_dir=str(cache))


def parquet_bytes(dataset_dir: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(dataset_dir)): p.read_bytes()
        for p in sorted((dataset_dir / "data").rglob("*.parquet"))
    }


def tree(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict[str, Any]]:
    settings = make_root(tmp_path_factory.mktemp("root"))
    return settings, build(settings)


# Loading ------------------------------------------------------------------------------------


def test_no_config_name_loads_claims(
    built: tuple[Settings, dict[str, Any]], tmp_path: Path
) -> None:
    settings, manifest = built
    ds = datasets.load_dataset(str(settings.dataset_dir), cache_dir=str(tmp_path))
    assert ds["train"].features["claim"].names == CLAIM_NAMES
    for split in ("train", "test"):
        assert ds[split].num_rows == manifest["counts"]["claims"][split]


def test_claims_config_loads_with_train_test_and_class_labels(
    built: tuple[Settings, dict[str, Any]], tmp_path: Path
) -> None:
    settings, manifest = built
    ds = load(settings, "claims", tmp_path)
    assert isinstance(ds, datasets.DatasetDict)
    assert set(ds) == {"train", "test"}
    assert ds["train"].features["claim"].names == CLAIM_NAMES
    assert ds["test"].features["claim"].names == CLAIM_NAMES
    for split in ("train", "test"):
        assert ds[split].num_rows == manifest["counts"]["claims"][split] > 0
    row = ds["train"][0]
    assert set(row) >= {
        "sentence_id",
        "text",
        "claim",
        "article_id",
        "story_id",
        "kind",
        "index",
        "start",
        "end",
        "context_before",
        "context_after",
        "source",
        "date",
        "language",
        "num_annotations",
        "agreement",
    }


def test_claims_rows_carry_the_majority_label_and_the_sentence(
    built: tuple[Settings, dict[str, Any]], tmp_path: Path
) -> None:
    settings, manifest = built
    corpus = load_corpus(settings)
    tasks = {t["sentence_id"]: (n, t) for n, t in enumerate(claim_tasks(corpus))}
    ds = load(settings, "claims", tmp_path)
    rows = [r for split in ("train", "test") for r in ds[split]]
    for row in rows:
        number, task = tasks[row["sentence_id"]]
        assert row["claim"] == number % 3
        assert row["text"] == task["text"]
        article = corpus.articles[row["article_id"]]
        assert article.text[row["start"] : row["end"]] == row["text"]
        assert row["num_annotations"] == 2 and row["agreement"] == 1.0
        assert row["kind"] != "boilerplate"
    # Ties (every seventh sentence) are left out and listed as unresolved.
    ties = sorted(sid for sid, (n, _) in tasks.items() if n % 7 == 3)
    assert ties
    assert manifest["unresolved"]["claims"] == ties
    assert len(rows) == len(tasks) - len(ties)


def test_annotations_config_loads(built: tuple[Settings, dict[str, Any]], tmp_path: Path) -> None:
    settings, manifest = built
    ds = load(settings, "annotations", tmp_path)
    assert set(ds) == {"train", "test"}
    total = ds["train"].num_rows + ds["test"].num_rows
    assert total == len(annotation_records(settings))
    assert (
        total
        == manifest["counts"]["annotations"]["train"] + manifest["counts"]["annotations"]["test"]
    )
    assert set(ds["train"]["label"]) <= set(CLAIM_NAMES)
    annotators = set(ds["train"]["annotator"]) | set(ds["test"]["annotator"])
    assert len(annotators) == 2
    assert all(a.startswith("annotator-") for a in annotators)


def test_no_annotator_email_in_the_output(built: tuple[Settings, dict[str, Any]]) -> None:
    settings, _ = built
    for name, data in tree(settings.dataset_dir).items():
        assert b"example.org" not in data, name


# Splits -------------------------------------------------------------------------------------


def test_no_story_is_in_both_splits_in_any_config(
    built: tuple[Settings, dict[str, Any]], tmp_path: Path
) -> None:
    settings, manifest = built
    assert manifest["splits"]["by"] == "split_group"
    stories: dict[str, set[str]] = {"train": set(), "test": set()}
    for config in ("claims", "annotations"):
        ds = load(settings, config, tmp_path)
        for split in ("train", "test"):
            stories[split] |= set(ds[split]["story_id"])
    assert stories["train"] and stories["test"]
    assert not stories["train"] & stories["test"]
    assert len(stories["train"] | stories["test"]) == 1 + len(EXTRA_STORIES)
    groups = manifest["splits"]["groups"]
    for split, names in stories.items():
        assert all(groups[name] == split for name in names)


def test_annotations_follow_their_sentence_split(
    built: tuple[Settings, dict[str, Any]], tmp_path: Path
) -> None:
    settings, _ = built
    claims = load(settings, "claims", tmp_path)
    annotations = load(settings, "annotations", tmp_path)
    for split in ("train", "test"):
        other = "test" if split == "train" else "train"
        assert not set(annotations[split]["item_id"]) & set(claims[other]["sentence_id"])


def test_a_story_keeps_its_split_when_more_data_arrives(tmp_path: Path) -> None:
    settings = make_root(tmp_path / "root")
    first = build(settings)["splits"]["groups"]
    extra = [
        {
            "id": f"late-{n}",
            "text": f"Story {n} happened on Monday. It was news.",
            "story_id": f"late{n}",
        }
        for n in range(6)
    ]
    with (settings.raw_dir / "late.jsonl").open("w", encoding="utf-8") as handle:
        handle.write("".join(json.dumps(r) + "\n" for r in extra))
    write_pull(settings, annotation_records(settings))
    second = build(settings)["splits"]["groups"]
    assert {g: second[g] for g in first} == first
    assert {f"late{n}" for n in range(6)} <= set(second)


def test_a_damaged_manifest_still_keeps_every_story_on_its_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_root(tmp_path / "root")
    first = build(settings)["splits"]["groups"]
    manifest = settings.dataset_dir / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:100])
    # A much larger test share would move stories, were the last build's splits forgotten.
    moved = Settings(root=settings.root, values={"TEST_SIZE": "0.7"})
    second = build(moved, accept_imbalance=True)["splits"]["groups"]
    assert second == first
    assert f"warning: {manifest} is damaged" in capsys.readouterr().err


def test_a_single_story_is_split_by_article_and_the_card_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_root(tmp_path / "root", extra=False)
    # Two articles cannot come near a test share of 0.2: refused, then accepted on request.
    with pytest.raises(BuilderError, match="fewer than two split groups"):
        build(settings)
    assert not settings.dataset_dir.exists()
    manifest = build(settings, accept_imbalance=True)
    assert manifest["splits"]["imbalance"]["accepted"] is True
    assert len(set(load_corpus(settings).story_of.values())) == 1
    assert manifest["splits"]["by"] == "article_id"
    assert sorted(manifest["splits"]["groups"]) == [p.stem for p in SAMPLES]
    assert sorted(manifest["splits"]["groups"].values()) == ["test", "train"]
    card = (settings.dataset_dir / "README.md").read_text(encoding="utf-8")
    assert "grouped by article" in card
    assert "fewer than two split groups" in card
    assert "**The test share is off target**" in card
    ds = load(settings, "claims", tmp_path / "cache")
    train_articles, test_articles = set(ds["train"]["article_id"]), set(ds["test"]["article_id"])
    assert train_articles and test_articles and not train_articles & test_articles


# Reproducible and atomic --------------------------------------------------------------------


def test_built_twice_the_parquet_files_are_byte_identical(tmp_path: Path) -> None:
    settings = make_root(tmp_path / "one")
    build(settings)
    first = parquet_bytes(settings.dataset_dir)
    assert set(first) == {
        f"data/{config}/{split}-00000-of-00001.parquet"
        for config in ("claims", "annotations")
        for split in ("train", "test")
    }
    first_manifest = (settings.dataset_dir / "manifest.json").read_bytes()
    # The card, with its baseline figures, and the learning curve picture too.
    first_card = (settings.dataset_dir / "README.md").read_bytes()
    first_curve = (settings.dataset_dir / "learning_curve.png").read_bytes()
    assert b"## Baseline" in first_card
    build(settings)
    assert parquet_bytes(settings.dataset_dir) == first
    assert (settings.dataset_dir / "manifest.json").read_bytes() == first_manifest
    assert (settings.dataset_dir / "README.md").read_bytes() == first_card
    assert (settings.dataset_dir / "learning_curve.png").read_bytes() == first_curve
    # A second root with the same inputs (the pseudonyms' secret among them) gives the same
    # files too.
    other = make_root(tmp_path / "two")
    shutil.copy(settings.pseudonym_key_path, other.pseudonym_key_path)
    build(other)
    assert parquet_bytes(other.dataset_dir) == first


def test_a_failure_mid_build_leaves_the_previous_dataset_and_no_staging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_root(tmp_path / "root")
    build(settings)
    before = tree(settings.dataset_dir)
    exports_before = sorted(p.name for p in settings.exports_dir.iterdir())

    real = dataset_module.write_split_files
    calls = []

    def fail_on_second_config(*args: Any, **kwargs: Any) -> None:
        calls.append(args[1])
        real(*args, **kwargs)
        if len(calls) == 2:
            raise OSError("disk full (simulated)")

    monkeypatch.setattr(dataset_module, "write_split_files", fail_on_second_config)
    with pytest.raises(OSError, match="simulated"):
        build(settings)
    assert len(calls) == 2
    assert tree(settings.dataset_dir) == before
    assert sorted(p.name for p in settings.exports_dir.iterdir()) == exports_before


def test_a_failure_writing_the_card_leaves_no_dataset_when_there_was_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_root(tmp_path / "root")

    def broken_card(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("card failed (simulated)")

    monkeypatch.setattr(dataset_module, "render_card", broken_card)
    with pytest.raises(RuntimeError, match="simulated"):
        build(settings)
    assert not settings.dataset_dir.exists()
    assert sorted(p.name for p in settings.exports_dir.iterdir()) == ["annotations", "pulls"]


def test_the_manifest_and_output_hold_no_api_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "secret-xyz")
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:9")
    root = tmp_path / "root"
    make_root(root)
    settings = Settings.load(root)
    assert settings.api_key.reveal() == "secret-xyz"
    build(settings)
    files = tree(settings.dataset_dir)
    assert "manifest.json" in files and "README.md" in files
    for name, data in files.items():
        assert b"secret-xyz" not in data, name


def test_the_manifest_records_inputs_scheme_counts_and_seed(
    built: tuple[Settings, dict[str, Any]],
) -> None:
    settings, manifest = built
    on_disk = json.loads((settings.dataset_dir / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(manifest))
    named = {Path(name).name for name in on_disk["raw_inputs"]}
    assert named == {p.name for p in SAMPLES} | {"more.jsonl"}
    assert all(len(h) == 64 for h in on_disk["raw_inputs"].values())
    used = on_disk["exports_used"]["claims"]
    assert used["file"] == SNAPSHOT and used["project_id"] == 3
    snapshot_hash = dataset_module.sha256_file(settings.exports_dir / "pulls" / SNAPSHOT)
    assert snapshot_hash in json.dumps(used)  # the export file used, by its hash
    assert on_disk["scheme"]["version"] >= 1 and len(on_disk["scheme"]["hash"]) == 64
    assert on_disk["splits"]["seed"] == settings.split_seed
    assert on_disk["splits"]["test_size"] == settings.test_size
    assert on_disk["builder_version"]


# The card -----------------------------------------------------------------------------------


def card_parts(settings: Settings) -> tuple[dict[str, Any], str]:
    text = (settings.dataset_dir / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    _, front, body = text.split("---\n", 2)
    return yaml.safe_load(front), body


def test_the_card_yaml_declares_the_configs_and_features(
    built: tuple[Settings, dict[str, Any]],
) -> None:
    settings, _ = built
    meta, _ = card_parts(settings)
    configs = {c["config_name"]: c for c in meta["configs"]}
    assert set(configs) == {"claims", "annotations"}
    assert {f["split"] for f in configs["claims"]["data_files"]} == {"train", "test"}
    assert configs["claims"]["data_files"][0]["path"].startswith("data/claims/")
    infos = {i["config_name"]: i for i in meta["dataset_info"]}
    (claim_feature,) = [f for f in infos["claims"]["features"] if f["name"] == "claim"]
    names = claim_feature["dtype"]["class_label"]["names"]
    assert [names[k] for k in sorted(names, key=int)] == CLAIM_NAMES


def test_load_dataset_reads_and_checks_the_split_sizes_of_the_card(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_root(tmp_path / "root")
    manifest = build(settings)
    datasets.utils.logging.enable_propagation()
    try:
        loaded = datasets.load_dataset(str(settings.dataset_dir), "claims", cache_dir=str(tmp_path))
    finally:
        datasets.utils.logging.disable_propagation()
    # A split entry without num_bytes made `datasets` warn on every load.
    assert not [r for r in caplog.records if r.levelname == "WARNING"], caplog.text
    train = manifest["counts"]["claims"]["train"]
    assert loaded["train"].num_rows == train
    assert manifest["arrow_bytes"]["claims"]["train"] > 0
    # A card that says one row more than the file holds is caught, not ignored.
    card = settings.dataset_dir / "README.md"
    text = card.read_text(encoding="utf-8")
    assert text.count(f"num_examples: {train}\n") >= 1
    card.write_text(text.replace(f"num_examples: {train}\n", f"num_examples: {train + 1}\n", 1))
    with pytest.raises(datasets.exceptions.NonMatchingSplitsSizesError):
        datasets.load_dataset(str(settings.dataset_dir), "claims", cache_dir=str(tmp_path / "2"))


def test_the_card_text_has_definitions_counts_policy_and_loading(
    built: tuple[Settings, dict[str, Any]],
) -> None:
    settings, manifest = built
    _, body = card_parts(settings)
    for label in CLAIM.labels:
        assert label.definition in body
        assert f"`{label.value}`" in body
    # The label table: one row per label with its train and test counts.
    labels = manifest["counts"]["claims"]["labels"]
    for label in CLAIM_NAMES:
        row = f"| `{label}` | {labels['train'].get(label, 0)} | {labels['test'].get(label, 0)} |"
        assert row in body
    counts = manifest["counts"]
    assert f"| `claims` | {counts['claims']['train']} | {counts['claims']['test']} |" in body
    assert "## Split policy" in body
    assert "grouped by split group" in body
    assert f"seed {settings.split_seed}" in body
    assert "## Loading" in body
    assert f'load_dataset("exports/{settings.dataset_name}")  # the default config: claims' in body
    assert SNAPSHOT in body  # provenance


def test_label_counts_in_the_manifest_match_the_rows(
    built: tuple[Settings, dict[str, Any]], tmp_path: Path
) -> None:
    settings, manifest = built
    ds = load(settings, "claims", tmp_path)
    for split in ("train", "test"):
        counted = Counter(CLAIM_NAMES[i] for i in ds[split]["claim"])
        assert dict(counted) == manifest["counts"]["claims"]["labels"][split]


# What training code gets -------------------------------------------------------------------

LOAD_LABELS = """
import json, sys
import datasets
ds = datasets.load_dataset(sys.argv[1], "claims")
labels = {split: sorted(zip(ds[split]["sentence_id"], ds[split]["claim"])) for split in ds}
print(json.dumps(labels))
"""


def built_labels(dataset_dir: Path) -> dict[str, list[list[Any]]]:
    labels = {}
    for path in sorted((dataset_dir / "data" / "claims").glob("*.parquet")):
        table = pq.read_table(path).to_pydict()
        labels[path.name.split("-")[0]] = sorted(
            [list(pair) for pair in zip(table["sentence_id"], table["claim"], strict=True)]
        )
    return labels


def test_load_dataset_in_a_new_process_returns_the_rows_just_built(tmp_path: Path) -> None:
    # `datasets` keys its cache of a local folder on the card's YAML and the folder's name:
    # a rebuild with one label changed must not be served from the first build's cache.
    settings = make_root(tmp_path / "root")
    env = {**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "hf-cache"), "HF_HUB_OFFLINE": "1"}

    def load_in_a_new_process() -> dict[str, list[list[Any]]]:
        result = subprocess.run(
            [sys.executable, "-c", LOAD_LABELS, str(settings.dataset_dir)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.splitlines()[-1])

    build(settings)
    first = load_in_a_new_process()
    assert first == built_labels(settings.dataset_dir)
    records = annotation_records(settings)
    changed = records[0]["item_id"]
    for record in records:
        if record["item_id"] == changed:
            record["answers"] = {
                "claim": [
                    "checkworthy" if record["answers"]["claim"] != ["checkworthy"] else "no_claim"
                ]
            }
    write_pull(settings, records)
    build(settings)
    second = load_in_a_new_process()
    assert second == built_labels(settings.dataset_dir)
    assert second != first


def test_the_card_and_manifest_have_the_mode_of_the_parquet_files(tmp_path: Path) -> None:
    settings = make_root(tmp_path / "root")
    build(settings)
    modes = {
        str(p.relative_to(settings.dataset_dir)): stat.S_IMODE(p.stat().st_mode)
        for p in settings.dataset_dir.rglob("*")
        if p.is_file()
    }
    parquet = modes["data/claims/train-00000-of-00001.parquet"]
    assert parquet & stat.S_IROTH  # readable by others, as any new file under umask 022
    assert modes["README.md"] == modes["manifest.json"] == parquet


def test_annotator_pseudonyms_are_keyed_by_a_secret_kept_beside_the_project(
    tmp_path: Path,
) -> None:
    settings = make_root(tmp_path / "root")
    build(settings)
    key_path = settings.pseudonym_key_path
    assert key_path.parent == settings.root
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    key = key_path.read_bytes().strip()
    table = pq.read_table(settings.dataset_dir / "data/annotations/train-00000-of-00001.parquet")
    shown = set(table.column("annotator").to_pylist())
    emails = ["ann1@example.org", "ann2@example.org"]
    # A plain hash of an address is reversed by anyone who has the team's addresses.
    unsalted = {"annotator-" + hashlib.sha256(e.encode()).hexdigest()[:10] for e in emails}
    assert not shown & unsalted
    keyed = {
        "annotator-" + hmac.new(key, e.encode(), hashlib.sha256).hexdigest()[:12] for e in emails
    }
    assert shown == keyed
    # Stable across builds; the secret is never exported.
    before = tree(settings.dataset_dir)
    build(settings)
    assert tree(settings.dataset_dir) == before
    assert all(key not in content for content in before.values())
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert key_path.name in ignored
    # Another project has another secret, so its pseudonyms tell nothing about this one's.
    other = make_root(tmp_path / "other")
    build(other)
    other_table = pq.read_table(other.dataset_dir / "data/annotations/train-00000-of-00001.parquet")
    assert not set(other_table.column("annotator").to_pylist()) & shown


# Split groups, the share check, time, the leakage audit ----------------------------------------


def root_with(base: Path, articles: list[dict[str, Any]], **values: str) -> Settings:
    """A root whose raw/ holds these .jsonl articles, every sentence labeled twice."""
    (base / "raw").mkdir(parents=True)
    write_jsonl(base / "raw" / "articles.jsonl", articles)
    settings = Settings.load(
        base.resolve(), **{key.lower(): value for key, value in values.items()}
    )
    write_pull(settings, annotation_records(settings))
    return settings


def news(stories: int, per_story: int = 2, dated: bool = True) -> list[dict[str, Any]]:
    """`stories` stories of `per_story` two-sentence articles each, story n dated 2024-01-n."""
    return [
        {
            "id": f"s{story:02d}-{n}",
            "text": f"Event {story} number {n} happened in town {story * 7 + n}. "
            f"Witness {n} of story {story} spoke to reporters.",
            "story_id": f"s{story:02d}",
            **({"date": f"2024-01-{story + 1:02d}"} if dated else {}),
        }
        for story in range(stories)
        for n in range(per_story)
    ]


def test_one_story_swallowing_the_corpus_fails_loudly_unless_accepted(tmp_path: Path) -> None:
    """The checkworthy case: one-sentence undated articles, nearly all in one story."""
    articles = [
        {"id": f"cw{i:04d}", "text": f"Claim number {i} was said.", "story_id": "everything"}
        for i in range(300)
    ] + [{"id": "lone", "text": "One more claim was said.", "story_id": "alone"}]
    settings = root_with(tmp_path / "root", articles)
    result = subprocess.run(
        [sys.executable, "-m", "builder", "dataset"],
        env={**os.environ, "BUILDER_ROOT": str(settings.root)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    # 257 of the 301 sentences: a tie of the two annotators (every seventh) is left out.
    assert "the largest split group, everything, holds 99.6% of the rows (257 of 258)" in (
        result.stderr
    )
    assert "--accept-imbalance" in result.stderr
    assert "Traceback" not in result.stderr
    assert not settings.dataset_dir.exists()  # nothing written

    result = subprocess.run(
        [sys.executable, "-m", "builder", "dataset", "--accept-imbalance"],
        env={**os.environ, "BUILDER_ROOT": str(settings.root)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "WARNING, accepted with --accept-imbalance" in result.stdout
    manifest = json.loads((settings.dataset_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["splits"]["imbalance"]["accepted"] is True
    assert manifest["splits"]["test_share"] < 0.01
    card = (settings.dataset_dir / "README.md").read_text(encoding="utf-8")
    assert "**The test share is off target**" in card and "everything" in card


def test_split_groups_coarser_than_stories_keep_them_on_one_side(tmp_path: Path) -> None:
    settings = root_with(tmp_path / "root", news(12))
    corpus = load_corpus(settings)
    # The story step's split groups: stories 0-5 could be one event.
    corpus.split_group_of = {  # type: ignore[attr-defined]
        a: ("maybe-one" if int(s[1:]) < 6 else s) for a, s in corpus.story_of.items()
    }
    manifest = build_dataset(settings, corpus, accept_imbalance=True)
    stories = manifest["splits"]["stories"]
    assert len({stories[f"s{n:02d}"] for n in range(6)}) == 1
    assert manifest["splits"]["groups"]["maybe-one"] == stories["s00"]


def test_a_merge_of_a_train_and_a_test_story_moves_the_smaller_side_and_says_so(
    tmp_path: Path,
) -> None:
    settings = root_with(tmp_path / "root", news(10))
    first = build(settings)["splits"]["stories"]
    test_story = min(s for s, split in first.items() if split == "test")
    train_story = min(s for s, split in first.items() if split == "train")
    rows = Counter(
        story
        for split in ("train", "test")
        for story in pq.read_table(
            settings.dataset_dir / f"data/claims/{split}-00000-of-00001.parquet"
        )
        .column("story_id")
        .to_pylist()
    )
    # New evidence: the two stories could be one event.
    corpus = load_corpus(settings)
    corpus.split_group_of = {  # type: ignore[attr-defined]
        a: "joined" if s in (test_story, train_story) else s for a, s in corpus.story_of.items()
    }
    second = build_dataset(settings, corpus, accept_imbalance=True)["splits"]
    # The group goes whole to the split that held more of its rows (train on a tie); the
    # other side's story moves, and the manifest and the card say so.
    kept = "test" if rows[test_story] > rows[train_story] else "train"
    moved = train_story if kept == "test" else test_story
    assert second["groups"]["joined"] == kept
    assert second["stories"][test_story] == second["stories"][train_story] == kept
    assert second["merged_across_splits"] == [
        {
            "group": "joined",
            "kept": kept,
            "stories_moved": [moved],
            "rows_moved": rows[moved],
            "from": first[moved],
        }
    ]
    unchanged = {s: v for s, v in first.items() if s not in (test_story, train_story)}
    assert {s: second["stories"][s] for s in unchanged} == unchanged
    card = (settings.dataset_dir / "README.md").read_text(encoding="utf-8")
    assert f"`{moved}` moved from {first[moved]}" in card


def test_split_by_time_puts_the_latest_stories_in_test(tmp_path: Path) -> None:
    articles = news(10) + [
        {"id": "undated-0", "text": "An undated claim was made. It was repeated.", "story_id": "u"}
    ]
    settings = root_with(tmp_path / "root", articles, SPLIT_BY="time")
    manifest = build(settings, accept_imbalance=True)
    stories = manifest["splits"]["stories"]
    assert sorted(s for s, split in stories.items() if split == "test") == ["s08", "s09"]
    assert stories["u"] == "train"
    assert manifest["splits"]["mode"] == "time"
    assert manifest["splits"]["time"] == {"test_from": "2024-01-09", "undated_groups_in_train": 1}
    card = (settings.dataset_dir / "README.md").read_text(encoding="utf-8")
    assert "The split is by time" in card


def test_a_bad_split_by_is_refused_with_the_choices(tmp_path: Path) -> None:
    # Checked at start, with every setting: before anything is read or written.
    with pytest.raises(BuilderError, match=r"SPLIT_BY='random' is not a split mode") as caught:
        root_with(tmp_path / "root", news(10), SPLIT_BY="random")
    assert "SPLIT_BY=time" in str(caught.value)
    assert not (tmp_path / "root" / "exports").exists()


def test_every_build_audits_leakage_and_lists_it_beside_the_dataset(tmp_path: Path) -> None:
    articles = news(10)
    settings = root_with(tmp_path / "root", articles)
    splits = build(settings)["splits"]["stories"]
    assert (settings.dataset_dir / "leakage.jsonl").is_file()
    test_story = min(s for s, split in splits.items() if split == "test")
    train_story = min(s for s, split in splits.items() if split == "train")
    # Plant, in a test story, a copy of a train sentence (other case and punctuation).
    copied = next(a for a in articles if a["story_id"] == train_story)["text"].split(". ")[0]
    planted = {
        "id": "planted",
        "text": copied.upper() + "!!",
        "story_id": test_story,
        "date": "2024-01-01",
    }
    write_jsonl(settings.raw_dir / "articles.jsonl", [*articles, planted])
    write_pull(settings, annotation_records(settings))
    manifest = build(settings, accept_imbalance=True)
    assert manifest["splits"]["stories"] == splits  # stable: the planted row joined test
    assert manifest["leakage"]["exact_duplicates"] == 1
    lines = (settings.dataset_dir / "leakage.jsonl").read_text(encoding="utf-8").splitlines()
    [exact] = [json.loads(line) for line in lines if '"exact"' in line]
    assert exact["text"] == copied.upper() + "!!"
    assert "## Leakage audit" in (settings.dataset_dir / "README.md").read_text(encoding="utf-8")
    # Built again: the same bytes.
    first = {
        name: (settings.dataset_dir / name).read_bytes()
        for name in ("leakage.jsonl", "manifest.json", "README.md")
    }
    build(settings, accept_imbalance=True)
    assert {name: (settings.dataset_dir / name).read_bytes() for name in first} == first


# The dataset step: its report, and "nothing changed" ---------------------------------------


def make(settings: Settings, accept_imbalance: bool = True, **options: Any) -> Report:
    """The dataset step as `make dataset` runs it (the balance of the splits is not the point)."""
    report = Report("dataset")
    make_dataset(settings, report, accept_imbalance=accept_imbalance, **options)
    return report


def test_the_dataset_step_counts_what_it_left_out(tmp_path: Path) -> None:
    settings = make_root(tmp_path / "root")
    everything = annotation_records(settings)
    tasks = claim_tasks(load_corpus(settings))
    # The first item's annotations left out, and one of an item no longer in raw/ added.
    records = [r for r in everything if r["item_id"] != everything[0]["item_id"]]
    write_pull(settings, [*records, {**records[0], "item_id": "gone-1", "annotation_id": 999}])
    report = make(settings)
    manifest = json.loads((settings.dataset_dir / "manifest.json").read_text(encoding="utf-8"))
    rows = sum(manifest["counts"][c][s] for c in manifest["counts"] for s in ("train", "test"))
    assert report.kept == rows
    assert report.read == len(tasks) + len(records) + 1
    labeled = {r["item_id"] for r in records}
    unlabeled = [t for t in tasks if t["sentence_id"] not in labeled]
    assert unlabeled and report.dropped["claims: not labeled yet"] == len(unlabeled)
    assert report.dropped["annotations: item no longer in raw/"] == 1
    assert not report.unchanged and report.wrote == [str(settings.dataset_dir)]


def test_the_dataset_says_nothing_changed_when_its_inputs_did_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_root(tmp_path / "root")
    assert not make(settings).unchanged
    before = tree(settings.dataset_dir)
    again = make(settings)
    assert again.unchanged and again.lines[0].startswith("nothing changed")
    assert tree(settings.dataset_dir) == before
    # Any input changes the answer: a raw file, the records, a setting.
    (settings.raw_dir / "late.jsonl").write_text(
        json.dumps({"id": "late", "text": "It happened on Monday."}) + "\n", encoding="utf-8"
    )
    assert not make(settings).unchanged
    assert make(settings).unchanged
    write_pull(settings, annotation_records(settings)[:-1])
    assert not make(settings).unchanged
    assert not make(Settings(root=settings.root, test_size=0.3)).unchanged
    assert make(Settings(root=settings.root, test_size=0.3)).unchanged
    # A build that accepted an imbalance does not vouch for one that would refuse it.
    with pytest.raises(BuilderError, match="Nothing was written"):
        make(Settings(root=settings.root, test_size=0.3), accept_imbalance=False)


def test_bad_input_is_reported_at_every_build(tmp_path: Path) -> None:
    settings = make_root(tmp_path / "root")
    (settings.raw_dir / "bad.jsonl").write_text('{"id": oops}\n', encoding="utf-8")
    for _ in range(2):
        report = make(settings)
        assert not report.unchanged
        assert report.exit_code == 1 and "bad.jsonl:1" in report.problems[0]


# Dawid-Skene, the baselines and leakage audit in a worker process (large builds) ---------


def test_a_large_build_fits_in_a_worker_and_writes_the_same_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sample shares too few items for Dawid-Skene; these builds fit it all the same.
    monkeypatch.setattr("builder.labels.aggregate.fit_wanted", lambda *args: True)
    here = make_root(tmp_path / "here")
    make(here)
    worker = make_root(tmp_path / "worker")
    shutil.copy(here.pseudonym_key_path, worker.pseudonym_key_path)

    # Fits in this process would fail: the worker, a new process, has the real ones. Dawid-Skene
    # runs there while the build reads raw/, the baselines while it writes the files.
    def no_fits_here(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a fit ran in the build's own process")

    monkeypatch.setattr("builder.dataset.baseline.baseline", no_fits_here)
    monkeypatch.setattr("builder.labels.aggregate.dawid_skene", no_fits_here)
    report = make(worker, worker_min_records=0)
    assert report.wrote == [str(worker.dataset_dir)]
    assert tree(worker.dataset_dir) == tree(here.dataset_dir)
    manifest = json.loads((worker.dataset_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["baseline"]["claims"]["trained"] and manifest["leakage"]["test_sentences"]
    assert [row["items"] for row in manifest["competence"]["claims"]] == [55, 55]


def test_a_split_is_written_a_row_group_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.parquet as pq

    whole = make_root(tmp_path / "whole")
    build(whole)
    chunked = make_root(tmp_path / "chunked")
    shutil.copy(whole.pseudonym_key_path, chunked.pseudonym_key_path)
    monkeypatch.setattr("builder.dataset.build.PARQUET_ROW_GROUP", 7)
    build(chunked)
    for path in sorted((whole.dataset_dir / "data").rglob("*.parquet")):
        twin = chunked.dataset_dir / path.relative_to(whole.dataset_dir)
        rows = pq.read_table(path).num_rows
        assert pq.ParquetFile(twin).metadata.num_row_groups == max(1, -(-rows // 7))
        assert pq.read_table(twin).equals(pq.read_table(path))


def test_small_builds_fit_in_their_own_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_root(tmp_path / "root")

    def fits_here(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("fitted in the build's own process")

    monkeypatch.setattr("builder.dataset.baseline.baseline", fits_here)
    with pytest.raises(RuntimeError, match="own process"):
        make(settings)
    assert not settings.dataset_dir.exists()


def _worker_dies(rows: Any) -> None:
    os._exit(3)  # as a worker killed by the kernel (out of memory) or a signal


def _worker_raises(rows: Any) -> None:
    raise ValueError("no fit (simulated)")


@pytest.mark.parametrize("step", ["analyse", "fit_labels"])
@pytest.mark.parametrize(
    ("failure", "said"),
    [(_worker_dies, "BrokenProcessPool"), (_worker_raises, "ValueError: no fit \\(simulated")],
)
def test_a_failed_worker_fails_the_build_and_leaves_the_previous_dataset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str, failure: Any, said: str
) -> None:
    settings = make_root(tmp_path / "root")
    make(settings)
    before = tree(settings.dataset_dir)
    exports_before = sorted(p.name for p in settings.exports_dir.iterdir())
    write_pull(settings, annotation_records(settings)[:-2])  # something to build
    # The sample shares too few items for Dawid-Skene; this build fits it all the same.
    monkeypatch.setattr("builder.labels.aggregate.fit_wanted", lambda *args: True)
    # Sent to the worker by name: it runs the test module's function.
    monkeypatch.setattr(f"builder.dataset.analysis.{step}", failure)
    with pytest.raises(BuilderError, match=f"worker process \\({said}") as failed:
        make(settings, worker_min_records=0)
    assert "Nothing was written" in str(failed.value)
    assert tree(settings.dataset_dir) == before
    assert sorted(p.name for p in settings.exports_dir.iterdir()) == exports_before


def test_nothing_changed_imports_no_sklearn_matplotlib_or_datasets(tmp_path: Path) -> None:
    settings = make_root(tmp_path / "root")
    make(settings)
    script = (
        "import sys\n"
        "from builder.core.config import Settings\n"
        "from builder.core.report import Report\n"
        "from builder.dataset.build import make_dataset\n"
        "report = Report('dataset')\n"
        f"make_dataset(Settings(root={str(settings.root)!r}), report, accept_imbalance=True)\n"
        "assert report.unchanged\n"
        "heavy = ('sklearn', 'scipy', 'matplotlib', 'datasets', 'pyarrow', 'pandas')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "[]"
