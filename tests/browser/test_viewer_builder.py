"""static/viewer/ (mirror.js, stage.js, join.js) in real browsers, without a server
connection: the harness page makes CwmnViewers and this process feeds them frames sanitized
by the Python Sanitizer (CPython).

The hostile test proves the vectors live (they run in an unsandboxed control iframe), then
sends them raw (the sandbox alone must hold) and sanitized, and checks nothing ran.
"""

from __future__ import annotations

import base64
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page

from cwmn_web.testing import PageServer
from cwmn_web.viewer.sanitize import Sanitizer
from tests.unit.test_viewer_sanitize import HOSTILE, SVG_NS, TIMES, html_records, js, page

HARNESS = "viewer-harness.html"
#: Vectors that run when built without a sandbox, in both browsers (the positive control).
LIVE = frozenset(
    {
        "a-href-case",
        "a-href-data",
        "a-href-entity",
        "a-href-js",
        "a-href-leading",
        "a-href-newline",
        "a-href-tab",
        "audio-onerror",
        "button-formaction",
        "details-ontoggle",
        "div-onclick",
        "embed-src",
        "form-action",
        "frameset",
        "iframe-src-data",
        "iframe-src-js",
        "iframe-srcdoc",
        "img-onerror",
        "img-onerror-bad-src",
        "meta-refresh-data",
        "noscript",
        "object-data",
        "script",
        "script-src",
        "style-onload",
        "svg-animate-href",
        "svg-animate-onbegin",
        "svg-foreignobject-script",
        "svg-script",
        "svg-script-href",
        "svg-xlink-href",
        "video-source-onerror",
    }
)
#: Elements the attribute vectors below arm through mutations (by HTML id).
ATTR_TARGETS = {
    "t-div": '<div id="t-div">click</div>',
    "t-a": '<a id="t-a">link</a>',
    "t-frame": '<iframe id="t-frame"></iframe>',
    "t-doc": '<iframe id="t-doc"></iframe>',
    "t-form": '<form id="t-form"><input></form>',
    "t-button": '<form id="t-form-2"><button id="t-button">go</button></form>',
    "t-img": '<img id="t-img">',
    "t-svg-a": '<svg><a id="t-svg-a"><text y="20">svg</text></a></svg>',
    "t-link": '<link id="t-link" rel="stylesheet">',
    "t-meta": '<meta id="t-meta" name="x">',
}
ATTR_PAGE = page("".join(ATTR_TARGETS.values()))
ATTR_VECTORS: list[tuple[str, str, str]] = [
    ("t-div", "onclick", js("attr-onclick")),
    ("t-a", "href", f"javascript:{js('attr-href')}"),
    ("t-frame", "src", f"javascript:{js('attr-iframe-src')}"),
    ("t-doc", "srcdoc", f"<script>{js('attr-srcdoc')}</script>"),
    ("t-form", "action", f"javascript:{js('attr-form-action')}"),
    ("t-button", "formaction", f"javascript:{js('attr-formaction')}"),
    ("t-img", "onerror", js("attr-img-onerror")),
    ("t-img", "src", "x:"),
    ("t-svg-a", "href", f"javascript:{js('attr-svg-href')}"),
    ("t-link", "rel", "import"),
    ("t-meta", "http-equiv", "refresh"),
]
LIVE_ATTRS = frozenset(
    {
        "attr-onclick",
        "attr-href",
        "attr-iframe-src",
        "attr-srcdoc",
        "attr-form-action",
        "attr-formaction",
        "attr-img-onerror",
        "attr-svg-href",
    }
)

# -- JavaScript run in the harness page ------------------------------------------------------
DESCRIBE = """(function describe(node) {
    const kids = (n) => Array.from(n.childNodes, describe);
    if (node.nodeType === 3) return node.data;
    if (node.nodeType === 8) return ['#comment'];
    const attrs = Array.from(node.attributes, (a) => [a.name, a.value]);
    const out = [node.localName, node.namespaceURI, attrs, kids(node)];
    if (node.shadowRoot) out.push(kids(node.shadowRoot));
    return out;
})"""
#: Click, hover and submit everything a vector could hide behind (in one document). Links
#: that target the top page are left alone without a sandbox (they would leave the test).
POKE = """(doc, control) => {
    if (!doc) return;
    const all = 'a[id], [id^="t-"], #div-onclick, svg a';
    const targets = control ? all.replace(/,/g, ':not([target]),') : all;
    for (const el of doc.querySelectorAll(targets)) {
        if (el.click) el.click(); else el.dispatchEvent(new MouseEvent('click', {bubbles: true}));
    }
    for (const el of doc.querySelectorAll('svg, svg *')) {
        el.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));
    }
    for (const form of doc.querySelectorAll('form[id]')) {
        try { form.requestSubmit(form.querySelector('button')); } catch (e) { /* blocked */ }
    }
}"""
POKE_ALL = f"""(which) => {{
    const poke = {POKE};
    for (const [key, mirror] of Object.entries(which === 'controls' ? controls : viewers)) {{
        let doc = null;
        try {{
            doc = mirror.doc ? mirror.doc.defaultView.document : mirror.iframe.contentDocument;
        }} catch (e) {{ /* navigated to another origin */ }}
        poke(doc, which === 'controls');
    }}
}}"""
HITS = """() => [...__pwned,
    ...__messages.filter((m) => m.startsWith('__pwn:')).map((m) => m.slice(6))]"""


def snapshot(html: str, viewport: tuple[int, int] = (1000, 700), **extra: Any) -> dict[str, Any]:
    return {
        "nodes": html_records(html),
        "url": "https://shop.example.com/",
        "title": "Shop",
        "viewport": list(viewport),
        "scroll": [0, 0],
        "adopted": [],
        **extra,
    }


