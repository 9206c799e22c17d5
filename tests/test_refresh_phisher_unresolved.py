"""The refresher's unresolved-message poll: the paging signal on /metrics, failures,
warm restarts, and refreshes of other sources publishing at the same time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kb4_fakes as fakes
import pytest
import requests_mock

from kb4_exporter.api.http import REQUEST_DEADLINE_SECONDS
from kb4_exporter.commands.runtimes import build_registry
from kb4_exporter.config.settings import Settings
from kb4_exporter.refresh.wiring import AccountRuntime

HOUR = 3600.0
AGE = "kb4_phisher_oldest_unresolved_age_seconds"
SOURCE = "phisher_unresolved"


def age(runtime: AccountRuntime, severity: str) -> float | None:
    registry = build_registry([runtime])
    return registry.get_sample_value(AGE, {"account": "acme", "severity": severity})


def sample(runtime: AccountRuntime, name: str, **labels: str) -> float | None:
    return build_registry([runtime]).get_sample_value(name, {"account": "acme", **labels})


def test_a_poll_publishes_the_age_of_the_oldest_unresolved_message_per_severity(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    runtime = fakes.runtime_for(clock)
    assert runtime.refresher.refresh_phisher_unresolved()
    # small_org: m1 HIGH 5 h, m2 CRITICAL 20 h, m4 LOW 2 h, m5 MEDIUM 3 days; m3 resolved.
    assert age(runtime, "HIGH") == 5 * HOUR
    assert age(runtime, "CRITICAL") == 20 * HOUR
    assert age(runtime, "LOW") == 2 * HOUR
    assert age(runtime, "MEDIUM") == 3 * fakes.DAY
    assert age(runtime, "UNKNOWN_SEVERITY") is None
    assert sample(runtime, "kb4_source_up", source=SOURCE) == 1.0
    assert sample(runtime, "kb4_source_refresh_interval_seconds", source=SOURCE) == 300.0
    assert sample(runtime, "kb4_truncated", source=SOURCE) == 0.0


def test_an_old_message_keeps_its_age_growing_past_the_kri_window(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_phisher()
    runtime.refresher.refresh_phisher_unresolved()
    clock.advance(30 * HOUR)
    runtime.refresher.refresh_phisher()
    runtime.refresher.refresh_phisher_unresolved()
    # The 4-24 h KRI no longer sees m1 (35 h old); the age still does.
    assert sample(runtime, "kb4_phisher_unresolved_high_4h") == 0.0
    assert age(runtime, "HIGH") == 35 * HOUR


def test_a_resolved_message_stops_counting_at_the_next_poll(
    api: requests_mock.Mocker, small_org: fakes.FakeOrg, clock: fakes.FakeClock
) -> None:
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_phisher_unresolved()
    for message in small_org.phisher_messages:
        if message["id"] == "m2":
            message["actionStatus"] = "RESOLVED"
    clock.advance(300)
    runtime.refresher.refresh_phisher_unresolved()
    assert age(runtime, "CRITICAL") is None
    assert age(runtime, "HIGH") == 5 * HOUR + 300


def test_successive_polls_reread_every_tracked_message_in_turn(
    api: requests_mock.Mocker, small_org: fakes.FakeOrg, clock: fakes.FakeClock
) -> None:
    # Far more open LOW messages than a poll re-reads as the oldest of their severity.
    for n in range(35):
        reported = clock() - (10 - n / 10) * fakes.DAY
        small_org.phisher_messages.append(
            {
                "id": f"low{n}",
                "severity": "LOW",
                "actionStatus": "RECEIVED",
                "events": [{"eventType": "CREATED", "createdAt": fakes.iso(reported)}],
            }
        )
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_phisher_unresolved()
    # The newest of them, behind 34 older open ones, is raised to HIGH.
    raised = small_org.phisher_messages[-1]
    raised["severity"] = "HIGH"
    raised_age = 10 * fakes.DAY - 3.4 * fakes.DAY

    polls = 0
    while age(runtime, "HIGH") == 5 * HOUR + polls * 300 and polls < 4:
        clock.advance(300)
        runtime.refresher.refresh_phisher_unresolved()
        polls += 1

    assert age(runtime, "HIGH") == pytest.approx(raised_age + polls * 300)
    assert polls <= 3  # 26 messages past the ten oldest, ten a poll


def test_a_failed_poll_keeps_the_messages_and_ages_them_to_now(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_phisher_unresolved()
    api.post(fakes.PHISHER_URL, status_code=503)
    clock.advance(600)
    assert not runtime.refresher.refresh_phisher_unresolved()
    assert age(runtime, "HIGH") == 5 * HOUR + 600
    assert sample(runtime, "kb4_source_up", source=SOURCE) == 0.0
    assert sample(runtime, "kb4_refresh_errors_total", source=SOURCE, reason="server_error") == 1


def test_the_signal_is_absent_until_a_first_poll_succeeds(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    api.post(fakes.PHISHER_URL, status_code=503)
    runtime = fakes.runtime_for(clock)
    assert not runtime.refresher.refresh_phisher_unresolved()
    assert age(runtime, "HIGH") is None
    assert sample(runtime, "kb4_source_last_success_timestamp_seconds", source=SOURCE) is None


def test_without_phisher_there_is_neither_signal_nor_source(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    runtime = fakes.runtime_for(clock, account=fakes.account_config(phisher=False))
    assert runtime.refresher.refresh_phisher_unresolved()
    assert age(runtime, "HIGH") is None
    assert sample(runtime, "kb4_source_up", source=SOURCE) is None
    assert not [r for r in api.request_history if r.url == fakes.PHISHER_URL]


def test_a_warm_restart_serves_the_signal_at_once_and_polls_incrementally(
    api: requests_mock.Mocker, clock: fakes.FakeClock, tmp_path: Path
) -> None:
    account = fakes.account_config()
    settings = Settings(accounts=(account,), state_dir=str(tmp_path))
    first = fakes.runtime_for(clock, settings=settings, account=account)
    first.refresher.refresh_phisher_unresolved()
    first.save_state()
    clock.advance(600)

    second = fakes.runtime_for(clock, settings=settings, account=account)
    assert second.load_state()
    assert age(second, "HIGH") == 5 * HOUR + 600
    assert sample(second, "kb4_source_up", source=SOURCE) == 1.0
    api.reset_mock()
    second.refresher.refresh_phisher_unresolved()
    queries = [r.json()["variables"]["query"] for r in api.request_history]
    # Reports since the saved poll, less the overlap; then the tracked messages by id.
    assert queries[0] == f"reported_at:[{fakes.iso(fakes.NOW - HOUR)[:19]}Z TO *]"
    assert all(q.startswith("id:") for q in queries[1:])


def test_a_restart_with_a_raised_page_cap_reads_what_the_cap_cut_off(
    requests_mock: requests_mock.Mocker, clock: fakes.FakeClock, tmp_path: Path
) -> None:
    small_org = fakes.small_org()
    # A page of recent LOW reports, listed first (newest first, as PhishER does): a
    # one-page cap cuts off everything older, m1 (HIGH, 5 h) included.
    recent = [
        {
            "id": f"r{n}",
            "severity": "LOW",
            "actionStatus": "RECEIVED",
            "events": [{"eventType": "CREATED", "createdAt": fakes.iso(fakes.NOW - n)}],
        }
        for n in range(100)
    ]
    small_org.phisher_messages = recent + small_org.phisher_messages
    fakes.serve_org(requests_mock, small_org)
    capped = fakes.account_config(page_caps={SOURCE: 1})
    settings = Settings(accounts=(capped,), state_dir=str(tmp_path))
    first = fakes.runtime_for(clock, settings=settings, account=capped)
    first.refresher.refresh_phisher_unresolved()
    assert sample(first, "kb4_truncated", source=SOURCE) == 1.0
    assert age(first, "HIGH") is None
    first.save_state()
    clock.advance(600)

    # The operator raises the cap and restarts: the first poll lists the whole horizon.
    account = fakes.account_config()
    second = fakes.runtime_for(
        clock, settings=Settings(accounts=(account,), state_dir=str(tmp_path)), account=account
    )
    assert second.load_state()
    second.refresher.refresh_phisher_unresolved()
    assert sample(second, "kb4_truncated", source=SOURCE) == 0.0
    assert age(second, "HIGH") == 5 * HOUR + 600


def test_a_core_refresh_running_meanwhile_does_not_undo_the_poll(
    api: requests_mock.Mocker, small_org: fakes.FakeOrg, clock: fakes.FakeClock
) -> None:
    """PhishER polls run on their own thread while a core refresh may take an hour: the
    core refresh's publish must keep what the poll published in between."""
    runtime = fakes.runtime_for(clock)
    polled: list[bool] = []

    def groups_after_a_poll(request: Any, context: Any) -> list[Any]:
        # A poll that publishes while the core refresh is between two of its calls.
        polled.append(runtime.refresher.refresh_phisher_unresolved())
        return small_org.groups

    api.get(f"{fakes.BASE_URL}/v1/groups", json=groups_after_a_poll)
    assert runtime.refresher.refresh_core()
    assert polled == [True]
    results = runtime.refresher.results
    assert results.sources[SOURCE].up
    assert results.sources["groups"].up
    assert age(runtime, "HIGH") == 5 * HOUR


