"""Replays end to end: the host's page records itself with narration (a fake microphone),
the render worker turns it into an MP4, the host previews and emails it; the error paths."""

from __future__ import annotations

import email
import email.policy
import json
import re
import time
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from cwmn_web.testing import CwmnServer, PageServer
from cwmn_web.testing.media import max_volume, pixel_at, probe
from cwmn_web.testing.providers import SmtpSink

from .conftest import PAGES, events, wait_state
from .test_embed import settle

pytestmark = pytest.mark.timeout(300)
REPLAY = "CwmnAPI.session.start({hostName: 'Rae', hostEmail: 'rae@example.com', isReplay: true})"
VIDEO_LINK = re.compile(r"https?://\S+/replay/[A-Za-z0-9_-]+\.mp4")
RED, GREEN, BLUE = (220, 30, 30), (30, 160, 60), (40, 60, 200)


def close_to(color: tuple[int, int, int], expected: tuple[int, int, int]) -> bool:
    return all(abs(a - b) <= 40 for a, b in zip(color, expected, strict=True))


def paint(host: Page, rgb: tuple[int, int, int], name: str) -> float:
    """Turn the host page's stage ``rgb``; return when (ms since the epoch)."""
    return float(
        host.evaluate(
            """([rgb, name]) => {
                document.getElementById('stage').style.background = `rgb(${rgb.join(',')})`;
                document.getElementById('title').textContent = 'Stage ' + name;
                return Date.now();
            }""",
            [list(rgb), name],
        )
    )


def recorder_state(host: Page, server: CwmnServer) -> dict[str, Any]:
    build = host.evaluate("CwmnAPI._debug().build")
    url = f"{server.url}/assets/{build}/recorder.mjs"
    state: dict[str, Any] = host.evaluate("u => import(u).then(m => m.debugState())", url)
    return state


def body(mail: EmailMessage, kind: str) -> str:
    """The text of ``mail``'s ``plain`` or ``html`` part, which must be there."""
    part = mail.get_body((kind,))
    assert part is not None, f"the mail has no {kind} part"
    text: str = part.get_content()
    return text


def download(url: str, path: Path, headers: dict[str, str] | None = None) -> tuple[int, Message]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as response:
        path.write_bytes(response.read())
        return response.status, response.headers


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.1)


def start_replay(host: Page) -> float:
    """Start a replay; return its start (ms since the epoch)."""
    return float(_start(host)["startedAt"]) * 1000


def start_replay_id(host: Page) -> str:
    return str(_start(host)["sessionId"])


def _start(host: Page) -> dict[str, Any]:
    started = settle(host, REPLAY)
    assert started["ok"], started
    info: dict[str, Any] = started["value"]
    assert info["isReplay"] is True
    return info


