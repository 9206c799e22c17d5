"""Derived gauges that are not KRIs: pure functions of a snapshot, computed per refresh.

Every per-item breakdown (groups, PSTs, campaigns, event types) is capped at a top N so
the number of series stays bounded whatever the org's size; `capped` says when items
were left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kb4_exporter.kris.values import active_users, group_ppp_means
from kb4_exporter.kris.windows import RISK_CHANGE_WINDOW, USER_EVENT_WINDOW, in_pst_window
from kb4_exporter.model.phisher import PHISHER_SEVERITIES, PhisherMessage
from kb4_exporter.model.snapshot import Snapshot

# One series per known status, zeros included; anything else counts as "other".
ENROLLMENT_STATUSES = ("Not Started", "In Progress", "Completed", "Passed", "Past Due", "Exempt")
PST_EVENTS = ("delivered", "opened", "clicked", "reported", "data_entered")
# Training campaigns in these states no longer enrol or track anyone.
_FINISHED_CAMPAIGN_STATUSES = frozenset({"completed", "cancelled", "canceled", "closed"})


@dataclass(frozen=True, slots=True)
class GroupStat:
    group_id: int
    name: str
    users: int
    phishing_prone_ratio: float | None
    risk_score: float | None


@dataclass(frozen=True, slots=True)
class PstStat:
    pst_id: int
    name: str
    campaign_id: int | None
    counts: Mapping[str, int]
    phishing_prone_ratio: float | None


@dataclass(frozen=True, slots=True)
class CampaignStat:
    campaign_id: int
    name: str
    enrollments: int
    completion_ratio: float | None
    overdue: int


@dataclass(frozen=True)
class Breakdowns:
    groups: tuple[GroupStat, ...] | None = None
    groups_total: int = 0
    psts: tuple[PstStat, ...] | None = None
    psts_total: int = 0
    click_ratio_90d: float | None = None
    report_ratio_90d: float | None = None
    enrollments_by_status: Mapping[str, int] | None = None
    campaigns: tuple[CampaignStat, ...] | None = None
    campaigns_total: int = 0
    active_training_campaigns: int | None = None
    inventory: Mapping[str, int] = field(default_factory=dict)
    risk_score_change_30d: float | None = None
    # (event type, risk level) -> events in the last 24 h.
    user_events: Mapping[tuple[str, str], int] | None = None
    user_event_types_total: int = 0
    phisher_unresolved: Mapping[str, int] | None = None


@dataclass(frozen=True)
class BreakdownLimits:
    max_groups: int = 50
    max_psts: int = 20
    max_campaigns: int = 20
    max_event_types: int = 20


def compute_breakdowns(
    snapshot: Snapshot,
    now: float,
    *,
    limits: BreakdownLimits,
    phisher_lookback: float,
    phisher_enabled: bool,
) -> Breakdowns:
    groups, groups_total = group_stats(snapshot, limits.max_groups)
    psts, psts_total = pst_stats(snapshot, now, limits.max_psts)
    clicks, reports = phishing_rates_90d(snapshot, now)
    campaigns, campaigns_total = campaign_stats(snapshot, now, limits.max_campaigns)
    events, event_types = user_event_counts(snapshot, now, limits.max_event_types)
    unresolved = None
    if phisher_enabled and snapshot.phisher_messages is not None:
        unresolved = unresolved_by_severity(snapshot.phisher_messages, since=now - phisher_lookback)
    return Breakdowns(
        groups=groups,
        groups_total=groups_total,
        psts=psts,
        psts_total=psts_total,
        click_ratio_90d=clicks,
        report_ratio_90d=reports,
        enrollments_by_status=enrollments_by_status(snapshot),
        campaigns=campaigns,
        campaigns_total=campaigns_total,
        active_training_campaigns=active_training_campaigns(snapshot),
        inventory=inventory(snapshot, now),
        risk_score_change_30d=risk_score_change_30d(snapshot, now),
        user_events=events,
        user_event_types_total=event_types,
        phisher_unresolved=unresolved,
    )


def group_stats(snapshot: Snapshot, limit: int) -> tuple[tuple[GroupStat, ...] | None, int]:
    """Active members, mean PPP and risk score of the largest `limit` active groups."""
    users = active_users(snapshot)
    if snapshot.groups is None or users is None:
        return None, 0
    members: Counter[int] = Counter(gid for user in users for gid in user.groups)
    ppp_means = group_ppp_means(users)
    stats = [
        GroupStat(
            group_id=group.id,
            name=group.name,
            users=members[group.id],
            phishing_prone_ratio=(ppp_means[group.id] / 100 if group.id in ppp_means else None),
            risk_score=group.risk_score,
        )
        for group in snapshot.groups
        if group.status == "active"
    ]
    stats.sort(key=lambda s: (-s.users, s.group_id))
    return tuple(stats[:limit]), len(stats)


def pst_stats(snapshot: Snapshot, now: float, limit: int) -> tuple[tuple[PstStat, ...] | None, int]:
    """Summary counts of the newest `limit` PSTs started in the last 90 days."""
    if snapshot.security_tests is None:
        return None, 0
    recent = [t for t in snapshot.security_tests if in_pst_window(t, now)]
    recent.sort(key=lambda t: (-(t.started_at or 0.0), t.pst_id))
    stats = tuple(
        PstStat(
            pst_id=t.pst_id,
            name=t.name,
            campaign_id=t.campaign_id,
            counts={event: t.counts.get(event, 0) for event in PST_EVENTS},
            phishing_prone_ratio=pst_ratio(t.phish_prone_percentage),
        )
        for t in recent[:limit]
    )
    return stats, len(recent)


def pst_ratio(value: float | None) -> float | None:
    """PSTs report their phish-prone percentage "in decimal form" (0.5 = 50 %); a value
    above 1 can only be a percentage, so it is divided by 100."""
    if value is None or value < 0:
        return None
    return value / 100 if value > 1 else value


def phishing_rates_90d(snapshot: Snapshot, now: float) -> tuple[float | None, float | None]:
    """Clicked / delivered and reported / delivered, summed over 90-day PSTs."""
    if snapshot.security_tests is None:
        return None, None
    delivered = clicked = reported = 0
    for test in snapshot.security_tests:
        if not in_pst_window(test, now):
            continue
        delivered += test.counts.get("delivered", 0)
        clicked += test.counts.get("clicked", 0)
        reported += test.counts.get("reported", 0)
    if delivered == 0:
        return None, None
    # Counts that contradict each other (more clicks than deliveries) must not push a
    # ratio past 1.
    return min(1.0, clicked / delivered), min(1.0, reported / delivered)


def enrollments_by_status(snapshot: Snapshot) -> Mapping[str, int] | None:
    if snapshot.enrollments is None:
        return None
    known = {status.lower(): status for status in ENROLLMENT_STATUSES}
    counts = dict.fromkeys((*ENROLLMENT_STATUSES, "other"), 0)
    for group in snapshot.enrollments:
        if group.kind.exempt:
            counts["Exempt"] += group.count
        else:
            counts[known.get(group.status.lower(), "other")] += group.count
    return counts


def campaign_stats(
    snapshot: Snapshot, now: float, limit: int
) -> tuple[tuple[CampaignStat, ...] | None, int]:
    """Per campaign: completion (done / non-exempt enrollments) and overdue enrollments,
    for the `limit` campaigns with the most enrollments."""
    if snapshot.enrollments is None or snapshot.training_campaigns is None:
        return None, 0
    totals: Counter[int] = Counter()
    done: Counter[int] = Counter()
    overdue: Counter[int] = Counter()
    for group in snapshot.enrollments:
        cid = group.campaign_id
        if group.kind.exempt or cid is None:
            continue
        totals[cid] += group.count
        if group.kind.done:
            done[cid] += group.count
        elif group.is_due(now):
            overdue[cid] += group.count
    stats = [
        CampaignStat(
            campaign_id=campaign.campaign_id,
            name=campaign.name,
            enrollments=totals[campaign.campaign_id],
            completion_ratio=(
                done[campaign.campaign_id] / totals[campaign.campaign_id]
                if totals[campaign.campaign_id]
                else None
            ),
            overdue=overdue[campaign.campaign_id],
        )
        for campaign in snapshot.training_campaigns
    ]
    stats.sort(key=lambda s: (-s.enrollments, -s.campaign_id))
    return tuple(stats[:limit]), len(stats)


def active_training_campaigns(snapshot: Snapshot) -> int | None:
    if snapshot.training_campaigns is None:
        return None
    return sum(
        1
        for c in snapshot.training_campaigns
        if c.status.lower() not in _FINISHED_CAMPAIGN_STATUSES
    )


def inventory(snapshot: Snapshot, now: float) -> Mapping[str, int]:
    """Object counts for change alerts; only what was fetched is present."""
    counts: dict[str, int] = {}
    if snapshot.users is not None:
        counts["users_active"] = sum(1 for u in snapshot.users if u.status == "active")
    optional = {
        "users_archived": snapshot.archived_user_count,
        "phishing_campaigns": snapshot.phishing_campaign_count,
        "training_modules": snapshot.store_purchase_count,
        "policies": snapshot.policy_count,
    }
    counts.update({key: value for key, value in optional.items() if value is not None})
    if snapshot.groups is not None:
        counts["groups"] = sum(1 for g in snapshot.groups if g.status == "active")
    if snapshot.training_campaigns is not None:
        counts["training_campaigns"] = len(snapshot.training_campaigns)
    if snapshot.security_tests is not None:
        counts["security_tests_90d"] = sum(
            1 for t in snapshot.security_tests if in_pst_window(t, now)
        )
    return counts


def risk_score_change_30d(snapshot: Snapshot, now: float) -> float | None:
    """Latest account risk score minus the score on record 30 days before now.

    The base is the newest history entry at or before now - 30 d; without one (a history
    shorter than 30 days) the change is unknown.
    """
    history = snapshot.risk_history
    if not history:
        return None
    latest = max(history, key=lambda p: p.date)
    older = [p for p in history if p.date <= now - RISK_CHANGE_WINDOW]
    if not older:
        return None
    base = max(older, key=lambda p: p.date)
    return latest.risk_score - base.risk_score


def user_event_counts(
    snapshot: Snapshot, now: float, limit: int
) -> tuple[Mapping[tuple[str, str], int] | None, int]:
    """Events of the last 24 h by (event type, risk level), for the `limit` busiest types."""
    if snapshot.user_events is None:
        return None, 0
    by_type: Counter[str] = Counter()
    by_pair: Counter[tuple[str, str]] = Counter()
    for event in snapshot.user_events:
        if event.occurred_at is not None and event.occurred_at < now - USER_EVENT_WINDOW:
            continue
        level = _risk_level_label(event.risk_level)
        by_type[event.event_type] += 1
        by_pair[(event.event_type, level)] += 1
    kept = {name for name, _ in sorted(by_type.items(), key=lambda i: (-i[1], i[0]))[:limit]}
    return {pair: n for pair, n in by_pair.items() if pair[0] in kept}, len(by_type)


# Risk levels outside this range share one label, so a misbehaving API cannot grow the
# number of series without bound.
RISK_LEVEL_RANGE = range(-10, 11)


def _risk_level_label(level: int | None) -> str:
    if level is None:
        return "unknown"
    return str(level) if level in RISK_LEVEL_RANGE else "out_of_range"


def unresolved_by_severity(
    messages: Iterable[PhisherMessage], *, since: float
) -> Mapping[str, int]:
    """Unresolved (RECEIVED/IN_REVIEW) messages reported at or after `since`, per severity.

    Every known severity is present (zeros included); an unknown severity from the API
    counts as UNKNOWN_SEVERITY. Messages whose report time is unknown were matched by the
    server-side window filter, so they count.
    """
    counts = dict.fromkeys(PHISHER_SEVERITIES, 0)
    for message in messages:
        if not message.is_unresolved:
            continue
        if message.reported_at is not None and message.reported_at < since:
            continue
        severity = message.severity if message.severity in counts else "UNKNOWN_SEVERITY"
        counts[severity] += 1
    return counts
