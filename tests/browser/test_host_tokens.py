"""Host tokens in real browsers: on a site that requires them, a page whose script tag
carries ``data-host-token``, or names ``data-host-token-url`` served by the customer's
backend (the documented example, docs/examples/host_token_backend.py, on the page's own
origin), starts a session as the token's host; a page without one is refused with
``host_token_required``."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
import uvicorn
from playwright.sync_api import BrowserContext, Page
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from cwmn_web.testing import CwmnServer
from cwmn_web.testing.servers import free_port

from .test_embed import START, settle

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "host_token_backend.py"
#: A loopback address no other test's site authorizes: the token site's pages live there.
PAGE_HOST = "127.0.0.3"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("host_token_backend", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def token_pages(cwmn_server: CwmnServer) -> Iterator[str]:
    """The customer's site on PAGE_HOST (site ``tokens``, host tokens required): its pages
    and its backend's ``/cwmn-token``; yields its origin."""
    cwmn_server.cli("site", "add", PAGE_HOST, "--site", "tokens")
    cwmn_server.cli("site", "host-tokens", "tokens", "require")
    added = dict(
        line.split(": ", 1) for line in cwmn_server.cli("site", "key-add", "tokens").splitlines()
    )
    kid, secret = added["kid"], added["secret"]
    backend = load_example()
    user = backend.User("agent-7", "Ann Verified", "ann@shop.example")

    async def page(request: Request) -> HTMLResponse:
        attribute = {
            "token": f'data-host-token="{backend.mint_host_token("tokens", kid, secret, user)}"',
            "url": 'data-host-token-url="/cwmn-token"',
            "none": "",
        }[request.path_params["kind"]]
        script = f'<script src="{cwmn_server.url}/cwmn.js" {attribute}></script>'
        return HTMLResponse(f"<!doctype html><title>shop</title>{script}<h1>Shop</h1>")

    endpoint = backend.token_endpoint("tokens", kid, secret, lambda request: user)
    app = Starlette(routes=[Route("/cwmn-token", endpoint), Route("/{kind}.html", page)])
    port = free_port(PAGE_HOST)
    server = uvicorn.Server(uvicorn.Config(app, host=PAGE_HOST, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the backend did not start"
        time.sleep(0.01)
    yield f"http://{PAGE_HOST}:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.mark.parametrize("kind", ["token", "url"])
def test_a_page_with_a_host_token_starts_as_the_tokens_host(
    open_page: Callable[..., Page],
    guest_context: BrowserContext,
    guests: list[Page],
    token_pages: str,
    kind: str,
) -> None:
    page = open_page(f"{token_pages}/{kind}.html")
    started = settle(page, START)  # the page says "Host Name": the token's name wins
    assert started["ok"], started
    assert started["value"]["hostName"] == "Ann Verified"
    assert started["value"]["hostEmail"] == "ann@shop.example"
    if kind == "url":  # a guest's viewer names the verified host
        link = settle(page, "CwmnAPI.guest.getInviteLink()")["value"]
        viewer = guest_context.new_page()
        guests.append(viewer)
        viewer.goto(f"{link}?name=Bob")
        label = "Ann Verified's screen (verified)"
        viewer.locator(f'#cwmn-stage[aria-label="{label}"]').wait_for(timeout=60_000)
    assert settle(page, "CwmnAPI.session.endSession()")["ok"]


def test_a_page_without_a_token_is_refused(
    open_page: Callable[..., Page], token_pages: str
) -> None:
    page = open_page(f"{token_pages}/none.html")
    refused = settle(page, START)
    assert (refused["ok"], refused["code"], refused["name"]) == (
        False,
        "host_token_required",
        "CwmnError",
    )
    assert "data-host-token" in refused["message"]
