"""Browser test fixtures: one cwmn-web server and customer pages on other origins (from our
pytest plugin, cwmn_web.testing.plugin, like a customer's tests), and one browser context
per browser (so Pyodide's files stay in the HTTP cache across tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright

from cwmn_web.testing import CwmnServer, PageServer, launch_args
from cwmn_web.testing.providers import FakeTwilio, SmtpSink
from cwmn_web.testing.recorder import recorder_script

PAGES = Path(__file__).parent / "pages"
#: Replays record the host's microphone: a fake one (a tone), allowed without a prompt.
FAKE_MICROPHONE: dict[str, dict[str, Any]] = {
    "chromium": {"args": ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]},
    "firefox": {
        "firefox_user_prefs": {
            "media.navigator.streams.fake": True,
            "media.navigator.permission.disabled": True,
        }
    },
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(
    browser_type_launch_args: dict[str, Any], browser_name: str
) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        **launch_args(browser_name, **FAKE_MICROPHONE[browser_name]),
    }


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    """A real SMTP server the cwmn-web server sends its emails to."""
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(scope="session")
def fake_twilio() -> Iterator[FakeTwilio]:
    """A local HTTP server speaking Twilio's Messages API, receiving the texts."""
    with FakeTwilio() as twilio:
        yield twilio


@pytest.fixture(scope="session")
def cwmn_server_env(
    tmp_path_factory: pytest.TempPathFactory, smtp_sink: SmtpSink, fake_twilio: FakeTwilio
) -> dict[str, str]:
    """The plugin's ``cwmn_server`` (cwmn_web.testing.plugin) with mail, SMS and a frame log."""
    return {
        # Every frame hosts send is logged, so tests can check what left the host's browser.
        "CWMN_FRAME_LOG": str(tmp_path_factory.mktemp("cwmn-frames") / "frames.log"),
        "CWMN_SMTP_HOST": smtp_sink.host,
        "CWMN_SMTP_PORT": str(smtp_sink.port),
        "CWMN_SMTP_STARTTLS": "off",
        "CWMN_MAIL_FROM": "CWMN <noreply@cwmn.test>",
        "CWMN_TWILIO_ACCOUNT_SID": fake_twilio.account_sid,
        "CWMN_TWILIO_AUTH_TOKEN": fake_twilio.auth_token,
        "CWMN_TWILIO_FROM": "+15005550006",
        "CWMN_TWILIO_BASE_URL": fake_twilio.url,
    }


@pytest.fixture(scope="session")
def replay_server(cwmn_server: CwmnServer) -> CwmnServer:
    """``cwmn_server`` with a render worker beside it (``cwmn-web render-worker``, same
    database and data directory; its log is ``cwmn_server.worker_log_path``): replays
    recorded against it are rendered, their video emails sent to ``smtp_sink``."""
    return cwmn_server.start_worker()


@pytest.fixture(scope="session")
def guest_context(browser: Browser) -> Iterator[BrowserContext]:
    """The guests' browser: another profile (its own cookies) than the host's."""
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    yield context
    context.close()


@pytest.fixture
def guests(guest_context: BrowserContext) -> Iterator[list[Page]]:
    """Guest pages a test opens in ``guest_context``; closed after the test."""
    pages: list[Page] = []
    yield pages
    for page in pages:
        page.close()


@pytest.fixture(scope="session")
def cwmn_pages_dir() -> Path:
    """The plugin's ``cwmn_site`` serves our customer pages."""
    return PAGES


@pytest.fixture(scope="session")
def customer_site(cwmn_site: PageServer) -> PageServer:
    """Customer pages on 127.0.0.1:PORT; open them as http://localhost:PORT/…, another
    origin than the server's 127.0.0.1."""
    return cwmn_site


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


@pytest.fixture(scope="session")
def other_browser(playwright: Playwright, browser_name: str) -> Iterator[Browser]:
    """The other engine, so guests in one room use Chromium and Firefox at once."""
    name = "firefox" if browser_name == "chromium" else "chromium"
    browser = getattr(playwright, name).launch(**launch_args(name))
    yield browser
    browser.close()


@pytest.fixture
def contexts(browser: Browser, other_browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    """New browser profiles (each its own device cookie), closed after the test."""
    made: list[BrowserContext] = []

    def make(other: bool = False) -> BrowserContext:
        context = (other_browser if other else browser).new_context(
            viewport={"width": 900, "height": 640}
        )
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


def wait_state(page: Page, state: str, timeout: float = 60_000) -> None:
    page.wait_for_function(
        "s => window.CwmnAPI && CwmnAPI.getCurrentState() === s", arg=state, timeout=timeout
    )


def events(page: Page) -> list[str]:
    names: list[str] = page.evaluate("window.__cwmnLog.events.map(e => e.name)")
    return names