def safe(kind: str, data: dict[str, Any], sanitizer: Sanitizer | None = None) -> dict[str, Any]:
    return (sanitizer or Sanitizer()).frame(kind, data)


def ids_of(records: list[list[Any]]) -> dict[str, int]:
    """HTML id attribute → node id."""
    out = {}
    for record in records:
        attrs = dict(zip(record[4][::2], record[4][1::2], strict=True)) if record[2] == 1 else {}
        if "id" in attrs:
            out[attrs["id"]] = record[0]
    return out


def expected_tree(records: list[list[Any]]) -> Any:
    """What DESCRIBE should answer for the root of ``records`` (pseudo-attributes aside):
    ``[tag, namespace, [[name, value]…], children, shadow children?]``, text as strings."""
    children: dict[int, list[Any]] = {0: []}
    hosts: dict[int, list[Any]] = {}
    for record in records:
        node_id, parent, kind = record[0], record[1], record[2]
        if kind == 11:  # a shadow root: its children go in its host's fifth slot
            hosts[parent].append([])
            children[node_id] = hosts[parent][4]
            continue
        node: Any = record[3] if kind == 3 else ["#comment"]
        if kind == 1:
            pairs = list(zip(record[4][::2], record[4][1::2], strict=True))
            ns = dict(pairs).get("cwmn:ns", "http://www.w3.org/1999/xhtml")
            node = [record[3], ns, [[n, v] for n, v in pairs if not n.startswith("cwmn:")], []]
            hosts[node_id] = node
            children[node_id] = node[3]
        children[parent].append(node)
    return children[0][0]


def without_style(tree: Any, ids: set[str]) -> Any:
    """``tree`` without the style attribute of the elements whose id is in ``ids``."""
    if not isinstance(tree, list) or len(tree) < 4:
        return tree
    attrs = tree[2]
    if any(name == "id" and value in ids for name, value in attrs):
        attrs = [a for a in attrs if a[0] != "style"]
    rest = [[without_style(c, ids) for c in kids] for kids in tree[3:]]
    return [tree[0], tree[1], attrs, *rest]


def png(width: int, height: int, rgba: tuple[int, int, int, int]) -> str:
    """A data:image/png of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes(rgba) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
    return "data:image/png;base64," + base64.b64encode(data + chunk(b"IEND", b"")).decode()


# -- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def harness(shared_context: BrowserContext, customer_site: PageServer) -> Iterator[Page]:
    """One harness page for the builder tests (they only add viewers to it)."""
    tab = shared_context.new_page()
    tab.goto(customer_site.url(HARNESS))
    tab.wait_for_function("window.CwmnViewer && window.makeViewer")
    yield tab
    tab.close()


@pytest.fixture
def viewer(harness: Page, request: pytest.FixtureRequest) -> Callable[..., str]:
    """``viewer(width, height)`` makes a fresh CwmnViewer in a box that size; returns its key."""

    def make(width: int = 500, height: int = 400) -> str:
        key = f"{request.node.name}-{harness.evaluate('Object.keys(window.viewers || {}).length')}"
        harness.evaluate("([k, w, h]) => makeViewer(k, w, h)", [key, width, height])
        return key

    return make


def apply(tab: Page, key: str, kind: str, data: dict[str, Any]) -> None:
    tab.evaluate("([k, kind, data]) => viewers[k].apply(kind, data)", [key, kind, data])


def in_frame(tab: Page, key: str, expression: str, arg: Any = None) -> Any:
    """Evaluate ``(doc, win, arg) => …`` against viewer ``key``'s iframe document."""
    return tab.evaluate(
        f"([k, arg]) => {{ const v = viewers[k]; const doc = v.iframe.contentDocument;"
        f" return ({expression})(doc, doc.defaultView, arg); }}",
        [key, arg],
    )


# -- building ----------------------------------------------------------------------------------
RED = png(2, 2, (255, 0, 0, 255))
BUILD_PAGE = page(
    f"""<main id="main" class="m" data-x="1"><h1 title="t &amp; &quot;q&quot;">Hi &lt;there&gt;</h1>
<!-- gone --><p>one<b>two</b>three</p>
<ul id="list"><li>a</li><li>b</li></ul>
<form><input id="text" value="attr" cwmn:value="typed"><input id="box" type="checkbox"
cwmn:checked="1"><select id="size" cwmn:value="M"><option>S</option><option>M</option></select>
<textarea id="note" cwmn:value="new text">old</textarea></form>
<svg id="icon" viewBox="0 0 10 10" width="10" height="10"><a href="#x"><circle cx="5" cy="5"
r="4" fill="red"></circle></a><foreignObject width="10" height="10"><span id="fo">html
in svg</span></foreignObject></svg>
<math><mi>x</mi></math>
<div id="card" class="secret" cwmn:block="300{TIMES}150"></div>
<span id="badge" cwmn:block="40{TIMES}20"></span>
<canvas id="c" width="2" height="2" cwmn:canvas="{RED}"></canvas>
<my-widget id="w"><template shadowrootmode="open"><style>b {{ color: rgb(0, 128, 0) }}</style>
<b id="in-shadow">shadow</b><slot></slot></template><i>light</i></my-widget>
<iframe id="frame" width="120" height="60"></iframe>
<p class="adopted">adopted</p></main>""",
    head="<meta charset=utf-8><title>Shop</title><style id=css>h1 { color: rgb(1, 2, 3) }</style>",
)


