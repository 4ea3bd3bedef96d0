"""Playwright pages as a host (a page embedding cwmn.js) and a guest (the viewer).

The host page must have :func:`~cwmn_web.testing.recorder.recorder_script` installed before
it loads (the ``host`` fixture does it), so every CwmnAPI event is recorded from ``init`` on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..protocol.guests import GuestObject

if TYPE_CHECKING:
    from playwright.sync_api import FrameLocator, Page

__all__ = ["CwmnCallError", "CwmnGuest", "CwmnHost", "with_name"]

DEFAULT_TIMEOUT = 60_000.0  # ms: Pyodide takes seconds to start, more on a busy machine

_CALL = """([path, args]) => {
  let fn = window.CwmnAPI;
  for (const key of path.split('.')) fn = fn && fn[key];
  if (typeof fn !== 'function') return {ok: false, code: 'invalid_params',
                                        message: 'CwmnAPI.' + path + ' is not a function'};
  return Promise.resolve(fn(...args)).then(
    (value) => ({ok: true, value: value === undefined ? null : value}),
    (error) => ({ok: false, code: error.code, message: error.message}));
}"""


class CwmnCallError(AssertionError):
    """A CwmnAPI Promise rejected; ``code`` is the error's stable code."""

    def __init__(self, path: str, code: str, message: str) -> None:
        super().__init__(f"CwmnAPI.{path}() rejected with {code}: {message}")
        self.path, self.code, self.message = path, code, message


class CwmnHost:
    """A page that embeds cwmn.js: call the API, read its state, wait for its events."""

    def __init__(self, page: Page, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.page, self.timeout = page, timeout
        self._seen: dict[str, int] = {}

    @property
    def state(self) -> str:
        return str(self.page.evaluate("window.CwmnAPI.getCurrentState()"))

    def wait_for_state(self, state: str, timeout: float | None = None) -> None:
        self.page.wait_for_function(
            "s => window.CwmnAPI && CwmnAPI.getCurrentState() === s",
            arg=state,
            timeout=timeout or self.timeout,
        )

    def wait_until_ready(self, timeout: float | None = None) -> None:
        """Wait for ``no session``; fail at once, saying why, if CWMN cannot start here."""
        self.page.wait_for_function(
            "() => window.CwmnAPI && (CwmnAPI.getCurrentState() !== 'init'"
            " || CwmnAPI._debug().failure)",
            timeout=timeout or self.timeout,
        )
        state, failure = self.page.evaluate("[CwmnAPI.getCurrentState(), CwmnAPI._debug().failure]")
        if state != "no session":
            raise AssertionError(
                f"CWMN did not get ready on {self.page.url}: state {state!r}"
                + (f", {failure}" if failure else "")
            )

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """Every event so far (``{name, args, state, t}``), or only those called ``name``."""
        found: list[dict[str, Any]] = self.page.evaluate("window.__cwmnLog.events")
        return [e for e in found if name is None or e["name"] == name]

    def wait_for_event(self, name: str, timeout: float | None = None) -> list[Any]:
        """The arguments of the next ``name`` event this method has not returned yet.

        Events that fired before the call count: ``guest`` waits for its guest, and a later
        ``host.wait_for_event("guest connected")`` still returns that guest's event.
        """
        seen = self._seen.get(name, 0)
        self.page.wait_for_function(
            "([n, k]) => window.__cwmnLog.events.filter((e) => e.name === n).length > k",
            arg=[name, seen],
            timeout=timeout or self.timeout,
        )
        self._seen[name] = seen + 1
        return list(self.events(name)[seen]["args"])

    def call(self, path: str, *args: Any) -> Any:
        """Await ``CwmnAPI.<path>(*args)``; its value, or :class:`CwmnCallError`."""
        result = self.page.evaluate(_CALL, [path, list(args)])
        if not result["ok"]:
            raise CwmnCallError(path, str(result["code"]), str(result["message"]))
        return result["value"]

    def start_session(
        self, host_name: str = "Host", host_email: str = "host@example.com"
    ) -> dict[str, Any]:
        """Start a realtime session and wait for ``in session``; the session info."""
        info: dict[str, Any] = self.call(
            "session.start", {"hostName": host_name, "hostEmail": host_email, "isReplay": False}
        )
        self.wait_for_state("in session")
        return info

    def end_session(self) -> None:
        self.call("session.endSession")
        self.wait_for_state("no session")

    def invite_link(self) -> str:
        """A new private link for one guest."""
        return str(self.call("guest.getInviteLink"))

    def guests(self) -> list[GuestObject]:
        if self.state != "in session":
            return []
        return list(self.page.evaluate("CwmnAPI.guest.getGuestList()"))


class CwmnGuest:
    """A guest's browser tab on a join link: what it sees of the host's page."""

    def __init__(self, page: Page, name: str, guest_id: str) -> None:
        self.page, self.name, self.guest_id = page, name, guest_id

    @property
    def frame(self) -> FrameLocator:
        """The host's page as the guest sees it (a sandboxed iframe)."""
        return self.page.frame_locator("iframe.cwmn-frame")

    @property
    def status(self) -> str | None:
        """What the viewer says instead of the page (ended, paused, removed…), or None."""
        status = self.page.evaluate(
            "window.cwmnViewer ? window.cwmnViewer.currentStatus() : ['loading', 'loading']"
        )
        return None if status is None else str(status[0])

    def wait_for_text(self, text: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until the mirrored page shows ``text``."""
        self.frame.get_by_text(text).first.wait_for(timeout=timeout)


def with_name(link: str, name: str) -> str:
    """``link`` with ``?name=`` set, so the viewer does not ask the guest's name."""
    parts = urlsplit(link)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "name"] + [("name", name)]
    return urlunsplit(parts._replace(query=urlencode(query)))
