"""A layered left-to-right layout of a DAG, for the pipeline run page's SVG.

Pure and small on purpose: longest-path layering (a node sits one column right of its
furthest upstream node), then a few sweeps ordering each column by the barycenter (mean row)
of each node's neighbours in the column before, which removes most edge crossings on the
pipelines people write. Nodes whose upstream names no node in the graph treat it as absent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

NODE_W = 168
NODE_H = 44
GAP_X = 64
GAP_Y = 20
MARGIN = 12
SWEEPS = 4


@dataclass(frozen=True)
class Placed:
    """A node's box: column (layer), row, and its top-left corner in pixels."""

    name: str
    layer: int
    row: int
    x: int
    y: int


@dataclass(frozen=True)
class Edge:
    """An edge from ``source`` to ``target`` as an SVG path (a horizontal cubic curve)."""

    source: str
    target: str
    path: str


@dataclass(frozen=True)
class Layout:
    nodes: dict[str, Placed]
    edges: list[Edge]
    width: int
    height: int


def layers(upstream: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Each node's layer: 0 for sources, else one more than its deepest upstream node. A
    cycle (which a pipeline cannot have) is broken where it is found rather than looping."""
    found: dict[str, int] = {}
    visiting: set[str] = set()

    def depth(name: str) -> int:
        if name in found:
            return found[name]
        if name in visiting:  # the edge closing a cycle counts as absent
            return -1
        visiting.add(name)
        ups = [u for u in upstream.get(name, ()) if u in upstream and u != name]
        level = 1 + max((depth(u) for u in ups), default=-1)
        visiting.discard(name)
        found[name] = level
        return level

    for name in upstream:
        depth(name)
    return found


def order(upstream: Mapping[str, Sequence[str]], level: Mapping[str, int]) -> list[list[str]]:
    """The nodes of each layer, top to bottom, ordered by barycenter sweeps (down and up)."""
    columns: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for name in upstream:  # the given order first: a stable start for the sweeps
        columns[level[name]].append(name)
    downstream: dict[str, list[str]] = {name: [] for name in upstream}
    for name, ups in upstream.items():
        for up in ups:
            if up in downstream:
                downstream[up].append(name)

    def sweep(index: int, neighbours: Mapping[str, Sequence[str]], ref: list[str]) -> None:
        row = {name: i for i, name in enumerate(ref)}
        current = {name: i for i, name in enumerate(columns[index])}

        def centre(name: str) -> float:
            rows = [row[n] for n in neighbours[name] if n in row]
            return sum(rows) / len(rows) if rows else float(current[name])

        columns[index].sort(key=lambda name: (centre(name), current[name]))

    for _ in range(SWEEPS):
        for index in range(1, len(columns)):
            sweep(index, upstream, columns[index - 1])
        for index in range(len(columns) - 2, -1, -1):
            sweep(index, downstream, columns[index + 1])
    return columns


def layout(upstream: Mapping[str, Sequence[str]]) -> Layout:
    """Boxes and edge paths for the DAG whose nodes map to their upstream nodes."""
    level = layers(upstream)
    columns = order(upstream, level)
    tallest = max((len(c) for c in columns), default=0)
    height = 2 * MARGIN + tallest * NODE_H + max(0, tallest - 1) * GAP_Y
    nodes: dict[str, Placed] = {}
    for index, column in enumerate(columns):
        # Centre each column vertically, so a lone node sits across from its neighbours.
        used = len(column) * NODE_H + max(0, len(column) - 1) * GAP_Y
        top = MARGIN + (height - 2 * MARGIN - used) // 2
        for row, name in enumerate(column):
            nodes[name] = Placed(name, index, row, MARGIN + index * (NODE_W + GAP_X),
                                 top + row * (NODE_H + GAP_Y))
    edges = []
    for name, ups in upstream.items():
        for up in ups:
            if up not in nodes or up == name:
                continue
            a, b = nodes[up], nodes[name]
            x1, y1 = a.x + NODE_W, a.y + NODE_H // 2
            x2, y2 = b.x, b.y + NODE_H // 2
            bend = max(GAP_X // 2, (x2 - x1) // 2)
            edges.append(Edge(up, name, f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} "
                                        f"{x2},{y2}"))
    width = 2 * MARGIN + len(columns) * NODE_W + max(0, len(columns) - 1) * GAP_X
    return Layout(nodes, edges, width, height)
