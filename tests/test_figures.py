"""The card's PNG pictures: valid files, also with nothing to draw, and the same bytes twice."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from builder.dataset.figures import annotator_confusion, label_distribution

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

COUNTS: dict[str, dict[str, Any]] = {
    "claims": {
        "train": 6,
        "test": 2,
        "labels": {
            "train": {"no_claim": 3, "checkworthy": 3},
            "test": {"not_checkworthy": 1, "checkworthy": 1},
        },
    },
    "stance": {
        "train": 3,
        "test": 1,
        "labels": {"train": {"supports": 2, "unrelated": 1}, "test": {"contradicts": 1}},
    },
    "annotations": {"train": 12, "test": 4},
}

CONFUSIONS = {
    "claims": {
        "labels": ["no_claim", "not_checkworthy", "checkworthy"],
        "matrix": [[2, 1, 0], [1, 0, 3], [0, 3, 6]],
    },
    "stance": {
        "labels": ["supports", "contradicts", "discusses", "unrelated"],
        "matrix": [[2, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 2]],
    },
}


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """Every (type, payload) of a PNG file, with each chunk's CRC checked."""
    assert data[:8] == PNG_MAGIC
    out, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, payload = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert zlib.crc32(kind + payload) == crc
        out.append((kind, payload))
        at += 12 + length
    return out


def check_png(path: Path) -> tuple[int, int]:
    parts = chunks(path.read_bytes())
    assert parts[0][0] == b"IHDR" and parts[-1][0] == b"IEND"
    assert any(kind == b"IDAT" for kind, _ in parts)
    # No text chunk (software version) or time chunk that would change the bytes.
    assert not {kind for kind, _ in parts} & {b"tEXt", b"iTXt", b"zTXt", b"tIME"}
    width, height = struct.unpack(">II", parts[0][1][:8])
    return width, height


def test_label_distribution_is_a_png_with_a_panel_per_config(tmp_path: Path) -> None:
    label_distribution(tmp_path / "both.png", COUNTS)
    label_distribution(tmp_path / "claims.png", {"claims": COUNTS["claims"]})
    both, claims = check_png(tmp_path / "both.png"), check_png(tmp_path / "claims.png")
    assert both[0] == 2 * claims[0]  # 5 inches a panel at 100 dpi
    assert claims == (500, 320)


def test_annotator_confusion_is_a_png(tmp_path: Path) -> None:
    annotator_confusion(tmp_path / "both.png", CONFUSIONS)
    annotator_confusion(tmp_path / "claims.png", {"claims": CONFUSIONS["claims"]})
    assert check_png(tmp_path / "both.png")[0] == 2 * check_png(tmp_path / "claims.png")[0]


@pytest.mark.parametrize(
    "counts",
    [{}, {"annotations": {"train": 0, "test": 0}}, {"claims": {"train": 0, "test": 0}}],
)
def test_label_distribution_without_rows(tmp_path: Path, counts: dict[str, Any]) -> None:
    label_distribution(tmp_path / "empty.png", counts)
    assert check_png(tmp_path / "empty.png") == (500, 320)


def test_label_distribution_with_empty_splits(tmp_path: Path) -> None:
    counts = {"claims": {"train": 0, "test": 0, "labels": {"train": {}, "test": {}}}}
    label_distribution(tmp_path / "zero.png", counts)
    check_png(tmp_path / "zero.png")


def test_annotator_confusion_without_annotations(tmp_path: Path) -> None:
    annotator_confusion(tmp_path / "none.png", {})
    annotator_confusion(tmp_path / "zeros.png", {"claims": {"labels": [], "matrix": []}})
    assert check_png(tmp_path / "none.png") == check_png(tmp_path / "zeros.png") == (460, 400)


def test_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        label_distribution(tmp_path / run / "labels.png", COUNTS)
        annotator_confusion(tmp_path / run / "confusion.png", CONFUSIONS)
        label_distribution(tmp_path / run / "empty.png", {})
    for name in ("labels.png", "confusion.png", "empty.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    # and different inputs give different pictures
    assert (tmp_path / "a/labels.png").read_bytes() != (tmp_path / "a/empty.png").read_bytes()


def test_same_bytes_in_another_process(tmp_path: Path) -> None:
    """A later build runs in a new process, with another hash seed: the bytes must not move."""
    import json
    import os
    import subprocess
    import sys

    label_distribution(tmp_path / "here.png", COUNTS)
    annotator_confusion(tmp_path / "here-confusion.png", CONFUSIONS)
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from builder.dataset.figures import annotator_confusion, label_distribution\n"
        "counts, confusions, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]\n"
        "label_distribution(Path(out) / 'there.png', counts)\n"
        "annotator_confusion(Path(out) / 'there-confusion.png', confusions)\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run(
        [sys.executable, "-c", code, json.dumps(COUNTS), json.dumps(CONFUSIONS), str(tmp_path)],
        check=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert (tmp_path / "here.png").read_bytes() == (tmp_path / "there.png").read_bytes()
    assert (tmp_path / "here-confusion.png").read_bytes() == (
        tmp_path / "there-confusion.png"
    ).read_bytes()