def test_a_snapshot_builds_the_page(harness: Page, viewer: Callable[..., str]) -> None:
    key = viewer()
    data = safe("snapshot", snapshot(BUILD_PAGE, adopted=[".adopted { color: rgb(9, 8, 7) }"]))
    apply(harness, key, "snapshot", data)
    tree = in_frame(harness, key, f"(doc) => {DESCRIBE}(doc.documentElement)")
    blocked = {"card", "badge", "c"}  # the viewer styles blocked boxes and canvases itself
    assert without_style(tree, blocked) == without_style(expected_tree(data["nodes"]), blocked)
    state = in_frame(
        harness,
        key,
        """(doc, win) => {
            const $ = (s) => doc.querySelector(s);
            const box = (s) => {
                const r = $(s).getBoundingClientRect();
                return [r.width, r.height];
            };
            return {
                mode: doc.compatMode, doctype: !!doc.doctype,
                text: $('#text').value, attr: $('#text').getAttribute('value'),
                box: $('#box').checked, size: $('#size').value, note: $('#note').value,
                svg: $('#icon').namespaceURI, circle: $('circle').namespaceURI,
                fo: $('#fo').namespaceURI, math: $('mi').namespaceURI,
                card: box('#card'), badge: box('#badge'),
                badgeDisplay: win.getComputedStyle($('#badge')).display,
                canvas: [box('#c'), win.getComputedStyle($('#c')).content.slice(0, 27)],
                shadow: $('#w').shadowRoot.querySelector('#in-shadow').textContent,
                shadowColor: win.getComputedStyle($('#w').shadowRoot.querySelector('b')).color,
                css: win.getComputedStyle($('h1')).color,
                adopted: win.getComputedStyle($('.adopted')).color,
                frame: box('#frame'), frameSrc: $('#frame').getAttribute('src'),
            };
        }""",
    )
    assert state == {
        "mode": "CSS1Compat",
        "doctype": True,
        "text": "typed",
        "attr": "attr",
        "box": True,
        "size": "M",
        "note": "new text",
        "svg": SVG_NS,
        "circle": SVG_NS,
        "fo": "http://www.w3.org/1999/xhtml",
        "math": "http://www.w3.org/1998/Math/MathML",
        "card": [300, 150],
        "badge": [40, 20],
        "badgeDisplay": "inline-block",
        "canvas": [[2, 2], 'url("data:image/png;base64,'],  # its picture, at its size
        "shadow": "shadow",
        "shadowColor": "rgb(0, 128, 0)",
        "css": "rgb(1, 2, 3)",
        "adopted": "rgb(9, 8, 7)",
        "frame": [124, 64],  # 120 by 60 and the default 2px border
        "frameSrc": None,
    }


def test_the_mirror_shows_only_png_pictures_even_unsanitized(
    harness: Page, viewer: Callable[..., str]
) -> None:
    """The picture goes into CSS and SVG: the mirror checks it again (the sandbox and the
    sanitizer aside), so a raw tracking URL never loads, as a canvas nor as a poster."""
    key = viewer()
    evil = 'https://evil.example/track.png") url("https://evil.example/2.png'
    page_ = page(
        '<canvas id="c" width="20" height="10"></canvas><video id="v" poster="p.png"></video>'
    )
    data = snapshot(page_)
    for record in data["nodes"]:
        if record[2] == 1 and record[3] in ("canvas", "video"):
            record[4] += ["cwmn:canvas", evil]
    apply(harness, key, "snapshot", data)
    content, poster = in_frame(
        harness,
        key,
        """(doc, win) => [win.getComputedStyle(doc.getElementById('c')).content,
            doc.getElementById('v').getAttribute('poster')]""",
    )
    assert content.startswith('url("data:image/svg+xml,') and "evil" not in content
    assert poster == "p.png"  # the host's own poster stays


def test_a_new_snapshot_replaces_the_page(harness: Page, viewer: Callable[..., str]) -> None:
    key = viewer()
    sanitizer = Sanitizer()
    apply(harness, key, "snapshot", safe("snapshot", snapshot(BUILD_PAGE), sanitizer))
    second = page('<p id="only">second page</p>')
    apply(harness, key, "snapshot", safe("snapshot", snapshot(second), sanitizer))
    body = in_frame(harness, key, "(doc) => [doc.body.innerHTML, doc.childNodes.length]")
    assert body == ['<p id="only">second page</p>', 2]  # the doctype and <html>


MUTATION_PAGE = page(
    '<ul id="list"><li id="a">A</li><li id="b">B</li><li id="c">C</li></ul>'
    '<p id="p" title="old" class="x">text</p><div id="box"></div>',
    head="<style id=css>p { color: rgb(1, 1, 1) }</style>",
)


