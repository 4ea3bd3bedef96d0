"""Two server apps on one PostgreSQL and one Redis (in this process, each with its own
event loop): a socket that reaches the app not holding its session's room is piped to the
one that does."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from cwmn_web.protocol.messages import (
    CLOSE_GOING_AWAY,
    Ack,
    ErrorReply,
    GuestJoined,
    Hello,
    HostStatus,
    Message,
    MirrorFrame,
    SessionResumed,
    SessionStarted,
    StartSession,
    Welcome,
)
from cwmn_web.server.app import create_app
from cwmn_web.server.config import Settings
from cwmn_web.server.db import Store
from tests.server.conftest import SERVER_URL
from tests.server.live import HOST_ORIGIN, SERVER, Guest, Host, eventually

pytestmark = pytest.mark.timeout(120)  # a fault must fail a test, never hang the suite

Apps = Callable[[int], AbstractContextManager[list[TestClient]]]


def route(kind: str, token: str) -> str:
    return f"{kind}={hashlib.sha256(token.encode()).hexdigest()}"


def gather(wire: Guest, enough: Callable[[list[Any]], bool]) -> list[Any]:
    """What ``wire`` receives until ``enough`` of it came (other processes' work is
    asynchronous)."""
    seen: list[Any] = []

    def more() -> bool:
        seen.extend(wire.drain())
        return enough(seen)

    eventually(more)
    return seen


def frames(messages: list[Any]) -> list[tuple[int, str]]:
    return [(m.seq, m.kind) for m in messages if isinstance(m, MirrorFrame)]


@contextmanager
def apps(
    tmp_path: Path, db_url: str, redis_url: str, static: Path, n: int, **overrides: Any
) -> Iterator[list[TestClient]]:
    with ExitStack() as stack:
        clients = []
        for i in range(n):
            settings = Settings(
                data_dir=tmp_path / f"p{i}",
                database_url=db_url,
                static_dir=static,
                public_url=SERVER_URL,
                redis_url=redis_url,
                host_grace_seconds=60.0,
                frame_log=None,
                smtp_host="",
                outbox_page="off",
                secret="s" * 40,
                **overrides,
            )
            store = Store(db_url)
            stack.callback(store.engine.dispose)
            clients.append(stack.enter_context(TestClient(create_app(settings, store))))
        yield clients


def host_on(client: TestClient, query: str = "") -> AbstractContextManager[Any]:
    return client.websocket_connect(f"/ws{query}", headers={"origin": HOST_ORIGIN})


def guest_on(
    client: TestClient, query: str = "", device: str = "device-a"
) -> AbstractContextManager[Any]:
    headers = {"origin": SERVER, "cookie": f"cwmn_device={device}"}
    return client.websocket_connect(f"/ws/guest{query}", headers=headers)


def test_a_guest_on_another_process_gets_every_frame(
    tmp_path: Path, cluster_db: str, cluster_redis: str, live_static: Path
) -> None:
    with apps(tmp_path, cluster_db, cluster_redis, live_static, 2) as (a, b), host_on(a) as hws:
        h = Host(hws)
        h.start()
        token = h.link()
        with guest_on(b, "?" + route("link", token)) as gws:
            bob = Guest(gws)
            bob.joined(token)
            assert any(isinstance(m, GuestJoined) for m in h.drain())
            h.mirror(1, "snapshot", html="<p>1</p>")
            for seq in range(2, 27):
                h.mirror(seq, n=seq)
            acks = [m for m in h.drain() if isinstance(m, Ack)]
            assert acks[-1] == Ack(seq=26)
            got = frames(gather(bob, lambda seen: len(frames(seen)) >= 26))
            assert got == [(1, "snapshot")] + [(s, "mutations") for s in range(2, 27)]


def test_a_host_that_resumes_on_another_process_keeps_its_guests(
    tmp_path: Path, cluster_db: str, cluster_redis: str, live_static: Path
) -> None:
    with apps(tmp_path, cluster_db, cluster_redis, live_static, 2) as (a, b):
        hws_cm = host_on(a)
        hws = hws_cm.__enter__()
        h = Host(hws)
        started = h.start()
        token = h.link()
        with guest_on(a, "?" + route("link", token)) as gws:
            bob = Guest(gws)
            guest_id = bob.joined(token).guest_id
            h.mirror(1, "snapshot", html="<p>1</p>")
            h.sync()
            hws.close(CLOSE_GOING_AWAY)
            hws_cm.__exit__(None, None, None)
            seen = gather(bob, lambda seen: any(isinstance(m, HostStatus) for m in seen))
            status = [m for m in seen if isinstance(m, HostStatus)]
            assert status[-1] == HostStatus(connected=False, navigating=True)
            with host_on(b, "?" + route("resume", started.resume_token)) as hws2:
                h2 = Host(hws2)
                h2.resumed(started.resume_token, "page-2")
                h2.mirror(2, "snapshot", html="<p>2</p>")
                roster = [m.guest["guestId"] for m in h2.drain() if isinstance(m, GuestJoined)]
                assert roster == [guest_id]
                seen = gather(bob, lambda seen: bool(frames(seen)))
                assert frames(seen) == [(2, "snapshot")]
                assert HostStatus(connected=True) in seen


def test_a_guest_without_route_on_the_wrong_process_is_told_to_retry(
    tmp_path: Path, cluster_db: str, cluster_redis: str, live_static: Path
) -> None:
    with apps(tmp_path, cluster_db, cluster_redis, live_static, 2) as (a, b), host_on(a) as hws:
        h = Host(hws)
        h.start()
        token = h.link()
        with guest_on(b) as gws:
            reply = Guest(gws).join(token)
            assert isinstance(reply, ErrorReply) and reply.code == "network", reply


def test_replay_caps_hold_across_processes(
    tmp_path: Path, cluster_db: str, cluster_redis: str, live_static: Path
) -> None:
    """Eight hosts start replays at once on two processes; the site may have three waiting
    for their video: exactly three start (the check and the rows are one step for every
    process), the others are told which setting refused them."""
    limits = {"max_replays_per_site": 3, "max_replays_per_client": 100}
    with (
        apps(tmp_path, cluster_db, cluster_redis, live_static, 2, **limits) as clients,
        ExitStack() as stack,
    ):
        hosts = []
        for i in range(8):
            h = Host(stack.enter_context(host_on(clients[i % 2])))
            assert isinstance(h.ask(Hello(ref=1, page_url=HOST_ORIGIN + "/shop")), Welcome)
            hosts.append(h)

        def start(h: Host) -> Any:
            return h.ask(StartSession(ref=2, host_name="Ann", is_replay=True, page_id="p"))

        with ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(start, hosts))
    started = [r for r in replies if isinstance(r, SessionStarted)]
    refused = [r for r in replies if isinstance(r, ErrorReply)]
    assert len(started) == 3, replies
    assert len(refused) == 5
    assert all("CWMN_MAX_REPLAYS_PER_SITE=3" in r.message for r in refused)


def test_a_broken_redis_connection_ends_the_pipes_and_the_guest_comes_back(
    tmp_path: Path, cluster_db: str, cluster_redis: str, live_static: Path
) -> None:
    """Redis drops the processes' subscriptions (messages may have been lost): a piped guest
    is closed with 1012 (it reconnects), the room lets go (its host too: nothing the pipes
    carried can be trusted), and once the bus is back, the host resumes through the other
    process and the guest joins again and gets the host's new frames."""
    with apps(tmp_path, cluster_db, cluster_redis, live_static, 2) as (a, b):
        with host_on(a) as hws:
            h = Host(hws)
            started = h.start()
            token = h.link()
            with guest_on(b, "?" + route("link", token)) as gws:
                Guest(gws).joined(token)
                killer = redis.Redis.from_url(cluster_redis)
                assert killer.client_kill_filter(_type="pubsub") >= 2
                killer.close()
                assert Guest(gws).closed_code() == 1012
            assert h.closed_code() == 1012

        def resumed() -> Message | None:
            try:
                with host_on(b, "?" + route("resume", started.resume_token)) as ws:
                    return Host(ws).resume(started.resume_token, "p2")
            except WebSocketDisconnect:  # the bus was not back yet
                return None

        eventually(lambda: isinstance(resumed(), SessionResumed), timeout=10)
        with (
            host_on(a, "?" + route("resume", started.resume_token)) as hws,
            guest_on(b, "?" + route("link", token)) as gws,
        ):
            h = Host(hws)
            assert isinstance(h.resume(started.resume_token, "p3"), SessionResumed)
            bob = Guest(gws)
            bob.joined(token)
            h.mirror(1, "snapshot", html="<p>back</p>")
            assert frames(gather(bob, lambda seen: bool(frames(seen)))) == [(1, "snapshot")]
