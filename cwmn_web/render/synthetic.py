"""Synthetic recordings (the on-disk format the server writes) for tests and the bench.

The page is a white page with one big coloured block (node :data:`BLOCK`, at
:data:`BLOCK_BOX`) and a line of text (node :data:`TEXT`); :func:`block_change` recolours the
block and rewrites the text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = [
    "BLOCK",
    "BLOCK_BOX",
    "TEXT",
    "RecordingWriter",
    "block_change",
    "block_page",
]

BLOCK, TEXT = 6, 8
#: The block's box in page (and, at a 1280x720 viewport, video) pixels: x, y, w, h.
BLOCK_BOX = (40, 40, 480, 320)
CSS = (
    "html,body{margin:0;background:#ffffff;font:14px/1.4 sans-serif}"
    f"#block{{position:absolute;left:{BLOCK_BOX[0]}px;top:{BLOCK_BOX[1]}px;"
    f"width:{BLOCK_BOX[2]}px;height:{BLOCK_BOX[3]}px}}"
    "#label{position:absolute;left:600px;top:60px;margin:0;font:24px sans-serif;color:#111}"
)


def block_page(
    color: str, text: str = "Replay", viewport: tuple[int, int] = (1280, 720), filler: int = 0
) -> dict[str, Any]:
    """Snapshot data (wire format) of the block page; ``filler`` paragraphs of text below the
    block make it heavier to lay out and paint (ids from 100)."""
    nodes: list[list[Any]] = [
        [1, 0, 1, "html", []],
        [2, 1, 1, "head", []],
        [3, 2, 1, "style", []],
        [4, 3, 3, CSS],
        [5, 1, 1, "body", []],
        [BLOCK, 5, 1, "div", ["id", "block", "style", f"background:{color}"]],
        [7, 5, 1, "p", ["id", "label"]],
        [TEXT, 7, 3, text],
    ]
    if filler:
        nodes.append([99, 5, 1, "section", ["style", "padding:380px 40px 0;columns:3"]])
    for i in range(filler):
        words = " ".join(f"word{(i * 7 + k) % 97}" for k in range(40))
        nodes += [[100 + 2 * i, 99, 1, "p", []], [101 + 2 * i, 100 + 2 * i, 3, words]]
    return {
        "nodes": nodes,
        "url": "https://shop.example.com/",
        "title": "Synthetic",
        "viewport": list(viewport),
        "scroll": [0, 0],
        "adopted": [],
    }


def block_change(color: str, text: str | None = None) -> dict[str, Any]:
    """Mutations data: the block turns ``color`` (and the text reads ``text``)."""
    data: dict[str, Any] = {"attrs": [[BLOCK, "style", f"background:{color}"]]}
    if text is not None:
        data["texts"] = [[TEXT, text]]
    return data


class RecordingWriter:
    """Appends to a recording directory's ``stream.jsonl`` and ``audio.jsonl``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        (self.directory / "audio").mkdir(parents=True, exist_ok=True)
        self.page = 1

    def _append(self, name: str, record: dict[str, Any]) -> None:
        with (self.directory / name).open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, separators=(",", ":")) + "\n")

    def frame(self, t: float, kind: str, data: dict[str, Any]) -> None:
        """One wire frame at ``t`` (ms epoch); a snapshot after the first starts a new page."""
        if kind == "snapshot" and (self.directory / "stream.jsonl").exists():
            self.page += 1
        self._append("stream.jsonl", {"t": t, "page": self.page, "kind": kind, "data": data})

    def frames(self, frames: list[tuple[float, str, dict[str, Any]]]) -> None:
        """Several ``(t, kind, data)`` frames, written in time order (as captured)."""
        for t, kind, data in sorted(frames, key=lambda f: f[0]):
            self.frame(t, kind, data)

    def privacy(self, t: float, enabled: bool) -> None:
        data = {"enabled": enabled}
        self._append("stream.jsonl", {"t": t, "page": self.page, "kind": "privacy", "data": data})

    def audio(self, segment: str, t0: float, content: bytes, ext: str = "webm") -> Path:
        """A whole narration segment (its chunks already concatenated)."""
        path = self.directory / "audio" / f"{segment}.{ext}"
        path.write_bytes(content)
        mime = "audio/webm;codecs=opus" if ext == "webm" else "audio/ogg;codecs=opus"
        record = {"segment": segment, "t0": t0, "mime": mime, "file": f"audio/{path.name}"}
        self._append("audio.jsonl", record)
        return path
