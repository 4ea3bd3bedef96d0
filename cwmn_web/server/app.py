"""The Starlette application: the embed, domain info, host and guest sockets, join pages,
invitations to host, replay videos, the page-asset store, the development outbox, the demo."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from .assets import CORS, AssetServer
from .cluster.node import Cluster
from .config import Settings
from .db import Store
from .demo_page import DemoPage
from .guest_socket import guest_socket
from .host_invites import HostInvitePage
from .host_socket import host_socket
from .hosts import TrustedHosts
from .invites.outbox_page import OutboxPage
from .invites.service import Invites, make_transports
from .join_code_page import JoinCodePage
from .join_page import JoinPage
from .page_assets.purge import purge_periodically
from .page_assets.routes import PageAssetRoutes
from .quotas import quotas_for
from .reference_page import ReferencePage
from .relay import Relay
from .replay_watch import ReplayWatchers
from .replays.service import ReplayService
from .replays.video_page import VideoPage
from .sites import answer_domain_info, hostname_of

__all__ = ["create_app"]

log = logging.getLogger("cwmn_web.server")


def create_app(settings: Settings | None = None, store: Store | None = None) -> Starlette:
    """Build the app; the database is created (with the default site) if missing."""
    settings = settings or Settings()
    store = store or Store.of(settings)
    store.create()
    assets = AssetServer(settings.dist_dir)
    process_id = uuid.uuid4().hex  # this process among many (its rooms, its quotas)
    relay = Relay(settings, store, quotas_for(settings, process_id))
    if settings.redis_url:
        relay.cluster = Cluster.make(
            store.engine,
            process_id,
            settings.process_ttl,
            settings.redis_url,
            endpoints={"/ws": host_socket, "/ws/guest": guest_socket},
            drop_rooms=relay.drop_rooms,
            rooms=lambda: set(relay.core.rooms),
        )
    invites = Invites(settings, store, *make_transports(settings, store))
    replays = ReplayService(settings, store, invites)
    page_assets = PageAssetRoutes(settings, store, invites.key)
    outbox = OutboxPage(settings.outbox_page.strip().lower(), store, invites)
    channels = ", ".join(f"{c} via {t.name}" for c, t in invites.transports.items())
    log.info("invites: %s%s", channels, " (see /outbox)" if invites.outbox_active else "")

    async def domain_info(request: Request) -> Response:
        origin = request.headers.get("origin")
        # Same-origin GETs carry no Origin header: the page is then on this server's host.
        hostname = hostname_of(origin) if origin else (request.url.hostname or "")
        site = await run_in_threadpool(store.site_for_host, hostname)
        body = answer_domain_info(site, hostname)
        headers = {
            "Access-Control-Allow-Origin": origin or "*",
            "Vary": "Origin",
            "Cache-Control": "no-store",
        }
        return JSONResponse(body, headers=headers)

    async def playground(request: Request) -> Response:
        return FileResponse(
            settings.static_dir / "index.html", headers={"Cache-Control": "no-cache"}
        )

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "build": assets.build_id}, headers=CORS)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        _ = assets.build_id  # fail at start, with the fix in the message, when assets are not built
        purging = None
        if relay.cluster is not None:
            await relay.cluster.start(app)
        if settings.asset_purge_seconds > 0:
            purging = asyncio.get_running_loop().create_task(purge_periodically(settings, store))
        try:
            yield
        finally:
            if purging is not None:
                purging.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await purging
            await relay.shutdown()
            if relay.cluster is not None:
                await relay.cluster.stop()

    routes = [
        Route("/", playground),
        Route("/cwmn.js", assets.stub),
        Route("/cwmn.d.ts", assets.types),
        Route("/assets/{build}/{path:path}", assets.asset),
        Route("/api/domain-info", domain_info),
        Route("/healthz", health),
        Route("/join", JoinCodePage(settings, store, invites.key).page, methods=["GET", "POST"]),
        Route("/join/{token}", JoinPage(settings, store, assets).page),
        Route("/host-invite/{token}", HostInvitePage(store).page),
        Route("/replay/{name}", VideoPage(settings, store).page),
        Route("/outbox", outbox.page),
        Route("/docs/api", ReferencePage().page),
        Route("/demo/pyscript", DemoPage(settings.static_dir / "pyscript.html", assets).page),
        *page_assets.routes(),
        WebSocketRoute("/ws", host_socket),
        WebSocketRoute("/ws/guest", guest_socket),
        Mount("/static", StaticFiles(directory=settings.static_dir), name="static"),
    ]
    trusted = Middleware(TrustedHosts, settings.public_url, settings.allowed_hosts)
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[trusted])
    app.state.store = store
    app.state.settings = settings
    app.state.relay = relay
    app.state.cluster = relay.cluster
    app.state.invites = invites
    app.state.replays = replays
    app.state.watchers = ReplayWatchers(
        replays, settings.max_watchers_per_client, relay.spawn, quotas=relay.quotas
    )
    app.state.assets = assets
    app.state.page_assets = page_assets
    return app
