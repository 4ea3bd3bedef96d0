"""The idle timeout (extension): a session nobody uses ends as ``idle``; the visitor's and
the guests' actions postpone it, a page that changes by itself does not."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from cwmn_web.protocol.constants import Pseudo
from cwmn_web.protocol.messages import (
    CLOSE_SESSION_ENDED,
    ControlInput,
    Draw,
    ErrorReply,
    Hello,
    MuteGuest,
    Ok,
    PointerMove,
    RequestControl,
    SessionEnded,
    SessionStarted,
    StartSession,
    Welcome,
)

from .live import HOST_ORIGIN, Host, WallClock, guest, host

if TYPE_CHECKING:
    from cwmn_web.server.db import Store

    from .conftest import LiveClient

pytestmark = pytest.mark.timeout(30)


def ended(store: Store) -> tuple[object, object]:
    (row,) = store.session_rows()
    return row["ended_at"], row["end_reason"]


def ends(h: Host) -> list[str]:
    """The reasons of the ``session_ended`` pushes the host received."""
    return [m.reason for m in h.drain() if isinstance(m, SessionEnded)]


def start(h: Host, idle_timeout: float) -> SessionStarted:
    assert isinstance(h.ask(Hello(ref=1, page_url=HOST_ORIGIN + "/shop")), Welcome)
    reply = h.ask(StartSession(ref=2, host_name="Ann", idle_timeout=idle_timeout))
    assert isinstance(reply, SessionStarted), reply
    return reply


def test_an_idle_session_ends_and_only_activity_postpones_it(
    live_client: LiveClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = WallClock(monkeypatch, still=True)
    with live_client(idle_timeout=100) as client, host(client) as h, guest(client) as bob:
        started = h.start()
        h.mirror(1, "snapshot", nodes=[], url=HOST_ORIGIN + "/shop")
        bob.joined(h.link())
        clock.advance(client, 90)
        bob.send(PointerMove(x=1, y=2))  # a guest's action: the timer starts over
        bob.sync()
        clock.advance(client, 20)  # 110: the first deadline (100) passed, moved on
        assert ended(store) == (None, None)
        clock.advance(client, 70)  # 180
        h.mirror(2, attrs=[[7, Pseudo.VALUE, "ann@example.com"]])  # the visitor typed
        h.sync()
        clock.advance(client, 70)  # 250
        for seq in range(3, 13):  # a clock ticking on the page: not the visitor
            h.mirror(seq, texts=[[5, f"12:00:{seq:02}"]], attrs=[[6, "class", "tick"]])
        h.sync()
        bob.sync()  # a ping is no activity either
        clock.advance(client, 29)  # 279: 99 s after the typing
        assert ended(store) == (None, None)
        clock.advance(client, 1)  # 280: 100 s after it
        end = SessionEnded(session_id=started.session_id, reason="idle")
        assert end in h.drain()
        while not isinstance(push := bob.push(), SessionEnded):
            pass  # the page's frames before it
        assert push == end
        assert bob.closed_code() == CLOSE_SESSION_ENDED
        assert ended(store)[1] == "idle"


def test_a_session_may_ask_for_less_never_more(
    live_client: LiveClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = WallClock(monkeypatch, still=True)
    with live_client(idle_timeout=600) as client:
        with host(client) as h:
            start(h, idle_timeout=60)
            clock.advance(client, 59)
            assert ended(store) == (None, None)
            clock.advance(client, 1)
            assert ends(h) == ["idle"]
        rows = len(store.session_rows())
        with host(client) as h:
            start(h, idle_timeout=6000)  # more than the server's: the server's holds
            clock.advance(client, 599)
            assert len(store.session_rows()) == rows + 1
            assert ends(h) == []
            clock.advance(client, 1)
            assert ends(h) == ["idle"]


def test_refused_messages_a_muted_guest_and_requests_for_control_are_no_activity(
    live_client: LiveClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A guest cannot keep a session alive after the visitor walked away with what the
    room refuses (inputs without control), with asking for control over and over, nor
    while muted."""
    clock = WallClock(monkeypatch, still=True)
    with (
        live_client(idle_timeout=100) as client,
        host(client) as h,
        guest(client, "dev-b") as bob,
        guest(client, "dev-e") as eve,
    ):
        started = h.start()
        h.mirror(1, "snapshot", nodes=[], url=HOST_ORIGIN + "/shop")
        bob_id = bob.joined(h.link(), "Bob").guest_id
        eve.joined(h.link(), "Eve")
        assert isinstance(h.ask(MuteGuest(ref=90, guest_id=bob_id, muted=True)), Ok)
        h.drain()
        for step in range(9):  # every 10 s until 90 s after the visitor's last action
            clock.advance(client, 10)
            refused = eve.ask(ControlInput(ref=100 + step, kind="text", text="x"))
            assert isinstance(refused, ErrorReply) and refused.code == "not_controller"
            assert isinstance(eve.ask(RequestControl(ref=200 + step)), Ok)  # taken, not use
            muted = bob.ask(Draw(ref=300 + step, stroke=f"s{step}", points=[1, 2]))
            assert isinstance(muted, ErrorReply) and muted.code == "guest_muted"
            bob.send(PointerMove(x=step, y=step))  # a muted guest's pointer reaches no one
            bob.sync()
        clock.advance(client, 9)  # 99 s
        assert ended(store) == (None, None)
        clock.advance(client, 1)  # 100 s after the mute: nobody used the session
        assert SessionEnded(session_id=started.session_id, reason="idle") in h.drain()
        assert ended(store)[1] == "idle"
