"""The generated org: deterministic, realistic in the ways the KRIs care about, and with
every timestamp clear of the KRI boundaries."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from datetime import UTC, datetime

import pytest
from simulator_truth import DAY, HOUR, KRI_SLUGS, due_date, expected_kris, recipient_key

from kb4_exporter.simulator import payloads
from kb4_exporter.simulator.org import Org, OrgSpec, generate_org
from kb4_exporter.simulator.records import ChainedRows, LazyRows, pst_counts

NOW = datetime(2025, 6, 15, 9, 30, tzinfo=UTC).timestamp()
MARGIN = 2 * HOUR


@pytest.fixture(scope="module")
def org() -> Org:
    return generate_org(OrgSpec(users=600, seed=3), NOW)


def recent_tests(org: Org) -> list[int]:
    return [
        t.pst_id
        for t in org.security_tests
        if t.started_at is not None and t.started_at >= NOW - 90 * DAY
    ]


def rendered(org: Org) -> str:
    """A broad sample of what the API would serve, as one JSON text."""
    tests = {t.pst_id: t for t in org.security_tests}
    return json.dumps(
        {
            "account": payloads.account(org),
            "users": [payloads.user(u, org.seed) for u in org.users],
            "campaigns": [payloads.phishing_campaign(c, tests) for c in org.phishing_campaigns],
            "tests": [payloads.security_test(t) for t in org.security_tests],
            "recipients": [
                payloads.recipient(r, org.seed) for pst in tests for r in org.recipients_of(pst)
            ],
            "training": [payloads.training_campaign(c, 0) for c in org.training_campaigns],
            "enrollments": [
                payloads.enrollment(
                    e,
                    include_campaign_id=True,
                    include_store_purchase_id=True,
                    include_employee_number=True,
                )
                for e in org.enrollments
            ],
            "messages": [m.id for m in org.phisher_messages],
        }
    )


class TestDeterminism:
    def test_same_spec_and_now_give_the_same_data(self, org: Org) -> None:
        again = generate_org(OrgSpec(users=600, seed=3), NOW)
        assert rendered(again) == rendered(org)

    def test_another_seed_gives_another_org(self, org: Org) -> None:
        other = generate_org(OrgSpec(users=600, seed=4), NOW)
        assert rendered(other) != rendered(org)

    def test_rows_are_rebuilt_identically_on_every_read(self, org: Org) -> None:
        pst = recent_tests(org)[0]
        rows = org.recipients_of(pst)
        assert list(rows) == list(rows)
        assert rows[5:9] == [rows[i] for i in range(5, 9)]


class TestUsersAndGroups:
    def test_about_one_in_twenty_users_is_archived(self, org: Org) -> None:
        assert 0.02 <= len(org.archived_users) / len(org.users) <= 0.09
        assert all(u.archived_at is not None for u in org.archived_users)

    def test_some_users_lack_ppp_risk_score_or_sign_in(self, org: Org) -> None:
        active = org.active_users
        assert any(u.phish_prone_percentage is None for u in active)
        assert any(u.current_risk_score is None for u in active)
        assert any(u.last_sign_in is None for u in active)
        assert any(u.last_sign_in is not None and u.last_sign_in < NOW - 365 * DAY for u in active)
        assert any(u.last_sign_in is not None and u.last_sign_in > NOW - 30 * DAY for u in active)

    def test_users_groups_name_real_groups_of_varied_size(self, org: Org) -> None:
        known = {g.id for g in org.groups}
        assert all(set(u.groups) <= known for u in org.users)
        sizes = sorted(len(members) for members in org.group_members.values())
        assert 1 in sizes
        assert sizes[-1] > 5 * sizes[len(sizes) // 2 - 1] or sizes[-1] >= 100
        assert any(g.status == "archived" for g in org.groups)

    def test_departments_differ_in_ppp(self, org: Org) -> None:
        delta = expected_kris(org, NOW)["kb4_department_ppp_delta_pct"]
        assert delta is not None
        assert delta > 0.05


class TestPhishing:
    def test_a_year_of_tests_every_two_to_four_weeks(self, org: Org) -> None:
        starts = sorted(
            (t.started_at for t in org.security_tests if t.started_at is not None), reverse=True
        )
        assert NOW - 366 * DAY < starts[-1] < NOW - 340 * DAY
        gaps = [(a - b) / DAY for a, b in itertools.pairwise(starts)]
        assert all(13 <= gap <= 29 for gap in gaps[:-1])
        assert len(recent_tests(org)) >= 3

    def test_one_test_is_open_and_one_never_started(self, org: Org) -> None:
        statuses = Counter(t.status for t in org.security_tests)
        assert statuses["In Progress"] == 1
        assert statuses["Error"] == 1
        assert all(t.started_at is None for t in org.security_tests if t.status == "Error")

    def test_summary_counts_are_exact_sums_over_recipients(self, org: Org) -> None:
        for test in org.security_tests:
            rows = org.recipients_of(test.pst_id)
            assert dict(test.counts) == pst_counts(rows)
            assert test.counts["scheduled"] == len(rows)

    def test_some_tests_have_neither_clicks_nor_reports(self, org: Org) -> None:
        quiet = [
            t
            for t in org.security_tests
            if t.started_at is not None
            and t.counts["clicked"] == 0
            and t.counts["reported"] == 0
            and t.counts["delivered"] > 0
        ]
        assert len(quiet) >= 2
        assert any(t.pst_id in recent_tests(org) for t in quiet)
        for test in quiet:
            rows = org.recipients_of(test.pst_id)
            assert all(r.clicked_at is None and r.reported_at is None for r in rows)

    def test_recipient_quirks(self, org: Org) -> None:
        rows = [r for pst in recent_tests(org) for r in org.recipients_of(pst)]
        delivered = [r for r in rows if r.delivered_at is not None]
        reported = [r for r in delivered if r.reported_at is not None]
        assert any(r.reported_at < r.delivered_at for r in reported)  # type: ignore[operator]
        assert any(r.bounced_at is not None and r.delivered_at is None for r in rows)
        assert any(r.qr_code_scanned is not None for r in rows)
        email_only = [r for r in rows if r.user_id is None]
        assert email_only
        spellings = Counter(recipient_key(r) for r in email_only)
        assert len({r.email for r in email_only}) > len(spellings)  # case varies by test

    def test_some_people_click_in_several_recent_tests(self, org: Org) -> None:
        repeaters = expected_kris(org, NOW)["kb4_repeat_clickers_90d"]
        assert repeaters is not None
        assert repeaters >= 3

    def test_nothing_happens_after_now(self, org: Org) -> None:
        for test in org.security_tests:
            for row in org.recipients_of(test.pst_id):
                stamps = (row.delivered_at, row.clicked_at, row.reported_at, row.opened_at)
                assert all(s is None or s < NOW for s in stamps)


class TestTraining:
    def test_every_duration_type_and_relative_form(self, org: Org) -> None:
        types = Counter(c.duration_type for c in org.training_campaigns)
        assert set(types) == {"Specific End Date", "Relative End Date", "No End Date"}
        relative = {c.relative_duration for c in org.training_campaigns} - {None}
        assert {"30 days", "2 weeks", "3 months", "P14D"} <= relative
        unparseable = [
            c
            for c in org.training_campaigns
            if c.duration_type == "Relative End Date"
            and due_date(org.enrollments_by_campaign[c.campaign_id][0], c) is None
        ]
        assert len(unparseable) == 1

    def test_more_campaigns_than_the_ten_row_cap_and_remedial_ones(self, org: Org) -> None:
        assert len(org.training_campaigns) > 10
        remedial = [c for c in org.training_campaigns if "remedial" in c.name.lower()]
        assert len(remedial) >= 2
        assert all(org.enrollments_by_campaign[c.campaign_id] for c in remedial)

    def test_enrollments_in_every_status(self, org: Org) -> None:
        statuses = Counter(e.status for e in org.enrollments)
        expected = {"Not Started", "In Progress", "Completed", "Passed", "Past Due", "Exempt"}
        assert set(statuses) == expected

    def test_completions_before_and_after_due_dates(self, org: Org) -> None:
        campaigns = {c.campaign_id: c for c in org.training_campaigns}
        on_time = late = 0
        for row in org.enrollments:
            deadline = due_date(row, campaigns[row.campaign_id])
            if row.completion_date is None or deadline is None:
                continue
            if row.completion_date <= deadline:
                on_time += 1
            else:
                late += 1
        assert on_time > 0
        assert late > 0

    def test_archived_users_have_enrollments_the_unarchived_view_leaves_out(self, org: Org) -> None:
        archived = {u.id for u in org.archived_users}
        assert any(e.user_id in archived for e in org.enrollments)
        assert not any(e.user_id in archived for e in org.unarchived_enrollments)
        kept = [e for e in org.enrollments if e.user_id not in archived]
        assert [e.enrollment_id for e in org.unarchived_enrollments] == [
            e.enrollment_id for e in kept
        ]

    def test_completion_percentage_counts_done_enrollments(self, org: Org) -> None:
        campaign = org.training_campaigns[0]
        rows = org.enrollments_by_campaign[campaign.campaign_id]
        done = sum(1 for e in rows if e.status in ("Completed", "Passed"))
        assert org.completion_percentage(campaign.campaign_id) == round(100 * done / len(rows))


class TestPhisher:
    def test_every_severity_and_status_over_more_than_a_week(self, org: Org) -> None:
        pairs = {(m.severity, m.action_status) for m in org.phisher_messages}
        severities = ("UNKNOWN_SEVERITY", "LOW", "MEDIUM", "HIGH", "CRITICAL")
        assert pairs == {(s, a) for s in severities for a in ("RECEIVED", "IN_REVIEW", "RESOLVED")}
        oldest = min(m.reported_at for m in org.phisher_messages)
        assert oldest < NOW - 7 * DAY

    @pytest.mark.parametrize("backlog", [0, 1, 5])
    def test_the_urgent_backlog_is_exactly_as_configured(self, backlog: int) -> None:
        small = generate_org(OrgSpec(users=50, seed=9, phisher_backlog=backlog), NOW)
        assert expected_kris(small, NOW)["kb4_phisher_unresolved_high_4h"] == backlog

    def test_every_message_has_one_created_event(self, org: Org) -> None:
        for message in org.phisher_messages:
            assert [e.event_type for e in message.events].count("CREATED") == 1
        assert any(m.events[0].event_type != "CREATED" for m in org.phisher_messages)


class TestBoundaries:
    """Nothing sits within two hours of a KRI boundary, so KRIs computed a little after
    `now` (as an exporter refreshing against the simulator does) are the same."""

    def test_tests_start_clear_of_the_90_day_boundary(self, org: Org) -> None:
        for test in org.security_tests:
            if test.started_at is not None:
                assert abs(test.started_at - (NOW - 90 * DAY)) >= MARGIN

    def test_sign_ins_clear_of_the_one_year_boundary(self, org: Org) -> None:
        for user in org.users:
            if user.last_sign_in is not None:
                assert abs(user.last_sign_in - (NOW - 365 * DAY)) >= MARGIN

    def test_phisher_reports_clear_of_their_windows(self, org: Org) -> None:
        for message in org.phisher_messages:
            for boundary in (NOW - 24 * HOUR, NOW - 4 * HOUR, NOW - 7 * DAY):
                assert abs(message.reported_at - boundary) >= MARGIN

    def test_due_dates_clear_of_now(self, org: Org) -> None:
        campaigns = {c.campaign_id: c for c in org.training_campaigns}
        for row in org.enrollments:
            deadline = due_date(row, campaigns[row.campaign_id])
            if deadline is not None:
                assert abs(deadline - NOW) >= MARGIN

    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_kris_an_hour_later_are_the_same(self, seed: int) -> None:
        generated = generate_org(OrgSpec(users=300, seed=seed), NOW)
        assert expected_kris(generated, NOW + HOUR) == expected_kris(generated, NOW)


class TestSizes:
    @pytest.mark.parametrize("users", [1, 2, 7])
    def test_tiny_orgs_generate_and_have_kris(self, users: int) -> None:
        tiny = generate_org(OrgSpec(users=users, seed=5), NOW)
        assert len(tiny.users) == users
        result = expected_kris(tiny, NOW)
        assert set(KRI_SLUGS) <= set(result)
        assert result["kb4_phishing_prone_pct"] is not None

    def test_rows_are_built_on_demand(self, org: Org) -> None:
        assert all(isinstance(rows, LazyRows) for rows in org.recipients.values() if rows)
        assert isinstance(org.enrollments, ChainedRows)

    @pytest.mark.parametrize(
        "spec",
        [
            {"users": 0},
            {"archived_ratio": 1.0},
            {"phisher_backlog": -1},
        ],
    )
    def test_bad_specs_are_refused(self, spec: dict[str, float]) -> None:
        with pytest.raises(ValueError):
            OrgSpec(**spec)  # type: ignore[arg-type]


class TestLazySequences:
    def test_lazy_rows_index_slice_and_iterate(self) -> None:
        rows = LazyRows(5, lambda i: i * i)
        assert list(rows) == [0, 1, 4, 9, 16]
        assert rows[-1] == 16
        assert rows[1:4] == [1, 4, 9]
        assert rows[3:99] == [9, 16]
        with pytest.raises(IndexError):
            rows[5]

    def test_chained_rows_read_across_parts(self) -> None:
        chained = ChainedRows([[0, 1], [], [2, 3, 4], LazyRows(2, lambda i: 5 + i)])
        assert len(chained) == 7
        assert list(chained) == list(range(7))
        assert chained[1:6] == [1, 2, 3, 4, 5]
        assert chained[::3] == [0, 3, 6]
        assert chained[-1] == 6
        with pytest.raises(IndexError):
            chained[7]
