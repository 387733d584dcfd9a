"""The server's projects and the last pull into a progress report: tasks, annotators, rejects, ties."""

from __future__ import annotations

from collections import Counter
from typing import Any

from builder.aggregate import aggregate
from builder.config import Settings
from builder.errors import BuilderError
from builder.pull import pull_paths, read_records, read_summary


def project_status(settings: Settings, project: str, title: str) -> dict[str, Any]:
    """One project's figures: live task counts from the server, the rest from the last pull."""
    from builder.labelstudio import LabelStudioClient

    paths = pull_paths(settings, project)
    records = read_records(paths.accepted)
    summary = read_summary(paths.summary)
    labels = aggregate(records)
    status: dict[str, Any] = {"project": project, "title": title, "server": None}
    try:
        client = LabelStudioClient(settings)
        info = client.find_project(title)
        if info is not None:
            status["server"] = {"url": client.url, "project_id": info.id, "tasks": info.task_count}
    except BuilderError as exc:
        status["server_error"] = exc.message
    labeled = sum(1 for item in labels.values() if item.label is not None)
    status["tasks"] = status["server"]["tasks"] if status["server"] else None
    status["labeled"] = labeled
    status["unlabeled"] = status["tasks"] - len(labels) if status["tasks"] is not None else None
    status["annotations_per_annotator"] = dict(
        sorted(Counter(r["annotator"] for r in records).items())
    )
    status["last_pull"] = summary
    status["rejected"] = summary["counts"]["rejected"] if summary else 0
    status["skipped"] = summary["counts"]["skipped"] if summary else 0
    status["unresolved"] = sorted(i for i, item in labels.items() if item.label is None)
    return status


def render(report: list[dict[str, Any]]) -> str:
    lines = []
    for status in report:
        lines.append(f"{status['project']} ({status['title']})")
        if status["server"]:
            server = status["server"]
            lines.append(f"  server      {server['url']} project {server['project_id']}")
        else:
            lines.append(f"  server      {status.get('server_error', 'no such project yet')}")
        for key in ("tasks", "labeled", "unlabeled", "skipped", "rejected"):
            value = status[key]
            lines.append(f"  {key:<11} {'-' if value is None else value}")
        lines.append(
            f"  unresolved  {len(status['unresolved'])}"
            + (
                f" (ties: {', '.join(status['unresolved'][:5])}{' …' if len(status['unresolved']) > 5 else ''})"
                if status["unresolved"]
                else ""
            )
        )
        if status["annotations_per_annotator"]:
            lines.append("  annotations per annotator")
            for annotator, count in status["annotations_per_annotator"].items():
                lines.append(f"    {annotator:<40} {count}")
        if status["last_pull"]:
            lines.append(f"  last pull   {status['last_pull']['snapshot']}")
        else:
            lines.append("  last pull   none yet (run `make pull`)")
    return "\n".join(lines)
