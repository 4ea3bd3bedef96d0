"""The replay renderer (cwmn_web/render): synthetic recordings → MP4, checked with ffprobe and
pixels/samples decoded by ffmpeg. Uses the real Chromium and ffmpeg (a few short renders)."""

from __future__ import annotations

import array
import asyncio
import contextlib
import http.server
import json
import math
import os
import shutil
import ssl
import subprocess
import threading
import time
import tracemalloc
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cwmn_web import system_browsers
from cwmn_web.local_http import BackgroundHTTPServer
from cwmn_web.render import (
    Progress,
    RenderCancelled,
    RenderError,
    RenderTimeout,
    find_ffmpeg,
    network,
    read_recording,
    render_replay,
    renderer,
)
from cwmn_web.render import timeline as timeline_module
from cwmn_web.render.ffmpeg import check_segment
from cwmn_web.render.network import PRIVATE_NETWORK_ENV, RequestGuard, is_public_address
from cwmn_web.render.pageserver import RENDER_CSP, RenderPageServer
from cwmn_web.render.synthetic import BLOCK_BOX, TEXT, RecordingWriter, block_change, block_page
from cwmn_web.testing.media import encode_opus, mean_rgb, probe
from cwmn_web.testing.servers import CwmnServer

T = 1_700_000_000_000.0  # started_at of every recording here (ms epoch)
RED, BLUE, GREEN = "#ff0000", "#0000ff", "#00ff00"
POINTER = (700, 500)  # where the host's pointer rests (on white)
HAVE_TOOLS = bool(shutil.which("ffmpeg") and shutil.which("ffprobe") and shutil.which("chromium"))
needs_tools = pytest.mark.skipif(not HAVE_TOOLS, reason="needs chromium, ffmpeg and ffprobe")


# -- helpers ---------------------------------------------------------------------------------
def tone(path: Path, seconds: float, beep_at: float) -> bytes:
    """A webm/opus segment: silence, then a 880 Hz tone from ``beep_at`` seconds."""
    expr = f"if(gte(t,{beep_at}),0.5*sin(2*PI*880*t),0)"
    return encode_opus(path, f"aevalsrc='{expr}':s=48000:d={seconds}")


def streams(mp4: Path) -> list[dict[str, Any]]:
    info = probe(mp4)
    return [{**s, "format_duration": info.duration} for s in info.streams]


def rgb(mp4: Path, at: float, x: int, y: int, size: int = 8, fps: int = 10) -> tuple[int, int, int]:
    """The mean colour of a ``size``² square at (x, y) in the frame on screen at ``at`` s."""
    seek = max(0.0, math.floor(at * fps + 1e-6) / fps - 0.02)  # ffmpeg: first frame ≥ seek
    return mean_rgb(mp4, seek, x, y, size)