def test_mutations_apply_in_order(harness: Page, viewer: Callable[..., str]) -> None:
    key = viewer()
    sanitizer = Sanitizer()
    nodes = html_records(MUTATION_PAGE)
    ids = ids_of(nodes)
    p_text = next(r[0] for r in nodes if r[1] == ids["p"])
    css_text = next(r[0] for r in nodes if r[1] == ids["css"])
    apply(harness, key, "snapshot", safe("snapshot", snapshot(MUTATION_PAGE), sanitizer))
    mutations = {
        "removes": [ids["b"], 9999],
        "adds": [
            [100, ids["list"], 1, "li", ["id", "d"]],
            [101, 100, 3, "D"],
            [102, ids["list"], 3, "loose text"],
            [103, 9999, 1, "li", ["id", "orphan"]],  # unknown parent: ignored
            [ids["p"], ids["box"], 1, "p", ["id", "p2"]],  # a move: the node comes again, whole
            [104, ids["p"], 3, "moved"],
        ],
        "order": [
            [ids["list"], [ids["c"], 100, 9999, ids["a"], 102]],
            [ids["box"], [ids["p"]]],
            [9999, [100]],
        ],
        "attrs": [
            [ids["a"], "class", "first"],
            [ids["c"], "title", None],
            [ids["p"], "title", "new"],
            [100, "data-x", "1"],
            [9999, "class", "nobody"],
            [ids["a"], "cwmn:value", None],
        ],
        "texts": [
            [ids["a"] + 1, "A!"],  # the text node inside #a
            [p_text, "forgotten with the moved node"],
            [css_text, "p { color: rgb(2, 2, 2) }"],
            [9999, "x"],
        ],
    }
    apply(harness, key, "mutations", safe("mutations", mutations, sanitizer))
    result = in_frame(
        harness,
        key,
        """(doc, win) => ({
            list: doc.getElementById('list').innerHTML,
            box: doc.getElementById('box').innerHTML,
            oldP: doc.querySelectorAll('#p').length,
            color: win.getComputedStyle(doc.getElementById('p2')).color,
        })""",
    )
    assert result == {
        "list": '<li id="c">C</li><li id="d" data-x="1">D</li><li id="a" class="first">A!</li>'
        "loose text",
        "box": '<p id="p2" title="new">moved</p>',
        "oldP": 0,
        "color": "rgb(2, 2, 2)",
    }
    # The viewer forgot the removed and the replaced nodes: changes to them do nothing.
    apply(
        harness,
        key,
        "mutations",
        {"attrs": [[ids["b"], "class", "ghost"]], "texts": [[p_text, "ghost"]], "order": []},
    )
    assert "ghost" not in in_frame(harness, key, "(doc) => doc.body.innerHTML")


def test_hostile_mutations_are_neutralized_by_the_sanitizer(
    harness: Page, viewer: Callable[..., str]
) -> None:
    key = viewer()
    sanitizer = Sanitizer()
    nodes = html_records(ATTR_PAGE)
    ids = ids_of(nodes)
    apply(harness, key, "snapshot", safe("snapshot", snapshot(ATTR_PAGE), sanitizer))
    attrs = [[ids[target], name, value] for target, name, value in ATTR_VECTORS]
    data = safe("mutations", {"attrs": attrs}, sanitizer)
    apply(harness, key, "mutations", data)
    found = in_frame(
        harness,
        key,
        """(doc) => Array.from(doc.querySelectorAll('*'), (el) => Array.from(el.attributes,
            (a) => el.localName + ' ' + a.name + '=' + a.value)).flat()""",
    )
    assert [a for a in found if re.search(r" on|javascript|srcdoc|iframe src|action", a)] == []
    assert "img src=x:" in found  # harmless: it only fails to load
    assert in_frame(harness, key, "(doc) => !!doc.getElementById('t-link')") is False
    assert in_frame(harness, key, "(doc) => !!doc.getElementById('t-meta')") is False


# -- the stage ---------------------------------------------------------------------------------
TALL_PAGE = page(
    '<div style="height: 3000px; width: 2500px">tall</div>'
    '<div id="sc" style="overflow: auto; height: 100px; width: 100px">'
    '<div style="height: 1000px; width: 1000px">inner</div></div>'
)


def test_viewport_scaling_scroll_and_pointer(harness: Page, viewer: Callable[..., str]) -> None:
    key = viewer(500, 400)
    apply(harness, key, "snapshot", safe("snapshot", snapshot(TALL_PAGE, viewport=(1000, 500))))

    def stage() -> dict[str, Any]:
        read: dict[str, Any] = harness.evaluate(
            """k => { const v = viewers[k], f = v.iframe, s = v.screen.getBoundingClientRect();
                const st = v.stage.getBoundingClientRect();
                return {scale: v.scale, frame: [f.offsetWidth, f.offsetHeight],
                        screen: [s.width, s.height, s.left - st.left, s.top - st.top],
                        inner: [f.contentWindow.innerWidth, f.contentWindow.innerHeight],
                        scroll: [f.contentWindow.scrollX, f.contentWindow.scrollY],
                        cursor: v.cursor.hidden ? null : v.cursor.style.transform}; }""",
            key,
        )
        return read

    assert stage() == {
        "scale": 0.5,
        "frame": [1000, 500],
        "screen": [500, 250, 0, 75],
        "inner": [1000, 500],
        "scroll": [0, 0],
        "cursor": None,
    }
    nodes = html_records(TALL_PAGE)
    scroller = ids_of(nodes)["sc"]
    apply(harness, key, "scroll", {"id": 0, "x": 0, "y": 300})
    apply(harness, key, "scroll", {"id": scroller, "x": 20, "y": 40})
    apply(harness, key, "pointer", {"x": 100, "y": 400})
    now = stage()
    assert now["scroll"] == [0, 300]
    assert now["cursor"] == "translate(50px, 50px)"  # (100 - 0, 400 - 300) times 0.5
    assert in_frame(harness, key, "(doc) => [doc.getElementById('sc').scrollLeft, "
                    "doc.getElementById('sc').scrollTop]") == [20, 40]  # fmt: skip

    apply(harness, key, "viewport", {"w": 400, "h": 300})
    assert stage()["scale"] == 1 and stage()["screen"] == [400, 300, 50, 50]
    apply(harness, key, "viewport", {"w": 2000, "h": 400})
    assert stage()["scale"] == 0.25 and stage()["cursor"] == "translate(25px, 25px)"
    harness.evaluate("k => { viewers[k].container.style.width = '1000px'; }", key)
    harness.wait_for_function("k => viewers[k].scale === 0.5", arg=key)
    assert stage()["screen"][:2] == [1000, 200]


