"""Properties of the client's state table (cwmn_web/client/states.py) for any sequence of
triggers: each one from each state yields a defined state, or a defined refusal
(``invalid_state``) that leaves the state as it was; every event fired is in the catalogue
and fires in a state it is documented for. Profiles: tests/unit/conftest.py."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cwmn_web.client.events import EVENTS, staged_events
from cwmn_web.client.states import TRANSITIONS, Machine, State, Trigger
from cwmn_web.errors import InvalidState

TERMINAL = frozenset({State.INCOMPATIBLE, State.UNAUTHORIZED})


def test_the_table_covers_every_state_and_names_only_states_and_events() -> None:
    assert set(TRANSITIONS) == set(State)
    for state, edges in TRANSITIONS.items():
        for trigger, transition in edges.items():
            assert isinstance(trigger, Trigger) and transition.target in State
            assert transition.events, (state, trigger)  # every move says so
            assert set(transition.events) <= set(EVENTS), (state, trigger)


def _reachable(start: State) -> set[State]:
    seen, todo = {start}, [start]
    while todo:
        for transition in TRANSITIONS[todo.pop()].values():
            if transition.target not in seen:
                seen.add(transition.target)
                todo.append(transition.target)
    return seen


def test_every_state_is_reachable_and_only_the_refusals_are_dead_ends() -> None:
    assert _reachable(State.INIT) == set(State)
    for state in State:
        if state in TERMINAL:
            assert TRANSITIONS[state] == {}
        else:  # whatever happens, the page can always get back to a fresh start
            assert State.INIT in _reachable(state) or state == State.INIT
            assert State.NO_SESSION in _reachable(state), state


@given(st.sampled_from(list(State)), st.sampled_from(list(Trigger)))
def test_every_trigger_from_every_state_moves_or_is_refused(state: State, trigger: Trigger) -> None:
    machine = Machine()
    machine.state = state
    assert machine.can(trigger) == (trigger in TRANSITIONS[state])
    try:
        events = machine.apply(trigger)
    except InvalidState as error:
        assert error.code == "invalid_state"
        assert trigger.value in error.message and state.value in error.message
        assert machine.state == state  # a refusal changes nothing
    else:
        assert machine.state == TRANSITIONS[state][trigger].target
        assert events == TRANSITIONS[state][trigger].events


@given(st.lists(st.sampled_from(list(Trigger)), max_size=40))
def test_any_sequence_of_triggers_keeps_the_invariants(triggers: list[Trigger]) -> None:
    machine = Machine()
    assert machine.boot() == ("init",)
    for trigger in triggers:
        before = machine.state
        if not machine.can(trigger):
            continue
        transition = TRANSITIONS[before][trigger]
        assert machine.apply(trigger) == transition.events
        assert before not in TERMINAL  # nothing leaves a refusal
        if machine.state == State.IN_SESSION:
            assert before in (State.SESSION_PENDING, State.IN_SESSION)
        for name, fired_in in staged_events(before, transition):
            assert fired_in in EVENTS[name].states, (name, fired_in)
    try:
        machine.boot()
    except InvalidState as error:
        assert error.code == "invalid_state"  # init fires once a page
    else:
        raise AssertionError("boot ran twice")
