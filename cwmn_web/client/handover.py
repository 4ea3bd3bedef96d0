"""The capture a page started before Python was ready, handed over when the session resumes.

On the site's next page of a session the stub starts capturing at ``DOMContentLoaded`` with
the masking rules the previous page kept in the tab's resume entry (docs/DESIGN.md, "Page
changes"), and queues the raw frames. The core holds them until the session is resumed, then
adopts them (they become the page's first snapshot and changes) if the page captured with
exactly the rules the core would start now and host privacy is off; otherwise it drops them
unsent and restarts (or stops) capture. No I/O here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_HELD", "EarlyCapture"]

#: Raw frames held before the session is back; past this, a fresh snapshot is cheaper.
MAX_HELD = 5000

Frame = tuple[str, dict[str, Any], Any]


def _rules(config: Any) -> dict[str, list[str]] | None:
    """``{mask, block}`` as lists of strings, or None if ``config`` is not such a config."""
    if not isinstance(config, Mapping):
        return None
    rules: dict[str, list[str]] = {}
    for key in ("mask", "block"):
        value = config.get(key)
        if not isinstance(value, list | tuple) or not all(isinstance(s, str) for s in value):
            return None
        rules[key] = list(value)
    return rules


class EarlyCapture:
    """``pending`` (frames held) → ``adopted`` (frames go to the session) or ``dropped``;
    ``none`` when the page started no early capture (or its config is not valid)."""

    def __init__(self, config: Any = None) -> None:
        self.config = _rules(config)
        self.status = "pending" if self.config is not None else "none"
        self.frames: list[Frame] = []

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    @property
    def dropped(self) -> bool:
        return self.status == "dropped"

    @property
    def adopted(self) -> bool:
        return self.status == "adopted"

    def hold(self, kind: str, raw: dict[str, Any], t: Any) -> None:
        """Keep a frame of the early capture until the session is resumed."""
        if not self.pending:
            return
        if len(self.frames) >= MAX_HELD:
            self.drop()
            return
        self.frames.append((kind, raw, t))

    def adopt(self, wanted: Mapping[str, Any] | None) -> list[Frame] | None:
        """The held frames if the page captured with the rules ``wanted`` (None: capture must
        not run, e.g. host privacy is on); else drop them and answer None."""
        if not self.pending or wanted is None or _rules(wanted) != self.config:
            self.drop()
            return None
        frames, self.frames = self.frames, []
        self.status = "adopted"
        return frames

    def fail(self) -> bool:
        """The early capture did not start (its module failed to load, or it threw): forget
        it; True if the session had adopted it already (so capture must start afresh)."""
        was_adopted = self.adopted
        self.frames = []
        if self.status != "none":
            self.status = "dropped"
        return was_adopted

    def drop(self) -> None:
        """Forget the held frames; later frames of the early capture are ignored."""
        self.frames = []
        if self.pending:
            self.status = "dropped"
