"""Right or absent, across refreshes: a KRI or breakdown is never published from inputs
that are partial, or that mix what one refresh read with what an earlier one kept.

The org is `kb4_fakes.small_org()`; its KRIs by hand are in tests/test_refresh.py. Each
test completes one refresh, changes the org, breaks part of the next refresh, and checks
that what is published is the last complete value (or nothing), never a number computed
over part of the org.
"""

from __future__ import annotations

import kb4_fakes as fakes
import requests_mock

# The KRIs of small_org() after its first, complete refresh (see tests/test_refresh.py).
TIME_TO_REPORT = 5400.0  # median of 3600 s (PST 11) and 7200 s (PST 12)
OVERDUE = 1.0  # e3, "Not Started" in the campaign that ended five days ago
PHISHING_PRONE = 0.30  # mean(10, 30, 50) / 100


def recipients_path(pst_id: int) -> str:
    return f"{fakes.BASE_URL}/v1/phishing/security_tests/{pst_id}/recipients"


def both_psts_get_a_new_report(small_org: fakes.FakeOrg) -> None:
    """PST 11: user 1 reports 100 s after delivery; PST 12: user 2, new, reports after 600 s.
    Complete, the delays are 100, 600, 3600 and 7200 s: a median of 2100 s."""
    now = fakes.NOW
    pst_11, pst_12 = small_org.security_tests[0], small_org.security_tests[1]
    assert (pst_11["pst_id"], pst_12["pst_id"]) == (11, 12)
    small_org.recipients[11][0]["reported_at"] = fakes.iso(now - 60 * fakes.DAY + 100)
    small_org.recipients[12].append(
        {
            "recipient_id": 2,
            "user": {"id": 2, "email": "user2@acme.example"},
            "delivered_at": fakes.iso(now - 5 * fakes.DAY),
            "clicked_at": None,
            "reported_at": fakes.iso(now - 5 * fakes.DAY + 600),
        }
    )
    pst_11["reported_count"] = 2
    pst_12["reported_count"] = 2


def test_a_psts_outdated_recipients_are_not_mixed_with_fresh_ones_after_a_failed_read(
    api: requests_mock.Mocker, small_org: fakes.FakeOrg, clock: fakes.FakeClock
) -> None:
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    both_psts_get_a_new_report(small_org)
    # PST 12's counts moved, so its cached recipients are out of date; reading them fails.
    api.get(recipients_path(12), status_code=500)
    clock.advance(3600.0)
    runtime.refresher.refresh_core()

    results = runtime.refresher.results
    assert not results.sources["recipients"].up
    # Fresh PST 11 (100, 3600) with PST 12 as it was a refresh ago (7200) gives 3600 s:
    # a median over recipients nobody saw together. The last complete value is 5400 s.
    assert fakes.kri_values(results.kris)["kb4_phish_time_to_report_hours"] == TIME_TO_REPORT


def test_a_psts_outdated_recipients_are_not_mixed_with_fresh_ones_when_the_budget_ends(
    api: requests_mock.Mocker, small_org: fakes.FakeOrg, clock: fakes.FakeClock
) -> None:
    # The first refresh takes 13 calls; the second has 7 left: its six listings and the
    # newest PST's recipients. PST 11's, out of date, cannot be read again.
    runtime = fakes.runtime_for(clock, account=fakes.account_config(daily_budget=20))
    runtime.refresher.refresh_core()
    assert len(api.request_history) == 13
    both_psts_get_a_new_report(small_org)
    clock.advance(3600.0)
    runtime.refresher.refresh_core()

    results = runtime.refresher.results
    assert results.errors[("recipients", "budget_exhausted")] == 1
    # Fresh PST 12 (600, 7200) with PST 11 as it was (3600) gives 3600 s, not the last
    # complete 5400 s.
    assert fakes.kri_values(results.kris)["kb4_phish_time_to_report_hours"] == TIME_TO_REPORT