def test_record_render_preview_and_email(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    replay_server: CwmnServer,
    smtp_sink: SmtpSink,
    tmp_path: Path,
    browser_name: str,
) -> None:
    host = open_page(customer_site.url("replay.html", hostname="localhost"))
    started_at = start_replay(host)
    host.wait_for_function("CwmnAPI.session.getSessionInfo().audio === 'recording'", timeout=20_000)
    assert recorder_state(host, replay_server)["badge"] == "Recording replay"
    t0 = float(host.evaluate("Date.now()"))

    # About ten seconds: red, then green at ~3 s (with the narration muted from ~5.5 to
    # ~7.5 s), blue at ~8 s; the pointer moves throughout.
    for i in range(10):
        host.mouse.move(100 + 40 * i, 200 + 10 * i)
        host.wait_for_timeout(250)
    green_at = paint(host, GREEN, "green")
    host.wait_for_timeout(2500)
    assert settle(host, "CwmnAPI.replay.muteAudio(true)")["value"] is True
    muted_at = float(host.evaluate("Date.now()"))
    assert recorder_state(host, replay_server)["badge"] == "Recording replay · microphone muted"
    host.wait_for_timeout(2000)
    assert settle(host, "CwmnAPI.replay.muteAudio(false)")["value"] is False
    blue_at = paint(host, BLUE, "blue")
    host.wait_for_timeout(2000)
    ended = settle(host, "CwmnAPI.session.endSession()")
    end_ms = float(host.evaluate("Date.now()"))
    assert ended["ok"], ended
    log = events(host)
    assert log[log.index("end session") :][:2] == ["end session", "waiting for replay"]

    # Rendering: progress events, then complete.
    wait_state(host, "replay complete", timeout=180_000)
    log = host.evaluate("window.__cwmnLog.events")
    progress = [e["args"][0] for e in log if e["name"] == "replay progress"]
    assert progress, "no replay progress event"
    assert all(set(p) == {"percent", "stage", "etaSeconds"} for p in progress)
    assert all(0 <= p["percent"] <= 100 for p in progress)
    rendering = settle(host, "CwmnAPI.replay.getRenderingProgress()")["value"]
    assert rendering == {"percent": 100, "completed": True}

    url = settle(host, "CwmnAPI.replay.getVideoURL()")["value"]
    assert VIDEO_LINK.fullmatch(url), url
    video = tmp_path / "replay.mp4"
    status, headers = download(url, video)
    assert status == 200 and headers["Content-Type"] == "video/mp4"
    info = probe(video)
    assert sorted(info.codecs) == [("audio", "aac"), ("video", "h264")]
    length = (end_ms - started_at) / 1000
    assert abs(info.duration - length) <= 0.05 * length, (info.duration, length)

    # Frames at known times show the page as it was.
    def at(ms: float) -> float:
        return (ms - started_at) / 1000

    assert close_to(pixel_at(video, at(t0) + 0.5, 0.5, 0.7), RED)
    assert close_to(pixel_at(video, at(green_at) - 0.6, 0.5, 0.7), RED)
    assert close_to(pixel_at(video, at(green_at) + 0.6, 0.5, 0.7), GREEN)
    assert close_to(pixel_at(video, at(blue_at) + 0.6, 0.5, 0.7), BLUE)

    # The narration: the fake microphone's tone, silence while muted.
    assert max_volume(video, at(t0), at(green_at) - at(t0)) > -45
    assert max_volume(video, at(muted_at) + 0.5, 1.0) < -60

    # A range request, as a browser's video element seeks.
    part = tmp_path / "part.bin"
    status, headers = download(url, part, {"Range": "bytes=100-199"})
    assert status == 206 and headers["Content-Range"].startswith("bytes 100-199/")
    assert part.read_bytes() == video.read_bytes()[100:200]

    # Email it: the link arrives on the SMTP server and plays.
    mails = len(smtp_sink.messages)
    sent = settle(
        host,
        "CwmnAPI.replay.sendVideo({toEmails: ['viewer@example.com'], subject: 'Our replay',"
        " message: 'Have a look <b>now</b>'})",
    )
    assert sent["ok"], sent
    assert sent["value"] == {"status": "sent", "to": ["viewer@example.com"]}
    wait_state(host, "no session")
    assert events(host)[-2:] == ["reinit", "ready no session"]
    wait_for(lambda: len(smtp_sink.messages) == mails + 1)
    mail = email.message_from_bytes(smtp_sink.messages[-1].data, policy=email.policy.default)
    assert mail["To"].addresses[0].addr_spec == "viewer@example.com"
    assert mail["Subject"] == "Our replay"
    text = body(mail, "plain")
    assert "Have a look <b>now</b>" in text
    assert "<b>now</b>" not in body(mail, "html")
    link = VIDEO_LINK.search(text)
    assert link and link.group(0) == url

    # Masking applied to the recording exactly as to a live session.
    recording = replay_server.data_dir / "replays"
    streams = list(recording.glob("*/stream.jsonl"))
    assert streams and not any("SECRET-REPLAY" in p.read_text() for p in streams)


