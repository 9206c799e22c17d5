"""Reporting API fetchers: the account, and each listing the KRIs need.

Listings are walked by `paging.Pager` (cursors first, legacy `page` where a server shows
no cursor support) and read by `listing.ListingReader` (records parsed page by page,
unusable rows counted, each source's page cap, truncation flagged).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from kb4_exporter.api.errors import BadResponseError
from kb4_exporter.api.http import PacedSession
from kb4_exporter.api.listing import Listing, ListingReader
from kb4_exporter.api.paging import PER_PAGE, Pager
from kb4_exporter.kris.enrollments import EnrollmentTally
from kb4_exporter.model.parsing import RecordError
from kb4_exporter.model.reporting import (
    Account,
    Enrollment,
    EnrollmentGroup,
    Group,
    Recipient,
    RiskPoint,
    SecurityTest,
    TrainingCampaign,
    User,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


class ReportingClient:
    def __init__(
        self,
        session: PacedSession,
        page_caps: Mapping[str, int] | None = None,
        per_page: int = PER_PAGE,
    ) -> None:
        self._session = session
        # Sources without a cap are read to the end; the daily budget bounds them.
        self._caps = dict(page_caps or {})
        self._pager = Pager(session.get_reply, per_page)

    @property
    def pager(self) -> Pager:
        return self._pager

    @property
    def session(self) -> PacedSession:
        return self._session

    def account(self) -> Account:
        body = self._session.get_json("/v1/account")
        try:
            return Account.parse(body)
        except RecordError as err:
            raise BadResponseError(f"/v1/account: {err}", endpoint="/v1/account") from None

    def users(self) -> Listing[User]:
        return self._listing("/v1/users", {"status": "active"}, "users", User.parse)

    def groups(self) -> Listing[Group]:
        return self._listing("/v1/groups", {"status": "active"}, "groups", Group.parse)

    def security_tests(self) -> Listing[SecurityTest]:
        return self._listing(
            "/v1/phishing/security_tests", {}, "security_tests", SecurityTest.parse
        )

    def recipients(self, pst_id: int) -> Listing[Recipient]:
        path = f"/v1/phishing/security_tests/{pst_id}/recipients"
        return self._listing(path, {}, "recipients", Recipient.parse)

    def training_campaigns(self) -> Listing[TrainingCampaign]:
        # Without exclude_percentages=true the API returns at most 10 campaigns.
        params = {"exclude_percentages": "true"}
        return self._listing(
            "/v1/training/campaigns", params, "training_campaigns", TrainingCampaign.parse
        )

    def enrollments(self, tally: EnrollmentTally) -> Listing[EnrollmentGroup]:
        """Every enrollment of a non-archived user, counted into `tally` page by page: the
        rows themselves are never kept (a large org has millions)."""
        params = {"include_campaign_id": "true", "exclude_archived_users": "true"}
        counted = self._listing(
            "/v1/training/enrollments", params, "enrollments", Enrollment.parse, tally.add
        )
        return Listing(tally.groups(), counted.truncated, counted.pages, counted.skipped)

    def archived_users(self) -> Listing[bool]:
        """Counted only: archived users feed the inventory, never a KRI."""
        return self._listing("/v1/users", {"status": "archived"}, "archived_users", _countable)

    def phishing_campaigns(self) -> Listing[bool]:
        return self._listing("/v1/phishing/campaigns", {}, "phishing_campaigns", _countable)

    def store_purchases(self) -> Listing[bool]:
        return self._listing("/v1/training/store_purchases", {}, "store_purchases", _countable)

    def policies(self) -> Listing[bool]:
        return self._listing("/v1/training/policies", {}, "policies", _countable)

    def account_risk_history(self) -> Listing[RiskPoint]:
        """The account's risk score over the API's default window (six months), sorted by
        date: the 30-day change needs a month of it. It pages like every listing."""
        path = "/v1/account/risk_score_history"
        listing = self._listing(path, {}, "risk_history", RiskPoint.parse)
        points = tuple(sorted(listing.records, key=lambda point: point.date))
        return Listing(points, listing.truncated, listing.pages, listing.skipped)

    def _listing(
        self,
        path: str,
        params: Mapping[str, str],
        source: str,
        parse: Callable[[Any], T],
        sink: Callable[[T], None] | None = None,
    ) -> Listing[T]:
        """The parsed rows of a listing; with a `sink`, each parsed row goes there instead
        and the listing's records are empty."""
        reader = ListingReader(
            parse,
            log=log,
            name=path,
            max_pages=self._caps.get(source),
            cap_advice=f", so {source} keeps its last complete data; raise or remove "
            f"page_caps.{source}",
            sink=sink,
        )
        walk = self._pager.walk(path, params, source)

        def next_page() -> bool:
            rows, more = walk.next_page()
            reader.collect(rows)
            return more

        return reader.read(next_page)


def _countable(row: Any) -> bool:
    """Rows of listings that are only counted must still be records."""
    if not isinstance(row, Mapping):
        raise RecordError(f"row is {type(row).__name__}, expected an object")
    return True
