"""Counters of what a key (a site, a client address) holds, within a limit: in this
process's memory, or in Redis for every process that shares ``CWMN_REDIS_URL``.

:meth:`Quotas.take` counts one more unless the key holds its limit (atomic: concurrent
takes never pass it together); :meth:`Quotas.add` counts one more whatever the limit;
:meth:`Quotas.give` one less. ``add`` and ``give`` never wait (a socket's end is
synchronous): in Redis they are written in the order they were called, by one task (those
waiting at once in one pipeline), and a take asked after them is answered after them.

In Redis (:class:`RedisQuotas`) a key is a hash ``cwmn:quota:<key>`` of process id → what
that process holds. A process shows it lives with ``cwmn:alive:<process id>`` (expiring
after ``CWMN_PROCESS_TTL``, renewed every third of it): a take sums only the fields of
live processes and deletes the others', so what a process held stops counting when it
dies, even by ``kill -9``; each round of renewals also sweeps the dead processes' fields
from every key they held (``cwmn:held:<process id>`` lists them). Each process keeps its
own counts in memory too and writes them again, whole, if Redis lost them (its liveness
lapsed, or a write failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..errors import CwmnError
from .config import Settings
from .live.limits import Tally

__all__ = ["MemoryQuotas", "Quotas", "QuotasUnavailable", "RedisQuotas", "quotas_for"]

log = logging.getLogger("cwmn_web.server")
#: Seconds a Redis command (or connecting) may take before it fails.
TIMEOUT = 5.0
#: Ops written in one pipeline at most.
BATCH = 256

# KEYS: the quota's hash, this process's held set. ARGV: process id, limit (< 0: none),
# the alive keys' prefix. 1 if counted, 0 if the key holds its limit (counting live fields).
_TAKE = """
local limit = tonumber(ARGV[2])
if limit >= 0 then
  local total = 0
  local fields = redis.call('HGETALL', KEYS[1])
  for i = 1, #fields, 2 do
    local pid = fields[i]
    if pid == ARGV[1] or redis.call('EXISTS', ARGV[3] .. pid) == 1 then
      total = total + tonumber(fields[i + 1])
    else
      redis.call('HDEL', KEYS[1], pid)
    end
  end
  if total >= limit then return 0 end
end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('SADD', KEYS[2], KEYS[1])
return 1
"""
# KEYS: the quota's hash, this process's held set. ARGV: process id.
_GIVE = """
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('SREM', KEYS[2], KEYS[1])
end
return n
"""
# KEYS: the quota's hash. ARGV: the alive keys' prefix. What live processes hold.
_COUNT = """
local total = 0
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  if redis.call('EXISTS', ARGV[1] .. fields[i]) == 1 then
    total = total + tonumber(fields[i + 1])
  end
end
return total
"""
# KEYS: the processes' set. ARGV: the alive keys' prefix, the held sets' prefix. Forget
# every process whose alive key is gone: its field in each key it held, its held set.
_SWEEP = """
local dead = 0
for _, pid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. pid) == 0 then
    local held = ARGV[2] .. pid
    for _, key in ipairs(redis.call('SMEMBERS', held)) do
      redis.call('HDEL', key, pid)
    end
    redis.call('DEL', held)
    redis.call('SREM', KEYS[1], pid)
    dead = dead + 1
  end
