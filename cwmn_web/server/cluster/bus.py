"""The processes' messages over Redis pub/sub: one channel per process, one connection that
publishes in order (so a pipe's messages arrive in the order they were sent), and outgoing
frames gathered per loop turn so that one text for many pipes of a process is one message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from .wire import OUT, Envelope, decode, encode

__all__ = ["Bus", "channel_of"]

log = logging.getLogger("cwmn_web.server")
PREFIX = "cwmn:p:"


def channel_of(process_id: str) -> str:
    """The Redis channel a process listens on."""
    return PREFIX + process_id


class Bus:
    """Send to other processes (:meth:`send`, :meth:`send_now`); hear this process's
    messages (``on_message``, called in the event loop in arrival order); ``on_lost`` when
    the subscription broke (messages may have been lost: every pipe must end)."""

    def __init__(
        self,
        url: str,
        process_id: str,
        on_message: Callable[[Envelope], None],
        on_lost: Callable[[], None],
    ) -> None:
        self.url, self.me = url, process_id
        self.on_message, self.on_lost = on_message, on_lost
        self.redis: aioredis.Redis = aioredis.Redis.from_url(url)
        self._gathered: dict[str, list[Envelope]] = {}
        self._flush_soon = False
        self._queue: asyncio.Queue[tuple[str, bytes, asyncio.Future[int] | None]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()

    async def start(self) -> None:
        """Subscribe and start publishing (returns once subscribed)."""
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen()), loop.create_task(self._publish())]
        await asyncio.wait_for(self._subscribed.wait(), 10)

    async def stop(self) -> None:
        self._flush()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._queue.join(), 2)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.redis.aclose()

    # -- sending ----------------------------------------------------------------------------
    def send(self, process_id: str, envelope: Envelope) -> None:
        """Send at the end of this loop turn, after what was sent before; consecutive
        ``OUT`` texts that are the same object (one frame for many guests) merge."""
        gathered = self._gathered.setdefault(process_id, [])
        last = gathered[-1] if gathered else None
        if (
            envelope.kind == OUT
            and last is not None
            and last.kind == OUT
            and last.text is envelope.text
        ):
            last.pipes.extend(envelope.pipes)
        else:
            gathered.append(envelope)
        if not self._flush_soon:
            self._flush_soon = True
            asyncio.get_running_loop().call_soon(self._flush)

    async def send_now(self, process_id: str, envelope: Envelope) -> int:
        """Send (after what was gathered before) and wait: how many processes heard it
        (0: nobody listens on that channel, so that process is gone or cut off)."""
        self._flush()
        heard: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((channel_of(process_id), encode(envelope), heard))
        return await heard

    def _flush(self) -> None:
        self._flush_soon = False
        gathered, self._gathered = self._gathered, {}
        for process_id, envelopes in gathered.items():
            channel = channel_of(process_id)
            for envelope in envelopes:
                self._queue.put_nowait((channel, encode(envelope), None))

    async def _publish(self) -> None:
        """Publish what is queued, in order, many at once in one pipeline."""
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < 256:
                batch.append(self._queue.get_nowait())
            try:
                pipe = self.redis.pipeline(transaction=False)
                for channel, data, _ in batch:
                    pipe.publish(channel, data)
                heard: list[Any] = await pipe.execute()
            except Exception as exc:
                log.warning("cluster: could not publish %d message(s): %r", len(batch), exc)
                heard = [0] * len(batch)
            for (_, _, future), count in zip(batch, heard, strict=True):
                if future is not None and not future.done():
                    future.set_result(int(count))
                self._queue.task_done()

    # -- hearing ----------------------------------------------------------------------------
    async def _listen(self) -> None:
        """Hear this process's channel; reconnect (ending every pipe) when it breaks."""
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(channel_of(self.me))
                self._subscribed.set()
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is None or message.get("type") != "message":
                        continue
                    try:
                        envelope = decode(message["data"])
                    except (ValueError, UnicodeDecodeError) as exc:
                        log.warning("cluster: dropped a malformed message: %r", exc)
                        continue
                    self.on_message(envelope)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("cluster: lost the Redis subscription (%r): reconnecting", exc)
                self.on_lost()
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
