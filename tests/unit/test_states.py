"""cwmn_web.client.states: every state x trigger pair, the paths through the table, boot."""

# mypy: disable-error-code="comparison-overlap"
# (the machine's state changes through run(), which mypy does not see)

from __future__ import annotations

import pytest

from cwmn_web.client.states import TRANSITIONS, Machine, State, Transition, Trigger
from cwmn_web.errors import CwmnError, InvalidState

S, T = State, Trigger

#: The table written out independently of the code (INTERPRETATION.md "States and events").
EXPECTED: dict[State, dict[Trigger, tuple[State, tuple[str, ...]]]] = {
    S.INIT: {
        T.INCOMPATIBLE: (S.INCOMPATIBLE, ("incompatible", "init failed")),
        T.UNAUTHORIZED: (S.UNAUTHORIZED, ("unauthorized", "init failed")),
        T.READY: (S.NO_SESSION, ("ready no session",)),
        T.RESUME: (S.SESSION_PENDING, ("session pending",)),
        T.RESUME_REPLAY: (S.WAITING_FOR_REPLAY, ("waiting for replay",)),
    },
    S.INCOMPATIBLE: {},
    S.UNAUTHORIZED: {},
    S.NO_SESSION: {
        T.START: (S.SESSION_PENDING, ("session pending",)),
    },
    S.SESSION_PENDING: {
        T.CONNECTED: (S.IN_SESSION, ("in session",)),
        T.RESUMED: (S.IN_SESSION, ("in session",)),
        T.CONNECT_FAILED: (S.NO_SESSION, ("session failed", "ready no session")),
    },
    S.IN_SESSION: {
        T.END_REALTIME: (S.INIT, ("end session", "reinit")),
        T.EXPIRE_REALTIME: (S.INIT, ("expired", "end session", "reinit")),
        T.END_REPLAY: (S.WAITING_FOR_REPLAY, ("end session", "waiting for replay")),
        T.EXPIRE_REPLAY: (S.WAITING_FOR_REPLAY, ("expired", "end session", "waiting for replay")),
    },
    S.WAITING_FOR_REPLAY: {
        T.RENDER_PROGRESS: (S.WAITING_FOR_REPLAY, ("replay progress",)),
        T.RENDER_DONE: (S.REPLAY_COMPLETE, ("replay complete",)),
        T.RENDER_FAILED: (S.REPLAY_ERROR, ("replay error",)),
        T.ABANDON_VIDEO: (S.INIT, ("reinit",)),
    },
    S.REPLAY_COMPLETE: {
        T.SEND_VIDEO: (S.INIT, ("reinit",)),
        T.ABANDON_VIDEO: (S.INIT, ("reinit",)),
    },
    S.REPLAY_ERROR: {
        T.DISMISS_ERROR: (S.INIT, ("reinit",)),
    },
}

PAIRS = [(state, trigger) for state in State for trigger in Trigger]


def machine_in(state: State) -> Machine:
    machine = Machine()
    machine.state = state
    return machine


def run(machine: Machine, *triggers: Trigger) -> list[str]:
    events: list[str] = []
    for trigger in triggers:
        events.extend(machine.apply(trigger))
    return events


def test_state_values_are_the_api_strings() -> None:
    assert [s.value for s in State] == [
        "init",
        "incompatible browser",
        "unauthorized",
        "no session",
        "session pending",
        "in session",
        "waiting for replay",
        "replay complete",
        "replay error",
    ]


def test_table_matches_the_documented_table() -> None:
    assert set(TRANSITIONS) == set(State)
    actual = {
        state: {trigger: (t.target, t.events) for trigger, t in edges.items()}
        for state, edges in TRANSITIONS.items()
    }
    assert actual == EXPECTED


def test_every_trigger_is_used_somewhere() -> None:
    used = {trigger for edges in TRANSITIONS.values() for trigger in edges}
    assert used == set(Trigger)


@pytest.mark.parametrize(
    ("state", "trigger"), PAIRS, ids=[f"{s.value}|{t.value}" for s, t in PAIRS]
)
def test_every_state_trigger_pair(state: State, trigger: Trigger) -> None:
    machine = machine_in(state)
    expected = EXPECTED[state].get(trigger)
    assert machine.can(trigger) is (expected is not None)
    if expected is None:
        with pytest.raises(InvalidState) as info:
            machine.apply(trigger)
        assert info.value.code == "invalid_state"
        assert f'"{trigger.value}"' in info.value.message
        assert f'"{state.value}"' in info.value.message
        assert machine.state is state
    else:
        target, events = expected
        assert machine.apply(trigger) == events
        assert machine.state is target


