"""The viewer's scripts, and the host page's capture, never reach a member of the host's
document directly (a lint).

The built document is the host's: ``<img name=createElement>`` replaces
``document.createElement``, ``<input name=appendChild>`` its form's ``appendChild``,
``<div id=addEventListener>`` its window's. static/viewer/mirror.js takes every member it
uses from the prototypes (``dom``), as static/capture/dom.mjs does for the capture; this test
fails if their code calls one directly.
tests/browser/test_viewer_clobbering.py shows the same in real browsers.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

STATIC = Path(__file__).parents[2] / "static"
#: The scripts that build or read the host's document (guest viewer and render page).
SCRIPTS = ["viewer/mirror.js", "viewer/stage.js", "viewer/tools.js", "viewer/join.js", "render.js"]
#: The host page's capture: every node it reads is the page's (static/capture/dom.mjs).
CAPTURE = ["capture.mjs", *sorted(f"capture/{p.name}" for p in (STATIC / "capture").glob("*.mjs"))]
#: DOM members a named element can shadow on a document, a form or (EventTarget's) a window.
CLOBBERABLE = frozenset(
    {
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
        "defaultView",
        "URL",
        "images",
        "forms",
        "fonts",
        "cookie",
        "adoptedStyleSheets",
        "nodeType",
        "ownerDocument",
        "parentNode",
        "childNodes",
        "firstChild",
        "lastChild",
        "nextSibling",
        "appendChild",
        "insertBefore",
        "removeChild",
        "replaceChildren",
        "append",
        "remove",
        "textContent",
        "innerHTML",
        "namespaceURI",
        "localName",
        "tagName",
        "attributes",
        "getAttribute",
        "setAttribute",
        "setAttributeNS",
        "removeAttribute",
        "attachShadow",
        "shadowRoot",
        "scrollLeft",
        "scrollTop",
        "style",
        "addEventListener",
        "removeEventListener",
    }
)
#: Members of a window object itself (not of EventTarget): its named elements never shadow
#: them, so the viewer may use them on the built page's window.
WINDOW_OWN = frozenset({"scrollX", "scrollY", "scrollTo", "getComputedStyle", "CSSStyleSheet"})
#: Receivers in mirror.js that are the captured members, not the host's nodes.
CAPTURED = re.compile(r"\b(?:dom|D|N|E|T|[A-Za-z]+\.prototype)$")
_CHAIN = re.compile(r"([\w$]*)((?:\.[A-Za-z_$][\w$]*)+)")
#: Comments and string literals, whichever starts first (a URL's // in a string is no comment).
_NOISE = re.compile(
    r"//[^\n]*|/\*.*?\*/|'(?:\\.|[^'\\\n])*'|\"(?:\\.|[^\"\\\n])*\"|`(?:\\.|[^`\\])*`",
    re.DOTALL,
)
#: A variable holding the built document or its window.
_HOST_VAR = re.compile(
    r"(?:const|let|var)\s+(\w+)\s*=\s*[^;\n]*(?:contentDocument|contentWindow|defaultView|this\.doc\b)"
)


#: The SDK's other modules on the host's page: their own elements are theirs, but the page's
#: document and window are the host's.
PAGE_MODULES = ["cursors.mjs", "consent.mjs", "recorder.mjs", "badge.mjs", "control.mjs"]
_BARE_WINDOW_CALL = re.compile(r"(?<![\w$.])(?:add|remove)EventListener\(")


def code_of(source: str) -> str:
    """``source`` without comments and string literals (kept as empty quotes)."""
    return _NOISE.sub(lambda m: " " if m.group(0)[0] == "/" else "''", source)


def violations(source: str, builder: bool) -> list[str]:
    """Direct uses of the host's members in ``source``; ``builder``: every node it touches
    is the host's (mirror.js), so any clobberable member not taken from ``dom`` counts."""
    code = code_of(source)
    found = [f"window.{m.group(0)[:-1]}" for m in _BARE_WINDOW_CALL.finditer(code)]
    host_vars = set(_HOST_VAR.findall(code)) | {"contentDocument", "contentWindow"}
    for match in _CHAIN.finditer(code):
        parts = [match.group(1), *match.group(2).split(".")[1:]]
        for i in range(1, len(parts)):
            receiver, member = ".".join(parts[:i]), parts[i]
            host = parts[i - 1] in host_vars and member not in WINDOW_OWN
            if host or (builder and member in CLOBBERABLE and not CAPTURED.search(receiver)):
                found.append(f"{receiver}.{member}")
    return found


def test_the_lint_finds_direct_calls() -> None:
    """Guard: the old builder's calls are found."""
    old_builder = """
      const el = attempt(() => doc.createElement(tag));
      for (const child of Array.from(doc.childNodes)) if (child.nodeType !== 10) child.remove();
      else attempt(() => parent.appendChild(node));
      el.setAttribute(name, value);
    """
    assert violations(old_builder, builder=True) == [
        "doc.createElement",
        "doc.childNodes",
        "child.nodeType",
        "child.remove",
        "parent.appendChild",
        "el.setAttribute",
    ]
    old_page = """
      const doc = viewer.iframe.contentDocument;
      for (const img of doc.images) loading(img, !img.complete);
      if (!doc || doc.URL !== 'about:srcdoc') {}
      doc.defaultView.addEventListener('scroll', f);
      const win = attempt(() => this.iframe.contentWindow);
      return [win && win.scrollX];
    """
    assert violations(old_page, builder=False) == [
        "doc.images",
        "doc.URL",
        "doc.defaultView",
    ]
    captured = "dom.createElement(doc, tag); dom.nodeType(el); D.createElement; X.prototype.style"
    assert violations(captured, builder=True) == []


@pytest.mark.parametrize("name", PAGE_MODULES)
def test_the_sdks_page_modules_use_no_member_of_the_pages_document(name: str) -> None:
    code = code_of((STATIC / name).read_text())
    direct = re.findall(r"\bdocument\.(\w+)", code) + _BARE_WINDOW_CALL.findall(code)
    assert direct == []


@pytest.mark.parametrize("name", SCRIPTS + CAPTURE)
def test_scripts_reach_the_host_document_only_through_captured_members(name: str) -> None:
    source = (STATIC / name).read_text()
    assert violations(source, builder=name == "viewer/mirror.js" or name in CAPTURE) == []
