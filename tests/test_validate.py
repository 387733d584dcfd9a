"""A Label Studio JSON export, written by hand in the server's shape, into accepted records,
rejects (task, annotator, JSON path, reason) and skipped counts that always add up."""

from __future__ import annotations

import json
from typing import Any

import pytest

from builder.core.errors import BuilderError
from builder.labels.validate import Validated, parse_export, validate_export

KNOWN = {"art-1-aaaaaaaaaaaa", "art-1-bbbbbbbbbbbb"}
_ids = iter(range(100, 10_000))


def choice(value: str | list[str], control: str = "claim") -> dict[str, Any]:
    values = [value] if isinstance(value, str) else value
    return {
        "id": "r1",
        "from_name": control,
        "to_name": "text",
        "type": "choices",
        "origin": "manual",
        "value": {"choices": values},
    }


_DEFAULT: Any = object()


def annotation(result: Any = _DEFAULT, who: Any = None, **fields: Any) -> dict[str, Any]:
    return {
        "id": next(_ids),
        "completed_by": who if who is not None else {"id": 7, "email": "ann@example.org"},
        "result": [choice("checkworthy")] if result is _DEFAULT else result,
        "was_cancelled": False,
        "ground_truth": False,
        "lead_time": 4.2,
        "created_at": "2024-06-27T10:00:00.000000Z",
        "updated_at": "2024-06-27T10:00:05.000000Z",
        **fields,
    }


def task(
    annotations: list[dict[str, Any]],
    sentence_id: str = "art-1-aaaaaaaaaaaa",
    task_id: int = 11,
    drafts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "id": task_id,
        "data": {"sentence_id": sentence_id, "text": "Five people were killed."},
        "annotations": annotations,
        "drafts": drafts or [],
        "predictions": [],
    }


def check_counts(out: Validated, export: list[dict[str, Any]]) -> None:
    """The counts against the input export: each of its annotations and drafts counted once."""
    annotations = {a["id"] for t in export for a in t.get("annotations") or []}
    drafts = sum(len(t.get("drafts") or []) for t in export)
    decided = [r["annotation_id"] for r in out.accepted + out.rejected]
    counts = out.counts
    assert counts["pulled"] == len(annotations) + drafts
    assert len(decided) == len(set(decided)) and set(decided) <= annotations
    assert counts["accepted"] == len(out.accepted)
    assert counts["rejected"] == len(out.rejected)
    assert counts["skipped"] == counts["pulled"] - len(decided)
    assert counts["skipped"] == sum(v for k, v in counts.items() if k.startswith("skipped_"))
    assert counts.get("skipped_draft", 0) == drafts


def validate(
    project: str, export: list[dict[str, Any]], known: set[str], ground_truth: bool = False
) -> Validated:
    """validate_export, its counts checked against the export it was given."""
    out = validate_export(project, export, known, ground_truth)
    check_counts(out, export)
    return out


def only_reject(out: Validated) -> dict[str, Any]:
    assert out.accepted == []
    assert len(out.rejected) == 1, out.rejected
    return out.rejected[0]


def test_an_annotation_becomes_an_accepted_record() -> None:
    ann = annotation()
    out = validate("claims", [task([ann])], KNOWN)
    assert out.rejected == [] and out.skipped == {}
    assert out.accepted == [
        {
            "project": "claims",
            "item_id": "art-1-aaaaaaaaaaaa",
            "task_id": 11,
            "annotation_id": ann["id"],
            "annotator": "ann@example.org",
            "answers": {"claim": ["checkworthy"]},
            "lead_time": 4.2,
            "created_at": "2024-06-27T10:00:00.000000Z",
            "updated_at": "2024-06-27T10:00:05.000000Z",
            "ground_truth": False,
        }
    ]
    assert out.counts == {"pulled": 1, "accepted": 1, "rejected": 0, "skipped": 0}


def test_every_label_of_the_scheme_is_accepted() -> None:
    tasks = [
        task([annotation([choice(label)])])
        for label in ("no_claim", "not_checkworthy", "checkworthy")
    ]
    out = validate("claims", tasks, KNOWN)
    assert [r["answers"]["claim"] for r in out.accepted] == [
        ["no_claim"],
        ["not_checkworthy"],
        ["checkworthy"],
    ]


