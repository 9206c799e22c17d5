"""One benchmark run: every measurement, for each org size.

Per size: the org is generated once (for the minimum page count and the in-process
measurements); call counts and paced refresh times use an in-process simulator; the
exporter probe (timings, KRIs, /metrics, peak memory) is a fresh process per size,
against `kb4-exporter simulate` in yet another process, so neither the simulator's
memory nor its CPU is counted as the exporter's. Every simulator serves the same org
(same seed, size, history and `now`) under the same paging contract.
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
from .orgs import CONTRACT, THREE_YEARS_OF_QUARTERS
from .paced_refresh import PacedTimes, measure_paced
from .processes import run_json_child, simulator_process

# A 100,000-user org with three years of enrollments takes the probe many minutes on a
# loaded machine (each unpaced refresh reads 1.3 million enrollments); this bounds a hang.
PROBE_TIMEOUT = 3 * 3600.0


@dataclass(frozen=True)
class SuiteOptions:
    sizes: tuple[int, ...] = (1000, 5000, 25000, 100000)
    seed: int = 1
    pagination: str = CONTRACT
    # Orgs of at least `history_from_users` users are accounts three years old.
    history_quarters: int = THREE_YEARS_OF_QUARTERS
    history_from_users: int = 100000
    latency: float = 0.05  # seconds per request, in the paced runs
    scrapers: int = 20
    scrapes: int = 100  # per scraper, saturating load
    steady_scrapes: int = 50  # per scraper, steady load
    steady_interval: float = 0.25  # seconds between one scraper's scrapes
    kri_repeats: int = 5

    def history_of(self, users: int) -> int:
        """Past quarterly training campaigns every user of an org this size has."""
        return self.history_quarters if users >= self.history_from_users else 0


@dataclass(frozen=True)
class SizeResult:
    users: int
    history_quarters: int
    enrollments: int  # of non-archived users: what the enrollments listing returns
    minimum: MinimumPages
    calls: CallCounts
    paced: PacedTimes
    probe: ProbeResult


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_size(
    users: int, options: SuiteOptions, progress: Callable[[str], None] = _to_stderr
) -> SizeResult:
    history = options.history_of(users)
    spec = OrgSpec(users=users, seed=options.seed, training_history_quarters=history)
    org = generate_org(spec, time.time())
    contract = options.pagination
    minimum = minimum_pages(org, org.now, contract)
    progress(f"[{users} users] counting API calls: cold, warm and naive refreshes")
    calls = count_calls(org, contract)
    progress(f"[{users} users] refreshing under 4/s and 50/min on an accelerated clock")
    paced = measure_paced(org, options.latency, contract)
    progress(f"[{users} users] exporter process: timings, KRIs, /metrics under load, memory")
    with simulator_process(
        users, options.seed, org.now, pagination=contract, history_quarters=history
    ) as simulator:
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
    if probe.cold_calls != calls.cold.total:
        progress(
            f"[{users} users] WARNING: the probe's cold refresh made {probe.cold_calls} calls, "
            f"the in-process one {calls.cold.total}: the two simulators serve different orgs"
        )
    enrollments = len(org.unarchived_enrollments)
    return SizeResult(users, history, enrollments, minimum, calls, paced, probe)


def run_suite(
    options: SuiteOptions, progress: Callable[[str], None] = _to_stderr
) -> list[SizeResult]:
    return [run_size(users, options, progress) for users in options.sizes]
