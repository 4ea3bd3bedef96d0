"""The resource references of CSS text, found as the CSS tokenizer finds them. No I/O.

A reference is a ``url(...)`` token or function (kind :data:`FILE`) or the string or url
after an ``@import`` (kind :data:`STYLE`). Comments, strings and escaped characters are
skipped as CSS Syntax Level 3 tokenizes them, so ``/* @import "x"; */`` and
``content: "url(a.png)"`` are text, not references; ``url(a\\).png)`` is ``a).png`` and
``url("x.png?a=(1)")`` is ``x.png?a=(1)``. A reference the tokenizer would not read as
one (a bad url, ``url("x" y)``) is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable

from ..protocol.page_assets import FILE, STYLE

__all__ = ["rewrite_css"]

_HEX = frozenset("0123456789abcdefABCDEF")
_SPACE = frozenset(" \t\n\r\f")
#: Characters that make an unquoted url() a bad url token.
_BAD_IN_URL = frozenset("\"'(")
#: ASCII lower-casing, one code point for one: CSS keywords match ASCII case-insensitively,
#: and ``str.lower`` can lengthen the text ("İ" becomes two code points), shifting indices.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _quoted(url: str) -> str:
    return '"' + url.replace("\\", "%5C").replace('"', "%22").replace("\n", "%0A") + '"'


def _is_name(ch: str) -> bool:
    return ch.isalnum() or ch in "-_" or ord(ch) >= 0x80


def _starts_escape(text: str, i: int) -> bool:
    """A backslash at ``text[i]`` that begins a valid escape (not before a newline or EOF)."""
    return text[i] == "\\" and i + 1 < len(text) and text[i + 1] not in "\n\r\f"


def _name(text: str, i: int) -> tuple[str, int]:
    """The name (identifier characters, escapes decoded) from ``text[i]``, and the index
    after it: ``\\75rl`` is ``url`` as a browser reads it."""
    out: list[str] = []
    while i < len(text):
        if _starts_escape(text, i):
            char, i = _escape(text, i)
            out.append(char)
        elif _is_name(text[i]):
            out.append(text[i])
            i += 1
        else:
            break
    return "".join(out), i


def _escape(text: str, i: int) -> tuple[str, int]:
    """The character escaped by the backslash at ``text[i]``, and the index after it."""
    j = i + 1
    if j >= len(text):
        return "\ufffd", j
    if text[j] in _HEX:
        end = j
        while end < len(text) and end - j < 6 and text[end] in _HEX:
            end += 1
        code = int(text[j:end], 16)
        if text[end : end + 2] == "\r\n":
            end += 2
        elif end < len(text) and text[end] in _SPACE:
            end += 1
        ok = 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF
        return (chr(code) if ok else "\ufffd"), end
    return text[j], j + 1


def _string(text: str, i: int) -> tuple[str | None, int]:
    """The value of the string starting with the quote at ``text[i]`` and the index after
    it; None for a bad string (an unescaped newline ends it, the newline excluded)."""
    quote, j = text[i], i + 1
    out: list[str] = []
    while j < len(text):
        ch = text[j]
        if ch == quote:
            return "".join(out), j + 1
        if ch == "\n" or ch == "\r" or ch == "\f":
            return None, j
        if ch == "\\":
            if j + 1 < len(text) and text[j + 1] in "\n\r\f":
                j += 3 if text[j + 1 : j + 3] == "\r\n" else 2  # a line continuation
                continue
            if j + 1 >= len(text):
                j += 1
                continue
            char, j = _escape(text, j)
            out.append(char)
            continue
        out.append(ch)
        j += 1
    return "".join(out), j  # an unterminated string ends with the text


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i] in _SPACE:
        i += 1
    return i


def _skip_space_and_comments(text: str, i: int) -> int:
    while True:
        i = _skip_space(text, i)
        if not text.startswith("/*", i):
            return i
        end = text.find("*/", i + 2)
        i = len(text) if end < 0 else end + 2


def _bad_url_remnants(text: str, j: int) -> int:
    """The index after the remnants of a bad url from ``text[j]``: up to and including the
    first unescaped ``)``, or the end of the text (CSS Syntax 3, section 4.3.14)."""
    while j < len(text):
        ch = text[j]
        if ch == ")":
            return j + 1
        if ch == "\\" and j + 1 < len(text) and text[j + 1] not in "\n\r\f":
            j = _escape(text, j)[1]
            continue
        j += 1
    return j


def _url(text: str, i: int) -> tuple[str | None, int]:
    """The reference of ``url(`` whose ``(`` ends at ``i`` (a url token or a ``url()``
    function of one string), and the index after its ``)``. None if it is not one, with
    ``i`` for a function whose contents are tokens to read, or the index after a bad url."""
    j = _skip_space(text, i)
    if j < len(text) and text[j] in "\"'":
        value, j = _string(text, j)
        j = _skip_space(text, j)
        if value is None or j >= len(text) or text[j] != ")":
            return None, i
        return value, j + 1
    out: list[str] = []
    while j < len(text):
        ch = text[j]
        if ch == ")":
            return "".join(out), j + 1
        if ch in _SPACE:
            k = _skip_space(text, j)
            if k < len(text) and text[k] == ")":
                return "".join(out), k + 1
            return None, _bad_url_remnants(text, j)
        if ch in _BAD_IN_URL or ord(ch) < 0x20 or ord(ch) == 0x7F:
            return None, _bad_url_remnants(text, j)
        if ch == "\\":
            if j + 1 >= len(text) or text[j + 1] in "\n\r\f":
                return None, _bad_url_remnants(text, j)
            char, j = _escape(text, j)
            out.append(char)
            continue
        out.append(ch)
        j += 1
    return "".join(out), j  # unterminated at the end of the text


def rewrite_css(text: str, replace: Callable[[str, str], str]) -> str:
    """``text`` with every ``url()`` and ``@import`` reference replaced by
    ``replace(reference, kind)`` (the reference unescaped and stripped; kind :data:`STYLE`
    for imports, :data:`FILE` for url()). A reference ``replace`` leaves unchanged keeps
    its text; a changed one is written ``url("...")`` (``@import url("...")``)."""
    lower = text.translate(_ASCII_LOWER)
    if "url(" not in lower and "@import" not in lower and "\\" not in text:
        return text
    out: list[str] = []
    i = copied = 0
    importing = False  # just after @import: its string or url() is a stylesheet
    n = len(text)

    def emit(start: int, end: int, value: str, kind: str, prefix: str) -> None:
        nonlocal copied
        new = replace(value.strip(), kind)
        if new == value.strip():
            return
        out.append(text[copied:start])
        out.append(f"{prefix}url({_quoted(new)})")
        copied = end

    while i < n:
        ch = text[i]
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        if ch in _SPACE:
            i += 1
            continue
        if ch in "\"'":
            start = i
            value, i = _string(text, i)
            if importing and value is not None:
                emit(start, i, value, STYLE, "")
            importing = False
            continue
        if ch in "@#":  # an at-keyword (@import, escapes decoded) or a hash: no url(
            name, i = _name(text, i + 1)
            importing = ch == "@" and name.translate(_ASCII_LOWER) == "import"
            continue
        if ch == "\\" and not _starts_escape(text, i):
            i += 1
            importing = False
            continue
        if _is_name(ch) or ch == "\\":
            start = i
            name, i = _name(text, i)
            if name.translate(_ASCII_LOWER) == "url" and i < n and text[i] == "(":
                value, i = _url(text, i + 1)
                if value is not None:
                    emit(start, i, value, STYLE if importing else FILE, "")
            importing = False
            continue
        importing = False
        i += 1
    out.append(text[copied:])
    return "".join(out)
