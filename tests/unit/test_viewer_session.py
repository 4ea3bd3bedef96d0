"""cwmn_web.viewer.session: joining, frame order, statuses, reconnects — no browser, no socket.

The first tests feed frames to a GuestSession by hand; the last ones run it against a fake
guest endpoint over an in-memory wire, dropping connections to watch it come back.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from cwmn_web.errors import NetworkError
from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import (
    CLOSE_BAD_ORIGIN,
    CLOSE_REPLACED,
    CLOSE_SESSION_ENDED,
    CLOSE_TRY_AGAIN_LATER,
    PROTOCOL_VERSION,
    ErrorReply,
    Hello,
    HostStatus,
    Join,
    Joined,
    Message,
    MirrorFrame,
    Ok,
    Paused,
    Ping,
    Pong,
    SessionEnded,
    Welcome,
)
from cwmn_web.viewer import session as session_module
from cwmn_web.viewer.session import Backoff, GuestSession, guest_ws_url

SNAPSHOT = {
    "nodes": [
        [1, 0, 1, "html", []],
        [2, 1, 1, "body", ["onload", "alert(1)"]],
        [3, 2, 1, "script", []],
        [4, 3, 3, "alert(1)"],
        [5, 2, 3, "hello"],
    ],
    "url": "https://shop.example.com/",
    "title": "Shop",
    "viewport": [1000, 700],
    "scroll": [0, 0],
    "adopted": [],
}
SAFE_NODES = [[1, 0, 1, "html", []], [2, 1, 1, "body", []], [5, 2, 3, "hello"]]


def frame(seq: int, kind: str = "mutations", **data: Any) -> str:
    if kind == "snapshot" and not data:
        data = SNAPSHOT
    return codec.encode(MirrorFrame(seq=seq, kind=kind, data=data))


def joined(**fields: Any) -> str:
    return codec.encode(Joined(ref=2, guest_id="g1", session_id="s1", host_name="Hal", **fields))


def sent(session: GuestSession) -> list[Message]:
    return [codec.decode(f) for f in session.to_send()]


def started(last_seq: int = 0) -> GuestSession:
    session = GuestSession("tok", "Ann")
    session.last_seq = last_seq
    session.connected()
    session.to_send()
    session.receive(codec.encode(Welcome(ref=1)))
    session.receive(joined())
    session.page_ops()
    return session


# -- pieces ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("server", "url"),
    [
        ("http://127.0.0.1:8000", "ws://127.0.0.1:8000/ws/guest"),
        ("https://cwmn.example.com", "wss://cwmn.example.com/ws/guest"),
        ("https://cwmn.example.com/", "wss://cwmn.example.com/ws/guest"),
    ],
)
def test_guest_ws_url(server: str, url: str) -> None:
    assert guest_ws_url(server) == url


def test_backoff_doubles_to_eight_seconds_and_resets() -> None:
    backoff = Backoff()
    assert [backoff.next() for _ in range(7)] == [0.5, 1, 2, 4, 8, 8, 8]
    backoff.reset()
    assert backoff.next() == 0.5


# -- one connection, by hand -------------------------------------------------------------------
def test_connecting_says_hello_as_a_guest_then_joins() -> None:
    session = GuestSession("tok", "Ann")
    session.connected()
    assert sent(session) == [
        Hello(ref=1, role="guest"),
        Join(ref=2, token="tok", name="Ann", last_seq=0),
    ]
    assert session.to_send() == []
    session.receive(codec.encode(Welcome(ref=1, version=PROTOCOL_VERSION)))
    session.receive(joined(paused=True, host_connected=False))
    assert session.joined
    assert session.page_ops() == [
        {
            "op": "joined",
            "guestId": "g1",
            "sessionId": "s1",
            "hostName": "Hal",
            "paused": True,
            "hostConnected": False,
        }
    ]
    assert session.page_ops() == []


def test_frames_are_sanitized_and_numbered() -> None:
    session = started()
    session.receive(frame(1, "snapshot"))
    session.receive(frame(2, adds=[[6, 3, 3, "under the dropped script"], [7, 2, 3, "ok"]]))
    session.receive(frame(3, "pointer", x=10, y=20))
    ops = session.page_ops()
    assert [(op["op"], op["seq"], op["kind"]) for op in ops] == [
        ("frame", 1, "snapshot"),
        ("frame", 2, "mutations"),
        ("frame", 3, "pointer"),
    ]
    assert ops[0]["data"]["nodes"] == SAFE_NODES
    assert ops[1]["data"]["adds"] == [[7, 2, 3, "ok"]]
    assert ops[2]["data"] == {"x": 10, "y": 20}
    assert session.last_seq == 3


def test_frames_already_applied_are_ignored() -> None:
    session = started()
    for seq in (1, 2, 3, 2, 3, 4):
        session.receive(frame(seq, "snapshot" if seq == 1 else "scroll", id=0, x=seq, y=0))
    assert [op["seq"] for op in session.page_ops()] == [1, 2, 3, 4]


def test_a_snapshot_is_always_taken_and_resets_the_sanitizer() -> None:
    """The host numbers frames from 1 on each page it loads."""
    session = started()
    session.receive(frame(1, "snapshot"))
    session.receive(frame(40, "scroll", id=0, x=0, y=1))
    assert 3 in session.sanitizer.dropped
    new_page = {**SNAPSHOT, "nodes": [[1, 0, 1, "html", []], [3, 1, 1, "main", []]]}
    session.receive(frame(1, "snapshot", **new_page))
    session.receive(frame(2, adds=[[8, 3, 3, "under main, not under a script any more"]]))
    ops = session.page_ops()
    assert [(op["seq"], op["kind"]) for op in ops] == [
        (1, "snapshot"),
        (40, "scroll"),
        (1, "snapshot"),
        (2, "mutations"),
    ]
    assert ops[3]["data"]["adds"] == [[8, 3, 3, "under main, not under a script any more"]]
    assert session.last_seq == 2


def test_a_malformed_frame_is_skipped_with_a_warning() -> None:
    session = started()
    session.receive(frame(1, "teleport"))
    session.receive(frame(2, "pointer", x="1", y=2))
    session.receive(frame(3, "pointer", x=1, y=2))
    ops = session.page_ops()
    assert [op["op"] for op in ops] == ["warning", "warning", "frame"]
    assert "teleport" in ops[0]["message"]
    assert session.last_seq == 3 and not session.done


@pytest.mark.parametrize(
    ("message", "op"),
    [
        (Paused(paused=True), {"op": "status", "paused": True}),
        (Paused(paused=False), {"op": "status", "paused": False}),
        (HostStatus(connected=False), {"op": "status", "hostConnected": False}),
        (HostStatus(connected=True), {"op": "status", "hostConnected": True}),
    ],
)
def test_pushes_become_statuses(message: Message, op: dict[str, Any]) -> None:
    session = started()
    session.receive(codec.encode(message))
    assert session.page_ops() == [op]
    assert not session.done


@pytest.mark.parametrize("reason", ["ended", "expired"])
def test_session_ended_stops_everything(reason: str) -> None:
    session = started()
    session.receive(codec.encode(SessionEnded(session_id="s1", reason=reason)))
    session.receive(frame(1, "snapshot"))
    assert session.page_ops() == [{"op": "status", "ended": reason}]
    assert session.done
    assert session.lost(CLOSE_SESSION_ENDED) is None
    assert session.page_ops() == []


@pytest.mark.parametrize("code", ["link_invalid", "link_used", "session_ended", "unauthorized"])
def test_a_refused_join_is_final(code: str) -> None:
    session = GuestSession("tok", "Ann")
    session.connected()
    session.receive(codec.encode(ErrorReply(ref=2, code=code, message="Ask the host.")))
    assert session.page_ops() == [
        {"op": "status", "error": {"code": code, "message": "Ask the host."}}
    ]
    assert session.done and session.lost(1000) is None


def test_an_unknown_error_code_is_final_too() -> None:
    session = GuestSession("tok", "Ann")
    session.receive(codec.encode(ErrorReply(ref=2, code="cookies_required", message="Cookies!")))
    [op] = session.page_ops()
    assert op["error"]["message"].endswith("Cookies!") and session.done


@pytest.mark.parametrize("code", ["server_error", "rate_limited", "timeout"])
def test_a_transient_error_asks_for_another_try(code: str) -> None:
    session = GuestSession("tok", "Ann")
    session.connected()
    session.receive(codec.encode(ErrorReply(ref=2, code=code, message="later")))
    assert session.drop and not session.done
    assert session.page_ops() == []
    assert session.lost() == 0.5
    session.connected()
    assert not session.drop


def test_pings_are_answered() -> None:
    session = started()
    session.receive(codec.encode(Ping(ref=7)))
    session.receive(codec.encode(Pong(ref=3)))
    session.receive(codec.encode(Ok(ref=4)))
    assert sent(session) == [Pong(ref=7)]
    assert session.page_ops() == []


@pytest.mark.parametrize(
    "text", ["not json", '{"type": "teleport"}', '{"type": "mirror", "seq": "one"}']
)
def test_a_broken_frame_from_the_server_is_final(text: str) -> None:
    session = started()
    session.receive(text)
    [op] = session.page_ops()
    assert op["error"]["code"] == "protocol" and session.done


def test_a_server_of_another_protocol_version_is_final() -> None:
    session = GuestSession("tok", "Ann")
    session.receive(codec.encode(Welcome(ref=1, version=PROTOCOL_VERSION + 1)))
    [op] = session.page_ops()
    assert op["error"]["code"] == "protocol" and "reload" in op["error"]["message"]


# -- losing the connection -------------------------------------------------------------------
def test_a_lost_connection_reconnects_with_backoff_and_rejoins_after_last_seq() -> None:
    session = started()
    session.receive(frame(1, "snapshot"))
    session.receive(frame(2, "pointer", x=1, y=1))
    session.page_ops()
    delays = []
    for _ in range(6):
        delays.append(session.lost(1006))
        assert session.page_ops() == [{"op": "status", "reconnecting": True}]
        session.connected()
        assert sent(session)[1] == Join(ref=2, token="tok", name="Ann", last_seq=2)
    assert delays == [0.5, 1, 2, 4, 8, 8]
    session.receive(joined())
    session.page_ops()
    assert session.lost(None) == 0.5  # joining again resets the backoff


@pytest.mark.parametrize(
    ("close_code", "code", "text"),
    [
        (CLOSE_REPLACED, "network", "This session is now open in another tab or window."),
        (CLOSE_BAD_ORIGIN, "unauthorized", "This page may not connect to the CWMN server."),
    ],
)
def test_some_close_codes_are_final(close_code: int, code: str, text: str) -> None:
    session = started()
    assert session.lost(close_code) is None
    assert session.page_ops() == [{"op": "status", "error": {"code": code, "message": text}}]
    assert session.done


def test_the_session_ended_close_code_ends_it() -> None:
    session = started()
    assert session.lost(CLOSE_SESSION_ENDED) is None
    assert session.page_ops() == [{"op": "status", "ended": "ended"}] and session.done


def test_try_again_later_reconnects() -> None:
    session = started()
    assert session.lost(CLOSE_TRY_AGAIN_LATER) == 0.5
    assert not session.done


# -- the whole loop over an in-memory wire ---------------------------------------------------
_CLOSED = "\x00closed"


class WireConnection:
    """The guest's end of an in-memory socket; the server end closes it with a code."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[str] = asyncio.Queue()
        self.outbox: asyncio.Queue[str] = asyncio.Queue()
        self.close_code: int | None = None
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
        self.closed = True
        await self.outbox.put(_CLOSED)

    # the server's side
    async def push(self, message: Message | str) -> None:
        await self.inbox.put(message if isinstance(message, str) else codec.encode(message))

    async def server_close(self, code: int) -> None:
        self.close_code = code
        await self.inbox.put(_CLOSED)

    async def expect(self) -> Message:
        return codec.decode(await asyncio.wait_for(self.outbox.get(), 5))


