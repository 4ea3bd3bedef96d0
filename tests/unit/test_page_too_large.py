"""A page too large to share: the host core never sends a frame the server would refuse
(it would close the socket, and again on every resume, for ever); the session ends and
the console says why (issue 15). The host core against the real server, on a fake clock."""

from __future__ import annotations

from cwmn_web.client.states import State
from cwmn_web.protocol import codec
from tests.helpers.live_page import in_session

SNAPSHOT = {"nodes": [[1, 0, 1, "html", []]]}


def test_a_frame_past_the_servers_cap_ends_the_session_instead_of_a_reconnect_loop() -> None:
    controller, ports = in_session()
    ports.capture_frame("snapshot", SNAPSHOT)
    opened = len(ports.opened_at)
    huge = "x" * (codec.MAX_FRAME + 1024)  # a page's text past the codec's 4 MiB
    ports.capture_frame("mutations", {"texts": [[1, huge]]})
    for _ in range(20):  # a minute of would-be reconnects
        ports.advance(3.0)
    assert controller.state is State.NO_SESSION
    events = [d[0] for d in ports.deliveries]
    assert "end session" in events and "connection issue" not in events
    assert len(ports.opened_at) == opened  # no reconnect, no resend
    (warning,) = [w for w in ports.warnings if "page_too_large" in w]
    assert "too large to share" in warning
    assert not [row for row in ports.live.server.store.session_rows() if row["ended_at"] is None]
