"""Session limits against concurrent starts: the relay counts a session in its quotas from
its admission on, before the store makes it, so interleaved starts cannot all pass the
check (issue 15); the core says when a room stops counting (issue 16: the quotas may be
every process's)."""

from __future__ import annotations

import asyncio
from typing import Any

from cwmn_web.errors import ErrorCode, RateLimited
from cwmn_web.protocol.messages import AcceptHostInvite, Hello, StartSession
from cwmn_web.server.config import Settings
from cwmn_web.server.db import EndReason, SessionRecord, Store
from cwmn_web.server.live.host import HostCore
from cwmn_web.server.live.limits import client_sessions, site_sessions
from cwmn_web.server.relay import Relay
from tests.helpers.aio import run_coroutine

NOW = 1_000_000.0
ATTACKER = "203.0.113.9"


def relay(**limits: Any) -> Relay:
    return Relay(Settings(redis_url="", **limits), Store("sqlite://"))


def greeted(edge: Relay, client: str = ATTACKER) -> HostCore:
    core = HostCore(edge.core, edge.core.connect(), site_id=1, client=client)
    core.receive(Hello(ref=1), NOW)
    return core


def admit(
    edge: Relay, cores: list[HostCore], message: StartSession | AcceptHostInvite
) -> list[HostCore]:
    """Every core asks at once (as concurrent sockets would): those the quotas admitted."""

    async def ask(core: HostCore) -> HostCore | None:
        work = core.receive(message, NOW).work
        assert work is not None
        try:
            await edge.admit_session(core, work)
        except RateLimited as refused:
            assert refused.code == ErrorCode.RATE_LIMITED
            assert "CWMN_MAX_SESSIONS_PER_" in refused.message
            return None
        return core

    async def all_at_once() -> list[HostCore | None]:
        return await asyncio.gather(*(ask(core) for core in cores))

    return [core for core in run_coroutine(all_at_once()) if core is not None]


def counts(edge: Relay, client: str = ATTACKER) -> tuple[int, int]:
    """What the site and the client address hold (the core's recounts applied)."""
    edge.recount()

    async def read() -> tuple[int, int]:
        quotas = edge.quotas
        return await quotas.count(site_sessions(1)), await quotas.count(client_sessions(client))

    return run_coroutine(read())


def record(n: int) -> SessionRecord:
    return SessionRecord(f"s{n}", 1, "x", "", False, created_at=NOW, ended_at=None)


def test_interleaved_starts_from_one_address_get_at_most_the_limit() -> None:
    edge = relay(max_sessions_per_client=2)
    admitted = admit(edge, [greeted(edge) for _ in range(6)], StartSession(ref=2))
    assert len(admitted) == 2
    assert counts(edge) == (2, 2)  # refused starts gave back what they took of the site
    for n, core in enumerate(admitted):  # the store made them: their rooms take the slots
        core.started(StartSession(ref=2), record(n), {}, NOW)
    assert counts(edge) == (2, 2)


def test_a_site_cannot_be_overrun_by_interleaved_starts_from_many_addresses() -> None:
    edge = relay(max_sessions_per_site=3)
    cores = [greeted(edge, f"198.51.100.{n}") for n in range(8)]
    assert len(admit(edge, cores, StartSession(ref=2))) == 3


def test_a_failed_start_or_a_gone_connection_gives_its_slot_back() -> None:
    edge = relay(max_sessions_per_client=1)
    first = greeted(edge)
    assert admit(edge, [first], StartSession(ref=2)) == [first]
    second = greeted(edge)
    assert admit(edge, [second], StartSession(ref=2)) == []  # refused: one held
    first.release_slot()  # its store work failed
    assert admit(edge, [second], StartSession(ref=3)) == [second]
    second.gone(None, NOW)  # its socket closed while the store worked
    third = greeted(edge)
    assert admit(edge, [third], AcceptHostInvite(ref=2, token="t")) == [third]
    assert counts(edge) == (1, 1)


def test_an_accepted_invitation_counts_for_the_accepting_address() -> None:
    edge = relay(max_sessions_per_client=1)
    waiting = edge.core.room_for_guest(record(1), NOW)  # the inviter's guests wait in it
    assert waiting is not None and counts(edge) == (1, 0)
    core = greeted(edge)
    assert admit(edge, [core], AcceptHostInvite(ref=2, token="t")) == [core]
    core.accepted(AcceptHostInvite(ref=2, token="t"), record(1), {}, NOW)
    assert counts(edge) == (1, 1)
    other = greeted(edge)
    assert admit(edge, [other], StartSession(ref=2)) == []  # its one session is held


def test_a_room_that_ends_counts_no_more() -> None:
    edge = relay(max_sessions_per_client=1)
    core = greeted(edge)
    assert admit(edge, [core], StartSession(ref=2)) == [core]
    core.started(StartSession(ref=2), record(1), {}, NOW)
    assert core.live is not None
    edge.core.end(core.live, EndReason.ENDED, tell_host=False)
    assert counts(edge) == (0, 0)
