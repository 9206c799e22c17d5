"""The benchmark machinery on a tiny org, so `python -m tests.benchmarks` cannot rot.

Only counts and invariants are asserted, never a time: the numbers themselves are the
benchmark's output (docs/benchmarks.md).
"""

from __future__ import annotations

import time

import pytest
import requests
from benchmarks.accelerated_clock import AcceleratedClock
from benchmarks.call_counts import count_calls
from benchmarks.exporter_setup import running_exporter, simulator_account
from benchmarks.latency_stats import LatencySummary, percentile, started_during
from benchmarks.minimum_pages import minimum_pages, pages
from benchmarks.orgs import CONTRACT
from benchmarks.paced_refresh import measure_paced
from benchmarks.phisher_calls import count_daily_calls, render
from benchmarks.report import render_report
from benchmarks.scrape_load import due_offsets
from benchmarks.scrape_scenarios import metrics_server
from benchmarks.suite import SuiteOptions, run_size
from prometheus_client.parser import text_string_to_metric_families

from kb4_exporter.simulator.org import Org, OrgSpec, generate_org
from kb4_exporter.simulator.routes import PAGINATIONS
from kb4_exporter.simulator.server import PacingLimits, SimulatorServer

TINY_ORG_USERS = 200
LATENCY = 0.05
# Eight past quarters: the tiny org as an account two years old.
HISTORY_QUARTERS = 8


@pytest.fixture(scope="module")
def tiny_org() -> Org:
    return generate_org(OrgSpec(users=TINY_ORG_USERS, seed=3), time.time())


@pytest.mark.parametrize("contract", PAGINATIONS)
def test_call_counts_are_consistent_with_the_minimum_and_each_other(
    tiny_org: Org, contract: str
) -> None:
    minimum = minimum_pages(tiny_org, tiny_org.now, contract)
    calls = count_calls(tiny_org, contract)
    assert calls.cold.total == minimum.cold
    assert calls.warm.total == minimum.warm
    assert calls.warm.total <= calls.cold.total
    assert calls.warm.recipients < calls.cold.recipients <= calls.naive.recipients
    # Nothing changed between the two refreshes, so no PST's recipients are read again.
    assert calls.warm.recipients == 0
    assert calls.naive.total >= calls.warm.total
    assert calls.phisher >= minimum.phisher
    assert calls.truncated == ()


def test_paced_refresh_sends_every_call_once_and_is_never_throttled(tiny_org: Org) -> None:
    calls = count_calls(tiny_org, CONTRACT)
    paced = measure_paced(tiny_org, LATENCY, CONTRACT)
    assert paced.throttled == 0
    assert paced.requests == calls.cold.total + calls.warm.total
    # Each request waits out the simulated latency, on the same accelerated clock.
    assert paced.cold_seconds >= calls.cold.total * LATENCY
    assert paced.warm_seconds >= calls.warm.total * LATENCY


