"""The host core's surroundings in memory, on a fake clock: the page (its ports) and a server
stand-in that answers like ``cwmn_web.server`` would, message by message.

:class:`Page` is the shared recording page (:mod:`tests.helpers.host_ports`) whose network
is :class:`Answers`: each socket's messages go to it and its answers come back at once.
Nothing runs by itself: each input is followed by :meth:`Page.pump`, which delivers
everything queued until the core is quiet; time moves only with :meth:`Page.advance`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import Any

import pytest

from cwmn_web.client.compat import REQUIRED_FEATURES
from cwmn_web.client.controller import ClientConfig, HostController
from cwmn_web.client.states import State
from cwmn_web.errors import CwmnError, NetworkError
from cwmn_web.protocol.guests import GuestObject
from cwmn_web.protocol.messages import (
    AbandonReplay,
    AcceptHostInvite,
    Ack,
    CreatePublicLink,
    EndSession,
    ErrorReply,
    GetHostInvite,
    GuestJoined,
    GuestUpdated,
    Hello,
    HostInviteInfo,
    HostInviteSent,
    InviteGuest,
    InviteSent,
    InviteToHost,
    LinkCreated,
    Message,
    MirrorFrame,
    MuteAll,
    MuteGuest,
    Ok,
    Ping,
    Pong,
    ReplayUpdate,
    ResumeSession,
    SendVideo,
    SessionEnded,
    SessionResumed,
    SessionStarted,
    SetPrivacy,
    SetPublicLink,
    StartSession,
    VideoSent,
    WatchReplay,
    Welcome,
)
from tests.helpers.host_ports import DOMAIN_INFO as DOMAIN_INFO
from tests.helpers.host_ports import RecordingPage, exchange

SERVER = "http://cwmn.test"
PAGE = "https://shop.example.com/cart?x=1"
FEATURES = {name: True for name in REQUIRED_FEATURES}
HOST = {"hostName": "Host Name", "hostEmail": "noreply@clickwithmenow.com", "isReplay": False}
HOST_TOKEN = "host-tok"
WAITING_GUEST: GuestObject = {"guestId": "g-ivy", "name": "Ivy", "muted": False, "pointer": None}
#: The masking rules a page keeps in the resume entry for the next page (defaults here).
SITE_CAPTURE = {"mask": ["[data-cwmn-mask]", ".cwmn-mask"], "block": ["[data-cwmn-block]"]}


@dataclass(eq=False)
class ServerSide:
    """The server's end of one socket."""

    name: str
    closed: bool = False


