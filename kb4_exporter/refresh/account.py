"""One account's refreshes: fetch each source, keep last good data, recompute the KRIs.

All KnowBe4 traffic of an account goes through its refresher, one refresh at a time.
A failed source keeps its last good records (never blanks them); an auth failure or an
exhausted budget (ours, or KnowBe4's: a 429 that outlasts the retries) stops the refresh
early, since every further call would fail the same way or overspend. Recipients are
cached by a fingerprint of their PST's summary counts: a closed PST's for as long as the
fingerprint holds, an open PST's for at most a day. PSTs whose counts show no clicks and
no reports are not fetched at all.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from kb4_exporter.api.errors import ApiError, Interrupted
from kb4_exporter.api.listing import Listing
from kb4_exporter.api.phisher import PhisherClient
from kb4_exporter.api.reporting import ReportingClient
from kb4_exporter.api.user_events import UserEventsClient
from kb4_exporter.config.settings import BASE_DAILY_BUDGET
from kb4_exporter.kris.breakdowns import BreakdownLimits, compute_breakdowns
from kb4_exporter.kris.enrollments import EnrollmentTally
from kb4_exporter.kris.values import carry_over, compute_kris
from kb4_exporter.model.records import EnrollmentGroup, PstRecipients, SecurityTest, Snapshot
from kb4_exporter.refresh.phisher_unresolved import Tracker, oldest_ages, poll, tracker_of
from kb4_exporter.refresh.results import (
    CORE_SOURCES,
    KRI_SOURCES,
    PHISHER_SOURCE,
    PHISHER_UNRESOLVED_SOURCE,
    USER_EVENTS_SOURCE,
    AccountResults,
    SourceStatus,
)

log = logging.getLogger(__name__)

PST_WINDOW_SECONDS = 90 * 86400.0
KRI_PHISHER_WINDOW_SECONDS = 86400.0
USER_EVENT_WINDOW_SECONDS = 86400.0
# The User Event API allows ten calls per seat per day.
USER_EVENT_CALLS_PER_SEAT = 10
# An open PST whose summary counts have not moved is re-read at least this often, in
# case KnowBe4 updates the counts later than the recipient rows behind them.
OPEN_PST_RECIPIENTS_MAX_AGE = 86400.0
# Failures after which the rest of a refresh cannot succeed or would overspend. A 429
# that outlasted every retry counts: KnowBe4's limits are account-wide, so every
# further call would be refused too (and spend ledger entries and back-off on it).
_STOPPING_REASONS = frozenset({"auth", "budget_exhausted", "rate_limited"})


def _stops_the_refresh(error: ApiError) -> bool:
    """A failure every further call of the refresh would share: see _STOPPING_REASONS; and
    a host no connection could be made to."""
    return error.reason in _STOPPING_REASONS or error.host_unreachable


@dataclass(frozen=True, slots=True)
class CachedRecipients:
    fingerprint: str
    summary: PstRecipients
    # When the rows behind the summary were read; 0 when unknown (older state files).
    fetched_at: float = 0.0

    def still_valid(self, pst: SecurityTest, now: float) -> bool:
        """True when the PST's recipients need not be read again."""
        if self.fingerprint != pst_fingerprint(pst):
            return False
        return pst.is_closed or 0.0 <= now - self.fetched_at < OPEN_PST_RECIPIENTS_MAX_AGE


def pst_fingerprint(pst: SecurityTest) -> str:
    """Changes whenever the PST's status or any summary count changes."""
    counts = ",".join(f"{k}={v}" for k, v in sorted(pst.counts.items()))
    return f"{pst.status.lower()}|{counts}"


