"""Running coroutines from synchronous tests: on a loop of their own, waiting for
conditions, never for time."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["run_coroutine", "run_on_own_loop", "until"]

T = TypeVar("T")


def run_coroutine(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` to its end on a fresh event loop in its own thread (Playwright's sync
    API keeps a loop running in the main thread once browser tests have started); return
    its result or re-raise its error."""
    done: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            done.append(asyncio.run(work))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return done[0]


def run_on_own_loop(body: Callable[[], Awaitable[None]], timeout: float = 20.0) -> None:
    """Run the test body ``body`` with :func:`run_coroutine`, bounded by ``timeout``."""

    async def bounded() -> None:
        await asyncio.wait_for(body(), timeout)

    run_coroutine(bounded())


async def until(check: Callable[[], bool]) -> None:
    """Let the loop run other tasks until ``check()`` holds (the caller's timeout bounds it)."""
    while not check():
        await asyncio.sleep(0)
