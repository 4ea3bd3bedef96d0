"""Session limits against concurrent starts: the core counts a session from its admission
on, before the store makes it, so interleaved starts cannot all pass the check (issue 15)."""

from __future__ import annotations

from cwmn_web.errors import ErrorCode
from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import (
    AcceptHostInvite,
    ErrorReply,
    Hello,
    Message,
    StartSession,
)
from cwmn_web.server.db import SessionRecord
from cwmn_web.server.live.host import HostCore
from cwmn_web.server.live.limits import Limits
from cwmn_web.server.live.outputs import Outputs, Send
from cwmn_web.server.live.registry import LiveRooms

NOW = 1_000_000.0
ATTACKER = "203.0.113.9"


def rooms(**limits: int) -> LiveRooms:
    return LiveRooms(3600, 30, Limits(**limits))


def greeted(live: LiveRooms, client: str = ATTACKER) -> HostCore:
    core = HostCore(live, live.connect(), site_id=1, client=client)
    core.receive(Hello(ref=1), NOW)
    return core


def replies(out: Outputs) -> list[Message]:
    return [codec.decode(item.text) for item in out if isinstance(item, Send)]


def record(n: int) -> SessionRecord:
    return SessionRecord(f"s{n}", 1, "x", "", False, created_at=NOW, ended_at=None)


def test_interleaved_starts_from_one_address_get_at_most_the_limit() -> None:
    live = rooms(sessions_per_client=2)
    cores = [greeted(live) for _ in range(6)]
    # Every socket asks before any store work is done (as concurrent sockets would).
    admitted = [c for c in cores if (c.receive(StartSession(ref=2), NOW).work) is not None]
    assert len(admitted) == 2
    refused = [c for c in cores if c not in admitted]
    answer = replies(refused[0].receive(StartSession(ref=3), NOW))
    assert isinstance(answer[0], ErrorReply) and answer[0].code == ErrorCode.RATE_LIMITED
    assert "CWMN_MAX_SESSIONS_PER_CLIENT" in answer[0].message
    for n, core in enumerate(admitted):  # the store made them: their rooms take the slots
        core.started(StartSession(ref=2), record(n), {}, NOW)
    assert live.client_sessions[ATTACKER] == 2 and live.site_sessions[1] == 2


def test_a_site_cannot_be_overrun_by_interleaved_starts_from_many_addresses() -> None:
    live = rooms(sessions_per_site=3)
    cores = [greeted(live, f"198.51.100.{n}") for n in range(8)]
    admitted = [c for c in cores if c.receive(StartSession(ref=2), NOW).work is not None]
    assert len(admitted) == 3


def test_a_failed_start_or_a_gone_connection_gives_its_slot_back() -> None:
    live = rooms(sessions_per_client=1)
    first = greeted(live)
    assert first.receive(StartSession(ref=2), NOW).work is not None
    second = greeted(live)
    assert second.receive(StartSession(ref=2), NOW).work is None  # refused: one held
    first.release_slot()  # its store work failed
    assert second.receive(StartSession(ref=3), NOW).work is not None
    second.gone(None, NOW)  # its socket closed while the store worked
    third = greeted(live)
    assert third.receive(AcceptHostInvite(ref=2, token="t"), NOW).work is not None
    assert live.client_sessions[ATTACKER] == 1 and live.site_sessions[1] == 1


def test_an_accepted_invitation_counts_for_the_accepting_address() -> None:
    live = rooms(sessions_per_client=1)
    waiting = live.room_for_guest(record(1), NOW)  # the inviter's guests wait in it
    assert waiting is not None and live.site_sessions[1] == 1
    core = greeted(live)
    assert core.receive(AcceptHostInvite(ref=2, token="t"), NOW).work is not None
    core.accepted(AcceptHostInvite(ref=2, token="t"), record(1), {}, NOW)
    assert live.site_sessions[1] == 1 and live.client_sessions[ATTACKER] == 1
    other = greeted(live)
    assert other.receive(StartSession(ref=2), NOW).work is None  # its one session is held
