"""``srcset`` candidates, parsed as the HTML standard parses them. No I/O.

A candidate's URL is the run of non-whitespace characters after the separating commas and
spaces (so ``data:image/png;base64,AAA 2x`` is one candidate: its commas are the URL's),
trailing commas ending it; its descriptors run to the next comma outside parentheses.
"""

from __future__ import annotations

__all__ = ["parse_srcset", "serialize_srcset"]

_SPACE = " \t\n\r\f"


def parse_srcset(value: str) -> list[tuple[str, list[str]]]:
    """Each candidate of a ``srcset`` value: its URL and its descriptors (``2x``, ``800w``)."""
    out: list[tuple[str, list[str]]] = []
    i, n = 0, len(value)
    while True:
        while i < n and (value[i] in _SPACE or value[i] == ","):
            i += 1
        if i >= n:
            return out
        start = i
        while i < n and value[i] not in _SPACE:
            i += 1
        url = value[start:i]
        descriptors: list[str] = []
        if url.endswith(","):
            out.append((url.rstrip(","), descriptors))
            continue
        i = _descriptors(value, i, descriptors)
        out.append((url, descriptors))


def _descriptors(value: str, i: int, into: list[str]) -> int:
    """Read descriptors from ``value[i:]`` into ``into``; the index after the candidate."""
    n, current, state = len(value), "", "in"
    while i < n and value[i] in _SPACE:
        i += 1
    while i < n:
        ch = value[i]
        if state == "in":
            if ch in _SPACE:
                if current:
                    into.append(current)
                current, state = "", "after"
            elif ch == ",":
                if current:
                    into.append(current)
                return i + 1
            else:
                current += ch
                if ch == "(":
                    state = "parens"
        elif state == "parens":
            current += ch
            if ch == ")":
                state = "in"
        elif ch not in _SPACE:  # after a descriptor
            state = "in"
            continue
        i += 1
    if current:
        into.append(current)
    return i


def serialize_srcset(candidates: list[tuple[str, list[str]]]) -> str:
    """A ``srcset`` value of ``candidates`` (URL, then its descriptors)."""
    return ", ".join(" ".join([url, *descriptors]) for url, descriptors in candidates)
