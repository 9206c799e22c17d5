"""Reporting API fetchers: paging, page caps, truncation flags and tolerant parsing.

Listings are requested with `per_page=500` from page 1 and end on an empty page or a
page shorter than `per_page` (which saves one request per listing). The cursor
envelope `{"data": [...], "_metadata": {"next_cursor": ...}}` some tenants return is
followed too. Rows are turned into compact records page by page, so a raw page is
never held longer than it takes to parse it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from kb4_exporter.api.errors import BadResponseError
from kb4_exporter.api.http import PacedSession
from kb4_exporter.model import (
    Account,
    Enrollment,
    Group,
    Recipient,
    RecordError,
    RiskPoint,
    SecurityTest,
    TrainingCampaign,
    User,
)

log = logging.getLogger(__name__)

PER_PAGE = 500
T = TypeVar("T")


@dataclass(frozen=True)
class Listing(Generic[T]):
    """The records of one listing; `truncated` when a page cap cut it short."""

    records: tuple[T, ...]
    truncated: bool
    pages: int
    skipped: int = 0


def rows_of(body: Any, endpoint: str) -> tuple[list[Any], str | None, bool]:
    """(rows, next_cursor, is_envelope) of a list response; BadResponseError otherwise."""
    if isinstance(body, list):
        return body, None, False
    if isinstance(body, Mapping) and isinstance(body.get("data"), list):
        metadata = body.get("_metadata")
        cursor = metadata.get("next_cursor") if isinstance(metadata, Mapping) else None
        return body["data"], (str(cursor) if cursor else None), True
    raise BadResponseError(
        f"{endpoint} returned a JSON {type(body).__name__}, expected a list of records",
        endpoint=endpoint,
    )


class ReportingClient:
    def __init__(
        self, session: PacedSession, page_caps: Mapping[str, int], per_page: int = PER_PAGE
    ) -> None:
        self._session = session
        self._caps = page_caps
        self._per_page = per_page

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

    def enrollments(self) -> Listing[Enrollment]:
        params = {"include_campaign_id": "true", "exclude_archived_users": "true"}
        return self._listing("/v1/training/enrollments", params, "enrollments", Enrollment.parse)

    def archived_users(self) -> Listing[bool]:
        """Counted only: archived users feed the inventory, never a KRI."""
        return self._listing("/v1/users", {"status": "archived"}, "archived_users", _countable)

    def phishing_campaigns(self) -> Listing[bool]:
        return self._listing("/v1/phishing/campaigns", {}, "phishing_campaigns", _countable)

    def store_purchases(self) -> Listing[bool]:
        return self._listing("/v1/training/store_purchases", {}, "store_purchases", _countable)

    def policies(self) -> Listing[bool]:
        return self._listing("/v1/training/policies", {}, "policies", _countable)

    def account_risk_history(self) -> tuple[RiskPoint, ...]:
        """The last six months of the account's risk score (one call; not paged)."""
        path = "/v1/account/risk_score_history"
        rows, _, _ = rows_of(self._session.get_json(path), path)
        points = []
        for row in rows:
            try:
                points.append(RiskPoint.parse(row))
            except RecordError:
                continue
        return tuple(sorted(points, key=lambda point: point.date))

    def _listing(
        self,
        path: str,
        params: Mapping[str, str],
        source: str,
        parse: Callable[[Any], T],
    ) -> Listing[T]:
        cap = self._caps.get(source, 50)
        records: list[T] = []
        skipped = 0
        first_skip: RecordError | None = None
        pages = 0
        page = 1
        cursor: str | None = None
        previous_rows: list[Any] | None = None
        truncated = False
        while True:
            if pages >= cap:
                truncated = True
                log.warning(
                    "%s: stopped at the page cap of %d pages for %s; raise page_caps.%s",
                    path,
                    cap,
                    source,
                    source,
                )
                break
            query: dict[str, str | int] = {**params, "per_page": self._per_page}
            if cursor is not None:
                query["cursor"] = cursor
            else:
                query["page"] = page
            rows, cursor, is_envelope = rows_of(self._session.get_json(path, query), path)
            pages += 1
            if rows and rows == previous_rows:
                raise BadResponseError(
                    f"{path} returned the same page again for page {page}; the listing never ends",
                    endpoint=path,
                )
            previous_rows = rows
            for row in rows:
                try:
                    records.append(parse(row))
                except RecordError as err:
                    skipped += 1
                    first_skip = first_skip or err
            if not rows or (cursor is None and (is_envelope or len(rows) < self._per_page)):
                break
            page += 1
        if first_skip is not None:
            # One line per listing, not one per row: a bad export can have thousands.
            log.warning(
                "%s: skipped %d unusable record(s); the first: %s", path, skipped, first_skip
            )
        return Listing(tuple(records), truncated, pages, skipped)


def _countable(row: Any) -> bool:
    """Rows of listings that are only counted must still be records."""
    if not isinstance(row, Mapping):
        raise RecordError(f"row is {type(row).__name__}, expected an object")
    return True
