"""Scrapes during refreshes: never half a refresh, never waiting for one.

A refresher thread keeps refreshing while the simulator alternates between two orgs
whose KRIs all differ, and every third PhishER refresh fails. Scraper threads render
/metrics throughout. Each scrape must be one published result: its core KRIs are the
org that served the refresh its `users` freshness stamp names, its PhishER KRI and
severity counts the org that served the PhishER refresh its stamp names, and `kb4_up`
agrees with the per-source `kb4_source_up`.

Then a refresh stalls inside a request (the simulator holds it) while scrapes go on;
they finish at once, with the last good values.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from kb4_fakes import FakeClock

from kb4_exporter.kris.specs import PHISHER_UNRESOLVED_HIGH_4H
from kb4_exporter.simulator import Fault, Org, OrgSpec, SimulatorServer
from reliability.harness import (
    ACCOUNT,
    START,
    Exporter,
    Scrape,
    account_for,
    make_org,
    start_exporter,
)

ORGS = {
    "A": OrgSpec(users=30, seed=11, phisher_backlog=2),
    "B": OrgSpec(users=45, seed=12, phisher_backlog=5),
}
CYCLES = 8
SCRAPERS = 3
PHISHER_DOWN_EVERY = 3
# Generous sanity bounds on wall time (not a performance test).
JOIN_SECONDS = 60.0
SCRAPE_SECONDS = 2.0

Signature = tuple[float | None, ...]


def core_signature(scrape: Scrape) -> Signature:
    kris = scrape.kris()
    del kris[PHISHER_UNRESOLVED_HIGH_4H.slug]
    return (scrape.value("kb4_account_seats", account=ACCOUNT), *kris.values())


def phisher_signature(scrape: Scrape) -> Signature:
    severities = sorted(
        (labels["severity"], value)
        for labels, value in scrape.series("kb4_phisher_unresolved_messages")
    )
    return (scrape.kris()[PHISHER_UNRESOLVED_HIGH_4H.slug], *(v for _, v in severities))


def stamp(scrape: Scrape, source: str) -> float | None:
    return scrape.value("kb4_source_last_success_timestamp_seconds", account=ACCOUNT, source=source)


@dataclass
class Observation:
    core_stamp: float | None
    core: Signature
    phisher_stamp: float | None
    phisher: Signature
    up_agrees: bool


@dataclass
class Refresher:
    """Refreshes in a loop, alternating orgs; remembers which org each refresh served."""

    exporter: Exporter
    sim: SimulatorServer
    orgs: dict[str, Org]
    served_core: dict[float, str] = field(default_factory=dict)
    served_phisher: dict[float, str] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        refresher = self.exporter.runtime.refresher
        try:
            for cycle in range(CYCLES):
                name = "AB"[cycle % 2]
                self.sim.set_org(self.orgs[name])
                refresher.refresh_core()
                self.served_core[_last_success(self.exporter, "users")] = name
                phisher_down = cycle % PHISHER_DOWN_EVERY == PHISHER_DOWN_EVERY - 1
                self.sim.set_faults([Fault("status", "/graphql")] if phisher_down else [])
                if refresher.refresh_phisher():
                    self.served_phisher[_last_success(self.exporter, "phisher")] = name
        finally:
            self.done.set()


def _last_success(exporter: Exporter, source: str) -> float:
    value = exporter.runtime.refresher.results.sources[source].last_success
    assert value is not None
    return value


def scrape_until(exporter: Exporter, done: threading.Event, seen: list[Observation]) -> None:
    while not done.is_set():
        scrape = exporter.scrape()
        sources_up = [value for _, value in scrape.series("kb4_source_up")]
        seen.append(
            Observation(
                core_stamp=stamp(scrape, "users"),
                core=core_signature(scrape),
                phisher_stamp=stamp(scrape, "phisher"),
                phisher=phisher_signature(scrape),
                up_agrees=scrape.up() == float(all(sources_up)),
            )
        )


def expected_signatures(org: Org, clock: FakeClock) -> tuple[Signature, Signature]:
    with SimulatorServer(org, clock=clock) as sim:
        exporter = start_exporter(account_for(sim), clock)
        exporter.refresh()
        scrape = exporter.scrape()
        exporter.close()
    return core_signature(scrape), phisher_signature(scrape)


@contextmanager
def running(threads: list[threading.Thread]) -> Iterator[None]:
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        for thread in threads:
            thread.join(JOIN_SECONDS)
        assert not any(thread.is_alive() for thread in threads)


@pytest.fixture
def prompt_thread_switches() -> Iterator[None]:
    """Let the refresher's I/O thread take the GIL back within 1 ms: with the default
    5 ms, CPU-bound scrapers make each of its requests wait, and the test takes 10 s."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


