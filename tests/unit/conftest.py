"""Unit tests' fixtures, and the Hypothesis profiles of the property tests
(tests/unit/test_properties_*.py): ``dev`` (the default: random, ~150 examples a test, no
deadline on 2 shared cores) and ``ci`` (derandomized: the same examples every run). Pick
one with ``HYPOTHESIS_PROFILE=ci``."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from cwmn_web.server.db import Store
from tests.helpers.live_page import close_pages

_SLOW = [HealthCheck.too_slow]
settings.register_profile(
    "dev", max_examples=150, deadline=None, database=None, suppress_health_check=_SLOW
)
settings.register_profile(
    "ci",
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=_SLOW,
    derandomize=True,
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(autouse=True)
def _close_live_pages() -> Iterator[None]:
    """The in-memory servers a test made (tests/helpers/live_page.py) are shut down after it."""
    yield
    close_pages()


@pytest.fixture
def store() -> Iterator[Store]:
    store = Store("sqlite://")
    store.create()
    yield store
    store.engine.dispose()
