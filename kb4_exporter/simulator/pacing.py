"""The KnowBe4 APIs' rate limits, enforced per token with the injected clock.

Accepted requests are remembered per token in sliding windows: at most `per_second`
in any second, `per_minute` in any minute, and a daily budget in any 24 hours: by
default 2000 + seats for the Reporting API (and PhishER), and the User Event API's
quota of ten calls per seat; a configured `daily_budget` applies to every token. A
request over a short-window limit gets 429 with Retry-After (whole seconds until the
window frees a slot); over the daily budget, 429 without Retry-After. Rejected requests
do not count against the limits.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

DAY_SECONDS = 86_400.0
BASE_DAILY_BUDGET = 2000
USER_EVENT_CALLS_PER_SEAT = 10
# A request exactly one window after another must not be refused for float rounding.
_CLOCK_SLACK = 1e-6


@dataclass(frozen=True)
class PacingLimits:
    """None switches a limit off. daily_budget None: 2000 + the org's seats."""

    per_second: int | None = 4
    per_minute: int | None = 50
    daily_budget: int | None = None

    @classmethod
    def unlimited(cls) -> PacingLimits:
        return cls(per_second=None, per_minute=None, daily_budget=0)

    def budget_for(self, seats: int) -> int | None:
        """The daily budget for an org with `seats` seats; None means unlimited (0 given)."""
        if self.daily_budget is None:
            return BASE_DAILY_BUDGET + seats
        return self.daily_budget or None

    def user_event_budget_for(self, seats: int) -> int | None:
        """The User Event API's daily quota: ten calls per seat unless a budget is set."""
        if self.daily_budget is None:
            return USER_EVENT_CALLS_PER_SEAT * seats
        return self.daily_budget or None


@dataclass(frozen=True)
class Throttle:
    """Why a request was refused, and the Retry-After to send (None: send none)."""

    limit: str  # "second", "minute" or "day"
    retry_after: int | None


class Pacer:
    """Admits or throttles requests, per key (token). Thread-safe."""

    def __init__(
        self,
        limits: PacingLimits,
        clock: Callable[[], float],
        *,
        seats: int = 0,
        budget_for: Callable[[int], int | None] | None = None,
    ) -> None:
        """`budget_for` gives the daily budget for a number of seats (default:
        `limits.budget_for`)."""
        self._limits = limits
        self._clock = clock
        self._budget_for = budget_for if budget_for is not None else limits.budget_for
        self._budget = self._budget_for(seats)
        self._accepted: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def set_seats(self, seats: int) -> None:
        with self._lock:
            self._budget = self._budget_for(seats)

    @property
    def daily_budget(self) -> int | None:
        return self._budget

    def used_today(self, key: str) -> int:
        with self._lock:
            history = self._accepted.get(key, deque())
            now = self._clock()
            return sum(1 for stamp in history if stamp > now - DAY_SECONDS)

    def admit(self, key: str) -> Throttle | None:
        with self._lock:
            now = self._clock()
            history = self._accepted.setdefault(key, deque())
            while history and history[0] <= now - DAY_SECONDS + _CLOCK_SLACK:
                history.popleft()
            if self._budget is not None and len(history) >= self._budget:
                return Throttle("day", None)
            for limit, window, name in (
                (self._limits.per_minute, 60.0, "minute"),
                (self._limits.per_second, 1.0, "second"),
            ):
                if limit is None:
                    continue
                recent = _newest(history, now - window + _CLOCK_SLACK, limit)
                if len(recent) >= limit:
                    # The oldest of the last `limit` requests leaves the window first.
                    wait = recent[0] + window - now
                    return Throttle(name, max(1, math.ceil(wait)))
            history.append(now)
            return None


def _newest(history: deque[float], after: float, limit: int) -> list[float]:
    """Up to `limit` of the newest stamps later than `after`, oldest first."""
    found: list[float] = []
    for stamp in reversed(history):
        if stamp <= after or len(found) == limit:
            break
        found.append(stamp)
    found.reverse()
    return found