class Wire:
    """Hands out connections; ``script`` plays the server on each one, in order."""

    def __init__(self, *scripts: Callable[[WireConnection], Awaitable[None]]) -> None:
        self.scripts = list(scripts)
        self.ops: list[dict[str, Any]] = []
        self.sleeps: list[float] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def connect(self) -> WireConnection:
        if not self.scripts:
            raise NetworkError("connection refused")
        conn = WireConnection()
        self.tasks.append(asyncio.ensure_future(self.scripts.pop(0)(conn)))
        return conn

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)

    async def run(self, session: GuestSession) -> None:
        await asyncio.wait_for(session.run(self.connect, self.ops.append, self.sleep), 10)
        for task in self.tasks:
            await task  # a failed server-side assertion fails the test


async def greet(conn: WireConnection, last_seq: int) -> None:
    hello, join = await conn.expect(), await conn.expect()
    assert hello == Hello(ref=1, role="guest")
    assert join == Join(ref=2, token="tok", name="Ann", last_seq=last_seq)
    await conn.push(Welcome(ref=1))
    await conn.push(Joined(ref=2, guest_id="g1", session_id="s1", host_name="Hal"))


def run(body: Callable[[], Awaitable[None]]) -> None:
    """Run ``body`` on a fresh loop in its own thread (Playwright keeps a loop running in
    the main thread once browser tests have started)."""
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


