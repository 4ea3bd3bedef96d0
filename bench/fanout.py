"""Fan-out: one host, N protocol-level guests; the server copies, the host sends once.

The host is a real Chromium page with cwmn.js and a live session; the guests are Python
WebSocket clients on ``/ws/guest`` (hello, join through the session's public link), all in
this process, on one asyncio loop in a thread of their own. For each N the page changes its
DOM ~30 times a second (each change writes ``performance.timeOrigin + performance.now()``
into a text node) and moves its pointer ~60 times a second, for a few seconds. Measured:

- delivery latency, host change → a guest received the mirror frame carrying it, over all
  guests (same machine, same clock: the guest compares with ``time.time()``);
- mirror frames each guest received (mutations, pointer);
- the host's main-thread time per second (CDP ``Performance.getMetrics``: ``TaskDuration``
  and ``ScriptDuration``) and the CPU of all its Chromium processes (``/proc``), which
  should not grow with N;
- the server's CPU per second (``/proc/PID/stat`` of the ``cwmn-web serve`` subprocess).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from playwright.sync_api import CDPSession, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from cwmn_web.testing import CwmnServer, PageServer, launch_args

from .harness import PAGES, percentile

GUEST_COUNTS = (1, 10, 50)
RUN_SECONDS = 5.0
WARMUP_SECONDS = 2.0  # one guest, not reported: the first seconds of a session cost more
SETTLE_SECONDS = 0.5
DRAIN_SECONDS = 0.7
MUTATION_MS = 33  # ~30 changes a second
POINTER_MS = 16  # ~60 mousemove events a second (the host sends at most one per frame)
MAX_GUESTS = 100
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

#: Added once to bench/pages/latency.html: a list that grows and shrinks.
SETUP = """() => {
  const list = document.createElement('ul');
  list.id = 'fanout';
  document.body.appendChild(list);
}"""

#: Odd ticks change the stamp's text node (a ``texts`` record), even ones add an ``li``
#: holding the stamp (an ``adds`` record) and drop the oldest past ten.
DRIVE = """([mutationMs, pointerMs]) => {
  const text = document.getElementById('stamp').firstChild;
  const list = document.getElementById('fanout');
  const now = () => String(performance.timeOrigin + performance.now());
  let changes = 0, moves = 0, x = 0;
  const mutate = setInterval(() => {
    changes++;
    if (changes % 2) { text.data = now(); return; }
    const li = document.createElement('li');
    li.textContent = now();
    list.appendChild(li);
    if (list.children.length > 10) list.firstElementChild.remove();
  }, mutationMs);
  const point = setInterval(() => {
    x = (x + 7) % 400;
    moves++;
    document.dispatchEvent(new MouseEvent('mousemove',
      { clientX: 20 + x, clientY: 40 + (x % 60), bubbles: true }));
  }, pointerMs);
  window.__fanoutStop = () => {
    clearInterval(mutate);
    clearInterval(point);
    return { changes, moves };
  };
}"""


# -- CPU time from /proc ----------------------------------------------------------------------
def _stat(pid: int) -> list[str] | None:
    """Fields 3… of /proc/PID/stat (after the command name), or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS if fields else 0.0


