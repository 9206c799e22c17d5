"""`python -m tests.benchmarks`: run the benchmarks and print their tables and targets."""

from __future__ import annotations

import argparse
import sys

from kb4_exporter.simulator.routes import PAGINATIONS

from .report import render_report
from .suite import SuiteOptions, run_suite


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected e.g. 1000,5000,25000, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("org sizes must be positive")
    return sizes


def main(argv: list[str] | None = None) -> int:
    defaults = SuiteOptions()
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks",
        description="Benchmark the exporter against the simulated KnowBe4 API "
        "(see docs/benchmarks.md).",
    )
    parser.add_argument(
        "--sizes", type=_sizes, default=defaults.sizes, help="org sizes in users, e.g. 1000,5000"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--pagination",
        choices=PAGINATIONS,
        default=defaults.pagination,
        help="the Reporting API paging contract the simulators speak",
    )
    parser.add_argument(
        "--history-quarters",
        type=int,
        default=defaults.history_quarters,
        help="past quarterly training campaigns for every user of the large orgs",
    )
    parser.add_argument(
        "--history-from-users",
        type=int,
        default=defaults.history_from_users,
        help="orgs of at least this many users get --history-quarters of history",
    )
    parser.add_argument(
        "--latency", type=float, default=defaults.latency, help="seconds per paced request"
    )
    parser.add_argument("--scrapers", type=int, default=defaults.scrapers)
    parser.add_argument("--scrapes", type=int, default=defaults.scrapes)
    parser.add_argument("--steady-scrapes", type=int, default=defaults.steady_scrapes)
    parser.add_argument("--steady-interval", type=float, default=defaults.steady_interval)
    parser.add_argument("--kri-repeats", type=int, default=defaults.kri_repeats)
    args = parser.parse_args(argv)
    options = SuiteOptions(
        sizes=args.sizes,
        seed=args.seed,
        pagination=args.pagination,
        history_quarters=args.history_quarters,
        history_from_users=args.history_from_users,
        latency=args.latency,
        scrapers=args.scrapers,
        scrapes=args.scrapes,
        steady_scrapes=args.steady_scrapes,
        steady_interval=args.steady_interval,
        kri_repeats=args.kri_repeats,
    )
    results = run_suite(options)
    sys.stdout.write(render_report(results, options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
