"""Fixtures every test folder may use: the throwaway PostgreSQL and Redis servers that
``make test`` (pytest) starts on first use and stops at the end
(:mod:`cwmn_web.testing.services`)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cwmn_web.testing.cluster import Cluster, start_cluster
from cwmn_web.testing.services import postgres_server, redis_server

StartCluster = Callable[..., Cluster]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL's URL (``CWMN_TEST_POSTGRES_URL``, or a fresh server)."""
    given = os.environ.get("CWMN_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis's URL (``CWMN_TEST_REDIS_URL``, or a fresh server)."""
    given = os.environ.get("CWMN_TEST_REDIS_URL")
    if given:
        yield given
        return
    with redis_server() as url:
        yield url


@pytest.fixture
def cluster_db(postgres_url: str) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database (dropped after the test)."""
    name = f"t_{secrets.token_hex(6)}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as db:
        db.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as db:
            db.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def cluster_redis(redis_url: str) -> str:
    """The session's Redis, emptied."""
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    client.close()
    return redis_url


@pytest.fixture
def cluster_of(tmp_path: Path, cluster_db: str, cluster_redis: str) -> Iterator[StartCluster]:
    """``cluster_of(n, HOST_GRACE_SECONDS="2")``: ``n`` real ``cwmn-web serve`` processes on
    a fresh database and Redis behind a round-robin balancer
    (:func:`cwmn_web.testing.cluster.start_cluster`), stopped after the test."""
    with ExitStack() as stack:

        def start(n: int, workers: int = 1, **settings: str) -> Cluster:
            return start_cluster(stack, tmp_path, cluster_db, cluster_redis, n, workers, **settings)

        yield start
