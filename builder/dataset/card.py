"""A dataset's manifest into its README.md card: YAML configs and features, then the text."""

from __future__ import annotations

from typing import Any

import yaml

from builder.core.features import features_for
from builder.core.scheme import QUESTIONS

SPLITS = ("train", "test")


def card_metadata(manifest: dict[str, Any]) -> dict[str, Any]:
    configs, infos = [], []
    for config, counts in manifest["counts"].items():
        # `datasets` refuses to load a declared split without rows ("corresponds to no data"),
        # and with it the whole config: declare only the splits that have rows.
        splits = [split for split in SPLITS if counts.get(split)] or list(SPLITS)
        configs.append(
            {
                "config_name": config,
                "data_files": [
                    {"split": split, "path": f"data/{config}/{split}-*.parquet"} for split in splits
                ],
            }
        )
        infos.append(
            {
                "config_name": config,
                "features": features_for(config)._to_yaml_list(),
            }
        )
    return {
        "configs": configs,
        "dataset_info": infos,
        "task_categories": ["text-classification"],
        "language": ["en"],
        "pretty_name": "Fact-check claims and stance",
    }


def _label_table(config: str, counts: dict[str, Any]) -> list[str]:
    question = QUESTIONS[config]
    lines = [
        "| label | " + " | ".join(SPLITS) + " |",
        "| --- | " + " | ".join("---" for _ in SPLITS) + " |",
    ]
    for label in question.names:
        cells = [str(counts["labels"][split].get(label, 0)) for split in SPLITS]
        lines.append(f"| `{label}` | " + " | ".join(cells) + " |")
    return lines


