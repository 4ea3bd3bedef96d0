"""``GET /join``: the form where a guest types the code their host read out; ``POST /join``
redeems it (:mod:`.join_codes`): 303 to the new private link's ``/join/TOKEN``, or the form
again saying why not (400 ``join_code_invalid``, 429 ``rate_limited`` with Retry-After).
A client key submitting more than ``CWMN_JOIN_CODE_POSTS_PER_MINUTE`` codes is refused 429
here, in memory (:class:`PostPace`), before any thread or database lock is taken.

No script, and a CSP that lets the form post only here. The POST changes nothing a
forged request could use against a visitor (it redirects the browser that sent it), but a
request whose ``Origin`` is another site's is refused anyway (403)."""

from __future__ import annotations

import html
import math
import time
from collections import OrderedDict
from urllib.parse import parse_qs, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ..errors import CwmnError, ErrorCode
from .client_key import client_key
from .config import Settings
from .db import Store
from .join_codes import CODE_DIGITS, AttemptLimits, TooManyAttempts, normalise
from .join_page import SECURITY_HEADERS, message_page
from .live.limits import TokenBucket

__all__ = ["FORM_CSP", "MAX_BODY", "MAX_POST_CLIENTS", "JoinCodePage", "PostPace"]

FORM_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
#: Bytes of a form body read at most (a code and a few separators fit many times over).
MAX_BODY = 1024
#: Client keys whose submissions :class:`PostPace` remembers (the least recent go first).
MAX_POST_CLIENTS = 10_000
_STYLE = (
    "body{font:18px/1.5 system-ui,sans-serif;max-width:26em;margin:12vh auto;padding:0 1em;"
    "color:#222}h1{font-size:1.4em}label{display:block;font-weight:600;margin:1em 0 .3em}"
    "input{font:inherit;font-size:1.6em;letter-spacing:.15em;width:100%;box-sizing:border-box;"
    "padding:.3em .4em;border:2px solid #555;border-radius:6px}"
    "input:focus{outline:3px solid #0a58ca;outline-offset:2px}"
    "button{font:inherit;margin-top:1em;padding:.5em 1.6em;border:0;border-radius:6px;"
    "background:#0a58ca;color:#fff;cursor:pointer}button:focus{outline:3px solid #222;"
    "outline-offset:2px}.hint{color:#555;margin:.3em 0}.error{color:#a40000;"
    "border-left:4px solid #a40000;padding:.2em .7em;margin:1em 0}"
)


def form_page(
    status: int = 200,
    error: CwmnError | None = None,
    typed: str = "",
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """The form (again, with ``error`` and what was typed, after a refused code)."""
    problem, invalid = "", ""
    if error is not None:
        problem = (
            f'<p id=error class=error role=alert data-code="{error.code.value}">'
            f"{html.escape(error.message)}</p>"
        )
        invalid = ' aria-invalid=true aria-describedby="error hint"'
    body = (
        "<!doctype html>\n<html lang=en><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>Join a shared screen</title><style>{_STYLE}</style>"
        "<main><h1>Join a shared screen</h1>"
        f"{problem}<form method=post><label for=code>Enter the code your host gave you</label>"
        f"<input id=code name=code type=text inputmode=numeric autocomplete=one-time-code "
        f'pattern="[0-9 .\\-]*" maxlength=24 required autofocus spellcheck=false '
        f'value="{html.escape(typed[:24])}"'
        f"{invalid or ' aria-describedby=hint'}>"
        f"<p id=hint class=hint>{CODE_DIGITS} digits, for example 1234 5678.</p>"
        "<button type=submit>Join</button></form></main></html>\n"
    )
    all_headers = {
        **SECURITY_HEADERS,
        # Not no-referrer: its form's POST would then carry ``Origin: null`` (refused).
        "Referrer-Policy": "same-origin",
        "Content-Security-Policy": FORM_CSP,
        **(headers or {}),
    }
    return HTMLResponse(body, status_code=status, headers=all_headers)


def not_a_code(typed: str) -> CwmnError:
    """The refusal of what cannot be a code (no guess: not counted against the limits)."""
    what = "Type the code" if not typed else f"A code has {CODE_DIGITS} digits"
    return CwmnError(
        f"{what}: the {CODE_DIGITS} digits your host read out or sent you.",
        ErrorCode.JOIN_CODE_INVALID,
    )


class PostPace:
    """How many codes each client key may submit: ``per_minute`` a minute on average, as
    many at once, in this process's memory (a bounded map: past :data:`MAX_POST_CLIENTS`
    keys the least recently seen is forgotten). No I/O; the caller passes ``now``."""

    def __init__(self, per_minute: float, clients: int = MAX_POST_CLIENTS) -> None:
        self.rate, self.burst = max(per_minute, 0.0) / 60.0, max(per_minute, 0.0)
        self.clients = clients
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def allow(self, client: str, now: float) -> float:
        """0 if ``client`` may submit now (counted), else the seconds until it may."""
        bucket = self._buckets.pop(client, None)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst, now)
            while len(self._buckets) >= self.clients:
                self._buckets.popitem(last=False)
        self._buckets[client] = bucket
        if bucket.allow(now):
            return 0.0
        return bucket.wait(now)

    def __len__(self) -> int:
        return len(self._buckets)


