"""The real exporter against the real simulator over loopback, no mocks.

Every KRI (and the PhishER severity breakdown) must equal the value that
tests/simulator_truth.py computes straight from the generated org's raw records, under
both paging contracts the API has had: cursors (since 2026) and the legacy `page`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from benchmarks.minimum_pages import minimum_pages
from prometheus_client.parser import text_string_to_metric_families
from simulator_truth import KRI_SLUGS, expected_kris

from kb4_exporter.commands.runtimes import build_registry, interruptible_sleep
from kb4_exporter.config.secrets import Secret
from kb4_exporter.config.settings import PAGE_CAP_SOURCES, AccountConfig, PhisherConfig, Settings
from kb4_exporter.kris.specs import KRI_SPECS
from kb4_exporter.refresh.wiring import AccountRuntime, build_runtime
from kb4_exporter.simulator.org import Org, OrgSpec, generate_org
from kb4_exporter.simulator.server import PacingLimits, SimulatorServer

TOKEN = "integration-reporting-token"
PHISHER_TOKEN = "integration-phisher-token"
METRIC_OF = {spec.slug: spec.metric for spec in KRI_SPECS}


@pytest.fixture(scope="module")
def org_now() -> tuple[Org, float]:
    now = time.time()
    return generate_org(OrgSpec(users=600, seed=7), now), now


@pytest.fixture(scope="module", params=["cursor", "page"])
def simulator(
    org_now: tuple[Org, float], request: pytest.FixtureRequest
) -> Iterator[SimulatorServer]:
    org, _ = org_now
    server = SimulatorServer(
        org,
        token=TOKEN,
        phisher_token=PHISHER_TOKEN,
        limits=PacingLimits.unlimited(),
        pagination=request.param,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def runtime_against(
    simulator: SimulatorServer,
    state_dir: Path | None = None,
    page_caps: dict[str, int] | None = None,
) -> AccountRuntime:
    account = AccountConfig(
        name="sim",
        region="us",
        base_url=simulator.base_url,
        api_token=Secret.inline(TOKEN),
        phisher=PhisherConfig(simulator.phisher_url, Secret.inline(PHISHER_TOKEN)),
        requests_per_second=1000.0,
        requests_per_minute=100000,
        page_caps=page_caps or {},
    )
    settings = Settings(accounts=(account,), state_dir=str(state_dir) if state_dir else None)
    sleep = interruptible_sleep(threading.Event())
    return build_runtime(account, settings, clock=time.time, sleep=sleep)


def test_every_kri_matches_the_ground_truth(
    simulator: SimulatorServer, org_now: tuple[Org, float]
) -> None:
    org, now = org_now
    runtime = runtime_against(simulator)
    assert runtime.refresher.refresh_core()
    assert runtime.refresher.refresh_phisher()
    assert runtime.refresher.refresh_phisher_unresolved()
    results = runtime.refresher.results
    truth = expected_kris(org, now)
    actual = {kri.spec.slug: kri.value for kri in results.kris}
    for slug in KRI_SLUGS:
        assert truth[slug] is not None, f"the generated org should give {slug} a value"
        assert actual[slug] == pytest.approx(truth[slug]), slug
    assert results.breakdowns.phisher_unresolved == truth["phisher_unresolved_by_severity"]
    assert results.up


def test_an_org_larger_than_every_page_cap_gets_true_kris_or_none(
    simulator: SimulatorServer, org_now: tuple[Org, float]
) -> None:
    """One page of each listing: whatever a cut listing feeds is absent with kb4_kri_up 0,
    never a number over part of the org."""
    org, now = org_now
    runtime = runtime_against(simulator, page_caps=dict.fromkeys(PAGE_CAP_SOURCES, 1))
    assert not runtime.refresher.refresh_core()
    runtime.refresher.refresh_phisher()
    registry = build_registry([runtime])
    truth = expected_kris(org, now)
    absent = []
    for slug in KRI_SLUGS:
        up = registry.get_sample_value("kb4_kri_up", {"account": "sim", "kri": slug})
        value = registry.get_sample_value(METRIC_OF[slug], {"account": "sim"})
        if up == 1.0:
            assert value == pytest.approx(truth[slug]), slug
        else:
            assert (up, value) == (0.0, None), slug
            absent.append(slug)
    # Users (600, two pages) and enrollments are cut: what they feed is absent.
    assert "kb4_phishing_prone_pct" in absent
    assert "kb4_overdue_training_assignments" in absent
    cut = {
        source for source, status in runtime.refresher.results.sources.items() if status.truncated
    }
    assert {"users", "enrollments"} <= cut


def test_a_cold_refresh_costs_the_minimum_page_count(
    simulator: SimulatorServer, org_now: tuple[Org, float]
) -> None:
    org, now = org_now
    simulator.reset_counts()
    runtime = runtime_against(simulator)
    assert runtime.refresher.refresh_core()
    reporting_calls = sum(
        count for path, count in simulator.request_counts().items() if path.startswith("/v1/")
    )
    assert reporting_calls == minimum_pages(org, now, simulator.pagination).cold


def test_warm_refresh_without_changes_reads_no_recipients(
    simulator: SimulatorServer, org_now: tuple[Org, float]
) -> None:
    runtime = runtime_against(simulator)
    runtime.refresher.refresh_core()
    cold_calls = simulator.request_counts().get("/v1/phishing/security_tests/{id}/recipients", 0)
    simulator.reset_counts()
    runtime.refresher.refresh_core()
    org, now = org_now
    open_psts = [
        t
        for t in org.security_tests
        if t.started_at is not None
        and t.started_at >= now - 90 * 86400
        and t.status != "Closed"
        and (t.counts["clicked"] or t.counts["reported"])
    ]
    assert open_psts, "the generated org should have an open PST"
    assert cold_calls > 0
    # No summary count moved, so even the open PST's recipients come from the cache.
    assert simulator.request_counts().get("/v1/phishing/security_tests/{id}/recipients", 0) == 0
    truth = expected_kris(org, now)
    values = {kri.spec.slug: kri.value for kri in runtime.refresher.results.kris}
    assert values["kb4_repeat_clickers_90d"] == pytest.approx(truth["kb4_repeat_clickers_90d"])
    assert values["kb4_phish_time_to_report_hours"] == pytest.approx(
        truth["kb4_phish_time_to_report_hours"]
    )


def test_restart_from_state_serves_the_same_kris_without_calls(
    simulator: SimulatorServer, tmp_path: Path
) -> None:
    first = runtime_against(simulator, tmp_path)
    first.refresher.refresh_core()
    first.refresher.refresh_phisher()
    first.save_state()
    simulator.reset_counts()
    second = runtime_against(simulator, tmp_path)
    assert second.load_state()
    assert sum(simulator.request_counts().values()) == 0
    assert second.refresher.results.kris == first.refresher.results.kris


@pytest.mark.slow
def test_once_command_against_the_simulator_prints_the_true_kris(
    simulator: SimulatorServer, org_now: tuple[Org, float]
) -> None:
    """As a new user would: `kb4-exporter once --kb4.base-url http://127.0.0.1:PORT`."""
    org, now = org_now
    env = {
        **os.environ,
        "KB4_API_TOKEN": TOKEN,
        "KB4_PHISHER_TOKEN": PHISHER_TOKEN,
        "KB4_PHISHER_URL": simulator.phisher_url,
    }
    completed = subprocess.run(
        [sys.executable, "-m", "kb4_exporter", "once", "--kb4.base-url", simulator.base_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert TOKEN not in completed.stdout + completed.stderr
    samples = {
        sample.name: sample.value
        for family in text_string_to_metric_families(completed.stdout)
        for sample in family.samples
        if sample.labels.get("account") == "default"
    }
    truth = expected_kris(org, now)
    for slug in KRI_SLUGS:
        assert samples[METRIC_OF[slug]] == pytest.approx(truth[slug]), slug
