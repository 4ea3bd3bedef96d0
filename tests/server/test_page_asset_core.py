"""The asset store's pure parts: sniffed types, tokens, offers, limits, origins, waits; and
the ``cwmn-web site settings`` options that set a site's store."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest

from cwmn_web.errors import CwmnError
from cwmn_web.protocol.page_assets import url_key
from cwmn_web.server import cli
from cwmn_web.server.db import Store
from cwmn_web.server.page_assets.core import (
    MAX_URL,
    AssetLimits,
    Failure,
    Offer,
    SessionTotals,
    asset_origin,
    check_room,
    check_upload,
    failure_redirect,
    not_modified,
    parse_report,
    parse_upload,
    poll_interval,
    session_assets,
    status_of,
    wait_time,
)
from cwmn_web.server.page_assets.tokens import READ, UPLOAD, asset_token, token_session
from cwmn_web.server.page_assets.types import sniff

KEY = b"k" * 32
URL = "https://shop.example.com/img/logo.png"


# -- types --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n....", "image/png"),
        (b"\xff\xd8\xff\xe0JFIF", "image/jpeg"),
        (b"GIF87a....", "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1", "image/avif"),
        (b"\x00\x00\x00\x20ftypmif1\x00\x00\x00\x00mif1avifmiaf", "image/avif"),
        (b"BM" + bytes(12) + (40).to_bytes(4, "little") + bytes(20), "image/bmp"),
        (b"\x00\x00\x01\x00\x01\x00\x10\x10", "image/x-icon"),
        (b"wOF2\x00\x01\x00\x00", "font/woff2"),
        (b"wOFF\x00\x01\x00\x00", "font/woff"),
        (b"\x00\x01\x00\x00\x00\x0c\x00\x80", "font/ttf"),
        (b"OTTO\x00\x0c", "font/otf"),
        (
            bytes(8) + b"\x02\x00\x02\x00" + bytes(22) + b"LP" + bytes(8),
            "application/vnd.ms-fontobject",
        ),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
        (
            b"\xef\xbb\xbf<?xml version='1.0'?>\n<!DOCTYPE svg [<!ENTITY a 'b'>]>"
            b"\n<!-- x -->\n<svg>",
            "image/svg+xml",
        ),
        (b"<svg:svg xmlns:svg='http://www.w3.org/2000/svg'>", "image/svg+xml"),
    ],
)
def test_images_and_fonts_are_told_by_their_bytes(data: bytes, kind: str) -> None:
    assert sniff(data) == kind


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<html><svg></svg></html>",
        b"<!doctype html><svg>",
        b"<svgx>",
        b"<script>alert(1)</script>",
        b"%PDF-1.7",
        b"PK\x03\x04",
        b"BM not a bitmap at all",
        b"\x00\x00\x00\x1cftypisom\x00\x00\x00\x00isommp41",  # an MP4
        b"<!-- " + b"x" * 70000 + b" --><svg>",  # its root past what is looked at
        b"body { color: red }",
    ],
)
def test_anything_else_is_no_type(data: bytes) -> None:
    assert sniff(data) is None


# -- tokens ---------------------------------------------------------------------------------------
def test_tokens_are_the_contracts_hmac() -> None:
    sid = "abc-DEF_123"
    digest = hmac.new(KEY, b"page-assets:read:" + sid.encode(), hashlib.sha256).digest()
    mac = base64.urlsafe_b64encode(digest).decode().rstrip("=")[:22]
    assert asset_token(KEY, READ, sid) == f"{sid}.{mac}"
    assert token_session(KEY, READ, f"{sid}.{mac}") == sid
    assert token_session(KEY, UPLOAD, f"{sid}.{mac}") is None
    assert token_session(b"other" * 8, READ, f"{sid}.{mac}") is None
    for forged in (sid, f"{sid}.", f"{sid}.{mac[:-1]}", f"x{sid}.{mac}", f".{mac}", "", "a" * 500):
        assert token_session(KEY, READ, forged) is None


# -- reports --------------------------------------------------------------------------------------
def report(**fields: object) -> bytes:
    return json.dumps({"url": URL, "key": url_key(URL), **fields}).encode()


def test_an_offer_and_a_failure_are_parsed() -> None:
    offer = parse_report(report(kind="file", sha256="a" * 64, size=10), AssetLimits())
    assert offer == Offer(URL, url_key(URL), "file", "a" * 64, 10)
    failure = parse_report(report(failed="x" * 500), AssetLimits())
    assert isinstance(failure, Failure) and len(failure.reason) == 200


def test_refusals_carry_their_code_and_status() -> None:
    limits = AssetLimits(max_bytes=10)
    with pytest.raises(CwmnError) as info:
        parse_report(report(kind="file", sha256="a" * 64, size=11), limits)
    assert (info.value.code, status_of(info.value)) == ("asset_too_large", 413)
    with pytest.raises(CwmnError) as info:
        parse_upload("a" * 64, {"url": URL, "key": url_key(URL), "kind": "file"}, 11, limits)
    assert info.value.code == "asset_too_large"
    with pytest.raises(CwmnError) as info:
        check_upload(Offer(URL, url_key(URL), "file", "b" * 64, 4), b"GIF8", "c" * 64, limits)
    assert (info.value.code, status_of(info.value)) == ("bad_asset", 400)
    html = b"<html>"
    digest = hashlib.sha256(html).hexdigest()
    with pytest.raises(CwmnError) as info:
        check_upload(Offer(URL, url_key(URL), "file", digest, 6), html, digest, limits)
    assert (info.value.code, status_of(info.value)) == ("unsupported_type", 415)
    style = Offer(URL, url_key(URL), "style", digest, 6)
    assert check_upload(style, html, digest, limits) is None  # served as text/css only


def test_a_sessions_room() -> None:
    limits = AssetLimits(max_session_bytes=100, max_assets=2)
    check_room(SessionTotals(2, 100), limits)
    for totals in (SessionTotals(3, 0), SessionTotals(1, 101)):
        with pytest.raises(CwmnError) as info:
            check_room(totals, limits)
        assert (info.value.code, status_of(info.value)) == ("session_assets_full", 413)


def test_if_none_match() -> None:
    sha = "a" * 64
    assert not_modified(f'"{sha}"', sha) and not_modified(f'W/"x", "{sha}"', sha)
    assert not_modified("*", sha)
    assert not not_modified(None, sha) and not not_modified('"b"', sha)


def test_a_read_waits_until_found_or_its_deadline() -> None:
    assert wait_time(True, 0.0, 10.0, 0.25) is None
    assert wait_time(False, 0.0, 10.0, 0.25) == 0.25
    assert wait_time(False, 9.9, 10.0, 0.25) == pytest.approx(0.1)
    assert wait_time(False, 10.0, 10.0, 0.25) is None


def test_polls_back_off_to_the_longest_interval() -> None:
    assert [poll_interval(n, 0.1, 1.0) for n in range(6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert poll_interval(10**6, 0.1, 1.0) == 1.0


def test_session_assets_follow_the_site_settings() -> None:
    limits = AssetLimits(1, 2, 3)
    info = session_assets(
        {"assetOrigins": ["https://cdn.example.com"]}, "https://c.example", "r", "u", limits
    )
    assert info == {
        "base": "https://c.example/a/r/",
        "upload": "https://c.example/api/page-assets/u",
        "origins": ["https://cdn.example.com"],
        "maxBytes": 1,
        "maxSessionBytes": 2,
        "maxAssets": 3,
    }
    assert session_assets({"assets": "direct"}, "https://c.example", "r", "u", limits) == {}
    listed = ["https://CDN.example.com/", "javascript:x", "https://cdn.example.com", 7]
    info = session_assets({"assetOrigins": listed}, "https://c.example", "r", "u", limits)
    assert info["origins"] == ["https://cdn.example.com"]
    assert session_assets({"assetOrigins": "x"}, "https://c", "r", "u", limits)["origins"] == []


@pytest.mark.parametrize(
    ("text", "origin"),
    [
        ("https://CDN.example.com", "https://cdn.example.com"),
        ("https://cdn.example.com/", "https://cdn.example.com"),
        ("https://cdn.example.com:443", "https://cdn.example.com"),
        ("http://files.example.com:8080", "http://files.example.com:8080"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_asset_origins_are_normalised(text: str, origin: str) -> None:
    assert asset_origin(text) == origin


@pytest.mark.parametrize(
    "text",
    [
        "cdn.example.com",
        "ftp://cdn.example.com",
        "https://cdn.example.com/path",
        "https://user@cdn.example.com",
        "https://cdn.example.com?x",
        "https://cdn.example.com#x",
        "https://cdn.example.com:port",
        "https://",
    ],
)
def test_what_is_not_an_origin_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="origin"):
        asset_origin(text)


# -- the CLI --------------------------------------------------------------------------------------
def test_cli_sets_the_sites_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CWMN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CWMN_DATABASE_URL", raising=False)
    store = Store(f"sqlite:///{tmp_path / 'cwmn.sqlite3'}")

    def settings() -> dict[str, object]:
        site = store.site_by_name("default")
        assert site is not None
        return site.settings

    argv = ["site", "settings", "default"]
    assert cli.main([*argv, "--assets", "direct"]) == 0
    assert settings()["assets"] == "direct"
    origins = [
        "--asset-origin",
        "https://CDN.example.com/",
        "--asset-origin",
        "http://f.example:81",
    ]
    assert cli.main([*argv, "--assets", "store", *origins]) == 0
    assert settings()["assets"] == "store"
    assert settings()["assetOrigins"] == ["https://cdn.example.com", "http://f.example:81"]
    assert '"assetOrigins"' in capsys.readouterr().out
    assert cli.main([*argv, "--max-guests", "4"]) == 0  # other options leave them be
    assert settings()["assetOrigins"] == ["https://cdn.example.com", "http://f.example:81"]
    assert cli.main([*argv, "--no-asset-origins"]) == 0
    assert settings()["assetOrigins"] == []
    for bad in (
        ["--assets", "maybe"],
        ["--asset-origin", "https://x.example/path"],
        ["--asset-origin", "https://x.example", "--no-asset-origins"],
    ):
        with pytest.raises(SystemExit) as info:
            cli.main([*argv, *bad])
        assert info.value.code == 2
    assert "scheme, host and port only" in capsys.readouterr().err
    store.engine.dispose()


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("https://shop.example/a.png#x", "https://shop.example/a.png#x"),
        ("http://intranet:8080/b.css", "http://intranet:8080/b.css"),
        ("javascript:alert(1)", None),
        ("data:image/png;base64,AAAA", None),
        ("//shop.example/a.png", None),
        ("https://shop.example/" + "a" * MAX_URL, None),
        ("", None),
        # A header holds Latin-1 only: the rest is percent-encoded (a 500 before).
        (
            "https://shop.example/ürün şapka.jpg",
            "https://shop.example/%C3%BCr%C3%BCn%20%C5%9Fapka.jpg",
        ),
        ("https://shop.example/a.png\r\nSet-Cookie: x=1", None),
    ],
)
def test_only_an_http_url_is_a_failures_redirect(url: str, target: str | None) -> None:
    assert failure_redirect(url, "image") == target


@pytest.mark.parametrize("destination", ["document", "iframe", "frame", "embed", "object", ""])
def test_a_navigation_is_never_redirected(destination: str) -> None:
    """The store's origin is no open redirect: a link to a failed key (a page opened, a
    frame, or a client saying nothing) gets 404, only resource loads are sent on."""
    assert failure_redirect("https://evil.example/login", destination) is None


@pytest.mark.parametrize("destination", ["image", "style", "font", "video", "audio"])
def test_resource_loads_are_redirected(destination: str) -> None:
    assert failure_redirect("https://shop.example/a.png", destination) is not None
