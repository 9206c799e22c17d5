"""The time windows of the KRIs and breakdowns, each defined once, and who is inside one.

Every window ends at `now`, the time of the refresh the numbers belong to.
"""

from __future__ import annotations

from kb4_exporter.model.reporting import SecurityTest

HOUR = 3600.0
DAY = 24 * HOUR
# Phishing security tests started this recently feed repeat clickers, time to report and
# the phishing breakdowns.
PST_WINDOW = 90 * DAY
# An active user without activity in this long counts in zero training activity.
ACTIVITY_WINDOW = 365 * DAY
# The unresolved HIGH/CRITICAL KRI counts messages reported between these ages.
PHISHER_OLDEST = 24 * HOUR
PHISHER_NEWEST = 4 * HOUR
# The change of the account's risk score is measured over this long.
RISK_CHANGE_WINDOW = 30 * DAY
# User Event API events are counted over this long.
USER_EVENT_WINDOW = DAY


def in_pst_window(test: SecurityTest, now: float) -> bool:
    """Started in the last 90 days; a test without a start time is outside."""
    return test.started_at is not None and test.started_at >= now - PST_WINDOW
