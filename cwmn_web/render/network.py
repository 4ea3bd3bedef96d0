"""What the render page may load: the recorded page's images, stylesheets and fonts come from
the worker's network, so each request is checked first (no server-side request forgery).

A request is refused when its scheme is not http, https, data or blob, or (unless
``CWMN_RENDER_PRIVATE_NETWORK=allow``) when its host resolves to any loopback, private,
link-local, multicast, reserved or unspecified address (cloud metadata at 169.254.169.254,
the worker's own services, the intranet), an IPv4-mapped or 6to4 (``2002::/16``) address
carrying such an IPv4 address, any Teredo (``2001::/32``), NAT64 (``64:ff9b::/96``,
``64:ff9b:1::/48``) or IPv4-compatible/-translated address (tunnels the render has no use
for), or a host the browser reads as a number (``2130706433``,
``0x7f.1``, ``0177.0.0.1``: an IPv4 address, checked as one). The origins of
``CWMN_RENDER_ALLOW_ORIGINS`` (and of ``CWMN_PUBLIC_URL``: the server the worker renders for)
may be private: named explicitly, they pass.

The check is what is used: the worker, not Chromium, fetches every allowed http(s) request
(:func:`fetch_pinned`), connecting to the very addresses it checked (a name that resolves to
a public address when checked and a private one when fetched, DNS rebinding, gains
nothing), TLS verified for the URL's host name (SNI and certificate); redirects are not
followed by the fetch but checked hop by hop, and Chromium is handed the final response.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import ipaddress
import logging
import math
import os
import re
import socket
import ssl
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

__all__ = [
    "ALLOW_ORIGINS_ENV",
    "PRIVATE_NETWORK_ENV",
    "Fetched",
    "RequestGuard",
    "allowed_origins",
    "fetch_pinned",
    "is_public_address",
    "numeric_host",
    "private_network_allowed",
]

log = logging.getLogger("cwmn_web.render")

#: ``allow``: the render page may load from loopback and private addresses (the tests'
#: servers, where customer pages are served from 127.0.0.1 on any port).
PRIVATE_NETWORK_ENV = "CWMN_RENDER_PRIVATE_NETWORK"
#: Comma-separated origins (``http://127.0.0.1:8000``) the render page may load from even
#: though they are private: the server's own, where its demo pages live (``make run``).
ALLOW_ORIGINS_ENV = "CWMN_RENDER_ALLOW_ORIGINS"
SCHEMES = frozenset({"http", "https", "data", "blob"})
NETWORK_SCHEMES = frozenset({"http", "https"})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
FETCH_TIMEOUT = 20.0  # seconds for one hop (connect, and each read)
#: After the last answer, how long the recorded page is still taken to be changing (it
#: applies a stylesheet or decodes an image in its next frames).
APPLY_SECONDS = 0.3
#: The largest resource the render page is given (an image, a stylesheet, a font).
MAX_RESOURCE_BYTES = 32 * 1024 * 1024
#: Request headers passed on to the page's servers (no cookies: the worker has none).
FORWARDED = ("accept", "accept-language", "user-agent", "referer", "origin", "range")
#: Response headers not passed back (the connection's own, or undone here).
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length",
     "set-cookie", "proxy-authenticate", "trailer", "upgrade"}
)  # fmt: skip
#: NAT64 prefixes: the IPv4 address is the last 32 bits.
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
#: IPv4-compatible (``::a.b.c.d``, deprecated) and IPv4-translated (``::ffff:0:a.b.c.d``).
_EMBEDDING = (ipaddress.ip_network("::/96"), ipaddress.ip_network("::ffff:0:0:0/96"))

Resolver = Callable[[str], Awaitable[list[str]]]
Connector = Callable[[str, int, float], socket.socket]
#: A URL's host[:port] as a page's own requests have it (ASCII, no userinfo, no escapes).
_PLAIN_NETLOC = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
_NUMBER = re.compile(r"(?:0[xX][0-9A-Fa-f]*|[0-9]+)")


def private_network_allowed() -> bool:
    return os.environ.get(PRIVATE_NETWORK_ENV, "").strip().lower() == "allow"


def _origin(url: str) -> str | None:
    """``scheme://host:port`` of an http(s) URL (default port written out), else None."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        return None
    if parts.scheme.lower() not in NETWORK_SCHEMES or not parts.hostname or port is None:
        return None
    host = parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme.lower()}://{host}:{port}"


