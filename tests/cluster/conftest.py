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
