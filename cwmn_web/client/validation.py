"""Parameter validation for every CwmnAPI function that takes arguments. No I/O here.

Each validator takes the raw JavaScript arguments (already converted to Python values) and
returns a clean dict, or raises ``invalid_params`` with a message that says what to fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from ..errors import InvalidParams
from ..protocol.messages import MAX_VIDEO_RECIPIENTS

__all__ = [
    "MAX_EMAIL",
    "MAX_MESSAGE",
    "MAX_NAME",
    "VALIDATORS",
    "clean_message",
    "has_control",
    "is_email",
    "validate",
]

MAX_NAME = 100
MAX_MESSAGE = 1000
MAX_EMAIL = 254
#: Extension ``session.start({idleTimeout})`` bounds, in seconds (docs/CONTROL.md).
MIN_IDLE_TIMEOUT = 30
MAX_IDLE_TIMEOUT = 24 * 3600
_EMAIL = re.compile(
    r"^[^\s@<>()\[\],;:\"\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
#: Control characters, C1 controls and Unicode line separators: never in a name or header.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: The same, less line feed and tab: what a message (a body text) may not contain.
_BODY_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_CODE = re.compile(r"^[0-9 \-]*$")
_PHONE = re.compile(r"^\+?[0-9 ().\-]{7,20}$")


def is_email(value: str) -> bool:
    """One plain address (``local@domain.tld``): no name, no list, no spaces or line breaks."""
    if len(value) > MAX_EMAIL or has_control(value):
        return False
    return _EMAIL.fullmatch(value) is not None


def has_control(value: str) -> bool:
    """Does ``value`` hold a control character or line separator (CR and LF included)?"""
    return _CONTROL.search(value) is not None


def clean_message(value: str) -> str | None:
    """A message with its line breaks as ``\\n``; None if it holds other control characters."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return None if _BODY_CONTROL.search(value) else value


def _params(path: str, args: tuple[Any, ...], allowed: tuple[str, ...]) -> dict[str, Any]:
    if len(args) != 1 or not isinstance(args[0], Mapping):
        raise InvalidParams(
            f"CwmnAPI.{path}() takes one object with {', '.join(allowed)}; got {_describe(args)}"
        )
    params = dict(args[0])
    unknown = sorted(k for k in params if k not in allowed)
    if unknown:
        raise InvalidParams(
            f"CwmnAPI.{path}(): unknown parameter(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(allowed)}"
        )
    return params


def _describe(args: tuple[Any, ...]) -> str:
    if not args:
        return "no arguments"
    return ", ".join(type(a).__name__ if a is not None else "null" for a in args)


def _text(
    path: str, params: dict[str, Any], key: str, limit: int, required: bool = True
) -> str | None:
    value = params.get(key)
    if value is None or value == "":
        if required:
            raise InvalidParams(f"CwmnAPI.{path}(): {key} is required (a non-empty string)")
        return None
    if not isinstance(value, str):
        raise InvalidParams(f"CwmnAPI.{path}(): {key} must be a string, got {type(value).__name__}")
    value = value.strip()
    if not value and required:
        raise InvalidParams(f"CwmnAPI.{path}(): {key} is required (a non-empty string)")
    if len(value) > limit:
        raise InvalidParams(f"CwmnAPI.{path}(): {key} is {len(value)} characters; at most {limit}")
    return value


def _name(path: str, params: dict[str, Any], key: str, required: bool = True) -> str | None:
    value = _text(path, params, key, MAX_NAME, required)
    if value is not None and has_control(value):
        raise InvalidParams(
            f"CwmnAPI.{path}(): {key} must not contain line breaks or control characters"
        )
    return value


def _message(path: str, params: dict[str, Any], key: str = "message") -> str | None:
    value = _text(path, params, key, MAX_MESSAGE, required=False)
    if value is None:
        return None
    cleaned = clean_message(value)
    if cleaned is None:
        raise InvalidParams(
            f"CwmnAPI.{path}(): {key} must not contain control characters (line breaks and "
            "tabs are fine)"
        )
    return cleaned


def _email(path: str, params: dict[str, Any], key: str) -> str:
    value = _text(path, params, key, MAX_EMAIL)
    assert value is not None
    if not is_email(value):
        raise InvalidParams(f"CwmnAPI.{path}(): {key} {value!r} is not a valid email address")
    return value


