"""A host page whose named elements shadow DOM members (``<img name=createElement>``,
``<form name=…><input name=appendChild>``, ``<div id=addEventListener>``…) is mirrored
intact: by the viewer's builder (static/viewer/), by the replay render page (static/render.js)
and to a real guest of a live session (whose host page's capture, static/capture/, reads it
through the prototypes too). Every check here reads the built page through the
prototypes, as the viewer must (the page's own members are the host's names)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from cwmn_web.render.pageserver import RenderPageServer
from cwmn_web.testing import PageServer
from cwmn_web.viewer.sanitize import Sanitizer
from tests.unit.test_viewer_sanitize import html_records, page

from .test_cobrowse import host_session, join
from .test_viewer_builder import HARNESS, expected_tree, snapshot

#: Members of a document that its named ``img`` elements replace.
DOC_NAMES = [
    "createElement",
    "createElementNS",
    "createTextNode",
    "createComment",
    "getElementById",
    "querySelector",
    "querySelectorAll",
    "body",
    "head",
    "documentElement",
    "cookie",
    "forms",
    "images",
    "fonts",
    "URL",
    "adoptedStyleSheets",
    "childNodes",
    "nodeType",
    "appendChild",
    "insertBefore",
    "removeChild",
    "firstChild",
    "nextSibling",
    "parentNode",
    "ownerDocument",
    "textContent",
]
#: Members of a form that its named controls replace.
FORM_NAMES = [
    "appendChild",
    "insertBefore",
    "removeChild",
    "setAttribute",
    "removeAttribute",
    "nodeType",
    "childNodes",
    "firstChild",
    "nextSibling",
    "parentNode",
    "style",
    "textContent",
    "shadowRoot",
    "attachShadow",
    "namespaceURI",
    "ownerDocument",
]
#: Members of a window that elements with these ids replace (EventTarget's, below Window's).
WINDOW_IDS = ["addEventListener", "removeEventListener", "dispatchEvent"]


def named(doc_names: list[str], form_names: list[str]) -> str:
    """Elements whose names shadow ``doc_names`` of the document and ``form_names`` of a form
    (and members of the window, by id)."""
    return (
        "".join(f'<img name="{name}" alt="{name}">' for name in doc_names)
        + '<iframe name="defaultView" width="20" height="20"></iframe>'
        + '<form name="forms" id="f" title="before">'
        + "".join(f'<input name="{name}" value="{name}">' for name in form_names)
        + '<p id="form-last">after the controls</p></form>'
        + "".join(f'<div id="{name}">{name}</div>' for name in WINDOW_IDS)
    )


NAMED = named(DOC_NAMES, FORM_NAMES)
CLOBBERING_PAGE = page(f'<main id="main">{NAMED}<p id="text">first</p></main>')

#: ``(doc) => …`` read with the prototypes' members only: the page's are the host's names.
READ = """(doc) => {
    const get = (proto, name) => Object.getOwnPropertyDescriptor(proto, name).get;
    const root = get(Document.prototype, 'documentElement').call(doc);
    const kids = (n) => Array.from(get(Node.prototype, 'childNodes').call(n), describe);
    const type = get(Node.prototype, 'nodeType');
    function describe(node) {
        if (type.call(node) === 3) return node.data;
        if (type.call(node) === 8) return ['#comment'];
        const attrs = Array.from(get(Element.prototype, 'attributes').call(node),
            (a) => [a.name, a.value]);
        return [get(Element.prototype, 'localName').call(node),
            get(Element.prototype, 'namespaceURI').call(node), attrs, kids(node)];
    }
    const q = (s) => Document.prototype.querySelector.call(doc, s);
    const form = q('#f');
    return {
        tree: root ? describe(root) : null,
        late: q('#late') && get(Node.prototype, 'textContent').call(q('#late')),
        formLate: !!Document.prototype.querySelector.call(doc, '#f > #form-late'),
        formTitle: form && Element.prototype.getAttribute.call(form, 'title'),
        text: q('#text') && get(Node.prototype, 'textContent').call(q('#text')),
        named: Document.prototype.querySelectorAll.call(doc, 'img[name], form input[name]').length,
        focused: form && get(HTMLElement.prototype, 'style').call(form).outlineStyle,
    };
}"""


def clobbering_mutations(records: list[list[Any]]) -> dict[str, Any]:
    """Mutations on :data:`CLOBBERING_PAGE` (built already): each goes through a member a
    name shadows (document.createElement, form.appendChild, form.setAttribute…)."""
    ids = {
        dict(zip(r[4][::2], r[4][1::2], strict=True)).get("id"): r[0] for r in records if r[2] == 1
    }
    text_id = next(r[0] for r in records if r[1] == ids["text"])
    late = html_records('<p id="late">late <b>bold</b></p>', first_id=900, parent=ids["main"])
    in_form = html_records('<p id="form-late">in the form</p>', first_id=950, parent=ids["f"])
    return {
        "removes": [ids["form-last"]],
        "adds": late + in_form,
        "order": [[ids["main"], [900]], [ids["f"], [950]]],
        "attrs": [[ids["f"], "title", "after"]],
        "texts": [[text_id, "changed"]],
    }


AFTER = {
    "late": "late bold",
    "formLate": True,
    "formTitle": "after",
    "text": "changed",
    "named": len(DOC_NAMES) + len(FORM_NAMES),
}


# -- the builder -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def harness(shared_context: BrowserContext, customer_site: PageServer) -> Iterator[Page]:
    tab = shared_context.new_page()
    tab.goto(customer_site.url(HARNESS))
    tab.wait_for_function("window.CwmnViewer && window.makeViewer")
    yield tab
    tab.close()


def test_the_builder_is_not_clobbered_by_the_hosts_names(harness: Page) -> None:
    sanitizer = Sanitizer()
    first = sanitizer.frame("snapshot", snapshot(CLOBBERING_PAGE))
    changes = sanitizer.frame("mutations", clobbering_mutations(first["nodes"]))
    harness.evaluate("() => makeViewer('clobber', 500, 400)")
    run = "([kind, data]) => { viewers.clobber.apply(kind, data); }"
    read = f"() => ({READ})(viewers.clobber.iframe.contentDocument)"
    harness.evaluate(run, ["snapshot", first])
    harness.evaluate(run, ["mutations", changes])
    form = next(r[0] for r in first["nodes"] if r[2] == 1 and "f" in r[4] and "forms" in r[4])
    harness.evaluate(run, ["focus", {"id": form}])
    state = harness.evaluate(read)
    assert state.pop("focused") == "solid"  # the host's focus, outlined through form.style
    assert {k: v for k, v in state.items() if k != "tree"} == AFTER
    # The host's next page replaces one whose names are all in place.
    second = sanitizer.frame("snapshot", snapshot(CLOBBERING_PAGE))
    harness.evaluate(run, ["snapshot", second])
    harness.evaluate(run, ["mutations", copy.deepcopy(changes)])
    after_mutations = harness.evaluate(read)
    built = html_records(CLOBBERING_PAGE)
    assert after_mutations["named"] == AFTER["named"]
    assert after_mutations["formTitle"] == "after" and after_mutations["late"] == "late bold"
    harness.evaluate(run, ["snapshot", second])
    state = harness.evaluate(read)
    assert state["tree"] == expected_tree(built)


# -- the render page (replay videos) ---------------------------------------------------------
@pytest.fixture(scope="module")
def render_page(browser: Browser) -> Iterator[Page]:
    with RenderPageServer() as server:
        context = browser.new_context(viewport={"width": 1024, "height": 768})
        tab = context.new_page()
        tab.goto(server.url)
        tab.wait_for_function("window.cwmnRender && true")
        tab.evaluate("window.cwmnRender.ready")
        yield tab
        context.close()


def test_the_render_page_is_not_clobbered_by_the_hosts_names(render_page: Page) -> None:
    sanitizer = Sanitizer()
    first = sanitizer.frame("snapshot", snapshot(CLOBBERING_PAGE))
    changes = sanitizer.frame("mutations", clobbering_mutations(first["nodes"]))
    second = sanitizer.frame("snapshot", snapshot(CLOBBERING_PAGE))
    batch = "(ops) => window.cwmnRender.apply(ops)"
    for kind, data in [("snapshot", first), ("mutations", changes), ("snapshot", second)]:
        pending = render_page.evaluate(batch, [{"op": "frame", "kind": kind, "data": data}])
        assert pending == 0, kind  # no image of the page loads: doc.images was counted
        assert render_page.evaluate("window.cwmnRender.settle(200)") == 0
        if kind == "mutations":
            state = render_page.evaluate(
                f"() => ({READ})(window.cwmnRender.viewer.iframe.contentDocument)"
            )
            assert {k: v for k, v in state.items() if k not in ("tree", "focused")} == AFTER
    state = render_page.evaluate(f"() => ({READ})(window.cwmnRender.viewer.iframe.contentDocument)")
    assert state["tree"] == expected_tree(html_records(CLOBBERING_PAGE))


# -- a live session ----------------------------------------------------------------------------
def test_a_guest_sees_a_page_full_of_clobbering_names(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    guest_context: BrowserContext,
    guests: list[Page],
) -> None:
    host, link = host_session(open_page, customer_site, "plain.html")
    guest, frame = join(guest_context, link)
    guests.append(guest)
    frame.locator("#text").wait_for()
    # The names arrive as a mutation (built into the live document), then more changes.
    host.evaluate(
        "(html) => { document.getElementById('text').insertAdjacentHTML('afterend', html); }",
        NAMED,
    )
    frame.locator("#form-last").wait_for(state="attached")
    host.evaluate("""() => {
        const doc = Document.prototype, node = Node.prototype;
        const p = doc.createElement.call(document, 'p');
        p.id = 'late';
        p.textContent = 'late bold';
        node.appendChild.call(doc.getElementById.call(document, 'text').parentNode, p);
        const form = doc.getElementById.call(document, 'f');
        const q = doc.createElement.call(document, 'p');
        q.id = 'form-late';
        q.textContent = 'in the form';
        node.appendChild.call(form, q);
        Element.prototype.setAttribute.call(form, 'title', 'after');
    }""")
    frame.locator("#f > #form-late").wait_for(state="attached")
    frame.locator("#late").wait_for(state="attached")
    read = f"() => ({READ})(document.querySelector('iframe.cwmn-frame').contentDocument)"
    guest.wait_for_function(f"() => ({read})().formTitle === 'after'")
    state = guest.evaluate(read)
    assert state["late"] == "late bold" and state["formLate"] is True
    assert state["named"] == len(DOC_NAMES) + len(FORM_NAMES)
    # A guest joining now gets a snapshot of a page whose names are all in place.
    late_guest, late_frame = join(guest_context, link, name="Bo")
    guests.append(late_guest)
    late_frame.locator("#f > #form-late").wait_for(state="attached")
    assert late_guest.evaluate(read)["named"] == len(DOC_NAMES) + len(FORM_NAMES)
