"""The refresher against a fake KnowBe4 (requests-mock) and a fake clock.

Expected KRIs of `small_org()`, by hand (now = NOW):
- phishing_prone: mean(10, 30, 50) / 100 = 0.30 over 3 users with a PPP
- high_risk_users: 3 users with a risk score -> (3 + 9) // 10 = 1
- zero_training_activity_12m: user 2 (400 d ago) and user 3 (never) = 2
- department_ppp_delta: group 100 mean(10, 30) = 20, group 200 mean(30, 50) = 40 -> 0.20
- training: due = e1, e2, e3 (end date now-5d) and e4 (enrolled now-40d + 14 days);
  on time = e1, e4 -> 2 / 4 = 0.5; overdue = e3 -> 1
- remedial: e4 done, e5 not -> 0.5
- repeat clickers: user 1 clicked in PST 11 and PST 12 -> 1
- time to report: delays 3600 s (PST 11) and 7200 s (PST 12) -> median 5400 s
- PhishER high unresolved 4-24 h: m1 (HIGH, 5 h) and m2 (CRITICAL, 20 h) -> 2
"""

from __future__ import annotations

import socket

import kb4_fakes as fakes
import pytest
import requests_mock

from kb4_exporter.config.secrets import Secret
from kb4_exporter.config.settings import UserEventsConfig
from kb4_exporter.refresh.recipients import OPEN_PST_RECIPIENTS_MAX_AGE
from kb4_exporter.refresh.results import CORE_SOURCES

EXPECTED = {
    "kb4_phishing_prone_pct": 0.30,
    "kb4_repeat_clickers_90d": 1,
    "kb4_training_completion_pct": 0.5,
    "kb4_overdue_training_assignments": 1,
    "kb4_remedial_training_compliance_pct": 0.5,
    "kb4_high_risk_users": 1,
    "kb4_phish_time_to_report_hours": 5400.0,
    "kb4_phisher_unresolved_high_4h": 2,
    "kb4_zero_training_activity_12m": 2,
    "kb4_department_ppp_delta_pct": 0.20,
}


def paths(api: requests_mock.Mocker) -> list[str]:
    return [request.path for request in api.request_history]


def test_cold_refresh_computes_every_kri(api: requests_mock.Mocker, clock: fakes.FakeClock) -> None:
    runtime = fakes.runtime_for(clock)
    assert runtime.refresher.refresh_core()
    assert runtime.refresher.refresh_phisher()
    assert runtime.refresher.refresh_phisher_unresolved()
    results = runtime.refresher.results
    assert results.up and results.ready
    assert fakes.kri_values(results.kris) == pytest.approx(EXPECTED)
    assert results.breakdowns.phisher_unresolved == {
        "UNKNOWN_SEVERITY": 0,
        "LOW": 1,
        "MEDIUM": 1,
        "HIGH": 1,
        "CRITICAL": 1,
    }


