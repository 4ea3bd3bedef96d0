"""The pytest plugin for integrators (cwmn_web.testing.plugin): its fixtures here, and in a
customer's project of its own (a fresh pytest run with only the plugin installed)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page

from cwmn_web.testing import PageServer
from cwmn_web.testing.pages import CwmnCallError, CwmnGuest, CwmnHost

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def cwmn_host_url(customer_site: PageServer) -> str:
    """Overridden as a site would: the host opens one of our pages."""
    return customer_site.url("guests.html", hostname="localhost")


def test_plugin_is_registered_once(pytestconfig: pytest.Config) -> None:
    plugins = [
        name
        for name, plugin in pytestconfig.pluginmanager.list_name_plugin()
        if getattr(plugin, "__name__", "") == "cwmn_web.testing.plugin"
    ]
    assert plugins == ["cwmn_web"]


def test_host_and_guests(
    host: CwmnHost, guest: CwmnGuest, cwmn_join: Callable[..., CwmnGuest]
) -> None:
    guest_id, joined = host.wait_for_event("guest connected")
    assert (guest_id, joined["name"]) == (guest.guest_id, "Guest")
    assert host.events()[0]["name"] == "init" and host.state == "in session"
    host.page.evaluate("document.getElementById('news').textContent = 'sale starts now'")
    guest.wait_for_text("sale starts now")

    bob = cwmn_join("Bob")
    assert host.wait_for_event("guest connected")[1]["name"] == "Bob"
    assert sorted(g["name"] for g in host.guests()) == ["Bob", "Guest"]
    with pytest.raises(CwmnCallError) as refused:
        host.call("guest.removeGuest", "nobody")
    assert refused.value.code == "not_found"
    host.call("guest.removeGuest", bob.guest_id)
    assert host.wait_for_event("guest disconnected")[0] == bob.guest_id
    bob.page.wait_for_function("window.cwmnViewer.state.removed")

    host.end_session()
    assert [e["name"] for e in host.events()][-3:] == ["end session", "reinit", "ready no session"]
    guest.page.wait_for_function("window.cwmnViewer.state.ended")
    assert guest.status == "The session has ended"


def test_a_host_page_that_cannot_start_fails_at_once(
    open_page: Callable[..., Page], foreign_site: PageServer
) -> None:
    page = open_page(foreign_site.url("plain.html"), wait_for_state=None)
    with pytest.raises(AssertionError, match="state 'unauthorized'"):
        CwmnHost(page, timeout=30_000).wait_until_ready()


CUSTOMER_TEST = """
def test_a_guest_sees_my_page(host, guest):
    assert host.wait_for_event("guest connected")[1]["name"] == "Guest"
    guest.wait_for_text("Hello from the host.")
"""
CUSTOMER_CONFTEST = """
import pytest
from cwmn_web.testing import launch_args

@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, browser_name):
    return {**browser_type_launch_args, **launch_args(browser_name)}  # Debian's browsers
"""


def test_a_customer_project_uses_the_plugin(tmp_path: Path) -> None:
    """No conftest of ours: the entry point alone provides the fixtures."""
    (tmp_path / "test_site.py").write_text(textwrap.dedent(CUSTOMER_TEST))
    (tmp_path / "conftest.py").write_text(textwrap.dedent(CUSTOMER_CONFTEST))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--browser", "chromium"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "1 passed" in run.stdout
