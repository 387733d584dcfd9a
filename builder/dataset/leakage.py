"""Train and test rows into a leakage audit: exact and near-duplicate sentences, similar stories."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Near duplicates: MinHash (datasketch's "affine32" scheme) over word bigrams, LSH at this
# Jaccard threshold. One changed word in a 15-word sentence keeps 12 of 16 bigrams (0.75).
NUM_PERM = 64
MINHASH_SEED = 1
NEAR_THRESHOLD = 0.7
# A test story whose TF-IDF cosine to a train story reaches this is counted as similar.
STORY_THRESHOLD = 0.5
# How many of the most similar (test story, train story) pairs the file and manifest list.
TOP_STORY_PAIRS = 20
MAX_IDS_LISTED = 10
_HASH_FEATURES = 1 << 24
_CHUNK_ROWS = 4096

# Runs of anything but letters and digits (punctuation, symbols, white space): one pass.
_NOT_WORD = re.compile(r"[\W_]+")


def normalise(text: str) -> str:
    """Case folded, punctuation dropped, runs of white space made one space."""
    return _NOT_WORD.sub(" ", text.casefold()).strip()


@dataclass
class Audit:
    summary: dict[str, Any]
    findings: list[dict[str, Any]] = field(default_factory=list)  # the lines of leakage.jsonl


def _fmix32(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, as datasketch applies it before its permutations."""
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


def shingle_hashes(texts: Sequence[str]) -> Any:
    """A sparse row per normalised text whose column indices are the hashes of its word bigrams."""
    from sklearn.feature_extraction.text import HashingVectorizer

    vectorizer = HashingVectorizer(
        lowercase=False,  # normalised already
        token_pattern=r"(?u)\b\w+\b",
        ngram_range=(2, 2),
        n_features=_HASH_FEATURES,
        binary=True,
        norm=None,
        alternate_sign=False,
        dtype=np.float32,
    )
    matrix = vectorizer.transform(texts)
    matrix.sort_indices()
    return matrix


def signatures(matrix: Any) -> np.ndarray:
    """One MinHash signature per row, equal to datasketch's MinHash of the row's hashes.

    datasketch builds one MinHash object per set, which costs ~100 µs of Python each; the same
    permutations applied to every row at once in numpy cost a fraction of that. A test holds
    the two equal.
    """
    from datasketch import MinHash

    a, b = MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED, scheme="affine32").permutations
    n_rows = matrix.shape[0]
    result = np.full((n_rows, NUM_PERM), np.iinfo(np.uint32).max, dtype=np.uint32)
    lengths = np.diff(matrix.indptr)
    for start in range(0, n_rows, _CHUNK_ROWS):
        end = min(start + _CHUNK_ROWS, n_rows)
        low, high = matrix.indptr[start], matrix.indptr[end]
        if high == low:
            continue
        hashed = _fmix32(matrix.indices[low:high].astype(np.uint32)).reshape(-1, 1)
        permuted = hashed * a + b  # uint32 arithmetic wraps: mod 2^32, as datasketch's
        rows = np.flatnonzero(lengths[start:end]) + start
        offsets = matrix.indptr[rows] - low
        result[rows] = np.minimum.reduceat(permuted, offsets, axis=0)
    return result


def _lean(signature: np.ndarray) -> Any:
    from datasketch import LeanMinHash

    return LeanMinHash(seed=MINHASH_SEED, hashvalues=signature, scheme="affine32")


def _ids(ids: list[str]) -> dict[str, Any]:
    ids = sorted(ids)
    return {"train_ids": ids[:MAX_IDS_LISTED], "train_count": len(ids)}


