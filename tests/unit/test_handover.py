"""The capture hand-over on the site's next page (cwmn_web.client.handover and the host core):
the stub captures before Python is ready with the rules the resume entry kept; the core holds
those frames until the session resumes, then adopts or drops them."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from cwmn_web.client.controller import ClientConfig, HostController
from cwmn_web.client.handover import MAX_HELD, EarlyCapture
from cwmn_web.client.states import State
from cwmn_web.protocol.messages import Message, ResumeSession, SessionResumed

from .test_link_controller import (
    FEATURES,
    HOST,
    PAGE,
    SERVER,
    SITE_CAPTURE,
    FakePorts,
    FakeServer,
    in_session,
    run,
    settle,
)


async def quiet(controller: HostController, ports: FakePorts) -> None:
    """Every frame the controller sent so far has reached the fake server: its spawned sends
    are done, and the server has taken everything off the wire (it records a message in the
    step that takes it)."""
    while controller._tasks:
        await asyncio.gather(*controller._tasks)
    client = ports.server.client
    assert client is not None
    await settle(client.outbox.empty)


SNAPSHOT = {"nodes": [[1, 0, 1, "html", []], [2, 1, 3, None, 6]], "url": PAGE, "base": PAGE}
SCROLL = {"id": 0, "x": 0, "y": 40}


class ResumingServer(FakeServer):
    """The fake server, answering resumes with the site's settings and privacy flag."""

    def __init__(self, settings: dict[str, Any] | None = None, privacy: bool = False) -> None:
        super().__init__()
        self.resume_settings = settings or {}
        self.privacy = privacy

    def _answer(self, message: Message) -> Message:
        answer = super()._answer(message)
        if isinstance(answer, SessionResumed):
            answer = replace(answer, settings=self.resume_settings, privacy=self.privacy)
        return answer


def resumed_page(
    server: FakeServer | None = None, early: Any = SITE_CAPTURE, token: str = "tok"
) -> tuple[HostController, FakePorts]:
    ports = FakePorts()
    ports.server = server or ResumingServer()
    config = ClientConfig(
        server=SERVER,
        page_url=PAGE,
        features=FEATURES,
        resume={"token": token, "sessionId": "s1", "capture": SITE_CAPTURE},
        early_capture=early,
    )
    return HostController(ports, config), ports


def test_early_frames_are_held_until_the_resume_then_become_the_first_frames() -> None:
    async def body() -> None:
        controller, ports = resumed_page()
        # Queued by the stub before Python was ready: they reach the core with the boot.
        controller.on_capture("snapshot", SNAPSHOT, 5.0, early=True)
        boot = asyncio.ensure_future(controller.boot())
        controller.on_capture("scroll", SCROLL, 6.0, early=True)
        await asyncio.sleep(0)
        assert ports.server.frames == []  # held, not sent before the session is back
        await boot
        assert controller.state is State.IN_SESSION
        controller.on_capture("scroll", {"id": 0, "x": 0, "y": 80}, 7.0, early=True)
        await settle(lambda: len(ports.server.frames) == 3)
        kinds = [(f.seq, f.kind, f.t) for f in ports.server.frames]
        assert kinds == [(1, "snapshot", 5), (2, "scroll", 6), (3, "scroll", 7)]
        assert ports.server.frames[0].data["nodes"][1] == [2, 1, 3, "******"]
        resume = next(m for m in ports.server.received if isinstance(m, ResumeSession))
        assert ports.server.received.index(resume) < ports.server.received.index(
            ports.server.frames[0]
        )
        assert all(start is not True for start, _ in ports.captures)  # nothing restarted

    run(body)


