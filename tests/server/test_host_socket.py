"""cwmn_web.server.host_socket: the /ws endpoint over Starlette's in-process WebSocket."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest
from starlette.websockets import WebSocketDisconnect

from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import (
    CLOSE_BAD_ORIGIN,
    CLOSE_PROTOCOL,
    PROTOCOL_VERSION,
    CreateLink,
    EndSession,
    ErrorReply,
    Hello,
    LinkCreated,
    Message,
    MirrorFrame,
    Ok,
    Ping,
    Pong,
    ResumeSession,
    SessionEnded,
    SessionResumed,
    SessionStarted,
    SetPrivacy,
    StartSession,
    Welcome,
)
from cwmn_web.server.sites import DEFAULT_SETTINGS

if TYPE_CHECKING:
    from pathlib import Path

    from starlette.testclient import TestClient, WebSocketTestSession

    from cwmn_web.server.db import Store

    from .conftest import LiveClient

ORIGIN = "http://localhost:1234"
PAGE = "http://localhost:1234/shop"


class Wire:
    def __init__(self, ws: WebSocketTestSession) -> None:
        self.ws = ws

    def ask(self, message: Message) -> Message:
        self.ws.send_text(codec.encode(message))
        return codec.decode(self.ws.receive_text())

    def hello(self) -> Welcome:
        reply = self.ask(Hello(ref=1, page_url=PAGE))
        assert isinstance(reply, Welcome)
        return reply

    def start(self) -> SessionStarted:
        self.hello()
        reply = self.ask(StartSession(ref=2, host_name="Ann", host_email="ann@example.com"))
        assert isinstance(reply, SessionStarted), reply
        return reply


@contextmanager
def wire(client: TestClient, origin: str | None = ORIGIN) -> Iterator[Wire]:
    headers = {"origin": origin} if origin else {}
    with client.websocket_connect("/ws", headers=headers) as ws:
        yield Wire(ws)


def closed_with(client: TestClient, origin: str | None) -> WebSocketDisconnect:
    with pytest.raises(WebSocketDisconnect) as info, wire(client, origin):
        pass
    return info.value


@pytest.mark.parametrize(
    "origin", [None, "http://evil.example", "null", "http://localhost.evil.example"]
)
def test_unauthorized_origin_is_refused(client: TestClient, origin: str | None) -> None:
    error = closed_with(client, origin)
    assert error.code == CLOSE_BAD_ORIGIN == 4403
    assert error.reason == "origin not authorized"


def test_hello_welcome(client: TestClient) -> None:
    with wire(client) as w:
        reply = w.ask(Hello(ref=7, version=PROTOCOL_VERSION, page_url=PAGE))
        assert isinstance(reply, Welcome)
        assert reply.ref == 7
        assert reply.version == PROTOCOL_VERSION
        assert reply.server_time > 1_600_000_000


def test_wrong_version_is_a_protocol_error(client: TestClient) -> None:
    with wire(client) as w:
        reply = w.ask(Hello(ref=3, version=PROTOCOL_VERSION + 1))
        assert isinstance(reply, ErrorReply)
        assert (reply.ref, reply.code) == (3, "protocol")
        assert str(PROTOCOL_VERSION + 1) in reply.message
        # The connection stays usable for a correct hello.
        assert isinstance(w.ask(Hello(ref=4)), Welcome)


@pytest.mark.parametrize(
    "first", [StartSession(ref=1, host_name="A"), Ping(ref=1), EndSession(ref=1)]
)
def test_anything_before_hello_is_refused(client: TestClient, store: Store, first: Message) -> None:
    with wire(client) as w:
        reply = w.ask(first)
        assert isinstance(reply, ErrorReply)
        assert (reply.ref, reply.code) == (1, "protocol")
        assert "hello" in reply.message
    assert store.session_rows() == []


def test_start_and_end_session(client: TestClient, store: Store) -> None:
    with wire(client) as w:
        started = w.start()
        assert started.ref == 2
        assert started.session_id
        assert started.resume_token
        assert started.is_replay is False
        assert (started.host_name, started.host_email) == ("Ann", "ann@example.com")
        assert started.settings == DEFAULT_SETTINGS

        (row,) = store.session_rows()
        assert row["id"] == started.session_id
        assert row["site_id"] == 1
        assert row["origin"] == ORIGIN
        assert row["page_url"] == PAGE
        assert row["ended_at"] is None
        assert row["created_at"] == started.started_at
        assert row["resume_token_hash"] == hashlib.sha256(started.resume_token.encode()).hexdigest()
        assert started.resume_token not in row.values()

        ended = w.ask(EndSession(ref=3))
        assert ended == SessionEnded(ref=3, session_id=started.session_id, reason="ended")

    record = store.get_session(started.session_id)
    assert record is not None
    assert record.ended_at is not None
    assert record.ended_at >= record.created_at
    (row,) = store.session_rows()
    assert row["end_reason"] == "ended"


def test_ping_pong(client: TestClient) -> None:
    with wire(client) as w:
        w.hello()
        assert w.ask(Ping(ref=5)) == Pong(ref=5)
        assert isinstance(
            w.ask(StartSession(ref=6, host_name="A", host_email="a@b.com")), SessionStarted
        )
        assert w.ask(Ping(ref=7)) == Pong(ref=7)
        assert isinstance(w.ask(EndSession(ref=8)), SessionEnded)
        assert w.ask(Ping(ref=9)) == Pong(ref=9)


@pytest.mark.parametrize(
    ("steps", "last"),
    [
        ([], EndSession(ref=9)),
        ([], Hello(ref=9)),
        ([StartSession(ref=2)], StartSession(ref=9)),
        ([StartSession(ref=2), EndSession(ref=3)], StartSession(ref=9)),
        ([StartSession(ref=2), EndSession(ref=3)], EndSession(ref=9)),
    ],
)
def test_out_of_order_requests_are_invalid_state(
    client: TestClient, steps: list[Message], last: Message
) -> None:
    with wire(client) as w:
        w.hello()
        for step in steps:
            assert not isinstance(w.ask(step), ErrorReply)
        reply = w.ask(last)
        assert isinstance(reply, ErrorReply)
        assert (reply.ref, reply.code) == (9, "invalid_state")
        assert last.type in reply.message


def test_one_session_row_per_start(client: TestClient, store: Store) -> None:
    with wire(client) as w:
        w.start()
        w.ask(StartSession(ref=3, host_name="B", host_email="b@example.com"))
    assert len(store.session_rows()) == 1


def test_long_fields_are_truncated(client: TestClient, store: Store) -> None:
    with wire(client) as w:
        w.ask(Hello(ref=1, page_url="http://localhost/" + "p" * 5000))
        w.ask(StartSession(ref=2, host_name="n" * 500, host_email="e" * 500))
    (row,) = store.session_rows()
    assert len(row["page_url"]) == 2048
    assert len(row["host_name"]) == 200
    assert len(row["host_email"]) == 254


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[]",
        '{"type":"bogus","ref":1}',
        '{"type":"hello","ref":"1"}',
        '{"type":"hello","version":true}',
    ],
)
def test_malformed_frame_closes_4400(client: TestClient, frame: str) -> None:
    with wire(client) as w:
        w.ws.send_text(frame)
        with pytest.raises(WebSocketDisconnect) as info:
            w.ws.receive_text()
    assert info.value.code == CLOSE_PROTOCOL == 4400
    assert info.value.reason


def test_malformed_frame_after_hello_closes_4400(client: TestClient) -> None:
    with wire(client) as w:
        w.hello()
        w.ws.send_text("{")
        with pytest.raises(WebSocketDisconnect) as info:
            w.ws.receive_text()
    assert info.value.code == 4400


def test_wildcard_site_origin(client: TestClient, store: Store) -> None:
    store.add_domain("*.example.com", "shop")
    shop = store.site_by_name("shop")
    assert shop is not None
    with wire(client, "https://a.example.com") as w:
        w.start()
    (row,) = store.session_rows()
    assert row["site_id"] == shop.id
    assert closed_with(client, "https://example.com").code == 4403


def test_binary_frame_closes_4400(client: TestClient) -> None:
    with wire(client) as w:
        w.ws.send_bytes(b'{"type":"hello"}')
        with pytest.raises(WebSocketDisconnect) as info:
            w.ws.receive_text()
    assert info.value.code == 4400 and "text" in info.value.reason


def test_deeply_nested_frame_closes_4400(client: TestClient) -> None:
    with wire(client) as w:
        w.ws.send_text("[" * 100_000)
        with pytest.raises(WebSocketDisconnect) as info:
            w.ws.receive_text()
    assert info.value.code == 4400


# -- resume, links, privacy, the frame log ----------------------------------------------------
def test_a_guest_hello_is_refused_here(client: TestClient) -> None:
    with wire(client) as w:
        reply = w.ask(Hello(ref=1, role="guest"))
        assert isinstance(reply, ErrorReply)
        assert reply.code == "protocol"


@pytest.mark.parametrize("token", ["", "nope", "x" * 300])
def test_resume_with_an_unknown_token(client: TestClient, token: str) -> None:
    with wire(client) as w:
        w.hello()
        reply = w.ask(ResumeSession(ref=2, resume_token=token, page_id="p"))
        assert isinstance(reply, ErrorReply)
        assert (reply.ref, reply.code) == (2, "not_found")
        # Still ready: a new session may start.
        assert isinstance(w.ask(StartSession(ref=3, host_name="A")), SessionStarted)


def test_resume_is_only_for_the_sessions_site(client: TestClient, store: Store) -> None:
    store.add_domain("shop.example.com", "shop")
    with wire(client) as w:
        started = w.start()
    with wire(client, "https://shop.example.com") as w:
        w.hello()
        reply = w.ask(ResumeSession(ref=2, resume_token=started.resume_token, page_id="p"))
        assert isinstance(reply, ErrorReply)
        assert reply.code == "not_found"


def test_resume_an_ended_session(client: TestClient) -> None:
    with wire(client) as w:
        started = w.start()
        w.ask(EndSession(ref=3))
    with wire(client) as w:
        w.hello()
        reply = w.ask(ResumeSession(ref=2, resume_token=started.resume_token, page_id="p"))
        assert isinstance(reply, ErrorReply)
        assert reply.code == "session_ended"


def test_resume_keeps_privacy(client: TestClient) -> None:
    with wire(client) as w:
        started = w.start()
        assert w.ask(SetPrivacy(ref=3, enabled=True)) == Ok(ref=3)
    with wire(client) as w:
        w.hello()
        reply = w.ask(ResumeSession(ref=2, resume_token=started.resume_token, page_id="p"))
        assert isinstance(reply, SessionResumed)
        assert reply.privacy is True


def test_create_link(client: TestClient, store: Store) -> None:
    with wire(client) as w:
        started = w.start()
        before = time.time()
        reply = w.ask(CreateLink(ref=3))
        assert isinstance(reply, LinkCreated)
        assert reply.ref == 3
        base, token = reply.url.rsplit("/join/", 1)
        assert base == "http://testserver"  # from ws://testserver
        assert len(token) >= 32
        assert before + 86400 - 5 < reply.expires_at <= time.time() + 86400
        link = store.link_by_token(token)
        assert link is not None
        assert (link.session_id, link.kind, link.device_hash) == (
            started.session_id,
            "private",
            None,
        )


def test_create_link_needs_a_session(client: TestClient) -> None:
    with wire(client) as w:
        w.hello()
        reply = w.ask(CreateLink(ref=2))
        assert isinstance(reply, ErrorReply)
        assert reply.code == "invalid_state"


def test_link_urls_over_wss_and_with_a_public_url(live_client: LiveClient, store: Store) -> None:
    store.add_domain("shop.example.com")
    with (
        live_client(public_url="") as client,  # development: links from a loopback name
        client.websocket_connect(
            "wss://localhost:8443/ws", headers={"origin": "https://shop.example.com"}
        ) as ws,
    ):
        w = Wire(ws)
        w.start()
        reply = w.ask(CreateLink(ref=3))
        assert isinstance(reply, LinkCreated)
        assert reply.url.startswith("https://localhost:8443/join/")
    public = "https://cb.example.com/"
    proxied = live_client(public_url=public, link_ttl_seconds=60, allowed_hosts="testserver")
    with proxied as client, wire(client) as w:
        w.start()
        reply = w.ask(CreateLink(ref=3))
        assert isinstance(reply, LinkCreated)
        assert reply.url.startswith("https://cb.example.com/join/")
        assert reply.expires_at <= time.time() + 60


def test_the_frame_log(live_client: LiveClient, tmp_path: Path) -> None:
    log = tmp_path / "frames.log"
    frames = [
        codec.encode(Hello(ref=1, page_url=PAGE)),
        codec.encode(StartSession(ref=2, host_name="Ann")),
        codec.encode(MirrorFrame(seq=1, kind="snapshot", data={"t": "a\nb\u2028c\u0085é"})),
        '{"type": "ping",\r\n "ref": 3}',
    ]
    with live_client(frame_log=log) as client, wire(client) as w:
        for frame in frames:
            w.ws.send_text(frame)
        w.ws.send_text(codec.encode(Ping(ref=4)))
        while codec.decode(w.ws.receive_text()) != Pong(ref=4):
            pass
    lines = log.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 5
    assert [json.loads(line) for line in lines[:4]] == [json.loads(f) for f in frames]
    assert "é" in lines[2]  # as sent, not re-escaped: a masking test can search the text


def test_no_frame_log_by_default(client: TestClient, tmp_path: Path) -> None:
    with wire(client) as w:
        w.start()
    assert list(tmp_path.glob("*.log")) == []
