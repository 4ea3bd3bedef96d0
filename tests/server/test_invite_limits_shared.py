"""Invite limits hold across processes: threads that each have their own store and their
own ``Invites`` (as separate server processes would) send invites at the same moment past a
session's limit; exactly the limit is sent, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cwmn_web.errors import RateLimited
from cwmn_web.protocol.messages import InviteGuest
from cwmn_web.server.config import Settings
from cwmn_web.server.db import Store
from cwmn_web.server.invites.service import Inviter, Invites, make_transports

LIMIT, SENDERS = 4, 10


def _settings(tmp_path: Path, url: str) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=url,
        secret="s" * 40,
        smtp_host="",
        twilio_account_sid="",
        twilio_auth_token="",
        twilio_from="",
        invites_per_session=LIMIT,
    )


def _send(settings: Settings, session_id: str, together: threading.Barrier, n: int) -> str:
    """One process's invite: its own store and ``Invites``; ``sent`` or the error's code."""
    store = Store(settings.db_url)
    try:
        invites = Invites(settings, store, *make_transports(settings, store))
        inviter = Inviter.of(1, session_id, "Ann", {}, "http://testserver")
        message = InviteGuest(ref=1, guest_name=f"G{n}", guest_email=f"g{n}@example.com")
        together.wait(10)
        try:
            asyncio.run(invites.send(inviter, message))
        except RateLimited as refused:
            assert "this session has sent 4 invites" in refused.message
            return str(refused.code)
        return "sent"
    finally:
        store.engine.dispose()


def test_concurrent_invites_from_many_processes_send_exactly_the_limit(
    any_store: Store, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, any_store.engine.url.render_as_string(hide_password=False))
    session = any_store.create_session(1, "Ann", "a@example.com", False, "o", "p")
    together = threading.Barrier(SENDERS)
    with ThreadPoolExecutor(SENDERS) as pool:
        runs = [pool.submit(_send, settings, session.id, together, n) for n in range(SENDERS)]
        outcomes = sorted(r.result() for r in runs)
    assert outcomes == ["rate_limited"] * (SENDERS - LIMIT) + ["sent"] * LIMIT
    assert len(any_store.list_invites(session.id)) == LIMIT
    assert len(any_store.kept_messages()) == LIMIT  # the outbox got exactly those
