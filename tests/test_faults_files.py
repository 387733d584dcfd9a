"""Faults on disk: a dataset name that points at the builder's own folders, a folder the builder
did not make, a build killed midway, damaged local files. Nothing lost, no traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from builder.core.atomic import write_jsonl
from builder.core.config import Settings
from builder.inputs.corpus import load_corpus
from builder.labelstudio.pull import pull_paths
from builder.tasks.claims import claim_tasks

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "raw").glob("*.txt"))
SNAPSHOT = "claims-20240627T100000Z-0123abcd.json"
LABELS = ["no_claim", "not_checkworthy", "checkworthy"]


def make_root(root: Path) -> Settings:
    """The sample corpus with one saved pull whose every sentence has a label."""
    (root / "raw").mkdir(parents=True)
    for sample in SAMPLES:
        shutil.copy(sample, root / "raw" / sample.name)
    settings = Settings(root=root, values={})
    tasks = claim_tasks(load_corpus(settings))
    records = [
        {
            "project": "claims",
            "item_id": task["sentence_id"],
            "task_id": 100 + number,
            "annotation_id": 1 + number,
            "annotator": "ann@example.org",
            "answers": {"claim": [LABELS[number % 3]]},
            "lead_time": 2.0,
            "created_at": None,
            "updated_at": None,
            "ground_truth": False,
        }
        for number, task in enumerate(tasks)
    ]
    paths = pull_paths(settings, "claims")
    paths.snapshots.mkdir(parents=True)
    (paths.snapshots / SNAPSHOT).write_text("[]", encoding="utf-8")
    write_jsonl(paths.accepted, records)
    counts = {"pulled": len(records), "accepted": len(records), "rejected": 0, "skipped": 0}
    summary = {"project": "claims", "project_id": 1, "snapshot": SNAPSHOT, "counts": counts}
    paths.summary.write_text(json.dumps(summary), encoding="utf-8")
    return settings


def run(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LABEL_STUDIO_", "LOCAL_LABEL_STUDIO_", "BUILDER_", "DATASET_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "builder", *args],
        cwd=root,
        env={**clean, "BUILDER_ROOT": str(root), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def tree(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


# A dataset name that would replace the builder's own folders ------------------------------


@pytest.mark.parametrize("name", ["pulls", "Annotations"])
def test_a_dataset_named_like_a_folder_of_the_builder_is_refused(tmp_path: Path, name: str) -> None:
    settings = make_root(tmp_path / "root")
    before = tree(settings.exports_dir)
    result = run(settings.root, "dataset", DATASET_NAME=name)
    assert result.returncode == 1, result.stdout
    assert f"DATASET_NAME={name!r}" in result.stderr and "Traceback" not in result.stderr
    assert tree(settings.exports_dir) == before  # every saved pull and record still there


@pytest.mark.parametrize("name", ["abc\n", "../x"])
def test_a_dataset_name_must_be_a_plain_name(tmp_path: Path, name: str) -> None:
    settings = make_root(tmp_path / "root")
    result = run(settings.root, "dataset", DATASET_NAME=name)
    assert result.returncode == 1
    assert "must be a plain name" in result.stderr and "Traceback" not in result.stderr


def test_the_dataset_never_replaces_a_folder_it_did_not_make(tmp_path: Path) -> None:
    settings = make_root(tmp_path / "root")
    theirs = settings.exports_dir / "mine"
    theirs.mkdir()
    (theirs / "thesis.tex").write_text("months of work", encoding="utf-8")
    result = run(settings.root, "dataset", DATASET_NAME="mine")
    assert result.returncode == 1
    assert "was not made by the dataset builder" in result.stderr
    assert tree(theirs) == {"thesis.tex": b"months of work"}
    # A folder the builder made is replaced by the next build, as before.
    assert run(settings.root, "dataset", DATASET_NAME="made").returncode == 0
    assert run(settings.root, "dataset", DATASET_NAME="made").returncode == 0
    assert (settings.exports_dir / "made" / "manifest.json").is_file()


# A build killed midway -------------------------------------------------------------------

# Builds the dataset in a child process that dies (no cleanup runs, as under SIGKILL) at the
# point named by argv[2].
KILLED_BUILD = """
import os, sys
from pathlib import Path
import builder.dataset.build as build
from builder.core.config import Settings
from builder.inputs.corpus import load_corpus

settings = Settings(root=Path(sys.argv[1]), values={})
if sys.argv[2] == "writing":
    real = build.write_split_files
    def die(*args, **kwargs):
        real(*args, **kwargs)
        os._exit(137)
    build.write_split_files = die
else:
    real_replace = os.replace
    def replace(source, target):
        # replace_dir moves the old build aside, then the new one into place: die in between.
        if Path(target) == settings.dataset_dir:
            os._exit(137)
        real_replace(source, target)
    os.replace = replace
build.build_dataset(settings, load_corpus(settings))
"""


def killed_build(settings: Settings, where: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", KILLED_BUILD, str(settings.root), where],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 137, result.stderr


def test_a_killed_build_leaves_no_staging_folder_for_ever(tmp_path: Path) -> None:
    settings = make_root(tmp_path / "root")
    killed_build(settings, "writing")
    left = list(settings.exports_dir.glob(".factcheck.staging-*"))
    assert len(left) == 1
    result = run(settings.root, "dataset")
    assert result.returncode == 0, result.stderr
    assert f"removed {left[0]}" in result.stderr
    assert not list(settings.exports_dir.glob(".factcheck.staging-*"))
    assert (settings.dataset_dir / "manifest.json").is_file()


def test_a_build_killed_between_its_renames_gets_the_previous_one_back(tmp_path: Path) -> None:
    settings = make_root(tmp_path / "root")
    assert run(settings.root, "dataset").returncode == 0
    previous = tree(settings.dataset_dir)
    killed_build(settings, "renaming")
    aside = settings.exports_dir / ".factcheck.old"
    assert not settings.dataset_dir.exists() and tree(aside) == previous
    # The next run puts the previous build back before anything else, so even a next build
    # that fails leaves it reachable.
    result = run(settings.root, "dataset", TEST_SIZE="2")
    assert result.returncode == 1
    assert tree(settings.dataset_dir) == previous and not aside.exists()
    result = run(settings.root, "dataset")
    assert result.returncode == 0, result.stderr
    assert not aside.exists() and not list(settings.exports_dir.glob(".factcheck.*"))
