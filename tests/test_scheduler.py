"""Refresh scheduling with a fake clock: intervals, back-off, warm restarts, shutdown."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import kb4_fakes as fakes
import pytest
import requests_mock

from kb4_exporter.config.settings import Settings
from kb4_exporter.refresh.scheduler import FIRST_RETRY_SECONDS, AccountScheduler
from kb4_exporter.refresh.wiring import AccountRuntime


class Timeline:
    """A fake `wait` that advances the clock and stops the loop after `until`."""

    def __init__(self, clock: fakes.FakeClock, stop: threading.Event, until: float) -> None:
        self.clock = clock
        self.stop = stop
        self.until = until

    def __call__(self, seconds: float) -> bool:
        if self.clock.now + seconds > self.until:
            self.clock.now = self.until
            self.stop.set()
            return True
        self.clock.advance(seconds)
        return False


def run_for(runtime: AccountRuntime, clock: fakes.FakeClock, seconds: float) -> Callable[[], None]:
    stop = threading.Event()
    scheduler = AccountScheduler(
        runtime,
        refresh_interval=86400,
        phisher_interval=3600,
        clock=clock,
        stop=stop,
        wait=Timeline(clock, stop, clock.now + seconds),
    )
    scheduler.run()
    return stop.set


def count(api: requests_mock.Mocker, path: str) -> int:
    """Requests to `path`; for /v1/users only the active-user listing of the KRIs."""
    return sum(
        1
        for r in api.request_history
        if r.path == path and r.qs.get("status", ["active"]) == ["active"]
    )


def phisher_queries(api: requests_mock.Mocker) -> list[str]:
    return [r.json()["variables"]["query"] for r in api.request_history if r.path == "/graphql"]


def test_core_daily_phisher_hourly_and_unresolved_every_five_minutes(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    runtime = fakes.runtime_for(clock)
    run_for(runtime, clock, 2 * 86400 - 1)
    assert count(api, "/v1/users") == 2  # at start and after 24 h
    queries = phisher_queries(api)
    polls = 48 * 12
    listings = [q for q in queries if q.startswith("reported_at:[")]
    # The look-back listing every hour, and every 5 minutes the reports since the last
    # poll; only the first poll lists the whole 30-day horizon.
    assert len(listings) == 48 + polls
    horizon_start = f"reported_at:[{fakes.iso(fakes.NOW - 30 * fakes.DAY)[:19]}Z TO *]"
    assert listings.count(horizon_start) == 1
    # Then the oldest tracked message of each severity in one query (the small org has
    # four unresolved messages, all still open); the first poll tracks nothing yet.
    assert sum(q.startswith("id:") for q in queries) == polls - 1


def test_failed_refresh_retries_with_backoff(
    api: requests_mock.Mocker, clock: fakes.FakeClock
) -> None:
    api.get(f"{fakes.BASE_URL}/v1/account", status_code=401)
    runtime = fakes.runtime_for(clock, account=fakes.account_config(phisher=False))
    run_for(runtime, clock, FIRST_RETRY_SECONDS * (1 + 2 + 4) + 1)
    # Attempts at 0, 300, 900 and 2100 s: back-off doubles from FIRST_RETRY_SECONDS.
    assert count(api, "/v1/account") == 4


def restarted(clock: fakes.FakeClock, state_dir: Path) -> AccountRuntime:
    """A runtime (PhishER off) that has loaded what `state_dir` holds, as after a restart."""
    account = fakes.account_config(phisher=False)
    settings = Settings(accounts=(account,), state_dir=str(state_dir))
    runtime = fakes.runtime_for(clock, settings=settings, account=account)
    runtime.load_state()
    return runtime


def refreshed_and_saved(clock: fakes.FakeClock, state_dir: Path) -> None:
    runtime = restarted(clock, state_dir)
    runtime.refresher.refresh_core()
    runtime.save_state()


def test_warm_restart_waits_until_data_is_due(
    api: requests_mock.Mocker, clock: fakes.FakeClock, tmp_path: Path
) -> None:
    refreshed_and_saved(clock, tmp_path)
    api.reset_mock()
    clock.advance(3600)
    second = restarted(clock, tmp_path)
    run_for(second, clock, 86400 - 3600 - 1)
    assert count(api, "/v1/users") == 0  # not due until 24 h after the persisted refresh
    run_for(second, clock, 2)
    assert count(api, "/v1/users") == 1


def test_warm_restart_keeps_sources_up_and_refreshes_a_failed_one_at_once(
    api: requests_mock.Mocker, clock: fakes.FakeClock, tmp_path: Path
) -> None:
    refreshed_and_saved(clock, tmp_path)
    second = restarted(clock, tmp_path)
    # A deploy is no outage: the restored sources stay up, so no alert fires.
    assert second.refresher.results.up

    api.get(f"{fakes.BASE_URL}/v1/groups", status_code=503)
    clock.advance(86400)
    second.refresher.refresh_core()
    second.save_state()
    api.reset_mock()
    api.get(f"{fakes.BASE_URL}/v1/groups", json=[])
    clock.advance(60)
    third = restarted(clock, tmp_path)
    assert not third.refresher.results.sources["groups"].up
    run_for(third, clock, 1)
    # The failing source is not left waiting for the next interval after a restart.
    assert count(api, "/v1/groups") == 1


def test_a_success_time_in_the_future_delays_refreshes_by_one_interval_at_most(
    api: requests_mock.Mocker, tmp_path: Path
) -> None:
    future = fakes.FakeClock()
    future.advance(30 * 86400)
    refreshed_and_saved(future, tmp_path)
    api.reset_mock()
    # Back on the true clock, 30 days before the saved success time.
    clock = fakes.FakeClock()
    second = restarted(clock, tmp_path)
    run_for(second, clock, 86400 + 1)
    assert count(api, "/v1/users") == 1


def test_unexpected_exception_is_logged_and_retried(
    api: requests_mock.Mocker, clock: fakes.FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = fakes.runtime_for(clock, account=fakes.account_config(phisher=False))
    calls = []

    def broken() -> bool:
        calls.append(clock.now)
        raise RuntimeError("bug")

    monkeypatch.setattr(runtime.refresher, "refresh_core", broken)
    run_for(runtime, clock, FIRST_RETRY_SECONDS + 1)
    assert len(calls) == 2


def test_stop_during_wait_ends_the_loop(api: requests_mock.Mocker, clock: fakes.FakeClock) -> None:
    runtime = fakes.runtime_for(clock)
    stop = threading.Event()
    stop.set()
    scheduler = AccountScheduler(
        runtime, refresh_interval=86400, phisher_interval=3600, clock=clock, stop=stop
    )
    scheduler.run()
    assert api.request_history == []


def test_garbage_collection_is_deferred_during_a_refresh_and_resumes_after(
    api: requests_mock.Mocker, clock: fakes.FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    runtime = fakes.runtime_for(clock, account=fakes.account_config(phisher=False))
    seen: list[bool] = []
    original = runtime.refresher.refresh_core

    def observed() -> bool:
        seen.append(gc.isenabled())
        return original()

    monkeypatch.setattr(runtime.refresher, "refresh_core", observed)
    assert gc.isenabled()
    run_for(runtime, clock, 10)
    assert seen == [False]
    assert gc.isenabled()


def test_garbage_collection_resumes_after_a_failing_refresh(
    api: requests_mock.Mocker, clock: fakes.FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    runtime = fakes.runtime_for(clock, account=fakes.account_config(phisher=False))

    def broken() -> bool:
        raise RuntimeError("bug")

    monkeypatch.setattr(runtime.refresher, "refresh_core", broken)
    run_for(runtime, clock, 10)
    assert gc.isenabled()


def test_phisher_polls_run_while_a_long_core_refresh_is_under_way(
    api: requests_mock.Mocker, clock: fakes.FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = fakes.runtime_for(clock)
    core_started, release_core, polled = threading.Event(), threading.Event(), threading.Event()
    poll = runtime.refresher.refresh_phisher_unresolved

    def long_core() -> bool:
        core_started.set()
        return release_core.wait(10)

    def observed_poll() -> bool:
        polled.set()
        return poll()

    monkeypatch.setattr(runtime.refresher, "refresh_core", long_core)
    monkeypatch.setattr(runtime.refresher, "refresh_phisher_unresolved", observed_poll)
    stop = threading.Event()
    scheduler = AccountScheduler(
        runtime, refresh_interval=86400, phisher_interval=3600, clock=clock, stop=stop
    )
    scheduler.start()
    try:
        assert core_started.wait(10)
        assert polled.wait(10), "the poll waited for the core refresh"
        assert not release_core.is_set()
    finally:
        stop.set()
        release_core.set()
        scheduler.join(10)
    assert not any(thread.is_alive() for thread in scheduler.threads)
    assert runtime.refresher.results.sources["phisher_unresolved"].up


def test_the_frequent_poll_leaves_the_state_file_to_the_other_refreshes(
    api: requests_mock.Mocker, clock: fakes.FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = fakes.runtime_for(clock)
    saves: list[str] = []
    tasks: list[str] = []
    for name in ("refresh_core", "refresh_phisher", "refresh_phisher_unresolved"):
        original = getattr(runtime.refresher, name)
        monkeypatch.setattr(
            runtime.refresher,
            name,
            lambda original=original, name=name: tasks.append(name) or original(),
        )
    monkeypatch.setattr(runtime, "save_state", lambda: saves.append(tasks[-1]))
    run_for(runtime, clock, 3600 + 1)
    # 13 polls (every 5 minutes), 2 look-back refreshes, 1 core refresh; only the last
    # two kinds save the state.
    assert tasks.count("refresh_phisher_unresolved") == 13
    assert sorted(saves) == ["refresh_core", "refresh_phisher", "refresh_phisher"]


def test_the_frequent_poll_leaves_garbage_collection_alone(
    api: requests_mock.Mocker, clock: fakes.FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    runtime = fakes.runtime_for(clock)
    seen: list[bool] = []
    original = runtime.refresher.refresh_phisher_unresolved

    def observed() -> bool:
        seen.append(gc.isenabled())
        return original()

    monkeypatch.setattr(runtime.refresher, "refresh_phisher_unresolved", observed)
    run_for(runtime, clock, 10)
    assert seen == [True]
