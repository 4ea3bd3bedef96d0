"""The host token each hello carries, on sites that require one (docs/HOST_TOKENS.md): the
page's own (``data-host-token``), or fetched from the URL the site names
(``data-host-token-url``) and fetched again when it is about to expire. No I/O here: a fetch
goes out through ``fetch(url)``, its answer comes back through :meth:`HostTokens.fetched`."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable

from ..errors import CwmnError, ErrorCode

__all__ = ["REFRESH_MARGIN", "HostTokens", "expires_at"]

#: A fetched token this close to its expiry (seconds) is fetched again before a hello.
REFRESH_MARGIN = 60.0
Ready = Callable[[str | CwmnError], None]


def expires_at(token: str) -> float | None:
    """The token's ``exp`` as it says (unverified: the server checks it), or None."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = claims.get("exp") if isinstance(claims, dict) else None
    except (IndexError, ValueError, binascii.Error):
        return None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


class HostTokens:
    """The token for the next hello (an empty one where the page gives none)."""

    def __init__(
        self, token: str, url: str, wall: Callable[[], float], fetch: Callable[[str], None]
    ) -> None:
        self.token, self.url = token, url
        self._wall, self._fetch = wall, fetch
        self._waiting: list[Ready] = []

    def get(self, ready: Ready) -> None:
        """``ready`` gets the token to say hello with (at once, or once fetched), or the
        ``host_token_required`` error of a fetch that failed."""
        if not self.url or self._fresh():
            ready(self.token)
            return
        self._waiting.append(ready)
        if len(self._waiting) == 1:
            self._fetch(self.url)

    def fetched(self, token: str | None, error: str = "") -> None:
        """The page's answer to a fetch: the token, or why there is none."""
        waiting, self._waiting = self._waiting, []
        outcome: str | CwmnError
        if token:
            self.token = outcome = token
        else:
            outcome = CwmnError(
                f"could not get a host token from data-host-token-url {self.url!r}: "
                f"{error or 'it answered no token'}",
                ErrorCode.HOST_TOKEN_REQUIRED,
            )
        for ready in waiting:
            ready(outcome)

    def _fresh(self) -> bool:
        if not self.token:
            return False
        exp = expires_at(self.token)
        return exp is None or exp - REFRESH_MARGIN > self._wall()
