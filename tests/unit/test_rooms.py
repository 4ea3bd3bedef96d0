"""cwmn_web.server.rooms: the mirror log and the room's decisions, values in and out."""

from __future__ import annotations

import json

import pytest

from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import MirrorFrame
from cwmn_web.server.rooms import (
    MAX_LOG_BYTES,
    MAX_LOG_FRAMES,
    FrameResult,
    Guest,
    Room,
    RoomLog,
    held,
)


def frame(seq: int, kind: str = "mutations", **data: object) -> MirrorFrame:
    return MirrorFrame(seq=seq, kind=kind, data=dict(data))


def snap(seq: int) -> MirrorFrame:
    return frame(seq, "snapshot", nodes=[])


def fill(log: RoomLog, first: int, last: int) -> None:
    """A snapshot at ``first`` and mutations up to ``last``."""
    for seq in range(first, last + 1):
        f = snap(seq) if seq == first else frame(seq)
        assert log.append(f, codec.encode(f))


# -- RoomLog ------------------------------------------------------------------------------
def test_an_empty_log_has_nothing_to_give() -> None:
    log = RoomLog()
    assert (len(log), log.first_seq, log.last_seq, log.size) == (0, 0, 0, 0)
    assert log.seqs_after(0) == [] == log.seqs_after(7)
    assert (log.max_frames, log.max_bytes) == (MAX_LOG_FRAMES, MAX_LOG_BYTES) == (5000, 16 << 20)


def test_frames_before_any_snapshot_are_not_kept() -> None:
    log = RoomLog()
    assert log.append(frame(1), "x") is False
    assert len(log) == 0
    assert log.append(snap(2), "s") is True
    assert log.append(frame(3), "m") is True
    assert log.seqs_after(0) == [2, 3]


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (0, [5, 6, 7, 8]),  # a new guest: the whole log, from its snapshot
        (4, [5, 6, 7, 8]),  # before the snapshot: not covered
        (5, [6, 7, 8]),
        (6, [7, 8]),
        (8, []),  # up to date
        (9, [5, 6, 7, 8]),  # a seq the log never had (another page): start over
        (-3, [5, 6, 7, 8]),
    ],
)
def test_frames_after(after: int, expected: list[int]) -> None:
    log = RoomLog()
    fill(log, 5, 8)
    assert log.seqs_after(after) == expected
    assert [json.loads(t)["seq"] for t in log.texts_after(after)] == expected


def test_a_snapshot_starts_the_log_over() -> None:
    log = RoomLog()
    fill(log, 1, 4)
    assert log.append(snap(5), "snapshot-5")
    assert log.seqs_after(0) == [5]
    assert log.seqs_after(3) == [5]  # 3 is no longer covered
    assert (log.first_seq, log.last_seq, log.size) == (5, 5, held("snapshot-5"))


def test_the_log_drops_everything_past_its_frame_bound() -> None:
    log = RoomLog(max_frames=3)
    fill(log, 1, 3)
    assert log.append(frame(4), "m") is False
    assert (len(log), log.size) == (0, 0)
    assert log.append(frame(5), "m") is False  # still waiting for a snapshot
    assert log.append(snap(6), "s") is True


def test_the_log_drops_everything_past_its_byte_bound() -> None:
    log = RoomLog(max_bytes=held("s" * 60) + held("m" * 40))
    assert log.append(snap(1), "s" * 60)
    assert log.size == held("s" * 60)
    assert log.append(frame(2), "m" * 40)  # exactly at the bound is fine
    assert log.append(frame(3), "m") is False
    assert (len(log), log.size) == (0, 0)


def test_clear() -> None:
    log = RoomLog()
    fill(log, 1, 3)
    log.clear()
    assert (len(log), log.size, log.seqs_after(0)) == (0, 0, [])


# -- Room: the mirror stream ---------------------------------------------------------------
def relayed(result: FrameResult) -> dict[str, object]:
    assert result.relay is not None
    message: dict[str, object] = json.loads(result.relay)
    return message