def test_cold_refresh_fetches_each_listing_once_and_skips_quiet_psts(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    # PST 13 had no clicks and no reports, PST 10 is older than 90 days: neither is fetched.
    assert sorted(paths(api)) == sorted(
        [
            "/v1/account",
            "/v1/users",
            "/v1/groups",
            "/v1/training/campaigns",
            "/v1/training/enrollments",
            "/v1/phishing/security_tests",
            "/v1/phishing/security_tests/11/recipients",
            "/v1/phishing/security_tests/12/recipients",
            # Inventory and risk trend, after everything the KRIs need.
            "/v1/users",
            "/v1/phishing/campaigns",
            "/v1/training/store_purchases",
            "/v1/training/policies",
            "/v1/account/risk_score_history",
        ]
    )
    users_query = api.request_history[1].qs
    assert users_query == {"status": ["active"], "per_page": ["500"], "cursor": ["true"]}


def test_warm_refresh_with_unchanged_counts_reads_no_recipients(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    api.reset_mock()
    clock.advance(3600)
    runtime.refresher.refresh_core()
    # Closed PST 11 and open PST 12 both come from the cache: their counts did not move.
    assert [p for p in paths(api) if p.endswith("/recipients")] == []
    values = fakes.kri_values(runtime.refresher.results.kris)
    assert values["kb4_repeat_clickers_90d"] == EXPECTED["kb4_repeat_clickers_90d"]
    assert values["kb4_phish_time_to_report_hours"] == EXPECTED["kb4_phish_time_to_report_hours"]


def test_changed_counts_of_a_closed_pst_refetch_its_recipients(
    api: requests_mock.Mocker, clock: fakes.FakeClock, small_org: fakes.FakeOrg
) -> None:
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    small_org.security_tests[0]["reported_count"] = 2
    api.reset_mock()
    runtime.refresher.refresh_core()
    assert [p for p in paths(api) if p.endswith("/recipients")] == [
        "/v1/phishing/security_tests/11/recipients"
    ]


def test_changed_counts_of_an_open_pst_refetch_its_recipients(
    api: requests_mock.Mocker, clock: fakes.FakeClock, small_org: fakes.FakeOrg
) -> None:
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    open_pst = next(t for t in small_org.security_tests if t["pst_id"] == 12)
    open_pst["delivered_count"] = open_pst.get("delivered_count", 0) + 1
    api.reset_mock()
    clock.advance(60)
    runtime.refresher.refresh_core()
    assert [p for p in paths(api) if p.endswith("/recipients")] == [
        "/v1/phishing/security_tests/12/recipients"
    ]


def test_an_open_pst_with_unchanged_counts_is_reread_after_a_day(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    clock.advance(OPEN_PST_RECIPIENTS_MAX_AGE - 1)
    api.reset_mock()
    runtime.refresher.refresh_core()
    assert [p for p in paths(api) if p.endswith("/recipients")] == []
    clock.advance(1)
    api.reset_mock()
    runtime.refresher.refresh_core()
    # Only the open PST expires; the closed one stays cached while its counts hold.
    assert [p for p in paths(api) if p.endswith("/recipients")] == [
        "/v1/phishing/security_tests/12/recipients"
    ]


def test_an_open_pst_cached_in_the_future_is_reread(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    # The wall clock stepped back (NTP, VM restore): the fetch time cannot be trusted.
    clock.advance(-3600)
    api.reset_mock()
    runtime.refresher.refresh_core()
    assert [p for p in paths(api) if p.endswith("/recipients")] == [
        "/v1/phishing/security_tests/12/recipients"
    ]


def test_failed_source_keeps_last_good_data_and_counts_the_reason(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    before = runtime.refresher.results
    api.get(f"{fakes.BASE_URL}/v1/training/enrollments", status_code=503)
    clock.advance(86400)
    assert not runtime.refresher.refresh_core()
    after = runtime.refresher.results
    assert not after.sources["enrollments"].up
    assert after.sources["users"].up
    assert after.errors[("enrollments", "server_error")] == 1
    assert after.snapshot.enrollments == before.snapshot.enrollments
    assert after.sources["enrollments"].last_success == before.sources["enrollments"].last_success
    assert fakes.kri_values(after.kris)["kb4_overdue_training_assignments"] is not None
    assert not after.up


def test_auth_failure_stops_the_refresh_without_further_calls(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    api.get(f"{fakes.BASE_URL}/v1/account", status_code=401, json={"message": "bad key"})
    runtime = fakes.runtime_for(clock)
    assert not runtime.refresher.refresh_core()
    assert paths(api) == ["/v1/account"]
    results = runtime.refresher.results
    assert results.errors == {("account", "auth"): 1}
    assert all(not results.sources[s].up for s in CORE_SOURCES)
    assert not results.ready
    assert all(
        k.value is None for k in results.kris if k.spec.slug != "kb4_phisher_unresolved_high_4h"
    )


def test_budget_exhaustion_stops_early_and_flags_truncation(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    runtime = fakes.runtime_for(clock, account=fakes.account_config(daily_budget=3))
    assert not runtime.refresher.refresh_core()
    assert len(api.request_history) == 3
    results = runtime.refresher.results
    assert results.sources["training_campaigns"].truncated
    assert results.errors[("training_campaigns", "budget_exhausted")] == 1
    for source in ("enrollments", "security_tests", "recipients"):
        assert results.sources[source].truncated and not results.sources[source].up
    assert runtime.view().apis[0].budget_remaining == 0


def test_budget_running_out_among_the_recipients_flags_them_truncated(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    # Six listings, then the newest PST's recipients; the budget ends before PST 11's.
    runtime = fakes.runtime_for(clock, account=fakes.account_config(daily_budget=7))
    runtime.refresher.refresh_core()
    assert [p for p in paths(api) if p.endswith("/recipients")] == [
        "/v1/phishing/security_tests/12/recipients"
    ]
    results = runtime.refresher.results
    assert results.errors[("recipients", "budget_exhausted")] == 1
    assert results.sources["recipients"].truncated and not results.sources["recipients"].up
    assert results.sources["security_tests"].up and not results.sources["security_tests"].truncated


def test_seats_set_the_daily_budget(api: requests_mock.Mocker, clock: fakes.FakeClock) -> None:
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    reporting = runtime.view().apis[0]
    assert reporting.budget_limit == 2000 + 4
    assert reporting.budget_remaining == 2004 - len(api.request_history)


def test_phisher_off_leaves_its_kri_absent_without_error(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    runtime = fakes.runtime_for(clock, account=fakes.account_config(phisher=False))
    assert runtime.refresher.refresh_core()
    assert runtime.refresher.refresh_phisher()
    results = runtime.refresher.results
    assert results.up
    assert fakes.kri_values(results.kris)["kb4_phisher_unresolved_high_4h"] is None
    assert results.breakdowns.phisher_unresolved is None
    assert "phisher" not in results.enabled_sources()
    assert not any("graphql" in p for p in paths(api))


def test_phisher_failure_keeps_core_kris(api: requests_mock.Mocker, clock: fakes.FakeClock) -> None:
    api.post(fakes.PHISHER_URL, status_code=502)
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    assert not runtime.refresher.refresh_phisher()
    results = runtime.refresher.results
    assert results.sources["users"].up and not results.sources["phisher"].up
    assert results.errors[("phisher", "server_error")] == 1
    values = fakes.kri_values(results.kris)
    assert values["kb4_phisher_unresolved_high_4h"] is None
    assert values["kb4_phishing_prone_pct"] == pytest.approx(0.30)


def test_phisher_query_covers_at_least_the_kri_window(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_phisher()
    body = api.request_history[-1].json()
    assert body["variables"]["query"] == "reported_at:[2026-11-16T12:00:00Z TO *]"


def test_bad_page_shape_is_a_bad_response(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    api.get(f"{fakes.BASE_URL}/v1/users", json={"unexpected": "object"})
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    results = runtime.refresher.results
    assert results.errors[("users", "bad_response")] == 1
    assert results.sources["groups"].up


def test_user_events_refresh_counts_the_last_day_and_uses_the_seat_quota(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    from kb4_exporter.config.secrets import Secret
    from kb4_exporter.config.settings import UserEventsConfig

    events_url = "https://api.events.knowbe4.com"
    api.get(
        f"{events_url}/events",
        json={
            "data": [
                {
                    "event_type": {"name": "usb_inserted"},
                    "risk": {"level": 3},
                    "occurred_date": fakes.iso(fakes.NOW - 600),
                }
            ],
            "meta": {"next_page": None},
        },
    )
    account = fakes.account_config(
        user_events=UserEventsConfig(events_url, Secret.inline("user-events-SENTINEL-0003"))
    )
    runtime = fakes.runtime_for(clock, account=account)
    runtime.refresher.refresh_core()
    assert runtime.refresher.refresh_user_events()
    results = runtime.refresher.results
    assert results.breakdowns.user_events == {("usb_inserted", "3"): 1}
    assert "user_events" in results.enabled_sources() and results.up is False  # PhishER not run
    quota = {usage.api: usage for usage in runtime.view().apis}["user_events"]
    assert quota.budget_limit == 10 * 4  # ten calls per seat, 4 seats
    assert quota.budget_remaining == 40 - 1


def test_user_event_quota_follows_seats_even_with_a_configured_reporting_budget(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    from kb4_exporter.config.secrets import Secret
    from kb4_exporter.config.settings import UserEventsConfig

    account = fakes.account_config(
        daily_budget=500,
        user_events=UserEventsConfig(
            "https://api.events.knowbe4.com", Secret.inline("user-events-SENTINEL-0003")
        ),
    )
    runtime = fakes.runtime_for(clock, account=account)
    runtime.refresher.refresh_core()
    limits = {usage.api: usage.budget_limit for usage in runtime.view().apis}
    assert limits == {"reporting": 500, "phisher": 500, "user_events": 40}


def test_user_event_quota_follows_the_seats_even_with_a_configured_reporting_budget(
    api: requests_mock.Mocker, clock: fakes.FakeClock, small_org: fakes.FakeOrg
) -> None:
    events_url = "https://api.events.knowbe4.com"
    api.get(f"{events_url}/events", json={"data": [], "meta": {"count": 0}})
    account = fakes.account_config(
        daily_budget=300,
        user_events=UserEventsConfig(events_url, Secret.inline("user-events-token")),
    )
    runtime = fakes.runtime_for(clock, account=account)
    runtime.refresher.refresh_core()
    budgets = {usage.api: usage.budget_limit for usage in runtime.view().apis}
    seats = small_org.account["number_of_seats"]
    assert budgets == {"reporting": 300, "phisher": 300, "user_events": 10 * seats}


def test_a_negative_seat_count_fails_the_account_source_and_nothing_else(
    api: requests_mock.Mocker, clock: fakes.FakeClock, small_org: fakes.FakeOrg
) -> None:
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    small_org.account["number_of_seats"] = -5000
    clock.advance(86400)
    # The budgets come from the seats: the bad count must not abort the refresh.
    runtime.refresher.refresh_core()
    results = runtime.refresher.results
    assert results.errors == {("account", "bad_response"): 1}
    assert not results.sources["account"].up
    assert results.sources["users"].up
    assert results.snapshot.account is not None and results.snapshot.account.seats == 4


def test_one_psts_failing_recipients_do_not_starve_the_older_psts(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    # PST 12 (the newest) was deleted after the listing: its recipients are a 404.
    api.get(f"{fakes.BASE_URL}/v1/phishing/security_tests/12/recipients", status_code=404)
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    fetched = [p for p in paths(api) if p.endswith("/recipients")]
    assert fetched == [
        "/v1/phishing/security_tests/12/recipients",
        "/v1/phishing/security_tests/11/recipients",
    ]
    results = runtime.refresher.results
    assert results.errors == {("recipients", "not_found"): 1}
    assert not results.sources["recipients"].up
    assert 11 in runtime.refresher.recipient_cache
    # PST 11 alone is part of the 90 days: neither KRI is published from it.
    values = fakes.kri_values(results.kris)
    assert values["kb4_phish_time_to_report_hours"] is None
    assert values["kb4_repeat_clickers_90d"] is None


def test_kris_keep_their_last_complete_value_while_a_psts_recipients_are_unknown(
    api: requests_mock.Mocker, small_org: fakes.FakeOrg, clock: fakes.FakeClock
) -> None:
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    # PST 12 gets another click, so its recipients must be read again, and that fails.
    small_org.security_tests[1] = {**small_org.security_tests[1], "clicked_count": 2}
    api.get(f"{fakes.BASE_URL}/v1/phishing/security_tests/12/recipients", status_code=500)
    clock.advance(3600.0)
    runtime.refresher.refresh_core()

    results = runtime.refresher.results
    assert not results.sources["recipients"].up
    values = fakes.kri_values(results.kris)
    assert values["kb4_repeat_clickers_90d"] == EXPECTED["kb4_repeat_clickers_90d"]
    assert values["kb4_phish_time_to_report_hours"] == EXPECTED["kb4_phish_time_to_report_hours"]
    kri_up = {k.spec.slug: k.value is not None for k in results.kris}
    assert kri_up["kb4_repeat_clickers_90d"] and kri_up["kb4_phish_time_to_report_hours"]


@pytest.mark.parametrize("source", ["users", "enrollments", "security_tests"])
def test_a_page_cap_never_publishes_a_partial_listing(
    api: requests_mock.Mocker, small_org: fakes.FakeOrg, clock: fakes.FakeClock, source: str
) -> None:
    fakes.serve_org(api, small_org, per_page=2)  # every listing of the small org takes 2+ pages
    account = fakes.account_config(page_caps={source: 1})
    runtime = fakes.runtime_for(clock, account=account)
    runtime.refresher.refresh_core()

    results = runtime.refresher.results
    status = results.sources[source]
    assert (status.up, status.truncated) == (False, True)
    assert getattr(results.snapshot, source) is None
    values = fakes.kri_values(results.kris)
    fed = {
        "users": "kb4_phishing_prone_pct",
        "enrollments": "kb4_training_completion_pct",
        "security_tests": "kb4_repeat_clickers_90d",
    }[source]
    assert values[fed] is None
    assert runtime.refresher.results.errors == {}


def test_repeat_clickers_are_absent_when_only_quiet_psts_are_known(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    for pst_id in (11, 12):
        api.get(f"{fakes.BASE_URL}/v1/phishing/security_tests/{pst_id}/recipients", status_code=500)
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    values = fakes.kri_values(runtime.refresher.results.kris)
    # PST 13 had no clicks, but a zero from it alone would hide the unknown PSTs' clickers.
    assert values["kb4_repeat_clickers_90d"] is None
    assert values["kb4_phish_time_to_report_hours"] is None


def test_the_base_budget_caps_calls_while_the_seats_are_unknown(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    api.get(f"{fakes.BASE_URL}/v1/account", status_code=403)
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    budgets = {
        usage.api: (usage.budget_limit, usage.budget_remaining) for usage in runtime.view().apis
    }
    sent = len(api.request_history)
    assert budgets["reporting"] == (2000, 2000 - sent)
    assert budgets["phisher"] == (2000, 2000)


def test_an_unreachable_host_stops_the_refresh_after_one_source(clock: fakes.FakeClock) -> None:
    # A loopback port nothing listens on: every connection is refused at once.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    account = fakes.account_config(phisher=False, base_url=f"http://127.0.0.1:{port}")
    runtime = fakes.runtime_for(clock, account=account)
    assert not runtime.refresher.refresh_core()
    results = runtime.refresher.results
    # The first source spends its retries; the others are not tried against a dead host.
    assert results.errors == {("account", "connection"): 1}
    assert runtime.view().apis[0].requests_by_code == {"connection": 5}
    assert all(not results.sources[s].up for s in CORE_SOURCES)


def test_a_refresh_the_budget_left_cannot_cover_says_so_in_one_line_with_the_numbers(
    api: requests_mock.Mocker, clock: fakes.FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = fakes.runtime_for(clock, account=fakes.account_config(daily_budget=20))
    refresher = runtime.refresher
    with caplog.at_level("WARNING", logger="kb4_exporter.refresh.account"):
        assert refresher.refresh_core()
        first = len(api.request_history)
        assert "budget" not in caplog.text  # nothing to judge by before a full refresh
        refresher.refresh_core()  # 20 - first calls left, fewer than a refresh takes

    [line] = [r for r in caplog.records if "the last complete refresh took" in r.getMessage()]
    assert line.getMessage().startswith(
        f"the last complete refresh took {first} Reporting API calls but only "
        f"{20 - first} of the daily budget of 20 are left"
    )
    assert line.account == "acme"  # type: ignore[attr-defined]
    assert not refresher.results.sources["risk_history"].up
    assert refresher.results.sources["risk_history"].truncated
