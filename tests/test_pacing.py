"""RateLimiter and RequestLedger against a fake clock: nothing here waits on wall time."""

from __future__ import annotations

import itertools
import logging
import math
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kb4_exporter.api import pacing
from kb4_exporter.api.errors import Interrupted
from kb4_exporter.api.pacing import RateLimiter, RequestLedger

T0 = 1_700_000_000.0
DAY = 86400.0


class FakeClock:
    """Epoch time that only moves when someone sleeps (or the test steps it)."""

    def __init__(self, start: float = T0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0, "the limiter must never sleep for nothing"
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def acquire_times(limiter: RateLimiter, clock: FakeClock, count: int) -> list[float]:
    times = []
    for _ in range(count):
        limiter.acquire()
        times.append(clock())
    return times


def max_in_any_window(times: list[float], length: float) -> int:
    """Most events in any half-open interval [t, t + length) over sorted `times`."""
    best = 0
    start = 0
    for end, event in enumerate(times):
        while event >= times[start] + length:
            start += 1
        best = max(best, end - start + 1)
    return best


# --- RateLimiter --------------------------------------------------------------------


def test_limiter_enforces_four_per_second_and_fifty_per_minute() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_second=4, per_minute=50, clock=clock, sleep=clock.sleep)

    times = acquire_times(limiter, clock, 60)

    assert times[-1] - T0 >= 60.0
    assert max_in_any_window(times, 1.0) == 4
    assert max_in_any_window(times, 60.0) == 50


def test_limiter_sends_each_request_at_the_earliest_allowed_moment() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_second=4, per_minute=50, clock=clock, sleep=clock.sleep)

    times = acquire_times(limiter, clock, 120)

    for i, sent_at in enumerate(times):
        earliest = T0
        if i >= 4:
            earliest = max(earliest, times[i - 4] + 1.0)
        if i >= 50:
            earliest = max(earliest, times[i - 50] + 60.0)
        assert sent_at == earliest, f"request {i} waited longer than the windows require"


def test_limiter_does_not_sleep_when_requests_are_already_spaced() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_second=4, per_minute=50, clock=clock, sleep=clock.sleep)

    for _ in range(100):
        limiter.acquire()
        clock.now += 1.5  # slower than 50/min: neither window is ever full

    assert clock.sleeps == []


@given(
    per_second=st.floats(min_value=0.2, max_value=10.0),
    per_minute=st.integers(min_value=1, max_value=80),
    idle=st.lists(st.floats(min_value=0.0, max_value=3.0), min_size=1, max_size=150),
)
@settings(max_examples=60, deadline=None)
def test_limiter_never_exceeds_either_window(
    per_second: float, per_minute: int, idle: list[float]
) -> None:
    clock = FakeClock()
    limiter = RateLimiter(
        per_second=per_second, per_minute=per_minute, clock=clock, sleep=clock.sleep
    )

    times = []
    for pause in idle:
        clock.now += pause
        limiter.acquire()
        times.append(clock())

    burst = max(1, math.floor(per_second))
    assert max_in_any_window(times, burst / per_second) <= burst
    assert max_in_any_window(times, 60.0) <= per_minute


def test_fractional_rate_spreads_requests_over_a_longer_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_second=0.5, per_minute=50, clock=clock, sleep=clock.sleep)

    times = acquire_times(limiter, clock, 5)

    assert [later - earlier for earlier, later in itertools.pairwise(times)] == [2.0] * 4


def test_interrupted_sleep_propagates_and_counts_nothing() -> None:
    clock = FakeClock()

    def interrupted(seconds: float) -> None:
        raise Interrupted

    limiter = RateLimiter(per_second=1, per_minute=50, clock=clock, sleep=interrupted)
    limiter.acquire()

    with pytest.raises(Interrupted):
        limiter.acquire()
    clock.now += 1.0
    limiter.acquire()  # the interrupted request did not take the slot


def test_clock_stepped_back_waits_at_most_one_window() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_second=4, per_minute=50, clock=clock, sleep=clock.sleep)
    acquire_times(limiter, clock, 50)

    clock.now -= 3600.0  # NTP steps the wall clock back an hour
    stepped_back_at = clock.now
    limiter.acquire()

    assert 0.0 < clock.now - stepped_back_at <= 60.0


def test_limiter_is_thread_safe() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_second=4, per_minute=50, clock=clock, sleep=clock.sleep)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(25):
                limiter.acquire()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
    # Time moves only through sleeps: 100 requests at 50/min need at least one full minute.
    assert clock.now - T0 >= 60.0


