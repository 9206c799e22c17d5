"""The benchmark machinery on a tiny org, so `python -m tests.benchmarks` cannot rot.

Only counts and invariants are asserted, never a time: the numbers themselves are the
benchmark's output (docs/benchmarks.md).
"""

from __future__ import annotations

import time

import pytest
from benchmarks.accelerated_clock import AcceleratedClock
from benchmarks.call_counts import count_calls
from benchmarks.latency_stats import LatencySummary, percentile, started_during
from benchmarks.minimum_pages import minimum_pages, pages
from benchmarks.paced_refresh import measure_paced
from benchmarks.phisher_calls import count_daily_calls, render
from benchmarks.report import render_report
from benchmarks.scrape_load import due_offsets
from benchmarks.suite import SuiteOptions, run_size

from kb4_exporter.simulator.org import Org, OrgSpec, generate_org

TINY_ORG_USERS = 200
LATENCY = 0.05


@pytest.fixture(scope="module")
def tiny_org() -> Org:
    return generate_org(OrgSpec(users=TINY_ORG_USERS, seed=3), time.time())


def test_call_counts_are_consistent_with_the_minimum_and_each_other(tiny_org: Org) -> None:
    minimum = minimum_pages(tiny_org, tiny_org.now)
    calls = count_calls(tiny_org)
    assert calls.cold.total >= minimum.cold
    assert minimum.warm <= calls.warm.total <= calls.cold.total
    assert calls.warm.recipients < calls.cold.recipients <= calls.naive.recipients
    # Nothing changed between the two refreshes, so no PST's recipients are read again.
    assert calls.warm.recipients == 0
    assert calls.naive.total >= calls.warm.total
    assert calls.phisher >= minimum.phisher
    assert calls.truncated == ()


def test_paced_refresh_sends_every_call_once_and_is_never_throttled(tiny_org: Org) -> None:
    calls = count_calls(tiny_org)
    paced = measure_paced(tiny_org, LATENCY)
    assert paced.throttled == 0
    assert paced.requests == calls.cold.total + calls.warm.total
    # Each request waits out the simulated latency, on the same accelerated clock.
    assert paced.cold_seconds >= calls.cold.total * LATENCY
    assert paced.warm_seconds >= calls.warm.total * LATENCY


def test_one_size_end_to_end_renders_every_table_and_target(tiny_org: Org) -> None:
    options = SuiteOptions(
        sizes=(TINY_ORG_USERS,),
        scrapers=2,
        scrapes=5,
        steady_scrapes=3,
        steady_interval=0.0,
        kri_repeats=1,
    )
    result = run_size(TINY_ORG_USERS, options, progress=lambda message: None)
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
    assert "within 2 calls of the minimum page count (200 users)" in report
    assert "needs the 5,000-user org" in report


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
