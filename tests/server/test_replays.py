"""Replays on the server (issue #7) over real sockets: the recording on disk, the render
job's row and its pushes, the video's URL (with Range), its email, abandon, retention, the
render worker (a stand-in renderer, and once the real one)."""

from __future__ import annotations

import base64
import email
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import update
from starlette.testclient import TestClient

from cwmn_web.protocol.messages import (
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
from cwmn_web.server.replays import sessions
from cwmn_web.server.replays.recording import recording_dir
from cwmn_web.server.replays.service import purge_expired
from cwmn_web.server.replays.worker import RenderWorker
from cwmn_web.server.store import Store, replays
from cwmn_web.testing.plugin import HERMETIC_ENV
from cwmn_web.testing.providers import SmtpSink
from cwmn_web.testing.servers import CwmnServer

from .live import HOST_ORIGIN, SERVER, Host, eventually, guest, host

if TYPE_CHECKING:
    from .conftest import LiveClient

pytestmark = pytest.mark.timeout(60)
_refs = count(9000)
SENDER = "Cwmn <replays@cwmn.test>"
T0 = time.time() * 1000  # the host's clock at the start of each recording here


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


def chunk(segment: str, index: int, raw: bytes, t0: float = T0, **more: Any) -> dict[str, Any]:
    return {
        "segment": segment,
        "t0": t0,
        "index": index,
        "mime": "audio/webm;codecs=opus",
        "b64": base64.b64encode(raw).decode(),
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
        assert (where / "audio" / "seg-1.webm").read_bytes() == b"HEADMORE"
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
    live_client: LiveClient, tmp_path: Path, store: Store
) -> None:
    """The recording lasts until the host ends it (on the host's clock), not until its last
    frame: a page that stayed still for its last second is still a second of video."""
    with live_client() as client, host(client) as h:
        started = start_replay(h)
        skew = 3_600_000  # the host's clock is an hour off the server's
        start = time.time() * 1000 + skew
        send(h, 1, "snapshot", start, nodes=[])
        acked(h, 1)
        time.sleep(1.0)
        end(h)
    row = store.replays.get(started.session_id)
    assert row is not None and row.started_at == start
    assert row.ended_at == pytest.approx(start + 1000, abs=250)


def test_bad_audio_is_acked_and_dropped(live_client: LiveClient, tmp_path: Path) -> None:
    bad = [
        chunk("bad/../x", 0, b"x"),
        chunk("", 0, b"x"),
        chunk("s" * 41, 0, b"x"),
        chunk("ok", -1, b"x"),
        chunk("ok", True, b"x"),  # type: ignore[arg-type]
        chunk("ok", 0, b"x", mime="video/mp4"),
        chunk("ok", 0, b"x", mime="audio/webm;codecs=vp8"),
        {**chunk("ok", 0, b"x"), "b64": "not base64!"},
        chunk("ok", 0, b"x" * (1024 * 1024 + 1)),
        chunk("ok", 0, b"x", t0="soon"),
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
    assert (where / "audio" / "ok.ogg").read_bytes() == b"AC"
    assert [a["mime"] for a in lines(where / "audio.jsonl")] == ["audio/ogg;codecs=opus"]


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
    assert (where / "audio" / "s.webm").read_bytes() == b"AB"
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
    assert (where / "audio" / "s.webm").read_bytes() == b"AB"
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
        assert [f.kind for f in live.room.log.frames_after(0)] == ["snapshot", "mutations"]
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
    monkeypatch.setattr(sessions, "END_GRACE_SECONDS", 0.5)
    with live_client() as client, host(client) as h:
        started = start_replay(h)
        assert started.settings["replayMaxSeconds"] == 1
        send(h, 1, "snapshot", T0, nodes=[])
        send(h, 2, "mutations", T0 + 5900, n=1)  # within max + 5 s
        send(h, 3, "mutations", T0 + 6100, n=2)  # beyond: acked, dropped
        send(h, 4, "audio", T0 + 6200, **chunk("s", 0, b"A"))
        acked(h, 4)
        # The server ends it at max + 30 s (here 0.5 s) since the host did not.
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
        assert done.video_url == f"{SERVER}/replay/{row.video_token}.mp4"
        assert client.get(done.video_url.removeprefix(SERVER)).content == b"mp4"
        assert not [m for m in h.drain() if isinstance(m, ReplayUpdate)]  # done: no more


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


# -- the video's URL ------------------------------------------------------------------------
def complete(store: Store, tmp_path: Path, rid: str, video: bytes) -> str:
    """Mark ``rid`` rendered with ``video``; its URL path."""
    (folder(tmp_path, rid) / "video.mp4").write_bytes(video)
    set_row(store, rid, status="complete", percent=100.0, stage="done", video_bytes=len(video))
    row = store.replays.get(rid)
    assert row is not None
    return f"/replay/{row.video_token}.mp4"


def test_the_video_with_range_requests(
    live_client: LiveClient, store: Store, tmp_path: Path
) -> None:
    video = bytes(range(256)) * 40
    with live_client() as client:
        rid, _ = recorded(client)
        token = store.replays.get(rid).video_token  # type: ignore[union-attr]
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
                reply = h.ask(SendVideo(ref=ref(), resume_token=token, **fields))  # type: ignore[arg-type]
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
            statuses = []
            while not statuses or statuses[-1] != ("complete", "sent"):
                pushed = next_update(h)
                statuses.append((pushed.status, pushed.send_status))
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == ["ann@example.com", "bob@example.com"]
    assert {parse(m.data)["Subject"] for m in sink.messages} == {"Our demo"}
    row = store.replays.get(rid)
    assert row is not None and row.send_status == "sent"
    assert len(render.calls) == 1  # type: ignore[attr-defined]


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
    (kept,) = store.outbox_messages()
    assert kept.subject == "Hi" and kept.link.endswith(".mp4") and "/replay/" in kept.link


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
    ((where, started, ended),) = render.calls  # type: ignore[attr-defined]
    assert (where, started) == (folder(tmp_path, rid), T0)
    assert ended == pytest.approx(T0 + 2000, abs=150)
    assert RenderWorker(worker_settings(tmp_path), store, renderer=render).run(once=True) == 0


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
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if kw["should_stop"]():
                    (recording / "video.mp4").parent.mkdir(parents=True, exist_ok=True)
                    (recording / "video.mp4").write_bytes(b"late")
                    raise RenderCancelled()
                time.sleep(0.05)
            raise AssertionError("should_stop never said stop")

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


# -- end to end with the real renderer ----------------------------------------------------------
HAVE_TOOLS = bool(shutil.which("ffmpeg") and shutil.which("ffprobe") and shutil.which("chromium"))


@pytest.mark.skipif(not HAVE_TOOLS, reason="needs chromium, ffmpeg and ffprobe")
def test_end_to_end_with_the_real_renderer(
    live_client: LiveClient, store: Store, tmp_path: Path
) -> None:
    from cwmn_web.render.synthetic import block_change, block_page

    tone = tmp_path / "tone.webm"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
         "sine=frequency=440:duration=1.5", "-c:a", "libopus", str(tone)],
        check=True,
    )  # fmt: skip
    audio = tone.read_bytes()
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
        response = client.get(f"/replay/{row.video_token}.mp4")
        assert response.status_code == 200 and response.content[4:8] == b"ftyp"
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json",
         str(folder(tmp_path, started.session_id) / "video.mp4")],
        capture_output=True, check=True,
    )  # fmt: skip
    info = json.loads(probe.stdout)
    assert sorted(s["codec_type"] for s in info["streams"]) == ["audio", "video"]
    assert float(info["format"]["duration"]) == pytest.approx(2.0, abs=0.3)


def test_the_test_server_can_run_a_render_worker(tmp_path: Path, build_id: str) -> None:
    with CwmnServer(tmp_path / "srv", env=HERMETIC_ENV, render_worker=True) as server:
        assert server.worker is not None and server.worker.poll() is None
        assert server.proc is not None
        eventually(lambda: "render worker" in server.worker_log_path.read_text(), 20)
    assert server.worker.returncode is not None and server.proc.returncode is not None
    assert "stopped" in server.worker_log_path.read_text()  # SIGTERM: a clean stop
