"""The live relay's quantitative limits and the counters that enforce them. No I/O here.

:class:`Limits` holds the values (the server's settings, ``CWMN_MAX_*``); :class:`Tally`
counts what each key holds; :class:`TokenBucket` paces one connection's frames. What a
site or a client address holds (live sessions, sockets, watched replays) is counted by the
edge's quotas (``server/quotas.py``: this process's, or every process's in Redis) under
the keys named here; the core reports what it stops or starts counting as
:class:`Recount` values. A limit reached is a :class:`~cwmn_web.errors.RateLimited` error
whose message names the setting (the guests of a session keep their ``room_full``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Generic, TypeVar

from ...errors import RateLimited
from ...protocol.codec import MAX_FRAME_VALUES
from ..rooms import MAX_LOG_BYTES

__all__ = [
    "Limits",
    "Recount",
    "Tally",
    "TokenBucket",
    "client_sessions",
    "client_sockets",
    "client_watches",
    "limit_reached",
    "site_sessions",
]

K = TypeVar("K")


@dataclass(frozen=True)
class Limits:
    """Per-site, per-client-address, per-connection and per-session bounds (see
    ``Settings``: each has a ``CWMN_`` variable)."""

    log_bytes: int = MAX_LOG_BYTES
    """Memory one room's log may hold (``CWMN_MAX_LOG_BYTES``)."""
    sessions_per_site: int = 1000
    """Live sessions of one site (``CWMN_MAX_SESSIONS_PER_SITE``)."""
    sessions_per_client: int = 20
    """Live sessions started from one client address (``CWMN_MAX_SESSIONS_PER_CLIENT``)."""
    connections_per_client: int = 256
    """Open sockets (host and guest) of one client address
    (``CWMN_MAX_CONNECTIONS_PER_CLIENT``)."""
    frames_per_second: float = 200.0
    """Frames one socket may send per second, on average (``CWMN_MAX_FRAMES_PER_SECOND``;
    as many again at once): beyond it the server reads that socket more slowly."""
    frame_values: int = MAX_FRAME_VALUES
    """JSON values (records and their fields) in one frame (``CWMN_MAX_FRAME_VALUES``)."""
    watchers_per_client: int = 20
    """Replays one client address may watch at once (``CWMN_MAX_WATCHERS_PER_CLIENT``;
    one per connection)."""
    idle_timeout: float = 1800.0
    """Seconds without activity after which a live session ends as ``idle``
    (``CWMN_IDLE_TIMEOUT``; 0: never). A session may ask for less, never more."""


def limit_reached(what: str, limit: int | float, setting: str) -> RateLimited:
    """The error for a full quota: what, how many, and the setting that raises it."""
    return RateLimited(f"{what}: at most {limit:g} ({setting}); try again when one ends")


def site_sessions(site_id: int) -> str:
    """The quota key of a site's live sessions."""
    return f"sessions:site:{site_id}"


def client_sessions(client: str) -> str:
    """The quota key of the live sessions a client address started (or took)."""
    return f"sessions:client:{client}"


def client_sockets(client: str) -> str:
    """The quota key of a client address's open sockets."""
    return f"sockets:client:{client}"


def client_watches(client: str) -> str:
    """The quota key of the replays a client address watches."""
    return f"watches:client:{client}"


@dataclass(frozen=True)
class Recount:
    """A live session counted once more (``delta`` 1, whatever the limit) or no more (-1)
    under a quota ``key``: the edge applies it to its quotas."""

    key: str
    delta: int


class Tally(Generic[K]):
    """How many of something each key holds, within a limit."""

    def __init__(self) -> None:
        self._held: Counter[K] = Counter()

    def __getitem__(self, key: K) -> int:
        return self._held[key]

    def full(self, key: K, limit: int) -> bool:
        return self._held[key] >= limit

    def add(self, key: K) -> None:
        self._held[key] += 1

    def take(self, key: K, limit: int) -> bool:
        """Count one more for ``key``; False (nothing counted) if it holds ``limit``."""
        if self.full(key, limit):
            return False
        self.add(key)
        return True

    def give(self, key: K) -> None:
        """One less for ``key`` (forgotten at zero)."""
        self._held[key] -= 1
        if self._held[key] <= 0:
            del self._held[key]

    def __len__(self) -> int:
        return len(self._held)


class TokenBucket:
    """Paces events to ``rate`` per second on average, ``burst`` at once."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst = rate, burst
        self._tokens, self._at = burst, now

    def take(self, now: float) -> float:
        """Take one event at ``now``: how many seconds to wait before it may go (0: now).

        An event that must wait is still counted, so the next waits after it."""
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def wait(self, now: float, cost: float = 1.0) -> float:
        """Seconds until :meth:`allow` would let an event worth ``cost`` through (0: now)."""
        tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        return max(cost - tokens, 0.0) / self.rate if self.rate > 0 else float("inf")

    def can(self, now: float, cost: float = 1.0) -> bool:
        """Whether :meth:`allow` would let an event worth ``cost`` through now (nothing
        counted)."""
        tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        return tokens >= cost

    def allow(self, now: float, cost: float = 1.0) -> bool:
        """Take one event (worth ``cost`` tokens) at ``now`` if enough are left; False
        (nothing counted) if not: for events refused rather than delayed."""
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < cost:
            return False
        self._tokens -= cost
        return True
