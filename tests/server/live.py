"""Helpers for live-session tests: host and guest sockets driven side by side in-process."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import count
from typing import TYPE_CHECKING, Any

import pytest
from starlette.websockets import WebSocketDisconnect

from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import (
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

if TYPE_CHECKING:
    from starlette.testclient import TestClient, WebSocketTestSession

    from cwmn_web.server.relay import Relay

HOST_ORIGIN = "http://localhost:1234"
SERVER = "http://testserver"
_refs = count(1000)


class Wire:
    """One test socket: ``ask`` waits for the answer to a request and keeps any pushes
    that arrive first; ``sync`` waits until the server has handled everything sent."""

    def __init__(self, ws: WebSocketTestSession) -> None:
        self.ws = ws
        self.pushes: deque[Message] = deque()

    def send(self, message: Message) -> None:
        self.ws.send_text(codec.encode(message))

    def receive(self) -> Message:
        return codec.decode(self.ws.receive_text())

    def ask(self, message: Message) -> Message:
        assert message.ref, "a request needs a ref"
        self.send(message)
        while True:
            reply = self.receive()
            if reply.ref == message.ref:
                return reply
            self.pushes.append(reply)

    def push(self) -> Message:
        """The next push (waits for one)."""
        return self.pushes.popleft() if self.pushes else self.receive()

    def sync(self) -> None:
        assert isinstance(self.ask(Ping(ref=next(_refs))), Pong)

    def drain(self) -> list[Message]:
        """Every push so far (after a round trip, so nothing is still on its way)."""
        self.sync()
        out = list(self.pushes)
        self.pushes.clear()
        return out

    def closed_code(self) -> int:
        """The close code the server ends with (after any messages still on their way)."""
        with pytest.raises(WebSocketDisconnect) as info:
            while True:
                self.receive()
        return info.value.code

    def frames(self) -> list[tuple[int, str]]:
        """``(seq, kind)`` of the mirror frames among :meth:`drain`."""
        return [(m.seq, m.kind) for m in self.drain() if isinstance(m, MirrorFrame)]


class Host(Wire):
    def start(self, page_url: str = HOST_ORIGIN + "/shop") -> SessionStarted:
        assert isinstance(self.ask(Hello(ref=1, page_url=page_url)), Welcome)
        reply = self.ask(StartSession(ref=2, host_name="Ann", host_email="ann@example.com"))
        assert isinstance(reply, SessionStarted), reply
        return reply

    def resume(self, token: str, page_id: str) -> Message:
        assert isinstance(self.ask(Hello(ref=1)), Welcome)
        return self.ask(ResumeSession(ref=2, resume_token=token, page_id=page_id))

    def resumed(self, token: str, page_id: str) -> SessionResumed:
        reply = self.resume(token, page_id)
        assert isinstance(reply, SessionResumed), reply
        return reply

    def link(self) -> str:
        """A new private link's token."""
        reply = self.ask(CreateLink(ref=next(_refs)))
        assert isinstance(reply, LinkCreated), reply
        return reply.url.rsplit("/join/", 1)[1]

    def mirror(self, seq: int, kind: str = "mutations", **data: Any) -> None:
        self.send(MirrorFrame(seq=seq, kind=kind, data=data))


class Guest(Wire):
    def join(self, token: str, name: str = "Bob", last_seq: int = 0) -> Message:
        assert isinstance(self.ask(Hello(ref=1, role="guest")), Welcome)
        return self.ask(Join(ref=2, token=token, name=name, last_seq=last_seq))

    def joined(self, token: str, name: str = "Bob", last_seq: int = 0) -> Joined:
        reply = self.join(token, name, last_seq)
        assert isinstance(reply, Joined), reply
        return reply

    def refused(self, token: str, **kwargs: Any) -> ErrorReply:
        reply = self.join(token, **kwargs)
        assert isinstance(reply, ErrorReply), reply
        return reply


@contextmanager
def host(client: TestClient, origin: str = HOST_ORIGIN) -> Iterator[Host]:
    with client.websocket_connect("/ws", headers={"origin": origin}) as ws:
        yield Host(ws)


@contextmanager
def guest(
    client: TestClient, device: str | None = "device-a", origin: str | None = SERVER
) -> Iterator[Guest]:
    headers = {}
    if origin is not None:
        headers["origin"] = origin
    if device is not None:
        headers["cookie"] = f"cwmn_device={device}"
    with client.websocket_connect("/ws/guest", headers=headers) as ws:
        yield Guest(ws)


def eventually(check: Callable[[], bool], timeout: float = 3.0) -> None:
    """Wait until ``check()`` holds (work the server finishes after its last message)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


class WallClock:
    """The wall clock the server reads (``time.time``: the store's stamps, the relay's
    clock), moved on by a test instead of waited for. Make it before the app (a fixture)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, still: bool = False) -> None:
        """``still``: the clock stands still between advances (for exact durations; not for
        tests whose libraries time out on ``time.time``, as an SMTP exchange does)."""
        self.offset = 0.0
        real, start = time.time, time.time()
        now = (lambda: start + self.offset) if still else (lambda: real() + self.offset)
        monkeypatch.setattr(time, "time", now)

    def advance(self, client: TestClient, seconds: float) -> None:
        """Move on ``seconds``; the relay's deadlines that fell due have run on return (what
        they send is on its way before any later answer on the same socket)."""
        self.offset += seconds
        relay: Relay = client.app.state.relay  # type: ignore[attr-defined]
        assert relay.clock is time.time, "the app was made before the clock"
        assert client.portal is not None, "the client is not running (use it in a with)"
        client.portal.call(lambda: relay.carry_out(relay.core.tick(relay.clock())))