def block_rgb(mp4: Path, at: float) -> tuple[int, int, int]:
    x, y, w, h = BLOCK_BOX
    return rgb(mp4, at, x + w // 2, y + h // 2)


def is_colour(value: tuple[int, int, int], channel: int) -> bool:
    return value[channel] > 180 and all(v < 80 for i, v in enumerate(value) if i != channel)


def pcm(mp4: Path) -> array.array[int]:
    """The MP4's audio as mono 48 kHz signed 16-bit samples."""
    command = [find_ffmpeg(), "-v", "error", "-i", str(mp4), "-map", "0:a", "-ac", "1"]
    raw = subprocess.run(
        [*command, "-ar", "48000", "-f", "s16le", "-"], capture_output=True, check=True
    ).stdout
    return array.array("h", raw)


def page_recording(directory: Path, seconds: float) -> RecordingWriter:
    """Red block from 0.1 s, blue from 2.0 s; the pointer moves at 30/s, then rests at
    POINTER from 0.6 s."""
    writer = RecordingWriter(directory)
    frames = [
        (T + 100, "snapshot", block_page(RED, "first")),
        (T + 2000, "mutations", block_change(BLUE, "second")),
    ]
    frames += [(T + ms, "pointer", {"x": 100 + ms, "y": 600}) for ms in range(120, 600, 33)]
    frames += [(T + 600, "pointer", {"x": POINTER[0], "y": POINTER[1]})]
    writer.frames(frames)
    return writer


# -- renders ---------------------------------------------------------------------------------
@needs_tools
def test_a_narrated_recording_renders_in_sync(tmp_path: Path) -> None:
    recording = tmp_path / "rec"
    writer = page_recording(recording, 4.0)
    writer.privacy(T + 3000, True)  # host privacy on: the paused overlay covers the page
    # Narration from 1.0 s, its beep 1.5 s into the segment: 2.5 s into the video.
    writer.audio("seg-1", T + 1000, tone(tmp_path / "tone.webm", 2.5, 1.5))
    out = tmp_path / "video.mp4"
    reports: list[Progress] = []

    render_replay(recording, T, T + 4000, out, progress=reports.append)

    found = streams(out)
    assert sorted(s["codec_type"] for s in found) == ["audio", "video"]
    video = next(s for s in found if s["codec_type"] == "video")
    audio = next(s for s in found if s["codec_type"] == "audio")
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", 1280, 720)
    assert video["pix_fmt"] == "yuv420p"
    assert audio["codec_name"] == "aac"
    assert abs(found[0]["format_duration"] - 4.0) <= 0.2
    assert abs(float(video["duration"]) - 4.0) <= 0.2
    # The page at its time: red, then blue after 2.0 s, then the privacy overlay after 3.0 s.
    assert is_colour(block_rgb(out, 1.05), 0), block_rgb(out, 1.05)
    assert is_colour(block_rgb(out, 1.95), 0), block_rgb(out, 1.95)
    assert is_colour(block_rgb(out, 2.05), 2), block_rgb(out, 2.05)
    assert is_colour(block_rgb(out, 2.95), 2), block_rgb(out, 2.95)
    assert max(block_rgb(out, 3.5)) < 70, block_rgb(out, 3.5)  # dark overlay over blue
    # The host's pointer (the viewer's red arrow) where it rests; white elsewhere.
    arrow = rgb(out, 1.5, POINTER[0] + 2, POINTER[1] + 8, size=2)
    assert arrow[0] > 150 and arrow[1] < 130, arrow
    assert min(rgb(out, 1.5, POINTER[0] + 60, POINTER[1] + 8, size=2)) > 230
    # The beep starts where the timeline puts it (±100 ms), silence before it.
    samples = pcm(out)
    onset = next(i for i, v in enumerate(samples) if abs(v) > 3000) / 48000
    assert abs(onset - 2.5) <= 0.1, onset
    # Progress: replaying 0..90, encoding 90..100, then done; the tmp file is gone.
    stages = [r.stage for r in reports]
    assert stages[0] == "replaying" and stages[-1] == "done" and "encoding" in stages
    assert [r.percent for r in reports] == sorted(r.percent for r in reports)
    assert reports[-1].percent == 100
    assert all(r.percent <= 90 for r in reports if r.stage == "replaying")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec", "tone.webm", "video.mp4"]


class ImageServer:
    """What :func:`slow_image_server` was asked for (paths, in order)."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.requests: list[str] = []


@contextlib.contextmanager
def slow_image_server(directory: Path, delay: float = 0.3) -> Iterator[ImageServer]:
    """Serves ``directory`` on 127.0.0.1 (like a customer's site in tests), ``delay`` s late;
    ``/to/PATH?URL`` answers 302 to URL (PATH is only a name)."""
    box: list[ImageServer] = []

    class Slow(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(directory), **kwargs)

        def do_GET(self) -> None:
            box[0].requests.append(self.path)
            time.sleep(delay)
            if self.path.startswith("/to/"):
                self.send_response(302)
                self.send_header("Location", self.path.split("?", 1)[1])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            super().do_GET()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with BackgroundHTTPServer(Slow) as server:
        box.append(ImageServer(server.origin))
        yield box[0]


def picture(directory: Path, name: str = "pic.png", colour: str = "magenta") -> None:
    command = [find_ffmpeg(), "-v", "error", "-f", "lavfi", "-i", f"color=c={colour}:s=64x64"]
    subprocess.run([*command, "-frames:v", "1", str(directory / name)], check=True)


def with_images(snapshot: dict[str, Any], *sources: str) -> dict[str, Any]:
    """``snapshot`` with 100x100 images of ``sources`` at (400 + 150 i, 200) on the page."""
    for i, src in enumerate(sources):
        style = f"position:absolute;left:{400 + 150 * i}px;top:200px;width:100px;height:100px"
        snapshot["nodes"].append([30 + i, 5, 1, "img", ["src", src, "style", style]])
    return snapshot


def is_magenta(value: tuple[int, int, int]) -> bool:
    return value[0] > 200 and value[2] > 200 and value[1] < 60


@needs_tools
def test_a_silent_recording_still_has_one_aac_track(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PRIVATE_NETWORK_ENV, "allow")  # the customer's site is on 127.0.0.1
    site = tmp_path / "site"
    site.mkdir()
    picture(site)
    recording = tmp_path / "rec"
    out = tmp_path / "out" / "video.mp4"
    with slow_image_server(site) as images:
        snapshot = with_images(block_page(GREEN), f"{images.origin}/pic.png")
        RecordingWriter(recording).frames(
            [(T - 50, "snapshot", snapshot), (T + 1500, "mutations", block_change(RED))]
        )

        render_replay(recording, T, T + 3000, out, fps=5, size=(641, 361))

    found = streams(out)
    assert [s["codec_name"] for s in found] == ["h264", "aac"]
    assert (found[0]["width"], found[0]["height"]) == (640, 360)  # even, as H.264 needs
    assert abs(found[0]["format_duration"] - 3.0) <= 0.15
    assert max(abs(v) for v in pcm(out)) < 50  # silence
    # A snapshot taken just before started_at is the first frame.
    assert is_colour(rgb(out, 0.0, 100, 100, fps=5), 1), rgb(out, 0.0, 100, 100, fps=5)
    assert is_colour(rgb(out, 1.45, 100, 100, fps=5), 1), rgb(out, 1.45, 100, 100, fps=5)
    assert is_colour(rgb(out, 1.6, 100, 100, fps=5), 0), rgb(out, 1.6, 100, 100, fps=5)
    # The page's image, from another server on 127.0.0.1 (allowed here), is there from the
    # first frame. (The 1280x720 page is shown at half size: its (450, 250) is the video's
    # (225, 125).)
    assert is_magenta(rgb(out, 0.0, 224, 124, fps=5)), rgb(out, 0.0, 224, 124, fps=5)
    assert images.requests == ["/pic.png"]


# -- what the render page may load -----------------------------------------------------------
@needs_tools
def test_the_render_page_does_not_fetch_from_private_addresses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PRIVATE_NETWORK_ENV, raising=False)
    site = tmp_path / "site"
    site.mkdir()
    picture(site)
    recording = tmp_path / "rec"
    out = tmp_path / "video.mp4"
    with slow_image_server(site, delay=0) as images:
        localhost = images.origin.replace("127.0.0.1", "localhost")
        snapshot = with_images(block_page(GREEN), f"{images.origin}/pic.png", localhost + "/x.png")
        RecordingWriter(recording).frames([(T - 50, "snapshot", snapshot)])

        render_replay(recording, T, T + 1000, out, fps=5)

    assert images.requests == []  # neither 127.0.0.1 nor localhost was asked
    # Both images missing: the block's green and the page's white show through.
    assert is_colour(rgb(out, 0.0, 450, 250, fps=5), 1), rgb(out, 0.0, 450, 250, fps=5)
    assert min(rgb(out, 0.0, 600, 250, fps=5)) > 230, rgb(out, 0.0, 600, 250, fps=5)


def internet(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """The worker's connections to the public address 93.184.215.14 reach this machine
    instead (the tests' "internet"); returns every address connected to."""
    real, seen = network.open_connection, []

    def connect(address: str, port: int, timeout: float) -> Any:
        seen.append((address, port))
        return real("127.0.0.1" if address == "93.184.215.14" else address, port, timeout)

    monkeypatch.setattr(network, "open_connection", connect)
    return seen


@needs_tools
def test_a_redirect_to_a_private_address_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``localhost`` passes for a public host here; its redirects are followed only to
    public addresses."""
    monkeypatch.delenv(PRIVATE_NETWORK_ENV, raising=False)
    real = network.resolve

    async def resolve(host: str) -> list[str]:
        return ["93.184.215.14"] if host == "localhost" else await real(host)

    monkeypatch.setattr(network, "resolve", resolve)
    internet(monkeypatch)
    site = tmp_path / "site"
    site.mkdir()
    picture(site)
    picture(site, "secret.png", "yellow")
    recording = tmp_path / "rec"
    out = tmp_path / "video.mp4"
    with slow_image_server(site, delay=0) as images:
        public = images.origin.replace("127.0.0.1", "localhost")
        sources = (
            f"{public}/to/public?/pic.png",
            f"{public}/to/private?{images.origin}/secret.png",
        )
        RecordingWriter(recording).frames(
            [(T - 50, "snapshot", with_images(block_page(GREEN), *sources))]
        )

        render_replay(recording, T, T + 1000, out, fps=5)

    assert sorted(images.requests) == sorted(
        ["/to/public?/pic.png", "/pic.png", sources[1][len(public) :]]
    )
    assert is_magenta(rgb(out, 0.0, 450, 250, fps=5)), rgb(out, 0.0, 450, 250, fps=5)
    assert min(rgb(out, 0.0, 600, 250, fps=5)) > 230, rgb(out, 0.0, 600, 250, fps=5)  # white


def test_only_public_addresses_and_web_schemes_are_allowed() -> None:
    for address in ("93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"):
        assert is_public_address(address), address
    private = (
        "127.0.0.1", "127.1.2.3", "::1", "10.0.0.8", "172.16.5.4", "192.168.1.1",
        "169.254.169.254", "100.64.0.1", "0.0.0.0", "::", "224.0.0.251", "ff02::1",
        "fe80::1%eth0", "fc00::1", "240.0.0.1", "255.255.255.255", "::ffff:127.0.0.1",
        "::ffff:169.254.169.254", "::ffff:10.1.2.3", "not an address",
    )  # fmt: skip
    for address in private:
        assert not is_public_address(address), address

    lookups: list[str] = []

    async def resolver(host: str) -> list[str]:
        lookups.append(host)
        return {"public.test": ["93.184.215.14"], "mixed.test": ["93.184.215.14", "10.0.0.1"]}[host]

    async def check() -> None:
        guard = RequestGuard("http://127.0.0.1:9", allow_private=False, resolver=resolver)
        assert await guard.refusal("https://public.test/a.png") is None
        assert await guard.refusal("http://public.test:8080/b.css") is None
        assert "10.0.0.1" in str(await guard.refusal("https://mixed.test/c.woff2"))
        for url in (
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:127.0.0.1]:8000/",
            "http://[::1]/",
            "http://0.0.0.0:22/",
        ):
            assert "non-public" in str(await guard.refusal(url)), url
        for url in (
            "ftp://public.test/x",
            "file:///etc/passwd",
            "gopher://public.test/",
            "ws://public.test/",
            "chrome://settings",
        ):
            assert "scheme is not allowed" in str(await guard.refusal(url)), url
        for url in (  # hosts Python and the browser would read differently
            "http://127.0.0.1\\@1.1.1.1/",
            "http://1.1.1.1%2Eevil.example/",
            "http://user@public.test/",
            "http://public.test%00.evil/",
            "http://pub lic.test/",
        ):
            assert "unusual host" in str(await guard.refusal(url)), url
        assert not is_public_address("1.1.1.1%2e")
        assert await guard.refusal("data:image/png;base64,AAAA") is None
        assert await guard.refusal("blob:http://127.0.0.1:9/abc") is None
        assert lookups == ["public.test", "mixed.test"]  # once per host
        # With the block off, private addresses pass; other schemes still do not.
        relaxed = RequestGuard("http://127.0.0.1:9", allow_private=True, resolver=resolver)
        assert await relaxed.refusal("http://127.0.0.1:8000/pic.png") is None
        assert await relaxed.refusal("file:///etc/passwd") is not None

    asyncio.run(check())


class FakeRoute:
    """A Playwright route as the guard sees it: what it did is recorded. ``fetch`` does what
    Playwright's does, resolving the name again (here with ``resolver``) and connecting."""

    def __init__(self, url: str, resolver: Any = None) -> None:
        self.request = type("Request", (), {"url": url, "method": "GET", "headers": {}})()
        self.resolver, self.done = resolver, ""
        self.body = b""

    async def continue_(self) -> None:
        self.done = "continued"

    async def abort(self, reason: str = "failed") -> None:
        self.done = f"aborted {reason}"

    async def fulfill(self, response: Any = None, **kw: Any) -> None:
        self.done, self.body = "fulfilled", kw.get("body", getattr(response, "body", b""))

    async def fetch(self, url: str, **kw: Any) -> Any:
        parts = urllib.parse.urlsplit(url)
        (address,) = await self.resolver(parts.hostname)
        direct = url.replace(parts.netloc, f"{address}:{parts.port}")
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(direct, timeout=5).read())
        return type("Response", (), {"status": 200, "headers": {}, "body": body})()


def test_the_guard_fetches_from_the_address_it_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: ``rebind.test`` resolves to a public address when checked, then to
    the worker's own 127.0.0.1, where an internal service listens. The worker connects to
    the address it checked (unreachable here), never to the internal service."""
    monkeypatch.delenv(PRIVATE_NETWORK_ENV, raising=False)
    monkeypatch.delenv("CWMN_RENDER_ALLOW_ORIGINS", raising=False)
    answers = [["93.184.215.14"]]

    async def rebinding(host: str) -> list[str]:
        return answers.pop() if answers else ["127.0.0.1"]

    connected: list[tuple[str, int]] = []

    def unreachable(address: str, port: int, timeout: float) -> Any:
        connected.append((address, port))
        raise ConnectionRefusedError(f"{address} is not reachable from the tests")

    monkeypatch.setattr(network, "open_connection", unreachable, raising=False)
    (tmp_path / "secret.txt").write_text("internal")
    with slow_image_server(tmp_path, delay=0) as internal:
        port = int(internal.origin.rsplit(":", 1)[1])
        route = FakeRoute(f"http://rebind.test:{port}/secret.txt", rebinding)
        guard = RequestGuard("http://127.0.0.1:9", resolver=rebinding)
        asyncio.run(guard(route))
    assert internal.requests == [] and route.body == b""
    assert route.done.startswith("aborted")
    assert connected == [("93.184.215.14", port)]


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl")
def test_the_pinned_fetch_checks_tls_for_the_host_name(tmp_path: Path) -> None:
    """Connected to the checked address, the fetch still speaks TLS to the URL's host: its
    name is the SNI and the certificate must be for it."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=shop.test",
         "-addext", "subjectAltName=DNS:shop.test"],
        check=True, capture_output=True,
    )  # fmt: skip
    names: list[str | None] = []
    served = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    served.load_cert_chain(cert, key)
    served.sni_callback = lambda _sock, name, _ctx: names.append(name)

    class Hello(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    server.socket = served.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        trusting = ssl.create_default_context(cafile=str(cert))
        url = f"https://shop.test:{port}/x"
        fetched = network.fetch_pinned(url, ["127.0.0.1"], {}, tls=trusting)
        assert (fetched.status, fetched.body, names) == (200, b"hello", ["shop.test"])
        with pytest.raises(ssl.SSLCertVerificationError):  # not the certificate's name
            network.fetch_pinned(f"https://evil.test:{port}/x", ["127.0.0.1"], {}, tls=trusting)
        with pytest.raises(ssl.SSLCertVerificationError):  # nor an authority trusted here
            network.fetch_pinned(url, ["127.0.0.1"], {})
    finally:
        server.shutdown()
        server.server_close()


def test_numbers_and_tunnels_to_private_addresses_are_refused() -> None:
    """Hosts a browser reads as 127.0.0.1 or 169.254.169.254, and IPv6 addresses that carry
    a private IPv4 address (6to4, Teredo, NAT64, compatible)."""
    tunnels = (
        "2002:7f00:1::", "2002:a9fe:a9fe::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        "64:ff9b::a9fe:a9fe", "64:ff9b:1::7f00:1", "::7f00:1", "::ffff:0:7f00:1",
    )  # fmt: skip
    for address in tunnels:
        assert not is_public_address(address), address
    assert is_public_address("2002:5db8:d70e::1")  # 6to4 to a public address: a public one

    async def no_dns(host: str) -> list[str]:
        raise OSError(f"the tests have no DNS ({host})")

    async def check() -> None:
        guard = RequestGuard("http://127.0.0.1:9", allow_private=False, resolver=no_dns)
        for url in (
            "http://2130706433/", "http://0x7f.1/", "http://0177.0.0.1/", "http://0x7f000001/",
            "http://127.1/", "http://2852039166/latest/meta-data/",
            *(f"http://[{a}]/" for a in tunnels),
        ):  # fmt: skip
            assert "non-public" in str(await guard.refusal(url)), url

    asyncio.run(check())


def test_only_the_named_private_origins_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``make run`` keeps the guard on, naming the server's own origin: that origin loads
    (from the address checked), any other private one, even on the same host, does not."""
    monkeypatch.delenv(PRIVATE_NETWORK_ENV, raising=False)
    (tmp_path / "page.css").write_text("body{}")
    with slow_image_server(tmp_path, delay=0) as own, slow_image_server(tmp_path, delay=0) as other:
        monkeypatch.setenv("CWMN_RENDER_ALLOW_ORIGINS", f"{own.origin}, http://localhost:1")
        guard = RequestGuard("http://127.0.0.1:9")
        mine, theirs = FakeRoute(own.origin + "/page.css"), FakeRoute(other.origin + "/page.css")
        asyncio.run(guard(mine))
        asyncio.run(guard(theirs))
    assert (mine.done, mine.body) == ("fulfilled", b"body{}") and own.requests == ["/page.css"]
    assert theirs.done.startswith("aborted") and other.requests == []
    run = subprocess.run(
        ["make", "-n", "run", "PORT=8123"], capture_output=True, text=True, check=True,
        cwd=Path(__file__).parents[2],
    )  # fmt: skip
    (worker,) = [line for line in run.stdout.splitlines() if "render-worker" in line]
    assert "PRIVATE_NETWORK" not in worker and "http://127.0.0.1:8123" in worker


def test_the_env_var_turns_the_block_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PRIVATE_NETWORK_ENV, raising=False)
    assert not RequestGuard("http://127.0.0.1:9").allow_private
    monkeypatch.setenv(PRIVATE_NETWORK_ENV, "allow")
    assert RequestGuard("http://127.0.0.1:9").allow_private
    monkeypatch.setenv(PRIVATE_NETWORK_ENV, "block")
    assert not RequestGuard("http://127.0.0.1:9").allow_private


def test_test_servers_let_their_render_worker_load_local_pages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PRIVATE_NETWORK_ENV, raising=False)
    assert CwmnServer(tmp_path)._env()[PRIVATE_NETWORK_ENV] == "allow"
    explicit = CwmnServer(tmp_path, env={PRIVATE_NETWORK_ENV: "block"})._env()
    assert explicit[PRIVATE_NETWORK_ENV] == "block"  # the caller's env wins
    monkeypatch.setenv(PRIVATE_NETWORK_ENV, "block")
    assert CwmnServer(tmp_path)._env()[PRIVATE_NETWORK_ENV] == "block"  # and the environment


def test_the_render_page_runs_only_its_own_scripts() -> None:
    with RenderPageServer() as server, urllib.request.urlopen(server.url, timeout=10) as response:
        csp = response.headers["Content-Security-Policy"]
    assert csp == RENDER_CSP
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'none'"
    assert directives["connect-src"] == "'none'" and directives["object-src"] == "'none'"


def test_chromium_keeps_its_sandbox_unless_root(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "--no-sandbox" in system_browsers.CHROMIUM_ARGS  # the tests' list is unchanged
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    args = renderer.chromium_args()
    assert "--no-sandbox" not in args and "--mute-audio" in args and "--disable-gpu" in args
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert "--no-sandbox" in renderer.chromium_args()


@needs_tools
def test_should_stop_cancels_the_render_and_writes_nothing(tmp_path: Path) -> None:
    recording = tmp_path / "rec"
    page_recording(recording, 10.0)
    out = tmp_path / "video.mp4"
    calls: list[int] = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) > 5

    with pytest.raises(RenderCancelled):
        render_replay(recording, T, T + 10_000, out, should_stop=should_stop)
    assert len(calls) == 6  # checked between frames, stopped at once
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec"]


def family() -> dict[int, str]:
    """This process's descendants the render started (not the session's PostgreSQL or Redis,
    which other tests started first)."""
    return _descendants(skip=_BEFORE)


_BEFORE: set[int] = set()


@pytest.fixture(autouse=True)
def _known_children() -> None:
    """What already runs under this process when a test starts (session services)."""
    _BEFORE.clear()
    _BEFORE.update(_descendants())


def _descendants(skip: set[int] | frozenset[int] = frozenset()) -> dict[int, str]:
    """This process's descendants: pid → command name (none of ``skip``'s families)."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
            if rest.split()[0] != "Z":
                parents[int(entry.name)], names[int(entry.name)] = int(rest.split()[1]), name
    found, todo = {}, [os.getpid()]
    while todo:
        parent = todo.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found and pid not in skip:
                found[pid] = names[pid]
                todo.append(pid)
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@needs_tools
@pytest.mark.timeout(120)
def test_a_render_past_its_deadline_stops_everything(tmp_path: Path) -> None:
    recording = tmp_path / "rec"
    page_recording(recording, 10.0)
    out = tmp_path / "video.mp4"
    seen: dict[int, str] = {}

    def slow() -> bool:  # as a hung page would: each frame takes long
        seen.update(family())
        time.sleep(0.4)
        return False

    start = time.monotonic()
    with pytest.raises(RenderTimeout, match="deadline"):
        # A deadline long enough for Chromium and ffmpeg to start on a loaded machine.
        render_replay(recording, T, T + 10_000, out, should_stop=slow, timeout=8)
    # Stopped at the deadline (mid-replay, not after the last frame), then cleaned up.
    assert time.monotonic() - start < 8 + 20
    assert not isinstance(RenderTimeout("x"), RenderError)  # the worker retries it
    assert {"ffmpeg"} <= set(seen.values()) and any("chrom" in n for n in seen.values()), seen
    assert [f"{pid} {name}" for pid, name in seen.items() if alive(pid)] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec"]  # no partial file


