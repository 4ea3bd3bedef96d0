"""The capture hand-over on the site's next page (cwmn_web.client.handover and the host core):
the stub captures before Python is ready with the rules the resume entry kept; the core holds
those frames until the session resumes, then adopts or drops them. Against the real server
(tests/helpers/live_page.py), where everything queued is delivered before each assertion."""

# mypy: disable-error-code="comparison-overlap"
# (the state changes through the core's inputs, which mypy does not see)

from __future__ import annotations

from typing import Any

from cwmn_web.client.controller import ClientConfig, HostController
from cwmn_web.client.handover import MAX_HELD, EarlyCapture
from cwmn_web.client.states import State
from cwmn_web.protocol.messages import ResumeSession, SetPrivacy
from tests.helpers.live_page import (
    FEATURES,
    HOST,
    PAGE,
    SERVER,
    SITE_CAPTURE,
    LivePage,
    host_of,
    in_session,
)

SNAPSHOT = {"nodes": [[1, 0, 1, "html", []], [2, 1, 3, None, 6]], "url": PAGE, "base": PAGE}
SCROLL = {"id": 0, "x": 0, "y": 40}


def resumed_page(
    privacy: bool = False, early: Any = SITE_CAPTURE, stale: bool = False
) -> tuple[HostController, LivePage, dict[str, Any]]:
    """The site's next page, resuming the session the previous page started (with privacy
    on, if ``privacy``; or a token the server does not know, if ``stale``); the previous
    page's entry."""
    ports = LivePage()
    entry = ports.previous_page(privacy=privacy)
    token = "stale-token" if stale else entry["token"]
    config = ClientConfig(
        server=SERVER,
        page_url=PAGE,
        features=FEATURES,
        resume={"token": token, "sessionId": entry["sessionId"], "capture": SITE_CAPTURE},
        early_capture=early,
    )
    return host_of(ports, config), ports, entry


def test_early_frames_are_held_until_the_resume_then_become_the_first_frames() -> None:
    controller, ports, _ = resumed_page()
    # Queued by the stub before Python was ready: they reach the core with the boot.
    ports.capture_frame("snapshot", SNAPSHOT, 5.0, early=True)
    controller.boot(ports.time)
    controller.on_capture("scroll", SCROLL, 6.0, ports.time, early=True)  # while it boots
    assert controller.to_send() == [] and ports.wire.frames == []  # held
    ports.pump()
    assert controller.state is State.IN_SESSION
    ports.capture_frame("scroll", {"id": 0, "x": 0, "y": 80}, 7.0, early=True)
    assert len(ports.wire.frames) == 3
    kinds = [(f.seq, f.kind, f.t) for f in ports.wire.frames]
    assert kinds == [(1, "snapshot", 5), (2, "scroll", 6), (3, "scroll", 7)]
    assert ports.wire.frames[0].data["nodes"][1] == [2, 1, 3, "******"]
    resume = next(m for m in ports.wire.received if isinstance(m, ResumeSession))
    assert ports.wire.received.index(resume) < ports.wire.received.index(ports.wire.frames[0])
    assert all(start is not True for start, _ in ports.captures)  # nothing restarted


def test_other_rules_restart_capture_and_drop_the_early_frames_unsent() -> None:
    controller, ports, _ = resumed_page()
    # The site's settings gained a selector since the previous page kept its rules.
    ports.site_settings(maskSelectors=[".new-secret"])
    ports.capture_frame("snapshot", SNAPSHOT, 5.0, early=True)
    ports.boot()
    assert controller.state is State.IN_SESSION
    start, config = ports.captures[-1]
    assert start is True and config is not None and ".new-secret" in config["mask"]
    ports.capture_frame("scroll", SCROLL, 6.0, early=True)  # in flight: ignored
    ports.capture_frame("snapshot", SNAPSHOT, 7.0)  # the restarted capture
    assert len(ports.wire.frames) == 1
    assert [(f.seq, f.kind, f.t) for f in ports.wire.frames] == [(1, "snapshot", 7)]


def test_privacy_on_at_the_server_stops_the_early_capture() -> None:
    # The previous page turned privacy on: the server kept it for the session.
    controller, ports, entry = resumed_page(privacy=True)
    ports.capture_frame("snapshot", SNAPSHOT, 5.0, early=True)
    ports.boot()
    assert controller.state is State.IN_SESSION and controller.privacy_enabled
    assert ports.captures == [(False, None)]
    ports.capture_frame("scroll", SCROLL, 6.0, early=True)
    assert ports.wire.frames == []
    assert ports.stored["cwmn:session"] == {**entry, "privacy": True}


def test_a_server_that_lost_privacy_does_not_turn_it_off() -> None:
    """The previous page turned privacy on, but the server lost it (a restore, an older
    server): the next page keeps it on, captures nothing and tells the server again."""
    ports = LivePage()
    entry = {**ports.previous_page(privacy=False), "privacy": True}
    config = ClientConfig(
        server=SERVER, page_url=PAGE, features=FEATURES, resume=entry, early_capture=None
    )
    controller = host_of(ports, config)
    ports.boot()
    assert controller.state is State.IN_SESSION and controller.privacy_enabled
    assert all(start is not True for start, _ in ports.captures)  # nothing captured
    asked = [m for m in ports.wire.received if isinstance(m, SetPrivacy)]
    assert [m.enabled for m in asked] == [True]
    (live,) = ports.server.rooms.rooms.values()
    assert live.room.privacy  # the server has it again
    ports.capture_frame("snapshot", SNAPSHOT, 5.0)
    assert ports.wire.frames == []
    assert ports.stored["cwmn:session"] == {**entry, "privacy": True}


