"""Typed errors with stable codes; the one registry of error codes. No I/O here."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

__all__ = [
    "CODES",
    "CwmnError",
    "ErrorCode",
    "Incompatible",
    "InvalidParams",
    "InvalidState",
    "InviteFailed",
    "InviteUnavailable",
    "NetworkError",
    "NotFound",
    "NotImplementedCapability",
    "ProtocolError",
    "RateLimited",
    "Timeout",
    "Unauthorized",
]


class ErrorCode(StrEnum):
    """Every code the SDK can report. A shipped code never changes."""

    INVALID_STATE = "invalid_state"
    INVALID_PARAMS = "invalid_params"
    UNAUTHORIZED = "unauthorized"
    INCOMPATIBLE = "incompatible"
    NETWORK = "network"
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    NOT_FOUND = "not_found"
    NOT_IMPLEMENTED = "not_implemented"
    PROTOCOL = "protocol"
    SERVER_ERROR = "server_error"
    LINK_INVALID = "link_invalid"
    LINK_USED = "link_used"
    SESSION_ENDED = "session_ended"
    ROOM_FULL = "room_full"
    COOKIES_REQUIRED = "cookies_required"
    GUEST_REMOVED = "guest_removed"
    PUBLIC_LINK_DISABLED = "public_link_disabled"
    INVITE_FAILED = "invite_failed"
    INVITE_UNAVAILABLE = "invite_unavailable"
    HOST_TOKEN_REQUIRED = "host_token_required"
    HOST_TOKEN_INVALID = "host_token_invalid"
    HOST_TOKEN_EXPIRED = "host_token_expired"
    PUBLIC_URL_REQUIRED = "public_url_required"
    PHONE_TYPE_REFUSED = "phone_type_refused"
    PHONE_COUNTRY_REFUSED = "phone_country_refused"
    INVITE_CODE_INVALID = "invite_code_invalid"
    PAGE_TOO_LARGE = "page_too_large"
    ASSET_TOO_LARGE = "asset_too_large"
    SESSION_ASSETS_FULL = "session_assets_full"
    SITE_ASSETS_FULL = "site_assets_full"
    UNSUPPORTED_TYPE = "unsupported_type"
    BAD_ASSET = "bad_asset"
    # Extensions (docs/CONTROL.md): remote control, join codes, drawing.
    NOT_CONTROLLER = "not_controller"
    CONTROL_DISABLED = "control_disabled"
    CONTROL_REFUSED = "control_refused"
    GUEST_MUTED = "guest_muted"
    JOIN_CODE_INVALID = "join_code_invalid"


C = ErrorCode

#: What each code means (the reference's table and ``cwmn.d.ts`` are built from it).
CODES: dict[ErrorCode, str] = {
    C.INVALID_STATE: "The function is not valid in the current state.",
    C.INVALID_PARAMS: "A parameter is missing, of the wrong type, or out of range.",
    C.UNAUTHORIZED: "This page's domain is not authorized to use CWMN.",
    C.INCOMPATIBLE: "This browser lacks a feature CWMN needs.",
    C.NETWORK: "The CWMN server could not be reached or the connection broke.",
    C.TIMEOUT: "The server did not answer in time.",
    C.RATE_LIMITED: "Too many requests; try again later.",
    C.NOT_FOUND: "The guest, session or link does not exist.",
    C.NOT_IMPLEMENTED: "This capability is not available in this version of cwmn_web.",
    C.PROTOCOL: "A peer sent a message that breaks the protocol.",
    C.SERVER_ERROR: "The server failed while handling the request.",
    C.LINK_INVALID: "The link does not exist, was revoked, or has expired.",
    C.LINK_USED: "The private link was already used on another device.",
    C.SESSION_ENDED: "The session has ended.",
    C.ROOM_FULL: "The session already has as many guests as its site allows.",
    C.COOKIES_REQUIRED: "The browser sent no device cookie; a private link needs one.",
    C.GUEST_REMOVED: "The host removed this guest from the session.",
    C.PUBLIC_LINK_DISABLED: "The host turned the session's public link off.",
    C.INVITE_FAILED: "The mail server or SMS provider refused the invite (its reply says why).",
    C.INVITE_UNAVAILABLE: "The server could not reach its mail server or SMS provider; "
    "nothing was sent: try again later.",
    C.HOST_TOKEN_REQUIRED: "This site requires hosts to present a token signed by its backend.",
    C.HOST_TOKEN_INVALID: "The host token is malformed, not signed by a key of this site, "
    "or not for this site.",
    C.HOST_TOKEN_EXPIRED: "The host token has expired; the page must get a fresh one.",
    C.PUBLIC_URL_REQUIRED: "The server has no public URL (CWMN_PUBLIC_URL) to build links "
    "from, so it sends no email or text.",
    C.PHONE_TYPE_REFUSED: "The phone number is not a mobile number (premium-rate, toll-free, "
    "VoIP, landline…): invites are texted to mobile numbers only.",
    C.PHONE_COUNTRY_REFUSED: "The phone number is in a country the site does not text to "
    "(its smsCountries setting).",
    C.INVITE_CODE_INVALID: "The invitation to host needs the code its email gave, and the one "
    "given is missing or wrong.",
    C.PAGE_TOO_LARGE: "The page is too large to share (one frame past the server's size or "
    "value cap): the session ended instead of retrying.",
    C.ASSET_TOO_LARGE: "A page asset is larger than the server stores (CWMN_MAX_ASSET_BYTES); "
    "guests load it directly, if they can.",
    C.SESSION_ASSETS_FULL: "The session's page assets reached the server's total "
    "(CWMN_MAX_SESSION_ASSET_BYTES) or count (CWMN_MAX_SESSION_ASSETS); further ones load "
    "directly, if they can.",
    C.SITE_ASSETS_FULL: "The site's stored page assets reached the server's total "
    "(CWMN_MAX_SITE_ASSET_BYTES) until the assets of ended sessions are purged; new content "
    "loads directly, if it can.",
    C.UNSUPPORTED_TYPE: "The asset store keeps stylesheets, images and fonts only; this "
    "file is none of those.",
    C.BAD_ASSET: "A page-asset upload did not match what it announced (key, hash or size) "
    "or was not the JSON the upload API takes.",
    C.NOT_CONTROLLER: "The guest does not control the host's page: it must ask for control "
    "and the visitor grant it (or control was revoked meanwhile).",
    C.CONTROL_DISABLED: "The host's page refuses remote control for this session "
    "(control.setAllowed(false)).",
    C.CONTROL_REFUSED: "The host's page refused a guest's input: masked, blocked or password "
    "fields, and pages outside the site, are never controlled remotely.",
    C.GUEST_MUTED: "The host muted this guest: its pointer, drawing and control requests are "
    "not shared until it is unmuted.",
    C.JOIN_CODE_INVALID: "The join code is wrong, already used or expired: ask the host for "
    "a new one.",
}


class CwmnError(Exception):
    """Base of every error with a stable ``code`` and a message that says what to fix.

    ``CwmnError(message, code)``: ``code`` is an :class:`ErrorCode` and defaults to the
    class's (``server_error`` here); a subclass names its code, so prefer raising it."""

    code: ErrorCode = ErrorCode.SERVER_ERROR

    def __init__(self, message: str, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            if code not in CODES:  # an untyped caller's string
                raise ValueError(f"unregistered error code {code!r}")
            self.code = ErrorCode(code)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        """The JSON shape used on the wire and across the worker boundary."""
        return {"code": self.code.value, "message": self.message}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> CwmnError:
        """Rebuild an error from :meth:`to_dict` output; unknown codes become ``protocol``."""
        code = str(data.get("code", ErrorCode.SERVER_ERROR))
        message = str(data.get("message", "unknown error"))
        if code not in CODES:
            return ProtocolError(f"unknown error code {code!r}: {message}")
        return cls(message, ErrorCode(code))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code.value!r}, message={self.message!r})"