def descendants(root: int) -> list[int]:
    """Every live process under ``root`` (Playwright's driver, Chromium and its children)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))):
            children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def chromium_pids() -> list[int]:
    pids = []
    for pid in descendants(os.getpid()):
        with contextlib.suppress(OSError):
            exe = os.readlink(f"/proc/{pid}/exe")
            if "chrom" in Path(exe).name:
                pids.append(pid)
    return pids


# -- guests -----------------------------------------------------------------------------------
class Guests:
    """Protocol-level guests on one asyncio loop in a background thread. Each records the
    arrival time (``time.time()`` in ms, taken first) and the raw text of every frame."""

    def __init__(self, server_url: str) -> None:
        self.ws_url = server_url.replace("http://", "ws://") + "/ws/guest"
        self.origin = server_url
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sockets: list[ClientConnection] = []
        self.logs: list[list[tuple[float, str]]] = []
        self.readers: list[asyncio.Future[None]] = []

    def _call(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def join(self, tokens: list[str]) -> None:
        self._call(self._join_all(tokens))

    async def _join_all(self, tokens: list[str]) -> None:
        await asyncio.gather(*(self._join(i, token) for i, token in enumerate(tokens)))

    async def _join(self, i: int, token: str) -> None:
        ws = await join_guest(self.ws_url, self.origin, token, i)
        log: list[tuple[float, str]] = []
        self.sockets.append(ws)
        self.logs.append(log)
        self.readers.append(asyncio.ensure_future(read_into(ws, log)))

    def close(self) -> None:
        self._call(self._close_all())
        self.sockets, self.logs, self.readers = [], [], []

    async def _close_all(self) -> None:
        await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)
        await asyncio.gather(*self.readers, return_exceptions=True)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def stamps(data: dict[str, Any]) -> list[float]:
    """The timestamps a ``mutations`` frame carries (changed texts and added text nodes)."""
    texts = [t for _, t in data.get("texts", [])]
    texts += [rec[3] for rec in data.get("adds", []) if len(rec) > 3 and rec[2] == 3]
    out = []
    for text in texts:
        with contextlib.suppress(TypeError, ValueError):
            value = float(text)
            if value > 1e12:
                out.append(value)
    return out


def analyse(logs: list[list[tuple[float, str]]], since: float) -> dict[str, Any]:
    """What each guest received from ``since`` on, and every stamp's latency per guest."""
    arrivals: dict[float, list[float]] = {}
    per_guest: list[dict[str, int]] = []
    for log in logs:
        counts = {"mutations": 0, "pointer": 0, "other": 0, "stamps": 0}
        seen: set[float] = set()
        for t, raw in log:
            if t < since:
                continue
            frame = json.loads(raw)
            if frame.get("type") != "mirror":
                counts["other"] += 1
                continue
            kind = frame.get("kind")
            counts[kind if kind in ("mutations", "pointer") else "other"] += 1
            if kind == "mutations":
                for stamp in stamps(frame.get("data", {})):
                    if stamp >= since and stamp not in seen:
                        seen.add(stamp)
                        arrivals.setdefault(stamp, []).append(t - stamp)
        counts["stamps"] = len(seen)
        per_guest.append(counts)
    return {"arrivals": arrivals, "per_guest": per_guest}


