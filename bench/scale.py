"""`python -m bench --scale N`: a claims project of N tasks with 2N annotations, end to end.

Each figure is a ratio to a floor measured in the same run on the same server: the raw import of
the same payloads, the server's own export of the same tasks, the full pull, reading the pulled
records. Peak memory is the child process's own (wait4's ru_maxrss), at N and at N/5.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

import requests

from bench.workload import (
    child_environment,
    claim_result,
    copy_root,
    make_articles,
    make_root,
    say,
    task_payloads,
)
from builder.core.projects import labeling_config
from builder.core.scheme import question_for
from builder.labelstudio.client import REQUEST_LOG

IMPORT_BATCH = 5000  # tasks per import when seeding the annotated project
SYNC_REPS = 3  # the sync and the raw import, each; the other figures are measured once
TIMEOUT = 3600


@dataclass
class Run:
    seconds: float
    peak_mb: float
    slowest: tuple[float, str]  # the slowest single HTTP request: seconds, "METHOD path"
    output: str


def measured(root: Path, *args: str) -> Run:
    """`python -m builder ARGS` in `root` as `make` runs it: wall time, the process's peak RSS
    and the slowest request it made."""
    log = root / f"requests-{time.monotonic_ns()}.jsonl"
    env = {**child_environment(), REQUEST_LOG: str(log)}
    out_path = root / "command-output.txt"
    began = time.perf_counter()
    with open(out_path, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "builder", *args],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        # wait4, not wait: it also gives the child's own resource usage.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - began
    output = out_path.read_text(encoding="utf-8", errors="replace")
    if process.returncode != 0:
        raise RuntimeError(
            f"`builder {' '.join(args)}` exited {process.returncode}:\n{output[-2000:]}"
        )
    slowest = (0.0, "no request")
    if log.is_file():
        for line in log.read_text().splitlines():
            entry = json.loads(line)
            if entry["seconds"] > slowest[0]:
                slowest = (entry["seconds"], f"{entry['method']} {entry['path']}")
        log.unlink()
    return Run(elapsed, usage.ru_maxrss / 1024, slowest, output)


def reading_records(path: Path) -> float:
    """The floor of `dataset`: a new process that reads the pulled records, nothing more."""
    code = (
        "import sys; from pathlib import Path; from builder.labels.records import read_records; "
        "read_records(Path(sys.argv[1]))"
    )
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=child_environment())
    return time.perf_counter() - began


class Server:
    """Plain REST calls with the admin token (the bench's own floor measurements)."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.session = url, requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        answer = self.session.request(
            method,
            f"{self.url}{path}",
            params=params,
            data=data,
            headers={"Content-Type": "application/json"} if data else {},
            timeout=TIMEOUT,
        )
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def project(self, title: str) -> int:
        config = labeling_config("claims")
        return self.call("POST", "/api/projects", {"title": title, "label_config": config})["id"]

    def project_id(self, title: str) -> int:
        listed = self.call("GET", "/api/projects", page_size=1000, include="id,title")["results"]
        return next(p["id"] for p in listed if p["title"] == title)

    def import_tasks(self, project: int, tasks: list[dict[str, Any]]) -> None:
        self.call("POST", f"/api/projects/{project}/import", tasks, commit_to_project=True)

    def export(self, project: int) -> int:
        """The server's own export of the annotated tasks, with the options the pull asks for;
        its size in bytes."""
        body = {
            "title": "bench floor",
            "task_filter_options": {"only_with_annotations": True},
            "annotation_filter_options": {"usual": True, "ground_truth": True, "skipped": True},
            "serialization_options": {"annotations__completed_by": {"only_id": False}},
        }
        export = self.call("POST", f"/api/projects/{project}/exports", body)
        while export["status"] not in ("completed", "failed"):
            time.sleep(0.1)
            export = self.call("GET", f"/api/projects/{project}/exports/{export['id']}")
        if export["status"] == "failed":
            raise RuntimeError(f"the export of project {project} failed")
        answer = self.session.get(
            f"{self.url}/api/projects/{project}/exports/{export['id']}/download",
            params={"exportType": "JSON"},
            timeout=TIMEOUT,
        )
        answer.raise_for_status()
        self.call("DELETE", f"/api/projects/{project}/exports/{export['id']}")
        return len(answer.content)

    def user(self, email: str) -> int:
        for user in self.call("GET", "/api/users"):
            if user["email"] == email:
                return user["id"]
        return self.call("POST", "/api/users", {"email": email, "username": email.split("@")[0]})[
            "id"
        ]


