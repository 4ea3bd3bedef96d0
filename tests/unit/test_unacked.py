"""cwmn_web.client.unacked: numbering, acks, re-sending, and the memory bound."""

from __future__ import annotations

from cwmn_web.client.unacked import UnackedFrames


def test_frames_are_numbered_and_kept_until_acked() -> None:
    box = UnackedFrames()
    seqs = [box.add("scroll", {"y": i}).seq for i in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    box.ack(3)
    assert box.pending == 2
    assert [f.seq for f in box.unacked(3)] == [4, 5]
    box.ack(99)  # never past what was sent
    assert box.acked == 5 and box.pending == 0


def test_unacked_after_a_reconnect_drops_what_the_server_has() -> None:
    box = UnackedFrames()
    for i in range(4):
        box.add("scroll", {"y": i})
    assert [f.seq for f in box.unacked(2)] == [3, 4]


def test_overflow_asks_for_a_snapshot() -> None:
    box = UnackedFrames(max_frames=3)
    for i in range(4):
        box.add("scroll", {"y": i})
    assert box.needs_snapshot and box.pending == 0
    box.add("snapshot", {"nodes": []})
    assert not box.needs_snapshot and box.pending == 1
