"""`python -m tests.benchmarks.contracts`: complete and true at any size, under both contracts.

For each org size and each paging contract the Reporting API has had (cursor, since
2026; the legacy `page`), one cold refresh with the exporter's default settings (4
requests/s, 50/minute, no page cap, the budget of 2000 + seats) against the simulator
enforcing the same limits, on an accelerated clock. It prints, per run: every KRI equal
to the ground truth of tests/simulator_truth.py (computed from the org's raw records),
the Reporting API calls against the minimum page count, sources cut short, simulated
refresh time and the share of the daily budget spent. The org is an account three years
old: every user also has twelve past quarterly training campaigns.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass

from kb4_exporter.simulator.org import Org, OrgSpec, generate_org
from kb4_exporter.simulator.routes import PAGINATIONS
from kb4_exporter.simulator.server import PacingLimits, SimulatorServer
from tests.simulator_truth import KRI_SLUGS, expected_kris

from .accelerated_clock import AcceleratedClock
from .exporter_setup import (
    REAL_PER_MINUTE,
    REAL_PER_SECOND,
    running_exporter,
    simulator_account,
    truncated_sources,
)
from .minimum_pages import minimum_pages
from .orgs import THREE_YEARS_OF_QUARTERS

SIZES = (1000, 30000, 100000)
PHISHER_KRI = "kb4_phisher_unresolved_high_4h"


@dataclass(frozen=True)
class ContractRun:
    users: int
    contract: str
    enrollments: int
    kris_true: int  # of the ten
    wrong: tuple[str, ...]
    calls: int
    minimum: int
    truncated: tuple[str, ...]
    refresh_seconds: float  # simulated, under the real pacing limits
    budget: int | None


def run_contract(org: Org, contract: str) -> ContractRun:
    clock = AcceleratedClock(start=org.now)
    limits = PacingLimits(per_second=int(REAL_PER_SECOND), per_minute=REAL_PER_MINUTE)
    with SimulatorServer(
        org, limits=limits, clock=clock.now, sleep=clock.sleep, pagination=contract
    ) as simulator:
        account = simulator_account(simulator, paced=True)
        with running_exporter(account, clock=clock.now, sleep=clock.sleep) as runtime:
            refresher = runtime.refresher
            now = clock.now()
            refresher.refresh_phisher()
            simulator.reset_counts()
            started = clock.now()
            refresher.refresh_core()
            refresh_seconds = clock.now() - started
            calls = sum(
                n for path, n in simulator.request_counts().items() if path.startswith("/v1")
            )
            budget = runtime.sessions[0].budget_limit()
            results = refresher.results
    truth = expected_kris(org, now)
    values = {kri.spec.slug: kri.value for kri in results.kris}
    wrong = tuple(
        slug
        for slug in KRI_SLUGS
        if values[slug] is None
        or truth[slug] is None
        or not math.isclose(values[slug], truth[slug], rel_tol=1e-9, abs_tol=1e-12)
    )
    return ContractRun(
        users=len(org.users),
        contract=contract,
        enrollments=len(org.unarchived_enrollments),
        kris_true=len(KRI_SLUGS) - len(wrong),
        wrong=wrong,
        calls=calls,
        minimum=minimum_pages(org, now, contract).cold,
        truncated=truncated_sources(results),
        refresh_seconds=refresh_seconds,
        budget=budget,
    )


def render(runs: list[ContractRun]) -> str:
    lines = [
        "| users | contract | enrollments | KRIs equal to the truth | cold calls / minimum "
        "| truncated | paced refresh | share of the daily budget |",
        "|---:|---|---:|---|---:|---|---:|---:|",
    ]
    for run in runs:
        wrong = f" (wrong: {', '.join(run.wrong)})" if run.wrong else ""
        share = f"{run.calls / run.budget:.1%}" if run.budget else "-"
        lines.append(
            f"| {run.users:,} | {run.contract} | {run.enrollments:,} | {run.kris_true}/10{wrong} "
            f"| {run.calls:,} / {run.minimum:,} | {', '.join(run.truncated) or 'none'} "
            f"| {run.refresh_seconds / 60:.1f} min | {share} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.contracts")
    parser.add_argument(
        "--sizes",
        default=",".join(str(size) for size in SIZES),
        help="org sizes in users, comma-separated",
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    runs = []
    for users in (int(part) for part in args.sizes.split(",")):
        started = time.monotonic()
        spec = OrgSpec(
            users=users, seed=args.seed, training_history_quarters=THREE_YEARS_OF_QUARTERS
        )
        org = generate_org(spec, time.time())
        for contract in PAGINATIONS:
            print(f"[{users} users, {contract}] cold refresh", file=sys.stderr, flush=True)
            runs.append(run_contract(org, contract))
        print(f"[{users} users] {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    sys.stdout.write(render(runs))
    return 0 if all(not run.wrong and run.calls == run.minimum for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
