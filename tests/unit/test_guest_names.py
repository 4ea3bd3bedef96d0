"""cwmn_web.protocol.names: the one rule for a guest's name, and everyone who uses it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import Joined, SetName
from cwmn_web.protocol.names import MAX_GUEST_NAME, MAX_NAME_CHARS, clean_guest_name
from cwmn_web.viewer.session import GuestSession

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("given", "kept"),
    [("Bob", "Bob"), ("  Bob \n", "Bob"), ("", "Guest"), (" \t ", "Guest"),
     ("x" * 101, "x" * 100), ("a" * 99 + " b", "a" * 99),
     ("\U0001f600" * 101, "\U0001f600" * 100),  # characters, not UTF-16 units
     ("\x1fZoe\x85", "Zoe"), ("\u3000Zoe\u2029", "Zoe")],  # Python's whitespace
)  # fmt: skip
def test_clean_guest_name(given: str, kept: str) -> None:
    assert clean_guest_name(given) == kept


def test_the_wire_takes_a_kept_name_with_spaces_around_it() -> None:
    assert MAX_NAME_CHARS >= MAX_GUEST_NAME + 2
    assert SetName.max_chars["name"] == MAX_NAME_CHARS


def test_the_viewer_input_holds_no_more_than_the_server_keeps() -> None:
    html = (ROOT / "static" / "viewer.html").read_text()
    (maxlength,) = re.findall(r'id="cwmn-name-input"[^>]*maxlength="(\d+)"', html)
    assert int(maxlength) == MAX_GUEST_NAME


@pytest.mark.parametrize("typed", ["  Zoe\x1f ", "\u3000" + "z" * 150, "\x85"])
def test_the_viewer_session_cleans_a_name_as_the_server_does(typed: str) -> None:
    """The page sends the raw text; the session sends what the server will keep, so the
    server's answer never differs from it (no second set_name after the join)."""
    session = GuestSession("tok", "")
    session.set_name(typed)
    assert session.name == clean_guest_name(typed)
    session.connected()
    session.to_send()
    session.receive(codec.encode(Joined(ref=2, guest_id="g1", name=clean_guest_name(typed))))
    assert session.to_send() == []


def test_a_link_name_is_cleaned_and_an_empty_one_is_the_servers_choice() -> None:
    assert GuestSession("tok", "  Ann\x1f").name == "Ann"
    assert GuestSession("tok", "  ").name == ""
