"""cwmn_web.viewer.sanitize: hostile pages lose everything that could run; normal pages pass.

``html_records`` turns HTML into node records (docs/MIRROR.md) the way the host's capture
would, and ``HOSTILE`` is the list of injection vectors; tests/browser/test_viewer_builder.py
feeds both to real browsers.
"""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from cwmn_web.errors import ProtocolError
from cwmn_web.viewer.sanitize import Sanitizer, clean_css, clean_srcset, url_allowed
from tests.helpers.mirror_model import MirrorModel
from tests.helpers.page_dangers import css_dangerous

HTML_NS = "http://www.w3.org/1999/xhtml"
SVG_NS = "http://www.w3.org/2000/svg"
MATHML_NS = "http://www.w3.org/1998/Math/MathML"
VOID = frozenset(
    {"area", "base", "br", "col", "embed", "frame", "hr", "img", "input", "link", "meta"}
    | {"param", "portal", "source", "track", "wbr"}
)
SVG_CASE = {
    name.lower(): name
    for name in [
        "foreignObject",
        "animateTransform",
        "animateMotion",
        "clipPath",
        "linearGradient",
        "feImage",
        "viewBox",
        "attributeName",
        "attributeType",
        "repeatCount",
        "preserveAspectRatio",
    ]
}
TIMES = "\u00d7"  # the multiplication sign of cwmn:block's "W x H"
MARK = "__pwn"


# -- HTML → node records ---------------------------------------------------------------------
class _Records(HTMLParser):
    def __init__(self, first_id: int, parent: int) -> None:
        super().__init__(convert_charrefs=True)
        self.records: list[list[Any]] = []
        self.next_id = first_id
        self.stack: list[tuple[int, str, str]] = [(parent, HTML_NS, "")]

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        parent, ns, _ = self.stack[-1]
        ns = {"svg": SVG_NS, "math": MATHML_NS}.get(tag, ns)
        node_id = self._new_id()
        if tag == "template" and any(name == "shadowrootmode" for name, _ in attrs):
            self.records.append([node_id, parent, 11, "shadow"])
            self.stack.append((node_id, ns, tag))
            return
        if ns == SVG_NS:
            tag = SVG_CASE.get(tag, tag)
        flat: list[str] = []
        for name, value in attrs:
            flat += [SVG_CASE.get(name, name) if ns != HTML_NS else name, value or ""]
        if ns != HTML_NS:
            flat += ["cwmn:ns", ns]
        self.records.append([node_id, parent, 1, tag, flat])
        if tag.lower() not in VOID or ns != HTML_NS:
            self.stack.append((node_id, HTML_NS if tag == "foreignObject" else ns, tag))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        depth = len(self.stack)
        self.handle_starttag(tag, attrs)
        del self.stack[depth:]

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i][2].lower() == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        self.records.append([self._new_id(), self.stack[-1][0], 3, data])

    def handle_comment(self, data: str) -> None:
        self.records.append([self._new_id(), self.stack[-1][0], 8, ""])


def html_records(html: str, first_id: int = 1, parent: int = 0) -> list[list[Any]]:
    """Node records of ``html`` (ids from ``first_id``, top nodes under ``parent``)."""
    parser = _Records(first_id, parent)
    parser.feed(html)
    parser.close()
    return parser.records


def page(body: str, head: str = "") -> str:
    return f"<html><head>{head}</head><body>{body}</body></html>"


def snapshot_of(html: str) -> dict[str, Any]:
    return {
        "nodes": html_records(html),
        "url": "https://shop.example.com/",
        "title": "Shop",
        "viewport": [1000, 700],
        "scroll": [0, 0],
        "adopted": [],
    }


def js(name: str) -> str:
    """A script that tells the test page it ran (used inside the vectors below)."""
    return f"top.{MARK}('{name}')"


def post(name: str) -> str:
    """The same from a document of another origin: post a message to the top page."""
    return f"top.postMessage('{MARK}:{name}','*')"


