"""Test clients over real WebSockets that behave as the real host and viewer do: their URL
carries the session's route key (:func:`cwmn_web.protocol.routes.with_route`); after a lost
connection the host resumes and re-sends what was not acknowledged (or a new snapshot), a
guest joins again with the last seq it applied."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import (
    Ack,
    CreateLink,
    ErrorReply,
    Hello,
    Join,
    Joined,
    LinkCreated,
    Message,
    MirrorFrame,
    Ping,
    Pong,
    ResumeSession,
    SessionResumed,
    SessionStarted,
    StartSession,
    Welcome,
)
from cwmn_web.protocol.routes import LINK, RESUME, with_route

HOST_ORIGIN = "http://localhost:1234"
_refs = itertools.count(1000)
OPENED: list[ClientConnection] = []
"""Every socket opened (the fixture closes them after each test)."""


class Closed(Exception):
    """The server closed the socket (``code``)."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"closed with {code}")
        self.code = code


class Wire:
    """One socket: every message received is kept in :attr:`seen` (in order)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[Message] = []
        self._read = 0

    def send(self, message: Message) -> None:
        self.ws.send(codec.encode(message))

    def receive(self, timeout: float) -> Message:
        try:
            raw = self.ws.recv(timeout=timeout)
        except ConnectionClosed as exc:
            raise Closed(exc.rcvd.code if exc.rcvd else None) from exc
        message = codec.decode(str(raw))
        self.seen.append(message)
        return message

    def ask(self, message: Message, timeout: float = 10.0) -> Message:
        """Send a request; its answer (what arrives first stays in :attr:`seen`)."""
        self.send(message)
        return self.until(lambda m: m.ref == message.ref, timeout)

    def until(self, found: Callable[[Message], bool], timeout: float = 10.0) -> Message:
        """The first message received from now on (or kept unread) that is ``found``."""
        deadline = time.monotonic() + timeout
        while True:
            while self._read < len(self.seen):
                message = self.seen[self._read]
                self._read += 1
                if found(message):
                    return message
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no such message in time")
            try:
                self.receive(left)
            except TimeoutError:
                continue

    def sync(self) -> None:
        """A round trip: everything the server sent before is in :attr:`seen`."""
        assert isinstance(self.ask(Ping(ref=next(_refs))), Pong)

    def wait_closed(self, timeout: float = 15.0) -> int | None:
        """The close code once the server closes (or the connection breaks: None)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.receive(deadline - time.monotonic())
            except Closed as exc:
                return exc.code
            except TimeoutError:
                break
        raise TimeoutError("the socket stayed open")

    def close(self) -> None:
        self.ws.close()

    def frames(self) -> list[MirrorFrame]:
        return [m for m in self.seen if isinstance(m, MirrorFrame)]


def open_socket(url: str, headers: dict[str, str], deadline: float) -> ClientConnection:
    """A socket at ``url``; refused or broken attempts are tried again until ``deadline``."""
    while True:
        try:
            ws = connect(
                url, additional_headers=headers, open_timeout=5, max_size=None, legacy=True
            )
            OPENED.append(ws)
            return ws
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            if isinstance(exc, InvalidStatus) and exc.response.status_code < 500:
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # a client's reconnect delay, not a wait for a result