def test_a_failed_resume_stops_the_early_capture_and_sends_nothing() -> None:
    controller, ports, _ = resumed_page(stale=True)
    ports.capture_frame("snapshot", SNAPSHOT, 5.0, early=True)
    ports.boot()
    assert controller.state is State.NO_SESSION
    assert ports.captures == [(False, None)]
    assert ports.wire.frames == []


def test_too_many_held_frames_fall_back_to_a_fresh_snapshot() -> None:
    _, ports, _ = resumed_page()
    for i in range(MAX_HELD + 1):
        ports.capture_frame("scroll", {"id": 0, "x": 0, "y": i}, 5.0, early=True)
    ports.boot()
    assert ports.captures[-1] == (True, SITE_CAPTURE)
    assert ports.wire.frames == []


def test_the_resume_goes_out_before_domain_info_arrives() -> None:
    controller, ports, _ = resumed_page()
    ports.hold_fetches = True  # domain info is slow to come
    ports.boot()
    assert controller.state is State.IN_SESSION
    assert any(isinstance(m, ResumeSession) for m in ports.wire.received)
    assert controller.view()["domainInfo"]["authorized"] is None
    ports.release_fetches()
    assert ports.published[-1]["domainInfo"]["authorized"] is True


def test_privacy_is_kept_in_the_resume_entry() -> None:
    _, ports = in_session()
    token, session_id = ports.resume_token, ports.session_id
    ports.call("privacy.setEnabled", (True,))
    assert ports.stored["cwmn:session"] == {
        "token": token,
        "sessionId": session_id,
        "privacy": True,
    }
    ports.call("privacy.setEnabled", (False,))
    entry = ports.stored["cwmn:session"]
    assert entry is not None and entry["capture"] == SITE_CAPTURE and "privacy" not in entry


def test_the_entry_keeps_the_sites_rules_and_not_the_script_tags() -> None:
    ports = LivePage()
    config = ClientConfig(SERVER, PAGE, FEATURES, mask=(".tag-only",))
    host_of(ports, config)
    ports.boot()
    ports.site_settings(maskSelectors=[".site-rule"], blockSelectors=[])
    ports.call("session.start", (dict(HOST),))
    entry = ports.stored["cwmn:session"]
    assert entry is not None
    assert entry["capture"]["mask"] == ["[data-cwmn-mask]", ".cwmn-mask", ".site-rule"]
    capture = ports.captures[-1][1]
    assert capture is not None and capture["mask"][-2:] == [".site-rule", ".tag-only"]


def test_a_call_made_while_booting_waits_for_ready_no_session() -> None:
    ports = LivePage()
    ports.hold_fetches = True  # domain info is slow to come
    controller = host_of(ports, ClientConfig(SERVER, PAGE, FEATURES))
    ports.boot()
    assert controller.state is State.INIT
    call = ports.start_call("session.start", (dict(HOST),))
    assert call not in ports.results and controller.state is State.INIT
    assert ports.db.session_rows() == []  # nothing asked of the server yet
    ports.release_fetches()
    info = ports.outcome(call)
    (row,) = ports.db.session_rows()
    assert info["sessionId"] == row["id"] and controller.state is State.IN_SESSION


def test_early_capture_rules_must_be_lists_of_selectors() -> None:
    assert not EarlyCapture(None).pending
    assert not EarlyCapture({"mask": "a", "block": []}).pending
    assert not EarlyCapture({"mask": [1], "block": []}).pending
    early = EarlyCapture({"mask": ["a"], "block": ["b"]})
    assert early.adopt({"mask": ["a"], "block": ["b", "c"]}) is None and early.dropped


def test_listeners_added_in_the_init_callback_see_the_resume() -> None:
    controller, ports, _ = resumed_page()
    ports.on_event["init"] = lambda: controller.subscribe("session pending", 7)
    ports.boot()
    assert ("session pending", (7,)) in ports.handles


def test_early_frames_are_ignored_when_the_early_config_is_not_valid() -> None:
    # A tampered resume entry: the stub captured, but the core cannot check its rules.
    controller, ports, _ = resumed_page(early={"mask": [1], "block": []})
    ports.capture_frame("snapshot", SNAPSHOT, 5.0, early=True)
    ports.boot()
    assert controller.state is State.IN_SESSION
    assert ports.captures[-1] == (True, SITE_CAPTURE)  # a fresh capture instead
    ports.capture_frame("scroll", SCROLL, 6.0, early=True)
    assert ports.wire.frames == []


def test_an_early_capture_that_failed_before_the_resume_is_restarted() -> None:
    controller, ports, _ = resumed_page()
    ports.capture_failed(early=True)
    ports.boot()
    assert controller.state is State.IN_SESSION
    assert ports.captures == [(True, SITE_CAPTURE)]


def test_an_adopted_early_capture_that_failed_restarts_from_a_fresh_snapshot() -> None:
    controller, ports, _ = resumed_page()
    ports.boot()
    assert controller.state is State.IN_SESSION
    assert ports.captures == []  # adopted, with no frame yet
    ports.capture_failed(early=True)
    assert ports.captures == [(True, SITE_CAPTURE)]
    ports.capture_frame("snapshot", SNAPSHOT, 7.0)
    assert [(f.seq, f.kind) for f in ports.wire.frames] == [(1, "snapshot")]
    ports.capture_failed(early=False)  # Python's own capture: left alone
    assert len(ports.captures) == 1


def test_a_failed_early_capture_without_a_session_asks_nothing() -> None:
    controller, ports, _ = resumed_page(stale=True)
    ports.capture_failed(early=True)
    ports.boot()
    assert controller.state is State.NO_SESSION
    assert ports.captures == []


def test_the_resume_entry_has_no_unread_fields() -> None:
    _, ports = in_session()
    assert set(ports.stored["cwmn:session"] or {}) == {"token", "sessionId", "capture"}