#: (name, HTML) — each tries to run script; the name is what the script reports.
HOSTILE: list[tuple[str, str]] = [
    ("script", f"<script>{js('script')}</script>"),
    ("script-src", f'<script src="data:text/javascript,{js("script-src")}"></script>'),
    ("img-onerror", f'<img src=x onerror="{js("img-onerror")}">'),
    ("img-onerror-bad-src", f'<img src="x:" onerror="{js("img-onerror-bad-src")}">'),
    ("svg-onload", f'<svg onload="{js("svg-onload")}"><rect width=5 height=5 /></svg>'),
    ("svg-script", f"<svg><script>{js('svg-script')}</script></svg>"),
    (
        "svg-script-href",
        f'<svg><script href="data:text/javascript,{js("svg-script-href")}"></script></svg>',
    ),
    (
        "svg-animate-href",
        f'<svg><a id="svg-animate-href"><animate attributeName="href" '
        f'values="javascript:{js("svg-animate-href")}" /><text y=20>go</text></a></svg>',
    ),
    (
        "svg-set-href",
        f'<svg><a id="svg-set-href"><set attributeName="xlink:href" to="javascript:'
        f'{js("svg-set-href")}" /><text y=20>go</text></a></svg>',
    ),
    (
        "svg-set-handler",
        f'<svg><set attributeName="onmouseover" to="{js("svg-set-handler")}" /></svg>',
    ),
    (
        "svg-animate-onbegin",
        f'<svg><animate attributeName="x" dur="1ms" onbegin="{js("svg-animate-onbegin")}" /></svg>',
    ),
    (
        "svg-xlink-href",
        f'<svg><a id="svg-xlink-href" xlink:href="javascript:{js("svg-xlink-href")}">'
        "<text y=20>go</text></a></svg>",
    ),
    (
        "svg-foreignobject-script",
        f"<svg><foreignObject><script>{js('svg-foreignobject-script')}</script>"
        "</foreignObject></svg>",
    ),
    ("svg-handler", f'<svg><handler type="text/javascript">{js("svg-handler")}</handler></svg>'),
    ("svg-image-js", f'<svg><image href="javascript:{js("svg-image-js")}" /></svg>'),
    (
        "svg-use-data",
        '<svg><use href="data:image/svg+xml;base64,'
        'PHN2ZyBpZD0ieCIgb25sb2FkPSJhbGVydCgxKSIvPg==#x" /></svg>',
    ),
    (
        "svg-style-import",
        f"<svg><style>@import 'javascript:{js('svg-style-import')}';</style></svg>",
    ),
    ("iframe-srcdoc", f'<iframe srcdoc="<script>{js("iframe-srcdoc")}</script>"></iframe>'),
    ("iframe-src-js", f'<iframe src="javascript:{js("iframe-src-js")}"></iframe>'),
    (
        "iframe-src-data",
        f'<iframe src="data:text/html,<script>{post("iframe-src-data")}</script>"></iframe>',
    ),
    (
        "object-data",
        f'<object data="data:text/html,<script>{post("object-data")}</script>"></object>',
    ),
    ("embed-src", f'<embed src="data:text/html,<script>{post("embed-src")}</script>">'),
    ("applet", '<applet code="Pwn.class" codebase="https://evil.example/"></applet>'),
    ("frameset", f'<frameset><frame src="javascript:{js("frameset")}"></frameset>'),
    ("portal", '<portal src="https://evil.example/"></portal>'),
    ("noscript", f'<noscript><img src=x onerror="{js("noscript")}"></noscript>'),
    ("a-href-js", f'<a id="a-href-js" href="javascript:{js("a-href-js")}">go</a>'),
    ("a-href-tab", f'<a id="a-href-tab" href="java&#x09;script:{js("a-href-tab")}">go</a>'),
    (
        "a-href-newline",
        f'<a id="a-href-newline" href="java&#10;scr&#13;ipt:{js("a-href-newline")}">go</a>',
    ),
    ("a-href-entity", f'<a id="a-href-entity" href="&#106;avascript:{js("a-href-entity")}">go</a>'),
    ("a-href-case", f'<a id="a-href-case" href="JaVaScRiPt:{js("a-href-case")}">go</a>'),
    (
        "a-href-leading",
        f'<a id="a-href-leading" href=" &#14;&#1; javascript:{js("a-href-leading")}">go</a>',
    ),
    ("a-href-vbscript", '<a id="a-href-vbscript" href="vbscript:msgbox(1)">go</a>'),
    (
        "a-href-data",
        f'<a id="a-href-data" href="data:text/html,<script>{post("a-href-data")}</script>">go</a>',
    ),
    ("a-href-blob", '<a href="blob:https://shop.example.com/0f0e">go</a>'),
    ("a-href-file", '<a href="file:///etc/passwd">go</a>'),
    (
        "meta-refresh",
        f'<meta http-equiv="refresh" content="0;url=javascript:{js("meta-refresh")}">',
    ),
    (
        "meta-refresh-data",
        f'<meta http-equiv="refresh" '
        f'content="0;url=data:text/html,<script>{post("meta-refresh-data")}</script>">',
    ),
    ("base-href", f'<base href="javascript:{js("base-href")}//">'),
    (
        "form-action",
        f'<form id="form-action" action="javascript:{js("form-action")}">'
        "<button>go</button></form>",
    ),
    (
        "button-formaction",
        f'<form id="button-formaction"><button formaction="javascript:'
        f'{js("button-formaction")}">go</button></form>',
    ),
    ("input-image", f'<input type=image src="javascript:{js("input-image")}">'),
    (
        "link-import",
        f'<link rel=import href="data:text/html,<script>{js("link-import")}</script>">',
    ),
    (
        "link-preload",
        f'<link rel=preload as=script href="data:text/javascript,{js("link-preload")}">',
    ),
    (
        "link-modulepreload",
        f'<link rel=modulepreload href="data:text/javascript,{js("link-modulepreload")}">',
    ),
    ("link-stylesheet-js", f'<link rel=stylesheet href="javascript:{js("link-stylesheet-js")}">'),
    ("style-expression", f'<div style="width: expression({js("style-expression")})">x</div>'),
    ("style-url-js", f"<div style=\"background: url('javascript:{js('style-url-js')}')\">x</div>"),
    (
        "style-escaped",
        f'<div style="color: red; width: e\\78 pression({js("style-escaped")})">x</div>',
    ),
    ("style-comment", f'<div style="width: exp/**/ression({js("style-comment")})">x</div>'),
    (
        "style-moz-binding",
        f"<div style=\"-moz-binding: url('data:text/xml,{js('style-moz-binding')}')\">x</div>",
    ),
    ("style-behavior", f"<div style=\"behavior: url('{MARK}.htc')\">x</div>"),
    ("style-el-import", f"<style>@import 'javascript:{js('style-el-import')}';</style>"),
    (
        "style-el-expression",
        f"<style>p {{ color: red; width: expression({js('style-el-expression')}) }}</style>",
    ),
    (
        "style-el-url",
        f'<style>body {{ background: url("javascript:{js("style-el-url")}") }}</style>',
    ),
    ("details-ontoggle", f'<details open ontoggle="{js("details-ontoggle")}">x</details>'),
    ("input-onfocus", f'<input autofocus onfocus="{js("input-onfocus")}">'),
    (
        "video-source-onerror",
        f'<video><source src=x: onerror="{js("video-source-onerror")}"></video>',
    ),
    ("audio-onerror", f'<audio src="x:" onerror="{js("audio-onerror")}"></audio>'),
    ("marquee-onstart", f'<marquee onstart="{js("marquee-onstart")}">x</marquee>'),
    ("div-onclick", f'<div id="div-onclick" onclick="{js("div-onclick")}">click</div>'),
    ("style-onload", f'<style onload="{js("style-onload")}">p {{}}</style>'),
    ("body-onpageshow", f'<div onpageshow="{js("body-onpageshow")}"></div>'),
    ("math-href", f'<math href="javascript:{js("math-href")}"><mi>x</mi></math>'),
    (
        "math-maction",
        f'<math><maction actiontype="statusline" '
        f'xlink:href="javascript:{js("math-maction")}"><mi>x</mi></maction></math>',
    ),
    ("img-srcset", f'<img srcset="javascript:{js("img-srcset")} 1x, x 2x">'),
    ("table-background", f'<table background="javascript:{js("table-background")}"></table>'),
    ("blockquote-cite", f'<blockquote cite="javascript:{js("blockquote-cite")}">x</blockquote>'),
    ("video-poster", f'<video poster="javascript:{js("video-poster")}"></video>'),
    ("a-ping", f'<a href="https://shop.example.com/" ping="https://evil.example/{MARK}">go</a>'),
    ("a-target", '<a id="a-target" href="https://shop.example.com/" target="_top">go</a>'),
    ("form-formtarget", '<form><button formtarget="_top">go</button></form>'),
    ("meta-referrer", '<meta name="referrer" content="unsafe-url">'),
    ("img-referrerpolicy", '<img src="https://t.example/p.png" referrerpolicy="unsafe-url">'),
]

