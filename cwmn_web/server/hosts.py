"""Which ``Host`` this server answers to, and the base URL of the links it builds.

Links in emails, texts and answers come only from ``CWMN_PUBLIC_URL``. Without it the
server is in *development*: it answers only requests addressed to a loopback name
(``localhost``, ``*.localhost``, ``127.0.0.0/8``, ``::1``: what ``make run`` and the
tests use) and builds links from that name. A request with any other ``Host`` (a forged
one, or DNS rebinding) is refused before it reaches a route (:class:`TrustedHosts`), and
:func:`~.links.public_base` refuses (``public_url_required``) to build a link from a host it cannot
trust, so a forged ``Host`` never reaches an email. ``CWMN_ALLOWED_HOSTS`` adds names;
``*`` turns the check off. ``GET /healthz`` (ok and the build id, nothing else) answers
whatever the ``Host``: a load balancer probes by address. Refused names are logged, at most
once a minute each.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "HEALTH_PATH",
    "RefusalLog",
    "TrustedHosts",
    "allowed_hosts",
    "host_allowed",
    "hostname_of_host",
    "is_loopback",
]

#: The WebSocket close code of a refused host (before the handshake: an HTTP 403).
CLOSE_POLICY = 1008
#: The health check's path, answered whatever the ``Host`` (it tells only the build id).
HEALTH_PATH = "/healthz"
logger = logging.getLogger(__name__)


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


class RefusalLog:
    """Which refused host names to log: each at most once per ``interval`` seconds, and at
    most ``names`` of them remembered (a flood of made-up names logs no more than that per
    interval). No I/O: the caller passes ``now``."""

    def __init__(self, interval: float = 60.0, names: int = 256) -> None:
        self.interval, self.names = interval, names
        self._last: dict[str, float] = {}

    def due(self, name: str, now: float) -> bool:
        """Log ``name`` now? (Counted as logged if so.)"""
        last = self._last.get(name)
        if last is not None and now - last < self.interval:
            return False
        if last is None and len(self._last) >= self.names:
            self._last = {n: t for n, t in self._last.items() if now - t < self.interval}
            if len(self._last) >= self.names:
                return False
        self._last[name] = now
        return True


class TrustedHosts:
    """ASGI middleware: requests with a ``Host`` this server does not answer get 400 (a
    WebSocket is refused before its handshake), except ``GET /healthz``; refused names are
    logged (:class:`RefusalLog`)."""

    def __init__(
        self,
        app: ASGIApp,
        public_url: str,
        extra: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.allowed = allowed_hosts(public_url, extra)
        self.development = not public_url
        self.public = public_url
        self.clock = clock
        self.log = RefusalLog()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host", "")
        health = scope["type"] == "http" and scope["path"] == HEALTH_PATH
        if health or host_allowed(host, self.allowed, self.development):
            await self.app(scope, receive, send)
            return
        name = hostname_of_host(host).lower() or host[:100]
        if self.log.due(name, self.clock()):
            logger.warning(
                "refused a request for host %r: not %s; add it to CWMN_ALLOWED_HOSTS if it is "
                "this server's (logged once a minute per name)",
                name,
                f"CWMN_PUBLIC_URL's ({self.public})" if self.public else "a loopback name",
            )
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": CLOSE_POLICY})
            return
        answer = (
            f"This server answers only to {self.public} (CWMN_PUBLIC_URL) and the names in "
            "CWMN_ALLOWED_HOSTS: use that address, or add this one to CWMN_ALLOWED_HOSTS."
            if self.public
            else "This server has no public URL (CWMN_PUBLIC_URL) and answers only to "
            "localhost: set CWMN_PUBLIC_URL to the address people use (its links are built "
            "from it), or add this name to CWMN_ALLOWED_HOSTS."
        )
        await PlainTextResponse(answer, status_code=400)(scope, receive, send)
