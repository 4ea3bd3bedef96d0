"""The embed in real browsers, with the customer page on another origin than the server."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Dialog, Page

from cwmn_web.client.spec import FUNCTIONS
from cwmn_web.testing import CwmnServer, PageServer

from .conftest import events, wait_state

START = (
    "CwmnAPI.session.start({hostName: 'Host Name', hostEmail: 'host@example.com', isReplay: false})"
)
SETTLE = """p => p.then(v => ({ok: true, value: v}), e => ({ok: false, code: e.code, name: e.name,
                                message: e.message, isError: e instanceof Error}))"""


def settle(page: Page, expression: str) -> dict[str, Any]:
    """Evaluate a Promise-returning expression; return how it settled."""
    settled: dict[str, Any] = page.evaluate(f"({SETTLE})({expression})")
    return settled


def test_reference_example_runs_verbatim(
    open_page: Callable[..., Page], customer_site: PageServer
) -> None:
    url = customer_site.url("example.html", hostname="localhost")
    page = open_page(url, wait_for_state=None)
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.reload()
    wait_state(page, "no session")
    page.wait_for_function("window.__cwmnLog.events.length >= 2")
    assert events(page)[:2] == ["init", "ready no session"]
    page.wait_for_timeout(100)
    assert dialogs == ["ready to start session"]


def declared_functions(types: str) -> list[str]:
    """The function paths that cwmn.d.ts declares on the CwmnAPI interface."""
    body = types.split("export interface CwmnAPI {", 1)[1].split("\n}\n", 1)[0]
    paths, namespace = [], ""
    for line in body.splitlines():
        if m := re.match(r"^  (\w+): \{$", line):
            namespace = m.group(1) + "."
        elif line == "  };":
            namespace = ""
        elif m := re.match(r"^ {2,4}(\w+)[<(]", line):
            paths.append(namespace + m.group(1))
    return paths


def test_every_reference_function_exists(
    open_page: Callable[..., Page], customer_site: PageServer, cwmn_server: CwmnServer
) -> None:
    page = open_page(customer_site.url("plain.html", hostname="localhost"))
    missing = page.evaluate(
        """paths => paths.filter(p => {
            const parts = p.split('.'); let v = CwmnAPI;
            for (const k of parts) { v = v && v[k]; }
            return typeof v !== 'function';
        })""",
        list(FUNCTIONS),
    )
    assert missing == []
    # cwmn.d.ts, served next to cwmn.js, declares exactly the live object's functions.
    live = page.evaluate(
        """() => {
            const out = [];
            const walk = (obj, prefix) => Object.keys(obj).forEach((k) => {
                if (k.startsWith('_')) return;
                if (typeof obj[k] === 'function') out.push(prefix + k);
                else if (obj[k] && typeof obj[k] === 'object') walk(obj[k], prefix + k + '.');
            });
            walk(CwmnAPI, '');
            return out;
        }"""
    )
    types = page.evaluate("url => fetch(url).then(r => r.text())", cwmn_server.url + "/cwmn.d.ts")
    assert sorted(live) == sorted(declared_functions(types))
    assert page.evaluate("CwmnAPI.isCompatible()") is True
    info = page.evaluate("CwmnAPI.getDomainInfo()")
    assert info["domain"] == "localhost" and info["authorized"] is True
    assert info["settings"]["maxGuests"] == 10


def test_before_init_subscription_throws(
    open_page: Callable[..., Page], customer_site: PageServer
) -> None:
    page = open_page(customer_site.url("plain.html", hostname="localhost"))
    before = page.evaluate("window.beforeInit")
    assert before["isError"] and before["code"] == "invalid_state"
    assert "before 'init'" in before["message"]
    assert page.evaluate("window.stateAtLoad") == "init"


def test_start_and_end_a_realtime_session(
    open_page: Callable[..., Page], customer_site: PageServer
) -> None:
    page = open_page(customer_site.url("plain.html", hostname="localhost"))
    result = settle(page, START)
    assert result["ok"], result
    info = result["value"]
    assert info["hostName"] == "Host Name" and len(info["sessionId"]) >= 16
    assert page.evaluate("CwmnAPI.getCurrentState()") == "in session"
    assert page.evaluate("CwmnAPI.session.getSessionInfo().sessionId") == info["sessionId"]
    log = page.evaluate("window.__cwmnLog.events")
    started = [(e["name"], e["args"], e["state"]) for e in log[2:]]
    assert started == [
        ("session pending", [], "session pending"),
        ("in session", [False], "in session"),
    ]

    ended = settle(page, "CwmnAPI.session.endSession()")
    assert ended["ok"], ended
    wait_state(page, "no session")
    tail = [(e["name"], e["state"]) for e in page.evaluate("window.__cwmnLog.events")[4:]]
    assert tail == [
        ("end session", "in session"),
        ("reinit", "init"),
        ("ready no session", "no session"),
    ]


def test_wrong_state_and_bad_parameters(
    open_page: Callable[..., Page], customer_site: PageServer
) -> None:
    page = open_page(customer_site.url("plain.html", hostname="localhost"))
    wrong = settle(page, "CwmnAPI.session.endSession()")
    assert not wrong["ok"] and wrong["code"] == "invalid_state" and wrong["isError"]
    assert '"no session"' in wrong["message"] and '"in session"' in wrong["message"]
    assert wrong["name"] == "CwmnError"

    thrown = page.evaluate(
        "(() => { try { CwmnAPI.guest.getGuestList(); } catch (e) { return e.code; } })()"
    )
    assert thrown == "invalid_state"

    missing = settle(page, "CwmnAPI.session.start({hostEmail: 'a@example.com'})")
    assert missing["code"] == "invalid_params" and "hostName" in missing["message"]
    bad_email = settle(page, "CwmnAPI.session.start({hostName: 'A', hostEmail: 'not-an-email'})")
    assert bad_email["code"] == "invalid_params" and "hostEmail" in bad_email["message"]
    typo = settle(
        page, "CwmnAPI.session.start({hostName: 'A', hostEmail: 'a@example.com', isreplay: true})"
    )
    assert typo["code"] == "invalid_params" and "isreplay" in typo["message"]
    unknown = page.evaluate(
        "(() => { try { CwmnAPI.on('nope', () => {}); }"
        " catch (e) { return [e.code, e.message]; } })()"
    )
    assert unknown[0] == "invalid_params" and "nope" in unknown[1]
    not_fn = page.evaluate(
        "(() => { try { CwmnAPI.on('click', 42); } catch (e) { return e.code; } })()"
    )
    assert not_fn == "invalid_params"
    assert page.evaluate("CwmnAPI.getCurrentState()") == "no session"

    early = settle(page, "CwmnAPI.replay.getVideoURL()")
    assert early["code"] == "invalid_state" and "replay complete" in early["message"]
    assert page.evaluate("CwmnAPI.getCurrentState()") == "no session"


def test_in_session_functions(open_page: Callable[..., Page], customer_site: PageServer) -> None:
    page = open_page(customer_site.url("plain.html", hostname="localhost"))
    assert settle(page, START)["ok"]
    assert page.evaluate("CwmnAPI.guest.getGuestList()") == []
    assert settle(page, "CwmnAPI.guest.muteAllGuests(true)")["ok"]
    assert page.evaluate("CwmnAPI.guest.getMuteAllGuests()") is True
    bad = settle(page, "CwmnAPI.guest.muteAllGuests('yes')")
    assert bad["code"] == "invalid_params"
    gone = settle(page, "CwmnAPI.guest.removeGuest('nobody')")
    assert gone["code"] == "not_found" and "nobody" in gone["message"]
    live = settle(page, "CwmnAPI.replay.muteAudio(true)")
    assert live["code"] == "invalid_state" and "not a replay" in live["message"]
    assert settle(page, "CwmnAPI.session.endSession()")["ok"]
    wait_state(page, "no session")


def test_once_off_late_init_and_throwing_callbacks(
    open_page: Callable[..., Page], customer_site: PageServer
) -> None:
    page = open_page(customer_site.url("plain.html", hostname="localhost"))
    page.evaluate(
        """() => {
        window.seen = [];
        CwmnAPI.on('session pending', () => { throw new Error('boom from a customer callback'); });
        CwmnAPI.on('session pending', () => seen.push('on'));
        const undo = CwmnAPI.once('in session', () => seen.push('once-removed'));
        undo();
        CwmnAPI.once('end session', () => seen.push('once'));
        window.offed = () => seen.push('off');
        CwmnAPI.on('ready no session', offed);
        CwmnAPI.off('ready no session', offed);
        window.lateSync = false;
        CwmnAPI.on('init', () => { window.lateCalled = true; });
        window.lateSync = window.lateCalled === true;
    }"""
    )
    page.wait_for_function("window.lateCalled === true")
    assert page.evaluate("window.lateSync") is False  # called asynchronously, not inside on()
    for _ in range(2):
        assert settle(page, START)["ok"]
        assert settle(page, "CwmnAPI.session.endSession()")["ok"]
        wait_state(page, "no session")
    assert page.evaluate("seen") == ["on", "once", "on"]
    errors = page.evaluate("window.__cwmnLog.consoleErrors")
    assert any("boom from a customer callback" in e for e in errors)


def test_without_webassembly_the_stub_reports_incompatible(
    open_page: Callable[..., Page], customer_site: PageServer
) -> None:
    page = open_page("about:blank", wait_for_state=None)
    page.add_init_script("delete window.WebAssembly;")
    page.goto(customer_site.url("plain.html", hostname="localhost"))
    wait_state(page, "incompatible browser")
    page.wait_for_function("window.__cwmnLog.events.length >= 3")
    assert events(page) == ["init", "incompatible", "init failed"]
    assert page.evaluate("CwmnAPI.isCompatible()") is False
    refused = settle(page, START)
    assert refused["code"] == "invalid_state" and "incompatible browser" in refused["message"]


def test_unauthorized_domain(open_page: Callable[..., Page], foreign_site: PageServer) -> None:
    page = open_page(foreign_site.url("plain.html"), wait_for_state="unauthorized")
    page.wait_for_function("window.__cwmnLog.events.length >= 3")
    assert events(page) == ["init", "unauthorized", "init failed"]
    info = page.evaluate("CwmnAPI.getDomainInfo()")
    assert info == {
        "domain": "127.0.0.2",
        "authorized": False,
        "site": None,
        "features": {},
        "settings": {},
    }
    refused = settle(page, START)
    assert refused["code"] == "invalid_state"


def test_playground_lists_every_function_and_logs(
    open_page: Callable[..., Page], cwmn_server: CwmnServer
) -> None:
    page = open_page(cwmn_server.url + "/")
    buttons = page.eval_on_selector_all("button[data-fn]", "bs => bs.map(b => b.dataset.fn)")
    assert sorted(buttons) == sorted(p for p in FUNCTIONS if p not in ("on", "once", "off"))
    page.click("button[data-fn='session.start']")
    page.wait_for_function(
        "document.getElementById('log').textContent.includes('event: in session')"
    )
    assert page.text_content("#state") == "in session"
    page.click("button[data-fn='session.endSession']")
    page.wait_for_function(
        "document.getElementById('log').textContent.includes('event: ready no session')"
    )


def test_server_unreachable_fails_the_session(
    open_page: Callable[..., Page], customer_site: PageServer, tmp_path: Path
) -> None:
    doomed = CwmnServer(tmp_path / "doomed").start()
    try:
        page = open_page(customer_site.url("bare.html", hostname="localhost"), wait_for_state=None)
        page.evaluate(
            """url => { const s = document.createElement('script');
                        s.src = url + '/cwmn.js'; document.head.appendChild(s); }""",
            doomed.url,
        )
        wait_state(page, "no session")
    finally:
        doomed.stop()
    failed = settle(page, START)
    assert not failed["ok"] and failed["code"] == "network"
    wait_state(page, "no session")
    assert events(page) == [
        "init",
        "ready no session",
        "session pending",
        "session failed",
        "ready no session",
    ]