def test_the_shield_takes_every_pointer_event(harness: Page, viewer: Callable[..., str]) -> None:
    key = viewer(400, 300)
    apply(harness, key, "snapshot", safe("snapshot", snapshot(page('<a href="#x">link</a>'))))
    found = harness.evaluate(
        """k => { const v = viewers[k];
            v.stage.scrollIntoView();
            const r = v.stage.getBoundingClientRect();
            const hit = document.elementFromPoint(r.left + 20, r.top + 20);
            const frame = v.iframe;
            return [hit === v.shield, frame.getAttribute('sandbox'), frame.hasAttribute('inert'),
                    getComputedStyle(frame).pointerEvents]; }""",
        key,
    )
    assert found == [True, "allow-same-origin", True, "none"]


@pytest.mark.parametrize(
    ("ops", "text", "kind"),
    [
        ([], None, ""),
        ([{"op": "status", "connecting": True}], "Connecting…", "connecting"),
        (
            [{"op": "status", "connecting": True}, {"op": "joined", "paused": False}],
            None,
            "",
        ),
        ([{"op": "joined", "paused": True}], "The host paused sharing", "paused"),
        (
            [{"op": "joined", "hostConnected": False}],
            "The host\u2019s connection dropped \u2014 waiting for them to come back",
            "hostDown",
        ),
        (
            [{"op": "joined"}, {"op": "status", "reconnecting": True}],
            "Reconnecting…",
            "reconnecting",
        ),
        (
            [
                {"op": "status", "reconnecting": True},
                {"op": "frame", "kind": "pointer", "data": {"x": 1, "y": 1}},
            ],
            None,
            "",
        ),
        (
            [{"op": "status", "paused": True}, {"op": "status", "paused": False}],
            None,
            "",
        ),
        ([{"op": "status", "ended": "expired"}], "The session has ended", "ended"),
        (
            [{"op": "joined"}, {"op": "status", "removed": True}],
            "The host removed you from this session.",
            "removed",
        ),
        (
            [{"op": "status", "removed": True}, {"op": "status", "ended": "ended"}],
            "The host removed you from this session.",
            "removed",
        ),
        (
            [
                {"op": "status", "removed": True},
                {"op": "status", "error": {"code": "network", "message": "Gone."}},
            ],
            "Gone.",
            "error",
        ),
        ([{"op": "joined", "muted": True}], None, ""),  # a badge, not the overlay
        (
            [{"op": "status", "error": {"code": "link_used", "message": "Ask for a new link."}}],
            "Ask for a new link.",
            "error",
        ),
        (
            [{"op": "fatal", "message": "no wasm"}],
            "The viewer could not start: no wasm",
            "error",
        ),
    ],
)
def test_status_overlays(
    harness: Page,
    viewer: Callable[..., str],
    ops: list[dict[str, Any]],
    text: str | None,
    kind: str,
) -> None:
    key = viewer(300, 200)
    shown = harness.evaluate(
        """([k, ops]) => { const v = viewers[k]; ops.forEach((op) => v.handle(op));
            const s = v.status;
            return [s.hidden ? null : s.textContent, s.dataset.kind || '']; }""",
        [key, ops],
    )
    assert shown == [text, kind]


NOTE_AND_OVERLAY = """k => { const v = viewers[k];
    return [v.note.hidden ? null : v.note.textContent,
            v.status.hidden ? null : v.status.dataset.kind,
            v.note.getClientRects().length > 0]; }"""


def test_a_page_change_shows_a_quiet_note_not_the_overlay(
    harness: Page, viewer: Callable[..., str]
) -> None:
    key = viewer(300, 200)
    handle(harness, key, {"op": "joined", "hostConnected": True})
    assert harness.evaluate(NOTE_AND_OVERLAY, key) == [None, None, False]
    handle(harness, key, {"op": "status", "hostConnected": False, "navigating": True})
    assert harness.evaluate(NOTE_AND_OVERLAY, key) == ["Loading the next page\u2026", None, True]
    handle(harness, key, {"op": "status", "hostConnected": True, "navigating": True})
    assert harness.evaluate(NOTE_AND_OVERLAY, key) == ["Loading the next page\u2026", None, True]
    handle(harness, key, {"op": "status", "navigating": False})  # the next page came
    assert harness.evaluate(NOTE_AND_OVERLAY, key) == [None, None, False]
    # A page change that never ends in a page: today's overlay.
    handle(harness, key, {"op": "status", "hostConnected": False, "navigating": True})
    handle(harness, key, {"op": "status", "navigating": False})
    assert harness.evaluate(NOTE_AND_OVERLAY, key) == [None, "hostDown", False]
    # A louder status wins over the note.
    handle(harness, key, {"op": "status", "hostConnected": False, "navigating": True})
    handle(harness, key, {"op": "status", "reconnecting": True})
    assert harness.evaluate(NOTE_AND_OVERLAY, key) == [None, "reconnecting", False]


# -- other guests, muting, the guest's own pointer ---------------------------------------------
GUEST_CURSORS = """k => { const v = viewers[k];
    return Array.from(v.screen.querySelectorAll('.cwmn-guest-cursor'), (el) => ({
        id: el.dataset.guestId, name: el.querySelector('.cwmn-guest-label').textContent,
        hidden: el.hidden, visible: el.getClientRects().length > 0,
        transform: el.style.transform,
        arrow: getComputedStyle(el, '::before').backgroundColor,
        label: getComputedStyle(el.querySelector('.cwmn-guest-label')).backgroundColor,
        underShield: el.compareDocumentPosition(v.shield) === Node.DOCUMENT_POSITION_FOLLOWING,
        pointerEvents: getComputedStyle(el).pointerEvents,
    })); }"""
RIPPLES = """k => { const v = viewers[k];
    return Array.from(v.screen.querySelectorAll('.cwmn-ripple'), (el) => ({
        transform: el.style.transform,
        ring: getComputedStyle(el, '::before').borderTopColor,
        pointerEvents: getComputedStyle(el).pointerEvents,
    })); }"""


