"""The ten security-awareness KRIs as pure functions of a snapshot and the refresh time.

Every function here reads an immutable `Snapshot` and `now` (epoch seconds) and returns
`KriValue`s; nothing does I/O, so the refresher can call `compute_kris` after each
refresh and the collector only ever reads the results. A value of None means the KRI is
absent (its input was never fetched or its population is empty), never a fake 0.

Sums of floats use `math.fsum`, which is exactly rounded: a plain running sum rounds
differently in another order, and the order of rows from the API must never change a
KRI, not even in its last bit.

Units follow the metric contract: ratios are 0..1 (the API's percentages / 100),
durations are seconds, counts are counts. Each `KriValue` carries the size of the
population it was computed over, so callers can tell a 0 of 3 from a 0 of 30,000.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from kb4_exporter.kris.specs import (
    DEPARTMENT_PPP_DELTA,
    HIGH_RISK_USERS,
    OVERDUE_TRAINING,
    PHISH_TIME_TO_REPORT,
    PHISHER_UNRESOLVED_HIGH_4H,
    PHISHING_PRONE,
    REMEDIAL_COMPLIANCE,
    REPEAT_CLICKERS_90D,
    TRAINING_COMPLETION,
    ZERO_TRAINING_ACTIVITY_12M,
    KriValue,
)
from kb4_exporter.kris.windows import (
    ACTIVITY_WINDOW,
    PHISHER_NEWEST,
    PHISHER_OLDEST,
    in_pst_window,
)
from kb4_exporter.model.phisher import UNRESOLVED_PHISHER_STATUSES
from kb4_exporter.model.reporting import PstRecipients, User
from kb4_exporter.model.snapshot import Snapshot

ACTIVE_USER_STATUS = "active"
HIGH_SEVERITIES = frozenset({"HIGH", "CRITICAL"})


def compute_kris(
    snapshot: Snapshot,
    now: float,
    *,
    remedial_pattern: re.Pattern[str],
    phisher_enabled: bool,
) -> tuple[KriValue, ...]:
    """All ten KRIs, in `KRI_SPECS` order; the enrollment due-date pass runs once."""
    tally = _tally_due_enrollments(snapshot, now)
    return (
        phishing_prone(snapshot),
        repeat_clickers_90d(snapshot, now),
        _completion_from_tally(tally),
        _overdue_from_tally(tally),
        remedial_training_compliance(snapshot, remedial_pattern),
        high_risk_users(snapshot),
        phish_time_to_report(snapshot, now),
        phisher_unresolved_high_4h(snapshot, now, phisher_enabled=phisher_enabled),
        zero_training_activity_12m(snapshot, now),
        department_ppp_delta(snapshot),
    )


# --- users ---------------------------------------------------------------------------


def active_users(snapshot: Snapshot) -> list[User] | None:
    """Users with status "active", or None when users were never fetched.

    The fetch asks for `status=active`, but a server may ignore the filter, so archived
    users are skipped here as well.
    """
    if snapshot.users is None:
        return None
    return [user for user in snapshot.users if user.status == ACTIVE_USER_STATUS]


def phishing_prone(snapshot: Snapshot) -> KriValue:
    """Mean `phish_prone_percentage` of active users that have one, / 100.

    Users without a PPP are left out of the mean. Absent when no active user has one.
    sample_size = users in the mean.
    """
    users = active_users(snapshot) or []
    values = [u.phish_prone_percentage for u in users if u.phish_prone_percentage is not None]
    if not values:
        return KriValue(PHISHING_PRONE, None, None)
    return KriValue(PHISHING_PRONE, math.fsum(values) / len(values) / 100, len(values))


def high_risk_users(snapshot: Snapshot) -> KriValue:
    """ceil(0.10 x n), n = active users with a current risk score.

    Computed as (n + 9) // 10 in integers: in floats 0.1 x 30 is 3.0000000000000004,
    which would ceil to 4. Absent when n is 0. sample_size = n.
    """
    users = active_users(snapshot) or []
    scored = sum(1 for u in users if u.risk_score is not None)
    if scored == 0:
        return KriValue(HIGH_RISK_USERS, None, None)
    return KriValue(HIGH_RISK_USERS, float((scored + 9) // 10), scored)


def zero_training_activity_12m(snapshot: Snapshot, now: float) -> KriValue:
    """Active users whose last activity is None or older than now - 365 days.

    A user active exactly at now - 365 d still counts as active. Absent when there are
    no active users (or users were never fetched). sample_size = active users.
    """
    users = active_users(snapshot)
    if not users:
        return KriValue(ZERO_TRAINING_ACTIVITY_12M, None, None)
    cutoff = now - ACTIVITY_WINDOW
    idle = sum(1 for u in users if u.last_activity is None or u.last_activity < cutoff)
    return KriValue(ZERO_TRAINING_ACTIVITY_12M, float(idle), len(users))


def group_ppp_means(users: Iterable[User]) -> dict[int, float]:
    """Group id -> mean `phish_prone_percentage` of `users` in it (a percent).

    Users without a PPP are left out of every mean; a user in several groups counts in
    each of them; groups come from each user's `groups` ids. Sums use `math.fsum`.
    """
    values: dict[int, list[float]] = {}
    for user in users:
        ppp = user.phish_prone_percentage
        if ppp is None:
            continue
        for group_id in user.groups:
            values.setdefault(group_id, []).append(ppp)
    return {group_id: math.fsum(ppps) / len(ppps) for group_id, ppps in values.items()}


def department_ppp_delta(snapshot: Snapshot) -> KriValue:
    """Highest minus lowest per-group mean PPP of active users (`group_ppp_means`), / 100.

    Absent with fewer than two groups having at least one member with a PPP.
    sample_size = groups used.
    """
    means = list(group_ppp_means(active_users(snapshot) or []).values())
    if len(means) < 2:
        return KriValue(DEPARTMENT_PPP_DELTA, None, None)
    return KriValue(DEPARTMENT_PPP_DELTA, (max(means) - min(means)) / 100, len(means))


# --- phishing security tests -----------------------------------------------------------


def recent_pst_recipients(snapshot: Snapshot, now: float) -> list[PstRecipients] | None:
    """Recipient summaries of the PSTs started at or after now - 90 days, or None.

    A PST without `started_at` is outside the window. A PST whose recipients were skipped
    because its summary counts show no clicks and no reports is known to have none, so it
    yields an empty summary. None when PSTs or recipients were never fetched, and when any
    PST that may have clicks or reports has no summary (a failed or truncated fetch): a
    KRI over the other PSTs would count part of the org.
    """
    if snapshot.security_tests is None or snapshot.recipients is None:
        return None
    known: dict[int, PstRecipients] = {}
    for pst in snapshot.security_tests:
        if not in_pst_window(pst, now) or pst.pst_id in known:
            continue
        summary = snapshot.recipients.get(pst.pst_id)
        if summary is not None:
            known[pst.pst_id] = summary
        elif not pst.may_have_clicks_or_reports:
            known[pst.pst_id] = PstRecipients.summarise(pst.pst_id, [])
        else:
            return None
    return list(known.values())


def repeat_clickers_90d(snapshot: Snapshot, now: float) -> KriValue:
    """Distinct users who clicked in two or more distinct PSTs started in the last 90 days.

    Users are keyed by recipient `user.id`, else lower-cased e-mail (as in
    `PstRecipients.clicker_keys`), active or not; several clicks in one PST count once.
    Absent when no PST in the window has known recipients, incomplete when any PST's
    recipients are unknown (see `recent_pst_recipients`). sample_size = PSTs used.
    """
    summaries = recent_pst_recipients(snapshot, now)
    if summaries is None:
        return KriValue(REPEAT_CLICKERS_90D, None, None, incomplete=True)
    if not summaries:
        return KriValue(REPEAT_CLICKERS_90D, None, None)
    clicks_per_user: Counter[str] = Counter()
    for summary in summaries:
        clicks_per_user.update(summary.clicker_keys)
    repeaters = sum(1 for tests in clicks_per_user.values() if tests >= 2)
    return KriValue(REPEAT_CLICKERS_90D, float(repeaters), len(summaries))


def phish_time_to_report(snapshot: Snapshot, now: float) -> KriValue:
    """Median seconds from delivery to report over recipients of the 90-day PSTs.

    Uses `statistics.median` (mean of the middle two for an even count). Reports before
    delivery are ignored. Absent without any delay. sample_size = delays in the median.
    """
    summaries = recent_pst_recipients(snapshot, now)
    if summaries is None:
        return KriValue(PHISH_TIME_TO_REPORT, None, None, incomplete=True)
    delays = [delay for summary in summaries for delay in summary.report_delays if delay >= 0]
    if not delays:
        return KriValue(PHISH_TIME_TO_REPORT, None, None)
    return KriValue(PHISH_TIME_TO_REPORT, float(statistics.median(delays)), len(delays))


# --- PhishER -----------------------------------------------------------------------------


def phisher_unresolved_high_4h(
    snapshot: Snapshot, now: float, *, phisher_enabled: bool
) -> KriValue:
    """HIGH/CRITICAL messages, RECEIVED or IN_REVIEW, reported in [now - 24 h, now - 4 h].

    Both bounds are inclusive; enums compare case-insensitively. Present (0 allowed)
    whenever PhishER is enabled and its messages were fetched; absent otherwise.
    sample_size = messages of any severity and status reported in that window.
    """
    messages = snapshot.phisher_messages
    if not phisher_enabled or messages is None:
        return KriValue(PHISHER_UNRESOLVED_HIGH_4H, None, None)
    oldest, newest = now - PHISHER_OLDEST, now - PHISHER_NEWEST
    in_window = [
        m for m in messages if m.reported_at is not None and oldest <= m.reported_at <= newest
    ]
    count = sum(
        1
        for m in in_window
        if m.severity.upper() in HIGH_SEVERITIES
        and m.action_status.upper() in UNRESOLVED_PHISHER_STATUSES
    )
    return KriValue(PHISHER_UNRESOLVED_HIGH_4H, float(count), len(in_window))


# --- training ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _DueTally:
    """Counts over the non-exempt enrollments; see `training_completion`."""

    enrollments: int
    due: int
    completed_on_time: int
    overdue: int


def _tally_due_enrollments(snapshot: Snapshot, now: float) -> _DueTally | None:
    """One pass over the enrollment groups; None when enrollments or campaigns were never
    fetched (the groups' due dates come from the campaigns)."""
    if snapshot.enrollments is None or snapshot.training_campaigns is None:
        return None
    considered = due = on_time = overdue = 0
    for group in snapshot.enrollments:
        kind = group.kind
        if kind.exempt:
            continue
        considered += group.count
        if not group.is_due(now):
            continue
        due += group.count
        if not kind.done:
            overdue += group.count
        elif group.on_time:
            on_time += group.count
    return _DueTally(considered, due, on_time, overdue)


def training_completion(snapshot: Snapshot, now: float) -> KriValue:
    """Due enrollments completed on time / all due enrollments (non-exempt only).

    Due: due date (`enrollments.CampaignIndex.due_date`) < now, or status "Past Due" (any
    case). Completed on time: status Completed/Passed (any case) with a `completion_date`
    <= the due date; a done enrollment without a due date cannot be on time. Statuses
    containing "exempt" (any case) count nowhere; enrollments neither due nor "Past Due"
    count nowhere. Absent when nothing is due, or when enrollments or training campaigns
    were never fetched. sample_size = due enrollments.
    """
    return _completion_from_tally(_tally_due_enrollments(snapshot, now))


def _completion_from_tally(tally: _DueTally | None) -> KriValue:
    if tally is None or tally.due == 0:
        return KriValue(TRAINING_COMPLETION, None, None)
    return KriValue(TRAINING_COMPLETION, tally.completed_on_time / tally.due, tally.due)


def overdue_training_assignments(snapshot: Snapshot, now: float) -> KriValue:
    """Due enrollments (as in `training_completion`) whose status is not Completed/Passed.

    Absent when there are no non-exempt enrollments, or when enrollments or training
    campaigns were never fetched. sample_size = non-exempt enrollments.
    """
    return _overdue_from_tally(_tally_due_enrollments(snapshot, now))


def _overdue_from_tally(tally: _DueTally | None) -> KriValue:
    if tally is None or tally.enrollments == 0:
        return KriValue(OVERDUE_TRAINING, None, None)
    return KriValue(OVERDUE_TRAINING, float(tally.overdue), tally.enrollments)


def remedial_training_compliance(snapshot: Snapshot, remedial_pattern: re.Pattern[str]) -> KriValue:
    """Completed/Passed / all non-exempt enrollments in remedial campaigns, due or not.

    A campaign is remedial when `remedial_pattern.search()` matches its name: the
    enrollment's `campaign_name`, else the joined campaign's name. Absent when no
    enrollment is remedial. sample_size = remedial enrollments.
    """
    if snapshot.enrollments is None:
        return KriValue(REMEDIAL_COMPLIANCE, None, None)
    total = done = 0
    for group in snapshot.enrollments:
        kind = group.kind
        if kind.exempt:
            continue
        name = group.campaign_name
        if name and remedial_pattern.search(name) is not None:
            total += group.count
            done += group.count if kind.done else 0
    if total == 0:
        return KriValue(REMEDIAL_COMPLIANCE, None, None)
    return KriValue(REMEDIAL_COMPLIANCE, done / total, total)
