"""Invitations to host at the server's edge: ``GET /host-invite/{token}`` (the link the
email carries) and the checks of the host socket's ``get_host_invite``/``accept_host_invite``.

An invitation is bound to its invitee: the email carries, besides the link, a 6-digit code
(an HMAC of the token under the server's key: :mod:`.host_codes`) that accepting needs.
The link alone (forwarded, leaked through a log, a preview) hosts nothing; a wrong code is
``invite_code_invalid``, and after ``MAX_CODE_ATTEMPTS`` wrong ones the invitation is
cancelled (``link_invalid``).

A usable invitation answers 303 to its page with ``#cwmn-host-invite=TOKEN`` appended: a
fragment never reaches that page's server or its logs, and the embed there takes it out of
the address bar and asks the invitee to agree. Opening the link does not use the invitation
up (mail scanners and link previews fetch links); accepting it does. Refusals are small
pages: 404 expired or unknown, 410 already used.
"""

from __future__ import annotations

import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..errors import CwmnError, ErrorCode
from .db import HostInviteRecord, SessionRecord, Store
from .db.host_invites import CodeRefused
from .host_codes import code_check
from .host_tokens import HostIdentity
from .join_page import SECURITY_HEADERS, message_page
from .links import check_host_invite, usable_token

__all__ = [
    "FRAGMENT",
    "HOST_INVITE_REFUSALS",
    "HostInvitePage",
    "accept_invitation",
    "find_invitation",
    "invite_target",
    "refusal",
]


FRAGMENT = "cwmn-host-invite"
#: status, title, sentence — for each way an invitation can be refused.
HOST_INVITE_REFUSALS: dict[ErrorCode, tuple[int, str, str]] = {
    ErrorCode.LINK_INVALID: (
        404,
        "Invitation expired",
        "This invitation has expired or is not valid. Ask the person who invited you to "
        "send a new one.",
    ),
    ErrorCode.LINK_USED: (
        410,
        "Invitation already used",
        "This invitation was already used to start sharing a screen; it works only once. "
        "Ask the person who invited you to send a new one.",
    ),
}


def invite_target(url: str, token: str) -> str:
    """``url`` with ``cwmn-host-invite=TOKEN`` in its fragment (after any it has)."""
    base, _, fragment = url.partition("#")
    return f"{base}#{fragment + '&' if fragment else ''}{FRAGMENT}={token}"


def refusal(code: ErrorCode) -> CwmnError:
    """The socket's error for a refused invitation (the page's sentence)."""
    return CwmnError(HOST_INVITE_REFUSALS[code][2], code)


async def find_invitation(
    store: Store, token: str, site_id: int | None = None
) -> tuple[HostInviteRecord, SessionRecord]:
    """The usable invitation ``token`` names (of site ``site_id``, if given) and its session;
    else raise ``link_invalid`` or ``link_used``."""
    invite = None
    if usable_token(token):
        invite = await run_in_threadpool(store.host_invite_by_token, token)
    if invite is not None and site_id is not None and invite.site_id != site_id:
        invite = None
    session = await run_in_threadpool(store.get_session, invite.session_id) if invite else None
    code = check_host_invite(invite, session, time.time())
    if code is not None or invite is None or session is None:
        raise refusal(code or ErrorCode.LINK_INVALID)
    return invite, session


async def accept_invitation(
    store: Store,
    token: str,
    site_id: int,
    origin: str,
    page_url: str,
    code: tuple[str, bytes],
    host: HostIdentity | None = None,
) -> SessionRecord:
    """Use the invitation once, given its email's code (``code``: the code given and the
    server's key), as ``host`` (the accepting host's verified identity, on a token site):
    its session, starting now (with a new resume token); else raise
    ``link_invalid``, ``link_used`` or ``invite_code_invalid``. The store counts wrong
    codes in the invitation's row and refuses it, for good, at the limit."""
    if not usable_token(token):
        raise refusal(ErrorCode.LINK_INVALID)
    await find_invitation(store, token, site_id)
    check = code_check(code[0], token, code[1])
    try:
        return await run_in_threadpool(
            store.accept_host_invite, token, site_id, origin, page_url, check, host=host
        )
    except CodeRefused:
        raise
    except CwmnError as exc:
        raise refusal(exc.code) from None


class HostInvitePage:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def page(self, request: Request) -> Response:
        token: str = request.path_params["token"]
        try:
            invite, _ = await find_invitation(self.store, token)
        except CwmnError as exc:
            return message_page(*HOST_INVITE_REFUSALS[exc.code])
        return RedirectResponse(
            invite_target(invite.url, token), status_code=303, headers=dict(SECURITY_HEADERS)
        )
