"""`python -m bench`: every figure of issue 6 against its baseline, one run, a table of medians."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from label_studio_sdk import LabelStudio

from bench import server as bench_server
from bench.suggest_bench import fig_simulate, fig_suggest
from bench.workload import (
    ARTICLES_PER_STORY,
    Articles,
    child_environment,
    claim_result,
    copy_root,
    make_articles,
    make_root,
    say,
    synthetic_export,
    task_payloads,
    write_jsonl,
)
from builder.core.projects import labeling_config
from builder.core.scheme import question_for

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.md"
SDK_TIMEOUT = 900  # seconds: big imports and exports outlast the SDK's 60 s default
IMPORT_BATCH = 1000
LIST_PAGE_SIZE = 1000
MEMORY_LIMIT_MB = 1536
SCALE_DEFAULT = 100_000


@dataclass(frozen=True)
class Sizes:
    tasks: int  # tasks of the big project (figures 1-5)
    new_tasks: int  # new sentences of figure 3
    annotated: int  # annotations on the big pull project (figure 4)
    new_annotations: int  # added before figure 5's pull
    offline_tasks: int  # tasks of figure 6's synthetic export
    offline_per_task: int  # annotations per task there
    segment_mb: float  # corpus of figure 7
    big_reps: int  # repetitions of the slow measurements (20k imports, listings, exports)
    small_reps: int  # repetitions of the quick ones
    audit_sentences: int = 100_000  # labeled sentences of the leakage audit's dataset


FULL = Sizes(20_000, 200, 10_000, 100, 50_000, 2, 20.0, 3, 5)
QUICK = Sizes(2_000, 200, 1_000, 100, 5_000, 2, 2.0, 1, 2, audit_sentences=5_000)


@dataclass
class Row:
    figure: str
    measured: str
    baseline: str
    comparison: str
    target: str
    passed: bool | None  # None: no target, or the figure could not be measured
    reps: str
    note: str = ""


def median(values: list[float]) -> float:
    return statistics.median(values)


def seconds(values: list[float]) -> str:
    return f"{median(values):.2f} s"


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    result = action()
    return time.perf_counter() - began, result


class BenchError(Exception):
    """A step the bench runs did not do what it should; the figure is not measured."""


@dataclass
class Bench:
    """The server, the work dir and what the figures share (built when first needed)."""

    sizes: Sizes
    work: Path
    url: str
    token: str
    sdk: LabelStudio = field(init=False)
    _main: Articles | None = None
    _payloads: list[dict[str, Any]] | None = None
    _synced: tuple[Path, str] | None = None  # a root synced into its project, and its title
    _pull: tuple[int, list[int]] | None = None  # project id, ids of tasks without annotation
    pull_setup_done: float = 0.0  # time.monotonic() when the pull project was filled
    pulled_root: Path | None = None
    full_pulls: list[float] = field(default_factory=list)
    scale: int = 0  # tasks of the scale figure (0: its default)
    keep: bool = False  # leave the work dir, the scale figure's roots included (--keep)
    postgresql: str = ""  # a PostgreSQL server to run the scale figure on as well
    _roots: int = 0

    def __post_init__(self) -> None:
        self.sdk = LabelStudio(base_url=self.url, api_key=self.token, timeout=SDK_TIMEOUT)

    # Inputs --------------------------------------------------------------------------------
    def main_articles(self) -> Articles:
        if self._main is None:
            self._main = make_articles("main", self.sizes.tasks, seed=1)
        return self._main

    def root(self, name: str, title: str, raw: dict[str, list[dict[str, Any]]]) -> Path:
        """A new project root whose .env points the builder at the bench's server."""
        self._roots += 1
        env = {
            "LABEL_STUDIO_URL": self.url,
            "LABEL_STUDIO_API_KEY": self.token,
            "CLAIMS_PROJECT_TITLE": title,
            "STANCE_PROJECT_TITLE": f"{title} (stance)",
        }
        return make_root(self.work / f"{self._roots:02d}-{name}", raw, env)

    def main_root(self, name: str, title: str) -> Path:
        return self.root(name, title, {"main.jsonl": self.main_articles().records})

    def payloads(self) -> list[dict[str, Any]]:
        """The builder's task payloads for the main corpus, exactly as sync sends them."""
        if self._payloads is None:
            probe = self.main_root("payloads", "unused")
            self._payloads = task_payloads(probe, self.work / "scratch")
        return self._payloads

    # The server ----------------------------------------------------------------------------
    def project_by_title(self, title: str) -> Any:
        matches = [p for p in self.sdk.projects.list(page_size=100) if p.title == title]
        if len(matches) != 1:
            raise BenchError(f"expected one project titled {title!r}, found {len(matches)}")
        return self.sdk.projects.get(matches[0].id)

    def task_count(self, project_id: int) -> int:
        return self.sdk.projects.get(project_id).task_number or 0

    def new_project(self, title: str) -> int:
        return self.sdk.projects.create(title=title, label_config=labeling_config("claims")).id

    def builder(self, root: Path, *args: str) -> float:
        """Wall time of `python -m builder ARGS` in `root`, as `make` runs it (a new process)."""
        command = [sys.executable, "-m", "builder", *args]
        profiles = os.environ.get("BENCH_PROFILE")
        if profiles:
            # A cProfile of each command (where a figure's time goes), one file per run.
            Path(profiles).mkdir(parents=True, exist_ok=True)
            out = Path(profiles) / f"{args[0]}-{time.time_ns()}.prof"
            command[1:2] = ["-m", "cProfile", "-o", str(out), "-m"]
        began = time.perf_counter()
        done = subprocess.run(
            command, cwd=root, env=child_environment(), capture_output=True, text=True
        )
        elapsed = time.perf_counter() - began
        if done.returncode != 0:
            raise BenchError(
                f"`{shlex.join(command[1:])}` in {root} exited {done.returncode}:\n"
                + (done.stdout + done.stderr)[-2000:]
            )
        return elapsed

    def synced(self) -> tuple[Path, str]:
        """A root whose project holds the main corpus, synced by the builder itself."""
        if self._synced is None:
            root = self.main_root("synced", "bench synced")
            say(f"bench: setup: syncing {self.sizes.tasks:,} tasks")
            self.builder(root, "sync", "--no-progress")
            self._synced = (root, "bench synced")
        return self._synced

    def pull_project(self) -> tuple[int, list[int]]:
        """A project of the main corpus's tasks, every second one imported with an annotation."""
        if self._pull is None:
            user = self.sdk.users.whoami().id
            labels = question_for("claims").names
            project = self.new_project("bench pull")
            unannotated: list[int] = []
            payloads = self.payloads()
            say(
                f"bench: setup: importing {len(payloads):,} tasks, "
                f"{self.sizes.annotated:,} with an annotation"
            )
            for start in range(0, len(payloads), IMPORT_BATCH):
                batch = []
                for index in range(start, min(start + IMPORT_BATCH, len(payloads))):
                    task: dict[str, Any] = {"data": payloads[index]}
                    if index % 2 == 0 and index // 2 < self.sizes.annotated:
                        task["annotations"] = [
                            {
                                "result": claim_result(labels[index % len(labels)]),
                                "completed_by": user,  # an import needs the integer id
                                "lead_time": 5.0 + index % 30,
                            }
                        ]
                    batch.append(task)
                ids = self.sdk.projects.import_tasks(
                    project, request=batch, return_task_ids=True
                ).task_ids
                if not ids or len(ids) != len(batch):
                    raise BenchError("the import did not return one task id per task")
                unannotated += [
                    i for i, t in zip(ids, batch, strict=True) if "annotations" not in t
                ]
            self._pull = (project, unannotated)
            self.pull_setup_done = time.monotonic()
        return self._pull

    def export_snapshot(self, project_id: int) -> int:
        """The server's export alone, with the options the builder's pull asks for; its size."""
        export = self.sdk.projects.exports.create(
            project_id,
            title="bench baseline",
            task_filter_options={"only_with_annotations": True},
            annotation_filter_options={"usual": True, "ground_truth": True, "skipped": True},
            serialization_options={"annotations__completed_by": {"only_id": False}},
        )
        while export.status not in ("completed", "failed"):
            time.sleep(0.1)  # as often as the builder polls
            export = self.sdk.projects.exports.get(project_id, export.id)
        if export.status == "failed":
            raise BenchError(f"export of project {project_id} failed")
        chunks = self.sdk.projects.exports.download(project_id, export.id, export_type="JSON")
        return len(b"".join(chunks))