def _bool(path: str, value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidParams(f"CwmnAPI.{path}(): {what} must be true or false, got {value!r}")
    return value


def _flag(path: str, args: tuple[Any, ...], what: str) -> dict[str, Any]:
    if len(args) != 1:
        raise InvalidParams(f"CwmnAPI.{path}() takes one boolean ({what}); got {_describe(args)}")
    return {what: _bool(path, args[0], what)}


def _none(path: str, args: tuple[Any, ...]) -> dict[str, Any]:
    if args and not (len(args) == 1 and args[0] is None):
        raise InvalidParams(f"CwmnAPI.{path}() takes no arguments; got {_describe(args)}")
    return {}


def _guest_id(path: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidParams(f"CwmnAPI.{path}(): guestId must be a non-empty string, got {value!r}")
    return value.strip()


def _idle_timeout(path: str, value: Any) -> float:
    """Extension ``idleTimeout``: seconds without activity before the session ends (0: the
    server's setting, which also caps it)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not (value == 0 or MIN_IDLE_TIMEOUT <= value <= MAX_IDLE_TIMEOUT):
        raise InvalidParams(
            f"CwmnAPI.{path}(): idleTimeout must be a number of seconds from "
            f"{MIN_IDLE_TIMEOUT} to {MAX_IDLE_TIMEOUT} (0: the server's), got {value!r}"[:200]
        )
    return float(value)


def session_start(path: str, args: tuple[Any, ...]) -> dict[str, Any]:
    p = _params(path, args, ("hostName", "hostEmail", "isReplay", "idleTimeout"))
    is_replay = p.get("isReplay", False)
    params: dict[str, Any] = {
        "hostName": _name(path, p, "hostName"),
        "hostEmail": _email(path, p, "hostEmail"),
        "isReplay": _bool(path, is_replay, "isReplay"),
    }
    if p.get("idleTimeout") is not None:  # the extension's; the reference's call is unchanged
        params["idleTimeout"] = _idle_timeout(path, p["idleTimeout"])
    return params


def invite_to_host(path: str, args: tuple[Any, ...]) -> dict[str, Any]:
    keys = ("hostName", "hostEmail", "inviteName", "inviteEmail", "message", "url")
    p = _params(path, args, keys)
    url = _text(path, p, "url", 2048)
    assert url is not None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParams(f"CwmnAPI.{path}(): url must be an absolute http(s) URL, got {url!r}")
    return {
        "hostName": _name(path, p, "hostName"),
        "hostEmail": _email(path, p, "hostEmail"),
        "inviteName": _name(path, p, "inviteName"),
        "inviteEmail": _email(path, p, "inviteEmail"),
        "message": _message(path, p),
        "url": url,
    }


def invite_guest(path: str, args: tuple[Any, ...]) -> dict[str, Any]:
    p = _params(path, args, ("guestName", "guestEmail", "guestPhone", "message"))
    if p.get("guestPhone") not in (None, ""):
        if p.get("guestEmail") not in (None, ""):
            raise InvalidParams(
                f"CwmnAPI.{path}(): give either guestEmail (email invite) or guestPhone "
                "(SMS invite), not both"
            )
        phone = _text(path, p, "guestPhone", 32)
        assert phone is not None
        if not _PHONE.match(phone) or sum(c.isdigit() for c in phone) < 7:
            raise InvalidParams(f"CwmnAPI.{path}(): guestPhone {phone!r} is not a phone number")
        return {
            "channel": "sms",
            "guestPhone": phone,
            "guestName": _name(path, p, "guestName", required=False),
            "message": _message(path, p),
        }
    if p.get("guestEmail") in (None, ""):
        raise InvalidParams(
            f"CwmnAPI.{path}(): give guestName and guestEmail for an email invite, "
            "or guestPhone for an SMS invite"
        )
    return {
        "channel": "email",
        "guestName": _name(path, p, "guestName"),
        "guestEmail": _email(path, p, "guestEmail"),
        "message": _message(path, p),
    }


def remove_guest(path: str, args: tuple[Any, ...]) -> dict[str, Any]:
    if len(args) == 1 and isinstance(args[0], Mapping):
        p = _params(path, args, ("guestId",))
        return {"guestId": _guest_id(path, p.get("guestId"))}
    if len(args) == 1:
        return {"guestId": _guest_id(path, args[0])}
    raise InvalidParams(f"CwmnAPI.{path}() takes {{guestId}} or a guest id; got {_describe(args)}")


def mute_guest(path: str, args: tuple[Any, ...]) -> dict[str, Any]:
    if len(args) == 1 and isinstance(args[0], Mapping):
        p = _params(path, args, ("guestId", "muted"))
        if "muted" not in p:
            raise InvalidParams(f"CwmnAPI.{path}(): muted is required (true or false)")
        return {
            "guestId": _guest_id(path, p.get("guestId")),
            "muted": _bool(path, p["muted"], "muted"),
        }
    if len(args) == 2:
        return {"guestId": _guest_id(path, args[0]), "muted": _bool(path, args[1], "muted")}
    raise InvalidParams(
        f"CwmnAPI.{path}() takes {{guestId, muted}} or (guestId, muted); got {_describe(args)}"
    )


def send_video(path: str, args: tuple[Any, ...]) -> dict[str, Any]:
    if not args or (len(args) == 1 and args[0] is None):
        args = ({},)
    p = _params(path, args, ("toEmails", "subject", "message"))
    emails = p.get("toEmails")
    if emails is not None:
        if isinstance(emails, str):
            emails = [emails]
        if not isinstance(emails, list | tuple) or not emails or len(emails) > MAX_VIDEO_RECIPIENTS:
            raise InvalidParams(
                f"CwmnAPI.{path}(): toEmails must be a list of 1 to {MAX_VIDEO_RECIPIENTS} "
                "addresses"
            )
        emails = [_email(path, {"toEmails": e}, "toEmails") for e in emails]
    return {
        "toEmails": emails,
        "subject": _name(path, p, "subject", required=False),
        "message": _message(path, p),
    }


def _no_args(path: str, args: tuple[Any, ...]) -> dict[str, Any]:
    return _none(path, args)


def accept_host_invite(path: str, args: tuple[Any, ...]) -> dict[str, Any]:
    """``{code}``: the code the invitation's email gave (digits; spaces and dashes as
    people type them are fine). Without it the server answers ``invite_code_invalid``."""
    if not args or (len(args) == 1 and args[0] is None):
        return {"code": ""}
    p = _params(path, args, ("code",))
    code = p.get("code", "")
    if not isinstance(code, str) or len(code) > 16 or not _CODE.match(code):
        raise InvalidParams(
            f"CwmnAPI.{path}(): code must be the digits the invitation email gave, got {code!r}"[
                :200
            ]
        )
    return {"code": code.strip()}


VALIDATORS: dict[str, Callable[[str, tuple[Any, ...]], dict[str, Any]]] = {
    "session.start": session_start,
    "session.inviteToHost": invite_to_host,
    "session.acceptHostInvite": accept_host_invite,
    "session.declineHostInvite": _no_args,
    "session.endSession": _no_args,
    "guest.inviteGuest": invite_guest,
    "guest.getInviteLink": _no_args,
    "guest.removeGuest": remove_guest,
    "guest.muteGuest": mute_guest,
    "guest.muteAllGuests": lambda path, args: _flag(path, args, "status"),
    "publicLink.setEnabled": lambda path, args: _flag(path, args, "enabled"),
    "publicLink.generate": _no_args,
    "privacy.setEnabled": lambda path, args: _flag(path, args, "enabled"),
    "replay.muteAudio": lambda path, args: _flag(path, args, "muted"),
    "replay.sendVideo": send_video,
    "replay.getVideoURL": _no_args,
    "replay.abandonVideo": _no_args,
    "replay.getRenderingProgress": _no_args,
    "replay.dismissError": _no_args,
    "guest.getJoinCode": _no_args,
    "control.grant": remove_guest,
    "control.decline": remove_guest,
    "control.revoke": _no_args,
    "control.setAllowed": lambda path, args: _flag(path, args, "allowed"),
    "indicator.setEnabled": lambda path, args: _flag(path, args, "enabled"),
    "indicator.showMasked": lambda path, args: _flag(path, args, "enabled"),
}


def validate(path: str, args: tuple[Any, ...]) -> dict[str, Any]:
    """Validate the arguments of the Promise-returning function ``path``."""
    return VALIDATORS[path](path, args)
