from cwmn_web.timing import Backoff, RateGate, Throttle, Timers


def test_first_value_goes_out_at_once_and_bursts_keep_only_the_newest() -> None:
    t: Throttle[int] = Throttle(0.1)
    assert t.offer(1, 0.0) == 1
    assert t.offer(2, 0.01) is None
    assert t.offer(3, 0.05) is None
    assert t.next_due() == 0.1
    assert t.due(0.09) is None
    assert t.due(0.1) == 3  # the trailing value: the last position is never lost
    assert t.next_due() is None
    assert t.due(0.5) is None


def test_rate_is_bounded_under_a_stream() -> None:
    t: Throttle[int] = Throttle(1 / 30)
    sent = 0
    for i in range(1000):  # 1000 moves in one second
        now = i / 1000
        sent += t.offer(i, now) is not None
        sent += t.due(now) is not None
    assert 29 <= sent <= 31


def test_reset_lets_the_next_value_out() -> None:
    t: Throttle[str] = Throttle(1.0)
    t.offer("a", 0.0)
    t.offer("b", 0.1)
    t.reset()
    assert t.next_due() is None
    assert t.offer("c", 0.2) == "c"


def test_backoff_doubles_to_its_limit_and_starts_over_after_a_success() -> None:
    backoff = Backoff(first=0.25, limit=2.0)
    assert [backoff.next() for _ in range(6)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    backoff.reset()
    assert backoff.next() == 0.25


def test_a_rate_gate_refuses_what_comes_sooner_than_its_interval_per_key() -> None:
    gate: RateGate[str] = RateGate(0.1)
    assert gate.allow("a", 1.0) and gate.allow("b", 1.0)
    assert not gate.allow("a", 1.05)  # refused events do not move the window
    assert gate.allow("a", 1.1)
    gate.forget("b")
    assert gate.allow("b", 1.01)


def test_timers_give_their_due_keys_once_earliest_first() -> None:
    timers: Timers[str] = Timers()
    assert timers.next_due() is None and timers.due(100.0) == []
    timers.set("ping", 5.0)
    timers.set("grace", 3.0)
    timers.set("late", 9.0)
    assert timers.next_due() == 3.0
    assert timers.due(2.9) == []
    assert timers.due(5.0) == ["grace", "ping"]
    assert timers.due(5.0) == [] and timers.armed("late")
    timers.set("late", 20.0)  # re-armed: the new time holds
    timers.cancel("ping")
    assert timers.due(10.0) == [] and timers.next_due() == 20.0


def test_a_clock_that_steps_back_neither_holds_nor_refuses() -> None:
    # The server's clock is the wall clock: after a step back, the interval counts as passed.
    throttle: Throttle[str] = Throttle(0.1)
    assert throttle.offer("a", 1000.0) == "a"
    assert throttle.offer("b", 1000.01) is None  # held, due at 1000.1
    assert throttle.due(400.0) == "b"  # the clock went back 10 minutes: out now
    assert throttle.offer("c", 400.01) is None  # and the interval counts from there
    assert throttle.offer("d", 300.0) == "d"
    gate: RateGate[str] = RateGate(0.1)
    assert gate.allow("g", 1000.0)
    assert gate.allow("g", 400.0)  # not refused for the ten minutes of the step
    assert not gate.allow("g", 400.05)
