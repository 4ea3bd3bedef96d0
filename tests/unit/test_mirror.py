"""cwmn_web.client.mirror: masking placeholders and absolute URLs."""

from __future__ import annotations

import pytest

from cwmn_web.client.mirror import MirrorEncoder, mask
from cwmn_web.errors import ProtocolError

BASE = "https://shop.example.com/products/item.html"


def encoder() -> MirrorEncoder:
    return MirrorEncoder(BASE)


def test_masked_text_and_values_become_stars_of_the_same_length() -> None:
    enc = encoder()
    assert enc.record([5, 4, 3, None, 7]) == [5, 4, 3, "*******"]
    element = enc.record([6, 4, 1, "input", ["type", "password", "cwmn:masked", 4]])
    assert element == [6, 4, 1, "input", ["type", "password", "cwmn:value", "****"]]
    assert enc.text_change([5, None, 3]) == [5, "***"]
    assert mask(10_000) == "*" * 64 and mask(-1) == ""


def test_relative_urls_become_absolute() -> None:
    enc = encoder()
    attrs = enc.attrs(
        "img",
        [
            "src",
            "../img/a.png",
            "srcset",
            "b.png 1x, /c.png 2x",
            "href",
            "#top",
            "data-x",
            "keep/me",
        ],
    )
    assert attrs == [
        "src",
        "https://shop.example.com/img/a.png",
        "srcset",
        "https://shop.example.com/products/b.png 1x, https://shop.example.com/c.png 2x",
        "href",
        "#top",
        "data-x",
        "keep/me",
    ]
    assert enc.attr("style", "background: url(bg.png)") == (
        "style",
        'background: url("https://shop.example.com/products/bg.png")',
    )
    assert enc.attr("href", "mailto:a@b.c") == ("href", "mailto:a@b.c")
    # A root's adopted sheets resolve against the page, like its <style>s.
    assert enc.attr("cwmn:adopted", ".x { background: url(bg.png) }") == (
        "cwmn:adopted",
        '.x { background: url("https://shop.example.com/products/bg.png") }',
    )


def test_snapshot_takes_its_base_from_the_page() -> None:
    enc = MirrorEncoder()
    data = enc.snapshot(
        {
            "nodes": [[1, 0, 1, "a", ["href", "x.html"]]],
            "url": BASE,
            "base": "https://cdn.example.com/assets/",
            "viewport": [800, 600],
        }
    )
    assert data["nodes"][0][4] == ["href", "https://cdn.example.com/assets/x.html"]
    assert data["viewport"] == [800, 600] and data["scroll"] == [0, 0]


def test_mutations_are_encoded_field_by_field() -> None:
    data = encoder().mutations(
        {
            "removes": [9],
            "adds": [[10, 2, 3, "hi"]],
            "order": [[2, [10, 11]]],
            "attrs": [[3, "href", "next.html"], [3, "title", None]],
            "texts": [[4, None, 2]],
        }
    )
    assert data == {
        "removes": [9],
        "adds": [[10, 2, 3, "hi"]],
        "order": [[2, [10, 11]]],
        "attrs": [[3, "href", "https://shop.example.com/products/next.html"], [3, "title", None]],
        "texts": [[4, "**"]],
    }


def test_small_frames_keep_only_numbers() -> None:
    assert encoder().frame("scroll", {"id": 0, "x": 1, "y": 2.5, "evil": "<x>"}) == {
        "id": 0,
        "x": 1,
        "y": 2.5,
    }


def test_unknown_kinds_are_protocol_errors() -> None:
    with pytest.raises(ProtocolError):
        encoder().frame("keystrokes", {})
    with pytest.raises(ProtocolError):
        encoder().record([1, 0, 7, "x"])