def test_one_size_end_to_end_renders_every_table_and_target(tiny_org: Org) -> None:
    # The tiny org gets the history the suite gives its largest orgs, so the probe's
    # simulator process must be told of it to serve the same org.
    options = SuiteOptions(
        sizes=(TINY_ORG_USERS,),
        seed=3,
        history_quarters=HISTORY_QUARTERS,
        history_from_users=TINY_ORG_USERS,
        scrapers=2,
        scrapes=5,
        steady_scrapes=3,
        steady_interval=0.0,
        kri_repeats=1,
    )
    messages: list[str] = []
    result = run_size(TINY_ORG_USERS, options, progress=messages.append)
    assert result.history_quarters == HISTORY_QUARTERS
    assert result.enrollments > len(tiny_org.unarchived_enrollments)
    # The probe's simulator process served the org the in-process simulator did.
    assert result.calls.cold.total == result.minimum.cold
    assert result.probe.cold_calls == result.calls.cold.total
    assert result.probe.warm_calls == result.calls.warm.total == result.minimum.warm
    assert not any("WARNING" in message for message in messages)
    assert result.probe.truncated == ()
    assert result.probe.startup_rss_bytes is not None
    assert result.probe.peak_rss_bytes >= result.probe.startup_rss_bytes
    assert result.probe.idle.scrapes == options.scrapers * options.scrapes
    assert result.probe.idle.failures == 0
    for loaded in (result.probe.stress_saturated, result.probe.stress_steady):
        assert 0 < loaded.scrapes <= options.scrapers * max(options.scrapes, options.steady_scrapes)
    assert 0 < result.probe.paced_steady.scrapes <= options.scrapers * options.steady_scrapes
    assert result.probe.stress_refreshes >= 1
    report = render_report([result], options)
    for title in ("API calls", "Refresh wall time", "memory", "/metrics", "Targets"):
        assert title in report
    assert "PASS cold refresh makes exactly the minimum page count (200 users)" in report
    assert f"{result.enrollments:,} enrollments, 8 past quarterly training campaigns" in report
    assert "listings page by cursor" in report
    assert "needs the 5,000-user org" in report
    assert "peak RSS <= 256 MB: needs the 100,000-user org" in report
    assert "(KRIs + breakdowns) <= 2 s: needs the 100,000-user org" in report


def test_the_probe_serves_the_daemons_metrics_with_process_metrics(tiny_org: Org) -> None:
    with SimulatorServer(
        tiny_org, limits=PacingLimits.unlimited(), pagination=CONTRACT
    ) as simulator:
        account = simulator_account(simulator, paced=False)
        with running_exporter(account, clock=time.time, sleep=time.sleep) as runtime:
            runtime.refresher.refresh_core()
            with metrics_server(runtime) as port:
                response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200
    values = {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if not sample.labels
    }
    assert values["process_resident_memory_bytes"] > 1_000_000
    assert "process_cpu_seconds_total" in values
    assert "kb4_web_config_last_reload_successful" in values


def test_minimum_pages_count_an_empty_listing_as_one_request() -> None:
    assert [pages(n) for n in (0, 1, 500, 501, 1000)] == [1, 1, 1, 2, 2]


def test_accelerated_clock_skips_sleeps_but_keeps_them_on_the_clock() -> None:
    clock = AcceleratedClock(start=1000.0)
    before = clock.now()
    clock.sleep(60.0)
    clock.sleep(-1.0)
    assert clock.skipped == 60.0
    assert clock.now() - before >= 60.0


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_latency_summary_and_refresh_overlap() -> None:
    intervals = [(10.0, 20.0)]
    assert started_during(10.0, intervals)
    assert not started_during(20.0, intervals)
    summary = LatencySummary.of(
        [(10.0, 0.002), (11.0, 0.004)], failures=0, body_bytes=100, load_seconds=2.0
    )
    assert (summary.scrapes, summary.p50_ms, summary.max_ms) == (2, 2.0, 4.0)
    assert summary.per_second == 1.0


def test_steady_scrapers_spread_their_phases_over_the_interval() -> None:
    assert due_offsets(0, 4, 3, 1.0) == [0.0, 1.0, 2.0]
    assert due_offsets(2, 4, 2, 1.0) == [0.5, 1.5]
    assert due_offsets(3, 4, 2, 0.0) == [0.0, 0.0]


@pytest.mark.slow
def test_phisher_calls_per_day_count_every_poll_and_listing() -> None:
    calls = count_daily_calls(reports_per_week=50, days=2)
    steady = calls.by_day[1]
    # Polls every 5 minutes; one page holds a week of 50 reports; tracked messages fit
    # one query by id.
    assert steady["poll: new reports"] == 288
    assert 0 < steady["poll: by id"] <= 288
    assert steady["look-back listing"] == 24
    assert calls.by_day[0]["poll: new reports"] > steady["poll: new reports"]  # the cold start
    assert calls.steady_average() == sum(steady.values())
    assert "steady state:" in render(calls, 50)
