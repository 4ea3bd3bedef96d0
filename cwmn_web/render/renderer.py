"""Replay renderer: a recording directory → an MP4 (H.264 + AAC) of the host's page.

Headless Chromium shows the guest viewer (static/render.html); the recording is stepped
deterministically: output frame ``k`` shows every event with ``t ≤ started_at + k/fps``
(applied in one ``evaluate`` per frame), a JPEG is taken only when something changed (or, while
the page's resources load or its animations run, every frame), and the JPEGs are piped to
ffmpeg, which also places the narration segments on the timeline.

Nothing may hang: each step in the page (and each write to ffmpeg) has :data:`STEP_TIMEOUT`,
the whole render a deadline (:func:`deadline_for`); past either, Chromium and ffmpeg are
stopped, the partial file removed and :class:`RenderTimeout` raised (the worker retries).
Every request of the render page goes through :class:`~.network.RequestGuard`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from ..system_browsers import CHROMIUM_ARGS as SYSTEM_ARGS
from .errors import Progress, RenderCancelled, RenderError, RenderTimeout
from .ffmpeg import check_segment, encode_command, find_ffmpeg, stderr_tail
from .network import RequestGuard
from .pageserver import RenderPageServer
from .timeline import Event, read_recording

__all__ = ["CHROMIUM_ARGS", "chromium_args", "deadline_for", "render_replay", "render_replay_async"]

T = TypeVar("T")
log = logging.getLogger("cwmn_web.render")

#: The render page: no sound, no scrollbars in the frames. (``--no-sandbox`` only as root:
#: see :func:`chromium_args`.)
CHROMIUM_ARGS = [*SYSTEM_ARGS, "--mute-audio", "--hide-scrollbars"]
STEP_TIMEOUT = 30.0  # seconds for one step in the page (evaluate, screenshot, a write to ffmpeg)
START_TIMEOUT = 60.0  # seconds for each step of starting Chromium and opening the render page
CLOSE_TIMEOUT = 10.0  # seconds for Chromium and Playwright's driver to close
MIN_DEADLINE = 120.0  # the whole render: at least this many seconds,
DEADLINE_FACTOR = 6.0  # or this many times the video's length
JPEG_QUALITY = 80
SETTLE_MS = 1500  # after a snapshot: how long to wait for its images and stylesheets
REPORT_EVERY = 0.5  # seconds between progress reports
REPLAY_SHARE = 90.0  # percent of the bar for replaying; encoding gets the rest
#: The most events applied in one call to the page (a burst due at one instant is applied
#: in several: never all held at once).
MAX_BATCH = 200


def _ignore(_: Progress) -> None:
    pass


def _never() -> bool:
    return False


def chromium_args() -> list[str]:
    """:data:`CHROMIUM_ARGS`, without ``--no-sandbox`` unless running as root (Chromium
    refuses to start as root with its sandbox; anyone else keeps it)."""
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    return [a for a in CHROMIUM_ARGS if root or a != "--no-sandbox"]


def deadline_for(duration: float) -> float:
    """Seconds a render of a ``duration``-second video may take in all."""
    return max(MIN_DEADLINE, DEADLINE_FACTOR * duration)


async def _within(step: Awaitable[T], seconds: float, what: str, limit: float | None = None) -> T:
    """``await step``, or RenderTimeout after ``seconds`` (saying ``what`` took longer than
    ``limit``, by default ``seconds``)."""
    try:
        return await asyncio.wait_for(step, max(0.0, seconds))
    except TimeoutError:
        shown = seconds if limit is None else limit
        raise RenderTimeout(f"{what} took longer than {shown:g} s") from None


def _batch(events: Iterable[Event]) -> tuple[list[dict[str, Any]], bool]:
    """The page messages for one output frame (only the last pointer position matters), and
    whether a snapshot is among them."""
    ops: list[dict[str, Any]] = []
    pointer: dict[str, Any] | None = None
    snapshot = False
    for event in events:
        snapshot = snapshot or event.kind == "snapshot"
        if event.kind == "pointer":
            pointer = event.op()
        else:
            ops.append(event.op())
    if pointer is not None:
        ops.append(pointer)
    return ops, snapshot


class _Due:
    """The events of a time-ordered stream due by a time, in batches of at most
    :data:`MAX_BATCH` (only the next event is read ahead)."""

    def __init__(self, events: Iterable[Event]) -> None:
        self._events: Iterator[Event] = iter(events)
        self._next = next(self._events, None)

    def batches(self, until: float) -> Iterator[list[Event]]:
        while self._next is not None and self._next.t <= until:
            batch: list[Event] = []
            while self._next is not None and self._next.t <= until and len(batch) < MAX_BATCH:
                batch.append(self._next)
                self._next = next(self._events, None)
            yield batch


class _Reporter:
    """Throttled progress with an ETA from the rate so far."""

    def __init__(self, progress: Callable[[Progress], None]) -> None:
        self.progress = progress
        self.start = time.monotonic()
        self.last = -math.inf

    def __call__(self, percent: float, stage: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < REPORT_EVERY:
            return
        self.last = now
        elapsed = now - self.start
        eta = elapsed * (100 - percent) / percent if percent >= 1 else -1.0
        self.progress(Progress(round(percent, 1), stage, round(eta, 1) if eta >= 0 else -1.0))


async def render_replay_async(
    recording: Path,
    started_at: float,
    ended_at: float,
    out: Path,
    *,
    progress: Callable[[Progress], None] = _ignore,
    should_stop: Callable[[], bool] = _never,
    fps: int = 10,
    size: tuple[int, int] = (1280, 720),
    chromium: str | None = None,
    timeout: float | None = None,
) -> None:
    """Render ``recording`` (covering [started_at, ended_at], ms epoch) into ``out`` (MP4).

    Raises RenderError for a corrupt recording or a failed encode, RenderCancelled when
    ``should_stop()`` turns True, RenderTimeout past ``timeout`` seconds (default
    :func:`deadline_for` the video's length) or when a step hangs; ``out`` is only ever
    written whole (tmp file + rename).
    """
    recording, out = Path(recording), Path(out)
    if not (ended_at > started_at and fps > 0):
        raise RenderError(f"nothing to render: ended_at {ended_at} ≤ started_at {started_at}")
    duration = (ended_at - started_at) / 1000
    width, height = (max(2, int(v) // 2 * 2) for v in size)  # H.264 4:2:0 needs even sizes
    limit = deadline_for(duration) if timeout is None else timeout
    deadline = time.monotonic() + limit

    def left() -> float:
        return deadline - time.monotonic()

    report = _Reporter(progress)
    report(0, "replaying", force=True)
    timeline = read_recording(recording)
    ffmpeg = find_ffmpeg()
    segments = [s for s in timeline.segments if s.t0 < ended_at]
    for segment in segments:
        await _within(
            asyncio.to_thread(check_segment, ffmpeg, segment),
            left(),
            "the render (its deadline)",
            limit,
        )
    total = max(1, math.ceil(duration * fps - 1e-6))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    with tempfile.TemporaryDirectory(prefix="cwmn-render-") as work:
        log_path, progress_path = Path(work) / "ffmpeg.log", Path(work) / "progress"
        command = encode_command(
            ffmpeg,
            tmp,
            fps=fps,
            duration=duration,
            started_at=started_at,
            segments=segments,
            progress=progress_path,
        )
        with log_path.open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.PIPE, stdout=log, stderr=log
            )
        try:
            replay = _replay(
                timeline.events,
                proc,
                started_at=started_at,
                fps=fps,
                total=total,
                viewport=(width, height),
                chromium=chromium,
                should_stop=_or_past(should_stop, deadline, limit),
                report=report,
                log_path=log_path,
            )
            await _within(replay, left(), "the render (its deadline)", limit)
            finish = _finish(proc, duration, progress_path, log_path, report)
            await _within(finish, left(), "the render (its deadline)", limit)
            os.replace(tmp, out)
        except BaseException:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            tmp.unlink(missing_ok=True)
            raise
    report(100, "done", force=True)


def render_replay(
    recording: Path,
    started_at: float,
    ended_at: float,
    out: Path,
    *,
    progress: Callable[[Progress], None] = _ignore,
    should_stop: Callable[[], bool] = _never,
    fps: int = 10,
    size: tuple[int, int] = (1280, 720),
    chromium: str | None = None,
    timeout: float | None = None,
) -> None:
    """:func:`render_replay_async` for synchronous callers (no event loop running)."""
    asyncio.run(
        render_replay_async(
            recording,
            started_at,
            ended_at,
            out,
            progress=progress,
            should_stop=should_stop,
            fps=fps,
            size=size,
            chromium=chromium,
            timeout=timeout,
        )
    )


def _or_past(should_stop: Callable[[], bool], deadline: float, limit: float) -> Callable[[], bool]:
    """``should_stop``, and RenderTimeout once ``deadline`` passed: checked every frame,
    since a step that completes at once can swallow the deadline's cancellation
    (``asyncio.wait_for`` before Python 3.12)."""

    def check() -> bool:
        if time.monotonic() > deadline:
            raise RenderTimeout(f"the render (its deadline) took longer than {limit:g} s")
        return should_stop()

    return check


async def _replay(
    events: Iterable[Event],
    proc: asyncio.subprocess.Process,
    *,
    started_at: float,
    fps: int,
    total: int,
    viewport: tuple[int, int],
    chromium: str | None,
    should_stop: Callable[[], bool],
    report: _Reporter,
    log_path: Path,
) -> None:
    """Step the render page through ``events`` and write one JPEG per output frame."""
    from playwright.async_api import async_playwright

    assert proc.stdin is not None
    executable = chromium or os.environ.get("CWMN_CHROMIUM") or shutil.which("chromium")
    if not executable:
        raise RenderError("Chromium not found: install it (apt-get install chromium)")
    with RenderPageServer() as server:
        pw = await _within(async_playwright().start(), START_TIMEOUT, "starting Playwright")
        try:
            browser = await _within(
                pw.chromium.launch(executable_path=executable, args=chromium_args()),
                START_TIMEOUT,
                "starting Chromium",
            )
            try:
                await _frames(
                    browser,
                    server,
                    events,
                    proc,
                    started_at=started_at,
                    fps=fps,
                    total=total,
                    viewport=viewport,
                    should_stop=should_stop,
                    report=report,
                    log_path=log_path,
                )
            finally:
                await _close(browser.close(), "Chromium")
        finally:
            await _close(pw.stop(), "Playwright", _driver(pw))


async def _frames(
    browser: Any,
    server: RenderPageServer,
    events: Iterable[Event],
    proc: asyncio.subprocess.Process,
    *,
    started_at: float,
    fps: int,
    total: int,
    viewport: tuple[int, int],
    should_stop: Callable[[], bool],
    report: _Reporter,
    log_path: Path,
) -> None:
    assert proc.stdin is not None
    context = await _within(
        browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]},
            device_scale_factor=1,
            service_workers="block",
        ),
        START_TIMEOUT,
        "opening the render page",
    )
    guard = RequestGuard(server.origin)
    await context.route("**/*", guard)
    page = await _within(context.new_page(), START_TIMEOUT, "opening the render page")
    await _within(page.goto(server.url), START_TIMEOUT, "opening the render page")
    await _within(
        page.wait_for_function("() => window.cwmnRender !== undefined"),
        START_TIMEOUT,
        "opening the render page",
    )
    await _within(page.evaluate("() => window.cwmnRender.ready"), START_TIMEOUT, "the viewer")
    cdp = await _within(page.context.new_cdp_session(page), START_TIMEOUT, "the DevTools session")
    shot: bytes | None = None
    pending = 0
    due = _Due(events)
    for k in range(total):
        if should_stop():
            raise RenderCancelled("the render was stopped")
        until = started_at + k * 1000 / fps
        changed = False
        for batch in due.batches(until):
            ops, snapshot = _batch(batch)
            changed = True
            pending = await _within(
                page.evaluate("b => window.cwmnRender.apply(b)", ops),
                STEP_TIMEOUT,
                f"applying frame {k}",
            )
            if snapshot:
                pending = await _within(
                    _settle(page, guard),
                    STEP_TIMEOUT,
                    f"waiting for the page's resources at frame {k}",
                )
        # Busy: resources loading or animations running at the last look, or the guard
        # still answering the page's requests (@imports, backgrounds, fonts, sprites).
        busy = pending or guard.loading
        if pending and not changed:
            pending = await _within(
                page.evaluate("() => window.cwmnRender.busy()"), STEP_TIMEOUT, f"frame {k}"
            )
        if changed or busy or shot is None:
            shot = await _within(_screenshot(cdp), STEP_TIMEOUT, f"the screenshot of frame {k}")
        try:
            proc.stdin.write(shot)
            await _within(proc.stdin.drain(), STEP_TIMEOUT, f"ffmpeg taking frame {k}")
        except (BrokenPipeError, ConnectionResetError) as exc:
            await _within(proc.wait(), STEP_TIMEOUT, "ffmpeg exiting")
            tail = stderr_tail(log_path.read_bytes())
            raise RenderError(f"ffmpeg failed: {tail}") from exc
        report(REPLAY_SHARE * (k + 1) / total, "replaying")


def _driver(pw: Any) -> asyncio.subprocess.Process | None:
    """Playwright's driver process (which runs Chromium), if this Playwright exposes it."""
    transport = getattr(getattr(pw, "_connection", None), "_transport", None)
    proc = getattr(transport, "_proc", None)
    return proc if isinstance(proc, asyncio.subprocess.Process) else None


async def _close(
    closing: Awaitable[Any], what: str, process: asyncio.subprocess.Process | None = None
) -> None:
    """Close ``what`` within :data:`CLOSE_TIMEOUT`; failing that, kill ``process`` (Chromium,
    on a pipe to the driver, exits with it). Never raises: this runs while cleaning up."""
    closed = False
    try:
        await asyncio.wait_for(closing, CLOSE_TIMEOUT)
        closed = True
    except Exception as exc:  # already gone, or hung
        log.warning("closing %s: %s", what, exc or type(exc).__name__)
    if closed and process is not None and process.returncode is None:  # exiting: a moment
        with contextlib.suppress(Exception):
            await asyncio.wait_for(process.wait(), CLOSE_TIMEOUT)
    if process is not None and process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(process.wait(), CLOSE_TIMEOUT)


async def _settle(page: Any, guard: RequestGuard) -> int:
    """After a snapshot: wait (at most :data:`SETTLE_MS`) for the page's images, stylesheets
    and fonts, and for the requests the guard is answering; the page's busy count."""
    end = time.monotonic() + SETTLE_MS / 1000
    pending: int = await page.evaluate("ms => window.cwmnRender.settle(ms)", SETTLE_MS)
    while guard.in_flight and time.monotonic() < end:
        await asyncio.sleep(0.025)  # bounded: the guard's answers are not the page's events
    return pending


async def _screenshot(cdp: Any) -> bytes:
    result = await cdp.send(
        "Page.captureScreenshot",
        {"format": "jpeg", "quality": JPEG_QUALITY, "optimizeForSpeed": True},
    )
    return base64.b64decode(result["data"])


async def _finish(
    proc: asyncio.subprocess.Process,
    duration: float,
    progress_path: Path,
    log_path: Path,
    report: _Reporter,
) -> None:
    """Close ffmpeg's input and wait for the MP4, reporting the encoder's position."""
    assert proc.stdin is not None
    proc.stdin.close()
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        await proc.stdin.wait_closed()
    report(REPLAY_SHARE, "encoding", force=True)
    while True:
        try:
            await asyncio.wait_for(proc.wait(), REPORT_EVERY)
            break
        except TimeoutError:
            done = _encoded_seconds(progress_path) / duration if duration else 0
            report(REPLAY_SHARE + (100 - REPLAY_SHARE) * min(1.0, done), "encoding")
    if proc.returncode != 0:
        tail = stderr_tail(log_path.read_bytes())
        raise RenderError(f"ffmpeg failed (exit {proc.returncode}): {tail}")


def _encoded_seconds(path: Path) -> float:
    """The last ``out_time_us`` ffmpeg's ``-progress`` file reports, in seconds."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return 0.0
    for line in reversed(lines):
        if line.startswith("out_time_us="):
            with contextlib.suppress(ValueError):
                return max(0.0, int(line.split("=", 1)[1]) / 1e6)
    return 0.0
