"""Many processes (issue 16): one session's room on one process, its guests spread over 1, 2
and 4 ``cwmn-web serve`` processes sharing one PostgreSQL and one Redis, beside the plain
single process (no Redis) as the baseline, all in the same run.

The host and the guests are protocol-level Python WebSocket clients on one asyncio loop in
this process (the load generator). The host opens ``/ws`` on process 0, starts a session,
sends a snapshot, then ``FRAMES_PER_SECOND`` ``mutations`` frames a second, each carrying
``time.time()`` (ms) as a changed text (the stamps of :mod:`bench.fanout`). Guest ``i``
opens ``/ws/guest?link=<sha256(link token)>`` on process ``i % N`` (its route key: a guest
on another process than the owner is piped to it through Redis) and joins through the
session's public link. Measured over ``RUN_SECONDS`` after a warm-up:

- latency, host send → guest receive, over every (frame, guest), also per process of the
  guests: the Redis hop is the median of guests on processes 1… minus that of guests on
  process 0 (same run, same frames), and per frame, the first guest of processes 1… to
  get it minus process 0's first (the generator reads all sockets on one loop, so a
  median also holds the generator's own queue); a direct PUBLISH → message probe (redis-py, 20 a
  second during the run, on the generator's loop) is the hop's floor;
- delivered / expected guest-frames;
- CPU (``/proc/PID/stat``, utime + stime) of the server processes, of ``redis-server``,
  of PostgreSQL (all its processes), of this process (the generator), and the machine's
  busy share (``/proc/stat``), to say who was the limit; per delivered guest-frame for
  servers and servers + Redis, with ratios to the baseline.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import (
    CreatePublicLink,
    Hello,
    LinkCreated,
    MirrorFrame,
    SessionStarted,
    StartSession,
    Welcome,
)
from cwmn_web.protocol.routes import LINK, with_route
from cwmn_web.testing import CwmnServer
from cwmn_web.testing.services import postgres_server, redis_server

from .fanout import CLOCK_TICKS, analyse, cpu_seconds, descendants, join_guest, read_into
from .harness import load_average, percentile

GUESTS = 100
FRAMES_PER_SECOND = 50
RUN_SECONDS = 10.0
WARMUP_SECONDS = 2.0
DRAIN_SECONDS = 1.0
IDLE_SECONDS = 2.0  # servers up, no session: their idle CPU
PROBES_PER_SECOND = 20
#: Rounds of every configuration (the report shows each one's median run): one machine's
#: CPU time per frame drifts by ±20 % from minute to minute, in the baseline too.
ROUNDS = int(os.environ.get("CWMN_BENCH_ROUNDS", "3"))
#: (label, server processes, with Redis): the baseline first.
CONFIGS = (("1 plain", 1, False), ("1", 1, True), ("2", 2, True), ("4", 4, True))
HOST_ORIGIN = "http://localhost:1234"
#: A filler text in each frame, so a frame is ~300 bytes like a small DOM change.
FILLER = "lorem ipsum dolor sit amet " * 8


# -- CPU -----------------------------------------------------------------------------------
def pids_named(name: str) -> list[int]:
    """Our descendants whose command is ``name`` (redis-server, postgres; Debian's
    ``redis-server`` is a link to ``redis-check-rdb``, so not by executable)."""
    out = []
    for pid in descendants(os.getpid()):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/comm").read_text().strip() == name:
                out.append(pid)
    return out


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


@dataclass
class Clocks:
    """CPU seconds of each part at one moment."""

    servers: list[float]
    redis: float
    postgres: float
    generator: float
    busy: int
    total: int
    wall: float

    @staticmethod
    def read(servers: list[int], redis_pids: list[int], pg_pids: list[int]) -> Clocks:
        busy, total = machine_ticks()
        return Clocks(
            [cpu_seconds(p) for p in servers],
            sum(cpu_seconds(p) for p in redis_pids),
            sum(cpu_seconds(p) for p in pg_pids),
            time.process_time(),
            busy,
            total,
            time.time(),
        )


# -- the servers ----------------------------------------------------------------------------
@contextlib.contextmanager
def servers(root: Path, count: int, env: dict[str, str]) -> Iterator[list[CwmnServer]]:
    """``count`` ``cwmn-web serve`` processes on one database, started at once."""
    procs = [CwmnServer(root / f"p{i}", env=env) for i in range(count)]
    try:
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(lambda s: s.start(60), procs))
        yield procs
    finally:
        for server in procs:
            server.stop()


# -- the load generator ---------------------------------------------------------------------
def _send(ws: ClientConnection, message: Any) -> Any:
    return ws.send(codec.encode(message))


async def _ask(ws: ClientConnection, message: Any) -> Any:
    """Send a request; its answer (pushes before it are skipped)."""
    await _send(ws, message)
    while True:
        reply = codec.decode(await ws.recv())
        if reply.ref == message.ref:
            return reply


async def open_host(url: str) -> tuple[ClientConnection, str]:
    """A host socket on ``url`` with a live session (snapshot sent): it and the session's
    public link token."""
    ws = await connect(
        url.replace("http://", "ws://") + "/ws", origin=Origin(HOST_ORIGIN), max_size=None
    )
    assert isinstance(await _ask(ws, Hello(ref=1, page_url=HOST_ORIGIN + "/bench")), Welcome)
    started = await _ask(ws, StartSession(ref=2, host_name="Bench", host_email="b@example.com"))
    assert isinstance(started, SessionStarted), started
    link = await _ask(ws, CreatePublicLink(ref=3))
    assert isinstance(link, LinkCreated), link
    await _send(ws, MirrorFrame(seq=1, kind="snapshot", data={"html": "<p id=s>0</p>"}))
    return ws, link.url.split("?")[0].rstrip("/").rsplit("/", 1)[1]


async def open_guest(url: str, token: str, i: int, log: list[tuple[float, str]]) -> Any:
    """A guest joined through ``token`` on ``url`` (its route key in the URL); a task
    reading its frames into ``log`` (arrival ms first, then the raw text)."""
    ws_url = with_route(url.replace("http://", "ws://") + "/ws/guest", LINK, token)
    ws = await join_guest(ws_url, url, token, i)
    return ws, asyncio.ensure_future(read_into(ws, log))


async def drain(ws: ClientConnection) -> None:
    """Read and drop what the server pushes to the host (acks, roster)."""
    with contextlib.suppress(Exception):
        while True:
            await ws.recv()


async def stream(ws: ClientConnection, seq: int, seconds: float) -> tuple[int, list[float]]:
    """Send ``FRAMES_PER_SECOND`` frames a second for ``seconds``, on a fixed schedule:
    the next seq and the stamps sent."""
    sent = []
    start = time.monotonic()
    for k in range(round(seconds * FRAMES_PER_SECOND)):
        delay = start + k / FRAMES_PER_SECOND - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        stamp = time.time() * 1000
        data = {"texts": [[2, str(stamp)], [3, FILLER]]}
        await _send(ws, MirrorFrame(seq=seq, kind="mutations", data=data, t=stamp))
        sent.append(stamp)
        seq += 1
    return seq, sent


async def probe(url: str, seconds: float) -> list[float]:
    """Round trips PUBLISH → message on one Redis channel (ms), ``PROBES_PER_SECOND`` a
    second for ``seconds``."""
    client = aioredis.Redis.from_url(url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    channel = "cwmn-bench:" + secrets.token_hex(4)
    await pubsub.subscribe(channel)
    out: list[float] = []

    async def hear() -> None:
        while True:
            message = await pubsub.get_message(timeout=None)
            if message and message.get("type") == "message":
                out.append(time.time() * 1000 - float(message["data"]))

    listener = asyncio.ensure_future(hear())
    try:
        for _ in range(round(seconds * PROBES_PER_SECOND)):
            await client.publish(channel, str(time.time() * 1000))
            await asyncio.sleep(1 / PROBES_PER_SECOND)
        await asyncio.sleep(0.2)
    finally:
        listener.cancel()
        with contextlib.suppress(BaseException):
            await listener
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()
    return out


async def one_run(urls: list[str], server_pids: list[int], redis_url: str | None) -> dict[str, Any]:
    """The host on ``urls[0]``, ``GUESTS`` guests round-robin on ``urls``; warm up, then
    measure ``RUN_SECONDS`` of frames."""
    idle_before = Clocks.read(server_pids, [], [])
    await asyncio.sleep(IDLE_SECONDS)
    idle_after = Clocks.read(server_pids, [], [])
    idle = [
        (b - a) * 1000 / (idle_after.wall - idle_before.wall)
        for a, b in zip(idle_before.servers, idle_after.servers, strict=True)
    ]
    host, token = await open_host(urls[0])
    host_reader = asyncio.ensure_future(drain(host))
    logs: list[list[tuple[float, str]]] = [[] for _ in range(GUESTS)]
    guests = []
    for first in range(0, GUESTS, 20):  # 20 at a time: joining costs the database
        guests += await asyncio.gather(
            *(
                open_guest(urls[i % len(urls)], token, i, logs[i])
                for i in range(first, min(GUESTS, first + 20))
            )
        )
    seq, _ = await stream(host, 2, WARMUP_SECONDS)
    await asyncio.sleep(0.3)
    redis_pids = pids_named("redis-server") if redis_url else []
    pg_pids = pids_named("postgres")
    before = Clocks.read(server_pids, redis_pids, pg_pids)
    since = time.time() * 1000
    probing = asyncio.ensure_future(probe(redis_url, RUN_SECONDS)) if redis_url else None
    seq, sent = await stream(host, seq, RUN_SECONDS)
    await asyncio.sleep(DRAIN_SECONDS)
    after = Clocks.read(server_pids, redis_pids, pg_pids)
    probes = await probing if probing else []
    for ws, reader in guests:
        await ws.close()
        reader.cancel()
    await host.close()
    host_reader.cancel()
    return summarize(urls, logs, since, sent, before, after, probes) | {"idle_ms_per_s": idle}


# -- figures --------------------------------------------------------------------------------
def _pcts(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    return {"p50": percentile(values, 50), "p99": percentile(values, 99), "max": max(values)}


def summarize(
    urls: list[str],
    logs: list[list[tuple[float, str]]],
    since: float,
    sent: list[float],
    before: Clocks,
    after: Clocks,
    probes: list[float],
) -> dict[str, Any]:
    n = len(urls)
    per_server = [b - a for a, b in zip(before.servers, after.servers, strict=True)]
    by_process, latencies, firsts = [], [], []
    delivered = 0
    for p in range(n):
        got = analyse(logs[p::n], since)
        latencies.append([v for vs in got["arrivals"].values() for v in vs])
        firsts.append({stamp: min(vs) for stamp, vs in got["arrivals"].items()})
        delivered += sum(g["stamps"] for g in got["per_guest"])
        cpu = per_server[p] * 1000 / (after.wall - before.wall)
        by_process.append({"guests": len(logs[p::n]), "cpu_ms_per_s": cpu, **_pcts(latencies[-1])})
    every = [v for vs in latencies for v in vs]
    seconds = after.wall - before.wall
    server_cpu = sum(per_server)
    redis_cpu = after.redis - before.redis
    per_frame = 1e6 / delivered if delivered else float("nan")
    hop = first_hop = None
    if n > 1:
        others = statistics.median(v for vs in latencies[1:] for v in vs)
        hop = others - statistics.median(latencies[0])
        # per frame: the first guest of processes 1… to get it, minus process 0's first
        # (the generator reads every socket on one loop: a median also holds its queue)
        gaps = [
            min(firsts[p][stamp] for p in range(1, n) if stamp in firsts[p]) - first
            for stamp, first in firsts[0].items()
            if any(stamp in firsts[p] for p in range(1, n))
        ]
        first_hop = _pcts(gaps)
    return {
        "processes": n,
        "guests": len(logs),
        "seconds": seconds,
        "frames_sent": len(sent),
        "host_fps": len(sent) / RUN_SECONDS,
        "expected": len(sent) * len(logs),
        "delivered": delivered,
        "guest_frames_per_s": delivered / seconds,
        "latency_ms": _pcts(every),
        "by_process": by_process,
        "hop_ms": hop,
        "first_guest_hop_ms": first_hop,
        "redis_probe_ms": _pcts(probes) if probes else None,
        "server_cpu_ms_per_s": server_cpu * 1000 / seconds,
        "redis_cpu_ms_per_s": redis_cpu * 1000 / seconds,
        "postgres_cpu_ms_per_s": (after.postgres - before.postgres) * 1000 / seconds,
        "generator_cpu_ms_per_s": (after.generator - before.generator) * 1000 / seconds,
        "machine_busy": (after.busy - before.busy) / max(1, after.total - before.total),
        # the machine's busy CPU that was none of ours (other jobs on the cores)
        "others_cpu_ms_per_s": (
            (after.busy - before.busy) / CLOCK_TICKS
            - server_cpu
            - redis_cpu
            - (after.postgres - before.postgres)
            - (after.generator - before.generator)
        )
        * 1000
        / seconds,
        "server_us_per_frame": server_cpu * per_frame,
        "total_us_per_frame": (server_cpu + redis_cpu) * per_frame,
        "load_average": load_average(),
    }


def run() -> dict[str, Any]:
    out: dict[str, Any] = {
        "guests": GUESTS,
        "frames_per_second": FRAMES_PER_SECOND,
        "seconds": RUN_SECONDS,
        "cores": os.cpu_count(),
        "runs": {},
    }
    with (
        tempfile.TemporaryDirectory() as tmp,
        postgres_server() as db_url,
        redis_server() as redis_url,
    ):
        env = {
            "CWMN_DATABASE_URL": db_url,
            "CWMN_SECRET": hashlib.sha256(b"bench").hexdigest(),
            "CWMN_OUTBOX_PAGE": "off",
        }
        setup = CwmnServer(Path(tmp) / "setup", env=env)
        setup.data_dir.mkdir(parents=True)
        setup.cli("init-db")
        setup.cli("site", "settings", "default", "--max-guests", str(GUESTS))
        rounds: dict[str, list[dict[str, Any]]] = {label: [] for label, _, _ in CONFIGS}
        for round_ in range(ROUNDS):  # the configurations in turn, so drift hits them alike
            for label, count, with_redis in CONFIGS:
                run_env = {**env, "CWMN_REDIS_URL": redis_url} if with_redis else env
                folder = Path(tmp) / f"{round_}-{label.replace(' ', '-')}"
                with servers(folder, count, run_env) as procs:
                    pids = [s.proc.pid for s in procs if s.proc is not None]
                    result = asyncio.run(
                        one_run([s.url for s in procs], pids, redis_url if with_redis else None)
                    )
                rounds[label].append(result)
                base = rounds[CONFIGS[0][0]][-1]
                print(f"  cluster {round_ + 1}/{ROUNDS} {label}: {_line(result, base)}", flush=True)
    out["rounds"] = rounds
    for label, results in rounds.items():  # each configuration's median run (CPU per frame)
        ordered = sorted(results, key=lambda r: float(r["total_us_per_frame"]))
        out["runs"][label] = ordered[len(ordered) // 2]
    return out


def _ratio(value: float, base: float) -> float:
    return value / base if base else float("nan")


def _extra(r: dict[str, Any], base: dict[str, Any]) -> float:
    """(servers + Redis CPU - the baseline's) per frame sent, per process beyond one."""
    added: float = r["server_cpu_ms_per_s"] + r["redis_cpu_ms_per_s"] - base["server_cpu_ms_per_s"]
    return float(added * 1000 * r["seconds"] / r["frames_sent"] / (r["processes"] - 1))


def _line(r: dict[str, Any], base: dict[str, Any]) -> str:
    lat = r["latency_ms"]
    return (
        f"{r['processes']} proc | {r['host_fps']:4.1f} fps | "
        f"{r['delivered']}/{r['expected']} | {r['guest_frames_per_s']:6.0f} gf/s | "
        f"p50 {lat['p50']:6.1f} p99 {lat['p99']:6.1f} max {lat['max']:6.1f} ms | "
        f"servers {r['server_cpu_ms_per_s']:5.0f} ms/s {r['server_us_per_frame']:5.1f} µs/gf "
        f"(x{_ratio(r['server_us_per_frame'], base['server_us_per_frame']):4.2f}) | "
        f"+redis {r['total_us_per_frame']:5.1f} µs/gf "
        f"(x{_ratio(r['total_us_per_frame'], base['total_us_per_frame']):4.2f}) | "
        f"redis {r['redis_cpu_ms_per_s']:4.0f} pg {r['postgres_cpu_ms_per_s']:3.0f} "
        f"gen {r['generator_cpu_ms_per_s']:4.0f} ms/s | busy {r['machine_busy']:4.0%}, "
        f"others {r['others_cpu_ms_per_s']:4.0f} ms/s"
    )


def report(results: dict[str, Any]) -> list[str]:
    runs = results["runs"]
    base = runs[CONFIGS[0][0]]
    lines = [
        f"cluster: {results['guests']} guests round-robin over N processes, host on process 0,"
        f" {results['frames_per_second']} frames/s for {results['seconds']:g} s"
        f" ({results['cores']} cores); baseline '{CONFIGS[0][0]}': one process, no Redis",
        "  config | procs | host fps | delivered/expected | guest-frames/s | latency p50 / p99 /"
        " max | server CPU ms/s, µs per guest-frame (x base) | + Redis µs/gf (x base) |"
        " Redis, PostgreSQL, generator CPU ms/s | machine busy, other jobs' CPU | load",
    ]
    for label, r in runs.items():
        lines.append(f"  {label:>7} | {_line(r, base)} | {r['load_average']}")
    lines.append(
        "  by process: guests' latency p50 / p99 ms, CPU ms/s under load (idle before);"
        " hop = median(others) - p0's, first guest's: per frame, first of others - p0's first:"
    )
    for label, r in runs.items():
        parts = [
            f"p{i}: {p['p50']:.1f} / {p['p99']:.1f}, {p['cpu_ms_per_s']:.0f} ({idle:.1f})"
            for i, (p, idle) in enumerate(zip(r["by_process"], r["idle_ms_per_s"], strict=True))
        ]
        hop = ""
        if r["hop_ms"] is not None:
            first = r["first_guest_hop_ms"]
            hop = (
                f"hop {r['hop_ms']:.1f} ms; first guest's hop p50 {first['p50']:.1f}"
                f" p99 {first['p99']:.1f} ms"
            )
        probe_ = r["redis_probe_ms"]
        direct = (
            f"direct PUBLISH→message p50 {probe_['p50']:.2f} p99 {probe_['p99']:.2f} ms"
            if probe_
            else ""
        )
        lines.append(f"  {label:>7} | {' | '.join(parts)} | {hop} | {direct}")
    extra = [
        f" {label}: {_extra(r, base):.0f} µs;" for label, r in runs.items() if r["processes"] > 1
    ]
    lines.append(
        "  servers + Redis CPU added per host frame, per process beyond one (vs the baseline):"
        + "".join(extra)
    )
    lines.append("  targets: µs per guest-frame ≤ 1.25x base; hop ≤ 5 ms p50; p99 as one process")
    return lines


if __name__ == "__main__":
    print("\n".join(report(run())))
