"""Soak: thousands of scheduled refreshes against the simulator with random faults.

The real `AccountScheduler` runs the real runtime on a fake clock (four simulated weeks
of refreshes in under a minute), with a random fault injected before most tasks and the
state file written after each. Open file descriptors and threads, sampled every hundred
tasks after a warm-up, stay flat; so does traced memory over the last tasks (tracemalloc
makes each task about four times slower, so it traces only those, long after the ledgers
filled their 24 h windows); and the request ledgers never hold more entries than the
daily budget. At the end, after a healed refresh, the soaked exporter serves exactly
what a freshly started one serves.
"""

from __future__ import annotations

import gc
import logging
import os
import random
import threading
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kb4_fakes import FakeClock

from kb4_exporter.refresh.scheduler import AccountScheduler
from kb4_exporter.simulator import Fault, OrgSpec, PacingLimits, SimulatorServer
from reliability.harness import (
    EXPORTER_LOGGER,
    Exporter,
    account_for,
    make_org,
    start_exporter,
)

TASKS = 2000
WARM_UP_TASKS = 300
# Traced from here; the first traced sample is taken 100 tasks (33 simulated hours)
# later, once the 24 h ledgers have been re-allocated under tracing.
TRACE_FROM_TASK = 1700
SAMPLE_EVERY = 100
CORE_INTERVAL = 3600.0
PHISHER_INTERVAL = 1800.0
# About 15 calls an hour outrun this budget, so the budget bites every simulated day.
DAILY_BUDGET = 300
FAULT_RATE = 0.6
# Tolerances over the samples after warm-up (what was measured is in docs/reliability.md).
MAX_MEMORY_GROWTH = 256 * 1024  # bytes of traced memory
MAX_EXTRA_FDS = 6
MAX_EXTRA_THREADS = 4
ANSWERING_KINDS = ("status", "retry_after", "reset", "html_200")
TRANSFORMING_KINDS = ("malformed_json", "wrong_shape", "repeat_page", "timeout")
PATHS = (
    "",
    "/v1/account",
    "/v1/users",
    "/v1/groups",
    "/v1/training/campaigns",
    "/v1/training/enrollments",
    "/v1/phishing/security_tests",
    "/v1/phishing/security_tests/",
    "/graphql",
)


def random_fault(rng: random.Random) -> Fault:
    """One fault of any kind on a random path; timeouts are rare since they wait for real."""
    path = rng.choice(PATHS)
    count = rng.choice([1, 2, 3, 6, None])
    kind = rng.choices(
        [*ANSWERING_KINDS, *TRANSFORMING_KINDS],
        weights=[30, 8, 10, 8, 8, 8, 8, 1],
    )[0]
    if kind == "status":
        status = rng.choice([401, 403, 404, 429, 500, 502, 503])
        return Fault("status", path, count=count, status=status)
    if kind == "retry_after":
        return Fault("retry_after", path, count=count, retry_after=str(rng.randint(1, 60)))
    if kind == "timeout":
        return Fault("timeout", path, count=rng.choice([1, 2]), hold_seconds=0.2)
    return Fault(kind, path, count=count)


@dataclass
class Sample:
    task: int
    fds: int
    threads: int
    memory: int | None  # traced bytes, once tracing has started


@dataclass
class Soak:
    exporter: Exporter
    sim: SimulatorServer
    rng: random.Random
    stop: threading.Event
    tasks: Counter[str] = field(default_factory=Counter)
    samples: list[Sample] = field(default_factory=list)
    max_ledger_overshoot: int = -(10**9)

    @property
    def done(self) -> int:
        return sum(self.tasks.values())

    def wrap(self, name: str, run: Callable[[], bool]) -> Callable[[], bool]:
        def task() -> bool:
            faults = [random_fault(self.rng)] if self.rng.random() < FAULT_RATE else []
            self.sim.set_faults(faults)
            self.tasks[name] += 1
            succeeded = run()
            self.check_ledgers()
            if self.done == TRACE_FROM_TASK:
                tracemalloc.start()
            if self.done % SAMPLE_EVERY == 0 and self.done > WARM_UP_TASKS:
                self.sample()
            if self.done >= TASKS:
                self.stop.set()
            return succeeded

        return task

    def check_ledgers(self) -> None:
        runtime = self.exporter.runtime
        for session in runtime.sessions:
            limit = session.budget_limit()
            if limit is not None:
                used = len(runtime.ledgers[session.api].timestamps())
                self.max_ledger_overshoot = max(self.max_ledger_overshoot, used - limit)

    def sample(self) -> None:
        gc.collect()
        memory = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else None
        fds = len(os.listdir("/proc/self/fd"))
        self.samples.append(Sample(self.done, fds, threading.active_count(), memory))


