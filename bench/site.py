"""A customer's site for the startup and impact benches: page templates in embed variants,
cacheable assets, a simulated network (per-request delay, per-response bandwidth) on the
site and on the cwmn server alike, and bytes counted on both.

Templates (``.html`` under :data:`PAGES`) may hold ``__CWMN_EMBED__`` (the script tag of the
variant named by the query's ``cwmn``: ``none``, ``default`` or ``eager``, i.e.
``data-start="eager"``), ``__CWMN_QUERY__`` (that choice again, for links), ``__P__`` /
``__NEXT__`` (the query's page number ``p`` and the next one), ``__CWMN_SERVER__`` and
``__CWMN_BUILD__``. Pages are ``no-store``; everything else is cacheable for an hour.
Generated files under ``gen/private/`` are a logged-in app's (as ``cwmn_web.testing``'s
PageServer serves ``private/``): only with the session cookie ``PRIVATE_COOKIE`` (else 403),
cached privately, no CORS.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import io
import mimetypes
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import Browser, sync_playwright

from cwmn_web.local_http import BackgroundHTTPServer
from cwmn_web.testing import launch_args
from cwmn_web.testing.servers import PRIVATE_COOKIE

from .harness import PAGES, ByteCounter, cwmn_server

VARIANTS = {
    "none": "",
    "default": '<script src="{server}/cwmn.js"></script>',
    "eager": '<script src="{server}/cwmn.js" data-start="eager"></script>',
}
ASSET_CACHE = "public, max-age=3600"
#: Fonts looked for (first found is served as the site's web font; Debian's fonts-liberation).
FONTS = (Path("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"),)


@dataclass(frozen=True)
class Network:
    """What every response meets: ``delay`` seconds before its headers, then at most
    ``rate`` bytes a second (0: unlimited). Per response, not a shared link."""

    delay: float = 0.0
    rate: float = 0.0

    def describe(self) -> str:
        if not self.delay and not self.rate:
            return "loopback, no added delay"
        rate = f"{self.rate * 8 / 1e6:.0f} Mbit/s per response" if self.rate else "no rate cap"
        return f"{self.delay * 1000:.0f} ms before each response, {rate}"

    def pause(self, size: int) -> float:
        return size / self.rate if self.rate else 0.0


class Throttled:
    """ASGI middleware giving the cwmn server's HTTP responses the same :class:`Network`."""

    def __init__(self, app: Any, network: Network) -> None:
        self.app, self.network = app, network

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def slow_send(message: Any) -> None:
            if message["type"] == "http.response.start" and self.network.delay:
                await asyncio.sleep(self.network.delay)
            elif message["type"] == "http.response.body":
                await asyncio.sleep(self.network.pause(len(message.get("body", b""))))
            await send(message)

        await self.app(scope, receive, slow_send)


