"""The host's script animations (cwmn:anim) as a viewer takes them: the shapes the capture
sends pass unchanged; anything that could fetch, run or leave its value is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cwmn_web.viewer.animations import MAX_ANIMATIONS, clean_animations
from cwmn_web.viewer.sanitize import Sanitizer

#: What capture sends for `el.animate([...], {duration: 400, fill: "forwards"})`, finished.
HELD: dict[str, Any] = {
    "k": [
        {"offset": None, "easing": "linear", "composite": "auto", "transform": "none"},
        {
            "offset": None,
            "easing": "linear",
            "composite": "auto",
            "transform": "translateX(550px) scale(0.6)",
            "backgroundColor": "rgb(250, 180, 0)",
        },
    ],
    "t": {
        "delay": 0,
        "endDelay": 0,
        "fill": "forwards",
        "iterationStart": 0,
        "iterations": 1,
        "duration": 400,
        "direction": "normal",
        "easing": "cubic-bezier(0.42, 0, 1, 1)",
    },
    "c": 400,
    "r": 1,
    "p": False,
}


def with_frame(**changes: Any) -> str:
    frame = {**HELD["k"][1], **changes}
    return json.dumps([{**HELD, "k": [HELD["k"][0], frame]}])


def test_what_capture_sends_passes_unchanged() -> None:
    infinite = {**HELD, "t": {**HELD["t"], "iterations": None}, "c": None, "p": True}
    value = json.dumps([HELD, infinite])
    assert json.loads(clean_animations(value) or "") == [HELD, infinite]


@pytest.mark.parametrize(
    "value",
    [
        "url(https://tracker.example/beacon)",
        "URL(x)",
        "image-set('a.png' 1x)",
        "expression(alert(1))",
        "u\\72l(x)",  # an escaped url(
        'a"; background: url(x)',
        "red; background-image: x",
        "javascript:alert(1)",
        "src(x)",
    ],
)
def test_keyframe_values_that_could_fetch_or_run_are_dropped(value: str) -> None:
    clean = json.loads(clean_animations(with_frame(backgroundImage=value)) or "")
    assert "backgroundImage" not in clean[0]["k"][1]
    assert clean[0]["k"][1]["transform"] == "translateX(550px) scale(0.6)"


@pytest.mark.parametrize(
    "value",
    [
        json.dumps({"k": [], "t": {}}),  # not a list
        json.dumps([HELD] * (MAX_ANIMATIONS + 1)),
        json.dumps([{**HELD, "k": "transform"}]),
        json.dumps([{**HELD, "t": {**HELD["t"], "fill": "forwards; x"}}]),
        json.dumps([{**HELD, "t": {**HELD["t"], "easing": "steps(2, url(x))"}}]),
        json.dumps([{**HELD, "t": {**HELD["t"], "duration": "1e999"}}]),
        json.dumps([{**HELD, "c": "now"}]),
        json.dumps([{**HELD, "r": True}]),
        with_frame(**{"on load": "x"}),
        with_frame(transform={"nested": 1}),
        with_frame(transform="x" * 5000),
        '[{"k": [], "t": {}, "c": NaN, "r": 1}]',
        '[{"k": [], "t": {}, "c": Infinity, "r": 1}]',
    ],
)
def test_odd_shapes_are_refused_whole(value: str) -> None:
    assert clean_animations(value) is None


def test_unknown_timing_members_are_left_out() -> None:
    value = json.dumps([{**HELD, "t": {**HELD["t"], "composite": "add", "onfinish": "x"}}])
    assert json.loads(clean_animations(value) or "")[0]["t"] == HELD["t"]


def test_the_sanitizer_takes_them_on_any_element_and_in_changes() -> None:
    sanitizer = Sanitizer()
    value = json.dumps([HELD])
    safe = sanitizer.frame("snapshot", {"nodes": [[1, 0, 1, "div", ["cwmn:anim", value]]]})
    assert json.loads(safe["nodes"][0][4][1]) == [HELD]
    change = {"attrs": [[1, "cwmn:anim", with_frame(color="url(x)")], [1, "cwmn:anim", "{"]]}
    safe = sanitizer.frame("mutations", change)
    assert [name for _, name, _ in safe["attrs"]] == ["cwmn:anim"]
    assert "color" not in safe["attrs"][0][2]
