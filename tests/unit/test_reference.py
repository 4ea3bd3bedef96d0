"""docs/API.md: generated from the spec tables, complete, and committed up to date."""

from __future__ import annotations

from pathlib import Path

from cwmn_web.client.events import EVENTS
from cwmn_web.client.spec import FUNCTIONS
from cwmn_web.client.states import State
from cwmn_web.errors import CODES
from cwmn_web.server.reference import API_MD, COMMAND, Para, Table, main, markdown


def test_committed_reference_is_up_to_date() -> None:
    assert API_MD.read_text() == markdown(), f"docs/API.md is out of date: run `{COMMAND}`"


def test_reference_names_every_function_event_state_and_code() -> None:
    text = markdown()
    for path in FUNCTIONS:
        assert f"| `CwmnAPI.{path}` |" in text and f"\nCwmnAPI.{path}" in text, path
    for name in EVENTS:
        assert f"| `{name}` |" in text, name
    for state in State:
        assert f"`{state.value}`" in text, state
    for code in CODES:
        assert f"| `{code}` |" in text, code


def test_table_cells_escape_pipes() -> None:
    text = markdown([Table(("a", "b"), (("`x | y`", "z"),)), Para("p")])
    assert text == "| a | b |\n|---|---|\n| `x \\| y` | z |\n\np\n"


def test_check_mode(tmp_path: Path) -> None:
    target = tmp_path / "API.md"
    assert main(["--check", str(target)]) == 1
    assert main([str(target)]) == 0 and target.read_text() == markdown()
    assert main(["--check", str(target)]) == 0