def add_a_finished_campaign_with_two_open_enrollments(small_org: fakes.FakeOrg) -> None:
    """Campaign 9 ended yesterday; both its enrollments are overdue."""
    now = fakes.NOW
    small_org.training_campaigns.append(
        {
            "campaign_id": 9,
            "name": "Phishing Basics",
            "status": "In Progress",
            "duration_type": "Specific End Date",
            "end_date": fakes.iso(now - fakes.DAY),
            "relative_duration": None,
        }
    )
    for _ in range(2):
        small_org.enrollments.append(
            {
                "campaign_id": 9,
                "campaign_name": "Phishing Basics",
                "status": "Not Started",
                "enrollment_date": fakes.iso(now - 10 * fakes.DAY),
                "completion_date": None,
            }
        )


def test_enrollments_are_not_tallied_against_the_campaigns_of_an_earlier_refresh(
    api: requests_mock.Mocker, small_org: fakes.FakeOrg, clock: fakes.FakeClock
) -> None:
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    add_a_finished_campaign_with_two_open_enrollments(small_org)
    # e3 is completed, late: no longer overdue.
    small_org.enrollments[2] = {
        **small_org.enrollments[2],
        "status": "Completed",
        "completion_date": fakes.iso(fakes.NOW - fakes.DAY),
    }
    api.get(f"{fakes.BASE_URL}/v1/training/campaigns", status_code=503)
    clock.advance(3600.0)
    runtime.refresher.refresh_core()

    results = runtime.refresher.results
    assert not results.sources["training_campaigns"].up
    # Joined to the campaigns of the first refresh, campaign 9's enrollments have no due
    # date and count nowhere: 0 overdue, where the org has 2. The last complete value is 1.
    assert fakes.kri_values(results.kris)["kb4_overdue_training_assignments"] == OVERDUE


def test_a_campaign_breakdown_never_joins_new_campaigns_to_old_enrollments(
    api: requests_mock.Mocker, small_org: fakes.FakeOrg, clock: fakes.FakeClock
) -> None:
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    add_a_finished_campaign_with_two_open_enrollments(small_org)
    api.get(f"{fakes.BASE_URL}/v1/training/enrollments", status_code=503)
    clock.advance(3600.0)
    runtime.refresher.refresh_core()

    results = runtime.refresher.results
    assert not results.sources["enrollments"].up
    campaigns = results.breakdowns.campaigns
    assert campaigns is not None
    by_id = {stat.campaign_id: stat for stat in campaigns}
    # Campaign 9 has two enrollments, both overdue; the enrollments kept from the first
    # refresh never saw it, so it must not be published as 0 enrollments, 0 overdue.
    new = by_id.get(9)
    assert new is None or (new.enrollments, new.overdue) == (2, 2)


def test_a_page_of_unusable_rows_is_no_complete_listing(
    api: requests_mock.Mocker, small_org: fakes.FakeOrg, clock: fakes.FakeClock
) -> None:
    fakes.serve_org(api, small_org, per_page=2)  # users 1 and 2 on page 1, 3 and 4 on page 2
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    assert (
        fakes.kri_values(runtime.refresher.results.kris)["kb4_phishing_prone_pct"] == PHISHING_PRONE
    )
    # The second page comes back garbled: not one of its rows is a user.
    small_org.users = [*small_org.users[:2], None, "user 4"]
    clock.advance(3600.0)
    runtime.refresher.refresh_core()

    results = runtime.refresher.results
    # Over users 1 and 2 alone the mean is 0.20: half the org.
    assert fakes.kri_values(results.kris)["kb4_phishing_prone_pct"] == PHISHING_PRONE
    assert not results.sources["users"].up


def test_a_group_breakdown_never_joins_new_groups_to_old_users(
    api: requests_mock.Mocker, small_org: fakes.FakeOrg, clock: fakes.FakeClock
) -> None:
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    small_org.groups.append({"id": 300, "name": "Finance", "member_count": 1})
    small_org.users.append(
        {**small_org.users[0], "id": 5, "email": "user5@acme.example", "groups": [300]}
    )
    api.get(f"{fakes.BASE_URL}/v1/users", status_code=503)
    clock.advance(3600.0)
    runtime.refresher.refresh_core()

    results = runtime.refresher.results
    assert not results.sources["users"].up
    groups = results.breakdowns.groups
    assert groups is not None
    # Group 300 has one active member; the users kept from the first refresh never saw
    # it, so it must not be published with 0 users.
    new = {stat.group_id: stat for stat in groups}.get(300)
    assert new is None or new.users == 1
