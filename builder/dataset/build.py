"""Corpus, pulled records and labels into exports/<name>/: parquet files, card, manifest."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import sys
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from builder import __version__
from builder.core.atomic import (
    recover_dir,
    replace_dir,
    sha256_file,
    write_json,
    write_jsonl,
    write_new,
    write_text,
)
from builder.core.config import PULLS_DIR, Settings
from builder.core.errors import BuilderError
from builder.core.projects import CLAIMS, PROJECTS
from builder.core.report import Report
from builder.core.scheme import SCHEME_VERSION, question_for, scheme_hash
from builder.dataset.analysis import BASELINE_CONFIGS, Analyst
from builder.dataset.card import render_card
from builder.dataset.splits import (
    SHARE_TOLERANCE,
    Carried,
    assign_by_time,
    assign_splits,
    carry_over,
    groups_of_stories,
    share_problem,
    test_share,
)
from builder.labels.records import project_records, pull_paths, pull_summary, set_names

# Imported where used: a build with nothing changed returns before any of them is needed, and
# they cost seconds to import (datasets, pyarrow, pandas, matplotlib; sklearn is analysis.py's).
if TYPE_CHECKING:
    from builder.inputs.corpus import Corpus
    from builder.labels.aggregate import Answers, ItemLabel

SPLITS = ("train", "test")
# Written into every dataset folder the builder makes: only a folder with it is ever replaced.
MARKER = ".made-by-factcheck-builder"
# From this many accepted records on, the baselines and leakage audit run in a worker process:
# its imports (sklearn, scipy: ~2 s) then overlap the build's own work; on fewer, they would
# cost more than the work they let overlap.
WORKER_MIN_RECORDS = 3000
_STAGING = re.compile(r"\.(?P<name>.+)\.staging-(?P<pid>\d+)-[0-9a-f]+")


@dataclass
class DatasetParts:
    """Everything the dataset is made of, before it is written."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # config -> rows
    group_of_row: dict[str, list[str]] = field(default_factory=dict)  # config -> group per row
    unresolved: dict[str, list[str]] = field(default_factory=dict)  # project -> item ids
    label_counts: dict[str, Counter[str]] = field(default_factory=dict)  # group -> labels


def pseudonym_key(settings: Settings) -> bytes:
    """The project's secret for annotator pseudonyms: made once, kept beside the project
    (git-ignored, readable by its owner only), never exported."""
    path = settings.pseudonym_key_path
    if not path.is_file():
        # Another run may make it first: then that one is used.
        with contextlib.suppress(FileExistsError):
            write_new(path, (secrets.token_hex(32) + "\n").encode("ascii"))
    key = path.read_bytes().strip()
    if len(key) < 32:
        raise BuilderError(
            f"{path} holds no usable secret ({len(key)} bytes)",
            fix="restore it from a backup (a new secret gives every annotator a new "
            "pseudonym), or delete it to make a new one",
        )
    return key


class Pseudonyms:
    """Stable stand-ins for annotators' e-mails, so a published dataset carries no address.

    A keyed hash (HMAC-SHA256): without the project's secret, knowing the team's addresses
    does not tell which pseudonym is whose, as a plain hash of the address would.
    """

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._known: dict[str, str] = {}

    def __call__(self, annotator: str) -> str:
        if annotator not in self._known:
            digest = hmac.new(self._key, annotator.encode("utf-8"), hashlib.sha256).hexdigest()
            self._known[annotator] = "annotator-" + digest[:12]
        return self._known[annotator]


