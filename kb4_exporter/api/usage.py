"""What the exporter has spent of one API: requests by outcome, and the daily budget.

The counts feed `kb4_api_requests_total` and `kb4_api_throttled_total`; the budget is
checked against the request ledger (`pacing.RequestLedger`) before every attempt, so the
exporter stops itself before KnowBe4 has to.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Mapping
from dataclasses import dataclass

from kb4_exporter.api.errors import BudgetExhaustedError
from kb4_exporter.api.outcomes import Call
from kb4_exporter.api.pacing import RequestLedger


@dataclass(frozen=True)
class ApiStatsSnapshot:
    """Requests sent so far, for `kb4_api_requests_total` and `kb4_api_throttled_total`."""

    requests_by_code: Mapping[str, int]  # HTTP status as str, or "timeout" / "connection"
    throttled: int  # number of 429 responses


class RequestCounter:
    """Every attempt sent, by HTTP status or by what kept it from one; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_code: dict[str, int] = {}
        self._throttled = 0

    def count(self, code: int | str) -> None:
        """One attempt that ended with status `code`, or "timeout" / "connection"."""
        with self._lock:
            key = str(code)
            self._by_code[key] = self._by_code.get(key, 0) + 1
            if code == 429:
                self._throttled += 1

    def snapshot(self) -> ApiStatsSnapshot:
        with self._lock:
            return ApiStatsSnapshot(
                requests_by_code=types.MappingProxyType(dict(self._by_code)),
                throttled=self._throttled,
            )


class DailyBudget:
    """The rolling 24 h request budget, by the exporter's own ledger; thread-safe.

    Unknown (None) until `/v1/account` has told the seats it is computed from.
    """

    def __init__(self, ledger: RequestLedger, limit: int | None = None) -> None:
        self._ledger = ledger
        self._lock = threading.Lock()
        self._limit: int | None = None
        self.set_limit(limit)

    def set_limit(self, limit: int | None) -> None:
        if limit is not None and limit < 0:
            raise ValueError(f"daily budget must not be negative, got {limit}")
        with self._lock:
            self._limit = limit

    def limit(self) -> int | None:
        with self._lock:
            return self._limit

    def remaining(self) -> int | None:
        """Requests left in the rolling window; None until the budget is known."""
        limit = self.limit()
        if limit is None:
            return None
        return max(0, limit - self._ledger.used())

    def ensure_room(self, call: Call) -> None:
        """BudgetExhaustedError, naming `call`, when the budget is spent."""
        limit = self.limit()
        if limit is None:
            return
        used = self._ledger.used()
        if used >= limit:
            raise BudgetExhaustedError(
                f"{call.where}: not sent, the daily budget of {limit} requests is spent "
                f"({used} in the last 24 h by this exporter's ledger); it frees up as the "
                "oldest requests age out",
                endpoint=call.endpoint,
            )
