"""The host core's façade: it owns the client's state and delegates to one part per concept.

Sans-I/O, like the viewer's ``GuestSession``: the page's calls (each with a call id), its
captured frames, the server's messages and the time (``now``, seconds of any monotonic
clock) go in; page operations go out through :class:`~cwmn_web.client.ports.Ports` (events,
the view, call results, capture, overlays, storage), messages to send per socket through
:meth:`HostController.to_send`, sockets to open or close through :meth:`HostController.opens`
and :meth:`HostController.closes`, and the next deadline through
:meth:`HostController.next_due`. A request to the server is a pending ref with a deadline; a
call completes when its answer is received. ``cwmn_web.browser.driver`` runs it over real
WebSockets; tests run it on a fake clock.

The parts: :mod:`.boot` (boot, domain info), :mod:`.calls` (the call table),
:mod:`.lifecycle` (start, resume, end), :mod:`.host_invites`, :mod:`.guest_calls`,
:mod:`.replay_calls` and :mod:`.capture`; the live session itself (mirror stream, guests,
reconnects) is :mod:`.hosting`. The extensions' parts: :mod:`.remote_control` (who controls
the page, the guests' drawing), :mod:`.control_calls` and :mod:`.badge` (what the visitor is
told while sharing).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any

from ..errors import CwmnError, ErrorCode
from ..protocol.constants import RESUME_KEY
from ..protocol.guests import GuestObject
from ..protocol.messages import Message
from ..protocol.routes import INVITE
from ..timing import Timers
from .badge import Badge
from .boot import Boot
from .bus import Bus
from .calls import INVITE_TIMEOUT, Calls, Reply
from .capture import Capture
from .compat import missing_features
from .config import ClientConfig
from .control_calls import ControlCalls
from .events import EVENTS, staged_events
from .guest_calls import GuestCalls
from .host_invites import HostInvites
from .host_token import HostTokens
from .hosting import HostSession
from .lifecycle import Lifecycle
from .ports import Ports
from .remote_control import RemoteControl
from .replay import Narration, ReplayWatch
from .replay_calls import ReplayCalls
from .sockets import CONNECT_TIMEOUT, ServerSocket, Sockets
from .states import TRANSITIONS, Machine, State, Trigger

__all__ = [
    "CONNECT_TIMEOUT",
    "ECHO_TIMEOUT",
    "INVITE_TIMEOUT",
    "RESUME_KEY",
    "ClientConfig",
    "HostController",
    "Reply",
]

#: How long the core waits for the page's echo (a page that does not answer: go on).
ECHO_TIMEOUT = 2.0


class HostController:
    """Owns the client's state and answers the page's calls (see the module's docstring)."""

    def __init__(self, ports: Ports, config: ClientConfig) -> None:
        self.ports = ports
        self.config = config
        self.now = 0.0
        """The time of the input being handled (seconds, the driver's monotonic clock)."""
        self.machine = Machine()
        self.bus = Bus()
        self.host_tokens = HostTokens(
            config.host_token,
            config.host_token_url,
            ports.now,
            lambda url: self.overlay({"op": "hosttoken", "url": url}),
        )
        self.sockets = Sockets(config.ws_url, config.page_url, lambda: self.now, self.host_tokens)
        if config.host_invite:
            self.sockets.route = (INVITE, config.host_invite)
        self.domain_info: dict[str, Any] = {"domain": config.domain, "authorized": None}
        self.mute_all = False
        self.public_link_enabled = True
        self.privacy_enabled = False
        #: The site's settings as the session's server answer gave them (else domain info).
        self.settings: Mapping[str, Any] = {}
        self.session: HostSession | None = None
        """The session this page hosts (None outside ``in session``)."""
        self.narration: Narration | None = None
        self.watch: ReplayWatch | None = None
        """The replay render this page follows, if any."""
        #: What waits on the page: echoes, domain-info fetches (by id).
        self._echoes: dict[int, Callable[[], None]] = {}
        self._fetches: dict[int, Callable[[dict[str, Any] | CwmnError], None]] = {}
        self._ids = 0
        #: ``("echo", id)``; ``"drain"`` (the end of a replay waits for the server's acks).
        self.timers: Timers[Hashable] = Timers()
        self.capture = Capture(self)
        self.startup = Boot(self)
        self.lifecycle = Lifecycle(self)
        self.host_invites = HostInvites(self)
        self.guest_calls = GuestCalls(self)
        self.replay_calls = ReplayCalls(self)
        self.control = RemoteControl(self)
        self.control_calls = ControlCalls(self)
        self.badge = Badge(self)
        self.calls = Calls(self)

    # -- what the page sees -------------------------------------------------------------
    @property
    def state(self) -> State:
        return self.machine.state

    @property
    def guests(self) -> list[GuestObject]:
        return self.session.guests if self.session else []

    def view(self, state: State | None = None) -> dict[str, Any]:
        """Everything the stub's synchronous getters answer from."""
        state = state or self.state
        session = self.session if state is State.IN_SESSION else None
        info = dict(session.info) if session else None
        if info is not None and self.narration is not None:
            info.update(self.narration.info)
        return {
            "state": state.value,
            "initFired": self.bus.init_fired,
            "compatible": not missing_features(self.config.features),
            "domainInfo": self.domain_info,
            "sessionInfo": info,
            "guests": [dict(g) for g in session.guests] if session else [],
            "muteAll": self.mute_all,
            "publicLinkEnabled": self.public_link_enabled,
            "privacyEnabled": self.privacy_enabled,
            **self.control.view(session.guests if session else []),
            "indicator": self.badge.enabled,
        }

    def emit(self, event: str, *args: Any, state: State | None = None) -> None:
        self.ports.deliver(self.bus.emit(event, *args), self.view(state))
        self.badge.refresh()

    def publish(self) -> None:
        self.ports.publish(self.view())
        self.badge.refresh()

    def overlay(self, message: dict[str, Any]) -> None:
        self.ports.overlay(message)

    def step(self, trigger: Trigger, *args: Any) -> None:
        """Apply ``trigger`` and fire its events, each with the state it occurs in; ``args``
        go to the events that take arguments (``in session``, ``replay progress``)."""
        source = self.state
        transition = TRANSITIONS[source].get(trigger)
        self.machine.apply(trigger)
        assert transition is not None
        for event, state in staged_events(source, transition):
            self.emit(event, *(args if EVENTS[event].args else ()), state=state)

    def move(self, trigger: Trigger, *args: Any) -> None:
        """:meth:`step`; a replay that is settled (sent, abandoned, dismissed) then goes on
        to ``ready no session``."""
        self.step(trigger, *args)
        if self.state is State.INIT:
            watch, self.watch = self.watch, None
            if watch is not None:
                watch.close()
            self.ports.store(RESUME_KEY, None)
            self.step(Trigger.READY)

    def warn(self, message: str) -> None:
        self.ports.warn(message)

    def now_ms(self) -> float:
        return self.ports.now() * 1000.0

    # -- the network (for the driver) -----------------------------------------------------
    def socket_url(self) -> str:
        """Where a socket opens now (``config.ws_url`` with the session's route key)."""
        return self.sockets.url_now()

    def opens(self) -> list[str]:
        """Names of sockets to open now, at :meth:`socket_url` (drains the list)."""
        return self.sockets.opens()

    def closes(self) -> list[str]:
        """Names of sockets to close now (drains the list)."""
        return self.sockets.closes()

    def to_send(self) -> list[tuple[str, Message]]:
        """``(socket name, message)`` to write, in order (drains the queues)."""
        return self.sockets.to_send()

    def connected(self, name: str, now: float) -> None:
        """The socket ``name`` is open."""
        self.now = now
        self.sockets.connected(name)

    def receive(self, name: str, message: Message, now: float) -> None:
        """``message`` arrived on the socket ``name``."""
        self.now = now
        self.sockets.receive(name, message)
        self.lifecycle.check_drained()

    def lost(self, name: str, error: CwmnError, now: float) -> None:
        """The socket ``name`` could not be opened, or it closed (``error`` says why)."""
        self.now = now
        self.sockets.lost(name, error)

    def open_socket(
        self,
        ready: Callable[[ServerSocket | CwmnError], None],
        on_push: Callable[[Message], None] | None = None,
        on_lost: Callable[[CwmnError], None] | None = None,
    ) -> ServerSocket:
        """A new socket to the server: ``ready`` gets it greeted, or the error."""
        return self.sockets.open(ready, on_push or _ignore, on_lost or _ignore)

    # -- time ---------------------------------------------------------------------------
    def next_due(self) -> float | None:
        """When :meth:`tick` has something to do, or None."""
        due = [self.sockets.next_due(), self.timers.next_due()]
        for part in (self.session, self.narration, self.watch):
            if part is not None:
                due.append(part.next_due())
        return min((d for d in due if d is not None), default=None)

    def tick(self, now: float) -> None:
        """Let time pass until ``now``: timeouts, reconnects, the held pointer, replays."""
        self.now = now
        self.sockets.tick(now)
        for part in (self.session, self.narration, self.watch):
            if part is not None:
                part.tick(now)
        for key in self.timers.due(now):
            if key == "drain":
                self.lifecycle.drained(timed_out=True)
            elif isinstance(key, tuple) and key[0] == "echo":
                self.echoed(key[1], now)

    # -- what the page answers ----------------------------------------------------------
    def settled(self, then: Callable[[], None]) -> None:
        """``then`` once the page has handled everything posted to it so far (so every
        callback its event callbacks subscribed is known), or after ECHO_TIMEOUT."""
        self._ids += 1
        self._echoes[self._ids] = then
        self.timers.set(("echo", self._ids), self.now + ECHO_TIMEOUT)
        self.ports.echo(self._ids)

    def echoed(self, echo_id: int, now: float) -> None:
        """The page has handled what was posted before its echo ``echo_id``."""
        self.now = now
        self.timers.cancel(("echo", echo_id))
        then = self._echoes.pop(echo_id, None)
        if then is not None:
            then()

    def fetch(self, url: str, then: Callable[[dict[str, Any] | CwmnError], None]) -> None:
        """Have the page fetch ``url`` (JSON); ``then`` gets the answer, or the error."""
        self._ids += 1
        self._fetches[self._ids] = then
        self.ports.fetch(self._ids, url)

    def fetched(self, fetch_id: int, result: dict[str, Any] | CwmnError, now: float) -> None:
        """The page's answer to :meth:`Ports.fetch` ``fetch_id``: JSON, or the error."""
        self.now = now
        then = self._fetches.pop(fetch_id, None)
        if then is not None:
            then(result)

    def host_token_fetched(self, token: str | None, error: str, now: float) -> None:
        """The page's answer to a host-token fetch (``data-host-token-url``)."""
        self.now = now
        self.host_tokens.fetched(token, error)

    # -- subscriptions ------------------------------------------------------------------
    def subscribe(self, event: str, handle: Hashable, once: bool = False) -> None:
        immediate = self.bus.subscribe(event, handle, once)
        if immediate is not None:
            self.ports.deliver(immediate, self.view())

    def unsubscribe(self, handle: Hashable) -> None:
        self.bus.unsubscribe(handle)

    # -- boot ---------------------------------------------------------------------------
    def boot(self, now: float) -> None:
        """Fire ``init`` and settle in the first state (:meth:`.boot.Boot.start`)."""
        self.now = now
        self.startup.start()

    # -- calls --------------------------------------------------------------------------
    def call(self, call_id: Hashable, path: str, args: tuple[Any, ...], now: float) -> None:
        """The page called the Promise-returning function ``path``: its result (or error)
        comes out as ``Ports.result(call_id, ...)``, at once or once the server answered."""
        self.now = now
        self.calls.call(call_id, path, args)

    def finish(self, session: HostSession, trigger: Trigger) -> None:
        """End ``session`` once (:meth:`.lifecycle.Lifecycle.finish`)."""
        self.lifecycle.finish(session, trigger)

    def page_too_large(self, session: HostSession, reason: str) -> None:
        """A frame of the page is past the server's caps (``reason``): sending it would get
        the socket closed, and again on every resume. The page stops capturing, the
        console says why (``page_too_large``), and the session ends (``end session``)."""
        self.ports.capture(False, None)
        self.warn(
            f"CWMN {ErrorCode.PAGE_TOO_LARGE.value}: this page is too large to share "
            f"({reason}); the session ended. Block large parts of it (data-cwmn-block)."
        )
        if self.session is session and self.state is State.IN_SESSION:
            self.lifecycle.end({}, _ignore)

    # -- replays -------------------------------------------------------------------------
    def on_audio(self, message: dict[str, Any], now: float) -> None:
        """A message from the page's recorder (static/recorder.mjs)."""
        self.now = now
        if self.narration is not None and self.state is State.IN_SESSION:
            self.narration.on_audio(message)

    # -- the mirror stream --------------------------------------------------------------
    def start_capture(self) -> None:
        """Have the page capture again from a fresh snapshot, unless host privacy is on."""
        self.capture.start()

    def on_capture(
        self, kind: str, raw: dict[str, Any], t: Any, now: float, early: bool = False
    ) -> None:
        """A raw frame from the page's capture code (docs/MIRROR.md), captured at ``t`` (ms
        since the epoch, the page's clock; now if missing); ``early``: by the capture the
        stub started before Python was ready (held until the session resumes)."""
        self.now = now
        self.capture.on_frame(kind, raw, t, early)

    def on_control_refused(self, guest_id: str, message: str, now: float) -> None:
        """The page's ``control`` module did not apply the controller's input (a masked or
        password field, a link to another site; ``message`` says which): the guest hears
        ``control_refused``."""
        self.now = now
        if self.session is not None and self.state is State.IN_SESSION:
            self.control.refuse(self.session, guest_id, ErrorCode.CONTROL_REFUSED, message)

    def on_capture_failed(self, early: bool, now: float) -> None:
        """The page's capture did not start (capture.mjs failed to load, or it threw). The
        early capture is forgotten: a session resuming later starts capture afresh, one that
        adopted it already restarts it now. A failure of the capture Python started is left
        alone (the stub has logged it; restarting would fail the same way)."""
        self.now = now
        self.capture.failed(early)


def _ignore(_: object) -> None:
    pass
