"""Fixtures every test folder may use: the throwaway PostgreSQL and Redis servers that
``make test`` (pytest) starts on first use and stops at the end
(:mod:`cwmn_web.testing.services`)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from cwmn_web.testing.services import postgres_server, redis_server


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
