"""The code that binds an invitation to host to its invitee. No I/O here.

The invitation's email carries its link and a 6-digit code: an HMAC of the link's token
under the server's key (:mod:`.secret`), so nothing more is stored. Accepting needs both:
a link that travelled without its email (forwarded, leaked through a log or a preview)
hosts nothing.
"""

from __future__ import annotations

import hmac
import re

from .db.tokens import token_hash
from .secret import derive_code

__all__ = ["MAX_CODE_ATTEMPTS", "CodeAttempts", "check_code", "invitation_code"]

#: Wrong codes after which an invitation is cancelled (the chance to guess a 6-digit code
#: is then 5 in a million).
MAX_CODE_ATTEMPTS = 5
CODE_PURPOSE = "host-invite-code"
_DIGITS = re.compile(r"[\s-]")


def invitation_code(key: bytes, token: str) -> str:
    """The 6-digit code the invitation's email gives with its link ``token``."""
    return derive_code(key, CODE_PURPOSE, token)


class CodeAttempts:
    """Wrong codes per invitation (by token hash), in this process's memory: an
    invitation gets :data:`MAX_CODE_ATTEMPTS` (per server process) before it is cancelled
    in the store, for good. Only existing, usable invitations are counted."""

    def __init__(self, limit: int = MAX_CODE_ATTEMPTS) -> None:
        self.limit = limit
        self._wrong: dict[str, int] = {}

    def wrong(self, key: str) -> int:
        """Count a wrong code; how many tries are left (0: cancel the invitation)."""
        count = self._wrong.get(key, 0) + 1
        if count >= self.limit:
            self._wrong.pop(key, None)
            return 0
        self._wrong[key] = count
        return self.limit - count

    def left(self, key: str) -> int:
        """How many tries are left, counting nothing."""
        return self.limit - self._wrong.get(key, 0)

    def forget(self, key: str) -> None:
        self._wrong.pop(key, None)


def check_code(given: str, token: str, key: bytes, attempts: CodeAttempts) -> int | None:
    """None if ``given`` is the invitation's code; else how many tries are left (0: the
    caller cancels the invitation). A missing code is no guess: it counts nothing."""
    hashed = token_hash(token)
    if not given.strip():
        return attempts.left(hashed)
    if hmac.compare_digest(_DIGITS.sub("", given)[:16], invitation_code(key, token)):
        attempts.forget(hashed)
        return None
    return attempts.wrong(hashed)
