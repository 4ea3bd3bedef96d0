"""A session's life on this page: start, resume (from the site's previous page), end (a
replay's recording drained first), and what follows it (a replay's render)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import CwmnError, InvalidState, ProtocolError
from ..protocol.constants import RESUME_KEY
from ..protocol.messages import (
    EndSession,
    Message,
    ResumeSession,
    SessionResumed,
    SessionStarted,
    SetControlAllowed,
    SetPrivacy,
    StartSession,
)
from ..protocol.routes import RESUME
from .calls import Reply
from .hosting import HostSession
from .replay import DEFAULT_MAX_SECONDS, DRAIN_TIMEOUT, Narration, ReplayWatch
from .requests import Outcome
from .sockets import ServerSocket
from .states import State, Trigger

if TYPE_CHECKING:
    from .controller import HostController

__all__ = ["MAX_EARLY_PUSHES", "Lifecycle"]

MAX_EARLY_PUSHES = 1000


class Lifecycle:
    """Starts, resumes and ends the session the host owns (``host.session``)."""

    def __init__(self, host: HostController) -> None:
        self.host = host
        #: Pushes that came right after the answer that starts a session, before it existed.
        self._early: list[Message] = []
        #: The session whose last replay frames the server has yet to ack, and what follows.
        self._draining: tuple[HostSession, Callable[[], None]] | None = None

    def start(self, params: dict[str, Any], reply: Reply) -> None:
        host = self.host

        def start() -> None:
            host.step(Trigger.START)
            request = StartSession(
                host_name=params["hostName"],
                host_email=params["hostEmail"],
                is_replay=params["isReplay"],
                page_id=host.config.page_id,
                idle_timeout=float(params.get("idleTimeout") or 0),
            )
            self.connect(
                request, SessionStarted, lambda socket, r: reply(self.started(socket, r)), reply
            )

        host.startup.authorized(reply, start)

    def started(self, socket: ServerSocket, reply: Message) -> dict[str, Any]:
        """A new realtime session is on (``SessionStarted``): host it."""
        assert isinstance(reply, SessionStarted)
        host = self.host
        host.privacy_enabled = False
        host.mute_all, host.public_link_enabled = False, True
        info = _session_info(reply, host.config.page_url)
        return self._begin(
            socket,
            reply.resume_token,
            info,
            resuming=False,
            settings=reply.settings,
            assets=reply.assets,
        )

    def resume(self, token: str, then: Callable[[], None]) -> None:
        """Take back the session this tab hosted on the site's previous page."""
        host = self.host
        host.step(Trigger.RESUME)
        host.sockets.route = (RESUME, token)
        request = ResumeSession(resume_token=token, page_id=host.config.page_id)

        def failed(_: Any) -> None:
            host.ports.store(RESUME_KEY, None)
            then()

        def resumed(socket: ServerSocket, reply: Message) -> None:
            assert isinstance(reply, SessionResumed)
            entry = host.config.resume or {}
            # The host's own choice wins over a server that lost it: a page never turns
            # privacy off by itself; it tells the server again, before anything is sent.
            kept = bool(entry.get("privacy")) and not reply.privacy
            host.privacy_enabled = reply.privacy or kept
            if kept:
                socket.request(SetPrivacy(enabled=True), lambda _: None)
            host.mute_all, host.public_link_enabled = reply.mute_all, reply.public_link
            # So is the visitor's refusal of remote control (control.setAllowed(false)).
            control = (reply.controller, reply.control_allowed)
            if entry.get("controlAllowed") is False:
                if reply.control_allowed:
                    socket.request(SetControlAllowed(allowed=False), lambda _: None)
                control = ("", False)
            info = _session_info(reply, host.config.page_url)
            muted = bool(entry.get("muted"))
            self._begin(
                socket,
                token,
                info,
                resuming=True,
                settings=reply.settings,
                muted=muted,
                assets=reply.assets,
                control=control,
            )
            then()

        self.connect(request, SessionResumed, resumed, failed)

    def connect(
        self,
        request: Message,
        expected: type[Message],
        then: Callable[[ServerSocket, Message], None],
        failed: Reply,
    ) -> None:
        """Open the session's socket and send ``request``; on failure fire ``session
        failed`` and pass the error on."""
        host = self.host
        self._early = []

        def ready(socket: ServerSocket | CwmnError) -> None:
            if isinstance(socket, CwmnError):
                host.step(Trigger.CONNECT_FAILED)
                failed(socket)
            else:
                socket.request(request, lambda outcome: answered(socket, outcome))

        def answered(socket: ServerSocket, outcome: Outcome) -> None:
            if isinstance(outcome, Message) and not isinstance(outcome, expected):
                outcome = ProtocolError(f"expected {expected.type}, got {outcome.type}")
            if isinstance(outcome, CwmnError):
                socket.close()
                host.step(Trigger.CONNECT_FAILED)
                failed(outcome)
            else:
                then(socket, outcome)

        host.open_socket(ready, self._on_push, self._on_lost)

    def _begin(
        self,
        socket: ServerSocket,
        token: str,
        info: dict[str, Any],
        *,
        resuming: bool,
        settings: Mapping[str, Any] | None = None,
        muted: bool = False,
        assets: Mapping[str, Any] | None = None,
        control: tuple[str, bool] = ("", True),
    ) -> dict[str, Any]:
        host = self.host
        host.sockets.route = (RESUME, token)  # a reconnect goes where the room is
        session = HostSession(host, socket, token, info, assets)
        host.session = session
        host.settings = dict(settings or {})
        host.control.begin(*control)  # granted on the site's previous page, if it was
        host.narration = Narration(host, session.send_frame) if info["isReplay"] else None
        self.remember(session, muted=muted)
        host.step(Trigger.RESUMED if resuming else Trigger.CONNECTED, resuming)
        host.capture.take_over(session)
        if host.narration is not None:
            limit = (settings or {}).get("replayMaxSeconds") or DEFAULT_MAX_SECONDS
            # How long it has recorded, on the server's clock (the host's may be off).
            since = socket.server_time - float(info["startedAt"])
            elapsed = max(0.0, since) if resuming and socket.server_time else 0.0
            host.narration.start(
                elapsed, float(limit), lambda: self._timed_out(session), muted, host.now
            )
        early, self._early = self._early, []
        for message in early:  # e.g. the guests already waiting, pushed after the answer
            session.on_push(message)
        return dict(info)

    def remember(self, session: HostSession, muted: bool | None = None) -> None:
        """Keep what the site's next page needs to take the session back (sessionStorage):
        with host privacy off, the site's masking rules, so that page may capture before
        Python is ready (:mod:`.handover`); with it on, only that it is on."""
        host = self.host
        if muted is None:
            muted = bool(host.narration and host.narration.muted)
        value: dict[str, Any] = {"token": session.token, "sessionId": session.info["sessionId"]}
        if muted:
            value["muted"] = True
        if host.privacy_enabled:
            value["privacy"] = True
        else:
            value["capture"] = host.capture.site_config()
        host.badge.remember(value)
        host.control.remember(value)
        host.ports.store(RESUME_KEY, value)

    def end(self, params: dict[str, Any], reply: Reply) -> None:
        host = self.host
        session = self.require_session()

        def ended(_: Outcome) -> None:
            # The server may have ended the session (expiry) while we waited for its answer.
            reason = "ended" if host.session is session else "expired"
            self.finish(session, session.end_trigger("ended"))
            reply({"sessionId": session.info["sessionId"], "reason": reason})

        def wrapped_up() -> None:
            if host.narration is not None:  # a reload from here on follows the render
                self._remember_replay(session.token, session.info["sessionId"])
            session.socket.request(EndSession(), ended)  # its error changes nothing

        self._wrap_up(session, wrapped_up)

    def _wrap_up(self, session: HostSession, then: Callable[[], None]) -> None:
        """A replay's recording is complete before it ends: the page stops capturing, its
        recorder hands over its last chunk, and the server holds every frame."""
        host = self.host
        narration = host.narration
        if narration is None:
            then()
            return
        host.ports.capture(False, None)

        def stopped() -> None:
            self._draining = (session, then)
            host.timers.set("drain", host.now + DRAIN_TIMEOUT)
            self.check_drained()

        narration.stop(host.now, stopped)

    def check_drained(self) -> None:
        if self._draining is not None and self._draining[0].drained:
            self.drained(timed_out=False)

    def drained(self, timed_out: bool) -> None:
        draining, self._draining = self._draining, None
        self.host.timers.cancel("drain")
        if draining is None:
            return
        if timed_out:
            self.host.ports.warn("CWMN: the last seconds of the replay could not reach the server")
        draining[1]()

    def _timed_out(self, session: HostSession) -> None:
        """The replay reached its maximum length: stop recording as ``endSession`` does."""
        host = self.host
        if host.session is not session or host.state is not State.IN_SESSION:
            return
        host.emit("replay timeout")

        def ended(outcome: Any) -> None:
            if isinstance(outcome, CwmnError):
                host.ports.warn(f"CWMN: ending the replay at its maximum length failed: {outcome}")

        self.end({}, ended)

    def finish(self, session: HostSession, trigger: Trigger) -> None:
        """End ``session`` once: back to ``no session`` through ``init``, or, for a replay,
        to ``waiting for replay`` while the server renders it."""
        host = self.host
        if host.session is not session:
            return
        host.ports.capture(False, None)
        host.ports.overlay({"op": "cursors", "cursors": []})
        host.control.end()
        narration, host.narration = host.narration, None
        replay = trigger in (Trigger.END_REPLAY, Trigger.EXPIRE_REPLAY)
        if not replay:  # a replay's entry turns into the render's (watch_replay)
            host.ports.store(RESUME_KEY, None)
        if narration is not None:
            narration.cancel()
        host.step(trigger)  # 'expired' and 'end session' still see the session's info
        host.session = None
        host.privacy_enabled = False
        session.close()
        if self._draining is not None and self._draining[0] is session:
            self.drained(timed_out=False)  # nothing more can reach the server
        if replay:
            self.watch_replay(session.token, session.info["sessionId"])
        else:
            host.step(Trigger.READY)
        host.badge.refresh()  # the badge goes (whatever the state the end led to emits)

    def _remember_replay(self, token: str, replay_id: str) -> None:
        self.host.ports.store(RESUME_KEY, {"token": token, "sessionId": replay_id, "replay": True})

    def watch_replay(self, token: str, replay_id: str) -> None:
        """Follow the render of the replay ``token`` names (also from the site's next page)."""
        self._remember_replay(token, replay_id)
        watch = ReplayWatch(self.host, token, replay_id)
        self.host.watch = watch
        watch.start()

    def require_session(self) -> HostSession:
        if self.host.session is None:
            raise InvalidState("there is no session on this page")
        return self.host.session

    def _on_push(self, message: Message) -> None:
        host = self.host
        if host.session is not None:
            host.session.on_push(message)
        elif host.state is State.SESSION_PENDING and len(self._early) < MAX_EARLY_PUSHES:
            self._early.append(message)

    def _on_lost(self, exc: CwmnError) -> None:
        host = self.host
        if host.session is not None and host.state is State.IN_SESSION:
            host.session.on_lost(exc, host.now)


def _session_info(reply: SessionStarted | SessionResumed, page_url: str) -> dict[str, Any]:
    return {
        "sessionId": reply.session_id,
        "isReplay": reply.is_replay,
        "hostName": reply.host_name,
        "hostEmail": reply.host_email,
        "startedAt": reply.started_at,
        "pageUrl": page_url,
    }