#: Records no HTML parser would produce (odd attribute names, cases, prefixes).
HOSTILE_RECORDS: list[tuple[str, list[Any]]] = [
    ("attr-case", ["img", ["src", "x", "OnErRoR", js("attr-case")]]),
    ("attr-upper-case", ["IMG", ["SRC", "x", "ONERROR", js("attr-upper-case")]]),
    ("attr-prefixed", ["svg", ["xlink:onload", js("attr-prefixed"), "cwmn:ns", SVG_NS]]),
    ("attr-space", ["img", ["onerror ", js("attr-space"), "src", "x"]]),
    ("attr-slash", ["img", ["src/onerror", js("attr-slash")]]),
    ("attr-nul", ["img", ["on\x00error", js("attr-nul")]]),
    ("attr-quote", ["img", ['x"onerror', js("attr-quote")]]),
    ("tag-case", ["SCRIPT", ["src", f"data:,{js('tag-case')}"]]),
    ("tag-prefixed", ["svg:script", ["cwmn:ns", SVG_NS, "href", f"data:,{js('tag-prefixed')}"]]),
    ("meta-upper", ["meta", ["HTTP-EQUIV", "refresh", "content", f"0;url=javascript:{js('x')}"]]),
    ("link-rel-case", ["link", ["REL", "Import", "href", f"data:text/html,{js('link-rel-case')}"]]),
    ("link-rel-mixed", ["link", ["rel", "stylesheet import", "href", f"data:,{js('mixed')}"]]),
    (
        "duplicate-rel",
        ["link", ["rel", "stylesheet", "rel", "import", "href", f"data:text/html,{js('dup')}"]],
    ),
    ("iframe-src", ["iframe", ["src", f"https://evil.example/{MARK}", "width", "300"]]),
    ("href-nbsp-zero-width", ["a", ["href", f"\u200bjava\u00adscript:{js('zw')}"]]),
    ("href-unicode-space", ["a", ["href", f"\u2028javascript:{js('unicode-space')}"]]),
    ("animate-case", ["animate", ["attributeName", " HREF ", "to", f"javascript:{MARK}"]]),
    ("canvas-js", ["canvas", ["cwmn:canvas", f"javascript:{js('canvas-js')}"]]),
    ("canvas-svg", ["canvas", ["cwmn:canvas", f"data:image/svg+xml,<svg onload='{MARK}'>"]]),
    ("pseudo-unknown", ["div", ["cwmn:onclick", js("pseudo-unknown")]]),
    ("pseudo-css", ["style", ["cwmn:css", f"p{{width:expression({js('pseudo-css')})}}"]]),
    ("ns-bogus", ["script", ["cwmn:ns", "urn:evil", "src", f"data:,{js('ns-bogus')}"]]),
]

URLISH = frozenset(
    {"href", "src", "action", "formaction", "xlink:href", "poster", "background", "cite"}
    | {"data", "codebase", "classid", "longdesc", "usemap", "lowsrc", "dynsrc", "manifest"}
    | {"profile", "icon"}
)
BAD_TAGS = frozenset(
    {"script", "noscript", "object", "embed", "applet", "frame", "frameset", "base", "portal"}
    | {"handler", "listener"}
)


def _squash(value: str) -> str:
    return re.sub(
        r"[\s\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202e\ufeff]", "", value
    ).lower()


def dangers(records: list[list[Any]]) -> list[str]:
    """Everything in ``records`` that could run or leave the stage, independently checked."""
    found: list[str] = []
    styles = {r[0] for r in records if r[2] == 1 and r[3].lower().endswith("style")}
    for record in records:
        if record[2] == 3 and record[1] in styles:
            css = _squash(record[3])
            if MARK.lower() in css or any(d in css for d in ("expression(", "javascript:")):
                found.append(f"css text {record[3]!r}")
        if record[2] != 1:
            continue
        tag = record[3].lower().rpartition(":")[2]
        attrs = dict(zip(record[4][::2], record[4][1::2], strict=True))
        lower = {name.lower(): value for name, value in attrs.items()}
        if tag in BAD_TAGS:
            found.append(f"<{tag}>")
        if tag == "meta" and ("http-equiv" in lower or lower.get("name") == "referrer"):
            found.append("meta http-equiv or referrer")
        if tag == "link" and not set(lower.get("rel", "").lower().split()) & {"stylesheet", "icon"}:
            found.append(f"link rel={lower.get('rel')!r}")
        if tag == "iframe" and "src" in lower:
            found.append("iframe src")
        if tag == "form" and "action" in lower:
            found.append("form action")
        if tag in ("animate", "set") and "href" in _squash(lower.get("attributename", "")):
            found.append(f"<{tag}> animating href")
        for name, value in attrs.items():
            low, key = name.lower(), _squash(value)
            dropped = ("srcdoc", "target", "formtarget", "ping", "referrerpolicy")
            if low.rpartition(":")[2].startswith("on") or low in dropped:
                found.append(f"attribute {name}")
            if not re.fullmatch(r"[A-Za-z_:][-A-Za-z0-9_:.]*", name):
                found.append(f"attribute name {name!r}")
            if MARK in value and name != "cwmn:value":
                found.append(f"{name}={value!r}")
            if low in URLISH or low.endswith("srcset"):
                image = tag == "img" and low == "src" and key.startswith("data:image/")
                if key.startswith(("javascript:", "vbscript:", "blob:", "file:")) or (
                    key.startswith("data:") and not image and not key.startswith("data:image/png")
                ):
                    found.append(f"{name}={value!r}")
            if low == "style" or name == "cwmn:css":
                for word in ("expression(", "javascript:", "-moz-binding", "behavior:"):
                    if word in key:
                        found.append(f"{name} with {word}")
            if name == "cwmn:canvas" and not value.startswith("data:image/png;base64,"):
                found.append(f"cwmn:canvas={value!r}")
    return found


def test_the_checker_sees_every_vector() -> None:
    """Guard for the tests below: unsanitized, each vector is found dangerous."""
    for name, html in HOSTILE:
        assert dangers(html_records(html)), name
    for name, (tag, attrs) in HOSTILE_RECORDS:
        assert dangers([[1, 0, 1, tag, attrs]]), name