class InvalidState(CwmnError):
    """The caller used a function outside its valid states (caller's mistake)."""

    code = ErrorCode.INVALID_STATE


class InvalidParams(CwmnError):
    """The caller passed bad parameters (caller's mistake)."""

    code = ErrorCode.INVALID_PARAMS


class Unauthorized(CwmnError):
    """This page's domain may not use CWMN."""

    code = ErrorCode.UNAUTHORIZED


class NetworkError(CwmnError):
    """The server could not be reached or the connection broke."""

    code = ErrorCode.NETWORK


class NotFound(CwmnError):
    """The guest, session or link does not exist."""

    code = ErrorCode.NOT_FOUND


class Timeout(CwmnError):
    """The server did not answer in time."""

    code = ErrorCode.TIMEOUT


class Incompatible(CwmnError):
    """This browser lacks a feature CWMN needs."""

    code = ErrorCode.INCOMPATIBLE


class NotImplementedCapability(CwmnError):
    """A capability of the reference that this version does not provide yet."""

    code = ErrorCode.NOT_IMPLEMENTED


class ProtocolError(CwmnError):
    """The peer misbehaved (as opposed to the caller misusing the API)."""

    code = ErrorCode.PROTOCOL


class RateLimited(CwmnError):
    """Too many requests; the message says when to try again."""

    code = ErrorCode.RATE_LIMITED


class InviteFailed(CwmnError):
    """The mail server or SMS provider refused an invite."""

    code = ErrorCode.INVITE_FAILED


class InviteUnavailable(CwmnError):
    """The mail server or SMS provider could not be reached (or refused our credentials)."""

    code = ErrorCode.INVITE_UNAVAILABLE