@pytest.mark.usefixtures("prompt_thread_switches")
def test_scrapes_during_refreshes_always_see_one_whole_result() -> None:
    orgs = {name: make_org(spec) for name, spec in ORGS.items()}
    expected = {name: expected_signatures(org, FakeClock(START)) for name, org in orgs.items()}
    assert expected["A"][0] != expected["B"][0] and expected["A"][1] != expected["B"][1]
    clock = FakeClock(START)
    with SimulatorServer(orgs["A"], clock=clock) as sim:
        exporter = start_exporter(account_for(sim), clock)
        refresher = Refresher(exporter, sim, orgs)
        refresher.served_core[0.0] = refresher.served_phisher[0.0] = "A"
        exporter.refresh()
        refresher.served_core[_last_success(exporter, "users")] = "A"
        refresher.served_phisher[_last_success(exporter, "phisher")] = "A"
        seen: list[list[Observation]] = [[] for _ in range(SCRAPERS)]
        threads = [threading.Thread(target=refresher.run, name="refresher")] + [
            threading.Thread(target=scrape_until, args=(exporter, refresher.done, mine))
            for mine in seen
        ]
        with running(threads):
            pass
        exporter.close()

    observations = [observation for mine in seen for observation in mine]
    print(f"concurrency: {len(observations)} scrapes during {CYCLES} refresh rounds")
    assert len(observations) >= SCRAPERS, "the scrapers ran during the refreshes"
    assert len(refresher.served_core) == CYCLES + 2
    for observation in observations:
        assert observation.up_agrees
        assert observation.core_stamp is not None and observation.phisher_stamp is not None
        core_org = refresher.served_core[observation.core_stamp]
        phisher_org = refresher.served_phisher[observation.phisher_stamp]
        assert observation.core == expected[core_org][0], (core_org, observation)
        assert observation.phisher == expected[phisher_org][1], (phisher_org, observation)
    served = {refresher.served_core[o.core_stamp] for o in observations if o.core_stamp}
    assert served == {"A", "B"}, "scrapes saw both orgs"


def test_scrapes_never_wait_for_a_refresh_stalled_in_a_request(org: Org, clock: FakeClock) -> None:
    with SimulatorServer(org, clock=clock) as sim:
        exporter = start_exporter(account_for(sim), clock, read_timeout=30.0)
        exporter.refresh()
        healthy = exporter.scrape()
        sim.set_faults([Fault("timeout", "/v1/training/enrollments", hold_seconds=60)])
        sim.reset_counts()
        stalled = threading.Thread(target=exporter.runtime.refresher.refresh_core)
        stalled.start()
        try:
            _wait_for(lambda: sim.request_counts().get("/v1/training/enrollments", 0) > 0)
            latencies: list[float] = []
            scrapes: list[Scrape] = []
            for _ in range(50):
                started = time.monotonic()
                scrapes.append(exporter.scrape())
                latencies.append(time.monotonic() - started)
            assert stalled.is_alive(), "the refresh was still stalled during the scrapes"
        finally:
            sim.stop()  # releases the held request; the refresh then fails fast
            stalled.join(JOIN_SECONDS)
        exporter.close()
    assert not stalled.is_alive()
    print(f"stalled refresh: slowest of {len(latencies)} scrapes {max(latencies) * 1000:.1f} ms")
    assert max(latencies) < SCRAPE_SECONDS, latencies
    assert all(scrape.kris() == healthy.kris() for scrape in scrapes)
    assert all(scrape.up() == 1 for scrape in scrapes), "nothing published mid-refresh"


def _wait_for(condition: object, timeout: float = 10.0) -> None:
    """Poll a condition (not a sleep: it returns as soon as the condition holds)."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        pause.wait(0.005)
