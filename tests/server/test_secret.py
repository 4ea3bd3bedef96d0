"""cwmn_web.server.secret: the server's key, and video tokens stored hashed."""

from __future__ import annotations

import errno
import itertools
import os
import secrets
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import update

from cwmn_web.server.db import Store, token_hash
from cwmn_web.server.db.schema import replays
from cwmn_web.server.secret import MIN_SECRET, SECRET_FILE, derive_token, load_secret


def test_a_key_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    key = load_secret("", tmp_path / "data")
    path = tmp_path / "data" / "secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) >= 32 and load_secret("", tmp_path / "data") == key  # kept
    assert load_secret("x" * 32, tmp_path / "data") == b"x" * 32  # CWMN_SECRET wins


def test_keys_that_protect_nothing_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 32"):
        load_secret("short", tmp_path)
    load_secret("", tmp_path)
    (tmp_path / "secret").chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        load_secret("", tmp_path)


def test_tokens_depend_on_the_key_the_purpose_and_the_value() -> None:
    token = derive_token(b"k" * 32, "replay-video", "r1")
    assert len(token) == 43 and token.replace("-", "").replace("_", "").isalnum()
    assert token != derive_token(b"j" * 32, "replay-video", "r1")
    assert token != derive_token(b"k" * 32, "other", "r1")
    assert token != derive_token(b"k" * 32, "replay-video", "r2")


def test_tokens_stored_in_plain_text_before_are_hashed_at_start(tmp_path: Path) -> None:
    """An older database kept video tokens in plain text: the next start hashes them (the
    old links keep working, the database no longer opens them)."""
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    store.create()
    record = store.create_session(1, "Ann", "ann@example.com", True, "http://localhost", "")
    store.replays.create(
        record.id,
        1,
        "Ann",
        "ann@example.com",
        max_seconds=60,
        base_url="",
        retention_seconds=60,
        video_token_hash="0" * 64,
    )
    plain = "p" * 32
    with store.engine.begin() as db:
        db.execute(update(replays).values(video_token=plain, status="complete"))
    store.create()
    row = store.replays.get(record.id)
    assert row is not None and row.video_token == token_hash(plain)
    assert store.replays.by_video_token(plain) is not None
    assert store.replays.by_video_token(token_hash(plain)) is None


def test_processes_starting_at_once_share_one_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``make run`` starts the server and the render worker at once: while the first is
    still making the key, the others never see a half-made file; all get the same key."""
    data, real = tmp_path / "data", secrets.token_hex
    making, made = threading.Event(), threading.Event()
    calls = itertools.count()

    def first_is_slow(n: int) -> str:
        if next(calls) == 0:
            making.set()
            assert made.wait(10)
        return real(n)

    monkeypatch.setattr(secrets, "token_hex", first_is_slow)  # the module the key uses
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(load_secret, "", data)
        assert making.wait(10)
        others = [f.result(10) for f in [pool.submit(load_secret, "", data) for _ in range(6)]]
        made.set()
        keys = {first.result(10), *others}
    assert len(keys) == 1 and len(keys.pop()) >= 32
    assert [p.name for p in data.iterdir()] == ["secret"]  # no temporary file left


def test_many_threads_making_the_key_at_once_get_the_same_one(tmp_path: Path) -> None:
    start = threading.Barrier(16)

    def load() -> bytes:
        start.wait(10)
        return load_secret("", tmp_path / "data")

    with ThreadPoolExecutor(16) as pool:
        keys = set(pool.map(lambda _: load(), range(16)))
    assert len(keys) == 1
    assert stat.S_IMODE((tmp_path / "data" / "secret").stat().st_mode) == 0o600


def test_a_file_system_without_links_still_gets_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(source: object, target: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    key = load_secret("", tmp_path)
    assert key == load_secret("", tmp_path) and len(key) >= MIN_SECRET
    assert stat.S_IMODE((tmp_path / SECRET_FILE).stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_FILE]  # no temporary left