class Answers:
    """Answers hello, sessions, guests, invites and replays like cwmn_web.server, scripted.

    Kept for what the real server core (:mod:`tests.helpers.live_core`) cannot be made to
    produce in memory: failures on demand (``start_error``, ``silent``, ``refuse``, ``hang``,
    a server that drops or pushes a given message), the fixed ids and times assertions name,
    and the requests its edge does with mail, SMS and the render worker (invites, invitations
    to host, replays). Links, removals, a resumed page and a session that ended while the
    host was away go through the real core (test_live_core.py)."""

    def __init__(self) -> None:
        self.received: list[Message] = []
        self.frames: list[MirrorFrame] = []
        self.sockets: list[ServerSide] = []
        self.acked = 0
        self.page_id = ""
        self.start_error: ErrorReply | None = None
        self.invite_used = False
        self.silent = False
        #: Refuse (an error) or never answer (None) the sockets the host opens.
        self.refuse: CwmnError | None = None
        self.hang = False
        #: Replays: the render job as WatchReplay answers it, and what was asked of it.
        self.settings: dict[str, Any] = {}
        self.replay = ReplayUpdate(replay_id="s1", status="queued", stage="queued")
        self.video_status = "sent"
        self.answer: Callable[[Message], Message] = self._answer

    @property
    def client(self) -> ServerSide | None:
        """The last socket the host opened."""
        return self.sockets[-1] if self.sockets else None

    def handle(self, message: Message) -> list[Message]:
        """Take ``message``; what goes back, in order (pushes, then the answer)."""
        self.received.append(message)
        if self.silent:
            return []
        out = [*self._pushes(message), self.answer(message)]
        if isinstance(message, AcceptHostInvite) and isinstance(out[-1], SessionStarted):
            # Like the relay: who waits in the room comes right after the answer.
            out.append(GuestJoined(guest=WAITING_GUEST.copy()))
        return out

    def _pushes(self, message: Message) -> list[Message]:
        """What the server pushes before its answer (like cwmn_web.server's relay)."""
        if isinstance(message, MuteGuest):
            return [GuestUpdated(guest={"guestId": message.guest_id, "muted": message.muted})]
        return []

    def _answer(self, message: Message) -> Message:
        ref = message.ref
        if isinstance(message, Hello):
            return Welcome(ref=ref, server_time=1000.0)
        if isinstance(message, StartSession):
            self.page_id = message.page_id
            if self.start_error is not None:
                return ErrorReply(
                    ref=ref, code=self.start_error.code, message=self.start_error.message
                )
            return SessionStarted(
                ref=ref,
                session_id="s1",
                resume_token="tok",
                started_at=1000.0,
                is_replay=message.is_replay,
                host_name=message.host_name,
                host_email=message.host_email,
                settings={"maxGuests": 10, **self.settings},
            )
        if isinstance(message, EndSession):
            return SessionEnded(ref=ref, session_id="s1", reason="ended")
        if isinstance(message, Ping):
            return Pong(ref=ref)
        if isinstance(message, SetPrivacy | SetPublicLink | MuteAll | MuteGuest):
            return Ok(ref=ref)
        if isinstance(message, CreatePublicLink):
            return LinkCreated(ref=ref, url="http://cwmn.test/join/public1", expires_at=9.0)
        if isinstance(message, InviteGuest):
            if message.guest_email.endswith("@refused.test"):
                return ErrorReply(ref=ref, code="invite_failed", message="550 no such user")
            email = bool(message.guest_email)
            return InviteSent(
                ref=ref,
                invite_id="inv1",
                channel="email" if email else "sms",
                to=message.guest_email or "+13145550000",
                status="sent",
            )
        if isinstance(message, InviteToHost):
            if "evil" in message.url:
                return ErrorReply(ref=ref, code="invalid_params", message="url: not this site")
            return HostInviteSent(
                ref=ref,
                invite_id="hi1",
                join_url="http://cwmn.test/join/wait1?name=Ivy",
                expires_at=87400.0,
                status="sent",
            )
        if isinstance(message, GetHostInvite):
            if message.token != HOST_TOKEN:
                return ErrorReply(ref=ref, code="link_invalid", message="expired")
            return HostInviteInfo(
                ref=ref,
                invite_id="hi1",
                inviter_name="Ivy",
                host_name="Hana",
                host_email="hana@example.com",
                message="Show me",
                expires_at=87400.0,
            )
        if isinstance(message, AcceptHostInvite):
            if message.token != HOST_TOKEN or self.invite_used:
                return ErrorReply(ref=ref, code="link_used", message="already used")
            self.invite_used = True
            self.page_id = message.page_id
            return SessionStarted(
                ref=ref,
                session_id="s2",
                resume_token="tok2",
                started_at=2000.0,
                host_name="Hana",
                host_email="hana@example.com",
            )
        if isinstance(message, ResumeSession):
            if message.resume_token != "tok":
                return ErrorReply(ref=ref, code="session_ended", message="over")
            acked = self.acked if message.page_id == self.page_id else 0
            self.page_id = message.page_id
            return SessionResumed(
                ref=ref,
                session_id="s1",
                started_at=1000.0,
                host_name="Host Name",
                host_email="noreply@clickwithmenow.com",
                acked_seq=acked,
            )
        if isinstance(message, WatchReplay):
            if message.resume_token != "tok":
                return ErrorReply(ref=ref, code="not_found", message="no such replay")
            return replace(self.replay, ref=ref)
        if isinstance(message, SendVideo):
            status = "queued" if self.replay.status != "complete" else self.video_status
            return VideoSent(ref=ref, status=status, to=message.to_emails or ["h@example.com"])
        if isinstance(message, AbandonReplay):
            return Ok(ref=ref)
        if isinstance(message, MirrorFrame):
            self.frames.append(message)
            self.acked = message.seq
            return Ack(seq=message.seq)
        return ErrorReply(ref=ref, code="protocol", message=f"unexpected {message.type}")


