"""The development outbox: ``GET /outbox`` (HTML) and ``cwmn-web outbox`` (text).

Outbox messages hold live join links, so the page is for development only: with
``CWMN_OUTBOX_PAGE=auto`` (the default) it exists only while a channel delivers to the
outbox, and only for a browser on this machine (a loopback client naming a loopback host,
not through a proxy); ``on`` serves it to anyone, ``off`` never.
"""

from __future__ import annotations

import html
import ipaddress
from collections.abc import Sequence
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ..db import KeptMessage, Store
from ..join_page import PAGE_CSP, SECURITY_HEADERS, message_page
from .service import Invites

__all__ = ["OUTBOX_MODES", "OutboxPage", "render_outbox", "render_outbox_text"]

OUTBOX_MODES = ("auto", "on", "off")
DEFAULT_LIMIT, MAX_LIMIT = 50, 500
_FORWARDED = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip")


class OutboxPage:
    def __init__(self, mode: str, store: Store, invites: Invites) -> None:
        if mode not in OUTBOX_MODES:
            raise ValueError(f"CWMN_OUTBOX_PAGE must be auto, on or off, not {mode!r}")
        self.mode, self.store, self.invites = mode, store, invites

    def allowed(self, request: Request) -> bool:
        if self.mode == "on":
            return True
        return self.mode == "auto" and self.invites.outbox_active and _from_this_machine(request)

    async def page(self, request: Request) -> Response:
        if not self.allowed(request):
            return message_page(404, "Not found", "There is no page here.")
        try:
            limit = min(max(int(request.query_params.get("limit", DEFAULT_LIMIT)), 1), MAX_LIMIT)
        except ValueError:
            limit = DEFAULT_LIMIT
        rows = await run_in_threadpool(self.store.kept_messages, limit)
        headers = {
            **SECURITY_HEADERS,
            "Content-Security-Policy": PAGE_CSP,
            "X-Robots-Tag": "noindex",
        }
        return HTMLResponse(render_outbox(rows), headers=headers)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _from_this_machine(request: Request) -> bool:
    client = request.client.host if request.client else ""
    named = request.url.hostname or ""
    proxied = any(name in request.headers for name in _FORWARDED)
    return _loopback(client) and _loopback(named) and not proxied


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def render_outbox(rows: Sequence[KeptMessage]) -> str:
    """The page: each message, newest first, every stored value escaped."""
    e = html.escape
    items = []
    for row in rows:
        title = row.subject or f"Text message to {row.recipient}"
        html_part = (
            f"<details><summary>HTML part</summary><pre>{e(row.body_html)}</pre></details>"
            if row.body_html
            else ""
        )
        items.append(
            f"<article><h2>{e(title)}</h2><dl>"
            f"<dt>To</dt><dd>{e(row.recipient)}</dd>"
            f"<dt>Channel</dt><dd>{e(row.channel)}</dd>"
            f"<dt>Kept</dt><dd>{e(_when(row.created_at))}</dd>"
            f'<dt>Link</dt><dd><a href="{e(row.link)}">{e(row.link)}</a></dd></dl>'
            f"<pre>{e(row.body_text)}</pre>{html_part}</article>"
        )
    body = "".join(items) or "<p>No messages yet: invite a guest from a session.</p>"
    return (
        "<!doctype html>\n<html lang=en><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        "<title>Outbox</title><style>body{font:15px/1.45 system-ui,sans-serif;max-width:50em;"
        "margin:2em auto;padding:0 1em;color:#222}article{border-top:1px solid #ccc;"
        "padding:.5em 0}h2{font-size:1.1em}dl{display:grid;grid-template-columns:6em 1fr;"
        "margin:0}dt{color:#666}dd{margin:0;overflow-wrap:anywhere}pre{white-space:pre-wrap;"
        "background:#f6f6f8;padding:.75em}</style>"
        "<h1>Outbox</h1><p>Invites this server kept instead of sending them (no SMTP or SMS "
        "settings). A development page: the links are live.</p>"
        f"{body}</html>\n"
    )


def render_outbox_text(rows: Sequence[KeptMessage]) -> str:
    """The same for a terminal (``cwmn-web outbox``)."""
    if not rows:
        return "The outbox is empty.\n"
    parts = []
    for row in rows:
        head = [
            f"{_when(row.created_at)}  {row.channel} to {row.recipient}",
            *([f"Subject: {row.subject}"] if row.subject else []),
            f"Link: {row.link}",
        ]
        parts.append("\n".join([*head, "", row.body_text.rstrip(), ""]))
    return ("-" * 72 + "\n").join(parts)