def allowed_origins() -> frozenset[str]:
    """The origins that may be private: ``CWMN_RENDER_ALLOW_ORIGINS`` and ``CWMN_PUBLIC_URL``."""
    named = os.environ.get(ALLOW_ORIGINS_ENV, "").split(",")
    named.append(os.environ.get("CWMN_PUBLIC_URL", ""))
    return frozenset(o for o in map(_origin, named) if o)


def numeric_host(host: str) -> str | None:
    """The IPv4 address a browser reads in ``host`` when its last label is a number
    (``2130706433``, ``0x7f.1``, ``0177.0.0.1``: 127.0.0.1, the WHATWG URL rules); ``""``
    when it is such a host but no valid address; None when it is a name."""
    labels = host.rstrip(".").split(".") if host and ":" not in host else []
    if not labels or not _NUMBER.fullmatch(labels[-1]):
        return None
    numbers: list[int] = []
    for label in labels:
        if not _NUMBER.fullmatch(label):
            return ""
        if label[:2].lower() == "0x":
            numbers.append(int(label[2:] or "0", 16))
        elif len(label) > 1 and label.startswith("0"):
            if not set(label) <= set("01234567"):
                return ""
            numbers.append(int(label, 8))
        else:
            numbers.append(int(label))
    if len(numbers) > 4 or any(n > 255 for n in numbers[:-1]):
        return ""
    if numbers[-1] >= 256 ** (5 - len(numbers)):
        return ""
    value = numbers[-1]
    for i, n in enumerate(numbers[:-1]):
        value += n << (8 * (3 - i))
    return str(ipaddress.IPv4Address(value))


def _embedded(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, 6to4, Teredo, NAT64)."""
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if any(ip in net for net in (*_NAT64, *_EMBEDDING)):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def is_public_address(address: str) -> bool:
    """Whether ``address`` (an IP literal) is a public unicast address, and so is any IPv4
    address it carries; False if unparsable."""
    try:
        # Only an IPv6 address has a zone (fe80::1%eth0); "%" anywhere else is not an address.
        bare = address.split("%", 1)[0] if ":" in address else address
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(bare)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded(ip)
        if ip.ipv4_mapped is not None:
            return _public(ip.ipv4_mapped)  # ::ffff:93.184.215.14 is that address
        if inner:
            # A tunnel to an IPv4 address: refused (Teredo, NAT64, compatible) unless it is
            # 6to4 to a public one.
            return ip.sixtofour is not None and all(_public(v4) for v4 in inner)
    return _public(ip)


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
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


def open_connection(address: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to ``address`` (an IP literal), nothing resolved."""
    return socket.create_connection((address, port), timeout=timeout)


@dataclass(frozen=True)
class Fetched:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name), None)


class _Pinned(http.client.HTTPSConnection):
    """An HTTP(S) connection to ``host`` that connects to ``addresses`` (already checked),
    TLS verified for ``host``."""

    def __init__(
        self, host: str, port: int, addresses: list[str], tls: ssl.SSLContext | None,
        timeout: float, connect: Connector,
    ) -> None:  # fmt: skip
        self.default_port = 443 if tls is not None else 80  # Host names a port only if other
        super().__init__(host, port, timeout=timeout, context=tls)
        self.addresses, self.tls, self.opener = addresses, tls, connect

    def connect(self) -> None:
        error: OSError | None = None
        for address in self.addresses:
            try:
                sock = self.opener(address, self.port, self.timeout or FETCH_TIMEOUT)
                break
            except OSError as exc:
                error = exc
        else:
            raise error or OSError("no address to connect to")
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_hostname=self.host)
        self.sock = sock


