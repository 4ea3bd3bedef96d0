"""Properties of the wire codec (cwmn_web/protocol/codec.py), for any input a peer can send:
every message survives a round trip, and anything else is refused with ``protocol``
(:class:`ProtocolError`), never another exception. Profiles: tests/unit/conftest.py."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from cwmn_web.errors import ProtocolError
from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import MESSAGE_TYPES, Message

#: Unicode text a browser can send in a text frame (no lone surrogates: not UTF-8).
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
JSON: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)
_BY_TYPE: dict[str, st.SearchStrategy[Any]] = {
    "int": st.integers(),
    "float": st.floats(allow_nan=False, allow_infinity=False) | st.integers(),
    "str": TEXT,
    "bool": st.booleans(),
    "dict[str, Any]": st.dictionaries(TEXT, JSON, max_size=5),
    "GuestObject": st.dictionaries(TEXT, JSON, max_size=5),
    "list[str]": st.lists(TEXT, max_size=5),
    "list[float]": st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=5),
}


def _message(cls: type[Message]) -> st.SearchStrategy[Message]:
    fields = {}
    for f in dataclasses.fields(cls):
        strategy = _BY_TYPE[str(f.type)]
        limit = cls.max_chars.get(f.name)
        if limit is not None and str(f.type) == "list[float]":
            strategy = st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=limit)
        elif limit is not None:
            strategy = st.text(st.characters(exclude_categories=["Cs"]), max_size=limit)
        fields[f.name] = strategy
    return st.builds(cls, **fields)


MESSAGES = st.one_of([_message(cls) for cls in MESSAGE_TYPES.values()])


@given(MESSAGES)
def test_every_message_survives_a_round_trip(message: Message) -> None:
    text = codec.encode(message)
    assert codec.decode(text) == message
    assert codec.decode(text.encode()) == message  # as bytes too


def _refused_or_decoded(frame: str | bytes) -> None:
    """``frame`` is refused with ``protocol``, or decoded into a message the server can
    send on as a text frame (UTF-8) and that decodes the same again."""
    try:
        decoded = codec.decode(frame)
    except ProtocolError as error:
        assert error.code == "protocol"
    else:
        assert isinstance(decoded, Message)
        again = codec.encode(decoded).encode()  # what a relay sends: UTF-8
        assert codec.decode(again) == decoded


@given(st.text(max_size=200))
@example('"\ud800"')  # a lone surrogate: no UTF-8 peer sends it, a careless one may
@example('{"type": "mirror", "kind": "\\ud83d"}')  # one escaped: JSON lets it through
@example('{"type": "mirror", "data": {"\\udc00": 1}}')
def test_any_text_is_decoded_or_refused_with_protocol(frame: str) -> None:
    _refused_or_decoded(frame)


@given(st.binary(max_size=200))
@example(b"\xff\xfe")
@example(b"[" * 5000 + b"]" * 5000)
def test_any_bytes_are_decoded_or_refused_with_protocol(frame: bytes) -> None:
    _refused_or_decoded(frame)


@given(st.sampled_from(sorted(MESSAGE_TYPES)), st.dictionaries(TEXT, JSON, max_size=6), JSON)
def test_any_object_of_a_known_type_is_decoded_or_refused(
    kind: str, fields: dict[str, Any], stray: Any
) -> None:
    names = [f.name for f in dataclasses.fields(MESSAGE_TYPES[kind])]
    obj = {**fields, "type": kind}
    if names:
        obj[names[len(fields) % len(names)]] = stray  # a real field with any JSON value
    _refused_or_decoded(json.dumps(obj))


@given(st.sampled_from(sorted(MESSAGE_TYPES)), st.data())
def test_strings_past_their_limit_are_refused(kind: str, data: st.DataObject) -> None:
    cls = MESSAGE_TYPES[kind]
    if not cls.max_chars:
        return
    name = data.draw(st.sampled_from(sorted(cls.max_chars)))
    size = data.draw(st.integers(cls.max_chars[name] + 1, cls.max_chars[name] + 50))
    numbers = any(f.name == name and str(f.type) == "list[float]" for f in dataclasses.fields(cls))
    try:
        codec.decode(json.dumps({"type": kind, name: [1.5] * size if numbers else "x" * size}))
    except ProtocolError as error:
        assert f"longer than {cls.max_chars[name]}" in error.message
    else:
        raise AssertionError(f"{kind}.{name} of {size} characters was taken")


@given(st.integers(1, 3000), st.sampled_from(["ascii", "é", "😀"]))
def test_frames_past_the_wire_cap_are_refused_in_bytes(extra: int, char: str) -> None:
    """The cap counts UTF-8 bytes (what the socket carries), not characters."""
    room = codec.MAX_FRAME - len('{"type":"mirror","kind":""}')
    width = len(char.encode())
    body = char * ((room + extra) // width + 1) if char != "ascii" else "a" * (room + extra)
    frame = '{"type":"mirror","kind":"' + body + '"}'
    assert len(frame.encode()) > codec.MAX_FRAME
    try:
        codec.decode(frame)
    except ProtocolError as error:
        assert "exceeds" in error.message
    else:
        raise AssertionError("a frame past the cap was taken")
