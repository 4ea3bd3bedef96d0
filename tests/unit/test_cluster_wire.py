"""The messages processes send each other (cluster/wire.py): every kind survives the trip,
frames are carried as they are (not escaped again), and garbage is refused."""

from __future__ import annotations

import pytest

from cwmn_web.server.cluster.wire import (
    ACCEPT,
    BINARY_IN,
    CLOSE,
    GONE,
    IN,
    OPEN,
    OUT,
    Envelope,
    decode,
    encode,
)

FRAME = '{"type":"mirror","seq":3,"data":{"html":"<p class=\\"a\\">é ✓</p>"}}'


@pytest.mark.parametrize(
    "envelope",
    [
        Envelope(OPEN, ["p1"], sender="proc", meta={"path": "/ws", "headers": [["a", "b"]]}),
        Envelope(ACCEPT, ["p1"]),
        Envelope(IN, ["p1"], text=FRAME),
        Envelope(BINARY_IN, ["p1"], data=b"\x00\xff\n"),
        Envelope(OUT, ["p1", "p2", "p3"], text=FRAME),
        Envelope(CLOSE, ["p1"], code=4410, text="session ended"),
        Envelope(GONE, ["p1"], code=1001),
        Envelope(OUT, ["p1"], text="line one\nline two"),
    ],
)
def test_every_kind_round_trips(envelope: Envelope) -> None:
    assert decode(encode(envelope)) == envelope


def test_a_frame_is_carried_unescaped() -> None:
    raw = encode(Envelope(OUT, ["a", "b"], text=FRAME))
    assert raw == b"oa,b\n" + FRAME.encode()


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\n",
        b"zp1\nx",
        b"o",
        b"cp1 notanumber\n",
        b"npipe\n{}",
        b"cpipe\n",
        b"n\n{}",
        b"o\xff\n",
    ],
)
def test_garbage_is_refused(raw: bytes) -> None:
    with pytest.raises(ValueError):
        decode(raw)