def pulled_counts(root: Path) -> dict[str, int]:
    summary = root / "exports" / "annotations" / "claims.summary.json"
    return json.loads(summary.read_text(encoding="utf-8"))["counts"]


# The figures -------------------------------------------------------------------------------
def fig_sync(bench: Bench) -> list[Row]:
    """1. `sync` of N new sentences into a new project vs one raw import of the same payloads."""
    payloads = bench.payloads()
    n = len(payloads)
    syncs: list[float] = []
    imports: list[float] = []
    for rep in range(bench.sizes.big_reps):
        root = bench.main_root(f"sync-{rep}", f"bench sync {rep}")

        def run_sync(root: Path = root, rep: int = rep) -> None:
            syncs.append(bench.builder(root, "sync", "--no-progress"))
            project = bench.project_by_title(f"bench sync {rep}")
            if project.task_number != n:
                raise BenchError(f"sync left {project.task_number} tasks, expected {n}")

        def run_import(rep: int = rep) -> None:
            project = bench.new_project(f"bench raw import {rep}")
            request = [{"data": payload} for payload in payloads]
            elapsed, _ = timed(lambda: bench.sdk.projects.import_tasks(project, request=request))
            if bench.task_count(project) != n:
                raise BenchError("the raw import did not create every task")
            imports.append(elapsed)
            bench.sdk.projects.delete(project)

        # Alternating the order keeps a slow start or a growing database off one side.
        for step in (run_sync, run_import) if rep % 2 == 0 else (run_import, run_sync):
            step()
        say(f"bench: sync rep {rep + 1}: sync {syncs[-1]:.2f} s, raw import {imports[-1]:.2f} s")
        if rep + 1 < bench.sizes.big_reps:
            bench.sdk.projects.delete(bench.project_by_title(f"bench sync {rep}").id)
        else:
            bench._synced = (root, f"bench sync {rep}")  # the next figures use this project
    ratio = median(syncs) / median(imports)
    return [
        Row(
            f"`sync` of {n:,} new sentences into a new project",
            seconds(syncs),
            f"one `projects.import_tasks` call: {seconds(imports)}",
            f"ratio {ratio:.2f}",
            "ratio ≤ 1.2",
            ratio <= 1.2,
            str(bench.sizes.big_reps),
        )
    ]


