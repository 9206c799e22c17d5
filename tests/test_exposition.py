"""The cached /metrics body: reused while nothing changes, rendered again on any change."""

from __future__ import annotations

import kb4_fakes as fakes
import pytest
import requests_mock
from prometheus_client import generate_latest
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS

from kb4_exporter.daemon import build_registry
from kb4_exporter.exposition import MAX_FORMATS, CachedExposition
from kb4_exporter.runtime import AccountRuntime

TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


@pytest.fixture
def clock() -> fakes.FakeClock:
    return fakes.FakeClock()


@pytest.fixture
def runtime(requests_mock: requests_mock.Mocker, clock: fakes.FakeClock) -> AccountRuntime:
    fakes.serve_org(requests_mock, fakes.small_org())
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    return runtime


def cache_for(runtime: AccountRuntime) -> CachedExposition:
    return CachedExposition(lambda: [runtime.view()])


def test_body_is_what_the_registry_renders_and_is_reused_while_nothing_changes(
    runtime: AccountRuntime,
) -> None:
    cache = cache_for(runtime)
    body, content_type = cache.render(None)
    assert content_type.startswith("text/plain; version=0.0.4")
    assert body == generate_latest(build_registry([runtime]))
    again, _ = cache.render(None)
    assert again is body


def test_a_refresh_renders_again(runtime: AccountRuntime, clock: fakes.FakeClock) -> None:
    cache = cache_for(runtime)
    before, _ = cache.render(None)
    clock.advance(60.0)
    runtime.refresher.refresh_phisher()
    after, _ = cache.render(None)
    assert after != before
    assert after == generate_latest(build_registry([runtime]))
    assert b'kb4_source_up{account="acme",source="phisher"} 1.0' in after


def test_an_api_request_counted_since_renders_again(runtime: AccountRuntime) -> None:
    cache = cache_for(runtime)
    before, _ = cache.render(None)
    runtime.refresher.reporting.account()  # one more request, results unchanged
    after, _ = cache.render(None)
    assert after != before
    assert after == generate_latest(build_registry([runtime]))


def test_budget_expiring_from_the_ledger_renders_again(
    runtime: AccountRuntime, clock: fakes.FakeClock
) -> None:
    cache = cache_for(runtime)
    before, _ = cache.render(None)
    clock.advance(86400.0 + 1.0)  # every request leaves the rolling 24 h window
    after, _ = cache.render(None)
    assert after != before
    assert after == generate_latest(build_registry([runtime]))


def test_each_format_is_cached_on_its_own(runtime: AccountRuntime) -> None:
    cache = cache_for(runtime)
    text, text_type = cache.render("text/plain")
    openmetrics, openmetrics_type = cache.render(OPENMETRICS)
    assert text_type == TEXT_FORMAT
    assert openmetrics_type.startswith("application/openmetrics-text")
    assert openmetrics.endswith(b"# EOF\n") and not text.endswith(b"# EOF\n")
    assert cache.render("text/plain")[0] is text
    assert cache.render(OPENMETRICS)[0] is openmetrics


def test_many_formats_do_not_grow_the_cache_without_bound(runtime: AccountRuntime) -> None:
    # The version is the client's to choose, so content types are not a closed set.
    cache = cache_for(runtime)
    for minor in range(3 * MAX_FORMATS):
        body, content_type = cache.render(f"application/openmetrics-text; version=1.{minor}.0")
        assert f"version=1.{minor}.0" in content_type
        assert body.endswith(b"# EOF\n")
        assert len(cache._rendered) <= MAX_FORMATS
