"""Unit tests' fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.live_page import close_pages


@pytest.fixture(autouse=True)
def _close_live_pages() -> Iterator[None]:
    """The in-memory servers a test made (tests/helpers/live_page.py) are shut down after it."""
    yield
    close_pages()