def _by_text(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Rows by their normalised text (empty texts left out), each list sorted by sentence id."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        key = normalise(row["text"])
        if key:
            grouped.setdefault(key, []).append(row)
    for members in grouped.values():
        members.sort(key=lambda row: row["sentence_id"])
    return grouped


def _exact(
    train: dict[str, list[Mapping[str, Any]]], test: dict[str, list[Mapping[str, Any]]]
) -> list[dict]:
    findings = []
    for key, rows in test.items():
        if key in train:
            matches = [row["sentence_id"] for row in train[key]]
            for row in rows:
                findings.append(
                    {"kind": "exact", "test_id": row["sentence_id"], "text": row["text"]}
                    | _ids(matches)
                )
    return findings


def _near(
    train: dict[str, list[Mapping[str, Any]]], test: dict[str, list[Mapping[str, Any]]]
) -> list[dict]:
    """Test sentences (not exact duplicates) with a train sentence of Jaccard ≥ NEAR_THRESHOLD.

    Works on distinct normalised texts: a text repeated a thousand times is hashed, indexed and
    compared once.
    """
    from datasketch import MinHashLSH

    train_keys = sorted(train)
    test_keys = sorted(k for k in test if k not in train)
    if not train_keys or not test_keys:
        return []
    matrix = shingle_hashes(train_keys + test_keys)
    has_shingles = np.diff(matrix.indptr) > 0
    sigs = signatures(matrix)
    n_train = len(train_keys)
    # Index the smaller side and query with the larger.
    index_test = len(test_keys) <= n_train
    indexed = range(n_train, len(sigs)) if index_test else range(n_train)
    queried = range(n_train) if index_test else range(n_train, len(sigs))
    lsh = MinHashLSH(threshold=NEAR_THRESHOLD, num_perm=NUM_PERM)
    with lsh.insertion_session() as session:
        for i in indexed:
            if has_shingles[i]:
                session.insert(i, _lean(sigs[i]), check_duplication=False)
    matches: dict[int, list[tuple[float, int]]] = {}  # test text -> (similarity, train text)
    for i in queried:
        if not has_shingles[i]:
            continue
        candidates = np.fromiter(lsh.query(_lean(sigs[i])), dtype=np.int64)
        if not candidates.size:
            continue
        # The LSH gives candidates; the signatures' agreement estimates their Jaccard.
        similarity = (sigs[candidates] == sigs[i]).mean(axis=1)
        for j, value in zip(
            candidates[similarity >= NEAR_THRESHOLD].tolist(),
            similarity[similarity >= NEAR_THRESHOLD].tolist(),
            strict=True,
        ):
            test_text, train_text = (j, i) if index_test else (i, j)
            matches.setdefault(test_text, []).append((value, train_text))
    findings = []
    for test_text, found in matches.items():
        best_similarity, best = max(found, key=lambda m: (m[0], -m[1]))
        best_row = train[train_keys[best]][0]
        train_ids = [row["sentence_id"] for _, j in found for row in train[train_keys[j]]]
        for row in test[test_keys[test_text - n_train]]:
            findings.append(
                {
                    "kind": "near",
                    "test_id": row["sentence_id"],
                    "text": row["text"],
                    "train_id": best_row["sentence_id"],
                    "train_text": best_row["text"],
                    "similarity": round(best_similarity, 4),
                }
                | _ids(train_ids)
            )
    return findings


def _similar_stories(
    train: Sequence[Mapping[str, Any]], test: Sequence[Mapping[str, Any]]
) -> list[dict]:
    """Each test story with the train story closest to it (TF-IDF cosine of their sentences)."""
    docs: dict[tuple[str, str], list[str]] = {}
    for split, rows in (("train", train), ("test", test)):
        for row in rows:
            docs.setdefault((split, row["story_id"]), []).append(row["text"])
    keys = sorted(docs)
    train_keys = [k for k in keys if k[0] == "train"]
    test_keys = [k for k in keys if k[0] == "test"]
    if not train_keys or not test_keys:
        return []
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(sublinear_tf=True, stop_words="english", dtype=np.float32)
    try:
        matrix = vectorizer.fit_transform(" ".join(docs[k]) for k in train_keys + test_keys)
    except ValueError:  # nothing but stop words: no vocabulary, nothing similar
        return []
    train_matrix = matrix[: len(train_keys)].T.tocsc()
    test_matrix = matrix[len(train_keys) :]
    findings = []
    # Sparse products, a block of test stories at a time: never an n x n dense matrix.
    for start in range(0, len(test_keys), 256):
        block = (test_matrix[start : start + 256] @ train_matrix).tocsr()
        for offset in range(block.shape[0]):
            low, high = block.indptr[offset], block.indptr[offset + 1]
            if high == low:
                continue
            values, columns = block.data[low:high], block.indices[low:high]
            best = int(np.lexsort((columns, -values))[0])
            findings.append(
                {
                    "kind": "similar_story",
                    "test_story": test_keys[start + offset][1],
                    "train_story": train_keys[int(columns[best])][1],
                    "similarity": round(float(values[best]), 4),
                }
            )
    return findings


def audit(rows_by_split: Mapping[str, Sequence[Mapping[str, Any]]]) -> Audit:
    """Test rows against train rows (each with sentence_id, text and story_id)."""
    train, test = rows_by_split["train"], rows_by_split["test"]
    train_by_text, test_by_text = _by_text(train), _by_text(test)
    exact = _exact(train_by_text, test_by_text)
    near = _near(train_by_text, test_by_text)
    stories = _similar_stories(train, test)
    stories.sort(key=lambda f: (-f["similarity"], f["test_story"], f["train_story"]))
    similar = [f for f in stories if f["similarity"] >= STORY_THRESHOLD]
    listed = stories[: max(TOP_STORY_PAIRS, len(similar))]
    by_test_id = lambda f: f["test_id"]  # noqa: E731
    findings = sorted(exact, key=by_test_id) + sorted(near, key=by_test_id) + listed
    summary = {
        "file": "leakage.jsonl",
        "test_sentences": len(test),
        "exact_duplicates": len(exact),
        "near_duplicates": len(near),
        "test_stories": len({row["story_id"] for row in test}),
        "similar_stories": len(similar),
        "top_story_pairs": [
            {k: f[k] for k in ("test_story", "train_story", "similarity")} for f in stories[:5]
        ],
        "method": {
            "exact": "sentences equal after case folding and dropping punctuation and extra spaces",
            "near": f"MinHash LSH (datasketch, {NUM_PERM} permutations, seed {MINHASH_SEED}) "
            f"over word bigrams; estimated Jaccard ≥ {NEAR_THRESHOLD}; exact duplicates excluded",
            "stories": f"TF-IDF cosine of a test story's sentences to each train story's; "
            f"similar at ≥ {STORY_THRESHOLD}",
        },
    }
    return Audit(summary, findings)