def _pcts(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    return {"p50": percentile(values, 50), "p99": percentile(values, 99), "max": max(values)}


# -- the host ---------------------------------------------------------------------------------
def main_thread_seconds(cdp: CDPSession) -> dict[str, float]:
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    values = {m["name"]: m["value"] for m in metrics}
    return {"task": values.get("TaskDuration", 0.0), "script": values.get("ScriptDuration", 0.0)}


def guest_tokens(host: Page, count: int) -> tuple[list[str], str]:
    """``count`` join tokens: the session's public link for all, or, if this build has no
    public links, a private link each (its first device keeps it)."""
    try:
        url = host.evaluate("CwmnAPI.publicLink.generate()")
        return [url.split("?")[0].rstrip("/").rsplit("/", 1)[1]] * count, "public link"
    except PlaywrightError:  # a build without public links
        urls = [host.evaluate("CwmnAPI.guest.getInviteLink()") for _ in range(count)]
        return [u.split("?")[0].rstrip("/").rsplit("/", 1)[1] for u in urls], "private links"


@contextlib.contextmanager
def fanout_rig() -> Iterator[tuple[CwmnServer, PageServer, Page]]:
    """A ``cwmn-web serve`` subprocess (guest limit raised), the bench pages, and a host
    page in Chromium with a live session."""
    with tempfile.TemporaryDirectory() as tmp:
        server = CwmnServer(Path(tmp) / "data")
        server.data_dir.mkdir(parents=True)
        server.cli("site", "settings", "default", "--max-guests", str(MAX_GUESTS))
        with (
            server,
            PageServer(PAGES, lambda: server.url).running() as site,
            sync_playwright() as pw,
        ):
            browser = pw.chromium.launch(**launch_args("chromium"))
            try:
                host = browser.new_context().new_page()
                host.goto(site.url("latency.html", hostname="localhost"))
                host.wait_for_function("CwmnAPI.getCurrentState() === 'no session'", timeout=60_000)
                host.evaluate(SETUP)
                host.evaluate(
                    "CwmnAPI.session.start({hostName: 'Bench', hostEmail: 'bench@example.com'})"
                )
                yield server, site, host
            finally:
                browser.close()


def measure(
    server: CwmnServer, host: Page, cdp: CDPSession, guests: Guests, run_seconds: float
) -> dict[str, Any]:
    """One run of the stream with the guests already joined."""
    host.wait_for_timeout(SETTLE_SECONDS * 1000)
    browsers = chromium_pids()
    assert server.proc is not None
    before_main = main_thread_seconds(cdp)
    before_browser = sum(cpu_seconds(p) for p in browsers)
    before_server = cpu_seconds(server.proc.pid)
    before_clients = time.process_time()
    t0 = time.time()
    host.evaluate(DRIVE, [MUTATION_MS, POINTER_MS])
    host.wait_for_timeout(run_seconds * 1000)
    sent = host.evaluate("__fanoutStop()")
    host.wait_for_timeout(DRAIN_SECONDS * 1000)
    seconds = time.time() - t0
    after_main = main_thread_seconds(cdp)
    after_browser = sum(cpu_seconds(p) for p in browsers)
    after_server = cpu_seconds(server.proc.pid)
    after_clients = time.process_time()
    got = analyse(guests.logs, t0 * 1000)
    arrivals: dict[float, list[float]] = got["arrivals"]
    per_guest = got["per_guest"]

    def spread(key: str) -> dict[str, float]:
        values = [g[key] for g in per_guest]
        return {"mean": sum(values) / len(values), "min": min(values), "max": max(values)}

    return {
        "guests": len(per_guest),
        "seconds": seconds,
        "changes": sent["changes"],
        "moves": sent["moves"],
        # every (stamp, guest) pair; the first guest to get each stamp (the path host →
        # server → a socket, which N should not change); and, per stamp, last - first guest
        # (what fanning out to N sockets adds)
        "latency_ms": _pcts([v for vs in arrivals.values() for v in vs]),
        "first_guest_ms": _pcts([min(vs) for vs in arrivals.values()]),
        "spread_ms": _pcts([max(vs) - min(vs) for vs in arrivals.values()]),
        "mutation_frames": spread("mutations"),
        "pointer_frames": spread("pointer"),
        "stamps_seen": spread("stamps"),
        "host_task_ms_per_s": (after_main["task"] - before_main["task"]) * 1000 / seconds,
        "host_script_ms_per_s": (after_main["script"] - before_main["script"]) * 1000 / seconds,
        "host_browser_cpu_ms_per_s": (after_browser - before_browser) * 1000 / seconds,
        "server_cpu_ms_per_s": (after_server - before_server) * 1000 / seconds,
        # this process: the guests' sockets (and Playwright's client, idle meanwhile)
        "guest_clients_cpu_ms_per_s": (after_clients - before_clients) * 1000 / seconds,
    }


def run() -> dict[str, Any]:
    out: dict[str, Any] = {"runs": {}}
    with fanout_rig() as (server, _site, host):
        cdp = host.context.new_cdp_session(host)
        cdp.send("Performance.enable", {"timeDomain": "threadTicks"})
        guests = Guests(server.url)
        try:
            for count in (0, *GUEST_COUNTS):
                # fresh tokens each round: a private link (the fallback) admits one device
                tokens, out["joined_via"] = guest_tokens(host, count or 1)
                guests.join(tokens)
                try:
                    seconds = RUN_SECONDS if count else WARMUP_SECONDS
                    result = measure(server, host, cdp, guests, seconds)
                finally:
                    guests.close()
                if count:
                    out["runs"][str(count)] = result
                host.wait_for_timeout(300)  # the host hears the guests leave
        finally:
            guests.stop()
    return out


def report(results: dict[str, Any]) -> list[str]:
    runs = results["runs"]
    first = str(GUEST_COUNTS[0])
    base = runs[first]
    lines = [
        f"fan-out: one Chromium host, N Python guests ({results['joined_via']}), "
        f"{RUN_SECONDS:g} s of ~30 DOM changes/s + ~60 mousemoves/s per N",
        "      N | latency all guests p50 / p99 / max | first guest p50 / p99 |"
        " last-first p50 / p99 / max | frames/guest mut + ptr (min) | stamps seen",
    ]
    for n, r in runs.items():
        lat, fst, spr = r["latency_ms"], r["first_guest_ms"], r["spread_ms"]
        mut, ptr = r["mutation_frames"], r["pointer_frames"]
        lines.append(
            f"  {n:>5} | {lat['p50']:8.1f} {lat['p99']:7.1f} {lat['max']:7.1f} ms"
            f"       | {fst['p50']:6.1f} {fst['p99']:7.1f} ms    "
            f"| {spr['p50']:5.1f} {spr['p99']:6.1f} {spr['max']:6.1f} ms      "
            f"| {mut['mean']:5.1f} + {ptr['mean']:5.1f} ({mut['min']} + {ptr['min']})"
            f"{'':7}| {r['stamps_seen']['min']}/{r['changes']}"
        )
    lines.append(
        "      N | host main thread ms/s: task, script | host Chromium CPU ms/s"
        " | server CPU ms/s | host main x N=1 | host CPU x N=1 | server x N=1"
        " | guest clients CPU ms/s"
    )
    for n, r in runs.items():
        lines.append(
            f"  {n:>5} | {r['host_task_ms_per_s']:22.1f}, {r['host_script_ms_per_s']:6.1f}"
            f"     | {r['host_browser_cpu_ms_per_s']:22.1f} | {r['server_cpu_ms_per_s']:15.1f}"
            f" | {_ratio(r, base, 'host_task'):15.2f} | {_ratio(r, base, 'host_browser_cpu'):14.2f}"
            f" | {_ratio(r, base, 'server_cpu'):12.2f}"
            f" | {r['guest_clients_cpu_ms_per_s']:22.1f}"
        )
    lines.append(
        "  expected: host cost flat in N (it sends once; the server fans out); server CPU grows"
    )
    return lines


def _ratio(r: dict[str, Any], base: dict[str, Any], key: str) -> float:
    denominator = base[f"{key}_ms_per_s"]
    return r[f"{key}_ms_per_s"] / denominator if denominator else float("nan")


if __name__ == "__main__":
    print("\n".join(report(run())))


async def join_guest(ws_url: str, origin: str, token: str, i: int) -> ClientConnection:
    """Guest ``i``'s socket (a device of its own) at ``ws_url``, greeted and joined through
    ``token`` (frames that come before the answer are skipped)."""
    ws = await connect(
        ws_url,
        origin=Origin(origin),
        additional_headers={"Cookie": f"cwmn_device={secrets.token_urlsafe(18)}"},
        max_size=None,
        open_timeout=30,
    )
    await ws.send(json.dumps({"type": "hello", "ref": 1, "version": 1, "role": "guest"}))
    welcome = json.loads(await ws.recv())
    if welcome.get("type") != "welcome":
        raise RuntimeError(f"guest {i}: expected welcome, got {welcome}")
    join = {"type": "join", "ref": 2, "token": token, "name": f"g{i}", "last_seq": 0}
    await ws.send(json.dumps(join))
    while True:  # the snapshot may come first
        reply = json.loads(await ws.recv())
        if reply.get("ref") == 2:
            break
    if reply.get("type") != "joined":
        raise RuntimeError(f"guest {i}: expected joined, got {reply}")
    return ws


async def read_into(ws: ClientConnection, log: list[tuple[float, str]]) -> None:
    """Every frame ``ws`` receives, into ``log`` (arrival ms, then the raw text)."""
    with contextlib.suppress(Exception):
        while True:
            raw = await ws.recv()
            log.append((time.time() * 1000, raw if isinstance(raw, str) else raw.decode()))
