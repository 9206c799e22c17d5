"""A clock that skips its sleeps: real elapsed time plus every wait, without waiting.

Shared by the exporter's rate limiter and the simulator's pacing, it lets a refresh that
the 50 requests/minute limit stretches over many minutes run in seconds, while the
clock still reads what a wall clock would have read: compute and I/O time as measured,
plus each pacing wait and each simulated network latency as if it had been slept.
"""

from __future__ import annotations

import threading
import time


class AcceleratedClock:
    def __init__(self, start: float | None = None) -> None:
        self._epoch = time.time() if start is None else start
        self._origin = time.perf_counter()
        self._skipped = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Epoch seconds, like `time.time`."""
        with self._lock:
            return self._epoch + (time.perf_counter() - self._origin) + self._skipped

    def sleep(self, seconds: float) -> None:
        """Advance the clock by `seconds` at once."""
        if seconds > 0:
            with self._lock:
                self._skipped += seconds

    @property
    def skipped(self) -> float:
        """Seconds of sleep skipped so far."""
        with self._lock:
            return self._skipped