def claims_rows(
    corpus: Corpus,
    labels: dict[str, ItemLabel],
    controls: dict[str, str] | None = None,
    tasks: list[dict[str, Any]] | None = None,
    report: Report | None = None,
) -> list[dict[str, Any]]:
    """One row per sentence with a label: aggregated, or known (a control item's answer).

    The rest is counted in `report` by reason: not labeled yet, or unresolved (a tie or a low
    posterior)."""
    from builder.tasks.claims import claim_tasks

    controls = controls or {}
    names = CLAIMS.question.names
    positions = {s.sentence_id: s for s in corpus.all_sentences()}
    rows = []
    for task in tasks if tasks is not None else claim_tasks(corpus):
        item = labels.get(task["sentence_id"])
        known = controls.get(task["sentence_id"])
        if known is not None:
            votes = item.votes if item else {}
            given = sum(votes.values())
            label, resolved_by = known, "control"
            annotations = item.annotations if item else 0
            agreement = round(votes.get(known, 0) / given, 4) if given else 0.0
            posterior = 1.0
        elif item is not None and item.label is not None:
            label, resolved_by = item.label, item.resolved_by
            annotations, agreement, posterior = item.annotations, item.agreement, item.posterior
        else:
            if report is not None:
                report.drop("claims: not labeled yet" if item is None else "claims: unresolved")
            continue
        sentence = positions[task["sentence_id"]]
        rows.append(
            CLAIMS.row(
                task,
                names.index(label),
                index=sentence.index,
                start=sentence.start,
                end=sentence.end,
                num_annotations=annotations,
                agreement=agreement,
                posterior=posterior,
                resolved_by=resolved_by,
                control=known is not None,
            )
        )
    return rows


def annotation_rows(
    records: list[dict[str, Any]],
    story_of_item: dict[str, str],
    pseudonym: Pseudonyms,
    report: Report | None = None,
) -> list[dict[str, Any]]:
    """One row per accepted annotation of an item of the dataset's corpus (counted otherwise)."""
    from builder.labels.aggregate import answer

    rows = []
    for record in sorted(records, key=lambda r: (r["project"], r["annotation_id"])):
        if record["item_id"] not in story_of_item:
            if report is not None:
                report.drop("annotations: item no longer in raw/")
            continue
        rows.append(
            {
                "annotation_id": record["annotation_id"],
                "task_id": record["task_id"],
                "project": record["project"],
                "item_id": record["item_id"],
                "story_id": story_of_item[record["item_id"]],
                "annotator": pseudonym(record["annotator"]),
                "question": question_for(record["project"]).name,
                "label": answer(record),
                "lead_time": record["lead_time"],
                "created_at": record["created_at"],
                "updated_at": record["updated_at"],
                "ground_truth": record["ground_truth"],
            }
        )
    return rows


# Rows per parquet row group: the arrow copy of a split is made and written this many at a time.
PARQUET_ROW_GROUP = 20_000


