"""The real exporter refreshes User Event API data from the real simulator over loopback.

The per-type, per-level counts of the last day (`kb4_user_events_24h`) and the quota
gauges must equal what tests/simulator_truth.py computes straight from the generated
org, and the exporter must page only as far back as its one-day window needs.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from simulator_truth import expected_user_events, user_event_quota

from kb4_exporter.commands.runtimes import build_registry, interruptible_sleep
from kb4_exporter.config.secrets import Secret
from kb4_exporter.config.settings import AccountConfig, Settings, UserEventsConfig
from kb4_exporter.refresh.wiring import AccountRuntime, build_runtime
from kb4_exporter.simulator.org import Org, OrgSpec, generate_org
from kb4_exporter.simulator.server import PacingLimits, SimulatorServer

TOKEN = "integration-reporting-token"
EVENTS_TOKEN = "integration-user-events-token"
EVENTS_PATH = "/user-events/events"
# The exporter asks for pages of this many events.
CLIENT_PER_PAGE = 100


@pytest.fixture(scope="module")
def org_now() -> tuple[Org, float]:
    now = time.time()
    # Enough events for several pages of 100, most of them older than a day.
    return generate_org(OrgSpec(users=600, seed=7, user_events=450), now), now


@pytest.fixture(scope="module")
def simulator(org_now: tuple[Org, float]) -> Iterator[SimulatorServer]:
    org, _ = org_now
    # No short-window limits (the test would only wait), but the real daily budgets:
    # 2000 + seats for the Reporting API, ten calls per seat for the User Event API.
    limits = PacingLimits(per_second=None, per_minute=None)
    server = SimulatorServer(org, token=TOKEN, user_events_token=EVENTS_TOKEN, limits=limits)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def runtime_against(simulator: SimulatorServer, events_token: str = EVENTS_TOKEN) -> AccountRuntime:
    account = AccountConfig(
        name="sim",
        region="us",
        base_url=simulator.base_url,
        api_token=Secret.inline(TOKEN),
        phisher=None,
        requests_per_second=1000.0,
        requests_per_minute=100000,
        user_events=UserEventsConfig(simulator.user_events_url, Secret.inline(events_token)),
    )
    settings = Settings(accounts=(account,))
    sleep = interruptible_sleep(threading.Event())
    return build_runtime(account, settings, clock=time.time, sleep=sleep)


def exposed(runtime: AccountRuntime, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Samples of one metric in the runtime's exposition, keyed by their labels."""
    text = generate_latest(build_registry([runtime])).decode()
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def test_user_event_counts_match_the_ground_truth(
    simulator: SimulatorServer, org_now: tuple[Org, float]
) -> None:
    org, now = org_now
    runtime = runtime_against(simulator)
    assert runtime.refresher.refresh_core()
    simulator.reset_counts()
    assert runtime.refresher.refresh_user_events()
    truth = expected_user_events(org, now)
    assert truth, "the generated org should have events in the last day"
    results = runtime.refresher.results
    assert results.sources["user_events"].up
    assert results.breakdowns.user_events == truth
    samples = exposed(runtime, "kb4_user_events_24h")
    assert samples == {
        (("account", "sim"), ("event_type", kind), ("risk_level", level)): count
        for (kind, level), count in truth.items()
    }
    # Every sign of risk level reaches the metrics.
    levels = {int(level) for _, level in truth}
    assert min(levels) < 0 < max(levels)
    assert 0 in levels


def test_the_quota_gauges_follow_the_seats_and_the_calls_made(
    simulator: SimulatorServer, org_now: tuple[Org, float]
) -> None:
    org, _ = org_now
    runtime = runtime_against(simulator)
    assert runtime.refresher.refresh_core()  # /v1/account gives the seats
    simulator.reset_counts()
    assert runtime.refresher.refresh_user_events()
    calls = simulator.request_counts()[EVENTS_PATH]
    labels = (("account", "sim"), ("api", "user_events"))
    assert exposed(runtime, "kb4_api_budget_limit")[labels] == user_event_quota(org)
    assert exposed(runtime, "kb4_api_budget_remaining")[labels] == user_event_quota(org) - calls
    assert simulator.user_events_daily_budget == user_event_quota(org)


def test_only_the_pages_of_the_last_day_are_fetched(
    simulator: SimulatorServer, org_now: tuple[Org, float]
) -> None:
    org, now = org_now
    runtime = runtime_against(simulator)
    simulator.reset_counts()
    assert runtime.refresher.refresh_user_events()
    calls = simulator.request_counts()[EVENTS_PATH]
    recent = sum(expected_user_events(org, now).values())
    older = len(org.user_events) - recent
    assert older > CLIENT_PER_PAGE, "the org should have more than a page of older events"
    # Newest first: the recent events' pages, plus at most the page where older ones begin.
    assert math.ceil(recent / CLIENT_PER_PAGE) <= calls <= recent // CLIENT_PER_PAGE + 2
    assert calls < math.ceil(len(org.user_events) / CLIENT_PER_PAGE)


def test_the_connection_check_counts_every_event(
    simulator: SimulatorServer, org_now: tuple[Org, float]
) -> None:
    org, _ = org_now
    client = runtime_against(simulator).refresher.user_events
    assert client is not None
    assert client.total_count() == len(org.user_events)


def test_a_wrong_token_is_an_auth_error_and_nothing_else_fails(
    simulator: SimulatorServer,
) -> None:
    runtime = runtime_against(simulator, events_token=TOKEN)  # the Reporting key
    assert runtime.refresher.refresh_core()
    assert not runtime.refresher.refresh_user_events()
    results = runtime.refresher.results
    assert not results.sources["user_events"].up
    assert results.errors[("user_events", "auth")] == 1
    assert results.breakdowns.user_events is None
    assert all(results.sources[s].up for s in results.enabled_sources() if s != "user_events")
    assert TOKEN not in generate_latest(build_registry([runtime])).decode()
