"""The host: runs the state machine, the bus and every CwmnAPI call against the server.

Effects go through :class:`~cwmn_web.client.ports.Ports`; nothing here imports ``js``.
The live session itself (link, mirror stream, reconnects) is :mod:`.hosting`.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..errors import (
    CwmnError,
    InvalidState,
    NotFound,
    NotImplementedCapability,
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
from .bus import Bus
from .compat import missing_features
from .events import EVENTS, staged_events
from .handover import EarlyCapture
from .hosting import CONNECT_TIMEOUT, HostSession
from .link import Link
from .ports import Ports
from .replay import DEFAULT_MAX_SECONDS, DRAIN_TIMEOUT, Narration, ReplayWatch
from .spec import FUNCTIONS, check_state
from .states import TRANSITIONS, Machine, State, Trigger
from .validation import validate

__all__ = ["CONNECT_TIMEOUT", "INVITE_TIMEOUT", "RESUME_KEY", "ClientConfig", "HostController"]

DEFAULT_MASK = ("[data-cwmn-mask]", ".cwmn-mask")
DEFAULT_BLOCK = ("[data-cwmn-block]",)
#: An invite waits for a mail server or an SMS provider (the server gives each 20 s).
INVITE_TIMEOUT = 60.0
MAX_EARLY_PUSHES = 1000


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
    """Owns the client's state and answers the page's calls."""

    def __init__(self, ports: Ports, config: ClientConfig) -> None:
        self.ports = ports
        self.config = config
        self.machine = Machine()
        self.bus = Bus()
        self.domain_info: dict[str, Any] = {"domain": config.domain, "authorized": None}
        self.mute_all = False
        self.public_link_enabled = True
        self.privacy_enabled = False
        #: The site's settings as the session's server answer gave them (else domain info).
        self._settings: Mapping[str, Any] = {}
        self._handover = EarlyCapture(config.early_capture)
        #: Set once boot has settled: calls made before wait for it (the page may call as
        #: soon as the stub starts Python, before ``ready no session``).
        self._booted = asyncio.Event()
        self._booting = False
        self._session: HostSession | None = None
        self._narration: Narration | None = None
        self._watch: ReplayWatch | None = None
        self._host_invite: tuple[str, dict[str, Any]] | None = None
        #: Pushes that came right after the answer that starts a session, before it existed.
        self._early: list[Message] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._handlers: dict[str, Callable[[dict[str, Any]], Awaitable[Any]]] = {
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
                self.spawn(watch.close())
            self.ports.store(RESUME_KEY, None)
            self._move(Trigger.READY)

    def warn(self, message: str) -> None:
        self.ports.warn(message)

    def now_ms(self) -> float:
        return self.ports.now() * 1000.0

    # -- subscriptions ------------------------------------------------------------------
    def subscribe(self, event: str, handle: Hashable, once: bool = False) -> None:
        immediate = self.bus.subscribe(event, handle, once)
        if immediate is not None:
            self.ports.deliver(immediate, self.view())

    def unsubscribe(self, handle: Hashable) -> None:
        self.bus.unsubscribe(handle)

    # -- boot ---------------------------------------------------------------------------
    async def boot(self) -> None:
        """Fire ``init``, then settle in ``no session``, ``incompatible`` or ``unauthorized``
        (or resume the session this tab was hosting on the previous page); then offer the
        invitation to host the page was opened through, if any. Calls made meanwhile wait."""
        self._booting = True
        try:
            for event in self.machine.boot():
                self.emit(event)
            # The listeners the page's 'init' callbacks add are known before anything else
            # fires (a resume moves on at once, without a domain-info round trip first).
            await self.ports.settled()
            await self._settle_boot()
        finally:
            if self._handover.pending:  # no session took the early capture over
                self._handover.drop()
                self.ports.capture(False, None)
            self._booted.set()
        if self.config.host_invite and self.state is State.NO_SESSION:
            await self._offer_host_invite(self.config.host_invite)

    async def _settle_boot(self) -> None:
        if missing_features(self.config.features):
            self._move(Trigger.INCOMPATIBLE)
            return
        resume = self.config.resume
        token = resume.get("token") if resume else None
        if isinstance(token, str) and resume and not resume.get("replay"):
            # The resume goes out as soon as the socket is open; domain info meanwhile (the
            # server refuses unauthorized origins, and its answer carries the settings).
            info = asyncio.ensure_future(self._load_domain_info())
            try:
                await self._resume(token)
            finally:
                await info
            self.publish()
            return
        await self._load_domain_info()
        if self.domain_info.get("authorized") is False:
            self._move(Trigger.UNAUTHORIZED)
        elif isinstance(token, str):
            self._move(Trigger.RESUME_REPLAY)
            self._watch_replay(token, str(resume.get("sessionId", "")) if resume else "")
        else:
            self._move(Trigger.READY)

    async def _load_domain_info(self) -> None:
        url = f"{self.config.server.rstrip('/')}/api/domain-info"
        try:
            info = await self.ports.fetch_json(url)
        except CwmnError as exc:
            # Authorization is checked again by the server on connect; keep going.
            self.domain_info = {
                "domain": self.config.domain,
                "authorized": None,
                "error": exc.to_dict(),
            }
            return
        self.domain_info = info

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
                    session.send_capture(kind, raw, t)
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
    async def call(self, path: str, args: tuple[Any, ...]) -> Any:
        """Run the Promise-returning function ``path``; raise a ``CwmnError`` on failure."""
        if path not in FUNCTIONS or FUNCTIONS[path].sync:
            raise CwmnError(f"CwmnAPI.{path} is not an asynchronous function", "invalid_params")
        if self._booting:
            await self._booted.wait()  # judged in the state boot settles in
        check_state(path, self.state)
        params = validate(path, args)
        handler = self._handlers.get(path)
        if handler is None:
            raise NotImplementedCapability(
                f"CwmnAPI.{path}() is not available in cwmn_web yet; see the project's issues"
            )
        return await handler(params)

    async def _start(self, params: dict[str, Any]) -> dict[str, Any]:
        await self._require_authorized()
        self._move(Trigger.START)
        start = StartSession(
            host_name=params["hostName"],
            host_email=params["hostEmail"],
            is_replay=params["isReplay"],
            page_id=self.config.page_id,
        )
        link, reply = await self._connect(start, SessionStarted)
        return self._started(link, reply)

    def _started(self, link: Link, reply: Message) -> dict[str, Any]:
        """A new realtime session is on (``SessionStarted``): host it."""
        assert isinstance(reply, SessionStarted)
        self.privacy_enabled = False
        self.mute_all, self.public_link_enabled = False, True
        info = _session_info(reply, self.config.page_url)
        return self._begin(link, reply.resume_token, info, resuming=False, settings=reply.settings)

    async def _require_authorized(self) -> None:
        if self.domain_info.get("authorized") is None:
            await self._load_domain_info()
        if self.domain_info.get("authorized") is False:
            raise Unauthorized(f"the domain {self.config.domain} is not authorized to use CWMN")

    # -- invitations to host ------------------------------------------------------------
    async def _invite_to_host(self, params: dict[str, Any]) -> dict[str, Any]:
        """The server emails the invitee and answers with the inviter's own join link; this
        page stays in ``no session``."""
        await self._require_authorized()
        request = InviteToHost(
            host_name=params["hostName"],
            host_email=params["hostEmail"],
            invite_name=params["inviteName"],
            invite_email=params["inviteEmail"],
            message=params.get("message") or "",
            url=params["url"],
        )
        link = await self._open_link()
        try:
            reply = await link.request(request, INVITE_TIMEOUT)
        finally:
            await link.close()
        if not isinstance(reply, HostInviteSent):
            raise ProtocolError(f"expected host_invite_sent, got {reply.type}")
        return {
            "inviteId": reply.invite_id,
            "joinUrl": reply.join_url,
            "expiresAt": reply.expires_at,
            "status": reply.status,
        }

    async def _offer_host_invite(self, token: str) -> None:
        """The page was opened through an invitation to host: learn what it says, then fire
        ``host invite``, or have the page ask in the default dialog if nobody listens."""
        try:
            link = await self._open_link()
            try:
                reply = await link.request(GetHostInvite(token=token))
            finally:
                await link.close()
            if not isinstance(reply, HostInviteInfo):
                raise ProtocolError(f"expected host_invite_info, got {reply.type}")
        except CwmnError as exc:
            self.ports.warn(f"CWMN: the invitation to host cannot be used: {exc.message}")
            return
        await self.ports.settled()  # every listener the page's callbacks added is known
        if self.state is not State.NO_SESSION:
            return
        invite = {
            "inviteId": reply.invite_id,
            "inviterName": reply.inviter_name,
            "hostName": reply.host_name,
            "hostEmail": reply.host_email,
            "message": reply.message,
            "expiresAt": reply.expires_at,
        }
        self._host_invite = (token, invite)
        if self.bus.listeners("host invite"):
            self.emit("host invite", dict(invite))
        else:
            self.overlay({"op": "consent", "invite": dict(invite)})

    def _pending_invite(self) -> str:
        if self._host_invite is None:
            raise NotFound(
                "there is no invitation to host on this page: it comes with a page opened "
                "through the link of an invitation email (see the 'host invite' event)"
            )
        return self._host_invite[0]

    async def _accept_host_invite(self, params: dict[str, Any]) -> dict[str, Any]:
        """Host the session the invitation made; the inviter may be waiting in it."""
        token = self._pending_invite()
        await self._require_authorized()
        self._move(Trigger.START)
        accept = AcceptHostInvite(token=token, page_id=self.config.page_id)
        try:
            link, reply = await self._connect(accept, SessionStarted)
        except CwmnError as exc:
            if exc.code not in ("network", "timeout"):
                self._host_invite = None  # refused for good (used, expired)
            raise
        self._host_invite = None
        return self._started(link, reply)

    async def _decline_host_invite(self, params: dict[str, Any]) -> None:
        """Forget the invitation on this page (its link works again until it expires)."""
        self._pending_invite()
        self._host_invite = None

    async def _resume(self, token: str) -> None:
        """Take back the session this tab hosted on the site's previous page."""
        self._move(Trigger.RESUME)
        request = ResumeSession(resume_token=token, page_id=self.config.page_id)
        try:
            link, reply = await self._connect(request, SessionResumed)
        except CwmnError:
            self.ports.store(RESUME_KEY, None)
            return
        assert isinstance(reply, SessionResumed)
        self.privacy_enabled = reply.privacy
        self.mute_all, self.public_link_enabled = reply.mute_all, reply.public_link
        info = _session_info(reply, self.config.page_url)
        muted = bool(self.config.resume and self.config.resume.get("muted"))
        self._begin(link, token, info, resuming=True, settings=reply.settings, muted=muted)

    async def _connect(self, request: Message, expected: type[Message]) -> tuple[Link, Message]:
        """Open a link and send ``request``; on failure fire ``session failed`` and raise."""
        link: Link | None = None
        self._early = []
        try:
            link = await self._open_link()
            reply = await link.request(request)
            if not isinstance(reply, expected):
                raise ProtocolError(f"expected {expected.type}, got {reply.type}")
        except CwmnError:
            if link is not None:
                await link.close()
            self._move(Trigger.CONNECT_FAILED)
            raise
        return link, reply

    def _begin(
        self,
        link: Link,
        token: str,
        info: dict[str, Any],
        *,
        resuming: bool,
        settings: Mapping[str, Any] | None = None,
        muted: bool = False,
    ) -> dict[str, Any]:
        session = HostSession(self, link, token, info)
        self._session = session
        self._settings = dict(settings or {})
        self._narration = Narration(self, session.send_frame) if info["isReplay"] else None
        self._remember(session, muted=muted)
        self._move(Trigger.RESUMED if resuming else Trigger.CONNECTED, resuming)
        self._take_over_capture(session)
        if self._narration is not None:
            limit = (settings or {}).get("replayMaxSeconds") or DEFAULT_MAX_SECONDS
            # How long it has recorded, on the server's clock (the host's may be off).
            since = link.server_time - float(info["startedAt"])
            elapsed = max(0.0, since) if resuming and link.server_time else 0.0
            self._narration.start(
                elapsed, float(limit), lambda: self.spawn(self._timed_out(session)), muted
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

    async def _open_link(
        self,
        on_push: Callable[[Message], None] | None = None,
        on_lost: Callable[[CwmnError], None] | None = None,
    ) -> Link:
        try:
            conn = await asyncio.wait_for(self.ports.connect(self.config.ws_url), CONNECT_TIMEOUT)
        except TimeoutError:
            raise CwmnError(
                f"could not connect to {self.config.ws_url} in {CONNECT_TIMEOUT:g} s", "timeout"
            ) from None
        link = Link(conn, on_push or self._on_push, on_lost or self._on_lost)
        try:
            await link.open(self.config.page_url)
        except CwmnError:
            await link.close()
            raise
        return link

    async def open_link(
        self,
        on_push: Callable[[Message], None] | None = None,
        on_lost: Callable[[CwmnError], None] | None = None,
    ) -> Link:
        """A new link (reconnects; following a replay's render with other handlers)."""
        return await self._open_link(on_push, on_lost)

    async def _end(self, params: dict[str, Any]) -> dict[str, Any]:
        session = self._require_session()
        await self._wrap_up(session)
        if self._narration is not None:  # a reload from here on follows the render
            self._remember_replay(session.token, session.info["sessionId"])
        with contextlib.suppress(CwmnError):
            await session.link.request(EndSession())
        # The server may have ended the session (expiry) while we waited for its answer.
        reason = "ended" if self._session is session else "expired"
        await self.finish(session, session.end_trigger("ended"))
        return {"sessionId": session.info["sessionId"], "reason": reason}

    async def _wrap_up(self, session: HostSession) -> None:
        """A replay's recording is complete before it ends: the page stops capturing, its
        recorder hands over its last chunk, and the server holds every frame."""
        narration = self._narration
        if narration is None:
            return
        self.ports.capture(False, None)
        await narration.stop()
        if not await session.drain(DRAIN_TIMEOUT):
            self.ports.warn("CWMN: the last seconds of the replay could not reach the server")

    async def _timed_out(self, session: HostSession) -> None:
        """The replay reached its maximum length: stop recording as ``endSession`` does."""
        if self._session is not session or self.state is not State.IN_SESSION:
            return
        self.emit("replay timeout")
        try:
            await self._end({})
        except CwmnError as exc:
            self.ports.warn(f"CWMN: ending the replay at its maximum length failed: {exc}")

    async def finish(self, session: HostSession, trigger: Trigger) -> None:
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
        await session.close()
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
        self.spawn(watch.run())

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
            self._session.on_lost(exc)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background, keeping a reference until it is done."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- replays -------------------------------------------------------------------------
    def on_audio(self, message: dict[str, Any]) -> None:
        """A message from the page's recorder (static/recorder.mjs)."""
        if self._narration is not None and self.state is State.IN_SESSION:
            self._narration.on_audio(message)

    async def _mute_audio(self, params: dict[str, Any]) -> bool:
        session = self._require_session()
        if self._narration is None:
            raise InvalidState("this session is not a replay: there is no narration to mute")
        muted = self._narration.mute(params["muted"])
        self._remember(session, muted=muted)
        return muted

    def _require_watch(self) -> ReplayWatch:
        if self._watch is None:
            raise InvalidState("there is no replay on this page")
        return self._watch

    async def _send_video(self, params: dict[str, Any]) -> dict[str, Any]:
        """Email the video now (rendered) or when rendering completes (waiting)."""
        watch = self._require_watch()
        request = SendVideo(
            resume_token=watch.token,
            to_emails=list(params.get("toEmails") or ()),
            subject=params.get("subject") or "",
            message=params.get("message") or "",
        )
        reply = await watch.request(request, INVITE_TIMEOUT)
        if not isinstance(reply, VideoSent):
            raise ProtocolError(f"expected video_sent, got {reply.type}")
        result = {"status": reply.status, "to": list(reply.to)}
        if self.state is State.REPLAY_COMPLETE and reply.status != "queued":
            self.move(Trigger.SEND_VIDEO)
        else:  # queued, or sent at once as rendering completed: done once 'replay complete'
            watch.send_queued = True
        return result

    async def _video_url(self, params: dict[str, Any]) -> str:
        return self._require_watch().video_url()

    async def _abandon_video(self, params: dict[str, Any]) -> None:
        """The server deletes the recording and the video; the page goes back to no session."""
        watch = self._require_watch()
        await watch.request(AbandonReplay(resume_token=watch.token))
        if self.state in (State.WAITING_FOR_REPLAY, State.REPLAY_COMPLETE):
            self.move(Trigger.ABANDON_VIDEO)

    async def _rendering_progress(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._require_watch().progress

    async def _dismiss_error(self, params: dict[str, Any]) -> None:
        self.move(Trigger.DISMISS_ERROR)

    # -- the mirror stream --------------------------------------------------------------
    def on_capture(
        self, kind: str, raw: dict[str, Any], t: Any = None, early: bool = False
    ) -> None:
        """A raw frame from the page's capture code (docs/MIRROR.md), captured at ``t`` (ms
        since the epoch, the page's clock; now if missing); ``early``: by the capture the
        stub started before Python was ready (held until the session resumes)."""
        if early and self._handover.pending:
            self._handover.hold(kind, raw, t)
            return
        if early and not self._handover.adopted:  # dropped, failed, or never valid
            return
        session = self._session
        if session is None or self.privacy_enabled or self.state is not State.IN_SESSION:
            return
        session.send_capture(kind, raw, t)

    def on_capture_failed(self, early: bool) -> None:
        """The page's capture did not start (capture.mjs failed to load, or it threw). The
        early capture is forgotten: a session resuming later starts capture afresh, one that
        adopted it already restarts it now. A failure of the capture Python started is left
        alone (the stub has logged it; restarting would fail the same way)."""
        if not early:
            return
        if self._handover.fail() and self.state is State.IN_SESSION:
            self.start_capture()

    # -- guests and settings ------------------------------------------------------------
    async def _invite_link(self, params: dict[str, Any]) -> str:
        return await self._link(CreateLink())

    async def _invite_guest(self, params: dict[str, Any]) -> dict[str, Any]:
        """The server checks again, sends (or keeps in its outbox) and answers once the mail
        server or SMS provider took the invite."""
        email = params["channel"] == "email"
        request = InviteGuest(
            guest_name=params.get("guestName") or "",
            guest_email=params["guestEmail"] if email else "",
            guest_phone="" if email else params["guestPhone"],
            message=params.get("message") or "",
        )
        reply = await self._require_session().link.request(request, INVITE_TIMEOUT)
        if not isinstance(reply, InviteSent):
            raise ProtocolError(f"expected invite_sent, got {reply.type}")
        return {
            "inviteId": reply.invite_id,
            "channel": reply.channel,
            "to": reply.to,
            "status": reply.status,
        }

    async def _public_link(self, params: dict[str, Any]) -> str:
        return await self._link(CreatePublicLink())

    async def _link(self, request: CreateLink | CreatePublicLink) -> str:
        reply = await self._require_session().link.request(request)
        if not isinstance(reply, LinkCreated):
            raise ProtocolError(f"expected link_created, got {reply.type}")
        return reply.url

    async def _remove_guest(self, params: dict[str, Any]) -> None:
        """The server removes the guest; its ``guest_left`` push updates the list first."""
        session = self._require_session()
        guest_id = self._guest(params["guestId"])["guestId"]
        await session.link.request(RemoveGuest(guest_id=guest_id))

    async def _mute_guest(self, params: dict[str, Any]) -> None:
        """The server mutes the guest; its ``guest_updated`` push updates the list first."""
        session = self._require_session()
        guest_id = self._guest(params["guestId"])["guestId"]
        await session.link.request(MuteGuest(guest_id=guest_id, muted=params["muted"]))

    def _guest(self, guest_id: str) -> dict[str, Any]:
        for guest in self.guests:
            if guest["guestId"] == guest_id:
                return guest
        raise NotFound(
            f"no guest with id {guest_id!r} in this session; "
            "CwmnAPI.guest.getGuestList() lists the guests"
        )

    async def _mute_all(self, params: dict[str, Any]) -> bool:
        session = self._require_session()
        status = params["status"]
        await session.link.request(MuteAll(muted=status))
        if status != self.mute_all:
            self.mute_all = status
            session.mute_all_changed()
        return self.mute_all

    async def _set_public_link(self, params: dict[str, Any]) -> bool:
        enabled = params["enabled"]
        await self._require_session().link.request(SetPublicLink(enabled=enabled))
        self.public_link_enabled = enabled
        self.publish()
        return self.public_link_enabled

    async def _set_privacy(self, params: dict[str, Any]) -> bool:
        """Privacy on: capture stops in the page at once, so nothing more leaves it."""
        session = self._require_session()
        enabled = bool(params["enabled"])  # validated as a boolean
        if enabled == self.privacy_enabled:
            return enabled
        if enabled:
            self.privacy_enabled = True
            self.ports.capture(False, None)
            self._remember(session)  # the next page captures nothing early either
            await session.link.request(SetPrivacy(enabled=True))
        else:
            await session.link.request(SetPrivacy(enabled=False))
            self.privacy_enabled = False
            self._remember(session)
            self.start_capture()
        self.publish()
        return enabled


def _session_info(reply: SessionStarted | SessionResumed, page_url: str) -> dict[str, Any]:
    return {
        "sessionId": reply.session_id,
        "isReplay": reply.is_replay,
        "hostName": reply.host_name,
        "hostEmail": reply.host_email,
        "startedAt": reply.started_at,
        "pageUrl": page_url,
    }
