"""The docs state what the code does: the stub's gzipped size is the built one."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

from build import made_stub
from cwmn_web.client.spec import stub_tables

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: The one form in which the docs state the stub's size: "4007 bytes gzipped".
STUB_SIZE = re.compile(r"\b(\d[\d,]*) bytes gzipped\b")

#: The build id is 16 hex digits that differ per build; gzip's output for the same stub
#: varies by a few bytes with them (4004 to 4010 bytes over 300 random ids, 4007 most
#: often). A documented figure may be off by this much, no more.
ID_NOISE = 8


def built_stub() -> bytes:
    """``static/dist/cwmn.js`` as ``build.py`` makes it from ``static/cwmn.js``."""
    build_file = ROOT / "static" / "dist" / "BUILD"
    build_id = build_file.read_text().strip() if build_file.exists() else "0123456789abcdef"
    return made_stub(build_id, json.dumps(stub_tables(), separators=(",", ":"))).encode()


def stated_sizes() -> list[tuple[str, int]]:
    """Each ``N bytes gzipped`` in the docs, as ("file:line", N)."""
    found = []
    for path in DOCS:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for match in STUB_SIZE.finditer(line):
                where = f"{path.relative_to(ROOT)}:{number}"
                found.append((where, int(match.group(1).replace(",", ""))))
    return found


def test_the_stub_template_is_filled() -> None:
    stub = built_stub()
    assert b"__CWMN_" not in stub
    assert b"CwmnAPI" in stub


def test_the_readme_and_the_design_state_the_stub_size() -> None:
    files = {where.partition(":")[0] for where, _ in stated_sizes()}
    assert {"README.md", "docs/DESIGN.md"} <= files, files


def test_the_documented_stub_size_is_the_built_one() -> None:
    size = len(gzip.compress(built_stub(), compresslevel=9, mtime=0))
    stale = [
        f"{where} says {stated} bytes gzipped; write {size}"
        for where, stated in stated_sizes()
        if abs(stated - size) > ID_NOISE
    ]
    assert not stale, "the stub's size changed:\n" + "\n".join(stale)


def test_no_stub_size_in_another_form() -> None:
    # "under 4 kB gzipped", "3.8 kB gz": a size no test keeps true.
    other = re.compile(r"\bkB gz", re.IGNORECASE)
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in DOCS
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if other.search(line) and re.search(r"stub|tag|cwmn\.js", line)
    ]
    assert not found, "state the stub's size as 'N bytes gzipped':\n" + "\n".join(found)
