"""Replays on the server (issue #7) over real sockets: the recording on disk, the render
job's row and its pushes, the video's URL (with Range), its email, abandon, retention, the
render worker (a stand-in renderer, and once the real one)."""

from __future__ import annotations

import asyncio
import base64
import email
import json
import shutil
import threading
import time
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import update
from sqlalchemy.exc import OperationalError
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from cwmn_web.protocol.messages import (
    CLOSE_TRY_AGAIN_LATER,
    MAX_VIDEO_RECIPIENTS,
    AbandonReplay,
    Ack,
    CreateLink,
    CreatePublicLink,
    EndSession,
    ErrorReply,
    Hello,
    InviteGuest,
    Message,
    MirrorFrame,
    Ok,
    ReplayUpdate,
    SendVideo,
    SessionEnded,
    SessionStarted,
    SetPrivacy,
    SetPublicLink,
    StartSession,
    VideoSent,
    WatchReplay,
    Welcome,
)
from cwmn_web.server import cli
from cwmn_web.server.config import Settings
from cwmn_web.server.db import Store
from cwmn_web.server.db.replays import SEND_STALE_SECONDS, ReplayStore
from cwmn_web.server.db.schema import replays
from cwmn_web.server.live.host import HostCore
from cwmn_web.server.relay import Relay
from cwmn_web.server.replays import recording, sessions
from cwmn_web.server.replays import worker as worker_module
from cwmn_web.server.replays.mail import video_token
from cwmn_web.server.replays.recording import Recording, recording_dir
from cwmn_web.server.replays.service import ReplayService, purge_expired
from cwmn_web.server.replays.worker import RenderWorker
from cwmn_web.server.rooms import MAX_LOG_FRAMES
from cwmn_web.server.secret import load_secret
from cwmn_web.testing.media import encode_opus, probe
from cwmn_web.testing.plugin import HERMETIC_ENV
from cwmn_web.testing.providers import SmtpSink
from cwmn_web.testing.servers import CwmnServer
from tests.helpers.aio import until

from .live import HOST_ORIGIN, SERVER, Host, WallClock, eventually, guest, host

if TYPE_CHECKING:
    from .conftest import LiveClient

pytestmark = pytest.mark.timeout(60)
_refs = count(9000)
SENDER = "Cwmn <replays@cwmn.test>"
T0 = time.time() * 1000  # the host's clock at the start of each recording here
HAVE_TOOLS = bool(shutil.which("ffmpeg") and shutil.which("ffprobe") and shutil.which("chromium"))
needs_tools = pytest.mark.skipif(not HAVE_TOOLS, reason="needs chromium, ffmpeg and ffprobe")


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


def smtp(server: SmtpSink) -> dict[str, Any]:
    return {"smtp_host": server.host, "smtp_port": server.port, "mail_from": SENDER}


def ref() -> int:
    return next(_refs)


def start_replay(h: Host, page_id: str = "p1") -> SessionStarted:
    assert isinstance(h.ask(Hello(ref=1, page_url=HOST_ORIGIN + "/shop")), Welcome)
    reply = h.ask(
        StartSession(
            ref=2, host_name="Ann <b>", host_email="ann@example.com", is_replay=True,
            page_id=page_id,
        )
    )  # fmt: skip
    assert isinstance(reply, SessionStarted) and reply.is_replay, reply
    return reply


def send(h: Host, seq: int, kind: str, t: float, **data: Any) -> None:
    h.send(MirrorFrame(seq=seq, kind=kind, data=data, t=t))


WEBM, OGG = b"\x1a\x45\xdf\xa3", b"OggS"  # how a segment's first chunk starts


def chunk(segment: str, index: int, raw: bytes, t0: float = T0, **more: Any) -> dict[str, Any]:
    """An ``audio`` frame's data; a first chunk (``index`` 0) starts with its container's
    magic bytes, as a recorder's does (added before ``raw`` if missing)."""
    mime = more.pop("mime", "audio/webm;codecs=opus")
    magic = OGG if "ogg" in mime.lower() else WEBM
    head = magic if index == 0 and not raw.startswith(magic) else b""
    return {
        "segment": segment,
        "t0": t0,
        "index": index,
        "mime": mime,
        "b64": base64.b64encode(head + raw).decode(),
        **more,
    }


def acked(h: Host, seq: int) -> None:
    """Wait for ``Ack(seq)``; other pushes (but acks) stay for later."""
    kept: list[Message] = []
    while True:
        message = h.pushes.popleft() if h.pushes else h.receive()
        if isinstance(message, Ack) and message.seq == seq:
            break
        if not isinstance(message, Ack):
            kept.append(message)
    h.pushes.extendleft(reversed(kept))


def folder(tmp_path: Path, replay_id: str) -> Path:
    return recording_dir(tmp_path, replay_id)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def end(h: Host) -> None:
    assert isinstance(h.ask(EndSession(ref=ref())), SessionEnded)


def update_of(h: Host, token: str) -> ReplayUpdate:
    reply = h.ask(WatchReplay(ref=ref(), resume_token=token))
    assert isinstance(reply, ReplayUpdate), reply
    return reply


