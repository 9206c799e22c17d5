"""/metrics under load: the real server over a runtime, scraped while refreshes run.

The scrapers run in their own process (`scrape_load`); only the scrapes that started
while a refresh was running are summarised.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kb4_exporter.api.errors import Interrupted
from kb4_exporter.commands.serve import build_daemon_registry, waiting_for
from kb4_exporter.metrics.exposition import Exposition
from kb4_exporter.refresh.wiring import AccountRuntime
from kb4_exporter.web.pages import LandingPage
from kb4_exporter.web.server import ExporterServer
from kb4_exporter.web.web_config_reloader import WebConfigReloader

from .child_module import module_command
from .latency_stats import LatencySummary, load_seconds, started_during
from .processes import run_json_child

SCRAPE_LOAD_TIMEOUT = 600.0
# An unpaced refresh of 100k users and 1.3 million enrollments takes minutes on a loaded
# machine, and the one running when the loads end is waited for; a paced one stops at its
# next wait.
REFRESH_STOP_TIMEOUT = 1800.0


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


@contextmanager
def metrics_server(runtime: AccountRuntime) -> Iterator[int]:
    """The server `kb4-exporter serve` runs, over one runtime and without a web config:
    its registry (the account, the web config's state, process and Python metrics)
    rendered on every scrape. Yields the port."""
    web_config = WebConfigReloader(None)
    server = ExporterServer(
        listen_address="127.0.0.1:0",
        render_metrics=Exposition(build_daemon_registry([runtime], web_config)).render,
        readiness=lambda: waiting_for([runtime]),
        landing_page=LandingPage("kb4_exporter benchmark", "bench", "benchmark"),
        web_config=web_config,
    )
    server.start()
    try:
        yield server.port
    finally:
        server.shutdown()


def summarise(load: dict[str, Any], samples: list[tuple[float, float]]) -> LatencySummary:
    everything = [(start, latency) for start, latency in load["samples"]]
    return LatencySummary.of(
        samples,
        failures=load["failures"],
        body_bytes=load["body_bytes"],
        load_seconds=load_seconds(everything),
    )


def idle_load(port: int, load: ScrapeLoad) -> LatencySummary:
    result = load.run(port)
    return summarise(result, [(start, latency) for start, latency in result["samples"]])


def loads_during(
    refresh: Callable[[], object],
    port: int,
    loads: tuple[ScrapeLoad, ...],
    stop: threading.Event | None = None,
) -> tuple[list[LatencySummary], int]:
    """Each load in turn while `refresh` runs back to back; (summaries, refreshes run).

    `stop` is set when the loads are done; a refresh that sleeps through it (a paced
    one) is interrupted, one that does not is waited for.
    """
    stop = stop or threading.Event()
    intervals: list[tuple[float, float]] = []

    def refresh_loop() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                refresh()
            except Interrupted:
                return
            finally:
                intervals.append((started, time.monotonic()))

    thread = threading.Thread(target=refresh_loop, name="bench-refresh", daemon=True)
    thread.start()
    try:
        results = [load.run(port) for load in loads]
    finally:
        stop.set()
        thread.join(REFRESH_STOP_TIMEOUT)
    summaries = []
    for result in results:
        during = [(s, lat) for s, lat in result["samples"] if started_during(s, intervals)]
        if not during:
            raise RuntimeError("no scrape started while a refresh was running")
        summaries.append(summarise(result, during))
    return summaries, len(intervals)