def test_other_rules_restart_capture_and_drop_the_early_frames_unsent() -> None:
    async def body() -> None:
        # The site's settings gained a selector since the previous page kept its rules.
        server = ResumingServer({"maskSelectors": [".new-secret"]})
        controller, ports = resumed_page(server)
        controller.on_capture("snapshot", SNAPSHOT, 5.0, early=True)
        await controller.boot()
        assert controller.state is State.IN_SESSION
        start, config = ports.captures[-1]
        assert start is True and config is not None and ".new-secret" in config["mask"]
        controller.on_capture("scroll", SCROLL, 6.0, early=True)  # in flight: ignored
        controller.on_capture("snapshot", SNAPSHOT, 7.0)  # the restarted capture
        await settle(lambda: len(ports.server.frames) == 1)
        await quiet(controller, ports)
        assert [(f.seq, f.kind, f.t) for f in ports.server.frames] == [(1, "snapshot", 7)]

    run(body)


def test_privacy_on_at_the_server_stops_the_early_capture() -> None:
    async def body() -> None:
        controller, ports = resumed_page(ResumingServer(privacy=True))
        controller.on_capture("snapshot", SNAPSHOT, 5.0, early=True)
        await controller.boot()
        assert controller.state is State.IN_SESSION and controller.privacy_enabled
        assert ports.captures == [(False, None)]
        controller.on_capture("scroll", SCROLL, 6.0, early=True)
        await quiet(controller, ports)
        assert ports.server.frames == []
        assert ports.stored["cwmn:session"] == {"token": "tok", "sessionId": "s1", "privacy": True}

    run(body)


def test_a_failed_resume_stops_the_early_capture_and_sends_nothing() -> None:
    async def body() -> None:
        controller, ports = resumed_page(token="stale")
        controller.on_capture("snapshot", SNAPSHOT, 5.0, early=True)
        await controller.boot()
        assert controller.state is State.NO_SESSION
        assert ports.captures == [(False, None)]
        assert ports.server.frames == []

    run(body)


def test_too_many_held_frames_fall_back_to_a_fresh_snapshot() -> None:
    async def body() -> None:
        controller, ports = resumed_page()
        for i in range(MAX_HELD + 1):
            controller.on_capture("scroll", {"id": 0, "x": 0, "y": i}, 5.0, early=True)
        await controller.boot()
        assert ports.captures[-1] == (True, SITE_CAPTURE)
        await quiet(controller, ports)
        assert ports.server.frames == []

    run(body)


def test_the_resume_goes_out_before_domain_info_arrives() -> None:
    async def body() -> None:
        release = asyncio.Event()
        controller, ports = resumed_page()
        fetch = ports.fetch_json

        async def slow_fetch(url: str) -> dict[str, Any]:
            await release.wait()
            return await fetch(url)

        ports.fetch_json = slow_fetch  # type: ignore[method-assign]
        boot = asyncio.ensure_future(controller.boot())
        await settle(lambda: controller.state is State.IN_SESSION)
        assert any(isinstance(m, ResumeSession) for m in ports.server.received)
        assert controller.view()["domainInfo"]["authorized"] is None
        release.set()
        await boot
        assert ports.published[-1]["domainInfo"]["authorized"] is True

    run(body)


def test_privacy_is_kept_in_the_resume_entry() -> None:
    async def body() -> None:
        controller, ports = await in_session()
        await controller.call("privacy.setEnabled", (True,))
        assert ports.stored["cwmn:session"] == {"token": "tok", "sessionId": "s1", "privacy": True}
        await controller.call("privacy.setEnabled", (False,))
        entry = ports.stored["cwmn:session"]
        assert entry is not None and entry["capture"] == SITE_CAPTURE and "privacy" not in entry

    run(body)


def test_the_entry_keeps_the_sites_rules_and_not_the_script_tags() -> None:
    async def body() -> None:
        ports = FakePorts(
            domain_info={"domain": "shop.example.com", "authorized": True, "settings": {}}
        )
        config = ClientConfig(SERVER, PAGE, FEATURES, mask=(".tag-only",))
        controller = HostController(ports, config)
        await controller.boot()
        ports.server.settings = {"maskSelectors": [".site-rule"], "blockSelectors": []}
        await controller.call("session.start", (dict(HOST),))
        entry = ports.stored["cwmn:session"]
        assert entry is not None
        assert entry["capture"]["mask"] == ["[data-cwmn-mask]", ".cwmn-mask", ".site-rule"]
        assert ports.captures[-1][1]["mask"][-2:] == [".site-rule", ".tag-only"]

    run(body)