@needs_tools
@pytest.mark.timeout(120)
def test_a_hung_page_step_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recording = tmp_path / "rec"
    page_recording(recording, 3.0)
    out = tmp_path / "video.mp4"
    seen: dict[int, str] = {}

    async def hung(cdp: Any) -> bytes:  # a screenshot that does not come
        seen.update(family())
        await asyncio.sleep(20)
        raise AssertionError("the screenshot's step was not timed out")

    monkeypatch.setattr(renderer, "_screenshot", hung)
    monkeypatch.setattr(renderer, "STEP_TIMEOUT", 1.0)
    with pytest.raises(RenderTimeout, match="screenshot of frame 0 took longer than 1 s"):
        render_replay(recording, T, T + 3000, out)
    assert seen and [f"{pid} {name}" for pid, name in seen.items() if alive(pid)] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec"]


# -- refusals (before any browser starts) ----------------------------------------------------
def test_a_corrupt_stream_line_is_a_render_error(tmp_path: Path) -> None:
    recording = tmp_path / "rec"
    page_recording(recording, 3.0)
    stream = recording / "stream.jsonl"
    lines = stream.read_text().splitlines()
    lines.insert(2, '{"t": 1, "kind": "mutations", "data": {')
    stream.write_text("\n".join(lines) + "\n")
    with pytest.raises(RenderError, match=r"stream\.jsonl line 3: not JSON"):
        render_replay(recording, T, T + 3000, tmp_path / "video.mp4")
    assert not (tmp_path / "video.mp4").exists()


