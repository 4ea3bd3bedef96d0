"""The server wheel carries the static files the server serves (hatchling build hook).

``static/`` (the pages, the viewer, and ``static/dist``, the browser build that ``build.py``
writes and git ignores) goes into the wheel as ``cwmn_web/static``, where an installed
server finds it (``config.py``: ``DEFAULT_STATIC``). A wheel without the browser build
could not serve ``/cwmn.js``, so building one is refused with the fix. An editable install
(``pip install -e``, ``make``'s venv) reads the checkout's ``static/`` and needs neither.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

#: What a wheel's ``static/dist`` must hold: what the server reads at start and serves first.
BUILT = ("BUILD", "cwmn.js", "cwmn.d.ts", "constants.js", "assets")


class StaticFilesHook(BuildHookInterface):  # type: ignore[type-arg]
    """Adds ``static/`` to a standard wheel as ``cwmn_web/static``."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        static = Path(self.root) / "static"
        missing = [name for name in BUILT if not (static / "dist" / name).exists()]
        if missing:
            raise RuntimeError(
                f"{static / 'dist'} lacks {', '.join(missing)}: the wheel would serve no "
                "browser build. Run `python build.py` (or `make wheel`, which runs it) first"
            )
        build_data["force_include"][str(static)] = "cwmn_web/static"
