"""The test oracle itself, on tiny hand-built orgs whose KRIs can be worked out by hand."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from simulator_truth import (
    DAY,
    HOUR,
    KRI_SLUGS,
    add_relative_duration,
    expected_kris,
    expected_user_events,
    user_event_quota,
)

from kb4_exporter.simulator.org import Org
from kb4_exporter.simulator.records import (
    Account,
    Enrollment,
    GroupRef,
    NamedRef,
    PhisherEvent,
    PhisherMessage,
    Recipient,
    SecurityTest,
    StorePurchase,
    TrainingCampaign,
    User,
    UserEvent,
    pst_counts,
)

NOW = datetime(2025, 6, 15, 12, tzinfo=UTC).timestamp()
ACCOUNT = Account("Tiny", "paid", ("tiny.example",), (), "Diamond", None, 10, 40.0)
MODULE = StorePurchase(1, "Module", "", "Training Module", 10, "KnowBe4", 0, 0)
TEMPLATE = NamedRef(1, "Template")


def user(
    uid: int,
    *,
    ppp: float | None = None,
    risk: float | None = None,
    groups: Sequence[int] = (),
    last_sign_in: float | None = NOW - DAY,
    status: str = "active",
) -> User:
    return User(
        id=uid,
        first_name="U",
        last_name=str(uid),
        email=f"u{uid}@tiny.example",
        job_title="",
        department="",
        location="",
        phish_prone_percentage=ppp,
        current_risk_score=risk,
        groups=tuple(groups),
        joined_on=int(NOW - 900 * DAY),
        last_sign_in=None if last_sign_in is None else int(last_sign_in),
        status=status,
        archived_at=None,
    )


def recipient(
    pst_id: int,
    uid: int | None,
    *,
    email: str = "",
    delivered: float | None = None,
    clicked: float | None = None,
    reported: float | None = None,
) -> Recipient:
    def stamp(value: float | None) -> int | None:
        return None if value is None else int(value)

    return Recipient(
        recipient_id=uid or 0,
        pst_id=pst_id,
        user_id=uid,
        first_name="",
        last_name="",
        email=email or f"u{uid}@tiny.example",
        template=TEMPLATE,
        scheduled_at=stamp(delivered),
        delivered_at=stamp(delivered),
        opened_at=None,
        clicked_at=stamp(clicked),
        replied_at=None,
        attachment_opened_at=None,
        macro_enabled_at=None,
        data_entered_at=None,
        qr_code_scanned=None,
        reported_at=stamp(reported),
        bounced_at=None,
    )


def pst(pst_id: int, started: float | None, rows: Sequence[Recipient]) -> SecurityTest:
    return SecurityTest(
        pst_id=pst_id,
        campaign_id=1,
        name=f"PST {pst_id}",
        status="Closed",
        groups=(),
        started_at=None if started is None else int(started),
        duration=3,
        categories=(),
        template=TEMPLATE,
        landing_page=TEMPLATE,
        counts=pst_counts(rows),
        phish_prone_percentage=0.0,
    )


def campaign(
    cid: int,
    name: str,
    duration_type: str,
    *,
    end: float | None = None,
    relative: str | None = None,
) -> TrainingCampaign:
    return TrainingCampaign(
        campaign_id=cid,
        name=name,
        groups=(GroupRef(0, "All Users"),),
        status="In Progress",
        content=(MODULE,),
        duration_type=duration_type,
        start_date=int(NOW - 400 * DAY),
        end_date=None if end is None else int(end),
        relative_duration=relative,
        auto_enroll=True,
        allow_multiple_enrollments=False,
    )


def enrollment(
    of: TrainingCampaign,
    status: str,
    *,
    uid: int = 1,
    enrolled: float = NOW - 100 * DAY,
    completed: float | None = None,
) -> Enrollment:
    return Enrollment(
        enrollment_id=0,
        campaign_id=of.campaign_id,
        campaign_name=of.name,
        user_id=uid,
        first_name="",
        last_name="",
        email="",
        employee_number="",
        content=MODULE,
        enrollment_date=int(enrolled),
        start_date=None,
        completion_date=None if completed is None else int(completed),
        status=status,
        time_spent=0,
        policy_acknowledged=False,
    )


def message(severity: str, status: str, reported: float) -> PhisherMessage:
    return PhisherMessage(
        id=f"{severity}-{status}-{reported}",
        subject="",
        sender="",
        reported_by="",
        action_status=status,
        category="THREAT",
        severity=severity,
        pipeline_status="PROCESSED",
        tags=(),
        confidence=(0.0, 0.0, 1.0),
        events=(PhisherEvent("e", None, "CREATED", int(reported)),),
    )


def org_of(
    users: Sequence[User] = (user(1),),
    tests: Sequence[tuple[SecurityTest, Sequence[Recipient]]] = (),
    campaigns: Sequence[TrainingCampaign] = (),
    enrollments: Sequence[Enrollment] = (),
    messages: Sequence[PhisherMessage] = (),
) -> Org:
    return Org(
        now=NOW,
        account=ACCOUNT,
        users=users,
        security_tests=[t for t, _ in tests],
        recipients={t.pst_id: rows for t, rows in tests},
        training_campaigns=campaigns,
        enrollments={
            c.campaign_id: [e for e in enrollments if e.campaign_id == c.campaign_id]
            for c in campaigns
        },
        phisher_messages=messages,
    )


def kri(org: Org, slug: str, **options: object) -> object:
    return expected_kris(org, NOW, **options)[slug]  # type: ignore[arg-type]


class TestShape:
    def test_every_slug_and_the_severity_breakdown(self) -> None:
        result = expected_kris(org_of(), NOW)
        assert set(result) == {*KRI_SLUGS, "phisher_unresolved_by_severity"}

    def test_an_empty_org_is_absent_except_the_phisher_count(self) -> None:
        result = expected_kris(org_of(users=()), NOW)
        assert result.pop("kb4_phisher_unresolved_high_4h") == 0.0
        assert result.pop("phisher_unresolved_by_severity") == {
            severity: 0.0 for severity in ("UNKNOWN_SEVERITY", "LOW", "MEDIUM", "HIGH", "CRITICAL")
        }
        assert set(result.values()) == {None}


class TestUsers:
    def test_phishing_prone_is_the_mean_ppp_of_active_users_as_a_ratio(self) -> None:
        users = [
            user(1, ppp=10.0),
            user(2, ppp=30.0),
            user(3),  # no PPP: not in the mean
            user(4, ppp=90.0, status="archived"),
        ]
        assert kri(org_of(users), "kb4_phishing_prone_pct") == pytest.approx(0.2)

    def test_high_risk_is_a_tenth_of_scored_active_users_rounded_up(self) -> None:
        scored = [user(i, risk=50.0) for i in range(11)]
        unscored_or_archived = [user(20), user(21, risk=1.0, status="archived")]
        # ceil(11 / 10) = 2
        assert kri(org_of(scored + unscored_or_archived), "kb4_high_risk_users") == 2.0
        assert kri(org_of(scored[:10]), "kb4_high_risk_users") == 1.0
        assert kri(org_of([user(1)]), "kb4_high_risk_users") is None

    def test_zero_training_activity_counts_never_and_over_a_year_ago(self) -> None:
        users = [
            user(1, last_sign_in=None),
            user(2, last_sign_in=NOW - 366 * DAY),
            user(3, last_sign_in=NOW - 364 * DAY),
            user(4, last_sign_in=None, status="archived"),
        ]
        assert kri(org_of(users), "kb4_zero_training_activity_12m") == 2.0

    def test_department_delta_spreads_group_means_of_active_users(self) -> None:
        users = [
            user(1, ppp=10.0, groups=[100]),
            user(2, ppp=30.0, groups=[100, 200]),
            user(3, ppp=50.0, groups=[200]),
            user(4, groups=[300]),  # no PPP: group 300 has no mean
            user(5, ppp=99.0, groups=[100], status="archived"),
        ]
        # means 20 (group 100) and 40 (group 200): (40 - 20) / 100
        assert kri(org_of(users), "kb4_department_ppp_delta_pct") == pytest.approx(0.2)
        one_group = [user(1, ppp=10.0, groups=[100]), user(2, ppp=50.0, groups=[100])]
        assert kri(org_of(one_group), "kb4_department_ppp_delta_pct") is None


class TestPhishing:
    def test_repeat_clickers_over_recent_psts_by_id_or_lower_cased_email(self) -> None:
        recent_a = [
            recipient(1, 7, clicked=NOW - 10 * DAY),
            recipient(1, 8, clicked=NOW - 10 * DAY),
            recipient(1, None, email="Gone.User@tiny.example", clicked=NOW - 10 * DAY),
        ]
        recent_b = [
            recipient(2, 7, clicked=NOW - 5 * DAY),
            recipient(2, None, email="GONE.USER@TINY.EXAMPLE", clicked=NOW - 5 * DAY),
            recipient(2, 8),  # delivered, no click
        ]
        old = [recipient(3, 8, clicked=NOW - 100 * DAY)]
        org = org_of(
            tests=[
                (pst(1, NOW - 20 * DAY, recent_a), recent_a),
                (pst(2, NOW - 6 * DAY, recent_b), recent_b),
                (pst(3, NOW - 100 * DAY, old), old),  # outside the 90 days
                (pst(4, None, []), []),  # never started
            ]
        )
        # user 7 and the e-mail-only user clicked in both recent PSTs; user 8 in one
        assert kri(org, "kb4_repeat_clickers_90d") == 2.0

    def test_repeat_clickers_absent_without_recent_psts(self) -> None:
        old = [recipient(3, 8, clicked=NOW - 100 * DAY)]
        assert (
            kri(org_of(tests=[(pst(3, NOW - 100 * DAY, old), old)]), "kb4_repeat_clickers_90d")
            is None
        )

    def test_time_to_report_is_the_median_delay_of_recent_reports(self) -> None:
        sent = NOW - 10 * DAY
        rows = [
            recipient(1, 1, delivered=sent, reported=sent + 60),
            recipient(1, 2, delivered=sent, reported=sent + 600),
            recipient(1, 3, delivered=sent, reported=sent + 6000),
            recipient(1, 4, delivered=sent, reported=sent - 30),  # before delivery: ignored
            recipient(1, 5, reported=sent),  # never delivered: ignored
        ]
        old = [recipient(2, 1, delivered=sent - 95 * DAY, reported=sent - 95 * DAY + 1)]
        org = org_of(tests=[(pst(1, sent, rows), rows), (pst(2, sent - 95 * DAY, old), old)])
        assert kri(org, "kb4_phish_time_to_report_hours") == 600.0
        assert (
            kri(
                org_of(tests=[(pst(1, sent, rows[3:]), rows[3:])]), "kb4_phish_time_to_report_hours"
            )
            is None
        )


class TestTraining:
    def test_completion_and_overdue_with_a_specific_end_date(self) -> None:
        past = campaign(1, "Annual", "Specific End Date", end=NOW - 10 * DAY)
        future = campaign(2, "Next", "Specific End Date", end=NOW + 10 * DAY)
        rows = [
            enrollment(past, "Passed", completed=NOW - 20 * DAY),  # due, on time
            enrollment(past, "Completed", completed=NOW - 5 * DAY),  # due, late
            enrollment(past, "In Progress"),  # due, overdue
            enrollment(past, "Past Due"),  # due, overdue
            enrollment(future, "Not Started"),  # not due yet
            enrollment(future, "Passed", completed=NOW - DAY),  # not due yet
        ]
        org = org_of(campaigns=[past, future], enrollments=rows)
        # 1 on time of 4 due; 2 of the due are not done (a late completion is done)
        assert kri(org, "kb4_training_completion_pct") == pytest.approx(1 / 4)
        assert kri(org, "kb4_overdue_training_assignments") == 2.0

    @pytest.mark.parametrize(
        ("relative", "enrolled", "due"),
        [
            ("30 days", "2025-01-31T08:00:00", "2025-03-02T08:00:00"),
            ("2 weeks", "2025-01-31T08:00:00", "2025-02-14T08:00:00"),
            ("1 month", "2025-01-31T08:00:00", "2025-02-28T08:00:00"),  # day clamped
            ("3 Months", "2023-11-30T08:00:00", "2024-02-29T08:00:00"),  # leap year
            ("1 year", "2024-02-29T08:00:00", "2025-02-28T08:00:00"),
            ("P14D", "2025-01-31T08:00:00", "2025-02-14T08:00:00"),
            ("P2W", "2025-01-31T08:00:00", "2025-02-14T08:00:00"),
            ("P1M", "2025-03-31T08:00:00", "2025-04-30T08:00:00"),
            ("P1Y2M3D", "2024-01-01T08:00:00", "2025-03-04T08:00:00"),
        ],
    )
    def test_relative_durations(self, relative: str, enrolled: str, due: str) -> None:
        start = datetime.fromisoformat(enrolled).replace(tzinfo=UTC).timestamp()
        expected = datetime.fromisoformat(due).replace(tzinfo=UTC).timestamp()
        assert add_relative_duration(start, relative) == expected

    @pytest.mark.parametrize("relative", ["until done", "", None, "P", "PT5H", "30 fortnights"])
    def test_unparseable_relative_durations_have_no_due_date(self, relative: str | None) -> None:
        assert add_relative_duration(NOW, relative) is None

    def test_relative_due_dates_and_the_past_due_status(self) -> None:
        two_weeks = campaign(1, "Refresher", "Relative End Date", relative="2 weeks")
        unknown = campaign(2, "Data Handling", "Relative End Date", relative="until done")
        open_ended = campaign(3, "Library", "No End Date")
        rows = [
            enrollment(two_weeks, "Passed", enrolled=NOW - 30 * DAY, completed=NOW - 20 * DAY),
            enrollment(two_weeks, "Not Started", enrolled=NOW - 7 * DAY),  # due in a week
            enrollment(unknown, "Completed", completed=NOW - DAY),  # no due date: nowhere
            enrollment(unknown, "Past Due"),  # the status makes it due
            enrollment(open_ended, "In Progress"),  # never due
        ]
        org = org_of(campaigns=[two_weeks, unknown, open_ended], enrollments=rows)
        # due: the on-time pass and the Past Due one
        assert kri(org, "kb4_training_completion_pct") == pytest.approx(1 / 2)
        assert kri(org, "kb4_overdue_training_assignments") == 1.0

    def test_exempt_and_archived_users_enrollments_count_nowhere(self) -> None:
        past = campaign(1, "Remedial Phishing", "Specific End Date", end=NOW - DAY)
        rows = [
            enrollment(past, "Passed", completed=NOW - 2 * DAY),
            enrollment(past, "User Exempt"),
            enrollment(past, "exempt"),
            enrollment(past, "Past Due", uid=2),  # archived user
        ]
        users = [user(1), user(2, status="archived")]
        org = org_of(users=users, campaigns=[past], enrollments=rows)
        assert kri(org, "kb4_training_completion_pct") == 1.0
        assert kri(org, "kb4_overdue_training_assignments") == 0.0
        assert kri(org, "kb4_remedial_training_compliance_pct") == 1.0

    def test_overdue_is_absent_only_without_any_counted_enrollment(self) -> None:
        library = campaign(1, "Library", "No End Date")
        assert kri(org_of(campaigns=[library]), "kb4_overdue_training_assignments") is None
        not_due = org_of(campaigns=[library], enrollments=[enrollment(library, "In Progress")])
        assert kri(not_due, "kb4_overdue_training_assignments") == 0.0
        assert kri(not_due, "kb4_training_completion_pct") is None

    def test_remedial_compliance_matches_the_pattern_as_a_case_blind_search(self) -> None:
        remedial = campaign(1, "Q2 REMEDIAL refresher", "No End Date")
        clickers = campaign(2, "Clicker follow-up", "No End Date")
        other = campaign(3, "Annual", "No End Date")
        rows = [
            enrollment(remedial, "Passed"),
            enrollment(remedial, "Not Started"),
            enrollment(clickers, "Completed"),
            enrollment(other, "Completed"),
        ]
        org = org_of(campaigns=[remedial, clickers, other], enrollments=rows)
        assert kri(org, "kb4_remedial_training_compliance_pct") == pytest.approx(1 / 2)
        pattern = "remedial|clicker"
        assert kri(
            org, "kb4_remedial_training_compliance_pct", remedial_pattern=pattern
        ) == pytest.approx(2 / 3)
        assert kri(org, "kb4_remedial_training_compliance_pct", remedial_pattern="nothing") is None


class TestPhisher:
    def test_unresolved_high_in_the_4_to_24_hour_window(self) -> None:
        messages = [
            message("HIGH", "RECEIVED", NOW - 5 * HOUR),
            message("CRITICAL", "IN_REVIEW", NOW - 23 * HOUR),
            message("CRITICAL", "RESOLVED", NOW - 10 * HOUR),  # resolved
            message("MEDIUM", "RECEIVED", NOW - 10 * HOUR),  # severity
            message("HIGH", "RECEIVED", NOW - 3 * HOUR),  # too recent
            message("HIGH", "RECEIVED", NOW - 25 * HOUR),  # too old
        ]
        assert kri(org_of(messages=messages), "kb4_phisher_unresolved_high_4h") == 2.0

    def test_unresolved_by_severity_within_the_look_back(self) -> None:
        messages = [
            message("LOW", "RECEIVED", NOW - DAY),
            message("LOW", "IN_REVIEW", NOW - 6 * DAY),
            message("LOW", "RESOLVED", NOW - DAY),  # resolved
            message("HIGH", "RECEIVED", NOW - 8 * DAY),  # before the look-back
        ]
        by_severity = kri(org_of(messages=messages), "phisher_unresolved_by_severity")
        assert by_severity == {
            "UNKNOWN_SEVERITY": 0.0,
            "LOW": 2.0,
            "MEDIUM": 0.0,
            "HIGH": 0.0,
            "CRITICAL": 0.0,
        }
        longer = kri(
            org_of(messages=messages),
            "phisher_unresolved_by_severity",
            phisher_lookback_seconds=9 * DAY,
        )
        assert isinstance(longer, dict)
        assert longer["HIGH"] == 1.0


def user_event(kind: str, level: int, occurred: float) -> UserEvent:
    return UserEvent(
        id=f"{kind}-{level}-{occurred}",
        event_type=kind,
        user_id=1,
        user_email="u1@tiny.example",
        user_archived=False,
        occurred_date=int(occurred),
        risk_level=level,
        risk_decay_mode=0,
        risk_expire_date=None,
        external_id=None,
        source=None,
        description=None,
    )


class TestUserEvents:
    def test_last_day_by_type_and_level(self) -> None:
        events = [
            user_event("dlp", 5, NOW - HOUR),
            user_event("dlp", 5, NOW - 23 * HOUR),
            user_event("dlp", -3, NOW - 2 * HOUR),
            user_event("call", 0, NOW - 10 * HOUR),
            user_event("call", 12, NOW - 10 * HOUR),  # outside -10..10
            user_event("dlp", 5, NOW - 25 * HOUR),  # older than a day
            user_event("dlp", 5, NOW + HOUR),  # after now
        ]
        org = Org(now=NOW, account=ACCOUNT, users=[user(1)], user_events=events)
        assert expected_user_events(org, NOW) == {
            ("dlp", "5"): 2.0,
            ("dlp", "-3"): 1.0,
            ("call", "0"): 1.0,
            ("call", "out_of_range"): 1.0,
        }

    def test_no_events_no_counts_and_the_quota_follows_the_seats(self) -> None:
        assert expected_user_events(org_of(), NOW) == {}
        assert user_event_quota(org_of()) == 10 * 10  # ACCOUNT has ten seats
