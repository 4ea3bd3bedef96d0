from cwmn_web.client.throttle import Throttle


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
