"""Stall: does a maximal frame on one host socket hold up another connection?

``cwmn-web serve`` in a subprocess; one host socket pings every 10 ms (the delay of each
Pong after the moment its Ping was due, so a stall counts for every ping it held up) while
other host sockets send the costliest frames the wire allows, one after another: 4 MB of
empty lists (more values than ``CWMN_MAX_FRAME_VALUES``: refused unparsed), as many empty
lists and zeros as allowed, and a 4 MB string. Reported: the pinger's p50/p99/max, idle and
under the frames, and their ratio.
"""

from __future__ import annotations

import json
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import Hello, MirrorFrame, StartSession
from cwmn_web.testing import CwmnServer
from tests.helpers.served import paced_pings

from .harness import percentile

ORIGIN = "http://localhost:1234"
ROUNDS = 3
IDLE_SECONDS = 3.0
PACE = 0.01
"""Seconds between pings: 100 a second, half the default CWMN_MAX_FRAMES_PER_SECOND."""


def _frames() -> list[str]:
    room, values = codec.MAX_FRAME - 200, codec.MAX_FRAME_VALUES - 10

    def frame(data: str) -> str:
        return f'{{"type":"mirror","seq":2,"kind":"mutations","data":{{"adds":{data}}}}}'

    return [
        frame("[" + ",".join(["[]"] * (room // 3)) + "]"),
        frame("[" + ",".join(["[]"] * (values // 3)) + "]"),
        frame("[" + ",".join(["0"] * values) + "]"),
        frame(json.dumps("a" * (room - 10))),
    ]


def _socket(url: str) -> ClientConnection:
    return connect(url + "/ws", origin=Origin(ORIGIN), max_size=None, open_timeout=10)


def _attack(url: str) -> None:
    """Send every frame of :func:`_frames` ``ROUNDS`` times, each on a new host socket (in
    a process of its own: its work must not slow the pinger's)."""
    frames = _frames()
    for _ in range(ROUNDS):
        for text in frames:
            with _socket(url) as ws:
                ws.send(codec.encode(Hello(ref=1, page_url=ORIGIN + "/")))
                ws.send(codec.encode(StartSession(ref=2, host_name="A")))
                ws.send(codec.encode(MirrorFrame(seq=1, kind="snapshot", data={})))
                ws.send(text)
                try:
                    for _ in range(4):  # welcome, started, two acks (or the close)
                        ws.recv(timeout=30)
                except (ConnectionClosed, TimeoutError):
                    pass


def _summary(delays: list[float]) -> dict[str, float]:
    return {
        "pings": len(delays),
        "p50_ms": percentile(delays, 50) * 1000,
        "p99_ms": percentile(delays, 99) * 1000,
        "max_ms": max(delays) * 1000,
    }


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, CwmnServer(Path(tmp)) as server:
        url = server.url.replace("http://", "ws://")
        with _socket(url) as pinger:
            pinger.send(codec.encode(Hello(ref=1, page_url=ORIGIN + "/")))
            pinger.recv(timeout=10)
            until = time.monotonic() + IDLE_SECONDS
            quiet = paced_pings(pinger, lambda: time.monotonic() > until, PACE)
            attacker = multiprocessing.get_context("spawn").Process(target=_attack, args=(url,))
            attacker.start()
            loaded = paced_pings(pinger, lambda: not attacker.is_alive(), PACE)
            attacker.join()
    idle_s, loaded_s = _summary(quiet), _summary(loaded)
    return {
        "idle": idle_s,
        "maximal_frames": loaded_s,
        "p99_ratio": loaded_s["p99_ms"] / idle_s["p99_ms"],
    }


def report(results: dict[str, Any]) -> list[str]:
    lines = ["stall: another host's ping (every 10 ms) while maximal frames arrive"]
    for name in ("idle", "maximal_frames"):
        r = results[name]
        lines.append(
            f"  {name:15s} pings {r['pings']:5.0f}  p50 {r['p50_ms']:6.1f} ms  "
            f"p99 {r['p99_ms']:6.1f} ms  max {r['max_ms']:6.1f} ms"
        )
    lines.append(f"  p99 under maximal frames / idle: {results['p99_ratio']:.1f}x")
    return lines
