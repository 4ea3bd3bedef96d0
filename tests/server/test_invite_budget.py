"""The issue's attack on an open site: one client forging ``Origin`` sends 100 invitations
(opening as many sessions as it needs); another client must still be able to invite. A real
server on loopback, clients from two source addresses (127.0.0.2 and 127.0.0.3)."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count
from pathlib import Path

import pytest
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import (
    ErrorReply,
    Hello,
    InviteGuest,
    InviteSent,
    Message,
    SessionStarted,
    StartSession,
    Welcome,
)
from cwmn_web.testing.servers import CwmnServer

pytestmark = pytest.mark.timeout(120)
_refs = count(1)


@contextmanager
def forged_host(server: CwmnServer, source: str) -> Iterator[ClientConnection]:
    """A raw WebSocket from ``source`` that claims to be a page on localhost."""
    sock = socket.create_connection((server.host, server.port), source_address=(source, 0))
    url = server.url.replace("http", "ws") + "/ws"
    with connect(url, sock=sock, origin=Origin("http://localhost")) as ws:
        yield ws


def ask(ws: ClientConnection, message: Message) -> Message:
    ws.send(codec.encode(message))
    while True:
        reply = codec.decode(str(ws.recv(timeout=10)))
        if reply.ref == message.ref:
            return reply


def start(ws: ClientConnection) -> None:
    assert isinstance(ask(ws, Hello(ref=next(_refs))), Welcome)
    assert isinstance(ask(ws, StartSession(ref=next(_refs), host_name="X")), SessionStarted)


def invite(ws: ClientConnection) -> Message:
    return ask(ws, InviteGuest(ref=next(_refs), guest_name="G", guest_email="g@example.com"))


def test_one_forged_client_cannot_spend_the_sites_invite_budget(tmp_path: Path) -> None:
    outcomes: Counter[str] = Counter()
    with CwmnServer(tmp_path) as server:
        for _ in range(10):  # ten sessions of ten: the session limit is no obstacle
            with forged_host(server, "127.0.0.2") as ws:
                start(ws)
                for _ in range(10):
                    reply = invite(ws)
                    outcomes[reply.code if isinstance(reply, ErrorReply) else "sent"] += 1
        assert outcomes["sent"] <= 20, outcomes
        with forged_host(server, "127.0.0.3") as ws:
            start(ws)
            reply = invite(ws)
            assert isinstance(reply, InviteSent), reply
        with forged_host(server, "127.0.0.2") as ws:
            start(ws)
            refused = invite(ws)
    assert isinstance(refused, ErrorReply) and refused.code == "rate_limited"
    assert "this client address has sent 20 invites" in refused.message
