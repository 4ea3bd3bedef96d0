"""Browser test fixtures: one cwmn-web server, customer pages on other origins, and one
browser context per browser (so Pyodide's files stay in the HTTP cache across tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from cwmn_web.testing import CwmnServer, PageServer, launch_args
from cwmn_web.testing.recorder import recorder_script

PAGES = Path(__file__).parent / "pages"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(
    browser_type_launch_args: dict[str, Any], browser_name: str
) -> dict[str, Any]:
    return {**browser_type_launch_args, **launch_args(browser_name)}


@pytest.fixture(scope="session")
def cwmn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CwmnServer]:
    data = tmp_path_factory.mktemp("cwmn-data")
    # Every frame hosts send is logged, so tests can check what left the host's browser.
    with CwmnServer(data, env={"CWMN_FRAME_LOG": str(data / "frames.log")}) as server:
        yield server


@pytest.fixture(scope="session")
def guest_context(browser: Browser) -> Iterator[BrowserContext]:
    """The guests' browser: another profile (its own cookies) than the host's."""
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    yield context
    context.close()


@pytest.fixture(scope="session")
def customer_site(cwmn_server: CwmnServer) -> Iterator[PageServer]:
    """Customer pages on http://localhost:PORT — another origin than the server's 127.0.0.1."""
    with PageServer(PAGES, lambda: cwmn_server.url, host="127.0.0.1").running() as site:
        yield site


@pytest.fixture(scope="session")
def foreign_site(cwmn_server: CwmnServer) -> Iterator[PageServer]:
    """The same pages on 127.0.0.2: loopback, but not a domain the default site authorizes."""
    with PageServer(PAGES, lambda: cwmn_server.url, host="127.0.0.2").running() as site:
        yield site


@pytest.fixture(scope="session")
def shared_context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context()
    context.add_init_script(recorder_script())
    yield context
    context.close()


@pytest.fixture
def open_page(shared_context: BrowserContext) -> Iterator[Callable[..., Page]]:
    """Open a page in the shared context; closed after the test."""
    pages: list[Page] = []

    def _open(url: str, wait_for_state: str | None = "no session") -> Page:
        page = shared_context.new_page()
        pages.append(page)
        page.goto(url)
        if wait_for_state:
            wait_state(page, wait_for_state)
        return page

    yield _open
    for page in pages:
        page.close()


def wait_state(page: Page, state: str, timeout: float = 60_000) -> None:
    page.wait_for_function(
        "s => window.CwmnAPI && CwmnAPI.getCurrentState() === s", arg=state, timeout=timeout
    )


def events(page: Page) -> list[str]:
    return page.evaluate("window.__cwmnLog.events.map(e => e.name)")
