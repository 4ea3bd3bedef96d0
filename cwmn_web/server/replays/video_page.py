"""``GET /replay/{video_token}.mp4``: a rendered replay, with HTTP Range (seeking)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from ..config import Settings
from ..db import Store
from ..links import usable_token
from .storage import replay_storage

__all__ = ["VideoPage"]

SUFFIX = ".mp4"


class VideoPage:
    """Serves ``video.mp4`` of a complete, unexpired replay; 404 for anything else
    (unknown token, abandoned, purged, not rendered yet)."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings, self.store = settings, store
        self.storage = replay_storage(settings.data_dir)

    async def page(self, request: Request) -> Response:
        name = str(request.path_params["name"])
        token = name.removesuffix(SUFFIX)
        record = None
        if name.endswith(SUFFIX) and usable_token(token):
            record = await run_in_threadpool(self.store.replays.by_video_token, token)
        video = await run_in_threadpool(self.storage.video, record.id) if record else None
        if video is None:
            return PlainTextResponse(
                "No video here: the link is wrong, or the replay was deleted or has expired.",
                status_code=404,
                headers={"Cache-Control": "no-store"},
            )
        # FileResponse answers Range requests: 206 with Content-Range, 416, Accept-Ranges.
        return FileResponse(
            video,
            media_type="video/mp4",
            headers={
                "Cache-Control": "private",
                "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff",
            },
        )
