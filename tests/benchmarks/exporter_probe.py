"""The exporter process under measurement, run fresh for each org size.

`python -m tests.benchmarks.exporter_probe --base-url URL --phisher-url URL` builds the
real exporter runtime (raised page caps, pacing off, a state dir as in production)
against a simulator running in another process, and measures, in order:
1. a cold refresh (core, then PhishER) and a warm core refresh, on the real clock;
2. KRI computation (`compute_kris` and `compute_breakdowns`) on the resulting snapshot;
3. /metrics from the real `ExporterServer` with concurrent scrapers in a separate
   process: saturating it while idle, then, while core refreshes run back to back,
   saturating it and scraping at a steady interval;
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

from kb4_exporter.breakdowns import BreakdownLimits, compute_breakdowns
from kb4_exporter.config import Settings
from kb4_exporter.daemon import build_registry, metrics_renderer
from kb4_exporter.kris import compute_kris
from kb4_exporter.runtime import AccountRuntime
from kb4_exporter.server import ExporterServer, LandingPage
from kb4_exporter.simulator.server import DEFAULT_PHISHER_TOKEN, DEFAULT_TOKEN

from .child_module import module_command
from .exporter_setup import account_config, exporter_runtime, truncated_sources
from .latency_stats import LatencySummary, load_seconds, started_during
from .memory import current_rss_bytes, peak_rss_bytes
from .processes import run_json_child

SCRAPE_LOAD_TIMEOUT = 600.0


@dataclass(frozen=True)
class ProbeResult:
    startup_rss_bytes: int | None  # after imports, before any data
    peak_rss_bytes: int
    cold_seconds: float  # core refresh, pacing off, real clock
    warm_seconds: float
    kris_seconds: float  # median of several runs
    breakdowns_seconds: float
    idle: LatencySummary  # /metrics saturated, no refresh running
    # Scrapes that started while a refresh ran: saturating, and at a steady interval.
    saturated: LatencySummary
    steady: LatencySummary
    refreshes_during_load: int
    truncated: tuple[str, ...]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProbeResult:
        return cls(
            **{
                **data,
                "idle": LatencySummary(**data["idle"]),
                "saturated": LatencySummary(**data["saturated"]),
                "steady": LatencySummary(**data["steady"]),
                "truncated": tuple(data["truncated"]),
            }
        )


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


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


@dataclass(frozen=True)
class ScrapeLoad:
    scrapers: int
    scrapes: int  # per scraper
    interval: float  # seconds between a scraper's scrapes; 0: back to back

    def run(self, port: int) -> dict[str, Any]:
        command = module_command(
            "scrape_load",
            f"--port={port}",
            f"--scrapers={self.scrapers}",
            f"--scrapes={self.scrapes}",
            f"--interval={self.interval}",
        )
        result: dict[str, Any] = run_json_child(command, SCRAPE_LOAD_TIMEOUT)
        return result


def _summary(load: dict[str, Any], samples: list[tuple[float, float]]) -> LatencySummary:
    everything = [(start, latency) for start, latency in load["samples"]]
    return LatencySummary.of(
        samples,
        failures=load["failures"],
        body_bytes=load["body_bytes"],
        load_seconds=load_seconds(everything),
    )


def _scrapes_during_refreshes(
    runtime: AccountRuntime, port: int, loads: tuple[ScrapeLoad, ...]
) -> tuple[list[LatencySummary], int]:
    """Each load in turn, under core refreshes back to back (each saving state, as the
    daemon does); only the scrapes that started while a refresh ran are summarised."""
    intervals: list[tuple[float, float]] = []
    done = threading.Event()

    def refresh_loop() -> None:
        while not done.is_set():
            started = time.monotonic()
            runtime.refresher.refresh_core()
            intervals.append((started, time.monotonic()))
            runtime.save_state()

    thread = threading.Thread(target=refresh_loop, name="bench-refresh", daemon=True)
    thread.start()
    try:
        results = [load.run(port) for load in loads]
    finally:
        done.set()
        thread.join()
    summaries = []
    for result in results:
        during = [(s, lat) for s, lat in result["samples"] if started_during(s, intervals)]
        if not during:
            raise RuntimeError("no scrape started while a refresh was running")
        summaries.append(_summary(result, during))
    return summaries, len(intervals)


def probe(
    base_url: str,
    phisher_url: str,
    *,
    saturating: ScrapeLoad,
    steady: ScrapeLoad,
    kri_repeats: int,
) -> ProbeResult:
    startup_rss = current_rss_bytes()
    with tempfile.TemporaryDirectory(prefix="kb4-bench-state-") as state_dir:
        account = account_config(
            base_url=base_url,
            phisher_url=phisher_url,
            token=DEFAULT_TOKEN,
            phisher_token=DEFAULT_PHISHER_TOKEN,
            paced=False,
        )
        runtime = exporter_runtime(account, clock=time.time, sleep=time.sleep, state_dir=state_dir)
        refresher = runtime.refresher
        cold = _timed(refresher.refresh_core)
        refresher.refresh_phisher()
        runtime.save_state()
        warm = _timed(refresher.refresh_core)
        runtime.save_state()
        kris, breakdowns = _kri_seconds(runtime, Settings(accounts=(account,)), kri_repeats)
        server = ExporterServer(
            listen_address="127.0.0.1:0",
            render_metrics=metrics_renderer(build_registry([runtime])),
            is_ready=lambda: refresher.results.ready,
            landing_page=LandingPage("kb4_exporter benchmark", "bench", "benchmark"),
        )
        server.start()
        try:
            idle_load = saturating.run(server.port)
            idle = _summary(idle_load, [(s, lat) for s, lat in idle_load["samples"]])
            (saturated, steady_summary), refreshes = _scrapes_during_refreshes(
                runtime, server.port, (saturating, steady)
            )
        finally:
            server.shutdown()
            for session in runtime.sessions:
                session.close()
        truncated = truncated_sources(refresher.results)
    return ProbeResult(
        startup_rss_bytes=startup_rss,
        peak_rss_bytes=peak_rss_bytes(),
        cold_seconds=cold,
        warm_seconds=warm,
        kris_seconds=kris,
        breakdowns_seconds=breakdowns,
        idle=idle,
        saturated=saturated,
        steady=steady_summary,
        refreshes_during_load=refreshes,
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
