"""Build the browser assets into static/dist/ (idempotent; a second run does nothing slow).

1. Pyodide PYODIDE_VERSION from the npm registry (``npm pack``, integrity checked by npm),
   cached under .build/.
2. The ``cwmn_web`` wheel the browser loads: the modules its entries import (read from the
   source by ``cwmn_web.import_graph``; no server, no test helpers), written
   deterministically so an unchanged tree gives the same bytes and hash.
3. A Pyodide lock file listing exactly the wheels we ship, with their real sha256, so
   ``loadPackage(..., {checkIntegrity: true})`` verifies them. Pyodide's own lock lists
   hundreds of packages we do not ship; they are left out rather than pointing at files that
   are not there.
4. A memory snapshot of Python with every module of the wheel imported, made in Node with
   the same Pyodide (``loadPyodide({_makeSnapshot: true})``, ``makeMemorySnapshot()``), which
   the workers restore in about a second instead of booting Python (docs/DESIGN.md, "Instant
   start"). Its parts' offsets, sizes and sha256 are written into ``worker.mjs``.
5. The JavaScript copies of ``cwmn_web.protocol.constants`` (``dist/constants.mjs``, and
   ``dist/constants.js`` for the viewer's classic scripts), and the page's ES modules
   (``capture.mjs`` and its parts under ``static/capture/``, ``cursors.mjs``, ...), each
   bundled into one asset (:func:`bundle`).
6. ``cwmn.js`` (the embed stub, minified) with the API tables from ``cwmn_web.client.spec``,
   the shared constants it needs and a build id that versions every asset URL (so assets are
   cached as immutable).
7. A ``.gz`` beside each asset, which the server sends to browsers that accept gzip.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from cwmn_web import __version__  # noqa: E402
from cwmn_web.client.spec import stub_tables  # noqa: E402
from cwmn_web.client.typescript import declarations  # noqa: E402
from cwmn_web.import_graph import PACKAGE, module_name, needed_by  # noqa: E402
from cwmn_web.protocol import constants  # noqa: E402

PYODIDE_VERSION = "314.0.7"
PYODIDE_FILES = (
    "pyodide.mjs",
    "pyodide.asm.mjs",
    "pyodide.asm.wasm",
    "python_stdlib.zip",
)
#: The Python the browser starts: the host's worker, the guest's viewer worker (both named in
#: worker.mjs) and the PyScript mode's page module. The wheel holds what they import and no
#: more: everything in it is imported into the snapshot, and every module is memory there
#: (a test helper importing http.server cost 3 MB of snapshot and ~30 ms of start).
BROWSER_ENTRIES = (
    "cwmn_web.browser.worker",
    "cwmn_web.browser.viewer_worker",
    "cwmn_web.browser.page",
)
#: PyScript for pages whose own code is Python (static/pyscript.html); its dist/ is bundled,
#: so the package alone is enough. The tarball's sha512 is pinned, as npm's lock would.
PYSCRIPT_VERSION = "0.7.31"
PYSCRIPT_INTEGRITY = (
    "sha512-GqM1aonc1N4RTkNZ1zJ8jJk8+i2cqeztZslPsAiQtn+wHH"
    "kUX9Z1FgIg4HjCvhBylB68UKmbTVTzOobpgPIMVQ=="
)
#: The stub's minifier (it renames the stub's own names: ~440 bytes gzipped less than a
#: whitespace-only minifier): esbuild's single static binary from the npm registry, pinned.
ESBUILD_VERSION = "0.28.2"
ESBUILD_PACKAGES = {
    "x86_64": (
        "linux-x64",
        "sha512-4xTZr1FUmSoQW4XIWmit3tzQrUTZM+N3P0XV8xROKYF50XfI7xeO90+1bZvNwxIufQ9hDQVRJH5YhgPVF8A/HQ==",
    ),
    "aarch64": (
        "linux-arm64",
        "sha512-pW4AC0P3it8c7do9MVM4p51FzHzdM/TZrerurgRcHJ2WTa1VQ1CIq18xncfpBJw4ojkiZZrKW2yIBWBP92j6Ug==",
    ),
}
CACHE = ROOT / ".build"
DIST = ROOT / "static" / "dist"
ASSETS = DIST / "assets"
ZIP_DATE = (2020, 1, 1, 0, 0, 0)
VIEWER_FILES = (
    "viewer.html",
    "viewer/mirror.js",
    "viewer/stage.js",
    "viewer/tools.js",
    "viewer/join.js",
    "viewer.css",
)
#: The page's ES modules, each served as one file (its local imports inlined by ``bundle``):
#: one request, and the stub's ``capture.mjs?retry=N`` (Firefox keeps a failed module import
#: for the page's life) covers every part of it.
PAGE_MODULES = (
    "capture.mjs",
    "cursors.mjs",
    "consent.mjs",
    "recorder.mjs",
    "hosttoken.mjs",
    "control.mjs",
    "badge.mjs",
)
#: The generated JavaScript copies of cwmn_web/protocol/constants.py.
CONSTANTS_MJS = DIST / "constants.mjs"
CONSTANTS_JS = DIST / "constants.js"
GZIP_SUFFIXES = (".js", ".mjs", ".wasm", ".json", ".snapshot")  # wheels, zips: compressed
#: The snapshot (31 MB, 7 MB gzipped) is served in parts: browsers keep no single response of
#: several megabytes in an in-memory HTTP cache (private windows; measured: a 7.1 MB gzipped
#: body was downloaded again on every page, 3.5 MB ones were kept). All-zero chunks are left
#: out.
SNAPSHOT_PART = 4 << 20
SNAPSHOT_CHUNK = 1 << 20
#: Node script: Python with the wheel installed and every cwmn_web module imported, as a
#: Pyodide memory snapshot. Not ``loadPackage``: a snapshot must not hold Pyodide's
#: ``loadedPackages`` (makeMemorySnapshot refuses it), so the wheel is unpacked by Python.
#: The connection module imports ``js.WebSocket``, which Node 20 lacks; a snapshot keeps a
#: global by its name, so the worker's own WebSocket is what the restored Python uses.
SNAPSHOT_JS = """
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
const [indexDir, wheelPath, out] = process.argv.slice(1);
const { loadPyodide } = await import(pathToFileURL(indexDir + 'pyodide.mjs').href);
globalThis.WebSocket ??= class WebSocket {};
const pyodide = await loadPyodide({
  indexURL: indexDir, lockFileURL: indexDir + 'pyodide-lock.json', _makeSnapshot: true,
  env: { PYTHONHASHSEED: '0' }, stdout: () => {}, stderr: (line) => console.error(line),
});
pyodide.FS.writeFile('/tmp/cwmn_web.whl', readFileSync(wheelPath));
pyodide.runPython(`
import importlib, pkgutil, sysconfig, zipfile
with zipfile.ZipFile('/tmp/cwmn_web.whl') as wheel:
    wheel.extractall(sysconfig.get_paths()['purelib'])
import cwmn_web
for module in pkgutil.walk_packages(cwmn_web.__path__, 'cwmn_web.'):
    importlib.import_module(module.name)
`);
pyodide.FS.unlink('/tmp/cwmn_web.whl');
writeFileSync(out, pyodide.makeMemorySnapshot());
"""


def log(message: str) -> None:
    print(f"build: {message}", flush=True)


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` unless ``path`` already holds it; return whether it wrote."""
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return True


