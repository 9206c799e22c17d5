"""The trials behind the /metrics choices that docs/benchmarks.md reports.

`python -m tests.benchmarks.scrape_trials --users 25000 --rounds 2` prints, for one org:
1. the time to render /metrics (every scrape renders), and to gzip a new body (once per
   body), medians of many;
2. how long the garbage collection that ends each refresh (`collections_deferred`)
   holds the interpreter, over three unpaced core refreshes;
3. scrape latency at a Prometheus-like rate (two scrapers, each every 0.5 s: a
   Prometheus pair at a 15 s interval scrapes 30 times less often) while a paced refresh
   runs and while unpaced refreshes run back to back, with the interpreter's switch
   interval at Python's default (5 ms) and at 1 ms, `--rounds` times each. The 1 ms
   setting is what the previous server used; this tells whether it is still needed.
It runs the exporter in this process against `kb4-exporter simulate` in another.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

from kb4_exporter.commands.serve import build_daemon_registry
from kb4_exporter.config.settings import AccountConfig
from kb4_exporter.metrics.exposition import Exposition
from kb4_exporter.refresh.scheduler import collections_deferred
from kb4_exporter.refresh.wiring import AccountRuntime
from kb4_exporter.web.web_config_reloader import WebConfigReloader

from .exporter_probe import during_paced_refresh
from .exporter_setup import account_config, running_exporter
from .latency_stats import LatencySummary
from .orgs import CONTRACT
from .processes import simulator_process
from .scrape_scenarios import ScrapeLoad, loads_during, metrics_server

SWITCH_INTERVALS = (0.005, 0.001)
RENDERS = 200
# What Prometheus asks for: OpenMetrics first.
ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
PROMETHEUS_LIKE = ScrapeLoad(scrapers=2, scrapes=60, interval=0.5)


def _median_ms(action: Callable[[], object], times: int) -> float:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e3


def _during_unpaced_refreshes(runtime: AccountRuntime, load: ScrapeLoad) -> LatencySummary:
    def refresh() -> None:
        with collections_deferred():
            runtime.refresher.refresh_core()

    with metrics_server(runtime) as port:
        (summary,), _ = loads_during(refresh, port, (load,))
    return summary


def _line(what: str, summary: LatencySummary) -> str:
    return (
        f"{what}: {summary.scrapes} scrapes, p50 {summary.p50_ms:.1f} ms, "
        f"p99 {summary.p99_ms:.1f} ms, max {summary.max_ms:.1f} ms, "
        f"{summary.failures} failed"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=25000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    with simulator_process(args.users, 1, time.time(), pagination=CONTRACT) as sim:

        def account(paced: bool) -> AccountConfig:
            return account_config(base_url=sim.base_url, phisher_url=sim.phisher_url, paced=paced)

        with (
            tempfile.TemporaryDirectory(prefix="kb4-trials-") as state_dir,
            running_exporter(
                account(paced=False), clock=time.time, sleep=time.sleep, state_dir=state_dir
            ) as runtime,
        ):
            runtime.refresher.refresh_core()
            runtime.refresher.refresh_phisher()
            metrics = Exposition(build_daemon_registry([runtime], WebConfigReloader(None)))
            body = metrics.render(ACCEPT).data
            render_ms = _median_ms(lambda: metrics.render(ACCEPT), RENDERS)
            gzip_ms = _median_ms(lambda: gzip.compress(body, compresslevel=6, mtime=0), RENDERS)
            print(
                f"render /metrics ({len(body) / 1000:.0f} kB): {render_ms:.2f} ms; "
                f"gzip of a new body: {gzip_ms:.2f} ms"
            )
            collections = []
            for _ in range(3):
                deferred = collections_deferred()
                deferred.__enter__()
                runtime.refresher.refresh_core()
                started = time.perf_counter()
                deferred.__exit__(None, None, None)  # collects, freezes, re-enables
                collections.append((time.perf_counter() - started) * 1e3)
            print(
                "end-of-refresh garbage collection: "
                + ", ".join(f"{ms:.0f}" for ms in collections)
                + " ms"
            )
            default = sys.getswitchinterval()
            try:
                for _ in range(args.rounds):
                    for interval in SWITCH_INTERVALS:
                        sys.setswitchinterval(interval)
                        paced = during_paced_refresh(runtime, account(paced=True), PROMETHEUS_LIKE)
                        stress = _during_unpaced_refreshes(runtime, PROMETHEUS_LIKE)
                        label = f"switch interval {interval * 1e3:.0f} ms"
                        print(_line(f"{label}, paced refresh", paced))
                        print(_line(f"{label}, unpaced refreshes", stress))
            finally:
                sys.setswitchinterval(default)
    return 0


if __name__ == "__main__":
    sys.exit(main())