def test_frames_in_order_are_kept_relayed_and_acked() -> None:
    room = Room("s1")
    first = room.receive_frame(MirrorFrame(ref=9, seq=1, kind="snapshot", data={"nodes": []}))
    assert first.ack == 1
    assert not first.request_snapshot
    assert relayed(first) == {"type": "mirror", "ref": 0, "seq": 1, "kind": "snapshot",
                              "data": {"nodes": []}, "t": 0.0}  # fmt: skip
    second = room.receive_frame(frame(2, texts=[[4, "a"]]))
    assert (second.ack, relayed(second)["seq"]) == (2, 2)
    assert room.last_seq == 2
    assert room.log.texts_after(0) == [first.relay, second.relay]


def test_duplicates_are_ignored() -> None:
    room = Room("s1")
    room.receive_frame(snap(1))
    room.receive_frame(frame(2))
    for seq in (1, 2, 0, -1):
        assert room.receive_frame(frame(seq)) == FrameResult()
    assert (room.last_seq, len(room.log)) == (2, 2)


def test_a_gap_asks_for_a_snapshot_once_and_relays_nothing_until_it_comes() -> None:
    room = Room("s1")
    room.receive_frame(snap(1))
    gap = room.receive_frame(frame(5))
    assert gap == FrameResult(ack=5, relay=None, request_snapshot=True)
    assert len(room.log) == 0
    assert room.receive_frame(frame(6)) == FrameResult(ack=6)  # asked already
    assert room.receive_frame(frame(8)) == FrameResult(ack=8)
    fresh = room.receive_frame(snap(9))
    assert fresh.relay is not None
    assert not room.snapshot_requested
    assert relayed(room.receive_frame(frame(10)))["seq"] == 10


def test_a_snapshot_after_a_gap_is_taken() -> None:
    room = Room("s1")
    result = room.receive_frame(snap(40))  # a host that kept its numbering after a restart
    assert (result.ack, result.request_snapshot) == (40, False)
    assert relayed(result)["seq"] == 40


def test_mutations_before_any_snapshot_ask_for_one() -> None:
    room = Room("s1")
    assert room.receive_frame(frame(1)) == FrameResult(ack=1, request_snapshot=True)


def test_an_overflowing_log_asks_for_a_snapshot() -> None:
    room = Room("s1", log=RoomLog(max_frames=2))
    room.receive_frame(snap(1))
    room.receive_frame(frame(2))
    assert room.receive_frame(frame(3)) == FrameResult(ack=3, request_snapshot=True)
    assert room.receive_frame(frame(4)) == FrameResult(ack=4)


def test_no_snapshot_request_while_the_host_is_away() -> None:
    room = Room("s1", host_connected=False)
    assert room.receive_frame(frame(1)).request_snapshot is False
    assert room.snapshot_requested is False


def test_privacy_drops_frames_and_needs_a_new_snapshot_after() -> None:
    room = Room("s1")
    room.receive_frame(snap(1))
    assert room.set_privacy(True) is True
    assert room.set_privacy(True) is False
    assert len(room.log) == 0  # nothing of the page stays either
    assert room.receive_frame(snap(2)) == FrameResult(ack=2)
    assert room.receive_frame(frame(3)) == FrameResult(ack=3)
    assert room.backlog("g1", 0) == []
    assert room.set_privacy(False) is True
    # A stale mutation (sent before the host's fresh snapshot) is not relayed.
    assert room.receive_frame(frame(4)) == FrameResult(ack=4, request_snapshot=True)
    assert relayed(room.receive_frame(snap(5)))["kind"] == "snapshot"


def test_a_replay_room_records_every_frame_in_order_and_keeps_no_log() -> None:
    room = Room("s1", replay=True, log=RoomLog(max_frames=2, max_bytes=100))
    first = room.receive_frame(snap(1))
    assert first == FrameResult(ack=1, record=True)  # recorded, never relayed
    for seq in range(2, 50):  # far past the log's bounds
        kind = "pointer" if seq % 5 == 0 else "mutations"
        assert room.receive_frame(frame(seq, kind, x="y" * 40)) == FrameResult(ack=seq, record=True)
    assert len(room.log) == 0 and not room.snapshot_requested