def test_the_loop_reconnects_and_resumes_until_the_session_ends() -> None:
    async def first(conn: WireConnection) -> None:
        await greet(conn, last_seq=0)
        await conn.push(frame(1, "snapshot"))
        await conn.push(frame(2, "pointer", x=5, y=6))
        await conn.server_close(1006)  # the network drops

    async def refused(conn: WireConnection) -> None:
        await conn.expect()
        await conn.expect()
        await conn.server_close(1011)  # the server restarts before answering

    async def second(conn: WireConnection) -> None:
        await greet(conn, last_seq=2)
        await conn.push(frame(2, "pointer", x=5, y=6))  # already applied: ignored
        await conn.push(frame(3, "scroll", id=0, x=0, y=100))
        await conn.push(HostStatus(connected=False))
        await conn.push(SessionEnded(session_id="s1", reason="expired"))
        assert await asyncio.wait_for(conn.outbox.get(), 5) == _CLOSED  # the guest hangs up

    async def body() -> None:
        wire = Wire(first, refused, second)
        session = GuestSession("tok", "Ann")
        await wire.run(session)
        summary = [(op["op"], op.get("seq") or next(k for k in op if k != "op")) for op in wire.ops]
        assert summary == [
            ("joined", "guestId"),
            ("frame", 1),
            ("frame", 2),
            ("status", "reconnecting"),
            ("status", "reconnecting"),
            ("joined", "guestId"),
            ("frame", 3),
            ("status", "hostConnected"),
            ("status", "ended"),
        ]
        assert wire.ops[1]["data"]["nodes"] == SAFE_NODES
        assert wire.sleeps == [0.5, 1.0]
        assert session.done and session.last_seq == 3

    run(body)


