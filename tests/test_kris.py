"""KRI semantics on small hand-built snapshots; expected values are worked out by hand."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime

import pytest

from kb4_exporter.kris import specs
from kb4_exporter.kris import values as kris
from kb4_exporter.kris.enrollments import CampaignIndex, tally_enrollments
from kb4_exporter.model.phisher import PhisherMessage
from kb4_exporter.model.reporting import (
    Enrollment,
    EnrollmentGroup,
    PstRecipients,
    Recipient,
    SecurityTest,
    TrainingCampaign,
    User,
)
from kb4_exporter.model.snapshot import Snapshot

NOW = datetime(2024, 6, 15, 12, 0, tzinfo=UTC).timestamp()
HOUR = 3600.0
DAY = 86400.0
REMEDIAL = re.compile("remedial", re.IGNORECASE)


# --- builders ----------------------------------------------------------------------------


def user(
    uid: int,
    *,
    ppp: float | None = None,
    risk: float | None = None,
    groups: Iterable[int] = (),
    last_activity: float | None = None,
    status: str = "active",
) -> User:
    return User(uid, ppp, risk, tuple(groups), last_activity, status)


def pst(
    pst_id: int, started_at: float | None, *, clicked: int = 1, reported: int = 1
) -> SecurityTest:
    return SecurityTest(
        pst_id=pst_id,
        campaign_id=None,
        name=f"PST {pst_id}",
        status="Closed",
        started_at=started_at,
        duration_days=3,
        phish_prone_percentage=None,
        counts={"clicked": clicked, "reported": reported},
    )


def summary(
    pst_id: int, clickers: Iterable[str] = (), delays: Iterable[float] = ()
) -> PstRecipients:
    ordered = tuple(sorted(delays))
    return PstRecipients(pst_id, frozenset(clickers), ordered, len(ordered))


def pst_snapshot(tests: Iterable[SecurityTest], summaries: Iterable[PstRecipients]) -> Snapshot:
    return Snapshot(security_tests=tuple(tests), recipients={s.pst_id: s for s in summaries})


def campaign(
    cid: int,
    name: str,
    duration_type: str,
    *,
    end_date: float | None = None,
    relative: str | None = None,
) -> TrainingCampaign:
    return TrainingCampaign(cid, name, "In Progress", duration_type, end_date, relative)


def enrollment(
    status: str,
    *,
    campaign_id: int | None = 1,
    campaign_name: str = "Annual Training",
    enrolled: float | None = None,
    completed: float | None = None,
    due: float | None = None,
) -> Enrollment:
    return Enrollment(campaign_id, campaign_name, status, enrolled, completed, due)


def tallied(
    enrollments: Iterable[Enrollment], campaigns: Iterable[TrainingCampaign] = ()
) -> tuple[EnrollmentGroup, ...]:
    """The enrollments as the refresher keeps them: counted, joined to `campaigns`."""
    return tally_enrollments(enrollments, campaigns, built_at=NOW)


def training_snapshot(
    enrollments: Iterable[Enrollment], campaigns: Iterable[TrainingCampaign]
) -> Snapshot:
    campaigns = tuple(campaigns)
    return Snapshot(enrollments=tallied(enrollments, campaigns), training_campaigns=campaigns)


def message(severity: str, status: str, reported_at: float | None) -> PhisherMessage:
    return PhisherMessage(severity, status, reported_at)


def assert_absent(value: specs.KriValue) -> None:
    assert value.value is None
    assert value.sample_size is None


# --- specs and compute_kris ----------------------------------------------------------------

EXPECTED_TABLE = (
    ("kb4_phishing_prone_pct", "kb4_phishing_prone_ratio"),
    ("kb4_repeat_clickers_90d", "kb4_repeat_clickers_90d"),
    ("kb4_training_completion_pct", "kb4_training_completion_ratio"),
    ("kb4_overdue_training_assignments", "kb4_overdue_training_assignments"),
    ("kb4_remedial_training_compliance_pct", "kb4_remedial_training_compliance_ratio"),
    ("kb4_high_risk_users", "kb4_high_risk_users"),
    ("kb4_phish_time_to_report_hours", "kb4_phish_time_to_report_seconds"),
    ("kb4_phisher_unresolved_high_4h", "kb4_phisher_unresolved_high_4h"),
    ("kb4_zero_training_activity_12m", "kb4_zero_training_activity_12m"),
    ("kb4_department_ppp_delta_pct", "kb4_department_ppp_delta_ratio"),
)


class TestSpecs:
    def test_specs_follow_the_design_table_in_order(self) -> None:
        assert tuple((spec.slug, spec.metric) for spec in specs.KRI_SPECS) == EXPECTED_TABLE

    def test_every_spec_has_help_text(self) -> None:
        for spec in specs.KRI_SPECS:
            assert spec.help.strip(), spec.slug

    def test_compute_kris_returns_the_ten_specs_in_order(self) -> None:
        values = kris.compute_kris(
            Snapshot(), NOW, remedial_pattern=REMEDIAL, phisher_enabled=False
        )
        assert tuple(v.spec for v in values) == specs.KRI_SPECS

    def test_never_fetched_snapshot_is_all_absent(self) -> None:
        values = kris.compute_kris(Snapshot(), NOW, remedial_pattern=REMEDIAL, phisher_enabled=True)
        assert [v.value for v in values] == [None] * 10

    def test_empty_org_is_absent_except_phisher(self) -> None:
        empty = Snapshot(
            users=(),
            groups=(),
            security_tests=(),
            recipients={},
            training_campaigns=(),
            enrollments=(),
            phisher_messages=(),
        )
        values = kris.compute_kris(empty, NOW, remedial_pattern=REMEDIAL, phisher_enabled=True)
        by_slug = {v.spec.slug: v for v in values}
        phisher = by_slug.pop("kb4_phisher_unresolved_high_4h")
        assert (phisher.value, phisher.sample_size) == (0.0, 0)
        assert {slug: v.value for slug, v in by_slug.items()} == dict.fromkeys(by_slug)

    def test_empty_org_without_phisher_token_is_all_absent(self) -> None:
        empty = Snapshot(users=(), enrollments=(), training_campaigns=(), phisher_messages=())
        values = kris.compute_kris(empty, NOW, remedial_pattern=REMEDIAL, phisher_enabled=False)
        assert [v.value for v in values] == [None] * 10

    def test_compute_kris_matches_the_single_kri_functions(self) -> None:
        campaigns = (campaign(1, "Remedial 1", "Specific End Date", end_date=NOW - DAY),)
        snapshot = Snapshot(
            users=(
                user(1, ppp=10.0, risk=50.0, groups=[1], last_activity=NOW),
                user(2, ppp=30.0, risk=20.0, groups=[2]),
            ),
            security_tests=(pst(1, NOW - DAY), pst(2, NOW - 2 * DAY)),
            recipients={
                1: summary(1, ["id:1"], [60.0]),
                2: summary(2, ["id:1"], [120.0]),
            },
            training_campaigns=campaigns,
            # Counted two days ago, when the due date (yesterday) was still ahead.
            enrollments=tally_enrollments(
                (
                    enrollment("Passed", campaign_name="Remedial 1", completed=NOW - 2 * DAY),
                    enrollment("Not Started", campaign_name="Remedial 1"),
                ),
                campaigns,
                built_at=NOW - 2 * DAY,
            ),
            phisher_messages=(message("HIGH", "RECEIVED", NOW - 5 * HOUR),),
        )
        combined = kris.compute_kris(snapshot, NOW, remedial_pattern=REMEDIAL, phisher_enabled=True)
        one_by_one = (
            kris.phishing_prone(snapshot),
            kris.repeat_clickers_90d(snapshot, NOW),
            kris.training_completion(snapshot, NOW),
            kris.overdue_training_assignments(snapshot, NOW),
            kris.remedial_training_compliance(snapshot, REMEDIAL),
            kris.high_risk_users(snapshot),
            kris.phish_time_to_report(snapshot, NOW),
            kris.phisher_unresolved_high_4h(snapshot, NOW, phisher_enabled=True),
            kris.zero_training_activity_12m(snapshot, NOW),
            kris.department_ppp_delta(snapshot),
        )
        assert combined == one_by_one
        assert [v.spec for v in combined] == list(specs.KRI_SPECS)
        # (10 + 30) / 2 / 100; user 1 clicked in both PSTs; 1 of 2 due done on time;
        # 1 overdue; remedial 1 done of 2; ceil(2 / 10); median(60, 120); one HIGH message;
        # user 2 never active; |10 - 30| / 100.
        assert [v.value for v in combined] == pytest.approx(
            [0.2, 1.0, 0.5, 1.0, 0.5, 1.0, 90.0, 1.0, 1.0, 0.2]
        )


# --- 1. phishing_prone -------------------------------------------------------------------


class TestPhishingProne:
    def test_mean_of_active_users_with_a_ppp(self) -> None:
        snapshot = Snapshot(
            users=(
                user(1, ppp=20.0),
                user(2, ppp=35.0),
                user(3),  # no PPP: left out
                user(4, ppp=90.0, status="archived"),  # not active: left out
            )
        )
        result = kris.phishing_prone(snapshot)
        # (20 + 35) / 2 = 27.5 % -> 0.275
        assert result.value == pytest.approx(0.275)
        assert result.sample_size == 2

    def test_absent_when_no_active_user_has_a_ppp(self) -> None:
        snapshot = Snapshot(users=(user(1), user(2, ppp=40.0, status="archived")))
        assert_absent(kris.phishing_prone(snapshot))

    def test_absent_when_users_never_fetched(self) -> None:
        assert_absent(kris.phishing_prone(Snapshot()))

    def test_zero_ppp_is_a_real_zero(self) -> None:
        result = kris.phishing_prone(Snapshot(users=(user(1, ppp=0.0),)))
        assert (result.value, result.sample_size) == (0.0, 1)


# --- 2. repeat_clickers_90d --------------------------------------------------------------


class TestRepeatClickers:
    def test_counts_users_clicking_in_two_distinct_psts(self) -> None:
        snapshot = pst_snapshot(
            [pst(1, NOW - 10 * DAY), pst(2, NOW - 20 * DAY), pst(3, NOW - 30 * DAY)],
            [
                summary(1, ["id:1", "id:2", "email:a@example.com"]),
                summary(2, ["id:1", "email:a@example.com"]),
                summary(3, ["id:1", "id:3"]),
            ],
        )
        result = kris.repeat_clickers_90d(snapshot, NOW)
        # id:1 in 3 PSTs, email:a in 2 -> 2 users; id:2 and id:3 clicked once each.
        assert result.value == 2.0
        assert result.sample_size == 3

    def test_two_clicks_in_one_pst_count_once(self) -> None:
        rows = [
            Recipient("id:7", NOW - 5 * DAY, NOW - 5 * DAY + 60, None),
            Recipient("id:7", NOW - 5 * DAY, NOW - 5 * DAY + 600, None),
        ]
        snapshot = pst_snapshot(
            [pst(1, NOW - 5 * DAY), pst(2, NOW - 6 * DAY)],
            [PstRecipients.summarise(1, rows), summary(2, ["id:8"])],
        )
        result = kris.repeat_clickers_90d(snapshot, NOW)
        # id:7 clicked twice but in one PST only -> 0 repeaters.
        assert result.value == 0.0
        assert result.sample_size == 2

    def test_email_keyed_recipients_match_across_psts(self) -> None:
        rows_1 = [
            Recipient.parse(
                {"user": {"email": "Bob@Example.com"}, "clicked_at": "2024-06-01T00:00:00Z"}
            )
        ]
        rows_2 = [
            Recipient.parse(
                {"user": {"email": "bob@example.com "}, "clicked_at": "2024-06-02T00:00:00Z"}
            )
        ]
        snapshot = pst_snapshot(
            [pst(1, NOW - 20 * DAY), pst(2, NOW - 19 * DAY)],
            [PstRecipients.summarise(1, rows_1), PstRecipients.summarise(2, rows_2)],
        )
        # Both rows key to email:bob@example.com -> 1 repeater.
        assert kris.repeat_clickers_90d(snapshot, NOW).value == 1.0

    def test_psts_older_than_90_days_are_left_out_and_the_boundary_is_in(self) -> None:
        snapshot = pst_snapshot(
            [
                pst(1, NOW - 90 * DAY),  # exactly at now - 90 d: in
                pst(2, NOW - 90 * DAY - 1),  # one second older: out
                pst(3, NOW - DAY),
                pst(4, None),  # never started: out
            ],
            [
                summary(1, ["id:1"]),
                summary(2, ["id:2"]),
                summary(3, ["id:1", "id:2"]),
                summary(4, ["id:2"]),
            ],
        )
        result = kris.repeat_clickers_90d(snapshot, NOW)
        # In window: PSTs 1 and 3 -> id:1 twice, id:2 once -> 1.
        assert result.value == 1.0
        assert result.sample_size == 2

    def test_psts_skipped_for_no_activity_are_known(self) -> None:
        snapshot = pst_snapshot(
            [
                pst(1, NOW - DAY, clicked=0, reported=0),  # skipped: known, no clickers
                pst(3, NOW - DAY),
            ],
            [summary(3, ["id:1"])],
        )
        result = kris.repeat_clickers_90d(snapshot, NOW)
        # PSTs 1 and 3 are used; id:1 clicked in one -> 0.
        assert (result.value, result.sample_size, result.incomplete) == (0.0, 2, False)

    def test_one_unfetched_pst_that_may_have_clicks_makes_it_incomplete(self) -> None:
        snapshot = pst_snapshot(
            [
                pst(1, NOW - DAY, clicked=0, reported=0),
                pst(2, NOW - DAY, clicked=3, reported=0),  # missing: unknown
                pst(3, NOW - DAY),
                pst(4, NOW - DAY),
            ],
            [summary(3, ["id:1"]), summary(4, ["id:1"])],
        )
        for result in (
            kris.repeat_clickers_90d(snapshot, NOW),
            kris.phish_time_to_report(snapshot, NOW),
        ):
            assert (result.value, result.sample_size, result.incomplete) == (None, None, True)

    def test_a_pst_listed_twice_counts_once(self) -> None:
        snapshot = pst_snapshot([pst(1, NOW - DAY), pst(1, NOW - DAY)], [summary(1, ["id:1"])])
        result = kris.repeat_clickers_90d(snapshot, NOW)
        assert (result.value, result.sample_size) == (0.0, 1)

    def test_absent_without_known_psts_in_the_window(self) -> None:
        old = pst_snapshot([pst(1, NOW - 100 * DAY)], [summary(1, ["id:1"])])
        unknown = pst_snapshot([pst(1, NOW - DAY, clicked=2)], [])
        assert_absent(kris.repeat_clickers_90d(old, NOW))
        assert_absent(kris.repeat_clickers_90d(unknown, NOW))
        assert_absent(kris.repeat_clickers_90d(pst_snapshot([], []), NOW))

    def test_absent_when_psts_or_recipients_never_fetched(self) -> None:
        no_recipients = Snapshot(security_tests=(pst(1, NOW - DAY, clicked=0, reported=0),))
        assert_absent(kris.repeat_clickers_90d(no_recipients, NOW))
        assert_absent(kris.repeat_clickers_90d(Snapshot(recipients={}), NOW))


# --- 3. training_completion and 4. overdue_training_assignments --------------------------


class TestTrainingDue:
    def test_specific_end_date(self) -> None:
        end = NOW - 10 * DAY
        campaigns = [campaign(1, "Annual Training", "Specific End Date", end_date=end)]
        enrollments = [
            enrollment("Completed", completed=end - DAY),  # on time
            enrollment("Passed", completed=end),  # on time: exactly at the due date
            enrollment("Completed", completed=end + 1),  # late
            enrollment("Not Started"),  # overdue
            enrollment("In Progress"),  # overdue
        ]
        snapshot = training_snapshot(enrollments, campaigns)
        completion = kris.training_completion(snapshot, NOW)
        overdue = kris.overdue_training_assignments(snapshot, NOW)
        # 2 on time / 5 due
        assert completion.value == pytest.approx(0.4)
        assert completion.sample_size == 5
        # Not Started + In Progress = 2, over 5 non-exempt enrollments
        assert (overdue.value, overdue.sample_size) == (2.0, 5)

    def test_due_date_exactly_now_is_not_due_yet(self) -> None:
        campaigns = [campaign(1, "Annual Training", "Specific End Date", end_date=NOW)]
        snapshot = training_snapshot([enrollment("Not Started")], campaigns)
        assert_absent(kris.training_completion(snapshot, NOW))
        overdue = kris.overdue_training_assignments(snapshot, NOW)
        assert (overdue.value, overdue.sample_size) == (0.0, 1)

    def test_relative_end_date_in_days(self) -> None:
        campaigns = [campaign(1, "Annual Training", "Relative End Date", relative="30 days")]
        enrollments = [
            # enrolled 40 d ago -> due 10 d ago, done 15 d ago: on time
            enrollment("Completed", enrolled=NOW - 40 * DAY, completed=NOW - 15 * DAY),
            # enrolled 40 d ago -> due 10 d ago, done 5 d ago: late
            enrollment("Completed", enrolled=NOW - 40 * DAY, completed=NOW - 5 * DAY),
            # enrolled 31 d ago -> due 1 d ago, not done: overdue
            enrollment("In Progress", enrolled=NOW - 31 * DAY),
            # enrolled 20 d ago -> due in 10 d: not due
            enrollment("Not Started", enrolled=NOW - 20 * DAY),
            # no enrollment date -> no due date: not due
            enrollment("Not Started", enrolled=None),
        ]
        snapshot = training_snapshot(enrollments, campaigns)
        completion = kris.training_completion(snapshot, NOW)
        overdue = kris.overdue_training_assignments(snapshot, NOW)
        # 1 on time / 3 due
        assert completion.value == pytest.approx(1 / 3)
        assert completion.sample_size == 3
        assert (overdue.value, overdue.sample_size) == (1.0, 5)

    @pytest.mark.parametrize(
        ("relative", "enrolled", "expected_due"),
        [
            ("2 weeks", "2024-05-20T00:00:00Z", "2024-06-03T00:00:00Z"),
            # Jan 31 + 3 months: April has 30 days -> Apr 30
            ("3 Months", "2024-01-31T00:00:00Z", "2024-04-30T00:00:00Z"),
            # Feb 29 + 1 year: 2025 has no Feb 29 -> Feb 28
            ("1 year", "2024-02-29T00:00:00Z", "2025-02-28T00:00:00Z"),
            ("P1Y2M10D", "2023-01-01T00:00:00Z", "2024-03-11T00:00:00Z"),
            ("PT36H", "2024-06-13T00:00:00Z", "2024-06-14T12:00:00Z"),
            ("P30D", "2024-05-01T00:00:00Z", "2024-05-31T00:00:00Z"),
        ],
    )
    def test_relative_end_date_forms(self, relative: str, enrolled: str, expected_due: str) -> None:
        campaigns = [campaign(1, "Annual Training", "Relative End Date", relative=relative)]
        record = enrollment("Completed", enrolled=_ts(enrolled))
        index = CampaignIndex(campaigns)
        assert index.due_date(record) == _ts(expected_due)

    def test_month_clamping_on_a_leap_year(self) -> None:
        campaigns = [campaign(1, "Annual Training", "Relative End Date", relative="1 month")]
        index = CampaignIndex(campaigns)
        jan_31 = enrollment("Not Started", enrolled=_ts("2024-01-31T09:00:00Z"))
        # 2024 is a leap year: Jan 31 + 1 month = Feb 29, time of day kept.
        assert index.due_date(jan_31) == _ts("2024-02-29T09:00:00Z")

    def test_no_end_date_counts_nowhere_but_past_due_status_does(self) -> None:
        campaigns = [campaign(1, "Annual Training", "No End Date")]
        enrollments = [
            enrollment("Not Started", enrolled=NOW - 400 * DAY),  # never due
            enrollment("Completed", completed=NOW - DAY),  # never due
            enrollment("Past Due"),  # due by status: overdue
        ]
        snapshot = training_snapshot(enrollments, campaigns)
        completion = kris.training_completion(snapshot, NOW)
        overdue = kris.overdue_training_assignments(snapshot, NOW)
        # 0 on time / 1 due
        assert (completion.value, completion.sample_size) == (0.0, 1)
        assert (overdue.value, overdue.sample_size) == (1.0, 3)

    def test_past_due_status_with_a_future_due_date_is_due(self) -> None:
        campaigns = [campaign(1, "Annual Training", "Specific End Date", end_date=NOW + 5 * DAY)]
        snapshot = training_snapshot([enrollment("PAST DUE"), enrollment("Not Started")], campaigns)
        overdue = kris.overdue_training_assignments(snapshot, NOW)
        # Only the Past Due one is due -> 1 overdue of 2 enrollments.
        assert (overdue.value, overdue.sample_size) == (1.0, 2)
        completion = kris.training_completion(snapshot, NOW)
        assert (completion.value, completion.sample_size) == (0.0, 1)

    def test_statuses_are_case_insensitive(self) -> None:
        end = NOW - DAY
        campaigns = [campaign(1, "Annual Training", "SPECIFIC END DATE", end_date=end)]
        enrollments = [
            enrollment("completed", completed=end - 1),
            enrollment("PASSED", completed=end - 1),
            enrollment("past due"),
            enrollment("in progress"),
        ]
        snapshot = training_snapshot(enrollments, campaigns)
        # 2 on time / 4 due; 2 overdue
        assert kris.training_completion(snapshot, NOW).value == pytest.approx(0.5)
        assert kris.overdue_training_assignments(snapshot, NOW).value == 2.0

    def test_exempt_statuses_count_nowhere(self) -> None:
        end = NOW - DAY
        campaigns = [campaign(1, "Annual Training", "Specific End Date", end_date=end)]
        enrollments = [
            enrollment("Exempt"),
            enrollment("EXEMPTED"),
            enrollment("Past Due - exempt"),
            enrollment("Passed", completed=end - 1),
        ]
        snapshot = training_snapshot(enrollments, campaigns)
        completion = kris.training_completion(snapshot, NOW)
        overdue = kris.overdue_training_assignments(snapshot, NOW)
        # Only the Passed one counts: 1 / 1; 0 overdue of 1
        assert (completion.value, completion.sample_size) == (1.0, 1)
        assert (overdue.value, overdue.sample_size) == (0.0, 1)

    def test_enrollment_due_date_field_wins_over_the_campaign(self) -> None:
        campaigns = [campaign(1, "Annual Training", "Specific End Date", end_date=NOW + DAY)]
        record = enrollment("Not Started", due=NOW - DAY)
        index = CampaignIndex(campaigns)
        assert index.due_date(record) == NOW - DAY

    def test_join_by_name_when_the_id_is_missing(self) -> None:
        campaigns = [
            campaign(1, "Annual Training", "Specific End Date", end_date=NOW - DAY),
            campaign(2, "Onboarding", "Specific End Date", end_date=NOW + DAY),
        ]
        index = CampaignIndex(campaigns)
        record = enrollment("Not Started", campaign_id=None, campaign_name="Onboarding")
        assert index.due_date(record) == NOW + DAY

    def test_ambiguous_names_and_unknown_ids_give_no_due_date(self) -> None:
        campaigns = [
            campaign(1, "Annual Training", "Specific End Date", end_date=NOW - DAY),
            campaign(2, "Annual Training", "Specific End Date", end_date=NOW - 2 * DAY),
        ]
        index = CampaignIndex(campaigns)
        by_name_only = enrollment("Not Started", campaign_id=None)
        unknown_id = enrollment("Not Started", campaign_id=99)
        assert index.due_date(by_name_only) is None
        assert index.due_date(unknown_id) is None
        # The id still joins the right one of the two.
        assert index.due_date(enrollment("x", campaign_id=2)) == (NOW - 2 * DAY)

    def test_unparseable_relative_duration_is_not_due_and_logged_once(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        text = "until the cows come home"
        campaigns = [campaign(1, "Annual Training", "Relative End Date", relative=text)]
        enrollments = [
            enrollment("Not Started", enrolled=NOW - 400 * DAY),
            enrollment("Not Started", enrolled=NOW - 300 * DAY),
        ]
        snapshot = training_snapshot(enrollments, campaigns)
        with caplog.at_level(logging.WARNING, logger="kb4_exporter.kris.enrollments"):
            assert_absent(kris.training_completion(snapshot, NOW))
            overdue = kris.overdue_training_assignments(snapshot, NOW)
        assert (overdue.value, overdue.sample_size) == (0.0, 2)
        warnings = [r for r in caplog.records if text in r.getMessage()]
        assert len(warnings) == 1
        assert warnings[0].levelno == logging.WARNING

    def test_absent_when_inputs_never_fetched(self) -> None:
        campaigns = (campaign(1, "Annual Training", "No End Date"),)
        no_campaigns = Snapshot(enrollments=tallied([enrollment("Past Due")]))
        no_enrollments = Snapshot(training_campaigns=campaigns)
        for snapshot in (Snapshot(), no_campaigns, no_enrollments):
            assert_absent(kris.training_completion(snapshot, NOW))
            assert_absent(kris.overdue_training_assignments(snapshot, NOW))

    def test_overdue_absent_only_without_non_exempt_enrollments(self) -> None:
        campaigns = [campaign(1, "Annual Training", "No End Date")]
        all_exempt = training_snapshot([enrollment("Exempt")], campaigns)
        assert_absent(kris.overdue_training_assignments(all_exempt, NOW))
        assert_absent(kris.overdue_training_assignments(training_snapshot([], campaigns), NOW))


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# --- 5. remedial_training_compliance -------------------------------------------------------


class TestRemedialCompliance:
    def test_ratio_over_remedial_campaigns_due_or_not(self) -> None:
        campaigns = [campaign(7, "Q2 REMEDIAL phishing", "No End Date")]
        enrollments = [
            enrollment("Passed", campaign_name="Remedial Training 101"),
            enrollment("Not Started", campaign_name="Remedial Training 101"),
            enrollment("Completed", campaign_name="Remedial Training 101", completed=NOW),
            enrollment("In Progress", campaign_id=7, campaign_name=""),  # name from campaign
            enrollment("Exempt", campaign_name="Remedial Training 101"),  # left out
            enrollment("Completed", campaign_name="Annual Training"),  # not remedial
        ]
        result = kris.remedial_training_compliance(
            training_snapshot(enrollments, campaigns), REMEDIAL
        )
        # done: Passed + Completed = 2, of 4 remedial non-exempt enrollments
        assert (result.value, result.sample_size) == (0.5, 4)

    def test_pattern_is_a_regex_search(self) -> None:
        enrollments = [
            enrollment("Passed", campaign_name="Phish clicker follow-up"),
            enrollment("Not Started", campaign_name="Clicker follow-up"),
        ]
        pattern = re.compile(r"^phish.*follow-up$", re.IGNORECASE)
        result = kris.remedial_training_compliance(training_snapshot(enrollments, []), pattern)
        # only the first name matches: 1 / 1
        assert (result.value, result.sample_size) == (1.0, 1)

    def test_campaigns_are_optional(self) -> None:
        snapshot = Snapshot(enrollments=tallied([enrollment("Passed", campaign_name="Remedial")]))
        result = kris.remedial_training_compliance(snapshot, REMEDIAL)
        assert (result.value, result.sample_size) == (1.0, 1)

    def test_absent_without_remedial_enrollments(self) -> None:
        snapshot = training_snapshot(
            [enrollment("Passed"), enrollment("Exempt", campaign_name="Remedial")], []
        )
        assert_absent(kris.remedial_training_compliance(snapshot, REMEDIAL))
        assert_absent(kris.remedial_training_compliance(Snapshot(), REMEDIAL))


# --- 6. high_risk_users -----------------------------------------------------------------


class TestHighRiskUsers:
    @pytest.mark.parametrize(
        ("scored", "expected"),
        [
            (1, 1.0),  # ceil(0.1) = 1
            (10, 1.0),  # ceil(1.0) = 1
            (11, 2.0),  # ceil(1.1) = 2
            (30, 3.0),  # ceil(3.0) = 3, where float 0.1 * 30 would ceil to 4
            (31, 4.0),  # ceil(3.1) = 4
        ],
    )
    def test_tenth_rounded_up(self, scored: int, expected: float) -> None:
        users = tuple(user(i, risk=float(i)) for i in range(scored))
        result = kris.high_risk_users(Snapshot(users=users))
        assert (result.value, result.sample_size) == (expected, scored)

    def test_only_active_users_with_a_score_count(self) -> None:
        users = (
            user(1, risk=80.0),
            user(2),  # no score
            user(3, risk=90.0, status="archived"),
        )
        result = kris.high_risk_users(Snapshot(users=users))
        # n = 1 -> ceil(0.1) = 1
        assert (result.value, result.sample_size) == (1.0, 1)

    def test_absent_without_scored_active_users(self) -> None:
        assert_absent(kris.high_risk_users(Snapshot(users=(user(1),))))
        assert_absent(kris.high_risk_users(Snapshot()))


# --- 7. phish_time_to_report -------------------------------------------------------------


class TestTimeToReport:
    def test_median_over_all_recent_psts(self) -> None:
        snapshot = pst_snapshot(
            [pst(1, NOW - DAY), pst(2, NOW - 2 * DAY), pst(3, NOW - 91 * DAY)],
            [
                summary(1, delays=[60.0, 3600.0]),
                summary(2, delays=[600.0]),
                summary(3, delays=[1.0, 2.0, 3.0]),  # outside the window
            ],
        )
        result = kris.phish_time_to_report(snapshot, NOW)
        # median(60, 600, 3600) = 600
        assert (result.value, result.sample_size) == (600.0, 3)

    def test_even_count_takes_the_mean_of_the_middle_two(self) -> None:
        snapshot = pst_snapshot([pst(1, NOW - DAY)], [summary(1, delays=[10.0, 20.0, 40.0, 90.0])])
        # (20 + 40) / 2 = 30
        assert kris.phish_time_to_report(snapshot, NOW).value == 30.0

    def test_reports_before_delivery_are_ignored(self) -> None:
        delivered = NOW - DAY
        rows = [
            Recipient("id:1", delivered, None, delivered + 120),
            Recipient("id:2", delivered, None, delivered - 30),  # reported before delivery
            Recipient("id:3", None, None, delivered),  # never delivered
            Recipient("id:4", delivered, None, None),  # never reported
        ]
        snapshot = pst_snapshot([pst(1, NOW - DAY)], [PstRecipients.summarise(1, rows)])
        result = kris.phish_time_to_report(snapshot, NOW)
        # only id:1 -> 120 s
        assert (result.value, result.sample_size) == (120.0, 1)

    def test_negative_cached_delays_are_ignored(self) -> None:
        snapshot = pst_snapshot([pst(1, NOW - DAY)], [summary(1, delays=[-5.0, 50.0])])
        assert kris.phish_time_to_report(snapshot, NOW).value == 50.0

    def test_a_report_in_the_second_of_delivery_counts(self) -> None:
        snapshot = pst_snapshot([pst(1, NOW - DAY)], [summary(1, delays=[0.0, 100.0, 200.0])])
        assert kris.phish_time_to_report(snapshot, NOW).value == 100.0

    def test_a_quiet_pst_in_the_window_adds_no_delay(self) -> None:
        snapshot = pst_snapshot(
            [pst(1, NOW - DAY, clicked=0, reported=0), pst(2, NOW - DAY)],
            [summary(2, delays=[30.0])],
        )
        result = kris.phish_time_to_report(snapshot, NOW)
        assert (result.value, result.sample_size) == (30.0, 1)

    def test_absent_without_delays(self) -> None:
        no_reports = pst_snapshot([pst(1, NOW - DAY)], [summary(1, ["id:1"])])
        assert_absent(kris.phish_time_to_report(no_reports, NOW))
        assert_absent(kris.phish_time_to_report(Snapshot(), NOW))


# --- 8. phisher_unresolved_high_4h -------------------------------------------------------


class TestPhisherUnresolvedHigh:
    def test_counts_high_and_critical_unresolved_in_the_window(self) -> None:
        messages = (
            message("HIGH", "RECEIVED", NOW - 4 * HOUR),  # newest bound: in
            message("CRITICAL", "IN_REVIEW", NOW - 24 * HOUR),  # oldest bound: in
            message("high", "in_review", NOW - 10 * HOUR),  # lower case: in
            message("HIGH", "RECEIVED", NOW - 4 * HOUR + 1),  # too recent
            message("HIGH", "RECEIVED", NOW - 24 * HOUR - 1),  # too old
            message("MEDIUM", "RECEIVED", NOW - 10 * HOUR),  # severity
            message("CRITICAL", "RESOLVED", NOW - 10 * HOUR),  # resolved
            message("CRITICAL", "RECEIVED", None),  # no report time
        )
        result = kris.phisher_unresolved_high_4h(
            Snapshot(phisher_messages=messages), NOW, phisher_enabled=True
        )
        # 3 counted; 5 messages reported inside [now - 24 h, now - 4 h]
        assert (result.value, result.sample_size) == (3.0, 5)

    def test_zero_is_present_when_enabled(self) -> None:
        result = kris.phisher_unresolved_high_4h(
            Snapshot(phisher_messages=()), NOW, phisher_enabled=True
        )
        assert (result.value, result.sample_size) == (0.0, 0)

    def test_absent_without_token_or_messages(self) -> None:
        fetched = Snapshot(phisher_messages=(message("HIGH", "RECEIVED", NOW - 5 * HOUR),))
        assert_absent(kris.phisher_unresolved_high_4h(fetched, NOW, phisher_enabled=False))
        assert_absent(kris.phisher_unresolved_high_4h(Snapshot(), NOW, phisher_enabled=True))


# --- 9. zero_training_activity_12m -------------------------------------------------------


class TestZeroTrainingActivity:
    def test_counts_never_active_and_older_than_a_year(self) -> None:
        users = (
            user(1, last_activity=None),  # idle
            user(2, last_activity=NOW - 365 * DAY - 1),  # idle
            user(3, last_activity=NOW - 365 * DAY),  # boundary: active
            user(4, last_activity=NOW - DAY),  # active
            user(5, last_activity=None, status="archived"),  # not counted at all
        )
        result = kris.zero_training_activity_12m(Snapshot(users=users), NOW)
        # 2 idle of 4 active users
        assert (result.value, result.sample_size) == (2.0, 4)

    def test_absent_without_active_users(self) -> None:
        archived_only = Snapshot(users=(user(1, status="archived"),))
        assert_absent(kris.zero_training_activity_12m(archived_only, NOW))
        assert_absent(kris.zero_training_activity_12m(Snapshot(users=()), NOW))
        assert_absent(kris.zero_training_activity_12m(Snapshot(), NOW))


# --- 10. department_ppp_delta ------------------------------------------------------------


class TestDepartmentPppDelta:
    def test_spread_of_group_means(self) -> None:
        users = (
            user(1, ppp=10.0, groups=[100]),
            user(2, ppp=30.0, groups=[100, 200]),  # counts in both groups
            user(3, ppp=50.0, groups=[200]),
            user(4, ppp=5.0, groups=[300]),  # a group with one member
            user(5, groups=[300, 400]),  # no PPP: in no mean
            user(6, ppp=99.0, groups=[100], status="archived"),  # not active
        )
        result = kris.department_ppp_delta(Snapshot(users=users))
        # means: 100 -> (10 + 30) / 2 = 20, 200 -> (30 + 50) / 2 = 40, 300 -> 5;
        # group 400 has no member with a PPP. (40 - 5) / 100 = 0.35 over 3 groups.
        assert result.value == pytest.approx(0.35)
        assert result.sample_size == 3

    def test_absent_with_fewer_than_two_groups(self) -> None:
        one_group = Snapshot(users=(user(1, ppp=10.0, groups=[1]), user(2, ppp=20.0, groups=[1])))
        second_group_without_ppp = Snapshot(
            users=(user(1, ppp=10.0, groups=[1]), user(2, groups=[2]))
        )
        no_groups = Snapshot(users=(user(1, ppp=10.0), user(2, ppp=20.0)))
        for snapshot in (one_group, second_group_without_ppp, no_groups, Snapshot()):
            assert_absent(kris.department_ppp_delta(snapshot))

    def test_a_user_without_a_ppp_does_not_end_the_pass(self) -> None:
        users = (user(1, groups=[1]), user(2, ppp=10.0, groups=[1]), user(3, ppp=30.0, groups=[2]))
        result = kris.department_ppp_delta(Snapshot(users=users))
        assert (result.value, result.sample_size) == (pytest.approx(0.2), 2)

    def test_equal_groups_give_a_real_zero(self) -> None:
        users = (user(1, ppp=25.0, groups=[1]), user(2, ppp=25.0, groups=[2]))
        result = kris.department_ppp_delta(Snapshot(users=users))
        assert (result.value, result.sample_size) == (0.0, 2)


# --- carrying over the last complete value ------------------------------------------------


class TestCarryOver:
    def test_an_incomplete_kri_keeps_its_last_value_and_the_others_are_new(self) -> None:
        previous = (
            specs.KriValue(specs.REPEAT_CLICKERS_90D, 7.0, 3),
            specs.KriValue(specs.HIGH_RISK_USERS, 2.0, 20),
        )
        computed = (
            specs.KriValue(specs.REPEAT_CLICKERS_90D, None, None, incomplete=True),
            specs.KriValue(specs.HIGH_RISK_USERS, 3.0, 30),
        )
        assert specs.carry_over(computed, previous) == (previous[0], computed[1])

    def test_with_no_previous_value_an_incomplete_kri_stays_absent(self) -> None:
        incomplete = specs.KriValue(specs.REPEAT_CLICKERS_90D, None, None, incomplete=True)
        previously_absent = specs.KriValue(specs.REPEAT_CLICKERS_90D, None, None)
        assert specs.carry_over([incomplete], []) == (incomplete,)
        assert specs.carry_over([incomplete], [previously_absent]) == (incomplete,)

    def test_a_complete_absence_is_not_replaced(self) -> None:
        # No PST in the window any more: a real absence, not a missing input.
        absent = specs.KriValue(specs.REPEAT_CLICKERS_90D, None, None)
        previous = specs.KriValue(specs.REPEAT_CLICKERS_90D, 7.0, 3)
        assert specs.carry_over([absent], [previous]) == (absent,)

    def test_values_are_matched_by_kri_not_by_position(self) -> None:
        incomplete = specs.KriValue(specs.PHISH_TIME_TO_REPORT, None, None, incomplete=True)
        previous = (
            specs.KriValue(specs.REPEAT_CLICKERS_90D, 7.0, 3),
            specs.KriValue(specs.PHISH_TIME_TO_REPORT, 600.0, 12),
        )
        assert specs.carry_over([incomplete], previous) == (previous[1],)
