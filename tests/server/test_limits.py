"""Bounded resources of the live relay, tried as an attacker would: hostile frames, floods
of sessions and sockets from one address, a frame rate no page needs (issue 15)."""

from __future__ import annotations

import gc
import sys
import time
from typing import TYPE_CHECKING

import pytest
from starlette.websockets import WebSocketDisconnect

from cwmn_web.errors import ErrorCode
from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import (
    CLOSE_PROTOCOL,
    CLOSE_TRY_AGAIN_LATER,
    Ack,
    EndSession,
    ErrorReply,
    Hello,
    MirrorFrame,
    Ping,
    Pong,
    ReplayUpdate,
    SessionEnded,
    SessionStarted,
    StartSession,
    WatchReplay,
    Welcome,
)
from cwmn_web.server.cli import serve_options
from cwmn_web.server.config import Settings
from cwmn_web.server.relay import Relay

from .live import Host, host

if TYPE_CHECKING:
    from .conftest import LiveClient

pytestmark = pytest.mark.timeout(60)


def relay_of(client: object) -> Relay:
    relay: Relay = client.app.state.relay  # type: ignore[attr-defined]
    return relay


def empty_lists(seq: int, count: int) -> str:
    """A mutations frame of ``count`` empty lists: tiny as text, large once parsed."""
    return codec.encode(MirrorFrame(seq=seq, kind="mutations", data={"adds": [[]] * count}))


def deep_size(root: object) -> int:
    """Bytes held by ``root`` and everything it refers to (each object once)."""
    seen: set[int] = set()
    stack, total = [root], 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


def test_a_flood_of_empty_lists_costs_the_room_what_its_text_does(
    live_client: LiveClient,
) -> None:
    frames, count = 3, 150_000  # ~0.45 MB each, within the default value cap
    texts = [empty_lists(seq, count) for seq in range(2, 2 + frames)]
    with live_client() as client, host(client) as h:
        session = h.start().session_id
        h.mirror(1, "snapshot", nodes=[])
        for text in texts:
            h.ws.send_text(text)
        acks = [m for m in h.drain() if isinstance(m, Ack)]
        assert acks[-1].seq == 1 + frames
        log = relay_of(client).rooms[session].room.log
        assert len(log) == 1 + frames  # every frame kept for joining guests ...
        held = sum(len(t) for t in texts)
        assert log.size < held + 64 * 1024  # ... counted as the memory its text holds
        size = deep_size(log)
        assert size < held + 256 * 1024, f"the room's log holds {size >> 20} MiB"
        assert log.size <= size  # the accounting is the memory (not characters)


def test_the_log_bound_is_memory_so_a_smaller_setting_drops_sooner(
    live_client: LiveClient,
) -> None:
    text = empty_lists(2, 100_000)
    with live_client(max_log_bytes=len(text)) as client, host(client) as h:
        session = h.start().session_id
        h.mirror(1, "snapshot", nodes=[])
        h.ws.send_text(text)  # with the snapshot: past the bound, the log starts over
        h.sync()
        assert len(relay_of(client).rooms[session].room.log) == 0


def test_a_frame_of_more_values_than_allowed_closes_the_socket(live_client: LiveClient) -> None:
    with live_client(max_frame_values=10_000) as client, host(client) as h:
        h.start()
        h.mirror(1, "snapshot", nodes=[])
        h.ws.send_text(empty_lists(2, 5_000))  # 5,000 lists: a bound of 15,000 values
        with pytest.raises(WebSocketDisconnect) as closed:
            while True:
                h.receive()
        assert closed.value.code == CLOSE_PROTOCOL
        assert "10000 JSON values" in closed.value.reason


def start(wire: Host) -> ErrorReply | str:
    """Hello and StartSession on a raw host socket: the session id, or the refusal."""
    assert isinstance(wire.ask(Hello(ref=1)), Welcome)
    reply = wire.ask(StartSession(ref=2, host_name="x"))
    if isinstance(reply, ErrorReply):
        return reply
    assert isinstance(reply, SessionStarted), reply
    return reply.session_id


