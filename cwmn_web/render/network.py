"""What the render page may load: the recorded page's images, stylesheets and fonts come from
the worker's network, so each request is checked first (no server-side request forgery).

A request is refused when its scheme is not http, https, data or blob, or (unless
``CWMN_RENDER_PRIVATE_NETWORK=allow``) when its host resolves to any loopback, private,
link-local, multicast, reserved or unspecified address (cloud metadata at 169.254.169.254,
the worker's own services, the intranet). Chromium does not let a route see the hops of a
redirect, so with the block on the renderer fetches each allowed request itself without
following redirects, checks every ``Location`` the same way and hands Chromium the final
response.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import re
import socket
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

__all__ = [
    "PRIVATE_NETWORK_ENV",
    "RequestGuard",
    "is_public_address",
    "private_network_allowed",
]

log = logging.getLogger("cwmn_web.render")

#: ``allow``: the render page may load from loopback and private addresses (a developer's
#: machine and tests, where customer pages are served from 127.0.0.1).
PRIVATE_NETWORK_ENV = "CWMN_RENDER_PRIVATE_NETWORK"
SCHEMES = frozenset({"http", "https", "data", "blob"})
NETWORK_SCHEMES = frozenset({"http", "https"})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
FETCH_TIMEOUT_MS = 20_000

Resolver = Callable[[str], Awaitable[list[str]]]
#: A URL's host[:port] as a page's own requests have it (ASCII, no userinfo, no escapes).
_PLAIN_NETLOC = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def private_network_allowed() -> bool:
    return os.environ.get(PRIVATE_NETWORK_ENV, "").strip().lower() == "allow"


def is_public_address(address: str) -> bool:
    """Whether ``address`` (an IP literal) is a public unicast address; False if unparsable."""
    try:
        # Only an IPv6 address has a zone (fe80::1%eth0); "%" anywhere else is not an address.
        bare = address.split("%", 1)[0] if ":" in address else address
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(bare)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return ip.is_global and not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


async def resolve(host: str) -> list[str]:
    """Every address ``host`` resolves to (getaddrinfo, in a thread)."""
    infos = await asyncio.to_thread(socket.getaddrinfo, host, None, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class RequestGuard:
    """Playwright route handler for the render page (one per render: it caches lookups).

    Requests to ``own_origin`` (the render page's server) pass untouched; the others are
    checked as the module says (``resolver``: how a host name becomes addresses, default
    :func:`resolve`). ``refused`` lists the URLs refused (for logs and tests).
    """

    def __init__(
        self,
        own_origin: str,
        *,
        allow_private: bool | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.own_prefix = own_origin.rstrip("/") + "/"
        self.allow_private = private_network_allowed() if allow_private is None else allow_private
        self.resolver = resolver
        self._hosts: dict[str, asyncio.Future[str | None]] = {}
        self.refused: list[str] = []

    async def refusal(self, url: str) -> str | None:
        """Why ``url`` may not be loaded, or None when it may."""
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError:
            return "not a valid URL"
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            return f"the {scheme or 'empty'} scheme is not allowed"
        if scheme not in NETWORK_SCHEMES or self.allow_private:
            return None
        if not host:
            return "no host"
        if not _PLAIN_NETLOC.fullmatch(parts.netloc):
            # Python and the browser (or Playwright's driver, which follows the WHATWG URL
            # rules) read "\\", "@", "%" in a host differently: never guess which they mean.
            return f"an unusual host part ({parts.netloc[:80]!r})"
        if host not in self._hosts:  # one lookup per host, shared by concurrent requests
            self._hosts[host] = asyncio.ensure_future(self._check_host(host))
        return await asyncio.shield(self._hosts[host])

    async def _check_host(self, host: str) -> str | None:
        try:
            ipaddress.ip_address(host)
            addresses = [host]
        except ValueError:
            try:
                addresses = await (self.resolver or resolve)(host)
            except (OSError, UnicodeError) as exc:
                return f"{host} does not resolve ({exc})"
        if not addresses:
            return f"{host} does not resolve"
        private = [a for a in addresses if not is_public_address(a)]
        if private:
            return f"{host} resolves to a non-public address ({private[0]})"
        return None

    async def __call__(self, route: Any) -> None:
        url = route.request.url
        try:
            if url.startswith(self.own_prefix):
                await route.continue_()
                return
            reason = await self.refusal(url)
            if reason is not None:
                await self._refuse(route, url, reason)
            elif self.allow_private or urlsplit(url).scheme.lower() not in NETWORK_SCHEMES:
                await route.continue_()
            else:
                await self._fetch(route, url)
        except Exception as exc:  # the page closed meanwhile, or the fetch failed
            log.debug("render page request %s: %s", url, exc)
            with contextlib.suppress(Exception):  # already handled, or the page is gone
                await route.abort("failed")

    async def _refuse(self, route: Any, url: str, reason: str) -> None:
        log.info("render page: refused %s: %s", url[:200], reason)
        self.refused.append(url)
        await route.abort("blockedbyclient")

    async def _fetch(self, route: Any, url: str) -> None:
        """Fetch ``url`` without following redirects, checking every hop; fulfil with the end."""
        target = url
        for _ in range(MAX_REDIRECTS + 1):
            response = await route.fetch(url=target, max_redirects=0, timeout=FETCH_TIMEOUT_MS)
            location = response.headers.get("location")
            if response.status not in REDIRECTS or not location:
                await route.fulfill(response=response)
                return
            target = urljoin(target, location)
            reason = await self.refusal(target)
            if reason is not None:
                await self._refuse(route, target, f"redirected from {url[:200]}: {reason}")
                return
        await self._refuse(route, url, f"more than {MAX_REDIRECTS} redirects")
