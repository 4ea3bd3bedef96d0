"""cwmn_web.client.link and cwmn_web.client.controller over an in-memory wire.

A fake server coroutine answers like ``cwmn_web.server`` would, with the shared codec; the
Ports record every delivery with the view state the page would see.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest

from cwmn_web.client.compat import REQUIRED_FEATURES
from cwmn_web.client.controller import ClientConfig, HostController
from cwmn_web.client.link import Link
from cwmn_web.client.states import State
from cwmn_web.errors import CwmnError, NetworkError, ProtocolError
from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import (
    AbandonReplay,
    AcceptHostInvite,
    Ack,
    CreateLink,
    CreatePublicLink,
    EndSession,
    ErrorReply,
    GetHostInvite,
    GuestClick,
    GuestJoined,
    GuestLeft,
    GuestPointer,
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
    RemoveGuest,
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

SERVER = "http://cwmn.test"
PAGE = "https://shop.example.com/cart?x=1"
FEATURES = {name: True for name in REQUIRED_FEATURES}
DOMAIN_INFO = {
    "domain": "shop.example.com",
    "authorized": True,
    "site": {"id": 1, "name": "default"},
    "features": {"realtime": True},
    "settings": {"maxGuests": 10},
}
HOST = {"hostName": "Host Name", "hostEmail": "noreply@clickwithmenow.com", "isReplay": False}
INVITE_TO_HOST = {
    "hostName": "Ivy",
    "hostEmail": "ivy@example.com",
    "inviteName": "Hana",
    "inviteEmail": "hana@example.com",
    "message": "Show me\r\nplease",
    "url": "https://shop.example.com/cart",
}
HOST_TOKEN = "host-tok"
WAITING_GUEST = {"guestId": "g-ivy", "name": "Ivy", "muted": False, "pointer": None}
_CLOSED = "\x00closed"
#: The masking rules a page keeps in the resume entry for the next page (defaults here).
SITE_CAPTURE = {"mask": ["[data-cwmn-mask]", ".cwmn-mask"], "block": ["[data-cwmn-block]"]}


# -- the in-memory wire ---------------------------------------------------------------------
class FakeConnection:
    """One end of a pipe of text frames; ``recv`` raises ``NetworkError`` once closed."""

    def __init__(self, inbox: asyncio.Queue[str], outbox: asyncio.Queue[str]) -> None:
        self.inbox, self.outbox = inbox, outbox
        self.closed = False

    async def send(self, frame: str) -> None:
        if self.closed:
            raise NetworkError("send on a closed connection")
        await self.outbox.put(frame)

    async def recv(self) -> str:
        frame = await self.inbox.get()
        if frame == _CLOSED:
            self.closed = True
            raise NetworkError("the connection was closed")
        return frame

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self.outbox.put(_CLOSED)
            await self.inbox.put(_CLOSED)


class FakeServer:
    """Answers hello, start_session, end_session and ping like cwmn_web.server."""

    def __init__(self) -> None:
        self.received: list[Message] = []
        self.frames: list[MirrorFrame] = []
        self.acked = 0
        self.page_id = ""
        self.start_error: ErrorReply | None = None
        self.invite_used = False
        self.silent = False
        #: Replays: the render job as WatchReplay answers it, and what was asked of it.
        self.settings: dict[str, Any] = {}
        self.replay = ReplayUpdate(replay_id="s1", status="queued", stage="queued")
        self.video_status = "sent"
        self.client: FakeConnection | None = None
        self._to_client: asyncio.Queue[str] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def accept(self) -> FakeConnection:
        to_server: asyncio.Queue[str] = asyncio.Queue()
        self._to_client = asyncio.Queue()
        self.client = FakeConnection(self._to_client, to_server)
        self._tasks.append(asyncio.ensure_future(self._serve(to_server)))
        return self.client

    async def push(self, message: Message) -> None:
        assert self._to_client is not None
        await self._to_client.put(codec.encode(message))

    async def drop(self) -> None:
        """The network breaks: the client's next ``recv`` fails."""
        assert self._to_client is not None
        await self._to_client.put(_CLOSED)

    async def _serve(self, inbox: asyncio.Queue[str]) -> None:
        while (frame := await inbox.get()) != _CLOSED:
            message = codec.decode(frame)
            self.received.append(message)
            if self.silent:
                continue
            for push in self._pushes(message):
                await self.push(push)
            answer = self._answer(message)
            await self.push(answer)
            if isinstance(message, AcceptHostInvite) and isinstance(answer, SessionStarted):
                # Like the relay: who waits in the room comes right after the answer.
                await self.push(GuestJoined(guest=dict(WAITING_GUEST)))

    def _pushes(self, message: Message) -> list[Message]:
        """What the server pushes before its answer (like cwmn_web.server's relay)."""
        if isinstance(message, MuteGuest):
            return [GuestUpdated(guest={"guestId": message.guest_id, "muted": message.muted})]
        if isinstance(message, RemoveGuest):
            return [GuestLeft(guest={"guestId": message.guest_id})]
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
        if isinstance(message, SetPrivacy | SetPublicLink | MuteAll | MuteGuest | RemoveGuest):
            return Ok(ref=ref)
        if isinstance(message, CreatePublicLink):
            return LinkCreated(ref=ref, url="http://cwmn.test/join/public1", expires_at=9.0)
        if isinstance(message, CreateLink):
            return LinkCreated(ref=ref, url="http://cwmn.test/join/tok123", expires_at=9.0)
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