# -- hostile snapshots and mutations ------------------------------------------------------------
@pytest.mark.parametrize(("name", "html"), HOSTILE, ids=[n for n, _ in HOSTILE])
def test_a_hostile_snapshot_loses_the_vector(name: str, html: str) -> None:
    data = snapshot_of(page(f"<p>before</p>{html}<p>after</p>"))
    safe = Sanitizer().frame("snapshot", copy.deepcopy(data))
    assert dangers(safe["nodes"]) == []
    assert MARK not in json.dumps([r for r in safe["nodes"] if r[2] == 1])
    texts = [r[3] for r in safe["nodes"] if r[2] == 3]
    assert texts[:1] == ["before"] and texts[-1:] == ["after"]


@pytest.mark.parametrize(("name", "html"), HOSTILE, ids=[n for n, _ in HOSTILE])
def test_hostile_adds_lose_the_vector(name: str, html: str) -> None:
    sanitizer = Sanitizer()
    base = sanitizer.frame("snapshot", snapshot_of(page("<main></main>")))
    main = next(r[0] for r in base["nodes"] if r[2] == 1 and r[3] == "main")
    adds = html_records(html, first_id=100, parent=main)
    order = [[main, [r[0] for r in adds if r[1] == main]]]
    safe = sanitizer.frame(
        "mutations", {"removes": [], "adds": adds, "order": order, "attrs": [], "texts": []}
    )
    assert dangers(safe["adds"]) == []
    kept = {r[0] for r in safe["adds"]}
    assert set(safe["order"][0][1]) <= kept
    assert all(r[1] in kept or r[1] == main for r in safe["adds"])


@pytest.mark.parametrize(
    ("name", "tag", "attrs"),
    [(n, t, a) for n, (t, a) in HOSTILE_RECORDS],
    ids=[n for n, _ in HOSTILE_RECORDS],
)
def test_hostile_records_lose_the_vector(name: str, tag: str, attrs: list[Any]) -> None:
    nodes = [[1, 0, 1, "html", []], [2, 1, 1, "body", []], [3, 2, 1, tag, attrs]]
    safe = Sanitizer().frame("snapshot", {"nodes": nodes, "viewport": [800, 600]})
    assert dangers(safe["nodes"]) == []
    assert MARK not in json.dumps(safe["nodes"])


def test_descendants_added_later_under_a_dropped_node_are_dropped() -> None:
    sanitizer = Sanitizer()
    html = page("<object id=o><div id=inside>fallback</div></object><div id=ok></div>")
    safe = sanitizer.frame("snapshot", snapshot_of(html))
    ids = {r[4][1] if r[2] == 1 and r[4][:1] == ["id"] else None: r[0] for r in html_records(html)}
    assert {r[0] for r in safe["nodes"]}.isdisjoint({ids["o"], ids["inside"]})
    later = sanitizer.frame(
        "mutations",
        {
            "removes": [],
            "adds": [[50, ids["inside"], 1, "p", []], [51, 50, 3, "text"], [52, ids["ok"], 3, "x"]],
            "order": [[ids["inside"], [50]], [ids["ok"], [52]], [ids["o"], [50]]],
            "attrs": [[ids["inside"], "class", "a"], [50, "title", "t"], [ids["ok"], "class", "b"]],
            "texts": [[51, "changed"], [52, "y"]],
        },
    )
    assert later == {
        "removes": [],
        "adds": [[52, ids["ok"], 3, "x"]],
        "order": [[ids["ok"], [52]]],
        "attrs": [[ids["ok"], "class", "b"]],
        "texts": [[52, "y"]],
    }


def test_a_snapshot_resets_what_was_dropped() -> None:
    sanitizer = Sanitizer()
    sanitizer.frame("snapshot", {"nodes": [[1, 0, 1, "script", []]]})
    assert sanitizer.dropped == {1}
    sanitizer.frame("snapshot", {"nodes": [[1, 0, 1, "html", []], [2, 1, 1, "body", []]]})
    assert sanitizer.dropped == set()
    sanitizer.frame("snapshot", {"nodes": [[1, 0, 1, "script", []]]})
    sanitizer.reset()
    assert sanitizer.dropped == set()


def test_a_node_moved_out_of_a_dropped_subtree_is_taken_again() -> None:
    sanitizer = Sanitizer()
    nodes = [[1, 0, 1, "html", []], [2, 1, 1, "noscript", []], [3, 2, 1, "p", []]]
    assert [r[0] for r in sanitizer.frame("snapshot", {"nodes": nodes})["nodes"]] == [1]
    moved = sanitizer.frame("mutations", {"adds": [[3, 1, 1, "p", []]], "order": [[1, [3]]]})
    assert moved["adds"] == [[3, 1, 1, "p", []]] and moved["order"] == [[1, [3]]]


def test_attribute_changes_are_sanitized() -> None:
    sanitizer = Sanitizer()
    html = page(
        '<a id=a href="https://x.example/">a</a><iframe id=f></iframe><form id=fm></form>'
        '<img id=i src="https://x.example/i.png"><div id=d style="color:red">d</div>'
        '<svg><animate id=an attributeName="x" /></svg>',
        head='<link id=l rel=stylesheet href="https://x.example/s.css"><meta id=m name=x>',
    )
    nodes = html_records(html)
    ids = {r[4][r[4].index("id") + 1]: r[0] for r in nodes if r[2] == 1 and "id" in r[4]}
    sanitizer.frame("snapshot", snapshot_of(html))
    changes = [
        [ids["a"], "href", "JAVASCRIPT:alert(1)"],
        [ids["a"], "href", "https://ok.example/"],
        [ids["a"], "onclick", "alert(1)"],
        [ids["a"], "OnMouseOver", "alert(1)"],
        [ids["a"], "target", "_blank"],
        [ids["a"], "bad name", "x"],
        [ids["a"], "title", "fine"],
        [ids["a"], "href", None],
        [ids["a"], "onclick", None],
        [ids["f"], "src", "https://evil.example/"],
        [ids["f"], "srcdoc", "<script>alert(1)</script>"],
        [ids["f"], "width", "300"],
        [ids["fm"], "action", "https://ok.example/post"],
        [ids["i"], "src", "data:image/svg+xml,<svg/>"],
        [ids["i"], "srcset", "javascript:alert(1) 1x, https://ok.example/2.png 2x"],
        [ids["i"], "srcset", None],
        [ids["d"], "style", "color: blue; width: expression(alert(1))"],
        [ids["d"], "cwmn:value", "typed"],
        [ids["d"], "cwmn:bogus", "1"],
        [ids["d"], "class", 3],
        [ids["l"], "href", "https://x.example/t.css"],
        [999, "onclick", "alert(1)"],
        [999, "class", "unknown ids pass; the viewer ignores them"],
        ["1", "class", "bad id"],
        [ids["a"], "class"],
    ]
    safe = sanitizer.frame("mutations", {"attrs": changes})
    assert safe["attrs"] == [
        [ids["a"], "href", "https://ok.example/"],
        [ids["a"], "title", "fine"],
        [ids["a"], "href", None],
        [ids["f"], "width", "300"],
        [ids["i"], "src", "data:image/svg+xml,<svg/>"],  # an image: no script runs in it
        [ids["i"], "srcset", "https://ok.example/2.png 2x"],
        [ids["i"], "srcset", None],
        [ids["d"], "style", "color: blue;"],
        [ids["d"], "cwmn:value", "typed"],
        [ids["l"], "href", "https://x.example/t.css"],
        [999, "class", "unknown ids pass; the viewer ignores them"],
    ]
    assert safe["removes"] == []


