"""Ground truth for integration tests: the ten KRIs of a simulated org, computed straight
from its raw records.

This follows /work/shared/DESIGN.md "KRI semantics" on its own, without HTTP and
without kb4_exporter.kris.values, so that an exporter refreshed against the simulator can be
checked against values nobody derived the same way. Values are in exporter units
(ratios 0..1, durations in seconds, counts as floats); None means the KRI is absent
because its input is empty:
- phishing_prone: no active user has a PPP;
- repeat_clickers_90d: no PST started in the last 90 days;
- training_completion: no due enrollment;
- overdue_training_assignments: no non-exempt enrollment of a non-archived user;
- remedial_training_compliance: no such enrollment in a remedial campaign;
- high_risk_users: no active user has a risk score;
- phish_time_to_report: no recipient reported after delivery in the 90-day PSTs;
- phisher_unresolved_high_4h: never (PhishER is assumed enabled);
- zero_training_activity_12m: no active user;
- department_ppp_delta: fewer than two groups with an active member that has a PPP.
"phisher_unresolved_by_severity" maps each of the five severities (zeros included) to
the unresolved messages reported in the look-back window.

`expected_user_events` counts the User Event API events of the last day by event type
and risk level, and `user_event_quota` is the API's daily quota of ten calls per seat.
"""

from __future__ import annotations

import calendar
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from kb4_exporter.simulator.org import Org
from kb4_exporter.simulator.records import Enrollment, Recipient, TrainingCampaign, User

DAY = 86_400.0
HOUR = 3_600.0

KRI_SLUGS = (
    "kb4_phishing_prone_pct",
    "kb4_repeat_clickers_90d",
    "kb4_training_completion_pct",
    "kb4_overdue_training_assignments",
    "kb4_remedial_training_compliance_pct",
    "kb4_high_risk_users",
    "kb4_phish_time_to_report_hours",
    "kb4_phisher_unresolved_high_4h",
    "kb4_zero_training_activity_12m",
    "kb4_department_ppp_delta_pct",
)
SEVERITIES = ("UNKNOWN_SEVERITY", "LOW", "MEDIUM", "HIGH", "CRITICAL")
UNRESOLVED = frozenset({"RECEIVED", "IN_REVIEW"})
DONE = frozenset({"completed", "passed"})


def expected_kris(
    org: Org,
    now: float,
    *,
    remedial_pattern: str = "remedial",
    phisher_lookback_seconds: float = 7 * DAY,
) -> dict[str, Any]:
    """KRI slug -> value (or None when absent), plus "phisher_unresolved_by_severity"."""
    active = [user for user in org.users if user.status == "active"]
    recent_psts = [
        test.pst_id
        for test in org.security_tests
        if test.started_at is not None and test.started_at >= now - 90 * DAY
    ]
    enrollments = list(_counted_enrollments(org))
    campaigns = {campaign.campaign_id: campaign for campaign in org.training_campaigns}
    due = [e for e in enrollments if _is_due(e, campaigns.get(e.campaign_id), now)]
    remedial = [e for e in enrollments if re.search(remedial_pattern, e.campaign_name, re.I)]
    return {
        "kb4_phishing_prone_pct": _phishing_prone(active),
        "kb4_repeat_clickers_90d": _repeat_clickers(org, recent_psts),
        "kb4_training_completion_pct": _ratio(
            sum(1 for e in due if _done_on_time(e, campaigns.get(e.campaign_id))), len(due)
        ),
        "kb4_overdue_training_assignments": (
            float(sum(1 for e in due if e.status.lower() not in DONE)) if enrollments else None
        ),
        "kb4_remedial_training_compliance_pct": _ratio(
            sum(1 for e in remedial if e.status.lower() in DONE), len(remedial)
        ),
        "kb4_high_risk_users": _high_risk(active),
        "kb4_phish_time_to_report_hours": _time_to_report(org, recent_psts),
        "kb4_phisher_unresolved_high_4h": float(
            sum(
                1
                for m in org.phisher_messages
                if m.severity in ("HIGH", "CRITICAL")
                and m.action_status in UNRESOLVED
                and now - 24 * HOUR <= m.reported_at <= now - 4 * HOUR
            )
        ),
        "kb4_zero_training_activity_12m": (
            float(sum(1 for u in active if _idle_for_a_year(u, now))) if active else None
        ),
        "kb4_department_ppp_delta_pct": _department_delta(active),
        "phisher_unresolved_by_severity": _unresolved_by_severity(
            org, now, phisher_lookback_seconds
        ),
    }


def expected_user_events(org: Org, now: float) -> dict[tuple[str, str], float]:
    """(event type, risk level label) -> events that occurred in the day before `now`.

    The label is the level as text for the API's documented -10..10, else "out_of_range".
    """
    counts: Counter[tuple[str, str]] = Counter()
    for event in org.user_events:
        if now - DAY <= event.occurred_date <= now:
            level = event.risk_level
            label = str(level) if -10 <= level <= 10 else "out_of_range"
            counts[(event.event_type, label)] += 1
    return {pair: float(n) for pair, n in counts.items()}


