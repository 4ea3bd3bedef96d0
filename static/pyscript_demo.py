"""A Python web app driving CwmnAPI: the code of the PyScript demo (/demo/pyscript).

PyScript runs this in its Pyodide, on the page's main thread. The page embeds cwmn.js with
``data-python="page"``, so the SDK's own Python runs in this same interpreter: one Pyodide
for the page, not two. Everything below is what a site would write.
"""

from typing import Any

import js  # type: ignore[import-not-found]
import pyodide_js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, create_proxy, to_js  # type: ignore[import-not-found]

API = js.CwmnAPI
LOGGED = (
    "ready no session",
    "session pending",
    "in session",
    "session failed",
    "end session",
    "expired",
    "connection issue",
    "connection issue resolved",
)


def element(name: str) -> Any:
    return js.document.getElementById(name)


def log(text: str) -> None:
    item = js.document.createElement("li")
    item.textContent = text
    element("log").append(item)
    element("state").textContent = API.getCurrentState()


def plain(value: dict[str, Any]) -> Any:
    """A Python dict as a plain JavaScript object (what CwmnAPI takes)."""
    return to_js(value, dict_converter=js.Object.fromEntries)


async def call(function: Any, *args: Any) -> Any:
    """Await one CwmnAPI Promise; a rejection is logged with its stable code."""
    try:
        return await function(*args)
    except JsException as error:
        log(f"error {getattr(error, 'code', '?')}: {error.message}")
        return None


# -- CwmnAPI events --------------------------------------------------------------------------
def on_guest_connected(guest_id: str, guest: Any) -> None:
    log(f"guest connected: {guest.name} ({guest_id})")


def on_guest_disconnected(guest_id: str, guest: Any) -> None:
    log(f"guest disconnected: {guest.name} ({guest_id})")


def logger(name: str) -> Any:
    return create_proxy(lambda *args: log(f"event: {name}"))


def on_init() -> None:
    log("event: init")
    for name in LOGGED:
        API.on(name, logger(name))
    API.on("guest connected", create_proxy(on_guest_connected))
    API.on("guest disconnected", create_proxy(on_guest_disconnected))


# -- buttons ---------------------------------------------------------------------------------
async def start_session(event: Any) -> None:
    params = {
        "hostName": element("host-name").value,
        "hostEmail": element("host-email").value,
        "isReplay": False,
    }
    info = await call(API.session.start, plain(params))
    if info is not None:
        log(f"session {info.sessionId} started by {info.hostName}")


async def end_session(event: Any) -> None:
    ended = await call(API.session.endSession)
    if ended is not None:
        log(f"session {ended.sessionId} ended ({ended.reason})")


async def invite_link(event: Any) -> None:
    link = await call(API.guest.getInviteLink)
    if link is not None:
        element("link").textContent = link
        element("link").href = link
        log("a private link for one guest: open it in another browser")


def list_guests(event: Any) -> None:
    if API.getCurrentState() != "in session":
        log("no session: no guests")
        return
    guests = API.guest.getGuestList().to_py()
    names = ", ".join(f"{g['name']} (via {g['via']})" for g in guests) or "none yet"
    log(f"guests: {names}")


async def main() -> None:
    # The SDK's Python: the wheel comes from the Pyodide cwmn-web serves (its lock lists it).
    await pyodide_js.loadPackage("cwmn-web")
    from cwmn_web.browser.page import attach

    API.on("init", create_proxy(on_init))
    attach()
    for name, handler in (
        ("start", start_session),
        ("end", end_session),
        ("invite", invite_link),
        ("guests", list_guests),
    ):
        element(name).addEventListener("click", create_proxy(handler))
        element(name).disabled = False
    log("Python is ready")


await main()  # noqa: F704 - PyScript runs top-level await
