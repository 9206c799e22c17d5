"""The fewest requests any client could make for the data one refresh needs.

Computed from the generated org alone, not from the exporter. Under the cursor contract
each listing the refresh reads costs ceil(rows / 500) pages and at least one (an empty
listing still takes a request to learn that it is empty); under the legacy `page`
contract, rows // 500 + 1, since only a short page or an empty one shows the end.
Recipients are needed only for PSTs started in the last 90 days whose summary counts
show clicks or reports; the account is one request and its risk-score history (the
API's default six months) a listing. A warm refresh with no data change could at best
skip every PST's recipients: no summary count moved, so no recipient did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kb4_exporter.simulator.org import Org
from kb4_exporter.simulator.routes import CURSOR, LEGACY

PER_PAGE = 500
PHISHER_PER = 100
PST_WINDOW_SECONDS = 90 * 86400.0
PHISHER_WINDOW_SECONDS = 7 * 86400.0
# The API's default risk-score history window (without full=true).
RISK_HISTORY_SECONDS = 183 * 86400.0
# /v1/account.
SINGLE_OBJECT_REQUESTS = 1


def pages(rows: int, per_page: int = PER_PAGE, contract: str = CURSOR) -> int:
    if contract == LEGACY:
        return rows // per_page + 1
    return max(1, math.ceil(rows / per_page))


@dataclass(frozen=True)
class MinimumPages:
    listings: int  # every listing except recipients
    single_objects: int
    recipients_open: int  # 90-day PSTs still open, with clicks or reports
    recipients_closed: int  # 90-day closed PSTs with clicks or reports
    phisher: int

    @property
    def cold(self) -> int:
        return self.listings + self.single_objects + self.recipients_open + self.recipients_closed

    @property
    def warm(self) -> int:
        return self.listings + self.single_objects


def minimum_pages(org: Org, now: float, contract: str = CURSOR) -> MinimumPages:
    listed_rows = (
        len(org.active_users),
        sum(1 for group in org.groups if group.status == "active"),
        len(org.training_campaigns),
        len(org.unarchived_enrollments),
        len(org.security_tests),
        len(org.archived_users),
        len(org.phishing_campaigns),
        len(org.store_purchases),
        len(org.policies),
        sum(1 for p in org.account_risk_history if p.date >= now - RISK_HISTORY_SECONDS),
    )
    recipients_open = recipients_closed = 0
    for pst in org.security_tests:
        recent = pst.started_at is not None and pst.started_at >= now - PST_WINDOW_SECONDS
        if not recent or not (pst.counts.get("clicked") or pst.counts.get("reported")):
            continue
        cost = pages(len(org.recipients_of(pst.pst_id)), contract=contract)
        if pst.status.lower() == "closed":
            recipients_closed += cost
        else:
            recipients_open += cost
    in_window = sum(
        1 for m in org.phisher_messages if now - PHISHER_WINDOW_SECONDS <= m.reported_at <= now
    )
    return MinimumPages(
        listings=sum(pages(rows, contract=contract) for rows in listed_rows),
        single_objects=SINGLE_OBJECT_REQUESTS,
        recipients_open=recipients_open,
        recipients_closed=recipients_closed,
        phisher=pages(in_window, PHISHER_PER),
    )