def fig_sync_unchanged(bench: Bench) -> list[Row]:
    """2. `sync` with nothing new vs listing the project's tasks with include="id,data"."""
    root, title = bench.synced()
    project = bench.project_by_title(title)
    before = project.task_number
    syncs = [bench.builder(root, "sync", "--no-progress") for _ in range(bench.sizes.small_reps)]
    imported = bench.task_count(project.id) - before
    listings = []
    for _ in range(bench.sizes.big_reps):
        elapsed, listed = timed(
            lambda: sum(
                1
                for _ in bench.sdk.tasks.list(
                    project=project.id, include="id,data", page_size=LIST_PAGE_SIZE
                )
            )
        )
        if listed != before:
            raise BenchError(f"the listing gave {listed} tasks, the project has {before}")
        listings.append(elapsed)
    say(f"bench: unchanged sync {seconds(syncs)}, listing {seconds(listings)}")
    return [
        Row(
            f"`sync` with nothing new, project of {before:,} tasks",
            f"{seconds(syncs)}, {imported} imported",
            f'`tasks.list(include="id,data")` of all: {seconds(listings)}',
            f"ratio {median(syncs) / median(listings):.2f}",
            "ratio ≤ 0.33, 0 tasks imported",
            median(syncs) / median(listings) <= 0.33 and imported == 0,
            f"{bench.sizes.small_reps} (listing {bench.sizes.big_reps})",
        )
    ]


def fig_sync_new(bench: Bench) -> list[Row]:
    """3. `sync` of 200 new sentences into the big project vs the no-change sync."""
    root, title = bench.synced()
    project = bench.project_by_title(title)
    size = project.task_number
    unchanged: list[float] = []
    added: list[float] = []
    counts: list[int] = []
    for rep in range(bench.sizes.small_reps):
        unchanged.append(bench.builder(root, "sync", "--no-progress"))
        more = make_articles(f"more{rep}", bench.sizes.new_tasks, seed=100 + rep)
        write_jsonl(root / "raw" / f"more-{rep}.jsonl", more.records)
        before = bench.task_count(project.id)
        added.append(bench.builder(root, "sync", "--no-progress"))
        if bench.task_count(project.id) - before != more.sentences:
            raise BenchError(
                f"sync imported {bench.task_count(project.id) - before} tasks, "
                f"expected {more.sentences}"
            )
        counts.append(more.sentences)
        say(f"bench: +{more.sentences} rep {rep + 1}: {added[-1]:.2f} s vs {unchanged[-1]:.2f} s")
    ratio = median(added) / median(unchanged)
    return [
        Row(
            f"`sync` of {min(counts)}–{max(counts)} new sentences into a project of {size:,}",
            seconds(added),
            f"the no-change sync: {seconds(unchanged)}",
            f"ratio {ratio:.2f} (+{median(added) - median(unchanged):.2f} s)",
            "ratio ≤ 2.5",
            ratio <= 2.5,
            str(bench.sizes.small_reps),
            "each repetition adds a new story's articles to raw/",
        )
    ]


def fig_pull(bench: Bench) -> list[Row]:
    """4. `pull` + `dataset` with N tasks and N/2 annotations vs the export snapshot alone."""
    project, _ = bench.pull_project()
    base = bench.main_root("pull-base", "bench pull")
    pulls: list[float] = []
    datasets: list[float] = []
    exports: list[float] = []
    for rep in range(bench.sizes.big_reps):
        # A root that never pulled: the full pull, whatever the builder keeps between pulls.
        root = copy_root(base, bench.work / f"pull-{rep}")
        exports.append(timed(lambda: bench.export_snapshot(project))[0])
        pulls.append(bench.builder(root, "pull"))
        datasets.append(bench.builder(root, "dataset"))
        accepted = pulled_counts(root)["accepted"]
        if accepted != bench.sizes.annotated:
            raise BenchError(f"pull accepted {accepted}, expected {bench.sizes.annotated}")
        say(
            f"bench: pull rep {rep + 1}: pull {pulls[-1]:.2f} s + dataset {datasets[-1]:.2f} s, "
            f"export {exports[-1]:.2f} s"
        )
        bench.pulled_root = root
    bench.full_pulls = pulls
    both = [p + d for p, d in zip(pulls, datasets, strict=True)]
    ratio = median(both) / median(exports)
    return [
        Row(
            f"`pull` + `dataset`, {len(bench.payloads()):,} tasks, {bench.sizes.annotated:,} "
            "annotations",
            f"{seconds(both)} (pull {seconds(pulls)}, dataset {seconds(datasets)})",
            f"export snapshot alone: {seconds(exports)}",
            f"ratio {ratio:.2f}",
            "ratio ≤ 1.5",
            ratio <= 1.5,
            str(bench.sizes.big_reps),
        )
    ]