@pytest.mark.parametrize(
    ("per_second", "per_minute"),
    [(0, 50), (-1, 50), (math.nan, 50), (math.inf, 50), (4, 0)],
)
def test_limiter_rejects_impossible_limits(per_second: float, per_minute: int) -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="per_"):
        RateLimiter(per_second=per_second, per_minute=per_minute, clock=clock, sleep=clock.sleep)


# --- RequestLedger --------------------------------------------------------------------


def test_ledger_counts_requests_and_rolls_them_off_after_24h() -> None:
    clock = FakeClock()
    ledger = RequestLedger(clock=clock)
    ledger.record()
    clock.now += 3600.0
    ledger.record()
    ledger.record()

    assert ledger.used() == 3
    clock.now = T0 + DAY - 0.001
    assert ledger.used() == 3
    clock.now = T0 + DAY
    assert ledger.used() == 2
    clock.now = T0 + 3600.0 + DAY
    assert ledger.used() == 0
    assert ledger.timestamps() == []


def test_ledger_timestamps_are_the_live_entries_oldest_first() -> None:
    clock = FakeClock()
    ledger = RequestLedger(clock=clock, window_seconds=100.0)
    sent = []
    for step in (0.0, 30.0, 30.0, 35.0):
        clock.now += step
        ledger.record()
        sent.append(clock.now)

    assert ledger.timestamps() == sent
    clock.now = sent[0] + 100.0
    assert ledger.timestamps() == sent[1:]


def test_ledger_round_trips_through_restore() -> None:
    clock = FakeClock()
    first = RequestLedger(clock=clock)
    for _ in range(5):
        first.record()
        clock.now += 600.0

    second = RequestLedger(clock=clock)
    second.restore(first.timestamps())

    assert second.used() == first.used() == 5
    assert second.timestamps() == first.timestamps()


def test_restore_ignores_future_ancient_and_garbage_values(caplog: Any) -> None:
    clock = FakeClock()
    ledger = RequestLedger(clock=clock)
    valid = [T0 - 10.0, int(T0 - 20), T0]
    garbage: list[Any] = [
        T0 + 1.0,  # future
        T0 - DAY,  # exactly one window old: already expired
        T0 - 30 * DAY,  # ancient
        math.nan,
        math.inf,
        -math.inf,
        "1700000000",
        None,
        True,
        10**400,
        [T0],
        {"t": T0},
    ]

    with caplog.at_level(logging.INFO, logger="kb4_exporter.api.pacing"):
        ledger.restore([*garbage, *valid])

    assert ledger.timestamps() == sorted(float(value) for value in valid)
    assert any("ignored 12" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("not_a_list", [None, 42, 3.5])
def test_restore_of_a_non_list_is_ignored(not_a_list: Any) -> None:
    clock = FakeClock()
    ledger = RequestLedger(clock=clock)
    ledger.record()

    ledger.restore(not_a_list)

    assert ledger.used() == 1


def test_restore_merges_with_requests_already_recorded() -> None:
    clock = FakeClock()
    ledger = RequestLedger(clock=clock)
    ledger.record()

    ledger.restore([T0 - 50.0, T0 - 5.0])

    assert ledger.timestamps() == [T0 - 50.0, T0 - 5.0, T0]


def test_ledger_stays_sorted_and_counting_when_the_clock_steps_back() -> None:
    clock = FakeClock()
    ledger = RequestLedger(clock=clock)
    ledger.record()
    clock.now -= 60.0
    ledger.record()

    assert ledger.used() == 2
    assert ledger.timestamps() == sorted(ledger.timestamps())


def test_ledger_memory_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pacing, "MAX_LEDGER_ENTRIES", 10)
    clock = FakeClock()
    ledger = RequestLedger(clock=clock)
    for _ in range(15):
        ledger.record()
        clock.now += 1.0
    ledger.restore([T0 - 100.0 + i for i in range(20)])

    assert ledger.used() == 10
    assert ledger.timestamps()[-1] == T0 + 14.0  # the newest entries are the ones kept


def test_ledger_is_thread_safe() -> None:
    clock = FakeClock()
    ledger = RequestLedger(clock=clock)

    def worker() -> None:
        for _ in range(1000):
            ledger.record()
            ledger.used()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert ledger.used() == 8000


@pytest.mark.parametrize("window", [0.0, -1.0, math.nan, math.inf])
def test_ledger_rejects_a_window_that_is_not_a_positive_number(window: float) -> None:
    with pytest.raises(ValueError, match="window_seconds"):
        RequestLedger(clock=FakeClock(), window_seconds=window)


def test_guard_lengthens_both_windows() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_second=4, per_minute=50, clock=clock, sleep=clock.sleep, guard=0.25)

    times = acquire_times(limiter, clock, 51)

    assert times[4] - times[0] == 1.25
    assert times[50] - times[0] >= 60.25
    assert max_in_any_window(times, 1.25) == 4
