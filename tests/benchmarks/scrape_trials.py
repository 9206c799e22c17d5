"""The trials behind two /metrics choices that docs/benchmarks.md reports.

`python -m tests.benchmarks.scrape_trials --users 25000 --rounds 3` prints, for one org:
1. the time to render /metrics when the results part is cached (what every scrape pays
   between refreshes), median of many renders;
2. how long the garbage collection that ends each refresh (`collections_deferred`)
   holds the interpreter, over three unpaced core refreshes;
3. the p50/p99 of the steady scrape load during a paced refresh (the benchmark's
   production scenario), alternating the interpreter switch interval the server sets
   while it runs between Python's default (5 ms) and the server's (1 ms), `--rounds`
   times each.
It runs the exporter in this process against `kb4-exporter simulate` in another.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time

from kb4_exporter import server
from kb4_exporter.config import AccountConfig
from kb4_exporter.exposition import CachedExposition
from kb4_exporter.scheduler import collections_deferred
from kb4_exporter.simulator.server import DEFAULT_PHISHER_TOKEN, DEFAULT_TOKEN

from .exporter_probe import during_paced_refresh
from .exporter_setup import account_config, exporter_runtime
from .processes import simulator_process
from .scrape_scenarios import ScrapeLoad

PYTHON_DEFAULT_SWITCH_INTERVAL = 0.005
RENDERS = 500
# What Prometheus asks for: OpenMetrics first.
ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=25000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with simulator_process(args.users, 1, time.time()) as sim:

        def account(paced: bool) -> AccountConfig:
            return account_config(
                base_url=sim.base_url,
                phisher_url=sim.phisher_url,
                token=DEFAULT_TOKEN,
                phisher_token=DEFAULT_PHISHER_TOKEN,
                paced=paced,
            )

        with tempfile.TemporaryDirectory(prefix="kb4-trials-") as state_dir:
            runtime = exporter_runtime(
                account(paced=False), clock=time.time, sleep=time.sleep, state_dir=state_dir
            )
            runtime.refresher.refresh_core()
            runtime.refresher.refresh_phisher()
            exposition = CachedExposition(lambda: [runtime.view()])
            exposition.render(ACCEPT)
            renders = []
            for _ in range(RENDERS):
                started = time.perf_counter()
                exposition.render(ACCEPT)
                renders.append(time.perf_counter() - started)
            print(f"render with the results part cached: {statistics.median(renders) * 1e3:.2f} ms")
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
            steady = ScrapeLoad(20, 50, 0.25)
            for _ in range(args.rounds):
                for interval in (PYTHON_DEFAULT_SWITCH_INTERVAL, server.SCRAPE_SWITCH_INTERVAL):
                    chosen = server.SCRAPE_SWITCH_INTERVAL
                    # The server lowers the interval to its constant while it runs.
                    server.SCRAPE_SWITCH_INTERVAL = interval
                    sys.setswitchinterval(interval)
                    try:
                        load = during_paced_refresh(runtime, account(paced=True), steady)
                    finally:
                        server.SCRAPE_SWITCH_INTERVAL = chosen
                    print(
                        f"switch interval {interval * 1e3:.0f} ms: paced-refresh scrapes "
                        f"p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms"
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
