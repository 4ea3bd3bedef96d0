"""Join codes in the store (SQLite and PostgreSQL), on a fake clock: unique among live
codes, kept only as an HMAC, expiring, used once, dead with their session; and the limits
on wrong codes (per client, across all clients, concurrent guesses counted exactly)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from cwmn_web.errors import CwmnError, ErrorCode
from cwmn_web.server.db import EndReason, Store, locks
from cwmn_web.server.db import join_codes as join_codes_db
from cwmn_web.server.db.schema import join_code_failures, join_codes
from cwmn_web.server.join_codes import (
    AttemptLimits,
    TooManyAttempts,
    code_hash,
    draw_code,
    normalise,
)

KEY = b"k" * 32
T0 = 1_000_000.0
LIMITS = AttemptLimits(per_client=5, window=600.0, per_minute=30)


@pytest.fixture
def store(any_store: Store) -> Store:
    return any_store


def session(store: Store) -> str:
    return store.create_session(1, "Ann", "ann@example.com", False, "o", "p", now=T0).id


def code_for(store: Store, session_id: str, now: float = T0, ttl: float = 600.0) -> str:
    return store.create_join_code(session_id, KEY, now + ttl, 10, now=now).code


def redeem(store: Store, code: str, client: str = "1.1.1.1", now: float = T0 + 1) -> str:
    """The new link's token (raises the refusal)."""
    return store.redeem_join_code(code, KEY, client, LIMITS, 3600.0, now=now).token


def refused(store: Store, code: str, client: str = "1.1.1.1", now: float = T0 + 1) -> CwmnError:
    with pytest.raises(CwmnError) as info:
        redeem(store, code, client, now)
    return info.value


def test_codes_are_eight_digits_typed_any_way() -> None:
    drawn = {draw_code() for _ in range(200)}
    assert all(len(c) == 8 and c.isdigit() for c in drawn) and len(drawn) > 190
    assert normalise(" 1234-5678 ") == normalise("1234 5678") == normalise("12.34.56.78")
    assert normalise("1234 5678") == "12345678"
    for bad in ("1234567", "123456789", "1234567a", "١٢٣٤٥٦٧٨", ""):
        assert normalise(bad) is None, bad


def test_a_code_redeems_once_into_a_private_link(store: Store) -> None:
    sid = session(store)
    code = code_for(store, sid)
    token = redeem(store, code)
    link = store.link_by_token(token)
    assert link is not None and (link.session_id, link.kind, link.device_hash) == (
        sid,
        "private",
        None,  # bound by the first device that joins, as every private link
    )
    assert link.expires_at == T0 + 1 + 3600.0
    assert refused(store, code, client="2.2.2.2").code is ErrorCode.JOIN_CODE_INVALID


def test_the_database_keeps_only_the_codes_hmac(store: Store) -> None:
    code = code_for(store, session(store))
    with store.engine.connect() as db:
        (kept,) = list[str](db.execute(select(join_codes.c.code_hash)).scalars())
    assert kept == code_hash(KEY, code) and code not in kept
    assert kept != code_hash(b"x" * 32, code)  # another server's key: another value


def test_codes_are_unique_among_live_ones(store: Store) -> None:
    """A drawn code that is live already is drawn again; an expired one is free again."""
    sid = session(store)
    draws = iter(["11111111", "11111111", "11111111", "22222222", "11111111"])

    def make(now: float) -> str:
        return store.create_join_code(
            sid, KEY, now + 600, 10, now=now, draw=lambda: next(draws)
        ).code

    assert make(T0) == "11111111"
    assert make(T0 + 1) == "22222222"  # 11111111 taken: drawn twice more
    assert make(T0 + 600) == "11111111"  # the first expired: deleted, free again


def test_a_code_expires(store: Store) -> None:
    sid = session(store)
    late, timely = code_for(store, sid), code_for(store, sid)
    assert refused(store, late, now=T0 + 600).code is ErrorCode.JOIN_CODE_INVALID
    assert redeem(store, timely, now=T0 + 599.9)


def test_the_sessions_end_invalidates_its_codes(store: Store) -> None:
    sid = session(store)
    code = code_for(store, sid)
    store.end_session(sid, EndReason.ENDED, now=T0 + 1)
    assert refused(store, code, now=T0 + 2).code is ErrorCode.JOIN_CODE_INVALID