def seed_annotated(server: Server, title: str, payloads: list[dict[str, Any]]) -> tuple[int, int]:
    """A project of the payloads with two annotations each, imported with their tasks (an
    annotation POST costs ~140 ms: 200,000 of them would take hours). Its id and the time."""
    labels = question_for("claims").names
    people = [server.user("bench@example.com"), server.user("second-annotator@example.com")]
    project = server.project(title)
    began = time.perf_counter()
    for start in range(0, len(payloads), IMPORT_BATCH):
        batch = []
        for index in range(start, min(start + IMPORT_BATCH, len(payloads))):
            # The two agree but on every fifth task, as annotators mostly do.
            given = [labels[index % len(labels)], labels[(index + index % 5 // 4) % len(labels)]]
            annotations = [
                {
                    "result": claim_result(given[n]),
                    "completed_by": who,  # an import needs the integer id
                    "lead_time": 5.0 + (index + n) % 30,
                    # Label Studio marks imported annotations as ground truth unless told:
                    # these are two annotators' own answers, for the aggregation to weigh.
                    "ground_truth": False,
                }
                for n, who in enumerate(people)
            ]
            batch.append({"data": payloads[index], "annotations": annotations})
        server.import_tasks(project, batch)
        say(f"bench: scale: imported {start + len(batch):,} of {len(payloads):,} annotated tasks")
    return project, int(time.perf_counter() - began)


def row(
    figure: str,
    measured: str,
    baseline: str,
    ratio: float | None,
    target: str,
    passed: bool | None,
    note: str = "",
    reps: int = 1,
) -> dict[str, Any]:
    # Said at once, so a later failure does not lose what was measured.
    say(f"bench: scale: {figure}: {measured}; {baseline}; ratio {ratio}; {target}: {passed}")
    return {
        "figure": figure,
        "measured": measured,
        "baseline": baseline,
        "comparison": "—" if ratio is None else f"ratio {ratio:.3f}",
        "target": target,
        "passed": passed,
        "reps": str(reps),
        "note": note,
    }


def run(
    url: str, token: str, work: Path, tasks: int, where: str, keep: bool = False
) -> list[dict[str, Any]]:
    """Every figure of issue 13 at `tasks` tasks on the server at `url` (`where` names it);
    `keep` leaves its roots on disk (`--keep`)."""
    server = Server(url, token)
    work = work / f"scale-{where.split(',')[0].lower()}"
    articles = make_articles("scale", tasks, seed=11)
    env = {"LABEL_STUDIO_URL": url, "LABEL_STUDIO_API_KEY": token}
    base = make_root(work / "base", {"scale.jsonl": articles.records}, env)
    payloads = task_payloads(base, work / "scratch")
    n = len(payloads)
    rows = []
    slowest: list[tuple[float, str, str]] = []

    # 1. sync into a new project vs one raw import of the same payloads, in alternating order,
    # so that neither always meets a fresh database (the first import grows its file).
    syncs: list[float] = []
    raws: list[float] = []
    for rep in range(SYNC_REPS):
        for step in ("sync", "raw") if rep % 2 else ("raw", "sync"):
            if step == "raw":
                raw_project = server.project(f"scale raw import {rep}")
                began = time.perf_counter()
                server.import_tasks(raw_project, [{"data": payload} for payload in payloads])
                raws.append(time.perf_counter() - began)
                server.call("DELETE", f"/api/projects/{raw_project}")
                continue
            sync_root = copy_root(base, work / f"sync-{rep}")
            with open(sync_root / ".env", "a") as handle:
                handle.write(f"CLAIMS_PROJECT_TITLE=scale sync {rep}\n")
            say(f"bench: scale ({where}): sync of {n:,} tasks, repetition {rep + 1}")
            sync = measured(sync_root, "sync", "--no-progress")
            syncs.append(sync.seconds)
            slowest.append((*sync.slowest, "sync"))
            server.call("DELETE", f"/api/projects/{server.project_id(f'scale sync {rep}')}")
    ratio = median(syncs) / median(raws)
    rows.append(
        row(
            f"`sync` of {n:,} new sentences into a new project ({where})",
            f"{median(syncs):.1f} s ({', '.join(f'{x:.1f}' for x in syncs)})",
            f"one raw import of the same payloads: {median(raws):.1f} s "
            f"({', '.join(f'{x:.1f}' for x in raws)})",
            ratio,
            "ratio ≤ 1.1",
            ratio <= 1.1,
            reps=SYNC_REPS,
        )
    )

    # 2. the full pull vs the server's own export of the same tasks; its peak memory.
    small = max(n // 5, 1)
    pulls: dict[int, Run] = {}
    roots: dict[int, Path] = {}
    for size in (small, n):
        title = f"scale pull {size}"
        say(f"bench: scale ({where}): importing {size:,} tasks with {2 * size:,} annotations")
        project, seeding = seed_annotated(server, title, payloads[:size])
        seeded = time.monotonic()
        say(f"bench: scale ({where}): seeded in {seeding} s; full pull")
        root = copy_root(base, work / f"pull-{size}")
        with open(root / ".env", "a") as handle:
            handle.write(f"CLAIMS_PROJECT_TITLE={title}\n")
        pulls[size], roots[size] = measured(root, "pull", "--full"), root
        slowest.append((*pulls[size].slowest, f"pull of {size:,}"))
        if size == n:
            began = time.perf_counter()
            exported = server.export(project)
            export = time.perf_counter() - began
            annotated_project, setup_done = project, seeded
    full = pulls[n]
    ratio = full.seconds / export
    rows.append(
        row(
            f"full `pull`, {n:,} tasks, {2 * n:,} annotations ({where})",
            f"{full.seconds:.1f} s",
            f"the server's own export of them ({exported / 1e6:.0f} MB): {export:.1f} s",
            ratio,
            "ratio ≤ 1.2",
            ratio <= 1.2,
        )
    )
    flat = pulls[n].peak_mb / pulls[small].peak_mb
    rows.append(
        row(
            f"peak memory of the full `pull` ({where})",
            f"{pulls[n].peak_mb:.0f} MB at {n:,} tasks",
            f"{pulls[small].peak_mb:.0f} MB at {small:,} tasks",
            flat,
            "≤ 1 GB, within 10%",
            pulls[n].peak_mb <= 1024 and flat <= 1.1,
        )
    )

    # 3. a pull after 100 new annotations vs the full pull.
    root = roots[n]
    # Changes inside the pull's look-back window are exported again: let the seeding age out.
    from builder.labelstudio.pull import OVERLAP

    wait = setup_done + OVERLAP.total_seconds() + 5 - time.monotonic()
    if wait > 0:
        say(f"bench: scale ({where}): waiting {wait:.0f} s for the look-back window")
        time.sleep(wait)
    measured(root, "pull")  # catch up once, untimed
    listed = server.call(
        "GET", "/api/tasks", project=annotated_project, page_size=100, include="id"
    )
    admin = server.user("bench@example.com")
    for task in listed["tasks"][:100]:
        body = {"result": claim_result("checkworthy"), "completed_by": admin, "lead_time": 3.0}
        server.call("POST", f"/api/tasks/{task['id']}/annotations", body)
    new = measured(root, "pull")
    slowest.append((*new.slowest, "pull after 100"))
    ratio = new.seconds / full.seconds
    rows.append(
        row(
            f"`pull` after 100 new annotations, {n:,} tasks ({where})",
            f"{new.seconds:.1f} s",
            f"the full pull: {full.seconds:.1f} s",
            ratio,
            "ratio ≤ 0.05",
            ratio <= 0.05,
        )
    )

    # 4. dataset vs reading the pulled records; its peak memory at both sizes.
    datasets = {size: measured(roots[size], "dataset") for size in (small, n)}
    floor = reading_records(root / "exports/annotations/claims.jsonl")
    ratio = datasets[n].seconds / floor
    rows.append(
        row(
            f"`dataset`, {n:,} tasks, {2 * n + 100:,} annotations ({where})",
            f"{datasets[n].seconds:.1f} s",
            f"reading the pulled records: {floor:.1f} s",
            ratio,
            "ratio ≤ 2",
            ratio <= 2,
        )
    )
    flat = datasets[n].peak_mb / datasets[small].peak_mb
    rows.append(
        row(
            f"peak memory of `dataset` ({where})",
            f"{datasets[n].peak_mb:.0f} MB at {n:,} tasks",
            f"{datasets[small].peak_mb:.0f} MB at {small:,} tasks",
            flat,
            "≤ 1 GB, within 10%",
            datasets[n].peak_mb <= 1024 and flat <= 1.1,
        )
    )
    seconds, request, command = max(slowest)
    rows.append(
        row(
            f"the slowest single HTTP request, {n:,} tasks ({where})",
            f"{seconds:.1f} s",
            f"{request} (in {command})",
            None,
            "— (information: a proxy's timeout must exceed it)",
            None,
        )
    )
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return rows
