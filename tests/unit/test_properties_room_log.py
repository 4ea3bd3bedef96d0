"""Properties of a live room's log (cwmn_web/server/rooms.py), through its public behaviour
only (what a host's frames yield, what a guest joining gets): whatever the host sends (holes,
duplicates, privacy, pointers, snapshots, more than the log holds), a guest joining now and
a guest who watched from the start build the same page (tests/helpers/mirror_model.py); a
guest coming back after missing frames catches up to it too; the caps hold. Profiles:
tests/unit/conftest.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import MirrorFrame
from cwmn_web.server.rooms import Guest, Room, RoomLog
from tests.helpers.mirror_model import MirrorModel

MAX_FRAMES, MAX_BYTES = 6, 1_500

IDS = st.integers(2, 9)
WORDS = st.text("abc <>&", max_size=30)
SNAPSHOT = st.builds(
    lambda texts: {
        "nodes": [
            [1, 0, 1, "html", []],
            *[[2 + i, 1, 3, text] for i, text in enumerate(texts)],
        ]
    },
    st.lists(WORDS, max_size=4),
)
MUTATIONS = st.fixed_dictionaries(
    {
        "removes": st.lists(IDS, max_size=2),
        "adds": st.lists(st.tuples(IDS, st.just(1), st.just(3), WORDS).map(list), max_size=3),
        "order": st.lists(st.tuples(st.just(1), st.lists(IDS, max_size=4)).map(list), max_size=1),
        "attrs": st.lists(st.tuples(st.just(1), st.just("class"), WORDS).map(list), max_size=1),
        "texts": st.lists(st.tuples(IDS, WORDS).map(list), max_size=2),
    }
)
#: What happens next, most often an in-order change: a host's frame (seq +1, a hole of +2,
#: or a repeat), privacy on/off, or the rover guest dropping off and coming back.
KINDS = ["mutations"] * 8 + ["snapshot", "hole", "repeat", "pointer", "privacy"] + ["away"] * 3


@st.composite
def steps(draw: st.DrawFn) -> tuple[str, Any, int]:
    kind = draw(st.sampled_from(KINDS))
    if kind == "snapshot":
        return ("snapshot", draw(SNAPSHOT), draw(st.sampled_from([1, 2])))
    if kind in ("mutations", "hole", "repeat"):
        return ("mutations", draw(MUTATIONS), {"mutations": 1, "hole": 2, "repeat": 0}[kind])
    if kind == "pointer":
        return ("pointer", {"x": 1, "y": 2}, 1)
    return (kind, draw(st.booleans()), 0)  # privacy on or off; the rover toggles


@dataclass
class Viewer:
    """A guest's page: the frames it received, applied in order."""

    model: MirrorModel = field(default_factory=MirrorModel)
    last_seq: int = 0

    def receive(self, text: str) -> None:
        frame = codec.decode(text)
        assert isinstance(frame, MirrorFrame)
        self.model.apply(frame.kind, frame.data)
        self.last_seq = frame.seq


def page(viewer: Viewer) -> Any:
    return viewer.model.doc.describe()


@given(SNAPSHOT, st.lists(steps(), min_size=5, max_size=40))
def test_a_joining_guest_gets_the_page_of_a_guest_who_saw_every_frame(
    first: dict[str, Any], script: list[tuple[str, Any, int]]
) -> None:
    room = Room("s1", log=RoomLog(max_frames=MAX_FRAMES, max_bytes=MAX_BYTES))
    room.add_guest(Guest("watcher", "Watcher", joined_at=0))
    room.add_guest(Guest("rover", "Rover", joined_at=0))
    watcher, rover, rover_away = Viewer(), Viewer(), False
    assert room.backlog("watcher", 0) == room.backlog("rover", 0) == []  # they join first
    seq = 0
    for kind, data, step in [("snapshot", first, 1), *script]:
        if kind == "privacy":
            room.set_privacy(data)
            continue
        if kind == "away":  # the rover drops off, or comes back for what it missed
            if rover_away:
                for text in room.backlog("rover", rover.last_seq):
                    rover.receive(text)
            rover_away = not rover_away
            continue
        seq += step
        result = room.receive_frame(MirrorFrame(seq=max(seq, 1), kind=kind, data=data))
        if result.relay is not None:
            watcher.receive(result.relay)
            if not rover_away:
                rover.receive(result.relay)
        assert len(room.log) <= MAX_FRAMES
        backlog = room.backlog(f"new-{seq}", 0)
        assert sum(len(text.encode()) for text in backlog) <= MAX_BYTES + len(room.pointer_text)
        if room.privacy or not len(room.log):
            assert room.privacy or backlog in ([], [room.pointer_text])
            continue  # nothing to show (the host is asked for a snapshot)
        newcomer = Viewer()
        for text in backlog:
            newcomer.receive(text)
        assert page(newcomer) == page(watcher)
        if not rover_away:
            assert page(rover) == page(watcher)
