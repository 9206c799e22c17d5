"""The naive refresh the exporter is compared with: every 90-day PST's recipients, every time.

It reads the same endpoints as the exporter's core refresh, through the same
`ReportingClient` (so paging, `per_page=500` and short-page ends are identical), and
differs only in the recipients: no skipping of PSTs whose counts show no clicks and no
reports, and no cache of closed PSTs. The ratio of the two counts therefore measures
the recipients strategy alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kb4_exporter.api.listing import Listing
from kb4_exporter.api.reporting import ReportingClient
from kb4_exporter.kris.enrollments import EnrollmentTally

PST_WINDOW_SECONDS = 90 * 86400.0


def naive_refresh(client: ReportingClient, now: float) -> tuple[str, ...]:
    """Fetch everything once; the names of the listings a page cap cut short."""
    truncated: set[str] = set()
    client.account()
    listings: tuple[tuple[str, Callable[[], Listing[Any]]], ...] = (
        ("users", client.users),
        ("groups", client.groups),
        ("training_campaigns", client.training_campaigns),
        ("enrollments", lambda: client.enrollments(EnrollmentTally((), built_at=now))),
        ("archived_users", client.archived_users),
        ("phishing_campaigns", client.phishing_campaigns),
        ("store_purchases", client.store_purchases),
        ("policies", client.policies),
    )
    for name, fetch in listings:
        if fetch().truncated:
            truncated.add(name)
    tests = client.security_tests()
    if tests.truncated:
        truncated.add("security_tests")
    recent = [
        pst
        for pst in tests.records
        if pst.started_at is not None and pst.started_at >= now - PST_WINDOW_SECONDS
    ]
    for pst in recent:
        if client.recipients(pst.pst_id).truncated:
            truncated.add("recipients")
    if client.account_risk_history().truncated:
        truncated.add("risk_history")
    return tuple(sorted(truncated))
