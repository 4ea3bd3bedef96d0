"""Faults between processes (two apps on one PostgreSQL and one Redis): a holder that gives
up on a piped socket leaves nothing behind on the owner, and an owner whose heartbeat hangs
lets go of its rooms before another process takes them over."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import Hello
from cwmn_web.server.cluster import pipes
from tests.server.live import Guest, Host, eventually
from tests.server.test_cluster_pipes import apps, guest_on, host_on, route

pytestmark = pytest.mark.timeout(120)  # a fault must fail a test, never hang the suite


def test_a_piped_socket_the_owner_accepts_too_late_leaves_nothing_on_the_owner(
    tmp_path: Path,
    cluster_db: str,
    cluster_redis: str,
    live_static: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with apps(tmp_path, cluster_db, cluster_redis, live_static, 2) as (a, b), host_on(a) as hws:
        h = Host(hws)
        h.start()
        token = h.link()
        monkeypatch.setattr(pipes, "ACCEPT_TIMEOUT", 0.1)
        owner = state(a).cluster
        endpoint = owner.endpoints["/ws/guest"]

        async def slow(ws: WebSocket) -> None:  # the owner answers after the holder gave up
            await asyncio.sleep(0.5)  # (a busy owner, not a synchronisation)
            await endpoint(ws)

        owner.endpoints["/ws/guest"] = slow
        for _ in range(3):
            with (
                pytest.raises(WebSocketDisconnect) as closed,
                guest_on(b, "?" + route("link", token)) as gws,
            ):
                gws.send_text(codec.encode(Hello(ref=1, role="guest")))
                reply = gws.receive_text()  # served after all (here or by the owner): fails
                pytest.fail(f"the socket was served: {reply}")
            assert closed.value.code == 1013
        eventually(lambda: not owner.pipes)
        eventually(lambda: sockets_counted(cluster_redis) == 1)  # the host's alone


def state(client: TestClient) -> Any:
    """The app's state (the cluster, the relay) behind a test client."""
    return cast(Starlette, client.app).state


def sockets_counted(redis_url: str) -> int:
    """Sockets the Redis quotas count for client addresses, over every process."""
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter("cwmn:quota:sockets:client:*"))
        return sum(int(v) for key in keys for v in client.hvals(key))
    finally:
        client.close()


def test_an_owner_whose_heartbeat_hangs_lets_go_before_its_room_is_taken(
    tmp_path: Path, cluster_db: str, cluster_redis: str, live_static: Path
) -> None:
    """A's heartbeat blocks (an exhausted pool, a dead connection): by the time B may take
    A's room (A stale for the ttl), A has let go of it (its host is closed 1012 and comes
    back through B); the two never serve it together for longer than that."""
    with (
        apps(tmp_path, cluster_db, cluster_redis, live_static, 2, process_ttl=1.0) as (a, b),
        host_on(a) as hws,
    ):
        h = Host(hws)
        h.start()
        token = h.link()
        stuck = threading.Event()
        cluster_a, cluster_b = state(a).cluster, state(b).cluster
        beat = cluster_a.owners.beat

        def hangs() -> set[str]:
            stuck.wait(20)
            alive: set[str] = beat()
            return alive

        cluster_a.owners.beat = hangs
        try:
            sid = next(iter(state(a).relay.core.rooms))
            assert h.closed_code() == 1012  # let go of, 0.6 ttl after its last good beat
            assert sid not in state(a).relay.core.rooms
            eventually(lambda: cluster_b.owners.owner_of(sid) is None, timeout=5)
            with guest_on(b, "?" + route("link", token)) as gws:
                Guest(gws).joined(token)
                assert sid in state(b).relay.core.rooms
                assert sid not in state(a).relay.core.rooms
        finally:
            stuck.set()