def write_split_files(
    staging: Path, config: str, rows_by_split: dict[str, list[dict[str, Any]]]
) -> dict[str, int]:
    """Each split's parquet file; returns each split's size in arrow (the card's num_bytes)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from builder.core.features import features_for

    features = features_for(config)
    # The arrow schema carries the features (ClassLabel names included) in its "huggingface"
    # metadata, so load_dataset reads them back; building the table in arrow directly skips
    # the per-value encoding of Dataset.from_dict, which dominated large builds.
    schema = features.arrow_schema
    sizes: dict[str, int] = {}
    for split in SPLITS:
        path = staging / "data" / config / f"{split}-00000-of-00001.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = rows_by_split[split]
        sizes[split] = 0
        with pq.ParquetWriter(path, schema) as writer:
            # A row group at a time: arrow holds one chunk's copy of the rows, not the split's.
            for start in range(0, max(len(rows), 1), PARQUET_ROW_GROUP):
                chunk = rows[start : start + PARQUET_ROW_GROUP]
                columns = {name: [row[name] for row in chunk] for name in features}
                table = pa.Table.from_pydict(columns, schema=schema)
                sizes[split] += table.nbytes
                writer.write_table(table)
    return sizes


def raw_inputs(settings: Settings) -> dict[str, str]:
    """Every file of raw/ (articles, user claims, control items) by name, with its sha256."""
    from builder.inputs.articles import raw_files

    paths = raw_files(settings.raw_dir, reserved=frozenset())
    return {path.name: sha256_file(path) for path in paths}


def provenance(settings: Settings) -> dict[str, Any]:
    """What a build is made of: every raw/ file and every pull used, by hash."""
    exports_used = {}
    for project in PROJECTS.values():
        # Each project of a set past MAX_TASKS_PER_PROJECT under its own name (claims-2, …).
        for name in (n for base in project.names() for n in set_names(settings, base)):
            summary = pull_summary(settings, name)
            if summary is None:
                continue
            exports_used[name] = {
                "file": summary["snapshot"],
                "files": {
                    snapshot: sha256_file(settings.exports_dir / PULLS_DIR / snapshot)
                    for snapshot in summary.get("snapshots", [summary["snapshot"]])
                },
                "project_id": summary["project_id"],
                "counts": summary["counts"],
            }
    return {"raw_inputs": raw_inputs(settings), "exports_used": exports_used}


def inputs_key(settings: Settings, sources: dict[str, Any], accept_imbalance: bool) -> str:
    """Changes when anything the dataset is made of changes: inputs, pulls, settings, code."""
    accepted = [
        pull_paths(settings, member).accepted
        for p in PROJECTS.values()
        for name in p.names()
        for member in set_names(settings, name)
    ]
    payload = {
        **sources,
        # The records themselves too: a pull's summary could be older than its records.
        "records": {path.name: sha256_file(path) for path in accepted if path.is_file()},
        "test_size": settings.test_size,
        "split_seed": settings.split_seed,
        "split_by": settings.split_by,
        "aggregation": settings.aggregation,
        "min_posterior": settings.min_posterior,
        "license": settings.dataset_license,
        "accept_imbalance": accept_imbalance,
        "scheme": scheme_hash(),
        "builder": __version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def read_manifest(dataset_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((dataset_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _is_ours(folder: Path) -> bool:
    if (folder / MARKER).is_file():
        return True
    # Builds made before the marker existed: a manifest with the builder's own keys.
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and {"builder_version", "scheme", "splits"} <= set(manifest)


def tidy_exports(settings: Settings) -> list[str]:
    """Clear what a killed build left under exports/; say what was done.

    A build killed between its two renames left the previous dataset aside: it is put back.
    Staging folders of builds whose process is gone are removed.
    """
    done = []
    target = settings.dataset_dir
    old = target.with_name(f".{target.name}.old")
    if old.exists() and _is_ours(old):
        message = recover_dir(target)
        if message:
            done.append(message)
    if settings.exports_dir.is_dir():
        for folder in sorted(settings.exports_dir.glob(f".{settings.dataset_name}.staging-*")):
            found = _STAGING.fullmatch(folder.name)
            same_name = found is not None and found["name"] == settings.dataset_name
            if same_name and not psutil.pid_exists(int(found["pid"])):
                shutil.rmtree(folder, ignore_errors=True)
                done.append(f"removed {folder}, left by a build that was stopped")
    return done


def check_owned(target: Path) -> None:
    """Refuse to replace a folder the builder did not make."""
    if target.exists() and not _is_ours(target):
        raise BuilderError(
            f"{target} exists and was not made by the dataset builder (no {MARKER} in it); "
            "building would replace it",
            fix="move that folder away, or set DATASET_NAME to another name",
        )


def file_digest(path: Path) -> dict[str, Any]:
    return {"sha256": sha256_file(path), "bytes": path.stat().st_size}


def previous_splits(dataset_dir: Path) -> dict[str, Any]:
    """The "splits" part of the dataset's last manifest ({} when there is none)."""
    manifest = dataset_dir / "manifest.json"
    if not manifest.is_file():
        return {}
    try:
        splits = json.loads(manifest.read_text(encoding="utf-8"))["splits"]
        if isinstance(splits, dict):
            return splits
    except (ValueError, KeyError, TypeError):
        pass
    # A damaged manifest: the last build's data files say where each story went.
    import pyarrow as pa
    import pyarrow.parquet as pq

    stories: dict[str, str] = {}
    for path in sorted(dataset_dir.glob("data/*/*.parquet")):
        split = path.name.split("-")[0]
        try:
            column = pq.read_table(path, columns=["story_id"]).column("story_id").to_pylist()
        except (OSError, KeyError, ValueError, pa.ArrowException):
            continue
        stories.update(dict.fromkeys(column, split))
    print(
        f"warning: {manifest} is damaged; the last build's splits were read from its data "
        f"files ({len(stories)} stories)",
        file=sys.stderr,
    )
    return {"by": "split_group", "stories": stories} if stories else {}


