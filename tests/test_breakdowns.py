"""Bounded breakdowns: groups, recent PSTs, training, inventory, risk trend, user events."""

from __future__ import annotations

import pytest

from kb4_exporter.kris.breakdowns import (
    active_training_campaigns,
    campaign_stats,
    enrollments_by_status,
    group_stats,
    phishing_rates_90d,
    pst_ratio,
    pst_stats,
    risk_score_change_30d,
    user_event_counts,
)
from kb4_exporter.kris.enrollments import tally_enrollments
from kb4_exporter.model.reporting import (
    Enrollment,
    Group,
    RiskPoint,
    SecurityTest,
    TrainingCampaign,
    User,
)
from kb4_exporter.model.snapshot import Snapshot
from kb4_exporter.model.user_events import UserEvent

NOW = 1_800_000_000.0
DAY = 86400.0


def user(
    uid: int, groups: tuple[int, ...], ppp: float | None = None, status: str = "active"
) -> User:
    return User(uid, ppp, None, groups, None, status)


def group(gid: int, name: str, status: str = "active", risk: float | None = None) -> Group:
    return Group(gid, name, None, risk, status)


def test_groups_are_ranked_by_active_members_and_capped() -> None:
    snapshot = Snapshot(
        users=(
            user(1, (10, 20), 10.0),
            user(2, (20,), 30.0),
            user(3, (20, 30), None),
            user(4, (30,), 50.0, status="archived"),
        ),
        groups=(
            group(10, "A", risk=5.0),
            group(20, "B"),
            group(30, "C"),
            group(40, "old", "archived"),
        ),
    )
    stats, total = group_stats(snapshot, limit=2)
    assert total == 3  # the archived group is never exported
    assert stats is not None
    assert [(g.name, g.users) for g in stats] == [("B", 3), ("A", 1)]
    # B: mean(10, 30) = 20 % -> 0.2; user 3 has no PPP and is left out of the mean.
    assert stats[0].phishing_prone_ratio == pytest.approx(0.2)
    assert stats[1].risk_score == 5.0


def test_groups_absent_until_both_listings_are_known() -> None:
    assert group_stats(Snapshot(users=()), 5) == (None, 0)


def pst(pst_id: int, days_ago: float | None, **counts: int) -> SecurityTest:
    started = None if days_ago is None else NOW - days_ago * DAY
    return SecurityTest(pst_id, 1, f"PST {pst_id}", "Closed", started, 1, 0.25, counts)


def test_recent_psts_newest_first_and_capped() -> None:
    snapshot = Snapshot(
        security_tests=(pst(1, 80), pst(2, 10), pst(3, 95), pst(4, None), pst(5, 40))
    )
    stats, total = pst_stats(snapshot, NOW, limit=2)
    assert total == 3
    assert stats is not None
    assert [t.pst_id for t in stats] == [2, 5]
    assert stats[0].phishing_prone_ratio == 0.25


@pytest.mark.parametrize(
    ("raw", "ratio"), [(0.5, 0.5), (1.0, 1.0), (37.5, 0.375), (None, None), (-1.0, None)]
)
def test_pst_ratio_reads_decimal_form_and_percentages(
    raw: float | None, ratio: float | None
) -> None:
    assert pst_ratio(raw) == ratio


def test_click_and_report_rates_over_90_days() -> None:
    snapshot = Snapshot(
        security_tests=(
            pst(1, 10, delivered=10, clicked=2, reported=5),
            pst(2, 50, delivered=30, clicked=4, reported=3),
            pst(3, 200, delivered=100, clicked=100, reported=0),
        )
    )
    # (2 + 4) / 40 and (5 + 3) / 40; the 200-day-old PST is outside the window.
    assert phishing_rates_90d(snapshot, NOW) == (pytest.approx(0.15), pytest.approx(0.2))
    assert phishing_rates_90d(Snapshot(security_tests=()), NOW) == (None, None)


