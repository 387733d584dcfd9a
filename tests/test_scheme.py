"""One label scheme: the Label Studio XML, the JSON Schemas and the datasets Features agree."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import fastjsonschema
import pytest
from jsonschema import Draft202012Validator
from support import run

from builder.core.features import features_for
from builder.core.projects import labeling_config
from builder.core.scheme import (
    CLAIM,
    QUESTIONS,
    STANCE,
    annotation_schema,
    question_for,
    schema_files,
    scheme_declaration,
    scheme_hash,
)

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "schemas"
FEATURE_OF = {"claims": ("claims", "claim"), "stance": ("stance", "stance")}


def test_the_default_labels_in_their_class_order() -> None:
    assert CLAIM.names == ["no_claim", "not_checkworthy", "checkworthy"]
    assert STANCE.names == ["supports", "contradicts", "discusses", "unrelated"]
    assert CLAIM.required and STANCE.required
    for question in QUESTIONS.values():
        assert all(label.definition and label.example for label in question.labels)


@pytest.mark.parametrize("project", sorted(QUESTIONS))
def test_labeling_config_parses_and_every_choice_is_a_label(project: str) -> None:
    question = question_for(project)
    root = ET.fromstring(labeling_config(project))
    assert root.tag == "View"
    choices = root.findall(".//Choices")
    assert [c.get("name") for c in choices] == [question.name]
    (control,) = choices
    assert control.get("choice") == "single"
    assert control.get("required") == "true"
    assert [c.get("value") for c in control.findall("Choice")] == question.names
    # The control points at a Text object that exists in the view.
    names = {el.get("name") for el in root.iter("Text")}
    assert control.get("toName") in names


@pytest.mark.parametrize("project", sorted(QUESTIONS))
def test_labeling_config_shows_text_never_html(project: str) -> None:
    root = ET.fromstring(labeling_config(project))
    assert not list(root.iter("HyperText"))
    assert not list(root.iter("HTML"))
    for element in root.iter("Text"):
        assert element.get("value", "").startswith("$")


def test_claims_view_shows_the_context_and_guidelines() -> None:
    root = ET.fromstring(labeling_config("claims"))
    values = {el.get("value") for el in root.iter() if el.get("value")}
    assert {"$headline", "$meta", "$before", "$text", "$after"} <= values
    guideline_text = " ".join(el.get("value", "") for el in root.iter("Header"))
    for label in CLAIM.labels:
        assert f"{label.value}: {label.definition}" in guideline_text
        assert label.example in guideline_text


@pytest.mark.parametrize("project", sorted(QUESTIONS))
def test_features_and_json_schema_carry_the_same_labels_in_order(project: str) -> None:
    question = question_for(project)
    config, column = FEATURE_OF[project]
    assert features_for(config)[column].names == question.names
    schema = annotation_schema()
    (branch,) = [b for b in schema["allOf"] if b["if"]["properties"]["project"]["const"] == project]
    answers = branch["then"]["properties"]["answers"]
    assert answers["required"] == [question.name]
    assert answers["properties"][question.name]["items"]["enum"] == question.names
    assert answers["properties"][question.name]["maxItems"] == 1


def test_committed_schema_files_equal_the_derived_ones() -> None:
    files = schema_files()
    assert {"article.schema.json", "annotation.schema.json"} <= set(files)
    on_disk = {p.name for p in SCHEMAS.glob("*.json")}
    assert on_disk == set(files), "run `python -m builder schemas`"
    for name, schema in files.items():
        text = (SCHEMAS / name).read_text(encoding="utf-8")
        assert json.loads(text) == schema, f"schemas/{name} is stale"
        expected = json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        assert text == expected


def test_committed_annotation_schema_accepts_and_rejects_by_the_labels() -> None:
    schema = json.loads((SCHEMAS / "annotation.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    record = {
        "project": "claims",
        "item_id": "a-1",
        "task_id": 1,
        "annotation_id": 2,
        "annotator": "ann@example.org",
        "answers": {"claim": ["checkworthy"]},
        "ground_truth": False,
    }
    assert list(validator.iter_errors(record)) == []
    for label in CLAIM.names:
        assert validator.is_valid({**record, "answers": {"claim": [label]}})
    assert not validator.is_valid({**record, "answers": {"claim": ["supports"]}})
    assert validator.is_valid({**record, "project": "stance", "answers": {"stance": ["supports"]}})


def test_committed_article_schema_is_a_valid_schema() -> None:
    schema = json.loads((SCHEMAS / "article.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["required"] == ["id", "text"]


def _patterns(node: object, where: str = "$") -> list[tuple[str, str]]:
    """(where, pattern) of every `pattern` keyword in a schema."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                found.append((where, value))
            else:
                found += _patterns(value, f"{where}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _patterns(value, f"{where}[{index}]")
    return found


def test_every_anchored_pattern_in_schemas_refuses_a_trailing_newline() -> None:
    # JSON Schema patterns are ECMA-262 ($ is the end of the input); jsonschema uses Python's
    # re, whose $ also matches before a final newline; fastjsonschema rewrites $ to \Z. Both
    # validators must refuse "abc\n" wherever the pattern is anchored.
    examples = ["abc", "a1-b_2", "2024-06-26", "en", "en-GB"]
    anchored = 0
    for path in sorted(SCHEMAS.glob("*.schema.json")):
        for where, pattern in _patterns(json.loads(path.read_text(encoding="utf-8"))):
            if not pattern.startswith("^"):
                continue
            anchored += 1
            schema = {"type": "string", "pattern": pattern}
            slow, fast = Draft202012Validator(schema), fastjsonschema.compile(schema)
            matching = [e for e in examples if slow.is_valid(e)]
            assert matching, f"{path.name} {where}: no example matches {pattern}; add one here"
            for example in matching:
                fast(example)
                assert not slow.is_valid(example + "\n"), f"{path.name} {where}: {pattern}"
                with pytest.raises(fastjsonschema.JsonSchemaException):
                    fast(example + "\n")
    assert anchored >= 8


def test_scheme_hash_follows_the_declaration() -> None:
    assert scheme_hash() == scheme_hash()
    assert len(scheme_hash()) == 64
    declared = scheme_declaration()
    assert [q["project"] for q in declared["questions"]] == list(QUESTIONS)
    assert [lab["value"] for lab in declared["questions"][0]["labels"]] == CLAIM.names


def test_schemas_check_passes_on_the_repository() -> None:
    result = run(ROOT, "schemas", "--check")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


def test_schemas_check_fails_on_a_stale_file_and_writing_fixes_it(tmp_path: Path) -> None:
    written = run(tmp_path, "schemas")
    assert written.returncode == 0, written.stderr
    assert run(tmp_path, "schemas", "--check").returncode == 0

    stale = tmp_path / "schemas" / "annotation.schema.json"
    schema = json.loads(stale.read_text(encoding="utf-8"))
    schema["allOf"][0]["then"]["properties"]["answers"]["properties"]["claim"]["items"]["enum"] = [
        "no_claim",
        "checkworthy",
    ]
    stale.write_text(json.dumps(schema), encoding="utf-8")
    checked = run(tmp_path, "schemas", "--check")
    assert checked.returncode == 1
    assert "annotation.schema.json" in checked.stderr
    assert "python -m builder schemas" in checked.stderr
    assert "Traceback" not in checked.stderr
    # --check only reports: the stale file is left as it was.
    assert json.loads(stale.read_text(encoding="utf-8")) == schema

    assert run(tmp_path, "schemas").returncode == 0
    assert run(tmp_path, "schemas", "--check").returncode == 0


def test_schemas_check_fails_on_a_missing_file(tmp_path: Path) -> None:
    checked = run(tmp_path, "schemas", "--check")
    assert checked.returncode == 1
    assert "article.schema.json" in checked.stderr
    assert not (tmp_path / "schemas").exists()
