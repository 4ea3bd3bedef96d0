"""Properties of the viewer's sanitizer (cwmn_web/viewer/sanitize.py): whatever sequence of
frames a host sends, the page a guest's viewer builds from the sanitized frames (modelled by
tests/helpers/mirror_model.py) holds nothing that could run: no script-like elements, no
``on*`` attribute, no ``javascript:``/``data:text/html`` URL, no ``<base>``, no meta refresh,
no CSS ``expression()``/``javascript:`` in a style attribute or a <style>. Profiles:
tests/unit/conftest.py."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cwmn_web.errors import ProtocolError
from cwmn_web.protocol.constants import NODE
from cwmn_web.viewer.sanitize import Sanitizer
from tests.helpers.mirror_model import MirrorModel
from tests.helpers.page_dangers import dangers

ELEMENT, TEXT, COMMENT, SHADOW = NODE.ELEMENT, NODE.TEXT, NODE.COMMENT, NODE.SHADOW

# -- hostile frames ------------------------------------------------------------------------
IDS = st.integers(0, 14)
TAGS = st.sampled_from(
    [
        *["html", "body", "p", "div", "style", "STYLE", "svg:style", "script", "sCrIpt"],
        *["svg:script", "iframe", "form", "a", "img", "link", "meta", "base", "object", "embed"],
        *["animate", "set", "noscript", "template", "math", "foreignObject", "input", "frameset"],
    ]
)
NAMES = st.sampled_from(
    [
        *["href", "HREF", "src", "xlink:href", "action", "formaction", "srcdoc", "style", "onload"],
        *["ONCLICK", "svg:onload", "rel", "http-equiv", "content", "attributeName", "to", "values"],
        *["srcset", "data", "id", "class", "target", "cwmn:css", "cwmn:value", "cwmn:ns"],
        *["cwmn:canvas", "cwmn:block", "name", "type"],
    ]
)
#: Pieces hostile values are made of (split keywords, escapes, comments, control chars).
PIECES = st.sampled_from(
    [
        *["javascript:", "JaVa\tScRiPt:", "java", "script:", "vbscript:", "data:text/html,"],
        *["data:", "data:image/svg+xml,", "data:image/png,", "expression(", "expres", "sion("],
        *["exp/**/", "ression(", "\\65 xpression(", "url(", ")", "behavior:", "-moz-binding"],
        *["/*", "*/", "\\", "\x00", " ", ";", "{", "}", "a", "b{color:red}", "refresh", "import"],
        *["stylesheet", "icon", "onload", "href", "1", "http://x.example/", "alert(1)", "'", '"'],
    ]
)
VALUES = st.lists(PIECES, max_size=5).map("".join)
KINDS = st.sampled_from([ELEMENT, ELEMENT, TEXT, TEXT, COMMENT, SHADOW])


@st.composite
def records(draw: st.DrawFn) -> list[Any]:
    node_id, parent, kind = draw(IDS), draw(IDS), draw(KINDS)
    if kind == ELEMENT:
        attrs: list[str] = []
        for name, value in draw(st.lists(st.tuples(NAMES, VALUES), max_size=3)):
            attrs += [name, value]
        return [node_id, parent, kind, draw(TAGS), attrs]
    if kind == TEXT:
        return [node_id, parent, kind, draw(VALUES)]
    return [node_id, parent, kind, "shadow" if kind == SHADOW else ""]


SNAPSHOTS = st.builds(
    lambda nodes: {"nodes": [[1, 0, ELEMENT, "html", []], *nodes], "viewport": [800, 600]},
    st.lists(records(), max_size=12),
)
MUTATIONS = st.fixed_dictionaries(
    {
        "removes": st.lists(IDS, max_size=3),
        "adds": st.lists(records(), max_size=6),
        "order": st.lists(st.tuples(IDS, st.lists(IDS, max_size=4)).map(list), max_size=3),
        "attrs": st.lists(st.tuples(IDS, NAMES, st.none() | VALUES).map(list), max_size=4),
        "texts": st.lists(st.tuples(IDS, VALUES).map(list), max_size=4),
    }
)
FRAMES = st.lists(
    st.one_of(
        st.tuples(st.just("snapshot"), SNAPSHOTS), st.tuples(st.just("mutations"), MUTATIONS)
    ),
    min_size=1,
    max_size=8,
)


@given(FRAMES)
def test_no_sequence_of_frames_builds_a_page_that_can_run_anything(
    frames: list[tuple[str, dict[str, Any]]],
) -> None:
    sanitizer, model = Sanitizer(), MirrorModel()
    for kind, data in frames:
        try:
            safe = sanitizer.frame(kind, data)
        except ProtocolError:
            continue  # refused whole: nothing reaches the viewer
        model.apply(kind, safe)
        assert dangers(model.doc) == [], (kind, data, safe)


@given(st.lists(records(), max_size=15))
def test_no_snapshot_keeps_anything_that_can_run(nodes: list[list[Any]]) -> None:
    model = MirrorModel()
    model.apply("snapshot", Sanitizer().frame("snapshot", {"nodes": nodes}))
    assert dangers(model.doc) == []


def test_the_checker_sees_each_danger() -> None:
    """Guard: unsanitized, the model builds pages the checker finds dangerous."""
    pages = [
        [[1, 0, 1, "html", []], [2, 1, 1, "script", []]],
        [[1, 0, 1, "html", []], [2, 1, 1, "p", ["onclick", "x"]]],
        [[1, 0, 1, "html", []], [2, 1, 1, "a", ["href", "java\tscript:x"]]],
        [
            [1, 0, 1, "html", []],
            [2, 1, 1, "style", []],
            [3, 2, 3, "a{b:expres"],
            [4, 2, 3, "sion(1)}"],
        ],
        [[1, 0, 1, "html", []], [2, 1, 1, "meta", ["http-equiv", "refresh"]]],
        [[1, 0, 1, "html", []], [2, 1, 1, "p", ["style", "x:\\65 xpression(1)"]]],
        [[1, 0, 1, "html", []], [2, 1, 1, "iframe", ["srcdoc", "<b>"]]],
    ]
    for nodes in pages:
        model = MirrorModel()
        model.apply("snapshot", {"nodes": nodes})
        assert dangers(model.doc), nodes


# -- the texts of one <style> --------------------------------------------------------------
TEXT_IDS = st.integers(3, 8)
#: Halves of CSS keywords and what can glue them (comments, escapes).
CSS_PIECES = st.sampled_from(
    [
        *["a{b:", "expres", "sion(", "exp/*", "*/ression(", "url(java", "script:", "\\65 xpres"],
        *["/*", "*/", "}", "\\", "-moz-", "binding"],
    ]
)
CSS_VALUES = st.lists(CSS_PIECES, max_size=3).map("".join)
STYLE_MUTATIONS = st.fixed_dictionaries(
    {
        "removes": st.lists(TEXT_IDS, max_size=1),
        "adds": st.lists(
            st.tuples(TEXT_IDS, st.sampled_from([1, 2, 2]), st.just(TEXT), CSS_VALUES).map(list),
            max_size=3,
        ),
        "order": st.lists(
            st.tuples(st.just(2), st.lists(TEXT_IDS, max_size=4)).map(list), max_size=1
        ),
        "attrs": st.lists(
            st.tuples(st.just(2), st.just("cwmn:css"), CSS_VALUES).map(list), max_size=1
        ),
        "texts": st.lists(st.tuples(TEXT_IDS, CSS_VALUES).map(list), max_size=3),
    }
)


@given(st.lists(CSS_VALUES, max_size=4), st.lists(STYLE_MUTATIONS, max_size=5))
def test_the_texts_of_a_style_never_add_up_to_anything_that_can_run(
    texts: list[str], changes: list[dict[str, Any]]
) -> None:
    """A browser reads a <style> as its texts joined: ``expres`` + ``sion(`` must not pass."""
    nodes = [[1, 0, ELEMENT, "html", []], [2, 1, ELEMENT, "style", []]]
    nodes += [[3 + i, 2, TEXT, text] for i, text in enumerate(texts)]
    sanitizer, model = Sanitizer(), MirrorModel()
    model.apply("snapshot", sanitizer.frame("snapshot", {"nodes": nodes}))
    assert dangers(model.doc) == []
    for data in changes:
        model.apply("mutations", sanitizer.frame("mutations", data))
        assert dangers(model.doc) == [], data