def test_a_failed_poll_during_a_core_refresh_keeps_its_error_count(
    api: requests_mock.Mocker, small_org: fakes.FakeOrg, clock: fakes.FakeClock
) -> None:
    runtime = fakes.runtime_for(clock)
    api.post(fakes.PHISHER_URL, status_code=503)

    def groups_after_a_poll(request: Any, context: Any) -> list[Any]:
        runtime.refresher.refresh_phisher_unresolved()
        return small_org.groups

    api.get(f"{fakes.BASE_URL}/v1/groups", json=groups_after_a_poll)
    runtime.refresher.refresh_core()
    assert runtime.refresher.results.errors[(SOURCE, "server_error")] == 1
    assert not runtime.refresher.results.sources[SOURCE].up


def test_a_poll_runs_under_a_deadline_like_every_refresh(clock: fakes.FakeClock) -> None:
    # A poll that hangs (a trickled body, say) must end by its interval, as refreshes do,
    # and never cut a request short of the request's own deadline.
    settings = Settings(accounts=(fakes.account_config(),), phisher_unresolved_interval=60.0)
    runtime = fakes.runtime_for(clock, settings=settings)
    assert runtime.refresh_seconds["phisher_unresolved"] == REQUEST_DEADLINE_SECONDS
    longer = Settings(accounts=(fakes.account_config(),), phisher_unresolved_interval=900.0)
    assert fakes.runtime_for(clock, settings=longer).refresh_seconds["phisher_unresolved"] == 900.0
