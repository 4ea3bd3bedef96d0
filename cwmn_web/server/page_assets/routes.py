"""The asset store's HTTP edge: the upload API (the host's worker) and ``GET /a/…`` (guests,
the render worker). Each route reads the request, asks :mod:`.core` and the store, and
writes the answer; no decision is made here. docs/FIDELITY.md has the contract."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ...errors import CwmnError, ErrorCode, RateLimited
from ..client_key import client_key
from ..config import Settings
from ..db import Store
from .core import (
    MAX_REPORT_BYTES,
    READ_HEADERS,
    AssetError,
    AssetLimits,
    Failure,
    Offer,
    check_upload,
    etag,
    failure_redirect,
    not_modified,
    parse_report,
    parse_upload,
    poll_interval,
    status_of,
    valid_key,
    wait_time,
)
from .tokens import READ, UPLOAD, token_session
from .waiters import WaitCaps, Waiters

__all__ = [
    "FIRST_POLL",
    "LONGEST_POLL",
    "MAX_UPLOADS",
    "MAX_UPLOADS_PER_CLIENT",
    "MAX_WAITING",
    "MAX_WAITING_PER_CLIENT",
    "MAX_WAITING_PER_SESSION",
    "PageAssetRoutes",
]

log = logging.getLogger("cwmn_web.server.page_assets")
#: How often a waiting read looks for an upload another process recorded: after 0.1 s,
#: then twice as long each time, at most every second (an upload to this process wakes it
#: at once).
FIRST_POLL: Final = 0.1
LONGEST_POLL: Final = 1.0
#: Reads waiting at once in one process; beyond, a read of a key not mapped yet answers
#: 404 at once (as after its wait), so waiting reads cannot take the database's time. Of
#: them, at most MAX_WAITING_PER_SESSION read one session's keys and
#: MAX_WAITING_PER_CLIENT come from one client (its key: ``server/client_key.py``), so one
#: client opening many reads of keys no one uploads does not leave other sessions no room.
MAX_WAITING: Final = 1024
MAX_WAITING_PER_SESSION: Final = 512
MAX_WAITING_PER_CLIENT: Final = 128
#: Uploads whose bytes are read, hashed and stored at once in one process (each holds up
#: to CWMN_MAX_ASSET_BYTES in memory); more wait their turn, within the request's deadline
#: (CWMN_HTTP_TIMEOUT: a body not read is a body not arriving).
MAX_UPLOADS: Final = 16
#: Of them, those one client (its key) may have at once: a client trickling bodies cannot
#: hold every slot; past it an upload is refused (rate_limited, 429: the host reports it
#: failed and guests are sent to the asset's URL). The host's worker sends 4 at a time.
MAX_UPLOADS_PER_CLIENT: Final = 4
_CORS: Final = {"Access-Control-Allow-Origin": "*"}
#: A failed key's redirect to its URL: sent without the store's URL as referrer, read from
#: any origin (fonts load in CORS mode), never cached (the host may store it yet).
_REDIRECT: Final = {
    **_CORS,
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
_PREFLIGHT: Final = {
    **_CORS,
    "Access-Control-Allow-Methods": "POST",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "86400",
}


def _not_found() -> AssetError:
    return AssetError(
        "no such asset store: the token is wrong or its session is over", ErrorCode.NOT_FOUND
    )


def _error(exc: Exception) -> Response:
    """The JSON error answer (CORS too, so the host's worker reads it); an error that is
    not a :class:`CwmnError` is logged and answered as ``server_error`` (500)."""
    if not isinstance(exc, CwmnError):
        log.error("page-asset upload failed", exc_info=exc)
        exc = CwmnError("the server failed to store the asset: try again later")
    return JSONResponse(exc.to_dict(), status_code=status_of(exc), headers=_CORS)


async def _body(request: Request, limit: int, too_large: Callable[[int], AssetError]) -> bytes:
    """The request's body, read no further than ``limit + 1`` bytes (a Content-Length over
    the limit is refused before any is read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(size)
        chunks.append(chunk)
    return b"".join(chunks)


class PageAssetRoutes:
    """The routes over the store, the server's key (tokens) and this process's waiters."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        key: bytes,
        clock: Callable[[], float] = time.monotonic,
        polls: tuple[float, float] = (FIRST_POLL, LONGEST_POLL),
        max_waiting: int = MAX_WAITING,
        max_uploads: int = MAX_UPLOADS,
    ) -> None:
        self.store, self.key, self.clock, self.polls = store, key, clock, polls
        self.max_waiting = max_waiting
        self.max_waiting_per_session = MAX_WAITING_PER_SESSION
        self.max_waiting_per_client = MAX_WAITING_PER_CLIENT
        self.ipv6_prefix = settings.client_ipv6_prefix
        self.uploads = asyncio.Semaphore(max_uploads)
        self.max_uploads_per_client = MAX_UPLOADS_PER_CLIENT
        #: Uploads each client key has in this process (reading or waiting for a slot).
        self.uploading: dict[str, int] = {}
        self.limits = AssetLimits.of(settings)
        self.waiters = Waiters()

    def routes(self) -> list[Route]:
        return [
            Route("/api/page-assets/{token}", self.report, methods=["POST"]),
            Route("/api/page-assets/{token}/{sha256}", self.upload, methods=["POST"]),
            Route("/api/page-assets/{token}", self.preflight, methods=["OPTIONS"]),
            Route("/api/page-assets/{token}/{sha256}", self.preflight, methods=["OPTIONS"]),
            Route("/a/{token}/{key}", self.read, methods=["GET"]),
        ]

    async def _site(self, token: str, purpose: str) -> tuple[str, int]:
        """The session a token names and its site; ``not_found`` if the token is forged
        or the session is over."""
        session_id = token_session(self.key, purpose, token)
        if session_id is None:
            raise _not_found()
        site_id = await run_in_threadpool(
            self.store.page_assets.session_site, session_id, purpose == UPLOAD
        )
        if site_id is None:
            raise _not_found()
        return session_id, site_id

    # -- the upload API -------------------------------------------------------------------
    async def preflight(self, request: Request) -> Response:
        return Response(status_code=204, headers=_PREFLIGHT)

    async def report(self, request: Request) -> Response:
        """An offer (``{"have": …}``) or a failure to fetch."""
        try:
            session_id, site_id = await self._site(request.path_params["token"], UPLOAD)
            body = await _body(request, MAX_REPORT_BYTES, _report_too_large)
            report = parse_report(body, self.limits)
            assets = self.store.page_assets
            if isinstance(report, Failure):
                recorded = await run_in_threadpool(assets.fail, session_id, report, self.limits)
                answer: dict[str, bool] = {"failed": recorded}
            else:
                have = await run_in_threadpool(
                    assets.offer, site_id, session_id, report, self.limits
                )
                answer = {"have": have}
        except Exception as exc:
            return _error(exc)
        if answer.get("have") is not False:  # mapped (content or failure): readers go on
            self.waiters.wake(session_id, report.key)
        return JSONResponse(answer, headers=_CORS)

    async def upload(self, request: Request) -> Response:
        """The bytes of an asset the site did not have."""
        try:
            session_id, site_id = await self._site(request.path_params["token"], UPLOAD)
            declared = request.headers.get("content-length", "")
            offer = parse_upload(
                request.path_params["sha256"],
                dict(request.query_params),
                int(declared) if declared.isdigit() else None,
                self.limits,
            )
            client = self._client(request)
            if self.uploading.get(client, 0) >= self.max_uploads_per_client:
                raise RateLimited(
                    f"this address is uploading {self.max_uploads_per_client} assets already: "
                    "send the next when one is done"
                )
            self.uploading[client] = self.uploading.get(client, 0) + 1
            try:
                async with self.uploads:  # memory: a bounded number of bodies at once
                    data = await _body(request, self.limits.max_bytes, self._too_large)
                    file_type = await run_in_threadpool(_checked, offer, data, self.limits)
                    await run_in_threadpool(
                        self.store.page_assets.store,
                        site_id,
                        session_id,
                        offer,
                        data,
                        file_type,
                        self.limits,
                    )
            finally:
                left = self.uploading.pop(client) - 1
                if left:
                    self.uploading[client] = left
        except Exception as exc:
            return _error(exc)
        self.waiters.wake(session_id, offer.key)
        return JSONResponse({"stored": True}, headers=_CORS)

    def _client(self, request: Request) -> str:
        """The request's client key (``server/client_key.py``), for the per-client caps."""
        return client_key(request.client.host if request.client else "", self.ipv6_prefix)

    def _caps(self) -> WaitCaps:
        return WaitCaps(self.max_waiting, self.max_waiting_per_session, self.max_waiting_per_client)

    def _too_large(self, size: int) -> AssetError:
        return AssetError(
            f"the asset has more than {self.limits.max_bytes} bytes (CWMN_MAX_ASSET_BYTES)",
            ErrorCode.ASSET_TOO_LARGE,
        )

    # -- reading --------------------------------------------------------------------------
    async def read(self, request: Request) -> Response:
        """The content a session's key maps to; waits for a key not mapped yet."""
        key = request.path_params["key"]
        try:
            session_id, site_id = await self._site(request.path_params["token"], READ)
        except CwmnError as exc:
            return _error(exc)
        missing = AssetError(f"asset {key} is not in this session's store", ErrorCode.NOT_FOUND)
        if not valid_key(key):
            return _error(missing)
        assets = self.store.page_assets
        deadline = self.clock() + self.limits.wait_seconds
        found = await run_in_threadpool(assets.mapping, session_id, key)
        client = self._client(request)
        held = found is None and self.waiters.hold(session_id, client, self._caps())
        if not held:
            deadline = self.clock()  # mapped, or no room to wait
        try:
            looks = 0
            while (
                delay := wait_time(
                    found is not None, self.clock(), deadline, poll_interval(looks, *self.polls)
                )
            ) is not None:
                await self.waiters.wait(session_id, key, delay)
                found = await run_in_threadpool(assets.mapping, session_id, key)
                looks += 1
        finally:
            if held:
                self.waiters.release(session_id, client)
        if found is not None and found.sha256 is None:
            target = failure_redirect(found.url, request.headers.get("sec-fetch-dest", ""))
            if target is not None:  # the host could not have it: the guest may load it
                return Response(status_code=302, headers={**_REDIRECT, "Location": target})
        if found is None or found.sha256 is None or found.content_type is None:
            return _error(missing)
        headers = {**READ_HEADERS, "ETag": etag(found.sha256)}
        if not_modified(request.headers.get("if-none-match"), found.sha256):
            return Response(status_code=304, headers=headers)
        data = await run_in_threadpool(assets.data, site_id, found.sha256)
        if data is None:
            return _error(AssetError(f"asset {key} is no longer stored", ErrorCode.NOT_FOUND))
        return Response(data, headers=headers, media_type=found.content_type)


def _checked(offer: Offer, data: bytes, limits: AssetLimits) -> str | None:
    """:func:`.core.check_upload` of the bytes, hashed here (off the event loop)."""
    return check_upload(offer, data, hashlib.sha256(data).hexdigest(), limits)


def _report_too_large(size: int) -> AssetError:
    return AssetError(
        f"an upload report is a small JSON object (at most {MAX_REPORT_BYTES} bytes)",
        ErrorCode.BAD_ASSET,
    )
