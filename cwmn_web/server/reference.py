"""The API reference (``docs/API.md``, ``GET /docs/api``) made from the tables that also build
the stub, ``cwmn.d.ts`` and the parameter checks, so it cannot drift from them.

``python -m cwmn_web.server.reference`` rewrites ``docs/API.md``; ``--check`` fails when the
committed file differs. The document is a list of blocks, rendered as Markdown here and as
HTML by :mod:`.reference_page`. No I/O but in :func:`main`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from ..client.events import EVENTS
from ..client.spec import FUNCTIONS, VIEW_KEYS, FunctionSpec
from ..client.states import TRANSITIONS, State
from ..client.typescript import SIGNATURES, declarations
from ..client.validation import MAX_EMAIL, MAX_MESSAGE, MAX_NAME
from ..errors import CODES

__all__ = ["API_MD", "Code", "Heading", "Para", "Table", "document", "main", "markdown"]

API_MD = Path(__file__).resolve().parents[2] / "docs" / "API.md"
COMMAND = "python -m cwmn_web.server.reference"


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Para:
    """A paragraph; text in backticks is code."""

    text: str


@dataclass(frozen=True)
class Table:
    head: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Code:
    text: str
    lang: str = "ts"


Block = Heading | Para | Table | Code


def _states(states: frozenset[State]) -> str:
    if states == frozenset(State):
        return "any"
    return ", ".join(f"`{s.value}`" for s in State if s in states)


def _doc(spec: FunctionSpec) -> str:
    """What the function does; an extension says so (docs/CONTROL.md)."""
    return f"*Extension.* {spec.doc}" if spec.extension else spec.doc


def _functions() -> list[Block]:
    blocks: list[Block] = [
        Heading(2, "Functions"),
        Para(
            "Functions that return a Promise reject with a `CwmnError` (see Errors); calling one "
            "outside its states rejects with `invalid_state`, naming the states it is valid in. "
            "The synchronous getters answer at once from the page (no round trip to Python) "
            "and throw `invalid_state` the same way."
        ),
        Table(
            ("function", "returns", "valid in", "what it does"),
            tuple(
                (
                    f"`CwmnAPI.{path}`",
                    f"`{SIGNATURES[path].rsplit('): ', 1)[1]}`",
                    _states(spec.states),
                    _doc(spec),
                )
                for path, spec in FUNCTIONS.items()
            ),
        ),
    ]
    namespace = None
    for path, spec in FUNCTIONS.items():
        space = path.rpartition(".")[0] or "CwmnAPI"
        if space != namespace:
            namespace = space
            title = "CwmnAPI" if space == "CwmnAPI" else f"CwmnAPI.{space}"
            blocks.append(Heading(3, title))
        blocks.append(Code(f"CwmnAPI.{path}{SIGNATURES[path]}"))
        facts = [_doc(spec), f"Valid in: {_states(spec.states)}."]
        if spec.params:
            facts.append(f"Parameters: `{spec.params}`.")
        if path in VIEW_KEYS:
            facts.append("Answered by the page at once.")
        blocks.append(Para(" ".join(facts)))
    return blocks


def _events() -> list[Block]:
    rows = []
    for name, spec in EVENTS.items():
        args = ", ".join(f"{arg}: {kind}" for arg, kind in spec.args)
        rows.append((f"`{name}`", f"`({args}) => void`", _states(spec.states), spec.doc))
    return [
        Heading(2, "Events"),
        Para(
            "`CwmnAPI.on(name, callback)`, `once` (returns a function that deregisters) and "
            "`off`. Only `init` may be subscribed before `init` has fired; subscribe to the "
            "others inside an `init` callback. A callback runs with the state the event "
            "fired in (inside `end session` the state is still `in session`)."
        ),
        Table(("event", "callback", "fires in", "meaning"), tuple(rows)),
    ]


def _states_section() -> list[Block]:
    rows = []
    for state in State:
        for trigger, transition in TRANSITIONS[state].items():
            events = ", ".join(f"`{e}`" for e in transition.events)
            rows.append((f"`{state.value}`", trigger.value, f"`{transition.target}`", events))
    return [
        Heading(2, "States"),
        Para(
            "`CwmnAPI.getCurrentState()` is one of: "
            + ", ".join(f"`{s.value}`" for s in State)
            + ". Every change of state, what causes it and the events it fires, in order:"
        ),
        Table(("from", "when", "to", "events"), tuple(rows)),
    ]


def _errors() -> list[Block]:
    return [
        Heading(2, "Errors"),
        Para(
            "Rejections are `Error` objects with `name` `CwmnError`, a stable `code` and a "
            "`message` that says what to fix. Every code:"
        ),
        Table(("code", "meaning"), tuple((f"`{c}`", m) for c, m in CODES.items())),
        Para(
            f"Limits checked before anything is sent: names at most {MAX_NAME} characters, "
            f"email addresses {MAX_EMAIL}, messages {MAX_MESSAGE} (line breaks and tabs "
            "allowed); names and addresses may not contain line breaks or control characters; "
            "unknown keys in a parameter object are `invalid_params`."
        ),
    ]


def _types() -> list[Block]:
    text = declarations()
    start = text.index("export type CwmnState")
    end = text.index("export interface CwmnEvents")
    return [
        Heading(2, "Types"),
        Para(
            "From `SERVER/cwmn.d.ts`, which declares `window.CwmnAPI` with these types, every "
            "event's callback and every function's signature:"
        ),
        Code(text[start:end].strip()),
    ]


def document() -> list[Block]:
    """The whole reference."""
    return [
        Heading(1, "CwmnAPI reference"),
        Para(
            f"Generated by `{COMMAND}` from `cwmn_web/client/spec.py`, `events.py`, "
            "`states.py`, `typescript.py` and `cwmn_web/errors.py`, the tables that also build "
            "the embed stub, `cwmn.d.ts` and the parameter checks; do not edit. A running "
            "server shows it at `/docs/api`."
        ),
        *_functions(),
        *_events(),
        *_states_section(),
        *_errors(),
        *_types(),
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(blocks: list[Block] | None = None) -> str:
    """The reference as GitHub-flavoured Markdown."""
    out: list[str] = []
    for block in document() if blocks is None else blocks:
        if isinstance(block, Heading):
            out.append("#" * block.level + " " + block.text)
        elif isinstance(block, Para):
            out.append(block.text)
        elif isinstance(block, Code):
            out.append(f"```{block.lang}\n{block.text}\n```")
        else:
            lines = [
                "| " + " | ".join(block.head) + " |",
                "|" + "---|" * len(block.head),
                *("| " + " | ".join(_cell(c) for c in row) + " |" for row in block.rows),
            ]
            out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description="Write docs/API.md.")
    parser.add_argument("path", nargs="?", type=Path, default=API_MD)
    parser.add_argument("--check", action="store_true", help="fail if the file differs")
    args = parser.parse_args(argv)
    text = markdown()
    current = args.path.read_text() if args.path.exists() else None
    if args.check:
        if current != text:
            print(f"{args.path} is out of date: run `{COMMAND}`", file=sys.stderr)
            return 1
        return 0
    if current != text:
        args.path.write_text(text)
        print(f"wrote {args.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
