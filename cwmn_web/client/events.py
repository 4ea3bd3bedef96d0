"""The event catalogue: names, callback arguments and the states each event occurs in. No I/O."""

from __future__ import annotations

from dataclasses import dataclass

from .states import State, Transition

__all__ = ["EVENTS", "EXTRA_EVENTS", "EventSpec", "staged_events"]


@dataclass(frozen=True)
class EventSpec:
    """One event: its callback arguments (name, TypeScript type) and where it occurs."""

    name: str
    args: tuple[tuple[str, str], ...]
    states: frozenset[State]
    doc: str


def _e(name: str, states: tuple[State, ...], doc: str, *args: tuple[str, str]) -> EventSpec:
    return EventSpec(name, args, frozenset(states), doc)


S = State
_CATALOGUE = (
    _e("init", (S.INIT,), "CWMN initialized on this page; the DOM is ready."),
    _e("reinit", (S.INIT,), "CWMN reinitialized later on the page, e.g. after a session."),
    _e("init failed", (S.INCOMPATIBLE, S.UNAUTHORIZED), "Incompatible browser or domain."),
    _e("incompatible", (S.INCOMPATIBLE,), "The browser is incompatible."),
    _e("unauthorized", (S.UNAUTHORIZED,), "The page's domain is not authorized."),
    _e("ready no session", (S.NO_SESSION,), "Ready to begin a session; none exists."),
    _e("session pending", (S.SESSION_PENDING,), "Connecting to a session."),
    _e(
        "in session",
        (S.IN_SESSION,),
        "Hosting began; isResuming tells a resumed session from a new one.",
        ("isResuming", "boolean"),
    ),
    _e("session failed", (S.SESSION_PENDING,), "Connecting to a session failed."),
    _e("expired", (S.IN_SESSION,), "The server ended the session (fires before end session)."),
    _e("end session", (S.IN_SESSION,), "Hosting ended."),
    _e("connection issue", (S.IN_SESSION,), "A network issue interrupts realtime traffic."),
    _e("connection issue resolved", (S.IN_SESSION,), "Realtime traffic resumed."),
    _e(
        "guest connected",
        (S.IN_SESSION,),
        "A guest connected.",
        ("guestId", "string"),
        ("guest", "Guest"),
    ),
    _e(
        "guest disconnected",
        (S.IN_SESSION,),
        "A guest disconnected.",
        ("guestId", "string"),
        ("guest", "Guest"),
    ),
    _e(
        "roomdata update",
        (S.IN_SESSION,),
        "Guests or pointers changed; receives the guest list.",
        ("roomdata", "Guest[]"),
    ),
    _e("click", (S.IN_SESSION,), "A guest clicked.", ("guestId", "string")),
    _e("waiting for replay", (S.WAITING_FOR_REPLAY,), "Waiting for the replay video to render."),
    _e(
        "replay progress",
        (S.WAITING_FOR_REPLAY,),
        "Rendering progress.",
        ("replayProgress", "ReplayProgress"),
    ),
    _e("replay complete", (S.REPLAY_COMPLETE,), "The replay video finished rendering."),
    _e("replay error", (S.REPLAY_ERROR,), "The replay video failed to render."),
)

#: Documented additions: the original product's (INTERPRETATION.md), ``host invite`` (the
#: page was opened through an invitation to host; docs/LIVE.md, "Invite to host") and the
#: extensions' (docs/CONTROL.md).
_EXTRAS = (
    _e(
        "replay timeout warning",
        (S.IN_SESSION,),
        "The recording nears its maximum length (one minute left, or half the maximum for "
        "maxima under two minutes).",
        ("secondsLeft", "number"),
    ),
    _e("replay timeout", (S.IN_SESSION,), "The recording stopped at its maximum length."),
    _e(
        "host invite",
        (S.NO_SESSION,),
        "This page was opened through an invitation to host: ask the visitor (and for the "
        "code its email gave), then call session.acceptHostInvite({code}) or "
        "session.declineHostInvite() (without a listener, CWMN asks in its own dialog).",
        ("invite", "HostInvite"),
    ),
    _e(
        "control request",
        (S.IN_SESSION,),
        "Extension: a guest asks to control this page: ask the visitor, then call "
        "control.grant(guestId) or control.decline(guestId) (without a listener, CWMN asks in "
        "its own dialog).",
        ("guestId", "string"),
        ("guest", "Guest"),
    ),
    _e(
        "control change",
        (S.IN_SESSION,),
        "Extension: who controls this page changed (granted, revoked, released, or the guest "
        "left); null when nobody does.",
        ("controller", "Guest | null"),
    ),
)

EVENTS: dict[str, EventSpec] = {e.name: e for e in _CATALOGUE + _EXTRAS}
EXTRA_EVENTS: frozenset[str] = frozenset(e.name for e in _EXTRAS)


def staged_events(source: State, transition: Transition) -> list[tuple[str, State]]:
    """Pair each event of ``transition`` with the state the client is in when it fires.

    An event that occurs in the source state fires before the state changes
    (``end session``, ``session failed``, ``expired``); the rest fire after it.
    """
    staged: list[tuple[str, State]] = []
    moved = False
    for name in transition.events:
        if not moved and source in EVENTS[name].states:
            staged.append((name, source))
        else:
            moved = True
            staged.append((name, transition.target))
    return staged
