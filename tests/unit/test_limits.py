"""cwmn_web.server.live.limits and the codec's cost bound: values in, decisions out."""

from __future__ import annotations

import gc
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cwmn_web.errors import ProtocolError
from cwmn_web.protocol import codec
from cwmn_web.protocol.messages import Message, MirrorFrame
from cwmn_web.server.live.limits import Tally, TokenBucket
from cwmn_web.server.peer import decode_heavy
from cwmn_web.server.rooms import RoomLog, held


def test_a_bucket_lets_a_burst_through_then_paces() -> None:
    bucket = TokenBucket(rate=10, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.1)
    assert bucket.take(0.0) == pytest.approx(0.2)  # each waits after the last
    assert bucket.take(10.0) == 0.0  # refilled, never above the burst
    assert [bucket.take(10.0) for _ in range(3)][-1] == pytest.approx(0.1)


def test_a_tally_counts_within_a_limit_and_forgets_at_zero() -> None:
    tally: Tally[str] = Tally()
    assert tally.take("a", 2) and tally.take("a", 2)
    assert not tally.take("a", 2) and tally["a"] == 2
    assert tally.take("b", 2)
    tally.give("a")
    tally.give("a")
    assert (tally["a"], len(tally)) == (0, 1)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=30,
)


def values(obj: object) -> int:
    if isinstance(obj, list):
        return 1 + sum(values(v) for v in obj)
    if isinstance(obj, dict):
        return 1 + sum(values(v) for v in obj.values())
    return 1


@given(JSON)
def test_the_value_bound_is_never_below_the_values(obj: object) -> None:
    assert codec.value_bound(json.dumps(obj)) >= values(obj)


def test_a_frame_past_the_value_cap_is_refused_before_parsing() -> None:
    text = codec.encode(MirrorFrame(seq=1, kind="mutations", data={"adds": [[]] * 1000}))
    assert isinstance(codec.decode(text, max_values=4000), MirrorFrame)
    with pytest.raises(ProtocolError, match="more than 1000 JSON values"):
        codec.decode(text, max_values=1000)


def blank_strings(obj: object) -> object:
    """``obj`` with every string (keys too) emptied: the same structure, no text."""
    if isinstance(obj, list):
        return [blank_strings(v) for v in obj]
    if isinstance(obj, dict):
        return {str(i): blank_strings(v) for i, v in enumerate(obj.values())}
    return "" if isinstance(obj, str) else obj


@given(JSON)
def test_text_inside_strings_costs_no_values(obj: object) -> None:
    assert codec.value_bound(json.dumps(obj)) == codec.value_bound(json.dumps(blank_strings(obj)))


#: Strings full of what a naive count would trip on: quotes, backslashes, commas, brackets.
TRICKY = st.recursive(
    st.text(alphabet='\\",[{a', max_size=8) | st.integers(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=20,
)


@given(TRICKY, st.integers(min_value=1, max_value=9))
def test_the_count_is_the_same_read_in_slices(obj: object, size: int) -> None:
    """Read a few characters at a time (never cutting an escape), the count is the one a
    single read gives."""
    text = json.dumps(obj)
    whole = codec.value_bound(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(codec, "_COUNT_SLICE", size)
        assert codec.value_bound(text) == whole


def test_a_large_legitimate_page_is_not_refused_for_its_text() -> None:
    """SVG path data, CSV in a <pre> and a big stylesheet: few values, many commas."""
    path = "M0,0 " + "L1,2 C3,4,5,6,7,8 " * 40_000  # 280,000 commas in one attribute
    csv = "\n".join(",".join(["a", '"b"', "c\\"] * 20) for _ in range(3000))
    css = "a{b:c}[x],p{margin:0,0}" * 20_000
    nodes = [[1, 0, 1, "svg", [["d", path]]], [2, 1, 3, csv], [3, 1, 3, css]]
    frame = MirrorFrame(seq=1, kind="snapshot", data={"nodes": nodes})
    text = codec.encode(frame)
    assert len(text) < codec.MAX_FRAME
    assert codec.value_bound(text) < 100
    assert codec.decode(text) == frame  # under the default cap of 500,000 values


@pytest.mark.parametrize("count", [10, 60_000])
def test_the_sliced_writer_writes_what_the_one_shot_one_does(count: int) -> None:
    data = {"adds": [[1, "é", None, 2.5, {"k": [True]}]] * count, "x": {"y": [[]] * count}}
    message = MirrorFrame(seq=3, kind="mutations", data=data)
    assert codec.encode_sliced(message) == codec.encode(message)


@given(JSON)
def test_the_sliced_writer_agrees_on_any_data(obj: object) -> None:
    message = MirrorFrame(seq=1, kind="k", data={"v": obj})
    assert codec.encode_sliced(message) == codec.encode(message)


def test_the_log_counts_the_memory_of_wide_characters() -> None:
    wide = "😀" * 30_000  # 30,000 characters, 120,000 bytes in memory
    assert held(wide) >= 4 * len(wide)
    log = RoomLog(max_bytes=100_000)
    assert not log.append(MirrorFrame(seq=1, kind="snapshot"), wide)
    assert len(log) == 0


def test_the_collector_is_paused_while_a_long_frame_is_parsed_then_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[bool] = []
    original = codec.decode

    def spying(frame: str, max_values: int = codec.MAX_FRAME_VALUES) -> Message:
        seen.append(gc.isenabled())
        return original(frame, max_values)

    monkeypatch.setattr(codec, "decode", spying)
    frame = codec.encode(MirrorFrame(seq=1, kind="mutations", data={"adds": [[]] * 9}))
    assert gc.isenabled()
    message, relayed = decode_heavy(frame, 1000)
    assert seen == [False] and gc.isenabled()
    assert isinstance(message, MirrorFrame) and relayed == codec.encode(message)