def test_a_replay_room_after_a_hole_records_audio_and_waits_for_a_snapshot() -> None:
    room = Room("s1", replay=True)
    assert room.receive_frame(frame(1)) == FrameResult(ack=1, request_snapshot=True)
    room.receive_frame(snap(2))
    assert room.receive_frame(frame(4)) == FrameResult(ack=4, request_snapshot=True)  # a hole
    assert room.receive_frame(frame(5, "audio")) == FrameResult(ack=5, record=True)
    assert room.receive_frame(frame(6)) == FrameResult(ack=6)
    assert room.receive_frame(snap(7)) == FrameResult(ack=7, record=True)
    assert room.receive_frame(frame(8)) == FrameResult(ack=8, record=True)
    assert room.set_privacy(True)
    assert room.receive_frame(frame(9)) == FrameResult(ack=9)
    assert room.receive_frame(frame(10, "audio")) == FrameResult(ack=10, record=True)
    assert room.set_privacy(False)
    assert room.receive_frame(frame(11)).record is False  # the page needs a snapshot first
    assert room.receive_frame(snap(12)).record is True


def test_a_refused_frame_stalls_the_room_until_the_host_is_back() -> None:
    room = Room("s1", replay=True)
    room.attach_host("p1")
    room.receive_frame(snap(1))
    room.receive_frame(frame(2))
    room.refuse(2)  # its write failed
    assert room.receive_frame(frame(3)) == FrameResult()  # not acked: it is resent later
    assert room.receive_frame(frame(3, "audio")) == FrameResult()
    assert room.attach_host("p1").acked_seq == 1
    assert room.receive_frame(frame(2)) == FrameResult(ack=2, record=True)
    assert room.receive_frame(frame(3)) == FrameResult(ack=3, record=True)


# -- Room: host and guests -----------------------------------------------------------------
def test_attach_host_same_page_keeps_the_log_new_page_starts_over() -> None:
    room = Room("s1")
    assert room.attach_host("p1").acked_seq == 0  # StartSession named no page: start over
    room.receive_frame(snap(1))
    room.receive_frame(frame(2))
    room.detach_host()
    assert room.host_connected is False
    assert room.attach_host("p1").acked_seq == 2
    assert room.host_connected is True
    assert len(room.log) == 2
    assert room.attach_host("p2").acked_seq == 0
    assert (room.page_id, room.last_seq, len(room.log)) == ("p2", 0, 0)
    assert room.attach_host("").acked_seq == 0  # no page id never matches
    assert room.page_id == ""


def test_backlog_honours_last_seq_only_on_the_page_the_guest_saw() -> None:
    room = Room("s1")
    room.receive_frame(snap(1))
    room.receive_frame(frame(2))
    room.add_guest(Guest("g1", "Bob", 1.0))
    assert len(room.backlog("g1", 0)) == 2
    room.receive_frame(frame(3))
    room.remove_guest("g1")
    assert len(room.backlog("g1", 2)) == 1  # same page: only what came after
    # The host moves to another page while g1 is away; seqs start over there.
    room.add_guest(Guest("g2", "Cy", 2.0))
    room.attach_host("p2")
    for seq in range(1, 6):
        room.receive_frame(snap(seq) if seq == 1 else frame(seq))
    assert len(room.backlog("g1", 3)) == 5  # its seq 3 was another page's: everything
    assert len(room.backlog("g2", 3)) == 2  # g2 followed the new page live
    assert len(room.backlog("stranger", 4)) == 5  # unknown to this room (a restart)


def ids(guests: list[Guest]) -> list[str]:
    return [g.guest_id for g in guests]


def test_guests_come_and_go() -> None:
    room = Room("s1")
    assert room.add_guest(Guest("g1", "Bob", 10.0)) is True
    assert room.add_guest(Guest("g1", "Bobby", 99.0)) is False  # a reconnect
    assert room.guests["g1"].name == "Bobby"
    assert room.guests["g1"].joined_at == 10.0
    assert room.remove_guest("g1") is not None
    assert room.remove_guest("g1") is None


