"""cwmn_web.client.page_assets and its use by the mirror encoder: which URLs go through the
asset store, how they are rewritten, what is queued, and the limits."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urljoin

from cwmn_web.client.controller import ClientConfig, HostController
from cwmn_web.client.mirror import MirrorEncoder
from cwmn_web.client.page_assets import (
    AssetFetch,
    PageAssets,
    check_body,
    failure_body,
    origin_of,
    stylesheet_refusal,
    upload_answer,
)
from cwmn_web.client.states import State
from cwmn_web.protocol.page_assets import FILE, STYLE, url_key
from tests.helpers.live_page import FEATURES, SERVER, LivePage, host_of, in_session
from tests.helpers.live_page import PAGE as LIVE_PAGE

PAGE = "https://app.example.com/account/index.html"
PAGE_ROOT = "https://app.example.com/"
STORE = "https://cwmn.test/a/s1.mac/"
ASSETS: dict[str, Any] = {
    "base": STORE,
    "upload": "https://cwmn.test/api/page-assets/s1.up",
    "origins": ["https://cdn.example.com"],
    "maxBytes": 1000,
    "maxSessionBytes": 2500,
    "maxAssets": 50,
}


def key(url: str) -> str:
    return url_key(url)


def stored(url: str) -> str:
    return STORE + key(url)


def encoder(assets: dict[str, Any] | None = None) -> MirrorEncoder:
    return MirrorEncoder(PAGE, PageAssets(ASSETS if assets is None else assets, PAGE))


def queued(enc: MirrorEncoder) -> list[AssetFetch]:
    assert enc.assets is not None
    return enc.assets.take()


def test_origins_are_normalised() -> None:
    assert origin_of("HTTPS://App.Example.com:443/x?y#z") == "https://app.example.com"
    assert origin_of("http://127.0.0.1:8080/a") == "http://127.0.0.1:8080"
    assert origin_of("data:image/png;base64,AAAA") is None
    assert origin_of("blob:https://app.example.com/1") is None
    assert origin_of("https://[::1]:99/") == "https://[::1]:99"


def test_own_and_allowed_origins_are_routed_others_load_directly() -> None:
    enc = encoder()
    record = enc.record(
        [
            1,
            0,
            1,
            "img",
            ["src", "../img/me.png", "alt", "me", "srcset", "a.png 1x, /b.png 2x"],
        ]
    )
    assert record[4] == [
        "src",
        stored("https://app.example.com/img/me.png"),
        "alt",
        "me",
        "srcset",
        f"{stored('https://app.example.com/account/a.png')} 1x, "
        f"{stored('https://app.example.com/b.png')} 2x",
    ]
    third = enc.attr("src", "https://tracker.example.net/p.gif", None, "img")
    assert third == ("src", "https://tracker.example.net/p.gif")
    cdn = enc.attr("src", "https://cdn.example.com/logo.svg", None, "img")
    assert cdn == ("src", stored("https://cdn.example.com/logo.svg"))
    data = "data:image/png;base64,iVBORw0KGgo="
    assert enc.attr("src", data, None, "img") == ("src", data)
    assert [(f.url, f.kind) for f in queued(enc)] == [
        ("https://app.example.com/img/me.png", FILE),
        ("https://app.example.com/account/a.png", FILE),
        ("https://app.example.com/b.png", FILE),
        ("https://cdn.example.com/logo.svg", FILE),
    ]


def test_only_resource_attributes_are_routed() -> None:
    enc = encoder()
    routed = [
        ([1, 0, 1, "a", ["href", "/private/report.pdf"]], None),
        ([2, 0, 1, "form", ["action", "/pay"]], None),
        ([3, 0, 1, "iframe", ["src", "/frame.html"]], None),
        ([4, 0, 1, "link", ["rel", "icon", "href", "/favicon.ico"]], None),
        ([5, 0, 1, "link", ["rel", "Preload StyleSheet", "href", "/s.css"]], STYLE),
        ([6, 0, 1, "input", ["type", "image", "src", "/go.png"]], FILE),
        ([7, 0, 1, "input", ["type", "text", "src", "/no.png"]], None),
        ([8, 0, 1, "video", ["poster", "/poster.png", "src", "/movie.mp4"]], FILE),
        (
            [9, 0, 1, "use", ["href", "/sprite.svg#icon", "cwmn:ns", "http://www.w3.org/2000/svg"]],
            FILE,
        ),
        ([10, 0, 1, "feImage", ["xlink:href", "/f.png"]], FILE),
        ([11, 0, 1, "table", ["background", "/bg.gif"]], FILE),
        ([12, 0, 1, "picture", []], None),
        ([13, 12, 1, "source", ["srcset", "/wide.webp 800w"]], FILE),
        # Media: the visitor's browser would download a whole video for the store to
        # refuse it.
        ([14, 0, 1, "video", []], None),
        ([15, 14, 1, "source", ["src", "/movie.mp4", "srcset", "/m.webm 1x"]], None),
        ([16, 0, 1, "audio", []], None),
        ([17, 16, 1, "source", ["src", "/song.mp3"]], None),
        ([18, 0, 1, "source", ["src", "/orphan.png"]], None),
    ]
    for raw, kind in routed:
        record = enc.record(raw)
        attrs = record[4]
        assert isinstance(attrs, list)
        values = attrs[1::2]
        touched = [v for v in values if v.startswith(STORE)]
        assert bool(touched) == (kind is not None), raw
    kinds = {f.url.rsplit("/", 1)[1]: f.kind for f in queued(enc)}
    assert kinds == {
        "s.css": STYLE,
        "go.png": FILE,
        "poster.png": FILE,
        "sprite.svg": FILE,
        "f.png": FILE,
        "bg.gif": FILE,
        "wide.webp": FILE,
    }


def test_a_source_changed_later_is_routed_only_in_a_picture() -> None:
    enc = encoder()
    enc.mutations(
        {
            "adds": [
                [1, 0, 1, "picture", []],
                [2, 1, 1, "source", []],
                [3, 0, 1, "video", []],
                [4, 3, 1, "source", []],
            ]
        }
    )
    assert enc.attr_change([2, "srcset", "/a.png 2x"]) == [
        2,
        "srcset",
        f"{stored(PAGE_ROOT + 'a.png')} 2x",
    ]
    assert enc.attr_change([4, "src", "/clip.mp4"]) == [4, "src", PAGE_ROOT + "clip.mp4"]
    assert [f.url for f in queued(enc)] == [PAGE_ROOT + "a.png"]


def test_a_fragment_is_kept_and_a_url_is_queued_once() -> None:
    enc = encoder()
    a = enc.attr("href", "/sprite.svg#icon", None, "use")
    b = enc.attr("href", "/sprite.svg#other", None, "use")
    assert a == ("href", stored("https://app.example.com/sprite.svg") + "#icon")
    assert b == ("href", stored("https://app.example.com/sprite.svg") + "#other")
    assert len(queued(enc)) == 1
    enc.snapshot({"url": PAGE, "nodes": [[1, 0, 1, "img", ["src", "/sprite.svg"]]]})
    assert queued(enc) == []  # a new snapshot of the same page fetches nothing again


def test_css_url_and_imports_in_every_place_css_appears() -> None:
    enc = encoder()
    css = "@import 'base.css'; @import url(/t.css) screen; div{background:url(bg.png)}"
    want = (
        f'@import url("{stored("https://app.example.com/account/base.css")}"); '
        f'@import url("{stored("https://app.example.com/t.css")}") screen; '
        f'div{{background:url("{stored("https://app.example.com/account/bg.png")}")}}'
    )
    snap = enc.snapshot(
        {
            "url": PAGE,
            "adopted": [css],
            "nodes": [
                [1, 0, 1, "style", []],
                [2, 1, 3, css],
                [3, 0, 1, "div", ["style", "background: url('bg.png')"]],
                [4, 0, 1, "style", ["cwmn:css", css]],
            ],
        }
    )
    assert snap["adopted"] == [want]
    assert snap["nodes"][1][3] == want
    assert snap["nodes"][2][4] == [
        "style",
        f'background: url("{stored(PAGE.rsplit("/", 1)[0] + "/bg.png")}")',
    ]
    assert snap["nodes"][3][4] == ["cwmn:css", want]
    assert enc.text_change([2, "p{background:url(/x.png)}"]) == [
        2,
        f'p{{background:url("{stored("https://app.example.com/x.png")}")}}',
    ]
    kinds = {f.url.rsplit("/", 1)[1]: f.kind for f in queued(enc)}
    assert kinds == {"base.css": STYLE, "t.css": STYLE, "bg.png": FILE, "x.png": FILE}


def test_references_in_css_comments_and_strings_are_neither_fetched_nor_changed() -> None:
    enc = encoder()
    css = '/* @import "/account/export.json"; */ p::after{content:"see url(/a.png) here"}'
    snap = enc.snapshot(
        {
            "url": PAGE,
            "adopted": [css],
            "nodes": [
                [1, 0, 1, "style", []],
                [2, 1, 3, css],
                [3, 0, 1, "p", ["style", css]],
                [4, 0, 1, "style", ["cwmn:css", css]],
            ],
        }
    )
    assert snap["adopted"] == [css]
    assert snap["nodes"][1][3] == css
    assert snap["nodes"][2][4] == ["style", css]
    assert snap["nodes"][3][4] == ["cwmn:css", css]
    assert enc.text_change([2, css]) == [2, css]
    assert enc.assets is not None
    sheet = "https://app.example.com/site.css"
    assert enc.assets.stylesheet(sheet, css) == css
    assert queued(enc) == []


def test_a_stylesheet_is_uploaded_only_when_served_as_css() -> None:
    assert stylesheet_refusal("text/css") is None
    assert stylesheet_refusal("Text/CSS; charset=utf-8") is None
    assert stylesheet_refusal("text/html; charset=utf-8") == (
        "not a stylesheet (Content-Type text/html)"
    )
    assert stylesheet_refusal("application/json") is not None
    assert stylesheet_refusal("text/css-but-not") is not None
    assert stylesheet_refusal(None) == "not a stylesheet (Content-Type missing)"


def test_a_text_outside_a_style_is_not_css() -> None:
    enc = encoder()
    enc.record([1, 0, 1, "p", []])
    text = "see url(/x.png)"
    assert enc.record([2, 1, 3, text]) == [2, 1, 3, text]
    assert enc.text_change([2, text]) == [2, text]
    assert queued(enc) == []


def test_attribute_changes_are_routed_by_the_element_kind() -> None:
    enc = encoder()
    enc.snapshot(
        {
            "url": PAGE,
            "nodes": [
                [1, 0, 1, "img", []],
                [2, 0, 1, "a", []],
                [3, 0, 1, "link", ["rel", "preload"]],
            ],
        }
    )
    assert enc.attr_change([1, "src", "/new.png"]) == [
        1,
        "src",
        stored("https://app.example.com/new.png"),
    ]
    assert enc.attr_change([2, "href", "/new.png"]) == [
        2,
        "href",
        "https://app.example.com/new.png",
    ]
    assert enc.attr_change([3, "href", "/s.css"]) == [3, "href", "https://app.example.com/s.css"]
    assert enc.attr_change([3, "rel", "stylesheet"]) == [3, "rel", "stylesheet"]
    assert enc.attr_change([3, "href", "/s.css"]) == [
        3,
        "href",
        stored("https://app.example.com/s.css"),
    ]
    assert [f.kind for f in queued(enc)] == [FILE, STYLE]
    # A removed node is forgotten: its id, reused for a paragraph, routes nothing.
    enc.mutations({"removes": [1]})
    enc.mutations({"adds": [[1, 0, 1, "p", []]]})
    assert enc.attr_change([1, "src", "/x.png"]) == [1, "src", "https://app.example.com/x.png"]


def test_blocked_and_masked_content_is_never_routed() -> None:
    enc = encoder()
    blocked = enc.record(
        [1, 0, 1, "img", ["cwmn:block", "10x10", "style", "background:url(/s.png)"]]
    )
    assert blocked[4] == [
        "cwmn:block",
        "10x10",
        "style",
        'background:url("https://app.example.com/s.png")',
    ]
    assert enc.attr_change([1, "style", "background:url(/t.png)"])[2] == (
        'background:url("https://app.example.com/t.png")'
    )
    enc.record([2, 0, 1, "style", []])
    assert enc.record([3, 2, 3, None, 20]) == [3, 2, 3, "*" * 20]
    assert enc.text_change([3, None, 5]) == [3, "*****"]
    assert queued(enc) == []


def test_nothing_is_routed_when_the_store_is_off() -> None:
    enc = encoder({})
    assert enc.attr("src", "/me.png", None, "img") == ("src", "https://app.example.com/me.png")
    enc.record([1, 0, 1, "style", []])
    assert enc.record([2, 1, 3, "a{background:url(b.png)}"])[3] == (
        'a{background:url("https://app.example.com/account/b.png")}'
    )
    assert queued(enc) == []


def test_max_assets_leaves_the_rest_direct() -> None:
    enc = encoder({**ASSETS, "maxAssets": 2})
    urls = [enc.attr("src", f"/{i}.png", None, "img")[1] for i in range(3)]
    assert urls[:2] == [stored(f"https://app.example.com/{i}.png") for i in range(2)]
    assert urls[2] == "https://app.example.com/2.png"
    assert enc.attr("src", "/0.png", None, "img")[1] == urls[0]  # a known one stays routed
    assert len(queued(enc)) == 2


def test_a_fetched_stylesheet_refers_to_keys_relative_to_itself() -> None:
    assets = PageAssets(ASSETS, PAGE)
    sheet = "https://cdn.example.com/css/site.css"
    text = (
        "@import 'parts/a.css';\n"
        "@font-face{src:url(../fonts/f.woff2#x) format('woff2')}\n"
        "b{background:url(https://elsewhere.example.org/i.png)}\n"
        "i{background:url(data:image/gif;base64,R0lGOD==)} u{filter:url(#f)}\n"
        "s{background:url(/img/s.png)}"
    )
    out = assets.stylesheet(sheet, text)
    font, img = (
        key("https://cdn.example.com/fonts/f.woff2"),
        key("https://cdn.example.com/img/s.png"),
    )
    assert out == (
        f'@import url("{key("https://cdn.example.com/css/parts/a.css")}");\n'
        f"@font-face{{src:url(\"{font}#x\") format('woff2')}}\n"
        "b{background:url(https://elsewhere.example.org/i.png)}\n"  # unchanged: kept as is
        "i{background:url(data:image/gif;base64,R0lGOD==)} u{filter:url(#f)}\n"
        f's{{background:url("{img}")}}'
    )
    assert [(f.url, f.kind) for f in assets.take()] == [
        ("https://cdn.example.com/css/parts/a.css", STYLE),
        ("https://cdn.example.com/fonts/f.woff2", FILE),
        ("https://cdn.example.com/img/s.png", FILE),
    ]
    # The same sheet in another session (another BASE) uploads the same text.
    other = PageAssets({**ASSETS, "base": "https://cwmn.test/a/s2.mac/"}, PAGE)
    assert other.stylesheet(sheet, text) == out


def test_limits_per_asset_and_per_session_and_counters() -> None:
    assets = PageAssets(ASSETS, PAGE)
    assert assets.admit("a", 1001) == "larger than 1000 bytes"
    assert assets.admit("b", 1000) is None
    assert assets.admit("c", 1000) is None
    assert assets.admit("d", 600) == "the session's 2500 bytes of assets are used"
    assert assets.admit("e", 500) is None
    assets.done("b", "uploaded", 1000)
    assets.done("c", "reused")
    assets.done("a", "failed")
    assert assets.counters == {
        "routed": 0,
        "fetched": 2,
        "uploaded": 1,
        "reused": 1,
        "failed": 1,
        "bytesUploaded": 1000,
    }
    assert assets.outcomes == {"b": "uploaded", "c": "reused", "a": "failed"}


def test_a_malformed_assets_dict_routes_nothing_and_keeps_safe_limits() -> None:
    assets = PageAssets({"base": STORE, "maxBytes": "lots", "maxAssets": True}, PAGE)
    assert not assets.enabled  # no upload URL: nothing could reach the store
    assert assets.route("https://app.example.com/x.png") == "https://app.example.com/x.png"
    assert (assets.max_bytes, assets.max_assets) == (8 * 1024 * 1024, 4096)


# -- the session's assets reach the encoder (start and resume), from the real server ---------
def snapshot_img(ports: LivePage) -> str:
    ports.capture_frame(
        "snapshot", {"nodes": [[1, 0, 1, "img", ["src", "/private/me.png"]]], "url": LIVE_PAGE}
    )
    return str(ports.wire.frames[-1].data["nodes"][0][4][1])


def read_base(controller: HostController) -> str:
    assert controller.session is not None and controller.session.assets.enabled
    base = controller.session.assets.base
    assert "/a/" in base and base.endswith("/")
    return base


def test_a_started_session_routes_its_page_assets() -> None:
    controller, ports = in_session()
    src = snapshot_img(ports)
    own = urljoin(LIVE_PAGE, "/private/me.png")
    assert src == read_base(controller) + url_key(own)
    assert controller.session is not None
    assert [f.url for f in controller.session.assets.take()] == [own]


def test_a_session_resumed_on_the_next_page_routes_its_assets_too() -> None:
    ports = LivePage()
    entry = ports.previous_page()
    controller = host_of(ports, ClientConfig(SERVER, LIVE_PAGE, FEATURES, resume=entry))
    ports.boot()
    assert controller.state is State.IN_SESSION
    src = snapshot_img(ports)
    assert src == read_base(controller) + url_key(urljoin(LIVE_PAGE, "/private/me.png"))


def test_a_site_whose_assets_load_directly_routes_nothing() -> None:
    ports = LivePage()
    ports.site_settings(assets="direct")
    controller, _ = in_session(ports)
    assert snapshot_img(ports) == urljoin(LIVE_PAGE, "/private/me.png")
    assert controller.session is not None and not controller.session.assets.enabled


def test_the_upload_api_bodies_and_answers() -> None:
    assets = PageAssets(ASSETS, PAGE)
    fetch = AssetFetch("https://app.example.com/a b.png", "k" * 32, FILE)
    assert json.loads(check_body(fetch, "0" * 64, 12)) == {
        "url": "https://app.example.com/a b.png",
        "key": "k" * 32,
        "kind": "file",
        "sha256": "0" * 64,
        "size": 12,
    }
    assert json.loads(failure_body(fetch, "HTTP 403 " + "x" * 500))["failed"] == (
        "HTTP 403 " + "x" * 191
    )
    url = assets.bytes_url(fetch, "f" * 64)
    assert url == (
        f"{ASSETS['upload']}/{'f' * 64}?key={'k' * 32}&kind=file"
        "&url=https%3A%2F%2Fapp.example.com%2Fa+b.png"
    )
    assert upload_answer(200, {"have": True}) is True
    assert upload_answer(200, {"stored": True}) is True
    assert upload_answer(200, {"have": False}) is False
    assert upload_answer(413, {"code": "asset_too_large", "message": "…"}) == (
        "asset_too_large (HTTP 413)"
    )
    assert upload_answer(200, ["have"]) == "bad_answer (HTTP 200)"
    assert upload_answer(502, None) == "bad_answer (HTTP 502)"