def next_update(h: Host, timeout: float = 5.0) -> ReplayUpdate:
    """The next ``ReplayUpdate`` push."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = h.push()
        if isinstance(message, ReplayUpdate):
            assert message.ref == 0
            return message
    raise AssertionError("no replay_update push")


def set_row(store: Store, replay_id: str, **values: Any) -> None:
    with store.engine.begin() as db:
        db.execute(update(replays).where(replays.c.id == replay_id).values(**values))


def fake_render(video: bytes = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40) -> Any:
    """A stand-in renderer writing ``video`` (records its calls)."""

    def render(recording: Path, started_at: float, ended_at: float, out: Path, **kw: Any) -> None:
        render.calls.append((recording, started_at, ended_at))  # type: ignore[attr-defined]
        kw["progress"](type("P", (), {"percent": 50.0, "stage": "replaying", "eta_seconds": 1})())
        out.write_bytes(video)

    render.calls = []  # type: ignore[attr-defined]
    return render


def worker_settings(tmp_path: Path, **more: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": "",
        "smtp_host": "",
        "twilio_account_sid": "",
        "twilio_auth_token": "",
        "twilio_from": "",
        "mail_from": SENDER,
        **more,
    }
    return Settings(**values)


def recorded(client: TestClient, seconds: float = 2.0) -> tuple[str, str]:
    """A replay recorded and ended on one socket: ``(replay_id, resume_token)``."""
    with host(client) as h:
        started = start_replay(h)
        send(h, 1, "snapshot", T0, nodes=[[1, 0, 1, "html", []]])
        send(h, 2, "mutations", T0 + seconds * 1000, texts=[])
        acked(h, 2)
        end(h)
    return started.session_id, started.resume_token


# -- the recording ----------------------------------------------------------------------------
def test_frames_and_audio_are_written_in_order_before_their_acks(
    live_client: LiveClient, tmp_path: Path, store: Store
) -> None:
    with live_client() as client, host(client) as h:
        started = start_replay(h)
        where = folder(tmp_path, started.session_id)
        row = store.replays.get(started.session_id)
        assert row is not None and row.status == "recording" and row.max_seconds == 600
        frames: list[tuple[str, dict[str, Any]]] = [
            ("snapshot", {"nodes": [[1, 0, 1, "html", []]], "url": "https://x/ü\u2028"}),
            ("mutations", {"texts": [[1, "a"]]}),
            ("pointer", {"x": 1, "y": 2}),
            ("audio", chunk("seg-1", 0, b"HEAD", t0=T0 - 50)),
            ("scroll", {"x": 0, "y": 10}),
            ("audio", chunk("seg-1", 1, b"MORE")),
        ]
        for seq, (kind, data) in enumerate(frames, 1):
            send(h, seq, kind, T0 + seq * 100, **data)
            acked(h, seq)  # the write came first: the file already has it
            page_frames = [k for k, _ in frames[:seq] if k != "audio"]
            assert [line["kind"] for line in lines(where / "stream.jsonl")] == page_frames
        assert (where / "audio" / "seg-1.webm").read_bytes() == WEBM + b"HEADMORE"
        assert h.ask(SetPrivacy(ref=ref(), enabled=True)).type == "ok"
        end(h)
    stream = lines(where / "stream.jsonl")
    assert [(s["t"], s["page"], s["kind"]) for s in stream[:4]] == [
        (T0 + 100, 0, "snapshot"),
        (T0 + 200, 0, "mutations"),
        (T0 + 300, 0, "pointer"),
        (T0 + 500, 0, "scroll"),
    ]
    assert stream[0]["data"] == frames[0][1]  # as the host sent it
    assert (stream[4]["kind"], stream[4]["data"]) == ("privacy", {"enabled": True})
    assert "\u2028" not in (where / "stream.jsonl").read_text()  # one JSON object per line
    assert lines(where / "audio.jsonl") == [
        {"segment": "seg-1", "t0": T0 - 50, "mime": "audio/webm;codecs=opus",
         "file": "audio/seg-1.webm"}
    ]  # fmt: skip
    row = store.replays.get(started.session_id)
    assert row is not None
    assert (row.status, row.stage, row.has_audio) == ("queued", "queued", True)
    # First audio .. the end (the last frame's time plus the moment the host took to end).
    assert row.started_at == T0 - 50
    assert row.ended_at == pytest.approx(T0 + 600, abs=150)


def test_a_page_idle_at_the_end_still_counts(
    monkeypatch: pytest.MonkeyPatch, live_client: LiveClient, tmp_path: Path, store: Store
) -> None:
    """The recording lasts until the host ends it (on the host's clock), not until its last
    frame: a page that stayed still for its last second is still a second of video."""
    clock = WallClock(monkeypatch, still=True)
    with live_client() as client, host(client) as h:
        started = start_replay(h)
        skew = 3_600_000  # the host's clock is an hour off the server's
        start = time.time() * 1000 + skew
        send(h, 1, "snapshot", start, nodes=[])
        acked(h, 1)
        clock.advance(client, 1.0)
        end(h)
    row = store.replays.get(started.session_id)
    assert row is not None and row.started_at == start
    assert row.ended_at == start + 1000  # the server's clock moved 1 s, nothing else


def test_a_host_cannot_claim_more_time_than_it_took(
    monkeypatch: pytest.MonkeyPatch, live_client: LiveClient, store: Store, tmp_path: Path
) -> None:
    """An attacker uploads 601 frames claiming a minute (and a narration claiming to start
    an hour earlier) in one burst: the replay lasts what the server's clock saw, not the
    minute the host claims (which the render worker would spend minutes on)."""
    clock = WallClock(monkeypatch, still=True)
    with live_client() as client, host(client) as h:
        started = start_replay(h)
        start = time.time() * 1000
        for i in range(601):
            send(h, i + 1, "snapshot" if i == 0 else "mutations", start + i * 100, n=i)
        send(h, 602, "audio", start + 60_000, **chunk("s", 0, b"A", t0=start - 3_600_000))
        acked(h, 602)
        clock.advance(client, 0.5)
        end(h)
    row = store.replays.get(started.session_id)
    assert row is not None and row.ended_at is not None
    allowed = 0.5 + 2.0  # the server's clock, plus its allowance for the first trip
    assert row.duration <= allowed, row.duration
    where = folder(tmp_path, started.session_id)
    times = [line["t"] for line in lines(where / "stream.jsonl")]
    assert len(times) == 601 and max(times) - min(times) <= allowed * 1000
    (segment,) = lines(where / "audio.jsonl")
    assert row.started_at <= segment["t0"] <= row.ended_at


def test_bad_audio_is_acked_and_dropped(live_client: LiveClient, tmp_path: Path) -> None:
    bad = [
        chunk("bad/../x", 0, b"x"),
        chunk("", 0, b"x"),
        chunk("s" * 41, 0, b"x"),
        chunk("ok", -1, b"x"),
        chunk("ok", True, b"x"),
        chunk("ok", 0, b"x", mime="video/mp4"),
        chunk("ok", 0, b"x", mime="audio/webm;codecs=vp8"),
        {**chunk("ok", 0, b"x"), "b64": "not base64!"},
        chunk("ok", 0, b"x" * (1024 * 1024 + 1)),
        {**chunk("ok", 0, b"x"), "t0": "soon"},
        chunk("late", 1, b"x"),  # a segment must start at index 0
    ]
    with live_client() as client, host(client) as h:
        started = start_replay(h)
        send(h, 1, "snapshot", T0, nodes=[])
        for seq, data in enumerate(bad, 2):
            send(h, seq, "audio", T0 + seq, **data)
            acked(h, seq)
        ogg = "audio/ogg;codecs=opus"
        send(h, 20, "audio", T0 + 20, **chunk("ok", 0, b"A", mime=' Audio/Ogg; codecs="opus"'))
        acked(h, 20)
        send(h, 21, "audio", T0 + 21, **chunk("ok", 2, b"C", mime=ogg))  # one lost: kept
        send(h, 22, "audio", T0 + 22, **chunk("ok", 1, b"B", mime=ogg))  # older: ignored
        send(h, 23, "audio", T0 + 23, **chunk("ok", 3, b"D"))  # another format: dropped
        acked(h, 23)
    where = folder(tmp_path, started.session_id)
    assert sorted(p.name for p in (where / "audio").iterdir()) == ["ok.next", "ok.ogg"]
    assert (where / "audio" / "ok.ogg").read_bytes() == OGG + b"AC"
    assert [a["mime"] for a in lines(where / "audio.jsonl")] == ["audio/ogg;codecs=opus"]


def test_a_chunk_that_is_not_its_container_is_refused(
    live_client: LiveClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An HLS playlist (or anything else ffmpeg would sniff) sent as narration is acked and
    never stored: a segment's first chunk must start as a WebM or Ogg file does."""
    playlist = b"#EXTM3U\n#EXTINF:1.0,\n/var/lib/cwmn/other.ogg\n#EXT-X-ENDLIST\n"
    with live_client() as client, host(client) as h:
        started = start_replay(h)
        send(h, 1, "snapshot", T0, nodes=[])
        data = {**chunk("s", 0, b""), "b64": base64.b64encode(playlist).decode()}
        send(h, 2, "audio", T0 + 1, **data)
        ogg = {**chunk("o", 0, b"", mime="audio/ogg"), "b64": base64.b64encode(WEBM).decode()}
        send(h, 3, "audio", T0 + 2, **ogg)  # WebM's bytes claiming to be Ogg
        acked(h, 3)
    where = folder(tmp_path, started.session_id)
    assert not (where / "audio.jsonl").exists()
    assert not any((where / "audio").iterdir())
    assert "audio_not_webm" in caplog.text and "audio_not_ogg" in caplog.text


def test_resent_frames_and_chunks_are_recorded_once(
    live_client: LiveClient, tmp_path: Path, store: Store
) -> None:
    with live_client() as client:
        with host(client) as first:
            started = start_replay(first)
            send(first, 1, "snapshot", T0, nodes=[])
            send(first, 2, "audio", T0 + 10, **chunk("s", 0, b"A"))
            send(first, 3, "mutations", T0 + 20, n=3)
            acked(first, 3)
        with host(client) as again:  # the same page: the host resends what it has
            assert again.resumed(started.resume_token, "p1").acked_seq == 3
            send(again, 2, "audio", T0 + 10, **chunk("s", 0, b"A"))
            send(again, 3, "mutations", T0 + 20, n=3)
            send(again, 4, "mutations", T0 + 30, n=4)
            acked(again, 4)
        with host(client) as moved:  # another page: seqs restart, a chunk resent is old
            assert moved.resumed(started.resume_token, "p2").acked_seq == 0
            send(moved, 1, "snapshot", T0 + 40, nodes=[])
            send(moved, 2, "audio", T0 + 10, **chunk("s", 0, b"A"))
            send(moved, 3, "audio", T0 + 50, **chunk("s", 1, b"B"))
            acked(moved, 3)
            end(moved)
    where = folder(tmp_path, started.session_id)
    stream = lines(where / "stream.jsonl")
    assert [(s["page"], s["kind"], s["data"]) for s in stream] == [
        (0, "snapshot", {"nodes": []}),
        (0, "mutations", {"n": 3}),
        (0, "mutations", {"n": 4}),
        (1, "snapshot", {"nodes": []}),
    ]
    assert (where / "audio" / "s.webm").read_bytes() == WEBM + b"AB"
    assert len(lines(where / "audio.jsonl")) == 1


def test_a_server_restart_carries_the_recording_on(
    live_client: LiveClient, tmp_path: Path, store: Store
) -> None:
    with live_client() as client, host(client) as h:
        started = start_replay(h)
        send(h, 1, "snapshot", T0, nodes=[])
        send(h, 2, "audio", T0 + 5, **chunk("s", 0, b"A", t0=T0 - 100))
        acked(h, 2)
    with live_client() as client, host(client) as h:  # a new app: nothing in memory
        h.resumed(started.resume_token, "p1")
        send(h, 1, "snapshot", T0 + 1000, nodes=[])
        send(h, 2, "audio", T0 + 1100, **chunk("s", 0, b"A", t0=T0 - 100))  # known: dropped
        send(h, 3, "audio", T0 + 1200, **chunk("s", 1, b"B", t0=T0 - 100))
        acked(h, 3)
        end(h)
    where = folder(tmp_path, started.session_id)
    assert (where / "audio" / "s.webm").read_bytes() == WEBM + b"AB"
    row = store.replays.get(started.session_id)
    assert row is not None and row.started_at == T0 - 100
    assert row.ended_at == pytest.approx(T0 + 1200, abs=150)


def test_audio_never_reaches_guests_and_realtime_sessions_record_nothing(
    live_client: LiveClient, tmp_path: Path
) -> None:
    with live_client() as client, host(client) as h, guest(client) as bob:
        started = h.start()
        bob.joined(h.link())
        h.mirror(1, "snapshot", nodes=[])
        send(h, 2, "audio", T0, **chunk("s", 0, b"A"))
        h.mirror(3, "mutations")
        acked(h, 3)  # every frame acked, audio too
        assert bob.frames() == [(1, "snapshot"), (3, "mutations")]
        live = client.app.state.relay.rooms[started.session_id]  # type: ignore[attr-defined]
        assert live.room.log.seqs_after(0) == [1, 3]
        assert live.recording is None
        end(h)
    assert not (tmp_path / "replays").exists()


def test_a_replay_has_no_guests(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h:
        start_replay(h)
        for request in (
            CreateLink(ref=ref()),
            CreatePublicLink(ref=ref()),
            InviteGuest(ref=ref(), guest_name="G", guest_email="g@example.com"),
            SetPublicLink(ref=ref(), enabled=True),
        ):
            reply = h.ask(request)
            assert isinstance(reply, ErrorReply) and reply.code == "invalid_state", reply
            assert reply.message == "a replay recording has no guests"


def test_the_maximum_length(
    live_client: LiveClient, tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.update_settings("default", {"replayMaxSeconds": 1})
    monkeypatch.setattr(sessions, "END_GRACE_SECONDS", 7)
    clock = WallClock(monkeypatch)
    with live_client() as client, host(client) as h:
        started = start_replay(h)
        assert started.settings["replayMaxSeconds"] == 1
        send(h, 1, "snapshot", T0, nodes=[])
        acked(h, 1)
        clock.advance(client, 6.5)  # the host's times below are real (the server's clock)
        send(h, 2, "mutations", T0 + 5900, n=1)  # within max + 5 s
        send(h, 3, "mutations", T0 + 6100, n=2)  # beyond: acked, dropped
        send(h, 4, "audio", T0 + 6200, **chunk("s", 0, b"A"))
        acked(h, 4)
        # The server ends it at max + 30 s (here 7 s) since the host did not.
        clock.advance(client, 2)
        ended = next(m for m in iter(h.push, None) if isinstance(m, SessionEnded))
        assert ended.reason == "expired"
        rid = started.session_id
        eventually(lambda: getattr(store.replays.get(rid), "status", "") == "queued")
    where = folder(tmp_path, started.session_id)
    assert [s["data"] for s in lines(where / "stream.jsonl")] == [{"nodes": []}, {"n": 1}]
    assert not (where / "audio.jsonl").exists()
    row = store.replays.get(started.session_id)
    assert row is not None and row.ended_at == T0 + 5900


def test_a_host_gone_past_the_grace_queues_the_render(
    live_client: LiveClient, store: Store
) -> None:
    with live_client(host_grace_seconds=0.2) as client:
        with host(client) as h:
            started = start_replay(h)
            send(h, 1, "snapshot", T0, nodes=[])
            acked(h, 1)
        eventually(lambda: getattr(store.replays.get(started.session_id), "status", "") == "queued")
    (session,) = store.session_rows()
    assert session["end_reason"] == "expired"


def test_a_frame_that_cannot_be_written_is_not_acked(
    live_client: LiveClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Disk full (or the file closed at shutdown): the frame is not acked, nothing after it
    either; the host is told to reconnect and sends them again."""
    take, failures = Recording.take, [OSError(28, "No space left on device"), ValueError("closed")]

    def failing(self: Recording, frame: MirrorFrame, *args: Any) -> bool:
        if frame.seq == 2 and failures:
            raise failures.pop(0)
        return take(self, frame, *args)

    monkeypatch.setattr(Recording, "take", failing)
    with live_client() as client:
        with host(client) as h:
            started = start_replay(h)
            send(h, 1, "snapshot", T0, nodes=[])
            acked(h, 1)
            send(h, 2, "mutations", T0 + 10, n=2)
            send(h, 3, "audio", T0 + 20, **chunk("s", 0, b"A"))
            seen: list[Message] = []
            with pytest.raises(WebSocketDisconnect) as closed:
                while True:
                    seen.append(h.receive())
            assert closed.value.code == CLOSE_TRY_AGAIN_LATER
            assert not [m for m in seen if isinstance(m, Ack)]
        for fails in (True, False):  # again (a ValueError), then written
            with host(client) as again:
                assert again.resumed(started.resume_token, "p1").acked_seq == 1
                send(again, 2, "mutations", T0 + 10, n=2)
                send(again, 3, "audio", T0 + 20, **chunk("s", 0, b"A"))
                if fails:
                    assert again.closed_code() == CLOSE_TRY_AGAIN_LATER
                    continue
                acked(again, 3)
                assert isinstance(again.ask(SetPrivacy(ref=ref(), enabled=True)), Ok)
                end(again)
    where = folder(tmp_path, started.session_id)
    assert [s["kind"] for s in lines(where / "stream.jsonl")] == [
        "snapshot", "mutations", "privacy"
    ]  # fmt: skip
    assert (where / "audio" / "s.webm").read_bytes() == WEBM + b"A"


def test_a_slow_write_holds_only_its_own_acks(
    live_client: LiveClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recording whose write hangs (a shared file system that stalls) does not hold the
    server up: its host's requests are answered, another replay's frames are written and
    acked meanwhile; its own acks wait, then come in frame order once written."""
    take, gate = Recording.take, threading.Event()
    slow: list[Path] = []

    def hanging(self: Recording, frame: MirrorFrame, *args: Any) -> bool:
        if self.folder in slow and frame.seq == 2:
            assert gate.wait(20)
        return take(self, frame, *args)

    monkeypatch.setattr(Recording, "take", hanging)
    with live_client() as client, host(client) as a, host(client) as b:
        stuck, other = start_replay(a), start_replay(b)
        slow.append(folder(tmp_path, stuck.session_id))
        send(a, 1, "snapshot", T0, nodes=[[1, 0, 1, "html", []]])
        acked(a, 1)
        for seq in (2, 3, 4):
            send(a, seq, "mutations", T0 + seq, n=seq)
        assert not [m for m in a.drain() if isinstance(m, Ack)]  # a Pong came, no ack
        send(b, 1, "snapshot", T0, nodes=[[1, 0, 1, "html", []]])
        send(b, 2, "mutations", T0 + 2, n=2)
        acked(b, 2)  # written while the other recording's write hangs
        assert len(lines(folder(tmp_path, other.session_id) / "stream.jsonl")) == 2
        assert len(lines(slow[0] / "stream.jsonl")) == 1
        gate.set()
        assert [a.push() for _ in range(3)] == [Ack(seq=2), Ack(seq=3), Ack(seq=4)]
        end(a)
        end(b)
    stream = lines(slow[0] / "stream.jsonl")
    assert [s["data"].get("n") for s in stream if s["kind"] == "mutations"] == [2, 3, 4]


def test_a_failed_privacy_marker_is_logged(
    live_client: LiveClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def failing(self: Recording, *args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Recording, "privacy", failing)
    with live_client() as client, host(client) as h:
        start_replay(h)
        assert isinstance(h.ask(SetPrivacy(ref=ref(), enabled=True)), Ok)
        assert isinstance(h.ask(SetPrivacy(ref=ref(), enabled=False)), Ok)
    assert "could not record privacy" in caplog.text


def test_a_busy_replay_records_past_the_room_log_bounds(
    live_client: LiveClient, tmp_path: Path
) -> None:
    """No guest reads a replay's room: nothing is logged, so nothing overflows and drops
    frames (a realtime room's log holds 5000 frames or 16 MB since the last snapshot)."""
    frames = MAX_LOG_FRAMES + 100
    # As fast as the test can send (not paced to CWMN_MAX_FRAMES_PER_SECOND).
    with live_client(max_frames_per_second=1e6) as client, host(client) as h:
        started = start_replay(h)
        send(h, 1, "snapshot", T0, nodes=[[1, 0, 1, "html", []]])
        for seq in range(2, frames + 1):
            send(h, seq, "mutations", T0 + seq, n=seq)
        big = "x" * (1024 * 1024)
        for seq in range(frames + 1, frames + 18):  # 17 MB since the snapshot
            send(h, seq, "mutations", T0 + seq, text=big)
        acked(h, frames + 17)
        live = client.app.state.relay.rooms[started.session_id]  # type: ignore[attr-defined]
        assert len(live.room.log) == 0
        end(h)
    stream = lines(folder(tmp_path, started.session_id) / "stream.jsonl")
    assert len(stream) == frames + 17
    assert [s["data"].get("n") for s in stream[1:frames]] == list(range(2, frames + 1))


def test_racing_resumes_open_the_recording_once(store: Store, tmp_path: Path) -> None:
    """Resumes of one replay hold its recording lock in turn: the second finds the recording
    the first opened instead of reopening (and recovering, i.e. truncating) its files."""

    async def main() -> None:
        relay = Relay(worker_settings(tmp_path), store)
        order: list[str] = []
        opened = asyncio.Event()  # the files are open (in a thread, while the lock is held)

        async def resume(name: str) -> None:
            order.append(f"{name} waits")
            async with relay.opening("s1"):
                order.append(f"{name} in")
                if name == "a":
                    await opened.wait()
                order.append(f"{name} out")

        first = asyncio.create_task(resume("a"))
        await until(lambda: "a in" in order)
        second = asyncio.create_task(resume("b"))
        await until(lambda: "b waits" in order)
        assert order == ["a waits", "a in", "b waits"]  # b did not get in while a opens
        opened.set()
        await asyncio.gather(first, second)
        assert order == ["a waits", "a in", "b waits", "a out", "b in", "b out"]
        async with relay.opening("s2"):  # other sessions do not wait
            pass

    asyncio.run(asyncio.wait_for(main(), 10))


def test_two_resumes_racing_close_the_spare_recording(store: Store, tmp_path: Path) -> None:
    """After a restart two connections of the host may both open the recording: the one
    the room does not take is closed (no file handle left open)."""

    async def main() -> None:
        relay = Relay(worker_settings(tmp_path), store)
        record = store.create_session(1, "Ann", "ann@example.com", True, HOST_ORIGIN, "")
        store.replays.create(
            record.id,
            1,
            "Ann",
            "a@example.com",
            max_seconds=60,
            base_url="",
            retention_seconds=9,
            video_token_hash="0" * 64,
        )
        where = folder(tmp_path, record.id)
        first, second = Recording(where, 60), Recording(where, 60)
        for opened in (first, second):
            host = HostCore(relay.core, relay.core.connect())
            relay.core.resume(record, "p1", host, time.time(), opened)
        assert relay.recording_of(record.id) is first
        assert second._stream.closed and not first._stream.closed
        await relay.shutdown()
        assert first._stream.closed

    asyncio.run(main())


def test_a_chunk_written_before_a_crash_is_not_doubled(tmp_path: Path) -> None:
    """A process that died after appending a chunk, before counting it: the host resends
    the chunk (never acked), and the segment holds it once."""
    where = tmp_path / "r"
    first = Recording(where, 60)
    for index, raw in enumerate((b"AA", b"BB")):
        frame = MirrorFrame(seq=index + 1, kind="audio", data=chunk("s", index, raw), t=T0)
        assert first.take(frame, 0, T0)
    first.close()
    with (where / "audio" / "s.webm").open("ab") as file:
        file.write(b"C")  # chunk 2, cut short by the crash
    with (where / "stream.jsonl").open("ab") as file:
        file.write(b'{"t":1,"pa')  # so was a line
    again = Recording(where, 60)
    assert (where / "audio" / "s.webm").read_bytes() == WEBM + b"AABB"
    assert (where / "stream.jsonl").read_bytes() == b""
    resent = MirrorFrame(seq=3, kind="audio", data=chunk("s", 2, b"CC"), t=T0)
    assert again.take(resent, 0, T0)
    assert not again.take(resent, 0, T0)  # a duplicate
    again.close()
    assert (where / "audio" / "s.webm").read_bytes() == WEBM + b"AABBCC"
    assert (where / "audio" / "s.next").read_text() == "3 10"  # 4 magic bytes + 6


def test_a_replay_cannot_write_past_its_caps(
    live_client: LiveClient,
    tmp_path: Path,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(recording, "MAX_STREAM_BYTES", 300)
    monkeypatch.setattr(recording, "AUDIO_BYTES_PER_MINUTE", 10)  # 100 bytes for 600 s
    with live_client() as client, host(client) as h:
        started = start_replay(h)
        send(h, 1, "snapshot", T0, nodes=[])
        send(h, 2, "mutations", T0 + 1, text="x" * 100)
        send(h, 3, "mutations", T0 + 2, text="x" * 200)  # past 300 bytes: dropped
        send(h, 4, "mutations", T0 + 3)  # small, but after a dropped one: dropped too
        send(h, 5, "audio", T0 + 4, **chunk("s", 0, b"A" * 60))
        send(h, 6, "audio", T0 + 5, **chunk("s", 1, b"B" * 60))  # past 100 bytes
        send(h, 7, "audio", T0 + 6, **chunk("s", 2, b"C"))
        acked(h, 7)  # every frame acked
        end(h)
    where = folder(tmp_path, started.session_id)
    assert [s["kind"] for s in lines(where / "stream.jsonl")] == [
        "snapshot", "mutations"
    ]  # fmt: skip
    assert (where / "stream.jsonl").stat().st_size <= 300
    assert (where / "audio" / "s.webm").read_bytes() == WEBM + b"A" * 60
    assert "the stream reached its cap" in caplog.text
    assert "the narration reached its cap" in caplog.text
    row = store.replays.get(started.session_id)
    assert row is not None and row.status == "queued"


# -- watching the render job ----------------------------------------------------------------
def test_watch_replay_answers_then_pushes_changes(
    live_client: LiveClient, store: Store, tmp_path: Path
) -> None:
    with live_client() as client, host(client) as h:
        started = start_replay(h)
        rid, token = started.session_id, started.resume_token
        send(h, 1, "snapshot", T0, nodes=[])
        send(h, 2, "mutations", T0 + 1500)
        acked(h, 2)
        end(h)
        first = update_of(h, token)
        assert watchers(client) == 1
        assert (first.replay_id, first.status, first.stage, first.percent) == (
            rid, "queued", "queued", 0
        )  # fmt: skip
        assert first.duration == pytest.approx(1.5, abs=0.15)
        assert (first.video_url, first.eta_seconds) == ("", -1)
        assert store.replays.claim("w1") is not None
        assert next_update(h).status == "rendering"
        store.replays.progress(rid, "w1", 42.0, "replaying", 3.0)
        pushed = next_update(h)
        assert (pushed.percent, pushed.stage, pushed.eta_seconds) == (42.0, "replaying", 3.0)
        (folder(tmp_path, rid) / "video.mp4").write_bytes(b"mp4")
        assert store.replays.complete(rid, "w1", 3)
        done = next_update(h)
        assert (done.status, done.percent, done.stage) == ("complete", 100, "done")
        row = store.replays.get(rid)
        assert row is not None
        assert done.video_url == SERVER + video_path(tmp_path, rid)
        assert client.get(done.video_url.removeprefix(SERVER)).content == b"mp4"
        assert_watcher_stopped(client, h, store, rid)


def watchers(client: TestClient) -> int:
    """How many connections follow a replay now (``ReplayWatchers``)."""
    return len(client.app.state.watchers)  # type: ignore[attr-defined]


def assert_watcher_stopped(client: TestClient, h: Host, store: Store, rid: str) -> None:
    """Nothing more can change: the watcher has stopped, a change of the row is not pushed."""
    eventually(lambda: watchers(client) == 0)
    set_row(store, rid, percent=12.0, stage="encoding")
    assert not [m for m in h.drain() if isinstance(m, ReplayUpdate)]


def test_watch_on_a_fresh_connection_and_failures(live_client: LiveClient, store: Store) -> None:
    with live_client() as client:
        rid, token = recorded(client)
        with host(client) as h:
            assert isinstance(h.ask(Hello(ref=1)), Welcome)
            assert update_of(h, token).status == "queued"
            store.replays.claim("w1")
            assert next_update(h).status == "rendering"
            store.replays.fail(rid, "w1", "the stream is corrupt at line 3")
            failed = next_update(h)
            assert (failed.status, failed.error) == ("failed", "the stream is corrupt at line 3")
            reply = h.ask(SendVideo(ref=ref(), resume_token=token))
            assert isinstance(reply, ErrorReply) and reply.code == "invalid_state"


def test_unknown_tokens_are_not_found(live_client: LiveClient) -> None:
    with live_client() as client, host(client) as h:
        realtime = h.start()
        end(h)
        for token in ("nope", "", "x" * 300, realtime.resume_token):
            for request in (
                WatchReplay(ref=ref(), resume_token=token),
                SendVideo(ref=ref(), resume_token=token),
                AbandonReplay(ref=ref(), resume_token=token),
            ):
                reply = h.ask(request)
                assert isinstance(reply, ErrorReply) and reply.code == "not_found", reply
    # Still in session: replay requests wait for its end (or a fresh connection).
    with live_client() as client, host(client) as h:
        start_replay(h)
        reply = h.ask(WatchReplay(ref=ref(), resume_token="x"))
        assert isinstance(reply, ErrorReply) and reply.code == "invalid_state"


def test_a_failed_render_fails_its_queued_send_and_the_watcher_stops(
    live_client: LiveClient, store: Store, tmp_path: Path
) -> None:
    from cwmn_web.render import RenderError

    def failing(*args: Any, **kw: Any) -> None:
        raise RenderError("no snapshot in the recording")

    with live_client() as client:
        rid, token = recorded(client)
        spent, spent_token = recorded(client)
        with host(client) as h:
            assert isinstance(h.ask(Hello(ref=1)), Welcome)
            for t in (token, spent_token):
                reply = h.ask(SendVideo(ref=ref(), resume_token=t))
                assert isinstance(reply, VideoSent) and reply.status == "queued"
            assert update_of(h, token).send_status == "queued"
            now = time.time()  # a job whose workers died three times
            set_row(store, spent, status="rendering", heartbeat_at=now - 60, attempts=3)
            worker = RenderWorker(worker_settings(tmp_path), store, renderer=failing)
            assert worker.run(once=True) == 1
            while (last := next_update(h)).status != "failed":
                pass
            assert (last.send_status, last.error) == ("failed", "no snapshot in the recording")
            assert_watcher_stopped(client, h, store, rid)
    for replay_id in (rid, spent):
        row = store.replays.get(replay_id)
        assert row is not None and (row.status, row.send_status) == ("failed", "failed")
    assert (
        sorted((r.status, r.error) for r in store.list_invites())
        == [("failed", "the replay could not be rendered")] * 2
    )


def test_a_watcher_sees_sending_then_the_end(
    live_client: LiveClient, store: Store, tmp_path: Path
) -> None:
    with live_client() as client:
        rid, token = recorded(client)
        with host(client) as h:
            assert isinstance(h.ask(Hello(ref=1)), Welcome)
            complete(store, tmp_path, rid, b"video")
            set_row(store, rid, send_status="sending", heartbeat_at=time.time())
            assert update_of(h, token).send_status == "sending"
            set_row(store, rid, send_status="sent")
            pushed = next_update(h)
            assert (pushed.status, pushed.send_status) == ("complete", "sent")
            assert_watcher_stopped(client, h, store, rid)


def test_a_send_whose_sender_died_fails(
    live_client: LiveClient, store: Store, tmp_path: Path
) -> None:
    """A worker that died mid-send leaves ``sending``: past two minutes without a beat the
    send fails (its invites too), so no watcher waits for it forever."""
    with live_client() as client:
        rid, token = recorded(client)
        with host(client) as h:
            assert isinstance(h.ask(Hello(ref=1)), Welcome)
            reply = h.ask(SendVideo(ref=ref(), resume_token=token, to_emails=["b@example.com"]))
            assert isinstance(reply, VideoSent) and reply.status == "queued"
            (folder(tmp_path, rid) / "video.mp4").write_bytes(b"video")
            old = time.time() - SEND_STALE_SECONDS - 1
            set_row(store, rid, status="complete", send_status="sending", heartbeat_at=old)
            assert update_of(h, token).send_status == "sending"
            pushed = next_update(h)
            assert (pushed.status, pushed.send_status) == ("complete", "failed")
            assert_watcher_stopped(client, h, store, rid)
    ((invite),) = store.list_invites()
    assert (invite.status, invite.error) == ("failed", "the sender stopped before sending it")


# -- the video's URL ------------------------------------------------------------------------
def complete(store: Store, tmp_path: Path, rid: str, video: bytes) -> str:
    """Mark ``rid`` rendered with ``video``; its URL path."""
    (folder(tmp_path, rid) / "video.mp4").write_bytes(video)
    set_row(store, rid, status="complete", percent=100.0, stage="done", video_bytes=len(video))
    return video_path(tmp_path, rid)


def video_path(data_dir: Path, rid: str) -> str:
    """The path of ``rid``'s video, its token derived under the data dir's key."""
    return f"/replay/{video_token(load_secret('', data_dir), rid)}.mp4"


def test_the_video_with_range_requests(
    live_client: LiveClient, store: Store, tmp_path: Path
) -> None:
    video = bytes(range(256)) * 40
    with live_client() as client:
        rid, _ = recorded(client)
        token = video_token(load_secret("", tmp_path), rid)
        assert client.get(f"/replay/{token}.mp4").status_code == 404  # not rendered yet
        path = complete(store, tmp_path, rid, video)
        full = client.get(path)
        assert full.status_code == 200 and full.content == video
        assert full.headers["content-type"] == "video/mp4"
        assert full.headers["accept-ranges"] == "bytes"
        assert full.headers["content-length"] == str(len(video))
        assert full.headers["cache-control"] == "private"
        part = client.get(path, headers={"Range": "bytes=100-1099"})
        assert part.status_code == 206 and part.content == video[100:1100]
        assert part.headers["content-range"] == f"bytes 100-1099/{len(video)}"
        assert part.headers["content-length"] == "1000"
        tail = client.get(path, headers={"Range": "bytes=-10"})
        assert tail.status_code == 206 and tail.content == video[-10:]
        beyond = client.get(path, headers={"Range": f"bytes={len(video)}-"})
        assert beyond.status_code == 416
        assert beyond.headers["content-range"] == f"bytes */{len(video)}"
        for wrong in (f"/replay/{token}x.mp4", f"/replay/{token}", "/replay/nope.mp4"):
            assert client.get(wrong).status_code == 404


# -- abandon, retention ---------------------------------------------------------------------
def test_abandon_deletes_everything(live_client: LiveClient, store: Store, tmp_path: Path) -> None:
    with live_client() as client:
        rid, token = recorded(client)
        path = complete(store, tmp_path, rid, b"video")
        assert client.get(path).status_code == 200
        with host(client) as h:
            assert isinstance(h.ask(Hello(ref=1)), Welcome)
            watching = update_of(h, token)
            assert watching.status == "complete"
            assert isinstance(h.ask(AbandonReplay(ref=ref(), resume_token=token)), Ok)
            assert update_of(h, token).status == "abandoned"
        assert not folder(tmp_path, rid).exists()
        assert client.get(path).status_code == 404


def test_abandon_while_recording_ends_the_session(
    live_client: LiveClient, store: Store, tmp_path: Path
) -> None:
    with live_client() as client, host(client) as h, host(client) as other:
        started = start_replay(h)
        send(h, 1, "snapshot", T0, nodes=[])
        acked(h, 1)
        assert isinstance(other.ask(Hello(ref=1)), Welcome)
        reply = other.ask(AbandonReplay(ref=ref(), resume_token=started.resume_token))
        assert isinstance(reply, Ok)
        ended = next(m for m in iter(h.push, None) if isinstance(m, SessionEnded))
        assert ended.session_id == started.session_id
    row = store.replays.get(started.session_id)
    assert row is not None and row.status == "abandoned"
    assert not folder(tmp_path, started.session_id).exists()


def test_retention_purge(
    live_client: LiveClient, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with live_client() as client:
        old, _ = recorded(client)
        new, _ = recorded(client)
        path = complete(store, tmp_path, old, b"old video")
        set_row(store, old, expires_at=time.time() - 1)
        assert client.get(path).status_code == 404  # expired: gone at once
        settings = worker_settings(tmp_path)
        assert purge_expired(settings, store) == 1
        assert store.replays.get(old) is None and not folder(tmp_path, old).exists()
        assert store.replays.get(new) is not None and folder(tmp_path, new).exists()
        set_row(store, new, expires_at=time.time() - 1)
        monkeypatch.setenv("CWMN_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("CWMN_DATABASE_URL", "")
        assert cli.main(["replays", "purge"]) == 0
        assert store.replays.get(new) is None and not folder(tmp_path, new).exists()


def test_retention_days_setting(live_client: LiveClient, store: Store) -> None:
    with live_client(replay_retention_days=2) as client:
        rid, _ = recorded(client)
    row = store.replays.get(rid)
    assert row is not None
    assert row.expires_at - row.created_at == pytest.approx(2 * 86400)


def test_cli_sets_the_replay_length(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CWMN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CWMN_DATABASE_URL", "")
    assert cli.main(["site", "settings", "default", "--replay-max-seconds", "120"]) == 0
    assert store.site_by_name("default").settings["replayMaxSeconds"] == 120  # type: ignore[union-attr]
    with pytest.raises(SystemExit):
        cli.main(["site", "settings", "default", "--replay-max-seconds", "5"])


# -- emailing the link ----------------------------------------------------------------------
def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def bodies(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return tuple(str(p.get_content()).replace("\r\n", "\n") for p in (text, html))  # type: ignore[return-value]


def test_send_video_when_complete_goes_at_once(
    live_client: LiveClient, store: Store, tmp_path: Path, sink: SmtpSink
) -> None:
    with live_client(**smtp(sink)) as client:
        rid, token = recorded(client)
        path = complete(store, tmp_path, rid, b"video")
        with host(client) as h:
            assert isinstance(h.ask(Hello(ref=1)), Welcome)
            reply = h.ask(
                SendVideo(
                    ref=ref(),
                    resume_token=token,
                    to_emails=["bob@example.com", "Bob@example.com", "eve@example.com"],
                    message="See <b>this</b> & that\nline 2",
                )
            )
            assert isinstance(reply, VideoSent), reply
            assert (reply.status, reply.to) == ("sent", ["bob@example.com", "eve@example.com"])
            assert update_of(h, token).send_status == "sent"
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == ["bob@example.com", "eve@example.com"]
    message = parse(sink.messages[0].data)
    assert message["Subject"] == "Ann <b> shared a recorded replay with you"
    assert message["From"] == SENDER
    text, html = bodies(message)
    assert f"{SERVER}{path}" in text and f'href="{SERVER}{path}"' in html
    assert "See <b>this</b> & that\nline 2" in text
    assert "See &lt;b&gt;this&lt;/b&gt; &amp; that<br>line 2" in html
    assert "<strong>Ann &lt;b&gt;</strong>" in html and "<b>this" not in html
    records = [r for r in store.list_invites() if r.kind == "video"]
    assert sorted((r.recipient, r.status, r.provider) for r in records) == [
        ("bob@example.com", "sent", "smtp"),
        ("eve@example.com", "sent", "smtp"),
    ]


def test_a_copy_of_the_database_opens_no_video(
    live_client: LiveClient, store: Store, tmp_path: Path, sink: SmtpSink
) -> None:
    """Someone with a copy of the database (a leaked backup) tries every value of every
    replay row as a video token: none opens the video; the emailed link does."""
    with live_client(**smtp(sink)) as client:
        rid, token = recorded(client)
        set_row(store, rid, status="complete", percent=100.0, stage="done", video_bytes=5)
        (folder(tmp_path, rid) / "video.mp4").write_bytes(b"video")
        with host(client) as h:
            assert isinstance(h.ask(Hello(ref=1)), Welcome)
            sent = h.ask(SendVideo(ref=ref(), resume_token=token, to_emails=["b@example.com"]))
            assert isinstance(sent, VideoSent), sent
        text, _ = bodies(parse(sink.messages[0].data))
        emailed = text.split("Watch the replay: ", 1)[1].split()[0]
        assert client.get(emailed.removeprefix(SERVER)).content == b"video"
        with store.engine.connect() as db:
            values = [str(v) for row in db.execute(replays.select()).all() for v in row]
        for value in values:
            for guess in (value, value.split("/replay/")[-1]):
                assert client.get(f"/replay/{guess}.mp4").status_code == 404, guess
    assert emailed.rsplit("/", 1)[1].removesuffix(".mp4") not in values


def test_video_links_use_the_public_url_whatever_the_row_says(
    live_client: LiveClient, store: Store, tmp_path: Path, sink: SmtpSink
) -> None:
    """A row written while links followed the Host header (before the upgrade) names a
    forged host: the email and the host's update still link to the public URL."""
    with live_client(**smtp(sink)) as client:
        rid, token = recorded(client)
        path = complete(store, tmp_path, rid, b"video")
        set_row(store, rid, base_url="http://evil.example")
        with host(client) as h:
            assert isinstance(h.ask(Hello(ref=1)), Welcome)
            assert update_of(h, token).video_url == SERVER + path
            sent = h.ask(SendVideo(ref=ref(), resume_token=token, to_emails=["b@example.com"]))
            assert isinstance(sent, VideoSent), sent
    text, html = bodies(parse(sink.messages[0].data))
    assert f"{SERVER}{path}" in text and "evil.example" not in text + html


def test_send_video_checks_its_parameters(live_client: LiveClient, store: Store) -> None:
    with live_client() as client:
        _, token = recorded(client)
        with host(client) as h:
            assert isinstance(h.ask(Hello(ref=1)), Welcome)
            for fields in (
                {"to_emails": ["not an address"]},
                {"to_emails": ["a@example.com\r\nBcc: x@example.com"]},
                {"to_emails": [f"u{i}@example.com" for i in range(11)]},
                {"subject": "x" * 201},
                {"subject": "two\nlines"},
                {"message": "m" * 1001},
            ):
                reply = h.ask(SendVideo(ref=ref(), resume_token=token, **fields))
                assert isinstance(reply, ErrorReply) and reply.code == "invalid_params", fields
    assert store.list_invites() == []


def test_send_video_is_rate_limited(live_client: LiveClient) -> None:
    with live_client(invites_per_session=3) as client:
        _, token = recorded(client)
        with host(client) as h:
            assert isinstance(h.ask(Hello(ref=1)), Welcome)
            two = ["a@example.com", "b@example.com"]
            assert isinstance(
                h.ask(SendVideo(ref=ref(), resume_token=token, to_emails=two)), VideoSent
            )
            reply = h.ask(SendVideo(ref=ref(), resume_token=token, to_emails=two))
            assert isinstance(reply, ErrorReply) and reply.code == "rate_limited", reply


def test_a_queued_send_goes_once_when_the_worker_completes(
    live_client: LiveClient, store: Store, tmp_path: Path, sink: SmtpSink
) -> None:
    with live_client(**smtp(sink)) as client:
        rid, token = recorded(client)
        with host(client) as h:
            assert isinstance(h.ask(Hello(ref=1)), Welcome)
            first = h.ask(SendVideo(ref=ref(), resume_token=token, subject="Our demo"))
            assert isinstance(first, VideoSent) and first.status == "queued"
            assert first.to == ["ann@example.com"]  # none given: the host's
            more = h.ask(SendVideo(ref=ref(), resume_token=token, to_emails=["bob@example.com"]))
            assert isinstance(more, VideoSent) and more.status == "queued"
            watched = update_of(h, token)
            assert (watched.status, watched.send_status) == ("queued", "queued")
            assert sink.messages == []
            render = fake_render()
            worker = RenderWorker(worker_settings(tmp_path, **smtp(sink)), store, renderer=render)
            assert worker.run(once=True) == 1
            statuses: list[tuple[str, str]] = []
            while not statuses or statuses[-1] != ("complete", "sent"):
                pushed = next_update(h)
                statuses.append((pushed.status, pushed.send_status))
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == ["ann@example.com", "bob@example.com"]
    assert {parse(m.data)["Subject"] for m in sink.messages} == {"Our demo"}
    row = store.replays.get(rid)
    assert row is not None and row.send_status == "sent"
    assert len(render.calls) == 1


def test_the_watcher_sends_a_queued_link_exactly_once(
    live_client: LiveClient, store: Store, tmp_path: Path, sink: SmtpSink
) -> None:
    with live_client(**smtp(sink)) as client:
        rid, token = recorded(client)
        with host(client) as h, host(client) as h2:
            for w in (h, h2):
                assert isinstance(w.ask(Hello(ref=1)), Welcome)
            reply = h.ask(SendVideo(ref=ref(), resume_token=token, to_emails=["c@example.com"]))
            assert isinstance(reply, VideoSent) and reply.status == "queued"
            update_of(h, token)
            update_of(h2, token)  # two watchers race for it
            complete(store, tmp_path, rid, b"video")  # a worker that died before sending
            for w in (h, h2):
                while next_update(w).send_status != "sent":
                    pass
    assert [m.rcpt_tos for m in sink.messages] == [["c@example.com"]]
    assert parse(sink.messages[0].data)["Subject"] == "Ann <b> shared a recorded replay with you"


def test_the_outbox_without_smtp(live_client: LiveClient, store: Store, tmp_path: Path) -> None:
    with live_client() as client:
        rid, token = recorded(client)
        complete(store, tmp_path, rid, b"video")
        with host(client) as h:
            assert isinstance(h.ask(Hello(ref=1)), Welcome)
            reply = h.ask(SendVideo(ref=ref(), resume_token=token, subject="Hi"))
            assert isinstance(reply, VideoSent) and reply.status == "outbox"
    (kept,) = store.kept_messages()
    assert kept.subject == "Hi" and kept.link.endswith(".mp4") and "/replay/" in kept.link


def test_send_video_to_ten_addresses_and_not_eleven(
    live_client: LiveClient, store: Store, tmp_path: Path
) -> None:
    with live_client() as client:
        rid, token = recorded(client)
        complete(store, tmp_path, rid, b"video")
        with host(client) as h:
            assert isinstance(h.ask(Hello(ref=1)), Welcome)
            eleven = [f"u{i}@example.com" for i in range(MAX_VIDEO_RECIPIENTS + 1)]
            reply = h.ask(SendVideo(ref=ref(), resume_token=token, to_emails=eleven))
            assert isinstance(reply, ErrorReply) and reply.code == "invalid_params"
            assert reply.message == "toEmails has 11 addresses; at most 10"
            ten = eleven[:MAX_VIDEO_RECIPIENTS]
            reply = h.ask(SendVideo(ref=ref(), resume_token=token, to_emails=ten))
            assert isinstance(reply, VideoSent) and reply.to == ten, reply
    assert len(store.kept_messages()) == 10


@pytest.mark.parametrize("completes", ["before", "after"])
def test_a_send_asked_as_the_render_completes_goes_once(
    live_client: LiveClient,
    store: Store,
    tmp_path: Path,
    sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
    completes: str,
) -> None:
    """The render completes just ``before`` or ``after`` a send is queued; an earlier send
    is queued too. Every address gets exactly one email (a send made at once does not
    overwrite the queued one's status, so it still goes)."""
    worker = RenderWorker(worker_settings(tmp_path, **smtp(sink)), store)
    request_send = ReplayStore.request_send

    def racing(self: ReplayStore, replay_id: str, *args: Any) -> bool:
        if completes == "before":
            assert self.complete(replay_id, "w1", 5)
        queued = request_send(self, replay_id, *args)
        if completes == "after":
            assert self.complete(replay_id, "w1", 5)
            assert asyncio.run(worker.service.deliver_queued(replay_id)) == "sent"
        return queued

    with live_client(**smtp(sink)) as client:
        rid, token = recorded(client)
        assert store.replays.claim("w1") is not None
        (folder(tmp_path, rid) / "video.mp4").write_bytes(b"video")
        with host(client) as h, host(client) as h2:
            for w in (h, h2):
                assert isinstance(w.ask(Hello(ref=1)), Welcome)
            first = h.ask(SendVideo(ref=ref(), resume_token=token, to_emails=["a@example.com"]))
            assert isinstance(first, VideoSent) and first.status == "queued"
            update_of(h2, token)  # a watcher racing for the queued send too
            monkeypatch.setattr(ReplayStore, "request_send", racing)
            reply = h.ask(SendVideo(ref=ref(), resume_token=token, to_emails=["b@example.com"]))
            assert isinstance(reply, VideoSent)
            assert reply.status == ("sent" if completes == "before" else "queued")
            asyncio.run(worker.service.deliver_queued(rid))  # the worker, after completing
            eventually(lambda: getattr(store.replays.get(rid), "send_status", "") == "sent")
            eventually(lambda: len(sink.messages) >= 2)
            eventually(lambda: watchers(client) == 0)  # no send can still be on its way
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == ["a@example.com", "b@example.com"]


# -- the render worker ------------------------------------------------------------------------
def test_the_worker_renders_and_records_progress(
    store: Store, tmp_path: Path, live_client: LiveClient
) -> None:
    with live_client() as client:
        rid, _ = recorded(client)
    render = fake_render(b"the video")
    assert RenderWorker(worker_settings(tmp_path), store, renderer=render).run(once=True) == 1
    row = store.replays.get(rid)
    assert row is not None
    assert (row.status, row.percent, row.stage, row.video_bytes) == ("complete", 100, "done", 9)
    ((where, started, ended),) = render.calls
    assert (where, started) == (folder(tmp_path, rid), T0)
    assert ended == pytest.approx(T0 + 2000, abs=150)
    assert RenderWorker(worker_settings(tmp_path), store, renderer=render).run(once=True) == 0


def test_one_sites_flood_does_not_delay_anothers_first_render(
    store: Store, tmp_path: Path, live_client: LiveClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A site floods the queue with replays; another site's one replay, queued after them,
    is rendered next, not after the flood (the worker takes sites in turn)."""
    monkeypatch.setenv("CWMN_MAX_REPLAYS_PER_CLIENT", "20")  # every host here is one client
    other = store.add_domain("other.test", "other")
    with live_client() as client:
        flood = [recorded(client, 0.5)[0] for _ in range(4)]
        late, _ = recorded(client, 0.5)
    for i, rid in enumerate(flood):
        set_row(store, rid, ended_at=T0 + 500 + i)
    set_row(store, late, site_id=other.id, ended_at=T0 + 600)
    render = fake_render()
    assert RenderWorker(worker_settings(tmp_path), store, renderer=render).run(once=True) == 5
    order = [where.name for where, _, _ in render.calls]
    assert order[:2] == [flood[0], late], order  # the flood's oldest, then the other site
    assert order[2:] == flood[1:]  # each site's own in order


def test_a_site_cannot_queue_replays_without_end(
    store: Store, tmp_path: Path, live_client: LiveClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host's script starts replay after replay: past the site's number of replays waiting
    for their video, or their bytes on disk, a new one is refused (rate_limited) and says
    which setting; once one is rendered there is room again."""
    monkeypatch.setenv("CWMN_MAX_REPLAYS_PER_SITE", "2")
    monkeypatch.setenv("CWMN_MAX_REPLAYS_PER_CLIENT", "20")  # every host here is one client

    def refused(client: TestClient) -> ErrorReply:
        with host(client) as h:
            assert isinstance(h.ask(Hello(ref=1, page_url=HOST_ORIGIN + "/shop")), Welcome)
            reply = h.ask(StartSession(ref=2, host_name="Ann", is_replay=True, page_id="p"))
        assert isinstance(reply, ErrorReply) and reply.code == "rate_limited", reply
        return reply

    with live_client() as client:
        first, _ = recorded(client)
        recorded(client)
        assert "CWMN_MAX_REPLAYS_PER_SITE=2" in refused(client).message
        assert RenderWorker(worker_settings(tmp_path), store, renderer=fake_render()).run(
            once=True
        ) == 2  # fmt: skip
        with host(client) as h:  # rendered: room again
            start_replay(h)
    assert store.replays.get(first) is not None
    monkeypatch.setenv("CWMN_MAX_REPLAYS_PER_SITE", "20")
    monkeypatch.setenv("CWMN_MAX_REPLAY_BYTES_PER_SITE", "3000")
    with live_client() as client:
        with host(client) as a, host(client) as b:  # two at once: each may fill what was left
            start_replay(a)
            start_replay(b)
            for h in (a, b):
                send(h, 1, "snapshot", T0, nodes=[[1, 0, 1, "html", []]], pad="x" * 2000)
                acked(h, 1)
                end(h)
        assert "CWMN_MAX_REPLAY_BYTES_PER_SITE=3000" in refused(client).message
    used = sum(p.stat().st_size for p in (tmp_path / "replays").glob("*/stream.jsonl"))
    monkeypatch.setenv("CWMN_MAX_REPLAY_BYTES_PER_SITE", str(used + 500))
    with live_client() as client, host(client) as h:
        started = start_replay(h)  # room again, but only 500 bytes of it
        send(h, 1, "snapshot", T0, nodes=[[1, 0, 1, "html", []]], pad="x" * 1000)
        acked(h, 1)  # acked, and dropped: past what the site had left
    assert (folder(tmp_path, started.session_id) / "stream.jsonl").stat().st_size == 0


def test_one_client_cannot_take_a_sites_whole_share_of_replays(
    store: Store, tmp_path: Path, live_client: LiveClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forged host's script starts replay after replay from one address: past
    CWMN_MAX_REPLAYS_PER_CLIENT waiting for their video it is refused, while another
    client of the site can still start one (the site's own cap is far)."""
    monkeypatch.setenv("CWMN_MAX_REPLAYS_PER_SITE", "20")
    monkeypatch.setenv("CWMN_MAX_REPLAYS_PER_CLIENT", "2")
    with live_client() as client:  # every socket of a TestClient is one client address
        recorded(client)
        with host(client) as h:
            start_replay(h)  # still recording: it counts too
            with host(client) as extra:
                assert isinstance(extra.ask(Hello(ref=1, page_url=HOST_ORIGIN)), Welcome)
                reply = extra.ask(StartSession(ref=2, host_name="x", is_replay=True))
            assert isinstance(reply, ErrorReply) and reply.code == "rate_limited", reply
            assert "CWMN_MAX_REPLAYS_PER_CLIENT=2" in reply.message
            settings = relay_settings(client)
            site_id = store.site_for_host("localhost")
            assert site_id is not None
            sessions.check_replay_room(store, settings, site_id.id, "198.51.100.7")  # others may
            with pytest.raises(Exception, match="CWMN_MAX_REPLAYS_PER_CLIENT"):
                sessions.check_replay_room(store, settings, site_id.id, "testclient")
        assert RenderWorker(worker_settings(tmp_path), store, renderer=fake_render()).run(
            once=True
        ) == 1  # fmt: skip
        with host(client) as h:  # one rendered: room again for this client
            start_replay(h)


def relay_settings(client: TestClient) -> Settings:
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    return settings


def test_the_worker_resumes_a_stale_job_and_gives_up_after_three(
    store: Store, tmp_path: Path, live_client: LiveClient
) -> None:
    with live_client() as client:
        stale, _ = recorded(client)
        dead, _ = recorded(client)
        alive, _ = recorded(client)
    now = time.time()
    set_row(store, stale, status="rendering", worker_id="gone", heartbeat_at=now - 60, attempts=1)
    set_row(store, dead, status="rendering", worker_id="gone", heartbeat_at=now - 60, attempts=3)
    set_row(store, alive, status="rendering", worker_id="busy", heartbeat_at=now - 5, attempts=1)
    render = fake_render()
    assert RenderWorker(worker_settings(tmp_path), store, renderer=render).run(once=True) == 1
    rows = {rid: store.replays.get(rid) for rid in (stale, dead, alive)}
    assert rows[stale].status == "complete" and rows[stale].attempts == 2  # type: ignore[union-attr]
    assert rows[dead].status == "failed" and "3 times" in rows[dead].error  # type: ignore[union-attr, operator]
    assert rows[alive].status == "rendering"  # type: ignore[union-attr]


def test_render_errors_fail_the_job_and_abandon_stops_it(
    store: Store, tmp_path: Path, live_client: LiveClient
) -> None:
    from cwmn_web.render import RenderCancelled, RenderError

    with live_client() as client:
        broken, _ = recorded(client)

        def failing(*args: Any, **kw: Any) -> None:
            raise RenderError("no snapshot in the recording")

        RenderWorker(worker_settings(tmp_path), store, renderer=failing).run(once=True)
        row = store.replays.get(broken)
        assert row is not None and (row.status, row.error) == (
            "failed", "no snapshot in the recording"
        )  # fmt: skip

        rid, token = recorded(client)

        def abandoned_midway(recording: Path, *args: Any, **kw: Any) -> None:
            with host(client) as h:
                assert isinstance(h.ask(Hello(ref=1)), Welcome)
                assert isinstance(h.ask(AbandonReplay(ref=ref(), resume_token=token)), Ok)
            eventually(kw["should_stop"], timeout=5)
            (recording / "video.mp4").parent.mkdir(parents=True, exist_ok=True)
            (recording / "video.mp4").write_bytes(b"late")
            raise RenderCancelled()

        RenderWorker(worker_settings(tmp_path), store, renderer=abandoned_midway).run(once=True)
        row = store.replays.get(rid)
        assert row is not None and row.status == "abandoned"
        assert not folder(tmp_path, rid).exists()


def test_the_worker_ends_recordings_whose_server_went(
    store: Store, tmp_path: Path, live_client: LiveClient
) -> None:
    with live_client() as client, host(client) as h:
        started = start_replay(h)
        send(h, 1, "snapshot", T0, nodes=[])
        send(h, 2, "mutations", T0 + 700)
        acked(h, 2)
        set_row(store, started.session_id, created_at=time.time() - 3600)
        RenderWorker(worker_settings(tmp_path), store, renderer=fake_render()).run(once=True)
    row = store.replays.get(started.session_id)
    assert row is not None and row.status == "complete" and row.ended_at == T0 + 700


def test_the_worker_survives_ordinary_errors(
    store: Store,
    tmp_path: Path,
    live_client: LiveClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The database locked, a purge or an email that fails: logged, and the loop goes on."""
    with live_client() as client:
        first, token = recorded(client)
        second, _ = recorded(client)
        with host(client) as h:
            assert isinstance(h.ask(Hello(ref=1)), Welcome)
            assert isinstance(h.ask(SendVideo(ref=ref(), resume_token=token)), VideoSent)
    claim, deliver = ReplayStore.claim, ReplayService.deliver_queued
    locked = [OperationalError("UPDATE replays", {}, Exception("database is locked"))]

    def flaky_claim(self: ReplayStore, *args: Any, **kw: Any) -> Any:
        if locked:
            raise locked.pop()
        return claim(self, *args, **kw)

    async def failing_deliver(self: ReplayService, replay_id: str) -> str | None:
        raise RuntimeError("the mail transport broke")

    def failing_purge(*args: Any) -> int:
        raise OSError("the data dir is gone")

    monkeypatch.setattr(ReplayStore, "claim", flaky_claim)
    monkeypatch.setattr(ReplayService, "deliver_queued", failing_deliver)
    monkeypatch.setattr(worker_module, "purge_expired", failing_purge)
    worker = RenderWorker(worker_settings(tmp_path), store, poll=0.01, renderer=fake_render())
    assert worker.run(once=True) == 2
    for rid in (first, second):
        assert getattr(store.replays.get(rid), "status", "") == "complete"
    assert "database is locked" in caplog.text
    assert "the mail transport broke" in caplog.text and "the data dir is gone" in caplog.text
    # The queued send nobody sent goes at the next housekeeping.
    monkeypatch.setattr(ReplayService, "deliver_queued", deliver)
    worker.housekeeping()
    assert getattr(store.replays.get(first), "send_status", "") == "outbox"


def test_a_video_gone_after_its_render_is_retried_then_fails(
    store: Store, tmp_path: Path, live_client: LiveClient
) -> None:
    """The video vanished between the render and its size (the folder removed): no
    crash; the job is tried again, then fails after three attempts."""
    with live_client() as client:
        rid, _ = recorded(client)

    def vanishing(recording: Path, *args: Any, **kw: Any) -> None:
        pass  # reports success, writes nothing

    assert RenderWorker(worker_settings(tmp_path), store, renderer=vanishing).run(once=True) == 3
    row = store.replays.get(rid)
    assert row is not None and (row.status, row.attempts) == ("failed", 3)
    assert row.error == "the rendered video went missing"


# -- end to end with the real renderer ----------------------------------------------------------
@needs_tools
def test_end_to_end_with_the_real_renderer(
    live_client: LiveClient, store: Store, tmp_path: Path
) -> None:
    from cwmn_web.render.synthetic import block_change, block_page

    audio = encode_opus(tmp_path / "tone.webm", "sine=frequency=440:duration=1.5")
    half = len(audio) // 2
    with live_client() as client:
        with host(client) as h:
            started = start_replay(h)
            send(h, 1, "snapshot", T0, **block_page("#ff0000"))
            send(h, 2, "audio", T0 + 400, **chunk("n1", 0, audio[:half], t0=T0 + 200))
            send(h, 3, "mutations", T0 + 1000, **block_change("#0000ff", "blue"))
            send(h, 4, "audio", T0 + 1700, **chunk("n1", 1, audio[half:], t0=T0 + 200))
            send(h, 5, "pointer", T0 + 2000, x=10, y=10)
            acked(h, 5)
            end(h)
        worker = RenderWorker(worker_settings(tmp_path), store)
        assert worker.run(once=True) == 1
        row = store.replays.get(started.session_id)
        assert row is not None and row.status == "complete", row
        response = client.get(video_path(tmp_path, row.id))
        assert response.status_code == 200 and response.content[4:8] == b"ftyp"
    info = probe(folder(tmp_path, started.session_id) / "video.mp4")
    assert sorted(kind for kind, _ in info.codecs) == ["audio", "video"]
    assert info.duration == pytest.approx(2.0, abs=0.3)


def test_the_test_server_can_run_a_render_worker(tmp_path: Path, build_id: str) -> None:
    with CwmnServer(tmp_path / "srv", env=HERMETIC_ENV, render_worker=True) as server:
        assert server.worker is not None and server.worker.poll() is None
        assert server.proc is not None
        eventually(lambda: "render worker" in server.worker_log_path.read_text(), 20)
    assert server.worker.returncode is not None and server.proc.returncode is not None
    assert "stopped" in server.worker_log_path.read_text()  # SIGTERM: a clean stop