def test_a_host_back_on_its_page_hears_only_what_changed() -> None:
    room = Room("s1", page_id="p1")
    for gid in ("g1", "g2", "g3"):
        room.add_guest(Guest(gid, gid, 1.0))
    room.detach_host()
    room.remove_guest("g1")  # gone
    room.remove_guest("g2")  # gone and back: the page never noticed
    room.add_guest(Guest("g2", "g2", 2.0))
    room.add_guest(Guest("g4", "g4", 3.0))  # new
    room.add_guest(Guest("g5", "g5", 3.0))  # came and went
    room.remove_guest("g5")
    back = room.attach_host("p1")
    assert (ids(back.left), ids(back.joined)) == (["g1"], ["g4"])


def test_a_host_on_a_new_page_hears_of_every_guest() -> None:
    room = Room("s1", page_id="p1")
    room.add_guest(Guest("g1", "Bob", 1.0))
    room.detach_host()
    room.add_guest(Guest("g2", "Cy", 2.0))
    back = room.attach_host("p2")
    assert (ids(back.left), ids(back.joined)) == ([], ["g1", "g2"])


def test_a_takeover_on_the_same_page_hears_nothing_new() -> None:
    room = Room("s1", page_id="p1")
    room.add_guest(Guest("g1", "Bob", 1.0))
    back = room.attach_host("p1")  # the old connection never dropped
    assert (back.left, back.joined) == ([], [])
    assert ids(room.attach_host("p2").joined) == ["g1"]


def test_guest_object() -> None:
    assert Guest("g1", "Bob", 12.5).to_dict() == {
        "guestId": "g1",
        "name": "Bob",
        "muted": False,
        "pointer": None,
        "joinedAt": 12.5,
        "via": "private",
        "color": "",
        "controlling": False,
    }


def test_snapshot_for_a_joining_guest() -> None:
    room = Room("s1")
    assert room.request_snapshot_for_guest() is False  # the first snapshot is on its way
    room.receive_frame(snap(1))
    assert room.request_snapshot_for_guest() is False  # the log can serve the guest
    room.set_privacy(True)
    assert room.request_snapshot_for_guest() is False  # nothing to show anyway
    room.set_privacy(False)
    assert room.request_snapshot_for_guest() is True
    assert room.request_snapshot_for_guest() is False  # asked already


# -- pointers, muting ---------------------------------------------------------------------
def test_host_pointer_frames_are_relayed_not_logged_and_a_joining_guest_gets_the_last() -> None:
    room = Room("s1")
    room.receive_frame(snap(1))
    for seq in range(2, 6002):  # far more than the log keeps: no snapshot is ever asked for
        result = room.receive_frame(frame(seq, "pointer", x=seq, y=1))
        assert result.relay is not None and not result.request_snapshot
    room.receive_frame(frame(6002))
    assert room.log.seqs_after(0) == [1, 6002]
    room.receive_frame(frame(6003, "pointer", x=7, y=8))
    backlog = [json.loads(t) for t in room.backlog("g1", 0)]
    assert [(f["seq"], f["kind"]) for f in backlog] == [
        (1, "snapshot"),
        (6002, "mutations"),
        (6003, "pointer"),
    ]
    # A guest that applied the last pointer frame is up to date.
    assert room.log.texts_after(6003) == []
    # A new page's snapshot forgets the old pointer.
    room.receive_frame(snap(6004))
    assert [json.loads(t)["kind"] for t in room.backlog("g1", 0)] == ["snapshot"]


def test_pointer_frames_before_a_snapshot_go_nowhere() -> None:
    room = Room("s1")
    result = room.receive_frame(frame(1, "pointer", x=1, y=1))
    assert result.ack == 1 and result.relay is None
    assert room.backlog("g1", 0) == []


def guest_room(*ids: str) -> Room:
    room = Room("s1")
    for gid in ids:
        room.add_guest(Guest(gid, gid.upper(), joined_at=1.0))
    return room


def test_guests_get_distinct_colours_that_survive_a_reconnect() -> None:
    room = guest_room("a", "b", "c")
    colours = [room.guests[g].color for g in "abc"]
    assert len(set(colours)) == 3 and all(c.startswith("#") for c in colours)
    room.remove_guest("b")
    room.add_guest(Guest("b", "B", joined_at=5.0))
    assert room.guests["b"].color == colours[1]