end
return dead
"""


class QuotasUnavailable(CwmnError):
    """Redis did not answer a take: nothing is counted (``server_error``)."""


def _unavailable() -> QuotasUnavailable:
    return QuotasUnavailable(
        "the server could not count this in its Redis (CWMN_REDIS_URL): try again in a moment"
    )


class Quotas(Protocol):
    """What keys hold, within limits (:class:`MemoryQuotas`, :class:`RedisQuotas`)."""

    async def take(self, key: str, limit: int) -> bool:
        """Count one more for ``key``; False (nothing counted) if it holds ``limit``."""
        ...

    def add(self, key: str) -> None:
        """Count one more for ``key``, whatever its limit (never waits)."""
        ...

    def give(self, key: str) -> None:
        """One less for ``key`` (never waits)."""
        ...

    async def flush(self) -> None:
        """Wait until what this process counted so far is written (for every process)."""
        ...

    async def count(self, key: str) -> int:
        """What ``key`` holds now (every live process's part)."""
        ...

    async def close(self) -> None:
        """This process holds nothing any more (at shutdown)."""
        ...


class MemoryQuotas:
    """One process's quotas, in its memory (no ``CWMN_REDIS_URL``)."""

    def __init__(self) -> None:
        self._held: Tally[str] = Tally()

    async def take(self, key: str, limit: int) -> bool:
        return self._held.take(key, limit)

    def add(self, key: str) -> None:
        self._held.add(key)

    def give(self, key: str) -> None:
        self._held.give(key)

    async def flush(self) -> None:
        """Nothing to wait for: written at once."""

    async def count(self, key: str) -> int:
        return self._held[key]

    async def close(self) -> None:
        """Nothing to drop (what is still counted ends with the process)."""


@dataclass
class _Op:
    """A write waiting its turn: ``delta`` +1 (``limit``: a take's, None: an add), -1, or
    0 (a flush: nothing to write)."""

    key: str
    delta: int
    limit: int | None = None
    answer: asyncio.Future[bool] | None = None
    """A take's: whether it counted."""


@dataclass
class _Names:
    """The Redis keys, under one prefix (``cwmn:``)."""

    prefix: str
    process_id: str
    alive_prefix: str = field(init=False)
    held_prefix: str = field(init=False)

    def __post_init__(self) -> None:
        self.alive_prefix = f"{self.prefix}alive:"
        self.held_prefix = f"{self.prefix}held:"

    def quota(self, key: str) -> str:
        return f"{self.prefix}quota:{key}"

    @property
    def alive(self) -> str:
        return self.alive_prefix + self.process_id

    @property
    def held(self) -> str:
        return self.held_prefix + self.process_id

    @property
    def processes(self) -> str:
        return f"{self.prefix}processes"


class RedisQuotas:
    """Quotas every process sharing a Redis holds together (see the module's docstring).

    ``process_id``: this process's (the cluster code passes its own; default a new uuid4
    hex). Its tasks start with the first use, in the running event loop."""

    def __init__(
        self,
        redis: Redis | str,
        ttl: float,
        process_id: str | None = None,
        prefix: str = "cwmn:",
    ) -> None:
        self.redis = (
            Redis.from_url(redis, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
            if isinstance(redis, str)
            else redis
        )
        self.ttl = ttl
        self.process_id = process_id or uuid.uuid4().hex
        self._names = _Names(prefix, self.process_id)
        self._held: Counter[str] = Counter()
        """What this process holds: the truth its Redis fields mirror."""
        self._stale: set[str] = set()
        """Keys whose field may not say what :attr:`_held` does (a write failed)."""
        self._ops: deque[_Op] = deque()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._beat: asyncio.Task[None] | None = None
        self._alive = False
        self._rewrite_due = False
        """The beat found fields to write again (the writer does it when idle too)."""
        self._closed = False
        self._take = self.redis.register_script(_TAKE)
        self._give = self.redis.register_script(_GIVE)
        self._count = self.redis.register_script(_COUNT)
        self._sweep = self.redis.register_script(_SWEEP)

    # -- the counters -----------------------------------------------------------------------
    async def take(self, key: str, limit: int) -> bool:
        """Atomic in Redis across processes. A caller cancelled while it waits counts
        nothing (a take done by then is given back)."""
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._submit(_Op(key, 1, limit, answer))
        return await answer

    def add(self, key: str) -> None:
        self._submit(_Op(key, 1))

    def give(self, key: str) -> None:
        self._submit(_Op(key, -1))

    async def flush(self) -> None:
        """Wait until what this process asked so far is written."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._submit(_Op("", 0, answer=done))
        await done

    async def count(self, key: str) -> int:
        """What live processes hold (this one's asks so far written first)."""
        await self.flush()
        names = self._names
        total = await self._count(keys=[names.quota(key)], args=[names.alive_prefix])
        return int(total)

    def _submit(self, op: _Op) -> None:
        if self._closed:
            if op.answer is not None:
                op.answer.set_exception(_unavailable())
            return
        self._ops.append(op)
        self._wake.set()
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())
            self._beat = asyncio.get_running_loop().create_task(self._beats())

    # -- the writer -------------------------------------------------------------------------
    async def _write(self) -> None:
        """Apply the ops in their order, those waiting at once in one pipeline (Redis runs
        it in order: a take sees every give before it); write lost fields again when the
        beat asks."""
        while not self._closed:
            if not self._ops and not self._rewrite_due:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch: list[_Op] = []
            while self._ops and len(batch) < BATCH:
                op = self._ops.popleft()
                if op.answer is None or not op.answer.done():  # else: its caller was
                    batch.append(op)  # cancelled before its turn
            try:
                if not self._alive:
                    await self.beat()
                if self._stale:
                    self._rewrite_due = False
                    await self._rewrite()
                await self._apply(batch)
            except Exception as exc:  # counted here all the same; written again later
                log.warning("quotas: Redis failed (%s); written again later", exc)
                for op in batch:
                    if op.delta:
                        self._stale.add(op.key)
                    if op.answer is not None and not op.answer.done():
                        op.answer.set_exception(_unavailable())

    async def _apply(self, batch: list[_Op]) -> None:
        names = self._names
        writes = [op for op in batch if op.delta]  # not the flushes
        results: list[object] = []
        if writes:
            async with self.redis.pipeline(transaction=False) as pipe:
                for op in writes:
                    keys = [names.quota(op.key), names.held]
                    if op.answer is None:  # an add or a give: held from now on
                        self._held[op.key] += op.delta
                        if self._held[op.key] <= 0:
                            del self._held[op.key]
                    if op.delta < 0:
                        await self._give(keys=keys, args=[names.process_id], client=pipe)
                    else:
                        limit = -1 if op.limit is None else op.limit
                        args: list[str | int] = [names.process_id, limit, names.alive_prefix]
                        await self._take(keys=keys, args=args, client=pipe)
                results = await pipe.execute()
        answers = iter(results)
        for op in batch:
            counted = next(answers) if op.delta else True
            if op.answer is None or op.delta < 0:
                continue
            if counted and op.delta:
                self._held[op.key] += 1
                if op.answer.done():  # its caller was cancelled meanwhile: given back
                    self._ops.appendleft(_Op(op.key, -1))
                    continue
            if not op.answer.done():
                op.answer.set_result(bool(counted))

    async def _rewrite(self) -> None:
        """Write this process's fields again from :attr:`_held` (those maybe lost)."""
        names, keys = self._names, sorted(self._stale)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(names.processes, names.process_id)
            for key in keys:
                held = self._held[key]
                if held > 0:
                    pipe.hset(names.quota(key), names.process_id, held)
                    pipe.sadd(names.held, names.quota(key))
                else:
                    pipe.hdel(names.quota(key), names.process_id)
                    pipe.srem(names.held, names.quota(key))
                    self._held.pop(key, None)
            await pipe.execute()
        self._stale.difference_update(keys)

    # -- liveness ---------------------------------------------------------------------------
    async def beat(self) -> None:
        """Renew this process's alive key (if it had lapsed, its fields may be gone: write
        them all again), then sweep dead processes' fields."""
        names = self._names
        ttl_ms = max(1, int(self.ttl * 1000))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(names.alive, 1, px=ttl_ms, get=True)
            pipe.sadd(names.processes, names.process_id)
            before, _ = await pipe.execute()
        if before is None and self._held:
            log.warning(
                "process %s: its liveness had lapsed; quotas written again", names.process_id
            )
            self._stale.update(self._held)
        self._alive = True
        if self._stale:  # lost fields (or failed writes): the writer writes them again
            self._rewrite_due = True
            self._wake.set()
        await self._sweep(keys=[names.processes], args=[names.alive_prefix, names.held_prefix])

    async def _beats(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.ttl / 3)
            try:
                await self.beat()
            except Exception as exc:
                log.warning("process %s: liveness not renewed: %s", self.process_id, exc)

    # -- the end ----------------------------------------------------------------------------
    async def close(self) -> None:
        """Stop the tasks; drop this process's fields and alive key (others stop counting
        them at once), then the connection."""
        self._closed = True
        self._wake.set()  # the writer ends after the write under way (a cancel could be
        if self._beat is not None:  # swallowed by redis-py mid-command: never relied on)
            self._beat.cancel()
        for task in (self._writer, self._beat):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for op in self._ops:
            if op.answer is not None and not op.answer.done():
                op.answer.set_exception(_unavailable())
        self._ops.clear()
        names = self._names
        try:
            held = await self.redis.smembers(names.held)
            async with self.redis.pipeline(transaction=True) as pipe:
                for key in held:
                    pipe.hdel(key, names.process_id)
                pipe.delete(names.held, names.alive)
                pipe.srem(names.processes, names.process_id)
                await pipe.execute()
        except RedisError as exc:
            log.warning("process %s: quotas not dropped (%s); they lapse", self.process_id, exc)
        finally:
            await self.redis.aclose()


def quotas_for(settings: Settings, process_id: str | None = None) -> Quotas:
    """The process's quotas: in Redis with ``CWMN_REDIS_URL``, else in its memory."""
    if settings.redis_url:
        return RedisQuotas(settings.redis_url, settings.process_ttl, process_id)
    return MemoryQuotas()
