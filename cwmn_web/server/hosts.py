"""Which ``Host`` this server answers to, and the base URL of the links it builds.

Links in emails, texts and answers come only from ``CWMN_PUBLIC_URL``. Without it the
server is in *development*: it answers only requests addressed to a loopback name
(``localhost``, ``*.localhost``, ``127.0.0.0/8``, ``::1``: what ``make run`` and the
tests use) and builds links from that name. A request with any other ``Host`` (a forged
one, or DNS rebinding) is refused before it reaches a route (:class:`TrustedHosts`), and
:func:`~.links.public_base` refuses (``public_url_required``) to build a link from a host it cannot
trust, so a forged ``Host`` never reaches an email. ``CWMN_ALLOWED_HOSTS`` adds names
(a proxy's health check, say); ``*`` turns the check off.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["TrustedHosts", "allowed_hosts", "host_allowed", "hostname_of_host", "is_loopback"]

#: The WebSocket close code of a refused host (before the handshake: an HTTP 403).
CLOSE_POLICY = 1008


def is_loopback(hostname: str) -> bool:
    """A name or address of this machine only: ``localhost``, ``*.localhost``, ``127.x``,
    ``::1`` (also as an IPv4-mapped IPv6 address)."""
    name = hostname.lower().rstrip(".").strip("[]")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def hostname_of_host(host: str) -> str:
    """The name in a ``Host`` header (no port; an IPv6 literal without brackets)."""
    try:
        return (urlsplit(f"//{host}").hostname or "").rstrip(".")
    except ValueError:
        return ""


def allowed_hosts(public_url: str, extra: str) -> frozenset[str]:
    """The host names answered besides loopback ones in development: the public URL's,
    and ``CWMN_ALLOWED_HOSTS`` (comma-separated; ``*``: any)."""
    names = {n.strip().lower().rstrip(".") for n in extra.split(",") if n.strip()}
    if public_url:
        names.add((urlsplit(public_url).hostname or "").lower())
    return frozenset(names - {""})


def host_allowed(host: str, allowed: Iterable[str], development: bool) -> bool:
    """Does this server answer a request with ``Host: host``?"""
    names = frozenset(allowed)
    if "*" in names:
        return True
    name = hostname_of_host(host).lower()
    return bool(name) and (name in names or (development and is_loopback(name)))


class TrustedHosts:
    """ASGI middleware: requests with a ``Host`` this server does not answer get 400 (a
    WebSocket is refused before its handshake)."""

    def __init__(self, app: ASGIApp, public_url: str, extra: str) -> None:
        self.app = app
        self.allowed = allowed_hosts(public_url, extra)
        self.development = not public_url
        self.public = public_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host", "")
        if host_allowed(host, self.allowed, self.development):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": CLOSE_POLICY})
            return
        answer = (
            f"This server answers only to {self.public}."
            if self.public
            else "This server has no public URL (CWMN_PUBLIC_URL) and answers only to localhost."
        )
        await PlainTextResponse(answer, status_code=400)(scope, receive, send)
