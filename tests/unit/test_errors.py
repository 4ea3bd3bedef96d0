"""cwmn_web.errors: the code registry, the subclasses' codes, the dict form."""

from __future__ import annotations

import re

import pytest

from cwmn_web.errors import (
    CODES,
    CwmnError,
    InvalidParams,
    InvalidState,
    NetworkError,
    NotFound,
    NotImplementedCapability,
    ProtocolError,
    Unauthorized,
)

#: Codes named by INTERPRETATION.md or used by the code; a shipped code never goes away.
SHIPPED = {
    "invalid_state",
    "invalid_params",
    "unauthorized",
    "incompatible",
    "network",
    "timeout",
    "rate_limited",
    "not_found",
    "not_implemented",
    "protocol",
    "server_error",
}


def test_registry_keeps_every_shipped_code() -> None:
    assert set(CODES) >= SHIPPED


@pytest.mark.parametrize("code", list(CODES))
def test_codes_are_snake_case_with_a_description(code: str) -> None:
    assert re.fullmatch(r"[a-z]+(_[a-z]+)*", code)
    assert CODES[code].endswith(".")


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (CwmnError, "server_error"),
        (InvalidState, "invalid_state"),
        (InvalidParams, "invalid_params"),
        (Unauthorized, "unauthorized"),
        (NetworkError, "network"),
        (NotFound, "not_found"),
        (NotImplementedCapability, "not_implemented"),
        (ProtocolError, "protocol"),
    ],
)
def test_subclass_codes(cls: type[CwmnError], code: str) -> None:
    error = cls("what to fix")
    assert error.code == code
    assert error.message == "what to fix"
    assert str(error) == "what to fix"
    assert isinstance(error, CwmnError)
    assert error.to_dict() == {"code": code, "message": "what to fix"}
    assert repr(error) == f"{cls.__name__}(code={code!r}, message='what to fix')"


def test_caller_mistakes_are_not_peer_misbehaviour() -> None:
    for cls in (InvalidState, InvalidParams):
        assert not issubclass(cls, ProtocolError)
    assert not issubclass(ProtocolError, InvalidParams | InvalidState)


def test_explicit_code_overrides_the_class_code() -> None:
    error = CwmnError("slow", "timeout")
    assert error.code == "timeout"
    assert CwmnError("x").code == "server_error"
    # The instance override does not leak into the class.
    assert CwmnError.code == "server_error"


def test_unregistered_code_is_refused() -> None:
    with pytest.raises(ValueError, match="bogus"):
        CwmnError("x", "bogus")


@pytest.mark.parametrize("code", list(CODES))
def test_dict_round_trip(code: str) -> None:
    error = CwmnError.from_dict(CwmnError("message " + code, code).to_dict())
    assert type(error) is CwmnError
    assert (error.code, error.message) == (code, "message " + code)


def test_from_dict_of_unknown_code_is_protocol_error() -> None:
    error = CwmnError.from_dict({"code": "teapot", "message": "short and stout"})
    assert isinstance(error, ProtocolError)
    assert error.code == "protocol"
    assert "'teapot'" in error.message
    assert "short and stout" in error.message


def test_from_dict_defaults() -> None:
    error = CwmnError.from_dict({})
    assert (error.code, error.message) == ("server_error", "unknown error")


def test_from_dict_on_subclass_builds_that_subclass() -> None:
    error = NetworkError.from_dict({"code": "network", "message": "down"})
    assert type(error) is NetworkError
    assert error.code == "network"
