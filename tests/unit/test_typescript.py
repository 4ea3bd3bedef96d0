"""cwmn.d.ts: generated from the spec, complete, and valid TypeScript (tsc --strict)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cwmn_web.client.events import EVENTS
from cwmn_web.client.spec import FUNCTIONS
from cwmn_web.client.typescript import SIGNATURES, declarations
from cwmn_web.errors import CODES

ROOT = Path(__file__).parents[2]
TSC = ROOT / "bench" / "node_modules" / ".bin" / "tsc"


def test_signatures_cover_exactly_the_spec() -> None:
    assert set(SIGNATURES) == set(FUNCTIONS)


def test_declarations_name_every_event_code_and_function() -> None:
    text = declarations()
    for name in EVENTS:
        assert f'"{name}": (' in text
    for code in CODES:
        assert f'"{code}"' in text
    for path in FUNCTIONS:
        name = path.rpartition(".")[2]
        assert re.search(rf"\n\s+{re.escape(name)}[<(]", text), path


@pytest.mark.skipif(not TSC.exists(), reason="TypeScript not installed (make test installs it)")
def test_declarations_compile_with_an_integrators_code(tmp_path: Path) -> None:
    (tmp_path / "cwmn.d.ts").write_text(declarations())
    shutil.copy(ROOT / "tests" / "fixtures" / "typescript" / "use.ts", tmp_path / "use.ts")
    result = subprocess.run(
        [str(TSC), "--noEmit", "--strict", "--lib", "es2020,dom", "use.ts", "cwmn.d.ts"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
