"""Which site a page's domain belongs to, and what that site offers. No I/O here."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..protocol.messages import DEFAULT_REPLAY_MAX_SECONDS

__all__ = [
    "DEFAULT_SETTINGS",
    "Site",
    "answer_domain_info",
    "domain_matches",
    "hostname_of",
    "normalise_domain",
    "same_origin",
]

DEFAULT_SETTINGS: dict[str, Any] = {
    "maxGuests": 10,
    "defaultRegion": "US",
    "maskSelectors": ["[data-cwmn-mask]", ".cwmn-mask"],
    "blockSelectors": ["[data-cwmn-block]"],
    "replayMaxSeconds": DEFAULT_REPLAY_MAX_SECONDS,
}
FEATURES: dict[str, bool] = {
    "realtime": True,
    "replay": True,
    "emailInvites": True,
    "smsInvites": True,
    "publicLink": True,
    "privateLink": True,
}


@dataclass(frozen=True)
class Site:
    id: int
    name: str
    domains: tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    host_tokens: bool = False
    """Hosts must present a token signed by the site's backend (docs/HOST_TOKENS.md)."""

    def info(self, domain: str) -> dict[str, Any]:
        """The ``getDomainInfo()`` answer for a page on ``domain`` of this site."""
        return {
            "domain": domain,
            "authorized": True,
            "site": {"id": self.id, "name": self.name},
            "features": dict(FEATURES),
            "settings": {**DEFAULT_SETTINGS, **self.settings},
        }


def answer_domain_info(site: Site | None, hostname: str) -> dict[str, Any]:
    """What ``/api/domain-info`` answers a page on ``hostname`` (``site``: the site that has
    that domain, if any)."""
    if site is not None:
        return site.info(hostname)
    return {"domain": hostname, "authorized": False, "site": None, "features": {}, "settings": {}}


_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_NUMERIC = re.compile(r"[\d.]+")


def normalise_domain(domain: str) -> str:
    """The form a browser's Origin gives (what :func:`hostname_of` compares with): lower
    case, no trailing dot, Unicode labels in punycode (``bücher.example`` →
    ``xn--bcher-kva.example``); ``*.example.com`` keeps its wildcard. Refuses what could
    never match a page: URLs, ports, bad labels, and a bare top-level domain (``com``,
    ``*.com``), which would admit every site under it; ``localhost`` and IP addresses are
    names of their own."""
    value = domain.strip().lower().rstrip(".")
    if value.startswith("[") and value.endswith("]") and ":" in value:
        return value[1:-1]  # an IPv6 literal, bare as hostname_of() gives it
    if not value or any(c in value for c in "/: []"):
        raise ValueError(f"{domain!r} is not a domain name (no scheme, port or path)")
    wildcard = value.startswith("*.")
    name = value[2:] if wildcard else value
    if value == "localhost":
        return value
    if not wildcard and _NUMERIC.fullmatch(value):
        try:
            return str(ipaddress.IPv4Address(value))
        except ValueError:
            raise ValueError(f"{domain!r} is not an IP address") from None
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"{domain!r} is not a domain name ({exc})") from None
    labels = name.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels) or len(name) > 253:
        raise ValueError(
            f"{domain!r} is not a domain name (labels of letters, digits and inner hyphens,"
            " at most 63 characters each; a wildcard only as '*.' in front)"
        )
    if labels[-1].isdigit():
        raise ValueError(f"{domain!r} is not a domain name (a top-level domain has letters)")
    if len(labels) < 2:
        raise ValueError(
            f"{domain!r} is a top-level domain: name the site's own domain (e.g. example.com"
            " or *.example.com)"
        )
    return f"*.{name}" if wildcard else name


def hostname_of(origin: str) -> str:
    """``https://shop.example.com:8443`` → ``shop.example.com``."""
    return (urlsplit(origin).hostname or "").lower()


def same_origin(origin: str, host: str, public_url: str = "") -> bool:
    """Is ``origin`` (a browser's Origin header) this server, reached as ``host`` (the Host
    header) or, behind a proxy, as ``public_url``? Compares host names and ports; a port left
    out means the default port of the Origin's scheme."""
    try:
        seen = urlsplit(origin)
        if seen.scheme not in ("http", "https") or not seen.hostname:
            return False
        default = 443 if seen.scheme == "https" else 80
        want = (seen.hostname, seen.port or default)
        served = urlsplit("//" + host)
        if (served.hostname, served.port or default) == want:
            return True
        public = urlsplit(public_url)
        return bool(public_url) and (public.scheme, public.hostname, public.port or default) == (
            seen.scheme,
            *want,
        )
    except ValueError:  # a port that is not a number
        return False


def domain_matches(pattern: str, hostname: str) -> bool:
    """Exact match, or ``*.example.com`` for any sub-domain of example.com."""
    if pattern.startswith("*."):
        return hostname.endswith(pattern[1:])
    return hostname == pattern
