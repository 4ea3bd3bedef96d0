"""Real ``cwmn-web serve`` processes sharing sessions (issue 16): a socket that reaches a
process other than the one holding its session's room is served there through the owner."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import text

from cwmn_web.protocol.messages import (
    CLOSE_GOING_AWAY,
    ErrorReply,
    GuestJoined,
    GuestLeft,
    HostStatus,
    Joined,
    SessionEnded,
)
from tests.conftest import StartCluster

from .clients import GuestClient, HostClient

T = TypeVar("T")
EVERY_FRAME = [(1, "snapshot")] + [(seq, "mutations") for seq in range(2, 27)]


def eventually(read: Callable[[], T], done: Callable[[T], object], timeout: float = 5.0) -> T:
    """``read()`` once ``done`` of it (another process's work finishes after it answers)."""
    deadline = time.monotonic() + timeout
    while not done(value := read()):
        assert time.monotonic() < deadline, f"still {value!r}"
        time.sleep(0.05)
    return value


def stream(host: HostClient, frames: int = 26) -> None:
    host.mirror("snapshot", html="<p>1</p>")
    for _ in range(frames - 1):
        host.mirror(n=host.seq + 1)


def test_guests_on_other_processes_get_every_frame_once(cluster_of: StartCluster) -> None:
    cluster = cluster_of(3)
    host = HostClient()
    host.start(cluster.ws(0))
    assert cluster.owner(host.session_id) == 0
    guests = [GuestClient(host.link(), f"g{i}", cluster.url) for i in (1, 2)]
    for i, guest in zip((1, 2), guests, strict=True):
        assert isinstance(guest.join(cluster.ws(i)), Joined)
    stream(host)
    assert host.read_acks() == 26
    for guest in guests:
        assert guest.frames_until(26) == EVERY_FRAME
        guest.w.sync()  # nothing more (no frame twice)
        assert guest.applied == EVERY_FRAME
    joined = [m.guest["name"] for m in host.w.seen if isinstance(m, GuestJoined)]
    assert joined == ["g1", "g2"]


def test_a_host_resuming_on_another_process_keeps_its_guests(
    cluster_of: StartCluster,
) -> None:
    cluster = cluster_of(2)
    host = HostClient()
    host.start(cluster.ws(0))
    near = GuestClient(host.link(), "near", cluster.url)
    far = GuestClient(host.link(), "far", cluster.url)
    near.join(cluster.ws(0))
    far.join(cluster.ws(1))
    host.mirror("snapshot", html="<p>1</p>")
    host.mirror(n=2)
    assert host.read_acks() == 2
    host.w.ws.close(CLOSE_GOING_AWAY)  # the host's page navigates
    for guest in (near, far):
        guest.w.until(lambda m: m == HostStatus(connected=False, navigating=True))

    host.page_id = "page-2"
    resumed = host.resume(cluster.ws(1), time.monotonic() + 10)
    assert resumed.acked_seq == 0  # another page starts over
    host.w.sync()
    roster = [m.guest["name"] for m in host.w.seen if isinstance(m, GuestJoined)]
    assert sorted(roster) == ["far", "near"]
    for seq in range(2, 6):
        host.mirror(n=seq)
    for guest in (near, far):
        assert guest.frames_until(5)[-5:] == [(1, "snapshot")] + [
            (s, "mutations") for s in range(2, 6)
        ]
        assert HostStatus(connected=True) in guest.w.seen
        churn = [m for m in guest.w.seen if isinstance(m, (GuestLeft, GuestJoined))]
        assert churn == [], churn  # the guests stayed in the room
    assert not any(isinstance(m, GuestLeft) for m in host.w.seen)


def test_no_zombie_the_session_ends_once_when_its_host_is_gone(
    cluster_of: StartCluster,
) -> None:
    grace = 2.0
    cluster = cluster_of(2, HOST_GRACE_SECONDS=str(grace))
    host = HostClient()
    host.start(cluster.ws(0))
    near = GuestClient(host.link(), "near", cluster.url)
    far = GuestClient(host.link(), "far", cluster.url)
    far.join(cluster.ws(1))
    near.join(cluster.ws(0))
    host.mirror("snapshot", html="<p>1</p>")
    until = time.monotonic() + grace * 2.5
    while time.monotonic() < until:  # stream past the grace period
        host.mirror(n=host.seq + 1)
        host.read_acks()
        time.sleep(0.1)  # the host's pace
    assert host.read_acks() == host.seq
    assert cluster.session(host.session_id)["ended_at"] is None
    assert far.frames_until(host.seq)[-1] == (host.seq, "mutations")

    host.w.close()  # the host goes away for good (not navigating)
    ended = []
    for guest in (near, far):
        ended.append(guest.w.until(lambda m: isinstance(m, SessionEnded), timeout=grace + 10))
    assert ended == [SessionEnded(session_id=host.session_id, reason="expired")] * 2
    row = eventually(lambda: cluster.session(host.session_id), lambda r: r["ended_at"])
    assert row["end_reason"] == "expired"
    for guest in (near, far):
        guest.w.wait_closed()
        assert sum(isinstance(m, SessionEnded) for m in guest.w.seen) == 1


def test_max_guests_counts_every_process(cluster_of: StartCluster) -> None:
    cluster = cluster_of(3)
    cluster.servers[0].cli("site", "settings", "default", "--max-guests", "3")
    host = HostClient()
    host.start(cluster.url.replace("http://", "ws://"))
    for i in range(3):
        assert isinstance(
            GuestClient(host.link(), f"g{i}", cluster.url).join(cluster.ws(i)), Joined
        )
    for i in range(3):
        late = GuestClient(host.link(), f"late{i}", cluster.url)
        refused = late.join(cluster.ws(i))
        assert isinstance(refused, ErrorReply) and refused.code == "room_full", refused


def test_serve_with_two_workers_gives_every_guest_every_frame(
    cluster_of: StartCluster,
) -> None:
    cluster = cluster_of(1, workers=2)
    with cluster.db.connect() as db:  # both workers beat: they are two processes of many
        live = "SELECT count(*) FROM server_processes"
        eventually(lambda: db.execute(text(live)).scalar(), lambda count: count == 2)
    host = HostClient()
    host.start(cluster.ws(0))
    guests = [GuestClient(host.link(), f"g{i}", cluster.url) for i in range(8)]
    for guest in guests:
        assert isinstance(guest.join(cluster.ws(0)), Joined)
    stream(host)
    assert host.read_acks() == 26
    for guest in guests:
        assert guest.frames_until(26) == EVERY_FRAME
        guest.w.sync()
        assert guest.applied == EVERY_FRAME