def enrollment(campaign_id: int, status: str, enrolled_days_ago: float = 40) -> Enrollment:
    return Enrollment(campaign_id, "", status, NOW - enrolled_days_ago * DAY, None, None)


def test_enrollments_by_status_lists_every_known_status() -> None:
    snapshot = Snapshot(
        enrollments=tally_enrollments(
            (
                enrollment(1, "Passed"),
                enrollment(1, " passed"),
                enrollment(1, "Exempt - on leave"),
                enrollment(1, "Paused"),
            ),
            (),
            NOW,
        )
    )
    counts = enrollments_by_status(snapshot)
    assert counts == {
        "Not Started": 0,
        "In Progress": 0,
        "Completed": 0,
        "Passed": 2,
        "Past Due": 0,
        "Exempt": 1,
        "other": 1,
    }


def test_campaign_stats_completion_and_overdue() -> None:
    campaigns = (
        TrainingCampaign(1, "Annual", "In Progress", "Specific End Date", NOW - DAY, None),
        TrainingCampaign(2, "Onboarding", "Completed", "Relative End Date", None, "30 days"),
        TrainingCampaign(3, "Empty", "Created", "No End Date", None, None),
    )
    enrollments = (
        enrollment(1, "Completed "),  # a stray space changes nothing
        enrollment(1, "Not Started"),  # due yesterday: overdue
        enrollment(1, "Exempt"),  # left out
        enrollment(2, "In Progress", enrolled_days_ago=10),  # due in 20 days
        enrollment(2, "Past Due", enrolled_days_ago=10),  # overdue by status
    )
    snapshot = Snapshot(
        training_campaigns=campaigns, enrollments=tally_enrollments(enrollments, campaigns, NOW)
    )
    stats, total = campaign_stats(snapshot, NOW, limit=2)
    assert total == 3
    assert stats is not None
    by_id = {c.campaign_id: c for c in stats}
    assert set(by_id) == {1, 2}
    assert (by_id[1].enrollments, by_id[1].completion_ratio, by_id[1].overdue) == (2, 0.5, 1)
    assert (by_id[2].enrollments, by_id[2].completion_ratio, by_id[2].overdue) == (2, 0.0, 1)
    assert active_training_campaigns(snapshot) == 2


def test_risk_change_uses_the_newest_entry_at_least_30_days_old() -> None:
    history = (
        RiskPoint(NOW - 45 * DAY, 40.0),
        RiskPoint(NOW - 32 * DAY, 38.0),
        RiskPoint(NOW - 20 * DAY, 30.0),
        RiskPoint(NOW - 1 * DAY, 33.0),
    )
    assert risk_score_change_30d(Snapshot(risk_history=history), NOW) == pytest.approx(-5.0)
    short = history[2:]
    assert risk_score_change_30d(Snapshot(risk_history=short), NOW) is None
    assert risk_score_change_30d(Snapshot(), NOW) is None


def test_user_events_counted_by_type_and_level_for_the_busiest_types() -> None:
    events = (
        UserEvent("phish", 5, NOW - 3600),
        UserEvent("phish", 5, NOW - 7200),
        UserEvent("phish", None, NOW - 60),
        UserEvent("usb", 2, NOW - 60),
        UserEvent("badge", 1, NOW - 60),
        UserEvent("phish", 9, NOW - 2 * DAY),  # older than a day
    )
    counts, types = user_event_counts(Snapshot(user_events=events), NOW, limit=2)
    assert types == 3
    assert counts == {("phish", "5"): 2, ("phish", "unknown"): 1, ("badge", "1"): 1}


def test_risk_levels_outside_the_known_range_share_one_label() -> None:
    events = tuple(UserEvent("phish", level, NOW - 60) for level in (10, -10, 11, 999, -50))
    counts, _ = user_event_counts(Snapshot(user_events=events), NOW, limit=5)
    assert counts == {("phish", "10"): 1, ("phish", "-10"): 1, ("phish", "out_of_range"): 3}
