"""The recording writer (server/replays/writer.py): each recording's writes in order, in
threads; a failed frame's later frames never written; other recordings unaffected."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from functools import partial

from cwmn_web.server.replays.writer import NotWritten, RecordingWriter
from tests.helpers.aio import until


def test_a_failed_write_drops_the_frames_queued_behind_it_and_no_other() -> None:
    async def main() -> None:
        writer = RecordingWriter(threads=2)
        gate = threading.Event()
        written: list[str] = []
        outcomes: list[tuple[str, object]] = []

        started = threading.Event()

        def writing(name: str, fail: bool = False) -> Callable[[], str]:
            def run() -> str:
                if name == "a1":
                    started.set()
                    assert gate.wait(10)
                if fail:
                    raise OSError(28, "No space left on device")
                written.append(name)
                return name

            return run

        def report(name: str) -> Callable[[object], None]:
            return lambda outcome: outcomes.append((name, outcome))

        writer.write("a", writing("a1", fail=True), report("a1"))
        await until(started.is_set)
        writer.write("a", writing("a2"), report("a2"))  # queued while a1 hangs
        writer.write("a", writing("marker"), report("marker"), droppable=False)
        writer.write("a", writing("a3"), report("a3"))
        writer.write("b", writing("b1"), report("b1"))
        await until(lambda: ("b1", "b1") in outcomes)  # b is not held up by a
        assert written == ["b1"] and writer.pending == 4
        gate.set()
        await writer.drained("a")
        assert [name for name, _ in outcomes] == ["b1", "a1", "a2", "a3", "marker"]
        errors = {name: type(o) for name, o in outcomes if isinstance(o, BaseException)}
        assert errors == {"a1": OSError, "a2": NotWritten, "a3": NotWritten}
        assert written == ["b1", "marker"]
        writer.write("a", writing("a4"), report("a4"))  # after the room heard: written
        await writer.close()
        assert written[-1] == "a4" and writer.pending == 0

    asyncio.run(asyncio.wait_for(main(), 20))


def test_writes_in_order_whatever_their_batches() -> None:
    async def main() -> None:
        writer = RecordingWriter(threads=4)
        written: list[int] = []
        reported: list[int] = []
        for i in range(200):
            writer.write("r", partial(written.append, i), partial(_ignore, reported.append, i))
            if i % 7 == 0:
                await asyncio.sleep(0)  # some batches of one, some of many
        await writer.drained("r")
        assert written == reported == list(range(200))
        await writer.close()

    asyncio.run(asyncio.wait_for(main(), 20))


def _ignore(append: Callable[[int], None], value: int, outcome: object) -> None:
    append(value)
