"""cwmn_web.client.srcset, and srcset routing by the mirror encoder: candidates as the HTML
standard parses them (a data: URL's commas are its own), descriptors kept."""

from __future__ import annotations

from cwmn_web.client.mirror import MirrorEncoder
from cwmn_web.client.page_assets import PageAssets
from cwmn_web.client.srcset import parse_srcset, serialize_srcset
from cwmn_web.protocol.page_assets import url_key

PAGE = "https://app.example.com/account/index.html"
STORE = "https://cwmn.test/a/s1.mac/"
ASSETS = {"base": STORE, "upload": "https://cwmn.test/api/page-assets/s1.up"}


def test_candidates_and_descriptors() -> None:
    assert parse_srcset(" a.png 1x,b.png   2x , c.png 800w 600h,d.png") == [
        ("a.png", ["1x"]),
        ("b.png", ["2x"]),
        ("c.png", ["800w", "600h"]),
        ("d.png", []),
    ]
    assert parse_srcset("a.png,, b.png,") == [("a.png", []), ("b.png", [])]
    assert parse_srcset("a.png,b.png") == [("a.png,b.png", [])]  # one URL, as browsers read it
    assert parse_srcset(" , ") == []
    assert parse_srcset("a.png f(1, 2) 2x, b.png") == [("a.png", ["f(1, 2)", "2x"]), ("b.png", [])]


def test_a_data_url_keeps_its_commas() -> None:
    value = "data:image/png;base64,AAA 2x, /b.png 1x"
    assert parse_srcset(value) == [("data:image/png;base64,AAA", ["2x"]), ("/b.png", ["1x"])]
    assert parse_srcset("data:image/gif;base64,R0lG,/c.png") == [
        ("data:image/gif;base64,R0lG,/c.png", [])
    ]
    assert parse_srcset("data:image/gif;base64,R0lG, /c.png") == [
        ("data:image/gif;base64,R0lG", []),
        ("/c.png", []),
    ]


def test_serialized_back() -> None:
    assert serialize_srcset([("a.png", ["1x"]), ("b.png", [])]) == "a.png 1x, b.png"


def test_the_encoder_fetches_no_piece_of_a_data_url() -> None:
    assets = PageAssets(ASSETS, PAGE)
    enc = MirrorEncoder(PAGE, assets)
    value = "data:image/png;base64,AAA 2x, /b.png 1x"
    record = enc.record([1, 0, 1, "img", ["srcset", value]])
    b = "https://app.example.com/b.png"
    assert record[4] == ["srcset", f"data:image/png;base64,AAA 2x, {STORE}{url_key(b)} 1x"]
    assert [f.url for f in assets.take()] == [b]
    direct = MirrorEncoder(PAGE).record([2, 0, 1, "img", ["srcset", value]])
    assert direct[4] == ["srcset", f"data:image/png;base64,AAA 2x, {b} 1x"]
