"""The core refresh: every Reporting API source of one account, in order.

The KRI sources come first (account, users, groups, training campaigns, enrollments,
phishing tests, their recipients), then the inventory and the risk trend. A failed
source keeps its last complete records (never blanks them); an auth failure or a spent
budget (ours, or KnowBe4's: a 429 that outlasts the retries) stops the refresh early,
since every further call would fail the same way or overspend.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from kb4_exporter.api.listing import Listing
from kb4_exporter.api.reporting import ReportingClient
from kb4_exporter.kris.enrollments import EnrollmentTally, duration_warnings
from kb4_exporter.model.reporting import EnrollmentGroup
from kb4_exporter.refresh.budgets import SeatBudgets
from kb4_exporter.refresh.publisher import ResultsPublisher
from kb4_exporter.refresh.recipients import RecipientCache
from kb4_exporter.refresh.results import CORE_SOURCES, KRI_SOURCES
from kb4_exporter.refresh.source_run import SourceRun, StopRefresh

log = logging.getLogger(__name__)


class CoreRefresh:
    def __init__(
        self,
        *,
        name: str,
        reporting: ReportingClient,
        recipients: RecipientCache,
        budgets: SeatBudgets,
        publisher: ResultsPublisher,
        clock: Callable[[], float],
    ) -> None:
        self._name = name
        self._reporting = reporting
        self._recipients = recipients
        self._budgets = budgets
        self._publisher = publisher
        self._clock = clock
        # Unparseable campaign durations already logged: once per text, not per refresh.
        self._duration_warnings = duration_warnings()
        # Reporting API calls of the latest core refresh in which every source succeeded.
        self._last_complete_calls: int | None = None

    def run(self) -> bool:
        """Refresh every core source; True when all the KRI sources succeeded."""
        now = self._clock()
        run = SourceRun(self._publisher.latest, self._clock)
        fields: dict[str, Any] = {}
        self._warn_if_the_budget_cannot_fit()
        calls_before = self._calls()
        try:
            self._fetch(run, fields, now)
        except StopRefresh as stop:
            run.skip_remaining(CORE_SOURCES, stop.error)
        kri_sources_up = all(run.sources[s].up for s in KRI_SOURCES)
        if all(run.sources[source].up for source in CORE_SOURCES):
            self._last_complete_calls = self._calls() - calls_before
        kept = {k: v for k, v in fields.items() if v is not None}
        self._publisher.publish(
            lambda latest: run.merged_into(latest, ready=kri_sources_up),
            lambda snapshot: replace(snapshot, **kept),
            now,
        )
        # Only the KRI sources decide on an early retry: an inventory endpoint the token may
        # not read (403) must not make the whole refresh repeat every few minutes.
        return kri_sources_up

    def _fetch(self, run: SourceRun, fields: dict[str, Any], now: float) -> None:
        """Every source into `fields`; StopRefresh after a failure all the rest would share."""
        reporting = self._reporting
        account = run.source("account", reporting.account)
        if account is not None:
            fields["account"] = account
            self._budgets.apply(account.seats)
        listings: tuple[tuple[str, Callable[[], Listing[Any] | None]], ...] = (
            ("users", reporting.users),
            ("groups", reporting.groups),
            ("training_campaigns", reporting.training_campaigns),
            ("enrollments", lambda: self._enrollments(fields, now)),
            ("security_tests", reporting.security_tests),
        )
        for source, fetch in listings:
            listing = run.listing(source, fetch)
            if listing is not None:
                fields[source] = listing.records
        # Each pair is kept from one refresh: the enrollments were joined to the campaigns
        # kept with them, the groups' members are counted from the users kept with them.
        # Newer campaigns or groups beside older enrollments or users would be published
        # with none.
        if "enrollments" not in fields:
            fields.pop("training_campaigns", None)
        if "users" not in fields:
            fields.pop("groups", None)
        tests = fields.get("security_tests", self._publisher.latest.snapshot.security_tests)
        fields["recipients"], stop = self._recipients.refresh(run, tests, now)
        if stop is not None:
            raise StopRefresh(stop)
        # Listings only counted, and the snapshot field of each count.
        counted_listings: tuple[tuple[str, Callable[[], Listing[Any]], str], ...] = (
            ("archived_users", reporting.archived_users, "archived_user_count"),
            ("phishing_campaigns", reporting.phishing_campaigns, "phishing_campaign_count"),
            ("store_purchases", reporting.store_purchases, "store_purchase_count"),
            ("policies", reporting.policies, "policy_count"),
        )
        for source, fetch_count, field_name in counted_listings:
            counted = run.listing(source, fetch_count)
            if counted is not None:
                fields[field_name] = len(counted.records)
        history = run.listing("risk_history", reporting.account_risk_history)
        if history is not None:
            fields["risk_history"] = history.records

    def _enrollments(
        self, fields: Mapping[str, Any], now: float
    ) -> Listing[EnrollmentGroup] | None:
        """Enrollments counted against the campaigns of this refresh. Without them they are
        not read: joined to older campaigns (or none), the enrollments of a newer campaign
        would have no due date and count nowhere, and the tally would be kept as if
        complete. The last tally stays, with the campaigns it was joined to."""
        campaigns = fields.get("training_campaigns")
        if campaigns is None:
            return None
        tally = EnrollmentTally(campaigns, built_at=now, warnings=self._duration_warnings)
        return self._reporting.enrollments(tally)

    def _calls(self) -> int:
        return sum(self._reporting.session.stats().requests_by_code.values())

    def _warn_if_the_budget_cannot_fit(self) -> None:
        """One line before a core refresh that the budget left cannot cover, judged by the
        calls of the last complete one: it will stop early and keep last good data."""
        needed = self._last_complete_calls
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
            extra={"account": self._name},
        )