def test_a_recording_without_snapshot_is_a_render_error(tmp_path: Path) -> None:
    recording = tmp_path / "rec"
    RecordingWriter(recording).frames([(T + 10, "pointer", {"x": 1, "y": 2})])
    with pytest.raises(RenderError, match="no snapshot"):
        render_replay(recording, T, T + 3000, tmp_path / "video.mp4")
    with pytest.raises(RenderError, match="does not exist"):
        render_replay(tmp_path / "missing", T, T + 3000, tmp_path / "video.mp4")


@needs_tools
def test_an_undecodable_audio_segment_is_a_render_error(tmp_path: Path) -> None:
    recording = tmp_path / "rec"
    writer = page_recording(recording, 3.0)
    writer.audio("seg-1", T + 500, b"\x1aE\xdf\xa3 this is not a webm file" * 50)
    with pytest.raises(RenderError, match=r"audio segment seg-1\.webm cannot be decoded: .+"):
        render_replay(recording, T, T + 3000, tmp_path / "video.mp4")
    assert not (tmp_path / "video.mp4").exists()


@needs_tools
def test_a_playlist_posing_as_narration_never_reaches_the_video(tmp_path: Path) -> None:
    """An attacker's "narration" is an HLS playlist naming a file of the worker's (here an
    unrelated local .ogg): sniffed, ffmpeg would play that file into the video."""
    secret = tmp_path / "secret.ogg"
    command = [find_ffmpeg(), "-nostdin", "-v", "error", "-f", "lavfi"]
    command += ["-i", "sine=frequency=440:duration=1", "-c:a", "libopus", str(secret)]
    subprocess.run(command, check=True)
    recording = tmp_path / "rec"
    writer = RecordingWriter(recording)
    writer.frames([(T + 100, "snapshot", block_page(RED))])
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n{secret}\n#EXT-X-ENDLIST\n"
    writer.audio("seg-1", T, playlist.encode())
    with pytest.raises(RenderError, match=r"audio segment seg-1\.webm is not a webm file"):
        render_replay(recording, T, T + 1000, tmp_path / "video.mp4", fps=5)
    assert not (tmp_path / "video.mp4").exists()
    # Even with the right first bytes, ffmpeg reads it as the container it claims (forced).
    writer.audio("seg-2", T, b"\x1a\x45\xdf\xa3\n" + playlist.encode())
    (segment,) = [s for s in read_recording(recording).segments if s.path.stem == "seg-2"]
    with pytest.raises(RenderError, match=r"seg-2\.webm cannot be decoded: .*EBML"):
        check_segment(find_ffmpeg(), segment)


