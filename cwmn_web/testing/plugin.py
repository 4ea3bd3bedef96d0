"""pytest plugin (entry point ``cwmn_web``, ``pip install cwmn_web[testing]``): a cwmn-web
server and Playwright pages as a host and its guests, for a site's own integration tests.

Fixtures (pytest-playwright's ``--browser`` options apply to all of them):

- ``cwmn_server`` (session): ``cwmn-web serve`` on a free port with a temporary data
  directory and SQLite database; ``cwmn_server_env`` (session, ``{}``) adds environment
  variables (override it to configure the server).
- ``cwmn_site`` (session): serves ``cwmn_pages_dir`` (a folder of HTML pages; default one
  ``index.html`` that embeds cwmn.js) with ``__CWMN_SERVER__`` replaced by the server's URL.
- ``cwmn_host_url``: the page the host opens (default ``index.html`` of ``cwmn_site`` on
  ``localhost``, another origin than the server); override it to test your own page.
- ``host``: a :class:`~cwmn_web.testing.pages.CwmnHost` on that page, ready (``no session``),
  every event recorded: ``host.start_session()``, ``host.wait_for_event("guest connected")``;
  ``cwmn_host_context`` is its browser profile (extend it for cookies or init scripts).
- ``guest``: a :class:`~cwmn_web.testing.pages.CwmnGuest` in its own browser profile, joined
  to the host's session through a private link (the session is started if need be);
  ``cwmn_join(name="Bob")`` joins more.

Nothing here imports Playwright until a test asks for these fixtures, so the plugin loads
harmlessly where only ``cwmn_web[server]`` is installed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .pages import CwmnGuest, CwmnHost, with_name
from .recorder import recorder_script
from .servers import CwmnServer, PageServer

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

__all__ = [
    "cwmn_host_context",
    "cwmn_host_url",
    "cwmn_join",
    "cwmn_pages_dir",
    "cwmn_server",
    "cwmn_server_env",
    "cwmn_site",
    "guest",
    "host",
]

INDEX_HTML = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>cwmn test page</title>
<script src="__CWMN_SERVER__/cwmn.js"></script></head>
<body><h1 id="title">cwmn test page</h1><p id="text">Hello from the host.</p></body>
</html>
"""
#: What the viewer shows once joined: "live" (also when the host paused), or why it failed.
VIEWER_JOINED = """() => {
  const v = window.cwmnViewer, s = v && v.currentStatus();
  if (!v || (s && ['connecting', 'reconnecting'].includes(s[1]))) return null;
  return !s || ['paused', 'hostDown'].includes(s[1]) ? 'live' : s[0];
}"""
HOST_SEES_GUEST = """([name, known]) => {
  const live = CwmnAPI.getCurrentState() === 'in session';
  const g = (live ? CwmnAPI.guest.getGuestList() : [])
    .find((g) => g.name === name && !known.includes(g.guestId));
  return g ? g.guestId : null;
}"""
#: Settings that would leak from the developer's shell into a test server.
HERMETIC_ENV = {"CWMN_DATABASE_URL": "", "CWMN_PUBLIC_URL": "", "CWMN_FRAME_LOG": ""}


@pytest.fixture(scope="session")
def cwmn_server_env() -> dict[str, str]:
    """Extra environment variables for the test server (override to configure it)."""
    return {}


@pytest.fixture(scope="session")
def cwmn_server(
    tmp_path_factory: pytest.TempPathFactory, cwmn_server_env: dict[str, str]
) -> Iterator[CwmnServer]:
    """``cwmn-web serve`` on a free port, with a temporary data directory and database."""
    data = tmp_path_factory.mktemp("cwmn-data")
    with CwmnServer(data, env={**HERMETIC_ENV, **cwmn_server_env}) as server:
        yield server


@pytest.fixture(scope="session")
def cwmn_pages_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder ``cwmn_site`` serves: by default one ``index.html`` embedding cwmn.js."""
    folder = tmp_path_factory.mktemp("cwmn-pages")
    (folder / "index.html").write_text(INDEX_HTML)
    return folder


@pytest.fixture(scope="session")
def cwmn_site(cwmn_server: CwmnServer, cwmn_pages_dir: Path) -> Iterator[PageServer]:
    """A customer site on its own port (another origin than the server)."""
    with PageServer(cwmn_pages_dir, lambda: cwmn_server.url).running() as site:
        yield site


@pytest.fixture
def cwmn_host_url(cwmn_site: PageServer) -> str:
    """The page ``host`` opens; ``localhost`` is authorized by the server's default site."""
    return cwmn_site.url("index.html", hostname="localhost")


@pytest.fixture
def cwmn_host_context(new_context: Callable[..., BrowserContext]) -> BrowserContext:
    """The host's browser profile, recording every CwmnAPI event (extend it to add cookies,
    init scripts…)."""
    context = new_context()
    context.add_init_script(recorder_script())
    return context


@pytest.fixture
def host(cwmn_host_context: BrowserContext, cwmn_host_url: str) -> Iterator[CwmnHost]:
    """The host's page, loaded and ready (``no session``; fails at once if CWMN cannot start,
    e.g. on a domain no site authorizes)."""
    page = cwmn_host_context.new_page()
    page.goto(cwmn_host_url)
    host = CwmnHost(page)
    host.wait_until_ready()
    yield host
    if not page.is_closed():
        with contextlib.suppress(Exception):  # best effort: the context closes anyway
            if host.state == "in session":
                host.call("session.endSession")


@pytest.fixture
def cwmn_join(
    host: CwmnHost, new_context: Callable[..., BrowserContext]
) -> Callable[..., CwmnGuest]:
    """``cwmn_join(name="Guest", link=None)``: a guest in a new browser profile (its own
    device) on ``link`` (default: a new private link), once the host sees it."""

    def join(name: str = "Guest", link: str | None = None) -> CwmnGuest:
        if host.state != "in session":
            host.start_session()
        known = {g["guestId"] for g in host.guests()}
        page = new_context().new_page()
        page.goto(with_name(link or host.invite_link(), name))
        seen = page.wait_for_function(VIEWER_JOINED, timeout=host.timeout).json_value()
        if seen != "live":
            raise AssertionError(f"guest {name!r} could not join: {seen}")
        found = host.page.wait_for_function(
            HOST_SEES_GUEST, arg=[name, sorted(known)], timeout=host.timeout
        )
        return CwmnGuest(page, name, str(found.json_value()))

    return join


@pytest.fixture
def guest(cwmn_join: Callable[..., CwmnGuest]) -> CwmnGuest:
    """One guest, joined to the host's session (started if need be) through a private link."""
    return cwmn_join()
