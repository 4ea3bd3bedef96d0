"""``GET /join/{token}``: the guest's page (``static/viewer.html``) or a page saying why not.

Sets the device cookie that binds a private link to the first browser that joins with it.
"""

from __future__ import annotations

import html
import secrets
import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ..errors import ErrorCode
from .assets import AssetServer
from .config import Settings
from .db import Store
from .links import DEVICE_COOKIE, check_link, device_hash, usable_token

__all__ = ["DEVICE_COOKIE_MAX_AGE", "VIEWER_CSP", "JoinPage"]

VIEWER_CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' 'unsafe-eval' blob:; "
    "worker-src 'self' blob:; connect-src 'self' ws: wss:; img-src * data: blob:; "
    "style-src * 'unsafe-inline'; font-src * data:; media-src *; "
    "frame-src 'self' about: blob:; object-src 'none'; base-uri 'none'; form-action 'none'"
)
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
SECURITY_HEADERS = {
    "Referrer-Policy": "no-referrer",  # the URL holds the link's token
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
DEVICE_COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie
BUILD_MARK = "__CWMN_BUILD__"

#: status, title, sentence — for each way a link can be refused.
REFUSALS: dict[ErrorCode, tuple[int, str, str]] = {
    ErrorCode.LINK_INVALID: (
        404,
        "Link not valid",
        "This link is not valid. It may have expired or been revoked, or it was copied "
        "incompletely. Ask the host for a new link.",
    ),
    ErrorCode.SESSION_ENDED: (410, "Session ended", "This session has ended."),
    ErrorCode.GUEST_REMOVED: (
        403,
        "Removed by the host",
        "The host removed you from this session.",
    ),
    ErrorCode.PUBLIC_LINK_DISABLED: (
        403,
        "Link turned off",
        "The host has turned this link off: no one new can join through it. "
        "Ask the host for another link.",
    ),
    ErrorCode.LINK_USED: (
        403,
        "Link already used",
        "This private link was already used on another device. Ask the host for a new link.",
    ),
}


def message_page(status: int, title: str, sentence: str) -> HTMLResponse:
    """A small self-contained HTML page with one sentence (no scripts, nothing external)."""
    body = (
        "<!doctype html>\n<html lang=en><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font:17px/1.5 system-ui,sans-serif;max-width:34em;margin:15vh auto;"
        "padding:0 1em;color:#222}h1{font-size:1.4em}</style>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(sentence)}</p></html>\n"
    )
    headers = {**SECURITY_HEADERS, "Content-Security-Policy": PAGE_CSP}
    return HTMLResponse(body, status_code=status, headers=headers)


class JoinPage:
    """The endpoint; checks the link like the guest socket does, without binding it.

    Binding happens when the viewer joins on the socket, so a link preview or a mail
    scanner that fetches the URL does not use the link up."""

    def __init__(self, settings: Settings, store: Store, assets: AssetServer) -> None:
        self.settings, self.store, self.assets = settings, store, assets

    async def page(self, request: Request) -> Response:
        token: str = request.path_params["token"]
        cookie = request.cookies.get(DEVICE_COOKIE) or None
        link = (
            await run_in_threadpool(self.store.link_by_token, token)
            if usable_token(token)
            else None
        )
        session = await run_in_threadpool(self.store.get_session, link.session_id) if link else None
        device = device_hash(cookie)
        code = check_link(link, session, device, time.time(), self.settings.max_session_seconds)
        if link is not None and code in (
            None,
            ErrorCode.LINK_INVALID,
            ErrorCode.PUBLIC_LINK_DISABLED,
        ):
            guest = await run_in_threadpool(self.store.guest_on_link, link, device)
            if guest is not None and guest.removed_at is not None:
                code = ErrorCode.GUEST_REMOVED
            elif guest is not None and code is ErrorCode.PUBLIC_LINK_DISABLED:
                code = None  # a guest already in may come back (reload, reconnect)
        if code is not None:
            return message_page(*REFUSALS[code])
        viewer = self.settings.static_dir / "viewer.html"
        try:
            page = await run_in_threadpool(viewer.read_text, "utf-8")
        except FileNotFoundError:
            return message_page(
                500,
                "Viewer missing",
                f"This server cannot show the session: its guest viewer ({viewer.name}) is not "
                "installed. The server's operator must build and deploy it.",
            )
        headers = {**SECURITY_HEADERS, "Content-Security-Policy": VIEWER_CSP}
        response = HTMLResponse(page.replace(BUILD_MARK, self.assets.build_id), headers=headers)
        if cookie is None:
            response.set_cookie(
                DEVICE_COOKIE,
                secrets.token_urlsafe(32),
                max_age=DEVICE_COOKIE_MAX_AGE,
                path="/",
                # Behind a TLS proxy the request may reach us as http: the public URL says.
                secure=request.url.scheme == "https"
                or self.settings.public_url.startswith("https://"),
                httponly=True,
                # Not Strict: a guest coming back through the link in webmail or a chat web
                # app is a cross-site navigation, which would then arrive without the
                # cookie and be refused as "another device".
                samesite="lax",
            )
        return response
