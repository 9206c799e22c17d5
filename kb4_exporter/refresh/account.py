"""One account's refresher: its clients, its data, and the refreshes that renew them.

All KnowBe4 traffic of an account goes through its refresher. The core refresh
(core.py) reads every Reporting API source; the hourly listings (hourly.py) PhishER's
look-back and the User Event API; the paging-signal poll (paging_signal.py) PhishER's
unresolved messages. Each publishes through one `ResultsPublisher`, so `results` is
safe to read from any thread and never shows half a refresh.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from kb4_exporter.api.phisher import PhisherClient
from kb4_exporter.api.reporting import ReportingClient
from kb4_exporter.api.user_events import UserEventsClient
from kb4_exporter.model.cached_recipients import CachedRecipients
from kb4_exporter.model.snapshot import Snapshot
from kb4_exporter.refresh.budgets import SeatBudgets
from kb4_exporter.refresh.core import CoreRefresh
from kb4_exporter.refresh.hourly import HourlyListings
from kb4_exporter.refresh.paging_signal import PagingSignalPoll
from kb4_exporter.refresh.publisher import ResultsPublisher
from kb4_exporter.refresh.recipients import RecipientCache
from kb4_exporter.refresh.results import (
    CORE_SOURCES,
    PHISHER_SOURCE,
    PHISHER_UNRESOLVED_SOURCE,
    USER_EVENTS_SOURCE,
    AccountResults,
    SourceStatus,
)
from kb4_exporter.refresh.settings import RefreshSettings


class AccountRefresher:
    """Owns one account's data; `results` is safe to read from any thread."""

    def __init__(
        self,
        *,
        name: str,
        region: str,
        reporting: ReportingClient,
        phisher: PhisherClient | None,
        settings: RefreshSettings,
        clock: Callable[[], float],
        user_events: UserEventsClient | None = None,
    ) -> None:
        self.name = name
        self._reporting = reporting
        self._phisher = phisher
        self._user_events = user_events
        self._clock = clock
        self._publisher = ResultsPublisher(
            AccountResults(
                name=name,
                region=region,
                phisher_enabled=phisher is not None,
                user_events_enabled=user_events is not None,
                refresh_intervals=_refresh_intervals(settings, phisher, user_events),
            ),
            settings,
        )
        self._budgets = SeatBudgets(
            settings.daily_budget,
            reporting.session,
            phisher.session if phisher is not None else None,
            user_events.session if user_events is not None else None,
        )
        self._recipients = RecipientCache(reporting, clock)
        self._core = CoreRefresh(
            name=name,
            reporting=reporting,
            recipients=self._recipients,
            budgets=self._budgets,
            publisher=self._publisher,
            clock=clock,
        )
        self._hourly = HourlyListings(
            phisher=phisher,
            user_events=user_events,
            phisher_lookback=settings.phisher_lookback,
            publisher=self._publisher,
            clock=clock,
        )
        self._signal = PagingSignalPoll(
            phisher=phisher,
            horizon=settings.phisher_unresolved_horizon,
            publisher=self._publisher,
            clock=clock,
        )

    @property
    def results(self) -> AccountResults:
        return self._publisher.latest

    @property
    def reporting(self) -> ReportingClient:
        return self._reporting

    @property
    def phisher(self) -> PhisherClient | None:
        return self._phisher

    @property
    def user_events(self) -> UserEventsClient | None:
        return self._user_events

    @property
    def recipient_cache(self) -> Mapping[int, CachedRecipients]:
        return self._recipients.entries

    def restore(
        self,
        snapshot: Snapshot,
        sources: Mapping[str, SourceStatus],
        recipient_cache: Mapping[int, CachedRecipients],
    ) -> None:
        """Adopt persisted data; each source keeps the outcome of its latest refresh.

        A restart does not make good data worse: a source whose latest refresh succeeded
        stays up (its last-success time shows the age), so a routine restart or deploy
        does not report every source down until its next refresh is due.
        """
        self._recipients.restore(recipient_cache)
        if snapshot.account is not None:
            self._budgets.apply(snapshot.account.seats)
        core_loaded = snapshot.users is not None and snapshot.enrollments is not None

        def restored(latest: AccountResults) -> AccountResults:
            known = {n: s for n, s in sources.items() if n in latest.refresh_intervals}
            return replace(latest, sources=known, ready=core_loaded)

        self._publisher.publish(restored, lambda _: snapshot, self._clock())

    def refresh_core(self) -> bool:
        """Every Reporting API source; True when all the KRI sources succeeded."""
        return self._core.run()

    def refresh_phisher(self) -> bool:
        """PhishER's look-back listing; True on success (and when PhishER is off)."""
        return self._hourly.phisher()

    def refresh_user_events(self) -> bool:
        """The User Event API's last day; True on success (and when it is off)."""
        return self._hourly.user_events()

    def refresh_phisher_unresolved(self) -> bool:
        """The paging signal's poll; True on success (and when PhishER is off)."""
        return self._signal.run()


def _refresh_intervals(
    settings: RefreshSettings,
    phisher: PhisherClient | None,
    user_events: UserEventsClient | None,
) -> dict[str, float]:
    intervals = dict.fromkeys(CORE_SOURCES, settings.refresh_interval)
    if phisher is not None:
        intervals[PHISHER_SOURCE] = settings.phisher_refresh_interval
        intervals[PHISHER_UNRESOLVED_SOURCE] = settings.phisher_unresolved_interval
    if user_events is not None:
        # Hourly like PhishER: the window is one day and the quota is ample.
        intervals[USER_EVENTS_SOURCE] = settings.phisher_refresh_interval
    return intervals
