"""The host's capture code in real browsers: what it reads, and what it never reads.

The page's capture module runs without a session here: its raw frames are collected in the
page and encoded by cwmn_web.client.mirror in the test process, exactly as the host worker
would, so these tests see what would go on the wire.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from playwright.sync_api import Page

from cwmn_web.client.mirror import MirrorEncoder
from cwmn_web.testing import CwmnServer, PageServer

SECRETS = (
    "SECRET-DIV-TEXT",
    "SECRET-SPAN-TEXT",
    "SECRET-ATTR-TEXT",
    "SECRET-PASSWORD",
    "SECRET-CSRF-TOKEN",
    "SECRET-CARD-4111",
    "SECRET-CC-NUMBER-4242",  # autocomplete cc-*: masked whatever the site's rules
    "SECRET-OTP-123456",  # autocomplete one-time-code
    "SECRET-SHOWN-PW",  # autocomplete new-password, type text
    "SECRET-TOGGLED",  # typed after a "show password" toggle made it type text
    "SECRET-BLOCKED-TEXT",
    "SECRET-TYPED",
    "SECRET-COMMENT",
)
CONFIG = {"mask": ["[data-cwmn-mask]", ".cwmn-mask"], "block": ["[data-cwmn-block]"]}


# Like the embed stub, remember shadow roots as the page attaches them (closed ones too).
SHADOW_PATCH = """
window.shadows_ = new WeakMap();
const attach = Element.prototype.attachShadow;
Element.prototype.attachShadow = function (init) {
  const root = attach.call(this, init); shadows_.set(this, root); return root;
};
"""


def open_capture_page(open_page: Callable[..., Page], site: PageServer) -> Page:
    page = open_page("about:blank", wait_for_state=None)
    page.add_init_script(SHADOW_PATCH)
    page.goto(site.url("capture.html", hostname="localhost"))
    page.wait_for_function("CwmnAPI.getCurrentState() === 'no session'")
    return page


def start_capture(page: Page, server: CwmnServer) -> None:
    build = page.evaluate("CwmnAPI._debug().build")
    page.evaluate(
        """async ([url, config]) => {
            window.frames_ = [];
            const m = await import(url);
            window.capture_ = m;
            const keep = (kind, data) => frames_.push(JSON.parse(JSON.stringify([kind, data])));
            await m.start(config, keep, window.shadows_);
        }""",
        [f"{server.url}/assets/{build}/capture.mjs", CONFIG],
    )


def frames(page: Page) -> list[tuple[str, dict[str, Any]]]:
    return [tuple(f) for f in page.evaluate("window.frames_")]


def wire(page: Page) -> list[tuple[str, dict[str, Any]]]:
    enc = MirrorEncoder()
    return [(kind, enc.frame(kind, data)) for kind, data in frames(page)]


def nodes_by_tag(snapshot: dict[str, Any]) -> dict[str, list[list[Any]]]:
    out: dict[str, list[list[Any]]] = {}
    for record in snapshot["nodes"]:
        if record[2] == 1:
            out.setdefault(record[3], []).append(record)
    return out


def attrs_of(record: list[Any]) -> dict[str, str]:
    flat = record[4]
    return dict(zip(flat[::2], flat[1::2], strict=True))


def test_snapshot_reads_the_page_but_nothing_private(
    open_page: Callable[..., Page], customer_site: PageServer, cwmn_server: CwmnServer
) -> None:
    page = open_capture_page(open_page, customer_site)
    start_capture(page, cwmn_server)
    page.wait_for_function("window.frames_.length >= 1")
    kind, snap = wire(page)[0]
    assert kind == "snapshot"
    text = json.dumps(snap)
    for secret in SECRETS:
        assert secret not in text
    # The raw frames too: private content never even reaches the worker.
    raw = json.dumps(frames(page))
    for secret in SECRETS:
        assert secret not in raw
    assert "Visible heading" in text and "Public Name" in text and "Public notes" in text
    tags = nodes_by_tag(snap)
    by_id = {attrs_of(r).get("id"): r for rs in tags.values() for r in rs}
    assert attrs_of(by_id["rel"])["href"] == customer_site.url("next.html", hostname="localhost")
    assert attrs_of(by_id["pw"])["cwmn:value"] == "*" * len("SECRET-PASSWORD")
    assert "value" not in attrs_of(by_id["pw"])
    assert attrs_of(by_id["card"])["cwmn:value"] == "*" * len("SECRET-CARD-4111")
    assert attrs_of(by_id["agree"])["cwmn:checked"] == "1"
    assert attrs_of(by_id["pick"])["cwmn:value"] == "b"
    blocked = by_id["blocked"]
    assert attrs_of(blocked)["cwmn:block"] == "120×40"  # noqa: RUF001 (the W-by-H form of docs/MIRROR.md)
    assert not any(r[1] == blocked[0] for r in snap["nodes"])
    assert ".from-cssom" in attrs_of(by_id["cssom"])["cwmn:css"]
    assert "cwmn:css" not in attrs_of(by_id["plain"])
    assert attrs_of(by_id["canvas"])["cwmn:canvas"].startswith("data:image/png;base64,")
    assert "cwmn:canvas" not in attrs_of(by_id["masked-canvas"])  # it could show masked text
    texts = {r[3] for r in snap["nodes"] if r[2] == 3}
    assert {"open shadow text", "closed shadow text"} <= texts
    shadows = [r for r in snap["nodes"] if r[2] == 11]
    frame_box = by_id["same"]
    assert frame_box[3] == "div"  # the frame became a box (with a shadow root, below)
    assert "width:304px" in attrs_of(frame_box)["style"]  # 300 + the 2px border, each side
    assert {r[1] for r in shadows} == {by_id["open-host"][0], by_id["closed-host"][0], frame_box[0]}
    assert "Text inside a frame" in texts
    assert by_id["opaque"][3] == "iframe"  # cross-origin: kept as an element, not read
    assert attrs_of(by_id["frame-link"])["href"] == customer_site.url(
        "frames/deep.html", hostname="localhost"
    )


def test_changes_are_flushed_as_mutations(
    open_page: Callable[..., Page], customer_site: PageServer, cwmn_server: CwmnServer
) -> None:
    page = open_capture_page(open_page, customer_site)
    start_capture(page, cwmn_server)
    page.wait_for_function("window.frames_.length >= 1")
    page.evaluate(
        """() => {
        const li = document.createElement('p');
        li.id = 'added'; li.textContent = 'added text';
        document.getElementById('title').after(li);
        document.getElementById('para').setAttribute('title', 'a tooltip');
        document.getElementById('title').firstChild.data = 'Changed heading';
        document.getElementById('masked-div').firstChild.data = 'SECRET-TYPED-CHANGE';
        document.getElementById('img').remove();
        document.getElementById('cssom').sheet.insertRule('.later { color: red; }', 0);
        const note = [...document.body.childNodes].find((n) => n.nodeType === 8);
        note.data = 'SECRET-COMMENT-CHANGED';
    }"""
    )
    page.evaluate("""() => {
        const doc = document.getElementById('same').contentDocument;
        doc.getElementById('inframe').textContent = 'Frame changed';
    }""")
    page.evaluate("document.getElementById('toggled-pw').type = 'text'")
    page.fill("#toggled-pw", "SECRET-TOGGLED")
    page.focus("#name")
    page.fill("#name", "Typed name")
    page.fill("#pw", "SECRET-TYPED")
    page.wait_for_function(
        "window.frames_.some(f => f[0] === 'mutations' && JSON.stringify(f).includes('Typed name'))"
    )
    page.wait_for_timeout(200)
    out = wire(page)
    text = json.dumps(out)
    for secret in SECRETS:
        assert secret not in text
    muts = [d for k, d in out if k == "mutations"]
    adds = [r for m in muts for r in m["adds"]]
    assert any(r[2] == 1 and r[3] == "p" and attrs_of(r).get("id") == "added" for r in adds)
    assert any(r[2] == 3 and r[3] == "added text" for r in adds)
    attrs = [a for m in muts for a in m["attrs"]]
    assert any(a[1] == "title" and a[2] == "a tooltip" for a in attrs)
    assert any(a[1] == "cwmn:value" and a[2] == "Typed name" for a in attrs)
    assert any(a[1] == "cwmn:value" and a[2] == "*" * len("SECRET-TYPED") for a in attrs)
    assert any(a[1] == "cwmn:css" and ".later" in a[2] for a in attrs)
    texts = [t for m in muts for t in m["texts"]]
    frame_adds = [r for m in muts for r in m["adds"] if r[2] == 3]
    assert any(t[1] == "Frame changed" for t in texts) or any(
        r[3] == "Frame changed" for r in frame_adds
    )
    focus = [d for k, d in out if k == "focus"]
    snap_ids = {attrs_of(r).get("id"): r[0] for r in out[0][1]["nodes"] if r[2] == 1}
    assert {"id": snap_ids["name"]} in focus
    assert any(t[1] == "Changed heading" for t in texts)
    assert any(t[1] == "*" * len("SECRET-TYPED-CHANGE") for t in texts)
    assert any(m["removes"] for m in muts)
    order = [o for m in muts for o in m["order"]]
    assert order, "a parent that gained a child lists its children's order"


def test_scroll_viewport_and_stop(
    open_page: Callable[..., Page], customer_site: PageServer, cwmn_server: CwmnServer
) -> None:
    page = open_capture_page(open_page, customer_site)
    page.set_viewport_size({"width": 500, "height": 300})
    start_capture(page, cwmn_server)
    page.wait_for_function("window.frames_.length >= 1")
    page.evaluate("document.body.style.height = '3000px'; window.scrollTo(0, 400)")
    page.mouse.move(50, 60)
    page.wait_for_function("window.frames_.some(f => f[0] === 'scroll')")
    page.set_viewport_size({"width": 640, "height": 360})
    page.wait_for_function("window.frames_.some(f => f[0] === 'viewport')")
    sent = wire(page)
    # The first scroll is the page's; the resize may reflow and move it again (scroll anchoring).
    assert next(d for k, d in sent if k == "scroll") == {"id": 0, "x": 0, "y": 400}
    assert [d for k, d in sent if k == "viewport"][-1] == {"w": 640, "h": 360}
    page.evaluate("window.capture_.stop(); window.frames_ = []")
    page.evaluate("document.getElementById('title').textContent = 'after stop'")
    page.wait_for_timeout(200)
    assert frames(page) == []


def test_a_redrawn_canvas_is_sent_again_never_a_masked_one(
    open_page: Callable[..., Page], customer_site: PageServer, cwmn_server: CwmnServer
) -> None:
    page = open_capture_page(open_page, customer_site)
    start_capture(page, cwmn_server)
    page.wait_for_function("window.frames_.length >= 1")
    ids = {attrs_of(r).get("id"): r[0] for r in wire(page)[0][1]["nodes"] if r[2] == 1}
    sent = """([id, n]) => window.frames_.filter(f => f[0] === 'mutations' &&
        f[1].attrs.some(a => a[0] === id && a[1] === 'cwmn:canvas')).length >= n"""
    for n, colour in ((1, "green"), (2, "yellow")):  # two polls: the first one's work is done
        page.evaluate(
            """colour => {
                for (const id of ['canvas', 'masked-canvas']) {
                    const ctx = document.getElementById(id).getContext('2d');
                    ctx.fillStyle = colour; ctx.fillRect(0, 0, 20, 10);
                }
            }""",
            colour,
        )
        page.wait_for_function(sent, arg=[ids["canvas"], n])
    attrs = [a for kind, data in wire(page) if kind == "mutations" for a in data["attrs"]]
    assert not [a for a in attrs if a[0] == ids["masked-canvas"]]
