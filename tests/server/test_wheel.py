"""The server wheel as an operator deploys it: built as ``make wheel`` builds it, installed
in a fresh venv, ``cwmn-web serve`` run outside the repository (docs/DEPLOY.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import urllib.request
from pathlib import Path

import pytest

from cwmn_web.testing.servers import free_port
from tests.helpers.processes import STOPPED, answering, stop

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]


def pip_wheel(tree: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """``make wheel``'s command: no network, the build backend from this environment."""
    command = ["pip", "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(out)]
    return subprocess.run(
        [sys.executable, "-m", *command, str(tree)], capture_output=True, text=True, cwd=out
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory, build_id: str) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = pip_wheel(ROOT, out)
    assert built.returncode == 0, built.stdout + built.stderr
    (made,) = out.glob("cwmn_web-*.whl")
    return made


def venv_with(wheel: Path, root: Path) -> Path:
    """A fresh venv with ``wheel`` installed (``--no-deps``); the server's dependencies come
    from this interpreter's site-packages through a .pth file, not from the network."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    install = ["install", "--quiet", "--no-deps", "--no-compile", str(wheel)]
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), *install], check=True)
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ours = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (Path(site) / "server_dependencies.pth").write_text("".join(f"{p}\n" for p in ours))
    return venv


def test_the_installed_wheel_serves_outside_the_repository(
    tmp_path: Path, wheel: Path, build_id: str
) -> None:
    venv = venv_with(wheel, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CWMN_", "PYTHON"))}
    env["CWMN_DATA_DIR"] = str(tmp_path / "data")
    found = subprocess.run(
        [
            venv / "bin" / "python",
            "-c",
            "import cwmn_web; from cwmn_web.server.config import Settings; "
            "print(cwmn_web.__file__); print(Settings().static_dir)",
        ],
        env=env,
        cwd=elsewhere,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    package = venv.resolve() / "lib"
    assert all(Path(path).is_relative_to(package) for path in found), found  # not the checkout's

    port, log = free_port(), tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [venv / "bin" / "cwmn-web", "serve", "--port", str(port)],
            env=env,
            cwd=elsewhere,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        answering(f"{base}/healthz", proc, log)
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as health:
            assert json.loads(health.read())["build"] == build_id
        with urllib.request.urlopen(f"{base}/cwmn.js", timeout=5) as stub:
            assert stub.status == 200
            assert stub.headers["Content-Type"].startswith("text/javascript")
            assert build_id.encode() in stub.read()
        with urllib.request.urlopen(f"{base}/assets/{build_id}/worker.mjs", timeout=5) as asset:
            assert asset.status == 200
            assert asset.headers["Content-Type"].startswith("text/javascript")
            assert "immutable" in asset.headers["Cache-Control"]
            assert asset.read()
        with urllib.request.urlopen(f"{base}/", timeout=5) as page:  # static/index.html
            assert page.status == 200 and b"<html" in page.read().lower()
    finally:
        status = stop(proc)
    assert status in STOPPED and "Application shutdown complete" in log.read_text()


def test_a_wheel_without_the_browser_build_is_refused_with_the_fix(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    skip = shutil.ignore_patterns("__pycache__", "dist")
    for folder in ("cwmn_web", "static"):
        shutil.copytree(ROOT / folder, tree / folder, ignore=skip)
    for name in ("pyproject.toml", "hatch_build.py", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    out = tmp_path / "out"
    out.mkdir()
    built = pip_wheel(tree, out)
    assert built.returncode != 0
    assert "lacks BUILD" in built.stdout + built.stderr
    assert (
        "Run `python build.py` (or `make wheel`, which runs it) first"
        in built.stdout + built.stderr
    )
    assert not list(out.glob("*.whl"))
