"""The API surface as data: every CwmnAPI function, its valid states and whether it is sync.

One source of truth: the stub's tables, the state checks and the docs are made from it.
No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidState
from .states import State

__all__ = ["ALL_STATES", "FUNCTIONS", "VIEW_KEYS", "FunctionSpec", "check_state", "stub_tables"]

ALL_STATES: frozenset[State] = frozenset(State)


@dataclass(frozen=True)
class FunctionSpec:
    """One function of ``window.CwmnAPI``.

    ``sync`` functions return a value at once (local getters); the rest return a Promise.
    ``local`` functions are answered by the page's stub itself (no Python round trip).
    ``extension``: not in the reference API (docs/CONTROL.md); the reference's behaviour does
    not depend on it.
    """

    path: str
    states: frozenset[State]
    sync: bool
    params: str
    doc: str
    local: bool = False
    extension: bool = False


def _f(
    path: str, states: tuple[State, ...] | frozenset[State], params: str, doc: str, **kw: bool
) -> FunctionSpec:
    return FunctionSpec(
        path,
        frozenset(states),
        kw.get("sync", False),
        params,
        doc,
        kw.get("local", False),
        kw.get("extension", False),
    )


S = State
_IN = (S.IN_SESSION,)
_RENDER = (S.WAITING_FOR_REPLAY, S.REPLAY_COMPLETE)
_READY = (S.NO_SESSION, S.SESSION_PENDING, S.IN_SESSION)

FUNCTIONS: dict[str, FunctionSpec] = {
    f.path: f
    for f in (
        _f("on", ALL_STATES, "eventName, callback", "Register a callback.", sync=True, local=True),
        _f(
            "once",
            ALL_STATES,
            "eventName, callback",
            "Register a one-shot callback; returns a function that deregisters it.",
            sync=True,
            local=True,
        ),
        _f("off", ALL_STATES, "eventName, callback", "Remove a callback.", sync=True, local=True),
        _f("getCurrentState", ALL_STATES, "", "The current state.", sync=True, local=True),
        _f("isCompatible", ALL_STATES, "", "Is this browser compatible.", sync=True, local=True),
        _f(
            "getDomainInfo",
            ALL_STATES,
            "",
            "This domain's authorization, features and settings.",
            sync=True,
            local=True,
        ),
        _f(
            "session.start",
            (S.NO_SESSION,),
            "{hostName, hostEmail, isReplay}",
            "Start a realtime or replay session.",
        ),
        _f(
            "session.inviteToHost",
            (S.NO_SESSION,),
            "{hostName, hostEmail, inviteName, inviteEmail, message, url}",
            "Invite someone to host a session ('with me').",
        ),
        _f(
            "session.acceptHostInvite",
            (S.NO_SESSION,),
            "{code}",
            "Host the session this page's invitation to host asks for (the visitor agreed "
            "and typed the code the invitation's email gave).",
        ),
        _f(
            "session.declineHostInvite",
            (S.NO_SESSION,),
            "",
            "Turn down this page's invitation to host (its link still works until it expires).",
        ),
        _f("session.endSession", _IN, "", "End the hosted session."),
        _f("session.getSessionInfo", _IN, "", "Info about the current session.", sync=True),
        _f(
            "guest.inviteGuest",
            _IN,
            "{guestName, guestEmail, message} | {guestPhone, guestName}",
            "Invite a guest by email or SMS.",
        ),
        _f("guest.getInviteLink", _IN, "", "A one-time private invite link."),
        _f("guest.removeGuest", _IN, "{guestId} | guestId", "Remove a guest."),
        _f("guest.muteGuest", _IN, "{guestId, muted} | guestId, muted", "Mute/unmute a guest."),
        _f("guest.muteAllGuests", _IN, "status", "Mute/unmute all guests."),
        _f("guest.getMuteAllGuests", _IN, "", "The mute-all status.", sync=True),
        _f("guest.getGuestList", _IN, "", "The guests of the session.", sync=True),
        _f(
            "guest.getJoinCode",
            _IN,
            "",
            "A short numeric code a guest types on the server's /join page instead of "
            "following a link (one device, expiring).",
            extension=True,
        ),
        _f("publicLink.setEnabled", _IN, "enabled", "Enable/disable the public link."),
        _f("publicLink.getEnabled", _IN, "", "Is the public link enabled.", sync=True),
        _f("publicLink.generate", _IN, "", "The public link for guests to join."),
        _f("privacy.setEnabled", _IN, "enabled", "Enable/disable host privacy."),
        _f("privacy.getEnabled", _IN, "", "Is host privacy on.", sync=True),
        _f("replay.muteAudio", _IN, "muted", "Mute the narration of a replay recording."),
        _f("replay.sendVideo", _RENDER, "{toEmails, subject, message}", "Email the video."),
        _f("replay.getVideoURL", (S.REPLAY_COMPLETE,), "", "The rendered video's URL."),
        _f("replay.abandonVideo", _RENDER, "", "Drop the replay without sending it."),
        _f("replay.getRenderingProgress", _RENDER, "", "Rendering progress and completion."),
        _f("replay.dismissError", (S.REPLAY_ERROR,), "", "Leave the replay error state."),
        # Extensions (docs/CONTROL.md).
        _f(
            "control.grant",
            _IN,
            "{guestId} | guestId",
            "Give control of this page to a guest (the visitor agreed).",
            extension=True,
        ),
        _f(
            "control.decline",
            _IN,
            "{guestId} | guestId",
            "Turn down a guest's request for control.",
            extension=True,
        ),
        _f("control.revoke", _IN, "", "Take control back from the guest.", extension=True),
        _f(
            "control.setAllowed",
            _IN,
            "allowed",
            "Take control requests, or refuse them for the rest of the session.",
            extension=True,
        ),
        _f(
            "control.getAllowed",
            _IN,
            "",
            "Does this page take control requests.",
            sync=True,
            extension=True,
        ),
        _f(
            "control.getController",
            _IN,
            "",
            "The guest that controls this page, or null.",
            sync=True,
            extension=True,
        ),
        _f(
            "indicator.setEnabled",
            _READY,
            "enabled",
            "Show CWMN's sharing badge (default), or not: the site shows its own.",
            extension=True,
        ),
        _f(
            "indicator.getEnabled",
            ALL_STATES,
            "",
            "Is CWMN's sharing badge shown while sharing.",
            sync=True,
            extension=True,
        ),
        _f(
            "indicator.showMasked",
            _READY,
            "enabled",
            "Outline, for the visitor only, what guests cannot see (masked and blocked).",
            extension=True,
        ),
    )
}


#: Synchronous getters answered from the view the worker publishes: path -> view key.
VIEW_KEYS: dict[str, str] = {
    "getCurrentState": "state",
    "isCompatible": "compatible",
    "getDomainInfo": "domainInfo",
    "session.getSessionInfo": "sessionInfo",
    "guest.getMuteAllGuests": "muteAll",
    "guest.getGuestList": "guests",
    "publicLink.getEnabled": "publicLinkEnabled",
    "privacy.getEnabled": "privacyEnabled",
    "control.getAllowed": "controlAllowed",
    "control.getController": "controller",
    "indicator.getEnabled": "indicator",
}


def stub_tables() -> dict[str, object]:
    """The tables the JavaScript stub is built with (so it cannot drift from this file).

    ``fn``: path → ``[sync, states]`` (``states`` a bit mask over ``st``), a synchronous
    getter's view key third: small, as every page view loads them."""
    from .compat import REQUIRED_FEATURES
    from .events import EVENTS

    order = list(State)

    def entry(path: str, spec: FunctionSpec) -> list[object]:
        mask = sum(1 << order.index(s) for s in spec.states)
        return [int(spec.sync), mask] + ([VIEW_KEYS[path]] if path in VIEW_KEYS else [])

    return {
        "ev": list(EVENTS),
        "fn": {
            path: entry(path, spec)
            for path, spec in FUNCTIONS.items()
            if not spec.local or path in VIEW_KEYS
        },
        "st": [s.value for s in order],
        "feat": list(REQUIRED_FEATURES),
    }


def check_state(path: str, state: State) -> None:
    """Raise ``invalid_state`` naming the current and valid states if ``path`` is not valid."""
    spec = FUNCTIONS[path]
    if state in spec.states:
        return
    valid = ", ".join(f'"{s.value}"' for s in State if s in spec.states)
    raise InvalidState(
        f'CwmnAPI.{path}() is not valid in state "{state.value}"; it is valid in: {valid}'
    )
