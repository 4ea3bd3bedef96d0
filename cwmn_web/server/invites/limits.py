"""Invite rate limits: how many invites a session and a site may send per window. No I/O.

The counts come from the ``invites`` table (every invite let through is recorded, failed
ones too), so they hold across restarts and server processes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ...errors import RateLimited

__all__ = ["Limit", "check_limits", "duration", "retry_after"]


@dataclass(frozen=True)
class Limit:
    """At most ``count`` invites per ``window`` seconds for one ``scope`` (session, site)."""

    scope: str
    count: int
    window: float


def retry_after(times: Sequence[float], limit: Limit, now: float) -> float | None:
    """Seconds until one more invite fits in ``limit`` given the earlier invites' ``times``
    (None: it fits now)."""
    recent = sorted(t for t in times if t > now - limit.window)
    if len(recent) < limit.count:
        return None
    if limit.count <= 0:
        return math.inf
    return max(recent[len(recent) - limit.count] + limit.window - now, 0.0)


def check_limits(checks: Iterable[tuple[Limit, Sequence[float]]], now: float) -> None:
    """Raise ``rate_limited`` (saying when to try again) if any limit is reached."""
    for limit, times in checks:
        wait = retry_after(times, limit, now)
        if wait is None:
            continue
        if math.isinf(wait):
            raise RateLimited(f"invites are turned off for each {limit.scope} on this server")
        raise RateLimited(
            f"this {limit.scope} has sent {limit.count} invite{'s' * (limit.count != 1)} in "
            f"the last {duration(limit.window)}, the most allowed: try again in "
            f"{duration(wait)}"
        )


def duration(seconds: float) -> str:
    """``45 seconds``, ``4 minutes``, ``1 hour``, ``2 hours 5 minutes`` (rounded up)."""
    whole = max(math.ceil(seconds), 1)
    if whole < 60:
        return f"{whole} second{'s' * (whole != 1)}"
    minutes = math.ceil(whole / 60)
    if minutes < 60:
        return f"{minutes} minute{'s' * (minutes != 1)}"
    hours, rest = divmod(minutes, 60)
    text = f"{hours} hour{'s' * (hours != 1)}"
    return f"{text} {rest} minute{'s' * (rest != 1)}" if rest else text