def make_assets(folder: Path) -> None:
    """The shop's images (JPEGs of realistic sizes, the same bytes every run) and web font."""
    from PIL import Image, ImageDraw, ImageFilter

    def jpeg(name: str, w: int, h: int, seed: int) -> None:
        rnd = random.Random(seed)
        box = (-2.2 + seed * 0.01, -1.2, 1.0, 1.2)
        fractal = Image.effect_mandelbrot((w, h), box, 60 + seed).convert("L")
        img = Image.merge(
            "RGB",
            (
                fractal,
                Image.linear_gradient("L").resize((w, h)),
                Image.radial_gradient("L").resize((w, h)),
            ),
        )
        draw = ImageDraw.Draw(img)
        for _ in range(40):
            x, y, s = rnd.randrange(w), rnd.randrange(h), rnd.randrange(10, max(11, w // 6))
            draw.ellipse((x, y, x + s, y + s), fill=tuple(rnd.randrange(256) for _ in range(3)))
        grain = Image.frombytes("L", (w, h), rnd.randbytes(w * h)).filter(ImageFilter.BoxBlur(1))
        img = Image.blend(img, Image.merge("RGB", (grain,) * 3), 0.12)
        out = io.BytesIO()
        img.save(out, "JPEG", quality=82, optimize=True, progressive=True)
        (folder / name).write_bytes(out.getvalue())

    folder.mkdir(parents=True, exist_ok=True)
    jpeg("hero.jpg", 1600, 700, 1)
    for i in range(1, 13):
        jpeg(f"product-{i}.jpg", 600, 450, 10 + i)
    for i in range(1, 5):
        jpeg(f"detail-{i}.jpg", 1000, 1000, 30 + i)
    logo = Image.new("RGB", (240, 60), (20, 40, 90))
    ImageDraw.Draw(logo).text((16, 18), "NORTHWIND OUTFITTERS", fill=(255, 255, 255))
    logo.save(folder / "logo.png")
    font = next((f for f in FONTS if f.is_file()), None)
    if font:
        shutil.copyfile(font, folder / "brand.ttf")


class Site:
    """The customer's site on its own origin: templates from :data:`PAGES`, generated assets
    as ``gen/NAME`` next to any page; counts the bytes and requests it serves."""

    def __init__(
        self, server_url: str, build: Callable[[], str], generated: Path, network: Network
    ) -> None:
        self.server_url, self.build, self.generated, self.network = (
            server_url,
            build,
            generated,
            network,
        )
        self.bytes = self.requests = 0
        self._lock = threading.Lock()
        self._http: BackgroundHTTPServer | None = None

    def url(self, path: str, hostname: str = "localhost") -> str:
        assert self._http
        return self._http.origin.replace("127.0.0.1", hostname) + "/" + path.lstrip("/")

    def reset(self) -> tuple[int, int]:
        with self._lock:
            out = (self.bytes, self.requests)
            self.bytes = self.requests = 0
        return out

    def render(self, template: bytes, query: dict[str, list[str]]) -> bytes:
        variant = query.get("cwmn", ["default"])[0]
        variant = variant if variant in VARIANTS else "default"
        p = query.get("p", ["1"])[0]
        p = p if p.isdigit() else "1"
        marks = {
            "__CWMN_EMBED__": VARIANTS[variant].format(server=self.server_url),
            "__CWMN_QUERY__": f"cwmn={variant}",
            "__NEXT__": str(int(p) + 1),
            "__P__": p,
            "__CWMN_SERVER__": self.server_url,
            "__CWMN_BUILD__": self.build(),  # read each time: a rebuild may happen mid-run
        }
        for mark, value in marks.items():
            template = template.replace(mark.encode(), value.encode())
        return template

    def _respond(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        rel = parts.path.lstrip("/") or "index.html"
        root = PAGES
        if "/gen/" in "/" + rel:  # a page's gen/NAME: the generated assets
            root, rel = self.generated, rel.rsplit("gen/", 1)[1]
        target = (root / rel).resolve()
        if root.resolve() not in target.parents or not target.is_file():
            handler.send_error(404)
            return
        cache = ASSET_CACHE
        if root == self.generated and rel.startswith("private/"):
            if "=".join(PRIVATE_COOKIE) not in handler.headers.get("Cookie", ""):
                handler.send_error(403, "sign in first")
                return
            cache = "private, max-age=3600"
        body = target.read_bytes()
        if target.suffix == ".html":
            body, cache = self.render(body, parse_qs(parts.query)), "no-store"
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind.endswith("javascript"):
            kind += "; charset=utf-8"
        time.sleep(self.network.delay)
        handler.send_response(200)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Cache-Control", cache)
        handler.end_headers()
        for start in range(0, len(body), 16384):
            chunk = body[start : start + 16384]
            time.sleep(self.network.pause(len(chunk)))
            handler.wfile.write(chunk)
        with self._lock:
            self.bytes += len(body)
            self.requests += 1

    @contextlib.contextmanager
    def running(self) -> Iterator[Site]:
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    site._respond(self)

            def log_message(self, *args: object) -> None:
                pass

        with BackgroundHTTPServer(Handler) as self._http:
            yield self


@dataclass
class SiteRig:
    """The cwmn server (bytes counted), the customer's site, Debian's Chromium."""

    url: str
    counter: ByteCounter
    site: Site
    browser: Browser


@contextlib.contextmanager
def site_rig(network: Network = Network(), assets: bool = False) -> Iterator[SiteRig]:
    """``assets``: generate the shop's images and font first (a second or two)."""
    from cwmn_web.server.assets import AssetServer
    from cwmn_web.server.config import Settings

    with tempfile.TemporaryDirectory() as tmp:
        generated = Path(tmp) / "gen"
        if assets:
            make_assets(generated)
        data = Path(tmp) / "data"
        data.mkdir()
        assets_server = AssetServer(Settings(data_dir=data).dist_dir)
        with (
            cwmn_server(data, wrap=lambda app: Throttled(app, network)) as (url, counter),
            Site(url, lambda: assets_server.build_id, generated, network).running() as site,
            sync_playwright() as pw,
        ):
            browser = pw.chromium.launch(**launch_args("chromium"))
            try:
                yield SiteRig(url, counter, site, browser)
            finally:
                browser.close()
