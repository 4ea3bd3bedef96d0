"""Which of the page's URLs go through the asset store, and what the host fetches. No I/O.

The host cannot know what a guest can reach (cookies, IP allow-lists, intranet DNS, fonts
without CORS), so every resource URL of the page's own origin or of the site's
``assetOrigins`` is *routed*: rewritten at encode time to the store (``BASE + key``, the
fragment kept) and queued once per page for the worker's edge (``browser/asset_uploads.py``)
to fetch with the page's credentials and upload (docs/fidelity/host.md). Everything else
(third parties, ``data:``, ``blob:``) keeps its direct URL. A fetched stylesheet is rewritten
before upload: its routed references become the relative ``KEY``, so it does not depend on
the session. Nothing is routed when the session's ``assets`` is empty (the store is off).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urljoin

from ..protocol.page_assets import FILE, origin_of, url_key, without_fragment
from .css_refs import rewrite_css

__all__ = [
    "SKIP_SCHEMES",
    "AssetFetch",
    "PageAssets",
    "ReportThrottle",
    "check_body",
    "failure_body",
    "origin_of",
    "rewrite_css",
    "stylesheet_refusal",
    "upload_answer",
]

#: References left as they are (the encoder does not make them absolute either).
SKIP_SCHEMES = ("data:", "blob:", "javascript:", "about:", "#", "mailto:", "tel:")
#: Outcomes the edge reports for an asset (``PageAssets.done``).
OUTCOMES = ("uploaded", "reused", "failed")


@dataclass(frozen=True)
class AssetFetch:
    """One URL for the edge to fetch (with the page's credentials) and upload."""

    url: str
    key: str
    kind: str


# -- the upload API (contract: the host worker → the server) ---------------------------------
def stylesheet_refusal(content_type: str | None) -> str | None:
    """Why a fetched stylesheet whose response has ``content_type`` is not uploaded (a
    browser in standards mode refuses anything but ``text/css``: a login page after a
    redirect, a JSON export), or None."""
    essence = (content_type or "").split(";", 1)[0].strip().lower()
    if essence == "text/css":
        return None
    return f"not a stylesheet (Content-Type {essence or 'missing'})"


def check_body(fetch: AssetFetch, sha256: str, size: int) -> str:
    """Step 1: does the store hold this content? (``{"have": bool}``)"""
    body = {"url": fetch.url, "key": fetch.key, "kind": fetch.kind, "sha256": sha256, "size": size}
    return json.dumps(body, separators=(",", ":"))


def failure_body(fetch: AssetFetch, reason: str) -> str:
    """Step 3: the host could not have it (its key now sends guests to its URL)."""
    body = {"url": fetch.url, "key": fetch.key, "failed": reason[:200]}
    return json.dumps(body, separators=(",", ":"))


def upload_answer(status: int, body: Any) -> bool | str:
    """The server's answer to a check or an upload: ``True`` (it has the content: the
    check's ``have``, or ``stored``), ``False`` (send the bytes), or the error to report."""
    if status == 200 and isinstance(body, dict):
        if body.get("have") is True or body.get("stored") is True:
            return True
        if body.get("have") is False:
            return False
    code = body.get("code") if isinstance(body, dict) else None
    return f"{code or 'bad_answer'} (HTTP {status})"


class PageAssets:
    """One page's routing decisions and queue, from the session's ``assets`` (contract:
    ``base``, ``upload``, ``origins``, ``maxBytes``, ``maxSessionBytes``, ``maxAssets``)."""

    def __init__(self, assets: Mapping[str, Any], page_url: str) -> None:
        self.base = str(assets.get("base") or "")
        self.upload = str(assets.get("upload") or "")
        self.enabled = bool(self.base and self.upload)
        own = origin_of(page_url)
        origins = assets.get("origins") or []
        self.origins = {o for o in (origin_of(str(x)) for x in origins) if o is not None}
        if own is not None:
            self.origins.add(own)
        self.max_bytes = _count(assets.get("maxBytes"), 8 * 1024 * 1024)
        self.max_session_bytes = _count(assets.get("maxSessionBytes"), 128 * 1024 * 1024)
        self.max_assets = _count(assets.get("maxAssets"), 4096)
        #: Every key this page routed (key → its fetch), in order; each is fetched once.
        self.routed: dict[str, AssetFetch] = {}
        self._queue: list[AssetFetch] = []
        self.bytes = 0
        """Bytes of the assets this page admitted (checked against ``maxSessionBytes``)."""
        self.outcomes: dict[str, str] = {}
        self.counters = {"routed": 0, "fetched": 0, "uploaded": 0, "reused": 0, "failed": 0}
        self.counters["bytesUploaded"] = 0

    # -- routing (at encode time) --------------------------------------------------------
    def routes(self, url: str) -> bool:
        """Whether the absolute ``url`` would go through the store."""
        return self.enabled and origin_of(url) in self.origins

    def route(self, url: str, kind: str = FILE) -> str:
        """The store URL of the absolute ``url`` (``BASE + key`` and its fragment), queued
        for fetching the first time; ``url`` itself when it is not routed or the page's
        ``maxAssets`` is reached."""
        found = self._routed(url, kind)
        if found is None:
            return url
        return self.base + found.key + _fragment(url)

    def _routed(self, url: str, kind: str) -> AssetFetch | None:
        if not self.routes(url):
            return None
        whole = without_fragment(url.strip())
        key = url_key(whole)
        known = self.routed.get(key)
        if known is not None:
            return known
        if len(self.routed) >= self.max_assets:
            return None
        fetch = AssetFetch(whole, key, kind)
        self.routed[key] = fetch
        self._queue.append(fetch)
        self.counters["routed"] += 1
        return fetch

    def css(self, text: str, resolve: Callable[[str], str]) -> str:
        """Page CSS (a style attribute, a ``<style>``'s text, an adopted sheet) with each
        reference made absolute by ``resolve`` and routed ones sent to the store."""
        return rewrite_css(text, lambda ref, kind: self._page_ref(resolve(ref), kind))

    def _page_ref(self, url: str, kind: str) -> str:
        return self.route(url, kind) if origin_of(url) is not None else url

    def stylesheet(self, url: str, text: str) -> str:
        """A fetched stylesheet's text for upload: references resolved against ``url``;
        routed ones become the relative ``KEY`` (so the uploaded CSS is the same in every
        session), the others absolute. Routed references are queued."""

        def ref(reference: str, kind: str) -> str:
            if reference.lower().startswith(SKIP_SCHEMES):
                return reference  # data:, a fragment (an SVG filter), blob:
            absolute = urljoin(url, reference)
            found = self._routed(absolute, kind)
            return absolute if found is None else found.key + _fragment(absolute)

        return rewrite_css(text, ref)

    # -- the edge's side -----------------------------------------------------------------
    def bytes_url(self, fetch: AssetFetch, sha256: str) -> str:
        """Step 2: where the bytes of ``fetch`` (hashing to ``sha256``) are posted."""
        query = urlencode({"key": fetch.key, "kind": fetch.kind, "url": fetch.url})
        return f"{self.upload}/{sha256}?{query}"

    def take(self) -> list[AssetFetch]:
        """The URLs queued since the last call, each once per page (drains the queue)."""
        out, self._queue = self._queue, []
        return out

    def admit(self, key: str, size: int) -> str | None:
        """Whether ``size`` bytes fetched for ``key`` may be uploaded: None (they are
        counted), or the reason to report as its failure."""
        if size > self.max_bytes:
            return f"larger than {self.max_bytes} bytes"
        if self.bytes + size > self.max_session_bytes:
            return f"the session's {self.max_session_bytes} bytes of assets are used"
        self.bytes += size
        return None

    def done(self, key: str, outcome: str, size: int = 0) -> None:
        """Record what became of ``key``: ``uploaded`` (``size`` bytes sent), ``reused``
        (the store had it), or ``failed``."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown asset outcome {outcome!r}")
        self.outcomes[key] = outcome
        if outcome != "failed":
            self.counters["fetched"] += 1
        self.counters[outcome] += 1
        if outcome == "uploaded":
            self.counters["bytesUploaded"] += size


class ReportThrottle:
    """When the edge posts its counters to the page: at most once per ``interval`` seconds
    (each post is a task on the page's main thread), the final one (nothing pending) at
    once."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self._last: float | None = None

    def wait(self, now: float, final: bool) -> float:
        """Seconds before counters offered at ``now`` may be posted; 0: post them now
        (counted as posted)."""
        if final or self._last is None or now - self._last >= self.interval:
            self._last = now
            return 0.0
        return self._last + self.interval - now

    def posted(self, now: float) -> None:
        """Counters were posted at ``now`` (a delayed post)."""
        self._last = now


def _fragment(url: str) -> str:
    _, sep, fragment = url.strip().partition("#")
    return sep + fragment


def _count(value: Any, default: int) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return value if ok else default
