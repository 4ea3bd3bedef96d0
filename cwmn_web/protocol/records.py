"""The mirror stream's wire shapes (docs/MIRROR.md), typed once for the host and the viewer.

Records stay JSON lists on the wire (``[id, parentId, kind, tagOrText, attrs]``): the aliases
below name them, and the constructors are the one place each shape is written, so mypy checks
what the host's encoder (:mod:`cwmn_web.client.mirror`) and the viewer's sanitizer
(:mod:`cwmn_web.viewer.sanitize`) put in them. Frame payloads are TypedDicts; :func:`wire`
hands one on as the plain JSON object a ``MirrorFrame`` carries. No I/O here.
"""

from __future__ import annotations

from typing import Any, TypeAlias, TypedDict, cast

from .constants import NODE

__all__ = [
    "AttrChange",
    "FocusData",
    "MutationsData",
    "NodeRecord",
    "OrderEntry",
    "PointerData",
    "ScrollData",
    "SnapshotData",
    "TextChange",
    "ViewportData",
    "attr_change",
    "comment",
    "element",
    "order_entry",
    "shadow",
    "text",
    "text_change",
    "wire",
]

#: One node: ``[id, parentId, 1, tag, [name, value, …]]`` (element), ``[id, parentId, 3,
#: text]``, ``[id, parentId, 8, ""]`` (comment) or ``[id, hostId, 11, "shadow"]``.
NodeRecord: TypeAlias = list[int | str | list[str]]
#: ``[id, name, value]``; a ``None`` value removes the attribute.
AttrChange: TypeAlias = list[int | str | None]
#: ``[id, text]``: a text node's new content.
TextChange: TypeAlias = list[int | str]
#: ``[parentId, [childId, …]]``: a parent's full child order after a batch.
OrderEntry: TypeAlias = list[int | list[int]]


def element(node_id: int, parent: int, tag: str, attrs: list[str]) -> NodeRecord:
    """An element record; ``attrs`` is flat: ``[name, value, name, value, …]``."""
    return [node_id, parent, NODE.ELEMENT, tag, attrs]


def text(node_id: int, parent: int, content: str) -> NodeRecord:
    return [node_id, parent, NODE.TEXT, content]


def comment(node_id: int, parent: int) -> NodeRecord:
    """A comment: its content is never sent."""
    return [node_id, parent, NODE.COMMENT, ""]


def shadow(node_id: int, host: int, label: str = "shadow") -> NodeRecord:
    """A shadow root of element ``host``; its children follow with it as their parent."""
    return [node_id, host, NODE.SHADOW, label]


def attr_change(node_id: int, name: str, value: str | None) -> AttrChange:
    return [node_id, name, value]


def text_change(node_id: int, content: str) -> TextChange:
    return [node_id, content]


def order_entry(parent: int, children: list[int]) -> OrderEntry:
    return [parent, children]


class SnapshotData(TypedDict):
    """A ``snapshot`` frame: a new page in the viewer."""

    nodes: list[NodeRecord]
    url: str
    title: str
    viewport: list[Any]  # [w, h]
    scroll: list[Any]  # [x, y]
    adopted: list[str]  # adopted style sheets' CSS text


class MutationsData(TypedDict):
    """A ``mutations`` frame, applied in this order."""

    removes: list[int]
    adds: list[NodeRecord]
    order: list[OrderEntry]
    attrs: list[AttrChange]
    texts: list[TextChange]


class ScrollData(TypedDict):
    """A ``scroll`` frame; ``id`` 0 is the window."""

    id: int
    x: float
    y: float


class ViewportData(TypedDict):
    w: float
    h: float


class PointerData(TypedDict):
    """The host's pointer, in document coordinates."""

    x: float
    y: float


class FocusData(TypedDict):
    """The element that has focus (0: none)."""

    id: int


FrameData: TypeAlias = (
    SnapshotData | MutationsData | ScrollData | ViewportData | PointerData | FocusData
)


def wire(data: FrameData) -> dict[str, Any]:
    """``data`` as the JSON object a ``MirrorFrame`` carries (the same dict, not a copy)."""
    return cast("dict[str, Any]", data)
