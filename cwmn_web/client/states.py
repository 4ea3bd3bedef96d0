"""The client state machine as data: states, triggers, transitions and the events each fires.

No I/O here. A missing ``TRANSITIONS[state][trigger]`` key is an ``invalid_state`` error.
"""

from __future__ import annotations

from enum import StrEnum

from ..errors import InvalidState

__all__ = ["TRANSITIONS", "Machine", "State", "Transition", "Trigger"]


class State(StrEnum):
    """The nine states; values are the exact strings ``getCurrentState()`` returns."""

    INIT = "init"
    INCOMPATIBLE = "incompatible browser"
    UNAUTHORIZED = "unauthorized"
    NO_SESSION = "no session"
    SESSION_PENDING = "session pending"
    IN_SESSION = "in session"
    WAITING_FOR_REPLAY = "waiting for replay"
    REPLAY_COMPLETE = "replay complete"
    REPLAY_ERROR = "replay error"


class Trigger(StrEnum):
    """What can happen to the client; each names one edge of the state table."""

    INCOMPATIBLE = "incompatible"
    UNAUTHORIZED = "unauthorized"
    READY = "ready"
    START = "start"
    RESUME = "resume"
    RESUME_REPLAY = "resume replay"
    CONNECTED = "connected"
    RESUMED = "resumed"
    CONNECT_FAILED = "connect failed"
    END_REALTIME = "end realtime"
    END_REPLAY = "end replay"
    EXPIRE_REALTIME = "expire realtime"
    EXPIRE_REPLAY = "expire replay"
    RENDER_PROGRESS = "render progress"
    RENDER_DONE = "render done"
    RENDER_FAILED = "render failed"
    SEND_VIDEO = "send video"
    ABANDON_VIDEO = "abandon video"
    DISMISS_ERROR = "dismiss error"


class Transition(tuple[State, tuple[str, ...]]):
    """``(next_state, events fired in order)``."""

    __slots__ = ()

    def __new__(cls, target: State, *events: str) -> Transition:
        return super().__new__(cls, (target, events))

    @property
    def target(self) -> State:
        return self[0]

    @property
    def events(self) -> tuple[str, ...]:
        return self[1]


S, T = State, Trigger

#: state -> trigger -> (next state, events fired in order). The ``init`` event itself fires once
#: at boot (see :meth:`Machine.boot`); ``in session`` carries ``isResuming``.
TRANSITIONS: dict[State, dict[Trigger, Transition]] = {
    S.INIT: {
        T.INCOMPATIBLE: Transition(S.INCOMPATIBLE, "incompatible", "init failed"),
        T.UNAUTHORIZED: Transition(S.UNAUTHORIZED, "unauthorized", "init failed"),
        T.READY: Transition(S.NO_SESSION, "ready no session"),
        T.RESUME: Transition(S.SESSION_PENDING, "session pending"),
        T.RESUME_REPLAY: Transition(S.WAITING_FOR_REPLAY, "waiting for replay"),
    },
    S.INCOMPATIBLE: {},
    S.UNAUTHORIZED: {},
    S.NO_SESSION: {
        T.START: Transition(S.SESSION_PENDING, "session pending"),
    },
    S.SESSION_PENDING: {
        T.CONNECTED: Transition(S.IN_SESSION, "in session"),
        T.RESUMED: Transition(S.IN_SESSION, "in session"),
        T.CONNECT_FAILED: Transition(S.NO_SESSION, "session failed", "ready no session"),
    },
    S.IN_SESSION: {
        T.END_REALTIME: Transition(S.INIT, "end session", "reinit"),
        T.EXPIRE_REALTIME: Transition(S.INIT, "expired", "end session", "reinit"),
        T.END_REPLAY: Transition(S.WAITING_FOR_REPLAY, "end session", "waiting for replay"),
        T.EXPIRE_REPLAY: Transition(
            S.WAITING_FOR_REPLAY, "expired", "end session", "waiting for replay"
        ),
    },
    S.WAITING_FOR_REPLAY: {
        T.RENDER_PROGRESS: Transition(S.WAITING_FOR_REPLAY, "replay progress"),
        T.RENDER_DONE: Transition(S.REPLAY_COMPLETE, "replay complete"),
        T.RENDER_FAILED: Transition(S.REPLAY_ERROR, "replay error"),
        T.ABANDON_VIDEO: Transition(S.INIT, "reinit"),
    },
    S.REPLAY_COMPLETE: {
        T.SEND_VIDEO: Transition(S.INIT, "reinit"),
        T.ABANDON_VIDEO: Transition(S.INIT, "reinit"),
    },
    S.REPLAY_ERROR: {
        T.DISMISS_ERROR: Transition(S.INIT, "reinit"),
    },
}


class Machine:
    """Holds the current state and applies triggers through :data:`TRANSITIONS`."""

    def __init__(self) -> None:
        self.state = State.INIT
        self.booted = False

    def boot(self) -> tuple[str, ...]:
        """Fire the once-per-page ``init`` event."""
        if self.booted:
            raise InvalidState("CWMN is already initialized on this page")
        self.booted = True
        return ("init",)

    def can(self, trigger: Trigger) -> bool:
        return trigger in TRANSITIONS[self.state]

    def apply(self, trigger: Trigger) -> tuple[str, ...]:
        """Move along ``trigger``; return the events to fire. Unknown edge: ``invalid_state``."""
        try:
            transition = TRANSITIONS[self.state][trigger]
        except KeyError:
            raise InvalidState(
                f'"{trigger.value}" cannot happen in state "{self.state.value}"'
            ) from None
        self.state = transition.target
        return transition.events