class HostClient:
    """A host page: starts (or resumes) a session and streams frames, keeping every frame
    until acknowledged."""

    def __init__(self, page_id: str = "page-1") -> None:
        self.page_id = page_id
        self.wire: Wire | None = None
        self.started: SessionStarted | None = None
        self.sent: dict[int, MirrorFrame] = {}
        self.acked = 0
        self.seq = 0

    @property
    def session_id(self) -> str:
        assert self.started is not None
        return self.started.session_id

    @property
    def w(self) -> Wire:
        assert self.wire is not None
        return self.wire

    def start(self, ws_base: str) -> SessionStarted:
        self.wire = Wire(open_socket(f"{ws_base}/ws", {"Origin": HOST_ORIGIN}, time.monotonic()))
        assert isinstance(self.w.ask(Hello(ref=1, page_url=HOST_ORIGIN + "/shop")), Welcome)
        reply = self.w.ask(
            StartSession(ref=2, host_name="Ann", host_email="ann@example.com"),
        )
        assert isinstance(reply, SessionStarted), reply
        self.started = reply
        return reply

    def link(self) -> str:
        reply = self.w.ask(CreateLink(ref=next(_refs)))
        assert isinstance(reply, LinkCreated), reply
        return reply.url.rsplit("/join/", 1)[1]

    def mirror(self, kind: str = "mutations", **data: Any) -> int:
        self.seq += 1
        frame = MirrorFrame(seq=self.seq, kind=kind, data=data)
        self.sent[self.seq] = frame
        self.w.send(frame)
        return self.seq

    def read_acks(self) -> int:
        """The highest seq acknowledged (after a round trip)."""
        self.w.sync()
        for m in self.w.seen:
            if isinstance(m, Ack):
                self.acked = max(self.acked, m.seq)
        return self.acked

    def resume(self, ws_base: str, deadline: float) -> SessionResumed:
        """Reconnect with the resume route key, take the session back, and re-send what the
        server did not acknowledge (or, if it lost frames, a new snapshot)."""
        assert self.started is not None
        token = self.started.resume_token
        url = with_route(f"{ws_base}/ws", RESUME, token)
        while True:
            try:
                wire = Wire(open_socket(url, {"Origin": HOST_ORIGIN}, deadline))
                assert isinstance(wire.ask(Hello(ref=1)), Welcome)
                reply = wire.ask(ResumeSession(ref=2, resume_token=token, page_id=self.page_id))
            except (Closed, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                continue
            if isinstance(reply, ErrorReply) and reply.code == "network":
                continue  # the room moved as we asked: try again (as the real host does)
            assert isinstance(reply, SessionResumed), reply
            break
        self.wire = wire
        self.acked = max(self.acked, 0)
        if reply.acked_seq < self.acked:  # the server lost frames: start over
            self.acked = self.seq = reply.acked_seq
            self.sent = {}
            self.mirror("snapshot", html=f"<p>again at {self.seq + 1}</p>")
        else:
            for seq in sorted(self.sent):
                if seq > reply.acked_seq:
                    self.w.send(self.sent[seq])
        return reply


class GuestClient:
    """A viewer: joins by a private link's token and applies frames in order."""

    def __init__(self, token: str, name: str, origin: str) -> None:
        self.token, self.name, self.origin = token, name, origin
        self.device = f"device-{name}"
        self.wire: Wire | None = None
        self.joined: Joined | None = None
        self._before: list[tuple[int, str]] = []

    @property
    def w(self) -> Wire:
        assert self.wire is not None
        return self.wire

    def _headers(self) -> dict[str, str]:
        return {"Origin": self.origin, "Cookie": f"cwmn_device={self.device}"}

    def join(self, ws_base: str, deadline: float | None = None) -> Message:
        """Connect (with the link's route key) and join; the reply (Joined or an error)."""
        url = with_route(f"{ws_base}/ws/guest", LINK, self.token)
        until = deadline if deadline is not None else time.monotonic()
        while True:
            try:
                wire = Wire(open_socket(url, self._headers(), until))
                assert isinstance(wire.ask(Hello(ref=1, role="guest")), Welcome)
                reply = wire.ask(
                    Join(ref=2, token=self.token, name=self.name, last_seq=self.last_seq)
                )
            except (Closed, TimeoutError):
                if deadline is None or time.monotonic() > deadline:
                    raise
                continue
            if (
                isinstance(reply, ErrorReply)
                and reply.code == "network"
                and deadline is not None
                and time.monotonic() < deadline
            ):
                continue
            break
        self._before = self.applied
        self.wire = wire
        if isinstance(reply, Joined):
            self.joined = reply
        return reply

    @property
    def applied(self) -> list[tuple[int, str]]:
        """``(seq, kind)`` of every frame received, across connections."""
        now = [(f.seq, f.kind) for f in self.wire.frames()] if self.wire else []
        return self._before + now

    @property
    def last_seq(self) -> int:
        return self.applied[-1][0] if self.applied else 0

    def frames_until(self, seq: int, timeout: float = 10.0) -> list[tuple[int, str]]:
        """Every frame received (:attr:`applied`) once the one with ``seq`` came."""
        self.w.until(lambda m: isinstance(m, MirrorFrame) and m.seq == seq, timeout)
        return self.applied
