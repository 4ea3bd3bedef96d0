"""Quotas every process holds together, in a real Redis: two quota objects with their own
process ids stand for two processes (issue 16); a killed process's counts lapse."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from redis.asyncio import Redis

from cwmn_web.server.config import Settings
from cwmn_web.server.quotas import MemoryQuotas, QuotasUnavailable, RedisQuotas, quotas_for
from tests.helpers.aio import run_on_own_loop

pytestmark = pytest.mark.timeout(60)
TTL = 30.0
"""Long: no beat runs during a test unless it says so."""


@asynccontextmanager
async def processes(
    redis_url: str, count: int = 2, ttl: float = TTL
) -> AsyncIterator[list[RedisQuotas]]:
    """``count`` processes' quotas on one Redis, under a prefix of this test's own."""
    prefix = f"test-{uuid.uuid4().hex}:"
    made = [RedisQuotas(redis_url, ttl, prefix=prefix) for _ in range(count)]
    try:
        yield made
    finally:
        for quotas in made:
            await quotas.close()


def run(redis_url: str, body: Callable[[str], Awaitable[None]]) -> None:
    run_on_own_loop(lambda: body(redis_url))


def test_two_processes_share_one_limit(redis_url: str) -> None:
    async def body(url: str) -> None:
        async with processes(url) as (a, b):
            assert await a.take("client:x", 3) and await a.take("client:x", 3)
            assert await b.take("client:x", 3)
            assert not await b.take("client:x", 3) and not await a.take("client:x", 3)
            assert await b.take("client:y", 3)  # another key counts apart
            a.give("client:x")
            assert await a.take("client:x", 3)  # the give is in before this take
            a.give("client:x")
            await a.flush()  # (written: one Redis round trip)
            assert await b.take("client:x", 3)
            assert await a.count("client:x") == 3 == await b.count("client:x")
            b.add("client:x")  # counted whatever the limit
            await b.flush()
            assert await a.count("client:x") == 4

    run(redis_url, body)


def test_a_dead_process_stops_counting(redis_url: str) -> None:
    async def body(url: str) -> None:
        async with processes(url) as (a, b):
            assert await a.take("site:1", 2) and await a.take("site:1", 2)
            assert not await b.take("site:1", 2)
            redis = Redis.from_url(url)
            try:  # a's liveness lapses (as when it is killed: nothing renews it)
                assert await redis.delete(f"{a._names.alive}") == 1
                assert await b.take("site:1", 2) and await b.take("site:1", 2)
                assert not await b.take("site:1", 2)
                assert await b.count("site:1") == 2
                # The dead process's field is gone from the key, its held set swept.
                quota = a._names.quota("site:1")
                assert await redis.hkeys(quota) == [b.process_id.encode()]
                await b.beat()
                assert not await redis.exists(a._names.held)
            finally:
                await redis.aclose()

    run(redis_url, body)


def test_a_process_whose_liveness_lapsed_counts_again_once_it_beats(redis_url: str) -> None:
    async def body(url: str) -> None:
        async with processes(url) as (a, b):
            assert await a.take("client:z", 2) and await a.take("client:z", 2)
            redis = Redis.from_url(url)
            try:  # a stalled past its TTL: b's sweep dropped its fields
                await redis.delete(a._names.alive)
                await b.beat()
                assert await b.count("client:z") == 0
            finally:
                await redis.aclose()
            await a.beat()  # a is back: it finds its liveness lapsed, writes its counts
            await a.flush()
            assert not await b.take("client:z", 2)
            assert await b.count("client:z") == 2

    run(redis_url, body)


def test_concurrent_takes_past_the_limit_pass_exactly_the_limit(redis_url: str) -> None:
    async def body(url: str) -> None:
        async with processes(url, count=3) as made:
            takes = [made[n % 3].take("client:flood", 7) for n in range(60)]
            taken = await asyncio.gather(*takes)
            assert sum(taken) == 7
            assert await made[0].count("client:flood") == 7

    run(redis_url, body)


def test_a_closed_process_holds_nothing(redis_url: str) -> None:
    async def body(url: str) -> None:
        async with processes(url) as (a, b):
            assert await a.take("client:w", 1)
            assert not await b.take("client:w", 1)
            await a.close()
            assert await b.take("client:w", 1)
            with pytest.raises(QuotasUnavailable):
                await a.take("client:w", 5)

    run(redis_url, body)


def test_redis_out_of_reach_refuses_with_a_clear_error() -> None:
    async def body() -> None:
        quotas = RedisQuotas("redis://127.0.0.1:9/0", TTL)  # nothing listens on port 9
        try:
            with pytest.raises(QuotasUnavailable) as refused:
                await quotas.take("client:v", 3)
            assert "CWMN_REDIS_URL" in refused.value.message
        finally:
            await quotas.close()

    run_on_own_loop(body)


KILLED = """
import asyncio, sys
from cwmn_web.server.quotas import RedisQuotas

async def main() -> None:
    quotas = RedisQuotas(sys.argv[1], float(sys.argv[2]), process_id="doomed", prefix=sys.argv[3])
    for _ in range(3):
        assert await quotas.take("client:k", 3)
    print("held", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def test_a_process_killed_with_sigkill_stops_counting_after_its_ttl(redis_url: str) -> None:
    prefix, ttl = f"test-{uuid.uuid4().hex}:", 0.6
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-c", textwrap.dedent(KILLED), redis_url, str(ttl), prefix]
    with subprocess.Popen(command, stdout=subprocess.PIPE, env=env) as proc:
        try:
            assert proc.stdout is not None and proc.stdout.readline() == b"held\n"
            os.kill(proc.pid, signal.SIGKILL)
            killed = time.monotonic()
        finally:
            proc.kill()

    async def body(url: str) -> None:
        survivor = RedisQuotas(url, ttl, prefix=prefix)
        try:
            assert not await survivor.take("client:k", 3)  # the dead still count ...
            while not await survivor.take("client:k", 3):  # ... until their TTL
                assert time.monotonic() - killed < ttl + 5, "the killed process still counts"
                await asyncio.sleep(0.05)
            assert time.monotonic() - killed >= ttl * 0.5
            assert await survivor.count("client:k") == 1
        finally:
            await survivor.close()

    run(redis_url, body)


def test_in_memory_quotas_are_one_process_and_need_no_redis() -> None:
    async def body() -> None:
        quotas = quotas_for(Settings(redis_url=""))
        assert isinstance(quotas, MemoryQuotas)
        assert await quotas.take("k", 2) and await quotas.take("k", 2)
        assert not await quotas.take("k", 2)
        quotas.give("k")
        assert await quotas.take("k", 2)
        quotas.add("k")
        assert await quotas.count("k") == 3
        for _ in range(3):
            quotas.give("k")
        assert await quotas.count("k") == 0

    run_on_own_loop(body)


def test_with_a_redis_url_the_quotas_are_the_clusters() -> None:
    quotas = quotas_for(Settings(redis_url="redis://127.0.0.1:1/0", process_ttl=4.0), "p7")
    assert isinstance(quotas, RedisQuotas)
    assert quotas.process_id == "p7" and quotas.ttl == 4.0
