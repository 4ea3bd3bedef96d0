"""cwmn_web.errors: the code registry, the subclasses' codes, the dict form."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from cwmn_web import errors
from cwmn_web.errors import (
    CODES,
    CwmnError,
    ErrorCode,
    Incompatible,
    InvalidParams,
    InvalidState,
    NetworkError,
    NotFound,
    NotImplementedCapability,
    ProtocolError,
    RateLimited,
    Timeout,
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
def test_codes_are_snake_case_with_a_description(code: ErrorCode) -> None:
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
        (RateLimited, "rate_limited"),
        (Timeout, "timeout"),
        (Incompatible, "incompatible"),
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
    error = CwmnError("slow", ErrorCode.TIMEOUT)
    assert error.code == "timeout"
    assert CwmnError("x").code == "server_error"
    # The instance override does not leak into the class.
    assert CwmnError.code == "server_error"


def test_unregistered_code_is_refused() -> None:
    with pytest.raises(ValueError, match="bogus"):
        CwmnError("x", "bogus")  # type: ignore[arg-type]  # an untyped caller


@pytest.mark.parametrize("code", list(CODES))
def test_dict_round_trip(code: ErrorCode) -> None:
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


def test_the_registry_is_the_enum() -> None:
    assert list(CODES) == list(ErrorCode)
    for code in ErrorCode:
        assert code == code.value and code.name == code.value.upper()


def test_every_exported_error_has_a_registered_code() -> None:
    classes = [getattr(errors, name) for name in errors.__all__]
    subclasses = [c for c in classes if isinstance(c, type) and issubclass(c, CwmnError)]
    assert len(subclasses) > 10
    for cls in subclasses:
        assert isinstance(cls.code, ErrorCode), cls


def test_a_code_given_as_a_string_becomes_the_enum() -> None:
    error = CwmnError("slow", "timeout")  # type: ignore[arg-type]  # an untyped caller
    assert error.code is ErrorCode.TIMEOUT
    assert CwmnError.from_dict({"code": "not_found"}).code is ErrorCode.NOT_FOUND


# -- no bare code strings in the package ---------------------------------------------------

PACKAGE = Path(errors.__file__).parent
ERROR_CLASSES = {
    name
    for name in errors.__all__
    if isinstance(getattr(errors, name), type) and issubclass(getattr(errors, name), CwmnError)
}


def is_code(node: ast.AST | None) -> bool:
    """A code string, or an ``if``/``or`` expression that may give one."""
    if isinstance(node, ast.IfExp):
        return is_code(node.body) or is_code(node.orelse)
    if isinstance(node, ast.BoolOp):
        return any(is_code(value) for value in node.values)
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in CODES


def all_codes(node: ast.AST) -> bool:
    """A code, or a tuple, list or (frozen) set of them (``None`` allowed among them)."""
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("frozenset", "set"):
        return len(node.args) == 1 and all_codes(node.args[0])
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        elements = [e for e in node.elts if not (isinstance(e, ast.Constant) and e.value is None)]
        return bool(elements) and all(is_code(e) for e in elements)
    return is_code(node)


def names_a_code(node: ast.AST) -> bool:
    return (isinstance(node, ast.Name) and node.id == "code") or (
        isinstance(node, ast.Attribute) and node.attr == "code"
    )


def bare_codes(tree: ast.AST) -> Iterator[int]:
    """Lines where a code is written as a string instead of an ``ErrorCode``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            refusal = re.search("refus|error", name, re.IGNORECASE) is not None
            if (
                (name in ERROR_CLASSES and any(is_code(arg) for arg in node.args[1:]))
                or (refusal and node.args and is_code(node.args[0]))
                or any(k.arg == "code" and is_code(k.value) for k in node.keywords)
            ):
                yield node.lineno
        elif isinstance(node, ast.Dict):
            keys = [k for k in node.keys if k is not None]
            if (
                any(
                    isinstance(k, ast.Constant) and k.value == "code" and is_code(v)
                    for k, v in zip(node.keys, node.values, strict=True)
                )
                or (len(keys) > 1 and all(is_code(k) for k in keys))
                or (
                    len(node.values) > 1
                    and all(isinstance(v, ast.Tuple) and is_code(v.elts[0]) for v in node.values)
                )
            ):
                yield node.lineno
        elif isinstance(node, ast.Return) and is_code(node.value):
            yield node.lineno
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(names_a_code(s) for s in sides) and any(all_codes(s) for s in sides):
                yield node.lineno
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.value
            if (
                value is not None
                and all_codes(value)
                and (any(names_a_code(t) for t in targets) or not is_code(value))
            ):
                yield node.lineno


def test_the_bare_code_finder_finds_each_form() -> None:
    source = (
        'raise CwmnError("gone", "session_ended")\n'
        'raise errors.CwmnError("gone", code="not_found")\n'
        'reply = ErrorReply(ref=1, code="server_error")\n'
        'error = {"code": "server_error", "message": "x"}\n'
        'PAGES = {"link_invalid": 1, "link_used": 2}\n'
        'def f():\n    return "link_used"\n'
        'if exc.code == "network": pass\n'
        'if code in (None, "link_invalid"): pass\n'
        'code = "guest_removed"\n'
        'GONE = ("session_ended", "not_found")\n'
        'raise JoinRefused("room_full")\n'
        'return refusal(code or "link_invalid")\n'
        'TRANSIENT = frozenset({"server_error", "timeout"})\n'
        'CLOSE = {4001: ("unauthorized", "x"), 4002: ("protocol", "y")}\n'
        'def g(public):\n    return "public_link_disabled" if public else None\n'
    )
    assert sorted(bare_codes(ast.parse(source))) == [1, 2, 3, 4, 5, 7, *range(8, 16), 17]
    typed = (
        'raise CwmnError("gone", ErrorCode.SESSION_ENDED)\n'
        'raise NotFound("gone")\n'
        'type: ClassVar[str] = "session_ended"\n'
        '_e("unauthorized", (S.UNAUTHORIZED,), "The page is not authorized.")\n'
    )
    assert list(bare_codes(ast.parse(typed))) == []


def test_no_bare_code_strings() -> None:
    found: dict[str, list[int]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "errors.py" and path.parent == PACKAGE:
            continue
        lines = sorted(set(bare_codes(ast.parse(path.read_text(), str(path)))))
        if lines:
            found[path.relative_to(PACKAGE).as_posix()] = lines
    assert not found, "use ErrorCode or a CwmnError subclass, not a code string:\n" + "\n".join(
        f"cwmn_web/{where}:{line}" for where, lines in found.items() for line in lines
    )