def _figure(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def agreement_section(agreement: dict[str, Any]) -> list[str]:
    """Agreement per question, with the number of items each figure rests on, and the pictures."""
    lines = [
        "## Annotation and agreement",
        "",
        "Each task may be labeled by several annotators; the label is the majority, a tie is left "
        "out until an adjudicator settles it (ground truth). Agreement is over the annotators' own "
        "answers (adjudications excluded):",
        "",
        "| question | Krippendorff's alpha (nominal) | items |",
        "| --- | --- | --- |",
    ]
    for project, report in agreement.items():
        alpha = report["krippendorff_alpha"]
        lines.append(
            f"| `{QUESTIONS[project].name}` | {_figure(alpha['value'])} | {alpha['items']} |"
        )
    lines += ["", "| question | annotators | Cohen's kappa | items |", "| --- | --- | --- | --- |"]
    for project, report in agreement.items():
        for kappa in report["pairwise_kappa"]:
            lines.append(
                f"| `{QUESTIONS[project].name}` | {kappa['annotator_a']} / {kappa['annotator_b']} "
                f"| {_figure(kappa['value'])} | {kappa['items']} |"
            )
    lines += [
        "",
        "![Label distribution per split](label_distribution.png)",
        "",
        "![Confusion between annotators of the same item](annotator_confusion.png)",
    ]
    return lines


def split_section(splits: dict[str, Any]) -> list[str]:
    """The split policy as it was applied: grouping, mode, the share reached and why if off."""
    if splits["by"] == "article_id":
        grouping = (
            "grouped by article, because the corpus has fewer than two split groups: sentences "
            "of one article stay together, but one story spans both splits, so test rows share "
            "events with train rows"
        )
    else:
        grouping = (
            "grouped by split group: articles that could be one event (one story, or stories "
            "the story step could not tell apart) share a group, and no group has rows in both "
            "splits, in any config"
        )
    mode = splits.get("mode", "story")
    if mode == "time":
        time = splits.get("time") or {}
        order = (
            "The split is by time: the groups whose latest article is newest form the test split "
            f"(test groups' latest articles date from {time.get('test_from') or 'n/a'} on), so a "
            "model is scored on news after what it was trained on. Undated groups stay in train "
            f"({time.get('undated_groups_in_train', 0)} of them): nothing shows they are newer."
        )
    else:
        order = (
            "Groups are placed, largest first in an order fixed by seed "
            f"{splits['seed']}, where the test share and the label balance come nearest the target."
        )
    lines = [
        "## Split policy",
        "",
        f"Splits are {grouping}. {order} A group keeps its split in later builds.",
    ]
    if splits.get("test_share") is not None:
        lines += [
            "",
            f"Requested test share (`TEST_SIZE`): {splits['test_size']}; reached: "
            f"{splits['test_share']:.1%} of the labeled rows.",
        ]
    if splits.get("imbalance"):
        lines += [
            "",
            f"**The test share is off target**, and the build was accepted anyway "
            f"(`--accept-imbalance`): {splits['imbalance']['reason']}.",
        ]
    for merged in splits.get("merged_across_splits") or []:
        lines += [
            "",
            f"Split group `{merged['group']}` joins stories that earlier builds put in train and "
            f"in test; it stays in {merged['kept']}, and {merged['rows_moved']} row(s) of "
            f"{', '.join(f'`{s}`' for s in merged['stories_moved'])} moved from {merged['from']}.",
        ]
    lines += [
        "",
        "Ties between annotators are left out (unresolved) until adjudicated; a ground-truth "
        "annotation settles its item.",
    ]
    return lines


def leakage_section(leakage: dict[str, Any] | None) -> list[str]:
    """What the audit of this build found across the splits, and where the list is."""
    if not leakage:
        return []
    method = leakage["method"]
    lines = [
        "## Leakage audit",
        "",
        f"Every build compares the {leakage['test_sentences']} test sentences with the train "
        f"sentences, and every test story with the train stories (listed in `{leakage['file']}`):",
        "",
        "| finding | count | how |",
        "| --- | --- | --- |",
        f"| test sentences with an exact duplicate in train | {leakage['exact_duplicates']} "
        f"| {method['exact']} |",
        f"| test sentences with a near duplicate in train | {leakage['near_duplicates']} "
        f"| {method['near']} |",
        f"| test stories similar to a train story (of {leakage['test_stories']}) "
        f"| {leakage['similar_stories']} | {method['stories']} |",
    ]
    if leakage["top_story_pairs"]:
        lines += ["", "Most similar test and train stories:", ""]
        lines += [
            f"- `{p['test_story']}` and `{p['train_story']}`: {p['similarity']:.3f}"
            for p in leakage["top_story_pairs"]
        ]
    return lines


def render_card(
    name: str, manifest: dict[str, Any], extra_sections: list[str] | None = None
) -> str:
    meta = yaml.safe_dump(card_metadata(manifest), sort_keys=False, allow_unicode=True)
    splits = manifest["splits"]
    lines = [
        "---",
        meta.rstrip(),
        "---",
        "",
        f"# {name}",
        "",
        "Sentences from news articles labeled for check-worthy claims"
        + (" and for stance across outlets" if "stance" in manifest["counts"] else "")
        + ", built with the fact-check annotation dataset builder from annotations made in "
        "Label Studio.",
        "",
        "## Loading",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        f'claims = load_dataset("exports/{name}", "claims")',
        'print(claims["train"].features["claim"].names)',
        "```",
        "",
        "## Configs and splits",
        "",
        "| config | " + " | ".join(SPLITS) + " |",
        "| --- | " + " | ".join("---" for _ in SPLITS) + " |",
    ]
    for config, counts in manifest["counts"].items():
        lines.append(f"| `{config}` | " + " | ".join(str(counts[s]) for s in SPLITS) + " |")
    lines += [
        "",
        "- `claims`: one row per labeled sentence, with its context, its label `claim` and how "
        "many annotations it rests on (`num_annotations`, and `agreement`: the share that gave "
        "the label).",
    ]
    if "stance" in manifest["counts"]:
        lines.append(
            "- `stance`: one row per labeled pair of a target claim and a sentence from another "
            "article of the same story, with its label `stance`."
        )
    lines += [
        "- `annotations`: one row per accepted annotation, for disagreement studies. Annotators "
        "are pseudonymised (`annotator-<hash>`).",
        "",
        "## Labels",
        "",
    ]
    for config, question in QUESTIONS.items():
        if config not in manifest["counts"]:
            continue
        lines += [f"### `{question.name}` ({config} project): {question.prompt}", ""]
        for index, label in enumerate(question.labels):
            lines.append(
                f"- `{label.value}` ({index}): {label.definition} Example: {label.example}"
            )
        lines += ["", *_label_table(config, manifest["counts"][config]), ""]
    lines += [*split_section(splits), "", *leakage_section(manifest.get("leakage")), ""]
    lines += [
        "## Provenance",
        "",
        f"- Builder version {manifest['builder_version']}, label scheme version "
        f"{manifest['scheme']['version']} (sha256 `{manifest['scheme']['hash'][:16]}…`).",
        f"- {len(manifest['raw_inputs'])} raw input files; Label Studio exports used:",
    ]
    for project, used in manifest["exports_used"].items():
        counts = used["counts"]
        lines.append(
            f"  - {project}: `{used['file']}` (project {used['project_id']}): pulled "
            f"{counts['pulled']} = accepted {counts['accepted']} + rejected {counts['rejected']} "
            f"+ skipped {counts['skipped']}"
        )
    unresolved = {p: len(items) for p, items in manifest["unresolved"].items() if items}
    if unresolved:
        lines.append(f"- Unresolved (ties) left out: {unresolved}")
    lines += [
        "- `manifest.json` lists every input's hash, the counts and the split of every group."
    ]
    if manifest.get("agreement"):
        lines += ["", *agreement_section(manifest["agreement"])]
    for section in extra_sections or []:
        lines += ["", section.rstrip()]
    return "\n".join(lines) + "\n"
