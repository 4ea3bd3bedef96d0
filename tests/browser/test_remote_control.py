"""Remote control end to end (extension): a real hosted session on a real form page
(tests/browser/pages/control.html, its own handlers recording what they see), the real
server, and a guest speaking the protocol over a real WebSocket. The guest asks, the visitor
allows in the default dialog (a real click), the guest fills and submits the form; masked,
password and off-site targets come back to it as ``control_refused``; the visitor revokes
mid-typing and the guest's next input is ``not_controller``; a second guest's request goes
to the site's own ``control request`` listener, which grants it through the API."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from itertools import count
from typing import Any, TypeVar

import pytest
from playwright.sync_api import BrowserContext, Page
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import (
    ControlChanged,
    ControlInput,
    ControlRefused,
    ErrorReply,
    Hello,
    Join,
    Joined,
    Message,
    Ok,
    RequestControl,
    Welcome,
)
from cwmn_web.testing import CwmnServer, PageServer

from .conftest import wait_state
from .test_embed import START, settle

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(
        importlib.util.find_spec("cwmn_web.server.live.control") is None,
        reason="needs the server's remote control (cwmn_web/server/live/control.py)",
    ),
]
M = TypeVar("M", bound=Message)
_devices = count(1)


class WireGuest:
    """A guest on ``/ws/guest``, as a viewer would be (hello, join), reading synchronously."""

    def __init__(self, server: CwmnServer, link: str, name: str) -> None:
        ws_url = server.url.replace("http://", "ws://") + "/ws/guest"
        device = f"e2e-{name}-{next(_devices)}-{time.monotonic_ns()}"
        self._connection = connect(
            ws_url,
            origin=Origin(server.url),
            additional_headers={"Cookie": f"cwmn_device={device}"},
            max_size=None,
        )
        self.ws: ClientConnection = self._connection.__enter__()
        self.refs = count(1)
        self.pushes: list[Message] = []
        assert isinstance(self.ask(Hello(role="guest")), Welcome)
        joined = self.ask(Join(token=link.rsplit("/join/", 1)[1], name=name))
        assert isinstance(joined, Joined), joined
        self.guest_id = joined.guest_id

    def send(self, message: Message) -> None:
        self.ws.send(codec.encode(message))

    def ask(self, message: Message, timeout: float = 20.0) -> Message:
        ref = next(self.refs)
        self.send(replace(message, ref=ref))
        deadline = time.monotonic() + timeout
        while True:
            answer = codec.decode(str(self.ws.recv(timeout=max(0.01, deadline - time.monotonic()))))
            if answer.ref == ref:
                return answer
            self.pushes.append(answer)

    def wait(self, kind: type[M], check: Callable[[M], bool] = lambda _: True) -> M:
        """The first push of ``kind`` (since the last wait) that passes ``check``."""
        deadline = time.monotonic() + 20.0
        while True:
            for i, message in enumerate(self.pushes):
                if isinstance(message, kind) and check(message):
                    del self.pushes[: i + 1]
                    return message
            self.pushes.clear()
            left = deadline - time.monotonic()
            assert left > 0, f"no {kind.type} came"
            try:
                self.pushes.append(codec.decode(str(self.ws.recv(timeout=left))))
            except TimeoutError:
                continue

    def control(self, kind: str, **fields: Any) -> None:
        self.send(ControlInput(kind=kind, **fields))

    def close(self) -> None:
        self._connection.__exit__(None, None, None)


@pytest.fixture
def guests() -> Iterator[list[WireGuest]]:
    made: list[WireGuest] = []
    yield made
    for guest in made:
        guest.close()


def at(page: Page, selector: str) -> dict[str, float]:
    """Where ``selector``'s centre is in the host's document (the guest's coordinates)."""
    point: dict[str, float] = page.evaluate(
        """(s) => { const r = document.querySelector(s).getBoundingClientRect();
            return {x: r.left + r.width / 2 + scrollX, y: r.top + r.height / 2 + scrollY}; }""",
        selector,
    )
    return point


def ok(page: Page, expression: str) -> Any:
    result = settle(page, expression)
    assert result["ok"], result
    return result["value"]


def test_a_guest_granted_control_fills_the_form_until_revoked(
    contexts: Callable[..., BrowserContext],
    customer_site: PageServer,
    cwmn_server: CwmnServer,
    guests: list[WireGuest],
) -> None:
    # A profile without the event recorder: a page that listens to 'control request' gets
    # no CWMN dialog (the recorder listens to every event).
    host = contexts().new_page()
    host.goto(customer_site.url("control.html", hostname="localhost"))
    wait_state(host, "no session")
    # The visitor's indicator choices, through the stub and the worker (any state).
    assert host.evaluate("CwmnAPI.indicator.getEnabled()") is True
    assert ok(host, "CwmnAPI.indicator.setEnabled(false)") is False
    assert host.evaluate("CwmnAPI.indicator.getEnabled()") is False
    assert ok(host, "CwmnAPI.indicator.setEnabled(true)") is True
    assert ok(host, "CwmnAPI.indicator.showMasked(false)") is False
    ok(host, START)
    assert host.evaluate("CwmnAPI.control.getAllowed()") is True
    assert host.evaluate("CwmnAPI.control.getController()") is None
    link = ok(host, "CwmnAPI.guest.getInviteLink()")
    ann = WireGuest(cwmn_server, link, "Ann")
    guests.append(ann)
    host.wait_for_function("CwmnAPI.guest.getGuestList().length === 1")

    # -- Ann asks; the visitor allows in CWMN's dialog
    assert isinstance(ann.ask(RequestControl()), Ok)
    build = host.evaluate("CwmnAPI._debug().build")
    module = f"{cwmn_server.url}/assets/{build}/control.mjs"
    host.evaluate("async (url) => { window.control_ = await import(url); }", module)
    host.wait_for_function("control_.debugState().open")
    state = host.evaluate("control_.debugState()")
    assert state["label"] == "Ann asks to control this page"
    allow = state["buttons"][1]
    host.mouse.click(allow["x"], allow["y"])
    ann.wait(ControlChanged, lambda m: m.guest_id == ann.guest_id)
    host.wait_for_function("CwmnAPI.control.getController() !== null")
    assert host.evaluate("CwmnAPI.control.getController().name") == "Ann"
    assert host.evaluate("CwmnAPI.guest.getGuestList()[0].controlling") is True
    assert host.evaluate("control_.debugState().open") is False

    # -- Ann fills the form and submits it
    host.evaluate("seen.length = 0")
    ann.control("click", **at(host, "#name"))
    ann.control("text", text="Ann Lee")
    ann.control("key", key="Tab")
    ann.control("text", text="Call after 5")
    ann.control("click", **at(host, "#agree-text"))
    ann.control("click", **at(host, "#size"))
    ann.control("key", key="ArrowDown")
    ann.control("click", **at(host, "#send"))
    host.wait_for_function("submitted.length === 1")
    assert host.evaluate("submitted[0]") == {
        "action": "checkout",
        "name": "Ann Lee",
        "notes": "Call after 5",
        "agree": "on",
        "size": "M",
        "card": "",
        "secret": "",
    }
    seen = host.evaluate("seen")
    for event in ("focus#name", "input#name", "change#name", "change#agree", "change#size"):
        assert event in seen, (event, seen)
    assert seen[-2:] == ["click#send", "submit#form"]

    # -- what is never controlled comes back to Ann, saying why
    for selector, why in [("#card", "masked"), ("#secret", "password"), ("#away", "another site")]:
        ann.control("click", **at(host, selector))
        refusal = ann.wait(ControlRefused)
        assert refusal.code == "control_refused" and why in refusal.message, refusal
    assert host.evaluate("document.activeElement.id") not in ("card", "secret")
    assert host.evaluate("location.pathname") == "/control.html"

    # -- the visitor takes control back while Ann types
    ann.control("click", **at(host, "#notes"))
    ann.control("text", text=" or 6")
    host.wait_for_function("document.querySelector('#notes').value.endsWith(' or 6')")
    assert ok(host, "CwmnAPI.control.revoke()") is None
    refused = ann.ask(ControlInput(kind="text", text=" never"))
    assert isinstance(refused, ErrorReply) and refused.code == "not_controller"
    ann.wait(ControlChanged, lambda m: m.guest_id == "")
    assert host.evaluate("document.querySelector('#notes').value") == "Call after 5 or 6"
    assert host.evaluate("CwmnAPI.control.getController()") is None
    assert host.evaluate("CwmnAPI.guest.getGuestList()[0].controlling") is False

    # -- the site's own UI: its 'control request' listener, then a grant through the API
    host.evaluate(
        "window.asked = []; CwmnAPI.on('control request', (id, g) => asked.push([id, g.name]))"
    )
    bob = WireGuest(cwmn_server, ok(host, "CwmnAPI.guest.getInviteLink()"), "Bob")
    guests.append(bob)
    assert isinstance(bob.ask(RequestControl()), Ok)
    host.wait_for_function("asked.length === 1")
    assert host.evaluate("asked") == [[bob.guest_id, "Bob"]]
    assert host.evaluate("control_.debugState().open") is False  # no CWMN dialog
    assert ok(host, f"CwmnAPI.control.grant('{bob.guest_id}')") is None
    bob.wait(ControlChanged, lambda m: m.guest_id == bob.guest_id)
    host.wait_for_function("CwmnAPI.control.getController() !== null")
    room = {g["name"]: g["controlling"] for g in host.evaluate("CwmnAPI.guest.getGuestList()")}
    assert room == {"Ann": False, "Bob": True}
    # Refused for good: the next request is control_disabled, control goes back.
    assert ok(host, "CwmnAPI.control.setAllowed(false)") is False
    again = ann.ask(RequestControl())
    assert isinstance(again, ErrorReply) and again.code == "control_disabled"
    host.wait_for_function("CwmnAPI.control.getController() === null")
    assert host.evaluate("CwmnAPI.control.getAllowed()") is False
