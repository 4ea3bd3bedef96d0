"""Typed errors with stable codes; the one registry of error codes. No I/O here."""

from __future__ import annotations

__all__ = [
    "CODES",
    "CwmnError",
    "InvalidParams",
    "InvalidState",
    "InviteFailed",
    "InviteUnavailable",
    "NetworkError",
    "NotFound",
    "NotImplementedCapability",
    "ProtocolError",
    "RateLimited",
    "Unauthorized",
]

#: Every code the SDK can report, with what it means. A shipped code never changes.
CODES: dict[str, str] = {
    "invalid_state": "The function is not valid in the current state.",
    "invalid_params": "A parameter is missing, of the wrong type, or out of range.",
    "unauthorized": "This page's domain is not authorized to use CWMN.",
    "incompatible": "This browser lacks a feature CWMN needs.",
    "network": "The CWMN server could not be reached or the connection broke.",
    "timeout": "The server did not answer in time.",
    "rate_limited": "Too many requests; try again later.",
    "not_found": "The guest, session or link does not exist.",
    "not_implemented": "This capability is not available in this version of cwmn_web.",
    "protocol": "A peer sent a message that breaks the protocol.",
    "server_error": "The server failed while handling the request.",
    "link_invalid": "The link does not exist, was revoked, or has expired.",
    "link_used": "The private link was already used on another device.",
    "session_ended": "The session has ended.",
    "room_full": "The session already has as many guests as its site allows.",
    "cookies_required": "The browser sent no device cookie; a private link needs one.",
    "guest_removed": "The host removed this guest from the session.",
    "public_link_disabled": "The host turned the session's public link off.",
    "invite_failed": "The mail server or SMS provider refused the invite (its reply says why).",
    "invite_unavailable": "The server could not reach its mail server or SMS provider; "
    "nothing was sent: try again later.",
}


class CwmnError(Exception):
    """Base of every error with a stable ``code`` and a message that says what to fix."""

    code: str = "server_error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        if self.code not in CODES:
            raise ValueError(f"unregistered error code {self.code!r}")
        self.message = message

    def to_dict(self) -> dict[str, str]:
        """The JSON shape used on the wire and across the worker boundary."""
        return {"code": self.code, "message": self.message}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> CwmnError:
        """Rebuild an error from :meth:`to_dict` output; unknown codes become ``protocol``."""
        code = str(data.get("code", "server_error"))
        message = str(data.get("message", "unknown error"))
        if code not in CODES:
            return ProtocolError(f"unknown error code {code!r}: {message}")
        return cls(message, code)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class InvalidState(CwmnError):
    """The caller used a function outside its valid states (caller's mistake)."""

    code = "invalid_state"


class InvalidParams(CwmnError):
    """The caller passed bad parameters (caller's mistake)."""

    code = "invalid_params"


class Unauthorized(CwmnError):
    code = "unauthorized"


class NetworkError(CwmnError):
    """The server could not be reached or the connection broke."""

    code = "network"


class NotFound(CwmnError):
    code = "not_found"


class NotImplementedCapability(CwmnError):
    """A capability of the reference that this version does not provide yet."""

    code = "not_implemented"


class ProtocolError(CwmnError):
    """The peer misbehaved (as opposed to the caller misusing the API)."""

    code = "protocol"


class RateLimited(CwmnError):
    """Too many requests; the message says when to try again."""

    code = "rate_limited"


class InviteFailed(CwmnError):
    """The mail server or SMS provider refused an invite."""

    code = "invite_failed"


class InviteUnavailable(CwmnError):
    """The mail server or SMS provider could not be reached (or refused our credentials)."""

    code = "invite_unavailable"
