"""Running a coroutine test body: on its own loop, waiting for conditions, never for time."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

__all__ = ["run_on_own_loop", "until"]


def run_on_own_loop(body: Callable[[], Awaitable[None]], timeout: float = 20.0) -> None:
    """Run ``body`` on a fresh event loop in its own thread (Playwright's sync API keeps a
    loop running in the main thread once browser tests have started); re-raise its error."""
    errors: list[BaseException] = []

    async def bounded() -> None:
        await asyncio.wait_for(body(), timeout)

    def target() -> None:
        try:
            asyncio.run(bounded())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


async def until(check: Callable[[], bool]) -> None:
    """Let the loop run other tasks until ``check()`` holds (the caller's timeout bounds it)."""
    while not check():
        await asyncio.sleep(0)
