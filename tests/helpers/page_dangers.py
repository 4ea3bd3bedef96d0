"""What could run in a page a viewer built (tests/helpers/mirror_model.py): the checker of
the sanitizer's tests, written apart from the sanitizer (cwmn_web/viewer/sanitize.py)."""

from __future__ import annotations

import re

from cwmn_web.protocol.constants import NODE, URL_ATTRS
from tests.helpers.mirror_model import Node

__all__ = ["css_dangerous", "dangers"]

ELEMENT = NODE.ELEMENT
FORBIDDEN_TAGS = frozenset(
    {"script", "object", "embed", "applet", "frame", "frameset", "base", "portal", "noscript"}
    | {"fencedframe", "handler", "listener"}
)
ANIMATIONS = frozenset({"animate", "set", "animatetransform", "animatemotion", "animatecolor"})
_INVISIBLE = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202e\u2060\ufeff]+")
_CSS_COMMENT = re.compile(r"/\*.*?(\*/|$)", re.DOTALL)
_CSS_ESCAPE = re.compile(r"\\([0-9a-fA-F]{1,6})\s?|\\(.)", re.DOTALL)
CSS_DANGERS = ("expression(", "javascript:", "vbscript:", "-moz-binding", "behavior:")
URL_DANGERS = ("javascript:", "vbscript:", "livescript:", "data:text", "data:application")


def _css_key(css: str) -> str:
    """CSS as the most lenient browser reads its keywords."""

    def unescape(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return match.group(2)
        code = int(match.group(1), 16)
        return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "?"

    text = _CSS_ESCAPE.sub(unescape, _CSS_COMMENT.sub("", css))
    return _INVISIBLE.sub("", text).casefold()


def css_dangerous(css: str) -> bool:
    """Whether ``css`` holds a keyword that could run script in some browser."""
    return any(danger in _css_key(css) for danger in CSS_DANGERS)


def _bad_url(key: str, svg: bool) -> bool:
    """Whether a URL (invisible characters removed, case-folded) could run script."""
    return key.startswith(URL_DANGERS) or (key.startswith("data:image/svg") and not svg)


def dangers(doc: Node) -> list[str]:
    """What in a built page could run (empty for a safe page)."""
    found = []
    for node in doc.walk():
        if node.kind != ELEMENT:
            continue
        local = node.tag.rpartition(":")[2].lower()
        if local in FORBIDDEN_TAGS:
            found.append(f"<{node.tag}>")
        if local == "style" and css_dangerous(node.text()):
            found.append(f"<style> {node.text()!r}")
        if local == "iframe" and any(c.kind == ELEMENT for c in node.children):
            found.append("an iframe with content")
        attrs = {name.lower(): value for name, value in node.attrs.items()}
        if local == "meta" and "http-equiv" in attrs:
            found.append("<meta http-equiv>")
        if local in ANIMATIONS:
            target = _INVISIBLE.sub("", attrs.get("attributename", "")).lower()
            if target.rpartition(":")[2].startswith("on") or target.endswith("href"):
                found.append(f"<{node.tag} attributeName={target}>")
        for name, value in attrs.items():
            key = _INVISIBLE.sub("", value).casefold()
            handler = name.rpartition(":")[2].startswith("on")
            if handler or name == "srcdoc" or (local == "iframe" and name == "src"):
                found.append(f"{name}=")
            elif name in URL_ATTRS or name in ("srcset", "imagesrcset"):
                urls = key.split(",") if name.endswith("srcset") else [key]
                if any(_bad_url(url, svg=local == "img" and name == "src") for url in urls):
                    found.append(f"{name}={value!r}")
            elif name == "style" and css_dangerous(value):
                found.append(f"style={value!r}")
    return found