def user_event_quota(org: Org) -> float:
    """The User Event API's daily quota: ten calls per licensed seat."""
    return float(10 * (org.account.number_of_seats or 0))


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _phishing_prone(active: list[User]) -> float | None:
    ppps = [u.phish_prone_percentage for u in active if u.phish_prone_percentage is not None]
    return statistics.fmean(ppps) / 100 if ppps else None


def recipient_key(row: Recipient) -> str | None:
    """A recipient's identity: the user id, else the lower-cased e-mail."""
    if row.user_id is not None:
        return f"id:{row.user_id}"
    email = row.email.strip().lower()
    return f"email:{email}" if email else None


def _repeat_clickers(org: Org, psts: list[int]) -> float | None:
    if not psts:
        return None
    tests_clicked: Counter[str] = Counter()
    for pst_id in psts:
        clickers = {recipient_key(r) for r in org.recipients_of(pst_id) if r.clicked_at is not None}
        tests_clicked.update(key for key in clickers if key is not None)
    return float(sum(1 for tests in tests_clicked.values() if tests >= 2))


def _time_to_report(org: Org, psts: list[int]) -> float | None:
    delays = [
        r.reported_at - r.delivered_at
        for pst_id in psts
        for r in org.recipients_of(pst_id)
        if r.delivered_at is not None and r.reported_at is not None
        if r.reported_at >= r.delivered_at
    ]
    return float(statistics.median(delays)) if delays else None


def _high_risk(active: list[User]) -> float | None:
    scored = sum(1 for u in active if u.current_risk_score is not None)
    return float((scored + 9) // 10) if scored else None


def _idle_for_a_year(user: User, now: float) -> bool:
    return user.last_sign_in is None or user.last_sign_in < now - 365 * DAY


def _department_delta(active: list[User]) -> float | None:
    by_group: defaultdict[int, list[float]] = defaultdict(list)
    for user in active:
        if user.phish_prone_percentage is not None:
            for group_id in user.groups:
                by_group[group_id].append(user.phish_prone_percentage)
    if len(by_group) < 2:
        return None
    means = [statistics.fmean(values) for values in by_group.values()]
    return (max(means) - min(means)) / 100


def _unresolved_by_severity(org: Org, now: float, lookback: float) -> dict[str, float]:
    counts = dict.fromkeys(SEVERITIES, 0.0)
    for message in org.phisher_messages:
        if message.action_status in UNRESOLVED and now - lookback <= message.reported_at <= now:
            counts[message.severity] += 1
    return counts


# --- training ------------------------------------------------------------------------


def _counted_enrollments(org: Org) -> Iterable[Enrollment]:
    """Enrollments of users who are not archived, exempt ones left out."""
    archived = {user.id for user in org.users if user.status == "archived"}
    for row in org.enrollments:
        if row.user_id not in archived and "exempt" not in row.status.lower():
            yield row


def due_date(row: Enrollment, campaign: TrainingCampaign | None) -> float | None:
    """The enrollment's due date as the campaign defines it; None when not computable."""
    if campaign is None:
        return None
    if campaign.duration_type == "Specific End Date":
        return None if campaign.end_date is None else float(campaign.end_date)
    if campaign.duration_type == "Relative End Date":
        return add_relative_duration(float(row.enrollment_date), campaign.relative_duration)
    return None


def _is_due(row: Enrollment, campaign: TrainingCampaign | None, now: float) -> bool:
    if row.status.lower() == "past due":
        return True
    deadline = due_date(row, campaign)
    return deadline is not None and deadline < now


def _done_on_time(row: Enrollment, campaign: TrainingCampaign | None) -> bool:
    if row.status.lower() not in DONE or row.completion_date is None:
        return False
    deadline = due_date(row, campaign)
    return deadline is not None and row.completion_date <= deadline


_IN_WORDS = re.compile(r"(\d+)\s*(day|week|month|year)s?", re.I)
_IN_ISO = re.compile(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?", re.I)


def add_relative_duration(start: float, text: str | None) -> float | None:
    """`start` plus "N days/weeks/months/years" or an ISO-8601 P..Y..M..W..D duration,
    in calendar months (day clamped to the month's end); None if not understood."""
    if not text:
        return None
    cleaned = text.strip()
    months = days = 0
    if words := _IN_WORDS.fullmatch(cleaned):
        amount, unit = int(words.group(1)), words.group(2).lower()
        months = {"month": amount, "year": 12 * amount}.get(unit, 0)
        days = {"day": amount, "week": 7 * amount}.get(unit, 0)
    elif (iso := _IN_ISO.fullmatch(cleaned)) and any(iso.groups()):
        years, iso_months, weeks, iso_days = (int(part or 0) for part in iso.groups())
        months, days = 12 * years + iso_months, 7 * weeks + iso_days
    else:
        return None
    moment = datetime.fromtimestamp(start, UTC)
    year, month_index = divmod(moment.month - 1 + months, 12)
    year += moment.year
    day = min(moment.day, calendar.monthrange(year, month_index + 1)[1])
    shifted = moment.replace(year=year, month=month_index + 1, day=day) + timedelta(days=days)
    return shifted.timestamp()
