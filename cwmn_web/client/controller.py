"""The host core: the state machine, the bus and every CwmnAPI call against the server.

Sans-I/O, like the viewer's ``GuestSession``: the page's calls (each with a call id), its
captured frames, the server's messages and the time (``now``, seconds of any monotonic
clock) go in; page operations go out through :class:`~cwmn_web.client.ports.Ports` (events,
the view, call results, capture, overlays, storage), messages to send per socket through
:meth:`HostController.to_send`, sockets to open or close through :meth:`HostController.opens`
and :meth:`HostController.closes`, and the next deadline through
:meth:`HostController.next_due`. A request to the server is a pending ref with a deadline; a
call completes when its answer is received. ``cwmn_web.browser.driver`` runs it over real
WebSockets; tests run it on a fake clock. The live session itself (mirror stream, guests,
reconnects) is :mod:`.hosting`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..errors import (
    CwmnError,
    InvalidState,
    NotFound,
    ProtocolError,
    Unauthorized,
)
from ..protocol.constants import RESUME_KEY
from ..protocol.messages import (
    AbandonReplay,
    AcceptHostInvite,
    CreateLink,
    CreatePublicLink,
    EndSession,
    GetHostInvite,
    HostInviteInfo,
    HostInviteSent,
    InviteGuest,
    InviteSent,
    InviteToHost,
    LinkCreated,
    Message,
    MuteAll,
    MuteGuest,
    RemoveGuest,
    ResumeSession,
    SendVideo,
    SessionResumed,
    SessionStarted,
    SetPrivacy,
    SetPublicLink,
    StartSession,
    VideoSent,
)
from ..timing import Timers
from .bus import Bus
from .compat import missing_features
from .events import EVENTS, staged_events
from .handover import EarlyCapture
from .hosting import HostSession
from .ports import Ports
from .replay import DEFAULT_MAX_SECONDS, DRAIN_TIMEOUT, Narration, ReplayWatch
from .requests import Outcome
from .sockets import CONNECT_TIMEOUT, ServerSocket, Sockets
from .spec import FUNCTIONS, check_state
from .states import TRANSITIONS, Machine, State, Trigger
from .validation import validate

__all__ = [
    "CONNECT_TIMEOUT",
    "ECHO_TIMEOUT",
    "INVITE_TIMEOUT",
    "RESUME_KEY",
    "ClientConfig",
    "HostController",
    "Reply",
]

DEFAULT_MASK = ("[data-cwmn-mask]", ".cwmn-mask")
DEFAULT_BLOCK = ("[data-cwmn-block]",)
#: An invite waits for a mail server or an SMS provider (the server gives each 20 s).
INVITE_TIMEOUT = 60.0
MAX_EARLY_PUSHES = 1000
#: How long the core waits for the page's echo (a page that does not answer: go on).
ECHO_TIMEOUT = 2.0

#: How a call's handler answers: with its value, or with the ``CwmnError`` it failed with.
Reply = Callable[[Any], None]


@dataclass(frozen=True)
class ClientConfig:
    """Where the server is and what page we are on (from the stub)."""

    server: str
    page_url: str
    features: Mapping[str, object] = field(default_factory=dict)
    resume: Mapping[str, Any] | None = None
    host_invite: str | None = None
    """The token of the invitation to host this page was opened through (its fragment)."""
    mask: tuple[str, ...] = ()
    block: tuple[str, ...] = ()
    early_capture: Mapping[str, Any] | None = None
    """The rules the stub started capturing with before Python was ready (from the resume
    entry), or None: its frames are held until the session resumes (:mod:`.handover`)."""
    page_id: str = field(default_factory=lambda: secrets.token_hex(8))

    @property
    def ws_url(self) -> str:
        scheme = "wss" if self.server.startswith("https:") else "ws"
        return f"{scheme}://{self.server.split('://', 1)[1].rstrip('/')}/ws"

    @property
    def domain(self) -> str:
        return urlsplit(self.page_url).hostname or ""


class HostController:
    """Owns the client's state and answers the page's calls (see the module's docstring)."""

    def __init__(self, ports: Ports, config: ClientConfig) -> None:
        self.ports = ports
        self.config = config
        self.now = 0.0
        """The time of the input being handled (seconds, the driver's monotonic clock)."""
        self.machine = Machine()
        self.bus = Bus()
        self.sockets = Sockets(config.ws_url, config.page_url, lambda: self.now)
        self.domain_info: dict[str, Any] = {"domain": config.domain, "authorized": None}
        self.mute_all = False
        self.public_link_enabled = True
        self.privacy_enabled = False
        #: The site's settings as the session's server answer gave them (else domain info).
        self._settings: Mapping[str, Any] = {}
        self._handover = EarlyCapture(config.early_capture)
        #: Calls made before boot has settled wait here (the page may call as soon as the
        #: stub starts Python, before ``ready no session``).
        self._booting = False
        self._queued: list[tuple[Hashable, str, tuple[Any, ...]]] = []
        self._session: HostSession | None = None
        self._narration: Narration | None = None
        self._watch: ReplayWatch | None = None
        self._host_invite: tuple[str, dict[str, Any]] | None = None
        #: Pushes that came right after the answer that starts a session, before it existed.
        self._early: list[Message] = []
        #: What waits on the page: echoes, domain-info fetches (by id).
        self._echoes: dict[int, Callable[[], None]] = {}
        self._fetches: dict[int, Callable[[dict[str, Any] | CwmnError], None]] = {}
        self._ids = 0
        #: ``("echo", id)``; ``"drain"`` (the end of a replay waits for the server's acks).
        self._timers: Timers[Hashable] = Timers()
        self._draining: tuple[HostSession, Callable[[], None]] | None = None
        self._handlers: dict[str, Callable[[dict[str, Any], Reply], None]] = {
            "session.start": self._start,
            "session.inviteToHost": self._invite_to_host,
            "session.acceptHostInvite": self._accept_host_invite,
            "session.declineHostInvite": self._decline_host_invite,
            "session.endSession": self._end,
            "guest.inviteGuest": self._invite_guest,
            "guest.getInviteLink": self._invite_link,
            "guest.removeGuest": self._remove_guest,
            "guest.muteGuest": self._mute_guest,
            "guest.muteAllGuests": self._mute_all,
            "publicLink.setEnabled": self._set_public_link,
            "publicLink.generate": self._public_link,
            "privacy.setEnabled": self._set_privacy,
            "replay.muteAudio": self._mute_audio,
            "replay.sendVideo": self._send_video,
            "replay.getVideoURL": self._video_url,
            "replay.abandonVideo": self._abandon_video,
            "replay.getRenderingProgress": self._rendering_progress,
            "replay.dismissError": self._dismiss_error,
        }

    # -- what the page sees -------------------------------------------------------------
    @property
    def state(self) -> State:
        return self.machine.state

    @property
    def guests(self) -> list[dict[str, Any]]:
        return self._session.guests if self._session else []

    @property
    def session(self) -> HostSession | None:
        """The session this page hosts (None outside ``in session``)."""
        return self._session

    @property
    def watch(self) -> ReplayWatch | None:
        """The replay render this page follows, if any."""
        return self._watch

    def view(self, state: State | None = None) -> dict[str, Any]:
        """Everything the stub's synchronous getters answer from."""
        state = state or self.state
        session = self._session if state is State.IN_SESSION else None
        info = dict(session.info) if session else None
        if info is not None and self._narration is not None:
            info.update(self._narration.info)
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
        }

    def emit(self, event: str, *args: Any, state: State | None = None) -> None:
        self.ports.deliver(self.bus.emit(event, *args), self.view(state))

    def publish(self) -> None:
        self.ports.publish(self.view())

    def overlay(self, message: dict[str, Any]) -> None:
        self.ports.overlay(message)

    def _move(self, trigger: Trigger, *args: Any) -> None:
        """Apply ``trigger`` and fire its events, each with the state it occurs in; ``args``
        go to the events that take arguments (``in session``, ``replay progress``)."""
        source = self.state
        transition = TRANSITIONS[source].get(trigger)
        self.machine.apply(trigger)
        assert transition is not None
        for event, state in staged_events(source, transition):
            self.emit(event, *(args if EVENTS[event].args else ()), state=state)

    def move(self, trigger: Trigger, *args: Any) -> None:
        """:meth:`_move`; a replay that is settled (sent, abandoned, dismissed) then goes on
        to ``ready no session``."""
        self._move(trigger, *args)
        if self.state is State.INIT:
            watch, self._watch = self._watch, None
            if watch is not None:
                watch.close()
            self.ports.store(RESUME_KEY, None)
            self._move(Trigger.READY)

    def warn(self, message: str) -> None:
        self.ports.warn(message)

    def now_ms(self) -> float:
        return self.ports.now() * 1000.0

    # -- the network (for the driver) -----------------------------------------------------
    def opens(self) -> list[str]:
        """Names of sockets to open now, at ``config.ws_url`` (drains the list)."""
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
        self._check_drained()

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
        due = [self.sockets.next_due(), self._timers.next_due()]
        for part in (self._session, self._narration, self._watch):
            if part is not None:
                due.append(part.next_due())
        return min((d for d in due if d is not None), default=None)

    def tick(self, now: float) -> None:
        """Let time pass until ``now``: timeouts, reconnects, the held pointer, replays."""
        self.now = now
        self.sockets.tick(now)
        for part in (self._session, self._narration, self._watch):
            if part is not None:
                part.tick(now)
        for key in self._timers.due(now):
            if key == "drain":
                self._drained(timed_out=True)
            elif isinstance(key, tuple) and key[0] == "echo":
                self.echoed(key[1], now)

    # -- what the page answers ----------------------------------------------------------
    def _settled(self, then: Callable[[], None]) -> None:
        """``then`` once the page has handled everything posted to it so far (so every
        callback its event callbacks subscribed is known), or after ECHO_TIMEOUT."""
        self._ids += 1
        self._echoes[self._ids] = then
        self._timers.set(("echo", self._ids), self.now + ECHO_TIMEOUT)
        self.ports.echo(self._ids)

    def echoed(self, echo_id: int, now: float) -> None:
        """The page has handled what was posted before its echo ``echo_id``."""
        self.now = now
        self._timers.cancel(("echo", echo_id))
        then = self._echoes.pop(echo_id, None)
        if then is not None:
            then()

    def _fetch(self, url: str, then: Callable[[dict[str, Any] | CwmnError], None]) -> None:
        self._ids += 1
        self._fetches[self._ids] = then
        self.ports.fetch(self._ids, url)

    def fetched(self, fetch_id: int, result: dict[str, Any] | CwmnError, now: float) -> None:
        """The page's answer to :meth:`Ports.fetch` ``fetch_id``: JSON, or the error."""
        self.now = now
        then = self._fetches.pop(fetch_id, None)
        if then is not None:
            then(result)

    # -- subscriptions ------------------------------------------------------------------
    def subscribe(self, event: str, handle: Hashable, once: bool = False) -> None:
        immediate = self.bus.subscribe(event, handle, once)
        if immediate is not None:
            self.ports.deliver(immediate, self.view())

    def unsubscribe(self, handle: Hashable) -> None:
        self.bus.unsubscribe(handle)

    # -- boot ---------------------------------------------------------------------------
    def boot(self, now: float) -> None:
        """Fire ``init``, then settle in ``no session``, ``incompatible`` or ``unauthorized``
        (or resume the session this tab was hosting on the previous page); then offer the
        invitation to host the page was opened through, if any. Calls made meanwhile wait."""
        self.now = now
        events = self.machine.boot()
        self._booting = True
        for event in events:
            self.emit(event)
        # The listeners the page's 'init' callbacks add are known before anything else
        # fires (a resume moves on at once, without a domain-info round trip first).
        self._settled(self._settle_boot)

    def _settle_boot(self) -> None:
        if missing_features(self.config.features):
            self._move(Trigger.INCOMPATIBLE)
            self._booted()
            return
        resume = self.config.resume
        token = resume.get("token") if resume else None
        if isinstance(token, str) and resume and not resume.get("replay"):
            # The resume goes out as soon as the socket is open; domain info meanwhile (the
            # server refuses unauthorized origins, and its answer carries the settings).
            waiting = {"info", "resume"}

            def done(part: str) -> None:
                waiting.discard(part)
                if not waiting:
                    self.publish()
                    self._booted()

            self._load_domain_info(lambda: done("info"))
            self._resume(token, lambda: done("resume"))
            return

        def loaded() -> None:
            if self.domain_info.get("authorized") is False:
                self._move(Trigger.UNAUTHORIZED)
            elif isinstance(token, str):
                self._move(Trigger.RESUME_REPLAY)
                self._watch_replay(token, str(resume.get("sessionId", "")) if resume else "")
            else:
                self._move(Trigger.READY)
            self._booted()

        self._load_domain_info(loaded)

    def _booted(self) -> None:
        if self._handover.pending:  # no session took the early capture over
            self._handover.drop()
            self.ports.capture(False, None)
        self._booting = False
        if self.config.host_invite and self.state is State.NO_SESSION:
            self._offer_host_invite(self.config.host_invite)
        queued, self._queued = self._queued, []
        for call_id, path, args in queued:
            self._run(call_id, path, args)

    def _load_domain_info(self, then: Callable[[], None]) -> None:
        def loaded(info: dict[str, Any] | CwmnError) -> None:
            if isinstance(info, CwmnError):
                # Authorization is checked again by the server on connect; keep going.
                self.domain_info = {
                    "domain": self.config.domain,
                    "authorized": None,
                    "error": info.to_dict(),
                }
            else:
                self.domain_info = info
            then()

        self._fetch(f"{self.config.server.rstrip('/')}/api/domain-info", loaded)

    def start_capture(self) -> None:
        """Have the page capture again from a fresh snapshot, unless host privacy is on."""
        if not self.privacy_enabled:
            self.ports.capture(True, self.capture_config())

    def _take_over_capture(self, session: HostSession) -> None:
        """A session begins on this page: adopt the capture the stub started early (its held
        frames go out first) if it runs with the rules wanted now, else (re)start capture."""
        if self._handover.pending:
            wanted = None if self.privacy_enabled else self.capture_config()
            frames = self._handover.adopt(wanted)
            if frames is not None:
                for kind, raw, t in frames:
                    session.send_capture(kind, raw, t, self.now)
                return
            if wanted is None:
                self.ports.capture(False, None)
                return
        self.start_capture()

    def site_capture_config(self) -> dict[str, list[str]]:
        """The site's mask and block selectors (defaults and site settings), which hold on
        every page of the site; the resume entry keeps them for the next page."""
        settings = {**(self.domain_info.get("settings") or {}), **self._settings}
        mask = [*DEFAULT_MASK, *settings.get("maskSelectors", ())]
        block = [*DEFAULT_BLOCK, *settings.get("blockSelectors", ())]
        return {"mask": list(dict.fromkeys(mask)), "block": list(dict.fromkeys(block))}

    def capture_config(self) -> dict[str, Any]:
        """Mask and block selectors: the site's settings, plus the script tag's own."""
        site = self.site_capture_config()
        mask = [*site["mask"], *self.config.mask]
        block = [*site["block"], *self.config.block]
        return {"mask": list(dict.fromkeys(mask)), "block": list(dict.fromkeys(block))}

    # -- calls --------------------------------------------------------------------------
    def call(self, call_id: Hashable, path: str, args: tuple[Any, ...], now: float) -> None:
        """The page called the Promise-returning function ``path``: its result (or error)
        comes out as ``Ports.result(call_id, ...)``, at once or once the server answered."""
        self.now = now
        if self._booting and path in FUNCTIONS and not FUNCTIONS[path].sync:
            self._queued.append((call_id, path, args))  # judged in the state boot settles in
            return
        self._run(call_id, path, args)

    def _run(self, call_id: Hashable, path: str, args: tuple[Any, ...]) -> None:
        answered = False

        def reply(value: Any) -> None:
            nonlocal answered
            if answered:
                return
            answered = True
            if isinstance(value, CwmnError):
                self.ports.result(call_id, error=value)
            else:
                self.ports.result(call_id, value=value)

        try:
            if path not in FUNCTIONS or FUNCTIONS[path].sync:
                raise CwmnError(f"CwmnAPI.{path} is not an asynchronous function", "invalid_params")
            check_state(path, self.state)
            params = validate(path, args)
            self._handlers[path](params, reply)
        except CwmnError as exc:
            reply(exc)
        except Exception as exc:  # a bug: the page's Promise still settles
            reply(CwmnError(f"internal error in {path}: {exc!r}", "server_error"))

    def _start(self, params: dict[str, Any], reply: Reply) -> None:
        def start() -> None:
            self._move(Trigger.START)
            request = StartSession(
                host_name=params["hostName"],
                host_email=params["hostEmail"],
                is_replay=params["isReplay"],
                page_id=self.config.page_id,
            )
            self._connect(
                request, SessionStarted, lambda socket, r: reply(self._started(socket, r)), reply
            )

        self._authorized(reply, start)

    def _started(self, socket: ServerSocket, reply: Message) -> dict[str, Any]:
        """A new realtime session is on (``SessionStarted``): host it."""
        assert isinstance(reply, SessionStarted)
        self.privacy_enabled = False
        self.mute_all, self.public_link_enabled = False, True
        info = _session_info(reply, self.config.page_url)
        return self._begin(
            socket, reply.resume_token, info, resuming=False, settings=reply.settings
        )

    def _authorized(self, reply: Reply, then: Callable[[], None]) -> None:
        """``then`` if this page's domain may use CWMN (loading domain info if unknown),
        else refuse the call."""

        def check() -> None:
            if self.domain_info.get("authorized") is False:
                reply(
                    Unauthorized(f"the domain {self.config.domain} is not authorized to use CWMN")
                )
            else:
                then()

        if self.domain_info.get("authorized") is None:
            self._load_domain_info(check)
        else:
            check()

    def _ask(
        self,
        request: Message,
        expected: type[Message],
        reply: Reply,
        then: Callable[[Any], None],
        timeout: float | None = None,
    ) -> None:
        """Ask ``request`` on a socket of its own (closed after the answer); ``then`` gets
        the answer, ``reply`` the error."""

        def ready(socket: ServerSocket | CwmnError) -> None:
            if isinstance(socket, CwmnError):
                reply(socket)
            elif timeout is None:
                socket.request(request, lambda outcome: answered(socket, outcome))
            else:
                socket.request(request, lambda outcome: answered(socket, outcome), timeout)

        def answered(socket: ServerSocket, outcome: Outcome) -> None:
            socket.close()
            if isinstance(outcome, Message) and not isinstance(outcome, expected):
                outcome = ProtocolError(f"expected {expected.type}, got {outcome.type}")
            if isinstance(outcome, CwmnError):
                reply(outcome)
            else:
                then(outcome)

        self.open_socket(ready)

    # -- invitations to host ------------------------------------------------------------
    def _invite_to_host(self, params: dict[str, Any], reply: Reply) -> None:
        """The server emails the invitee and answers with the inviter's own join link; this
        page stays in ``no session``."""
        request = InviteToHost(
            host_name=params["hostName"],
            host_email=params["hostEmail"],
            invite_name=params["inviteName"],
            invite_email=params["inviteEmail"],
            message=params.get("message") or "",
            url=params["url"],
        )

        def sent(answer: HostInviteSent) -> None:
            reply(
                {
                    "inviteId": answer.invite_id,
                    "joinUrl": answer.join_url,
                    "expiresAt": answer.expires_at,
                    "status": answer.status,
                }
            )

        self._authorized(
            reply, lambda: self._ask(request, HostInviteSent, reply, sent, INVITE_TIMEOUT)
        )

    def _offer_host_invite(self, token: str) -> None:
        """The page was opened through an invitation to host: learn what it says, then fire
        ``host invite``, or have the page ask in the default dialog if nobody listens."""

        def refused(error: Any) -> None:
            message = error.message if isinstance(error, CwmnError) else str(error)
            self.ports.warn(f"CWMN: the invitation to host cannot be used: {message}")

        def known(answer: HostInviteInfo) -> None:
            # Every listener the page's callbacks added is known before deciding.
            self._settled(lambda: offer(answer))

        def offer(answer: HostInviteInfo) -> None:
            if self.state is not State.NO_SESSION:
                return
            invite = {
                "inviteId": answer.invite_id,
                "inviterName": answer.inviter_name,
                "hostName": answer.host_name,
                "hostEmail": answer.host_email,
                "message": answer.message,
                "expiresAt": answer.expires_at,
            }
            self._host_invite = (token, invite)
            if self.bus.listeners("host invite"):
                self.emit("host invite", dict(invite))
            else:
                self.overlay({"op": "consent", "invite": dict(invite)})

        self._ask(GetHostInvite(token=token), HostInviteInfo, refused, known)

    def _pending_invite(self) -> str:
        if self._host_invite is None:
            raise NotFound(
                "there is no invitation to host on this page: it comes with a page opened "
                "through the link of an invitation email (see the 'host invite' event)"
            )
        return self._host_invite[0]

    def _accept_host_invite(self, params: dict[str, Any], reply: Reply) -> None:
        """Host the session the invitation made; the inviter may be waiting in it."""
        token = self._pending_invite()

        def failed(error: Any) -> None:
            if isinstance(error, CwmnError) and error.code not in ("network", "timeout"):
                self._host_invite = None  # refused for good (used, expired)
            reply(error)

        def started(socket: ServerSocket, answer: Message) -> None:
            self._host_invite = None
            reply(self._started(socket, answer))

        def accept() -> None:
            self._move(Trigger.START)
            request = AcceptHostInvite(token=token, page_id=self.config.page_id)
            self._connect(request, SessionStarted, started, failed)

        self._authorized(reply, accept)

    def _decline_host_invite(self, params: dict[str, Any], reply: Reply) -> None:
        """Forget the invitation on this page (its link works again until it expires)."""
        self._pending_invite()
        self._host_invite = None
        reply(None)

    # -- starting, resuming, ending -----------------------------------------------------
    def _resume(self, token: str, then: Callable[[], None]) -> None:
        """Take back the session this tab hosted on the site's previous page."""
        self._move(Trigger.RESUME)
        request = ResumeSession(resume_token=token, page_id=self.config.page_id)

        def failed(_: Any) -> None:
            self.ports.store(RESUME_KEY, None)
            then()

        def resumed(socket: ServerSocket, reply: Message) -> None:
            assert isinstance(reply, SessionResumed)
            self.privacy_enabled = reply.privacy
            self.mute_all, self.public_link_enabled = reply.mute_all, reply.public_link
            info = _session_info(reply, self.config.page_url)
            muted = bool(self.config.resume and self.config.resume.get("muted"))
            self._begin(socket, token, info, resuming=True, settings=reply.settings, muted=muted)
            then()

        self._connect(request, SessionResumed, resumed, failed)

    def _connect(
        self,
        request: Message,
        expected: type[Message],
        then: Callable[[ServerSocket, Message], None],
        failed: Reply,
    ) -> None:
        """Open the session's socket and send ``request``; on failure fire ``session
        failed`` and pass the error on."""
        self._early = []

        def ready(socket: ServerSocket | CwmnError) -> None:
            if isinstance(socket, CwmnError):
                self._move(Trigger.CONNECT_FAILED)
                failed(socket)
            else:
                socket.request(request, lambda outcome: answered(socket, outcome))

        def answered(socket: ServerSocket, outcome: Outcome) -> None:
            if isinstance(outcome, Message) and not isinstance(outcome, expected):
                outcome = ProtocolError(f"expected {expected.type}, got {outcome.type}")
            if isinstance(outcome, CwmnError):
                socket.close()
                self._move(Trigger.CONNECT_FAILED)
                failed(outcome)
            else:
                then(socket, outcome)

        self.open_socket(ready, self._on_push, self._on_lost)

    def _begin(
        self,
        socket: ServerSocket,
        token: str,
        info: dict[str, Any],
        *,
        resuming: bool,
        settings: Mapping[str, Any] | None = None,
        muted: bool = False,
    ) -> dict[str, Any]:
        session = HostSession(self, socket, token, info)
        self._session = session
        self._settings = dict(settings or {})
        self._narration = Narration(self, session.send_frame) if info["isReplay"] else None
        self._remember(session, muted=muted)
        self._move(Trigger.RESUMED if resuming else Trigger.CONNECTED, resuming)
        self._take_over_capture(session)
        if self._narration is not None:
            limit = (settings or {}).get("replayMaxSeconds") or DEFAULT_MAX_SECONDS
            # How long it has recorded, on the server's clock (the host's may be off).
            since = socket.server_time - float(info["startedAt"])
            elapsed = max(0.0, since) if resuming and socket.server_time else 0.0
            self._narration.start(
                elapsed, float(limit), lambda: self._timed_out(session), muted, self.now
            )
        early, self._early = self._early, []
        for message in early:  # e.g. the guests already waiting, pushed after the answer
            session.on_push(message)
        return dict(info)

    def _remember(self, session: HostSession, muted: bool | None = None) -> None:
        """Keep what the site's next page needs to take the session back (sessionStorage):
        with host privacy off, the site's masking rules, so that page may capture before
        Python is ready (:mod:`.handover`); with it on, only that it is on."""
        if muted is None:
            muted = bool(self._narration and self._narration.muted)
        value: dict[str, Any] = {"token": session.token, "sessionId": session.info["sessionId"]}
        if muted:
            value["muted"] = True
        if self.privacy_enabled:
            value["privacy"] = True
        else:
            value["capture"] = self.site_capture_config()
        self.ports.store(RESUME_KEY, value)

    def _end(self, params: dict[str, Any], reply: Reply) -> None:
        session = self._require_session()

        def ended(_: Outcome) -> None:
            # The server may have ended the session (expiry) while we waited for its answer.
            reason = "ended" if self._session is session else "expired"
            self.finish(session, session.end_trigger("ended"))
            reply({"sessionId": session.info["sessionId"], "reason": reason})

        def wrapped_up() -> None:
            if self._narration is not None:  # a reload from here on follows the render
                self._remember_replay(session.token, session.info["sessionId"])
            session.socket.request(EndSession(), ended)  # its error changes nothing

        self._wrap_up(session, wrapped_up)

    def _wrap_up(self, session: HostSession, then: Callable[[], None]) -> None:
        """A replay's recording is complete before it ends: the page stops capturing, its
        recorder hands over its last chunk, and the server holds every frame."""
        narration = self._narration
        if narration is None:
            then()
            return
        self.ports.capture(False, None)

        def stopped() -> None:
            self._draining = (session, then)
            self._timers.set("drain", self.now + DRAIN_TIMEOUT)
            self._check_drained()

        narration.stop(self.now, stopped)

    def _check_drained(self) -> None:
        if self._draining is not None and self._draining[0].drained:
            self._drained(timed_out=False)

    def _drained(self, timed_out: bool) -> None:
        draining, self._draining = self._draining, None
        self._timers.cancel("drain")
        if draining is None:
            return
        if timed_out:
            self.ports.warn("CWMN: the last seconds of the replay could not reach the server")
        draining[1]()

    def _timed_out(self, session: HostSession) -> None:
        """The replay reached its maximum length: stop recording as ``endSession`` does."""
        if self._session is not session or self.state is not State.IN_SESSION:
            return
        self.emit("replay timeout")

        def ended(outcome: Any) -> None:
            if isinstance(outcome, CwmnError):
                self.ports.warn(f"CWMN: ending the replay at its maximum length failed: {outcome}")

        self._end({}, ended)

    def finish(self, session: HostSession, trigger: Trigger) -> None:
        """End ``session`` once: back to ``no session`` through ``init``, or, for a replay,
        to ``waiting for replay`` while the server renders it."""
        if self._session is not session:
            return
        self.ports.capture(False, None)
        self.ports.overlay({"op": "cursors", "cursors": []})
        narration, self._narration = self._narration, None
        replay = trigger in (Trigger.END_REPLAY, Trigger.EXPIRE_REPLAY)
        if not replay:  # a replay's entry turns into the render's (_watch_replay)
            self.ports.store(RESUME_KEY, None)
        if narration is not None:
            narration.cancel()
        self._move(trigger)  # 'expired' and 'end session' still see the session's info
        self._session = None
        self.privacy_enabled = False
        session.close()
        if self._draining is not None and self._draining[0] is session:
            self._drained(timed_out=False)  # nothing more can reach the server
        if replay:
            self._watch_replay(session.token, session.info["sessionId"])
        else:
            self._move(Trigger.READY)

    def _remember_replay(self, token: str, replay_id: str) -> None:
        self.ports.store(RESUME_KEY, {"token": token, "sessionId": replay_id, "replay": True})

    def _watch_replay(self, token: str, replay_id: str) -> None:
        """Follow the render of the replay ``token`` names (also from the site's next page)."""
        self._remember_replay(token, replay_id)
        watch = ReplayWatch(self, token, replay_id)
        self._watch = watch
        watch.start()

    def _require_session(self) -> HostSession:
        if self._session is None:
            raise InvalidState("there is no session on this page")
        return self._session

    def _on_push(self, message: Message) -> None:
        if self._session is not None:
            self._session.on_push(message)
        elif self.state is State.SESSION_PENDING and len(self._early) < MAX_EARLY_PUSHES:
            self._early.append(message)

    def _on_lost(self, exc: CwmnError) -> None:
        if self._session is not None and self.state is State.IN_SESSION:
            self._session.on_lost(exc, self.now)

    # -- replays -------------------------------------------------------------------------
    def on_audio(self, message: dict[str, Any], now: float) -> None:
        """A message from the page's recorder (static/recorder.mjs)."""
        self.now = now
        if self._narration is not None and self.state is State.IN_SESSION:
            self._narration.on_audio(message)

    def _mute_audio(self, params: dict[str, Any], reply: Reply) -> None:
        session = self._require_session()
        if self._narration is None:
            raise InvalidState("this session is not a replay: there is no narration to mute")
        muted = self._narration.mute(params["muted"])
        self._remember(session, muted=muted)
        reply(muted)

    def _require_watch(self) -> ReplayWatch:
        if self._watch is None:
            raise InvalidState("there is no replay on this page")
        return self._watch

    def _send_video(self, params: dict[str, Any], reply: Reply) -> None:
        """Email the video now (rendered) or when rendering completes (waiting)."""
        watch = self._require_watch()
        request = SendVideo(
            resume_token=watch.token,
            to_emails=list(params.get("toEmails") or ()),
            subject=params.get("subject") or "",
            message=params.get("message") or "",
        )

        def answered(answer: Outcome) -> None:
            if isinstance(answer, CwmnError):
                reply(answer)
                return
            if not isinstance(answer, VideoSent):
                reply(ProtocolError(f"expected video_sent, got {answer.type}"))
                return
            result = {"status": answer.status, "to": list(answer.to)}
            if self.state is State.REPLAY_COMPLETE and answer.status != "queued":
                self.move(Trigger.SEND_VIDEO)
            else:  # queued, or sent at once as rendering completed: done once complete
                watch.send_queued = True
            reply(result)

        watch.request(request, answered, INVITE_TIMEOUT)

    def _video_url(self, params: dict[str, Any], reply: Reply) -> None:
        reply(self._require_watch().video_url())

    def _abandon_video(self, params: dict[str, Any], reply: Reply) -> None:
        """The server deletes the recording and the video; the page goes back to no session."""
        watch = self._require_watch()

        def answered(answer: Outcome) -> None:
            if isinstance(answer, CwmnError):
                reply(answer)
                return
            if self.state in (State.WAITING_FOR_REPLAY, State.REPLAY_COMPLETE):
                self.move(Trigger.ABANDON_VIDEO)
            reply(None)

        watch.request(AbandonReplay(resume_token=watch.token), answered)

    def _rendering_progress(self, params: dict[str, Any], reply: Reply) -> None:
        reply(self._require_watch().progress)

    def _dismiss_error(self, params: dict[str, Any], reply: Reply) -> None:
        self.move(Trigger.DISMISS_ERROR)
        reply(None)

    # -- the mirror stream --------------------------------------------------------------
    def on_capture(
        self, kind: str, raw: dict[str, Any], t: Any, now: float, early: bool = False
    ) -> None:
        """A raw frame from the page's capture code (docs/MIRROR.md), captured at ``t`` (ms
        since the epoch, the page's clock; now if missing); ``early``: by the capture the
        stub started before Python was ready (held until the session resumes)."""
        self.now = now
        if early and self._handover.pending:
            self._handover.hold(kind, raw, t)
            return
        if early and not self._handover.adopted:  # dropped, failed, or never valid
            return
        session = self._session
        if session is None or self.privacy_enabled or self.state is not State.IN_SESSION:
            return
        session.send_capture(kind, raw, t, now)

    def on_capture_failed(self, early: bool, now: float) -> None:
        """The page's capture did not start (capture.mjs failed to load, or it threw). The
        early capture is forgotten: a session resuming later starts capture afresh, one that
        adopted it already restarts it now. A failure of the capture Python started is left
        alone (the stub has logged it; restarting would fail the same way)."""
        self.now = now
        if not early:
            return
        if self._handover.fail() and self.state is State.IN_SESSION:
            self.start_capture()

    # -- guests and settings ------------------------------------------------------------
    def _request(
        self,
        request: Message,
        reply: Reply,
        then: Callable[[Message], Any],
        timeout: float | None = None,
    ) -> None:
        """Ask ``request`` on the session's socket; reply with what ``then`` makes of the
        answer (or with the error)."""
        socket = self._require_session().socket

        def answered(answer: Outcome) -> None:
            if isinstance(answer, CwmnError):
                reply(answer)
                return
            try:
                reply(then(answer))
            except CwmnError as exc:
                reply(exc)

        if timeout is None:
            socket.request(request, answered)
        else:
            socket.request(request, answered, timeout)

    def _invite_link(self, params: dict[str, Any], reply: Reply) -> None:
        self._request(CreateLink(), reply, _link_url)

    def _invite_guest(self, params: dict[str, Any], reply: Reply) -> None:
        """The server checks again, sends (or keeps in its outbox) and answers once the mail
        server or SMS provider took the invite."""
        email = params["channel"] == "email"
        request = InviteGuest(
            guest_name=params.get("guestName") or "",
            guest_email=params["guestEmail"] if email else "",
            guest_phone="" if email else params["guestPhone"],
            message=params.get("message") or "",
        )

        def sent(answer: Message) -> dict[str, Any]:
            if not isinstance(answer, InviteSent):
                raise ProtocolError(f"expected invite_sent, got {answer.type}")
            return {
                "inviteId": answer.invite_id,
                "channel": answer.channel,
                "to": answer.to,
                "status": answer.status,
            }

        self._request(request, reply, sent, INVITE_TIMEOUT)

    def _public_link(self, params: dict[str, Any], reply: Reply) -> None:
        self._request(CreatePublicLink(), reply, _link_url)

    def _remove_guest(self, params: dict[str, Any], reply: Reply) -> None:
        """The server removes the guest; its ``guest_left`` push updates the list first."""
        self._require_session()
        guest_id = self._guest(params["guestId"])["guestId"]
        self._request(RemoveGuest(guest_id=guest_id), reply, lambda _: None)

    def _mute_guest(self, params: dict[str, Any], reply: Reply) -> None:
        """The server mutes the guest; its ``guest_updated`` push updates the list first."""
        self._require_session()
        guest_id = self._guest(params["guestId"])["guestId"]
        self._request(MuteGuest(guest_id=guest_id, muted=params["muted"]), reply, lambda _: None)

    def _guest(self, guest_id: str) -> dict[str, Any]:
        for guest in self.guests:
            if guest["guestId"] == guest_id:
                return guest
        raise NotFound(
            f"no guest with id {guest_id!r} in this session; "
            "CwmnAPI.guest.getGuestList() lists the guests"
        )

    def _mute_all(self, params: dict[str, Any], reply: Reply) -> None:
        session = self._require_session()
        status = params["status"]

        def done(_: Message) -> bool:
            if status != self.mute_all:
                self.mute_all = status
                session.mute_all_changed()
            return self.mute_all

        self._request(MuteAll(muted=status), reply, done)

    def _set_public_link(self, params: dict[str, Any], reply: Reply) -> None:
        enabled = params["enabled"]

        def done(_: Message) -> bool:
            self.public_link_enabled = enabled
            self.publish()
            return self.public_link_enabled

        self._request(SetPublicLink(enabled=enabled), reply, done)

    def _set_privacy(self, params: dict[str, Any], reply: Reply) -> None:
        """Privacy on: capture stops in the page at once, so nothing more leaves it."""
        session = self._require_session()
        enabled = bool(params["enabled"])  # validated as a boolean
        if enabled == self.privacy_enabled:
            reply(enabled)
            return
        if enabled:
            self.privacy_enabled = True
            self.ports.capture(False, None)
            self._remember(session)  # the next page captures nothing early either

        def done(_: Message) -> bool:
            if not enabled:
                self.privacy_enabled = False
                self._remember(session)
                self.start_capture()
            self.publish()
            return enabled

        self._request(SetPrivacy(enabled=enabled), reply, done)


def _ignore(_: object) -> None:
    pass


def _link_url(answer: Message) -> str:
    if not isinstance(answer, LinkCreated):
        raise ProtocolError(f"expected link_created, got {answer.type}")
    return answer.url


def _session_info(reply: SessionStarted | SessionResumed, page_url: str) -> dict[str, Any]:
    return {
        "sessionId": reply.session_id,
        "isReplay": reply.is_replay,
        "hostName": reply.host_name,
        "hostEmail": reply.host_email,
        "startedAt": reply.started_at,
        "pageUrl": page_url,
    }
