"""Raw capture records → wire records: masking placeholders filled, URLs made absolute.

The page's capture code (static/capture.mjs) never reads private content; it sends the
length of a masked text or value. This module decides what goes on the wire in its place,
and resolves relative URLs against the page's base URL so guests load the same resources.
Formats: docs/MIRROR.md. No I/O here.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin

from ..errors import ProtocolError
from ..protocol import records
from ..protocol.constants import NODE, URL_ATTRS, Pseudo
from ..protocol.records import AttrChange, MutationsData, NodeRecord, SnapshotData, TextChange

__all__ = ["MASK_CHAR", "MirrorEncoder", "mask"]

MASK_CHAR = "*"
MAX_MASK = 64
SRCSET_ATTRS = frozenset({"srcset", "imagesrcset"})
_CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""", re.IGNORECASE)
_SKIP_SCHEMES = ("data:", "blob:", "javascript:", "about:", "#", "mailto:", "tel:")


def mask(length: int) -> str:
    """What a masked text or value of ``length`` characters becomes on the wire."""
    return MASK_CHAR * max(0, min(int(length), MAX_MASK))


class MirrorEncoder:
    """Encodes the raw frames of one page; ``base`` is the page's base URL."""

    def __init__(self, base: str = "") -> None:
        self.base = base
        #: Base URLs inside same-origin frames: node id → its frame document's base.
        self.frame_bases: dict[int, str] = {}

    # -- frames -------------------------------------------------------------------------
    def frame(self, kind: str, raw: dict[str, Any]) -> dict[str, Any]:
        """The wire data of one raw frame of ``kind``."""
        if kind == "snapshot":
            return records.wire(self.snapshot(raw))
        if kind == "mutations":
            return records.wire(self.mutations(raw))
        if kind in ("scroll", "viewport", "pointer", "focus"):
            return {k: v for k, v in raw.items() if isinstance(v, int | float)}
        raise ProtocolError(f"unknown capture frame kind {kind!r}")

    def snapshot(self, raw: dict[str, Any]) -> SnapshotData:
        self.base = str(raw.get("base") or raw.get("url") or self.base)
        self.frame_bases = {}
        return {
            "nodes": [self.record(r) for r in raw.get("nodes", [])],
            "url": str(raw.get("url", "")),
            "title": str(raw.get("title", "")),
            "viewport": list(raw.get("viewport", [0, 0])),
            "scroll": list(raw.get("scroll", [0, 0])),
            "adopted": [self.css(str(c)) for c in raw.get("adopted", [])],
        }

    def mutations(self, raw: dict[str, Any]) -> MutationsData:
        return {
            "removes": [int(i) for i in raw.get("removes", [])],
            "adds": [self.record(r) for r in raw.get("adds", [])],
            "order": [
                records.order_entry(int(p), [int(c) for c in kids])
                for p, kids in raw.get("order", [])
            ],
            "attrs": [self.attr_change(a) for a in raw.get("attrs", [])],
            "texts": [self.text_change(t) for t in raw.get("texts", [])],
        }

    # -- records ------------------------------------------------------------------------
    def record(self, raw: list[Any]) -> NodeRecord:
        """One node record; masked text (``[id, parent, 3, None, length]``) becomes stars.

        A frame's shadow root (``[id, host, 11, "shadow", base]``) sets the base URL of the
        nodes below it; the base itself stays in the host's browser.
        """
        node_id, parent, kind = int(raw[0]), int(raw[1]), int(raw[2])
        base = self.frame_bases.get(parent)
        if kind == NODE.SHADOW and len(raw) > 4 and raw[4]:
            base = str(raw[4])
        if base is not None:
            self.frame_bases[node_id] = base
        if kind == NODE.ELEMENT:
            return records.element(node_id, parent, str(raw[3]), self.attrs(raw[3], raw[4], base))
        if kind == NODE.TEXT:
            text = mask(raw[4]) if raw[3] is None else str(raw[3])
            return records.text(node_id, parent, text)
        if kind == NODE.COMMENT:
            return records.comment(node_id, parent)
        if kind == NODE.SHADOW:
            return records.shadow(node_id, parent, str(raw[3]))
        raise ProtocolError(f"unknown node kind {kind} in a capture record")

    def attrs(self, tag: str, flat: list[Any], base: str | None = None) -> list[str]:
        out: list[str] = []
        for i in range(0, len(flat) - 1, 2):
            name, value = self.attr(str(flat[i]), flat[i + 1], base)
            out += [name, value]
        return out

    def attr(self, name: str, value: Any, base: str | None = None) -> tuple[str, str]:
        """One attribute; ``Pseudo.MASKED`` (a length) becomes a starred ``Pseudo.VALUE``."""
        if name == Pseudo.MASKED:
            return Pseudo.VALUE, mask(value)
        text = str(value)
        lower = name.lower()
        if lower in URL_ATTRS:
            return name, self.url(text, base)
        if lower in SRCSET_ATTRS:
            return name, self.srcset(text, base)
        if lower == "style" or name == Pseudo.CSS:
            return name, self.css(text, base)
        return name, text

    def attr_change(self, change: list[Any]) -> AttrChange:
        node_id, name, value = int(change[0]), str(change[1]), change[2]
        if value is None:
            return records.attr_change(node_id, name, None)
        name, text = self.attr(name, value, self.frame_bases.get(node_id))
        return records.attr_change(node_id, name, text)

    def text_change(self, change: list[Any]) -> TextChange:
        """``[id, text]``, or ``[id, None, length]`` for masked text."""
        if len(change) >= 3 and change[1] is None:
            return records.text_change(int(change[0]), mask(change[2]))
        return records.text_change(int(change[0]), str(change[1]))

    # -- URLs ---------------------------------------------------------------------------
    def url(self, value: str, base: str | None = None) -> str:
        base = base or self.base
        stripped = value.strip()
        if not stripped or not base or stripped.lower().startswith(_SKIP_SCHEMES):
            return value
        return urljoin(base, stripped)

    def srcset(self, value: str, base: str | None = None) -> str:
        parts = []
        for candidate in value.split(","):
            bits = candidate.strip().split(None, 1)
            if bits:
                parts.append(" ".join([self.url(bits[0], base), *bits[1:]]))
        return ", ".join(parts)

    def css(self, text: str, base: str | None = None) -> str:
        """Make ``url(...)`` references in CSS text absolute."""
        if "url(" not in text.lower():
            return text
        return _CSS_URL.sub(lambda m: f'url("{self.url(m.group(2), base)}")', text)
