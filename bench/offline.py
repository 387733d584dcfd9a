"""A root and a saved export in; time and peak memory of pull's offline half and `dataset` out."""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def main(root: Path, export_file: Path) -> dict[str, float]:
    started = time.perf_counter()
    from builder.core.config import Settings
    from builder.dataset.build import build_dataset
    from builder.dataset.stance_rows import stance_parts
    from builder.inputs.corpus import load_corpus
    from builder.labels.records import pull_paths
    from builder.labelstudio.pull import process_pages, save_snapshot
    from builder.tasks.claims import claim_tasks

    times = {"imports": time.perf_counter() - started}
    settings = Settings.load(root)

    mark = time.perf_counter()
    corpus = load_corpus(settings)
    known = {task["sentence_id"] for task in claim_tasks(corpus)}
    times["corpus"] = time.perf_counter() - mark

    mark = time.perf_counter()
    paths = pull_paths(settings, "claims")
    snapshot = save_snapshot(paths, export_file.read_bytes())
    validated = process_pages(paths, [snapshot], lambda tasks: known, 1)
    times["validate"] = time.perf_counter() - mark

    mark = time.perf_counter()
    manifest = build_dataset(settings, corpus, stance_parts(settings))
    times["build"] = time.perf_counter() - mark

    times["total"] = time.perf_counter() - started
    # ru_maxrss is in KiB on Linux.
    times["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The floor, after the peak was read: reading the same records, nothing more.
    mark = time.perf_counter()
    json.loads(export_file.read_bytes())
    times["floor"] = time.perf_counter() - mark
    times["accepted"] = validated.counts["accepted"]
    times["rejected"] = validated.counts["rejected"]
    times["claims_rows"] = sum(manifest["counts"]["claims"][s] for s in ("train", "test"))
    return times


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), Path(sys.argv[2]))))
