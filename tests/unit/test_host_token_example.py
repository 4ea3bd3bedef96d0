"""docs/examples/host_token_backend.py reads the site's key from a variable of its own: a
backend started with the CWMN server's environment (its ``CWMN_SECRET``) must not sign host
tokens with the server's secret."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import jwt
import pytest
from starlette.testclient import TestClient

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "host_token_backend.py"
SERVER_SECRET = "the CWMN server's own secret, 32+ characters"
SITE_KEY = "the site's host-token key, 32+ characters long"


def example(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("host_token_backend", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclass looks it up
    spec.loader.exec_module(module)
    return module


def run_main(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Any:
    """The app the example's ``main()`` would serve with ``env`` (uvicorn not started)."""
    for name in ("CWMN_SECRET", "CWMN_SITE", "CWMN_KID", "CWMN_SITE_KID", "CWMN_SITE_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    served: list[Any] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **_: served.append(app))
    example(monkeypatch).main()
    return served[0]


def test_the_servers_secret_is_never_the_sites_key(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"CWMN_SECRET": SERVER_SECRET, "CWMN_SITE": "shop", "CWMN_KID": "k1"}
    with pytest.raises(SystemExit) as stopped:
        run_main(monkeypatch, env)
    assert "CWMN_SITE_KEY" in str(stopped.value)


def test_the_example_signs_with_the_site_key(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"CWMN_SECRET": SERVER_SECRET, "CWMN_SITE": "shop"}
    app = run_main(monkeypatch, env | {"CWMN_SITE_KID": "k1", "CWMN_SITE_KEY": SITE_KEY})
    token = TestClient(app).get("/cwmn-token").text
    assert jwt.get_unverified_header(token)["kid"] == "k1"
    claims = jwt.decode(token, SITE_KEY, algorithms=["HS256"], audience="shop")
    assert claims["sub"] == "demo"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, SERVER_SECRET, algorithms=["HS256"], audience="shop")
