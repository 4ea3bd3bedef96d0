"""SMS invites through Twilio's REST API (or a service speaking the same wire format):
``POST {base}/2010-04-01/Accounts/{sid}/Messages.json``, HTTP Basic auth, form-encoded
``To``, ``From``, ``Body``; the answer is JSON with ``sid`` and ``status``. Uses ``urllib``
in a thread (no HTTP client dependency)."""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlencode

from ...errors import InviteFailed, InviteUnavailable
from ..db import InviteStatus
from .transports import Delivery, Outgoing

__all__ = ["TwilioTransport"]

MAX_ANSWER = 1_000_000


class TwilioTransport:
    name = "twilio"

    def __init__(
        self, account_sid: str, auth_token: str, sender: str, base_url: str, timeout: float = 20.0
    ) -> None:
        self.sender, self.timeout = sender, timeout
        self.url = (
            f"{base_url.rstrip('/')}/2010-04-01/Accounts/{quote(account_sid, safe='')}"
            "/Messages.json"
        )
        pair = f"{account_sid}:{auth_token}".encode()
        self._auth = "Basic " + base64.b64encode(pair).decode("ascii")

    async def deliver(self, item: Outgoing) -> Delivery:
        return await asyncio.to_thread(self._post, item.to, item.text)

    def _post(self, to: str, body: str) -> Delivery:
        form = urlencode({"To": to, "From": self.sender, "Body": body}).encode()
        request = urllib.request.Request(
            self.url,
            data=form,
            method="POST",
            headers={
                "Authorization": self._auth,
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
                "User-Agent": "cwmn_web",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = _json(response.read(MAX_ANSWER))
        except urllib.error.HTTPError as exc:
            raise _refusal(exc.code, _json(exc.read(MAX_ANSWER))) from None
        except (OSError, ValueError):  # unreachable, timed out, TLS, a broken answer
            raise InviteUnavailable(
                "the server could not reach its SMS provider, or it did not answer in time; "
                "nothing was sent: try again later"
            ) from None
        sid, status = answer.get("sid"), answer.get("status")
        if not isinstance(sid, str) or not sid:
            raise InviteUnavailable("the SMS provider's answer had no message id")
        if status in ("failed", "undelivered", "canceled"):
            raise InviteFailed(f"the SMS provider did not accept the message (status {status})")
        return Delivery(InviteStatus.SENT, sid)


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _refusal(status: int, answer: dict[str, Any]) -> InviteFailed | InviteUnavailable:
    detail = " ".join(str(answer.get("message") or "").split())[:300]
    code = answer.get("code")
    reason = f"HTTP {status}" + (f", error {code}" if code else "")
    reason += f": {detail}" if detail else ""
    if status in (401, 403):
        return InviteUnavailable(
            "the SMS provider refused this server's credentials (CWMN_TWILIO_ACCOUNT_SID, "
            f"CWMN_TWILIO_AUTH_TOKEN): {reason}; nothing was sent"
        )
    if 400 <= status < 500 and status != 429:
        return InviteFailed(f"the SMS provider refused the message: {reason}")
    return InviteUnavailable(
        f"the SMS provider is unavailable ({reason}); nothing was sent: try again later"
    )
