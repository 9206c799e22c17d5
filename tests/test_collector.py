"""Collector output against golden exposition files, and its registry behaviour."""

from __future__ import annotations

import os
from pathlib import Path

import kb4_fakes as fakes
import requests_mock
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from kb4_exporter.commands.runtimes import build_registry
from kb4_exporter.kris.specs import KRI_SPECS
from kb4_exporter.metrics.collector import Kb4Collector

GOLDEN = Path(__file__).parent / "golden"
# Set KB4_UPDATE_GOLDEN=1 to rewrite the golden files after an intended change.
UPDATE = os.environ.get("KB4_UPDATE_GOLDEN") == "1"


def assert_golden(name: str, body: bytes) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_bytes(body)
    assert body.decode() == path.read_text()


def test_refreshed_account_matches_golden(
    requests_mock: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    fakes.serve_org(requests_mock, fakes.small_org())
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    clock.advance(2.0)
    runtime.refresher.refresh_phisher()
    clock.advance(3.0)
    runtime.refresher.refresh_phisher_unresolved()
    assert_golden("small_org.prom", generate_latest(build_registry([runtime])))


def test_never_refreshed_account_matches_golden(clock: fakes.FakeClock) -> None:
    runtime = fakes.runtime_for(clock)
    assert_golden("never_refreshed.prom", generate_latest(build_registry([runtime])))


def test_failed_auth_matches_golden(
    requests_mock: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    fakes.serve_org(requests_mock, fakes.small_org())
    requests_mock.get(f"{fakes.BASE_URL}/v1/account", status_code=401)
    runtime = fakes.runtime_for(clock, account=fakes.account_config(phisher=False))
    runtime.refresher.refresh_core()
    assert_golden("auth_failed.prom", generate_latest(build_registry([runtime])))


def test_describe_does_no_work() -> None:
    def explode() -> list[object]:
        raise AssertionError("collect must not run at registration")

    collector = Kb4Collector(explode)  # type: ignore[arg-type]
    names = {family.name for family in collector.describe()}
    assert {spec.metric for spec in KRI_SPECS} <= names
    assert "kb4_api_requests" in names


def test_every_sample_carries_account_and_no_user_label(
    requests_mock: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    fakes.serve_org(requests_mock, fakes.small_org())
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    runtime.refresher.refresh_phisher()
    text = generate_latest(build_registry([runtime])).decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if family.name == "kb4_exporter_build_info":
                continue
            assert sample.labels.get("account") == "acme", sample
            assert not {"user", "email", "user_id"} & set(sample.labels)
    assert fakes.REPORTING_TOKEN not in text and fakes.PHISHER_TOKEN not in text


def test_two_accounts_are_exposed_side_by_side(
    requests_mock: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    fakes.serve_org(requests_mock, fakes.small_org())
    first = fakes.runtime_for(clock)
    second = fakes.runtime_for(clock, account=fakes.account_config(name="beta", phisher=False))
    first.refresher.refresh_core()
    second.refresher.refresh_core()
    registry = build_registry([first, second])
    assert registry.get_sample_value("kb4_up", {"account": "acme"}) == 0.0  # PhishER not run
    assert registry.get_sample_value("kb4_up", {"account": "beta"}) == 1.0
    assert registry.get_sample_value("kb4_high_risk_users", {"account": "beta"}) == 1.0


def test_help_of_every_cached_family_says_how_often_it_refreshes() -> None:
    # DESIGN: HELP strings say that values are cached and how often they refresh.
    families = list(Kb4Collector(lambda: []).describe())
    hourly = {"kb4_phisher_unresolved_high_4h", "kb4_phisher_unresolved_messages"}
    hourly |= {"kb4_user_events_24h"}
    for family in families:
        if "Cached by the exporter" not in family.documentation:
            continue
        expected = "--refresh.phisher-interval" if family.name in hourly else "--refresh.interval"
        assert f"every {expected}" in family.documentation, family.name
    cached = [f.name for f in families if "Cached by the exporter" in f.documentation]
    assert {"kb4_phishing_prone_ratio", "kb4_user_events_24h", "kb4_training_enrollments"} <= set(
        cached
    )