@pytest.mark.parametrize(
    ("tag_id", "name", "value"),
    [
        ("l", "rel", "import"),
        ("l", "REL", "preload"),
        ("m", "http-equiv", "refresh"),
        ("m", "name", "Referrer"),
        ("an", "attributeName", "href"),
        ("an", "attributeName", "onclick"),
    ],
)
def test_an_attribute_that_arms_an_element_removes_it(tag_id: str, name: str, value: str) -> None:
    sanitizer = Sanitizer()
    html = page(
        "<svg><animate id=an attributeName=x /></svg>",
        head="<link id=l rel=stylesheet href=https://x.example/s.css><meta id=m name=x>",
    )
    nodes = html_records(html)
    ids = {r[4][r[4].index("id") + 1]: r[0] for r in nodes if r[2] == 1 and "id" in r[4]}
    sanitizer.frame("snapshot", snapshot_of(html))
    safe = sanitizer.frame("mutations", {"attrs": [[ids[tag_id], name, value]]})
    assert safe["attrs"] == [] and safe["removes"] == [ids[tag_id]]
    later = sanitizer.frame("mutations", {"adds": [[77, ids[tag_id], 3, "x"]]})
    assert later["adds"] == []


def test_style_text_is_cleaned_in_snapshots_adds_texts_and_moves() -> None:
    sanitizer = Sanitizer()
    html = page("<p id=p>text</p>", head="<style id=s>p { color: red }</style>")
    nodes = html_records(html)
    style = next(r[0] for r in nodes if r[2] == 1 and r[3] == "style")
    css_text = next(r[0] for r in nodes if r[1] == style)
    para_text = next(r[0] for r in nodes if r[2] == 3 and r[3] == "text")
    sanitizer.frame("snapshot", snapshot_of(html))
    safe = sanitizer.frame(
        "mutations",
        {
            "adds": [[60, style, 3, "a { width: expression(alert(1)); color: blue }"]],
            "order": [[style, [css_text, 60, para_text]]],
            "texts": [
                [css_text, "b { background: url(javascript:alert(1)) }"],
                [para_text, "width: expression(alert(1)) stays as text in a paragraph"],
            ],
        },
    )
    # A second text makes the style's CSS go whole, cleaned as one text (style_texts.py).
    assert safe["adds"] == []
    assert safe["order"] == [[style, []]]  # the paragraph's text is not CSS
    assert safe["attrs"] == [[style, "cwmn:css", "b {}a {; color: blue }"]]
    assert safe["texts"] == [
        [para_text, "width: expression(alert(1)) stays as text in a paragraph"]
    ]


def test_iframes_stay_empty_boxes() -> None:
    html = page(
        '<iframe src="https://x.example/" srcdoc="<b>x</b>" width=320 height=200>t</iframe>'
    )
    safe = Sanitizer().frame("snapshot", snapshot_of(html))
    frame = next(r for r in safe["nodes"] if r[2] == 1 and r[3] == "iframe")
    assert frame[4] == ["width", "320", "height", "200"]
    assert not [r for r in safe["nodes"] if r[1] == frame[0]]


def test_forms_keep_no_action() -> None:
    html = page('<form action="https://shop.example.com/pay" method=post><input name=q></form>')
    safe = Sanitizer().frame("snapshot", snapshot_of(html))
    form = next(r for r in safe["nodes"] if r[2] == 1 and r[3] == "form")
    assert form[4] == ["method", "post"]


# -- normal pages ------------------------------------------------------------------------------
NORMAL = page(
    """
<header class="top"><nav><a href="https://shop.example.com/" title="Home">Home</a>
<a href="https://shop.example.com/cart#items" rel="nofollow">Cart (2)</a>
<a href="mailto:help@shop.example.com">Mail</a> <a href="tel:+13145550000">Call</a></nav></header>
<main id="main" style="margin: 0 auto; background: url(&quot;https://cdn.example.com/bg.png&quot;)">
<h1 data-test="title">Fresh &amp; tasty</h1>
<!-- a comment -->
<picture><source srcset="https://cdn.example.com/a.webp 1x, https://cdn.example.com/a@2x.webp 2x"
type="image/webp"><img src="https://cdn.example.com/a.png" alt="Apples" width="200" height="100"
loading="lazy"
srcset="https://cdn.example.com/a.png 1x, data:image/png;base64,iVBORw0KGgo= 2x"></picture>
<img src="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E" alt="logo">
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="">
<form method="get" class="search"><label for="q">Search</label>
<input id="q" name="q" type="search" placeholder="Apples…" cwmn:value="red apples">
<input type="checkbox" name="organic" cwmn:checked="1"> <select name="size"><option>S</option>
<option selected>M</option></select><textarea name="note" cwmn:value="">note</textarea>
<button type="submit" formaction="https://shop.example.com/search">Go</button></form>
<svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true"><defs><linearGradient id="g">
<stop offset="0" stop-color="#f00"></stop></linearGradient></defs><use href="#icon-cart"></use>
<path d="M0 0h24v24H0z" fill="url(#g)"></path><a href="https://shop.example.com/svg"><text x="2"
y="20">svg link</text></a><animateTransform attributeName="transform" type="rotate" from="0"
to="360" dur="2s" repeatCount="indefinite"></animateTransform></svg>
<math><mi>x</mi><mo>=</mo><mn>2</mn></math>
<canvas width="10" height="10" cwmn:canvas="data:image/png;base64,iVBORw0KGgo="></canvas>
<div class="secret" cwmn:block="300{TIMES}150" id="card"></div>
<div class="scroller" cwmn:scroll="0,120" style="overflow: auto; height: 80px">long</div>
<my-widget><template shadowrootmode="open"><style>:host { display: block }</style>
<slot></slot></template><span>light</span></my-widget>
<iframe title="video" width="560" height="315" allowfullscreen></iframe>
<video src="https://cdn.example.com/v.mp4" poster="https://cdn.example.com/p.jpg" controls></video>
<blockquote cite="https://example.com/q">quote</blockquote>
<table><tbody><tr><td colspan="2">cell</td></tr></tbody></table>
</main>
""",
    head="""<meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Shop</title><link rel="stylesheet" href="https://shop.example.com/site.css" media="all">
<link rel="icon" href="https://shop.example.com/favicon.ico">
<link rel="alternate stylesheet" title="dark" href="https://shop.example.com/dark.css">
<link rel="shortcut icon" href="https://shop.example.com/favicon.png">
<style>@import url("https://fonts.example.com/css?family=Inter");
body { font-family: Inter, sans-serif; background: url(data:image/png;base64,iVBORw0KGgo=) }
.a::after { content: "; { } \\"" } @media (max-width: 600px) { .top { display: none } }
</style>""",
).replace("{TIMES}", TIMES)