def fig_pull_new(bench: Bench) -> list[Row]:
    """5. `pull` after 100 new annotations on the same project vs the full pull."""
    project, unannotated = bench.pull_project()
    if bench.pulled_root is None:
        fig_pull(bench)
    assert bench.pulled_root is not None
    root = bench.pulled_root
    # On a desk, the annotations a pull has already seen were made long before it. Here they
    # were imported minutes ago: wait until the builder's look-back window no longer reaches
    # them, then catch up once (untimed), so each timed pull finds only the new annotations.
    window = lookback_seconds()
    wait = bench.pull_setup_done + window + 5 - time.monotonic()
    if wait > 0:
        say(f"bench: waiting {wait:.0f} s for the pull's look-back window ({window:.0f} s) to pass")
        time.sleep(wait)
    bench.builder(root, "pull")
    result = claim_result(question_for("claims").names[-1])
    pulls: list[float] = []
    expected = pulled_counts(root)["accepted"]
    for rep in range(bench.sizes.big_reps):
        for task_id in unannotated[: bench.sizes.new_annotations]:
            bench.sdk.annotations.create(id=task_id, result=result, lead_time=7.0)
        del unannotated[: bench.sizes.new_annotations]
        expected += bench.sizes.new_annotations
        pulls.append(bench.builder(root, "pull"))
        accepted = pulled_counts(root)["accepted"]
        say(f"bench: pull after +{bench.sizes.new_annotations} rep {rep + 1}: {pulls[-1]:.2f} s")
        if accepted not in (expected, bench.sizes.new_annotations):
            raise BenchError(f"the pull accepted {accepted} annotations, expected {expected}")
    ratio = median(pulls) / median(bench.full_pulls)
    return [
        Row(
            f"`pull` after {bench.sizes.new_annotations} new annotations, same project",
            seconds(pulls),
            f"the full pull: {seconds(bench.full_pulls)}",
            f"ratio {ratio:.2f}",
            "≤ 0.3 of it",
            ratio <= 0.3,
            str(bench.sizes.big_reps),
            f"the earlier annotations older than the builder's look-back window ({window:.0f} s)",
        )
    ]


def lookback_seconds() -> float:
    """How far before the last pull an incremental pull looks (0 if the builder has no such
    window): changes inside it are exported again."""
    from builder.labelstudio import pull

    overlap = getattr(pull, "OVERLAP", None)
    return overlap.total_seconds() if overlap is not None else 0.0


def fig_offline(bench: Bench) -> list[Row]:
    """6. Offline validate + aggregate + build from N annotation records: time and peak memory."""
    sizes = bench.sizes
    records = sizes.offline_tasks * sizes.offline_per_task
    articles = make_articles("offline", sizes.offline_tasks, seed=7)
    base = bench.root("offline-base", "bench offline", {"offline.jsonl": articles.records})
    payloads = task_payloads(base, bench.work / "scratch")[: sizes.offline_tasks]
    export = bench.work / "offline-export.json"
    export.write_bytes(synthetic_export(payloads, sizes.offline_per_task, annotators=8, seed=7))
    runs: list[dict[str, float]] = []
    for rep in range(sizes.big_reps):
        root = copy_root(base, bench.work / f"offline-{rep}")
        command = [sys.executable, "-m", "bench.offline", str(root), str(export)]
        done = subprocess.run(
            command, cwd=HERE.parent, env=child_environment(), capture_output=True, text=True
        )
        if done.returncode != 0:
            raise BenchError(f"bench.offline exited {done.returncode}:\n{done.stderr[-2000:]}")
        run = json.loads(done.stdout.strip().splitlines()[-1])
        if run["accepted"] != records:
            raise BenchError(f"validation accepted {run['accepted']} of {records} records")
        run["work"] = run["corpus"] + run["validate"] + run["build"]
        runs.append(run)
        say(f"bench: offline rep {rep + 1}: {run['work']:.2f} s, {run['peak_rss_mb']:.0f} MB")

    def part(name: str) -> str:
        return seconds([run[name] for run in runs])

    work = median([run["work"] for run in runs])
    floor = median([run["floor"] for run in runs])
    peak = max(run["peak_rss_mb"] for run in runs)
    return [
        Row(
            f"offline validate + aggregate + build, {records:,} annotation records "
            f"({sizes.offline_tasks:,} tasks)",
            f"{work:.2f} s; peak {peak:.0f} MB",
            f"reading the same records (the export's JSON): {floor:.2f} s",
            f"ratio {work / floor:.1f}; corpus {part('corpus')}, validate {part('validate')}, "
            f"build {part('build')}",
            "ratio ≤ 12, peak ≤ 1.5 GB",
            work / floor <= 12 and peak <= MEMORY_LIMIT_MB,
            str(sizes.big_reps),
            f"one process per repetition; imports ({part('imports')}) not counted; "
            "peak = max RSS of that process",
        )
    ]