def test_mute_flags_are_independent() -> None:
    room = guest_room("a", "b")
    assert room.set_muted("a", True) is True
    assert (room.muted("a"), room.muted("b")) == (True, False)
    assert room.set_mute_all(True) == ["b"]  # a was muted already
    assert room.set_muted("a", False) is False  # still muted by mute-all
    assert room.guests["a"].muted is False and room.muted("a")
    room.set_muted("a", True)
    assert room.set_mute_all(False) == ["b"]
    assert (room.muted("a"), room.muted("b")) == (True, False)
    # The own flag outlives a reconnect.
    room.remove_guest("a")
    room.add_guest(Guest("a", "A", joined_at=9.0))
    assert room.guests["a"].muted is True and room.muted("a")


def test_pointer_moves_are_rate_limited_and_dropped_when_muted() -> None:
    room = guest_room("a")
    assert room.move_pointer("a", 10, 20, True, now=0.0)
    assert room.guests["a"].pointer == {"x": 10, "y": 20}
    assert not room.move_pointer("a", 11, 20, True, now=0.01)  # faster than 40/s: held
    assert not room.move_pointer("a", 12, 21, True, now=0.015)  # the newest is held
    assert room.pointer_due_at("a") == 0.025
    assert not room.pointer_due("a", now=0.02)
    assert room.pointer_due("a", now=0.03)
    assert room.guests["a"].pointer == {"x": 12, "y": 21}  # the final position is not lost
    assert room.pointer_due_at("a") is None
    assert room.move_pointer("a", 0, 0, False, now=0.031)  # hiding always goes out
    assert room.guests["a"].pointer is None
    assert room.move_pointer("a", 12, 20, True, now=0.2)
    room.set_muted("a", True)
    assert not room.move_pointer("a", 13, 20, True, now=1.0)
    assert not room.click("a", now=1.0)
    room.set_muted("a", False)
    assert room.click("a", now=2.0) and not room.click("a", now=2.05)
    assert not room.move_pointer("nobody", 1, 1, True, now=3.0)


def test_a_guest_leaving_leaves_no_per_guest_pointer_state() -> None:
    room = guest_room("a")
    room.move_pointer("a", 1, 1, True, now=0.0)
    room.move_pointer("a", 2, 2, True, now=0.001)  # held
    room.click("a", now=0.0)
    room.remove_guest("a")
    assert room.pointer_due_at("a") is None
    room.add_guest(Guest("a", "A", joined_at=2.0))
    assert room.click("a", now=0.01)  # no rate memory from before
    assert not room.is_removed("a")
    room.mark_removed("a")
    assert room.is_removed("a")


def test_a_held_move_is_dropped_when_the_guest_is_muted() -> None:
    room = guest_room("a")
    assert room.move_pointer("a", 1, 1, True, now=0.0)
    assert not room.move_pointer("a", 2, 2, True, now=0.01)  # held
    room.set_muted("a", True)
    assert not room.move_pointer("a", 3, 3, True, now=0.011)  # muted: the held one goes
    assert room.pointer_due_at("a") is None
    room.set_muted("a", False)
    assert not room.pointer_due("a", now=1.0)
    assert room.guests["a"].pointer == {"x": 1, "y": 1}


def test_hiding_a_muted_guests_pointer() -> None:
    room = guest_room("a", "b")
    room.move_pointer("a", 5, 6, True, now=0.0)
    hidden = room.hide_pointer("a")
    assert hidden is not None and hidden.pointer == {"x": 5, "y": 6}
    assert room.guests["a"].pointer is None
    assert room.hide_pointer("a") is None  # nothing to hide now
    assert room.hide_pointer("b") is None and room.hide_pointer("nobody") is None


def test_the_host_side_setters() -> None:
    room = Room("s1", started_at=1.0, waiting=True)
    room.start_page("p1")
    room.host_accepted(50.0)
    room.set_public_link(False)
    room.public_link_made("https://x/join/t", 99.0)
    assert (room.page_id, room.started_at, room.waiting) == ("p1", 50.0, False)
    assert (room.public_enabled, room.public_url, room.public_expires) == (
        False,
        "https://x/join/t",
        99.0,
    )
