"""cwmn_web.server.cli: ``cwmn-web site ...`` and ``init-db`` against CWMN_DATA_DIR."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cwmn_web.server import cli
from cwmn_web.server.db import Store


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CWMN_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CWMN_DATABASE_URL", raising=False)
    return tmp_path


@pytest.fixture
def stored(data_dir: Path) -> Iterator[Store]:
    """The store the CLI writes to (read after the command ran)."""
    store = Store(f"sqlite:///{data_dir / 'cwmn.sqlite3'}")
    yield store
    store.engine.dispose()


def test_site_add(data_dir: Path, stored: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["site", "add", "example.com"]) == 0
    assert capsys.readouterr().out == "example.com authorized for site default\n"
    assert (data_dir / "cwmn.sqlite3").exists()
    site = stored.site_for_host("example.com")
    assert site is not None
    assert site.name == "default"


def test_site_add_to_a_named_site_and_list(
    stored: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["site", "add", "*.example.com", "--site", "shop"]) == 0
    capsys.readouterr()
    assert cli.main(["site", "list"]) == 0
    assert capsys.readouterr().out == "default: 127.0.0.1, localhost\nshop: *.example.com\n"
    shop = stored.site_for_host("a.example.com")
    assert shop is not None
    assert shop.name == "shop"


def test_site_add_conflict(stored: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["site", "add", "example.com", "--site", "shop"]) == 0
    assert cli.main(["site", "add", "example.com", "--site", "blog"]) == 2
    assert "another site" in capsys.readouterr().err


def test_site_add_refuses_a_url(stored: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["site", "add", "https://example.com"]) == 2
    assert "not a domain name" in capsys.readouterr().err


def test_site_add_refuses_a_bare_top_level_domain(
    stored: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["site", "add", "*.com"]) == 2
    assert "top-level domain" in capsys.readouterr().err
    assert stored.site_for_host("anything.com") is None


def test_site_add_stores_a_unicode_domain_as_browsers_send_it(
    stored: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["site", "add", "bücher.example"]) == 0
    site = stored.site_for_host("xn--bcher-kva.example")  # what the page's Origin carries
    assert site is not None


def test_site_remove(stored: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["site", "add", "example.com"]) == 0
    assert cli.main(["site", "remove", "example.com"]) == 0
    assert "example.com removed" in capsys.readouterr().out
    assert stored.site_for_host("example.com") is None
    assert cli.main(["site", "remove", "example.com"]) == 1
    assert "was not authorized" in capsys.readouterr().err


def test_init_db(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["init-db"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("database ready: sqlite:///")
    assert str(data_dir.resolve()) in out
    assert (data_dir / "cwmn.sqlite3").exists()


def test_database_url_overrides_the_data_dir(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "elsewhere" / "db.sqlite3"
    monkeypatch.setenv("CWMN_DATABASE_URL", f"sqlite:///{other}")
    assert cli.main(["init-db"]) == 0
    assert other.exists()
    assert not (data_dir / "cwmn.sqlite3").exists()


@pytest.mark.parametrize("argv", [[], ["site"], ["site", "add"], ["bogus"]])
def test_usage_errors(data_dir: Path, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2


def test_site_privacy_selectors_reach_domain_info(
    stored: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        cli.main(
            ["site", "privacy", "default", "--mask", ".iban", "--mask", "#ssn", "--block", "video"]
        )
        == 0
    )
    capsys.readouterr()
    site = stored.site_by_name("default")
    assert site is not None
    info = site.info("localhost")["settings"]
    assert info["maskSelectors"] == [".iban", "#ssn"] and info["blockSelectors"] == ["video"]
    assert cli.main(["site", "privacy", "nope", "--mask", "x"]) == 1
    assert "no site named 'nope'" in capsys.readouterr().err


def test_site_settings_max_guests(stored: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["init-db"]) == 0
    site = stored.site_by_name("default")
    assert site is not None and site.info("localhost")["settings"]["maxGuests"] == 10
    assert cli.main(["site", "settings", "default", "--max-guests", "3"]) == 0
    assert '"maxGuests": 3' in capsys.readouterr().out
    site = stored.site_by_name("default")
    assert site is not None and site.info("localhost")["settings"]["maxGuests"] == 3
    for bad in ("0", "-2", "many"):
        with pytest.raises(SystemExit) as info:
            cli.main(["site", "settings", "default", "--max-guests", bad])
        assert info.value.code == 2
    assert "from 1 to 1000" in capsys.readouterr().err


def test_site_settings_default_region(stored: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["site", "settings", "default", "--default-region", "gb"]) == 0
    assert '"defaultRegion": "GB"' in capsys.readouterr().out
    site = stored.site_by_name("default")
    assert site is not None and site.info("localhost")["settings"]["defaultRegion"] == "GB"
    with pytest.raises(SystemExit) as info:
        cli.main(["site", "settings", "default", "--default-region", "XX"])
    assert info.value.code == 2
    assert "two-letter country code" in capsys.readouterr().err


@pytest.mark.parametrize(("env", "trusted"), [(None, "127.0.0.1"), ("10.0.0.5", "10.0.0.5")])
def test_serve_believes_forwarded_headers_only_from_the_trusted_proxies(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, env: str | None, trusted: str
) -> None:
    import uvicorn

    if env is None:
        monkeypatch.delenv("CWMN_TRUSTED_PROXIES", raising=False)
    else:
        monkeypatch.setenv("CWMN_TRUSTED_PROXIES", env)
    served: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(options))
    assert cli.main(["serve", "--port", "8123"]) == 0
    assert served["proxy_headers"] is True and served["forwarded_allow_ips"] == trusted
    assert served["port"] == 8123


def test_site_settings_sms_countries(stored: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["site", "settings", "default", "--sms-countries", "us,gb"]) == 0
    assert '"smsCountries": ["US", "GB"]' in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        cli.main(["site", "settings", "default", "--sms-countries", "US,XX"])
    assert info.value.code == 2
