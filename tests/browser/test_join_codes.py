"""Join codes end to end (extension): the host page asks ``guest.getJoinCode()``, a guest in
another browser profile opens ``/join``, types the code as it was read out, and lands in
the viewer showing the host's page; a second profile typing the same code is refused."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Page

from cwmn_web.testing import CwmnServer, PageServer

from .test_embed import START
from .test_guests import ROOM, ok

pytestmark = pytest.mark.timeout(240)
LABEL = "Enter the code your host gave you"


def type_code(page: Page, url: str, typed: str) -> int:
    """Open the /join page, type ``typed``, press Join: the status of the answer the
    browser ends on (after the redirect, if any)."""
    page.goto(url)
    field = page.get_by_label(LABEL)
    assert field.get_attribute("inputmode") == "numeric"
    field.fill(typed)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Join").click()
    response = navigation.value
    assert response is not None
    return response.status


def test_a_guest_types_the_code_and_sees_the_hosts_page(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    cwmn_server: CwmnServer,
    contexts: Callable[..., BrowserContext],
) -> None:
    host = open_page(customer_site.url("guests.html", hostname="localhost"))
    ok(host, START)
    made = ok(host, "CwmnAPI.guest.getJoinCode()")
    assert made["url"] == f"{cwmn_server.url}/join"
    assert re.fullmatch(r"[0-9]{8}", made["code"]), made
    assert time.time() + 500 < made["expiresAt"] < time.time() + 700  # 10 minutes

    code = made["code"]
    guest = contexts().new_page()
    assert type_code(guest, made["url"], f"{code[:4]} {code[4:]}") == 200
    assert re.search(r"/join/[A-Za-z0-9_-]{20,}$", guest.url), guest.url
    title = guest.frame_locator("iframe.cwmn-frame").locator("#title")
    title.wait_for(timeout=60_000)
    assert title.inner_text() == host.locator("#title").inner_text()
    host.wait_for_function(f"{ROOM}.length === 1")
    (joined,) = host.evaluate(ROOM)
    assert joined["via"] == "private"

    other = contexts(other=True).new_page()  # the other engine, its own device
    assert type_code(other, made["url"], code) == 400
    alert = other.get_by_role("alert")
    assert "not valid" in alert.inner_text()
    assert alert.get_attribute("data-code") == "join_code_invalid"
    assert "/join/" not in other.url
    assert host.evaluate(f"{ROOM}.length") == 1