def test_transition_tuple_accessors() -> None:
    transition = Transition(S.INIT, "end session", "reinit")
    assert transition.target is S.INIT
    assert transition.events == ("end session", "reinit")
    assert transition == (S.INIT, ("end session", "reinit"))


def test_realtime_path() -> None:
    machine = Machine()
    assert machine.boot() == ("init",)
    assert run(machine, T.READY) == ["ready no session"]
    assert machine.state is S.NO_SESSION
    assert run(machine, T.START) == ["session pending"]
    assert machine.state is S.SESSION_PENDING
    assert run(machine, T.CONNECTED) == ["in session"]
    assert machine.state is S.IN_SESSION
    assert run(machine, T.END_REALTIME) == ["end session", "reinit"]
    assert machine.state is S.INIT
    assert run(machine, T.READY) == ["ready no session"]
    assert machine.state is S.NO_SESSION


def test_failure_path() -> None:
    machine = machine_in(S.NO_SESSION)
    events = run(machine, T.START, T.CONNECT_FAILED)
    assert events == ["session pending", "session failed", "ready no session"]
    assert machine.state is S.NO_SESSION


def test_expiry_path() -> None:
    machine = machine_in(S.IN_SESSION)
    assert run(machine, T.EXPIRE_REALTIME, T.READY) == [
        "expired",
        "end session",
        "reinit",
        "ready no session",
    ]
    assert machine.state is S.NO_SESSION


def test_resume_path() -> None:
    machine = Machine()
    machine.boot()
    assert run(machine, T.RESUME, T.RESUMED) == ["session pending", "in session"]
    assert machine.state is S.IN_SESSION


def test_replay_path_to_sent_video() -> None:
    machine = machine_in(S.NO_SESSION)
    events = run(
        machine,
        T.START,
        T.CONNECTED,
        T.END_REPLAY,
        T.RENDER_PROGRESS,
        T.RENDER_PROGRESS,
        T.RENDER_DONE,
        T.SEND_VIDEO,
        T.READY,
    )
    assert events == [
        "session pending",
        "in session",
        "end session",
        "waiting for replay",
        "replay progress",
        "replay progress",
        "replay complete",
        "reinit",
        "ready no session",
    ]
    assert machine.state is S.NO_SESSION


def test_replay_expiry_then_render_error_then_dismiss() -> None:
    machine = machine_in(S.IN_SESSION)
    events = run(machine, T.EXPIRE_REPLAY, T.RENDER_FAILED)
    assert events == ["expired", "end session", "waiting for replay", "replay error"]
    assert machine.state is S.REPLAY_ERROR
    assert run(machine, T.DISMISS_ERROR, T.READY) == ["reinit", "ready no session"]
    assert machine.state is S.NO_SESSION


@pytest.mark.parametrize("start", [S.WAITING_FOR_REPLAY, S.REPLAY_COMPLETE])
def test_abandon_video_returns_to_init(start: State) -> None:
    machine = machine_in(start)
    assert run(machine, T.ABANDON_VIDEO) == ["reinit"]
    assert machine.state is S.INIT


def test_failed_init_states_are_terminal() -> None:
    for state in (S.INCOMPATIBLE, S.UNAUTHORIZED):
        machine = machine_in(state)
        assert not any(machine.can(t) for t in Trigger)


def test_invalid_trigger_mid_path_keeps_state() -> None:
    machine = machine_in(S.NO_SESSION)
    machine.apply(T.START)
    with pytest.raises(InvalidState):
        machine.apply(T.START)
    assert machine.state is S.SESSION_PENDING
    assert run(machine, T.CONNECTED) == ["in session"]


def test_boot_fires_init_once() -> None:
    machine = Machine()
    assert machine.state is S.INIT
    assert not machine.booted
    assert machine.boot() == ("init",)
    assert machine.booted
    assert machine.state is S.INIT
    with pytest.raises(InvalidState) as info:
        machine.boot()
    assert isinstance(info.value, CwmnError)
    assert info.value.code == "invalid_state"
    assert machine.state is S.INIT
