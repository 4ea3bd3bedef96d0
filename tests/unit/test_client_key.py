"""Per-client limits count one IPv6 host (its /64) as one client, not 2**64 of them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import pytest
from starlette.websockets import WebSocket

from cwmn_web.server.client_key import client_key, forwarded_ignored
from cwmn_web.server.config import Settings
from cwmn_web.server.db import Store
from cwmn_web.server.relay import Relay
from tests.helpers.aio import run_coroutine


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:db8:1:2::/64"),
        ("[2001:db8:1:2::9]", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::ffff:198.51.100.4", "198.51.100.4"),
        ("", ""),
        ("testclient", "testclient"),
    ],
)
def test_the_client_key_of_an_address(address: str, key: str) -> None:
    assert client_key(address) == key


def test_the_ipv6_prefix_is_a_setting() -> None:
    assert client_key("2001:db8:1:2:3::1", 48) == "2001:db8:1::/48"
    assert client_key("2001:db8::1", 128) == "2001:db8::1/128"
    assert Settings().client_ipv6_prefix == 64


def socket_from(address: str, forwarded: str = "") -> WebSocket:
    headers = {"x-forwarded-for": forwarded} if forwarded else {}
    client = SimpleNamespace(host=address, port=1)
    return cast(WebSocket, SimpleNamespace(client=client, headers=headers))


def test_a_host_rotating_addresses_in_its_64_holds_one_clients_sockets() -> None:
    relay = Relay(Settings(max_connections_per_client=2), Store("sqlite://"))

    def admit(ws: WebSocket) -> bool:
        return run_coroutine(relay.admit(ws))

    rotating = [socket_from(f"2001:db8:1:2::{n:x}") for n in range(1, 6)]
    assert [admit(ws) for ws in rotating] == [True, True, False, False, False]
    assert admit(socket_from("2001:db8:1:3::1"))  # another /64: another client
    # The same IPv4 client, mapped or not, is one client.
    assert admit(socket_from("::ffff:203.0.113.7"))
    assert admit(socket_from("203.0.113.7"))
    assert not admit(socket_from("::ffff:203.0.113.7"))
    assert admit(socket_from("203.0.113.8"))


def test_forwarded_headers_from_an_untrusted_balancer_are_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert not forwarded_ignored("", "10.0.0.2")
    assert not forwarded_ignored("198.51.100.1, 203.0.113.5", "203.0.113.5")  # applied
    assert forwarded_ignored("203.0.113.5", "10.0.0.2")  # the balancer's own address
    relay = Relay(Settings(), Store("sqlite://"))
    with caplog.at_level("WARNING", logger="cwmn_web.server"):
        for n in range(3):
            run_coroutine(relay.admit(socket_from("10.0.0.2", f"203.0.113.{n}")))
    (record,) = [r for r in caplog.records if "CWMN_TRUSTED_PROXIES" in r.getMessage()]
    assert "10.0.0.2" in record.getMessage()
