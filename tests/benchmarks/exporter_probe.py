"""The exporter process under measurement, run fresh for each org size.

`python -m tests.benchmarks.exporter_probe --base-url URL --phisher-url URL` builds the
real exporter runtime (default page caps: none; pacing off; a state dir as in
production) against a simulator running in another process, and measures, in order:
1. a cold refresh (core, then PhishER) and a warm core refresh, on the real clock, each
   as the daemon's scheduler runs it (automatic garbage collection deferred to its end,
   state saved after it), with the Reporting API calls each made;
2. KRI computation (`compute_kris` and `compute_breakdowns`) on the resulting snapshot;
3. /metrics as `kb4-exporter serve` answers it (the aiohttp `ExporterServer` rendering
   the daemon's registry, process and Python metrics included, on every scrape),
   scraped from a separate process:
   - with no refresh running: saturated (scrapers back to back), then steady;
   - stress: saturated, then at a steady interval, while unpaced core refreshes run
     back to back (each saving state, as the daemon does), so the refresh keeps the
     interpreter busy and every API call changes a counter on /metrics;
   - as in production: at a steady interval while a core refresh runs under the real
     pacing limits (4/s, 50/min), from the same data restored as after a restart;
4. the process's peak resident memory over all of the above.
It prints one JSON document (`ProbeResult`) on stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from kb4_exporter.commands.runtimes import interruptible_sleep
from kb4_exporter.config.settings import AccountConfig, Settings
from kb4_exporter.kris.breakdowns import BreakdownLimits, compute_breakdowns
from kb4_exporter.kris.values import compute_kris
from kb4_exporter.refresh.scheduler import collections_deferred
from kb4_exporter.refresh.wiring import AccountRuntime

from .exporter_setup import account_config, running_exporter, truncated_sources
from .latency_stats import LatencySummary
from .memory import current_rss_bytes, peak_rss_bytes
from .scrape_scenarios import ScrapeLoad, idle_load, loads_during, metrics_server


@dataclass(frozen=True)
class ProbeResult:
    startup_rss_bytes: int | None  # after imports, before any data
    peak_rss_bytes: int
    cold_seconds: float  # core refresh, pacing off, real clock
    warm_seconds: float
    cold_calls: int  # Reporting API requests of the cold core refresh
    warm_calls: int
    kris_seconds: float  # median of several runs
    breakdowns_seconds: float
    # No refresh running: scrapers back to back, and each at a steady interval.
    idle: LatencySummary
    idle_steady: LatencySummary
    # Scrapes that started while a refresh ran (see the module docstring).
    stress_saturated: LatencySummary
    stress_steady: LatencySummary
    stress_refreshes: int
    paced_steady: LatencySummary
    truncated: tuple[str, ...]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProbeResult:
        summaries = ("idle", "idle_steady", "stress_saturated", "stress_steady", "paced_steady")
        return cls(
            **{
                **data,
                **{name: LatencySummary(**data[name]) for name in summaries},
                "truncated": tuple(data["truncated"]),
            }
        )


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _reporting_calls(runtime: AccountRuntime) -> int:
    return sum(runtime.refresher.reporting.session.stats().requests_by_code.values())


def _scheduled_core_refresh(runtime: AccountRuntime) -> tuple[float, int]:
    """A core refresh as the daemon's scheduler runs it; (seconds, Reporting API calls).
    The seconds include the collection that ends it, not the state file written after."""
    calls_before = _reporting_calls(runtime)

    def refresh() -> None:
        with collections_deferred():
            runtime.refresher.refresh_core()

    seconds = _timed(refresh)
    calls = _reporting_calls(runtime) - calls_before
    runtime.save_state()
    return seconds, calls


def _kri_seconds(runtime: AccountRuntime, settings: Settings, repeats: int) -> tuple[float, float]:
    snapshot = runtime.refresher.results.snapshot
    now = time.time()
    kris = [
        _timed(
            lambda: compute_kris(
                snapshot,
                now,
                remedial_pattern=settings.remedial_pattern,
                phisher_enabled=True,
            )
        )
        for _ in range(repeats)
    ]
    breakdowns = [
        _timed(
            lambda: compute_breakdowns(
                snapshot,
                now,
                limits=BreakdownLimits(),
                phisher_lookback=settings.phisher_lookback,
                phisher_enabled=True,
            )
        )
        for _ in range(repeats)
    ]
    return statistics.median(kris), statistics.median(breakdowns)


def _stress(
    runtime: AccountRuntime, saturating: ScrapeLoad, steady: ScrapeLoad
) -> tuple[LatencySummary, LatencySummary, int]:
    def refresh_and_save() -> None:
        # As the daemon's scheduler runs a refresh: no automatic collections meanwhile.
        with collections_deferred():
            runtime.refresher.refresh_core()
        runtime.save_state()

    with metrics_server(runtime) as port:
        (saturated, steady_summary), refreshes = loads_during(
            refresh_and_save, port, (saturating, steady)
        )
    return saturated, steady_summary, refreshes


def during_paced_refresh(
    source: AccountRuntime, account: AccountConfig, steady: ScrapeLoad
) -> LatencySummary:
    stop = threading.Event()
    with running_exporter(account, clock=time.time, sleep=interruptible_sleep(stop)) as paced:
        results = source.refresher.results
        paced.refresher.restore(results.snapshot, results.sources, source.refresher.recipient_cache)

        def paced_refresh() -> None:
            with collections_deferred():
                paced.refresher.refresh_core()

        with metrics_server(paced) as port:
            (summary,), _ = loads_during(paced_refresh, port, (steady,), stop)
    return summary


def probe(
    base_url: str,
    phisher_url: str,
    *,
    saturating: ScrapeLoad,
    steady: ScrapeLoad,
    kri_repeats: int,
) -> ProbeResult:
    startup_rss = current_rss_bytes()

    def account(paced: bool) -> AccountConfig:
        return account_config(base_url=base_url, phisher_url=phisher_url, paced=paced)

    with tempfile.TemporaryDirectory(prefix="kb4-bench-state-") as state_dir:
        with running_exporter(
            account(paced=False), clock=time.time, sleep=time.sleep, state_dir=state_dir
        ) as runtime:
            refresher = runtime.refresher
            cold, cold_calls = _scheduled_core_refresh(runtime)
            with collections_deferred():
                refresher.refresh_phisher()
            runtime.save_state()
            warm, warm_calls = _scheduled_core_refresh(runtime)
            settings = Settings(accounts=(runtime.config,))
            kris, breakdowns = _kri_seconds(runtime, settings, kri_repeats)
            with metrics_server(runtime) as port:
                idle = idle_load(port, saturating)
                idle_steady = idle_load(port, steady)
            saturated, stress_steady, refreshes = _stress(runtime, saturating, steady)
            paced_steady = during_paced_refresh(runtime, account(paced=True), steady)
        truncated = truncated_sources(refresher.results)
    return ProbeResult(
        startup_rss_bytes=startup_rss,
        peak_rss_bytes=peak_rss_bytes(),
        cold_seconds=cold,
        warm_seconds=warm,
        cold_calls=cold_calls,
        warm_calls=warm_calls,
        kris_seconds=kris,
        breakdowns_seconds=breakdowns,
        idle=idle,
        idle_steady=idle_steady,
        stress_saturated=saturated,
        stress_steady=stress_steady,
        stress_refreshes=refreshes,
        paced_steady=paced_steady,
        truncated=truncated,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--phisher-url", required=True)
    parser.add_argument("--scrapers", type=int, default=20)
    parser.add_argument("--scrapes", type=int, default=100, help="per scraper, saturating")
    parser.add_argument("--steady-scrapes", type=int, default=50, help="per scraper, steady")
    parser.add_argument("--steady-interval", type=float, default=0.25, help="seconds")
    parser.add_argument("--kri-repeats", type=int, default=5)
    args = parser.parse_args(argv)
    result = probe(
        args.base_url,
        args.phisher_url,
        saturating=ScrapeLoad(args.scrapers, args.scrapes, 0.0),
        steady=ScrapeLoad(args.scrapers, args.steady_scrapes, args.steady_interval),
        kri_repeats=args.kri_repeats,
    )
    json.dump(asdict(result), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
