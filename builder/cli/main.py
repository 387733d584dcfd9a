"""The command line: parse, call a step, print its report; errors become a message and a hint."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from builder.core.config import Settings, debug_requested, setting_help
from builder.core.errors import BuilderError
from builder.core.lock import write_lock
from builder.core.report import Report

TRACEBACK_HINT = "to see the traceback: rerun with --debug (or BUILDER_DEBUG=1)"


def emit(line: str, warning: bool) -> None:
    print(line, file=sys.stderr if warning else sys.stdout, flush=warning)


def run_step(
    settings: Settings,
    name: str,
    step: Callable[..., None],
    summary: bool = True,
    **options: object,
) -> int:
    """Call a step with a fresh report; print its problems, its summary; keep it for status."""
    report = Report(name, emit=emit)
    try:
        step(settings, report, **options)
    finally:
        if report.problems:
            print(
                f"{len(report.problems)} problem(s) in the input; the rest was processed",
                file=sys.stderr,
            )
    report.done()
    if summary:
        print(report.summary())
    report.save(settings.state_dir)
    return report.exit_code


def report_problems(problems: Sequence[object]) -> None:
    """Bad input of a command that is no step: each problem, then how many."""
    for problem in problems:
        print(f"bad input: {problem}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) in the input; the rest was processed", file=sys.stderr)


# The commands --------------------------------------------------------------------------------


def cmd_sentences(settings: Settings, args: argparse.Namespace) -> int:
    from builder.inputs.articles import load_article_files
    from builder.inputs.sentences import split_article

    missing = [p for p in args.files if not Path(p).is_file()]
    if missing:
        raise BuilderError(f"no such file: {', '.join(missing)}")
    loaded = load_article_files([Path(p) for p in args.files])
    for article in loaded.items:
        for sentence in split_article(article):
            sys.stdout.write(json.dumps(sentence.to_dict(), ensure_ascii=False) + "\n")
    report_problems(loaded.problems)
    return 1 if loaded.problems else 0


def cmd_stories(settings: Settings, args: argparse.Namespace) -> int:
    """Stories listed, or as JSON lines. FILE...: those files alone, no state read or written (a
    pure contract: the same files give the same lines); none: raw/ with corrections and state."""
    from builder.cli.story_list import render_stories
    from builder.inputs.articles import load_article_files, load_articles
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


def cmd_settings(settings: Settings, args: argparse.Namespace) -> int:
    from builder.core.config import settings_table

    print(settings_table(None if args.markdown else settings))
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
    from builder.labelstudio.rounds import sync_claims

    return run_step(
        settings,
        "sync",
        sync_claims,
        force_config=args.force_config,
        progress=not args.no_progress,
        full=args.full,
        repair=args.repair,
        reimport_deleted=args.reimport_deleted,
    )


def cmd_pull(settings: Settings, args: argparse.Namespace) -> int:
    from builder.labelstudio.pull import pull_projects

    pulled = run_step(
        settings, "pull", pull_projects, full=args.full, allow_shrink=args.allow_shrink
    )
    if args.suggest:
        return max(pulled, cmd_suggest(settings, args))
    return pulled


def cmd_suggest(settings: Settings, args: argparse.Namespace) -> int:
    from builder.labelstudio.suggest import suggest_step

    return run_step(settings, "suggest", suggest_step)


def cmd_stance(settings: Settings, args: argparse.Namespace) -> int:
    from builder.labelstudio.rounds import sync_stance

    return run_step(
        settings,
        "stance",
        sync_stance,
        top_k=args.top_k,
        min_similarity=args.min_similarity,
        force_config=args.force_config,
        progress=not args.no_progress,
        repair=args.repair,
    )


def cmd_adjudicate(settings: Settings, args: argparse.Namespace) -> int:
    from builder.labelstudio.rounds import send_adjudications

    return run_step(
        settings,
        "adjudicate",
        send_adjudications,
        min_agreement=args.min_agreement,
        force_config=args.force_config,
    )


def cmd_dataset(settings: Settings, args: argparse.Namespace) -> int:
    from builder.dataset.build import make_dataset

    return run_step(settings, "dataset", make_dataset, accept_imbalance=args.accept_imbalance)


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    from builder.cli.status import corpus_counts, render, status_report
    from builder.inputs.corpus import load_corpus

    corpus = load_corpus(settings, controls=True)
    report_problems(corpus.problems)
    report = status_report(settings, corpus.controls)
    report["corpus"] = corpus_counts(corpus)
    print(json.dumps(report, indent=2) if args.json else render(report))
    # Bad input was printed above the report: a script must see it too.
    return 1 if corpus.problems else 0


def cmd_demo_annotations(settings: Settings, args: argparse.Namespace) -> int:
    from builder.labelstudio.demo import add_demo_annotations

    return run_step(settings, "demo-annotations", add_demo_annotations, summary=False)


def cmd_demo_summary(settings: Settings, args: argparse.Namespace) -> int:
    login = settings.local_label_studio_email
    password = settings.local_label_studio_password.reveal()
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
    "settings": cmd_settings,
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


REPAIR_HELP = "delete duplicate tasks that have no annotations (never an annotated one)"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m builder",
        description=__doc__,
        epilog="Settings come from the environment or .env: `python -m builder settings` lists "
        "them with their values, defaults and ranges.",
    )
    top.add_argument(
        "--debug", action="store_true", help="show the traceback on errors (or BUILDER_DEBUG=1)"
    )
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
    p = sub.add_parser("settings", help="every setting: its value, default, range and meaning")
    p.add_argument("--markdown", action="store_true", help="the README's configuration table")
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
    p.add_argument("--repair", action="store_true", help=REPAIR_HELP)
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
    p.add_argument("--top-k", type=int, help=setting_help("stance_top_k"))
    p.add_argument("--min-similarity", type=float, help=setting_help("stance_min_similarity"))
    p.add_argument("--force-config", action="store_true", help="update a project with annotations")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--repair", action="store_true", help=REPAIR_HELP)
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


# Errors, mapped to a message and a hint at the edge ------------------------------------------


def explain(exc: BaseException) -> tuple[str, int]:
    """The message and exit code of an error: what failed, the fix, how to see the traceback."""
    if isinstance(exc, BuilderError):
        return f"error: {exc}", exc.exit_code
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return (
            f"error: cannot use{where}: {exc.strerror or exc}\n"
            "  fix: check that it exists, that you may read and write it, and the free disk space",
            1,
        )
    return (
        f"error: unexpected {type(exc).__name__}: {exc}\n"
        "  fix: this is a bug of the builder; please report it with the traceback",
        1,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    debug = args.debug or debug_requested()
    try:
        settings = Settings.load()
        debug = debug or settings.builder_debug
        if args.command not in WRITERS:
            return COMMANDS[args.command](settings, args)
        with write_lock(settings.state_dir, args.command, settings.lock_wait):
            return COMMANDS[args.command](settings, args)
    except BrokenPipeError:
        # The reader (e.g. `| head`) stopped early: not an error of ours, and nothing to say.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted: rerun the command, it picks up where it stopped", file=sys.stderr)
        return 130
    except Exception as exc:
        message, code = explain(exc)
        if debug:
            traceback.print_exc()
        print(message, file=sys.stderr)
        if not debug:
            print(f"  ({TRACEBACK_HINT})", file=sys.stderr)
        return code
