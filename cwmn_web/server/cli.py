"""``cwmn-web``: serve, render replays, manage sites, create the database, read the
development outbox."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ..protocol.messages import DEFAULT_REPLAY_MAX_SECONDS
from . import cli_host_keys
from .config import Settings
from .db import Store

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cwmn-web", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server (uvicorn)")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        metavar="N",
        help="server processes on this port (default 1; more need CWMN_REDIS_URL and a shared "
        "database: docs/DEPLOY.md)",
    )
    worker = sub.add_parser(
        "render-worker", help="render replay videos (run beside `serve`, any number of them)"
    )
    worker.add_argument("--once", action="store_true", help="render what is queued now, then exit")
    worker.add_argument(
        "--poll",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="how often to look for new jobs (default 2)",
    )
    replays = sub.add_parser("replays", help="replay recordings and videos")
    replays_sub = replays.add_subparsers(dest="action", required=True)
    replays_sub.add_parser(
        "purge", help="delete replays older than CWMN_REPLAY_RETENTION_DAYS (default 30)"
    )
    sub.add_parser("init-db", help="create the database and the default site")
    site = sub.add_parser("site", help="authorized domains")
    site_sub = site.add_subparsers(dest="action", required=True)
    add = site_sub.add_parser("add", help="authorize DOMAIN (any port; *.example.com allowed)")
    add.add_argument("domain")
    add.add_argument("--site", default="default", help="site name (created if missing)")
    rm = site_sub.add_parser("remove", help="stop authorizing DOMAIN")
    rm.add_argument("domain")
    site_sub.add_parser("list", help="list sites and their domains")
    mask = site_sub.add_parser(
        "privacy", help="set the CSS selectors whose content is masked or blocked on SITE's pages"
    )
    mask.add_argument("site", help="site name (see `cwmn-web site list`)")
    mask.add_argument(
        "--mask",
        action="append",
        default=None,
        metavar="SELECTOR",
        help="mask the text and values of matching elements (repeatable)",
    )
    mask.add_argument(
        "--block",
        action="append",
        default=None,
        metavar="SELECTOR",
        help="send matching elements as empty boxes (repeatable)",
    )
    limits = site_sub.add_parser(
        "settings", help="set SITE's session limits, SMS region and page-asset store"
    )
    limits.add_argument("site", help="site name (see `cwmn-web site list`)")
    limits.add_argument(
        "--max-guests",
        type=_positive,
        metavar="N",
        help="guests admitted at once per session (default 10)",
    )
    limits.add_argument(
        "--default-region",
        type=_region,
        metavar="CC",
        help="country of SMS invite numbers written without +country code (default US)",
    )
    limits.add_argument(
        "--sms-countries",
        type=_regions,
        metavar="CC,CC",
        help="countries SMS invites may be texted to (default: the default region only)",
    )
    limits.add_argument(
        "--replay-max-seconds",
        type=_seconds,
        metavar="N",
        help=f"longest replay recording, in seconds (default {DEFAULT_REPLAY_MAX_SECONDS})",
    )
    limits.add_argument(
        "--assets",
        choices=("store", "direct"),
        help="page assets only the visitor can load go through the server's store (store, "
        "the default) or every asset loads directly (direct)",
    )
    origins = limits.add_mutually_exclusive_group()
    origins.add_argument(
        "--asset-origin",
        action="append",
        type=_asset_origin,
        default=None,
        metavar="ORIGIN",
        help="another origin whose assets go through the store, e.g. https://files.example.com "
        "(repeatable; it must answer CORS with credentials; replaces the list)",
    )
    origins.add_argument(
        "--no-asset-origins",
        action="store_true",
        help="only the page's own origin's assets go through the store",
    )
    cli_host_keys.add_commands(site_sub)
    outbox = sub.add_parser("outbox", help="print the invites kept in the development outbox")
    outbox.add_argument(
        "--limit", type=_positive, default=10, metavar="N", help="the newest N (default 10)"
    )
    args = parser.parse_args(argv)

    settings = Settings()
    if args.command == "serve":
        import uvicorn

        options = serve_options(settings, args.host, args.port)
        if args.workers > 1:
            from .workers import serve_workers

            return serve_workers(settings, args.workers, options)
        from .app import create_app

        uvicorn.run(create_app(settings), **options)
        return 0
    if args.command == "render-worker":
        from .replays.worker import run_worker

        return run_worker(settings, once=args.once, poll=max(args.poll, 0.05))
    store = Store.of(settings)
    store.create()
    if args.command == "init-db":
        print(f"database ready: {settings.db_url}")
    elif args.command == "replays":
        from .replays.service import purge_expired

        print(f"{purge_expired(settings, store)} expired replay(s) deleted")
    elif args.command == "outbox":
        from .invites.outbox_page import render_outbox_text

        print(render_outbox_text(store.kept_messages(args.limit)), end="")
    elif args.action in cli_host_keys.COMMANDS:
        return cli_host_keys.run(args, store)
    elif args.action == "add":
        try:
            site_obj = store.add_domain(args.domain, args.site)
        except ValueError as exc:
            print(f"cwmn-web: {exc}", file=sys.stderr)
            return 2
        print(f"{args.domain} authorized for site {site_obj.name}")
    elif args.action == "remove":
        if not store.remove_domain(args.domain):
            print(f"cwmn-web: {args.domain} was not authorized", file=sys.stderr)
            return 1
        print(f"{args.domain} removed")
    elif args.action in ("privacy", "settings"):
        changes: dict[str, object] = {}
        if args.action == "privacy":
            if args.mask is not None:
                changes["maskSelectors"] = args.mask
            if args.block is not None:
                changes["blockSelectors"] = args.block
        else:
            if args.max_guests is not None:
                changes["maxGuests"] = args.max_guests
            if args.default_region is not None:
                changes["defaultRegion"] = args.default_region
            if args.sms_countries is not None:
                changes["smsCountries"] = args.sms_countries
            if args.replay_max_seconds is not None:
                changes["replayMaxSeconds"] = args.replay_max_seconds
            if args.assets is not None:
                changes["assets"] = args.assets
            if args.asset_origin is not None or args.no_asset_origins:
                changes["assetOrigins"] = args.asset_origin or []
        try:
            site_obj = store.update_settings(args.site, changes)
        except KeyError as exc:
            print(f"cwmn-web: {exc.args[0]}", file=sys.stderr)
            return 1
        print(f"{site_obj.name}: {json.dumps(site_obj.settings)}")
    else:
        for s in store.list_sites():
            tokens = " (host tokens required)" if s.host_tokens else ""
            print(f"{s.name}: {', '.join(s.domains) or '(no domains)'}{tokens}")
    return 0


def serve_options(settings: Settings, host: str, port: int) -> dict[str, Any]:
    """uvicorn's options for ``serve``: proxies, the WebSocket size cap (the codec's), and
    the h11 protocol with the request deadline (``CWMN_HTTP_TIMEOUT``)."""
    from ..protocol.codec import MAX_FRAME
    from .http_timeout import timed_h11

    return {
        "host": host,
        "port": port,
        "log_level": "info",
        "proxy_headers": True,
        "forwarded_allow_ips": settings.trusted_proxies,
        "ws_max_size": MAX_FRAME,
        "http": timed_h11(settings.http_timeout),
    }


def _positive(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError("must be a whole number from 1 to 1000")
    return value


def _seconds(text: str) -> int:
    value = int(text)
    if not 10 <= value <= 14400:
        raise argparse.ArgumentTypeError("must be a whole number of seconds from 10 to 14400")
    return value


def _region(text: str) -> str:
    import phonenumbers

    region = text.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a two-letter country code (e.g. US, GB)")
    return region


def _asset_origin(text: str) -> str:
    from .page_assets.core import asset_origin

    try:
        return asset_origin(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _regions(text: str) -> list[str]:
    return [_region(part) for part in text.split(",") if part.strip()] or [_region(text)]


if __name__ == "__main__":
    sys.exit(main())
