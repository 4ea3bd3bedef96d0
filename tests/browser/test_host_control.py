"""Remote control on the host's page (static/control.mjs, extension), in real browsers: the
controlling guest's inputs as the worker hands them to the page's module, applied to a real
form whose own handlers record what they see (tests/browser/pages/control.html); what is
refused (masked and password fields, CWMN's own dialog, links off the site) and why; and the
default consent dialog, answered with a real click and with Escape."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, cast

import pytest
from playwright.sync_api import Page

from cwmn_web.testing import CwmnServer, PageServer

from .conftest import PAGES

pytestmark = pytest.mark.timeout(180)
RULES = {"mask": ["[data-cwmn-mask]", ".cwmn-mask"], "block": ["[data-cwmn-block]"]}
DOCS_IMAGES = PAGES.parents[2] / "docs" / "images"


@pytest.fixture
def page(
    open_page: Callable[..., Page], customer_site: PageServer, cwmn_server: CwmnServer
) -> Page:
    """The form page with ``control_`` (the module the stub loads: the same URL) and a
    recording ``post`` (``posted``) and ``api`` (``answers``)."""
    page = open_page(customer_site.url("control.html", hostname="localhost"))
    page.set_viewport_size({"width": 800, "height": 600})
    build = page.evaluate("CwmnAPI._debug().build")
    page.evaluate(
        """async (url) => {
            window.control_ = await import(url);
            window.posted = [];
            window.answers = [];
            window.fakeApi = {control: {
                grant: (id) => { answers.push(['grant', id]); return Promise.resolve(); },
                decline: (id) => { answers.push(['decline', id]); return Promise.resolve(); },
            }};
        }""",
        f"{cwmn_server.url}/assets/{build}/control.mjs",
    )
    return page


def send(page: Page, kind: str, **fields: Any) -> list[dict[str, Any]]:
    """Hand the module one input of guest g1; answer what it posted back (refusals)."""
    before = page.evaluate("posted.length")
    page.evaluate(
        """([input, rules]) => control_.handle({op: 'control', guestId: 'g1', input, rules},
            undefined, fakeApi, (m) => posted.push(m))""",
        [{"kind": kind, **fields}, RULES],
    )
    return cast(list[dict[str, Any]], page.evaluate("(n) => posted.slice(n)", before))


def at(page: Page, selector: str) -> dict[str, float]:
    """The centre of ``selector`` in document coordinates (the guest's)."""
    return cast(
        dict[str, float],
        page.evaluate(
            """(s) => { const r = document.querySelector(s).getBoundingClientRect();
                return {x: r.left + r.width / 2 + scrollX, y: r.top + r.height / 2 + scrollY}; }""",
            selector,
        ),
    )


def click(page: Page, selector: str) -> list[dict[str, Any]]:
    return send(page, "click", **at(page, selector))


def seen(page: Page) -> list[str]:
    """What the page's own handlers saw since the last look."""
    return cast(list[str], page.evaluate("seen.splice(0)"))


def value(page: Page, selector: str) -> Any:
    return page.evaluate("(s) => document.querySelector(s).value", selector)


def refused(posted: list[dict[str, Any]], why: str) -> None:
    assert len(posted) == 1, posted
    (m,) = posted
    assert (m["op"], m["guestId"], m["code"]) == ("control refused", "g1", "control_refused")
    assert why in m["message"], m


def test_a_guest_fills_and_submits_a_form_as_a_user_would(page: Page) -> None:
    seen(page)
    assert click(page, "#name") == []
    assert seen(page) == [
        "pointerdown#name",
        "mousedown#name",
        "focus#name",
        "pointerup#name",
        "mouseup#name",
        "click#name",
    ]
    assert page.evaluate("document.activeElement.id") == "name"
    assert send(page, "text", text="Ann Lxe") == []
    assert seen(page) == ["beforeinput#name", "input#name"]
    send(page, "key", key="ArrowLeft")
    send(page, "key", key="Backspace")
    send(page, "key", key="y")
    assert value(page, "#name") == "Ann Lye"
    assert page.evaluate("document.querySelector('#name').selectionStart") == 6
    send(page, "key", key="End")
    send(page, "key", key="Backspace")
    send(page, "key", key="e")
    assert value(page, "#name") == "Ann Lye"
    seen(page)
    # Tab: the edited field's 'change' first, then the focus moves on.
    send(page, "key", key="Tab")
    events = seen(page)
    assert events[:2] == ["keydown#name", "change#name"] and "focus#notes" in events
    assert page.evaluate("document.activeElement.id") == "notes"
    send(page, "text", text="line 1")
    send(page, "key", key="Enter")
    send(page, "key", key="#")  # the page's own handler prevents it
    send(page, "text", text="line 2")
    assert value(page, "#notes") == "line 1\nline 2"
    # A checkbox through its label's text, a select with the arrows.
    seen(page)
    click(page, "#agree-text")  # its label's text
    assert page.evaluate("document.querySelector('#agree').checked") is True
    events = seen(page)
    assert "change#notes" in events  # the textarea lost focus: its edits are over
    assert events.index("change#notes") < events.index("click#agree-text")
    assert "change#agree" in events
    click(page, "#size")
    send(page, "key", key="ArrowDown")
    assert value(page, "#size") == "M"
    changes = [e for e in seen(page) if e.split("#")[0] in ("input", "change")]
    assert changes == ["input#size", "change#size"]
    # A double click selects the word under it.
    send(page, "dblclick", **at(page, "#name"))
    assert page.evaluate(
        "(() => { const n = document.querySelector('#name');"
        " return n.value.slice(n.selectionStart, n.selectionEnd); })()"
    ) in ("Ann", "Lye")
    seen(page)
    assert click(page, "#send") == []
    assert seen(page)[-2:] == ["click#send", "submit#form"]
    assert page.evaluate("submitted") == [
        {
            "action": "checkout",
            "name": "Ann Lye",
            "notes": "line 1\nline 2",
            "agree": "on",
            "size": "M",
            "card": "",
            "secret": "",
        }
    ]
    # Enter in a text field submits too (the form's default button).
    click(page, "#name")
    send(page, "key", key="Enter")
    assert page.evaluate("submitted.length") == 2
    assert page.evaluate("location.pathname") == "/control.html"


def test_masked_password_and_overlay_refused_and_links_stay_on_the_site(page: Page) -> None:
    # A click below a field's text puts the caret at its end (as a user's click does).
    click(page, "#notes")
    send(page, "text", text="one")
    click(page, "#name")
    click(page, "#notes")
    send(page, "text", text=" two")
    assert value(page, "#notes") == "one two"
    seen(page)
    refused(click(page, "#card"), "masked")
    refused(click(page, "#secret"), "password")
    assert page.evaluate("document.activeElement.id") not in ("card", "secret")
    assert seen(page) == []  # the page's handlers saw nothing at all
    # The visitor focuses the masked field themselves: the guest's typing is refused.
    page.focus("#card")
    refused(send(page, "text", text="4242"), "masked")
    refused(send(page, "key", key="Backspace"), "masked")
    page.focus("#secret")
    refused(send(page, "text", text="hunter2"), "password")
    assert value(page, "#card") == "" and value(page, "#secret") == ""
    page.evaluate("document.activeElement.blur()")
    seen(page)
    refused(click(page, "#away"), "another site")
    refused(click(page, "#blank"), "another window")
    refused(click(page, "#script"), "javascript:")
    assert [e for e in seen(page) if e.startswith("click")] == []
    # SVG links (href, xlink:href), a link taking <base target>, a label for a submit button.
    refused(click(page, "#svg-away text"), "another site")
    refused(click(page, "#svg-xlink text"), "javascript:")
    page.evaluate(
        "document.head.append(Object.assign(document.createElement('base'),"
        " {target: '_blank', id: 'base'}))"
    )
    refused(click(page, "#here"), "another window")
    page.evaluate("document.getElementById('base').remove()")
    refused(click(page, "#away-label"), "another site")
    assert [e for e in seen(page) if e.startswith("click")] == []
    # The page's own handler passes the guest's click on: the submission is cancelled.
    refused(click(page, "#sneaky"), "another site")
    assert seen(page)[-2:] == ["click#sneaky", "submit#away-form"]
    # No file chooser: not the field, not its label, not the page's button that clicks it.
    refused(click(page, "#file"), "file field")
    refused(click(page, "#file-label"), "file field")
    refused(click(page, "#upload"), "file field")
    assert page.evaluate("fileClicks") == [True]  # cancelled before the page saw it
    # A shown password (autocomplete says so) is a password field still.
    refused(click(page, "#shown"), "password")
    # Tab skips what the guest may not use (the masked card, the password): their focus
    # handlers never run; from a refused field the visitor focused, Tab still moves on.
    click(page, "#size")
    seen(page)
    send(page, "key", key="Tab")
    assert page.evaluate("document.activeElement.id") == "send"
    send(page, "key", key="Tab", mods=1)
    assert page.evaluate("document.activeElement.id") == "size"
    assert [e for e in seen(page) if e.startswith("focus#")] == ["focus#send", "focus#size"]
    page.focus("#card")
    seen(page)
    refused(send(page, "key", key="a"), "masked")
    assert send(page, "key", key="Tab") == []
    assert page.evaluate("document.activeElement.id") == "send"
    page.focus("#secret")
    assert send(page, "key", key="Tab", mods=1) == []
    assert page.evaluate("document.activeElement.id") == "size"
    assert not [e for e in seen(page) if e.startswith(("keydown#", "keyup#"))]
    assert page.evaluate("location.pathname") == "/control.html"
    page.evaluate("document.activeElement.blur()")
    page.evaluate(
        "document.querySelector('#form').setAttribute('action', 'http://127.0.0.1:9/steal')"
    )
    click(page, "#name")
    refused(send(page, "key", key="Enter"), "another site")
    refused(click(page, "#send"), "another site")
    assert page.evaluate("submitted") == []
    # Typing with nothing to type into says so.
    page.evaluate("document.activeElement.blur()")
    refused(send(page, "text", text="x"), "no text field")
    # Scrolling: the box under the point, else the page.
    seen(page)
    send(page, "scroll", **at(page, "#box"), dy=120)
    assert page.evaluate("document.querySelector('#box').scrollTop") == 120
    assert [e for e in seen(page) if e.startswith("wheel")] == ["wheel#div"]
    send(page, "scroll", x=700, y=500, dy=300)
    assert page.evaluate("scrollY") == 300


def test_the_default_dialog_asks_and_answers_through_the_api(page: Page) -> None:
    request = {"guestId": "g7", "name": "Ann", "color": "#e11d48"}
    ask = "(r) => control_.handle({op: 'control ask', request: r}, undefined, fakeApi, () => {})"
    page.evaluate(ask, request)
    state = page.evaluate("control_.debugState()")
    assert state["open"] and state["role"] == "dialog" and state["modal"]
    assert state["label"] == "Ann asks to control this page"
    assert "click, type and scroll" in state["text"] and "take control back" in state["text"]
    no, yes = state["buttons"]
    assert (no["label"], no["focused"], yes["label"]) == ("Don't allow", True, "Allow")
    if os.environ.get("CWMN_DOCS_SHOTS"):  # docs/control/remote-control.md's picture
        page.screenshot(path=str(DOCS_IMAGES / "control-dialog.png"))
    # The guest cannot answer for the visitor: the dialog is CWMN's own.
    refused(send(page, "click", x=yes["x"], y=yes["y"] + page.evaluate("scrollY")), "CWMN's own")
    assert page.evaluate("answers") == []
    page.mouse.click(yes["x"], yes["y"])  # the visitor
    assert page.evaluate("answers") == [["grant", "g7"]]
    assert page.evaluate("control_.debugState()") == {"open": False}
    page.evaluate(ask, request)
    page.keyboard.press("Escape")
    assert page.evaluate("answers")[-1] == ["decline", "g7"]
    page.evaluate(ask, request)
    page.evaluate("control_.handle({op: 'control ask', request: null})")
    assert page.evaluate("control_.debugState()") == {"open": False}
    assert len(page.evaluate("answers")) == 2
