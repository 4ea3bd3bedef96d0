"""The mirror's wire shapes (cwmn_web/protocol/records.py) are the JSON lists of docs/MIRROR.md."""

from __future__ import annotations

import json

from cwmn_web.client.mirror import MirrorEncoder
from cwmn_web.protocol import records
from cwmn_web.protocol.records import MutationsData
from cwmn_web.viewer.sanitize import Sanitizer


def test_each_record_is_the_documented_list() -> None:
    assert records.element(2, 1, "a", ["href", "/x"]) == [2, 1, 1, "a", ["href", "/x"]]
    assert records.text(3, 2, "hi") == [3, 2, 3, "hi"]
    assert records.comment(4, 2) == [4, 2, 8, ""]
    assert records.shadow(5, 2) == [5, 2, 11, "shadow"]
    assert records.attr_change(2, "title", None) == [2, "title", None]
    assert records.text_change(3, "yo") == [3, "yo"]
    assert records.order_entry(2, [3, 4]) == [2, [3, 4]]


def test_payloads_go_on_the_wire_as_the_same_json() -> None:
    data: MutationsData = {
        "removes": [7],
        "adds": [records.text(8, 2, "new")],
        "order": [records.order_entry(2, [8])],
        "attrs": [records.attr_change(2, "class", "on")],
        "texts": [records.text_change(3, "changed")],
    }
    assert records.wire(data) is data
    text = json.dumps(records.wire(data))
    assert json.loads(text) == {
        "removes": [7],
        "adds": [[8, 2, 3, "new"]],
        "order": [[2, [8]]],
        "attrs": [[2, "class", "on"]],
        "texts": [[3, "changed"]],
    }


def test_what_the_host_encodes_the_viewer_keeps() -> None:
    """Encoder and sanitizer share the shapes: a harmless page passes the sanitizer as is."""
    raw = {
        "url": "https://site.test/a",
        "title": "A",
        "viewport": [800, 600],
        "scroll": [0, 10],
        "adopted": [],
        "nodes": [
            [1, 0, 1, "html", []],
            [2, 1, 1, "p", ["class", "x"]],
            [3, 2, 3, None, 3],
            [4, 2, 8, "secret"],
            [5, 2, 11, "shadow"],
        ],
    }
    encoded = MirrorEncoder().frame("snapshot", raw)
    assert encoded["nodes"][2] == [3, 2, 3, "***"]
    assert encoded["nodes"][3] == [4, 2, 8, ""]
    assert Sanitizer().frame("snapshot", json.loads(json.dumps(encoded))) == encoded
