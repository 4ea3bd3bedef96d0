"""The key every per-client limit counts under: one client, whatever address it takes.

An IPv4 address is its own key; an IPv6 host holds a whole prefix (a /64 by default:
``CWMN_CLIENT_IPV6_PREFIX``), so its key is that network; an IPv4-mapped IPv6 address is
the IPv4 one. Anything else (no address, a test client's name) is kept as it is.
"""

from __future__ import annotations

import ipaddress

__all__ = ["DEFAULT_IPV6_PREFIX", "client_key", "forwarded_ignored"]

DEFAULT_IPV6_PREFIX = 64


def client_key(address: str, ipv6_prefix: int = DEFAULT_IPV6_PREFIX) -> str:
    """The per-client key of ``address`` (see the module)."""
    bare = address.strip().strip("[]").split("%", 1)[0]  # a zone (fe80::1%eth0) is local
    try:
        ip = ipaddress.ip_address(bare)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip)
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    prefix = min(max(ipv6_prefix, 1), 128)
    return str(ipaddress.IPv6Network((ip, prefix), strict=False))


def forwarded_ignored(forwarded_for: str, address: str) -> bool:
    """Whether a request's ``X-Forwarded-For`` was not applied to its client ``address``:
    a proxy (or load balancer) not in ``CWMN_TRUSTED_PROXIES`` sent it, so every client
    behind it shares one address (uvicorn, for a trusted one, makes the address the
    header's last entry)."""
    if not forwarded_for.strip():
        return False
    last = forwarded_for.rsplit(",", 1)[-1].strip()
    return client_key(last) != client_key(address)
