"""Join codes: 8 digits a guest types on the server's ``/join`` page instead of following a
link (docs/control/join-codes.md). No I/O here.

A code is drawn with :mod:`secrets` and stored only as an HMAC under the server's key
(:mod:`.secret`): a copy of the database does not give the codes, and 10^8 codes cannot be
tried against it without the key. Redeeming one makes a *private link* (one device, bound
by its first join, as ``guest.getInviteLink``'s) and uses the code up. Wrong codes are
counted per client key and across all clients (:class:`AttemptLimits`): past either limit
every attempt, right or wrong, is ``rate_limited`` until the window lets one more in.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import CwmnError, ErrorCode, RateLimited
from .invites.limits import Limit, duration, retry_after
from .secret import derive_token

__all__ = [
    "CODE_DIGITS",
    "GLOBAL_WINDOW",
    "AttemptLimits",
    "TooManyAttempts",
    "code_hash",
    "draw_code",
    "invalid_code",
    "normalise",
    "spoken",
]

CODE_DIGITS = 8
#: The window of the server-wide ceiling on wrong codes (seconds).
GLOBAL_WINDOW = 60.0
PURPOSE = "join-code"
_SEPARATORS = re.compile(r"[\s\-.]")


def draw_code() -> str:
    """A new code: 8 random digits (leading zeros kept)."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def normalise(typed: str) -> str | None:
    """The code in what a person typed (spaces, dashes and dots dropped), or None if that
    is not 8 digits (ASCII ones only)."""
    code = _SEPARATORS.sub("", typed)
    if len(code) != CODE_DIGITS or not code.isascii() or not code.isdigit():
        return None
    return code


def code_hash(key: bytes, code: str) -> str:
    """What the database keeps of ``code``: its HMAC under the server's key (43 chars)."""
    return derive_token(key, PURPOSE, code)


def spoken(code: str) -> str:
    """``1234 5678``: the code as the page shows it, in two groups."""
    return f"{code[:4]} {code[4:]}"


def invalid_code() -> CwmnError:
    return CwmnError(
        "This code is not valid: it may be mistyped, used already or expired. Check it, or "
        "ask your host for a new one.",
        ErrorCode.JOIN_CODE_INVALID,
    )


class TooManyAttempts(RateLimited):
    """``rate_limited``, with the seconds after which one more attempt is let in."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class AttemptLimits:
    """Wrong codes allowed: ``per_client`` per ``window`` seconds from one client key, and
    ``per_minute`` from all clients together (guessing spread over many addresses)."""

    per_client: int = 5
    window: float = 600.0
    per_minute: int = 30

    def check(self, by_client: Sequence[float], by_all: Sequence[float], now: float) -> None:
        """Raise :class:`TooManyAttempts` if the wrong codes at these times (this client's,
        everyone's in the last minute) fill a limit."""
        client = Limit("client", self.per_client, self.window)
        wait = retry_after(by_client, client, now)
        if wait is not None:
            raise TooManyAttempts(
                f"Too many wrong codes from your network ({self.per_client} in "
                f"{duration(self.window)}): try again in {duration(wait)}.",
                wait,
            )
        wait = retry_after(by_all, Limit("server", self.per_minute, GLOBAL_WINDOW), now)
        if wait is not None:
            raise TooManyAttempts(
                "Too many wrong codes were typed on this server in the last minute: try "
                f"again in {duration(wait)}, or ask your host for a link instead.",
                wait,
            )

    @property
    def longest(self) -> float:
        """How long a wrong code counts for at most (older ones can be deleted)."""
        return max(self.window, GLOBAL_WINDOW)
