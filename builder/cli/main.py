"""The command line: one subcommand per step; errors become one plain message and an exit code."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from builder.core.config import DEFAULT_STANCE_MIN_SIMILARITY, DEFAULT_STANCE_TOP_K, Settings
from builder.core.errors import BuilderError
from builder.core.lock import write_lock
from builder.inputs.articles import Problem, load_article_files

if TYPE_CHECKING:
    from builder.labelstudio.sync import RepairReport, SyncReport


def report_problems(problems: Sequence[Problem]) -> None:
    for problem in problems:
        print(f"bad input: {problem}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) in the input; the rest was processed", file=sys.stderr)


def corpus_with_controls(settings: Settings) -> tuple[Any, dict[str, str], list[Problem]]:
    """The corpus and its control items; bad input of either is reported and returned."""
    from builder.inputs.controls import load_controls
    from builder.inputs.corpus import load_corpus
    from builder.tasks.claims import labeled_sentence_ids

    corpus = load_corpus(settings)
    controls, control_problems = load_controls(settings.raw_dir, labeled_sentence_ids(corpus))
    problems = corpus.problems + control_problems
    report_problems(problems)
    return corpus, controls, problems


def cmd_sentences(settings: Settings, args: argparse.Namespace) -> int:
    from builder.inputs.sentences import split_article

    missing = [p for p in args.files if not Path(p).is_file()]
    if missing:
        raise BuilderError(f"no such file: {', '.join(missing)}")
    loaded = load_article_files([Path(p) for p in args.files])
    out = sys.stdout
    for article in loaded.items:
        for sentence in split_article(article):
            out.write(json.dumps(sentence.to_dict(), ensure_ascii=False) + "\n")
    report_problems(loaded.problems)
    return 1 if loaded.problems else 0


def cmd_stories(settings: Settings, args: argparse.Namespace) -> int:
    """Stories listed, or as JSON lines. FILE...: those files alone, no state read or written (a
    pure contract: the same files give the same lines); none: raw/ with corrections and state."""
    from builder.cli.story_list import render_stories
    from builder.inputs.articles import load_articles
    from builder.inputs.stories import assign, load_stories

    if args.files:
        missing = [p for p in args.files if not Path(p).is_file()]
        if missing:
            raise BuilderError(f"no such file: {', '.join(missing)}")
        loaded = load_article_files([Path(p) for p in args.files])
        result, problems = assign(loaded.items), list(loaded.problems)
    else:
        loaded = load_articles(settings.raw_dir)
        result, problems = load_stories(settings.raw_dir, settings.state_dir, loaded.items)
        problems = loaded.problems + problems
    if args.jsonl:
        for article in loaded.items:
            line = {
                "article_id": article.id,
                "story_id": result.story_of[article.id],
                "split_group": result.split_group_of[article.id],
            }
            sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
    else:
        print(render_stories(loaded.items, result, top=args.top))
    report_problems(problems)
    return 1 if problems else 0


def cmd_schemas(settings: Settings, args: argparse.Namespace) -> int:
    from builder.core.atomic import json_text, write_json
    from builder.core.scheme import schema_files

    stale = []
    for name, schema in schema_files().items():
        path = settings.schemas_dir / name
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current != json_text(schema):
            stale.append(name)
            if not args.check:
                write_json(path, schema)
    if args.check and stale:
        raise BuilderError(
            f"schemas/ is out of date with the label scheme: {', '.join(stale)}",
            fix="run `python -m builder schemas`",
        )
    print("schemas/ " + ("written: " + ", ".join(stale) if stale else "is up to date"))
    return 0


def cmd_labelstudio(settings: Settings, args: argparse.Namespace) -> int:
    from builder.labelstudio import server

    if args.action == "start":
        server.start(settings)
    elif args.action == "stop":
        server.stop(settings)
    else:
        info = server.status(settings)
        print(f"running at {info.url}" if info else "not running")
    return 0


def cmd_sync(settings: Settings, args: argparse.Namespace) -> int:
    from builder import __version__
    from builder.core.scheme import scheme_hash
    from builder.inputs.articles import raw_files
    from builder.inputs.corpus import load_corpus
    from builder.labelstudio.client import LabelStudioClient
    from builder.labelstudio.pull import annotated_task_ids, pull_paths
    from builder.labelstudio.sync import (
        SyncState,
        ensure_project,
        inputs_fingerprint,
        nothing_to_do,
        repair_duplicates,
        sync_tasks,
    )
    from builder.tasks.claims import claim_tasks

    files = raw_files(settings.raw_dir)
    if not files:
        raise BuilderError(
            f"no articles to sync in {settings.raw_dir}",
            fix="put .txt or .jsonl articles in raw/ (see README: Inputs)",
        )
    state_path = settings.state_dir / "sync" / "claims.json"
    inputs = inputs_fingerprint(files, scheme_hash(), __version__)

    def connect() -> tuple[LabelStudioClient, Any]:
        client = LabelStudioClient(settings)
        client.check()
        info = ensure_project(
            client,
            settings.state_dir,
            "claims",
            settings.claims_project_title,
            "Is this sentence a check-worthy claim? Made by the fact-check dataset builder.",
            force_config=args.force_config,
            annotations_per_task=settings.annotations_per_task,
        )
        return client, info

    with ThreadPoolExecutor(max_workers=1) as pool:
        # The server's round trips overlap reading raw/: a sync should cost the server's
        # import, not our start-up (measured in `make bench`).
        connecting = pool.submit(connect)
        # raw/ as the last clean sync saw it: no need to read it unless the server changed.
        unchanged_inputs = SyncState.load(state_path).inputs == inputs
        corpus = None if unchanged_inputs else load_corpus(settings)
        if corpus is not None:
            report_problems(corpus.problems)
            if not corpus.articles:
                raise BuilderError(
                    f"no articles to sync in {settings.raw_dir}",
                    fix="put .txt or .jsonl articles in raw/ (see README: Inputs)",
                )
        client, info = connecting.result()
    repaired = None
    if args.repair:
        repaired = repair_duplicates(client, info, "sentence_id")
        info = client.project(info.id)
    if corpus is None:
        fast = not (args.full or args.repair or args.reimport_deleted)
        if fast and nothing_to_do(client, info, state_path, inputs):
            print(f"nothing new: raw/ and project {info.id} are as the last sync left them")
            print_held(SyncState.load(state_path).held, info.id)
            print(f"label them at {client.url}/projects/{info.id}/data")
            return 0
        corpus = load_corpus(settings)
    tasks = claim_tasks(corpus)
    report = sync_tasks(
        client,
        info,
        tasks,
        "sentence_id",
        state_path,
        progress=not args.no_progress,
        inputs="" if corpus.problems else inputs,
        batch_size=settings.sync_batch_size,
        annotated_tasks=lambda: annotated_task_ids(pull_paths(settings, "claims")),
        full=args.full,
        reimport_deleted=args.reimport_deleted,
    )
    if repaired is not None:
        print_repair(repaired, info.id)
    problems = print_sync_report(report, info.id, client.url, "sentence")
    return 1 if corpus.problems or problems else 0


def print_repair(repaired: RepairReport, project_id: int) -> None:
    print(
        f"repair: deleted {len(repaired.deleted)} duplicate task(s) without annotations from "
        f"project {project_id}" + (f": {listed(repaired.deleted)}" if repaired.deleted else "")
    )


def listed(items: Sequence[Any], limit: int = 5) -> str:
    return ", ".join(str(i) for i in items[:limit]) + (" …" if len(items) > limit else "")


def print_held(held: dict[str, int], project_id: int) -> None:
    """Warn of the items whose annotated task was deleted on the server (held back)."""
    if held:
        items = [f"{item} (task {task})" for item, task in held.items()]
        print(
            f"warning: {len(items)} annotated task(s) were deleted from project {project_id} on "
            f"the server: {listed(items)}. Not imported again (their annotations stay in "
            "exports/pulls/); `sync --reimport-deleted` imports them again",
            file=sys.stderr,
        )


def print_sync_report(
    report: SyncReport, project_id: int, url: str, unit: str, command: str = "sync"
) -> bool:
    """Print what a sync did; True if it found something the user must look at."""
    if report.imported:
        print(
            f"imported {report.imported} new task(s) into project {project_id}; "
            f"{report.already} already there"
        )
    else:
        print(
            f"nothing new: all {report.already} {unit}(s) are already tasks of project {project_id}"
        )
    if report.gone_from_raw:
        print(
            f"{len(report.gone_from_raw)} task(s) of project {project_id} are no longer in raw/ "
            f"(kept, not deleted): {listed(report.gone_from_raw)}"
        )
    if report.deleted_unannotated:
        print(
            f"{len(report.deleted_unannotated)} task(s) without annotations were deleted from "
            f"project {project_id} on the server; imported again: "
            + listed(report.deleted_unannotated)
        )
    print_held(report.deleted_annotated, project_id)
    if report.changed:
        items = [f"{item} ({', '.join(fields)})" for item, fields in report.changed.items()]
        print(
            f"warning: {len(items)} task(s) of project {project_id} hold data that differs from "
            f"raw/ (edited on the server?); left as they are: {listed(items)}",
            file=sys.stderr,
        )
    for item, task_ids in report.annotated_twice.items():
        print(
            f"note: {item} has {len(task_ids)} annotated tasks in project {project_id} "
            f"({listed(task_ids)}): all kept, every annotation counts for it"
        )
    if report.duplicated:
        print(
            f"error: {len(report.duplicated)} {unit}(s) have more than one task in project "
            f"{project_id} (imported twice, e.g. by two machines at once): "
            + listed(report.duplicated)
            + f"\n  fix: `make {command} ARGS=--repair` deletes the extra tasks that have no "
            "annotations (never an annotated one)",
            file=sys.stderr,
        )
    print(f"label them at {url}/projects/{project_id}/data")
    return bool(report.duplicated)


def cmd_pull(settings: Settings, args: argparse.Namespace) -> int:
    from builder.inputs.corpus import load_corpus
    from builder.labelstudio import identity
    from builder.labelstudio.client import LabelStudioClient
    from builder.labelstudio.pull import (
        ADJUDICATED,
        new_pull_name,
        process_pages,
        pull_paths,
        read_summary,
        repair,
        save_snapshot,
        since_last_pull,
    )
    from builder.tasks.adjudicate import ADJUDICATION_SUFFIX
    from builder.tasks.claims import claim_tasks, labeled_sentence_ids

    corpus = load_corpus(settings)
    report_problems(corpus.problems)
    known_sentences = labeled_sentence_ids(corpus)

    def claim_data() -> dict[str, dict[str, Any]]:
        return {task["sentence_id"]: task for task in claim_tasks(corpus)}

    def known_pairs(tasks: list[dict]) -> set[str]:
        data = [t.get("data") or {} for t in tasks]
        return {
            d["pair_id"] for d in data if "pair_id" in d and d.get("sentence_id") in known_sentences
        }

    client = LabelStudioClient(settings)
    client.check()
    projects = [
        ("claims", settings.claims_project_title, lambda tasks: known_sentences),
        ("stance", settings.stance_project_title, known_pairs),
    ]
    for question_project, title, known in projects:
        adjudication_title = title + ADJUDICATION_SUFFIX
        adjudication_name = ADJUDICATED.format(project=question_project)
        for name, project_title in (
            (question_project, title),
            (adjudication_name, adjudication_title),
        ):
            info = identity.resolve(client, settings.state_dir, name, project_title)
            if info is None:
                if name == "claims":
                    raise BuilderError(
                        f"no project {project_title!r} at {client.url}", fix="run `make sync` first"
                    )
                continue
            paths = pull_paths(settings, name)
            for message in repair(paths):
                print(f"{name}: {message}", file=sys.stderr)
            since = since_last_pull(paths, info.id, args.full)
            pull_name = new_pull_name(paths)
            pages, times = [], []
            for number, (data, page_time) in enumerate(
                client.export_pages(info.id, settings.pull_page_size, since), start=1
            ):
                # Each page saved verbatim, under the pull's name, before anything reads it.
                pages.append(save_snapshot(paths, data, pull_name, number))
                times.append(page_time)
            # The first page's time: what changes after it, the next pull looks for.
            server_time = min(times)
            validated = process_pages(
                paths,
                pages,
                known,
                info.id,
                question_project,
                ground_truth=name != question_project,
                merge=since is not None,
                server_time=server_time,
                allow_shrink=args.allow_shrink,
                expected_data=claim_data if question_project == "claims" else None,
            )
            print_counts(name, pages, validated.counts, paths.rejects, since)
            changed = (read_summary(paths.summary) or {}).get("data_changed_on_server") or {}
            if changed:
                items = [f"task {task}: {', '.join(f)}" for task, f in changed.items()]
                print(
                    f"warning: {name}: {len(items)} annotated task(s) hold data that differs from "
                    f"raw/ (edited on the server?); their annotations are kept: {listed(items)}",
                    file=sys.stderr,
                )
    if args.suggest:
        run_suggest(settings, client, corpus)
    return 1 if corpus.problems else 0


def run_suggest(settings: Settings, client: Any, corpus: Any) -> None:
    from builder.labelstudio.suggest import UNCERTAINTY_SAMPLING, suggest_all

    for done in suggest_all(client, settings, corpus):
        name, result = done.project, done.suggestions
        if result is None:
            print(f"{name}: no project {done.title!r} yet: nothing to suggest")
            continue
        counts = ", ".join(f"{label} {n}" for label, n in result.labels_per_class.items())
        if done.note == "too few labels":
            short = ", ".join(f"{label} has {n}" for label, n in result.short.items())
            print(
                f"{name}: too few labels to order by a model ({short}; at least "
                f"{result.minimum} of each needed, SUGGEST_MIN_LABELS): the labeling order of "
                f"project {done.project_id} is left as it is"
            )
            continue
        print(f"{name}: model {result.version} trained on {counts}")
        if done.note == "no unlabeled task":
            print(f"{name}: every task of project {done.project_id} is labeled: nothing to order")
            continue
        report = done.report
        assert report is not None
        if report.unchanged:
            print(f"{name}: project {done.project_id} already ordered by {result.version}")
            continue
        deleted = sum(report.deleted.values())
        print(
            f"{name}: wrote {report.written} prediction(s) on unlabeled tasks"
            + (f"; deleted {deleted} of older model versions" if report.deleted else "")
        )
        shown = (
            "shown to annotators as pre-annotations (SHOW_SUGGESTIONS=1)"
            if settings.show_suggestions
            else "hidden from annotators (SHOW_SUGGESTIONS=1 shows them)"
        )
        print(
            f"{name}: project {done.project_id} serves the least certain task first "
            f"({UNCERTAINTY_SAMPLING!r}, spread over stories); suggestions {shown}"
        )


def cmd_suggest(settings: Settings, args: argparse.Namespace) -> int:
    from builder.inputs.corpus import load_corpus
    from builder.labelstudio.client import LabelStudioClient

    corpus = load_corpus(settings)
    report_problems(corpus.problems)
    client = LabelStudioClient(settings)
    client.check()
    run_suggest(settings, client, corpus)
    return 1 if corpus.problems else 0


def print_counts(
    project: str, pages: list[Path], counts: dict[str, int], rejects: Path, since: str | None
) -> None:
    skipped = ", ".join(
        f"{k.removeprefix('skipped_')} {v}" for k, v in counts.items() if k.startswith("skipped_")
    )
    what = f"the tasks changed since {since}" if since else "every annotated task"
    if len(pages) == 1:
        print(f"{project}: saved the export of {what} as {pages[0]}")
    else:
        print(f"{project}: saved the export of {what} in {len(pages)} pages: {pages[0]} …")
    print(
        f"{project}: pulled {counts['pulled']} = accepted {counts['accepted']} + rejected "
        f"{counts['rejected']} + skipped {counts['skipped']}" + (f" ({skipped})" if skipped else "")
    )
    if counts["rejected"]:
        print(f"{project}: rejects with task, annotator, JSON path and reason: {rejects}")


def cmd_dataset(settings: Settings, args: argparse.Namespace) -> int:
    from builder.dataset.build import build_dataset
    from builder.dataset.stance_rows import stance_parts

    target = settings.dataset_dir  # a bad DATASET_NAME fails here, before any work
    corpus, controls, problems = corpus_with_controls(settings)
    manifest = build_dataset(
        settings, corpus, stance_parts(settings), controls, accept_imbalance=args.accept_imbalance
    )
    counts = manifest["counts"]
    splits = manifest["splits"]
    print(f"wrote {target}")
    for config, c in counts.items():
        print(f"  {config}: train {c['train']}, test {c['test']}")
    print(
        f"  split by {splits['mode']}: test share {splits['test_share']:.1%} of the labeled rows "
        f"(TEST_SIZE {splits['test_size']})"
    )
    if splits["by"] != "split_group":
        print("  note: fewer than two split groups, so the splits are by article (see the card)")
    if splits["imbalance"]:
        print(f"  WARNING, accepted with --accept-imbalance: {splits['imbalance']['reason']}")
    for merged in splits["merged_across_splits"]:
        print(
            f"  note: split group {merged['group']} joins stories that were in train and in test: "
            f"it stays in {merged['kept']}; {merged['rows_moved']} row(s) of "
            f"{', '.join(merged['stories_moved'])} moved from {merged['from']}"
        )
    leakage = manifest["leakage"]
    print(
        f"  leakage audit: {leakage['exact_duplicates']} exact and {leakage['near_duplicates']} "
        f"near-duplicate test sentence(s) of {leakage['test_sentences']} have a match in train; "
        f"{leakage['similar_stories']} test story(ies) of {leakage['test_stories']} are similar to "
        f"a train story (listed in {settings.dataset_dir / leakage['file']})"
    )
    for project, items in manifest["unresolved"].items():
        if items:
            print(
                f"  {project}: {len(items)} unresolved item(s) left out: ties or low "
                "posteriors (see `make status`)"
            )
    for config, result in manifest["baseline"].items():
        if not result["trained"]:
            print(f"  baseline ({config}): not trained: {result['reason']}")
            continue
        positive = (
            f"F1 checkworthy {result['f1_checkworthy']:.3f}, " if "f1_checkworthy" in result else ""
        )
        print(
            f"  baseline ({config}, trained on train): {positive}macro-F1 "
            f"{result['macro_f1']:.3f} on {result['test_rows']} test rows (see the card)"
        )
    print(f'load it with: datasets.load_dataset("{target}")  # claims by default')
    return 1 if problems else 0


def cmd_stance(settings: Settings, args: argparse.Namespace) -> int:
    from builder.inputs.corpus import load_corpus
    from builder.labels.aggregate import aggregate
    from builder.labelstudio.client import LabelStudioClient
    from builder.labelstudio.pull import annotated_task_ids, project_records, pull_paths
    from builder.labelstudio.sync import ensure_project, repair_duplicates, sync_tasks
    from builder.tasks.stance import candidate_pairs, load_user_claims, targets_from

    corpus = load_corpus(settings)
    claims = load_user_claims(settings.raw_dir)
    problems = corpus.problems + claims.problems
    report_problems(problems)
    labels = aggregate(
        project_records(settings, "claims"), settings.aggregation, settings.min_posterior
    )
    targets = targets_from(corpus, labels, claims.items)
    if not targets:
        raise BuilderError(
            "no stance targets: no sentence is labeled checkworthy yet and raw/claims.jsonl "
            "has no claims",
            fix="label claims, then `make pull`; or add claims to raw/claims.jsonl",
        )
    top_k = args.top_k or settings.stance_top_k
    min_similarity = (
        args.min_similarity if args.min_similarity is not None else settings.stance_min_similarity
    )
    pairs = candidate_pairs(corpus, targets, top_k, min_similarity)
    print(
        f"{len(targets)} target(s), {len(pairs)} candidate pair(s) "
        f"(top {top_k}, similarity ≥ {min_similarity})"
    )
    client = LabelStudioClient(settings)
    client.check()
    info = ensure_project(
        client,
        settings.state_dir,
        "stance",
        settings.stance_project_title,
        "Does the sentence support, contradict or discuss the target claim? Made by the "
        "fact-check dataset builder.",
        force_config=args.force_config,
        annotations_per_task=settings.annotations_per_task,
    )
    if args.repair:
        print_repair(repair_duplicates(client, info, "pair_id"), info.id)
    report = sync_tasks(
        client,
        info,
        [pair.task_data() for pair in pairs],
        "pair_id",
        settings.state_dir / "sync" / "stance.json",
        progress=not args.no_progress,
        batch_size=settings.sync_batch_size,
        annotated_tasks=lambda: annotated_task_ids(pull_paths(settings, "stance")),
        full=args.repair,
    )
    duplicated = print_sync_report(report, info.id, client.url, "pair", "stance")
    return 1 if problems or duplicated else 0


def cmd_adjudicate(settings: Settings, args: argparse.Namespace) -> int:
    from builder.dataset.stance_rows import pair_data
    from builder.inputs.controls import load_controls
    from builder.inputs.corpus import load_corpus
    from builder.labels.aggregate import aggregate
    from builder.labelstudio.client import LabelStudioClient
    from builder.labelstudio.pull import project_records
    from builder.labelstudio.sync import ensure_project, sync_tasks
    from builder.tasks.adjudicate import ADJUDICATION_SUFFIX, adjudications
    from builder.tasks.claims import claim_tasks

    corpus = load_corpus(settings)
    report_problems(corpus.problems)
    client = LabelStudioClient(settings)
    client.check()
    sent = 0
    for project, title in (
        ("claims", settings.claims_project_title),
        ("stance", settings.stance_project_title),
    ):
        records = project_records(settings, project)
        if not records:
            continue
        if project == "claims":
            key = "sentence_id"
            task_of_item = {t["sentence_id"]: t for t in claim_tasks(corpus)}
            # Control items have a known answer: nothing there for an adjudicator to settle.
            controls, _ = load_controls(settings.raw_dir, set(task_of_item))
            task_of_item = {i: t for i, t in task_of_item.items() if i not in controls}
        else:
            key = "pair_id"
            task_of_item = pair_data(settings)
        labels = aggregate(records, settings.aggregation, settings.min_posterior)
        todo = adjudications(project, labels, records, task_of_item, args.min_agreement)
        if not todo:
            print(f"{project}: nothing to adjudicate")
            continue
        info = ensure_project(
            client,
            settings.state_dir,
            project,
            title + ADJUDICATION_SUFFIX,
            "Adjudication: each annotator's answer is shown as a prediction; your answer settles "
            "the item (ground truth) at the next pull.",
            force_config=args.force_config,
            adjudication=True,
        )
        report = sync_tasks(
            client,
            info,
            [a.task for a in todo],
            key,
            settings.state_dir / "sync" / f"{project}-adjudication.json",
            progress=False,
            predictions={a.item_id: a.predictions for a in todo},
        )
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(Counter(a.reason for a in todo).items()))
        print(
            f"{project}: {len(todo)} item(s) to adjudicate ({reasons}); sent {report.imported} "
            f"new, {report.already} already there"
        )
        print(f"{project}: adjudicate at {client.url}/projects/{info.id}/data")
        sent += report.imported
    return 1 if corpus.problems else 0


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    from builder.cli.status import corpus_counts, render, status_report

    corpus, controls, problems = corpus_with_controls(settings)
    report = status_report(settings, controls)
    report["corpus"] = corpus_counts(corpus)
    print(json.dumps(report, indent=2) if args.json else render(report))
    # Bad input was printed above the report: a script must see it too.
    return 1 if problems else 0


def cmd_demo_annotations(settings: Settings, args: argparse.Namespace) -> int:
    from builder.labelstudio import identity
    from builder.labelstudio.client import LabelStudioClient
    from builder.labelstudio.demo import add_example_annotations, load_examples
    from builder.tasks.adjudicate import ADJUDICATION_SUFFIX

    examples = load_examples()
    client = LabelStudioClient(settings)
    client.check()
    projects = [
        ("claims", "claims", settings.claims_project_title, "sentence_id"),
        ("stance", "stance", settings.stance_project_title, "pair_id"),
        (
            "claims-adjudication",
            "claims",
            settings.claims_project_title + ADJUDICATION_SUFFIX,
            "sentence_id",
        ),
    ]
    for name, project, title, key in projects:
        info = identity.resolve(client, settings.state_dir, name, title)
        if info is None:
            if project == "claims" and name == project:
                raise BuilderError(f"no project {title!r}", fix="run `make sync` first")
            continue
        task_of_item = {item: task for task, item in client.task_keys(info.id, key).items() if item}
        wanted = [
            e for e in examples.get(name, []) if name == project or e["item_id"] in task_of_item
        ]
        added, already = add_example_annotations(client, project, info.id, task_of_item, wanted)
        print(f"{name}: example annotations (example data): added {added}, {already} already there")
    return 0


def cmd_demo_summary(settings: Settings, args: argparse.Namespace) -> int:
    login = settings.get("LOCAL_LABEL_STUDIO_EMAIL")
    password = settings.get("LOCAL_LABEL_STUDIO_PASSWORD")
    print()
    print("demo done:")
    print(f"  dataset        {settings.dataset_dir} (card: README.md, manifest.json)")
    print(f"  pulls          {settings.exports_dir / 'pulls'} (each export kept verbatim)")
    print(f'  load it        datasets.load_dataset("{settings.dataset_dir}", "claims")')
    print(
        f"  Label Studio   {settings.server_url_shown}"
        + (f" (login {login} / {password})" if login and settings.uses_local_server else "")
    )
    print("  progress       make status")
    print("  stop server    make labelstudio-stop")
    return 0


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "sentences": cmd_sentences,
    "stories": cmd_stories,
    "schemas": cmd_schemas,
    "labelstudio": cmd_labelstudio,
    "sync": cmd_sync,
    "pull": cmd_pull,
    "dataset": cmd_dataset,
    "suggest": cmd_suggest,
    "status": cmd_status,
    "stance": cmd_stance,
    "adjudicate": cmd_adjudicate,
    "demo-annotations": cmd_demo_annotations,
    "demo-summary": cmd_demo_summary,
}

# Commands that write to the server, .builder/ or exports/: one at a time per project root.
WRITERS = {"sync", "pull", "suggest", "dataset", "stance", "adjudicate", "demo-annotations"}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m builder", description=__doc__)
    top.add_argument("--debug", action="store_true", help="show the traceback on errors")
    sub = top.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sentences", help="print the sentences of raw files as JSON lines")
    p.add_argument("files", nargs="+")
    p = sub.add_parser(
        "stories", help="list raw/'s stories; with FILE...: their stories as JSON lines"
    )
    p.add_argument("files", nargs="*", help="article files (raw/ formats); none: raw/ itself")
    p.add_argument(
        "--jsonl",
        action="store_true",
        help='one {"article_id", "story_id", "split_group"} line per article, nothing else',
    )
    p.add_argument("--top", type=int, default=0, help="list only the N largest stories")
    p = sub.add_parser("schemas", help="write schemas/ from the label scheme")
    p.add_argument("--check", action="store_true", help="fail if schemas/ is out of date")
    p = sub.add_parser("labelstudio", help="start, stop or check the local Label Studio")
    p.add_argument("action", choices=["start", "stop", "status"])
    p = sub.add_parser("sync", help="push new sentences to the claims project")
    p.add_argument("--force-config", action="store_true", help="update a project with annotations")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--full",
        action="store_true",
        help="list every task even if the project looks unchanged (finds edited data, duplicates)",
    )
    p.add_argument(
        "--repair",
        action="store_true",
        help="delete duplicate tasks that have no annotations (never an annotated one)",
    )
    p.add_argument(
        "--reimport-deleted",
        action="store_true",
        help="import again the sentences whose annotated task was deleted on the server",
    )
    p = sub.add_parser("pull", help="export, save and validate the annotations")
    p.add_argument(
        "--full", action="store_true", help="export every annotated task, not only the changed ones"
    )
    p.add_argument(
        "--suggest", action="store_true", help="then order the labeling by a model (`suggest`)"
    )
    p.add_argument(
        "--allow-shrink",
        action="store_true",
        help="accept a pull that has fewer records than the last one (deleted on the server)",
    )
    sub.add_parser(
        "suggest",
        help="train on the labels; predict the unlabeled tasks; serve the least certain first",
    )
    p = sub.add_parser("dataset", help="build the Hugging Face dataset in exports/")
    p.add_argument(
        "--accept-imbalance",
        action="store_true",
        help="build even when the test share cannot come near TEST_SIZE (the card says why)",
    )
    p = sub.add_parser("stance", help="pair targets with other outlets' sentences; sync the pairs")
    p.add_argument(
        "--top-k",
        type=int,
        help=f"candidates per target (default STANCE_TOP_K or {DEFAULT_STANCE_TOP_K})",
    )
    p.add_argument(
        "--min-similarity",
        type=float,
        help="lowest TF-IDF cosine of a candidate "
        f"(default STANCE_MIN_SIMILARITY or {DEFAULT_STANCE_MIN_SIMILARITY})",
    )
    p.add_argument("--force-config", action="store_true", help="update a project with annotations")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--repair",
        action="store_true",
        help="delete duplicate tasks that have no annotations (never an annotated one)",
    )
    p = sub.add_parser(
        "adjudicate", help="send ties and low posteriors (and low agreement) to adjudication"
    )
    p.add_argument(
        "--min-agreement",
        type=float,
        default=None,
        help="also send items whose agreement is below this share (e.g. 0.75)",
    )
    p.add_argument("--force-config", action="store_true", help="update a project with annotations")
    p = sub.add_parser("status", help="tasks, annotators, rejects and ties")
    p.add_argument("--json", action="store_true", help="the same report as JSON")
    sub.add_parser("demo-annotations", help="add the repository's example annotations")
    sub.add_parser("demo-summary", help="say what the demo made and where")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    debug = args.debug or os.environ.get("BUILDER_DEBUG") == "1"
    try:
        settings = Settings.load()
        if args.command not in WRITERS:
            return COMMANDS[args.command](settings, args)
        with write_lock(settings.state_dir, args.command, settings.lock_wait):
            return COMMANDS[args.command](settings, args)
    except BuilderError as exc:
        if debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # The reader (e.g. `| head`) stopped early: not an error of ours, and nothing to say.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted: rerun the command, it picks up where it stopped", file=sys.stderr)
        return 130