def _too_fast(wait: float) -> CwmnError:
    return CwmnError(
        f"Too many codes sent from your network: wait {math.ceil(wait)} seconds, then "
        "type the code again, or ask your host for a link instead.",
        ErrorCode.RATE_LIMITED,
    )


def _retry_after(wait: float) -> dict[str, str]:
    return {"Retry-After": str(math.ceil(wait)) if math.isfinite(wait) else "3600"}


class JoinCodePage:
    """The endpoint: the form, and the redemption with its limits."""

    def __init__(self, settings: Settings, store: Store, key: bytes) -> None:
        self.settings, self.store, self.key = settings, store, key
        self.limits = AttemptLimits(
            settings.join_code_attempts,
            settings.join_code_attempt_window,
            settings.join_code_failures_per_minute,
        )
        self.posts = PostPace(settings.join_code_posts_per_minute)

    async def page(self, request: Request) -> Response:
        if request.method != "POST":
            return form_page()
        if not self._same_origin(request):
            return message_page(
                403,
                "Form from another site",
                "This form was sent from another web site. Open the join page yourself and "
                "type your code there.",
            )
        typed = await self._typed(request)
        if typed is None:
            return message_page(413, "Too long", "That was not a join code.")
        code = normalise(typed)
        if code is None:  # not a guess: not counted
            return form_page(400, not_a_code(typed), typed)
        client = client_key(
            request.client.host if request.client else "", self.settings.client_ipv6_prefix
        )
        wait = self.posts.allow(client, time.time())
        if wait:  # a flood: no thread, no database lock
            return form_page(429, _too_fast(wait), typed, _retry_after(wait))
        try:
            link = await run_in_threadpool(
                self.store.redeem_join_code,
                code,
                self.key,
                client,
                self.limits,
                self.settings.link_ttl_seconds,
            )
        except TooManyAttempts as exc:
            return form_page(429, exc, typed, _retry_after(exc.retry_after))
        except CwmnError as exc:
            if exc.code is not ErrorCode.JOIN_CODE_INVALID:
                raise
            return form_page(400, exc, typed)
        return RedirectResponse(f"/join/{link.token}", status_code=303, headers=SECURITY_HEADERS)

    def _same_origin(self, request: Request) -> bool:
        """No ``Origin`` (not a browser's form), or this server's own: the host the
        request names, or ``CWMN_PUBLIC_URL``'s (http or https: a TLS proxy in front may
        pass the request on as http)."""
        origin = request.headers.get("origin")
        if origin is None:
            return True
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False  # "null" (a sandboxed or no-referrer page), or not a web origin
        own = {request.url.netloc}
        if self.settings.public_url:
            own.add(urlsplit(self.settings.public_url).netloc)
        return parts.netloc in own

    async def _typed(self, request: Request) -> str | None:
        """The form's ``code`` field (empty if absent); None for a body too long."""
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return None
        try:
            fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=8)
        except ValueError:  # too many fields
            return ""
        return (fields.get("code") or [""])[0].strip()
