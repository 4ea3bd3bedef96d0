"""cwmn_web.server.sites: domain names, origins and matching (no I/O)."""

from __future__ import annotations

import pytest

from cwmn_web.server.sites import (
    DEFAULT_SETTINGS,
    FEATURES,
    Site,
    domain_matches,
    hostname_of,
    normalise_domain,
)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Example.COM", "example.com"),
        (" example.com. ", "example.com"),
        ("*.Example.com", "*.example.com"),
        ("127.0.0.1", "127.0.0.1"),
        ("localhost", "localhost"),
        ("[::1]", "::1"),
        # A browser's Origin carries a Unicode name in punycode: stored so, it matches.
        ("Bücher.Example", "xn--bcher-kva.example"),
        ("*.bücher.example", "*.xn--bcher-kva.example"),
    ],
)
def test_normalise_domain(raw: str, clean: str) -> None:
    assert normalise_domain(raw) == clean


def test_a_unicode_domain_matches_the_origin_a_browser_sends() -> None:
    assert domain_matches(
        normalise_domain("bücher.example"), hostname_of("https://xn--bcher-kva.example")
    )


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("com", "top-level domain"),
        ("*.com", "top-level domain"),
        ("*.*.example.com", "labels of letters"),
        ("shop.*.example.com", "labels of letters"),
        ("-shop.example.com", "labels of letters"),
        ("shop_1.example.com", "labels of letters"),
        ("a" * 64 + ".example.com", "not a domain name"),
        ("a..example.com", "not a domain name"),
        ("999.1.1.1", "not an IP address"),
        ("1.2.3", "not an IP address"),
        ("shop.example.123", "a top-level domain has letters"),
    ],
)
def test_normalise_domain_refuses_names_that_could_never_match_a_page(raw: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        normalise_domain(raw)


@pytest.mark.parametrize(
    "raw", ["", "  ", ".", "http://example.com", "example.com:8080", "example.com/path", "a b.com"]
)
def test_normalise_domain_refuses_urls(raw: str) -> None:
    with pytest.raises(ValueError, match="not a domain name"):
        normalise_domain(raw)


@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("https://shop.example.com:8443", "shop.example.com"),
        ("http://LOCALHOST:1234", "localhost"),
        ("http://127.0.0.1", "127.0.0.1"),
        ("null", ""),
        ("", ""),
    ],
)
def test_hostname_of(origin: str, host: str) -> None:
    assert hostname_of(origin) == host


@pytest.mark.parametrize(
    ("pattern", "hostname", "matches"),
    [
        ("example.com", "example.com", True),
        ("example.com", "a.example.com", False),
        ("*.example.com", "a.example.com", True),
        ("*.example.com", "a.b.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "badexample.com", False),
        ("*.example.com", "example.com.evil.net", False),
        ("*.example.com", "", False),
    ],
)
def test_domain_matches(pattern: str, hostname: str, matches: bool) -> None:
    assert domain_matches(pattern, hostname) is matches


def test_site_info_merges_settings() -> None:
    site = Site(3, "shop", ("shop.example.com",), {"maxGuests": 2})
    info = site.info("shop.example.com")
    assert info == {
        "domain": "shop.example.com",
        "authorized": True,
        "site": {"id": 3, "name": "shop"},
        "features": FEATURES,
        "settings": {**DEFAULT_SETTINGS, "maxGuests": 2},
    }
    info["features"]["realtime"] = False
    assert FEATURES["realtime"] is True


def test_ipv6_domain_matches_its_origin() -> None:
    pattern = normalise_domain("[::1]")
    assert domain_matches(pattern, hostname_of("http://[::1]:8000"))
