"""The cluster tests' sockets: every one a test opened is closed after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .clients import OPENED


@pytest.fixture(autouse=True)
def _close_sockets() -> Iterator[None]:
    yield
    while OPENED:
        OPENED.pop().close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A fault between processes must fail its test, never hang the suite."""
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(180))