def test_a_missing_ffmpeg_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CWMN_FFMPEG", str(tmp_path / "no-ffmpeg"))
    with pytest.raises(RenderError, match="ffmpeg not found"):
        find_ffmpeg()


# -- reading a recording ---------------------------------------------------------------------
def test_the_timeline_is_sanitized_and_follows_pages(tmp_path: Path) -> None:
    recording = tmp_path / "rec"
    writer = RecordingWriter(recording)
    snapshot = block_page(RED)
    snapshot["nodes"].append([20, 5, 1, "script", []])
    snapshot["nodes"].append([21, 5, 1, "img", ["src", "javascript:alert(1)", "onerror", "x()"]])
    writer.frame(T + 1, "snapshot", snapshot)
    writer.frame(T + 2, "mutations", {"adds": [[22, 20, 3, "alert(2)"]]})  # under the script
    writer.privacy(T + 3, True)
    writer.frame(T + 4, "focus", {"id": "nope"})  # refused by the sanitizer: skipped
    writer.page += 1
    writer.frame(T + 5, "mutations", block_change(BLUE))  # new page, before its snapshot
    writer.frame(T + 6, "snapshot", block_page(GREEN))
    with (recording / "stream.jsonl").open("a") as f:
        f.write('{"t": 7, "page": 2, "kind": "poin')  # cut short by a crash: ignored

    timeline = read_recording(recording)

    events = list(timeline.events)
    kinds = [e.kind for e in events]
    assert kinds == ["snapshot", "mutations", "privacy", "snapshot"]
    assert timeline.skipped == 2
    first = events[0].data
    assert [n[0] for n in first["nodes"]] == [1, 2, 3, 4, 5, 6, 7, 8, 21]
    assert first["nodes"][-1][4] == []  # neither the javascript: src nor the handler
    assert events[1].data["adds"] == []
    assert events[2].op() == {"op": "status", "paused": True}
    assert events[3].op()["kind"] == "snapshot"
    assert timeline.segments == []


