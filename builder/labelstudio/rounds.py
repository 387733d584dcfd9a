"""The labeling rounds on the server: claims and stance tasks synced, adjudications sent."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from builder import __version__
from builder.core.config import Settings
from builder.core.errors import BuilderError
from builder.core.projects import CLAIMS, PROJECTS, STANCE_PROJECT, Project
from builder.core.report import Report
from builder.core.scheme import scheme_hash
from builder.inputs.articles import raw_files
from builder.inputs.controls import load_controls
from builder.inputs.corpus import Corpus, load_corpus
from builder.labels.aggregate import aggregate
from builder.labels.records import annotated_task_ids, project_records, pulled_tasks
from builder.labelstudio.client import LabelStudioClient, ProjectInfo
from builder.labelstudio.sync import (
    Member,
    ProjectSet,
    SyncState,
    inputs_fingerprint,
    nothing_to_do,
    projects_named,
    repair_duplicates,
    sync_tasks,
    tell,
    tell_held,
    tell_links,
    tell_repair,
)
from builder.tasks.adjudicate import adjudications
from builder.tasks.claims import claim_tasks
from builder.tasks.stance import candidate_pairs, load_user_claims, targets_from


def connect(settings: Settings) -> LabelStudioClient:
    client = LabelStudioClient(settings)
    client.check()
    return client


def report_corpus(report: Report, corpus: Corpus) -> Corpus:
    for problem in corpus.problems:
        report.problem(problem)
    return corpus


def state_path(
    settings: Settings, project: Project, member: int, adjudication: bool = False
) -> Path:
    return settings.state_dir / "sync" / project.sync_state_file(adjudication, member)


def members_of(
    settings: Settings, project: Project, infos: list[ProjectInfo], adjudication: bool = False
) -> list[Member]:
    """The projects of a set with the files of their sync states."""
    return [
        (info, state_path(settings, project, member, adjudication))
        for member, info in enumerate(infos, start=1)
    ]


def project_set(
    settings: Settings,
    client: LabelStudioClient,
    project: Project,
    report: Report,
    force_config: bool,
    adjudication: bool = False,
) -> ProjectSet:
    """A kind's project set (or its adjudication's) as the settings declare it."""
    title = project.adjudication_title(settings) if adjudication else project.title(settings)
    # One adjudicator settles an item, so an adjudication task is handed out once.
    overlap = 1 if adjudication else settings.annotations_per_task
    return ProjectSet(
        client, settings.state_dir, project, title, report, force_config, overlap, adjudication
    )


def opener(settings: Settings, projects: ProjectSet) -> Callable[[int], Member]:
    """What sync_tasks calls to open the set's next project: same config, description and
    overlap as the first."""

    def open_next(member: int) -> Member:
        info = projects.ensure(member)
        return info, state_path(settings, projects.project, member, projects.adjudication)

    return open_next


def _no_articles(settings: Settings) -> BuilderError:
    return BuilderError(
        f"no articles to sync in {settings.raw_dir}",
        fix="put .txt or .jsonl articles in raw/ (see README: Inputs)",
    )


def sync_claims(
    settings: Settings,
    report: Report,
    force_config: bool = False,
    progress: bool = True,
    full: bool = False,
    repair: bool = False,
    reimport_deleted: bool = False,
) -> None:
    """New sentences of raw/ into claim tasks; "nothing changed" when raw/ and the project are
    as the last sync left them.

    `full` lists every task even if the project looks unchanged (finds edited data and
    duplicates); `repair` first deletes duplicate tasks that have no annotations;
    `reimport_deleted` imports again the sentences whose annotated task was deleted on the
    server (otherwise held back, with a warning).
    """
    files = raw_files(settings.raw_dir)
    if not files:
        raise _no_articles(settings)
    first_state = state_path(settings, CLAIMS, 1)
    inputs = inputs_fingerprint(files, scheme_hash(), __version__)

    def connect_project() -> tuple[ProjectSet, list[ProjectInfo]]:
        projects = project_set(settings, connect(settings), CLAIMS, report, force_config)
        return projects, projects.ensure_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        # The server's round trips overlap reading raw/: a sync should cost the server's
        # import, not our start-up (measured in `make bench`).
        connecting = pool.submit(connect_project)
        # raw/ as the last clean sync saw it: no need to read it unless the server changed.
        unchanged_inputs = SyncState.load(first_state).inputs == inputs
        corpus = None if unchanged_inputs else report_corpus(report, load_corpus(settings))
        if corpus is not None and not corpus.articles:
            raise _no_articles(settings)
        projects, infos = connecting.result()
    client = projects.client
    ids = [info.id for info in infos]
    repaired = None
    if repair:
        repaired = repair_duplicates(client, infos, CLAIMS.item_key)
        infos = [client.project(info.id) for info in infos]
    members = members_of(settings, CLAIMS, infos)
    if corpus is None:
        fast = not (full or repair or reimport_deleted)
        if fast and nothing_to_do(client, members, inputs):
            report.unchanged = True
            where = projects_named(ids)
            report.say(f"nothing new: raw/ and {where} are as the last sync left them")
            held = {k: v for _, path in members for k, v in SyncState.load(path).held.items()}
            tell_held(report, held, ids)
            tell_links(report, client.url, ids)
            return
        corpus = load_corpus(settings)
    sync = sync_tasks(
        client,
        members,
        claim_tasks(corpus),
        CLAIMS.item_key,
        progress=progress,
        inputs="" if corpus.problems else inputs,
        batch_size=settings.sync_batch_size,
        annotated_tasks=lambda: annotated_task_ids(settings, CLAIMS.name),
        full=full,
        reimport_deleted=reimport_deleted,
        limit=settings.max_tasks_per_project,
        open_next=opener(settings, projects),
    )
    if repaired is not None:
        tell_repair(report, repaired, ids)
    tell(report, sync, client.url, "sentence")


def sync_stance(
    settings: Settings,
    report: Report,
    top_k: int | None = None,
    min_similarity: float | None = None,
    force_config: bool = False,
    progress: bool = True,
    repair: bool = False,
) -> None:
    """Check-worthy claims and the user's claims paired with other outlets' sentences, synced;
    `repair` first deletes duplicate tasks that have no annotations."""
    corpus = report_corpus(report, load_corpus(settings))
    claims = load_user_claims(settings.raw_dir)
    for problem in claims.problems:
        report.problem(problem)
    labels = aggregate(
        project_records(settings, CLAIMS.name), settings.aggregation, settings.min_posterior
    )
    targets = targets_from(corpus, labels, claims.items)
    if not targets:
        raise BuilderError(
            "no stance targets: no sentence is labeled checkworthy yet and raw/claims.jsonl "
            "has no claims",
            fix="label claims, then `make pull`; or add claims to raw/claims.jsonl",
        )
    top_k = top_k or settings.stance_top_k
    min_similarity = settings.stance_min_similarity if min_similarity is None else min_similarity
    pairs = candidate_pairs(corpus, targets, top_k, min_similarity, report)
    report.say(
        f"{len(targets)} target(s), {len(pairs)} candidate pair(s) "
        f"(top {top_k}, similarity ≥ {min_similarity})"
    )
    projects = project_set(settings, connect(settings), STANCE_PROJECT, report, force_config)
    client, infos = projects.client, projects.ensure_all()
    if repair:
        repaired = repair_duplicates(client, infos, STANCE_PROJECT.item_key)
        tell_repair(report, repaired, [info.id for info in infos])
    sync = sync_tasks(
        client,
        members_of(settings, STANCE_PROJECT, infos),
        [pair.task_data() for pair in pairs],
        STANCE_PROJECT.item_key,
        progress=progress,
        batch_size=settings.sync_batch_size,
        annotated_tasks=lambda: annotated_task_ids(settings, STANCE_PROJECT.name),
        full=repair,
        limit=settings.max_tasks_per_project,
        open_next=opener(settings, projects),
    )
    tell(report, sync, client.url, "pair", "stance")


def send_adjudications(
    settings: Settings,
    report: Report,
    min_agreement: float | None = None,
    force_config: bool = False,
) -> None:
    """Ties (and, with `min_agreement`, weak items) of each project into its adjudication."""
    corpus = report_corpus(report, load_corpus(settings))
    # Bad control items are the dataset's and status's to report; here they only drop out.
    controls, _ = load_controls(settings.raw_dir, corpus.labeled_sentence_ids())
    client = connect(settings)
    for project in PROJECTS.values():
        records = project_records(settings, project.name)
        if not records:
            continue
        if project is CLAIMS:
            # Control items have a known answer: nothing there for an adjudicator to settle.
            task_of_item = {
                t[CLAIMS.item_key]: t
                for t in claim_tasks(corpus)
                if t[CLAIMS.item_key] not in controls
            }
        else:
            task_of_item = pulled_tasks(settings, project.name)
        labels = aggregate(records, settings.aggregation, settings.min_posterior)
        report.read += len(labels)
        todo = adjudications(project.name, labels, records, task_of_item, min_agreement, report)
        if not todo:
            report.say(f"{project.name}: nothing to adjudicate")
            continue
        projects = project_set(settings, client, project, report, force_config, adjudication=True)
        infos = projects.ensure_all()
        sync = sync_tasks(
            client,
            members_of(settings, project, infos, adjudication=True),
            [a.task for a in todo],
            project.item_key,
            progress=False,
            predictions={a.item_id: a.predictions for a in todo},
            limit=settings.max_tasks_per_project,
            open_next=opener(settings, projects),
        )
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(Counter(a.reason for a in todo).items()))
        report.kept += sync.imported
        report.drop("already sent", sync.already)
        for project_id, imported in sync.imported_into.items():
            report.wrote.append(f"{imported} task(s) to project {project_id}")
        report.say(
            f"{project.name}: {len(todo)} item(s) to adjudicate ({reasons}); sent {sync.imported} "
            f"new, {sync.already} already there"
        )
        tell_links(report, client.url, sync.project_ids, f"{project.name}: adjudicate")
