"""The model in the loop in `make bench`: `suggest`'s cost against importing its predictions
alone, and the labeling-order simulation on ../shared/checkworthy-dev when it is there."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import simulate
from bench.workload import claim_result, make_articles, say, task_payloads
from builder.core.config import Settings
from builder.core.scheme import question_for
from builder.labelstudio.client import LabelStudioClient
from builder.labelstudio.suggest import PREDICTION_BATCH_SIZE
from builder.labelstudio.sync import SyncState

if TYPE_CHECKING:
    from bench.__main__ import Bench, Row

HERE = Path(__file__).resolve().parent
# Read from where the shared data lives, never copied (CHECKWORTHY_DEV overrides the folder).
CHECKWORTHY_DEV = Path(
    os.environ.get("CHECKWORTHY_DEV") or HERE.parent.parent / "shared" / "checkworthy-dev"
)
FILES = {
    "pool": "CT24_checkworthy_english_train.tsv",
    "dev": "CT24_checkworthy_english_dev.tsv",
    "dev-test": "CT24_checkworthy_english_dev-test.tsv",
}
SIMULATION_JSON = HERE / "simulation.json"
SIMULATION_PNG = HERE / "simulation.png"
LABELED = 2_000  # labels of the suggest figure


def fig_suggest(bench: Bench) -> list[Row]:
    """8. `suggest` on N unlabeled tasks with 2,000 labels vs importing its predictions alone."""
    from bench.__main__ import BenchError, Row, median, seconds

    unlabeled = bench.sizes.tasks
    articles = make_articles("suggest", unlabeled + LABELED, seed=5)
    root = bench.root("suggest", "bench suggest", {"suggest.jsonl": articles.records})
    payloads = task_payloads(root, bench.work / "suggest-scratch")
    names = question_for("claims").names
    user = bench.sdk.users.whoami().id
    project = bench.new_project("bench suggest")
    say(f"bench: setup: importing {len(payloads):,} tasks, {LABELED:,} with an annotation")
    step = len(payloads) // LABELED
    chosen = set(range(0, len(payloads), step)[:LABELED])
    ids: list[int] = []
    for start in range(0, len(payloads), 1000):
        batch: list[dict[str, Any]] = []
        for index in range(start, min(start + 1000, len(payloads))):
            task: dict[str, Any] = {"data": payloads[index]}
            if index in chosen:
                # A label that follows the words, so the model has something to learn.
                words = len(payloads[index]["text"].split())
                label = names[words % len(names)]
                task["annotations"] = [{"result": claim_result(label), "completed_by": user}]
            batch.append(task)
        created = bench.sdk.projects.import_tasks(project, request=batch, return_task_ids=True)
        ids += list(created.task_ids or [])
    if len(ids) != len(payloads):
        raise BenchError("the import did not return one task id per task")
    # What `sync` would have recorded had it imported these tasks itself.
    state = SyncState(root / ".builder" / "sync" / "claims.json", bench.url, project)
    state.tasks = {task["sentence_id"]: i for task, i in zip(payloads, ids, strict=True)}
    state.task_count, state.last_task_id = len(ids), max(ids)
    state.save()
    bench.builder(root, "pull")
    labeled = json.loads((root / "exports/annotations/claims.summary.json").read_text())
    client = LabelStudioClient(Settings.load(root))
    runs: list[float] = []
    imports: list[float] = []
    for rep in range(bench.sizes.big_reps):
        for version in client.model_versions(project):
            client.delete_predictions(project, version)
        runs.append(bench.builder(root, "suggest"))
        versions = client.model_versions(project)
        written = sum(versions.values())
        if len(versions) != 1 or written != len(payloads) - labeled["counts"]["accepted"]:
            raise BenchError(f"suggest left {versions}, expected one version on every unlabeled")
        # The baseline: the same predictions, deleted and imported again in the same batches.
        version = next(iter(versions))
        predictions = [
            {
                "task": p.task,
                "result": p.result,
                "score": p.score,
                "model_version": p.model_version,
                "cluster": p.cluster,
            }
            for p in bench.sdk.predictions.list(project=project)
        ]
        client.delete_predictions(project, version)
        began = time.perf_counter()
        for start in range(0, len(predictions), PREDICTION_BATCH_SIZE):
            client.import_predictions(project, predictions[start : start + PREDICTION_BATCH_SIZE])
        imports.append(time.perf_counter() - began)
        say(f"bench: suggest rep {rep + 1}: {runs[-1]:.2f} s, import alone {imports[-1]:.2f} s")
    ratio = median(runs) / median(imports)
    return [
        Row(
            f"`suggest`, {written:,} unlabeled tasks, {labeled['counts']['accepted']:,} labels",
            seconds(runs),
            f"importing its predictions alone: {seconds(imports)}",
            f"ratio {ratio:.2f}",
            "ratio ≤ 1.5",
            ratio <= 1.5,
            str(bench.sizes.big_reps),
        )
    ]


def fig_simulate(bench: Bench) -> list[Row]:
    """9. Labeling order on CheckThat! 2024 (pool train; dev, dev-test): builder vs random."""
    from bench.__main__ import Row

    paths = {name: CHECKWORTHY_DEV / file for name, file in FILES.items()}
    if not all(path.is_file() for path in paths.values()):
        message = f"{CHECKWORTHY_DEV} is not there: the simulation is skipped"
        say(f"bench: {message}")
        return [Row("labeling order (simulation)", "not run", "—", message, "—", None, "—")]
    seeds = 2 if bench.sizes.tasks < 20_000 else 5
    argv = ["--pool", str(paths["pool"]), "--eval", str(paths["dev"])]
    argv += ["--eval", str(paths["dev-test"]), "--seeds", str(seeds)]
    argv += ["--json", str(SIMULATION_JSON), "--plot", str(SIMULATION_PNG)]
    simulate.main(argv)
    result = json.loads(SIMULATION_JSON.read_text(encoding="utf-8"))
    rows = []
    saving = result["targets"]["saving"]
    rows.append(
        Row(
            f"labels to reach random order's F1 at 3,000 on {saving['eval']}",
            f"builder's order: {saving['builder_labels_to_reach_it']}",
            f"random order's F1(Yes) at 3,000: {saving['random_f1_at_3000']:.3f}",
            f"median of {seeds} seeds",
            f"≤ {saving['limit']:,} labels",
            saving["passed"],
            str(seeds),
        )
    )
    for name, check in result["targets"].items():
        if not name.startswith("no_loss:"):
            continue
        gaps = ", ".join(f"{b}: {gap:+.3f}" for b, gap in check["builder_minus_random"].items())
        rows.append(
            Row(
                f"builder − random F1(Yes) on {name.removeprefix('no_loss:')}",
                gaps,
                "random order",
                f"median of {seeds} seeds",
                f"≥ −{check['tolerance']} at each",
                check["passed"],
                str(seeds),
            )
        )
    return rows
