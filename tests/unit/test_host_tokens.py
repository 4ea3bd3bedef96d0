"""cwmn_web.server.host_tokens: tokens as an attacker would forge them are refused."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest

from cwmn_web.errors import CwmnError
from cwmn_web.server.host_tokens import HostIdentity, check_secret, verify_host_token

NOW = 1_800_000_000.0
SITE = "shop"
OLD, NEW = "k1" * 20, "k2" * 20
KEYS = {"old": OLD, "new": NEW}
CLAIMS = {"aud": SITE, "iat": NOW, "exp": NOW + 60}


def mint(secret: str = NEW, kid: str | None = "new", alg: str = "HS256", **claims: Any) -> str:
    body = {"aud": SITE, "iat": NOW - 10, "exp": NOW + 300, "sub": "u1", "name": "Ann"}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(body, secret, algorithm=alg, headers=headers)


def verify(token: str, keys: dict[str, str] = KEYS) -> HostIdentity:
    return verify_host_token(token, keys, SITE, NOW, max_lifetime=3600, leeway=30)


def refused(token: str, code: str, keys: dict[str, str] = KEYS) -> str:
    with pytest.raises(CwmnError) as caught:
        verify(token, keys)
    assert caught.value.code == code, caught.value
    return caught.value.message


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


def test_a_good_token_gives_the_hosts_identity() -> None:
    token = mint(email="ann@example.com")
    assert verify(token) == HostIdentity("u1", "Ann", "ann@example.com")


def test_both_keys_verify_while_rotating_and_a_removed_key_no_longer_does() -> None:
    assert verify(mint(OLD, "old")).subject == "u1"
    assert verify(mint(NEW, "new")).subject == "u1"
    refused(mint(OLD, "old"), "host_token_invalid", keys={"new": NEW})


def test_no_token_is_host_token_required() -> None:
    assert "data-host-token" in refused("", "host_token_required")


def test_an_expired_token_is_host_token_expired() -> None:
    refused(mint(iat=NOW - 400, exp=NOW - 31), "host_token_expired")
    assert verify(mint(iat=NOW - 400, exp=NOW - 29)).name == "Ann"  # within the leeway


@pytest.mark.parametrize(
    ("token", "why"),
    [
        (mint(OLD, "new"), "signature"),  # signed with another key than its kid names
        (mint("attacker-secret-" * 3, "new"), "signature"),
        (mint(kid="nope"), "key id"),
        (mint(kid=None), "key id"),
        (mint(aud="other-site"), "aud"),
        (mint(aud=None), "aud"),
        (mint(exp=None), "exp"),
        (mint(iat=None), "iat"),
        (mint(iat=NOW, exp=NOW + 7200), "at most 3600"),
        (mint(iat=NOW + 120, exp=NOW + 600), "not valid yet"),
        (mint(nbf=NOW + 120), "not valid yet"),
        (mint(exp="tomorrow"), "number"),
        (mint(name=["Ann"]), "name"),
        (mint(NEW + NEW, alg="HS512"), "HS256"),
        (
            unsigned({"alg": "none", "kid": "new"}, {"aud": SITE, "iat": NOW, "exp": NOW + 60}),
            "HS256",
        ),
        (
            unsigned({"alg": "HS256", "kid": "new"}, {"aud": SITE, "iat": NOW, "exp": NOW + 60}),
            "signature",
        ),
        ("not.a.jwt", "not a JWT"),
        ("x" * 5000, "longer"),
    ],
)
def test_forged_tokens_are_host_token_invalid(token: str, why: str) -> None:
    assert why in refused(token, "host_token_invalid")


def test_an_rs256_header_cannot_make_the_secret_a_public_key() -> None:
    header = {"alg": "RS256", "kid": "new"}
    token = unsigned(header, {"aud": SITE, "iat": NOW, "exp": NOW + 60})
    assert "HS256" in refused(token, "host_token_invalid")


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="32"):
        check_secret("short")


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": float("nan")},
        {"exp": float("inf")},
        {"iat": float("nan")},
        {"iat": float("nan"), "exp": float("nan")},
        {"nbf": float("nan")},
        {"nbf": float("-inf")},
        {"exp": 10**400},
    ],
)
def test_a_signed_token_whose_times_are_not_finite_is_refused(claims: dict[str, Any]) -> None:
    """``exp: NaN`` compares false with everything, so it would never expire."""
    token = mint(**claims)
    assert any(word in token_body(token) for word in ("NaN", "Infinity", "0" * 400))
    assert "finite" in refused(token, "host_token_invalid")


def token_body(token: str) -> str:
    body = token.split(".")[1]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