def test_a_normal_page_survives_intact() -> None:
    data = snapshot_of(NORMAL)
    data["adopted"] = [".x { color: red }"]
    safe = Sanitizer().frame("snapshot", copy.deepcopy(data))
    assert safe == data
    assert dangers(safe["nodes"]) == []


def test_normal_mutations_survive_intact() -> None:
    sanitizer = Sanitizer()
    sanitizer.frame("snapshot", snapshot_of(NORMAL))
    nodes = html_records(NORMAL)
    main = next(r[0] for r in nodes if r[2] == 1 and r[4][:2] == ["id", "main"])
    style = next(r[0] for r in nodes if r[2] == 1 and r[3] == "style")
    css_text = next(r[0] for r in nodes if r[1] == style)
    adds = html_records(NORMAL.split("<body>")[1].split("</body>")[0], 500, main)
    frame = {
        "removes": [nodes[5][0]],
        "adds": adds,
        "order": [[main, [r[0] for r in adds if r[1] == main]]],
        "attrs": [[main, "class", "wide"], [main, "style", "color: red"], [main, "hidden", None]],
        "texts": [[css_text, "body { color: #333 }"]],
    }
    assert sanitizer.frame("mutations", copy.deepcopy(frame)) == frame


# -- the small pieces -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://example.com/a?b=c#d", True),
        ("http://example.com", True),
        ("//cdn.example.com/x.js", True),
        ("/relative/path", True),
        ("page.html", True),
        ("#anchor", True),
        ("mailto:a@example.com", True),
        ("tel:+1314", True),
        ("about:blank", True),
        ("data:image/png;base64,AAAA", True),
        ("DATA:IMAGE/JPEG,x", True),
        ("data:image/jpg;base64,x", True),
        ("data:image/webp;base64,x", True),
        ("data:image/gif,x", True),
        ("javascript:alert(1)", False),
        ("  javascript:alert(1)", False),
        ("\x01\x02javascript:alert(1)", False),
        ("java\tscript:alert(1)", False),
        ("java\nscript:alert(1)", False),
        ("java\rscript:alert(1)", False),
        ("java\x00script:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("javascript\t:alert(1)", False),
        ("\uff4aavascript:alert(1)", True),  # not a scheme a browser knows: a relative URL
        ("vbscript:msgbox", False),
        ("livescript:x", False),
        ("blob:https://example.com/uuid", False),
        ("file:///etc/passwd", False),
        ("filesystem:https://example.com/x", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("data:text/html;base64,PHNjcmlwdD4=", False),
        ("data:image/svg+xml,<svg onload=alert(1)>", False),
        ("data:image/svg+xml;base64,PHN2Zz4=", False),
        ("data:application/javascript,alert(1)", False),
        ("data:,alert(1)", False),
        ("data:image/png", False),
        ("data:image/pngx,AAAA", False),
    ],
)
def test_url_allowed(url: str, allowed: bool) -> None:
    assert url_allowed(url) is allowed


def test_svg_data_urls_only_as_image_sources() -> None:
    assert url_allowed("data:image/svg+xml,<svg/>", svg_image=True)
    assert not url_allowed("data:text/html,x", svg_image=True)
    html = page(
        '<img src="data:image/svg+xml,<svg/>"><svg><image href="data:image/svg+xml,x"/></svg>'
    )
    safe = Sanitizer().frame("snapshot", snapshot_of(html))
    img = next(r for r in safe["nodes"] if r[2] == 1 and r[3] == "img")
    image = next(r for r in safe["nodes"] if r[2] == 1 and r[3] == "image")
    assert img[4] == ["src", "data:image/svg+xml,<svg/>"]
    assert image[4] == ["cwmn:ns", SVG_NS]


@pytest.mark.parametrize(
    ("srcset", "clean"),
    [
        ("a.png 1x, b.png 2x", "a.png 1x, b.png 2x"),
        ("a.png", "a.png"),
        ("a.png 100w,b.png 200w", "a.png 100w, b.png 200w"),
        ("javascript:alert(1) 1x, b.png 2x", "b.png 2x"),
        ("a.png 1x, javascript:alert(1)", "a.png 1x"),
        ("data:image/png;base64,AA,AA 1x, x.png 2x", "data:image/png;base64,AA,AA 1x, x.png 2x"),
        ("data:text/html,x 1x", ""),
        ("a.png, , ,b.png 2x", "a.png, b.png 2x"),
        ("  java\tscript:x 1x", "java script:x 1x"),  # a URL ends at the tab: "java"
        ("a.png (max-width: 1px, 2x) 1x", "a.png (max-width: 1px, 2x) 1x"),
        ("", ""),
    ],
)
def test_clean_srcset(srcset: str, clean: str) -> None:
    assert clean_srcset(srcset) == clean


