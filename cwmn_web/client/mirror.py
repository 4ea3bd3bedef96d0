"""Raw capture records → wire records: masking placeholders filled, URLs made absolute.

The page's capture code (static/capture.mjs) never reads private content; it sends the
length of a masked text or value. This module decides what goes on the wire in its place,
and resolves relative URLs against the page's base URL so guests load the same resources.
With the session's asset store on (:class:`~.page_assets.PageAssets`), the URLs a guest
would load as resources (by element and attribute; CSS ``url()`` and ``@import``) go to the
store instead; the encoder remembers each element's kind so attribute changes are routed
alike, and each ``<style>``'s texts so their CSS is. Formats: docs/MIRROR.md. No I/O here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from ..errors import ProtocolError
from ..protocol import records
from ..protocol.constants import NODE, URL_ATTRS, Pseudo
from ..protocol.page_assets import FILE, STYLE
from ..protocol.records import AttrChange, MutationsData, NodeRecord, SnapshotData, TextChange
from .page_assets import SKIP_SCHEMES, PageAssets, rewrite_css
from .srcset import parse_srcset, serialize_srcset

__all__ = ["MASK_CHAR", "MirrorEncoder", "mask"]

MASK_CHAR = "*"
MAX_MASK = 64
SRCSET_ATTRS = frozenset({"srcset", "imagesrcset"})
#: An element whose attributes are never routed (it is blocked: its box only).
BLOCKED = "!blocked"
#: (element kind, attribute) → the store kind of the resource it loads; ``background``
#: loads a file on any element. Anything else (``a href``, forms, frames, scripts, icons)
#: is never routed.
RESOURCES = {
    ("img", "src"): FILE,
    ("img", "srcset"): FILE,
    ("source:picture", "src"): FILE,
    ("source:picture", "srcset"): FILE,
    ("input:image", "src"): FILE,
    ("video", "poster"): FILE,
    ("link:stylesheet", "href"): STYLE,
    **{(tag, name): FILE for tag in ("image", "use", "feimage") for name in ("href", "xlink:href")},
}
#: Element kinds the encoder remembers for attribute changes (the others route ``background``
#: only).
_REMEMBERED = frozenset(
    {kind for kind, _ in RESOURCES} | {"link", "input", "style", "picture", BLOCKED}
)


def element_kind(tag: str, attrs: dict[str, str], parent: str = "") -> str:
    """What decides which of an element's attributes are resources: its lower-case tag,
    ``link:stylesheet`` for a stylesheet link, ``input:image``, ``source:picture`` for a
    ``<source>`` whose parent (of kind ``parent``) is a ``<picture>`` (a ``<video>``'s or
    ``<audio>``'s source is media: not routed), or :data:`BLOCKED`."""
    if Pseudo.BLOCK in attrs:
        return BLOCKED
    lower = tag.lower()
    if lower == "source":
        return "source:picture" if parent == "picture" else "source"
    if lower == "link":
        stylesheet = "stylesheet" in attrs.get("rel", "").lower().split()
        return "link:stylesheet" if stylesheet else "link"
    if lower == "input":
        return "input:image" if attrs.get("type", "").strip().lower() == "image" else "input"
    return lower


def mask(length: int) -> str:
    """What a masked text or value of ``length`` characters becomes on the wire."""
    return MASK_CHAR * max(0, min(int(length), MAX_MASK))


class MirrorEncoder:
    """Encodes the raw frames of one page; ``base`` is the page's base URL."""

    def __init__(self, base: str = "", assets: PageAssets | None = None) -> None:
        self.base = base
        self.assets = assets
        """The session's asset store (None, or disabled: every URL loads directly)."""
        #: Base URLs inside same-origin frames: node id → its frame document's base.
        self.frame_bases: dict[int, str] = {}
        #: Elements whose kind decides routing (:func:`element_kind`): node id → kind.
        self.kinds: dict[int, str] = {}
        #: The text nodes of ``<style>`` elements (their text is CSS): node id → style id.
        self.style_texts: dict[int, int] = {}

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
        self.kinds, self.style_texts = {}, {}
        return {
            "nodes": [self.record(r) for r in raw.get("nodes", [])],
            "url": str(raw.get("url", "")),
            "title": str(raw.get("title", "")),
            "viewport": list(raw.get("viewport", [0, 0])),
            "scroll": list(raw.get("scroll", [0, 0])),
            "adopted": [self.css(str(c), None, self._routing("")) for c in raw.get("adopted", [])],
        }

    def mutations(self, raw: dict[str, Any]) -> MutationsData:
        removes = [int(i) for i in raw.get("removes", [])]
        for node_id in removes:
            self.kinds.pop(node_id, None)
            self.style_texts.pop(node_id, None)
        return {
            "removes": removes,
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
        self.kinds.pop(node_id, None)  # a record (re)creates its node
        self.style_texts.pop(node_id, None)
        if kind == NODE.ELEMENT:
            tag, flat = str(raw[3]), raw[4]
            element = element_kind(tag, _attr_dict(flat), self.kinds.get(parent, ""))
            if element in _REMEMBERED:
                self.kinds[node_id] = element
            return records.element(node_id, parent, tag, self.attrs(tag, flat, base, element))
        if kind == NODE.TEXT:
            if raw[3] is None:
                return records.text(node_id, parent, mask(raw[4]))
            text = str(raw[3])
            if self.kinds.get(parent) == "style":
                self.style_texts[node_id] = parent
                text = self.css(text, base, self._routing(""))
            return records.text(node_id, parent, text)
        if kind == NODE.COMMENT:
            return records.comment(node_id, parent)
        if kind == NODE.SHADOW:
            return records.shadow(node_id, parent, str(raw[3]))
        raise ProtocolError(f"unknown node kind {kind} in a capture record")

    def attrs(
        self, tag: str, flat: list[Any], base: str | None = None, element: str | None = None
    ) -> list[str]:
        if element is None:
            element = element_kind(tag, _attr_dict(flat))
        out: list[str] = []
        for i in range(0, len(flat) - 1, 2):
            name, value = self.attr(str(flat[i]), flat[i + 1], base, element)
            out += [name, value]
        return out

    def attr(
        self, name: str, value: Any, base: str | None = None, element: str = ""
    ) -> tuple[str, str]:
        """One attribute of an element of kind ``element`` (:func:`element_kind`);
        ``Pseudo.MASKED`` (a length) becomes a starred ``Pseudo.VALUE``."""
        if name == Pseudo.MASKED:
            return Pseudo.VALUE, mask(value)
        text = str(value)
        lower = name.lower()
        routed = self._routing(element)
        kind = _resource(element, lower)
        if lower in URL_ATTRS:
            absolute = self.url(text, base)
            if routed is not None and kind is not None:
                return name, routed.route(absolute, kind)
            return name, absolute
        if lower in SRCSET_ATTRS:
            return name, self.srcset(text, base, routed if kind is not None else None)
        if lower == "style" or name in (Pseudo.CSS, Pseudo.ADOPTED):
            return name, self.css(text, base, routed)
        return name, text

    def _routing(self, element: str) -> PageAssets | None:
        """The store, if an element of kind ``element`` may route its URLs."""
        assets = self.assets
        return assets if assets is not None and assets.enabled and element != BLOCKED else None

    def attr_change(self, change: list[Any]) -> AttrChange:
        node_id, name, value = int(change[0]), str(change[1]), change[2]
        if value is None:
            return records.attr_change(node_id, name, None)
        element = self.kinds.get(node_id, "")
        lower = name.lower()
        if (element.startswith("link") and lower == "rel") or (
            element.startswith("input") and lower == "type"
        ):
            element = element_kind(element.split(":")[0], {lower: str(value)})
            self.kinds[node_id] = element
        name, text = self.attr(name, value, self.frame_bases.get(node_id), element)
        return records.attr_change(node_id, name, text)

    def text_change(self, change: list[Any]) -> TextChange:
        """``[id, text]``, or ``[id, None, length]`` for masked text."""
        node_id = int(change[0])
        if len(change) >= 3 and change[1] is None:
            return records.text_change(node_id, mask(change[2]))
        text = str(change[1])
        if node_id in self.style_texts:
            text = self.css(text, self.frame_bases.get(node_id), self._routing(""))
        return records.text_change(node_id, text)

    # -- URLs ---------------------------------------------------------------------------
    def url(self, value: str, base: str | None = None) -> str:
        base = base or self.base
        stripped = value.strip()
        if not stripped or not base or stripped.lower().startswith(SKIP_SCHEMES):
            return value
        return urljoin(base, stripped)

    def srcset(self, value: str, base: str | None = None, routed: PageAssets | None = None) -> str:
        """Each candidate's URL made absolute (and routed through ``routed``), its
        descriptors kept."""
        parts = []
        for candidate, descriptors in parse_srcset(value):
            url = self.url(candidate, base)
            if routed is not None:
                url = routed.route(url, FILE)
            parts.append((url, descriptors))
        return serialize_srcset(parts)

    def css(self, text: str, base: str | None = None, routed: PageAssets | None = None) -> str:
        """Make ``url(...)`` references in CSS text absolute; through ``routed`` (the store),
        routed ``url()`` and ``@import`` references go to the store."""
        if routed is not None:
            return routed.css(text, lambda ref: self.url(ref, base))
        return rewrite_css(text, lambda ref, _kind: self.url(ref, base))


def _attr_dict(flat: list[Any]) -> dict[str, str]:
    """A raw record's flat attribute list as names (lower-case) → values."""
    return {str(flat[i]).lower(): str(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}


def _resource(element: str, attr: str) -> str | None:
    """The store kind of what attribute ``attr`` loads on an element of kind ``element``."""
    if attr == "background":
        return FILE
    return RESOURCES.get((element, attr))
