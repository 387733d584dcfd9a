"""The step report: one shape for every step, printed by the CLI and kept for `make status`."""

from __future__ import annotations

from pathlib import Path

from builder.core.report import Report, last_reports


def test_a_report_counts_and_says_what_it_did() -> None:
    said: list[tuple[str, bool]] = []
    report = Report("sync", emit=lambda line, warning: said.append((line, warning)))
    report.read, report.kept = 10, 7
    report.drop("already a task", 2)
    report.drop("already a task")
    report.drop("never counted", 0)
    report.wrote.append("7 task(s) to project 3")
    report.say("imported 7")
    report.warn("warning: duplicated")
    report.problem("raw/a.jsonl:2: broken JSON")
    assert said == [
        ("imported 7", False),
        ("warning: duplicated", True),
        ("bad input: raw/a.jsonl:2: broken JSON", True),
    ]
    assert report.dropped == {"already a task": 3}
    assert report.exit_code == 1
    report.seconds = 1.25
    assert report.summary() == (
        "sync: read 10, kept 7, dropped 3 (already a task 3); wrote 7 task(s) to project 3 (1.2 s)"
    )


def test_nothing_changed_is_said_so() -> None:
    report = Report("dataset")
    report.unchanged = True
    assert report.done().summary().startswith("dataset: nothing changed since the last run")
    assert report.exit_code == 0


def test_the_last_report_of_each_step_is_kept(tmp_path: Path) -> None:
    first = Report("pull", read=3, kept=2, dropped={"claims rejected": 1})
    first.save(tmp_path)
    Report("sync", read=1, kept=1).save(tmp_path)
    Report("pull", read=5, kept=5).save(tmp_path)
    (tmp_path / "reports" / "broken.json").write_text("{", encoding="utf-8")
    reports = {r["step"]: r for r in last_reports(tmp_path)}
    assert set(reports) == {"pull", "sync"}
    assert (reports["pull"]["read"], reports["pull"]["kept"], reports["pull"]["dropped"]) == (
        5,
        5,
        {},
    )
    assert set(reports["sync"]) == {
        "step",
        "finished_at",
        "read",
        "kept",
        "dropped",
        "wrote",
        "seconds",
        "unchanged",
        "problems",
        "failures",
    }
    assert last_reports(tmp_path / "nowhere") == []


def test_a_failure_is_said_and_makes_the_exit_code_non_zero() -> None:
    said: list[tuple[str, bool]] = []
    report = Report("sync", emit=lambda line, warning: said.append((line, warning)))
    assert report.exit_code == 0
    report.fail("error: 2 sentence(s) have more than one task")
    assert report.exit_code == 1 and report.problems == []
    assert said == [("error: 2 sentence(s) have more than one task", True)]
    assert report.to_dict()["failures"] == 1
