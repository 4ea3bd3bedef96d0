"""cwmn_web.client.validation: good input is cleaned, bad input names the field to fix."""

from __future__ import annotations

from typing import Any

import pytest

from cwmn_web.client.validation import MAX_MESSAGE, MAX_NAME, VALIDATORS, validate
from cwmn_web.errors import InvalidParams

EMAIL = "noreply@clickwithmenow.com"
INJECTION = "a@b.com\r\nBcc: x@y.com"


def bad(path: str, *args: Any) -> str:
    """The message of the ``invalid_params`` error ``path`` raises for ``args``."""
    with pytest.raises(InvalidParams) as info:
        validate(path, args)
    assert info.value.code == "invalid_params"
    assert f"CwmnAPI.{path}()" in info.value.message
    return info.value.message


# -- the reference example's exact calls ----------------------------------------------------
def test_reference_start_hosting() -> None:
    params = {"hostName": "Host Name", "hostEmail": EMAIL, "isReplay": False}
    assert validate("session.start", (params,)) == params


def test_reference_start_replay() -> None:
    params = {"hostName": "Host Name", "hostEmail": EMAIL, "isReplay": True}
    assert validate("session.start", (params,))["isReplay"] is True


def test_reference_invite_to_host() -> None:
    params = {
        "hostName": "Click With Me Now demo",
        "hostEmail": EMAIL,
        "inviteName": "Ann",
        "inviteEmail": "ann@example.com",
        "message": "Please host",
        "url": "https://shop.example.com/cart",
    }
    assert validate("session.inviteToHost", (params,)) == params


def test_reference_email_invite() -> None:
    params = {"guestName": "Guest Name", "guestEmail": EMAIL, "message": "Join my session!"}
    assert validate("guest.inviteGuest", (params,)) == {"channel": "email", **params}


def test_reference_sms_invite() -> None:
    result = validate(
        "guest.inviteGuest", ({"guestName": "Guest Name", "guestPhone": "3145550000"},)
    )
    assert result == {
        "channel": "sms",
        "guestPhone": "3145550000",
        "guestName": "Guest Name",
        "message": None,
    }


# -- session.start ----------------------------------------------------------------------------
def test_start_defaults_is_replay_and_strips() -> None:
    result = validate("session.start", ({"hostName": "  Ann ", "hostEmail": f" {EMAIL} "},))
    assert result == {"hostName": "Ann", "hostEmail": EMAIL, "isReplay": False}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"hostEmail": EMAIL}, "hostName"),
        ({"hostName": "", "hostEmail": EMAIL}, "hostName"),
        ({"hostName": "   ", "hostEmail": EMAIL}, "hostName"),
        ({"hostName": 5, "hostEmail": EMAIL}, "hostName"),
        ({"hostName": "x" * (MAX_NAME + 1), "hostEmail": EMAIL}, "hostName"),
        ({"hostName": "Ann\r\nBcc: x@y.com", "hostEmail": EMAIL}, "hostName"),
        ({"hostName": "Ann"}, "hostEmail"),
        ({"hostName": "Ann", "hostEmail": "not-an-email"}, "hostEmail"),
        ({"hostName": "Ann", "hostEmail": INJECTION}, "hostEmail"),
        ({"hostName": "Ann", "hostEmail": ["a@b.com"]}, "hostEmail"),
        ({"hostName": "Ann", "hostEmail": EMAIL, "isReplay": "false"}, "isReplay"),
        ({"hostName": "Ann", "hostEmail": EMAIL, "isReplay": 0}, "isReplay"),
        ({"hostName": "Ann", "hostEmail": EMAIL, "isreplay": True}, "isreplay"),
    ],
)
def test_start_bad_params(params: dict[str, Any], field: str) -> None:
    assert field in bad("session.start", params)


@pytest.mark.parametrize("args", [(), (None,), ("Ann",), ({"hostName": "Ann"}, {})])
def test_start_needs_one_object(args: tuple[Any, ...]) -> None:
    message = bad("session.start", *args)
    assert "hostName, hostEmail, isReplay" in message


@pytest.mark.parametrize(
    "email",
    [
        INJECTION,
        "a@b.com\nBcc: x@y.com",
        "a@b.com,c@d.com",
        "a@b.com;c@d.com",
        "Ann <a@b.com>",
        "a b@c.com",
        "a@b",
        "a@-b.com",
        "@b.com",
        "a@@b.com",
        "x" * 250 + "@b.com",
    ],
)
def test_bad_emails(email: str) -> None:
    message = bad("guest.inviteGuest", {"guestName": "G", "guestEmail": email})
    assert "guestEmail" in message


@pytest.mark.parametrize(
    "email", ["a@b.co", "first.last+tag@sub.example.co.uk", "o'brien@example.com", "A@B.COM"]
)
def test_good_emails(email: str) -> None:
    result = validate("guest.inviteGuest", ({"guestName": "G", "guestEmail": email},))
    assert result["guestEmail"] == email


