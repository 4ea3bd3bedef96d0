"""The server's own purge of the asset store: every ``CWMN_ASSET_PURGE_SECONDS`` it deletes
the mappings of sessions that are over and the content no mapping refers to, so a
deployment that runs ``cwmn-web serve`` alone (no render worker) does not keep them."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from ..config import Settings
from ..db import Store

__all__ = ["purge_assets", "purge_periodically"]

log = logging.getLogger("cwmn_web.server.page_assets")


def purge_assets(settings: Settings, store: Store, now: float) -> tuple[int, int]:
    """One purge (as :func:`..replays.service.purge_expired` does for assets): how many
    mappings and stored files went."""
    mappings, blobs = store.page_assets.purge(now - settings.max_session_seconds)
    if mappings or blobs:
        log.info("purged %d page-asset mapping(s) and %d stored file(s)", mappings, blobs)
    return mappings, blobs


async def purge_periodically(
    settings: Settings, store: Store, clock: Callable[[], float] = time.time
) -> None:
    """Purge every ``settings.asset_purge_seconds`` (off the event loop), until cancelled;
    a purge that fails is logged and tried again next time."""
    every = settings.asset_purge_seconds
    while True:
        await asyncio.sleep(every)
        try:
            await run_in_threadpool(purge_assets, settings, store, clock())
        except Exception:
            log.exception("the page-asset purge failed; it is tried again in %s s", every)
