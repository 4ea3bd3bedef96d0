"""cwmn_web.server.links and sites.same_origin: link rules and URLs (values only)."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest

from cwmn_web.errors import ErrorCode
from cwmn_web.server.db import HostInviteRecord, LinkRecord, SessionRecord
from cwmn_web.server.db.schema import LinkKind
from cwmn_web.server.links import (
    check_host_invite,
    check_link,
    device_hash,
    join_url,
    public_base,
    session_expired,
    usable_token,
)
from cwmn_web.server.sites import same_origin

C = ErrorCode
PRIVATE = LinkKind.PRIVATE
NOW = 1_000_000.0
MAX = 3600.0
SESSION = SessionRecord("s1", 1, "Ann", "a@b.com", False, created_at=NOW - 60, ended_at=None)
LINK = LinkRecord("h", "s1", PRIVATE, created_at=NOW - 60, expires_at=NOW + 60)
BOUND = LinkRecord("h", "s1", PRIVATE, NOW - 60, NOW + 60, device_hash="dev-a", guest_id="g1")


@pytest.mark.parametrize(
    ("link", "session", "device", "expected"),
    [
        (LINK, SESSION, "dev-a", None),
        (LINK, SESSION, None, None),  # unbound: the caller binds (or asks for a cookie)
        (BOUND, SESSION, "dev-a", None),
        (BOUND, SESSION, "dev-b", C.LINK_USED),
        (BOUND, SESSION, None, C.LINK_USED),
        (None, SESSION, "dev-a", C.LINK_INVALID),
        (LinkRecord("h", "s1", PRIVATE, 0, NOW + 60, revoked_at=NOW - 1), SESSION, None,
         C.LINK_INVALID),
        (LinkRecord("h", "s1", PRIVATE, 0, NOW), SESSION, None, C.LINK_INVALID),
        (LinkRecord("h", "s1", LinkKind.PUBLIC, 0, NOW + 60, revoked_at=NOW - 1), SESSION,
         "dev-a", C.PUBLIC_LINK_DISABLED),
        (LINK, None, "dev-a", C.SESSION_ENDED),
        (LINK, SessionRecord("s1", 1, "A", "e", False, NOW - 60, NOW - 1), None,
         C.SESSION_ENDED),
        (LINK, SessionRecord("s1", 1, "A", "e", False, NOW - MAX, None), None,
         C.SESSION_ENDED),  # past its maximum, not yet marked
        # An invalid link says so before saying anything about its session or device.
        (LinkRecord("h", "s1", PRIVATE, 0, NOW), None, "dev-b", C.LINK_INVALID),
        (BOUND, None, "dev-b", C.SESSION_ENDED),
    ],
)  # fmt: skip
def test_check_link(
    link: LinkRecord | None,
    session: SessionRecord | None,
    device: str | None,
    expected: ErrorCode | None,
) -> None:
    assert check_link(link, session, device, NOW, MAX) is expected


INVITE = HostInviteRecord(
    "h", "i1", "s1", 1, "https://a.example/", "Ivy", "i@b.com", "", 0, NOW + 60
)


@pytest.mark.parametrize(
    ("invite", "session", "expected"),
    [
        (INVITE, SESSION, None),
        (None, SESSION, C.LINK_INVALID),
        (INVITE, None, C.LINK_INVALID),
        (replace(INVITE, used_at=NOW - 1), SESSION, C.LINK_USED),
        (replace(INVITE, expires_at=NOW), SESSION, C.LINK_INVALID),
        (INVITE, replace(SESSION, ended_at=NOW - 1), C.LINK_INVALID),
    ],
)
def test_check_host_invite(
    invite: HostInviteRecord | None, session: SessionRecord | None, expected: ErrorCode | None
) -> None:
    assert check_host_invite(invite, session, NOW) is expected


def test_session_expired() -> None:
    assert not session_expired(SESSION, MAX, NOW)
    assert session_expired(SESSION, 60, NOW)


def test_device_hash() -> None:
    assert device_hash("abc") == hashlib.sha256(b"abc").hexdigest()
    assert device_hash(None) is None
    assert device_hash("") is None


def test_usable_token() -> None:
    assert usable_token("abc")
    assert not usable_token("")
    assert not usable_token("x" * 201)


@pytest.mark.parametrize(
    ("public", "socket", "base"),
    [
        ("", "ws://127.0.0.1:8000/ws", "http://127.0.0.1:8000"),
        ("", "wss://localhost/ws", "https://localhost"),
        ("", "ws://[::1]:8000/ws", "http://[::1]:8000"),
        ("https://cb.example.com/", "ws://10.0.0.5:8000/ws", "https://cb.example.com"),
    ],
)
def test_public_base(public: str, socket: str, base: str) -> None:
    assert public_base(public, socket) == base
    assert join_url(base, "T0K") == f"{base}/join/T0K"


@pytest.mark.parametrize(
    ("origin", "host", "public", "same"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", "", True),
        ("http://localhost", "localhost", "", True),
        ("http://localhost:80", "localhost", "", True),
        ("https://example.com", "example.com", "", True),
        ("https://example.com", "example.com:443", "", True),
        ("http://[::1]:8000", "[::1]:8000", "", True),
        ("http://127.0.0.1:8001", "127.0.0.1:8000", "", False),
        ("http://localhost:8000", "127.0.0.1:8000", "", False),
        ("https://example.com", "example.com:8443", "", False),
        ("null", "example.com", "", False),
        ("", "example.com", "", False),
        ("file://", "example.com", "", False),
        ("http://example.com:x", "example.com", "", False),
        ("http://example.com", "", "", False),
        ("https://cb.example.com", "backend:8000", "https://cb.example.com", True),
        ("http://cb.example.com", "backend:8000", "https://cb.example.com", False),
        ("https://evil.example", "backend:8000", "https://cb.example.com", False),
    ],
)
def test_same_origin(origin: str, host: str, public: str, same: bool) -> None:
    assert same_origin(origin, host, public) is same