def handle(tab: Page, key: str, *ops: dict[str, Any]) -> None:
    tab.evaluate("([k, ops]) => ops.forEach((op) => viewers[k].handle(op))", [key, list(ops)])


def approx(value: float) -> Any:
    return pytest.approx(value, abs=0.01)


def test_other_guests_cursors_follow_the_page(harness: Page, viewer: Callable[..., str]) -> None:
    key = viewer(500, 400)
    apply(harness, key, "snapshot", safe("snapshot", snapshot(TALL_PAGE, viewport=(1000, 500))))
    bo = {"op": "pointer", "guestId": "g2", "name": "Bo", "color": "#16a34a", "visible": True}
    evil = "<img src=x onerror=__pwn('name')>"
    handle(
        harness,
        key,
        {**bo, "x": 100, "y": 400},
        {"op": "pointer", "guestId": "g3", "name": evil, "color": "red;x:url(y)", "x": 2, "y": 2},
    )
    cursors = harness.evaluate(GUEST_CURSORS, key)
    assert cursors == [
        {
            "id": "g2",
            "name": "Bo",
            "hidden": False,
            "visible": True,
            "transform": "translate(50px, 200px)",  # (100, 400) at half size
            "arrow": "rgb(22, 163, 74)",
            "label": "rgb(22, 163, 74)",
            "underShield": True,
            "pointerEvents": "none",
        },
        {
            "id": "g3",
            "name": evil,  # as text
            "hidden": False,
            "visible": True,
            "transform": "translate(1px, 1px)",
            "arrow": "rgb(229, 72, 77)",  # not a plain hex colour: the default
            "label": "rgb(229, 72, 77)",
            "underShield": True,
            "pointerEvents": "none",
        },
    ]

    def where() -> dict[str, str | None]:
        cursors = harness.evaluate(GUEST_CURSORS, key)
        return {c["id"]: None if c["hidden"] else c["transform"] for c in cursors}

    apply(harness, key, "scroll", {"id": 0, "x": 200, "y": 300})  # the host scrolls
    assert where() == {"g2": "translate(-50px, 50px)", "g3": "translate(-99px, -149px)"}
    handle(harness, key, {**bo, "x": 300, "y": 500})
    assert where()["g2"] == "translate(50px, 100px)"
    harness.wait_for_timeout(200)  # past the 80 ms transition: the arrow is really there
    at = harness.evaluate(
        """k => { const v = viewers[k], s = v.screen.getBoundingClientRect();
            const r = v.screen.querySelector('[data-guest-id="g2"]').getBoundingClientRect();
            return [r.left - s.left, r.top - s.top]; }""",
        key,
    )
    assert at == [pytest.approx(50, abs=0.5), pytest.approx(100, abs=0.5)]
    # However the frame scrolls (here: not through a frame), the cursors follow.
    harness.evaluate("k => viewers[k].iframe.contentWindow.scrollTo(0, 100)", key)
    harness.wait_for_function(
        "k => viewers[k].screen.querySelector('[data-guest-id=g2]').style.transform"
        " === 'translate(150px, 200px)'",
        arg=key,
        timeout=2000,
    )
    harness.evaluate("k => viewers[k].iframe.contentWindow.scrollTo(200, 300)", key)
    harness.wait_for_function("k => viewers[k].iframe.contentWindow.scrollY === 300", arg=key)
    apply(harness, key, "viewport", {"w": 2000, "h": 400})  # re-fit: a quarter
    assert where()["g2"] == "translate(25px, 50px)"
    handle(harness, key, {**bo, "x": 300, "y": 500, "visible": False})
    assert where()["g2"] is None
    assert [c["visible"] for c in harness.evaluate(GUEST_CURSORS, key)] == [False, True]
    handle(harness, key, {**bo, "x": 400, "y": 500})
    assert where()["g2"] == "translate(50px, 50px)"
    handle(harness, key, {"op": "joined"})  # after a reconnect, cursors come back as they move
    assert harness.evaluate(GUEST_CURSORS, key) == []
    assert harness.evaluate(HITS) == []
    # The host's own pointer has the default colour too (the stylesheet reads it from the
    # shared constant, written once).
    host_cursor = "k => getComputedStyle(viewers[k].cursor).backgroundColor"
    assert harness.evaluate(host_cursor, key) == "rgb(229, 72, 77)"


def test_clicks_show_a_ripple_that_fades(harness: Page, viewer: Callable[..., str]) -> None:
    key = viewer(500, 400)
    apply(harness, key, "snapshot", safe("snapshot", snapshot(TALL_PAGE, viewport=(1000, 500))))
    apply(harness, key, "scroll", {"id": 0, "x": 0, "y": 100})
    handle(
        harness,
        key,
        {"op": "click", "guestId": "g2", "name": "Bo", "color": "#2563eb", "x": 40, "y": 300},
    )
    assert harness.evaluate(RIPPLES, key) == [
        {"transform": "translate(20px, 100px)", "ring": "rgb(37, 99, 235)", "pointerEvents": "none"}
    ]
    apply(harness, key, "scroll", {"id": 0, "x": 0, "y": 200})  # it stays on its spot
    assert harness.evaluate(RIPPLES, key)[0]["transform"] == "translate(20px, 50px)"
    harness.wait_for_function(
        "k => viewers[k].screen.querySelectorAll('.cwmn-ripple').length === 0",
        arg=key,
        timeout=2000,
    )


MUTED_BADGE = """k => { const v = viewers[k], b = v.mutedBadge;
    return [b.className, b.hidden || b.getClientRects().length === 0 ? null : b.textContent,
            v.status.hidden]; }"""