def fig_segment(bench: Bench) -> list[Row]:
    """7. Sentence splitting on one core vs pysbd, sentencex, syntok, blingfire, with accuracy."""
    from bench import bench_segment

    rows = bench_segment.run(bench.sizes.segment_mb)
    ours = next(row for row in rows if row["splitter"].startswith("ours"))
    pysbd = next((row for row in rows if row["splitter"] == "pysbd"), None)
    out = []
    for row in rows:
        golden = ", ".join(
            f"{language} {row['golden'][language]}/{row['cases'][language]}"
            for language in row["golden"]
        )
        speed = "-" if row["mb_per_s"] is None else f"{row['mb_per_s']:.2f} MB/s"
        is_ours = row is ours
        passed: bool | None = None
        if is_ours and row["mb_per_s"] is not None:
            passed = row["mb_per_s"] >= 10.0 and row["golden"].get("en", 0) >= 47
            if pysbd is not None and pysbd["mb_per_s"] is not None:
                passed = passed and all(
                    row["golden"].get(language, 0) >= exact
                    for language, exact in pysbd["golden"].items()
                    if language != "en"
                )
        out.append(
            Row(
                f"sentence splitting, {bench.sizes.segment_mb:g} MB news-like, one core: "
                f"{row['splitter']} {row['version'] or ''}".rstrip(),
                speed,
                "the other splitters below" if is_ours else "—",
                f"golden exact: {golden}" if golden else "-",
                "≥ 10 MB/s, en ≥ 47/48, others ≥ pySBD's" if is_ours else "—",
                passed,
                str(row["runs"]),
                f"timed on {row['timed_mb']:.1f} MB",
            )
        )
    return out


def fig_stories_gold(bench: Bench) -> list[Row]:
    """12. Stories on ECB+ (../shared/story-gold): B-cubed on the topics not tuned on."""
    from bench import bench_stories
    from builder.inputs.story_cluster import Options

    if not (bench_stories.GOLD / "labels.json").is_file():
        say(f"bench: stories-gold skipped: no gold at {bench_stories.GOLD}")
        return [Row("stories on ECB+", "skipped", "—", f"no {bench_stories.GOLD}", "—", None, "—")]
    scores = bench_stories.evaluate()
    held, whole, tuned = scores["held_out"], scores["all"], scores["tuned"]
    outlet = bench_stories.evaluate(replace(Options(), same_outlet_day=0.0), parts=("tuned",))
    outlet = outlet["tuned"]
    pairs, same_event = bench_stories.same_outlet_day_pairs()
    ratio = whole["largest"] / whole["largest_event"]
    return [
        Row(
            f"stories on ECB+, {held['articles']} articles of the even topics (defaults tuned on "
            "the odd ones)",
            f"B-cubed F1 {held['f1']:.3f} (P {held['p']:.3f}, R {held['r']:.3f})",
            "old single link: F1 0.725 (issue 11)",
            f"all {whole['articles']}: F1 {whole['f1']:.3f}; largest story {whole['largest']} / "
            f"largest event {whole['largest_event']} = {ratio:.2f}",
            "F1 ≥ 0.88, largest ≤ 1.5× event",
            held["f1"] >= 0.88 and ratio <= 1.5,
            "1",
            f"split groups: {whole['groups']}, largest {whole['largest_group']}, articles whose "
            f"event spans two groups {whole['event_in_two_groups']:.1%}",
        ),
        Row(
            f"ECB+ split by the dataset's assign_splits over the split groups, {whole['articles']} "
            "articles, TEST_SIZE 0.2",
            f"test articles whose event has an article in train: {whole['leak_share']:.1%}",
            "—",
            f"test share off 0.2 by ≤ {whole['test_share_off']:.3f}",
            "≤ 1%, within 0.05",
            whole["leak_share"] <= 0.01 and whole["test_share_off"] <= 0.05,
            "5 seeds",
            "the worst of split seeds 13-17",
        ),
        Row(
            "outlet as evidence on ECB+'s odd (tuning) topics: same outlet and same day "
            "scaled by 0 (never one event) against 1 (no evidence, the default)",
            f"F1 {outlet['f1']:.4f} (P {outlet['p']:.4f}, R {outlet['r']:.4f})",
            f"factor 1: F1 {tuned['f1']:.4f}",
            f"{outlet['f1'] - tuned['f1']:+.4f}; ECB+ has {pairs} same-outlet same-day pairs, "
            f"{same_event} of them one event",
            "information: used only if it helps",
            None,
            "1",
            "ECB+ was gathered by event, so same outlet and day mostly means a follow-up",
        ),
    ]