@dataclass
class SplitPlan:
    group_of: Callable[[str, dict[str, Any]], str]  # (config, row) -> its group
    assignment: dict[str, str]  # group -> split
    manifest: dict[str, Any]  # the manifest's "splits"


def plan_splits(
    settings: Settings,
    corpus: Corpus,
    rows: dict[str, list[dict[str, Any]]],
    article_of_item: dict[str, str],
    controls: dict[str, str],
    accept_imbalance: bool = False,
) -> SplitPlan:
    """Every row's group and every group's split; refuses a test share far from TEST_SIZE.

    Groups are the corpus's split groups (coarser than stories: articles that could be one
    event share one), or its stories when it has none; with fewer than two, articles.
    """
    mode, test_size, seed = settings.split_by, settings.test_size, settings.split_seed
    story_group = groups_of_stories(corpus.story_of, getattr(corpus, "split_group_of", None))
    row_stories = {row["story_id"] for config_rows in rows.values() for row in config_rows}
    by_group = len({story_group.get(s, s) for s in row_stories}) >= 2

    def group_of(config: str, row: dict[str, Any]) -> str:
        if by_group:
            return story_group.get(row["story_id"], row["story_id"])
        if config == "annotations":
            return article_of_item[row["item_id"]]
        return row["article_id"]

    label_counts: dict[str, Counter[str]] = {}
    story_rows: Counter[str] = Counter()
    members: dict[str, set[str]] = {}
    for config, config_rows in rows.items():
        for row in config_rows:
            group = group_of(config, row)
            counts = label_counts.setdefault(group, Counter())
            members.setdefault(group, set()).add(row["story_id"])
            if config in PROJECTS:
                counts[f"{config}:{row[PROJECTS[config].question.name]}"] += 1
                story_rows[row["story_id"]] += 1

    # A group keeps the split its stories (or, by article, its article) had in the last build,
    # when that build split the same way.
    before = previous_splits(settings.dataset_dir)
    before_by = {"story_id": "split_group"}.get(before.get("by"), before.get("by"))
    same_way = (
        before_by == ("split_group" if by_group else "article_id")
        and before.get("mode", "story") == mode
    )
    carried = Carried()
    if same_way and by_group:
        stories_before = before.get("stories") or before.get("groups") or {}
        carried = carry_over(members, stories_before, story_rows)
    elif same_way:
        carried.previous = {
            g: s for g, s in (before.get("groups") or {}).items() if s in ("train", "test")
        }
    previous = dict(carried.previous)
    # A group with a control item stays in train: known answers must not grade a model.
    for row in rows["claims"]:
        if row["control"]:
            previous[group_of("claims", row)] = "train"

    latest: dict[str, str | None] = {}
    if mode == "time":
        for article_id, article in corpus.articles.items():
            story = corpus.story_of.get(article_id, "")
            group = story_group.get(story, story) if by_group else article_id
            if article.date and (latest.get(group) or "") < article.date:
                latest[group] = article.date
        assignment = assign_by_time(label_counts, latest, test_size, seed, previous)
    else:
        assignment = assign_splits(label_counts, test_size, seed, previous)
    undated = [g for g in label_counts if not latest.get(g)] if mode == "time" else []
    kept = {g: s for g, s in previous.items() if g in label_counts}
    problem = share_problem(label_counts, assignment, test_size, kept, undated)
    if problem and not by_group:
        problem += (
            f"; the corpus has fewer than two split groups, so its {len(label_counts)} articles "
            "are the groups"
        )
    if problem and not accept_imbalance:
        raise BuilderError(
            f"{settings.dataset_name}: {problem}. Nothing was written.",
            fix="add stories or correct the ones that swallow others, change TEST_SIZE, or "
            "build it anyway with `make dataset ARGS=--accept-imbalance` (the card then says "
            "why the share is off)",
        )
    share = test_share(label_counts, assignment)
    manifest: dict[str, Any] = {
        "by": "split_group" if by_group else "article_id",
        "mode": mode,
        "test_size": test_size,
        "seed": seed,
        "tolerance": SHARE_TOLERANCE,
        "test_share": round(share, 4),
        "imbalance": {"reason": problem, "accepted": True} if problem else None,
        "merged_across_splits": carried.merged,
        "groups": dict(sorted(assignment.items())),
    }
    if by_group:
        manifest["stories"] = {
            story: assignment[story_group.get(story, story)] for story in sorted(row_stories)
        }
    if mode == "time":
        test_dates = [latest[g] for g, s in assignment.items() if s == "test" and latest.get(g)]
        manifest["time"] = {
            "test_from": min(test_dates) if test_dates else None,
            "undated_groups_in_train": len(undated),
        }
    return SplitPlan(group_of, assignment, manifest)


