"""The status report from pulled records on disk (no server), and its rendering as tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support import record

from builder.cli.status import project_status, render, status_report, table
from builder.core.atomic import write_json, write_jsonl
from builder.core.config import Settings
from builder.core.report import Report
from builder.labels.records import pull_paths


def rec(item: str, who: str, label: str, lead_time: float, gt: bool = False) -> dict[str, Any]:
    return record(item, who, label, lead_time=lead_time, ground_truth=gt)


CW, NC = "checkworthy", "no_claim"


def pulled_root(tmp_path: Path) -> Settings:
    """A root with a claims pull and an adjudication pull, as `make pull` leaves them."""
    settings = Settings(root=tmp_path)
    claims = pull_paths(settings, "claims")
    write_jsonl(
        claims.accepted,
        [
            rec("s1", "amy@x.org", CW, 4.0),  # s1: both agree
            rec("s1", "bob@x.org", CW, 3.0),
            rec("s2", "amy@x.org", CW, 6.0),  # s2: a tie
            rec("s2", "bob@x.org", NC, 5.0),
            rec("s3", "amy@x.org", NC, 8.0),  # s3: a tie, adjudicated
            rec("s3", "bob@x.org", CW, 10.0),
        ],
    )
    counts = {"pulled": 8, "accepted": 6, "rejected": 1, "skipped": 1, "skipped_cancelled": 1}
    write_json(claims.summary, {"snapshot": "claims-1.json", "project_id": 1, "counts": counts})
    adjudication = pull_paths(settings, "claims-adjudication")
    write_jsonl(adjudication.accepted, [rec("s3", "lead@x.org", NC, 20.0, gt=True)])
    counts = {"pulled": 3, "accepted": 1, "rejected": 1, "skipped": 1, "skipped_draft": 1}
    write_json(adjudication.summary, {"snapshot": "adj-1.json", "project_id": 2, "counts": counts})
    return settings


def report_of(settings: Settings, server_error: str | None = None) -> dict[str, Any]:
    controls = {"s3": NC}
    return {
        "server_error": server_error,
        "projects": [
            project_status(settings, "claims", "Fact-check claims", None, controls),
            project_status(settings, "stance", "Fact-check stance", None, controls),
        ],
    }


def test_project_status_from_the_pulls(tmp_path: Path) -> None:
    claims = report_of(pulled_root(tmp_path))["projects"][0]
    assert claims["tasks"] is None and claims["unlabeled"] is None and claims["server"] is None
    assert claims["labeled"] == 2  # s1 by majority, s3 by the adjudicator
    assert claims["unresolved"] == ["s2"]
    assert claims["adjudicated"] == 1
    assert claims["skipped"] == 2
    assert claims["rejected"] == 2
    assert claims["last_pull"] == "claims-1.json"
    json.dumps(claims)  # `make status --json` prints it as it is


class FakeClient:
    url = "http://ls.example"

    class Info:
        id = 3
        task_count = 10

    def find_projects(self, title: str) -> list[int]:
        return [3] if title == "Fact-check claims" else []

    def project(self, project_id: int) -> Any:
        return self.Info()


def test_project_status_counts_unlabeled_from_the_server(tmp_path: Path) -> None:
    status = project_status(pulled_root(tmp_path), "claims", "Fact-check claims", FakeClient())
    assert status["server"] == {"url": "http://ls.example", "project_id": 3}
    assert status["tasks"] == 10
    assert status["unlabeled"] == 7  # 10 tasks, 3 with annotations


def rows_of(text: str, header: str) -> dict[str, list[str]]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    assert set(lines[start + 1]) <= {"-", " "}
    rows = {}
    for line in lines[start + 2 :]:
        if not line.strip() or line.startswith(" "):
            break
        cells = line.split()
        rows[cells[0]] = cells[1:]
    return rows


def test_render_tables(tmp_path: Path) -> None:
    text = render(report_of(pulled_root(tmp_path)))
    assert not text.startswith("server:")
    header = "project  tasks  labeled  unlabeled  skipped  rejected  unresolved  adjudicated"
    assert text.splitlines()[0].split() == header.split()
    projects = rows_of(text, "project")
    #                      tasks labeled unlabeled skipped rejected unresolved adjudicated
    assert projects["claims"] == ["-", "2", "-", "2", "2", "1", "1"]
    assert projects["stance"] == ["-", "0", "-", "0", "0", "0", "0"]

    # alpha: ratings s1 (cw cw), s2 (cw nc), s3 (nc cw): n = 6, cw 4, nc 2; disagreeing pairs 4;
    # expected 36 - 20 = 16; alpha = 1 - 5 * 4 / 16 = -0.25.
    assert "claims: Krippendorff's alpha -0.250 over 3 items" in text
    # kappa: (cw,cw) (cw,nc) (nc,cw): agreed 1 of 3, chance*9 = 5: (3 - 5) / (9 - 5) = -0.5.
    assert "  Cohen's kappa amy@x.org / bob@x.org: -0.500 over 3 items" in text
    assert "stance: Krippendorff" not in text  # no annotators, no agreement lines

    annotators = rows_of(text, "annotator")
    # annotations, median s/task, agreement (items), control accuracy (items), competence
    # (none: too few shared items for Dawid-Skene)
    assert annotators["amy@x.org"] == ["3", "6.000", "1.000", "(1)", "1.000", "(1)", "-"]
    assert annotators["bob@x.org"] == ["3", "5.000", "1.000", "(1)", "0.000", "(1)", "-"]
    assert annotators["lead@x.org"] == ["1", "20.000", "-", "(0)", "-", "(0)", "-"]
    assert "competence: not estimated (fewer than 100 items labeled by two or more" in text
    assert "  labels by: majority" in text
    assert "  unresolved: s2 (send them with `make adjudicate`)" in text


def test_render_names_a_server_error(tmp_path: Path) -> None:
    text = render(report_of(pulled_root(tmp_path), "cannot reach http://127.0.0.1:8080"))
    first = text.splitlines()[0]
    assert first == "server: cannot reach http://127.0.0.1:8080 (task counts unknown)"
    assert rows_of(text, "project")["claims"][0] == "-"


def test_render_with_server_counts_and_many_ties() -> None:
    agreement = {
        "krippendorff_alpha": {"value": None, "items": 0, "ratings": 0},
        "pairwise_kappa": [],
        "agreement_with_majority": [],
    }
    annotator = {
        "annotator": "amy",
        "annotations": 7,
        "ground_truth": 0,
        "median_seconds": 2.5,
        "agreement_with_majority": None,
        "agreement_items": 0,
        "control_accuracy": 0.75,
        "control_items": 4,
        "competence": 0.8125,
        "confusion": [[0.9, 0.1, 0.0], [0.25, 0.75, 0.0], [0.0, 0.2, 0.8]],
    }
    project = {
        "project": "claims",
        "aggregation": "dawid-skene",
        "tasks": 120,
        "labeled": 90,
        "unlabeled": 23,
        "skipped": 4,
        "rejected": 3,
        "unresolved": [f"s{i}" for i in range(7)],
        "adjudicated": 5,
        "agreement": agreement,
        "annotators": [annotator],
    }
    text = render({"server_error": None, "projects": [project]})
    assert rows_of(text, "project")["claims"] == ["120", "90", "23", "4", "3", "7", "5"]
    assert "claims: Krippendorff's alpha - over 0 items" in text
    assert rows_of(text, "annotator")["amy"] == ["7", "2.500", "-", "(0)", "0.750", "(4)", "0.812"]
    # The competence's confusion matrix: rows the true label, columns the answer.
    unindented = "\n".join(line.removeprefix("    ") for line in text.splitlines())
    matrix = rows_of(unindented, "true \\ answer")
    assert matrix["no_claim"] == ["0.900", "0.100", "0.000"]
    assert matrix["not_checkworthy"] == ["0.250", "0.750", "0.000"]
    assert matrix["checkworthy"] == ["0.000", "0.200", "0.800"]
    assert "  labels by: dawid-skene" in text
    assert "  unresolved: s0, s1, s2, s3, s4 … (send them with `make adjudicate`)" in text


@pytest.mark.parametrize("rows", [[], [["a", 1.5, None]]])
def test_table_columns_line_up(rows: list[list[Any]]) -> None:
    lines = table(["name", "value", "other"], rows)
    assert lines[0] == "name  value  other"
    assert lines[1] == "----  -----  -----"
    assert lines[2:] == ([] if not rows else ["a     1.500  -    "])


def test_status_shows_the_last_report_of_each_step(tmp_path: Path) -> None:
    settings = pulled_root(tmp_path)
    Report("pull", read=4, kept=3, dropped={"claims rejected": 1}, seconds=0.5).save(
        settings.state_dir
    )
    Report("dataset", unchanged=True, seconds=0.1).save(settings.state_dir)
    report = status_report(settings)
    assert [s["step"] for s in report["steps"]] == ["dataset", "pull"]
    steps = rows_of(render(report), "step")
    # finished (UTC), read, kept, dropped, seconds, outcome
    assert steps["pull"][1:] == ["4", "3", "1", "0.500", "claims", "rejected", "1"]
    assert steps["dataset"][1:] == ["0", "0", "0", "0.100", "nothing", "changed"]


def test_status_counts_undated_articles_stories_and_split_groups(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "news.jsonl").write_text(
        json.dumps({"id": "a1", "text": "Floods hit the river town.", "date": "2024-05-01"})
        + "\n"
        + json.dumps({"id": "a2", "text": "The central bank raised its rate again."})
        + "\n",
        encoding="utf-8",
    )
    from builder.cli.status import corpus_counts
    from builder.inputs.corpus import load_corpus

    counts = corpus_counts(load_corpus(Settings(root=tmp_path)))
    assert counts["articles"] == 2 and counts["undated"] == 1
    assert counts["stories"] == 2 and counts["split_groups"] == 2
    report = {**report_of(pulled_root(tmp_path)), "corpus": counts}
    assert "2 articles (1 undated: grouped by text alone), 2 stories, 2 split groups" in render(
        report
    )


def test_status_json_has_each_annotators_competence_and_low_posteriors_unresolved(
    tmp_path: Path,
) -> None:
    # 120 items: good1 and good2 always give the label, coin a coin toss; then coin alone on
    # "lone": Dawid-Skene (the default) learns who is reliable and leaves "lone" unresolved.
    settings = Settings(root=tmp_path)
    records = []
    for i in range(120):
        truth, other = (CW, NC) if i % 2 else (NC, CW)
        records += [rec(f"s{i:03}", "good1", truth, 1.0), rec(f"s{i:03}", "good2", truth, 1.0)]
        records.append(rec(f"s{i:03}", "coin", truth if i % 4 < 2 else other, 1.0))
    records.append(rec("lone", "coin", CW, 1.0))
    write_jsonl(pull_paths(settings, "claims").accepted, records)
    status = project_status(settings, "claims", "Fact-check claims", None)
    assert status["aggregation"] == "dawid-skene"
    assert status["unresolved"] == ["lone"]
    rows = {row["annotator"]: row for row in json.loads(json.dumps(status["annotators"]))}
    assert rows["good1"]["competence"] == pytest.approx(1.0, abs=1e-3)
    assert rows["coin"]["competence"] == pytest.approx(0.5, abs=0.02)
    assert len(rows["coin"]["confusion"]) == 3 and len(rows["coin"]["confusion"][0]) == 3
    text = render({"server_error": None, "projects": [status]})
    assert "competence: Dawid-Skene's estimate" in text
    assert "  labels by: dawid-skene" in text
    # The majority is one setting away, and then every 2-1 item is a plain majority label.
    majority = Settings(root=tmp_path, aggregation="majority")
    status = project_status(majority, "claims", "Fact-check claims", None)
    assert status["aggregation"] == "majority"
    assert status["unresolved"] == []
