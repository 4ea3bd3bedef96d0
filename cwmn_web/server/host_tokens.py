"""Host tokens: a short-lived JWT the customer's backend signs so that a site can trust
who hosts (docs/HOST_TOKENS.md). No I/O here: the keys and the time are given.

A token is HS256 only (the algorithm is pinned: ``none`` and every other algorithm are
refused), names its key in the ``kid`` header (a site holds several keys while it rotates),
has ``aud`` = the site's name, ``iat`` and ``exp`` (at most ``max_lifetime`` apart), and may
carry the host's identity: ``sub``, ``name``, ``email``.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from ..errors import CwmnError, ErrorCode

__all__ = [
    "ALGORITHM",
    "MAX_TOKEN_CHARS",
    "MIN_SECRET_CHARS",
    "HostIdentity",
    "check_secret",
    "new_secret",
    "token_error",
    "verify_host_token",
]

ALGORITHM = "HS256"
MAX_TOKEN_CHARS = 4096
#: A secret shorter than this is refused: HS256 wants at least 256 bits of key.
MIN_SECRET_CHARS = 32
_MAX = {"sub": 256, "name": 200, "email": 254}


@dataclass(frozen=True)
class HostIdentity:
    """Who the site's backend says hosts (any part may be empty)."""

    subject: str = ""
    name: str = ""
    email: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"sub": self.subject, "name": self.name, "email": self.email}


def token_error(code: ErrorCode, why: str) -> CwmnError:
    """The error a refused host hears: ``why``, then what the integrator should fix."""
    return CwmnError(f"{why} (this site requires a host token: see docs/HOST_TOKENS.md)", code)


def new_secret() -> str:
    """A fresh site secret (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def check_secret(secret: str) -> str:
    """``secret`` if it is long enough to sign host tokens; else ValueError."""
    if len(secret) < MIN_SECRET_CHARS:
        raise ValueError(f"a host-token secret needs at least {MIN_SECRET_CHARS} characters")
    return secret


def verify_host_token(
    token: str,
    keys: Mapping[str, str],
    audience: str,
    now: float,
    *,
    max_lifetime: float,
    leeway: float,
) -> HostIdentity:
    """The identity ``token`` vouches for, checked against the site's ``keys`` (key id →
    secret) at ``now``; raise ``host_token_required``, ``host_token_invalid`` or
    ``host_token_expired``."""
    invalid = ErrorCode.HOST_TOKEN_INVALID
    if not token:
        raise token_error(
            ErrorCode.HOST_TOKEN_REQUIRED,
            "no host token: give cwmn.js data-host-token or data-host-token-url",
        )
    if len(token) > MAX_TOKEN_CHARS:
        raise token_error(invalid, f"the host token is longer than {MAX_TOKEN_CHARS} characters")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise token_error(invalid, "the host token is not a JWT") from None
    if header.get("alg") != ALGORITHM:
        raise token_error(invalid, f"the host token must be signed with {ALGORITHM}")
    kid = header.get("kid")
    if not isinstance(kid, str) or kid not in keys:
        raise token_error(invalid, f"the host token's key id (kid) {kid!r} is not this site's")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            keys[kid],
            algorithms=[ALGORITHM],
            audience=audience,
            options={
                "require": ["exp", "iat", "aud"],
                "verify_exp": False,  # checked below against the given time
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.InvalidAudienceError:
        why = f"the host token's aud must be the site's name {audience!r}"
        raise token_error(invalid, why) from None
    except jwt.InvalidSignatureError:
        raise token_error(invalid, "the host token's signature does not match its key") from None
    except jwt.InvalidTokenError as exc:
        raise token_error(invalid, f"the host token is not valid: {exc}") from None
    return _check_times(claims, now, max_lifetime, leeway)


def _check_times(
    claims: dict[str, Any], now: float, max_lifetime: float, leeway: float
) -> HostIdentity:
    invalid = ErrorCode.HOST_TOKEN_INVALID
    times = {key: claims.get(key) for key in ("exp", "iat", "nbf")}
    for key, value in times.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise token_error(invalid, f"the host token's {key} must be a number of seconds")
        if value is not None and not _finite(value):  # NaN compares false: no expiry
            raise token_error(invalid, f"the host token's {key} must be a finite number")
    exp, iat, nbf = float(claims["exp"]), float(claims["iat"]), times["nbf"]
    if exp - iat > max_lifetime:
        raise token_error(
            invalid, f"the host token lives {exp - iat:g} s; at most {max_lifetime:g} s"
        )
    if exp <= now - leeway:
        raise token_error(
            ErrorCode.HOST_TOKEN_EXPIRED, "the host token has expired: fetch a fresh one"
        )
    if iat > now + leeway or (nbf is not None and float(nbf) > now + leeway):
        raise token_error(invalid, "the host token is not valid yet (check the backend's clock)")
    parts = {}
    for key, limit in _MAX.items():
        value = claims.get(key, "")
        if not isinstance(value, str) or len(value) > limit:
            raise token_error(invalid, f"the host token's {key} must be text of ≤ {limit} chars")
        parts[key] = value.strip()
    return HostIdentity(parts["sub"], parts["name"], parts["email"])


def _finite(value: float) -> bool:
    """Whether ``value`` is a finite float (an int too large for one is not)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False
