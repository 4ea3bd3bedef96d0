"""The guest's worker in real browsers: worker.mjs?entry=viewer runs cwmn_web.browser.
viewer_worker in Pyodide, talks to a scripted fake guest endpoint (a real WebSocket), and the
page's CwmnViewer builds what it posts: sanitized frames, statuses, a reconnect, the end; and
the guest's own pointer going out while other guests' pointers come in."""

from __future__ import annotations

import contextlib
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page
from websockets.sync.server import Server, ServerConnection, serve

from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import (
    CLOSE_REMOVED,
    CLOSE_SESSION_ENDED,
    GuestPointer,
    Hello,
    HostStatus,
    Join,
    Joined,
    Message,
    MirrorFrame,
    Muted,
    Paused,
    PointerClick,
    PointerMove,
    Removed,
    SessionEnded,
    Welcome,
)
from cwmn_web.testing import PageServer, free_port
from tests.unit.test_viewer_sanitize import html_records, js, page

from .test_cobrowse import host_session
from .test_embed import settle

Script = Callable[[ServerConnection], None]


class FakeGuestEndpoint:
    """``/ws/guest`` played by scripts, one per connection, in order; records what came in."""

    def __init__(self) -> None:
        self.port = free_port()
        self.scripts: queue.Queue[Script] = queue.Queue()
        self.errors: list[BaseException] = []
        self.server: Server = serve(self._handle, "127.0.0.1", self.port)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait(self, tab: Page, expression: str, timeout: float = 90.0) -> None:
        """Wait for ``expression`` in ``tab``; fail at once with a script's own error."""
        deadline = time.monotonic() + timeout
        while not (self.errors or tab.evaluate(expression)):
            assert time.monotonic() < deadline, f"timed out waiting for {expression}"
            tab.wait_for_timeout(100)
        if self.errors:
            raise self.errors[0]

    def _handle(self, conn: ServerConnection) -> None:
        try:
            self.scripts.get(timeout=30)(conn)
        except BaseException as exc:  # reported by the test, not lost in this thread
            self.errors.append(exc)
            conn.close()


def expect(conn: ServerConnection) -> Message:
    frame = conn.recv(timeout=30)
    assert isinstance(frame, str)
    return codec.decode(frame)


def push(conn: ServerConnection, *messages: Message) -> None:
    for message in messages:
        conn.send(codec.encode(message))


def describe(op: dict[str, Any]) -> str:
    """``frame:SEQ``, or the op and the names of its fields: ``status:paused``."""
    if op["op"] == "frame":
        return f"frame:{op['seq']}"
    return f"{op['op']}:" + ",".join(k for k in sorted(op) if k != "op")


@pytest.fixture(scope="module")
def endpoint() -> Iterator[FakeGuestEndpoint]:
    fake = FakeGuestEndpoint()
    yield fake
    fake.server.shutdown()


HOSTILE_PAGE = page(
    f'<h1 id="title">Shared page</h1><script>{js("worker-script")}</script>'
    f'<img id="pic" src="x:" onerror="{js("worker-img")}"><p id="status">one</p>'
)


