"""A guest's name: the one rule the server and the guest's viewer share. No I/O here.

The viewer page sends the text as typed; the viewer's Python and the server clean it with
:func:`clean_guest_name`, so both agree on every name (Python's idea of whitespace and of a
character: code points, not UTF-16 units).
"""

from __future__ import annotations

__all__ = ["DEFAULT_GUEST_NAME", "MAX_GUEST_NAME", "MAX_NAME_CHARS", "clean_guest_name"]

#: A name as the server keeps it: at most this many characters (code points), trimmed.
#: The viewer's name input (static/viewer.html) has this ``maxlength``.
MAX_GUEST_NAME = 100
#: The longest name a ``set_name`` may carry on the wire (longer closes the socket): room
#: for spaces around a name of :data:`MAX_GUEST_NAME` characters, which are cut.
MAX_NAME_CHARS = 2 * MAX_GUEST_NAME
#: The name of a guest who gave none (and whom the server knows by none).
DEFAULT_GUEST_NAME = "Guest"


def clean_guest_name(name: str) -> str:
    """Stripped, at most :data:`MAX_GUEST_NAME` characters, ``Guest`` when empty."""
    return name.strip()[:MAX_GUEST_NAME].strip() or DEFAULT_GUEST_NAME