def test_audio_segments_must_stay_inside_the_recording(tmp_path: Path) -> None:
    recording = tmp_path / "rec"
    page_recording(recording, 3.0)
    (tmp_path / "evil.webm").write_bytes(b"x")
    line = {"segment": "s", "t0": T, "mime": "audio/webm", "file": "../evil.webm"}
    (recording / "audio.jsonl").write_text(json.dumps(line) + "\n")
    with pytest.raises(RenderError, match="outside the recording"):
        read_recording(recording)


def test_events_are_in_time_order_even_when_markers_are_not(tmp_path: Path) -> None:
    recording = tmp_path / "rec"
    writer = RecordingWriter(recording)
    writer.frame(T + 100, "snapshot", block_page(RED))
    writer.frame(T + 2000, "mutations", block_change(BLUE))
    writer.privacy(T + 1500, True)  # the server's marker, written after a later frame
    writer.frame(T + 2500, "pointer", {"x": 1, "y": 1})
    writer.privacy(T + 2500, False)  # same time as the pointer: file order kept
    writer.privacy(T + 50, False)  # even before the snapshot

    events = read_recording(recording).events

    assert [(e.t - T, e.kind) for e in events] == [
        (50, "privacy"),
        (100, "snapshot"),
        (1500, "privacy"),
        (2000, "mutations"),
        (2500, "pointer"),
        (2500, "privacy"),
    ]
    assert [e.op()["paused"] for e in events if e.kind == "privacy"] == [False, True, False]