def test_annotator_is_the_user_id_when_the_export_has_only_ids() -> None:
    out = validate("claims", [task([annotation(who=7)])], KNOWN)
    assert out.accepted[0]["annotator"] == "7"


def test_ground_truth_flag_is_kept() -> None:
    out = validate("claims", [task([annotation(ground_truth=True)])], KNOWN)
    assert out.accepted[0]["ground_truth"] is True


def assert_reject(reject: dict[str, Any], ann: dict[str, Any], path: str, *words: str) -> None:
    assert reject["task_id"] == 11
    assert reject["annotation_id"] == ann["id"]
    assert reject["annotator"] == "ann@example.org"
    assert reject["item_id"] == "art-1-aaaaaaaaaaaa"
    assert reject["path"] == path
    assert reject["reason"]
    for word in words:
        assert word in reject["reason"], reject["reason"]
    assert reject["record"]["annotation_id"] == ann["id"]


def test_a_label_not_in_the_scheme_is_rejected() -> None:
    ann = annotation([choice("maybe")])
    reject = only_reject(validate("claims", [task([ann])], KNOWN))
    assert_reject(reject, ann, "$.answers.claim[0]", "'maybe'", "is not one of")


def test_a_label_of_the_other_project_is_rejected() -> None:
    ann = annotation([choice("supports")])
    reject = only_reject(validate("claims", [task([ann])], KNOWN))
    assert_reject(reject, ann, "$.answers.claim[0]", "'supports'")


def test_two_choices_where_one_is_allowed_are_rejected() -> None:
    ann = annotation([choice(["checkworthy", "no_claim"])])
    reject = only_reject(validate("claims", [task([ann])], KNOWN))
    assert_reject(reject, ann, "$.answers.claim", "too long")


def test_two_result_items_for_one_control_are_rejected() -> None:
    ann = annotation([choice("checkworthy"), choice("no_claim")])
    reject = only_reject(validate("claims", [task([ann])], KNOWN))
    assert_reject(reject, ann, "$.answers.claim", "too long")


def test_no_choice_at_all_is_rejected() -> None:
    ann = annotation([choice([])])
    reject = only_reject(validate("claims", [task([ann])], KNOWN))
    assert_reject(reject, ann, "$.answers.claim", "[]")


def test_a_missing_required_answer_is_rejected() -> None:
    # The only result is for another control: the required `claim` answer is missing.
    ann = annotation([choice("checkworthy", control="stance")])
    reject = only_reject(validate("claims", [task([ann])], KNOWN))
    assert_reject(reject, ann, "$.answers", "'claim' is a required property")


def test_a_result_for_a_control_that_does_not_exist_is_rejected() -> None:
    extra = {
        "from_name": "comment",
        "to_name": "text",
        "type": "textarea",
        "value": {"text": ["looks fine"]},
    }
    ann = annotation([choice("checkworthy"), extra])
    reject = only_reject(validate("claims", [task([ann])], KNOWN))
    assert_reject(reject, ann, "$.answers", "'comment' was unexpected")


def test_an_unknown_sentence_id_is_rejected() -> None:
    ann = annotation()
    out = validate("claims", [task([ann], sentence_id="gone-123456789012")], KNOWN)
    reject = only_reject(out)
    assert reject["path"] == "$.item_id"
    assert reject["item_id"] == "gone-123456789012"
    assert "unknown sentence_id 'gone-123456789012'" in reject["reason"]
    assert reject["annotator"] == "ann@example.org" and reject["task_id"] == 11


def test_a_task_without_a_sentence_id_is_rejected() -> None:
    broken = task([annotation()])
    broken["data"] = {"text": "no id"}
    reject = only_reject(validate("claims", [broken], KNOWN))
    assert reject["path"] == "$.item_id"


def test_an_annotation_without_an_annotator_is_rejected() -> None:
    ann = annotation()
    ann["completed_by"] = None
    reject = only_reject(validate("claims", [task([ann])], KNOWN))
    assert reject["path"] == "$.annotator"


