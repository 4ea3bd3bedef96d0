"""Makes mirror frames (docs/MIRROR.md) safe to build: drops everything that could run.

Pure Python, no I/O here. The viewer's sandboxed iframe (no ``allow-scripts``) is the second
line of defence; this module must hold on its own, so it removes rather than repairs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from ..errors import ProtocolError
from ..protocol import records
from ..protocol.constants import HTML_NS, NODE, PSEUDO_PREFIX, URL_ATTRS, Pseudo
from ..protocol.records import (
    AttrChange,
    FocusData,
    MutationsData,
    NodeRecord,
    OrderEntry,
    PointerData,
    ScrollData,
    SnapshotData,
    TextChange,
    ViewportData,
)
from .animations import clean_animations
from .style_texts import StyleTexts

__all__ = [
    "DROPPED_TAGS",
    "URL_ATTRS",
    "Sanitizer",
    "clean_css",
    "clean_srcset",
    "url_allowed",
]

ELEMENT, TEXT, COMMENT, SHADOW = NODE.ELEMENT, NODE.TEXT, NODE.COMMENT, NODE.SHADOW
SVG_NS = "http://www.w3.org/2000/svg"
MATHML_NS = "http://www.w3.org/1998/Math/MathML"
NAMESPACES = frozenset({HTML_NS, SVG_NS, MATHML_NS})

#: Elements dropped with their whole subtree (compared on the lower-case local name).
DROPPED_TAGS = frozenset(
    {
        "script",
        "noscript",  # scripting is off in the sandbox, so its content would show
        "object",
        "embed",
        "applet",
        "frame",
        "frameset",
        "base",
        "portal",
        "fencedframe",
        "handler",  # SVG Tiny event handler
        "listener",
    }
)
#: SVG animations, dropped when they animate a URL or an event handler.
ANIMATION_TAGS = frozenset({"animate", "set", "animatetransform", "animatemotion", "animatecolor"})
SRCSET_ATTRS = frozenset({"srcset", "imagesrcset"})
#: Dropped on every element: inline documents, ways to leave the stage, and referrer
#: policies (the viewer's document sends its parent's URL, /join/TOKEN, as the referrer
#: unless the join page's no-referrer policy holds).
ALWAYS_DROPPED = frozenset({"srcdoc", "target", "formtarget", "ping", "referrerpolicy"})
#: ``link`` elements survive only as stylesheets and icons.
LINK_RELS = frozenset(
    {"stylesheet", "icon", "shortcut", "alternate", "apple-touch-icon", "mask-icon"}
)
LINK_NEEDS = frozenset({"stylesheet", "icon", "apple-touch-icon", "mask-icon"})
BAD_SCHEMES = frozenset(
    {"javascript", "vbscript", "livescript", "mocha", "blob", "file", "filesystem", "jar"}
)

_NAME = re.compile(r"[A-Za-z_:][-A-Za-z0-9_:.]*")
_TAG = re.compile(r"[A-Za-z][-A-Za-z0-9_.:]*")
# Characters a browser (or an old one) may ignore inside a URL or CSS keyword.
_INVISIBLE = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202e\u2060\ufeff]+")
_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*):")
_DATA_IMAGE = re.compile(r"data:image/(png|gif|jpe?g|webp|svg\+xml)[;,]")
_CSS_COMMENT = re.compile(r"/\*.*?(\*/|$)", re.DOTALL)
_CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})\s?|\\(.)", re.DOTALL)
_CSS_DANGER = ("expression(", "javascript:", "vbscript:", "-moz-binding", "behavior:", "behaviour:")
_BLOCK = re.compile(r"\d{1,6}(\.\d+)?[\u00d7x]\d{1,6}(\.\d+)?")  # W times H
_SCROLL = re.compile(r"-?\d{1,9}(\.\d+)?,-?\d{1,9}(\.\d+)?")
_CANVAS = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]*")
_MEDIA = re.compile(r"(playing|paused),[0-9]{1,8}(\.[0-9]{1,3})?")  # state, seconds
_TOP = re.compile(r"modal|popover|")
MAX_SIZE = 100_000.0  # CSS pixels: a viewport or a box
MAX_COORD = 10_000_000.0  # CSS pixels: a position in a document


# -- values ----------------------------------------------------------------------------------
def url_allowed(value: str, svg_image: bool = False) -> bool:
    """Whether ``value`` may stay in a URL attribute.

    It is compared with every whitespace and control character removed and case-folded, so
    ``java\\tscript:`` and ``JaVaScRiPt:`` are caught. ``data:`` is allowed for raster images
    only, and for SVG images only where ``svg_image`` (an ``img`` source, where no script
    runs); ``blob:`` and ``file:`` never (they would point into the guest's own browser).
    """
    key = _INVISIBLE.sub("", value).casefold()
    match = _SCHEME.match(key)
    if match is None:
        return True  # relative: the host made every URL absolute, this one is harmless
    scheme = match.group(1)
    if scheme == "data":
        image = _DATA_IMAGE.match(key)
        return image is not None and (svg_image or image.group(1) != "svg+xml")
    return scheme not in BAD_SCHEMES


def clean_srcset(value: str, svg_image: bool = False) -> str:
    """``value`` without its unsafe candidates (parsed like the HTML standard's srcset)."""
    out: list[str] = []
    pos, end = 0, len(value)
    while True:
        while pos < end and (value[pos].isspace() or value[pos] == ","):
            pos += 1
        if pos >= end:
            break
        start = pos
        while pos < end and not value[pos].isspace():
            pos += 1
        url = value[start:pos]
        descriptor = ""
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            start, depth = pos, 0
            while pos < end and (value[pos] != "," or depth):
                depth += {"(": 1, ")": -1 if depth else 0}.get(value[pos], 0)
                pos += 1
            descriptor = value[start:pos].strip()
        if url and url_allowed(url, svg_image):
            out.append(f"{url} {descriptor}".rstrip())
    return ", ".join(out)


def _css_key(text: str) -> str:
    """CSS text as a browser might read its keywords: no comments, escapes or spaces."""
    text = _CSS_COMMENT.sub("", text)
    text = _CSS_ESCAPE.sub(_unescape, text)
    return _INVISIBLE.sub("", text).casefold()


def _unescape(match: re.Match[str]) -> str:
    if match.group(1) is None:
        return match.group(2)
    code = int(match.group(1), 16)
    return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"


def _css_dangerous(text: str) -> bool:
    key = _css_key(text)
    return any(danger in key for danger in _CSS_DANGER)


def _css_pieces(text: str) -> list[str]:
    """Split CSS into declarations, selectors and the ``;{}`` between them, respecting
    strings, comments, escapes and parentheses (``url(a;b)``)."""
    pieces: list[str] = []
    start = depth = i = 0
    quote = ""
    end = len(text)
    while i < end:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if quote:
            if ch == quote or ch == "\n":
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif text.startswith("/*", i):
            close = text.find("*/", i + 2)
            i = end if close < 0 else close + 2
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif ch in ";{}" and not depth:
            pieces += [text[start:i], ch]
            start = i + 1
        i += 1
    pieces.append(text[start:])
    return pieces


def clean_css(text: str) -> str:
    """CSS text without ``expression()``, ``javascript:``/``vbscript:`` URLs, ``-moz-binding``
    or ``behavior``: each declaration (or rule prelude) holding one is dropped whole. If
    something dangerous still shows after that (odd nesting), the whole text is dropped."""
    if not _css_dangerous(text):
        return text
    kept = "".join(
        piece if piece in (";", "{", "}") or not _css_dangerous(piece) else ""
        for piece in _css_pieces(text)
    )
    return "" if _css_dangerous(kept) else kept


def _checked(value: str) -> str:
    return "1" if value == "1" else ""


def _matching(pattern: re.Pattern[str]) -> Callable[[str], str | None]:
    return lambda value: value if pattern.fullmatch(value) else None


#: The pseudo-attributes a viewer takes (:class:`Pseudo`) and how each value is checked
#: (``None`` drops it). ``MASKED`` never reaches a viewer: the host core turns it into VALUE.
PSEUDO: dict[str, Callable[[str], str | None]] = {
    Pseudo.NS: lambda value: value if value in NAMESPACES else None,
    Pseudo.VALUE: str,
    Pseudo.CHECKED: _checked,
    Pseudo.CSS: clean_css,
    Pseudo.BLOCK: _matching(_BLOCK),
    Pseudo.SCROLL: _matching(_SCROLL),
    Pseudo.CANVAS: _matching(_CANVAS),
    Pseudo.MEDIA: _matching(_MEDIA),
    Pseudo.TOP: _matching(_TOP),
    Pseudo.ANIM: clean_animations,
    Pseudo.ADOPTED: clean_css,
}


def _local(name: str) -> str:
    """Lower-case local name: ``svg:Script`` → ``script``."""
    return name.rpartition(":")[2].lower()


def _node_id(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _number(value: Any, low: float = -MAX_COORD, high: float = MAX_COORD) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProtocolError(f"expected a number, got {value!r}")
    clamped: float = min(max(value, low), high)
    return clamped


def _element_dropped(tag: str, attrs: dict[str, str]) -> bool:
    """Whether an element ``tag`` (lower-case local name) with ``attrs`` must go whole."""
    if tag in DROPPED_TAGS:
        return True
    if tag == "meta":
        return "http-equiv" in attrs or attrs.get("name", "").strip().lower() == "referrer"
    if tag == "link":
        rels = set(attrs.get("rel", "").lower().split())
        return not rels or not rels <= LINK_RELS or not rels & LINK_NEEDS
    if tag in ANIMATION_TAGS:
        target = _INVISIBLE.sub("", attrs.get("attributename", "")).lower()
        return _local(target).startswith("on") or target in URL_ATTRS or _local(target) == "href"
    return False


def _change_drops(tag: str, name: str, value: str) -> bool:
    """Whether setting ``name`` to ``value`` makes an element ``tag`` one that must go."""
    lower = name.lower()
    if tag == "meta":
        return lower == "http-equiv" or _element_dropped(tag, {lower: value})
    if (tag == "link" and lower == "rel") or (tag in ANIMATION_TAGS and lower == "attributename"):
        return _element_dropped(tag, {lower: value})
    return False


#: Elements whose attributes or children follow their own rules; their ids are remembered.
SPECIAL_TAGS = frozenset({"iframe", "form", "img", "style", "link", "meta"}) | ANIMATION_TAGS


class Sanitizer:
    """Sanitizes the frames of one guest's stream, in order.

    It remembers the ids it dropped, so nodes added later under a dropped node are dropped
    too, and the tags of the few elements with rules of their own. A snapshot starts over.
    """

    def __init__(self) -> None:
        self.dropped: set[int] = set()
        self._special: dict[int, str] = {}  # id → lower-case tag, for SPECIAL_TAGS only
        self._styles = StyleTexts()  # what each <style> holds (its texts are CSS)
        self._style_attrs: dict[int, list[str]] = {}  # a snapshot's <style>s: their attributes

    def reset(self) -> None:
        """Forget every node (a new snapshot replaces the page)."""
        self.dropped.clear()
        self._special.clear()
        self._styles.reset()
        self._style_attrs.clear()

    # -- frames --------------------------------------------------------------------------
    def frame(self, kind: str, data: Any) -> dict[str, Any]:
        """A safe copy of one MirrorFrame's ``data``; a ``snapshot`` resets the state first.

        Raises ``protocol`` (:class:`ProtocolError`) for an unknown kind or malformed data;
        malformed node records are dropped rather than raised.
        """
        if not isinstance(data, dict):
            raise ProtocolError(f"{kind} frame data must be an object")
        if kind == "snapshot":
            return records.wire(self.snapshot(data))
        if kind == "mutations":
            return records.wire(self.mutations(data))
        if kind == "scroll":
            node_id = _node_id(data.get("id", 0))
            if node_id is None:
                raise ProtocolError(f"bad scroll target {data.get('id')!r}")
            scroll: ScrollData = {
                "id": node_id,
                "x": _number(data.get("x")),
                "y": _number(data.get("y")),
            }
            return records.wire(scroll)
        if kind == "viewport":
            viewport: ViewportData = {
                "w": _number(data.get("w"), 1, MAX_SIZE),
                "h": _number(data.get("h"), 1, MAX_SIZE),
            }
            return records.wire(viewport)
        if kind == "pointer":
            pointer: PointerData = {"x": _number(data.get("x")), "y": _number(data.get("y"))}
            return records.wire(pointer)
        if kind == "focus":
            focused = _node_id(data.get("id", 0))
            if focused is None:
                raise ProtocolError(f"bad focus target {data.get('id')!r}")
            focus: FocusData = {"id": focused}
            return records.wire(focus)
        raise ProtocolError(f"unknown mirror frame kind {kind!r}")

    def snapshot(self, data: dict[str, Any]) -> SnapshotData:
        """A new page: forget every node, then keep only what is safe of this one."""
        self.reset()
        viewport = _pair(data.get("viewport"), [1, 1])
        url, title = data.get("url"), data.get("title")
        nodes = self._records(data.get("nodes"))
        whole = self._styles.settle()
        for style, css in whole.items():  # a combined style's CSS, as one text
            attrs = self._style_attrs.get(style)
            if attrs is not None:
                attrs += [Pseudo.CSS, clean_css(css)]
        self._style_attrs.clear()
        return {
            "nodes": nodes,
            "url": url if isinstance(url, str) and url.startswith(("https:", "http:")) else "",
            "title": title if isinstance(title, str) else "",
            "viewport": [_number(v, 1, MAX_SIZE) for v in viewport],
            "scroll": [_number(v) for v in _pair(data.get("scroll"), [0, 0])],
            "adopted": [clean_css(c) for c in _list(data.get("adopted")) if isinstance(c, str)],
        }

    def mutations(self, data: dict[str, Any]) -> MutationsData:
        """Adds like snapshot nodes; changes to dropped nodes left out; an attribute that
        would arm its element (``rel=import``, ``http-equiv``…) removes the element instead."""
        removes: list[int] = []
        for raw in _list(data.get("removes")):
            node_id = _node_id(raw)
            if node_id is None or node_id in self.dropped:
                continue
            self._special.pop(node_id, None)
            self._styles.forget(node_id)
            removes.append(node_id)
        adds = self._records(data.get("adds"))
        order = [
            entry for raw in _list(data.get("order")) if (entry := self._order(raw)) is not None
        ]
        attrs: list[AttrChange] = []
        for raw in _list(data.get("attrs")):
            safe = self._attr_change(raw)
            if isinstance(safe, int):  # the change made the element dangerous: remove it
                removes.append(safe)
            elif safe is not None:
                attrs.append(safe)
        texts = [change for raw in _list(data.get("texts")) if (change := self._text(raw))]
        for style, css in self._styles.settle().items():  # combined styles: whole CSS
            attrs.append(records.attr_change(style, Pseudo.CSS, clean_css(css)))
        self._style_attrs.clear()
        return {"removes": removes, "adds": adds, "order": order, "attrs": attrs, "texts": texts}

    # -- node records --------------------------------------------------------------------
    def _records(self, raw: Any) -> list[NodeRecord]:
        out = []
        for record in _list(raw):
            safe = self._record(record)
            if safe is not None:
                out.append(safe)
        return out

    def _record(self, record: Any) -> NodeRecord | None:
        if not isinstance(record, list) or len(record) < 4:
            return None
        node_id, parent, kind = _node_id(record[0]), _node_id(record[1]), record[2]
        if node_id is None or parent is None:
            return None
        # A record (re)creates its node: what the id was before (a <style>'s text, a special
        # element) no longer holds, wherever the host moved it from.
        self._styles.forget(node_id)
        self._special.pop(node_id, None)
        if parent in self.dropped or self._special.get(parent) == "iframe":
            return self._drop(node_id)  # an iframe stays an empty box
        if kind == ELEMENT:
            return self._element(node_id, parent, record)
        self.dropped.discard(node_id)  # a node the host moved out of a dropped subtree
        if kind == TEXT:
            text = record[3] if isinstance(record[3], str) else ""
            if self._special.get(parent) == "style":
                if not self._styles.add(node_id, parent, text):
                    return None  # a combined style's: its cwmn:css carries it
                text = clean_css(text)
            return records.text(node_id, parent, text)
        if kind == COMMENT:
            return records.comment(node_id, parent)
        if kind == SHADOW:
            return records.shadow(node_id, parent)
        return self._drop(node_id)

    def _element(self, node_id: int, parent: int, record: list[Any]) -> NodeRecord | None:
        tag = record[3]
        flat = record[4] if len(record) > 4 and isinstance(record[4], list) else []
        if not isinstance(tag, str) or not _TAG.fullmatch(tag):
            return self._drop(node_id)
        local = _local(tag)
        # One value per name (case-insensitively, as HTML sees them): the one checked here
        # is the one the viewer sets.
        pairs: dict[str, tuple[str, str]] = {}
        for name, value in zip(flat[::2], flat[1::2], strict=False):
            if isinstance(name, str) and isinstance(value, str):
                pairs.setdefault(name.lower(), (name, value))
        lowered = {lower: value for lower, (_, value) in pairs.items()}
        if _element_dropped(local, lowered):
            return self._drop(node_id)
        self.dropped.discard(node_id)
        if local in SPECIAL_TAGS:
            self._special[node_id] = local
        else:
            self._special.pop(node_id, None)
        attrs: list[str] = []
        for name, value in pairs.values():
            safe = self._attribute(local, name, value)
            if safe is not None:
                attrs += [name, safe]
                if local == "style" and name == Pseudo.CSS:
                    self._styles.set_css(node_id, safe)
        if local == "style":
            self._style_attrs[node_id] = attrs
        return records.element(node_id, parent, tag, attrs)

    def _drop(self, node_id: int) -> NodeRecord | None:
        """Forget ``node_id`` (and what it was); a dropped record is None."""
        self.dropped.add(node_id)
        self._special.pop(node_id, None)
        self._styles.forget(node_id)
        return None

    # -- attributes ----------------------------------------------------------------------
    def _attribute(self, tag: str, name: str, value: str) -> str | None:
        """The safe value of attribute ``name`` on element ``tag``, or ``None`` to drop it."""
        if name.startswith(PSEUDO_PREFIX):
            check = PSEUDO.get(name)
            return check(value) if check else None
        lower = name.lower()
        if not _NAME.fullmatch(name) or _local(lower).startswith("on") or lower in ALWAYS_DROPPED:
            return None
        if lower in URL_ATTRS:
            if (tag == "iframe" and lower == "src") or (tag == "form" and lower == "action"):
                return None
            return value if url_allowed(value, svg_image=tag == "img" and lower == "src") else None
        if lower in SRCSET_ATTRS:
            return clean_srcset(value, svg_image=False) or None
        if lower == "style":
            return clean_css(value)
        return value

    def _attr_change(self, raw: Any) -> AttrChange | int | None:
        """``[id, name, value]`` made safe; the bare id when the element must be removed."""
        if not isinstance(raw, list) or len(raw) != 3 or not isinstance(raw[1], str):
            return None
        node_id, name, value = _node_id(raw[0]), raw[1], raw[2]
        if node_id is None or node_id in self.dropped:
            return None
        tag = self._special.get(node_id, "")
        if value is None:  # removing is harmless; names the viewer never set are left out
            keep = name in PSEUDO or self._attribute(tag, name, "#") is not None
            return records.attr_change(node_id, name, None) if keep else None
        if not isinstance(value, str):
            return None
        if _change_drops(tag, name, value):
            self._drop(node_id)
            return node_id
        safe = self._attribute(tag, name, value)
        if safe is not None and tag == "style" and name == Pseudo.CSS:
            self._styles.set_css(node_id, safe)
        return None if safe is None else records.attr_change(node_id, name, safe)

    def _text(self, raw: Any) -> TextChange | None:
        if not isinstance(raw, list) or len(raw) < 2 or not isinstance(raw[1], str):
            return None
        node_id = _node_id(raw[0])
        if node_id is None or node_id in self.dropped:
            return None
        text = raw[1]
        if self._styles.style_of(node_id) is None:
            return records.text_change(node_id, text)
        if not self._styles.change(node_id, text):
            return None  # a combined style's: its cwmn:css carries it
        return records.text_change(node_id, clean_css(text))

    def _order(self, raw: Any) -> OrderEntry | None:
        if not isinstance(raw, list) or len(raw) != 2:
            return None
        parent, children = _node_id(raw[0]), raw[1]
        tag = self._special.get(parent) if parent is not None else None
        if parent is None or parent in self.dropped or tag == "iframe":
            return None
        ids = (_node_id(child) for child in _list(children))
        kept = [c for c in ids if c is not None and c not in self.dropped]
        styles = self._styles
        if tag == "style":  # only text this module cleaned may become CSS
            styles.order(parent, kept)
            kept = (
                [] if styles.combined(parent) else [c for c in kept if styles.style_of(c) == parent]
            )
        else:
            for child in kept:  # a text the host moved out of a combined style leaves it
                style = styles.style_of(child)
                if style is not None and style != parent and styles.combined(style):
                    styles.forget(child)
        return records.order_entry(parent, kept)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _pair(value: Any, default: list[Any]) -> list[Any]:
    return value if isinstance(value, list) and len(value) == 2 else default
