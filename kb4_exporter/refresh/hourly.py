"""The listings refreshed hourly, on their own thread: PhishER's look-back window (the
4-24 h KRI and the unresolved-by-severity counts) and the User Event API's last day.
Each replaces its records on success and keeps the last complete ones otherwise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from kb4_exporter.api.listing import Listing
from kb4_exporter.api.phisher import PhisherClient
from kb4_exporter.api.user_events import UserEventsClient
from kb4_exporter.kris.windows import PHISHER_OLDEST, USER_EVENT_WINDOW
from kb4_exporter.model.snapshot import Snapshot
from kb4_exporter.refresh.publisher import ResultsPublisher
from kb4_exporter.refresh.results import PHISHER_SOURCE, USER_EVENTS_SOURCE
from kb4_exporter.refresh.source_run import SourceRun, StopRefresh


class HourlyListings:
    def __init__(
        self,
        *,
        phisher: PhisherClient | None,
        user_events: UserEventsClient | None,
        phisher_lookback: float,
        publisher: ResultsPublisher,
        clock: Callable[[], float],
    ) -> None:
        self._phisher = phisher
        self._user_events = user_events
        self._phisher_lookback = phisher_lookback
        self._publisher = publisher
        self._clock = clock

    def phisher(self) -> bool:
        """Refresh PhishER messages; True on success (and when PhishER is off)."""
        phisher = self._phisher
        if phisher is None:
            return True
        now = self._clock()
        # The look-back breakdown's window, and at least the KRI's.
        start = now - max(self._phisher_lookback, PHISHER_OLDEST)
        return self._refresh(
            PHISHER_SOURCE,
            lambda: phisher.messages(start),
            lambda snapshot, records: replace(
                snapshot, phisher_messages=records, phisher_window=(start, now)
            ),
            now,
        )

    def user_events(self) -> bool:
        """Refresh the last day's User Event API events; True on success (and when off)."""
        client = self._user_events
        if client is None:
            return True
        now = self._clock()
        return self._refresh(
            USER_EVENTS_SOURCE,
            lambda: client.events_since(now - USER_EVENT_WINDOW),
            lambda snapshot, records: replace(snapshot, user_events=records),
            now,
        )

    def _refresh(
        self,
        source: str,
        fetch: Callable[[], Listing[Any]],
        apply: Callable[[Snapshot, tuple[Any, ...]], Snapshot],
        now: float,
    ) -> bool:
        run = SourceRun(self._publisher.latest, self._clock)
        try:
            listing = run.listing(source, fetch)
        except StopRefresh:
            listing = None
        self._publisher.publish(
            lambda latest: run.merged_into(latest, ready=False),
            lambda snapshot: snapshot if listing is None else apply(snapshot, listing.records),
            now,
        )
        return run.sources[source].up
