"""The API's guest object (docs/API.md ``Guest``), as the server builds it and pages see it.

One shape for the server (:meth:`~cwmn_web.server.rooms.Guest.to_dict`), the wire
(``guest_joined``, ``guest_left``, ``guest_updated``), the host's core and the test helpers.
It is a plain JSON object: ``total=False`` because a peer may leave keys out (a host keeps
what it gets, unknown keys included, and hands it to the page unchanged). No I/O here.
"""

from __future__ import annotations

from typing import TypedDict

__all__ = ["GuestObject", "GuestPointerPosition"]


class GuestPointerPosition(TypedDict):
    """Where a guest points, in the host page's document coordinates (CSS pixels)."""

    x: float
    y: float


class GuestObject(TypedDict, total=False):
    """One guest, as ``CwmnAPI.guest.getGuestList()`` and the guest events give it."""

    #: The server's id for this guest in the session.
    guestId: str
    #: The name the guest gave (or the default one).
    name: str
    #: The guest's own flag (``muteGuest``); the room's mute-all flag is separate.
    muted: bool
    #: Where the guest points, or None when its pointer is not over the page.
    pointer: GuestPointerPosition | None
    #: When the guest joined (server wall clock, seconds since the epoch).
    joinedAt: float
    #: How the guest came in: ``private``, ``public`` or ``invite``.
    via: str
    #: The colour of the guest's cursor (CSS hex).
    color: str
    #: Extension: the guest controls the host's page (docs/CONTROL.md).
    controlling: bool
