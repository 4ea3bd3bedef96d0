"""The code that binds an invitation to host to its invitee. No I/O here.

The invitation's email carries its link and a 6-digit code: an HMAC of the link's token
under the server's key (:mod:`.secret`), so nothing more is stored. Accepting needs both:
a link that travelled without its email (forwarded, leaked through a log or a preview)
hosts nothing.
"""

from __future__ import annotations

import hmac
import re

from .db.host_invites import CodeCheck
from .secret import derive_code

__all__ = ["MAX_CODE_ATTEMPTS", "code_check", "invitation_code"]

#: Wrong codes after which an invitation is cancelled for good (the chance to guess a
#: 6-digit code is then 5 in a million), counted in its row: across sockets, processes and
#: restarts.
MAX_CODE_ATTEMPTS = 5
CODE_PURPOSE = "host-invite-code"
_DIGITS = re.compile(r"[\s-]")


def invitation_code(key: bytes, token: str) -> str:
    """The 6-digit code the invitation's email gives with its link ``token``."""
    return derive_code(key, CODE_PURPOSE, token)


def code_check(given: str, token: str, key: bytes) -> CodeCheck:
    """The store's check of ``given`` against the code of the invitation ``token``: it
    compares (in constant time, ignoring spaces and dashes) only while the invitation has
    had fewer than :data:`MAX_CODE_ATTEMPTS` wrong codes, which it counts in the
    invitation's row (:meth:`~.db.Store.accept_host_invite`). A missing code is no guess."""

    def matches() -> bool | None:
        if not given.strip():
            return None
        return hmac.compare_digest(_DIGITS.sub("", given)[:16], invitation_code(key, token))

    return CodeCheck(matches, MAX_CODE_ATTEMPTS)
