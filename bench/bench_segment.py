"""Sentence splitters in, a table out: golden-rule exact counts and MB/s on generated news."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import news_corpus  # noqa: E402

GOLDEN_DIR = Path(__file__).resolve().parents[2] / "shared" / "segmentation-golden"
LANGUAGES = ("en", "nl", "it", "de", "fr", "es")
SLOW_SAMPLE_MB = 1.0

Split = Callable[[str, str], list[str]]


def _ours() -> Split:
    from builder.inputs.segment import split_sentences

    return split_sentences


def _pysbd() -> Split:
    import pysbd

    segmenters: dict[str, pysbd.Segmenter] = {}

    def split(text: str, language: str) -> list[str]:
        if language not in segmenters:
            segmenters[language] = pysbd.Segmenter(language=language, clean=False)
        return segmenters[language].segment(text)

    return split


def _sentencex() -> Split:
    import sentencex

    return lambda text, language: list(sentencex.segment(language, text))


def _syntok() -> Split:
    from syntok import segmenter

    def split(text: str, language: str) -> list[str]:
        return [
            "".join(token.spacing + token.value for token in sentence)
            for paragraph in segmenter.process(text)
            for sentence in paragraph
        ]

    return split


def _blingfire() -> Split:
    import blingfire

    return lambda text, language: blingfire.text_to_sentences(text).split("\n")


# name, distribution, factory, languages it is meant for, whether to time it on a small slice
SPLITTERS: tuple[tuple[str, str, Callable[[], Split], tuple[str, ...], bool], ...] = (
    ("ours (builder.inputs.segment)", "factcheck-builder", _ours, LANGUAGES, False),
    ("pysbd", "pysbd", _pysbd, LANGUAGES, True),
    ("sentencex", "sentencex", _sentencex, LANGUAGES, False),
    ("syntok", "syntok", _syntok, ("en", "de", "es"), True),  # designed for these three only
    ("blingfire", "blingfire", _blingfire, ("en",), False),  # no language option
)


def load_golden(language: str) -> list[dict]:
    return json.loads((GOLDEN_DIR / f"golden_{language}.json").read_text(encoding="utf-8"))


def golden_exact(split: Split, language: str) -> int:
    """Cases whose stripped, non-empty segments equal the expected sentences."""
    exact = 0
    for case in load_golden(language):
        segments = [segment.strip() for segment in split(case["text"], language)]
        exact += [segment for segment in segments if segment] == case["sentences"]
    return exact


def _leading_paragraphs(paragraphs: list[str], size_mb: float) -> list[str]:
    taken: list[str] = []
    total = 0
    for paragraph in paragraphs:
        total += len(paragraph.encode("utf-8"))
        if total > size_mb * 1e6:
            break
        taken.append(paragraph)
    return taken


def mb_per_second(split: Split, paragraphs: list[str], runs: int) -> float:
    """Median throughput over `runs`, one call per paragraph, as callers use it."""
    size_mb = sum(len(paragraph.encode("utf-8")) for paragraph in paragraphs) / 1e6
    seconds = []
    for _ in range(runs):
        began = time.perf_counter()
        for paragraph in paragraphs:
            split(paragraph, "en")
        seconds.append(time.perf_counter() - began)
    return size_mb / statistics.median(seconds)


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:  # e.g. this project run from a checkout, not installed
        return "-"


def _one_core() -> set[int] | None:
    """Pin this process to one CPU (where the OS allows); returns the previous set to restore."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(previous)})
    return previous


def run(corpus_mb: float = 20.0) -> list[dict]:
    """One row per splitter: version, golden exact counts per language, MB/s and what was timed."""
    paragraphs = news_corpus(int(corpus_mb * 1e6)).split("\n\n")
    slow_sample = _leading_paragraphs(paragraphs, min(SLOW_SAMPLE_MB, corpus_mb))
    previous_cpus = _one_core()
    rows = []
    try:
        for name, distribution, factory, languages, slow in SPLITTERS:
            row: dict = {"splitter": name, "version": None, "golden": {}, "cases": {}}
            try:
                split = factory()
            except ImportError as error:
                row.update(mb_per_s=None, timed_mb=0.0, runs=0, note=f"not installed ({error})")
                rows.append(row)
                continue
            row["version"] = _version(distribution)
            # The golden rules live in ../shared/ beside the repository; without them, speed only.
            for language in languages if GOLDEN_DIR.is_dir() else ():
                row["golden"][language] = golden_exact(split, language)
                row["cases"][language] = len(load_golden(language))
            sample = slow_sample if slow else paragraphs
            runs = 1 if slow else 3
            row["mb_per_s"] = mb_per_second(split, sample, runs)
            row["timed_mb"] = sum(len(paragraph.encode("utf-8")) for paragraph in sample) / 1e6
            row["runs"] = runs
            row["note"] = "slow: timed on the first 1 MB" if slow else ""
            rows.append(row)
    finally:
        if previous_cpus is not None:
            os.sched_setaffinity(0, previous_cpus)
    return rows


def _table_line(row: dict) -> list[str]:
    golden = [
        f"{row['golden'][language]}/{row['cases'][language]}" if language in row["golden"] else "-"
        for language in LANGUAGES
    ]
    if row["mb_per_s"] is None:
        return [row["splitter"], "-", *golden, "-", row["note"]]
    timed = f"{row['timed_mb']:.1f} MB, " + (
        f"median of {row['runs']}" if row["runs"] > 1 else "1 run"
    )
    if row["note"]:
        timed += f" ({row['note']})"
    return [row["splitter"], row["version"], *golden, f"{row['mb_per_s']:.2f}", timed]


def main() -> None:
    corpus_mb = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    pinned = "timing pinned to one" if hasattr(os, "sched_setaffinity") else "timing not pinned"
    print(
        f"cores: {os.cpu_count()} ({pinned}), Python {platform.python_version()}, "
        f"corpus: bench.corpus.news_corpus({corpus_mb:g} MB, seed 0), one call per paragraph, "
        "MB = 10^6 UTF-8 bytes"
    )
    header = ["splitter", "version", *LANGUAGES, "MB/s", "timed on"]
    table = [header] + [_table_line(row) for row in run(corpus_mb)]
    widths = [max(len(line[column]) for line in table) for column in range(len(header))]
    for index, line in enumerate(table):
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=True)]
        print(" | ".join(cells).rstrip())
        if index == 0:
            print("-+-".join("-" * width for width in widths))
    print("golden: exact cases / cases (pySBD's Golden Rules); '-': not meant for that language")
    if not GOLDEN_DIR.is_dir():
        print(f"golden rules not found at {GOLDEN_DIR}: golden columns left empty")


if __name__ == "__main__":
    main()
