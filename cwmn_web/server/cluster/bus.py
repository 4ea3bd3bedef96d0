"""The processes' messages over Redis pub/sub: one channel per process, one connection that
publishes in order (so a pipe's messages arrive in the order they were sent), and outgoing
frames gathered per loop turn so that one text for many pipes of a process is one message.

Publishing and hearing go through :mod:`.resp` (a command is written in the loop turn that
sends it). A connection that breaks may have lost messages, so either side breaking ends
every pipe (``on_lost``); the bus then connects again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable

from .resp import RespConnection, RespError
from .wire import OUT, Envelope, decode, encode

__all__ = ["Bus", "channel_of"]

log = logging.getLogger("cwmn_web.server")
PREFIX = "cwmn:p:"
#: Seconds between PINGs on each connection, and of silence after which it is dead.
PING_EVERY, REPLY_TIMEOUT = 3.0, 10.0
#: Seconds between attempts to reach Redis again.
RETRY = 0.5


def channel_of(process_id: str) -> str:
    """The Redis channel a process listens on."""
    return PREFIX + process_id


class Bus:
    """Send to other processes (:meth:`send`, :meth:`send_now`); hear this process's
    messages (``on_message``, called in the event loop in arrival order); ``on_lost`` when
    a connection broke (messages may have been lost: every pipe must end)."""

    def __init__(
        self,
        url: str,
        process_id: str,
        on_message: Callable[[Envelope], None],
        on_lost: Callable[[], None],
    ) -> None:
        self.url, self.me = url, process_id
        self.on_message, self.on_lost = on_message, on_lost
        self._gathered: dict[str, list[Envelope]] = {}
        self._flush_soon = False
        self._out: RespConnection | None = None
        self._replies: deque[asyncio.Future[int] | None] = deque()
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()
        self.listening = asyncio.Event()
        """Set while this process hears its channel (others can reach its pipes)."""
        self._publishing = asyncio.Event()

    async def start(self) -> None:
        """Connect, subscribe and start publishing (returns once both are up)."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen()), loop.create_task(self._publish())]
        await asyncio.wait_for(asyncio.gather(self._subscribed.wait(), self._publishing.wait()), 10)

    async def stop(self) -> None:
        self.flush()
        if self._replies:  # what was sent gets out (bounded)
            last = self._replies[-1]
            if last is None:
                last = self._replies[-1] = asyncio.get_running_loop().create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(last), 2)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- sending ----------------------------------------------------------------------------
    def send(self, process_id: str, envelope: Envelope) -> None:
        """Send at the end of this loop turn (or at :meth:`flush`), after what was sent
        before."""
        self._gathered.setdefault(process_id, []).append(envelope)
        self._soon()

    def out(self, process_id: str, pipe_id: str, text: str) -> None:
        """:meth:`send` ``text`` to one pipe of ``process_id``: the same text (the same
        object: one frame for many guests) to several pipes of a process in a row is one
        message (the owner's hot path: no envelope per guest)."""
        gathered = self._gathered.get(process_id)
        if gathered is None:
            gathered = self._gathered[process_id] = []
        elif gathered and (last := gathered[-1]).text is text and last.kind == OUT:
            last.pipes.append(pipe_id)
            return
        gathered.append(Envelope(OUT, [pipe_id], text=text))
        self._soon()

    def _soon(self) -> None:
        if not self._flush_soon:
            self._flush_soon = True
            asyncio.get_running_loop().call_soon(self.flush)

    async def send_now(self, process_id: str, envelope: Envelope) -> int:
        """Send (after what was gathered before) and wait: how many processes heard it
        (0: nobody listens on that channel, so that process is gone or cut off; -1: this
        process could not send it, or Redis did not answer in time)."""
        self.flush()
        heard: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._write(channel_of(process_id).encode(), encode(envelope), heard)
        try:
            return await asyncio.wait_for(asyncio.shield(heard), REPLY_TIMEOUT)
        except TimeoutError:
            return -1

    def flush(self) -> None:
        """Publish what was gathered, now."""
        self._flush_soon = False
        if not self._gathered:
            return
        gathered, self._gathered = self._gathered, {}
        for process_id, envelopes in gathered.items():
            channel = channel_of(process_id).encode()
            for envelope in envelopes:
                self._write(channel, encode(envelope), None)

    def _write(self, channel: bytes, data: bytes, heard: asyncio.Future[int] | None) -> None:
        out = self._out
        if out is None:  # not connected: not sent (the pipes end when it breaks)
            if heard is not None and not heard.done():
                heard.set_result(-1)
            return
        try:
            out.command(b"PUBLISH", channel, data)
        except (RespError, OSError, RuntimeError) as exc:
            log.warning("cluster: could not publish: %r", exc)
            out.close()  # its reader sees it, ends the pipes and connects again
            if heard is not None and not heard.done():
                heard.set_result(-1)
            return
        self._replies.append(heard)

    async def _publish(self) -> None:
        """Keep the publishing connection up; match each reply to its publish."""
        while True:
            try:
                out = await RespConnection.open(self.url)
            except (OSError, RespError, TimeoutError) as exc:
                log.warning("cluster: cannot reach Redis to publish (%r): retrying", exc)
                await asyncio.sleep(RETRY)
                continue
            self._out = out
            self._publishing.set()
            pinging = asyncio.get_running_loop().create_task(self._ping(out, self._replies))
            try:
                while True:  # a PING every PING_EVERY s: silence means a dead connection
                    count = await out.reply()
                    out.heard_at = time.monotonic()
                    heard = self._replies.popleft() if self._replies else None
                    if heard is not None and not heard.done():
                        heard.set_result(count if isinstance(count, int) else 0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("cluster: lost the Redis publishing connection (%r)", exc)
            finally:
                pinging.cancel()
                self._out = None
                out.close()
                while self._replies:
                    heard = self._replies.popleft()
                    if heard is not None and not heard.done():
                        heard.set_result(-1)
            self.on_lost()
            await asyncio.sleep(RETRY)

    @staticmethod
    async def _ping(out: RespConnection, replies: deque[asyncio.Future[int] | None] | None) -> None:
        """Keep a connection talking, and close it after REPLY_TIMEOUT of silence (a
        half-open TCP connection): its reader then fails and the bus connects again. (A
        deadline per reply, with ``wait_for``, cost a task per frame received.)"""
        with contextlib.suppress(RespError, OSError, RuntimeError):
            while True:
                await asyncio.sleep(PING_EVERY)
                if time.monotonic() - out.heard_at > REPLY_TIMEOUT:
                    log.warning("cluster: Redis went silent: reconnecting")
                    out.close()
                    return
                out.command(b"PING")
                if replies is not None:
                    replies.append(None)

    # -- hearing ----------------------------------------------------------------------------
    async def _listen(self) -> None:
        """Hear this process's channel; reconnect (ending every pipe) when it breaks."""
        channel = channel_of(self.me).encode()
        while True:
            conn: RespConnection | None = None
            pinging: asyncio.Task[None] | None = None
            try:
                conn = await RespConnection.open(self.url)
                conn.command(b"SUBSCRIBE", channel)
                await asyncio.wait_for(conn.reply(), REPLY_TIMEOUT)
                self._subscribed.set()
                self.listening.set()
                pinging = asyncio.get_running_loop().create_task(self._ping(conn, None))
                while True:
                    message = await conn.reply()
                    conn.heard_at = time.monotonic()
                    if isinstance(message, list) and message[:1] == [b"message"]:
                        self._hear(message[2])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                heard = self.listening.is_set()
                self.listening.clear()
                log.warning("cluster: lost the Redis subscription (%r): reconnecting", exc)
                if heard:
                    self.on_lost()
                    continue  # at once: a process that cannot hear holds no room
            finally:
                self.listening.clear()
                if pinging is not None:
                    pinging.cancel()
                if conn is not None:
                    conn.close()
            await asyncio.sleep(RETRY)

    def _hear(self, data: bytes) -> None:
        """One message: a malformed one (another version of the wire) or one whose handling
        fails is logged and dropped, never taken for a lost connection."""
        try:
            envelope = decode(data)
        except Exception as exc:
            log.warning("cluster: dropped a malformed message: %r", exc)
            return
        try:
            self.on_message(envelope)
        except Exception:
            log.exception("cluster: a message could not be handled")