def test_without_a_microphone_the_replay_says_so_and_a_queued_email_goes_once_rendered(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    replay_server: CwmnServer,
    smtp_sink: SmtpSink,
    tmp_path: Path,
) -> None:
    host = open_page(customer_site.url("replay.html", hostname="localhost"))
    host.evaluate(
        """() => { navigator.mediaDevices.getUserMedia = () =>
            Promise.reject(new DOMException('Permission denied', 'NotAllowedError')); }"""
    )
    start_replay(host)
    host.wait_for_function(
        "CwmnAPI.session.getSessionInfo().audio === 'unavailable'", timeout=20_000
    )
    info = host.evaluate("CwmnAPI.session.getSessionInfo()")
    assert info["audioError"].startswith("NotAllowedError")
    assert recorder_state(host, replay_server)["badge"] == "Recording replay · no microphone"
    host.wait_for_timeout(1500)
    assert settle(host, "CwmnAPI.session.endSession()")["ok"]

    # Asked for while rendering: the email goes out when the video is ready.
    mails = len(smtp_sink.messages)
    sent = settle(host, "CwmnAPI.replay.sendVideo()")  # to the host's own address
    assert sent["ok"], sent
    assert sent["value"] == {"status": "queued", "to": ["rae@example.com"]}
    wait_state(host, "no session", timeout=120_000)
    tail = events(host)
    settled = ["replay complete", "reinit", "ready no session"]
    assert tail[tail.index("replay complete") :] == settled
    wait_for(lambda: len(smtp_sink.messages) == mails + 1)
    mail = email.message_from_bytes(smtp_sink.messages[-1].data, policy=email.policy.default)
    assert mail["To"].addresses[0].addr_spec == "rae@example.com"
    assert "Rae" in mail["Subject"]
    link = VIDEO_LINK.search(body(mail, "plain"))
    assert link is not None
    video = tmp_path / "silent.mp4"
    download(link.group(0), video)
    assert sorted(probe(video).codecs) == [("audio", "aac"), ("video", "h264")]
    assert max_volume(video, 0, 1.5) < -60  # a silent sound track


@pytest.mark.only_browser("chromium")  # the page side is the same code in Firefox
def test_abandon_deletes_the_recording(
    open_page: Callable[..., Page], customer_site: PageServer, replay_server: CwmnServer
) -> None:
    host = open_page(customer_site.url("replay.html", hostname="localhost"))
    replay_id = start_replay_id(host)
    host.wait_for_timeout(1000)
    assert settle(host, "CwmnAPI.session.endSession()")["ok"]
    folder = replay_server.data_dir / "replays" / replay_id
    assert (folder / "stream.jsonl").exists()
    assert settle(host, "CwmnAPI.replay.abandonVideo()")["ok"]
    wait_state(host, "no session")
    assert events(host)[-2:] == ["reinit", "ready no session"]
    wait_for(lambda: not folder.exists())


@pytest.mark.only_browser("chromium")  # the page side is the same code in Firefox
def test_a_closed_tab_loses_at_most_a_second(
    open_page: Callable[..., Page], customer_site: PageServer, replay_server: CwmnServer
) -> None:
    """Frames and narration are uploaded as they happen: what the server holds when the tab
    closes reaches within about a second of the close."""
    host = open_page(customer_site.url("replay.html", hostname="localhost"))
    replay_id = start_replay_id(host)
    host.wait_for_function("CwmnAPI.session.getSessionInfo().audio === 'recording'", timeout=20_000)
    for i in range(12):
        host.mouse.move(50 + 30 * i, 80 + 20 * i)
        host.wait_for_timeout(250)
    paint(host, GREEN, "green")
    host.wait_for_timeout(300)
    closed_at = float(host.evaluate("Date.now()"))
    host.close()
    folder = replay_server.data_dir / "replays" / replay_id
    lines = [json.loads(line) for line in (folder / "stream.jsonl").read_text().splitlines()]
    assert lines[-1]["t"] >= closed_at - 1000
    assert any("green" in json.dumps(line["data"]) for line in lines)
    (segment,) = [json.loads(line) for line in (folder / "audio.jsonl").read_text().splitlines()]
    recorded = (folder / segment["file"]).stat().st_size
    assert recorded >= 2 * 1500  # ≥ 2 s of Opus at 32 kbit/s, roughly (3 s spoken)


CORRUPT_RECORDER = """() => {
  // A broken encoder: what it hands over starts as WebM does (the server keeps it), then
  // is not audio.
  class Broken extends EventTarget {
    constructor(stream, options) { super(); this.stream = stream; this.state = 'inactive';
      this.mimeType = 'audio/webm;codecs=opus'; }
    static isTypeSupported() { return true; }
    start() {
      this.state = 'recording';
      let head = [new Uint8Array([0x1a, 0x45, 0xdf, 0xa3])];
      const junk = () => {
        this.ondataavailable({ data: new Blob([...head, 'not audio at all']) });
        head = [];
      };
      this.timer = setInterval(junk, 300);
    }
    stop() {
      clearInterval(this.timer);
      this.state = 'inactive';
      this.ondataavailable({ data: new Blob(['still not audio']) });
      setTimeout(() => this.onstop(), 0);
    }
  }
  window.MediaRecorder = Broken;
}"""