def test_a_call_made_while_booting_waits_for_ready_no_session() -> None:
    async def body() -> None:
        release = asyncio.Event()
        ports = FakePorts()
        fetch = ports.fetch_json

        async def slow_fetch(url: str) -> dict[str, Any]:
            await release.wait()
            return await fetch(url)

        ports.fetch_json = slow_fetch  # type: ignore[method-assign]
        controller = HostController(ports, ClientConfig(SERVER, PAGE, FEATURES))
        boot = asyncio.ensure_future(controller.boot())
        await asyncio.sleep(0)
        assert controller.state is State.INIT
        call = asyncio.ensure_future(controller.call("session.start", (dict(HOST),)))
        await asyncio.sleep(0)
        release.set()
        info = await call
        await boot
        assert info["sessionId"] == "s1" and controller.state is State.IN_SESSION

    run(body)


def test_early_capture_rules_must_be_lists_of_selectors() -> None:
    assert not EarlyCapture(None).pending
    assert not EarlyCapture({"mask": "a", "block": []}).pending
    assert not EarlyCapture({"mask": [1], "block": []}).pending
    early = EarlyCapture({"mask": ["a"], "block": ["b"]})
    assert early.adopt({"mask": ["a"], "block": ["b", "c"]}) is None and early.dropped


def test_listeners_added_in_the_init_callback_see_the_resume() -> None:
    async def body() -> None:
        controller, ports = resumed_page()
        ports.on_event["init"] = lambda: controller.subscribe("session pending", 7)
        await controller.boot()
        assert ("session pending", (7,)) in ports.handles

    run(body)


def test_early_frames_are_ignored_when_the_early_config_is_not_valid() -> None:
    async def body() -> None:
        # A tampered resume entry: the stub captured, but the core cannot check its rules.
        controller, ports = resumed_page(early={"mask": [1], "block": []})
        controller.on_capture("snapshot", SNAPSHOT, 5.0, early=True)
        await controller.boot()
        assert controller.state is State.IN_SESSION
        assert ports.captures[-1] == (True, SITE_CAPTURE)  # a fresh capture instead
        controller.on_capture("scroll", SCROLL, 6.0, early=True)
        await quiet(controller, ports)
        assert ports.server.frames == []

    run(body)


def test_an_early_capture_that_failed_before_the_resume_is_restarted() -> None:
    async def body() -> None:
        controller, ports = resumed_page()
        controller.on_capture_failed(early=True)
        await controller.boot()
        assert controller.state is State.IN_SESSION
        assert ports.captures == [(True, SITE_CAPTURE)]

    run(body)


def test_an_adopted_early_capture_that_failed_restarts_from_a_fresh_snapshot() -> None:
    async def body() -> None:
        controller, ports = resumed_page()
        await controller.boot()
        assert controller.state is State.IN_SESSION
        assert ports.captures == []  # adopted, with no frame yet
        controller.on_capture_failed(early=True)
        assert ports.captures == [(True, SITE_CAPTURE)]
        controller.on_capture("snapshot", SNAPSHOT, 7.0)
        await quiet(controller, ports)
        assert [(f.seq, f.kind) for f in ports.server.frames] == [(1, "snapshot")]
        controller.on_capture_failed(early=False)  # Python's own capture: left alone
        assert len(ports.captures) == 1

    run(body)


def test_a_failed_early_capture_without_a_session_asks_nothing() -> None:
    async def body() -> None:
        controller, ports = resumed_page(token="stale")
        controller.on_capture_failed(early=True)
        await controller.boot()
        assert controller.state is State.NO_SESSION
        assert ports.captures == []

    run(body)


def test_the_resume_entry_has_no_unread_fields() -> None:
    async def body() -> None:
        _, ports = await in_session()
        assert set(ports.stored["cwmn:session"] or {}) == {"token", "sessionId", "capture"}

    run(body)