def test_the_loop_retries_a_server_that_is_down_then_stops_on_a_refusal() -> None:
    async def refuse(conn: WireConnection) -> None:
        await conn.expect()
        await conn.expect()
        await conn.push(ErrorReply(ref=2, code="link_used", message="Used on another device."))
        await conn.server_close(1000)

    async def body() -> None:
        wire = Wire()
        attempts = 0

        async def connect() -> WireConnection:
            nonlocal attempts
            attempts += 1
            if attempts < 4:
                raise NetworkError("connection refused")
            wire.scripts.append(refuse)
            return await wire.connect()

        session = GuestSession("tok", "Ann")
        await asyncio.wait_for(session.run(connect, wire.ops.append, wire.sleep), 10)
        assert wire.sleeps == [0.5, 1, 2]
        assert wire.ops == [
            {"op": "status", "reconnecting": True},
            {"op": "status", "reconnecting": True},
            {"op": "status", "reconnecting": True},
            {"op": "status", "error": {"code": "link_used", "message": "Used on another device."}},
        ]

    run(body)


def test_a_socket_that_never_says_joined_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_module, "JOIN_TIMEOUT", 0.05)

    async def silent(conn: WireConnection) -> None:
        await conn.expect()
        await conn.expect()

    async def ends(conn: WireConnection) -> None:
        await greet(conn, last_seq=0)
        await conn.server_close(CLOSE_SESSION_ENDED)

    async def body() -> None:
        wire = Wire(silent, ends)
        await wire.run(GuestSession("tok", "Ann"))
        assert [op["op"] for op in wire.ops] == ["status", "joined", "status"]
        assert wire.ops[0] == {"op": "status", "reconnecting": True}
        assert wire.ops[2] == {"op": "status", "ended": "ended"}

    run(body)