def test_a_corrupt_recording_ends_in_replay_error(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    replay_server: CwmnServer,
) -> None:
    host = open_page(customer_site.url("replay.html", hostname="localhost"))
    host.evaluate(CORRUPT_RECORDER)
    start_replay(host)
    host.wait_for_function("CwmnAPI.session.getSessionInfo().audio === 'recording'", timeout=20_000)
    host.wait_for_timeout(1500)
    assert settle(host, "CwmnAPI.session.endSession()")["ok"]
    wait_state(host, "replay error", timeout=120_000)
    assert "replay error" in events(host)
    wrong = settle(host, "CwmnAPI.replay.getVideoURL()")
    assert (wrong["ok"], wrong["code"]) == (False, "invalid_state")
    assert settle(host, "CwmnAPI.replay.dismissError()")["ok"]
    wait_state(host, "no session")
    assert events(host)[-2:] == ["reinit", "ready no session"]


def test_the_replay_follows_the_host_to_another_page(
    open_page: Callable[..., Page],
    customer_site: PageServer,
    replay_server: CwmnServer,
    tmp_path: Path,
) -> None:
    """The visitor moves on to another page of the site while recording: the recording (and
    the narration, in a new segment) goes on, and the video shows both pages."""
    url = customer_site.url("replay.html", hostname="localhost")
    host = open_page(url)
    info = _start(host)
    started_at = float(info["startedAt"]) * 1000
    host.wait_for_function("CwmnAPI.session.getSessionInfo().audio === 'recording'", timeout=20_000)
    host.wait_for_timeout(1500)
    host.goto(url + "?page=2")
    wait_state(host, "in session")
    assert events(host)[-1] == "in session"
    host.wait_for_function("CwmnAPI.session.getSessionInfo().audio === 'recording'", timeout=20_000)
    blue_at = paint(host, BLUE, "blue")
    host.wait_for_timeout(1500)
    assert settle(host, "CwmnAPI.session.endSession()")["ok"]
    wait_state(host, "replay complete", timeout=120_000)
    video = tmp_path / "two-pages.mp4"
    download(settle(host, "CwmnAPI.replay.getVideoURL()")["value"], video)
    at = (blue_at - started_at) / 1000
    assert close_to(pixel_at(video, 1.0, 0.5, 0.7), RED)
    assert close_to(pixel_at(video, at + 0.6, 0.5, 0.7), BLUE)
    folder = replay_server.data_dir / "replays" / info["sessionId"]
    segments = (folder / "audio.jsonl").read_text().splitlines()
    assert len(segments) == 2  # one narration segment per page
    assert settle(host, "CwmnAPI.replay.abandonVideo()")["ok"]


@pytest.mark.only_browser("chromium")  # the page side is the same code in Firefox
def test_the_maximum_length_warns_then_stops_the_recording(
    open_page: Callable[..., Page], tmp_path: Path
) -> None:
    """A site whose replays may last 10 s: the warning at half that (under two minutes), then
    the recording stops by itself and goes on as after endSession."""
    server = CwmnServer(tmp_path / "short").start()
    try:
        server.cli("site", "settings", "default", "--replay-max-seconds", "10")
        with PageServer(PAGES, lambda: server.url).running() as site:
            host = open_page(site.url("replay.html", hostname="localhost"))
            start_replay(host)
            t0 = time.monotonic()
            host.wait_for_function(
                "__cwmnLog.events.some(e => e.name === 'replay timeout warning')", timeout=20_000
            )
            warned = time.monotonic() - t0
            wait_state(host, "waiting for replay", timeout=30_000)
            stopped = time.monotonic() - t0
            log = host.evaluate("__cwmnLog.events")
    finally:
        server.stop()
    names = [e["name"] for e in log]
    warning = next(e for e in log if e["name"] == "replay timeout warning")
    assert (warning["args"], warning["state"]) == ([5], "in session")
    i = names.index("replay timeout")
    assert names[i : i + 3] == ["replay timeout", "end session", "waiting for replay"]
    assert 4 <= warned <= 7.5 and 9 <= stopped <= 14, (warned, stopped)