def test_a_session_holds_a_bounded_number_of_unused_codes(store: Store) -> None:
    sid = session(store)
    codes = [store.create_join_code(sid, KEY, T0 + 600, 3, now=T0).code for _ in range(3)]
    with pytest.raises(CwmnError) as info:
        store.create_join_code(sid, KEY, T0 + 600, 3, now=T0)
    assert info.value.code is ErrorCode.RATE_LIMITED
    redeem(store, codes[0])
    assert store.create_join_code(sid, KEY, T0 + 600, 3, now=T0 + 2).code  # a used one frees


def wrong(code: str) -> str:
    """Another code than ``code``."""
    return f"{(int(code) + 1) % 10**8:08d}"


def test_the_sixth_attempt_of_a_client_is_refused_even_with_the_right_code(store: Store) -> None:
    code = code_for(store, session(store))
    for n in range(5):
        assert refused(store, wrong(code), now=T0 + n).code is ErrorCode.JOIN_CODE_INVALID
    with pytest.raises(TooManyAttempts) as info:
        redeem(store, code, now=T0 + 10)
    assert info.value.code is ErrorCode.RATE_LIMITED
    assert info.value.retry_after == pytest.approx(590.0)
    assert "try again in 10 minutes" in info.value.message
    assert redeem(store, code, client="2.2.2.2", now=T0 + 11)  # another client: fine


def test_a_clients_wrong_codes_stop_counting_after_the_window(store: Store) -> None:
    sid = session(store)
    code = code_for(store, sid, ttl=3600)
    for n in range(5):
        refused(store, wrong(code), now=T0 + n)
    assert isinstance(refused(store, code, now=T0 + 599), TooManyAttempts)
    assert redeem(store, code, now=T0 + 601)  # the first wrong one is out of the window


def test_wrong_codes_from_all_clients_have_a_ceiling(store: Store) -> None:
    """Guessing spread over many addresses: 30 wrong codes in a minute, from 30 clients,
    and the next attempt from anyone is refused until the minute has passed."""
    code = code_for(store, session(store))
    for n in range(30):
        refused(store, wrong(code), client=f"10.0.0.{n}", now=T0 + n)
    refusal = refused(store, code, client="10.0.1.1", now=T0 + 40)
    assert isinstance(refusal, TooManyAttempts)
    assert refusal.retry_after == pytest.approx(20.0)  # the first of the 30 leaves at T0+60
    assert "on this server" in refusal.message
    assert redeem(store, code, client="10.0.1.1", now=T0 + 61)


def test_concurrent_guesses_of_one_client_are_counted_exactly(store: Store) -> None:
    """Twenty guesses at once from one client: five are judged (and counted), fifteen
    refused; the limits and the count are one step in every process."""
    code = code_for(store, session(store))

    def guess(_: int) -> ErrorCode:
        return refused(store, wrong(code), client="6.6.6.6", now=T0 + 1).code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(guess, range(20)))
    assert codes.count(ErrorCode.JOIN_CODE_INVALID) == 5
    assert codes.count(ErrorCode.RATE_LIMITED) == 15
    with store.engine.connect() as db:
        kept: list[str] = list(db.execute(select(join_code_failures.c.client)).scalars())
    assert kept == ["6.6.6.6"] * 5


def test_old_wrong_codes_are_deleted(store: Store) -> None:
    code = code_for(store, session(store), ttl=7200)
    refused(store, wrong(code), client="a", now=T0)
    refused(store, wrong(code), client="b", now=T0 + 700)  # the first is past every window
    with store.engine.connect() as db:
        kept: list[str] = list(db.execute(select(join_code_failures.c.client)).scalars())
    assert kept == ["b"]


def test_a_client_over_its_limits_is_refused_without_the_lock(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flood of attempts from a client already refused does not queue on the lock every
    redemption takes: the limits are read first; the locked step checks them again."""
    sid = session(store)
    code = code_for(store, sid)
    for n in range(1, LIMITS.per_client + 1):
        wrong = f"{(int(code) + n) % 10**8:08d}"
        assert refused(store, wrong).code is ErrorCode.JOIN_CODE_INVALID
    locked: list[str] = []

    def exclusive(engine: Engine, name: str) -> AbstractContextManager[Connection]:
        locked.append(name)
        return locks.exclusive(engine, name)

    monkeypatch.setattr(join_codes_db, "exclusive", exclusive)
    assert isinstance(refused(store, code), TooManyAttempts)
    assert locked == []
    assert redeem(store, code, client="2.2.2.2")  # another client: one locked step
    assert locked == [join_codes_db.REDEEM_LOCK]