@contextmanager
def counted_exporter_logs() -> Iterator[Counter[str]]:
    """Count the exporter's log records by level instead of letting pytest keep them all
    (thousands of kept records would look like a leak)."""
    levels: Counter[str] = Counter()

    class Counting(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            levels[f"{record.name}:{record.levelname}"] += 1

    logger = logging.getLogger(EXPORTER_LOGGER)
    handler = Counting(logging.INFO)
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield levels
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate


@pytest.mark.slow
def test_thousands_of_refreshes_with_random_faults_leak_nothing(tmp_path: Path) -> None:
    org = make_org(OrgSpec(users=10, seed=5))
    clock = FakeClock(org.now + 60)
    rng = random.Random(20250615)
    # The simulator enforces 4/s and 50/min on the fake clock; the daily budget under test
    # is the exporter's own ledger, so the simulator's is off.
    limits = PacingLimits(daily_budget=0)
    with (
        counted_exporter_logs() as logs,
        SimulatorServer(org, limits=limits, clock=clock) as sim,
    ):
        exporter = start_exporter(
            account_for(sim, daily_budget=DAILY_BUDGET),
            clock,
            state_dir=tmp_path / "state",
            read_timeout=0.05,
        )
        stop = threading.Event()
        soak = Soak(exporter, sim, rng, stop)
        refresher = exporter.runtime.refresher
        refresher.refresh_core = soak.wrap("core", refresher.refresh_core)  # type: ignore[method-assign]
        refresher.refresh_phisher = soak.wrap("phisher", refresher.refresh_phisher)  # type: ignore[method-assign]

        def wait(seconds: float) -> bool:
            clock.advance(seconds)
            return stop.is_set()

        scheduler = AccountScheduler(
            exporter.runtime,
            refresh_interval=CORE_INTERVAL,
            phisher_interval=PHISHER_INTERVAL,
            clock=clock,
            stop=stop,
            wait=wait,
        )
        try:
            scheduler.run()
        finally:
            tracemalloc.stop()
        tasks_run = soak.done

        sim.set_faults([])
        clock.advance(86400.0)  # the ledger frees up, as it would after a day
        exporter.refresh()
        soaked = exporter.scrape()
        fresh = start_exporter(account_for(sim, daily_budget=DAILY_BUDGET), clock)
        fresh.refresh()
        expected = fresh.scrape()
        exporter.close()
        fresh.close()

    assert tasks_run == TASKS
    assert logs[f"{EXPORTER_LOGGER}.scheduler:ERROR"] == 0, "no refresh failed unexpectedly"
    assert soak.max_ledger_overshoot <= 0, "a ledger held more entries than the budget"
    baseline = soak.samples[0]
    # The sample taken as tracing starts sees nothing yet; the next holds the working set
    # re-allocated under tracing; a leak shows as growth after that.
    traced = [s.memory for s in soak.samples if s.memory is not None][1:]
    memory_growth = max(traced[1:]) - traced[0]
    extra_fds = max(s.fds for s in soak.samples) - baseline.fds
    extra_threads = max(s.threads for s in soak.samples) - baseline.threads
    report = {
        "tasks": dict(soak.tasks),
        "simulated_days": round((clock() - org.now) / 86400, 1),
        "traced_tasks": TASKS - TRACE_FROM_TASK,
        "traced_memory": traced,
        "memory_growth": memory_growth,
        "fds": (baseline.fds, baseline.fds + extra_fds),
        "threads": (baseline.threads, baseline.threads + extra_threads),
        "ledger_headroom": -soak.max_ledger_overshoot,
        "logs": dict(logs),
    }
    print(f"soak: {report}")
    assert memory_growth <= MAX_MEMORY_GROWTH, report
    assert extra_fds <= MAX_EXTRA_FDS, report
    assert extra_threads <= MAX_EXTRA_THREADS, report
    assert soaked.up() == 1 and soaked.sources_down() == set()
    assert soaked.kris() == expected.kris(), "nothing was lost"
