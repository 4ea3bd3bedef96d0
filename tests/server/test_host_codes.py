"""Wrong codes for an invitation to host are counted in its row, atomically: the store's
accept step against threads racing it (what sockets of several processes do)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

from cwmn_web.errors import CwmnError
from cwmn_web.server.db import Store
from cwmn_web.server.db.host_invites import CodeCheck, HostInviteRecord
from cwmn_web.server.host_codes import MAX_CODE_ATTEMPTS

ORIGIN, URL = "http://localhost:1234", "http://localhost:1234/cart"
pytestmark = pytest.mark.timeout(30)
T = TypeVar("T")


def invitation(store: Store) -> HostInviteRecord:
    (site,) = store.list_sites()
    record, _ = store.create_host_invite(
        site.id,
        origin=ORIGIN,
        url=URL,
        inviter=("Eve", "eve@example.com"),
        invitee=("Eve", "eve@example.com"),
        message="",
        ttl_seconds=3600,
        join_ttl_seconds=3600,
    )
    return record


def attempt(store: Store, record: HostInviteRecord, right: bool) -> CwmnError | None:
    """One try (right or wrong code); its refusal, or None if it hosted."""
    return attempt_with(store, record, CodeCheck(lambda: right, MAX_CODE_ATTEMPTS))


def attempt_with(store: Store, record: HostInviteRecord, check: CodeCheck) -> CwmnError | None:
    try:
        store.accept_host_invite(record.token, record.site_id, ORIGIN, URL, check)
    except CwmnError as exc:
        return exc
    return None


def raced(
    store: Store, record: HostInviteRecord, right: bool, meanwhile: Callable[[], T]
) -> tuple[CwmnError | None, T]:
    """A try whose code (right or not) is compared only once ``meanwhile`` has run: other
    sockets acting between its read of the invitation and its comparison. Its refusal (None
    if it hosted), and what ``meanwhile`` returned."""
    comparing, done = threading.Event(), threading.Event()

    def compare() -> bool:
        comparing.set()
        assert done.wait(10)
        return right

    with ThreadPoolExecutor(1) as pool:
        racing = pool.submit(attempt_with, store, record, CodeCheck(compare, MAX_CODE_ATTEMPTS))
        assert comparing.wait(10)
        result = meanwhile()
        done.set()
        return racing.result(10), result


@pytest.fixture
def store(any_store: Store) -> Store:
    """The invitation's code checks, on SQLite and on PostgreSQL."""
    return any_store


def test_a_right_code_racing_the_last_wrong_ones_is_refused(store: Store) -> None:
    """The right code is being compared while other sockets burn the invitation: it is
    refused, not accepted, and the invitation stays cancelled."""
    record = invitation(store)
    refused, refusals = raced(
        store,
        record,
        right=True,
        meanwhile=lambda: [attempt(store, record, right=False) for _ in range(MAX_CODE_ATTEMPTS)],
    )
    assert [e.code if e else None for e in refusals][-1] == "link_invalid"
    assert refused is not None
    assert refused.code == "link_invalid" and "too many wrong codes" in refused.message
    assert store.get_session(record.session_id).ended_at is not None  # type: ignore[union-attr]


def test_a_last_wrong_code_racing_the_right_one_leaves_the_accepted_session_alone(
    store: Store,
) -> None:
    """Four wrong codes, then a fifth is being compared while the invitee's right code is
    accepted: the fifth is refused as used, and the session the invitee started goes on."""
    record = invitation(store)
    for _ in range(MAX_CODE_ATTEMPTS - 1):
        assert attempt(store, record, right=False) is not None
    refused, hosted = raced(
        store, record, right=False, meanwhile=lambda: attempt(store, record, right=True)
    )
    assert hosted is None  # the invitee hosts
    assert refused is not None and refused.code == "link_used"
    session = store.get_session(record.session_id)
    assert session is not None and session.ended_at is None


def test_wrong_codes_from_many_threads_are_each_counted_once(store: Store) -> None:
    record = invitation(store)
    with ThreadPoolExecutor(8) as pool:
        refusals = list(pool.map(lambda _: attempt(store, record, right=False), range(24)))
    codes = sorted(e.code if e else "hosted" for e in refusals)
    assert codes == ["invite_code_invalid"] * (MAX_CODE_ATTEMPTS - 1) + ["link_invalid"] * (
        24 - MAX_CODE_ATTEMPTS + 1
    )
    assert attempt(store, record, right=True) is not None  # burned for good