def test_the_viewer_worker_joins_builds_reconnects_and_ends(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    endpoint: FakeGuestEndpoint,
) -> None:
    nodes = html_records(HOSTILE_PAGE)
    body = next(r[0] for r in nodes if r[2] == 1 and r[3] == "body")
    status_text = next(r[0] for r in nodes if r[2] == 3 and r[3] == "one")
    joins: list[Message] = []
    snapshot = {
        "nodes": nodes,
        "url": "https://shop.example.com/",
        "title": "Shop",
        "viewport": [1280, 960],
        "scroll": [0, 0],
        "adopted": [],
    }

    def greet(conn: ServerConnection) -> None:
        assert expect(conn) == Hello(ref=1, role="guest")
        joins.append(expect(conn))
        push(conn, Welcome(ref=1), Joined(ref=2, guest_id="g1", session_id="s1", host_name="Hal"))

    def first(conn: ServerConnection) -> None:
        greet(conn)
        adds = [[500, body, 1, "img", ["src", "x:", "onerror", js("worker-added")]]]
        push(
            conn,
            MirrorFrame(seq=1, kind="snapshot", data=snapshot),
            MirrorFrame(seq=2, kind="mutations", data={"adds": adds, "order": []}),
            MirrorFrame(seq=3, kind="pointer", data={"x": 64, "y": 48}),
            Paused(paused=True),
            Paused(paused=False),
            HostStatus(connected=False),
        )
        conn.close(1011, "server restarting")

    def second(conn: ServerConnection) -> None:
        greet(conn)
        push(
            conn,
            HostStatus(connected=True),
            # A replay of what the guest applied: ignored (the pointer frame 3 never counts:
            # the server does not log pointers, so the guest resumes after 2).
            MirrorFrame(seq=2, kind="mutations", data={"texts": [[status_text, "replayed"]]}),
            MirrorFrame(seq=4, kind="mutations", data={"texts": [[status_text, "two"]]}),
            SessionEnded(session_id="s1", reason="ended"),
        )
        conn.close(CLOSE_SESSION_ENDED, "session ended")

    endpoint.scripts.put(first)
    endpoint.scripts.put(second)
    tab = open_page(
        customer_site.url(f"viewer-worker.html?ws={endpoint.url}&token=tok-1"),
        wait_for_state=None,
    )
    endpoint.wait(tab, "() => ops.some((op) => op.op === 'status' && op.ended)")
    assert joins == [
        Join(ref=2, token="tok-1", name="Ann", last_seq=0),
        Join(ref=2, token="tok-1", name="Ann", last_seq=2),
    ]
    ops: list[dict[str, Any]] = tab.evaluate("ops")
    summary = [describe(op) for op in ops if op["op"] != "marks"]
    assert summary == [
        "status:connecting",  # the page, at once
        "joined:color,guestId,hostConnected,hostName,hostVerified,muted,name,navigating,paused,sessionId,waiting",
        "frame:1",
        "frame:2",
        "frame:3",
        "status:paused",
        "status:paused",
        "status:hostConnected,navigating",
        "status:reconnecting",
        "joined:color,guestId,hostConnected,hostName,hostVerified,muted,name,navigating,paused,sessionId,waiting",
        "status:hostConnected,navigating",
        "frame:4",
        "status:ended",
    ]
    built = tab.evaluate(
        """() => { const doc = viewer.iframe.contentDocument;
            return {html: doc.body.innerHTML, cursor: viewer.cursor.style.transform,
                    status: viewer.status.textContent, scale: viewer.scale}; }"""
    )
    assert built == {
        "html": '<h1 id="title">Shared page</h1><img id="pic" src="x:"><p id="status">two</p>'
        '<img src="x:">',
        "cursor": "translate(32px, 24px)",  # (64, 48) at half size: 1280 by 960 in 640 by 480
        "status": "The session has ended",
        "scale": 0.5,
    }
    assert tab.evaluate("__pwned") == []


def test_the_viewer_worker_sends_the_guest_pointer_and_draws_the_others(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    endpoint: FakeGuestEndpoint,
) -> None:
    """Mouse over the shield → the worker's throttled PointerMove/PointerClick in the host's
    document coordinates; GuestPointer → a labelled cursor; muted → silence; removed → the
    end, without reconnecting."""
    tall = page('<div style="height: 3000px">tall</div>')
    snapshot = {
        "nodes": html_records(tall),
        "url": "https://shop.example.com/",
        "title": "Shop",
        "viewport": [1280, 960],  # half size in the 640 by 480 stage
        "scroll": [0, 0],
        "adopted": [],
    }
    came: queue.Queue[list[Message]] = queue.Queue()
    muted_moves = threading.Event()
    reconnected = threading.Event()

    def quiet(conn: ServerConnection, seconds: float) -> list[Message]:
        """What the guest sends until it says nothing for ``seconds``."""
        out: list[Message] = []
        while True:
            try:
                out.append(codec.decode(str(conn.recv(timeout=seconds))))
            except TimeoutError:
                return out

    def script(conn: ServerConnection) -> None:
        assert expect(conn) == Hello(ref=1, role="guest")
        expect(conn)
        joined = Joined(ref=2, guest_id="g1", session_id="s1", host_name="Hal", color="#9333ea")
        push(
            conn,
            Welcome(ref=1),
            joined,
            MirrorFrame(seq=1, kind="snapshot", data=snapshot),
            MirrorFrame(seq=2, kind="scroll", data={"id": 0, "x": 0, "y": 200}),
            GuestPointer(guest_id="g2", name="Bo", color="#16a34a", x=100, y=300),
        )
        came.put(quiet(conn, 1.5))  # the test moves and clicks meanwhile
        push(conn, Muted(muted=True))
        assert muted_moves.wait(30)
        assert quiet(conn, 0.5) == []
        push(conn, Removed())
        conn.close(CLOSE_REMOVED, "removed")

    def again(conn: ServerConnection) -> None:
        reconnected.set()
        conn.close()

    endpoint.scripts.put(script)
    endpoint.scripts.put(again)
    try:
        tab = open_page(
            customer_site.url(f"viewer-worker.html?ws={endpoint.url}&token=tok-2"),
            wait_for_state=None,
        )
        endpoint.wait(tab, "() => viewer.screen.querySelector('.cwmn-guest-cursor')")
        cursor = tab.evaluate(
            """() => { const el = viewer.screen.querySelector('.cwmn-guest-cursor');
                return [el.dataset.guestId, el.textContent, el.style.transform]; }"""
        )
        assert cursor == ["g2", "Bo", "translate(50px, 50px)"]  # (100, 300 - 200) at half
        box = "() => { const r = viewer.screen.getBoundingClientRect(); return [r.left, r.top]; }"
        left, top = tab.evaluate(box)
        tab.mouse.move(left + 10, top + 10)
        tab.mouse.move(left + 100, top + 50, steps=8)
        tab.mouse.click(left + 100, top + 50)
        sent = came.get(timeout=30)
        moves = [m for m in sent if isinstance(m, PointerMove)]
        assert sent[0] == PointerMove(x=20, y=220, visible=True)  # the leading edge
        assert moves[-1] == PointerMove(x=200, y=300, visible=True)  # the trailing one
        assert [m for m in sent if not isinstance(m, PointerMove)] == [PointerClick(x=200, y=300)]

        endpoint.wait(tab, "() => !viewer.mutedBadge.hidden")
        tab.mouse.move(left + 200, top + 200, steps=4)
        tab.mouse.click(left + 200, top + 200)
        muted_moves.set()
        endpoint.wait(tab, "() => viewer.status.dataset.kind === 'removed'")
        assert tab.text_content(".cwmn-status") == "The host removed you from this session."
        tab.wait_for_timeout(1500)
        assert not reconnected.is_set()
        assert [op for op in tab.evaluate("ops") if op.get("reconnecting")] == []
    finally:
        with contextlib.suppress(queue.Empty):
            endpoint.scripts.get_nowait()