class Page(RecordingPage):
    """The host page and its network around one :class:`HostController`, on a fake clock:
    the recording page (:class:`RecordingPage`) with :class:`Answers` as its server."""

    def __init__(
        self,
        domain_info: dict[str, Any] | None = None,
        fetch_error: CwmnError | None = None,
        connect_error: CwmnError | None = None,
    ) -> None:
        super().__init__(lambda: 1000.0, domain_info, fetch_error)
        self.server = Answers()
        self.server.refuse = connect_error
        self.host: HostController | None = None
        self.time = 100.0
        """The fake monotonic clock the core is driven with (seconds)."""
        self.connected: list[str] = []
        self.opened_at: list[float] = []
        self._live: dict[str, ServerSide] = {}
        self._hanging: list[str] = []
        self._calls = 0

    # -- the network (:class:`Network`): sockets to :class:`Answers` ----------------------
    def open_socket(self, core: HostController, name: str, now: float) -> None:
        self.connected.append(core.config.ws_url)
        self.opened_at.append(now)
        if self.server.refuse is not None:
            core.lost(name, self.server.refuse, now)
        elif self.server.hang:
            self._hanging.append(name)
        else:
            side = ServerSide(name)
            self.server.sockets.append(side)
            self._live[name] = side
            core.connected(name, now)

    def close_socket(self, name: str) -> None:
        gone = self._live.pop(name, None)
        if gone is not None:
            gone.closed = True

    def send_socket(self, core: HostController, name: str, message: Message, now: float) -> None:
        if name in self._live:
            for answer in self.server.handle(message):
                if name in self._live:
                    core.receive(name, answer, now)

    def carry_back(self, core: HostController, now: float) -> bool:
        return False  # Answers answer at once, in send_socket

    # -- driving the core ---------------------------------------------------------------
    @property
    def core(self) -> HostController:
        assert self.host is not None
        return self.host

    def pump(self) -> None:
        """Carry everything queued between the core, the page and the server until quiet."""
        while exchange(self.core, self, self, self.time):
            pass

    def release_fetches(self) -> None:
        """Answer the fetches held so far (``hold_fetches``), and stop holding."""
        self.release_held()
        self.pump()

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass: the core is ticked at each of its deadlines on the way."""
        end = self.time + seconds
        while (due := self.core.next_due()) is not None and due <= end:
            self.time = max(self.time, due)
            self.core.tick(self.time)
            self.pump()
        self.time = end
        self.core.tick(end)
        self.pump()

    def boot(self) -> None:
        self.core.boot(self.time)
        self.pump()

    def start_call(self, path: str, args: tuple[Any, ...] = ()) -> int:
        """Make the call ``path`` (its result is in :attr:`results` once settled)."""
        self._calls += 1
        self.core.call(self._calls, path, args, self.time)
        self.pump()
        return self._calls

    def outcome(self, call_id: Hashable) -> Any:
        """The value the call ``call_id`` resolved with; raises the error it failed with."""
        assert call_id in self.results, "the call has not settled"
        value, error = self.results[call_id]
        if error is not None:
            raise error
        return value

    def call(self, path: str, args: tuple[Any, ...] = ()) -> Any:
        """Call ``path`` and answer what it settled with (it must settle at once)."""
        return self.outcome(self.start_call(path, args))

    def capture_frame(
        self, kind: str, raw: dict[str, Any], t: Any = None, early: bool = False
    ) -> None:
        self.core.on_capture(kind, raw, t, self.time, early=early)
        self.pump()

    def capture_failed(self, early: bool) -> None:
        self.core.on_capture_failed(early, self.time)
        self.pump()

    def audio(self, message: dict[str, Any]) -> None:
        self.core.on_audio(message, self.time)
        self.pump()

    # -- the server's side ----------------------------------------------------------------
    def push(self, message: Message) -> None:
        """The server pushes ``message`` on the host's last socket."""
        side = self.server.client
        assert side is not None
        if not side.closed:
            self.core.receive(side.name, message, self.time)
        self.pump()

    def drop(self) -> None:
        """The network breaks: the host's last socket is lost."""
        side = self.server.client
        assert side is not None and not side.closed
        side.closed = True
        self._live.pop(side.name, None)
        self.core.lost(side.name, NetworkError("the connection was closed"), self.time)
        self.pump()

    @property
    def hanging(self) -> list[str]:
        """Sockets the host asked for that never opened (``server.hang``)."""
        return list(self._hanging)


def make(ports: Page | None = None, **features: bool) -> tuple[HostController, Page]:
    ports = ports or Page()
    config = ClientConfig(server=SERVER, page_url=PAGE, features={**FEATURES, **features})
    return host_of(ports, config), ports


def host_of(ports: Page, config: ClientConfig) -> HostController:
    """A host core on ``ports``'s page with ``config``."""
    ports.host = HostController(ports, config)
    return ports.host


def booted(ports: Page | None = None) -> tuple[HostController, Page]:
    controller, ports = make(ports)
    ports.boot()
    assert controller.state is State.NO_SESSION
    return controller, ports


def in_session(ports: Page | None = None) -> tuple[HostController, Page]:
    controller, ports = booted(ports)
    ports.call("session.start", (dict(HOST),))
    assert controller.state is State.IN_SESSION
    return controller, ports


def call_error(ports: Page, path: str, *args: Any) -> CwmnError:
    with pytest.raises(CwmnError) as info:
        ports.call(path, args)
    return info.value
