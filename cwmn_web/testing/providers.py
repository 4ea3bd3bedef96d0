"""Stand-ins for the providers invites go through, speaking their real wire formats on
this machine: an SMTP server (``aiosmtpd``) and Twilio's Messages API (``http.server``)."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

from ..local_http import BackgroundHTTPServer
from .servers import free_port

__all__ = ["FakeTwilio", "MailReceived", "SmsReceived", "SmtpSink"]


@dataclass(frozen=True)
class MailReceived:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    login: str | None


class SmtpSink:
    """A real SMTP server on a free port keeping what it receives.

    ``refuse``: the reply every ``RCPT TO`` gets instead of 250 (e.g. ``550 5.1.1 …``);
    ``login``: a (user, password) it requires (AUTH PLAIN/LOGIN, no TLS);
    ``delay``: seconds it waits before accepting the data."""

    def __init__(
        self,
        refuse: str | None = None,
        login: tuple[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        self.host, self.port = "127.0.0.1", free_port()
        self.refuse, self.login, self.delay = refuse, login, delay
        self.messages: list[MailReceived] = []
        self._controller: Any = None

    def __enter__(self) -> SmtpSink:
        from aiosmtpd.controller import Controller

        extra: dict[str, Any] = {}
        if self.login is not None:
            extra = {"authenticator": self._authenticate, "auth_require_tls": False}
        self._controller = Controller(self, hostname=self.host, port=self.port, **extra)
        self._controller.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._controller.stop()

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> Any:
        from aiosmtpd.smtp import AuthResult

        assert self.login is not None
        user, password = self.login
        ok = data.login == user.encode() and data.password == password.encode()
        return AuthResult(success=ok, handled=False, auth_data=data)

    async def handle_RCPT(  # aiosmtpd hook
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # hook
        if self.delay:
            await asyncio.sleep(self.delay)
        auth = getattr(session, "auth_data", None)
        login = auth.login.decode() if auth is not None and auth.login else None
        self.messages.append(
            MailReceived(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, login)
        )
        return "250 2.0.0 Message accepted"


@dataclass(frozen=True)
class SmsReceived:
    path: str
    auth: tuple[str, str] | None
    content_type: str
    form: dict[str, str]


class FakeTwilio(BackgroundHTTPServer):
    """``POST /2010-04-01/Accounts/{sid}/Messages.json`` as Twilio answers it: 201 with the
    message's JSON, 401 for wrong credentials; ``refuse`` = (status, error code, message)
    answers every request with that error instead."""

    def __init__(
        self,
        account_sid: str = "AC0123456789abcdef",
        auth_token: str = "token-secret",
        refuse: tuple[int, int, str] | None = None,
    ) -> None:
        self.account_sid, self.auth_token, self.refuse = account_sid, auth_token, refuse
        self.requests: list[SmsReceived] = []
        super().__init__(self._handler(), port=free_port(), poll_interval=0.02)
        self.url = self.origin

    def _answer(self, path: str, headers: Any, body: bytes) -> tuple[int, dict[str, Any]]:
        auth = _basic(headers.get("Authorization", ""))
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        self.requests.append(SmsReceived(path, auth, headers.get("Content-Type", ""), form))
        if path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            return 404, {"code": 20404, "message": "The requested resource was not found"}
        if auth != (self.account_sid, self.auth_token):
            return 401, {"code": 20003, "message": "Authentication Error - invalid username"}
        if self.refuse is not None:
            status, code, message = self.refuse
            return status, {"code": code, "message": message, "status": status}
        return 201, {
            "sid": "SM" + secrets.token_hex(16),
            "status": "queued",
            "to": form.get("To"),
            "from": form.get("From"),
            "body": form.get("Body"),
            "date_created": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, answer = fake._answer(self.path, self.headers, self.rfile.read(length))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _basic(header: str) -> tuple[str, str] | None:
    if not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return user, password
