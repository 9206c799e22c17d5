"""One benchmark run: every measurement, for each org size.

Per size: the org is generated once (for the minimum page count and the in-process
measurements); call counts and paced refresh times use an in-process simulator; the
exporter probe (timings, KRIs, /metrics, peak memory) is a fresh process per size,
against `kb4-exporter simulate` in yet another process, so neither the simulator's
memory nor its CPU is counted as the exporter's.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from kb4_exporter.simulator.org import OrgSpec, generate_org

from .call_counts import CallCounts, count_calls
from .child_module import module_command
from .exporter_probe import ProbeResult
from .minimum_pages import MinimumPages, minimum_pages
from .paced_refresh import PacedTimes, measure_paced
from .processes import run_json_child, simulator_process

PROBE_TIMEOUT = 1800.0


@dataclass(frozen=True)
class SuiteOptions:
    sizes: tuple[int, ...] = (1000, 5000, 25000)
    seed: int = 1
    latency: float = 0.05  # seconds per request, in the paced runs
    scrapers: int = 20
    scrapes: int = 100  # per scraper, saturating load
    steady_scrapes: int = 50  # per scraper, steady load
    steady_interval: float = 0.25  # seconds between one scraper's scrapes
    kri_repeats: int = 5


@dataclass(frozen=True)
class SizeResult:
    users: int
    minimum: MinimumPages
    calls: CallCounts
    paced: PacedTimes
    probe: ProbeResult


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_size(
    users: int, options: SuiteOptions, progress: Callable[[str], None] = _to_stderr
) -> SizeResult:
    org = generate_org(OrgSpec(users=users, seed=options.seed), time.time())
    minimum = minimum_pages(org, org.now)
    progress(f"[{users} users] counting API calls: cold, warm and naive refreshes")
    calls = count_calls(org)
    progress(f"[{users} users] refreshing under 4/s and 50/min on an accelerated clock")
    paced = measure_paced(org, options.latency)
    progress(f"[{users} users] exporter process: timings, KRIs, /metrics under load, memory")
    with simulator_process(users, options.seed, org.now) as simulator:
        command = module_command(
            "exporter_probe",
            f"--base-url={simulator.base_url}",
            f"--phisher-url={simulator.phisher_url}",
            f"--scrapers={options.scrapers}",
            f"--scrapes={options.scrapes}",
            f"--steady-scrapes={options.steady_scrapes}",
            f"--steady-interval={options.steady_interval}",
            f"--kri-repeats={options.kri_repeats}",
        )
        probe = ProbeResult.from_json(run_json_child(command, PROBE_TIMEOUT))
    return SizeResult(users, minimum, calls, paced, probe)


def run_suite(
    options: SuiteOptions, progress: Callable[[str], None] = _to_stderr
) -> list[SizeResult]:
    return [run_size(users, options, progress) for users in options.sizes]
