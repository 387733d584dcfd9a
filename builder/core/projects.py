"""The Label Studio projects, each declared once: question, task fields, view, titles, files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import quoteattr

from builder.core.config import ADJUDICATION_SUFFIX, LABEL_STUDIO_MAX_TITLE
from builder.core.scheme import CLAIM, LABELED_TEXT, STANCE, Question

if TYPE_CHECKING:
    from builder.core.config import Settings


@dataclass(frozen=True)
class Heading:
    """A <Header>: fixed text, or a task field when `text` is "$field"."""

    text: str
    size: int


@dataclass(frozen=True)
class Show:
    """A task field shown with <Text> (as text, never HTML); `marked` frames the one to label."""

    field: str
    name: str = ""  # the control's name when it differs from the field's
    marked: str = ""  # border colour
    granularity: bool = True


# What the adjudication view adds on top of a project's own, and the fields it needs.
ADJUDICATION_VIEW = (
    Heading("Adjudication: the annotators did not agree", 4),
    Show("adjudication_reason", granularity=False),
    Show("answers_given", granularity=False),
)
ADJUDICATION_FIELDS = ("adjudication_reason", "answers_given")
ADJUDICATION_DESCRIPTION = (
    "Adjudication: each annotator's answer is shown as a prediction; your answer settles "
    "the item (ground truth) at the next pull."
)


@dataclass(frozen=True)
class Column:
    """A column of a project's dataset config: a copied task field, the label, or one the
    dataset step makes (its aggregation figures, a sentence's offsets)."""

    name: str
    dtype: str = "string"  # a `datasets` Value dtype, or LABEL for the question's ClassLabel
    copies: str = ""  # the task field it copies; empty when the dataset step makes it


LABEL = "label"


def copied(*fields: str) -> tuple[Column, ...]:
    """Columns that copy task fields of the same name, as strings."""
    return tuple(Column(name, copies=name) for name in fields)


# How an item's answers became its label: the same columns in every labeled config.
AGGREGATION_COLUMNS = (
    Column("num_annotations", "int32"),
    Column("agreement", "float32"),
    # Probability of the label under the aggregation (Dawid-Skene's posterior, the vote share
    # under the majority; 1 for ground truth and control items).
    Column("posterior", "float32"),
    Column("resolved_by"),
)


@dataclass(frozen=True)
class Project:
    """One Label Studio project of the builder, and its adjudication twin."""

    name: str
    question: Question
    item_key: str  # the task field that carries our own id of the labeled item
    task_fields: tuple[str, ...]  # every field of a task, in order
    view: tuple[Heading | Show, ...]
    description: str
    columns: tuple[Column, ...]  # its dataset config's columns, in order

    def row(self, task: dict[str, Any], label: int, **made: Any) -> dict[str, Any]:
        """A dataset row: the copied task fields, the label's index and the columns made by the
        dataset step (exactly the declared ones)."""
        expected = {c.name for c in self.columns if not c.copies and c.dtype != LABEL}
        if made.keys() != expected:
            wrong = sorted(made.keys() ^ expected)
            raise ValueError(f"{self.name} dataset columns differ from the declared ones: {wrong}")
        return {
            c.name: label if c.dtype == LABEL else task[c.copies] if c.copies else made[c.name]
            for c in self.columns
        }

    def title(self, settings: Settings) -> str:
        return getattr(settings, f"{self.name}_project_title")

    def adjudication_title(self, settings: Settings) -> str:
        return self.title(settings) + ADJUDICATION_SUFFIX

    @property
    def adjudication_name(self) -> str:
        """Its adjudication project's name: in pull and sync file names and the examples."""
        return f"{self.name}-adjudication"

    def names(self) -> tuple[str, str]:
        return self.name, self.adjudication_name

    def task(self, **values: Any) -> dict[str, Any]:
        """A task payload with exactly the declared fields, in the declared order."""
        if values.keys() != set(self.task_fields):
            wrong = sorted(values.keys() ^ set(self.task_fields))
            raise ValueError(f"{self.name} task fields differ from the declared ones: {wrong}")
        return {name: values[name] for name in self.task_fields}

    def labeling_config(self, adjudication: bool = False) -> str:
        """The Label Studio XML: the view, the question's choices and its guidelines."""
        view = [*ADJUDICATION_VIEW, *self.view] if adjudication else list(self.view)
        body = [line for element in view for line in _element(element)]
        body.append(f'  <Header value={quoteattr(self.question.prompt)} size="5"/>')
        question = self.question
        lines = [
            "<View>",
            *body,
            *_choices(question, LABELED_TEXT),
            *_guidelines(question),
            "</View>",
        ]
        return "\n".join(lines) + "\n"

    def sync_state_file(self, adjudication: bool = False, member: int = 1) -> str:
        return f"{member_name(self.adjudication_name if adjudication else self.name, member)}.json"


# A kind's projects form a set: the first keeps the kind's name and title, each continuation
# (opened when the ones before hold MAX_TASKS_PER_PROJECT tasks) is numbered from 2.


def member_name(name: str, member: int) -> str:
    """The name of a set's `member`-th project: "claims", then "claims-2", "claims-3", …"""
    return name if member == 1 else f"{name}-{member}"


def member_number(name: str, base: str) -> int | None:
    """Which member of `base`'s set `name` is (1, 2, …), or None if it is not one."""
    if name == base:
        return 1
    number = name.removeprefix(f"{base}-")
    if number != name and number.isdigit() and not number.startswith("0") and int(number) > 1:
        return int(number)
    return None


def member_title(title: str, member: int) -> str:
    """The title of a set's `member`-th project: "<title> · 2", …; the title is shortened
    (ending in "…") only when Label Studio's 50 characters would not hold it whole, as for a
    long adjudication title."""
    if member == 1:
        return title
    suffix = f" · {member}"
    if len(title) + len(suffix) > LABEL_STUDIO_MAX_TITLE:
        title = title[: LABEL_STUDIO_MAX_TITLE - len(suffix) - 1] + "…"
    return title + suffix


def placement(counts: list[int], new: int, limit: int) -> list[int]:
    """How many of `new` tasks go to each project of a set that holds `counts` tasks now: the
    projects filled in order up to `limit` each, then as many new ones as needed (the result
    is longer than `counts` by those). A project already over the limit gets none."""
    added = []
    for count in counts:
        take = min(max(limit - count, 0), new)
        added.append(take)
        new -= take
    while new > 0:
        take = min(limit, new)
        added.append(take)
        new -= take
    return added


def _element(element: Heading | Show) -> list[str]:
    if isinstance(element, Heading):
        return [f'  <Header value={quoteattr(element.text)} size="{element.size}"/>']
    name = element.name or element.field
    granularity = ' granularity="paragraph"' if element.granularity else ""
    text = f'<Text name="{name}" value="${element.field}"{granularity}/>'
    if not element.marked:
        return [f"  {text}"]
    style = f"border-left: 4px solid {element.marked}; padding-left: 0.5em; font-weight: bold"
    return [f'  <View style="{style}">', f"    {text}", "  </View>"]


def _guidelines(question: Question) -> list[str]:
    lines = ['  <View style="margin-top: 1em; font-size: 90%; color: #444">']
    lines.append(f'    <Header value={quoteattr("Guidelines: " + question.prompt)} size="6"/>')
    for label in question.labels:
        text = f"{label.value}: {label.definition} Example: {label.example}"
        lines.append(f'    <Header value={quoteattr(text)} size="6" underline="false"/>')
    lines.append("  </View>")
    return lines


def _choices(question: Question, to_name: str) -> list[str]:
    required = "true" if question.required else "false"
    lines = [
        f'  <Choices name="{question.name}" toName="{to_name}" choice="single" '
        f'required="{required}" showInline="true">'
    ]
    for label in question.labels:
        lines.append(
            f"    <Choice value={quoteattr(label.value)} hint={quoteattr(label.definition)}/>"
        )
    lines.append("  </Choices>")
    return lines


def choice_result(project: str, label: str) -> list[dict[str, Any]]:
    """A Label Studio result for one answer, as the UI sends it (annotations and predictions)."""
    return [
        {
            "from_name": PROJECTS[project].question.name,
            "to_name": LABELED_TEXT,
            "type": "choices",
            "value": {"choices": [label]},
        }
    ]


# The sentence to label, in its article: shown the same way in both projects.
_SENTENCE_IN_CONTEXT = (
    Show("meta"),
    Show("before"),
    Show("text", marked="#d33"),
    Show("after"),
)

CLAIMS = Project(
    name="claims",
    question=CLAIM,
    item_key="sentence_id",
    task_fields=(
        "sentence_id",
        "article_id",
        "story_id",
        "kind",
        "text",
        "headline",
        "meta",
        "before",
        "after",
        "source",
        "date",
        "language",
    ),
    view=(Heading("$headline", 4), *_SENTENCE_IN_CONTEXT),
    description="Is this sentence a check-worthy claim? Made by the fact-check dataset builder.",
    columns=(
        *copied("sentence_id", "text"),
        Column(CLAIM.name, LABEL),
        *copied("article_id", "story_id", "kind"),
        # Where the sentence is in its article.
        Column("index", "int32"),
        Column("start", "int32"),
        Column("end", "int32"),
        Column("context_before", copies="before"),
        Column("context_after", copies="after"),
        *copied("source", "date", "language"),
        *AGGREGATION_COLUMNS,
        Column("control", "bool"),  # a control item: its label is the known answer
    ),
)

STANCE_PROJECT = Project(
    name="stance",
    question=STANCE,
    item_key="pair_id",
    task_fields=(
        "pair_id",
        "target_id",
        "target_text",
        "target_meta",
        "target_origin",
        "target_article_id",
        "target_source",
        "sentence_id",
        "text",
        "meta",
        "before",
        "after",
        "article_id",
        "source",
        "story_id",
        "similarity",
    ),
    view=(
        Heading("Target claim", 5),
        Show("target_text", name="target", marked="#36c"),
        Show("target_meta"),
        Heading("Sentence from another article of the same story", 5),
        *_SENTENCE_IN_CONTEXT,
    ),
    description="Does the sentence support, contradict or discuss the target claim? Made by the "
    "fact-check dataset builder.",
    columns=(
        *copied("pair_id", "target_id", "target_text", "target_article_id", "target_source"),
        *copied("sentence_id", "text", "article_id", "source", "story_id"),
        Column(STANCE.name, LABEL),
        Column("similarity", "float32", copies="similarity"),
        *AGGREGATION_COLUMNS,
    ),
)

PROJECTS: dict[str, Project] = {p.name: p for p in (CLAIMS, STANCE_PROJECT)}


def labeling_config(project: str, adjudication: bool = False) -> str:
    """The Label Studio XML of a project by name (see Project.labeling_config)."""
    return PROJECTS[project].labeling_config(adjudication)