def fig_stories_scale(bench: Bench) -> list[Row]:
    """13. Stories of N synthetic dated articles over a year vs TF-IDF-vectorising them (1 core)."""
    n = 10_000 if bench.sizes is QUICK else 100_000
    new = max(n // 100, 100)
    command = [sys.executable, "-m", "bench.bench_stories", "scale", str(n), str(new)]
    done = subprocess.run(
        command, cwd=HERE.parent, env=child_environment(), capture_output=True, text=True
    )
    if done.returncode != 0:
        raise BenchError(f"bench.bench_stories exited {done.returncode}:\n{done.stderr[-2000:]}")
    run = json.loads(done.stdout.strip().splitlines()[-1])
    full = run["cluster"] / run["vectorise"]
    incremental = run["incremental"] / run["cluster"]
    return [
        Row(
            f"stories of {n:,} synthetic dated articles over a year, one core",
            f"{run['cluster']:.2f} s CPU; peak {run['peak_rss_mb']:.0f} MB",
            f"TF-IDF vectorising them: {run['vectorise']:.2f} s CPU",
            f"ratio {full:.2f}; {run['stories']:,} stories (of {run['events']:,} events), "
            f"largest {run['largest']} (event {run['largest_event']}), B-cubed F1 against the "
            f"generator's events {run['f1']:.3f}",
            "ratio ≤ 3, peak ≤ 2 GB",
            full <= 3.0 and run["peak_rss_mb"] <= 2048,
            str(run["repeats"]),
            "CPU time of the process (the machine is shared), the least of the repeats taken "
            "in turn: vectorise "
            + ", ".join(f"{t:.2f}" for t in run["vectorise_runs"])
            + " s; cluster "
            + ", ".join(f"{t:.2f}" for t in run["cluster_runs"])
            + " s",
        ),
        Row(
            f"{new:,} new articles (the year's last week) into those {n:,}",
            f"{run['incremental']:.2f} s CPU, {run['ids_changed']} old ids changed",
            f"the full clustering: {run['cluster']:.2f} s CPU",
            f"ratio {incremental:.3f}",
            "ratio ≤ 0.1, no id changed",
            incremental <= 0.1 and run["ids_changed"] == 0,
            "1",
        ),
    ]


def fig_scale(bench: Bench) -> list[Row]:
    """12. `--scale N`: N claim tasks, 2N annotations: sync, pulls, dataset, memory, requests."""
    from bench import scale

    tasks = bench.scale or SCALE_DEFAULT
    rows = scale.run(
        bench.url, bench.token, bench.work, tasks, "SQLite, Label Studio's server", bench.keep
    )
    if bench.postgresql:
        server = bench_server.start(bench.work / "postgresql", bench.postgresql, workers=3)
        try:
            rows += scale.run(
                server.url, server.token, bench.work, tasks, "PostgreSQL, gunicorn ×3", bench.keep
            )
        finally:
            bench_server.stop(server)
    return [Row(**row) for row in rows]


def fig_annotators(bench: Bench) -> list[Row]:
    """11. Simulated annotators on CheckThat! labels: Dawid-Skene against the majority."""
    from bench.annotators import DEFAULT_POOL, POOL_FILE, simulate_annotators

    pool = DEFAULT_POOL / POOL_FILE
    if not pool.is_file():
        say(f"bench: annotators: {pool} not found, figure skipped")
        return [
            Row("annotator simulation", "not measured", "—", f"{pool} not found", "—", None, "—")
        ]
    seeds = 1 if bench.sizes is QUICK else 5
    result = simulate_annotators(pool, seeds=seeds)
    accuracy, cpu = result["accuracy"], result["cpu_seconds"]
    competence = ", ".join(f"{name} {value:.3f}" for name, value in result["competence"].items())
    return [
        Row(
            f"Dawid-Skene labels vs the gold, {result['items']:,} CheckThat! train sentences, "
            "3 of 5 simulated annotators per item (0.95, 0.9, 0.8, 0.7, random)",
            f"accuracy {accuracy['dawid_skene']:.4f}",
            f"majority vote: {accuracy['majority']:.4f}",
            f"+{result['gain_points']:.1f} points; competences ranked "
            + ("correctly" if result["ranking_correct"] else "WRONGLY"),
            "≥ +4 points, ranking right",
            result["gain_points"] >= 4.0 and result["ranking_correct"],
            str(seeds),
            f"estimated competences (medians): {competence}; CPU s: majority "
            f"{cpu['majority']}, Dawid-Skene {cpu['dawid_skene']}; "
            f"{100 * result['below_min_posterior']:.1f}% of items below a posterior of "
            f"{result['min_posterior']} (to adjudication), accuracy of the rest "
            f"{result['accuracy_above_min_posterior']:.4f}; Dawid-Skene minus majority on random "
            "subsets (median, worst of the seeds): "
            + ", ".join(
                f"{row['items']} items {row['median_gain_points']:+.1f} "
                f"({row['worst_gain_points']:+.1f})"
                for row in result["small_sets"]
            ),
        )
    ]


def fig_audit(bench: Bench) -> list[Row]:
    """8. The leakage audit of a 100,000-sentence dataset against the rest of `make dataset`."""
    sizes = bench.sizes
    articles = make_articles("audit", sizes.audit_sentences, seed=11)
    base = bench.root("audit-base", "bench audit", {"audit.jsonl": articles.records})
    payloads = task_payloads(base, bench.work / "scratch")
    export = bench.work / "audit-export.json"
    export.write_bytes(synthetic_export(payloads, 1, annotators=4, seed=11))
    runs: list[dict[str, float]] = []
    for rep in range(sizes.big_reps):
        root = copy_root(base, bench.work / f"audit-{rep}")
        command = [sys.executable, "-m", "bench.bench_splits", str(root), str(export)]
        done = subprocess.run(
            command, cwd=HERE.parent, env=child_environment(), capture_output=True, text=True
        )
        if done.returncode != 0:
            raise BenchError(f"bench.bench_splits exited {done.returncode}:\n{done.stderr[-2000:]}")
        run = json.loads(done.stdout.strip().splitlines()[-1])
        runs.append(run)
        say(
            f"bench: audit rep {rep + 1}: audit {run['audit']:.2f} s, rest {run['rest']:.2f} s, "
            f"{run['sentences']:,} sentences"
        )
    ratio = median([run["audit"] / run["rest"] for run in runs])
    last = runs[-1]
    return [
        Row(
            f"leakage audit in `dataset`, {last['sentences']:,.0f} labeled sentences",
            f"{median([r['audit'] for r in runs]):.2f} s",
            f"the rest of `dataset` (corpus, labels, splits, files): "
            f"{median([r['rest'] for r in runs]):.2f} s",
            f"ratio {ratio:.2f}",
            "≤ 0.5",
            ratio <= 0.5,
            str(sizes.big_reps),
            f"found {last['exact']:,.0f} exact and {last['near']:,.0f} near-duplicate test "
            f"sentences, {last['similar_stories']:,.0f} similar stories (the generator reuses "
            f"paragraphs); peak {last['peak_rss_mb']:.0f} MB",
        )
    ]


def fig_split_ecb(bench: Bench) -> list[Row]:
    """9. ECB+: test articles whose gold event has an article in train, after the split."""
    from bench import bench_splits

    result = bench_splits.ecb()
    if result is None:
        say(f"bench: split-ecb skipped: {bench_splits.STORY_GOLD} is absent")
        return [Row("ECB+ event leakage", "skipped: gold absent", "—", "—", "—", None, "—")]
    rows = []
    titles = {
        "groups": "split groups",
        "stories": "stories alone",
        "time": "split groups, SPLIT_BY=time",
    }
    for name in ("groups", "stories", "time"):
        r = result[name]
        within = abs(r["test_share"] - 0.2) <= 0.05
        rows.append(
            Row(
                f"ECB+ (982 articles, 86 events), split by {titles[name]}: test articles whose "
                "event has an article in train",
                f"{r['leak_share']:.1%} ({r['leaked']} of {r['test_articles']})",
                "—",
                f"test share {r['test_share']:.3f} ({r['groups']} groups, {r['stories']} stories)",
                "≤ 1%, share within 0.05 of 0.2" if name == "groups" else "— (for comparison)",
                (r["leak_share"] <= 0.01 and within) if name == "groups" else None,
                "1",
                "TEST_SIZE 0.2, seed 13, sentences as rows"
                + ("" if r["problem"] is None else "; `make dataset` would refuse: share off"),
            )
        )
    return rows


def fig_split_checkworthy(bench: Bench) -> list[Row]:
    """10. checkworthy-dev train as 22,500 one-sentence undated articles: split or say why."""
    from bench import bench_splits

    r = bench_splits.checkworthy()
    if r is None:
        say(f"bench: split-checkworthy skipped: {bench_splits.CHECKWORTHY} is absent")
        return [Row("checkworthy-dev split", "skipped: data absent", "—", "—", "—", None, "—")]
    loud = r["problem"] is not None
    near = abs(r["test_share"] - 0.2) <= 0.05
    return [
        Row(
            f"checkworthy-dev train, {r['articles']:,} one-sentence undated articles: the split",
            f"train {r['rows'] - r['test_rows']:,} / test {r['test_rows']:,} "
            f"(share {r['test_share']:.3f})",
            "—",
            f"{r['groups']:,} split groups, the largest {r['largest_group']:,} rows; "
            + ("`make dataset` refuses (exit 1) and says why" if loud else "share near 0.2"),
            "share within 0.05 of 0.2, or a loud refusal",
            near or loud,
            "1",
            (r["problem"] or "")[:160],
        )
    ]


FIGURES: dict[str, tuple[Callable[[Bench], list[Row]], bool]] = {
    # name: (function, needs the server)
    "sync": (fig_sync, True),
    "sync-unchanged": (fig_sync_unchanged, True),
    "sync-new": (fig_sync_new, True),
    "pull": (fig_pull, True),
    "pull-new": (fig_pull_new, True),
    "offline": (fig_offline, False),
    "segment": (fig_segment, False),
    "stories-gold": (fig_stories_gold, False),
    "stories-scale": (fig_stories_scale, False),
    "suggest": (fig_suggest, True),
    "simulate": (fig_simulate, False),
    "annotators": (fig_annotators, False),
    "audit": (fig_audit, False),
    "split-ecb": (fig_split_ecb, False),
    "split-checkworthy": (fig_split_checkworthy, False),
    "scale": (fig_scale, True),
}


# Report ------------------------------------------------------------------------------------
def versions() -> dict[str, str]:
    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "-"

    return {
        "label-studio": bench_server.label_studio_version(),
        "label-studio-sdk": version("label-studio-sdk"),
        "datasets": version("datasets"),
    }


def builder_commit() -> str:
    """The checkout's commit, and whether builder/ differs from it (read-only git)."""

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=HERE.parent, capture_output=True, text=True)

    try:
        head = git("rev-parse", "--short", "HEAD")
        changed = git("diff", "--quiet", "HEAD", "--", "builder", "pyproject.toml")
    except OSError:
        return "unknown (no git)"
    if head.returncode != 0:
        return "unknown (not a git checkout)"
    # bench/results.md is rewritten by every run: only the code measured counts as a change.
    return head.stdout.strip() + (" with uncommitted builder changes" if changed.returncode else "")


