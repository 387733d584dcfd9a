"""Connected components of a graph of named nodes (scipy's), for stories and split groups."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def components(nodes: Iterable[str], links: Iterable[tuple[str, str]]) -> list[list[str]]:
    """The connected components of `nodes` joined by `links` (whose ends count as nodes too),
    each sorted, in the order of their smallest node: the result does not depend on input order."""
    index: dict[str, int] = {}
    for node in nodes:
        index.setdefault(node, len(index))
    starts, ends = [], []
    for a, b in links:
        starts.append(index.setdefault(a, len(index)))
        ends.append(index.setdefault(b, len(index)))
    if not starts:
        # Every node alone: the usual case when articles carry their story_id, and scipy.sparse
        # would cost a third of a second to import (a sync's whole margin over the raw import).
        return sorted([node] for node in index)
    # Imported here for the same reason.
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    size = len(index)
    graph = coo_matrix((np.ones(len(starts), dtype=np.int8), (starts, ends)), shape=(size, size))
    _, label_of = connected_components(graph, directed=False)
    members: dict[int, list[str]] = {}
    for node, label in zip(index, label_of.tolist(), strict=True):
        members.setdefault(label, []).append(node)
    return sorted(sorted(group) for group in members.values())