def test_a_host_clock_stepping_back_keeps_the_page_in_order(tmp_path: Path) -> None:
    """Page frames are applied as the host sent them, even if its clock stepped back."""
    recording = tmp_path / "rec"
    writer = RecordingWriter(recording)
    writer.frame(T + 1000, "snapshot", block_page(RED))
    writer.frame(T + 400, "mutations", block_change(BLUE))  # the clock went back 600 ms
    writer.privacy(T + 700, True)

    events = read_recording(recording).events

    assert [(e.t - T, e.kind) for e in events] == [
        (700, "privacy"),
        (1000, "snapshot"),
        (1000, "mutations"),
    ]


def test_the_stream_is_read_line_by_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recording = tmp_path / "rec"
    page_recording(recording, 3.0)

    def whole(self: Path, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"{self.name} read whole")

    monkeypatch.setattr(Path, "read_bytes", whole)
    monkeypatch.setattr(Path, "read_text", whole)
    assert [e.kind for e in read_recording(recording).events][:2] == ["snapshot", "pointer"]


def test_a_large_recording_is_streamed_in_bounded_memory(tmp_path: Path) -> None:
    """A host's 20 MB of page changes (a hostile one sends hundreds): reading them for the
    render holds a few at a time, not the whole recording."""
    recording = tmp_path / "rec"
    RecordingWriter(recording).frame(T, "snapshot", block_page(RED))
    with (recording / "stream.jsonl").open("a") as stream:
        for i in range(5000):
            data = {"texts": [[TEXT, f"{i} " + "words " * 700]]}
            line = {"t": T + i, "page": 1, "kind": "mutations", "data": data}
            stream.write(json.dumps(line, separators=(",", ":")) + "\n")
    assert (recording / "stream.jsonl").stat().st_size > 20e6
    tracemalloc.start()
    try:
        timeline = read_recording(recording)
        seen = sum(1 for _ in timeline.events)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == 5001
    assert peak < 4e6, f"{peak / 1e6:.1f} MB held"
    # All due at one instant: applied to the page in batches, never all at once.
    batches = list(renderer._Due(timeline.events).batches(T + 10_000))
    assert sum(map(len, batches)) == 5001
    assert max(map(len, batches)) == renderer.MAX_BATCH


def test_a_stream_over_the_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording = tmp_path / "rec"
    page_recording(recording, 3.0)
    size = (recording / "stream.jsonl").stat().st_size
    monkeypatch.setattr(timeline_module, "MAX_FILE_BYTES", size)
    assert read_recording(recording).events  # at the limit: fine
    monkeypatch.setattr(timeline_module, "MAX_FILE_BYTES", size - 1)
    with pytest.raises(RenderError, match=r"too large: stream\.jsonl"):
        render_replay(recording, T, T + 3000, tmp_path / "video.mp4")
    assert not (tmp_path / "video.mp4").exists()
