"""raw/controls.jsonl into control items: sentences with a known answer, checked like any input."""

from __future__ import annotations

from pathlib import Path

from jsonschema import Draft202012Validator

from builder.core.scheme import CONTROL_SCHEMA
from builder.inputs.articles import Loaded, Problem, iter_records, schema_problems

CONTROLS_FILE = "controls.jsonl"

_validator = Draft202012Validator(CONTROL_SCHEMA)


def load_controls(raw_dir: Path, known_sentences: set[str]) -> tuple[dict[str, str], list[Problem]]:
    """sentence id -> known claim label; a bad line, unknown or repeated sentence is a Problem."""
    loaded = Loaded()
    path = raw_dir / CONTROLS_FILE
    if not path.is_file():
        return {}, []
    controls: dict[str, str] = {}
    for record, line in iter_records(path, loaded):
        errors = schema_problems(_validator, record)
        if errors:
            loaded.problems.extend(Problem(str(path), line, error) for error in errors)
        elif record["sentence_id"] not in known_sentences:
            loaded.problems.append(
                Problem(
                    str(path),
                    line,
                    f"unknown sentence_id {record['sentence_id']!r}: not a labeled sentence of "
                    "raw/ (list them with `python -m builder sentences raw/*`)",
                )
            )
        elif record["sentence_id"] in controls:
            loaded.problems.append(
                Problem(str(path), line, f"sentence_id {record['sentence_id']!r} given twice")
            )
        else:
            controls[record["sentence_id"]] = record["claim"]
    return controls, loaded.problems