def fetch_pinned(
    url: str,
    addresses: list[str],
    headers: dict[str, str],
    *,
    timeout: float = FETCH_TIMEOUT,
    max_bytes: int = MAX_RESOURCE_BYTES,
    connect: Connector = open_connection,
    tls: ssl.SSLContext | None = None,
) -> Fetched:
    """GET ``url`` from one of ``addresses`` (the checked ones: nothing is resolved here),
    without following redirects; OSError (or ValueError past ``max_bytes``) on failure.
    An https URL's certificate is verified for its host name (``tls``: the context, by
    default the system's trusted authorities), which is also the SNI sent."""
    parts = urlsplit(url)
    https = parts.scheme.lower() == "https"
    context = (tls or ssl.create_default_context()) if https else None
    port = parts.port or (443 if https else 80)
    host = parts.hostname or ""
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn = _Pinned(host, port, addresses, context, timeout, connect)
    try:
        sent = {k: v for k, v in headers.items() if k.lower() in FORWARDED}
        conn.request("GET", path, headers={**sent, "Accept-Encoding": "gzip, deflate"})
        response = conn.getresponse()
        body = response.read(max_bytes + 1)
        if len(body) > max_bytes:
            raise ValueError(f"larger than {max_bytes} bytes")
        encoding = (response.getheader("content-encoding") or "").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            inflate = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib
            body = inflate.decompress(body, max_bytes + 1)
            if len(body) > max_bytes or inflate.unconsumed_tail:
                raise ValueError(f"larger than {max_bytes} bytes")
        elif encoding not in ("", "identity"):
            raise ValueError(f"an unknown content-encoding {encoding[:40]!r}")
        kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
        return Fetched(response.status, kept, body)
    finally:
        conn.close()


