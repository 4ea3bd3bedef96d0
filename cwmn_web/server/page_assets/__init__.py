"""The page-asset store (docs/FIDELITY.md, "The asset store"): what only the visitor's
browser can load, uploaded once by the host's worker, read by guests and the renderer.

:mod:`.types` tells a file's type from its bytes, :mod:`.tokens` makes and checks the
read/upload tokens, :mod:`.core` holds every decision (no I/O), :mod:`.waiters` wakes
readers waiting for an upload, :mod:`.routes` is the HTTP edge; the rows are in
``server/db/page_assets.py``."""
