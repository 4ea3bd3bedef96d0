"""A real server on loopback for tests that need real sockets (timeouts, floods, memory):
``cwmn-web serve`` in a child process (its own interpreter, so what a test measures is the
server's), configured by environment variables as an operator configures it. A thin layer
over :class:`cwmn_web.testing.CwmnServer`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from websockets.sync.client import ClientConnection

from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import Ping, Pong
from cwmn_web.testing import CwmnServer

__all__ = ["Served", "paced_pings", "rss_bytes", "served"]


def rss_bytes(pid: int) -> int:
    """Resident memory of process ``pid`` (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


@dataclass
class Served:
    server: CwmnServer

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def http(self) -> str:
        return self.server.url

    @property
    def ws(self) -> str:
        return self.server.url.replace("http://", "ws://", 1)

    def rss(self) -> int:
        assert self.server.proc is not None
        return rss_bytes(self.server.proc.pid)


@contextmanager
def served(data_dir: Path, static_dir: Path, **env: str) -> Iterator[Served]:
    """``cwmn-web serve`` on a free port with ``CWMN_*`` variables ``env`` (names without the
    prefix, e.g. ``HTTP_TIMEOUT="1"``), its assets from ``static_dir``; stopped on exit."""
    variables = {
        "CWMN_DATABASE_URL": "",
        "CWMN_STATIC_DIR": str(static_dir),
        "CWMN_SMTP_HOST": "",
        "CWMN_TWILIO_ACCOUNT_SID": "",
        **{f"CWMN_{name}": value for name, value in env.items()},
    }
    with CwmnServer(data_dir, env=variables) as server:
        yield Served(server)


def paced_pings(ws: ClientConnection, done: Callable[[], bool], every: float = 0.01) -> list[float]:
    """Ping every ``every`` seconds until ``done``; each Pong's delay after the time its
    Ping was due (so a stall counts for every ping it held up, not once)."""
    due: dict[int, float] = {}

    def send() -> None:
        begun, ref = time.perf_counter(), 10
        while not done():
            at = begun + (ref - 10) * every
            time.sleep(max(0.0, at - time.perf_counter()))  # the pace, not a wait for a result
            due[ref] = at
            ws.send(codec.encode(Ping(ref=ref)))
            ref += 1

    sender = threading.Thread(target=send)
    sender.start()
    latencies: list[float] = []
    deadline = None  # once the pings stop: how long their answers may take
    while deadline is None or (len(latencies) < len(due) and time.monotonic() < deadline):
        if deadline is None and not sender.is_alive():
            deadline = time.monotonic() + 10
        try:
            reply = codec.decode(ws.recv(timeout=0.2))
        except TimeoutError:
            continue
        if isinstance(reply, Pong) and reply.ref in due:
            latencies.append(time.perf_counter() - due[reply.ref])
    sender.join()
    return latencies
