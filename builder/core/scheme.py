"""The label scheme, declared once: the questions, and the JSON Schemas derived from them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

SCHEME_VERSION = 1


@dataclass(frozen=True)
class Label:
    """One answer: its stable value (the class id is its position), definition and an example."""

    value: str
    definition: str
    example: str


@dataclass(frozen=True)
class Question:
    """One question of a project: a single required choice among ordered labels."""

    name: str
    project: str
    prompt: str
    labels: tuple[Label, ...]
    required: bool = True

    @property
    def names(self) -> list[str]:
        return [label.value for label in self.labels]


CLAIM = Question(
    name="claim",
    project="claims",
    prompt="Is this sentence a claim worth checking?",
    labels=(
        Label(
            "no_claim",
            "Nothing verifiable: an opinion, a question, speculation or a heading fragment.",
            "“It was a dark day for diplomacy.” / “What will Moscow do next?”",
        ),
        Label(
            "not_checkworthy",
            "Verifiable, but of little public interest.",
            "“The Pentagon has not disclosed what exactly the two discussed.”",
        ),
        Label(
            "checkworthy",
            "Verifiable and worth checking: numbers, events, causes, who said what.",
            "“On Sunday, five people were killed, according to the local government.”",
        ),
    ),
)

STANCE = Question(
    name="stance",
    project="stance",
    prompt="What does the sentence say about the target claim?",
    labels=(
        Label(
            "supports",
            "The sentence states the same fact as the claim.",
            "Claim “five people were killed” / sentence “the strike killed five people”.",
        ),
        Label(
            "contradicts",
            "The sentence states something that cannot be true together with the claim.",
            "Claim “five people were killed” / sentence “four civilians were killed”.",
        ),
        Label(
            "discusses",
            "The sentence is about the claim's topic but neither confirms nor denies it.",
            "Claim “five people were killed” / sentence “the toll is still being counted”.",
        ),
        Label(
            "unrelated",
            "The sentence is about something else.",
            "Claim “five people were killed” / sentence “the ministers spoke by phone”.",
        ),
    ),
)

QUESTIONS: dict[str, Question] = {CLAIM.project: CLAIM, STANCE.project: STANCE}


def question_for(project: str) -> Question:
    return QUESTIONS[project]


# The <Text> element every question's choices label (its `name`): an annotation's result item
# whose `to_name` is anything else labels nothing the annotator was shown.
LABELED_TEXT = "text"


# JSON Schemas ------------------------------------------------------------------------------


def whole(body: str) -> str:
    r"""A JSON Schema pattern that must match the whole string.

    JSON Schema patterns are ECMA-262, where `$` is the end of the input; Python's `re`, which
    jsonschema uses, also matches `$` before a final newline, so `^abc$` accepts "abc\n".
    `(?!\n)` after the `$` closes that gap and means the same in ECMA and Python.
    """
    return f"^(?:{body})$(?!\\n)"


ID_PATTERN = whole(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
DATE_PATTERN = whole(r"\d{4}-\d{2}-\d{2}")
LANGUAGE_PATTERN = whole(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")

ARTICLE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "article.schema.json",
    "title": "A news article in raw/",
    "type": "object",
    "required": ["id", "text"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": ID_PATTERN},
        "text": {"type": "string", "pattern": r"\S"},
        "title": {"type": ["string", "null"]},
        "date": {"type": ["string", "null"], "format": "date", "pattern": DATE_PATTERN},
        "source": {"type": ["string", "null"]},
        "url": {"type": ["string", "null"]},
        "language": {"type": ["string", "null"], "pattern": LANGUAGE_PATTERN},
        "story_id": {"type": ["string", "null"], "pattern": ID_PATTERN},
    },
}


CLAIM_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "claim.schema.json",
    "title": "A claim a user supplies in raw/claims.jsonl, to be paired for stance",
    "type": "object",
    "required": ["claim_id", "text"],
    "additionalProperties": False,
    "properties": {
        "claim_id": {"type": "string", "pattern": ID_PATTERN},
        "text": {"type": "string", "pattern": r"\S"},
        "story_id": {"type": "string", "pattern": ID_PATTERN},
        "date": {"type": "string", "format": "date", "pattern": DATE_PATTERN},
        "source": {"type": "string"},
    },
    "anyOf": [{"required": ["story_id"]}, {"required": ["date"]}],
}


CONTROL_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "control.schema.json",
    "title": "A control item in raw/controls.jsonl: a sentence with a known claim label",
    "type": "object",
    "required": ["sentence_id", "claim"],
    "additionalProperties": False,
    "properties": {
        "sentence_id": {"type": "string", "pattern": whole(r"[A-Za-z0-9][A-Za-z0-9_-]{0,200}")},
        "claim": {"enum": CLAIM.names},
        "note": {"type": "string"},
    },
}


def _answers_schema(question: Question) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": [question.name] if question.required else [],
        "properties": {
            question.name: {
                "type": "array",
                "minItems": 1,
                "maxItems": 1,
                "items": {"enum": question.names},
            }
        },
    }


def annotation_schema() -> dict[str, Any]:
    """One accepted annotation record; the answers part is chosen by the record's project."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "annotation.schema.json",
        "title": "One annotation pulled from Label Studio",
        "type": "object",
        "required": [
            "project",
            "item_id",
            "task_id",
            "annotation_id",
            "annotator",
            "answers",
            "ground_truth",
        ],
        "additionalProperties": False,
        "properties": {
            "project": {"enum": sorted(QUESTIONS)},
            "item_id": {"type": "string", "minLength": 1},
            "task_id": {"type": "integer"},
            "annotation_id": {"type": "integer"},
            "annotator": {"type": "string", "minLength": 1},
            "answers": {"type": "object"},
            "lead_time": {"type": ["number", "null"], "minimum": 0},
            "created_at": {"type": ["string", "null"]},
            "updated_at": {"type": ["string", "null"]},
            "ground_truth": {"type": "boolean"},
        },
        "allOf": [
            {
                "if": {"properties": {"project": {"const": q.project}}},
                "then": {"properties": {"answers": _answers_schema(q)}},
            }
            for q in QUESTIONS.values()
        ],
    }


def schema_files() -> dict[str, dict[str, Any]]:
    """Every file of schemas/, by name. `python -m builder schemas` writes them."""
    return {
        "article.schema.json": ARTICLE_SCHEMA,
        "claim.schema.json": CLAIM_SCHEMA,
        "control.schema.json": CONTROL_SCHEMA,
        "annotation.schema.json": annotation_schema(),
    }


# Hugging Face features ---------------------------------------------------------------------


def class_label(project: str) -> Any:
    from datasets import ClassLabel

    return ClassLabel(names=question_for(project).names)


def scheme_declaration() -> dict[str, Any]:
    """The scheme as plain data, for hashing, the manifest and the card."""
    return {
        "version": SCHEME_VERSION,
        "questions": [
            {
                "project": q.project,
                "name": q.name,
                "prompt": q.prompt,
                "required": q.required,
                "labels": [
                    {"value": lab.value, "definition": lab.definition, "example": lab.example}
                    for lab in q.labels
                ],
            }
            for q in QUESTIONS.values()
        ],
    }


def scheme_hash() -> str:
    payload = json.dumps(scheme_declaration(), sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(payload).hexdigest()
