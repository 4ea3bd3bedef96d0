"""``GET /docs/api``: the API reference (:mod:`.reference`) as one HTML page, no scripts."""

from __future__ import annotations

import html
import re

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from .reference import Code, Heading, Para, Table, document

__all__ = ["ReferencePage", "render_html"]

CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 72rem; margin: 2rem auto;
       padding: 0 1rem; color: #1d1d1f; }
code, pre { font: 13px/1.45 ui-monospace, monospace; background: #f4f4f6; }
code { padding: 0 .2em; border-radius: 3px; }
pre { padding: .6rem .8rem; overflow-x: auto; border-radius: 4px; }
pre code { padding: 0; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ddd; padding: .3rem .5rem; text-align: left; vertical-align: top; }
nav li { display: inline; margin-right: 1rem; }
"""
_CODE = re.compile(r"`([^`]+)`")


def _inline(text: str) -> str:
    return _CODE.sub(r"<code>\1</code>", html.escape(text, quote=False))


def _anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def render_html(blocks: list[Heading | Para | Table | Code] | None = None) -> str:
    """A standalone HTML page, every value escaped."""
    blocks = document() if blocks is None else blocks
    title = next((b.text for b in blocks if isinstance(b, Heading)), "API")
    sections = [b.text for b in blocks if isinstance(b, Heading) and b.level == 2]
    nav = "".join(f'<li><a href="#{_anchor(t)}">{html.escape(t)}</a></li>' for t in sections)
    out = [
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
    ]
    for block in blocks:
        if isinstance(block, Heading):
            level = block.level
            out.append(f'<h{level} id="{_anchor(block.text)}">{_inline(block.text)}</h{level}>')
            if level == 1:
                out.append(f"<nav><ul>{nav}</ul></nav>")
        elif isinstance(block, Para):
            out.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Code):
            out.append(f"<pre><code>{html.escape(block.text, quote=False)}</code></pre>")
        else:
            head = "".join(f"<th>{_inline(c)}</th>" for c in block.head)
            rows = "".join(
                "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>"
                for row in block.rows
            )
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    out.append("</body></html>\n")
    return "\n".join(out)


class ReferencePage:
    """Renders once, on the first request."""

    def __init__(self) -> None:
        self._html: str | None = None

    async def page(self, request: Request) -> Response:
        if self._html is None:
            self._html = render_html()
        headers = {"Content-Security-Policy": CSP, "Cache-Control": "no-cache"}
        return HTMLResponse(self._html, headers=headers)
