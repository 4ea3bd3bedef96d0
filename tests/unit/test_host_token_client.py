"""cwmn_web.client.host_token and the host core's sockets: each hello carries the page's
host token, fetched from data-host-token-url (again when it nears expiry); a failed fetch
is ``host_token_required``."""

from __future__ import annotations

import jwt

from cwmn_web.client.host_token import REFRESH_MARGIN, HostTokens, expires_at
from cwmn_web.client.sockets import ServerSocket, Sockets
from cwmn_web.errors import CwmnError
from cwmn_web.protocol.messages import Hello

WALL = 1_800_000_000.0
URL = "/cwmn-token"


def token(exp: float) -> str:
    return jwt.encode({"exp": exp, "aud": "shop"}, "k" * 32, algorithm="HS256")


class Page:
    """The page side: fetches asked for, and the clock."""

    def __init__(self) -> None:
        self.wall = WALL
        self.fetches: list[str] = []


def sockets(page: Page, static: str = "", url: str = "") -> tuple[Sockets, HostTokens]:
    tokens = HostTokens(static, url, lambda: page.wall, page.fetches.append)
    return Sockets("ws://cwmn.test/ws", "http://shop.test/", lambda: 0.0, tokens), tokens


def connect(socks: Sockets) -> list[ServerSocket | CwmnError]:
    outcomes: list[ServerSocket | CwmnError] = []
    socket = socks.open(outcomes.append)
    socks.opens()
    socks.connected(socket.name)
    return outcomes


def hellos(socks: Sockets) -> list[str]:
    return [m.host_token for _, m in socks.to_send() if isinstance(m, Hello)]


def test_without_a_token_the_hello_carries_none() -> None:
    socks, _ = sockets(Page())
    connect(socks)
    assert hellos(socks) == [""]


def test_the_pages_token_goes_in_the_hello_not_the_url() -> None:
    socks, _ = sockets(Page(), static="tok.en.x")
    connect(socks)
    assert hellos(socks) == ["tok.en.x"]
    assert "tok" not in socks.url


def test_a_token_url_is_fetched_before_the_hello_and_again_near_expiry() -> None:
    page = Page()
    socks, tokens = sockets(page, url=URL)
    connect(socks)
    assert (page.fetches, hellos(socks)) == ([URL], [])  # the hello waits for the token
    first = token(WALL + 600)
    tokens.fetched(first)
    assert hellos(socks) == [first]
    connect(socks)  # a reconnect with a fresh token: no fetch
    assert (page.fetches, hellos(socks)) == ([URL], [first])
    page.wall = WALL + 600 - REFRESH_MARGIN + 1  # about to expire: fetched again
    connect(socks)
    assert page.fetches == [URL, URL]
    second = token(WALL + 1200)
    tokens.fetched(second)
    assert hellos(socks) == [second]


def test_a_failed_fetch_is_host_token_required() -> None:
    socks, tokens = sockets(Page(), url=URL)
    outcomes = connect(socks)
    tokens.fetched(None, "it answered HTTP 401")
    (error,) = outcomes
    assert isinstance(error, CwmnError) and error.code == "host_token_required"
    assert "HTTP 401" in error.message and URL in error.message
    assert hellos(socks) == []


def test_expires_at_reads_exp_without_trusting_it() -> None:
    assert expires_at(token(WALL)) == WALL
    assert expires_at("not a token") is None
    assert expires_at("a.!!!.b") is None
