"""Replays on the host side: the narration while recording, then following the render.

While a replay records, the page's MediaRecorder (static/recorder.mjs) hands its chunks to
:class:`Narration`, which sends them as ``audio`` mirror frames (numbered, kept and re-sent
like every other frame) and keeps the recording within its maximum length. After the end,
:class:`ReplayWatch` follows the server's render job (``WatchReplay``) and turns its updates
into ``replay progress`` / ``replay complete`` / ``replay error``. No ``js`` here.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import re
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from ..errors import CwmnError, InvalidState, ProtocolError
from ..protocol.messages import (
    AUDIO_SEGMENT,
    AUDIO_TYPES,
    DEFAULT_REPLAY_MAX_SECONDS,
    MAX_AUDIO_CHUNK_BYTES,
    Message,
    ReplayUpdate,
    WatchReplay,
)
from .hosting import RECONNECT_DELAYS
from .link import Link
from .states import State, Trigger

__all__ = [
    "AUDIO_STOP_TIMEOUT",
    "DEFAULT_MAX_SECONDS",
    "DRAIN_TIMEOUT",
    "Narration",
    "ReplayWatch",
    "warning_lead",
]

DEFAULT_MAX_SECONDS = float(DEFAULT_REPLAY_MAX_SECONDS)
#: How long ``endSession`` waits for the page's recorder to hand over its last chunk.
AUDIO_STOP_TIMEOUT = 3.0
#: How long ``endSession`` waits for the server to hold every frame of the recording.
DRAIN_TIMEOUT = 10.0
MAX_CHUNK_B64 = (MAX_AUDIO_CHUNK_BYTES + 2) // 3 * 4
_SEGMENT = re.compile(AUDIO_SEGMENT)
#: A send the server is still on: the page waits for its outcome.
_SENDING = ("queued", "sending")


def warning_lead(max_seconds: float) -> float:
    """Seconds before the maximum at which ``replay timeout warning`` fires: one minute, or
    half the maximum for recordings limited to less than two minutes."""
    return min(60.0, max_seconds / 2)


class ReplayOwner(Protocol):
    """What the replay classes need from the controller."""

    @property
    def state(self) -> State: ...

    def emit(self, event: str, *args: Any, state: State | None = None) -> None: ...

    def move(self, trigger: Trigger, *args: Any) -> None: ...

    def publish(self) -> None: ...

    def overlay(self, message: dict[str, Any]) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None: ...

    def warn(self, message: str) -> None: ...

    async def open_link(
        self,
        on_push: Callable[[Message], None] | None = None,
        on_lost: Callable[[CwmnError], None] | None = None,
    ) -> Link: ...


class Narration:
    """The host's microphone while a replay records, and the recording's length limit."""

    def __init__(self, owner: ReplayOwner, send: Callable[[str, dict[str, Any]], None]) -> None:
        self.owner = owner
        self.send = send
        self.status = "pending"
        """``pending`` (asking for the microphone), ``recording``, ``unavailable`` or
        ``stopped``."""
        self.muted = False
        self.reason = ""
        self._indexes: dict[str, int] = {}
        self._stopped: asyncio.Future[None] | None = None
        self._timers: list[asyncio.TimerHandle] = []

    @property
    def info(self) -> dict[str, Any]:
        """What ``session.getSessionInfo()`` says about the narration."""
        return {"audio": self.status, "audioMuted": self.muted, "audioError": self.reason}

    def start(
        self, elapsed: float, max_seconds: float, on_timeout: Callable[[], None], muted: bool
    ) -> None:
        """Ask the page to record the microphone; fire the timeout events on time."""
        self.muted = muted
        self.owner.overlay({"op": "record", "action": "start", "muted": muted})
        loop = asyncio.get_running_loop()
        warn_at = max_seconds - warning_lead(max_seconds) - elapsed
        if warn_at > 0:
            self._timers.append(loop.call_later(warn_at, self._warn, max_seconds))
        self._timers.append(loop.call_later(max(0.0, max_seconds - elapsed), on_timeout))

    def _warn(self, max_seconds: float) -> None:
        if self.owner.state is State.IN_SESSION:
            left = warning_lead(max_seconds)
            self.owner.emit("replay timeout warning", left)

    def mute(self, muted: bool) -> bool:
        self.muted = muted
        self.owner.overlay({"op": "record", "action": "mute", "muted": muted})
        self.owner.publish()
        return muted

    def on_audio(self, message: dict[str, Any]) -> None:
        """A message from the page's recorder: a status change, or one chunk."""
        status = message.get("status")
        if status in ("recording", "unavailable", "stopped"):
            self._status(str(status), str(message.get("reason") or "")[:300])
            return
        chunk = message.get("chunk")
        if isinstance(chunk, dict) and self.status != "stopped":
            self.send("audio", checked_chunk(chunk, self._indexes))

    def _status(self, status: str, reason: str) -> None:
        if status == "stopped":
            if self._stopped is not None and not self._stopped.done():
                self._stopped.set_result(None)
            if self.status == "unavailable":
                return
        if status == "unavailable":
            self.reason = reason or "no microphone"
            self.owner.warn(
                f"CWMN: recording the replay without narration: {self.reason} "
                "(the microphone is unavailable or permission was refused)"
            )
        self.status = status
        self.owner.publish()

    async def stop(self) -> None:
        """Stop the page's recorder and wait (briefly) for its last chunk."""
        self._cancel_timers()
        if self.status in ("recording", "pending"):
            self._stopped = asyncio.get_running_loop().create_future()
            self.owner.overlay({"op": "record", "action": "stop"})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped, AUDIO_STOP_TIMEOUT)
        else:
            self.owner.overlay({"op": "record", "action": "stop"})
        if self.status != "unavailable":
            self.status = "stopped"

    def _cancel_timers(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def cancel(self) -> None:
        """The session ended without :meth:`stop` (the server ended it): stop the page."""
        self._cancel_timers()
        self.owner.overlay({"op": "record", "action": "stop"})


def checked_chunk(chunk: dict[str, Any], indexes: dict[str, int]) -> dict[str, Any]:
    """The wire data of one audio chunk from the page; ``ProtocolError`` if malformed."""
    segment, index = chunk.get("segment"), chunk.get("index")
    t0, mime, b64 = chunk.get("t0"), chunk.get("mime"), chunk.get("b64")
    if not isinstance(segment, str) or not _SEGMENT.fullmatch(segment):
        raise ProtocolError("an audio chunk needs a segment id of 1 to 40 letters, digits, - or _")
    # A chunk the page lost leaves a gap (the rest of the segment still counts); one that
    # comes again or goes back is refused.
    if not isinstance(index, int) or isinstance(index, bool) or index < indexes.get(segment, 0):
        raise ProtocolError(f"audio chunk {index!r} of {segment} is out of order")
    if not isinstance(t0, int | float) or isinstance(t0, bool) or t0 <= 0:
        raise ProtocolError("an audio chunk needs its segment's start time t0 (ms)")
    if mime not in AUDIO_TYPES:
        raise ProtocolError(f"audio type {mime!r} is not one of {', '.join(AUDIO_TYPES)}")
    if not isinstance(b64, str) or not b64 or len(b64) > MAX_CHUNK_B64:
        raise ProtocolError("an audio chunk needs 1 byte to 1 MB of base64 data")
    try:
        base64.b64decode(b64, validate=True)
    except binascii.Error:
        raise ProtocolError("an audio chunk's data is not base64") from None
    indexes[segment] = index + 1
    return {"segment": segment, "t0": float(t0), "index": index, "mime": mime, "b64": b64}


class ReplayWatch:
    """Follows one replay's render job from ``waiting for replay`` until the page is done
    with it (sent, abandoned, dismissed: the controller closes it)."""

    def __init__(self, owner: ReplayOwner, token: str, replay_id: str) -> None:
        self.owner = owner
        self.token = token
        self.replay_id = replay_id
        self.update = ReplayUpdate(replay_id=replay_id)
        self.send_queued = False
        """``sendVideo`` was called before ``replay complete``: once rendered (and the email
        went), the page goes on to ``ready no session``."""
        self.closed = False
        self._link: Link | None = None
        self._connected: asyncio.Event = asyncio.Event()
        self._lost: asyncio.Event = asyncio.Event()

    # -- what the page asks -------------------------------------------------------------
    @property
    def progress(self) -> dict[str, Any]:
        """``replay.getRenderingProgress()``."""
        return {
            "percent": round(self.update.percent, 1),
            "completed": self.update.status == "complete",
        }

    @property
    def event_progress(self) -> dict[str, Any]:
        """The ``replay progress`` event's argument."""
        eta = self.update.eta_seconds
        return {
            "percent": round(self.update.percent, 1),
            "stage": self.update.stage,
            "etaSeconds": round(eta, 1) if eta >= 0 else None,
        }

    def video_url(self) -> str:
        if self.update.status != "complete" or not self.update.video_url:
            raise InvalidState("the replay video is not rendered yet")
        return self.update.video_url

    async def request(self, message: Message, timeout: float = 30.0) -> Message:
        """Send ``message`` on the watch's link (waiting for it to be connected)."""
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            raise CwmnError("the server cannot be reached; try again", "network") from None
        assert self._link is not None
        return await self._link.request(message, timeout)

    # -- the link -------------------------------------------------------------------------
    async def run(self) -> None:
        """Keep a link watching the replay until it is settled or :meth:`close` is called."""
        attempt = 0
        while not self.closed:
            self._lost.clear()
            try:
                link = await self.owner.open_link(self._on_push, self._on_lost)
            except CwmnError:
                link = None
            if link is not None:
                try:
                    reply = await link.request(WatchReplay(resume_token=self.token))
                except CwmnError as exc:
                    await link.close()
                    if exc.code == "not_found":
                        self._gone()
                        return
                    reply = None
                if isinstance(reply, ReplayUpdate):
                    attempt = 0
                    self._link = link
                    self._connected.set()
                    self.on_update(reply)
                    await self._lost.wait()
                    self._connected.clear()
                    self._link = None
                    await link.close()
                    continue
            delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
            attempt += 1
            await asyncio.sleep(delay)

    def _on_push(self, message: Message) -> None:
        if isinstance(message, ReplayUpdate):
            self.on_update(message)

    def _on_lost(self, exc: CwmnError) -> None:
        self._lost.set()

    async def close(self) -> None:
        self.closed = True
        self._lost.set()
        if self._link is not None:
            await self._link.close()

    # -- updates ----------------------------------------------------------------------------
    def on_update(self, update: ReplayUpdate) -> None:
        """Fire what ``update`` means in the current state."""
        before, self.update = self.update, update
        state = self.owner.state
        if state is State.WAITING_FOR_REPLAY:
            if update.status == "complete":
                if self.send_queued and update.send_status in _SENDING:
                    return  # the email goes out first; its update follows
                self.owner.move(Trigger.RENDER_DONE)
                if self.send_queued:
                    self._sent(update.send_status)
            elif update.status == "failed":
                self.owner.warn(f"CWMN: the replay video could not be rendered: {update.error}")
                self.owner.move(Trigger.RENDER_FAILED)
            elif update.status == "abandoned":
                self._gone()
            elif (update.percent, update.stage) != (before.percent, before.stage) or (
                before.status != update.status
            ):
                self.owner.move(Trigger.RENDER_PROGRESS, self.event_progress)

    def _sent(self, send_status: str) -> None:
        """The email queued by ``sendVideo`` went out (or failed): back to no session."""
        if send_status == "failed":
            self.owner.warn("CWMN: the replay video's email could not be sent")
        self.owner.move(Trigger.SEND_VIDEO)

    def _gone(self) -> None:
        """The replay no longer exists on the server (abandoned elsewhere, expired)."""
        self.closed = True
        if self.owner.state in (State.WAITING_FOR_REPLAY, State.REPLAY_COMPLETE):
            self.owner.move(Trigger.ABANDON_VIDEO)