@pytest.mark.parametrize(
    ("setting", "variable"),
    [
        ("max_sessions_per_client", "CWMN_MAX_SESSIONS_PER_CLIENT"),
        ("max_sessions_per_site", "CWMN_MAX_SESSIONS_PER_SITE"),
    ],
)
def test_a_session_flood_from_one_address_is_refused(
    live_client: LiveClient, setting: str, variable: str
) -> None:
    with live_client(**{setting: 3}) as client:
        hosts = [host(client) for _ in range(4)]
        wires = [cm.__enter__() for cm in hosts]
        try:
            started = [start(w) for w in wires[:3]]
            assert all(isinstance(s, str) for s in started)
            refused = start(wires[3])
            assert isinstance(refused, ErrorReply)
            assert refused.code == ErrorCode.RATE_LIMITED
            assert variable in refused.message
            # One ends: a new one may start.
            ended = wires[0].ask(EndSession(ref=3))
            assert isinstance(ended, SessionEnded)
            again = wires[3].ask(StartSession(ref=4, host_name="x"))
            assert not isinstance(again, ErrorReply), again
        finally:
            for cm in reversed(hosts):
                cm.__exit__(None, None, None)


def test_a_socket_flood_from_one_address_is_closed(live_client: LiveClient) -> None:
    with live_client(max_connections_per_client=3) as client:
        hosts = [host(client) for _ in range(3)]
        wires = [cm.__enter__() for cm in hosts]
        try:
            for w in wires:
                assert isinstance(w.ask(Hello(ref=1)), Welcome)
            with host(client) as extra, pytest.raises(WebSocketDisconnect) as closed:
                extra.ask(Hello(ref=1))
            assert closed.value.code == CLOSE_TRY_AGAIN_LATER
            assert "CWMN_MAX_CONNECTIONS_PER_CLIENT" in closed.value.reason
        finally:
            for cm in reversed(hosts):
                cm.__exit__(None, None, None)
        with host(client) as after:  # their sockets closed: room again
            assert isinstance(after.ask(Hello(ref=1)), Welcome)


def test_a_socket_is_read_no_faster_than_its_frame_rate(live_client: LiveClient) -> None:
    rate, sent = 40.0, 100
    with live_client(max_frames_per_second=rate) as client, host(client) as h:
        assert isinstance(h.ask(Hello(ref=1)), Welcome)
        begun = time.monotonic()
        for ref in range(10, 10 + sent):
            h.send(Ping(ref=ref))
        pongs = [h.receive() for _ in range(sent)]
        took = time.monotonic() - begun
    assert all(isinstance(p, Pong) for p in pongs)
    # A burst of ``rate`` frames at once, then ``rate`` a second.
    assert took >= (sent - 1 - rate) / rate * 0.9, took


def test_serve_caps_websockets_at_the_codecs_frame_and_times_requests_out() -> None:
    options = serve_options(Settings(http_timeout=7.0), "127.0.0.1", 8000)
    assert options["ws_max_size"] == codec.MAX_FRAME
    assert options["http"].request_timeout == 7.0


def test_a_watcher_flood_is_bounded_and_costs_one_read_per_replay(
    live_client: LiveClient,
) -> None:
    from .live import eventually
    from .test_replays import recorded

    with live_client(max_watchers_per_client=6) as client:
        _, token = recorded(client)
        hosts = [host(client) for _ in range(7)]
        wires = [cm.__enter__() for cm in hosts]
        try:
            for i, w in enumerate(wires):
                assert isinstance(w.ask(Hello(ref=1)), Welcome)
                reply = w.ask(WatchReplay(ref=2, resume_token=token))
                if i < 6:
                    assert isinstance(reply, ReplayUpdate), reply
            assert isinstance(reply, ErrorReply)
            assert reply.code == ErrorCode.RATE_LIMITED
            assert "CWMN_MAX_WATCHERS_PER_CLIENT" in reply.message
            watchers = client.app.state.watchers  # type: ignore[attr-defined]
            start = (watchers.rounds, watchers.reads)
            eventually(lambda: watchers.rounds >= start[0] + 3)
            rounds, reads = watchers.rounds - start[0], watchers.reads - start[1]
            assert reads <= rounds + 1  # six watchers of one replay: one read a round
        finally:
            for cm in reversed(hosts):
                cm.__exit__(None, None, None)
        eventually(lambda: len(watchers) == 0)  # their sockets closed: no watch left