@pytest.mark.parametrize(
    ("css", "clean"),
    [
        ("color: red; margin: 0", "color: red; margin: 0"),
        ("background: url(https://x.example/a.png)", "background: url(https://x.example/a.png)"),
        ("background: url(data:image/png;base64,AA==); color: red", None),
        ("width: expression(alert(1)); color: red", "; color: red"),
        ("color: red; width: EXPRESSION(alert(1))", "color: red;"),
        ("width: expr\\65ssion(alert(1))", ""),
        ("width: \\65 xpression(alert(1))", ""),
        ("width: exp/* x */ression(alert(1))", ""),
        ("background: url(javascript:alert(1))", ""),
        ("background: url( 'java\\9 script:alert(1)' )", ""),
        ('background: url("jav\\61 script:alert(1)")', ""),
        ('background: url("jav\\ascript:alert(1)")', None),  # \a is a newline: "javscript"
        ("background: url(vbscript:x)", ""),
        ("-moz-binding: url(x.xml#b); color: red", "; color: red"),
        ("behavior: url(x.htc)", ""),
        ("BEHAVIOR : url(x.htc)", ""),
        (
            "a { color: red } b { width: expression(1) } c { color: blue }",
            "a { color: red } b {} c { color: blue }",
        ),
        ("@import 'javascript:alert(1)'; p { color: red }", "; p { color: red }"),
        ('p { content: "a;b" } q { width: expression(1) }', 'p { content: "a;b" } q {}'),
        ("p { background: url(a;b) ; width: expression(1) }", "p { background: url(a;b) ;}"),
        ("exp/*;*/ression(alert(1))", ""),
        ('x: "}"; y: expression(1)', 'x: "}";'),
        ("@media screen { p { width: expression(1) } }", "@media screen { p {} }"),
    ],
)
def test_clean_css(css: str, clean: str | None) -> None:
    """``None``: the CSS is harmless and stays as it is."""
    result = clean_css(css)
    assert result == (css if clean is None else clean)
    if clean is not None:
        for word in ("expression(", "javascript:", "vbscript:", "-moz-binding", "behavior"):
            assert word not in result.lower().replace(" ", "").replace("\\", "")


@pytest.mark.parametrize(
    ("name", "value", "kept"),
    [
        ("cwmn:ns", SVG_NS, SVG_NS),
        ("cwmn:ns", MATHML_NS, MATHML_NS),
        ("cwmn:ns", "urn:evil", None),
        ("cwmn:value", "anything <b>", "anything <b>"),
        ("cwmn:checked", "1", "1"),
        ("cwmn:checked", "", ""),
        ("cwmn:checked", "yes", ""),
        ("cwmn:block", f"300{TIMES}150", f"300{TIMES}150"),
        ("cwmn:block", "300x150", "300x150"),
        ("cwmn:block", f"300{TIMES}150;background:url(x)", None),
        ("cwmn:scroll", "0,120", "0,120"),
        ("cwmn:scroll", "-1.5,2", "-1.5,2"),
        ("cwmn:scroll", "0,1);x(", None),
        ("cwmn:canvas", "data:image/png;base64,iVBORw0KGgo=", "data:image/png;base64,iVBORw0KGgo="),
        ("cwmn:canvas", 'data:image/png;base64,AA=="onerror=x', None),
        ("cwmn:canvas", "data:image/jpeg;base64,AA==", None),
        ("cwmn:canvas", "data:image/svg+xml;base64,PHN2Zz4=", None),
        ("cwmn:canvas", "https://evil.example/x.png", None),
        ("cwmn:media", "playing,12.5", "playing,12.5"),
        ("cwmn:media", "paused,0", "paused,0"),
        ("cwmn:media", "paused,12.125", "paused,12.125"),
        ("cwmn:media", "playing,1e9", None),
        ("cwmn:media", "playing,-1", None),
        ("cwmn:media", "playing,1.2345", None),
        ("cwmn:media", "stopped,1", None),
        ("cwmn:media", "PLAYING,1", None),
        ("cwmn:media", 'playing,1"onerror=x', None),
        ("cwmn:media", "playing,1\n", None),
        ("cwmn:media", "playing,\u0661\u0662", None),
        ("cwmn:media", "playing,123456789", None),
        ("cwmn:masked", "5", None),
        ("cwmn:top", "modal", "modal"),
        ("cwmn:top", "popover", "popover"),
        ("cwmn:top", "", ""),
        ("cwmn:top", "modal;x", None),
        ("cwmn:adopted", "p { color: red }", "p { color: red }"),
        ("cwmn:adopted", "p { width: expression(1) }", "p {}"),
        ("cwmn:anim", "not json", None),
        ("cwmn:whatever", "1", None),
    ],
)
def test_pseudo_attributes_are_validated(name: str, value: str, kept: str | None) -> None:
    safe = Sanitizer().frame("snapshot", {"nodes": [[1, 0, 1, "canvas", [name, value]]]})
    assert safe["nodes"][0][4] == ([] if kept is None else [name, kept])


def test_text_and_comments() -> None:
    nodes = [
        [1, 0, 1, "html", []],
        [2, 1, 3, "<script>alert(1)</script> is only text"],
        [3, 1, 8, "comments never carry content"],
        [4, 1, 3, None],
        [5, 1, 11, "anything"],
        [6, 1, 99, "unknown kind"],
        [7, 6, 3, "under an unknown node"],
    ]
    safe = Sanitizer().frame("snapshot", {"nodes": nodes})
    assert safe["nodes"] == [
        [1, 0, 1, "html", []],
        [2, 1, 3, "<script>alert(1)</script> is only text"],
        [3, 1, 8, ""],
        [4, 1, 3, ""],
        [5, 1, 11, "shadow"],
    ]


def test_malformed_records_are_dropped() -> None:
    nodes = [
        "not a record",
        [1, 0],
        [-1, 0, 1, "div", []],
        [True, 0, 1, "div", []],
        [2, "0", 1, "div", []],
        [3, 0, 1, "bad tag", []],
        [4, 0, 1, 7, []],
        [5, 0, 1, "div", "not a list"],
        [6, 0, 1, "div", ["odd"]],
        [7, 0, 1, "div", ["title", 5, 6, "x", "ok", "yes"]],
        [8, 3, 3, "under a dropped node"],
    ]
    safe = Sanitizer().frame("snapshot", {"nodes": nodes})
    assert safe["nodes"] == [
        [5, 0, 1, "div", []],
        [6, 0, 1, "div", []],
        [7, 0, 1, "div", ["ok", "yes"]],
    ]


def test_snapshot_fields() -> None:
    safe = Sanitizer().frame(
        "snapshot",
        {
            "nodes": [],
            "url": "javascript:alert(1)",
            "title": ["not", "text"],
            "viewport": [0, 10**9],
            "scroll": "bad",
            "adopted": ["p { width: expression(1) }", 5, ".ok { color: red }"],
            "extra": "dropped",
        },
    )
    assert safe == {
        "nodes": [],
        "url": "",
        "title": "",
        "viewport": [1, 100_000.0],
        "scroll": [0, 0],
        "adopted": ["p {}", ".ok { color: red }"],
    }


