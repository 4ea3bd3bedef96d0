"""cwmn_web.client.spec: the API surface matches CwmnAPI.md and INTERPRETATION.md."""

from __future__ import annotations

import json

import pytest

from cwmn_web.client.compat import REQUIRED_FEATURES
from cwmn_web.client.events import EVENTS
from cwmn_web.client.spec import ALL_STATES, FUNCTIONS, VIEW_KEYS, check_state, stub_tables
from cwmn_web.client.states import State
from cwmn_web.client.validation import VALIDATORS
from cwmn_web.errors import InvalidState

S = State
IN = frozenset({S.IN_SESSION})
RENDER = frozenset({S.WAITING_FOR_REPLAY, S.REPLAY_COMPLETE})

#: Every function of the reference's table with its "Valid in state(s)" column.
REFERENCE: dict[str, frozenset[State]] = {
    "on": ALL_STATES,
    "once": ALL_STATES,
    "off": ALL_STATES,
    "getCurrentState": ALL_STATES,
    "isCompatible": ALL_STATES,
    "getDomainInfo": ALL_STATES,
    "session.start": frozenset({S.NO_SESSION}),
    "session.inviteToHost": frozenset({S.NO_SESSION}),
    "session.endSession": IN,
    "session.getSessionInfo": IN,
    "guest.inviteGuest": IN,
    "guest.getInviteLink": IN,
    "guest.removeGuest": IN,
    "guest.muteGuest": IN,
    "guest.muteAllGuests": IN,
    "guest.getMuteAllGuests": IN,
    "guest.getGuestList": IN,
    "publicLink.setEnabled": IN,
    "publicLink.getEnabled": IN,
    "publicLink.generate": IN,
    "privacy.setEnabled": IN,
    "privacy.getEnabled": IN,
    "replay.muteAudio": IN,
    "replay.sendVideo": RENDER,
    "replay.getVideoURL": frozenset({S.REPLAY_COMPLETE}),
    "replay.abandonVideo": RENDER,
    "replay.getRenderingProgress": RENDER,
    "replay.dismissError": frozenset({S.REPLAY_ERROR}),
}
#: Documented additions: the invitee's answer to an invitation to host (docs/LIVE.md).
EXTRAS: dict[str, frozenset[State]] = {
    "session.acceptHostInvite": frozenset({S.NO_SESSION}),
    "session.declineHostInvite": frozenset({S.NO_SESSION}),
    # Extensions (docs/CONTROL.md).
    "guest.getJoinCode": IN,
    "control.grant": IN,
    "control.decline": IN,
    "control.revoke": IN,
    "control.setAllowed": IN,
    "control.getAllowed": IN,
    "control.getController": IN,
    "indicator.setEnabled": frozenset({S.NO_SESSION, S.SESSION_PENDING, S.IN_SESSION}),
    "indicator.getEnabled": ALL_STATES,
    "indicator.showMasked": frozenset({S.NO_SESSION, S.SESSION_PENDING, S.IN_SESSION}),
}
#: INTERPRETATION.md: "Purely local getters ... return values synchronously."
SYNC_GETTERS = {
    "getCurrentState",
    "isCompatible",
    "getDomainInfo",
    "guest.getMuteAllGuests",
    "publicLink.getEnabled",
    "privacy.getEnabled",
    "guest.getGuestList",
    "session.getSessionInfo",
    # Extensions: answered from the view as the reference's getters are.
    "control.getAllowed",
    "control.getController",
    "indicator.getEnabled",
}
SUBSCRIPTION = {"on", "once", "off"}


def test_all_states_is_every_state() -> None:
    assert frozenset(State) == ALL_STATES
    assert len(ALL_STATES) == 9


def test_functions_are_exactly_the_reference_functions_and_the_extras() -> None:
    assert len(REFERENCE) == 28
    assert set(FUNCTIONS) == set(REFERENCE) | set(EXTRAS)


@pytest.mark.parametrize("path", list(REFERENCE) + list(EXTRAS))
def test_valid_states(path: str) -> None:
    spec = FUNCTIONS[path]
    assert spec.path == path
    assert spec.states == {**REFERENCE, **EXTRAS}[path]
    assert spec.doc


def test_sync_getters_are_exactly_the_documented_ones() -> None:
    sync = {path for path, spec in FUNCTIONS.items() if spec.sync}
    assert sync - SUBSCRIPTION == SYNC_GETTERS
    assert sync >= SUBSCRIPTION


def test_view_keys_answer_every_sync_getter() -> None:
    assert set(VIEW_KEYS) == SYNC_GETTERS
    assert len(set(VIEW_KEYS.values())) == len(VIEW_KEYS)


def test_local_functions_are_the_stub_answered_ones() -> None:
    local = {path for path, spec in FUNCTIONS.items() if spec.local}
    assert local == SUBSCRIPTION | {"getCurrentState", "isCompatible", "getDomainInfo"}


def test_every_promise_function_has_a_validator() -> None:
    promises = {path for path, spec in FUNCTIONS.items() if not spec.sync}
    assert len(promises) == 26
    assert set(VALIDATORS) == promises


def test_check_state_accepts_valid_states() -> None:
    for path, spec in FUNCTIONS.items():
        for state in spec.states:
            check_state(path, state)  # raises InvalidState if not valid


def test_check_state_rejects_every_other_state() -> None:
    for path, spec in FUNCTIONS.items():
        for state in ALL_STATES - spec.states:
            with pytest.raises(InvalidState):
                check_state(path, state)


def test_check_state_message_names_current_and_valid_states() -> None:
    with pytest.raises(InvalidState) as info:
        check_state("replay.sendVideo", S.NO_SESSION)
    message = info.value.message
    assert info.value.code == "invalid_state"
    assert "CwmnAPI.replay.sendVideo()" in message
    assert '"no session"' in message
    assert '"waiting for replay", "replay complete"' in message
    assert "in session" not in message


def test_check_state_message_for_single_state_function() -> None:
    with pytest.raises(InvalidState) as info:
        check_state("session.start", S.IN_SESSION)
    assert info.value.message == (
        'CwmnAPI.session.start() is not valid in state "in session"; it is valid in: "no session"'
    )


def test_stub_tables_are_json_and_match_functions() -> None:
    tables = stub_tables()
    assert json.loads(json.dumps(tables)) == tables
    order = list(State)
    assert tables["st"] == [s.value for s in order]
    assert tables["ev"] == list(EVENTS)
    assert tables["feat"] == list(REQUIRED_FEATURES)
    fn, names = tables["fn"], tables["st"]
    assert isinstance(fn, dict) and isinstance(names, list)
    assert set(fn) == set(FUNCTIONS) - SUBSCRIPTION
    for path, (sync, mask, *key) in fn.items():
        spec = FUNCTIONS[path]
        assert sync == int(spec.sync)
        in_states = [name for i, name in enumerate(names) if mask >> i & 1]
        assert in_states == [s.value for s in order if s in spec.states]
        assert key == ([VIEW_KEYS[path]] if path in VIEW_KEYS else [])