class FakePorts:
    """Records deliveries as (event, args, view state) and published views."""

    def __init__(
        self,
        domain_info: dict[str, Any] | None = None,
        fetch_error: CwmnError | None = None,
        connect_error: CwmnError | None = None,
    ) -> None:
        self.domain_info = dict(DOMAIN_INFO if domain_info is None else domain_info)
        self.fetch_error = fetch_error
        self.connect_error = connect_error
        self.server = FakeServer()
        self.deliveries: list[tuple[str, tuple[Any, ...], str]] = []
        self.handles: list[tuple[str, tuple[Any, ...]]] = []
        self.views: list[dict[str, Any]] = []
        self.published: list[dict[str, Any]] = []
        self.fetched: list[str] = []
        self.connected: list[str] = []
        self.captures: list[tuple[bool, dict[str, Any] | None]] = []
        self.overlays: list[dict[str, Any]] = []
        self.stored: dict[str, dict[str, Any] | None] = {}
        self.warnings: list[str] = []
        self.settles = 0
        #: What the page's callbacks do for an event; like the real page, it happens later
        #: (their subscriptions reach the worker after it), by the next ``settled()``.
        self.on_event: dict[str, Callable[[], None]] = {}
        self._page_work: list[Callable[[], None]] = []

    def deliver(self, delivery: Any, view: dict[str, Any]) -> None:
        self.deliveries.append((delivery.event, delivery.args, view["state"]))
        self.handles.append((delivery.event, delivery.handles))
        self.views.append(view)
        if delivery.event in self.on_event:
            self._page_work.append(self.on_event[delivery.event])

    async def settled(self) -> None:
        self.settles += 1
        work, self._page_work = self._page_work, []
        for action in work:
            action()

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def publish(self, view: dict[str, Any]) -> None:
        self.published.append(view)

    def capture(self, start: bool, config: dict[str, Any] | None) -> None:
        self.captures.append((start, config))

    def overlay(self, message: dict[str, Any]) -> None:
        self.overlays.append(message)

    def store(self, key: str, value: dict[str, Any] | None) -> None:
        self.stored[key] = value

    async def fetch_json(self, url: str) -> dict[str, Any]:
        self.fetched.append(url)
        if self.fetch_error is not None:
            raise self.fetch_error
        return dict(self.domain_info)

    async def connect(self, url: str) -> FakeConnection:
        self.connected.append(url)
        if self.connect_error is not None:
            raise self.connect_error
        return self.server.accept()

    def now(self) -> float:
        return 1000.0

    def view_at(self, event: str) -> dict[str, Any]:
        return next(
            v for (e, _, _), v in zip(self.deliveries, self.views, strict=True) if e == event
        )


def make(ports: FakePorts | None = None, **features: bool) -> tuple[HostController, FakePorts]:
    ports = ports or FakePorts()
    config = ClientConfig(server=SERVER, page_url=PAGE, features={**FEATURES, **features})
    return HostController(ports, config), ports


