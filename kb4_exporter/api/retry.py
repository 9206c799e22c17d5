"""When a failed attempt is tried again, and after how long.

Only what may pass is retried (429, the transient 5xx, transport failures that are not
in the request itself), and only while attempts are left. The wait is an exponential
back-off with jitter, or the server's `Retry-After` where that is longer. A
`Retry-After` over `max_retry_after` gives up at once, and so does a wait that would
pass the refresh's deadline: a retry nobody waits for only spends the budget.
"""

from __future__ import annotations

import email.utils
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Final

RETRIED_STATUSES: Final = frozenset({429, 500, 502, 503, 504})

_DELTA_SECONDS = re.compile(r"^\d+(\.\d+)?$")
# 2 ** 62 s is past any cap: a larger exponent only risks an overflow.
_MAX_EXPONENT: Final = 62


@dataclass(frozen=True)
class GiveUp:
    """No retry; `note` says why where it does not go without saying."""

    note: str = ""


class RetryPolicy:
    """Decides, after a failed attempt, whether to try again and how long to wait first.

    The settings are checked by `PacedSession`, which builds the policy.
    """

    def __init__(
        self,
        *,
        max_attempts: int,
        backoff_base: float,
        backoff_max: float,
        max_retry_after: float,
        rng: random.Random,
    ) -> None:
        self.max_attempts = max_attempts
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._max_retry_after = max_retry_after
        self._rng = rng

    def next_wait(
        self,
        attempt: int,
        *,
        retryable: bool,
        retry_after: float | None,
        wait_fits: Callable[[float], bool],
    ) -> float | GiveUp:
        """Seconds to wait before attempt `attempt + 1`, or GiveUp.

        `wait_fits` says whether a wait of that many seconds leaves time for the attempt
        after it (the refresh's deadline).
        """
        if not retryable or attempt >= self.max_attempts:
            return GiveUp()
        if retry_after is not None and retry_after > self._max_retry_after:
            return GiveUp(
                f"the server asks to wait {retry_after:.0f} s (Retry-After), more than the "
                f"{self._max_retry_after:.0f} s this exporter waits; giving up"
            )
        delay = self.delay(attempt, retry_after)
        if not wait_fits(delay):
            return GiveUp("the refresh would pass its deadline before the next attempt; giving up")
        return delay

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """The back-off after attempt `attempt` (from 1), or `retry_after` if longer."""
        exponent = min(attempt - 1, _MAX_EXPONENT)
        backoff = min(self._backoff_max, self._backoff_base * 2.0**exponent)
        # Jitter keeps concurrent exporters from retrying in lockstep; never below half.
        jittered = backoff * self._rng.uniform(0.5, 1.0)
        return jittered if retry_after is None else max(retry_after, jittered)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a delta-seconds or HTTP-date `Retry-After`; None if absent or bad."""
    if value is None:
        return None
    text = value.strip()
    if _DELTA_SECONDS.match(text):
        return float(text)  # may be inf for absurd values: over any cap, so we give up
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)
