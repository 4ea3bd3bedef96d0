"""What each <style> of a guest's page holds as CSS, for the sanitizer (sanitize.py).

A browser reads a <style> as the concatenation of its text children, so two texts that are
each clean (``a{b:expres`` and ``sion(1)}``, or ``exp/*`` and ``*/ression(``) can make a
dangerous one together. A style with one text keeps it as a text child, cleaned. Once a style
has a second piece of text it is *combined*: its texts no longer go to the viewer as nodes;
the sanitizer sends the style's whole CSS instead, cleaned as one text, in ``cwmn:css`` (which
the viewer sets as the style's only child, after every other change of the frame). Pure
Python, no I/O here.
"""

from __future__ import annotations

__all__ = ["CSS_ONLY", "StyleTexts"]

CSS_ONLY = -1
"""The id of a style's text set through ``cwmn:css`` (the viewer's own node, no id)."""


class StyleTexts:
    """The texts of every <style> the sanitizer let through, in the viewer's order."""

    def __init__(self) -> None:
        self._style_of: dict[int, int] = {}  # text id → its style's id
        self._pieces: dict[int, list[tuple[int, str]]] = {}  # style id → [(text id, text)]
        self._combined: set[int] = set()
        self._touched: set[int] = set()  # combined styles changed in this frame
        self._css_set: dict[int, str] = {}  # cwmn:css given in this frame (it wins)

    def reset(self) -> None:
        """Forget every style (a new snapshot)."""
        for table in (self._style_of, self._pieces, self._css_set):
            table.clear()
        self._combined.clear()
        self._touched.clear()

    def style_of(self, text_id: int) -> int | None:
        """The style text ``text_id`` was last added to, if it is still there."""
        return self._style_of.get(text_id)

    def combined(self, style_id: int) -> bool:
        return style_id in self._combined

    # -- changes -----------------------------------------------------------------------------
    def forget(self, node_id: int) -> None:
        """``node_id`` is removed or re-created: as a text it leaves its style; as a style,
        what it held is gone."""
        style = self._style_of.pop(node_id, None)
        if style is not None:
            pieces = self._pieces.get(style, [])
            self._pieces[style] = [piece for piece in pieces if piece[0] != node_id]
            self._touch(style)
        if node_id in self._pieces:
            for text_id in [t for t, s in self._style_of.items() if s == node_id]:
                del self._style_of[text_id]
            del self._pieces[node_id]
            self._combined.discard(node_id)
            self._touched.discard(node_id)
            self._css_set.pop(node_id, None)

    def add(self, text_id: int, style_id: int, text: str) -> bool:
        """A text added under a style; True if it goes to the viewer as a node (the style's
        only piece), False if the style is combined (its ``cwmn:css`` carries it)."""
        self.forget(text_id)
        pieces = self._pieces.setdefault(style_id, [])
        pieces.append((text_id, text))
        self._style_of[text_id] = style_id
        if len(pieces) > 1:
            self._combined.add(style_id)
        self._touch(style_id)
        return style_id not in self._combined

    def change(self, text_id: int, text: str) -> bool:
        """A text of a style changed; True if the change goes to the viewer as such."""
        style = self._style_of[text_id]
        pieces = self._pieces.get(style, [])
        self._pieces[style] = [(t, text if t == text_id else old) for t, old in pieces]
        self._touch(style)
        return style not in self._combined

    def order(self, style_id: int, children: list[int]) -> None:
        """The viewer's ``order`` semantics: the listed texts move last, in that order."""
        pieces = self._pieces.get(style_id, [])
        listed = [c for c in children if self._style_of.get(c) == style_id]
        moved = [p for c in listed for p in pieces if p[0] == c]
        self._pieces[style_id] = [p for p in pieces if p[0] not in listed] + moved
        self._touch(style_id)

    def set_css(self, style_id: int, css: str) -> None:
        """``cwmn:css`` given for a style: it replaces every child (after the frame's other
        changes), so it is all the style holds at the end of the frame."""
        self._css_set[style_id] = css

    def _touch(self, style_id: int) -> None:
        if style_id in self._combined:
            self._touched.add(style_id)

    # -- the end of a frame --------------------------------------------------------------------
    def settle(self) -> dict[int, str]:
        """The end of a frame: the whole (uncleaned) CSS of each combined style it changed,
        to send as ``cwmn:css``; ``cwmn:css`` given in the frame holds as given."""
        for style, css in self._css_set.items():
            for text_id in [t for t, s in self._style_of.items() if s == style]:
                del self._style_of[text_id]
            self._pieces[style] = [(CSS_ONLY, css)]
            self._combined.discard(style)
            self._touched.discard(style)
        self._css_set.clear()
        out = {
            style: "".join(text for _, text in self._pieces.get(style, []))
            for style in sorted(self._touched)
            if style in self._combined
        }
        self._touched.clear()
        return out