@dataclass(frozen=True)
class ClaimAnswers:
    records: list[dict[str, Any]]  # the accepted claim records of the pulls
    answers: Answers  # the same, coded once for the aggregation, agreement and figures


def read_claims(settings: Settings, analyst: Analyst) -> ClaimAnswers:
    """The pulled claim records, coded, with Dawid-Skene started on them: in the worker, it
    runs while the build reads raw/."""
    from builder.labels.aggregate import Answers, fit_wanted

    records = project_records(settings, "claims")
    answers = Answers.of(records, "claims")
    analyst.begin(answers if fit_wanted(answers) else None)
    return ClaimAnswers(records, answers)


def build_dataset(
    settings: Settings,
    corpus: Corpus,
    stance: Any = None,
    controls: dict[str, str] | None = None,
    report: Report | None = None,
    sources: dict[str, Any] | None = None,
    inputs: str = "",
    accept_imbalance: bool = False,
    analyst: Analyst | None = None,
    claims: ClaimAnswers | None = None,
) -> dict[str, Any]:
    """Write exports/<name>/ whole: written aside, then moved into place. Returns the manifest.

    Control items (sentence id -> known label) are flagged, and their groups kept in train. A
    test share far from TEST_SIZE stops the build (nothing written) unless `accept_imbalance`.
    `sources` is the build's provenance when the caller has it already (it hashes files);
    `inputs`, the key of clean inputs that lets the next build say "nothing changed";
    `analyst`, where the model fits run (here when None); `claims`, the pulled claim records
    when the caller has read them already (`read_claims`, with the same analyst).
    """
    from builder.labels.aggregate import (
        Answers,
        aggregate_with_competences,
        competences,
        effective_method,
    )
    from builder.labels.quality import agreement_and_confusion
    from builder.tasks.claims import claim_tasks

    analyst = analyst or Analyst(worker=False)
    controls = controls or {}
    target = settings.dataset_dir
    for message in tidy_exports(settings):
        if report is not None:
            report.warn(message)
        else:
            print(message, file=sys.stderr)
    check_owned(target)
    pseudonym = Pseudonyms(pseudonym_key(settings))
    claims = claims or read_claims(settings, analyst)
    claim_records = claims.records
    answers = {"claims": claims.answers}
    if stance is not None:
        answers["stance"] = Answers.of(stance.records, "stance")
    claim_labels, claim_competences = aggregate_with_competences(
        claims.answers, settings.aggregation, settings.min_posterior, fit=analyst.fitted()
    )
    tasks = claim_tasks(corpus)
    rows: dict[str, list[dict[str, Any]]] = {
        "claims": claims_rows(corpus, claim_labels, controls, tasks, report)
    }
    story_of_item = {t["sentence_id"]: t["story_id"] for t in tasks}
    article_of_item = {t["sentence_id"]: t["article_id"] for t in tasks}
    records = list(claim_records)
    # A control item's answer is known, so a tie of its annotators leaves nothing unresolved.
    unresolved = {
        "claims": sorted(
            i for i, lab in claim_labels.items() if lab.label is None and i not in controls
        )
    }
    if stance is not None:
        rows["stance"] = stance.rows
        story_of_item.update(stance.story_of_pair)
        article_of_item.update(stance.article_of_pair)
        records += stance.records
        unresolved["stance"] = stance.unresolved
    rows["annotations"] = annotation_rows(records, story_of_item, pseudonym, report)
    if report is not None:
        report.read += len(tasks) + len(records) + (len(stance.story_of_pair) if stance else 0)
        report.kept += sum(len(config_rows) for config_rows in rows.values())
        if stance is not None:
            report.drop("stance: no accepted annotation", stance.unlabeled)
            report.drop("stance: unresolved", len(stance.unresolved))

    plan = plan_splits(settings, corpus, rows, article_of_item, controls, accept_imbalance)
    group_of, assignment = plan.group_of, plan.assignment

    # The pid in the name tells a later run whether this build is still going (tidy_exports).
    staging = settings.exports_dir / (
        f".{settings.dataset_name}.staging-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    )
    try:
        staging.mkdir(parents=True)
        write_json(staging / MARKER, {"made_by": "fact-check dataset builder"}, shared=True)
        counts: dict[str, dict[str, Any]] = {}
        arrow_bytes: dict[str, dict[str, int]] = {}
        splits_of: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for config, config_rows in rows.items():
            by_split: dict[str, list[dict[str, Any]]] = {split: [] for split in SPLITS}
            for row in config_rows:
                by_split[assignment[group_of(config, row)]].append(row)
            splits_of[config] = by_split
        # In a worker, the fits run while this process writes the files and draws the figures.
        analyst.submit({c: splits_of[c] for c in BASELINE_CONFIGS if c in splits_of})
        # Imported after the rows are sent: matplotlib takes half a second.
        from builder.dataset.figures import annotator_confusion, label_distribution, learning_curve

        for config, by_split in splits_of.items():
            arrow_bytes[config] = write_split_files(staging, config, by_split)
            counts[config] = {split: len(by_split[split]) for split in SPLITS}
            if config in PROJECTS:
                label_field = PROJECTS[config].question.name
                names = PROJECTS[config].question.names
                counts[config]["labels"] = {
                    split: {
                        names[i]: n
                        for i, n in sorted(Counter(r[label_field] for r in by_split[split]).items())
                    }
                    for split in SPLITS
                }
        data_files = {
            path.relative_to(staging).as_posix(): file_digest(path)
            for path in sorted((staging / "data").rglob("*.parquet"))
        }
        # The card speaks of annotators by pseudonym, as the data does.
        figures = {
            project: agreement_and_confusion(project, given.renamed(pseudonym))
            for project, given in answers.items()
        }
        estimated = {"claims": claim_competences}
        if stance is not None:
            estimated["stance"] = competences(answers["stance"])
        label_distribution(staging / "label_distribution.png", counts)
        annotator_confusion(
            staging / "annotator_confusion.png",
            {p: confusion for p, (_, confusion) in figures.items()},
        )
        baselines, leakage = analyst.result()
        manifest = {
            "builder_version": __version__,
            "license": settings.dataset_license,
            "scheme": {"version": SCHEME_VERSION, "hash": scheme_hash()},
            **(sources or provenance(settings)),
            **({"inputs": inputs} if inputs else {}),
            # What `datasets` keys its cache on comes from the card: these put each build's
            # content there (card.py), so a rebuild is never served from an older one's cache.
            "data_files": data_files,
            "counts": counts,
            "arrow_bytes": arrow_bytes,
            "unresolved": unresolved,
            "splits": plan.manifest,
            "leakage": leakage.summary,
            "agreement": {p: agreement for p, (agreement, _) in figures.items()},
            "aggregation": {
                project: effective_method(given, settings.aggregation)
                for project, given in answers.items()
            },
            "competence": {
                project: sorted(
                    ({**asdict(c), "annotator": pseudonym(c.annotator)} for c in rows),
                    key=lambda row: row["annotator"],
                )
                for project, rows in estimated.items()
            },
            "baseline": baselines,
        }
        write_jsonl(staging / leakage.summary["file"], leakage.findings, shared=True)
        learning_curve(staging / "learning_curve.png", baselines)
        # Shared like the parquet files: the card and manifest travel with the data.
        write_json(staging / "manifest.json", manifest, shared=True)
        write_text(staging / "README.md", render_card(settings.dataset_name, manifest), shared=True)
        replace_dir(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return manifest


def pulled_records(sources: dict[str, Any]) -> int:
    """How many accepted records the pulls of a build's provenance hold."""
    return sum(used["counts"].get("accepted", 0) for used in sources["exports_used"].values())


def make_dataset(
    settings: Settings,
    report: Report,
    accept_imbalance: bool = False,
    worker_min_records: int = WORKER_MIN_RECORDS,
) -> None:
    """raw/, its control items and the pulls into exports/<name>/; "nothing changed" when they,
    the settings and the builder are as the last clean build saw them.

    With `worker_min_records` accepted records or more, the baselines and leakage audit run in
    a second process, started first.
    """
    sources = provenance(settings)
    key = inputs_key(settings, sources, accept_imbalance)
    if read_manifest(settings.dataset_dir).get("inputs") == key:
        report.unchanged = True
        report.say(
            f"nothing changed: raw/, the pulls and the settings are as the last build of "
            f"{settings.dataset_dir} saw them"
        )
        return
    with Analyst(worker=pulled_records(sources) >= worker_min_records) as analyst:
        from builder.dataset.stance_rows import stance_parts
        from builder.inputs.corpus import load_corpus

        # Read first: their Dawid-Skene fit then overlaps reading raw/.
        claims = read_claims(settings, analyst)
        corpus = load_corpus(settings, controls=True)
        for problem in corpus.problems:
            report.problem(problem)
        # Only a build from clean inputs may let the next one skip: bad input is reported each
        # time.
        manifest = build_dataset(
            settings,
            corpus,
            stance_parts(settings),
            corpus.controls,
            report,
            sources,
            inputs="" if corpus.problems else key,
            accept_imbalance=accept_imbalance,
            analyst=analyst,
            claims=claims,
        )
    splits = manifest["splits"]
    report.wrote.append(str(settings.dataset_dir))
    report.say(f"wrote {settings.dataset_dir}")
    for config, c in manifest["counts"].items():
        report.say(f"  {config}: train {c['train']}, test {c['test']}")
    report.say(
        f"  split by {splits['mode']}: test share {splits['test_share']:.1%} of the labeled rows "
        f"(TEST_SIZE {splits['test_size']})"
    )
    if splits["by"] != "split_group":
        report.say(
            "  note: fewer than two split groups, so the splits are by article (see the card)"
        )
    if splits["imbalance"]:
        # On stdout, with the rest of what was built (the card says it too).
        report.say(f"  WARNING, accepted with --accept-imbalance: {splits['imbalance']['reason']}")
    for merged in splits["merged_across_splits"]:
        report.say(
            f"  note: split group {merged['group']} joins stories that were in train and in test: "
            f"it stays in {merged['kept']}; {merged['rows_moved']} row(s) of "
            f"{', '.join(merged['stories_moved'])} moved from {merged['from']}"
        )
    leakage = manifest["leakage"]
    report.say(
        f"  leakage audit: {leakage['exact_duplicates']} exact and {leakage['near_duplicates']} "
        f"near-duplicate test sentence(s) of {leakage['test_sentences']} have a match in train; "
        f"{leakage['similar_stories']} test story(ies) of {leakage['test_stories']} are similar to "
        f"a train story (listed in {settings.dataset_dir / leakage['file']})"
    )
    for project, items in manifest["unresolved"].items():
        if items:
            report.say(
                f"  {project}: {len(items)} unresolved item(s) left out: ties or low "
                "posteriors (see `make status`)"
            )
    for config, result in manifest["baseline"].items():
        if not result["trained"]:
            report.say(f"  baseline ({config}): not trained: {result['reason']}")
            continue
        positive = (
            f"F1 checkworthy {result['f1_checkworthy']:.3f}, " if "f1_checkworthy" in result else ""
        )
        report.say(
            f"  baseline ({config}, trained on train): {positive}macro-F1 "
            f"{result['macro_f1']:.3f} on {result['test_rows']} test rows (see the card)"
        )
    report.say(f'load it with: datasets.load_dataset("{settings.dataset_dir}", "claims")')
