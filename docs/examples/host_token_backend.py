"""A customer's backend endpoint that mints CWMN host tokens (docs/HOST_TOKENS.md).

The page embeds ``<script src="https://CWMN/cwmn.js" data-host-token-url="/cwmn-token">``;
the embed fetches this endpoint (same origin, with the page's cookies) before it connects
and again when the token nears expiry. Only a signed-in user gets a token: the endpoint is
your own authorization of who may host.

Run the demo (any signed-in user is "demo"; get the key from ``cwmn-web site key-add``)::

    CWMN_SITE=shop CWMN_SITE_KID=2026-12 CWMN_SITE_KEY=... \
        python docs/examples/host_token_backend.py

The site's key is a secret of its own (``site key-add`` prints it), never the CWMN server's
``CWMN_SECRET``: the demo reads ``CWMN_SITE_KEY`` and refuses to start without it.

Needs PyJWT and Starlette (``pip install pyjwt starlette uvicorn``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

__all__ = ["ENV", "User", "mint_host_token", "site_key", "token_endpoint"]

#: Short-lived: the embed fetches a new one when it nears expiry (the server refuses
#: tokens living longer than CWMN_HOST_TOKEN_MAX_LIFETIME, 1 hour by default).
LIFETIME = 300
#: What the demo reads: the site's name, its key id and its key (from ``site key-add``).
ENV = ("CWMN_SITE", "CWMN_SITE_KID", "CWMN_SITE_KEY")


@dataclass(frozen=True)
class User:
    """Who is signed in to your site (what the token says about the host)."""

    id: str
    name: str
    email: str


def mint_host_token(
    site: str, kid: str, secret: str, user: User, lifetime: int = LIFETIME, now: float | None = None
) -> str:
    """A host token for ``user`` on CWMN site ``site`` (its name is the audience), signed
    HS256 with the site's key ``kid``."""
    issued = int(time.time() if now is None else now)
    claims = {
        "aud": site,
        "iat": issued,
        "exp": issued + lifetime,
        "sub": user.id,
        "name": user.name,
        "email": user.email,
    }
    return jwt.encode(claims, secret, algorithm="HS256", headers={"kid": kid})


def token_endpoint(
    site: str, kid: str, secret: str, current_user: Callable[[Request], User | None]
) -> Callable[[Request], Awaitable[Response]]:
    """``GET /cwmn-token``: the signed-in user's host token as text; 401 for anyone else."""

    async def endpoint(request: Request) -> Response:
        user = current_user(request)
        if user is None:
            return PlainTextResponse("sign in first", status_code=401)
        token = mint_host_token(site, kid, secret, user)
        return PlainTextResponse(token, headers={"Cache-Control": "no-store"})

    return endpoint


def demo_user(request: Request) -> User | None:
    """Stands in for your session check: everyone is signed in as "demo"."""
    return User("demo", "Demo Agent", "demo@example.com")


def site_key(environ: Mapping[str, str]) -> tuple[str, str, str]:
    """The site's name, key id and key from ``environ``; SystemExit naming what is missing."""
    missing = [name for name in ENV if not environ.get(name)]
    if missing:
        raise SystemExit(
            f"set {', '.join(missing)}: the site's name and the key id and key that "
            "`cwmn-web site key-add` printed (not the server's CWMN_SECRET)"
        )
    site, kid, key = (environ[name] for name in ENV)
    return site, kid, key


def main() -> None:
    import uvicorn

    site, kid, secret = site_key(os.environ)
    endpoint = token_endpoint(site, kid, secret, demo_user)
    app = Starlette(routes=[Route("/cwmn-token", endpoint)])
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8100")))


if __name__ == "__main__":
    main()
