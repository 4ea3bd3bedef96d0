"""No import cycles inside ``cwmn_web``: the import graph (``cwmn_web.import_graph``, read
from the source) is acyclic."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

import build
from cwmn_web.import_graph import import_graph, import_nodes, needed_by

ROOT_DIR = Path(__file__).resolve().parents[2]

#: Known cycles, being removed (none now).
KNOWN_CYCLES: list[set[str]] = []


def components(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(set(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """A shortest cycle of each component of more than one module."""
    return [shortest_cycle(graph, component) for component in components(graph)]


def shortest_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle through the first module of ``component``, as a path back to it."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & component):
                if target == start:
                    return [*paths[node], start]
                if target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle in component {sorted(component)}")


def test_the_graph_is_read_from_the_source() -> None:
    graph = import_graph()
    assert "cwmn_web.errors" in graph["cwmn_web.client.controller"]
    assert "cwmn_web.protocol.messages" in graph["cwmn_web.protocol.codec"]


def test_cycles_are_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_what_an_entry_needs_is_its_imports_and_their_packages() -> None:
    needed = needed_by(["cwmn_web.browser.worker"])
    assert {"cwmn_web", "cwmn_web.browser", "cwmn_web.client.controller"} <= needed
    assert "cwmn_web.errors" in needed  # imported by an imported module
    assert not any(name.startswith("cwmn_web.server") for name in needed)
    with pytest.raises(KeyError, match=r"cwmn_web\.no_such_module"):
        needed_by(["cwmn_web.no_such_module"])


def test_type_checking_imports_do_not_count() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import cwmn_web.errors\n"
        "def f():\n    import cwmn_web.timing\n"
    )
    names = {alias.name for node in import_nodes(tree) for alias in node.names}
    assert names == {"TYPE_CHECKING", "cwmn_web.timing"}


def test_no_import_cycles() -> None:
    graph = import_graph()
    found = [c for c in components(graph) if c not in KNOWN_CYCLES]
    assert not found, "import cycles in cwmn_web:\n" + "\n".join(
        " -> ".join(shortest_cycle(graph, c)) + f"  (modules in the cycle: {len(c)})" for c in found
    )


def test_the_wheel_holds_what_the_browser_starts_and_no_test_helper() -> None:
    """Every module the browser starts (worker.mjs's entries, the PyScript mode's page
    module) is an entry of the wheel; test helpers are not in it (each would be memory in
    the snapshot every visitor restores)."""
    worker = (ROOT_DIR / "static" / "worker.mjs").read_text()
    entries = json.loads(
        re.sub(
            r"(\w+):", r'"\1":', worker.split("const ENTRIES = ", 1)[1].split(";", 1)[0]
        ).replace("'", '"')
    )
    demo = (ROOT_DIR / "static" / "pyscript_demo.py").read_text()
    started = {*entries.values(), *re.findall(r"from (cwmn_web\.[\w.]+) import", demo)}
    assert started == set(build.BROWSER_ENTRIES)
    wheel = needed_by(build.BROWSER_ENTRIES)
    assert not {"cwmn_web.local_http", "cwmn_web.system_browsers", "cwmn_web.import_graph"} & wheel
    assert not any(name.startswith(("cwmn_web.server", "cwmn_web.testing")) for name in wheel)
