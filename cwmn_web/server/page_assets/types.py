"""A stored file's type, told from its bytes: images and fonts only. No I/O here.

The host says only whether an asset is a stylesheet or a file; what a file is served as
comes from its first bytes (SVG: its root element), so the store never serves HTML or a
script whatever a host uploads."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["CSS_TYPE", "SVG_TYPE", "sniff"]

CSS_TYPE: Final = "text/css; charset=utf-8"
SVG_TYPE: Final = "image/svg+xml"

#: (offset, magic bytes, type): checked in order.
_MAGIC: Final[tuple[tuple[int, bytes, str], ...]] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"wOF2", "font/woff2"),
    (0, b"wOFF", "font/woff"),
    (0, b"\x00\x01\x00\x00", "font/ttf"),
    (0, b"true", "font/ttf"),
    (0, b"OTTO", "font/otf"),
    (0, b"ttcf", "font/collection"),
    (0, b"\x00\x00\x01\x00", "image/x-icon"),
)
#: A BMP's DIB header sizes (BITMAPCOREHEADER … BITMAPV5HEADER).
_DIB_SIZES: Final = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
#: An EOT header's versions (little-endian 0x00010000, 0x00020001, 0x00020002).
_EOT_VERSIONS: Final = (b"\x00\x00\x01\x00", b"\x01\x00\x02\x00", b"\x02\x00\x02\x00")
_AVIF_BRANDS: Final = (b"avif", b"avis")
#: What may come before an SVG's root element: white space, an XML declaration or other
#: processing instruction, comments, an svg doctype (with an internal subset).
_PROLOGUE: Final = re.compile(
    rb"(?:\s+|<\?.*?\?>|<!--.*?-->|<!DOCTYPE\s+(?:[\w.-]+:)?svg(?=[\s>\[])(?:[^\[>]|\[.*?\])*>)*",
    re.DOTALL,
)
_SVG_ROOT: Final = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?svg[\s/>]")
#: How far into a file its SVG root may be (past a long comment, the file is refused).
_SVG_HEAD: Final = 64 * 1024


def sniff(data: bytes) -> str | None:
    """The type ``data`` is served as (an image or font type), or None: not one of PNG,
    JPEG, GIF, WebP, AVIF, BMP, ICO, SVG, WOFF2, WOFF, TTF/OTF (or a collection), EOT."""
    for offset, magic, kind in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp" and _avif(data):
        return "image/avif"
    if (
        data[:2] == b"BM"
        and len(data) >= 18
        and int.from_bytes(data[14:18], "little") in _DIB_SIZES
    ):
        return "image/bmp"
    if len(data) >= 36 and data[34:36] == b"LP" and data[8:12] in _EOT_VERSIONS:
        return "application/vnd.ms-fontobject"
    if _svg(data):
        return SVG_TYPE
    return None


def _avif(data: bytes) -> bool:
    """An ISO-BMFF ``ftyp`` box whose major or compatible brands name AVIF."""
    size = int.from_bytes(data[:4], "big")
    box = data[8 : min(max(size, 16), 256)]
    return any(box[i : i + 4] in _AVIF_BRANDS for i in range(0, len(box), 4))


def _svg(data: bytes) -> bool:
    """An XML document (UTF-8, maybe with a byte-order mark) whose root element is ``svg``."""
    head = data[:_SVG_HEAD].removeprefix(b"\xef\xbb\xbf")
    prologue = _PROLOGUE.match(head)
    start = prologue.end() if prologue else 0
    return _SVG_ROOT.match(head, start) is not None
