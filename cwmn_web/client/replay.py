"""Replays on the host side: the narration while recording, then following the render.

While a replay records, the page's MediaRecorder (static/recorder.mjs) hands its chunks to
:class:`Narration`, which sends them as ``audio`` mirror frames (numbered, kept and re-sent
like every other frame) and keeps the recording within its maximum length. After the end,
:class:`ReplayWatch` follows the server's render job (``WatchReplay``) and turns its updates
into ``replay progress`` / ``replay complete`` / ``replay error``. No I/O here: time comes
in as ``now`` (``tick``), sockets through the owner.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import CwmnError, ErrorCode, InvalidState, NetworkError, ProtocolError
from ..protocol.messages import (
    AUDIO_SEGMENT,
    AUDIO_TYPES,
    DEFAULT_REPLAY_MAX_SECONDS,
    MAX_AUDIO_CHUNK_BYTES,
    Message,
    ReplayUpdate,
    WatchReplay,
)
from ..timing import Backoff, Timers
from .requests import Done, Outcome
from .sockets import ServerSocket
from .states import State, Trigger

__all__ = [
    "AUDIO_STOP_TIMEOUT",
    "DEFAULT_MAX_SECONDS",
    "DRAIN_TIMEOUT",
    "AudioChunk",
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

    def warn(self, message: str) -> None: ...

    @property
    def now(self) -> float: ...

    def open_socket(
        self,
        ready: Callable[[ServerSocket | CwmnError], None],
        on_push: Callable[[Message], None] | None = None,
        on_lost: Callable[[CwmnError], None] | None = None,
    ) -> ServerSocket: ...


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
        #: Called once the page's recorder stopped (or ``stop`` timed out).
        self._stopped: Callable[[], None] | None = None
        #: ``warn``, ``timeout`` (the maximum length), ``stop`` (the wait for the last chunk).
        self._timers: Timers[str] = Timers()
        self._max_seconds = 0.0
        self._on_timeout: Callable[[], None] = lambda: None

    @property
    def info(self) -> dict[str, Any]:
        """What ``session.getSessionInfo()`` says about the narration."""
        return {"audio": self.status, "audioMuted": self.muted, "audioError": self.reason}

    def start(
        self,
        elapsed: float,
        max_seconds: float,
        on_timeout: Callable[[], None],
        muted: bool,
        now: float,
    ) -> None:
        """Ask the page to record the microphone; fire the timeout events on time."""
        self.muted = muted
        self._max_seconds, self._on_timeout = max_seconds, on_timeout
        self.owner.overlay({"op": "record", "action": "start", "muted": muted})
        warn_at = max_seconds - warning_lead(max_seconds) - elapsed
        if warn_at > 0:
            self._timers.set("warn", now + warn_at)
        self._timers.set("timeout", now + max(0.0, max_seconds - elapsed))

    def next_due(self) -> float | None:
        return self._timers.next_due()

    def tick(self, now: float) -> None:
        for key in self._timers.due(now):
            if key == "warn" and self.owner.state is State.IN_SESSION:
                self.owner.emit("replay timeout warning", warning_lead(self._max_seconds))
            elif key == "timeout":
                self._on_timeout()
            elif key == "stop":
                self._stop_done()

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
            self.send("audio", checked_chunk(chunk, self._indexes).data())

    def _status(self, status: str, reason: str) -> None:
        if status == "stopped" and self.status == "unavailable":
            self._stop_done()
            return
        if status == "unavailable":
            self.reason = reason or "no microphone"
            self.owner.warn(
                f"CWMN: recording the replay without narration: {self.reason} "
                "(the microphone is unavailable or permission was refused)"
            )
        self.status = status
        self.owner.publish()
        if status == "stopped":
            self._stop_done()

    def stop(self, now: float, done: Callable[[], None]) -> None:
        """Stop the page's recorder; ``done`` once it handed over its last chunk (or after
        :data:`AUDIO_STOP_TIMEOUT` seconds)."""
        self._timers = Timers()
        self.owner.overlay({"op": "record", "action": "stop"})
        if self.status in ("recording", "pending"):
            self._stopped = done
            self._timers.set("stop", now + AUDIO_STOP_TIMEOUT)
        else:
            self._stopped = done
            self._stop_done()

    def _stop_done(self) -> None:
        stopped, self._stopped = self._stopped, None
        if stopped is None:
            return
        self._timers.cancel("stop")
        if self.status != "unavailable":
            self.status = "stopped"
        stopped()

    def cancel(self) -> None:
        """The session ended without :meth:`stop` (the server ended it): stop the page."""
        self._timers = Timers()
        self._stopped = None
        self.owner.overlay({"op": "record", "action": "stop"})


@dataclass(frozen=True)
class AudioChunk:
    """One piece of the narration: chunk ``index`` of ``segment`` (a MediaRecorder run that
    started at ``t0``, ms since the epoch), ``mime`` audio as base64."""

    segment: str
    t0: float
    index: int
    mime: str
    b64: str

    def data(self) -> dict[str, Any]:
        """The data of its ``audio`` mirror frame."""
        return {
            "segment": self.segment,
            "t0": self.t0,
            "index": self.index,
            "mime": self.mime,
            "b64": self.b64,
        }


def checked_chunk(chunk: dict[str, Any], indexes: dict[str, int]) -> AudioChunk:
    """One audio chunk from the page, checked; ``ProtocolError`` if malformed."""
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
    return AudioChunk(segment, float(t0), index, mime, b64)


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
        self.backoff = Backoff()
        self._socket: ServerSocket | None = None
        self._connected = False
        #: ``reconnect``, and one ``("request", n)`` per request waiting for a connection.
        self._timers: Timers[Any] = Timers()
        self._waiting: dict[int, tuple[Message, float, Done]] = {}
        self._count = 0

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

    def request(self, message: Message, done: Done, timeout: float = 30.0) -> None:
        """Send ``message`` on the watch's socket (once it is connected, for up to
        ``timeout`` seconds)."""
        if self._connected and self._socket is not None:
            self._socket.request(message, done, timeout)
            return
        self._count += 1
        self._waiting[self._count] = (message, timeout, done)
        self._timers.set(("request", self._count), self.owner.now + timeout)

    # -- the socket -----------------------------------------------------------------------
    def start(self) -> None:
        """Keep a socket watching the replay until it is settled or :meth:`close` is called."""
        if self.closed:
            return

        def ready(socket: ServerSocket | CwmnError) -> None:
            if isinstance(socket, CwmnError):
                self._retry()
            else:
                socket.request(WatchReplay(resume_token=self.token), lambda o: watching(socket, o))

        def watching(socket: ServerSocket, outcome: Outcome) -> None:
            if self.closed or socket is not self._socket:
                return
            if isinstance(outcome, ReplayUpdate):
                self.backoff.reset()
                self._connected = True
                self.on_update(outcome)
                self._flush_waiting(socket)
                return
            socket.close()
            if isinstance(outcome, CwmnError) and outcome.code == ErrorCode.NOT_FOUND:
                self._gone()
            else:
                self._retry()

        def lost(exc: CwmnError) -> None:
            if socket is self._socket:  # not one already given up (its request failed first)
                self._on_lost(exc)

        socket = self._socket = self.owner.open_socket(ready, self._on_push, lost)

    def _flush_waiting(self, socket: ServerSocket) -> None:
        waiting, self._waiting = self._waiting, {}
        for n, (message, timeout, done) in waiting.items():
            self._timers.cancel(("request", n))
            socket.request(message, done, timeout)

    def _retry(self) -> None:
        self._socket, self._connected = None, False
        if not self.closed:
            self._timers.set("reconnect", self.owner.now + self.backoff.next())

    def _on_push(self, message: Message) -> None:
        if isinstance(message, ReplayUpdate) and not self.closed:
            self.on_update(message)

    def _on_lost(self, exc: CwmnError) -> None:
        """The socket dropped: watch again at once (the backoff is for failed attempts)."""
        self._socket, self._connected = None, False
        self.start()

    def next_due(self) -> float | None:
        return self._timers.next_due()

    def tick(self, now: float) -> None:
        for key in self._timers.due(now):
            if key == "reconnect":
                self.start()
            else:
                waiting = self._waiting.pop(key[1], None)
                if waiting is not None:
                    waiting[2](NetworkError("the server cannot be reached; try again"))

    def close(self) -> None:
        self.closed = True
        self._timers = Timers()
        socket, self._socket, self._connected = self._socket, None, False
        if socket is not None:
            socket.close()
        waiting, self._waiting = self._waiting, {}
        for _, _, done in waiting.values():
            done(NetworkError("the connection was closed"))

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
        self.close()
        if self.owner.state in (State.WAITING_FOR_REPLAY, State.REPLAY_COMPLETE):
            self.owner.move(Trigger.ABANDON_VIDEO)
