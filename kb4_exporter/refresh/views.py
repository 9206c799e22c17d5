"""What the collector reads at each scrape: each account's latest results and its API
sessions' counters."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from kb4_exporter.refresh.results import AccountResults


@dataclass(frozen=True)
class ApiUsage:
    """Counters and budget of one API session, read at scrape time."""

    api: str
    requests_by_code: Mapping[str, int]
    throttled: int
    budget_limit: int | None
    budget_remaining: int | None


@dataclass(frozen=True)
class AccountView:
    results: AccountResults
    apis: Sequence[ApiUsage]
    state_write_errors: int = 0


ViewProvider = Callable[[], Sequence[AccountView]]