# -- session.inviteToHost ---------------------------------------------------------------------
def invite_to_host(**changes: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "hostName": "Host",
        "hostEmail": EMAIL,
        "inviteName": "Ann",
        "inviteEmail": "ann@example.com",
        "url": "https://shop.example.com/",
    }
    params.update(changes)
    return {k: v for k, v in params.items() if v is not None}


def test_invite_to_host_message_optional() -> None:
    assert validate("session.inviteToHost", (invite_to_host(),))["message"] is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"url": None}, "url"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "/relative/path"}, "url"),
        ({"url": "ftp://example.com/"}, "url"),
        ({"url": "https://"}, "url"),
        ({"url": "https://e.com/" + "a" * 2048}, "url"),
        ({"inviteEmail": INJECTION}, "inviteEmail"),
        ({"inviteName": None}, "inviteName"),
        ({"hostEmail": "nope"}, "hostEmail"),
        ({"message": "m" * (MAX_MESSAGE + 1)}, "message"),
        ({"message": 42}, "message"),
        ({"cc": "x@y.com"}, "cc"),
    ],
)
def test_invite_to_host_bad(changes: dict[str, Any], field: str) -> None:
    assert field in bad("session.inviteToHost", invite_to_host(**changes))


# -- guest.inviteGuest --------------------------------------------------------------------------
def test_message_at_the_limit_is_accepted() -> None:
    params = {"guestName": "G", "guestEmail": EMAIL, "message": "m" * MAX_MESSAGE}
    assert validate("guest.inviteGuest", (params,))["message"] == "m" * MAX_MESSAGE


def test_message_may_span_lines() -> None:
    params = {"guestName": "G", "guestEmail": EMAIL, "message": "Hi,\nJoin me."}
    assert validate("guest.inviteGuest", (params,))["message"] == "Hi,\nJoin me."


@pytest.mark.parametrize(
    "phone", ["3145550000", "+1 314 555 0000", "(314) 555-0000", "+44 20 7946 0958", "314.555.0000"]
)
def test_good_phones(phone: str) -> None:
    result = validate("guest.inviteGuest", ({"guestPhone": phone},))
    assert result["channel"] == "sms"
    assert result["guestPhone"] == phone
    assert result["guestName"] is None


@pytest.mark.parametrize(
    "phone",
    ["555", "12345", "call me", "+1 314 555 0000 ext 12", "3145550000\r\nx", "1" * 40, 3145550000],
)
def test_bad_phones(phone: Any) -> None:
    assert "guestPhone" in bad("guest.inviteGuest", {"guestPhone": phone})


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        (
            {"guestName": "G", "guestEmail": EMAIL, "guestPhone": "3145550000"},
            ("guestEmail", "guestPhone"),
        ),
        ({"guestName": "G"}, ("guestEmail", "guestPhone")),
        ({}, ("guestEmail", "guestPhone")),
        ({"guestEmail": EMAIL}, ("guestName",)),
        ({"guestName": "G", "guestEmail": EMAIL, "message": "m" * 1001}, ("message",)),
        ({"guestName": "G", "guestEmail": EMAIL, "bcc": "x@y.com"}, ("bcc",)),
        ({"guestName": "G\x00", "guestEmail": EMAIL}, ("guestName",)),
    ],
)
def test_invite_guest_bad(params: dict[str, Any], fields: tuple[str, ...]) -> None:
    message = bad("guest.inviteGuest", params)
    for field in fields:
        assert field in message


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"guestName": "G\r\nBcc: x@y.com", "guestEmail": EMAIL}, "guestName"),
        ({"guestName": "G\u2028Bcc: x@y.com", "guestEmail": EMAIL}, "guestName"),
        ({"guestName": "G\x85H", "guestEmail": EMAIL}, "guestName"),
        ({"guestName": "G", "guestEmail": EMAIL, "message": "clear \x1b[2J"}, "message"),
        ({"guestPhone": "3145550000", "message": "\x00"}, "message"),
    ],
)
def test_invite_header_injection_and_control_characters(params: dict[str, Any], field: str) -> None:
    assert field in bad("guest.inviteGuest", params)


def test_message_line_breaks_are_normalised() -> None:
    params = {"guestName": "G", "guestEmail": EMAIL, "message": "a\r\nb\rc\td"}
    assert validate("guest.inviteGuest", (params,))["message"] == "a\nb\nc\td"


def test_empty_phone_falls_back_to_email_invite() -> None:
    params = {"guestName": "G", "guestEmail": EMAIL, "guestPhone": ""}
    assert validate("guest.inviteGuest", (params,))["channel"] == "email"