def run(body: Callable[[], Awaitable[None]]) -> None:
    """Run ``body`` on a fresh event loop in its own thread: Playwright's sync API keeps a
    loop running in the main thread once browser tests have started."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(body())  # type: ignore[arg-type]
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


async def settle(predicate: Callable[[], bool]) -> None:
    for _ in range(200):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("the controller did not settle")


async def booted(ports: FakePorts | None = None) -> tuple[HostController, FakePorts]:
    controller, ports = make(ports)
    await controller.boot()
    assert controller.state is State.NO_SESSION
    return controller, ports


async def in_session(ports: FakePorts | None = None) -> tuple[HostController, FakePorts]:
    controller, ports = await booted(ports)
    await controller.call("session.start", (dict(HOST),))
    assert controller.state is State.IN_SESSION
    return controller, ports


async def call_error(controller: HostController, path: str, *args: Any) -> CwmnError:
    with pytest.raises(CwmnError) as info:
        await controller.call(path, args)
    return info.value


# -- config -----------------------------------------------------------------------------------
def test_client_config_urls() -> None:
    assert ClientConfig("http://cwmn.test:8000/", PAGE).ws_url == "ws://cwmn.test:8000/ws"
    assert ClientConfig("https://cwmn.test", PAGE).ws_url == "wss://cwmn.test/ws"
    assert ClientConfig(SERVER, PAGE).domain == "shop.example.com"


# -- boot ----------------------------------------------------------------------------------------
def test_boot_fires_init_then_ready_no_session() -> None:
    async def body() -> None:
        controller, ports = make()
        await controller.boot()
        assert ports.deliveries == [
            ("init", (), "init"),
            ("ready no session", (), "no session"),
        ]
        assert ports.fetched == [f"{SERVER}/api/domain-info"]
        assert controller.state is State.NO_SESSION
        view = controller.view()
        assert view["state"] == "no session"
        assert view["initFired"] is True
        assert view["compatible"] is True
        assert view["domainInfo"] == DOMAIN_INFO
        assert view["sessionInfo"] is None
        assert ports.views[0]["initFired"] is True

    run(body)


def test_boot_twice_is_invalid_state() -> None:
    async def body() -> None:
        controller, ports = await booted()
        with pytest.raises(CwmnError) as info:
            await controller.boot()
        assert info.value.code == "invalid_state"
        assert len(ports.deliveries) == 2

    run(body)


@pytest.mark.parametrize("missing", ["WebAssembly", "Worker", "sessionStorage"])
def test_boot_with_a_missing_feature_is_incompatible(missing: str) -> None:
    async def body() -> None:
        controller, ports = make(**{missing: False})
        await controller.boot()
        assert ports.deliveries == [
            ("init", (), "init"),
            ("incompatible", (), "incompatible browser"),
            ("init failed", (), "incompatible browser"),
        ]
        assert ports.fetched == []
        assert controller.state is State.INCOMPATIBLE
        assert controller.view()["compatible"] is False

    run(body)


def test_boot_with_no_features_reported_is_incompatible() -> None:
    async def body() -> None:
        ports = FakePorts()
        controller = HostController(ports, ClientConfig(SERVER, PAGE))
        await controller.boot()
        assert controller.state is State.INCOMPATIBLE

    run(body)


def test_boot_on_an_unauthorized_domain() -> None:
    async def body() -> None:
        info = {"domain": "shop.example.com", "authorized": False}
        controller, ports = make(FakePorts(domain_info=info))
        await controller.boot()
        assert ports.deliveries == [
            ("init", (), "init"),
            ("unauthorized", (), "unauthorized"),
            ("init failed", (), "unauthorized"),
        ]
        assert controller.state is State.UNAUTHORIZED
        assert controller.view()["domainInfo"] == info

    run(body)


def test_boot_when_domain_info_is_unreachable_still_gets_ready() -> None:
    async def body() -> None:
        controller, ports = make(FakePorts(fetch_error=NetworkError("offline")))
        await controller.boot()
        assert [d[0] for d in ports.deliveries] == ["init", "ready no session"]
        assert controller.state is State.NO_SESSION
        info = controller.view()["domainInfo"]
        assert info["authorized"] is None
        assert info["domain"] == "shop.example.com"
        assert info["error"] == {"code": "network", "message": "offline"}

    run(body)


def test_subscriptions_get_their_handles() -> None:
    async def body() -> None:
        controller, ports = make()
        with pytest.raises(CwmnError) as info:
            controller.subscribe("ready no session", 1)
        assert info.value.code == "invalid_state"
        controller.subscribe("init", 2)
        await controller.boot()
        assert ports.handles == [("init", (2,)), ("ready no session", ())]
        controller.subscribe("init", 3, once=True)
        assert ports.handles[-1] == ("init", (3,))
        assert ports.deliveries[-1] == ("init", (), "no session")
        controller.subscribe("session pending", 4)
        controller.subscribe("session pending", 5)
        controller.unsubscribe(4)
        await controller.call("session.start", (dict(HOST),))
        assert ("session pending", (5,)) in ports.handles

    run(body)


# -- session.start --------------------------------------------------------------------------------
def test_session_start() -> None:
    async def body() -> None:
        controller, ports = await booted()
        result = await controller.call("session.start", (dict(HOST),))
        assert result == {
            "sessionId": "s1",
            "isReplay": False,
            "hostName": "Host Name",
            "hostEmail": "noreply@clickwithmenow.com",
            "startedAt": 1000.0,
            "pageUrl": PAGE,
        }
        assert ports.deliveries[2:] == [
            ("session pending", (), "session pending"),
            ("in session", (False,), "in session"),
        ]
        assert ports.view_at("session pending")["sessionInfo"] is None
        assert ports.view_at("in session")["sessionInfo"] == result
        assert controller.view()["sessionInfo"] == result
        assert ports.connected == ["ws://cwmn.test/ws"]
        hello, start = ports.server.received
        assert isinstance(hello, Hello)
        assert hello.page_url == PAGE
        assert start == StartSession(
            ref=start.ref,
            host_name="Host Name",
            host_email=HOST["hostEmail"],
            is_replay=False,
            page_id=controller.config.page_id,
        )
        assert len(start.page_id) == 16
        assert start.ref != hello.ref

    run(body)


def test_session_start_when_connect_fails() -> None:
    async def body() -> None:
        controller, ports = await booted(FakePorts(connect_error=NetworkError("refused")))
        error = await call_error(controller, "session.start", dict(HOST))
        assert error.code == "network"
        assert ports.deliveries[2:] == [
            ("session pending", (), "session pending"),
            ("session failed", (), "session pending"),
            ("ready no session", (), "no session"),
        ]
        assert controller.state is State.NO_SESSION
        assert controller.view()["sessionInfo"] is None

    run(body)


def test_session_start_refused_by_the_server() -> None:
    async def body() -> None:
        ports = FakePorts()
        ports.server.start_error = ErrorReply(code="unauthorized", message="not this domain")
        controller, ports = await booted(ports)
        error = await call_error(controller, "session.start", dict(HOST))
        assert (error.code, error.message) == ("unauthorized", "not this domain")
        assert [d[0] for d in ports.deliveries[2:]] == [
            "session pending",
            "session failed",
            "ready no session",
        ]
        assert controller.state is State.NO_SESSION
        # The client may try again.
        ports.server.start_error = None
        await controller.call("session.start", (dict(HOST),))
        assert controller.state is State.IN_SESSION

    run(body)


def test_session_start_reloads_missing_domain_info() -> None:
    async def body() -> None:
        ports = FakePorts(fetch_error=NetworkError("offline"))
        controller, ports = await booted(ports)
        ports.fetch_error = None
        await controller.call("session.start", (dict(HOST),))
        assert len(ports.fetched) == 2
        assert controller.view()["domainInfo"] == DOMAIN_INFO

    run(body)


# -- ending -----------------------------------------------------------------------------------
def test_end_session() -> None:
    async def body() -> None:
        controller, ports = await in_session()
        before = len(ports.deliveries)
        result = await controller.call("session.endSession", ())
        assert result == {"sessionId": "s1", "reason": "ended"}
        assert ports.deliveries[before:] == [
            ("end session", (), "in session"),
            ("reinit", (), "init"),
            ("ready no session", (), "no session"),
        ]
        assert isinstance(ports.server.received[-1], EndSession)
        assert ports.server.client is not None and ports.server.client.closed
        assert controller.state is State.NO_SESSION
        assert controller.view()["sessionInfo"] is None
        assert controller.view()["guests"] == []

    run(body)


@pytest.mark.parametrize(
    ("reason", "events"),
    [
        ("expired", ["expired", "end session", "reinit", "ready no session"]),
        ("ended", ["end session", "reinit", "ready no session"]),
    ],
)
def test_server_ends_the_session(reason: str, events: list[str]) -> None:
    async def body() -> None:
        controller, ports = await in_session()
        before = len(ports.deliveries)
        await ports.server.push(SessionEnded(session_id="s1", reason=reason))
        await settle(lambda: controller.state is State.NO_SESSION)
        staged = ports.deliveries[before:]
        assert [d[0] for d in staged] == events
        assert [d[2] for d in staged] == ["in session"] * (len(events) - 2) + [
            "init",
            "no session",
        ]
        assert ports.server.client is not None and ports.server.client.closed
        # A new session can start afterwards.
        await controller.call("session.start", (dict(HOST),))
        assert controller.state is State.IN_SESSION

    run(body)


def test_lost_connection_is_a_connection_issue() -> None:
    async def body() -> None:
        controller, ports = await in_session()
        await ports.server.drop()
        await settle(lambda: ports.deliveries[-1][0] == "connection issue")
        assert ports.deliveries[-1] == ("connection issue", (), "in session")
        assert controller.state is State.IN_SESSION

    run(body)


# -- wrong states, unbuilt capabilities, local settings --------------------------------------------
@pytest.mark.parametrize(
    ("stage", "path", "args"),
    [
        ("init", "session.start", (HOST,)),
        ("no session", "session.endSession", ()),
        ("no session", "guest.muteAllGuests", (True,)),
        ("no session", "guest.removeGuest", ("g1",)),
        ("no session", "replay.dismissError", ()),
        ("no session", "replay.sendVideo", ()),
        ("in session", "session.start", (HOST,)),
        ("in session", "session.inviteToHost", ({},)),
        ("in session", "replay.getVideoURL", ()),
    ],
)
def test_calls_in_the_wrong_state(stage: str, path: str, args: tuple[Any, ...]) -> None:
    async def body() -> None:
        if stage == "init":
            controller, ports = make()
        elif stage == "no session":
            controller, ports = await booted()
        else:
            controller, ports = await in_session()
        state, delivered = controller.state, len(ports.deliveries)
        error = await call_error(controller, path, *args)
        assert error.code == "invalid_state"
        assert f'"{stage}"' in error.message
        assert controller.state is state
        assert len(ports.deliveries) == delivered

    run(body)


def test_state_is_checked_before_params() -> None:
    async def body() -> None:
        controller, _ = await booted()
        error = await call_error(controller, "guest.muteGuest", 1, 2, 3)
        assert error.code == "invalid_state"

    run(body)


def test_bad_params_leave_the_state_alone() -> None:
    async def body() -> None:
        controller, ports = await booted()
        bad = {**HOST, "hostEmail": "a@b.com\r\nBcc: x@y.com"}
        error = await call_error(controller, "session.start", bad)
        assert error.code == "invalid_params"
        assert "hostEmail" in error.message
        assert controller.state is State.NO_SESSION
        assert len(ports.deliveries) == 2
        assert ports.connected == []

    run(body)


@pytest.mark.parametrize("path", ["getCurrentState", "on", "guest.getGuestList", "nope.nothing"])
def test_call_refuses_sync_and_unknown_functions(path: str) -> None:
    async def body() -> None:
        controller, _ = await booted()
        error = await call_error(controller, path)
        assert error.code == "invalid_params"
        assert path in error.message

    run(body)


def test_email_invite_goes_through_the_server() -> None:
    async def body() -> None:
        controller, ports = await in_session()
        params = {"guestName": "Guest Name", "guestEmail": "g@example.com", "message": "Hi\r\n!"}
        result = await controller.call("guest.inviteGuest", (params,))
        assert result == {
            "inviteId": "inv1",
            "channel": "email",
            "to": "g@example.com",
            "status": "sent",
        }
        sent = [m for m in ports.server.received if isinstance(m, InviteGuest)]
        assert sent == [
            InviteGuest(
                ref=sent[0].ref,
                guest_name="Guest Name",
                guest_email="g@example.com",
                guest_phone="",
                message="Hi\n!",
            )
        ]

    run(body)


def test_sms_invite_goes_through_the_server() -> None:
    async def body() -> None:
        controller, ports = await in_session()
        result = await controller.call(
            "guest.inviteGuest", ({"guestName": "Guest Name", "guestPhone": "3145550000"},)
        )
        assert result["channel"] == "sms" and result["to"] == "+13145550000"
        (sent,) = [m for m in ports.server.received if isinstance(m, InviteGuest)]
        assert (sent.guest_phone, sent.guest_email, sent.guest_name, sent.message) == (
            "3145550000",
            "",
            "Guest Name",
            "",
        )

    run(body)


@pytest.mark.parametrize(
    "params",
    [
        {"guestName": "G\r\nBcc: x@y.com", "guestEmail": "g@example.com"},
        {"guestName": "G", "guestEmail": "g@example.com\r\nBcc: x@y.com"},
        {"guestName": "G", "guestEmail": "g@example.com", "message": "m" * 1001},
        {"guestName": "G", "guestEmail": "g@example.com", "message": "bell\x07"},
        {"guestPhone": "call me"},
    ],
)
def test_bad_invites_never_reach_the_server(params: dict[str, Any]) -> None:
    async def body() -> None:
        controller, ports = await in_session()
        error = await call_error(controller, "guest.inviteGuest", params)
        assert error.code == "invalid_params"
        assert not any(isinstance(m, InviteGuest) for m in ports.server.received)

    run(body)


def test_invite_refused_by_the_server_rejects_with_its_code() -> None:
    async def body() -> None:
        controller, _ = await in_session()
        params = {"guestName": "G", "guestEmail": "nobody@refused.test"}
        error = await call_error(controller, "guest.inviteGuest", params)
        assert (error.code, error.message) == ("invite_failed", "550 no such user")
        assert controller.state is State.IN_SESSION

    run(body)


def test_invite_outside_a_session_is_invalid_state() -> None:
    async def body() -> None:
        controller, ports = await booted()
        params = {"guestName": "G", "guestEmail": "g@example.com"}
        error = await call_error(controller, "guest.inviteGuest", params)
        assert error.code == "invalid_state"
        assert ports.connected == []

    run(body)


# -- invitations to host ---------------------------------------------------------------------
def test_invite_to_host_goes_through_the_server_and_stays_in_no_session() -> None:
    async def body() -> None:
        controller, ports = await booted()
        result = await controller.call("session.inviteToHost", (dict(INVITE_TO_HOST),))
        assert result == {
            "inviteId": "hi1",
            "joinUrl": "http://cwmn.test/join/wait1?name=Ivy",
            "expiresAt": 87400.0,
            "status": "sent",
        }
        hello, sent = ports.server.received
        assert isinstance(hello, Hello) and hello.page_url == PAGE
        assert sent == InviteToHost(
            ref=sent.ref,
            host_name="Ivy",
            host_email="ivy@example.com",
            invite_name="Hana",
            invite_email="hana@example.com",
            message="Show me\nplease",
            url="https://shop.example.com/cart",
        )
        assert controller.state is State.NO_SESSION
        assert [d[0] for d in ports.deliveries] == ["init", "ready no session"]
        assert ports.server.client is not None and ports.server.client.closed  # link closed

    run(body)


def test_invite_to_host_refused_by_the_server_rejects_with_its_code() -> None:
    async def body() -> None:
        controller, _ = await booted()
        params = {**INVITE_TO_HOST, "url": "https://evil.example.net/"}
        error = await call_error(controller, "session.inviteToHost", params)
        assert (error.code, error.message) == ("invalid_params", "url: not this site")
        assert controller.state is State.NO_SESSION

    run(body)


@pytest.mark.parametrize(
    "changes",
    [
        {"url": "ftp://shop.example.com/"},
        {"inviteEmail": "hana@example.com\r\nBcc: x@y.com"},
        {"inviteName": ""},
        {"extra": 1},
    ],
)
def test_bad_invitations_to_host_never_reach_the_server(changes: dict[str, Any]) -> None:
    async def body() -> None:
        controller, ports = await booted()
        error = await call_error(controller, "session.inviteToHost", {**INVITE_TO_HOST, **changes})
        assert error.code == "invalid_params"
        assert ports.connected == []

    run(body)


async def invited(ports: FakePorts, token: str = HOST_TOKEN) -> HostController:
    """Boot a page opened through an invitation to host (the stub passed its token)."""
    config = ClientConfig(server=SERVER, page_url=PAGE, features=FEATURES, host_invite=token)
    controller = HostController(ports, config)
    await controller.boot()
    return controller


def test_an_invited_page_fires_host_invite_to_a_listener_added_in_ready_no_session() -> None:
    async def body() -> None:
        ports = FakePorts()
        controller: HostController | None = None

        def listen() -> None:  # the page's 'ready no session' callback subscribes
            assert controller is not None
            controller.subscribe("host invite", 7)

        ports.on_event["ready no session"] = listen
        controller = HostController(
            ports, ClientConfig(SERVER, PAGE, FEATURES, host_invite=HOST_TOKEN)
        )
        await controller.boot()
        assert ports.settles == 2  # after init, then: the listener was known before deciding
        invite = {
            "inviteId": "hi1",
            "inviterName": "Ivy",
            "hostName": "Hana",
            "hostEmail": "hana@example.com",
            "message": "Show me",
            "expiresAt": 87400.0,
        }
        assert ports.deliveries[-1] == ("host invite", (invite,), "no session")
        assert ports.handles[-1] == ("host invite", (7,))
        assert not any(o["op"] == "consent" for o in ports.overlays)
        lookup = [m for m in ports.server.received if isinstance(m, GetHostInvite)]
        assert lookup == [GetHostInvite(ref=lookup[0].ref, token=HOST_TOKEN)]
        assert controller.state is State.NO_SESSION

    run(body)


def test_without_a_listener_the_page_shows_the_default_dialog() -> None:
    async def body() -> None:
        ports = FakePorts()
        controller = await invited(ports)
        (consent,) = [o for o in ports.overlays if o["op"] == "consent"]
        assert consent["invite"]["inviterName"] == "Ivy"
        assert consent["invite"]["message"] == "Show me"
        assert [d[0] for d in ports.deliveries] == ["init", "ready no session"]
        assert controller.state is State.NO_SESSION

    run(body)


def test_accepting_hosts_the_invited_session_with_the_waiting_inviter() -> None:
    async def body() -> None:
        ports = FakePorts()
        controller = await invited(ports)
        result = await controller.call("session.acceptHostInvite", ())
        assert result == {
            "sessionId": "s2",
            "isReplay": False,
            "hostName": "Hana",
            "hostEmail": "hana@example.com",
            "startedAt": 2000.0,
            "pageUrl": PAGE,
        }
        (accept,) = [m for m in ports.server.received if isinstance(m, AcceptHostInvite)]
        assert (accept.token, accept.page_id) == (HOST_TOKEN, controller.config.page_id)
        events = [d[0] for d in ports.deliveries]
        assert events[2:5] == ["session pending", "in session", "guest connected"]
        assert ports.view_at("in session")["sessionInfo"] == result
        assert ports.stored["cwmn:session"] == {
            "token": "tok2",
            "sessionId": "s2",
            "capture": SITE_CAPTURE,
        }
        assert ports.captures[-1][0] is True
        # The inviter, pushed right after the answer, is in the list.
        assert [g["guestId"] for g in controller.guests] == ["g-ivy"]
        # The invitation is used: there is nothing left to accept after the session.
        await controller.call("session.endSession", ())
        error = await call_error(controller, "session.acceptHostInvite")
        assert error.code == "not_found"

    run(body)


def test_a_refused_acceptance_fails_the_session_and_forgets_the_invitation() -> None:
    async def body() -> None:
        ports = FakePorts()
        controller = await invited(ports)
        ports.server.invite_used = True  # accepted in another tab meanwhile
        error = await call_error(controller, "session.acceptHostInvite")
        assert (error.code, error.message) == ("link_used", "already used")
        assert [d[0] for d in ports.deliveries][-3:] == [
            "session pending",
            "session failed",
            "ready no session",
        ]
        assert controller.state is State.NO_SESSION
        assert (await call_error(controller, "session.acceptHostInvite")).code == "not_found"

    run(body)


def test_declining_forgets_the_invitation() -> None:
    async def body() -> None:
        ports = FakePorts()
        controller = await invited(ports)
        assert await controller.call("session.declineHostInvite", ()) is None
        assert controller.state is State.NO_SESSION
        assert not any(isinstance(m, AcceptHostInvite) for m in ports.server.received)
        for path in ("session.acceptHostInvite", "session.declineHostInvite"):
            assert (await call_error(controller, path)).code == "not_found"
        # The page may still start a session of its own.
        await controller.call("session.start", (dict(HOST),))
        assert controller.state is State.IN_SESSION

    run(body)


def test_an_unusable_invitation_is_reported_on_the_console_only() -> None:
    async def body() -> None:
        ports = FakePorts()
        controller = await invited(ports, token="expired-tok")
        assert [d[0] for d in ports.deliveries] == ["init", "ready no session"]
        assert ports.overlays == [] and ports.settles == 1  # boot's, after init
        (warning,) = ports.warnings
        assert "invitation to host" in warning and "expired" in warning
        assert (await call_error(controller, "session.acceptHostInvite")).code == "not_found"

    run(body)


def test_a_page_without_an_invitation_has_nothing_to_accept() -> None:
    async def body() -> None:
        controller, ports = await booted()
        error = await call_error(controller, "session.acceptHostInvite")
        assert error.code == "not_found" and "host invite" in error.message
        assert ports.connected == [] and ports.settles == 1  # boot's, after init

    run(body)


def test_a_resumed_session_wins_over_an_invitation() -> None:
    async def body() -> None:
        ports = FakePorts()
        config = ClientConfig(
            SERVER, PAGE, FEATURES, resume={"token": "tok"}, host_invite=HOST_TOKEN
        )
        controller = HostController(ports, config)
        await controller.boot()
        assert controller.state is State.IN_SESSION
        assert not any(isinstance(m, GetHostInvite) for m in ports.server.received)

    run(body)


@pytest.mark.parametrize(
    ("path", "args"),
    [("session.acceptHostInvite", (1,)), ("session.declineHostInvite", ({},))],
)
def test_answers_to_an_invitation_take_no_arguments(path: str, args: tuple[Any, ...]) -> None:
    async def body() -> None:
        controller, _ = await booted()
        assert (await call_error(controller, path, *args)).code == "invalid_params"

    run(body)


@pytest.mark.parametrize(
    ("path", "args"),
    [
        ("guest.removeGuest", ("ghost",)),
        ("guest.removeGuest", ({"guestId": "ghost"},)),
        ("guest.muteGuest", ("ghost", True)),
        ("guest.muteGuest", ({"guestId": "ghost", "muted": False},)),
    ],
)
def test_unknown_guest_is_not_found(path: str, args: tuple[Any, ...]) -> None:
    async def body() -> None:
        controller, _ = await in_session()
        error = await call_error(controller, path, *args)
        assert error.code == "not_found"
        assert "'ghost'" in error.message

    run(body)


def test_mute_a_known_guest_goes_through_the_server() -> None:
    async def body() -> None:
        controller, ports = await in_session()
        await ports.server.push(GuestJoined(guest={"guestId": "g1", "name": "G", "muted": False}))
        await settle(lambda: len(controller.guests) == 1)
        assert await controller.call("guest.muteGuest", ("g1", True)) is None
        assert MuteGuest(ref=ports.server.received[-1].ref, guest_id="g1", muted=True) in (
            ports.server.received
        )
        # The server's guest_updated came before the answer: the list is current already.
        assert ports.published[-1]["guests"] == [{"guestId": "g1", "name": "G", "muted": True}]
        assert ports.deliveries[-1][:2] == (
            "roomdata update",
            ([{"guestId": "g1", "name": "G", "muted": True}],),
        )

    run(body)


@pytest.mark.parametrize(
    ("path", "key", "value"),
    [
        ("guest.muteAllGuests", "muteAll", True),
        ("publicLink.setEnabled", "publicLinkEnabled", False),
        ("privacy.setEnabled", "privacyEnabled", True),
    ],
)
def test_settings_update_the_published_view(path: str, key: str, value: bool) -> None:
    async def body() -> None:
        controller, ports = await in_session()
        assert controller.view()[key] is not value
        assert await controller.call(path, (value,)) is value
        assert ports.published[-1][key] is value
        assert ports.published[-1]["state"] == "in session"
        assert controller.view()[key] is value
        assert await controller.call(path, (not value,)) is (not value)
        assert ports.published[-1][key] is (not value)
        sent = {type(m) for m in ports.server.received}
        assert sent & {MuteAll, SetPublicLink, SetPrivacy}

    run(body)


def test_public_link_comes_from_the_server() -> None:
    async def body() -> None:
        controller, ports = await in_session()
        url = await controller.call("publicLink.generate", ())
        assert url == "http://cwmn.test/join/public1"
        assert any(isinstance(m, CreatePublicLink) for m in ports.server.received)

    run(body)


def test_guest_pointers_and_clicks_reach_the_page() -> None:
    async def body() -> None:
        controller, ports = await in_session()
        guest = {"guestId": "g1", "name": "Ann", "muted": False, "pointer": None, "color": "#f00"}
        await ports.server.push(GuestJoined(guest=guest))
        await ports.server.push(GuestPointer(guest_id="g1", name="Ann", color="#f00", x=10, y=2000))
        await settle(lambda: bool(ports.overlays))
        assert ports.overlays[-1] == {
            "op": "cursors",
            "cursors": [{"id": "g1", "name": "Ann", "color": "#f00", "x": 10, "y": 2000}],
        }
        assert controller.view()["guests"][0]["pointer"] == {"x": 10, "y": 2000}
        assert ports.deliveries[-1][:2] == ("roomdata update", (controller.view()["guests"],))
        await ports.server.push(GuestClick(guest_id="g1", name="Ann", color="#f00", x=11, y=9))
        await settle(lambda: ports.deliveries[-1][0] == "click")
        assert ports.deliveries[-1][1] == ("g1",)
        assert ports.overlays[-1] == {
            "op": "ripple",
            "x": 11,
            "y": 9,
            "color": "#f00",
            "name": "Ann",
        }
        await ports.server.push(GuestPointer(guest_id="g1", visible=False))
        await settle(
            lambda: ports.overlays[-1]["op"] == "cursors" and not ports.overlays[-1]["cursors"]
        )
        assert controller.view()["guests"][0]["pointer"] is None
        # Unknown guests are ignored; ending the session clears the page.
        await ports.server.push(GuestClick(guest_id="ghost"))
        await controller.call("session.endSession", ())
        assert ports.overlays[-1] == {"op": "cursors", "cursors": []}
        assert [d[0] for d in ports.deliveries].count("click") == 1

    run(body)


def test_host_pointer_frames_are_throttled_with_the_last_one_kept() -> None:
    async def body() -> None:
        controller, ports = await in_session()
        controller.on_capture("snapshot", {"nodes": [], "url": PAGE, "base": PAGE})
        for i in range(50):  # one burst, far faster than 30/s
            controller.on_capture("pointer", {"x": i, "y": i})
        await asyncio.sleep(0.1)
        pointers = [f.data for f in ports.server.frames if f.kind == "pointer"]
        assert pointers[0] == {"x": 0, "y": 0} and pointers[-1] == {"x": 49, "y": 49}
        assert len(pointers) == 2

    run(body)


# -- the link on its own -------------------------------------------------------------------------
class LinkRig:
    def __init__(self) -> None:
        self.server = FakeServer()
        self.pushes: list[Message] = []
        self.lost: list[CwmnError] = []
        self.link = Link(self.server.accept(), self.pushes.append, self.lost.append)


def test_link_handshake_refs_and_pushes() -> None:
    async def body() -> None:
        rig = LinkRig()
        welcome = await rig.link.open(PAGE)
        assert isinstance(welcome, Welcome)
        assert welcome.ref == 1
        pong = await rig.link.request(Ping())
        assert pong == Pong(ref=2)
        await rig.server.push(SessionEnded(session_id="s1", reason="expired"))
        await rig.server.push(Pong(ref=99))  # an answer to nothing is dropped
        await settle(lambda: bool(rig.pushes))
        assert rig.pushes == [SessionEnded(session_id="s1", reason="expired")]
        await rig.link.close()
        assert rig.lost == []

    run(body)


def test_link_error_reply_raises_its_code() -> None:
    async def body() -> None:
        rig = LinkRig()
        await rig.link.open(PAGE)
        rig.server.start_error = ErrorReply(code="rate_limited", message="slow down")
        with pytest.raises(CwmnError) as info:
            await rig.link.request(StartSession(host_name="a", host_email="a@b.com"))
        assert (info.value.code, info.value.message) == ("rate_limited", "slow down")
        await rig.link.close()

    run(body)


def test_link_unknown_error_code_is_protocol() -> None:
    async def body() -> None:
        rig = LinkRig()
        await rig.link.open(PAGE)
        rig.server.start_error = ErrorReply(code="teapot", message="short")
        with pytest.raises(ProtocolError):
            await rig.link.request(StartSession())
        await rig.link.close()

    run(body)


def test_link_timeout() -> None:
    async def body() -> None:
        rig = LinkRig()
        rig.server.silent = True
        with pytest.raises(CwmnError) as info:
            await rig.link.request(Ping(), timeout=0.01)
        assert info.value.code == "timeout"
        assert "ping" in info.value.message
        await rig.link.close()

    run(body)


def test_link_open_expects_welcome() -> None:
    async def body() -> None:
        rig = LinkRig()
        rig.server._answer = lambda message: Pong(ref=message.ref)  # type: ignore[method-assign]
        with pytest.raises(ProtocolError, match="expected welcome"):
            await rig.link.open(PAGE)
        await rig.link.close()

    run(body)


def test_link_lost_fails_pending_requests_and_reports_once() -> None:
    async def body() -> None:
        rig = LinkRig()
        await rig.link.open(PAGE)
        rig.server.silent = True
        pending = asyncio.ensure_future(rig.link.request(Ping()))
        await settle(lambda: len(rig.server.received) == 2)
        await rig.server.drop()
        with pytest.raises(NetworkError):
            await pending
        assert len(rig.lost) == 1
        assert rig.lost[0].code == "network"
        await rig.link.close()
        assert len(rig.lost) == 1

    run(body)


def test_link_bad_frame_from_server_is_lost_with_protocol() -> None:
    async def body() -> None:
        rig = LinkRig()
        await rig.link.open(PAGE)
        assert rig.server._to_client is not None
        await rig.server._to_client.put('{"type":"bogus"}')
        await settle(lambda: bool(rig.lost))
        assert rig.lost[0].code == "protocol"
        await rig.link.close()

    run(body)


def test_link_close_fails_pending_without_reporting_loss() -> None:
    async def body() -> None:
        rig = LinkRig()
        await rig.link.open(PAGE)
        rig.server.silent = True
        pending = asyncio.ensure_future(rig.link.request(Ping()))
        await settle(lambda: len(rig.server.received) == 2)
        await rig.link.close()
        with pytest.raises(NetworkError):
            await pending
        assert rig.lost == []

    run(body)


# -- regressions --------------------------------------------------------------------------------
def test_connect_timeout_fails_the_session_with_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    import cwmn_web.client.controller as controller_module

    monkeypatch.setattr(controller_module, "CONNECT_TIMEOUT", 0.01)

    class Hanging(FakePorts):
        async def connect(self, url: str) -> FakeConnection:
            await asyncio.sleep(10)
            raise AssertionError("unreachable")

    async def body() -> None:
        controller, ports = await booted(Hanging())
        error = await call_error(controller, "session.start", dict(HOST))
        assert error.code == "timeout"
        assert [d[0] for d in ports.deliveries][-2:] == ["session failed", "ready no session"]
        assert controller.state is State.NO_SESSION

    run(body)


def test_refused_start_closes_its_connection() -> None:
    async def body() -> None:
        ports = FakePorts()
        ports.server.start_error = ErrorReply(code="rate_limited", message="slow down")
        controller, _ = await booted(ports)
        error = await call_error(controller, "session.start", dict(HOST))
        assert error.code == "rate_limited"
        assert ports.server.client is not None and ports.server.client.closed

    run(body)


def test_unexpected_start_reply_is_a_protocol_error() -> None:
    async def body() -> None:
        ports = FakePorts()
        original = ports.server._answer
        ports.server._answer = lambda m: (  # type: ignore[method-assign]
            Pong(ref=m.ref) if isinstance(m, StartSession) else original(m)
        )
        controller, _ = await booted(ports)
        error = await call_error(controller, "session.start", dict(HOST))
        assert error.code == "protocol"
        assert controller.state is State.NO_SESSION

    run(body)


def test_end_session_racing_a_server_expiry_ends_once() -> None:
    async def body() -> None:
        ports = FakePorts()
        controller, _ = await in_session(ports)
        ports.server.silent = True
        task = asyncio.ensure_future(controller.call("session.endSession", ()))
        await settle(lambda: any(isinstance(m, EndSession) for m in ports.server.received))
        await ports.server.push(SessionEnded(session_id="s1", reason="expired"))
        await settle(lambda: controller.state is State.NO_SESSION)
        await ports.server.push(SessionEnded(ref=3, session_id="s1", reason="ended"))
        result = await task
        assert result == {"sessionId": "s1", "reason": "expired"}
        names = [d[0] for d in ports.deliveries]
        assert names.count("end session") == 1 and names.count("expired") == 1

    run(body)


def test_end_session_event_still_sees_the_session_info() -> None:
    async def body() -> None:
        controller, ports = await in_session()
        await controller.call("session.endSession", ())
        assert ports.view_at("end session")["sessionInfo"]["sessionId"] == "s1"
        assert ports.view_at("reinit")["sessionInfo"] is None

    run(body)


def test_start_on_a_domain_found_unauthorized_is_refused() -> None:
    async def body() -> None:
        ports = FakePorts(fetch_error=NetworkError("offline"))
        controller, _ = await booted(ports)
        ports.fetch_error = None
        ports.domain_info = {"domain": "shop.example.com", "authorized": False}
        error = await call_error(controller, "session.start", dict(HOST))
        assert error.code == "unauthorized"
        assert controller.state is State.NO_SESSION and ports.connected == []

    run(body)


def test_remove_guest_goes_through_the_server() -> None:
    async def body() -> None:
        controller, ports = await in_session()
        await ports.server.push(GuestJoined(guest={"guestId": "g1", "name": "Ann", "muted": False}))
        await settle(lambda: len(controller.guests) == 1)
        await controller.call("guest.removeGuest", ({"guestId": "g1"},))
        assert any(isinstance(m, RemoveGuest) and m.guest_id == "g1" for m in ports.server.received)
        assert controller.view()["guests"] == []
        assert ports.published[-1]["guests"] == []
        assert [d[0] for d in ports.deliveries[-2:]] == ["guest disconnected", "roomdata update"]

    run(body)


# -- live session: links, privacy, mirror stream, guests, reconnect, resume -------------------
def test_invite_link_comes_from_the_server() -> None:
    async def body() -> None:
        controller, _ = await in_session()
        assert await controller.call("guest.getInviteLink", ()) == "http://cwmn.test/join/tok123"

    run(body)


def test_session_start_captures_and_remembers_the_session() -> None:
    async def body() -> None:
        controller, ports = await in_session()
        assert ports.captures[-1][0] is True
        assert "[data-cwmn-mask]" in ports.captures[-1][1]["mask"]
        assert ports.stored["cwmn:session"] == {
            "token": "tok",
            "sessionId": "s1",
            "capture": SITE_CAPTURE,
        }
        await controller.call("session.endSession", ())
        assert ports.captures[-1] == (False, None)
        assert ports.stored["cwmn:session"] is None

    run(body)


def test_capture_frames_are_masked_numbered_and_acked() -> None:
    async def body() -> None:
        controller, ports = await in_session()
        raw = {"nodes": [[1, 0, 1, "html", []], [2, 1, 3, None, 6]], "url": PAGE, "base": PAGE}
        controller.on_capture("snapshot", raw)
        controller.on_capture("scroll", {"id": 0, "x": 0, "y": 40})
        await settle(lambda: len(ports.server.frames) == 2)
        snap = ports.server.frames[0]
        assert (snap.seq, snap.kind) == (1, "snapshot")
        assert snap.data["nodes"][1] == [2, 1, 3, "******"]
        await settle(
            lambda: controller._session is not None and not controller._session.outbox.pending
        )

    run(body)


def test_privacy_stops_capture_and_drops_frames() -> None:
    async def body() -> None:
        controller, ports = await in_session()
        assert await controller.call("privacy.setEnabled", (True,)) is True
        assert ports.captures[-1] == (False, None)
        controller.on_capture("scroll", {"id": 0, "x": 0, "y": 1})
        await asyncio.sleep(0.01)
        assert ports.server.frames == []
        assert any(isinstance(m, SetPrivacy) and m.enabled for m in ports.server.received)
        assert await controller.call("privacy.setEnabled", (False,)) is False
        assert ports.captures[-1][0] is True

    run(body)


def test_guest_pushes_fire_events_and_update_the_list() -> None:
    async def body() -> None:
        controller, ports = await in_session()
        guest = {"guestId": "g1", "name": "Ann", "muted": False, "pointer": None, "via": "private"}
        await ports.server.push(GuestJoined(guest=guest))
        await settle(lambda: controller.view()["guests"] == [guest])
        await ports.server.push(GuestLeft(guest={"guestId": "g1"}))
        await settle(lambda: controller.view()["guests"] == [])
        names = [(d[0], d[1]) for d in ports.deliveries[-4:]]
        assert names == [
            ("guest connected", ("g1", guest)),
            ("roomdata update", ([guest],)),
            ("guest disconnected", ("g1", guest)),
            ("roomdata update", ([],)),
        ]

    run(body)


def test_reconnect_resends_what_the_server_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    import cwmn_web.client.hosting as hosting

    monkeypatch.setattr(hosting, "RECONNECT_DELAYS", (0.0,))

    async def body() -> None:
        controller, ports = await in_session()
        controller.on_capture("snapshot", {"nodes": [], "url": PAGE})
        await settle(lambda: len(ports.server.frames) == 1)
        ports.server.silent = True  # frames 2 and 3 reach nobody and are never acked
        controller.on_capture("scroll", {"id": 0, "x": 0, "y": 2})
        controller.on_capture("scroll", {"id": 0, "x": 0, "y": 3})
        await settle(lambda: len(ports.server.received) >= 4)
        ports.server.silent = False
        await ports.server.drop()
        await settle(lambda: [d[0] for d in ports.deliveries][-1] == "connection issue resolved")
        await settle(lambda: [f.seq for f in ports.server.frames] == [1, 2, 3])
        names = [d[0] for d in ports.deliveries]
        assert names.count("connection issue") == 1
        assert controller.state is State.IN_SESSION

    run(body)


def test_reconnect_to_an_ended_session_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    import cwmn_web.client.hosting as hosting

    monkeypatch.setattr(hosting, "RECONNECT_DELAYS", (0.0,))

    async def body() -> None:
        controller, ports = await in_session()
        controller._session.token = "stale"  # the server no longer knows it
        await ports.server.drop()
        await settle(lambda: controller.state is State.NO_SESSION)
        names = [d[0] for d in ports.deliveries]
        assert names[-5:] == [
            "connection issue",
            "expired",
            "end session",
            "reinit",
            "ready no session",
        ]

    run(body)


def test_boot_resumes_the_previous_pages_session() -> None:
    async def body() -> None:
        ports = FakePorts()
        config = ClientConfig(
            server=SERVER,
            page_url=PAGE,
            features=FEATURES,
            resume={"token": "tok", "sessionId": "s1"},
        )
        controller = HostController(ports, config)
        await controller.boot()
        assert controller.state is State.IN_SESSION
        assert [(d[0], d[1]) for d in ports.deliveries] == [
            ("init", ()),
            ("session pending", ()),
            ("in session", (True,)),
        ]
        assert ports.captures[-1][0] is True

    run(body)


def test_boot_with_a_stale_resume_token_fails_the_session() -> None:
    async def body() -> None:
        ports = FakePorts()
        config = ClientConfig(
            server=SERVER, page_url=PAGE, features=FEATURES, resume={"token": "stale"}
        )
        controller = HostController(ports, config)
        await controller.boot()
        assert controller.state is State.NO_SESSION
        assert [d[0] for d in ports.deliveries][-2:] == ["session failed", "ready no session"]
        assert ports.stored["cwmn:session"] is None

    run(body)
