"""Refresh time under KnowBe4's real pacing limits, on an accelerated clock.

The simulator enforces 4 requests/s and 50/minute (answering 429 beyond them) and adds
a fixed latency to every request; the exporter paces itself with its own limiter. Both
read and sleep on one `AcceleratedClock`, so the minutes of waiting cost no real time
while the clock still reads what a wall clock would have.
"""

from __future__ import annotations

from dataclasses import dataclass

from kb4_exporter.simulator.org import Org
from kb4_exporter.simulator.server import PacingLimits, SimulatorServer

from .accelerated_clock import AcceleratedClock
from .exporter_setup import REAL_PER_MINUTE, REAL_PER_SECOND, running_exporter, simulator_account

# Refreshes are a day apart, so each starts with empty pacing windows: wait out the
# minute window (plus the limiter's guard) between the cold and the warm refresh.
IDLE_BETWEEN_REFRESHES = 120.0


@dataclass(frozen=True)
class PacedTimes:
    cold_seconds: float  # simulated wall time of a cold core refresh
    warm_seconds: float
    requests: int  # Reporting API requests the exporter sent, retries included
    throttled: int  # 429 answers it got (the limiter should make this 0)


def measure_paced(org: Org, latency: float, contract: str) -> PacedTimes:
    clock = AcceleratedClock()
    limits = PacingLimits(per_second=int(REAL_PER_SECOND), per_minute=REAL_PER_MINUTE)
    with SimulatorServer(
        org,
        limits=limits,
        latency=latency,
        clock=clock.now,
        sleep=clock.sleep,
        pagination=contract,
    ) as simulator:
        account = simulator_account(simulator, paced=True)
        with running_exporter(account, clock=clock.now, sleep=clock.sleep) as runtime:
            started = clock.now()
            runtime.refresher.refresh_core()
            cold_done = clock.now()
            clock.sleep(IDLE_BETWEEN_REFRESHES)
            warm_started = clock.now()
            runtime.refresher.refresh_core()
            warm_done = clock.now()
            stats = runtime.sessions[0].stats()
    return PacedTimes(
        cold_seconds=cold_done - started,
        warm_seconds=warm_done - warm_started,
        requests=sum(stats.requests_by_code.values()),
        throttled=stats.throttled,
    )
