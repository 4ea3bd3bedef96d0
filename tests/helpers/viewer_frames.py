"""Frames a viewer core is fed in tests: a hostile snapshot, what it sanitizes to, and
encoded mirror frames (shared by tests/unit/test_viewer_session.py and test_driver.py)."""

from __future__ import annotations

from typing import Any

from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import MirrorFrame

__all__ = ["SAFE_NODES", "SNAPSHOT", "frame"]

SNAPSHOT: dict[str, Any] = {
    "nodes": [
        [1, 0, 1, "html", []],
        [2, 1, 1, "body", ["onload", "alert(1)"]],
        [3, 2, 1, "script", []],
        [4, 3, 3, "alert(1)"],
        [5, 2, 3, "hello"],
    ],
    "url": "https://shop.example.com/",
    "title": "Shop",
    "viewport": [1000, 700],
    "scroll": [0, 0],
    "adopted": [],
}
"""A page snapshot with an event handler attribute and a script in it."""
SAFE_NODES = [[1, 0, 1, "html", []], [2, 1, 1, "body", []], [5, 2, 3, "hello"]]
""":data:`SNAPSHOT`'s nodes as the viewer shows them: no handler, no script."""


def frame(seq: int, kind: str = "mutations", **data: Any) -> str:
    """The encoded mirror frame ``seq`` (a snapshot is :data:`SNAPSHOT` unless given)."""
    if kind == "snapshot" and not data:
        data = SNAPSHOT
    return codec.encode(MirrorFrame(seq=seq, kind=kind, data=data))