class RequestGuard:
    """Playwright route handler for the render page (one per render: it caches lookups).

    Requests to ``own_origin`` (the render page's server) pass untouched; the others are
    checked as the module says (``resolver``: how a host name becomes addresses, default
    :func:`resolve`; ``connect``: how a checked address is connected to), then fetched by
    the worker from the checked addresses. ``refused`` lists the URLs refused (for logs and
    tests). :attr:`loading` tells the renderer the recorded page is still receiving
    something (a stylesheet's ``@import``, a CSS background, a font, an SVG sprite: what the
    page itself cannot count).
    """

    def __init__(
        self,
        own_origin: str,
        *,
        allow_private: bool | None = None,
        resolver: Resolver | None = None,
        allow_origins: frozenset[str] | None = None,
        connect: Connector | None = None,
    ) -> None:
        self.own_prefix = own_origin.rstrip("/") + "/"
        self.allow_private = private_network_allowed() if allow_private is None else allow_private
        self.allow_origins = allowed_origins() if allow_origins is None else allow_origins
        self.resolver = resolver
        self.connect = connect
        self._hosts: dict[str, asyncio.Future[tuple[str | None, list[str]]]] = {}
        self.refused: list[str] = []
        self.in_flight = 0
        self._answered_at = -math.inf  # time.monotonic() when the last request was answered

    @property
    def loading(self) -> bool:
        """Whether a request of the recorded page is being answered, or was answered less than
        :data:`APPLY_SECONDS` ago (the page applies what it got in its next frames)."""
        return self.in_flight > 0 or time.monotonic() - self._answered_at < APPLY_SECONDS

    async def refusal(self, url: str) -> str | None:
        """Why ``url`` may not be loaded, or None when it may."""
        return (await self.check(url))[0]

    async def check(self, url: str) -> tuple[str | None, list[str]]:
        """Why ``url`` may not be loaded (None when it may) and, for an http(s) URL that may,
        the addresses to fetch it from (each checked)."""
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError:
            return "not a valid URL", []
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            return f"the {scheme or 'empty'} scheme is not allowed", []
        if scheme not in NETWORK_SCHEMES:
            return None, []
        if not host:
            return "no host", []
        if not _PLAIN_NETLOC.fullmatch(parts.netloc):
            # Python and the browser (or Playwright's driver, which follows the WHATWG URL
            # rules) read "\\", "@", "%" in a host differently: never guess which they mean.
            return f"an unusual host part ({parts.netloc[:80]!r})", []
        trusted = self.allow_private or _origin(url) in self.allow_origins
        key = f"{'+' if trusted else '-'}{host}"
        if key not in self._hosts:  # one lookup per host, shared by concurrent requests
            self._hosts[key] = asyncio.ensure_future(self._check_host(host, trusted))
        return await asyncio.shield(self._hosts[key])

    async def _check_host(self, host: str, trusted: bool) -> tuple[str | None, list[str]]:
        number = numeric_host(host)
        if number == "":
            return f"{host} is not a valid IPv4 address", []
        try:
            addresses = [str(ipaddress.ip_address(number or host))]
        except ValueError:
            try:
                addresses = await (self.resolver or resolve)(host)
            except (OSError, UnicodeError) as exc:
                return f"{host} does not resolve ({exc})", []
        if not addresses:
            return f"{host} does not resolve", []
        private = [a for a in addresses if not is_public_address(a)]
        if private and not trusted:
            return f"{host} resolves to a non-public address ({private[0]})", []
        return None, addresses

    async def __call__(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(self.own_prefix):  # the render page's own files: not counted
            await self._answer(route, url)
            return
        self.in_flight += 1
        try:
            await self._answer(route, url)
        finally:
            self.in_flight -= 1
            self._answered_at = time.monotonic()

    async def _answer(self, route: Any, url: str) -> None:
        try:
            if url.startswith(self.own_prefix):
                await route.continue_()
                return
            reason, addresses = await self.check(url)
            if reason is not None:
                await self._refuse(route, url, reason)
            elif urlsplit(url).scheme.lower() not in NETWORK_SCHEMES:
                await route.continue_()
            elif route.request.method not in ("GET", "HEAD"):
                await self._refuse(route, url, f"a {route.request.method} request")
            else:
                await self._fetch(route, url, addresses)
        except Exception as exc:  # the page closed meanwhile, or the fetch failed
            log.debug("render page request %s: %s", url, exc)
            with contextlib.suppress(Exception):  # already handled, or the page is gone
                await route.abort("failed")

    async def _refuse(self, route: Any, url: str, reason: str) -> None:
        log.info("render page: refused %s: %s", url[:200], reason)
        self.refused.append(url)
        await route.abort("blockedbyclient")

    async def _fetch(self, route: Any, url: str, addresses: list[str]) -> None:
        """Fetch ``url`` from its checked ``addresses``, each redirect's target checked the
        same way; fulfil with the end."""
        target, headers = url, dict(route.request.headers)
        connect = self.connect or open_connection
        for _ in range(MAX_REDIRECTS + 1):
            response = await asyncio.to_thread(
                fetch_pinned, target, addresses, headers, connect=connect
            )
            location = response.header("location")
            if response.status not in REDIRECTS or not location:
                await route.fulfill(
                    status=response.status, headers=dict(response.headers), body=response.body
                )
                return
            target = urljoin(target, location)
            reason, addresses = await self.check(target)
            if reason is None and urlsplit(target).scheme.lower() not in NETWORK_SCHEMES:
                reason = "not an http(s) URL"
            if reason is not None:
                await self._refuse(route, target, f"redirected from {url[:200]}: {reason}")
                return
        await self._refuse(route, url, f"more than {MAX_REDIRECTS} redirects")