def npm_pack(spec: str, tarball: Path) -> None:
    """Download the npm package ``spec`` (name@version) from the registry as ``tarball``."""
    log(f"npm pack {spec}")
    cmd = ["npm", "pack", spec, "--json", "--pack-destination", str(CACHE)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    (CACHE / json.loads(out.stdout)[0]["filename"]).rename(tarball)


def fetch_pyodide() -> Path:
    """Unpack the pinned Pyodide npm package into .build/ once; return its folder."""
    target = CACHE / f"pyodide-{PYODIDE_VERSION}"
    if (target / ".complete").exists():
        return target
    CACHE.mkdir(exist_ok=True)
    tarball = CACHE / f"pyodide-{PYODIDE_VERSION}.tgz"
    if not tarball.exists():
        npm_pack(f"pyodide@{PYODIDE_VERSION}", tarball)
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            name = member.name.removeprefix("package/")
            if name in (*PYODIDE_FILES, "pyodide-lock.json", "package.json"):
                data = tar.extractfile(member)
                assert data is not None
                (target / name).write_bytes(data.read())
    version = json.loads((target / "package.json").read_text())["version"]
    if version != PYODIDE_VERSION:
        raise SystemExit(f"npm served pyodide {version}, expected {PYODIDE_VERSION}")
    (target / ".complete").write_text(PYODIDE_VERSION)
    return target


def pinned_tarball(spec: str, tarball: Path, integrity: str) -> None:
    """``tarball``: npm's ``spec`` (name@version), downloaded once, its sha512 as pinned."""
    if not tarball.exists():
        npm_pack(spec, tarball)
    digest = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if f"sha512-{digest}" != integrity:
        tarball.unlink()
        raise SystemExit(f"{spec}: the tarball's sha512 is not pinned")


def fetch_esbuild() -> Path:
    """The pinned esbuild binary for this machine, unpacked into .build/ once."""
    machine = platform.machine()
    if machine not in ESBUILD_PACKAGES:
        raise SystemExit(f"build: no pinned esbuild for {machine} (ESBUILD_PACKAGES)")
    name, integrity = ESBUILD_PACKAGES[machine]
    binary = CACHE / f"esbuild-{name}-{ESBUILD_VERSION}"
    if binary.exists():
        return binary
    CACHE.mkdir(exist_ok=True)
    tarball = CACHE / f"esbuild-{name}-{ESBUILD_VERSION}.tgz"
    pinned_tarball(f"@esbuild/{name}@{ESBUILD_VERSION}", tarball, integrity)
    with tarfile.open(tarball) as tar:
        data = tar.extractfile("package/bin/esbuild")
        assert data is not None
        partial = binary.with_suffix(".part")
        partial.write_bytes(data.read())
    os.chmod(partial, 0o755)
    partial.rename(binary)
    return binary


def fetch_pyscript() -> Path:
    """Unpack @pyscript/core's dist/ (no source maps) and licence into .build/ once."""
    target = CACHE / f"pyscript-{PYSCRIPT_VERSION}"
    if (target / ".complete").exists():
        return target
    CACHE.mkdir(exist_ok=True)
    tarball = CACHE / f"pyscript-core-{PYSCRIPT_VERSION}.tgz"
    pinned_tarball(f"@pyscript/core@{PYSCRIPT_VERSION}", tarball, PYSCRIPT_INTEGRITY)
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            name = member.name.removeprefix("package/")
            keep = name == "LICENSE" or (
                name.startswith("dist/") and "/" not in name[5:] and not name.endswith(".map")
            )
            data = tar.extractfile(member) if member.isfile() and keep else None
            if data is not None:
                (target / name.removeprefix("dist/")).write_bytes(data.read())
    (target / ".complete").write_text(PYSCRIPT_VERSION)
    return target


def build_wheel() -> tuple[str, bytes]:
    """A deterministic py3-none-any wheel of the browser side of ``cwmn_web``."""
    dist_info = f"cwmn_web-{__version__}.dist-info"
    needed = needed_by(BROWSER_ENTRIES)
    files = [
        (path.relative_to(ROOT).as_posix(), path.read_bytes())
        for path in sorted(PACKAGE.rglob("*.py"))
        if module_name(path) in needed
    ]
    metadata = (
        f"Metadata-Version: 2.1\nName: cwmn_web\nVersion: {__version__}\n"
        "Summary: cwmn_web browser side (Pyodide)\n"
    ).encode()
    wheel = (
        b"Wheel-Version: 1.0\nGenerator: cwmn_web build.py\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n"
    )
    files += [(f"{dist_info}/METADATA", metadata), (f"{dist_info}/WHEEL", wheel)]
    record = []
    for name, data in files:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            info = zipfile.ZipInfo(name, ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return f"cwmn_web-{__version__}-py3-none-any.whl", buffer.getvalue()


def lock_file(original: dict[str, object], wheel_name: str, wheel: bytes) -> bytes:
    """Pyodide's lock with only the packages we ship, each with its real sha256."""
    entry = {
        "name": "cwmn-web",
        "version": __version__,
        "file_name": wheel_name,
        "install_dir": "site",
        "sha256": hashlib.sha256(wheel).hexdigest(),
        "package_type": "package",
        "imports": ["cwmn_web"],
        "depends": [],
        "unvendored_tests": False,
    }
    lock = {"info": original["info"], "packages": {"cwmn-web": entry}}
    return (json.dumps(lock, indent=1, sort_keys=True) + "\n").encode()


def make_snapshot(pyodide_dir: Path, wheel_path: Path) -> bytes:
    """The memory snapshot for this wheel and Pyodide, made once per input (cached in .build)."""
    key = hashlib.sha256()
    for part in (PYODIDE_VERSION.encode(), SNAPSHOT_JS.encode(), wheel_path.read_bytes()):
        key.update(hashlib.sha256(part).digest())
    cached = CACHE / f"snapshot-{key.hexdigest()[:24]}.bin"
    if not cached.exists():
        log("making the Python memory snapshot (Node)")
        for old in CACHE.glob("snapshot-*.bin"):
            old.unlink()
        partial = cached.with_suffix(".part")
        node = ["node", "--input-type=module", "-e", SNAPSHOT_JS]
        args = [f"{pyodide_dir}/", str(wheel_path), str(partial)]
        subprocess.run([*node, "--", *args], check=True)
        partial.rename(cached)
    return cached.read_bytes()


def snapshot_parts(snapshot: bytes) -> list[tuple[int, bytes]]:
    """``(offset, bytes)`` parts of at most SNAPSHOT_PART bytes covering every SNAPSHOT_CHUNK
    that is not all zeros; the rest (13 of 31 MB: the heap's free space) is never sent, as
    the worker's fresh array is zeros already."""
    parts: list[tuple[int, bytes]] = []
    start = end = 0
    for offset in range(0, len(snapshot), SNAPSHOT_CHUNK):
        chunk = snapshot[offset : offset + SNAPSHOT_CHUNK]
        if chunk.strip(b"\0"):
            if end == offset and end - start < SNAPSHOT_PART:
                end += len(chunk)
                continue
            if end > start:
                parts.append((start, snapshot[start:end]))
            start, end = offset, offset + len(chunk)
    if end > start:
        parts.append((start, snapshot[start:end]))
    return parts


def write_snapshot(out: Path, snapshot: bytes) -> dict[str, Any]:
    """Write the snapshot's parts (``cwmn-web-N.snapshot``); what worker.mjs must find."""
    parts = []
    for index, (offset, data) in enumerate(snapshot_parts(snapshot)):
        name = f"cwmn-web-{index}.snapshot"
        write_if_changed(out / name, data)
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        part = {"file": name, "offset": offset, "bytes": len(data), "integrity": f"sha256-{digest}"}
        parts.append(part)
    names = {part["file"] for part in parts}
    for old in out.glob("cwmn-web-*.snapshot*"):
        if old.name.removesuffix(".gz") not in names:
            old.unlink()
    return {"bytes": len(snapshot), "parts": parts}


def write_constants() -> None:
    """The JS copies of the shared constants (static/dist/constants.mjs and .js)."""
    write_if_changed(CONSTANTS_MJS, constants.js_module().encode())
    write_if_changed(CONSTANTS_JS, constants.js_script().encode())


_IMPORT = re.compile(r"^import \{([^}]*)\} from '(\.{1,2}/[^']+)';\n", re.MULTILINE)
_EXPORT = re.compile(
    r"^export (?:async function\*? |function\*? |class |const )(\w+)", re.MULTILINE
)
_OTHER = re.compile(r"^(?:import|export)\b", re.MULTILINE)


def bundle(entry: Path) -> str:
    """``entry`` (an ES module) with its local imports inlined: each imported module, once,
    in a function scope before its first importer, its exports bound by name. Only
    ``import { a, b as c } from './x.mjs'`` and ``export function|class|const`` are
    understood (no ``export let``: a bound copy is not live); anything else stops the build."""
    order: list[Path] = []

    def visit(path: Path, seen: tuple[Path, ...]) -> None:
        if path in seen:
            raise SystemExit(f"bundle: import cycle through {path}")
        if path in order:
            return
        for _, spec in _IMPORT.findall(path.read_text()):
            visit((path.parent / spec).resolve(), (*seen, path))
        order.append(path)

    visit(entry.resolve(), ())
    names = {path: "__" + re.sub(r"\W", "_", path.stem) + f"_{i}" for i, path in enumerate(order)}

    def imports(path: Path, source: str) -> str:
        def bind(match: re.Match[str]) -> str:
            fields = ", ".join(
                " ".join(name.split()).replace(" as ", ": ")
                for name in match.group(1).split(",")
                if name.strip()
            )
            return f"const {{ {fields} }} = {names[(path.parent / match.group(2)).resolve()]};\n"

        return _IMPORT.sub(bind, source)

    parts = []
    for path in order[:-1]:
        source = path.read_text()
        exported = _EXPORT.findall(source)
        body = _EXPORT.sub(lambda m: m.group(0).removeprefix("export "), imports(path, source))
        if _OTHER.search(body):
            raise SystemExit(f"bundle: {path}: an import or export bundle() does not understand")
        parts.append(
            f"// {path.relative_to(ROOT)}\nconst {names[path]} = (() => {{\n{body}"
            f"return {{ {', '.join(exported)} }};\n}})();\n"
        )
    source = imports(order[-1], order[-1].read_text())
    if _IMPORT.search(source) or re.search(r"^import\b", source, re.MULTILINE):
        raise SystemExit(f"bundle: {entry}: an import bundle() does not understand")
    return "".join(parts) + source


def made_stub(build_id: str, tables: str, source: str | None = None) -> str:
    """``static/cwmn.js`` (or ``source``, a test's variant of it) with its tables (JSON),
    build id and resume key filled in, minified: every page view loads it."""
    stub = source if source is not None else (ROOT / "static" / "cwmn.js").read_text()
    stub = stub.replace("__CWMN_TABLES__", tables).replace("__CWMN_BUILD__", build_id)
    stub = stub.replace("__CWMN_RESUME_KEY__", json.dumps(constants.RESUME_KEY))
    # ES2015 syntax out (arrow functions): browsers without it lack WebAssembly too, and the
    # stub still tells those it cannot run (docs/DESIGN.md, "The stub").
    cmd = [str(fetch_esbuild()), "--minify", "--target=es2015", "--legal-comments=none"]
    out = subprocess.run(cmd, input=stub, capture_output=True, text=True, check=True)
    return out.stdout


def gzip_beside(path: Path) -> None:
    target = path.with_name(path.name + ".gz")
    if target.exists() and target.stat().st_mtime >= path.stat().st_mtime:
        return
    target.write_bytes(gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))


def build() -> str:
    pyodide = fetch_pyodide()
    out = ASSETS / "pyodide"
    out.mkdir(parents=True, exist_ok=True)
    for name in PYODIDE_FILES:
        src, dst = pyodide / name, out / name
        if not dst.exists() or dst.stat().st_size != src.stat().st_size:
            shutil.copyfile(src, dst)
    for src in sorted(fetch_pyscript().iterdir()):
        if src.name != ".complete":
            write_if_changed(ASSETS / "pyscript" / src.name, src.read_bytes())
    wheel_name, wheel = build_wheel()
    for old in out.glob("cwmn_web-*.whl*"):
        if old.name not in (wheel_name, wheel_name + ".gz"):
            old.unlink()
    if write_if_changed(out / wheel_name, wheel):
        log(f"wrote {wheel_name} ({len(wheel)} bytes)")
    original = json.loads((pyodide / "pyodide-lock.json").read_text())
    write_if_changed(out / "pyodide-lock.json", lock_file(original, wheel_name, wheel))
    snapshot = make_snapshot(out, out / wheel_name)
    listed = write_snapshot(out, snapshot)
    worker = (ROOT / "static" / "worker.mjs").read_text()
    worker = worker.replace("__CWMN_SNAPSHOT__", json.dumps(listed))
    write_if_changed(ASSETS / "worker.mjs", worker.encode())
    write_constants()
    for module in PAGE_MODULES:
        write_if_changed(ASSETS / module, bundle(ROOT / "static" / module).encode())

    digest = hashlib.sha256()
    for path in sorted(p for p in ASSETS.rglob("*") if p.is_file() and p.suffix != ".gz"):
        digest.update(path.relative_to(ASSETS).as_posix().encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    tables = json.dumps(stub_tables(), separators=(",", ":"))
    digest.update(tables.encode())
    digest.update((ROOT / "static" / "cwmn.js").read_bytes())
    for name in VIEWER_FILES:  # served from /static with ?v=BUILD: a change needs a new id
        digest.update((ROOT / "static" / name).read_bytes())
    digest.update(CONSTANTS_JS.read_bytes())  # the viewer's too
    build_id = digest.hexdigest()[:16]

    stub = made_stub(build_id, tables)
    write_if_changed(DIST / "cwmn.js", stub.encode())
    write_if_changed(DIST / "BUILD", (build_id + "\n").encode())
    write_if_changed(DIST / "cwmn.d.ts", declarations().encode())
    for path in [DIST / "cwmn.js", *ASSETS.rglob("*")]:
        if path.is_file() and path.suffix in GZIP_SUFFIXES:
            gzip_beside(path)
    stub_gz = len(gzip.compress(stub.encode(), 9))
    log(f"build {build_id}: stub {len(stub)} bytes, {stub_gz} gzipped")
    log(f"snapshot {len(snapshot)} bytes in {len(listed['parts'])} parts")
    return build_id


if __name__ == "__main__":
    if sys.argv[1:] == ["constants"]:  # make lint: what the JS type check reads, no download
        write_constants()
        write_if_changed(DIST / "cwmn.d.ts", declarations().encode())
    else:
        build()