def test_the_join_page_shows_the_page_at_once_and_asks_the_name_aside_under_its_csp(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    guest_context: BrowserContext,
) -> None:
    """The real /join/TOKEN page of the server, its link naming nobody: the guest joins as
    "Guest" and sees the host's page while the name card is still open in a corner; the name
    it then gives reaches the host's guest list; another link opened on this device offers
    it in the card and sends it only once the guest submits it. No CSP violation (no inline
    script or handler)."""
    host, link = host_session(open_page, customer_site)
    guest = guest_context.new_page()
    problems: list[str] = []
    guest.on("console", lambda m: problems.append(f"{m.type}: {m.text}"))
    guest.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    try:
        guest.goto(link)
        form = guest.locator("#cwmn-name")
        form.wait_for()
        assert guest.input_value("#cwmn-name-input") == "Guest"
        frame = guest.frame_locator("iframe.cwmn-frame")
        frame.locator("#title").wait_for(timeout=60_000)  # the card never answered
        assert form.is_visible()
        assert guest.title() == "Host page one \u00b7 CWMN"
        host.wait_for_function("CwmnAPI.guest.getGuestList().some((g) => g.name === 'Guest')")
        stage = guest.evaluate(
            """() => { const v = window.cwmnViewer, r = v.stage.getBoundingClientRect();
                const card = document.getElementById('cwmn-name').getBoundingClientRect();
                return [v.iframe.getAttribute('sandbox'), v.status.hidden, r.width, r.height,
                        document.elementFromPoint(r.width / 2, r.height / 2) === v.shield,
                        card.left > r.width / 2 && card.top > r.height / 2]; }"""
        )
        assert stage == ["allow-same-origin", True, 1000, 700, True, True]
        # The page is live behind the card.
        host.evaluate("document.getElementById('counter').textContent = 'live behind the card'")
        frame.locator("#counter", has_text="live behind the card").wait_for()
        guest.fill("#cwmn-name-input", "  Zoe  ")
        guest.click("#cwmn-name button")
        assert form.is_hidden()
        host.wait_for_function(
            "(() => { const names = CwmnAPI.guest.getGuestList().map((g) => g.name);"
            " return names.length === 1 && names[0] === 'Zoe'; })()"
        )
        roomdata = host.evaluate(
            "window.__cwmnLog.events.filter((e) => e.name === 'roomdata update').pop().args[0]"
        )
        assert [g["name"] for g in roomdata] == ["Zoe"]
        # Another link opened on this device (any site's session, or someone else at this
        # computer): the remembered name is offered in the card, never sent unasked.
        other = settle(host, "CwmnAPI.guest.getInviteLink()")["value"]
        assert other != link
        again = guest_context.new_page()
        again.goto(other)
        again.frame_locator("iframe.cwmn-frame").locator("#title").wait_for(timeout=60_000)
        host.wait_for_function("CwmnAPI.guest.getGuestList().length === 2")
        assert again.locator("#cwmn-name").is_visible()
        assert again.input_value("#cwmn-name-input") == "Zoe"
        names = "CwmnAPI.guest.getGuestList().map((g) => g.name).sort()"
        assert host.evaluate(names) == ["Guest", "Zoe"]
        again.click("#cwmn-name button")  # the guest takes the offer
        assert again.locator("#cwmn-name").is_hidden()
        host.wait_for_function(f"JSON.stringify({names}) === JSON.stringify(['Zoe', 'Zoe'])")
        assert settle(host, "CwmnAPI.session.endSession()")["ok"]
        again.wait_for_function("!window.cwmnViewer.status.hidden")
        assert again.text_content(".cwmn-status") == "The session has ended"
        csp = re.compile(r"Content.Security.Policy|CSP", re.IGNORECASE)
        assert [p for p in problems if csp.search(p) or p.startswith("pageerror")] == []
    finally:
        guest.close()
