"""The server's projects and the last pulls into a progress and quality report (tables, JSON)."""

from __future__ import annotations

from typing import Any

from builder.core.config import Settings
from builder.core.errors import BuilderError
from builder.core.projects import PROJECTS
from builder.core.report import last_reports
from builder.labels.aggregate import DS_MIN_SHARED_ITEMS, aggregate, effective_method
from builder.labels.quality import agreement_for, annotator_table
from builder.labels.records import project_records, pull_summary, set_names, set_summaries
from builder.labelstudio import identity
from builder.labelstudio.client import LabelStudioClient


def _pull_counts(settings: Settings, name: str) -> dict[str, int]:
    """The last pull's counts, added up over the projects of `name`'s set."""
    total: dict[str, int] = {}
    for summary in set_summaries(settings, name):
        for key, count in summary["counts"].items():
            total[key] = total.get(key, 0) + count
    return total


def project_status(
    settings: Settings,
    project: str,
    title: str,
    client: Any | None,
    controls: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One project's figures: live task counts from the server, the rest from the last pull."""
    records = project_records(settings, project)
    labels = aggregate(records, settings.aggregation, settings.min_posterior)
    counts = _pull_counts(settings, project)
    adjudicated = _pull_counts(settings, PROJECTS[project].adjudication_name)
    status: dict[str, Any] = {"project": project, "title": title, "server": None}
    status["aggregation"] = effective_method(records, settings.aggregation)
    if client is not None:
        # Read-only: status records no project ids (only the writing commands do).
        infos = identity.resolve_set(client, settings.state_dir, project, title, remember=False)
        if infos:
            status["server"] = {"url": client.url, "project_id": infos[0].id}
            status["tasks"] = sum(info.task_count for info in infos)
            if len(infos) > 1:
                # A set past MAX_TASKS_PER_PROJECT: counted as one, each project listed.
                status["server"]["projects"] = [
                    {"project_id": info.id, "title": info.title, "tasks": info.task_count}
                    for info in infos
                ]
    status.setdefault("tasks", None)
    known = controls or {}  # control items: their answer is known, even when annotators tie
    status["labeled"] = sum(1 for i, item in labels.items() if item.label is not None or i in known)
    status["unlabeled"] = (
        max(status["tasks"] - len(labels), 0) if status["tasks"] is not None else None
    )
    status["skipped"] = counts.get("skipped", 0) + adjudicated.get("skipped", 0)
    status["rejected"] = counts.get("rejected", 0) + adjudicated.get("rejected", 0)
    status["unresolved"] = sorted(
        i for i, item in labels.items() if item.label is None and i not in known
    )
    status["adjudicated"] = sum(1 for item in labels.values() if item.resolved_by == "ground_truth")
    status["last_pull"] = (pull_summary(settings, set_names(settings, project)[-1]) or {}).get(
        "snapshot"
    )
    status["agreement"] = agreement_for(project, records)
    status["annotators"] = annotator_table(project, records, controls)
    return status


def status_report(settings: Settings, controls: dict[str, str] | None = None) -> dict[str, Any]:
    report: dict[str, Any] = {"server_error": None, "projects": [], "steps": []}
    client = None
    try:
        client = LabelStudioClient(settings)
        client.check()
    except BuilderError as exc:
        report["server_error"] = exc.message
        client = None
    for project in PROJECTS.values():
        report["projects"].append(
            project_status(settings, project.name, project.title(settings), client, controls)
        )
    report["steps"] = last_reports(settings.state_dir)
    return report


def corpus_counts(corpus: Any) -> dict[str, int]:
    """Articles, how many have no date (clustered on text alone), stories, split groups."""
    return {
        "articles": len(corpus.articles),
        "undated": sum(1 for a in corpus.articles.values() if not a.date),
        "stories": len(set(corpus.story_of.values())),
        "split_groups": len(set(corpus.split_group_of.values())),
        "story_merges_reported": len(corpus.story_merges),
    }


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return out


def confusion_lines(project: str, annotators: list[dict[str, Any]]) -> list[str]:
    """Each annotator's estimated confusion matrix: how often they answer each label (columns)
    when the true label is the row's."""
    names = PROJECTS[project].question.names
    if not any(a["confusion"] for a in annotators):
        return [
            "",
            f"competence: not estimated (fewer than {DS_MIN_SHARED_ITEMS} items labeled by two "
            "or more annotators)",
        ]
    lines = ["", "competence: Dawid-Skene's estimate; P(answer | true label), rows true:"]
    for a in annotators:
        if not a["confusion"]:
            continue
        lines.append(f"  {a['annotator']}")
        lines += [
            "    " + line
            for line in table(
                ["true \\ answer", *names],
                [[name, *row] for name, row in zip(names, a["confusion"], strict=True)],
            )
        ]
    return lines


def render(report: dict[str, Any]) -> str:
    lines = []
    if report["server_error"]:
        lines += [f"server: {report['server_error']} (task counts unknown)", ""]
    headers = [
        "project",
        "tasks",
        "labeled",
        "unlabeled",
        "skipped",
        "rejected",
        "unresolved",
        "adjudicated",
    ]
    rows = [
        [
            p["project"],
            p["tasks"],
            p["labeled"],
            p["unlabeled"],
            p["skipped"],
            p["rejected"],
            len(p["unresolved"]),
            p["adjudicated"],
        ]
        for p in report["projects"]
    ]
    lines += table(headers, rows)
    for p in report["projects"]:
        members = (p.get("server") or {}).get("projects") or []
        if members:
            listed = ", ".join(f"{m['project_id']} ({m['tasks']} tasks)" for m in members)
            lines.append(f"{p['project']}: one set of {len(members)} projects: {listed}")
    counts = report.get("corpus")
    if counts:
        lines += [
            "",
            f"corpus: {counts['articles']} articles ({counts['undated']} undated: grouped by text "
            f"alone), {counts['stories']} stories, {counts['split_groups']} split groups"
            + (
                f", {counts['story_merges_reported']} story merge(s) reported (`make stories`)"
                if counts["story_merges_reported"]
                else ""
            ),
        ]
    for p in report["projects"]:
        if not p["annotators"]:
            continue
        alpha = p["agreement"]["krippendorff_alpha"]
        lines += [
            "",
            f"{p['project']}: Krippendorff's alpha {_cell(alpha['value'])} "
            f"over {alpha['items']} items",
        ]
        for kappa in p["agreement"]["pairwise_kappa"]:
            lines.append(
                f"  Cohen's kappa {kappa['annotator_a']} / {kappa['annotator_b']}: "
                f"{_cell(kappa['value'])} over {kappa['items']} items"
            )
        lines.append("")
        lines += table(
            [
                "annotator",
                "annotations",
                "median s/task",
                "agree w/ majority",
                "control accuracy",
                "competence",
            ],
            [
                [
                    a["annotator"],
                    a["annotations"],
                    a["median_seconds"],
                    f"{_cell(a['agreement_with_majority'])} ({a['agreement_items']})",
                    f"{_cell(a['control_accuracy'])} ({a['control_items']})",
                    a["competence"],
                ]
                for a in p["annotators"]
            ],
        )
        lines += confusion_lines(p["project"], p["annotators"])
        lines.append(f"  labels by: {p['aggregation']}")
        if p["unresolved"]:
            shown = ", ".join(p["unresolved"][:5]) + (" …" if len(p["unresolved"]) > 5 else "")
            lines.append(f"  unresolved: {shown} (send them with `make adjudicate`)")
    if report.get("steps"):
        lines += ["", "last run of each step:"]
        lines += table(
            ["step", "finished (UTC)", "read", "kept", "dropped", "seconds", "outcome"],
            [
                [
                    step["step"],
                    step["finished_at"],
                    step["read"],
                    step["kept"],
                    sum(step["dropped"].values()),
                    step["seconds"],
                    _outcome(step),
                ]
                for step in report["steps"]
            ],
        )
    return "\n".join(lines)


def _outcome(step: dict[str, Any]) -> str:
    if step["unchanged"]:
        return "nothing changed"
    reasons = ", ".join(f"{reason} {n}" for reason, n in step["dropped"].items())
    problems = f"{step['problems']} bad input(s)" if step["problems"] else ""
    return "; ".join(part for part in (reasons, problems) if part) or "done"
