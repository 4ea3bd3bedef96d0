"""Remote control across processes (extension): a guest whose socket reached the process
that does not hold the room is piped to the one that does, so asking, being granted and
controlling work as on one process."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from cwmn_web.protocol.messages import (
    ControlChanged,
    ControlInput,
    ControlRequested,
    GuestJoined,
    Ok,
    RequestControl,
    SetControl,
)
from tests.server.live import Guest, Host
from tests.server.test_cluster_pipes import apps, gather, guest_on, host_on, route

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.timeout(120)  # a fault must fail a test, never hang the suite


def test_a_guest_on_another_process_asks_is_granted_and_controls(
    tmp_path: Path, cluster_db: str, cluster_redis: str, live_static: Path
) -> None:
    with apps(tmp_path, cluster_db, cluster_redis, live_static, 2) as (a, b), host_on(a) as hws:
        h = Host(hws)
        h.start()
        token = h.link()
        with guest_on(b, "?" + route("link", token)) as gws:
            bob = Guest(gws)
            bob_id = bob.joined(token).guest_id
            assert any(isinstance(m, GuestJoined) for m in h.drain())
            assert isinstance(bob.ask(RequestControl(ref=10)), Ok)
            assert ControlRequested(guest_id=bob_id) in h.drain()
            assert isinstance(h.ask(SetControl(ref=11, guest_id=bob_id)), Ok)
            changed = ControlChanged(guest_id=bob_id, name="Bob", allowed=True)
            assert changed in gather(bob, lambda seen: changed in seen)
            bob.send(ControlInput(ref=12, kind="text", text="hi"))
            bob.sync()
            (typed,) = [m for m in h.drain() if isinstance(m, ControlInput)]
            assert (typed.guest_id, typed.text) == (bob_id, "hi")
