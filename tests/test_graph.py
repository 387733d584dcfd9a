"""Connected components of named nodes: joined by links, each sorted, independent of order."""

from __future__ import annotations

import random
import subprocess
import sys

from builder.core.graph import components


def test_links_join_nodes_and_their_ends_count_as_nodes() -> None:
    groups = components(["c", "a", "e"], [("a", "b"), ("b", "c"), ("d", "f")])
    assert groups == [["a", "b", "c"], ["d", "f"], ["e"]]


def test_the_result_does_not_depend_on_the_input_order() -> None:
    nodes = [f"n{i}" for i in range(200)]
    links = [(f"n{i}", f"n{(i * 7) % 200}") for i in range(0, 200, 3)]
    expected = components(nodes, links)
    rng = random.Random(0)
    for _ in range(5):
        rng.shuffle(nodes)
        rng.shuffle(links)
        assert components(nodes, [(b, a) for a, b in links]) == expected


def test_no_nodes_no_components() -> None:
    assert components([], []) == []


def test_nodes_without_links_are_each_alone_and_need_no_scipy() -> None:
    # A fresh interpreter: whether scipy.sparse gets imported is the point (a third of a second
    # of every sync whose articles carry their story_id).
    script = (
        "import sys\n"
        "from builder.core.graph import components\n"
        "print(components(['b', 'a', 'b'], []), 'scipy.sparse' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("]] ") == ["[['a'], ['b'", "False\n"]