def test_small_frames() -> None:
    sanitizer = Sanitizer()
    assert sanitizer.frame("scroll", {"id": 0, "x": 10, "y": 20.5, "extra": 1}) == {
        "id": 0,
        "x": 10,
        "y": 20.5,
    }
    assert sanitizer.frame("viewport", {"w": 1280, "h": -5}) == {"w": 1280, "h": 1}
    assert sanitizer.frame("pointer", {"x": 1e12, "y": -3}) == {"x": 10_000_000.0, "y": -3}


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("scroll", {"id": -1, "x": 0, "y": 0}),
        ("scroll", {"id": 1, "x": "0", "y": 0}),
        ("viewport", {"w": float("nan"), "h": 1}),
        ("pointer", {"x": True, "y": 1}),
        ("pointer", {"x": 1}),
        ("mutations", ["not", "an", "object"]),
        ("script", {}),
    ],
)
def test_malformed_frames_raise_protocol(kind: str, data: Any) -> None:
    with pytest.raises(ProtocolError):
        Sanitizer().frame(kind, data)


def test_the_input_is_never_changed() -> None:
    data = snapshot_of(page("".join(html for _, html in HOSTILE)))
    before = copy.deepcopy(data)
    Sanitizer().frame("snapshot", data)
    assert data == before


def _style_page(sanitizer: Sanitizer) -> tuple[int, int, int]:
    """A page with a <style> holding one text and an empty paragraph: (style, text, p)."""
    html = page("<p id=p></p>", head="<style id=s>p { color: red }</style>")
    nodes = html_records(html)
    style = next(r[0] for r in nodes if r[2] == 1 and r[3] == "style")
    css_text = next(r[0] for r in nodes if r[1] == style)
    para = next(r[0] for r in nodes if r[2] == 1 and r[3] == "p")
    sanitizer.frame("snapshot", snapshot_of(html))
    return style, css_text, para


def test_a_style_text_moved_into_a_paragraph_is_plain_text_again() -> None:
    sanitizer = Sanitizer()
    _style, css_text, para = _style_page(sanitizer)
    sanitizer.frame("mutations", {"adds": [[css_text, para, 3, "p { color: red }"]]})
    safe = sanitizer.frame("mutations", {"texts": [[css_text, "Pay by javascript: or not"]]})
    assert safe["texts"] == [[css_text, "Pay by javascript: or not"]]  # what the host shows


def test_a_style_text_moved_out_cannot_come_back_uncleaned() -> None:
    """Moved out of the <style> (a plain text there, kept as written), then put back by an
    order entry alone: it must not become CSS that was never cleaned."""
    sanitizer = Sanitizer()
    style, css_text, para = _style_page(sanitizer)
    evil = "b { background: url(javascript:alert(1)); width: expression(alert(1)) }"
    moved = sanitizer.frame("mutations", {"adds": [[css_text, para, 3, evil]]})
    assert moved["adds"] == [[css_text, para, 3, evil]]
    back = sanitizer.frame("mutations", {"order": [[style, [css_text]]]})
    assert back["order"] == [[style, []]]


def test_a_text_moved_into_a_style_is_cleaned_from_then_on() -> None:
    sanitizer = Sanitizer()
    style, _text, para = _style_page(sanitizer)
    sanitizer.frame("mutations", {"adds": [[70, para, 3, "hello"]], "removes": [_text]})
    moved = sanitizer.frame("mutations", {"adds": [[70, style, 3, "a { width: expression(1) }"]]})
    assert moved["adds"] == [[70, style, 3, "a {}"]]
    later = sanitizer.frame("mutations", {"texts": [[70, "a { width: expression(2) }"]]})
    assert later["texts"] == [[70, "a {}"]]


def built_css(frames: list[tuple[str, dict[str, Any]]]) -> str:
    """The CSS of the first <style> a viewer builds from ``frames`` once sanitized."""
    sanitizer, model = Sanitizer(), MirrorModel()
    for kind, data in frames:
        model.apply(kind, sanitizer.frame(kind, data))
    style = next(n for n in model.doc.walk() if n.kind == 1 and n.tag == "style")
    return style.text()


SPLITS = [
    ("a{b:expres", "sion(alert(1))}"),
    ("a{b:exp/*", "*/ression(alert(1))}"),
    ("a{background:url(java", "script:alert(1))}"),
    ("a{b:\\65 xpres", "sion(1)}"),
]


@pytest.mark.parametrize(("first", "second"), SPLITS)
def test_a_keyword_split_over_two_style_texts_is_caught(first: str, second: str) -> None:
    """Each text of a <style> is clean alone; the browser reads them joined."""
    nodes = [[1, 0, 1, "html", []], [2, 1, 1, "style", []], [3, 2, 3, first], [4, 2, 3, second]]
    assert css_dangerous(first + second) and not css_dangerous(first) and not css_dangerous(second)
    css = built_css([("snapshot", {"nodes": nodes})])
    assert not css_dangerous(css), css
    # The same pieces arriving later, one frame at a time, and as a text change.
    base = [[1, 0, 1, "html", []], [2, 1, 1, "style", []], [3, 2, 3, first]]
    later = [("snapshot", {"nodes": base}), ("mutations", {"adds": [[4, 2, 3, "x"]]})]
    later.append(("mutations", {"texts": [[4, second]]}))
    css = built_css(later)
    assert not css_dangerous(css), css


def test_a_style_of_several_texts_keeps_its_css() -> None:
    """A page adding one rule per text (as CSS-in-JS libraries do) keeps every rule."""
    nodes = [[1, 0, 1, "html", []], [2, 1, 1, "style", []], [3, 2, 3, "a { color: red }"]]
    frames: list[tuple[str, dict[str, Any]]] = [("snapshot", {"nodes": nodes})]
    frames.append(("mutations", {"adds": [[4, 2, 3, "b { color: blue }"]], "order": [[2, [3, 4]]]}))
    frames.append(("mutations", {"adds": [[5, 2, 3, "i { color: green }"]]}))
    frames.append(("mutations", {"texts": [[3, "a { color: black }"]]}))
    assert built_css(frames) == "a { color: black }b { color: blue }i { color: green }"
    frames.append(("mutations", {"removes": [4]}))
    assert built_css(frames) == "a { color: black }i { color: green }"