def test_every_reason_of_a_reject_is_named() -> None:
    ann = annotation([choice("maybe"), choice("x", control="other")])
    reject = only_reject(validate("claims", [task([ann])], KNOWN))
    assert "'maybe'" in reject["reason"] and "'other' was unexpected" in reject["reason"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"was_cancelled": True, "result": []}, "cancelled"),
        ({"was_cancelled": True}, "cancelled"),  # a skip that still carries a result
        ({"result": []}, "empty"),
        ({"result": None}, "empty"),
    ],
)
def test_skipped_and_empty_annotations_are_counted_not_labels(
    fields: dict[str, Any], reason: str
) -> None:
    out = validate("claims", [task([annotation(**fields)])], KNOWN)
    assert out.accepted == [] and out.rejected == []
    assert out.skipped == {reason: 1}
    assert out.counts["pulled"] == 1 and out.counts[f"skipped_{reason}"] == 1


def test_drafts_are_counted_as_skipped() -> None:
    draft = {"id": 5, "user": "ann@example.org", "result": [choice("checkworthy")]}
    out = validate("claims", [task([], drafts=[draft, dict(draft, id=6)])], KNOWN)
    assert out.accepted == [] and out.skipped == {"draft": 2}


def test_a_mixed_export_adds_up() -> None:
    tasks = [
        task([annotation(), annotation([choice("no_claim")], who=8)], task_id=11),
        task(
            [annotation([choice("maybe")]), annotation(was_cancelled=True, result=[])],
            sentence_id="art-1-bbbbbbbbbbbb",
            task_id=12,
            drafts=[{"id": 1, "result": []}],
        ),
        task([annotation()], sentence_id="unknown", task_id=13),
        task([annotation(result=[])], task_id=14),
        {"id": 15, "data": {"sentence_id": "art-1-aaaaaaaaaaaa"}},  # no annotations at all
    ]
    out = validate("claims", tasks, KNOWN)
    assert out.counts == {
        "pulled": 7,
        "accepted": 2,
        "rejected": 2,
        "skipped": 3,
        "skipped_cancelled": 1,
        "skipped_draft": 1,
        "skipped_empty": 1,
    }
    assert sorted(r["task_id"] for r in out.rejected) == [12, 13]


def test_stance_records_use_the_pair_id() -> None:
    stance_task = {
        "id": 21,
        "data": {"pair_id": "pair-1", "text": "x"},
        "annotations": [annotation([choice("contradicts", control="stance")])],
    }
    out = validate("stance", [stance_task], {"pair-1"})
    assert [(r["item_id"], r["answers"]) for r in out.accepted] == [
        ("pair-1", {"stance": ["contradicts"]})
    ]


def test_parse_export_reads_a_list_of_tasks() -> None:
    data = json.dumps([task([annotation()])]).encode()
    assert parse_export(data, "pulls/x.json")[0]["id"] == 11
    # Label Studio's export lists a task's drafts by id.
    with_drafts = json.dumps([{**task([annotation()]), "drafts": [1, 2]}]).encode()
    assert parse_export(with_drafts, "pulls/x.json")[0]["drafts"] == [1, 2]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"{not json", "not a JSON export"),
        (b"{}", "list"),
        (b"\xff\xfe", "not a JSON export"),
        (b"[1, 2]", "task [0] is not a task object"),
        (b'[{"id": 1, "annotations": {"a": 1}}]', "annotations is not a list of objects"),
        (b'[{"id": 1, "annotations": [{"result": ["x"]}]}]', "not a list of objects"),
        (b'[{"id": 1, "data": "text"}]', "its data is not an object"),
        (b'[{"id": 1, "drafts": {"a": 1}}]', "drafts is not a list"),
    ],
)
def test_parse_export_names_the_file_and_why(data: bytes, why: str) -> None:
    with pytest.raises(BuilderError) as raised:
        parse_export(data, "exports/pulls/claims-1.json")
    assert "exports/pulls/claims-1.json" in str(raised.value)
    assert why in str(raised.value)


@pytest.mark.parametrize("to_name", ["nothing", None, "before"])
def test_a_result_pointing_at_nothing_in_the_config_is_rejected_not_a_vote(
    to_name: str | None,
) -> None:
    pointing = {**choice("checkworthy"), "to_name": to_name}
    if to_name is None:
        del pointing["to_name"]
    out = validate_export("claims", [task([annotation([pointing]), annotation()])], KNOWN)
    assert len(out.accepted) == 1 and len(out.rejected) == 1
    [reject] = out.rejected
    assert reject["path"] == "$.result[0].to_name"
    assert f"to_name {to_name!r} points at nothing in the labeling config" in reject["reason"]
    assert out.counts["pulled"] == 2