def render(rows: list[Row], header: list[str]) -> str:
    """The report as markdown: how it was run, then the table."""
    lines = [*header, ""]
    lines.append("| figure | median | baseline, same run | comparison | target | result | reps |")
    lines.append("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        result = {True: "PASS", False: "FAIL", None: "—"}[row.passed]
        figure = row.figure + (f" ({row.note})" if row.note else "")
        cells = [figure, row.measured, row.baseline, row.comparison, row.target, result, row.reps]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        epilog="Exit code 1 if a target is missed or a figure could not be measured.",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(FIGURES),
        metavar="FIGURE",
        help=f"run only these figures: {', '.join(FIGURES)}",
    )
    parser.add_argument(
        "--quick", action="store_true", help="2,000 tasks, fewer repetitions: a smoke run"
    )
    parser.add_argument(
        "--scale",
        type=int,
        metavar="TASKS",
        help=f"also run the `scale` figure with this many tasks (its default: {SCALE_DEFAULT:,})",
    )
    parser.add_argument(
        "--postgresql",
        metavar="URL",
        default="",
        help="run `scale` a second time on a Label Studio whose database is a new one on this "
        "PostgreSQL server (postgresql://USER@HOST:PORT), served by gunicorn",
    )
    parser.add_argument("--reps", type=int, help="repetitions of every measurement")
    parser.add_argument(
        "--keep", action="store_true", help="keep the work dir (its path is printed)"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write the markdown")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    if given[:1] == ["simulate"]:
        from bench import simulate

        return simulate.main(given[1:])
    args = arguments(argv)
    sizes = QUICK if args.quick else FULL
    if args.reps:
        sizes = Sizes(**{**sizes.__dict__, "big_reps": args.reps, "small_reps": args.reps})
    # The scale figure takes long: only when asked for.
    names = args.only or [name for name in FIGURES if name != "scale" or args.scale]
    command = "python -m bench" + (" " + " ".join(argv if argv is not None else sys.argv[1:]))
    began = time.monotonic()
    load_before = os.getloadavg()
    commit = builder_commit()
    work = Path(tempfile.mkdtemp(prefix="factcheck-bench-"))
    server = None
    rows: list[Row] = []
    try:
        if any(FIGURES[name][1] for name in names):
            server = bench_server.start(work)
            say(f"bench: Label Studio {server.url}, work dir {work}")
        bench = Bench(sizes, work, server.url if server else "", server.token if server else "")
        bench.scale, bench.postgresql, bench.keep = args.scale or 0, args.postgresql, args.keep
        for name in names:
            function = FIGURES[name][0]
            say(f"bench: {name}: {function.__doc__}")
            try:
                rows += function(bench)
            except Exception as error:  # one broken figure must not hide the others
                traceback.print_exc()
                message = str(error).splitlines()[0] if str(error) else type(error).__name__
                rows.append(Row(name, "not measured", "—", message, "—", False, "—"))
    finally:
        if server is not None:
            bench_server.stop(server)
        if args.keep:
            say(f"bench: work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    header = [
        "## Benchmark (`make bench`)",
        "",
        f"Command: `{command.strip()}` from the repository root ({time.strftime('%Y-%m-%d')}), "
        f"{time.monotonic() - began:.0f} s in all.",
        f"Machine: {cores} cores ({usable} usable), {platform.machine()}, Python "
        f"{platform.python_version()}; "
        + ", ".join(f"{name} {version}" for name, version in versions().items())
        + "; the local server on SQLite, started by the bench on 127.0.0.1.",
        f"Load average before/after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f} "
        "(other load on the machine slows every figure).",
        f"Sizes: {sizes.tasks:,} tasks (news-like, {ARTICLES_PER_STORY} articles a story, "
        "`story_id` given), "
        f"{sizes.annotated:,} annotations imported with their tasks, "
        f"{sizes.offline_tasks * sizes.offline_per_task:,} offline records; repetitions: "
        f"{sizes.big_reps} for the 20k imports, listings, exports and pulls, {sizes.small_reps} "
        "for the quick syncs; medians shown.",
        (
            f"Scale figure: {args.scale or SCALE_DEFAULT:,} claim tasks, 2 annotations each, "
            "imported with their tasks; the sync and its raw import 3 times each in alternating "
            "order (medians), every other figure once; on SQLite (Label Studio's own server)"
            + (", then on PostgreSQL (gunicorn, 3 workers)." if args.postgresql else ".")
            if "scale" in names
            else ""
        ),
        "Each `sync`, `pull` and `dataset` is `python -m builder …` in a new process, timed from "
        f"outside, as `make` runs it; builder at commit {commit}"
        + ("." if builder_commit() == commit else f" (at {builder_commit()} by the end)."),
    ]
    report = render(rows, header)
    print()
    print(report)
    write_atomically(args.results, report)
    say(f"bench: table written to {args.results}")
    return 0 if all(row.passed is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