class _StopRefresh(Exception):  # noqa: N818 - control flow, carries the error
    def __init__(self, error: ApiError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class RefreshSettings:
    remedial_pattern: re.Pattern[str]
    phisher_lookback: float
    refresh_interval: float
    phisher_refresh_interval: float
    daily_budget: int | None
    limits: BreakdownLimits = field(default_factory=BreakdownLimits)
    # The paging signal's own poll: how often, and how far back messages are followed.
    phisher_unresolved_interval: float = 300.0
    phisher_unresolved_horizon: float = 30 * 86400.0


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
        self._settings = settings
        self._clock = clock
        self._recipient_cache: dict[int, CachedRecipients] = {}
        # Unparseable campaign durations already logged: once per text, not per refresh.
        self._warned_durations: set[str] = set()
        # Reporting API calls of the latest core refresh in which every source succeeded.
        self._last_core_calls: int | None = None
        # PhishER refreshes run on their own thread: every publish reads the latest
        # results and writes the next ones under this lock.
        self._publish_lock = threading.Lock()
        intervals = dict.fromkeys(CORE_SOURCES, settings.refresh_interval)
        if phisher is not None:
            intervals[PHISHER_SOURCE] = settings.phisher_refresh_interval
            intervals[PHISHER_UNRESOLVED_SOURCE] = settings.phisher_unresolved_interval
        if user_events is not None:
            # Hourly like PhishER: the window is one day and the quota is ample.
            intervals[USER_EVENTS_SOURCE] = settings.phisher_refresh_interval
        self._results = AccountResults(
            name=name,
            region=region,
            phisher_enabled=phisher is not None,
            user_events_enabled=user_events is not None,
            refresh_intervals=intervals,
        )
        # Until /v1/account has given the seats, the seatless base budget caps the calls:
        # an account endpoint that fails (403 on some tenants) must not leave them uncapped.
        budget = settings.daily_budget if settings.daily_budget is not None else BASE_DAILY_BUDGET
        reporting.session.set_daily_budget(budget)
        if phisher is not None:
            phisher.session.set_daily_budget(budget)

    # --- reading -------------------------------------------------------------------

    @property
    def results(self) -> AccountResults:
        return self._results

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
        return dict(self._recipient_cache)

    # --- restoring from the state dir -------------------------------------------------

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
        self._recipient_cache = dict(recipient_cache)
        restored = {
            name: status
            for name, status in sources.items()
            if name in self._results.refresh_intervals
        }
        if snapshot.account is not None:
            self._apply_seat_budgets(snapshot.account.seats)
        core_loaded = snapshot.users is not None and snapshot.enrollments is not None
        with self._publish_lock:
            self._publish(
                replace(self._results, sources=restored, ready=core_loaded),
                snapshot,
                self._clock(),
            )

    # --- refreshing ---------------------------------------------------------------------

    def refresh_core(self) -> bool:
        """Refresh every core source; True when all the KRI sources succeeded."""
        now = self._clock()
        run = _Run(self._results, self._clock)
        fields: dict[str, Any] = {}
        self._warn_if_the_budget_cannot_fit()
        calls_before = self._reporting_calls()
        try:
            account = run.source("account", self._reporting.account)
            if account is not None:
                fields["account"] = account
                self._apply_seat_budgets(account.seats)
            fetches: tuple[tuple[str, Callable[[], Listing[Any] | None]], ...] = (
                ("users", self._reporting.users),
                ("groups", self._reporting.groups),
                ("training_campaigns", self._reporting.training_campaigns),
                ("enrollments", lambda: self._enrollments(fields, now)),
                ("security_tests", self._reporting.security_tests),
            )
            for source, fetch in fetches:
                listing = run.listing(source, fetch)
                if listing is not None:
                    fields[source] = listing.records
            tests = fields.get("security_tests", self._results.snapshot.security_tests)
            fields["recipients"], stop = self._refresh_recipients(run, tests, now)
            if stop is not None:
                raise _StopRefresh(stop)
            for source, fetch_count, field_name in (
                ("archived_users", self._reporting.archived_users, "archived_user_count"),
                (
                    "phishing_campaigns",
                    self._reporting.phishing_campaigns,
                    "phishing_campaign_count",
                ),
                ("store_purchases", self._reporting.store_purchases, "store_purchase_count"),
                ("policies", self._reporting.policies, "policy_count"),
            ):
                counted = run.listing(source, fetch_count)
                if counted is not None:
                    fields[field_name] = len(counted.records)
            history = run.listing("risk_history", self._reporting.account_risk_history)
            if history is not None:
                fields["risk_history"] = history.records
        except _StopRefresh as stop:
            run.skip_remaining(CORE_SOURCES, stop.error)
        kri_sources_up = all(run.sources[s].up for s in KRI_SOURCES)
        if all(run.sources[source].up for source in CORE_SOURCES):
            self._last_core_calls = self._reporting_calls() - calls_before
        with self._publish_lock:
            latest = self._results
            snapshot = replace(
                latest.snapshot, **{k: v for k, v in fields.items() if v is not None}
            )
            self._publish(run.merged_into(latest, ready=kri_sources_up), snapshot, now)
        # Only the KRI sources decide on an early retry: an inventory endpoint the token may
        # not read (403) must not make the whole refresh repeat every few minutes.
        return kri_sources_up

    def _reporting_calls(self) -> int:
        return sum(self._reporting.session.stats().requests_by_code.values())

    def _warn_if_the_budget_cannot_fit(self) -> None:
        """One line before a core refresh that the budget left cannot cover, judged by the
        calls of the last complete one: it will stop early and keep last good data."""
        needed = self._last_core_calls
        session = self._reporting.session
        remaining, limit = session.budget_remaining(), session.budget_limit()
        if needed is None or remaining is None or limit is None or remaining >= needed:
            return
        log.warning(
            "the last complete refresh took %d Reporting API calls but only %d of the daily "
            "budget of %d are left in the last 24 h; this refresh stops when the budget is "
            "spent and its remaining sources keep their last complete data",
            needed,
            remaining,
            limit,
            extra={"account": self.name},
        )

    def _enrollments(
        self, fields: Mapping[str, Any], now: float
    ) -> Listing[EnrollmentGroup] | None:
        """Enrollments counted against the campaigns of this refresh, else the last good
        ones. Without any campaign listing they are not read: a tally joined to no campaign
        would miss every due date, and would be kept as if complete."""
        campaigns = fields.get("training_campaigns", self._results.snapshot.training_campaigns)
        if campaigns is None:
            return None
        tally = EnrollmentTally(campaigns, built_at=now, warned=self._warned_durations)
        return self._reporting.enrollments(tally)

    def refresh_phisher(self) -> bool:
        """Refresh PhishER messages; True on success (and when PhishER is off)."""
        phisher = self._phisher
        if phisher is None:
            return True
        now = self._clock()
        start = now - max(self._settings.phisher_lookback, KRI_PHISHER_WINDOW_SECONDS)
        return self._refresh_hourly_source(
            PHISHER_SOURCE,
            lambda: phisher.messages(start),
            lambda snapshot, records: replace(
                snapshot, phisher_messages=records, phisher_window=(start, now)
            ),
            now,
        )

    def refresh_user_events(self) -> bool:
        """Refresh the last day's User Event API events; True on success (and when off)."""
        client = self._user_events
        if client is None:
            return True
        now = self._clock()
        return self._refresh_hourly_source(
            USER_EVENTS_SOURCE,
            lambda: client.events_since(now - USER_EVENT_WINDOW_SECONDS),
            lambda snapshot, records: replace(snapshot, user_events=records),
            now,
        )

    def _refresh_hourly_source(
        self,
        source: str,
        fetch: Callable[[], Listing[Any]],
        apply: Callable[[Snapshot, tuple[Any, ...]], Snapshot],
        now: float,
    ) -> bool:
        """One listing on its own schedule; its records replace the old ones on success."""
        run = _Run(self._results, self._clock)
        try:
            listing = run.listing(source, fetch)
        except _StopRefresh:
            listing = None
        with self._publish_lock:
            latest = self._results
            snapshot = latest.snapshot
            if listing is not None:
                snapshot = apply(snapshot, listing.records)
            self._publish(run.merged_into(latest, ready=False), snapshot, now)
        return run.sources[source].up

    def refresh_phisher_unresolved(self) -> bool:
        """Poll the unresolved PhishER messages (the paging signal); True on success (and
        when PhishER is off). A failed poll keeps the messages last known unresolved and
        ages them to now, so the signal never drops while PhishER cannot be read."""
        phisher = self._phisher
        if phisher is None:
            return True
        now = self._clock()
        horizon = self._settings.phisher_unresolved_horizon
        run = _Run(self._results, self._clock)
        started = self._clock()
        previous = tracker_of(self._results.snapshot)
        tracker: Tracker | None
        try:
            tracker = poll(
                previous,
                now=now,
                horizon=horizon,
                list_since=phisher.messages_since,
                look_up=phisher.look_up,
            )
        except Interrupted:
            raise
        except ApiError as err:
            tracker = None
            truncated = previous is not None and previous.truncated(now, horizon)
            run.finish(PHISHER_UNRESOLVED_SOURCE, started, err, truncated=truncated)
        else:
            run.finish(
                PHISHER_UNRESOLVED_SOURCE, started, None, truncated=tracker.truncated(now, horizon)
            )
        with self._publish_lock:
            latest = self._results
            snapshot = latest.snapshot if tracker is None else tracker.store(latest.snapshot)
            results = run.merged_into(latest, ready=False)
            # Only the signal changes: the KRIs keep the time of their own refreshes.
            self._results = replace(
                results,
                snapshot=snapshot,
                phisher_oldest_unresolved=self._oldest_unresolved(snapshot, now),
            )
        return run.sources[PHISHER_UNRESOLVED_SOURCE].up

    def _refresh_recipients(
        self, run: _Run, tests: tuple[SecurityTest, ...] | None, now: float
    ) -> tuple[Mapping[int, PstRecipients] | None, ApiError | None]:
        """The recipient summaries of in-window PSTs, and a failure that must stop the refresh."""
        if tests is None:
            run.fail_without_error("recipients")
            return None, None
        in_window = [
            t
            for t in tests
            if t.started_at is not None and t.started_at >= now - PST_WINDOW_SECONDS
        ]
        # Newest first: if the budget runs out, the freshest PSTs are the ones fetched.
        in_window.sort(key=lambda t: t.started_at or 0.0, reverse=True)
        cache: dict[int, CachedRecipients] = {}
        failed: ApiError | None = None
        stop: ApiError | None = None
        truncated = False
        started = self._clock()
        for pst in in_window:
            if not pst.may_have_clicks_or_reports:
                continue
            cached = self._recipient_cache.get(pst.pst_id)
            if cached is not None and (stop is not None or cached.still_valid(pst, now)):
                cache[pst.pst_id] = cached
                continue
            if stop is not None:
                continue
            try:
                listing = self._reporting.recipients(pst.pst_id)
            except ApiError as err:
                # One PST's failure (a 404 for a PST deleted since the listing, say) must
                # not starve the others; only a failure every call would share stops here.
                failed = failed or err
                if _stops_the_refresh(err):
                    stop = err
                # Like every other source, a failed fetch keeps the last good data.
                if cached is not None:
                    cache[pst.pst_id] = cached
                continue
            if listing.truncated:
                # Part of a PST's recipients is no summary of it: keep the last complete one.
                truncated = True
                if cached is not None:
                    cache[pst.pst_id] = cached
                continue
            summary = PstRecipients.summarise(pst.pst_id, list(listing.records))
            cache[pst.pst_id] = CachedRecipients(pst_fingerprint(pst), summary, now)
        self._recipient_cache = cache
        if failed is None and truncated:
            run.cut_short("recipients", started)
        else:
            run.finish("recipients", started, failed, truncated)
        summaries = {pst_id: entry.summary for pst_id, entry in cache.items()}
        return summaries, stop

    def _apply_seat_budgets(self, seats: int | None) -> None:
        """Budgets that follow the seats: Reporting and PhishER unless configured, and the
        User Event API's quota always (--kb4.daily-budget is the Reporting API's)."""
        if self._settings.daily_budget is None:
            budget = BASE_DAILY_BUDGET + (seats or 0)
            self._reporting.session.set_daily_budget(budget)
            if self._phisher is not None:
                self._phisher.session.set_daily_budget(budget)
        if self._user_events is not None and seats:
            self._user_events.session.set_daily_budget(USER_EVENT_CALLS_PER_SEAT * seats)

    def _oldest_unresolved(self, snapshot: Snapshot, now: float) -> Mapping[str, float] | None:
        if self._phisher is None or snapshot.phisher_unresolved is None:
            return None
        return oldest_ages(
            snapshot.phisher_unresolved,
            now=now,
            horizon=self._settings.phisher_unresolved_horizon,
        )

    def _publish(self, results: AccountResults, snapshot: Snapshot, now: float) -> None:
        """Results with KRIs and breakdowns of `snapshot` at `now`; hold _publish_lock, and
        build `results` from the latest ones (run.merged_into)."""
        computed = compute_kris(
            snapshot,
            now,
            remedial_pattern=self._settings.remedial_pattern,
            phisher_enabled=self._phisher is not None,
        )
        kris = carry_over(computed, self._results.kris)
        breakdowns = compute_breakdowns(
            snapshot,
            now,
            limits=self._settings.limits,
            phisher_lookback=self._settings.phisher_lookback,
            phisher_enabled=self._phisher is not None,
        )
        self._results = replace(
            results,
            snapshot=snapshot,
            kris=kris,
            breakdowns=breakdowns,
            phisher_oldest_unresolved=self._oldest_unresolved(snapshot, now),
        )


class _Run:
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
            if _stops_the_refresh(err):
                raise _StopRefresh(err) from None
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
            if _stops_the_refresh(err):
                raise _StopRefresh(err) from None
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