def test_the_muted_badge(harness: Page, viewer: Callable[..., str]) -> None:
    key = viewer(400, 300)
    assert harness.evaluate(MUTED_BADGE, key) == ["cwmn-muted", None, True]
    handle(harness, key, {"op": "joined", "muted": True, "color": "#16a34a"})
    shown = ["cwmn-muted", "The host muted your pointer", True]  # the page stays visible
    assert harness.evaluate(MUTED_BADGE, key) == shown
    handle(harness, key, {"op": "status", "muted": False})
    assert harness.evaluate(MUTED_BADGE, key) == ["cwmn-muted", None, True]
    handle(harness, key, {"op": "status", "muted": True})
    assert harness.evaluate(MUTED_BADGE, key) == shown
    handle(harness, key, {"op": "joined", "muted": False})
    assert harness.evaluate(MUTED_BADGE, key) == ["cwmn-muted", None, True]


#: A stand-in worker for viewer ``k``: records what ``CwmnViewer.connect`` posts to it.
FAKE_WORKER = """k => {
    const worker = { posted: [], postMessage(m) { this.posted.push(JSON.parse(m)); } };
    (window.workers = window.workers || {})[k] = worker;
    CwmnViewer.connect(viewers[k], worker, { server: 'http://x', token: 't' }, 'Ann');
    worker.onmessage({ data: JSON.stringify({ op: 'ready' }) }); }"""


def test_the_guest_pointer_goes_to_the_worker_in_host_document_coordinates(
    harness: Page, viewer: Callable[..., str]
) -> None:
    key = viewer(500, 400)
    apply(harness, key, "snapshot", safe("snapshot", snapshot(TALL_PAGE, viewport=(1000, 500))))
    apply(harness, key, "scroll", {"id": 0, "x": 200, "y": 300})  # half size, scrolled
    harness.evaluate(FAKE_WORKER, key)
    harness.wait_for_function("k => workers[k].posted.length === 1", arg=key)  # the boot
    handle(harness, key, {"op": "joined", "guestId": "g1", "color": "#9333ea", "muted": False})

    def posted() -> list[dict[str, Any]]:
        return list(harness.evaluate("k => workers[k].posted.splice(0)", key))

    assert [op["op"] for op in posted()] == ["boot"]
    left, top = harness.evaluate(
        """k => { const v = viewers[k]; v.stage.scrollIntoView();
            const r = v.screen.getBoundingClientRect(); return [r.left, r.top]; }""",
        key,
    )
    harness.mouse.move(left + 100, top + 60)
    harness.mouse.move(left + 150, top + 80)
    moves = posted()
    at = {"x": approx(150 / 0.5 + 200), "y": approx(80 / 0.5 + 300)}  # half size, scrolled
    assert moves[-1] == {"op": "pointer", **at, "visible": True}
    assert all(m["op"] == "pointer" and m["visible"] for m in moves)
    harness.mouse.click(left + 20, top + 10)
    clicks = [m for m in posted() if m["op"] == "click"]
    assert clicks == [{"op": "click", "x": approx(20 / 0.5 + 200), "y": approx(10 / 0.5 + 300)}]
    ripples = harness.evaluate(RIPPLES, key)  # its own click, in its own colour
    assert [r["ring"] for r in ripples] == ["rgb(147, 51, 234)"]
    assert ripples[0]["transform"] == "translate(20px, 10px)"
    harness.mouse.move(left + 10, top - 30)  # off the shared page
    left_at = {"x": approx(10 / 0.5 + 200), "y": approx(-30 / 0.5 + 300)}
    assert posted()[-1] == {"op": "pointer", **left_at, "visible": False}

    handle(harness, key, {"op": "status", "muted": True})  # muted: nothing goes out
    harness.mouse.move(left + 100, top + 60)
    harness.mouse.click(left + 100, top + 60)
    harness.mouse.move(left + 10, top - 30)
    assert posted() == []
    handle(harness, key, {"op": "status", "muted": False})
    harness.mouse.move(left + 100, top + 60)
    assert posted()[-1]["visible"] is True
    handle(harness, key, {"op": "status", "removed": True})  # removed: nothing either
    harness.mouse.move(left + 10, top - 30)
    assert posted() == []


