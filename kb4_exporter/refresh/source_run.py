"""The bookkeeping of one refresh: each source's status and the errors counted, then
merged into the latest results (another thread may have published meanwhile).

A failed or truncated listing is never used: its source keeps its last complete records.
Some failures stop the whole refresh (`StopRefresh`): every further call would fail
the same way, or overspend.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from kb4_exporter.api.errors import ApiError, Interrupted
from kb4_exporter.api.listing import Listing
from kb4_exporter.model.source_status import SourceStatus
from kb4_exporter.refresh.results import AccountResults

log = logging.getLogger(__name__)

# Failures after which the rest of a refresh cannot succeed or would overspend. A 429
# that outlasted every retry counts: KnowBe4's limits are account-wide, so every
# further call would be refused too (and spend ledger entries and back-off on it).
_STOPPING_REASONS = frozenset({"auth", "budget_exhausted", "rate_limited"})


def stops_the_refresh(error: ApiError) -> bool:
    """A failure every further call of the refresh would share: see _STOPPING_REASONS; and
    a host no connection could be made to."""
    return error.reason in _STOPPING_REASONS or error.host_unreachable


class StopRefresh(Exception):  # noqa: N818 - control flow, carries the error
    def __init__(self, error: ApiError) -> None:
        super().__init__(str(error))
        self.error = error


class SourceRun:
    """Bookkeeping of one refresh: source statuses and error counts, built then published."""

    def __init__(self, previous: AccountResults, clock: Callable[[], float]) -> None:
        self._previous = previous
        self._clock = clock
        self.sources: dict[str, SourceStatus] = dict(previous.sources)
        self.new_errors: Counter[tuple[str, str]] = Counter()
        self.attempted: set[str] = set()
        self.changed: set[str] = set()

    def merged_into(self, latest: AccountResults, *, ready: bool) -> AccountResults:
        """The sources this run changed and the errors it counted, over `latest`: another
        thread may have published since this run began (PhishER has its own). `ready`
        makes the account ready; nothing makes it unready."""
        errors = Counter(latest.errors)
        errors.update(self.new_errors)
        sources = {**latest.sources, **{name: self.sources[name] for name in self.changed}}
        return replace(latest, sources=sources, errors=dict(errors), ready=latest.ready or ready)

    def source(self, name: str, fetch: Callable[[], Any]) -> Any:
        started = self._clock()
        try:
            value = fetch()
        except Interrupted:
            raise
        except ApiError as err:
            self.finish(name, started, err, truncated=False)
            if stops_the_refresh(err):
                raise StopRefresh(err) from None
            return None
        self.finish(name, started, None, truncated=False)
        return value

    def listing(self, name: str, fetch: Callable[[], Listing[Any] | None]) -> Listing[Any] | None:
        """The complete listing, or None: a failed or truncated one is never used, so the
        source keeps its last complete records (and the KRIs computed from them). A fetch
        that returns None could not run for want of another source's data."""
        started = self._clock()
        try:
            listing = fetch()
        except Interrupted:
            raise
        except ApiError as err:
            self.finish(name, started, err, truncated=err.reason == "budget_exhausted")
            if stops_the_refresh(err):
                raise StopRefresh(err) from None
            return None
        if listing is None:
            self.fail_without_error(name)
            return None
        if listing.truncated:
            self.cut_short(name, started)
            return None
        self.finish(name, started, None, truncated=False)
        return listing

    def finish(self, name: str, started: float, error: ApiError | None, truncated: bool) -> None:
        ended = self._clock()
        self.attempted.add(name)
        self.changed.add(name)
        previous = self.sources.get(name, SourceStatus())
        if error is None:
            self.sources[name] = SourceStatus(
                up=True,
                last_success=ended,
                last_attempt=started,
                duration=ended - started,
                truncated=truncated,
            )
            return
        self.new_errors[(name, error.reason)] += 1
        self.sources[name] = replace(
            previous,
            up=False,
            last_attempt=started,
            duration=ended - started,
            truncated=truncated or error.reason == "budget_exhausted",
        )
        log.warning(
            "source=%s reason=%s: %s",
            name,
            error.reason,
            error,
            extra={"account": self._previous.name},
        )

    def cut_short(self, name: str, started: float) -> None:
        """A page cap cut the listing: down and truncated, no error counted (the reason
        is the operator's cap, logged by the client)."""
        ended = self._clock()
        self.attempted.add(name)
        self.changed.add(name)
        previous = self.sources.get(name, SourceStatus())
        self.sources[name] = replace(
            previous, up=False, last_attempt=started, duration=ended - started, truncated=True
        )

    def fail_without_error(self, name: str) -> None:
        """A source that could not run because what it depends on never loaded."""
        now = self._clock()
        self.attempted.add(name)
        self.changed.add(name)
        previous = self.sources.get(name, SourceStatus())
        self.sources[name] = replace(previous, up=False, last_attempt=now, duration=0.0)

    def skip_remaining(self, names: tuple[str, ...], error: ApiError) -> None:
        """Sources not reached after a stopping failure: down, and cut by the budget if so."""
        now = self._clock()
        for name in names:
            if name in self.attempted:
                continue
            status = self.sources.get(name, SourceStatus())
            self.changed.add(name)
            self.sources[name] = replace(
                status,
                up=False,
                last_attempt=now,
                duration=0.0,
                truncated=status.truncated or error.reason == "budget_exhausted",
            )
