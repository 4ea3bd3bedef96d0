"""``cwmn-web site host-tokens|key-add|key-list|key-remove``: a site's host tokens
(docs/HOST_TOKENS.md)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from .db import Store

__all__ = ["COMMANDS", "add_commands", "run"]

COMMANDS = ("host-tokens", "key-add", "key-list", "key-remove")


def add_commands(site_sub: Any) -> None:
    """Add the host-token commands to ``cwmn-web site``."""
    tokens = site_sub.add_parser(
        "host-tokens", help="require (or stop requiring) hosts of SITE to present a host token"
    )
    tokens.add_argument("site", help="site name (see `cwmn-web site list`)")
    tokens.add_argument("mode", choices=("require", "off"))
    add = site_sub.add_parser(
        "key-add", help="add a key SITE's backend signs host tokens with (prints it once)"
    )
    add.add_argument("site")
    add.add_argument("--kid", default="", help="its key id (default: a new random one)")
    add.add_argument(
        "--secret-stdin",
        action="store_true",
        help="read the secret (at least 32 characters) from standard input instead",
    )
    listing = site_sub.add_parser("key-list", help="list SITE's key ids (never the secrets)")
    listing.add_argument("site")
    rm = site_sub.add_parser("key-remove", help="remove SITE's key KID (after a rotation)")
    rm.add_argument("site")
    rm.add_argument("kid")


def run(args: argparse.Namespace, store: Store) -> int:
    """Carry out one of :data:`COMMANDS`; the exit status."""
    try:
        if args.action == "host-tokens":
            store.require_host_tokens(args.site, args.mode == "require")
            keys = store.host_key_ids(args.site)
            state = "required" if args.mode == "require" else "not required"
            print(f"{args.site}: host tokens {state}")
            if args.mode == "require" and not keys:
                print(
                    f"cwmn-web: {args.site} has no key yet: every host is refused until "
                    f"`cwmn-web site key-add {args.site}`",
                    file=sys.stderr,
                )
        elif args.action == "key-add":
            secret = sys.stdin.readline().strip() if args.secret_stdin else None
            kid, secret = store.add_host_key(args.site, secret, args.kid)
            print(f"kid: {kid}")
            if not args.secret_stdin:
                print(f"secret: {secret}")
                print("(shown once: store it in your backend's secrets now)", file=sys.stderr)
        elif args.action == "key-list":
            for kid, added in store.host_key_ids(args.site):
                print(f"{kid}\tadded {time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime(added))}")
        elif not store.remove_host_key(args.site, args.kid):
            print(f"cwmn-web: {args.site} has no key {args.kid!r}", file=sys.stderr)
            return 1
        else:
            print(f"key {args.kid} removed from {args.site}")
    except KeyError as exc:
        print(f"cwmn-web: {exc.args[0]}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"cwmn-web: {exc}", file=sys.stderr)
        return 2
    return 0