# -- hostile frames ----------------------------------------------------------------------------
def test_hostile_frames_never_run(
    open_page: Callable[..., Page], customer_site: PageServer
) -> None:
    tab = open_page(customer_site.url(HARNESS), wait_for_state=None)
    tab.wait_for_function("window.CwmnViewer && window.makeViewer")
    url = tab.url
    raw = {name: snapshot(page(html)) for name, html in HOSTILE}
    attr_nodes = html_records(ATTR_PAGE)
    attr_ids = ids_of(attr_nodes)
    attrs = [[attr_ids[target], name, value] for target, name, value in ATTR_VECTORS]

    # 1. The vectors are live: built without a sandbox, they run (one document per vector,
    # so that no vector's navigation cancels another's).
    controls = [[name, [["snapshot", data]]] for name, data in raw.items()]
    for target, html in ATTR_TARGETS.items():
        target_id = ids_of(html_records(page(html)))[target]
        changes = [[target_id, name, value] for t, name, value in ATTR_VECTORS if t == target]
        controls.append(
            [target, [["snapshot", snapshot(page(html))], ["mutations", {"attrs": changes}]]]
        )
    tab.evaluate(
        """async (items) => {
            await Promise.all(items.map(([k]) => makeControl(k)));
            for (const [k, frames] of items) {
                for (const [kind, data] of frames) controls[k].apply(kind, data);
            }
        }""",
        controls,
    )
    tab.wait_for_timeout(1000)
    tab.evaluate(POKE_ALL, "controls")
    tab.wait_for_timeout(1500)
    live = set(tab.evaluate(HITS))
    assert LIVE - live == set() and LIVE_ATTRS - live == set()
    tab.evaluate(
        "() => { document.querySelectorAll('.control').forEach((f) => f.remove());"
        " __pwned.length = 0; __messages.length = 0; }"
    )
    tab.wait_for_timeout(300)
    tab.evaluate("() => { __pwned.length = 0; __messages.length = 0; }")

    # 2. The same frames in CwmnViewers: raw (the sandbox alone), and sanitized.
    everything = page("".join(html for _, html in HOSTILE))
    sanitizer = Sanitizer()
    safe_attrs = safe("snapshot", snapshot(ATTR_PAGE), sanitizer)
    body = next(r[0] for r in html_records(everything) if r[2] == 1 and r[3] == "body")
    adds = html_records("".join(html for _, html in HOSTILE), first_id=10_000, parent=body)
    assert body == next(r[0] for r in html_records(page("")) if r[2] == 1 and r[3] == "body")
    adds_page = Sanitizer()
    frames: list[tuple[str, str, dict[str, Any]]] = []
    for name, data in raw.items():
        frames.append((f"raw-{name}", "snapshot", data))
    frames += [
        ("raw-attrs", "snapshot", snapshot(ATTR_PAGE)),
        ("raw-attrs", "mutations", {"attrs": attrs}),
        ("raw-adds", "snapshot", snapshot(page(""))),
        ("raw-adds", "mutations", {"adds": adds, "order": []}),
        ("safe-snapshot", "snapshot", safe("snapshot", snapshot(everything))),
        ("safe-attrs", "snapshot", safe_attrs),
        ("safe-attrs", "mutations", safe("mutations", {"attrs": attrs}, sanitizer)),
        ("safe-adds", "snapshot", adds_page.frame("snapshot", snapshot(page("")))),
        ("safe-adds", "mutations", adds_page.frame("mutations", {"adds": adds, "order": []})),
    ]
    tab.evaluate(
        """async (frames) => {
            const keys = [...new Set(frames.map(([k]) => k))];
            await Promise.all(keys.map((k) => makeViewer(k, 200, 150)));
            for (const [k, kind, data] of frames) viewers[k].apply(kind, data);
        }""",
        frames,
    )
    tab.wait_for_timeout(1000)
    leftovers = tab.evaluate(
        """() => ['safe-snapshot', 'safe-attrs', 'safe-adds'].map((k) => {
            const doc = viewers[k].iframe.contentDocument;
            const armed = 'script, object, embed, base, meta[http-equiv], noscript, frameset, '
                + 'iframe[src], iframe[srcdoc], form[action], [target]';
            const names = Array.from(doc.querySelectorAll('*'), (el) => Array.from(el.attributes,
                (a) => a.name)).flat();
            return [k, doc.querySelectorAll(armed).length, names.filter((n) => /^on/i.test(n))];
        })"""
    )
    assert leftovers == [[k, 0, []] for k in ("safe-snapshot", "safe-attrs", "safe-adds")]
    # Real clicks where the links are: the shield takes them.
    for key, link in [("raw-a-href-js", "#a-href-js"), ("raw-a-target", "#a-target")]:
        x, y, shielded = tab.evaluate(
            """([k, link]) => { const v = viewers[k];
                v.stage.scrollIntoView();
                const f = v.iframe.getBoundingClientRect();
                const a = v.iframe.contentDocument.querySelector(link).getBoundingClientRect();
                const x = f.left + (a.left + a.width / 2) * v.scale;
                const y = f.top + (a.top + a.height / 2) * v.scale;
                return [x, y, document.elementFromPoint(x, y) === v.shield]; }""",
            [key, link],
        )
        assert shielded, key
        tab.mouse.click(x, y)
    # Programmatic clicks and submits reach the elements: the sandbox must hold alone.
    tab.evaluate(POKE_ALL, "viewers")
    tab.wait_for_timeout(1500)
    assert tab.evaluate(HITS) == []
    assert tab.url == url


def test_a_style_of_several_texts_keeps_every_rule(
    harness: Page, viewer: Callable[..., str]
) -> None:
    """A <style> filled one text at a time (as CSS-in-JS libraries do) is built with all of
    its rules; the sanitizer sends its CSS whole (cwmn_web/viewer/style_texts.py)."""
    key = viewer()
    sanitizer = Sanitizer()
    html = page('<p id="a">a</p><p id="b">b</p><p id="c">c</p>', head="<style id=s></style>")
    data = snapshot(html)
    style = next(r[0] for r in data["nodes"] if r[2] == 1 and r[3] == "style")
    data["nodes"] += [[900, style, 3, "#a { color: rgb(1, 2, 3) }"]]
    data["nodes"] += [[901, style, 3, "#b { color: rgb(4, 5, 6) }"]]
    apply(harness, key, "snapshot", safe("snapshot", data, sanitizer))
    added = {"adds": [[902, style, 3, "#c { color: rgb(7, 8, 9) } #a { width: expres"]]}
    apply(harness, key, "mutations", safe("mutations", added, sanitizer))
    split = {"adds": [[903, style, 3, "sion(alert(1)) }"]]}
    apply(harness, key, "mutations", safe("mutations", split, sanitizer))
    colors = in_frame(
        harness,
        key,
        "(doc, win) => ['#a', '#b', '#c']"
        ".map((s) => win.getComputedStyle(doc.querySelector(s)).color)",
    )
    assert colors == ["rgb(1, 2, 3)", "rgb(4, 5, 6)", "rgb(7, 8, 9)"]
    css = in_frame(harness, key, "(doc) => doc.getElementById('s').textContent")
    assert "expres" not in css and "sion(" not in css  # the joined declaration is dropped
