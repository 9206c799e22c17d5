"""Client-side pacing of KnowBe4 traffic: a two-window rate limiter and a rolling request ledger.

KnowBe4 sends no rate-limit headers, so the exporter keeps its own books: the limiter keeps
requests under the per-second and per-minute limits, and the ledger counts what the rolling
24 h budget has spent (and can be persisted so a restart does not forget it).
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Final

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
"""Wall-clock epoch seconds, like `time.time`."""

Sleep = Callable[[float], None]
"""Blocks for the given seconds; may raise `errors.Interrupted` when the exporter shuts down."""

MINUTE: Final = 60.0

# A safety net, not a working limit: KnowBe4 serves at most 4 requests/s, i.e. 345,600 a day,
# so a real ledger never reaches this; it only stops a misconfigured pace from growing memory.
MAX_LEDGER_ENTRIES: Final = 500_000


class _SlidingWindow:
    """At most `limit` events in any half-open interval of `length` seconds."""

    def __init__(self, limit: int, length: float) -> None:
        self.limit = limit
        self.length = length
        # Only the newest `limit` events can decide whether the next one fits.
        self._events: deque[float] = deque(maxlen=limit)

    def wait_needed(self, now: float) -> float:
        """Seconds until one more event fits (0.0 when it fits now)."""
        self._tolerate_clock_step_back(now)
        if len(self._events) < self.limit:
            return 0.0
        # Compare against the same rounded sum that the wait is computed from, so that
        # sleeping exactly the returned time always makes the event fit.
        free_at = self._events[0] + self.length
        return 0.0 if now >= free_at else free_at - now

    def record(self, now: float) -> None:
        self._events.append(now)

    def _tolerate_clock_step_back(self, now: float) -> None:
        # The clock is wall time and may be stepped back (NTP). Pull recorded events back to
        # `now` so the window restarts there: conservative, and never a wait of hours.
        if self._events and self._events[-1] > now:
            self._events = deque((min(event, now) for event in self._events), maxlen=self.limit)


class RateLimiter:
    """Blocks each request until it fits a per-second and a per-minute sliding window.

    A fractional `per_second` is honoured over a longer window: 2.5/s allows 2 requests
    per 0.8 s, 0.5/s allows 1 request per 2 s. `guard` lengthens both windows: the server
    counts arrivals, not our send times, so varying latency can otherwise squeeze one
    request too many into its window and earn a 429.
    """

    def __init__(
        self,
        *,
        per_second: float,
        per_minute: int,
        clock: Clock,
        sleep: Sleep,
        guard: float = 0.0,
    ) -> None:
        if not (math.isfinite(per_second) and per_second > 0):
            raise ValueError(f"per_second must be a positive number, got {per_second!r}")
        if per_minute < 1:
            raise ValueError(f"per_minute must be at least 1, got {per_minute!r}")
        if not (math.isfinite(guard) and guard >= 0):
            raise ValueError(f"guard must be a non-negative number, got {guard!r}")
        burst = max(1, math.floor(per_second))
        self._windows = (
            _SlidingWindow(burst, burst / per_second + guard),
            _SlidingWindow(per_minute, MINUTE + guard),
        )
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Wait until one request fits both windows, then count it. Thread-safe."""
        while True:
            with self._lock:
                now = self._clock()
                wait = max(window.wait_needed(now) for window in self._windows)
                if wait <= 0.0:
                    for window in self._windows:
                        window.record(now)
                    return
            # Sleep without the lock so other threads (and shutdown) are never stuck behind it.
            self._sleep(wait)


class RequestLedger:
    """Rolling 24 h log of request timestamps; bounded memory; thread-safe.

    Entries older than the window are dropped on every call, so memory follows the request
    rate; `MAX_LEDGER_ENTRIES` caps it even if the pace is misconfigured.
    """

    def __init__(self, *, clock: Clock, window_seconds: float = 86400.0) -> None:
        if not (math.isfinite(window_seconds) and window_seconds > 0):
            raise ValueError(f"window_seconds must be a positive number, got {window_seconds!r}")
        self._clock = clock
        self._window = window_seconds
        self._times: deque[float] = deque(maxlen=MAX_LEDGER_ENTRIES)
        self._lock = threading.Lock()

    def record(self) -> None:
        """Count one request sent now."""
        with self._lock:
            now = self._clock()
            self._drop_expired(now)
            # Keep the log sorted even if the wall clock steps back; the entry then counts
            # a little longer than it should, which errs on the side of the budget.
            self._times.append(max(now, self._times[-1]) if self._times else now)

    def used(self) -> int:
        """Requests counted within the window ending now."""
        with self._lock:
            self._drop_expired(self._clock())
            return len(self._times)

    def timestamps(self) -> list[float]:
        """The live entries, oldest first, for persistence."""
        with self._lock:
            self._drop_expired(self._clock())
            return list(self._times)

    def restore(self, timestamps: Iterable[float]) -> None:
        """Add persisted entries from an earlier run; call once, before sending requests.

        Values in the future, older than the window, non-finite or not numbers at all
        (a hand-edited or corrupt state file) are ignored.
        """
        try:
            values = list(timestamps)
        except TypeError:
            logger.warning("Ignoring persisted request timestamps: not a list")
            return
        with self._lock:
            now = self._clock()
            oldest = now - self._window
            kept = [t for t in map(_as_timestamp, values) if t is not None and oldest < t <= now]
            merged = sorted([*self._times, *kept])
            self._times = deque(merged[-MAX_LEDGER_ENTRIES:], maxlen=MAX_LEDGER_ENTRIES)
        ignored = len(values) - len(kept)
        logger.info(
            "Restored %d request timestamps; ignored %d invalid or expired", len(kept), ignored
        )

    def _drop_expired(self, now: float) -> None:
        cutoff = now - self._window
        while self._times and self._times[0] <= cutoff:
            self._times.popleft()


def _as_timestamp(value: Any) -> float | None:
    """A finite number as float; None for anything else (strings, bools, NaN, huge ints)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
