"""The import graph of ``cwmn_web``, read from the source (no module is imported).

Every ``import`` and ``from … import`` counts, wherever it stands (inside functions too),
except under ``if TYPE_CHECKING:``. Relative imports are resolved; ``from pkg import name``
is an edge to ``pkg.name`` when that is a module, else to ``pkg``. Used by ``build.py`` (what
the browser's wheel holds) and by the import-cycle test.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

PACKAGE = Path(__file__).parent
ROOT = PACKAGE.name


def module_name(path: Path) -> str:
    """``cwmn_web/client/bus.py`` → ``cwmn_web.client.bus`` (a package by its ``__init__``)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of the package, by name."""
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements under ``node``, skipping ``if TYPE_CHECKING:`` bodies."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and is_type_checking(child.test):
            for orelse in child.orelse:
                yield from _import_nodes_of(orelse)
        else:
            yield from import_nodes(child)


def _import_nodes_of(node: ast.stmt) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    else:
        yield from import_nodes(node)


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules that module ``name`` (at ``path``) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in import_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base_parts = package.split(".")
                base = ".".join(base_parts[: len(base_parts) - node.level + 1])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            targets = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source
                for alias in node.names
            ]
        for target in targets:
            # ``import a.b.c`` depends on the deepest module of the package it names.
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and target.split(".")[0] == ROOT:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    """Each module of the package → the package modules it imports."""
    found = modules()
    known = set(found)
    return {name: imported(name, path, known) for name, path in found.items()}


def needed_by(entries: Iterable[str]) -> set[str]:
    """``entries`` and every package module importing them imports, packages included."""
    graph = import_graph()
    needed: set[str] = set()
    stack = list(entries)
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        if name not in graph:
            raise KeyError(f"{name} is not a module of {ROOT}")
        needed.add(name)
        stack.extend(graph[name])
        parent = name.rpartition(".")[0]
        if parent:  # importing a.b.c runs a/__init__ and a/b/__init__ first
            stack.append(parent)
    return needed
