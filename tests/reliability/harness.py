"""The real exporter runtime wired to the simulator over loopback, and /metrics as data.

Tests drive what `kb4-exporter serve` runs (`build_runtime`: paced sessions, retries,
request ledger, refresher; `Exposition`: the collector behind /metrics) against
`SimulatorServer`, the fault injector. Both run on one `FakeClock`: the exporter's pacing
and back-off sleep by advancing it and the simulator's pacing windows read it, so nothing
waits on wall time except socket read timeouts, which are real by nature and kept short.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from kb4_fakes import FakeClock
from prometheus_client.parser import text_string_to_metric_families

from kb4_exporter.commands.runtimes import build_registry
from kb4_exporter.config.secrets import Secret
from kb4_exporter.config.settings import AccountConfig, PhisherConfig, Settings, UserEventsConfig
from kb4_exporter.kris.specs import KRI_SPECS
from kb4_exporter.metrics.exposition import Exposition
from kb4_exporter.refresh.wiring import AccountRuntime, build_runtime
from kb4_exporter.simulator import Org, OrgSpec, SimulatorServer, generate_org
from reliability.hostile_upstream import HostileUpstream

# The org's "now". The simulator keeps every timestamp over 2 h from a KRI boundary, so
# KRIs computed anywhere in [NOW, NOW + 2 h] are the same: tests stay inside that span.
NOW = datetime(2025, 6, 15, 9, 30, tzinfo=UTC).timestamp()
START = NOW + 60.0
ACCOUNT = "acme"
# 120 users: 587 enrollments (two pages of 500, so a repeated page is detectable), four
# PSTs whose recipients are fetched, 16 Reporting calls and one PhishER call per refresh.
ORG_SPEC = OrgSpec(users=120, seed=3, phisher_backlog=3)
# Loggers of the system under test; the simulator's own log lines are the injector's.
EXPORTER_LOGGER = "kb4_exporter"
K = TypeVar("K")
SIMULATOR_LOGGER = "kb4_exporter.simulator"


def make_org(spec: OrgSpec = ORG_SPEC) -> Org:
    return generate_org(spec, NOW)


class Scrape:
    """One /metrics exposition, parsed; samples looked up by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._samples: dict[str, list[tuple[Mapping[str, str], float]]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self._samples.setdefault(sample.name, []).append((sample.labels, sample.value))

    def series(self, name: str) -> list[tuple[Mapping[str, str], float]]:
        return list(self._samples.get(name, ()))

    def all_series(self) -> dict[str, list[tuple[Mapping[str, str], float]]]:
        """Sample name -> its (labels, value) pairs, for every sample of the exposition."""
        return {name: list(samples) for name, samples in self._samples.items()}

    def value(self, name: str, /, **labels: str) -> float | None:
        for sample_labels, value in self._samples.get(name, ()):
            if dict(sample_labels) == labels:
                return value
        return None

    def kris(self) -> dict[str, float | None]:
        """KRI slug -> exported value (None when absent)."""
        return {spec.slug: self.value(spec.metric, account=ACCOUNT) for spec in KRI_SPECS}

    def up(self) -> float | None:
        return self.value("kb4_up", account=ACCOUNT)

    def sources_down(self) -> set[str]:
        return {labels["source"] for labels, value in self.series("kb4_source_up") if not value}

    def truncated(self) -> set[str]:
        return {labels["source"] for labels, value in self.series("kb4_truncated") if value}

    def refresh_errors(self) -> dict[tuple[str, str], float]:
        """(source, reason) -> count, for the non-zero counters only."""
        return {
            (labels["source"], labels["reason"]): value
            for labels, value in self.series("kb4_refresh_errors_total")
            if value
        }

    def requests_by_code(self, api: str) -> dict[str, float]:
        return {
            labels["code"]: value
            for labels, value in self.series("kb4_api_requests_total")
            if labels["api"] == api
        }

    def last_success(self) -> dict[str, float]:
        """Source -> its last success timestamp."""
        return {
            labels["source"]: value
            for labels, value in self.series("kb4_source_last_success_timestamp_seconds")
        }


def added(after: Mapping[K, float], before: Mapping[K, float]) -> dict[K, float]:
    """What grew between two readings of some counters."""
    return {
        key: value - before.get(key, 0)
        for key, value in after.items()
        if value != before.get(key, 0)
    }


@dataclass
class Exporter:
    """One account's runtime and the /metrics renderer the daemon serves it with."""

    runtime: AccountRuntime
    clock: FakeClock
    exposition: Exposition = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.exposition = Exposition(build_registry([self.runtime]))

    def refresh(self) -> None:
        """What the scheduler runs when every task is due: core, PhishER (its look-back and
        its unresolved messages), user events (a no-op without a User Event API token),
        state file."""
        self.runtime.refresh_core()
        self.runtime.refresh_phisher()
        self.runtime.refresh_phisher_unresolved()
        self.runtime.refresh_user_events()
        self.runtime.save_state()

    def scrape(self) -> Scrape:
        """Render /metrics exactly as the HTTP server does, and parse it."""
        body = self.exposition.render(None)
        assert body.content_type.startswith("text/plain")
        return Scrape(body.data.decode("utf-8"))

    def close(self) -> None:
        for session in self.runtime.sessions:
            session.close()


def account_for(
    sim: SimulatorServer,
    *,
    token_file: Path | None = None,
    daily_budget: int | None = None,
    user_events: bool = False,
) -> AccountConfig:
    """An account on the simulator with the exporter's default pacing (4/s, 50/min);
    with `user_events`, on its User Event API too."""
    token = Secret("file", str(token_file)) if token_file else Secret.inline(sim.token)
    events = UserEventsConfig(sim.user_events_url, Secret.inline(sim.user_events_token))
    return AccountConfig(
        name=ACCOUNT,
        region="us",
        base_url=sim.base_url,
        api_token=token,
        phisher=PhisherConfig(sim.phisher_url, Secret.inline(sim.phisher_token)),
        daily_budget=daily_budget,
        user_events=events if user_events else None,
    )


def start_exporter(
    account: AccountConfig,
    clock: FakeClock,
    *,
    state_dir: Path | None = None,
    read_timeout: float = 10.0,
) -> Exporter:
    settings = Settings(accounts=(account,), state_dir=str(state_dir) if state_dir else None)
    runtime = build_runtime(
        account, settings, clock=clock, sleep=clock.sleep, read_timeout=read_timeout
    )
    return Exporter(runtime, clock)


def start_hostile_exporter(
    upstream: HostileUpstream,
    *,
    state_dir: Path | None = None,
    settings: Settings | None = None,
) -> Exporter:
    """The real runtime on a hostile upstream and its clock."""
    account = upstream.account()
    settings = replace(
        settings or Settings(accounts=()),
        accounts=(account,),
        state_dir=str(state_dir) if state_dir else None,
    )
    clock = upstream.clock
    runtime = build_runtime(account, settings, clock=clock, sleep=clock.sleep, alarm=clock.alarm)
    return Exporter(runtime, clock)


def exporter_records(
    records: Iterable[logging.LogRecord], level: int = logging.WARNING
) -> list[logging.LogRecord]:
    """Log records of the exporter at `level` or above (the simulator's are left out)."""
    return [
        record
        for record in records
        if record.levelno >= level
        and record.name.startswith(EXPORTER_LOGGER)
        and not record.name.startswith(SIMULATOR_LOGGER)
    ]


def shifted_clock(clock: FakeClock) -> tuple[Callable[[], float], Callable[[float], None]]:
    """A clock reading `clock` plus an offset, and a function that moves the offset.

    Lets the simulator's day roll over (its daily budget frees up) while the exporter's
    clock stays within the span where the org's KRIs are stable.
    """
    offset = [0.0]

    def now() -> float:
        return clock() + offset[0]

    def shift(seconds: float) -> None:
        offset[0] += seconds

    return now, shift
