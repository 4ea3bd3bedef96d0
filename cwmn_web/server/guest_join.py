"""The store work of a guest's join, as functions of what the edge has: the real edge
(:mod:`.guest_socket`) runs them in its threadpool, the in-memory harness
(``tests/helpers/live_core``) calls them on its fake clock. Each decision between them is
the core's (:class:`~.live.guest.GuestCore`)."""

from __future__ import annotations

import secrets
from typing import NamedTuple

from .db import GuestRecord, LinkRecord, SessionRecord, Store
from .links import device_hash, usable_token
from .sites import DEFAULT_SETTINGS

__all__ = ["Lookup", "Seat", "look_up", "new_guest_id", "take_seat"]


class Lookup(NamedTuple):
    """What a join's admission is decided on."""

    link: LinkRecord | None
    """The link the token names (None: unknown, or not a token at all)."""
    session: SessionRecord | None
    device: str | None
    """The device's hash (None: it has no device cookie)."""
    seated: GuestRecord | None
    """The guest this device already is on the link."""


class Seat(NamedTuple):
    """The guest's row in the store, as :func:`take_seat` left it."""

    record: GuestRecord
    max_guests: int
    """How many guests the site allows."""
    created: bool
    """This join made the row: if the join is refused after all, the edge forgets it
    (``Store.forget_guest``), so a refused join leaves no guest behind."""


def look_up(store: Store, token: str, device_cookie: str | None) -> Lookup:
    """The link ``token`` names, its session, the device and its seat on the link."""
    link = store.link_by_token(token) if usable_token(token) else None
    session = store.get_session(link.session_id) if link is not None else None
    device = device_hash(device_cookie)
    seated = store.guest_on_link(link, device) if link is not None else None
    return Lookup(link, session, device, seated)


def new_guest_id(seated: GuestRecord | None) -> str:
    """The id of the guest joining: the one it has on the link, else a new one."""
    return seated.guest_id if seated is not None else secrets.token_urlsafe(12)


def take_seat(
    store: Store,
    session: SessionRecord,
    link: LinkRecord,
    device: str,
    guest_id: str,
    name: str,
    stamp: float | None = None,
) -> Seat:
    """Seat the guest in the store: its record, how many guests the site allows, and
    whether the row is new."""
    site = store.site_by_id(session.site_id)
    limit = int({**DEFAULT_SETTINGS, **(site.settings if site else {})}["maxGuests"])
    record, created = store.seat_guest(session.id, link, device, guest_id, name, now=stamp)
    return Seat(record, limit, created)
