"""A dataset's manifest into its README.md card: YAML configs and features, then the text."""

from __future__ import annotations

import hashlib
from typing import Any

import yaml

from builder.core.scheme import QUESTIONS

SPLITS = ("train", "test")


# The Hub's size_categories, by number of rows of the main (claims) config.
SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
)
DEFAULT_CONFIG = "claims"


def size_category(rows: int) -> str:
    for limit, name in SIZE_CATEGORIES:
        if rows < limit:
            return name
    return "10M<n<100M"


def card_metadata(manifest: dict[str, Any]) -> dict[str, Any]:
    """The card's YAML, in the Hub's conventions: configs (claims the default), features,
    license, task ids, size, who made the annotations and where the text comes from."""
    # Imported here: `datasets` takes a second to import, which `make dataset` with nothing
    # changed does not need.
    from builder.core.features import features_for

    configs, infos = [], []
    for config, counts in manifest["counts"].items():
        # `datasets` refuses to load a declared split without rows ("corresponds to no data"),
        # and with it the whole config: declare only the splits that have rows.
        splits = [split for split in SPLITS if counts.get(split)] or list(SPLITS)
        declared: dict[str, Any] = {
            "config_name": config,
            "data_files": [
                {"split": split, "path": f"data/{config}/{split}-*.parquet"} for split in splits
            ],
        }
        if config == DEFAULT_CONFIG:
            # load_dataset(path) with no config name loads this one.
            declared["default"] = True
        configs.append(declared)
        files = {
            path: digest
            for path, digest in manifest.get("data_files", {}).items()
            if path.startswith(f"data/{config}/")
        }
        # `datasets` keys its cache of a local folder on this YAML (and the folder's name),
        # not on the files: the split sizes and a checksum of the data files make every
        # build's entry its own, so load_dataset never returns an older build. It checks
        # num_examples against what it reads, too; it reads a split's entry only when
        # num_bytes is there (else it warns and ignores every split of the config).
        content = hashlib.sha256(
            "".join(f"{p}\0{d['sha256']}\n" for p, d in sorted(files.items())).encode()
        ).hexdigest()
        infos.append(
            {
                "config_name": config,
                "description": f"{config} rows of this build; data files sha256 {content}",
                "features": features_for(config)._to_yaml_list(),
                "splits": [
                    {
                        "name": split,
                        "num_bytes": manifest.get("arrow_bytes", {}).get(config, {}).get(split, 0),
                        "num_examples": counts[split],
                    }
                    for split in splits
                    if split in counts
                ],
                "download_size": sum(d["bytes"] for d in files.values()),
            }
        )
    claims = manifest["counts"].get(DEFAULT_CONFIG, {})
    rows = sum(claims.get(split, 0) for split in SPLITS)
    task_ids = ["fact-checking", "multi-class-classification"]
    if "stance" in manifest["counts"]:
        task_ids.append("natural-language-inference")
    return {
        "license": manifest.get("license", "unknown"),
        "language": ["en"],
        "pretty_name": "Fact-check claims and stance",
        "task_categories": ["text-classification"],
        "task_ids": task_ids,
        "size_categories": [size_category(rows)],
        "annotations_creators": ["expert-generated"],
        "language_creators": ["found"],
        "multilinguality": ["monolingual"],
        "source_datasets": ["original"],
        "configs": configs,
        "dataset_info": infos,
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


AGGREGATION_TEXT = {
    "majority": "the label is the majority; a tie is left out until an adjudicator settles it",
    "dawid-skene": "the label is the most probable one under a Dawid-Skene model (crowd-kit), "
    "which weighs each annotator by their estimated confusion matrix; a label whose posterior "
    "probability is below the minimum is left out until an adjudicator settles it",
}


def competence_section(competence: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Each annotator's estimated competence and confusion matrix, per question."""
    lines = [
        "### Annotator competence",
        "",
        "Estimated by Dawid-Skene (crowd-kit) from the annotators' own answers: `competence` is "
        "the probability that an annotator's answer is the true label; the confusion matrix gives "
        "P(answer | true label), rows the true label.",
        "",
    ]
    if not any(competence.values()):
        return lines + [
            "Not estimated: fewer than 100 items were labeled by two or more annotators.",
        ]
    for project, rows in competence.items():
        question = QUESTIONS[project]
        for row in rows:
            lines += [
                f"- `{question.name}`, {row['annotator']}: competence "
                f"{_figure(row['competence'])} over {row['items']} items",
                "",
                "  | true \\ answer | " + " | ".join(f"`{n}`" for n in row["labels"]) + " |",
                "  | --- | " + " | ".join("---" for _ in row["labels"]) + " |",
            ]
            for name, probabilities in zip(row["labels"], row["confusion"], strict=True):
                cells = " | ".join(f"{p:.3f}" for p in probabilities)
                lines.append(f"  | `{name}` | {cells} |")
            lines.append("")
    return lines


def agreement_section(
    agreement: dict[str, Any], aggregation: dict[str, str] | None = None
) -> list[str]:
    """Agreement per question, with the number of items each figure rests on, and the pictures."""
    how = "; ".join(
        f"`{QUESTIONS[project].name}`: {AGGREGATION_TEXT[method]}"
        for project, method in (aggregation or {p: "majority" for p in agreement}).items()
    )
    lines = [
        "## Annotation and agreement",
        "",
        f"Each task may be labeled by several annotators ({how}); a ground-truth (adjudicator's) "
        "answer always settles its item. Agreement is over the annotators' own answers "
        "(adjudications excluded):",
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


def baseline_section(baselines: dict[str, dict[str, Any]]) -> list[str]:
    """What a plain model learns from the data: trained on train, scored on test."""
    lines = [
        "## Baseline",
        "",
        "TF-IDF (word 1-2-grams, every digit read as 0) and logistic regression with balanced "
        "class weights "
        "(scikit-learn), trained on `train` and scored on `test`. For `claim`, the F1 of "
        "`checkworthy` (the CLEF CheckThat! measure) and the macro-F1; for `stance`, the "
        "class-wise macro-F1 (not FNC-1's weighted score).",
        "",
    ]
    for config, result in baselines.items():
        question = QUESTIONS[config]
        if not result.get("trained"):
            lines += [f"- `{question.name}`: not trained: {result['reason']}.", ""]
            continue
        headline = f"macro-F1 {_figure(result['macro_f1'])}"
        if "f1_checkworthy" in result:
            headline = f"F1 of `checkworthy` {_figure(result['f1_checkworthy'])}, " + headline
        lines += [
            f"- `{question.name}` ({result['train_rows']} train rows, {result['test_rows']} "
            f"test rows): {headline}",
            "",
            "  | label | precision | recall | F1 | test rows |",
            "  | --- | --- | --- | --- | --- |",
        ]
        for label, scores in result["per_class"].items():
            lines.append(
                f"  | `{label}` | {_figure(scores['precision'])} | {_figure(scores['recall'])} "
                f"| {_figure(scores['f1'])} | {scores['support']} |"
            )
        lines.append("")
    lines.append("![Baseline learning curve](learning_curve.png)")
    return lines


def citation_section(name: str, manifest: dict[str, Any]) -> list[str]:
    """A BibTeX entry for the dataset; fixed text, so the card stays the same bytes."""
    return [
        "## Citation",
        "",
        "```bibtex",
        f"@misc{{{name.replace('-', '_')},",
        "  title        = {Fact-check claims and stance: " + name + "},",
        "  note         = {Sentences of news articles labeled for check-worthy claims and "
        "stance in Label Studio; built with the fact-check annotation dataset builder "
        f"{manifest['builder_version']}, label scheme version {manifest['scheme']['version']}}},",
        "  howpublished = {Hugging Face dataset},",
        "}",
        "```",
    ]


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
        f"Splits are {grouping}. {order} A group keeps its split in later builds that split "
        "the same way; groups joined by new evidence go whole to one side.",
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
        "Ties between annotators and labels below the minimum posterior are left out "
        "(unresolved) until adjudicated; a ground-truth annotation settles its item.",
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
        f'claims = load_dataset("exports/{name}")  # the default config: claims',
        'print(claims["train"].features["claim"].names)',
        *(
            [f'stance = load_dataset("exports/{name}", "stance")']
            if "stance" in manifest["counts"]
            else []
        ),
        f'annotations = load_dataset("exports/{name}", "annotations")',
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
        "are pseudonymised (`annotator-<keyed hash>`; the key stays with the project).",
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
        lines.append(f"- Unresolved (ties, low posteriors) left out: {unresolved}")
    lines += [
        "- `manifest.json` lists every input's hash, the counts and the split of every group.",
        f"- License: `{manifest.get('license', 'unknown')}` (the `DATASET_LICENSE` setting).",
    ]
    if manifest.get("agreement"):
        lines += ["", *agreement_section(manifest["agreement"], manifest.get("aggregation"))]
    if "competence" in manifest:
        lines += ["", *competence_section(manifest["competence"])]
    if "baseline" in manifest:
        lines += ["", *baseline_section(manifest["baseline"])]
    lines += ["", *citation_section(name, manifest)]
    for section in extra_sections or []:
        lines += ["", section.rstrip()]
    return "\n".join(lines) + "\n"
