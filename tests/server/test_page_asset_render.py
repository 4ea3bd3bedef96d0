"""The render worker loads a replay's page assets from ``<public>/a/…``: its network guard
lets the public URL's origin through although it is private, and nothing else private."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cwmn_web.render.network import PRIVATE_NETWORK_ENV, RequestGuard

from .test_render import FakeRoute, slow_image_server


def test_the_renderer_loads_the_store_from_the_public_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PRIVATE_NETWORK_ENV, raising=False)
    monkeypatch.delenv("CWMN_RENDER_ALLOW_ORIGINS", raising=False)
    stored = tmp_path / "a" / "sid.mac"
    stored.mkdir(parents=True)
    (stored / ("0" * 32)).write_bytes(b"GIF89a")
    with slow_image_server(tmp_path, delay=0) as public, slow_image_server(tmp_path, 0) as other:
        monkeypatch.setenv("CWMN_PUBLIC_URL", public.origin)
        guard = RequestGuard("http://127.0.0.1:9")
        asset = FakeRoute(f"{public.origin}/a/sid.mac/{'0' * 32}")
        elsewhere = FakeRoute(f"{other.origin}/a/sid.mac/{'0' * 32}")
        asyncio.run(guard(asset))
        asyncio.run(guard(elsewhere))
    assert (asset.done, asset.body) == ("fulfilled", b"GIF89a")
    assert elsewhere.done.startswith("aborted") and other.requests == []
