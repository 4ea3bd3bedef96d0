"""Replays on the host side (cwmn_web.client.replay through the host core), against the real
server in memory (tests/helpers/live_page.py) on its fake clock: narration frames, the end,
following the render (its worker, another process, played by ``ports.worker``)."""

# mypy: disable-error-code="comparison-overlap"
# (the state changes through the core's inputs, which mypy does not see)

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

import pytest

from cwmn_web.client.controller import RESUME_KEY
from cwmn_web.client.replay import AUDIO_STOP_TIMEOUT, DRAIN_TIMEOUT, checked_chunk, warning_lead
from cwmn_web.client.states import State
from cwmn_web.errors import ProtocolError
from cwmn_web.protocol.messages import (
    AbandonReplay,
    EndSession,
    MirrorFrame,
    SendVideo,
    StartSession,
    WatchReplay,
)
from cwmn_web.server.db import ReplayStatus, SendStatus
from cwmn_web.server.host_socket import WATCH_INTERVAL
from cwmn_web.server.replays.recording import recording_dir
from tests.helpers.live_page import HOST, PAGE, LivePage, booted, call_error, make

REPLAY = {**HOST, "isReplay": True}
CHUNK = {"segment": "seg1", "t0": 1_000_000.0, "mime": "audio/webm;codecs=opus"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def events(ports: LivePage) -> list[str]:
    return [event for event, _, _ in ports.deliveries]


def recording(ports: LivePage | None = None) -> tuple[Any, LivePage]:
    controller, ports = booted(ports)
    info = ports.call("session.start", (dict(REPLAY),))
    assert info["isReplay"] is True
    assert controller.state is State.IN_SESSION
    return controller, ports


def test_a_replay_starts_recording_the_page_and_the_microphone() -> None:
    controller, ports = recording()
    start = [m for m in ports.wire.received if isinstance(m, StartSession)]
    assert start[-1].is_replay is True
    assert ports.worker.record.status == ReplayStatus.RECORDING  # its render job to be
    assert ports.captures[-1][0] is True
    assert ports.overlays[-1] == {"op": "record", "action": "start", "muted": False}
    assert controller.view()["sessionInfo"]["audio"] == "pending"
    ports.audio({"status": "recording", "segment": "seg1"})
    assert controller.view()["sessionInfo"]["audio"] == "recording"
    ports.audio({"chunk": {**CHUNK, "index": 0, "b64": b64(b"\x1aE\xdf\xa3")}})
    ports.audio({"chunk": {**CHUNK, "index": 1, "b64": b64(b"more")}})
    assert len(ports.wire.frames) == 2
    first, second = ports.wire.frames
    assert (first.kind, first.data["index"], second.data["index"]) == ("audio", 0, 1)
    assert controller.session is not None and controller.session.drained  # the server has them
    assert first.data["b64"] == b64(b"\x1aE\xdf\xa3")
    assert first.t == 1_000_000.0  # Page.now() in ms: every frame is timed


def test_no_microphone_records_without_narration_and_says_so() -> None:
    controller, ports = recording()
    ports.audio({"status": "unavailable", "reason": "NotAllowedError: denied"})
    info = controller.view()["sessionInfo"]
    assert (info["audio"], info["audioError"]) == ("unavailable", "NotAllowedError: denied")
    assert any("without narration" in w for w in ports.warnings)
    assert controller.state is State.IN_SESSION


def test_mute_audio_tells_the_page_and_survives_a_page_change() -> None:
    controller, ports = recording()
    token = ports.resume_token
    session = ports.db.session_by_resume_token(token)
    assert session is not None and session.id == ports.session_id
    assert ports.call("replay.muteAudio", (True,)) is True
    assert ports.overlays[-1] == {"op": "record", "action": "mute", "muted": True}
    assert controller.view()["sessionInfo"]["audioMuted"] is True
    stored = ports.stored[RESUME_KEY]
    assert stored is not None
    assert (stored["token"], stored["muted"]) == (token, True) and "isReplay" not in stored
    assert ports.call("replay.muteAudio", (False,)) is False
    error = call_error(ports, "replay.muteAudio", "yes")
    assert error.code == "invalid_params"


def test_mute_audio_needs_a_replay() -> None:
    _, ports = booted()
    ports.call("session.start", (dict(HOST),))
    error = call_error(ports, "replay.muteAudio", True)
    assert error.code == "invalid_state"


def test_end_waits_for_the_last_chunk_then_follows_the_render() -> None:
    controller, ports = recording()
    token, session_id = ports.resume_token, ports.session_id
    ports.audio({"status": "recording", "segment": "seg1"})

    call = ports.start_call("session.endSession")
    # The page hands over its last chunk, then stops; the end waits for it.
    assert ports.overlays[-1] == {"op": "record", "action": "stop"}
    assert call not in ports.results and controller.state is State.IN_SESSION
    ports.advance(AUDIO_STOP_TIMEOUT / 2)
    ports.audio({"chunk": {**CHUNK, "index": 0, "b64": b64(b"\x1aE\xdf\xa3last")}})
    ports.audio({"status": "stopped", "segment": "seg1"})
    result = ports.outcome(call)
    assert result["reason"] == "ended"
    received = ports.wire.received
    end = next(i for i, m in enumerate(received) if isinstance(m, EndSession))
    audio = [i for i, m in enumerate(received) if isinstance(m, MirrorFrame)]
    assert audio and max(audio) < end  # the server held the last chunk before the end
    assert ports.worker.record.status == ReplayStatus.QUEUED  # the render job is queued
    assert ports.worker.record.has_audio
    assert controller.state is State.WAITING_FOR_REPLAY
    assert events(ports)[-2:] == ["end session", "waiting for replay"]
    assert ports.stored[RESUME_KEY] == {"token": token, "sessionId": session_id, "replay": True}
    assert any(isinstance(m, WatchReplay) for m in ports.wire.received)
    progress = ports.call("replay.getRenderingProgress", ())
    assert progress == {"percent": 0.0, "completed": False}

    ports.worker.progress(40, "replaying", 6.0)
    assert "replay progress" in events(ports)
    event, args, state = ports.deliveries[-1]
    assert (event, state) == ("replay progress", "waiting for replay")
    assert args == ({"percent": 40.0, "stage": "replaying", "etaSeconds": 6.0},)
    assert ports.call("replay.getRenderingProgress", ()) == {
        "percent": 40.0,
        "completed": False,
    }
    error = call_error(ports, "replay.getVideoURL")
    assert error.code == "invalid_state"

    ports.worker.complete()
    assert controller.state is State.REPLAY_COMPLETE
    assert events(ports)[-1] == "replay complete"
    url = ports.call("replay.getVideoURL", ())
    assert url == ports.worker.video_url and url.startswith("http://cwmn.test/replay/")
    assert ports.call("replay.getRenderingProgress", ()) == {
        "percent": 100.0,
        "completed": True,
    }
    sent = ports.call("replay.sendVideo", ({"toEmails": ["a@example.com"]},))
    # Delivered: to the development outbox (the server's email transport without SMTP).
    assert sent == {"status": "outbox", "to": ["a@example.com"]}
    (mail,) = ports.db.kept_messages()
    assert (mail.recipient, mail.link) == ("a@example.com", url)
    assert controller.state is State.NO_SESSION
    assert events(ports)[-2:] == ["reinit", "ready no session"]
    assert ports.stored[RESUME_KEY] is None
    request = [m for m in ports.wire.received if isinstance(m, SendVideo)][-1]
    assert (request.resume_token, request.to_emails) == (token, ["a@example.com"])


def waiting(ports: LivePage | None = None) -> tuple[Any, LivePage]:
    controller, ports = recording(ports)
    ports.audio({"status": "unavailable", "reason": "none"})
    ports.call("session.endSession", ())
    assert controller.state is State.WAITING_FOR_REPLAY
    assert any(isinstance(m, WatchReplay) for m in ports.wire.received)
    return controller, ports


def test_send_video_while_rendering_goes_out_when_rendering_completes() -> None:
    controller, ports = waiting()
    sent = ports.call("replay.sendVideo", ({"subject": "Our call"},))
    assert sent["status"] == "queued"
    assert ports.worker.record.send_status == SendStatus.QUEUED
    assert controller.state is State.WAITING_FOR_REPLAY
    # The worker completes the video and, right after, takes the queued email to send it.
    ports.worker.complete(delivering=True)
    ports.advance(1.0)
    assert controller.state is State.WAITING_FOR_REPLAY  # the email goes out first
    ports.worker.sent(SendStatus.SENT)
    assert controller.state is State.NO_SESSION
    assert events(ports)[-3:] == ["replay complete", "reinit", "ready no session"]


def test_render_failure_then_dismiss() -> None:
    controller, ports = waiting()
    ports.worker.fail("bad audio")
    assert controller.state is State.REPLAY_ERROR
    assert events(ports)[-1] == "replay error"
    assert any("bad audio" in w for w in ports.warnings)
    error = call_error(ports, "replay.getRenderingProgress")
    assert error.code == "invalid_state"
    ports.call("replay.dismissError", ())
    assert controller.state is State.NO_SESSION
    assert events(ports)[-2:] == ["reinit", "ready no session"]


def test_abandon_deletes_on_the_server_and_ends() -> None:
    controller, ports = waiting()
    ports.call("replay.abandonVideo", ())
    assert any(isinstance(m, AbandonReplay) for m in ports.wire.received)
    assert ports.worker.record.status == ReplayStatus.ABANDONED
    assert controller.state is State.NO_SESSION
    assert ports.stored[RESUME_KEY] is None


def test_the_next_page_keeps_following_the_render() -> None:
    ports = LivePage()
    entry = ports.ended_replay()  # on the previous page
    ports.worker.progress(10, "replaying", 20.0)
    controller, ports = make(ports)
    controller.config = replace(controller.config, resume=entry)
    ports.boot()
    assert controller.state is State.WAITING_FOR_REPLAY
    # The render's first update comes as soon as the watch's socket is answered.
    assert events(ports)[-2:] == ["waiting for replay", "replay progress"]
    assert controller.watch is not None and controller.watch.update.percent
    assert ports.call("replay.getRenderingProgress", ()) == {
        "percent": 10.0,
        "completed": False,
    }


def test_the_next_page_goes_on_recording_the_replay() -> None:
    ports = LivePage()
    entry = ports.recording_replay()  # on the previous page
    controller, ports = make(ports)
    controller.config = replace(controller.config, resume=entry)
    ports.boot()
    assert controller.state is State.IN_SESSION
    assert controller.view()["sessionInfo"]["isReplay"] is True
    assert ports.overlays[-1] == {"op": "record", "action": "start", "muted": False}
    ports.audio({"status": "unavailable", "reason": "none"})
    ports.capture_frame("snapshot", {"nodes": [], "url": PAGE, "base": PAGE})
    ports.capture_frame("scroll", {"x": 0, "y": 7})
    assert controller.session is not None and controller.session.drained
    stream = recording_dir(ports.server.settings.data_dir, entry["sessionId"]) / "stream.jsonl"
    lines = [json.loads(line) for line in stream.read_text().splitlines()]
    assert [line["kind"] for line in lines] == ["snapshot", "scroll"]  # in the recording
    assert lines[-1]["data"] == {"x": 0, "y": 7}
    ports.call("session.endSession", ())
    assert controller.state is State.WAITING_FOR_REPLAY
    assert ports.worker.record.status == ReplayStatus.QUEUED


def test_the_maximum_length_warns_then_ends_the_recording() -> None:
    ports = LivePage()
    ports.site_settings(replayMaxSeconds=0.4)
    controller, ports = recording(ports)
    ports.audio({"status": "unavailable", "reason": "none"})
    ports.advance(0.19)
    assert "replay timeout warning" not in events(ports)
    ports.advance(0.01)
    warning = next(d for d in ports.deliveries if d[0] == "replay timeout warning")
    assert warning[1] == (0.2,) and warning[2] == "in session"
    ports.advance(0.19)
    assert controller.state is State.IN_SESSION
    ports.advance(0.01)
    assert controller.state is State.WAITING_FOR_REPLAY
    tail = events(ports)
    start = tail.index("replay timeout")
    assert tail[start : start + 3] == ["replay timeout", "end session", "waiting for replay"]


def test_warning_lead() -> None:
    assert warning_lead(600) == 60
    assert warning_lead(90) == 45


def test_a_lost_chunk_leaves_a_gap_but_a_repeated_one_is_refused() -> None:
    indexes: dict[str, int] = {}
    assert checked_chunk({**CHUNK, "index": 0, "b64": "AA=="}, indexes).index == 0
    assert checked_chunk({**CHUNK, "index": 2, "b64": "AA=="}, indexes).index == 2
    with pytest.raises(ProtocolError, match="out of order"):
        checked_chunk({**CHUNK, "index": 2, "b64": "AA=="}, indexes)


def test_frames_keep_the_time_the_page_captured_them() -> None:
    _, ports = recording()
    ports.capture_frame("scroll", {"x": 0, "y": 5}, 1_234_567.4)
    ports.capture_frame("scroll", {"x": 0, "y": 6}, "soon")  # not a time: now
    assert len(ports.wire.frames) == 2
    assert [f.t for f in ports.wire.frames] == [1_234_567, 1_000_000]


def test_sent_at_once_while_waiting_still_ends_the_replay() -> None:
    """The video finished as sendVideo was asked: the server sent it at once; the page still
    goes through 'replay complete' to 'ready no session', and sends nothing twice."""

    controller, ports = waiting()
    ports.worker.complete(read=False)  # the host's watch has not read it yet
    sent = ports.call("replay.sendVideo", ())
    assert sent["status"] == "outbox"  # delivered at once (to the development outbox)
    assert [m.recipient for m in ports.db.kept_messages()] == [HOST["hostEmail"]]
    assert controller.state is State.WAITING_FOR_REPLAY
    ports.advance(WATCH_INTERVAL)  # the watch reads the row
    assert controller.state is State.NO_SESSION
    tail = events(ports)
    assert tail[tail.index("replay complete") :] == [
        "replay complete",
        "reinit",
        "ready no session",
    ]
    assert len(ports.db.kept_messages()) == 1  # nothing sent twice


def test_an_email_on_its_way_is_waited_for() -> None:
    controller, ports = waiting()
    assert (ports.call("replay.sendVideo", ()))["status"] == "queued"
    ports.worker.complete(delivering=True)  # the worker is sending the queued email
    ports.advance(1.0)
    assert controller.state is State.WAITING_FOR_REPLAY
    ports.worker.sent(SendStatus.FAILED)
    assert controller.state is State.NO_SESSION
    assert any("could not be sent" in w for w in ports.warnings)


@pytest.mark.parametrize(
    ("chunk", "message"),
    [
        ({**CHUNK, "segment": "a b", "index": 0, "b64": "AA=="}, "segment id"),
        ({**CHUNK, "index": -1, "b64": "AA=="}, "out of order"),
        ({**CHUNK, "index": True, "b64": "AA=="}, "out of order"),
        ({**CHUNK, "t0": 0, "index": 0, "b64": "AA=="}, "start time"),
        ({**CHUNK, "mime": "video/mp4", "index": 0, "b64": "AA=="}, "audio type"),
        ({**CHUNK, "index": 0, "b64": ""}, "base64 data"),
        ({**CHUNK, "index": 0, "b64": "!!!"}, "not base64"),
    ],
)
def test_malformed_chunks_are_refused(chunk: dict[str, Any], message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        checked_chunk(chunk, {})


def test_a_recorder_that_never_stops_holds_the_end_for_three_seconds_at_most() -> None:
    controller, ports = recording()
    ports.audio({"status": "recording", "segment": "seg1"})
    call = ports.start_call("session.endSession")
    ports.advance(AUDIO_STOP_TIMEOUT - 0.01)
    assert call not in ports.results and controller.state is State.IN_SESSION
    ports.advance(0.01)
    assert ports.outcome(call)["reason"] == "ended"
    assert controller.state is State.WAITING_FOR_REPLAY


def test_the_end_waits_for_the_server_to_hold_every_frame_then_warns() -> None:
    _, ports = recording()
    ports.audio({"status": "unavailable", "reason": "none"})
    ports.wire.silent = True  # frames are never acked
    ports.capture_frame("scroll", {"x": 0, "y": 5})
    call = ports.start_call("session.endSession")
    ports.advance(DRAIN_TIMEOUT - 0.01)
    assert call not in ports.results and not any(
        isinstance(m, EndSession) for m in ports.wire.received
    )
    ports.advance(0.01)
    assert any("could not reach the server" in w for w in ports.warnings)
    assert any(isinstance(m, EndSession) for m in ports.wire.received)


def test_a_watch_lost_before_its_answer_comes_back_on_one_socket() -> None:
    ports = LivePage()
    entry = ports.ended_replay()
    ports.worker.progress(10, "replaying", 20.0)
    # Half-open connections: from each watch request on, nothing comes back.
    ports.wire.deaf_after = WatchReplay
    controller, ports = make(ports)
    controller.config = replace(controller.config, resume=entry)
    ports.boot()
    assert controller.state is State.WAITING_FOR_REPLAY
    assert "replay progress" not in events(ports)  # no answer
    for _ in range(3):
        ports.drop()
        ports.advance(10.0)  # past any backoff
        live = [side.name for side in ports.wire.sockets if not side.closed]
        assert len(live) == 1, live  # the lost one replaced, never two watching
        assert len(ports.server.watching) == 1  # and the server has one watch
    assert "replay progress" not in events(ports)
    assert sum(isinstance(m, WatchReplay) for m in ports.wire.received) == 4
