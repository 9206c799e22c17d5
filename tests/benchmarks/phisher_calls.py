"""PhishER calls per day at default settings, for an org receiving 1,000 reports a week.

    python -m tests.benchmarks.phisher_calls [--reports-per-week N] [--days N]

The real scheduler runs the real exporter on a fake clock against the simulator, whose
PhishER receives a steady stream of reports (`generate_report_stream`: HIGH/CRITICAL
triaged within hours, many LOW and unclassified reports left open for good) starting 35
days before the exporter does, so the first poll has a full 30-day horizon to list.
Every PhishER request is counted by the refresh that sent it: the hourly look-back
listing, and the unresolved-message poll's two kinds (reports since the last poll;
tracked messages re-read by id). The first day holds the cold start; the others are
what a running exporter spends.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kb4_exporter.config.secrets import Secret
from kb4_exporter.config.settings import AccountConfig, PhisherConfig, Settings
from kb4_exporter.refresh.scheduler import AccountScheduler
from kb4_exporter.refresh.wiring import build_runtime
from kb4_exporter.simulator import Org, OrgSpec, PacingLimits, SimulatorServer, generate_org
from kb4_exporter.simulator.phisher_data import generate_report_stream

DAY = 86400.0
START = 1_800_000_000.0
# Reports from this long before the exporter starts: more than the 30-day horizon.
HISTORY_DAYS = 35
KINDS = ("look-back listing", "poll: new reports", "poll: by id")


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


@dataclass(frozen=True)
class DailyCalls:
    by_day: tuple[Counter[str], ...]
    open_messages: int  # tracked as unresolved at the end

    def steady_average(self) -> float:
        """Calls per day after the first (cold) day."""
        later = self.by_day[1:]
        return sum(sum(day.values()) for day in later) / len(later)


def count_daily_calls(reports_per_week: float, days: int, seed: int = 1) -> DailyCalls:
    base = generate_org(OrgSpec(users=100, seed=seed), START)
    stream = generate_report_stream(
        seed, START - HISTORY_DAYS * DAY, START + (days + 1) * DAY, reports_per_week, base.users
    )
    org = Org(now=START, account=base.account, users=base.users, phisher_messages=stream)
    clock = FakeClock(START)
    by_day: list[Counter[str]] = [Counter() for _ in range(days)]
    with SimulatorServer(org, limits=PacingLimits(daily_budget=0), clock=clock) as simulator:
        account = AccountConfig(
            name="bench",
            region="us",
            base_url=simulator.base_url,
            api_token=Secret.inline(simulator.token),
            phisher=PhisherConfig(simulator.phisher_url, Secret.inline(simulator.phisher_token)),
        )
        settings = Settings(accounts=(account,))  # every interval at its default
        runtime = build_runtime(account, settings, clock=clock, sleep=clock.advance)
        refresher = runtime.refresher
        phisher = refresher.phisher
        assert phisher is not None
        task = [""]

        def labelled(kind: str, refresh: Callable[[], bool]) -> Callable[[], bool]:
            def run() -> bool:
                task[0] = kind
                return refresh()

            return run

        refresher.refresh_phisher = labelled("look-back", refresher.refresh_phisher)  # type: ignore[method-assign]
        refresher.refresh_phisher_unresolved = labelled(  # type: ignore[method-assign]
            "poll", refresher.refresh_phisher_unresolved
        )
        post_json = phisher.session.post_json

        def counted(path: str, body: Any) -> Any:
            day = int((clock() - START) // DAY)
            if day < days:
                query = body["variables"]["query"]
                if task[0] == "look-back":
                    by_day[day]["look-back listing"] += 1
                elif query.startswith("id:"):
                    by_day[day]["poll: by id"] += 1
                else:
                    by_day[day]["poll: new reports"] += 1
            return post_json(path, body)

        phisher.session.post_json = counted  # type: ignore[method-assign]
        stop = threading.Event()
        end = START + days * DAY

        def wait(seconds: float) -> bool:
            if clock() + seconds >= end:
                stop.set()
                return True
            clock.advance(seconds)
            return False

        scheduler = AccountScheduler(
            runtime,
            refresh_interval=settings.refresh_interval,
            phisher_interval=settings.phisher_refresh_interval,
            unresolved_interval=settings.phisher_unresolved_interval,
            clock=clock,
            stop=stop,
            wait=wait,
        )
        try:
            scheduler.run()
        finally:
            for session in runtime.sessions:
                session.close()
        tracked = refresher.results.snapshot.phisher_unresolved or ()
    return DailyCalls(tuple(by_day), len(tracked))


def render(calls: DailyCalls, reports_per_week: float) -> str:
    lines = [
        f"PhishER calls per day at default settings, {reports_per_week:,.0f} reports a week "
        "(look-back 1h, unresolved poll 5m, horizon 30d):",
        f"{'day':>5} {'total':>6}  " + "  ".join(f"{kind:>18}" for kind in KINDS),
    ]
    for number, day in enumerate(calls.by_day, start=1):
        label = f"{number}" + (" (cold)" if number == 1 else "")
        counts = "  ".join(f"{day[kind]:>18}" for kind in KINDS)
        lines.append(f"{label:>5} {sum(day.values()):>6}  {counts}")
    lines.append(f"steady state: {calls.steady_average():.0f} PhishER calls a day")
    lines.append(f"unresolved messages tracked at the end: {calls.open_messages}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.phisher_calls")
    parser.add_argument("--reports-per-week", type=float, default=1000.0)
    parser.add_argument("--days", type=int, default=4, help="simulated days (at least 2)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.days < 2 or args.reports_per_week <= 0:
        parser.error("need at least 2 days and a positive report rate")
    calls = count_daily_calls(args.reports_per_week, args.days, args.seed)
    sys.stdout.write(render(calls, args.reports_per_week))
    return 0


if __name__ == "__main__":
    sys.exit(main())
