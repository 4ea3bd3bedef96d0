"""cwmn_web.client.events: the catalogue and which state each fired event is seen in."""

from __future__ import annotations

import pytest

from cwmn_web.client.events import EVENTS, EXTRA_EVENTS, staged_events
from cwmn_web.client.states import TRANSITIONS, State, Transition, Trigger

S, T = State, Trigger

#: The reference's event table (CwmnAPI.md): name -> (callback arguments, occurs in states).
REFERENCE: dict[str, tuple[tuple[str, ...], frozenset[State]]] = {
    "init": ((), frozenset({S.INIT})),
    "reinit": ((), frozenset({S.INIT})),
    "init failed": ((), frozenset({S.INCOMPATIBLE, S.UNAUTHORIZED})),
    "incompatible": ((), frozenset({S.INCOMPATIBLE})),
    "unauthorized": ((), frozenset({S.UNAUTHORIZED})),
    "ready no session": ((), frozenset({S.NO_SESSION})),
    "session pending": ((), frozenset({S.SESSION_PENDING})),
    "in session": (("isResuming",), frozenset({S.IN_SESSION})),
    "session failed": ((), frozenset({S.SESSION_PENDING})),
    "expired": ((), frozenset({S.IN_SESSION})),
    "end session": ((), frozenset({S.IN_SESSION})),
    "connection issue": ((), frozenset({S.IN_SESSION})),
    "connection issue resolved": ((), frozenset({S.IN_SESSION})),
    "guest connected": (("guestId", "guest"), frozenset({S.IN_SESSION})),
    "guest disconnected": (("guestId", "guest"), frozenset({S.IN_SESSION})),
    "roomdata update": (("roomdata",), frozenset({S.IN_SESSION})),
    "click": (("guestId",), frozenset({S.IN_SESSION})),
    "waiting for replay": ((), frozenset({S.WAITING_FOR_REPLAY})),
    "replay progress": (("replayProgress",), frozenset({S.WAITING_FOR_REPLAY})),
    "replay complete": ((), frozenset({S.REPLAY_COMPLETE})),
    "replay error": ((), frozenset({S.REPLAY_ERROR})),
}
REPLAY_EXTRAS = {"replay timeout warning", "replay timeout"}
EXTRAS = REPLAY_EXTRAS | {"host invite", "control request", "control change"}


def test_catalogue_is_the_21_reference_events_plus_the_5_extras() -> None:
    assert len(REFERENCE) == 21
    assert set(EVENTS) == set(REFERENCE) | EXTRAS
    assert len(EVENTS) == 26
    assert frozenset(EXTRAS) == EXTRA_EVENTS
    # The reference's order comes first, the extras after it.
    assert list(EVENTS)[:21] == list(REFERENCE)


@pytest.mark.parametrize("name", list(REFERENCE))
def test_reference_event_arguments_and_states(name: str) -> None:
    args, states = REFERENCE[name]
    spec = EVENTS[name]
    assert spec.name == name
    assert tuple(arg for arg, _type in spec.args) == args
    assert spec.states == states
    assert spec.doc


def test_argument_types() -> None:
    assert EVENTS["in session"].args == (("isResuming", "boolean"),)
    assert EVENTS["click"].args == (("guestId", "string"),)
    assert EVENTS["roomdata update"].args == (("roomdata", "Guest[]"),)


def test_replay_extras_occur_while_recording() -> None:
    for name in REPLAY_EXTRAS:
        assert EVENTS[name].states == frozenset({S.IN_SESSION})
    assert EVENTS["replay timeout warning"].args == (("secondsLeft", "number"),)
    assert EVENTS["replay timeout"].args == ()


def test_host_invite_occurs_in_no_session_with_the_invitation() -> None:
    assert EVENTS["host invite"].states == frozenset({S.NO_SESSION})
    assert EVENTS["host invite"].args == (("invite", "HostInvite"),)


def test_every_event_the_table_fires_is_catalogued() -> None:
    fired = {e for edges in TRANSITIONS.values() for t in edges.values() for e in t.events}
    assert fired <= set(EVENTS)


@pytest.mark.parametrize(
    ("source", "trigger", "expected"),
    [
        (S.IN_SESSION, T.END_REALTIME, [("end session", S.IN_SESSION), ("reinit", S.INIT)]),
        (
            S.IN_SESSION,
            T.EXPIRE_REALTIME,
            [("expired", S.IN_SESSION), ("end session", S.IN_SESSION), ("reinit", S.INIT)],
        ),
        (
            S.IN_SESSION,
            T.END_REPLAY,
            [("end session", S.IN_SESSION), ("waiting for replay", S.WAITING_FOR_REPLAY)],
        ),
        (
            S.SESSION_PENDING,
            T.CONNECT_FAILED,
            [("session failed", S.SESSION_PENDING), ("ready no session", S.NO_SESSION)],
        ),
        (S.NO_SESSION, T.START, [("session pending", S.SESSION_PENDING)]),
        (S.SESSION_PENDING, T.CONNECTED, [("in session", S.IN_SESSION)]),
        (
            S.INIT,
            T.INCOMPATIBLE,
            [("incompatible", S.INCOMPATIBLE), ("init failed", S.INCOMPATIBLE)],
        ),
        (
            S.INIT,
            T.UNAUTHORIZED,
            [("unauthorized", S.UNAUTHORIZED), ("init failed", S.UNAUTHORIZED)],
        ),
        (S.INIT, T.READY, [("ready no session", S.NO_SESSION)]),
        (
            S.WAITING_FOR_REPLAY,
            T.RENDER_PROGRESS,
            [("replay progress", S.WAITING_FOR_REPLAY)],
        ),
        (S.REPLAY_COMPLETE, T.SEND_VIDEO, [("reinit", S.INIT)]),
    ],
)
def test_staged_events(source: State, trigger: Trigger, expected: list[tuple[str, State]]) -> None:
    assert staged_events(source, TRANSITIONS[source][trigger]) == expected


def test_every_transition_fires_each_event_in_a_state_it_occurs_in() -> None:
    for source, edges in TRANSITIONS.items():
        for transition in edges.values():
            staged = staged_events(source, transition)
            assert [name for name, _ in staged] == list(transition.events)
            for name, state in staged:
                assert state in EVENTS[name].states, (source, name, state)


def test_once_moved_later_events_stay_in_the_target() -> None:
    # "reinit" occurs in init; after moving, an event that also occurs in the source
    # still counts as fired in the target.
    transition = Transition(S.INIT, "reinit", "end session")
    assert staged_events(S.IN_SESSION, transition) == [
        ("reinit", S.INIT),
        ("end session", S.INIT),
    ]