# -- guest.removeGuest / guest.muteGuest -----------------------------------------------------
def test_remove_guest_object_and_bare_id() -> None:
    assert validate("guest.removeGuest", ({"guestId": "g1"},)) == {"guestId": "g1"}
    assert validate("guest.removeGuest", ("g1",)) == {"guestId": "g1"}
    assert validate("guest.removeGuest", (" g1 ",)) == {"guestId": "g1"}


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((), "guestId"),
        (("g1", "g2"), "guestId"),
        ((None,), "guestId"),
        (("",), "guestId"),
        ((7,), "guestId"),
        (({},), "guestId"),
        (({"guestId": 7},), "guestId"),
        (({"guestId": "g1", "muted": True},), "muted"),
    ],
)
def test_remove_guest_bad(args: tuple[Any, ...], field: str) -> None:
    assert field in bad("guest.removeGuest", *args)


def test_mute_guest_positional_and_object_forms() -> None:
    expected = {"guestId": "g1", "muted": True}
    assert validate("guest.muteGuest", ("g1", True)) == expected
    assert validate("guest.muteGuest", ({"guestId": "g1", "muted": True},)) == expected
    assert validate("guest.muteGuest", ("g1", False))["muted"] is False


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (({"guestId": "g1"},), "muted"),
        (({"guestId": "g1", "muted": "yes"},), "muted"),
        (({"muted": True},), "guestId"),
        (("g1",), "guestId, muted"),
        (("g1", 1), "muted"),
        (("", True), "guestId"),
        (("g1", True, False), "guestId, muted"),
        (({"guestId": "g1", "muted": True, "extra": 1},), "extra"),
    ],
)
def test_mute_guest_bad(args: tuple[Any, ...], field: str) -> None:
    assert field in bad("guest.muteGuest", *args)


# -- flags and no-argument functions ----------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("guest.muteAllGuests", "status"),
        ("publicLink.setEnabled", "enabled"),
        ("privacy.setEnabled", "enabled"),
        ("replay.muteAudio", "muted"),
    ],
)
def test_flags(path: str, key: str) -> None:
    assert validate(path, (True,)) == {key: True}
    assert validate(path, (False,)) == {key: False}
    for args in [(), (1,), ("true",), (None,), (True, True)]:
        assert key in bad(path, *args)


@pytest.mark.parametrize(
    "path",
    [
        "session.endSession",
        "session.declineHostInvite",
        "guest.getInviteLink",
        "publicLink.generate",
        "replay.getVideoURL",
        "replay.abandonVideo",
        "replay.getRenderingProgress",
        "replay.dismissError",
    ],
)
def test_no_argument_functions(path: str) -> None:
    assert validate(path, ()) == {}
    assert validate(path, (None,)) == {}
    assert "takes no arguments; got dict" in bad(path, {"x": 1})
    assert "takes no arguments; got str, int" in bad(path, "x", 1)


def test_accept_host_invite_takes_the_emailed_code() -> None:
    path = "session.acceptHostInvite"
    assert validate(path, ()) == validate(path, (None,)) == {"code": ""}
    assert validate(path, ({"code": " 123 456 "},)) == {"code": "123 456"}
    assert "unknown parameter(s) pin" in bad(path, {"pin": "1"})
    assert "code must be the digits" in bad(path, {"code": "12ab"})
    assert "code must be the digits" in bad(path, {"code": "1" * 17})


# -- replay.sendVideo --------------------------------------------------------------------------
def test_send_video_defaults() -> None:
    expected = {"toEmails": None, "subject": None, "message": None}
    assert validate("replay.sendVideo", ()) == expected
    assert validate("replay.sendVideo", (None,)) == expected
    assert validate("replay.sendVideo", ({},)) == expected


def test_send_video_full_and_single_address() -> None:
    params = {"toEmails": ["a@b.com", "c@d.org"], "subject": "Demo", "message": "Watch"}
    assert validate("replay.sendVideo", (params,)) == params
    assert validate("replay.sendVideo", ({"toEmails": "a@b.com"},))["toEmails"] == ["a@b.com"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"toEmails": []}, "toEmails"),
        ({"toEmails": [f"u{i}@b.com" for i in range(21)]}, "toEmails"),
        ({"toEmails": ["a@b.com", INJECTION]}, "toEmails"),
        ({"toEmails": {"a": "a@b.com"}}, "toEmails"),
        ({"toEmails": [5]}, "toEmails"),
        ({"subject": "Hi\r\nBcc: x@y.com"}, "subject"),
        ({"message": "m" * 1001}, "message"),
        ({"to": ["a@b.com"]}, "to"),
    ],
)
def test_send_video_bad(params: dict[str, Any], field: str) -> None:
    assert field in bad("replay.sendVideo", params)


def test_every_validator_rejects_garbage_with_invalid_params() -> None:
    for path in VALIDATORS:
        with pytest.raises(InvalidParams):
            validate(path, (object(), object(), object()))
