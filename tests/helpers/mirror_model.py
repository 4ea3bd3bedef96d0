"""A model of the viewer's builder (static/viewer/mirror.js) in Python: applies mirror frames
to a small DOM as the browser would, refusals included (a child under a text, a node into
itself, a second root element), so property tests can look at the page a guest would get.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cwmn_web.protocol.constants import NODE, PSEUDO_PREFIX, Pseudo

__all__ = ["Document", "MirrorModel", "Node"]

ELEMENT, TEXT, COMMENT, SHADOW = NODE.ELEMENT, NODE.TEXT, NODE.COMMENT, NODE.SHADOW
DOCUMENT = 9


@dataclass(eq=False)
class Node:
    """One node: an element (``tag``, ``attrs``), a text (``data``), a comment, a shadow
    root or the document."""

    kind: int
    tag: str = ""
    data: str = ""
    attrs: dict[str, str] = field(default_factory=dict)
    props: dict[str, str] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)
    parent: Node | None = None
    shadow: Node | None = None

    def walk(self) -> Iterator[Node]:
        """This node and everything under it, shadow roots included, in tree order."""
        yield self
        if self.shadow is not None:
            yield from self.shadow.walk()
        for child in self.children:
            yield from child.walk()

    def text(self) -> str:
        """The node's child text content (what a <style> holds as CSS)."""
        return "".join(c.data for c in self.children if c.kind == TEXT)

    def describe(self) -> Any:
        """A comparable picture of the subtree."""
        if self.kind == TEXT:
            return self.data
        if self.kind == COMMENT:
            return "#comment"
        shadow = self.shadow.describe() if self.shadow is not None else None
        kids = [c.describe() for c in self.children]
        return [self.tag, sorted(self.attrs.items()), sorted(self.props.items()), kids, shadow]


Document = Node


class MirrorModel:
    """mirror.js's ``Mirror`` over :class:`Node`: ``apply(kind, data)`` for sanitized frames."""

    def __init__(self) -> None:
        self.doc = Node(DOCUMENT)
        self.nodes: dict[int, Node] = {}

    def apply(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "snapshot":
            self.snapshot(data)
        elif kind == "mutations":
            self.mutations(data)

    def snapshot(self, data: dict[str, Any]) -> None:
        after: list[Callable[[], None]] = []
        self.nodes.clear()
        self.doc = Node(DOCUMENT)
        for record in data.get("nodes", []):
            self.add(record, after)
        for action in after:
            action()

    def mutations(self, data: dict[str, Any]) -> None:
        after: list[Callable[[], None]] = []
        for node_id in data.get("removes", []):
            node = self.nodes.get(node_id)
            if node is not None:
                self.forget(node, detach=True)
        for record in data.get("adds", []):
            self.add(record, after)
        for parent_id, children in data.get("order", []):
            self.reorder(parent_id, children)
        for node_id, name, value in data.get("attrs", []):
            el = self.nodes.get(node_id)
            if el is not None and el.kind == ELEMENT:
                self.attr(el, name, value, after)
        for node_id, text in data.get("texts", []):
            node = self.nodes.get(node_id)
            if node is not None and node.kind == TEXT:
                node.data = text
        for action in after:
            action()

    # -- what the DOM allows ---------------------------------------------------------------
    def _insert(self, parent: Node, node: Node, before: Node | None) -> bool:
        """``parent.insertBefore(node, before)``; False where the DOM throws."""
        if parent.kind in (TEXT, COMMENT) or node.kind in (DOCUMENT, SHADOW):
            return False
        ancestor: Node | None = parent
        while ancestor is not None:
            if ancestor is node:
                return False  # into itself or its own subtree
            ancestor = ancestor.parent  # a shadow root's is its host
        if parent.kind == DOCUMENT:
            others = [c for c in parent.children if c is not node]
            if node.kind == TEXT or (
                node.kind == ELEMENT and any(c.kind == ELEMENT for c in others)
            ):
                return False
        if before is node:
            before = self._next(node)  # insertBefore(node, node): before its next sibling
        if before is not None and before.parent is not parent:
            return False
        self._detach(node)
        index = parent.children.index(before) if before is not None else len(parent.children)
        parent.children.insert(index, node)
        node.parent = parent
        return True

    @staticmethod
    def _detach(node: Node) -> None:
        if node.parent is not None and node in node.parent.children:
            node.parent.children.remove(node)
        if node.kind != SHADOW:
            node.parent = None

    # -- Mirror's methods --------------------------------------------------------------------
    def add(self, record: list[Any], after: list[Callable[[], None]]) -> None:
        node_id, parent_id, kind = record[0], record[1], record[2]
        parent = self.doc if parent_id == 0 else self.nodes.get(parent_id)
        if parent is None:
            return
        old = self.nodes.get(node_id)
        if old is not None:
            self.forget(old, detach=True)
        node: Node | None = None
        if kind == ELEMENT:
            node = Node(ELEMENT, tag=record[3])
            attrs = record[4] if len(record) > 4 else []
            for name, value in zip(attrs[::2], attrs[1::2], strict=True):
                self.attr(node, name, value, after)
        elif kind == TEXT:
            node = Node(TEXT, data=str(record[3]))
        elif kind == COMMENT:
            node = Node(COMMENT)
        elif kind == SHADOW and parent.kind == ELEMENT:
            if parent.shadow is None:
                parent.shadow = Node(SHADOW, parent=parent)
            node = parent.shadow
        if node is None:
            return
        self.nodes[node_id] = node
        if kind != SHADOW:
            self._insert(parent, node, None)

    def attr(self, el: Node, name: str, value: str | None, after: list[Callable[[], None]]) -> None:
        if name.startswith(PSEUDO_PREFIX):
            if value is None:
                return
            if name == Pseudo.CSS:
                css = value

                def fill() -> None:
                    for child in list(el.children):
                        self.forget(child, detach=False)
                    el.children = [Node(TEXT, data=css, parent=el)]

                after.append(fill)
            elif name in (Pseudo.VALUE, Pseudo.CHECKED, Pseudo.CANVAS, Pseudo.MEDIA, Pseudo.BLOCK):
                el.props[name] = value
            return
        if value is None:
            el.attrs.pop(name, None)
        else:
            el.attrs[name] = value

    def reorder(self, parent_id: int, children: list[int]) -> None:
        parent = self.doc if parent_id == 0 else self.nodes.get(parent_id)
        if parent is None:
            return
        following: Node | None = None
        for child_id in reversed(children):
            node = self.nodes.get(child_id)
            if node is None or node.kind == SHADOW:
                continue
            moves = node.parent is not parent or self._next(node) is not following
            if moves and not self._insert(parent, node, following):
                continue
            following = node

    @staticmethod
    def _next(node: Node) -> Node | None:
        siblings = node.parent.children if node.parent is not None else []
        index = siblings.index(node) + 1 if node in siblings else len(siblings)
        return siblings[index] if index < len(siblings) else None

    def forget(self, node: Node, detach: bool) -> None:
        for n in node.walk():
            for key, value in list(self.nodes.items()):
                if value is n:
                    del self.nodes[key]
        if detach and node.kind != SHADOW:
            self._detach(node)
