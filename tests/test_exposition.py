"""The /metrics body: its results part is rendered once per change of the results and
reused; the API usage part (request counters, budgets) is rendered on every scrape."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import kb4_fakes as fakes
import pytest
import requests_mock
from prometheus_client import exposition as prometheus_exposition
from prometheus_client import generate_latest
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS

from kb4_exporter import exposition
from kb4_exporter.collector import AccountView
from kb4_exporter.daemon import build_registry
from kb4_exporter.exposition import MAX_FORMATS, CachedExposition
from kb4_exporter.runtime import AccountRuntime

TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


@pytest.fixture
def runtime(requests_mock: requests_mock.Mocker, clock: fakes.FakeClock) -> AccountRuntime:
    fakes.serve_org(requests_mock, fakes.small_org())
    runtime = fakes.runtime_for(clock)
    runtime.refresher.refresh_core()
    return runtime


def cache_for(runtime: AccountRuntime) -> CachedExposition:
    return CachedExposition(lambda: [runtime.view()])


def test_body_is_what_the_registry_renders_and_is_reused_while_nothing_changes(
    runtime: AccountRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = cache_for(runtime)
    body, content_type = cache.render(None)
    assert content_type.startswith("text/plain; version=0.0.4")
    assert body == generate_latest(build_registry([runtime]))
    renders = count_renders(monkeypatch, cache)
    again, _ = cache.render(None)
    assert again == body
    assert renders == [0]


def test_a_refresh_renders_again(runtime: AccountRuntime, clock: fakes.FakeClock) -> None:
    cache = cache_for(runtime)
    before, _ = cache.render(None)
    clock.advance(60.0)
    runtime.refresher.refresh_phisher()
    after, _ = cache.render(None)
    assert after != before
    assert after == generate_latest(build_registry([runtime]))
    assert b'kb4_source_up{account="acme",source="phisher"} 1.0' in after


def test_an_api_request_shows_at_once_without_rendering_the_results_again(
    runtime: AccountRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = cache_for(runtime)
    before, _ = cache.render(None)
    renders = count_renders(monkeypatch, cache)
    runtime.refresher.reporting.account()  # one more request, results unchanged
    after, _ = cache.render(None)
    assert after != before
    assert after == generate_latest(build_registry([runtime]))
    assert renders == [0]


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
    assert openmetrics.count(b"# EOF") == 1
    assert cache.render("text/plain")[0] == text
    assert cache.render(OPENMETRICS)[0] == openmetrics


def test_many_formats_do_not_grow_the_cache_without_bound(runtime: AccountRuntime) -> None:
    # The version is the client's to choose, so content types are not a closed set.
    cache = cache_for(runtime)
    for minor in range(3 * MAX_FORMATS):
        body, content_type = cache.render(f"application/openmetrics-text; version=1.{minor}.0")
        assert f"version=1.{minor}.0" in content_type
        assert body.endswith(b"# EOF\n")
        assert len(cache._rendered) <= MAX_FORMATS


def test_scrapes_arriving_together_after_a_change_share_one_render(
    runtime: AccountRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    scrapes = 8
    views = GatedViews(runtime)
    cache = CachedExposition(views)
    cache.render(None)
    runtime.refresher.refresh_phisher()  # a change: every scrape below misses
    renders = count_renders(monkeypatch, cache)
    views.hold_next(scrapes)  # the scrapes all arrive before any of them renders
    bodies: list[bytes] = []

    def scrape() -> None:
        bodies.append(cache.render(None)[0])

    threads = [threading.Thread(target=scrape) for _ in range(scrapes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(bodies) == scrapes
    assert renders == [1]
    assert all(body == bodies[0] for body in bodies)
    assert bodies[0] == generate_latest(build_registry([runtime]))


def test_a_scrape_arriving_during_a_render_of_the_same_views_shares_it(
    runtime: AccountRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    late_arrived = threading.Event()

    def views() -> Sequence[AccountView]:
        if threading.current_thread().name == "late":
            late_arrived.set()
        return [runtime.view()]

    cache = CachedExposition(views)
    # The first render waits until the late scrape, started once that render is under
    # way, has read the (unchanged) views.
    render_started = threading.Event()
    renders = count_renders(
        monkeypatch, cache, hold_first=late_arrived, first_started=render_started
    )
    bodies: dict[str, bytes] = {}

    def scrape() -> None:
        bodies[threading.current_thread().name] = cache.render(None)[0]

    first = threading.Thread(target=scrape, name="first")
    late = threading.Thread(target=scrape, name="late")
    first.start()
    assert render_started.wait(10)
    late.start()
    first.join(10)
    late.join(10)
    assert renders == [1]
    assert bodies["late"] == bodies["first"]


class GatedViews:
    """A runtime's views; `hold_next(n)` makes the next n reads wait for one another."""

    def __init__(self, runtime: AccountRuntime) -> None:
        self._runtime = runtime
        self._lock = threading.Lock()
        self._held = 0
        self._barrier: threading.Barrier | None = None

    def hold_next(self, reads: int) -> None:
        with self._lock:
            self._held = reads
            self._barrier = threading.Barrier(reads, timeout=10)

    def __call__(self) -> Sequence[AccountView]:
        with self._lock:
            barrier = self._barrier if self._held > 0 else None
            self._held -= 1
        if barrier is not None:
            barrier.wait()
        return [self._runtime.view()]


def count_renders(
    monkeypatch: pytest.MonkeyPatch,
    cache: CachedExposition,
    hold_first: threading.Event | None = None,
    first_started: threading.Event | None = None,
) -> list[int]:
    """Counts renders of the results part; the first sets `first_started`, then waits for
    `hold_first`."""
    renders = [0]
    choose = prometheus_exposition.choose_encoder

    def counting_choose(accept: str) -> tuple[Callable[[Any], bytes], str]:
        encoder, content_type = choose(accept)

        def counting_encoder(registry: Any) -> bytes:
            if registry is not cache._results_registry:
                return encoder(registry)
            renders[0] += 1
            if renders[0] == 1 and first_started is not None:
                first_started.set()
            if renders[0] == 1 and hold_first is not None:
                assert hold_first.wait(10)
            return encoder(registry)

        return counting_encoder, content_type

    monkeypatch.setattr(exposition, "choose_encoder", counting_choose)
    return renders
