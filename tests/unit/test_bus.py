"""cwmn_web.client.bus: the before-init rule, once, unsubscribe, order, late init."""

from __future__ import annotations

import pytest

from cwmn_web.client.bus import Bus, Delivery
from cwmn_web.errors import InvalidParams, InvalidState


def booted() -> Bus:
    bus = Bus()
    bus.emit("init")
    return bus


@pytest.mark.parametrize("event", ["ready no session", "reinit", "unauthorized", "click"])
def test_subscribing_to_other_events_before_init_is_invalid_state(event: str) -> None:
    bus = Bus()
    with pytest.raises(InvalidState) as info:
        bus.subscribe(event, "h")
    assert info.value.code == "invalid_state"
    assert f"'{event}'" in info.value.message
    assert "init" in info.value.message
    assert bus.listeners(event) == 0


def test_init_may_be_subscribed_before_init() -> None:
    bus = Bus()
    assert bus.subscribe("init", "a") is None
    assert bus.subscribe("init", "b", once=True) is None
    assert bus.emit("init") == Delivery("init", (), ("a", "b"))
    assert bus.init_fired


def test_after_init_any_event_can_be_subscribed() -> None:
    bus = booted()
    assert bus.subscribe("ready no session", "h") is None
    assert bus.listeners("ready no session") == 1


@pytest.mark.parametrize("event", ["nope", "Init", "", None, 3, ["init"]])
def test_unknown_event_is_invalid_params(event: object) -> None:
    bus = booted()
    with pytest.raises(InvalidParams) as info:
        bus.subscribe(event, "h")
    assert info.value.code == "invalid_params"
    assert repr(event) in info.value.message
    assert "'ready no session'" in info.value.message  # lists the known names


def test_unknown_event_is_checked_before_the_init_rule() -> None:
    with pytest.raises(InvalidParams):
        Bus().subscribe("nope", "h")


def test_emit_of_unknown_event_is_invalid_params() -> None:
    with pytest.raises(InvalidParams):
        booted().emit("nope")


def test_once_is_delivered_once() -> None:
    bus = booted()
    bus.subscribe("click", "once", once=True)
    bus.subscribe("click", "always")
    assert bus.emit("click", "g1") == Delivery("click", ("g1",), ("once", "always"))
    assert bus.emit("click", "g2") == Delivery("click", ("g2",), ("always",))
    assert bus.listeners("click") == 1


def test_once_only_drops_the_event_delivered() -> None:
    bus = booted()
    bus.subscribe("click", "h", once=True)
    bus.subscribe("expired", "h", once=True)
    bus.emit("click", "g")
    assert bus.emit("expired").handles == ("h",)


def test_unsubscribe_removes_every_subscription_of_the_handle() -> None:
    bus = booted()
    bus.subscribe("click", "h")
    bus.subscribe("expired", "h")
    bus.subscribe("click", "other")
    assert bus.unsubscribe("h") is True
    assert bus.emit("click", "g").handles == ("other",)
    assert bus.emit("expired").handles == ()
    assert bus.unsubscribe("h") is False


def test_unsubscribe_for_one_event() -> None:
    bus = booted()
    bus.subscribe("click", "h")
    bus.subscribe("expired", "h")
    assert bus.unsubscribe("h", "click") is True
    assert bus.emit("click", "g").handles == ()
    assert bus.emit("expired").handles == ("h",)
    assert bus.unsubscribe("h", "click") is False


def test_unsubscribed_once_is_never_delivered() -> None:
    bus = booted()
    bus.subscribe("click", 7, once=True)
    bus.unsubscribe(7)
    assert bus.emit("click", "g").handles == ()


def test_registration_order_is_kept() -> None:
    bus = booted()
    for handle in (5, 1, 4, 2, 3):
        bus.subscribe("roomdata update", handle, once=handle % 2 == 0)
    assert bus.emit("roomdata update", []).handles == (5, 1, 4, 2, 3)
    assert bus.emit("roomdata update", []).handles == (5, 1, 3)


def test_emit_carries_args_and_handles_nobody() -> None:
    bus = booted()
    assert bus.emit("in session", True) == Delivery("in session", (True,), ())


def test_late_init_subscription_is_delivered_at_once() -> None:
    bus = booted()
    assert bus.subscribe("init", "late") == Delivery("init", (), ("late",))
    assert bus.listeners("init") == 1


def test_late_init_once_subscription_is_not_kept() -> None:
    bus = booted()
    assert bus.subscribe("init", "late", once=True) == Delivery("init", (), ("late",))
    assert bus.listeners("init") == 0


def test_emitting_other_events_does_not_mark_init() -> None:
    bus = Bus()
    bus.emit("reinit")
    assert not bus.init_fired
    with pytest.raises(InvalidState):
        bus.subscribe("reinit", "h")
