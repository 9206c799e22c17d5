"""Pacing limits (per second, per minute, per day) on an injected, accelerated clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests

from kb4_exporter.simulator import Org, OrgSpec, PacingLimits, SimulatorServer, generate_org
from kb4_exporter.simulator.pacing import Pacer, Throttle

NOW = datetime(2025, 6, 15, 9, 30, tzinfo=UTC).timestamp()
AUTH = {"Authorization": "Bearer simulated-reporting-token"}
PHISHER_AUTH = {"Authorization": "Bearer simulated-phisher-token"}


class FakeClock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def org() -> Org:
    return generate_org(OrgSpec(users=80, seed=7), NOW)


class TestPacer:
    def test_four_per_second_in_a_sliding_window(self) -> None:
        clock = FakeClock()
        pacer = Pacer(PacingLimits(per_second=4, per_minute=None), clock)
        assert [pacer.admit("t") for _ in range(4)] == [None] * 4
        assert pacer.admit("t") == Throttle("second", 1)
        clock.advance(0.999)
        assert pacer.admit("t") == Throttle("second", 1)
        clock.advance(0.001)  # the first request has left the window
        assert pacer.admit("t") is None

    def test_evenly_paced_requests_are_never_throttled(self) -> None:
        clock = FakeClock()
        pacer = Pacer(PacingLimits(per_second=4, per_minute=50), clock)
        for _ in range(200):
            assert pacer.admit("t") is None
            clock.advance(1.2)

    def test_a_burst_over_fifty_a_minute_waits_for_the_oldest(self) -> None:
        clock = FakeClock()
        pacer = Pacer(PacingLimits(per_second=4, per_minute=50), clock)
        for _ in range(50):
            assert pacer.admit("t") is None
            clock.advance(0.25)
        # 50 requests over 12.5 s; the first leaves the minute window 47.5 s from now
        assert pacer.admit("t") == Throttle("minute", 48)
        clock.advance(47.5)
        assert pacer.admit("t") is None

    def test_the_daily_budget_has_no_retry_after(self) -> None:
        clock = FakeClock()
        pacer = Pacer(PacingLimits(per_second=None, per_minute=None, daily_budget=3), clock)
        for _ in range(3):
            assert pacer.admit("t") is None
            clock.advance(3600)
        assert pacer.admit("t") == Throttle("day", None)
        clock.advance(86_400 - 3 * 3600)  # the first request is now 24 h old
        assert pacer.admit("t") is None
        assert pacer.used_today("t") == 3

    def test_throttled_requests_do_not_count(self) -> None:
        clock = FakeClock()
        pacer = Pacer(PacingLimits(per_second=1, per_minute=None, daily_budget=2), clock)
        assert pacer.admit("t") is None
        for _ in range(10):
            assert pacer.admit("t") is not None
        clock.advance(1)
        assert pacer.admit("t") is None

    def test_each_key_has_its_own_limits(self) -> None:
        pacer = Pacer(PacingLimits(per_second=1, per_minute=None), FakeClock())
        assert pacer.admit("a") is None
        assert pacer.admit("b") is None
        assert pacer.admit("a") is not None

    def test_the_default_budget_is_2000_plus_seats(self) -> None:
        assert PacingLimits().budget_for(250) == 2250
        assert PacingLimits(daily_budget=10).budget_for(250) == 10
        assert PacingLimits(daily_budget=0).budget_for(250) is None
        assert PacingLimits.unlimited().budget_for(250) is None


class TestOverHttp:
    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def server(self, org: Org, clock: FakeClock) -> Iterator[SimulatorServer]:
        limits = PacingLimits(per_second=2, per_minute=5, daily_budget=8)
        with SimulatorServer(org, limits=limits, clock=clock) as running:
            yield running

    def get(self, server: SimulatorServer, headers: dict[str, str] = AUTH) -> requests.Response:
        return requests.get(server.base_url + "/v1/users", headers=headers, timeout=10)

    def test_429_with_retry_after_on_the_second_and_minute_limits(
        self, server: SimulatorServer, clock: FakeClock
    ) -> None:
        assert [self.get(server).status_code for _ in range(2)] == [200, 200]
        throttled = self.get(server)
        assert throttled.status_code == 429
        assert throttled.headers["Retry-After"] == "1"
        assert throttled.json() == {"message": "Too Many Requests"}
        clock.advance(1)
        assert [self.get(server).status_code for _ in range(2)] == [200, 200]
        clock.advance(1)
        assert self.get(server).status_code == 200  # the fifth in this minute
        clock.advance(1)
        over_minute = self.get(server)
        assert over_minute.status_code == 429
        assert over_minute.headers["Retry-After"] == "57"

    def test_429_without_retry_after_when_the_day_is_spent(
        self, server: SimulatorServer, clock: FakeClock
    ) -> None:
        for _ in range(8):
            assert self.get(server).status_code == 200
            clock.advance(60)
        spent = self.get(server)
        assert spent.status_code == 429
        assert "Retry-After" not in spent.headers
        clock.advance(86_400)
        assert self.get(server).status_code == 200
        assert server.status_counts() == {200: 9, 429: 1}

    def test_phisher_has_its_own_counters_and_401s_cost_nothing(
        self, server: SimulatorServer
    ) -> None:
        for _ in range(5):
            assert self.get(server, {"Authorization": "Bearer nope"}).status_code == 401
        assert [self.get(server).status_code for _ in range(2)] == [200, 200]
        body = {"query": '{ phisherMessages(query: "") { nodes { id } } }'}
        answers = [
            requests.post(server.phisher_url, json=body, headers=PHISHER_AUTH, timeout=10)
            for _ in range(3)
        ]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert answers[2].json()["errors"][0]["message"] == "Too Many Requests"

    def test_the_default_budget_follows_the_org(self, org: Org) -> None:
        running = SimulatorServer(org)
        assert running.daily_budget == 2000 + org.seats
        running.set_org(generate_org(OrgSpec(users=30, seed=1), NOW))
        assert running.daily_budget == 2030


class TestLatency:
    def test_every_request_waits_the_configured_latency(self, org: Org) -> None:
        waits: list[float] = []
        limits = PacingLimits.unlimited()
        with SimulatorServer(org, limits=limits, latency=0.05, sleep=waits.append) as running:
            for path in ("/v1/account", "/v1/users", "/nowhere"):
                requests.get(running.base_url + path, headers=AUTH, timeout=10)
        assert waits == [0.05, 0.05, 0.05]

    def test_negative_latency_is_refused(self, org: Org) -> None:
        with pytest.raises(ValueError):
            SimulatorServer(org, latency=-1)
