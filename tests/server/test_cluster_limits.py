"""Per-client limits hold across processes sharing a Redis (issue 16): two apps, each its
own relay (as two ``cwmn-web serve`` behind a balancer), one client address on both."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from cwmn_web.errors import ErrorCode
from cwmn_web.protocol.messages import (
    CLOSE_TRY_AGAIN_LATER,
    EndSession,
    ErrorReply,
    Hello,
    SessionEnded,
    StartSession,
    Welcome,
)
from cwmn_web.server.app import create_app
from cwmn_web.server.config import Settings
from cwmn_web.server.db import Store
from cwmn_web.server.quotas import RedisQuotas
from cwmn_web.server.relay import Relay

from .conftest import SERVER_URL
from .live import Host, host

pytestmark = pytest.mark.timeout(60)


@contextmanager
def two_processes(
    tmp_path: Path, store: Store, live_static: Path, redis_url: str, **overrides: Any
) -> Iterator[tuple[TestClient, TestClient]]:
    """Two apps on one store and one Redis; one client address (this test's own) on both."""
    settings = Settings(
        data_dir=tmp_path,
        database_url="",
        static_dir=live_static,
        public_url=SERVER_URL,
        frame_log=None,
        redis_url=redis_url,
        **overrides,
    )
    n = uuid.uuid4().int
    address = (f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", 50000)
    with ExitStack() as stack:
        clients = [
            stack.enter_context(TestClient(create_app(settings, store), client=address))
            for _ in range(2)
        ]
        for client in clients:
            assert isinstance(relay_of(client).quotas, RedisQuotas)
        yield clients[0], clients[1]


def relay_of(client: TestClient) -> Relay:
    relay: Relay = client.app.state.relay  # type: ignore[attr-defined]
    return relay


def written(client: TestClient) -> None:
    """What the process gave back is in Redis (a socket's end writes it soon after)."""
    assert client.portal is not None
    client.portal.call(relay_of(client).quotas.flush)


@contextmanager
def hosts(*clients: TestClient) -> Iterator[list[Host]]:
    with ExitStack() as stack:
        yield [stack.enter_context(host(client)) for client in clients]


def refused_socket(client: TestClient) -> WebSocketDisconnect:
    with host(client) as extra, pytest.raises(WebSocketDisconnect) as closed:
        extra.ask(Hello(ref=1))
    return closed.value


def test_the_socket_cap_of_one_address_holds_across_processes(
    tmp_path: Path, store: Store, live_static: Path, redis_url: str
) -> None:
    with two_processes(tmp_path, store, live_static, redis_url, max_connections_per_client=3) as (
        a,
        b,
    ):
        with hosts(a, a, b) as wires:
            for wire in wires:
                assert isinstance(wire.ask(Hello(ref=1)), Welcome)
            for client in (a, b):  # three open, two on a, one on b: none more on either
                closed = refused_socket(client)
                assert closed.code == CLOSE_TRY_AGAIN_LATER
                assert "CWMN_MAX_CONNECTIONS_PER_CLIENT" in closed.reason
        written(a)
        written(b)
        with hosts(b, b, b) as wires:  # their sockets closed: room again, all on b
            for wire in wires:
                assert isinstance(wire.ask(Hello(ref=1)), Welcome)


def test_the_session_cap_of_one_address_holds_across_processes(
    tmp_path: Path, store: Store, live_static: Path, redis_url: str
) -> None:
    with (
        two_processes(tmp_path, store, live_static, redis_url, max_sessions_per_client=2) as (a, b),
        hosts(a, b, a) as (first, second, third),
    ):
        first.start()
        second.start()
        assert isinstance(third.ask(Hello(ref=1)), Welcome)
        refused = third.ask(StartSession(ref=2, host_name="x"))
        assert isinstance(refused, ErrorReply), refused
        assert refused.code == ErrorCode.RATE_LIMITED
        assert "CWMN_MAX_SESSIONS_PER_CLIENT" in refused.message
        # The session on b ends: one may start on a.
        assert isinstance(second.ask(EndSession(ref=3)), SessionEnded)
        written(b)
        again = third.ask(StartSession(ref=4, host_name="x"))
        assert not isinstance(again, ErrorReply), again
