"""The benchmark's tables (Markdown, readable as plain text) and its targets.

Targets are reported as PASS or FAIL; nothing here fails a run on a number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .latency_stats import LatencySummary
from .suite import SizeResult, SuiteOptions

Check = tuple[bool, str]  # (passed, what was measured)

WARM_RATIO_USERS = 5000
WARM_RATIO_LIMIT = 0.40
SCRAPE_P99_LIMIT_MS = 10.0


@dataclass(frozen=True)
class ResourceLimits:
    """Peak RSS and KRI computation targets for one org size."""

    users: int
    peak_rss_bytes: int
    kri_seconds: float  # KRIs + breakdowns


RESOURCE_LIMITS = (
    ResourceLimits(25000, 150 * 10**6, 1.0),
    # An account three years old (see SuiteOptions.history_from_users).
    ResourceLimits(100000, 256 * 10**6, 2.0),
)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)]


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.1f} s"


def _mb(size: int | None) -> str:
    return "n/a" if size is None else f"{size / 10**6:.0f} MB"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} %" if whole else "n/a"


def org_lines(results: Sequence[SizeResult], options: SuiteOptions) -> list[str]:
    lines = [
        f"Simulated orgs (seed {options.seed}); Reporting API listings page by "
        f"{options.pagination}."
    ]
    for r in results:
        history = (
            f", {r.history_quarters} past quarterly training campaigns for every user "
            f"(an account {r.history_quarters / 4:g} years old)"
            if r.history_quarters
            else ""
        )
        lines.append(f"- {r.users:,} users: {r.enrollments:,} enrollments{history}")
    return lines


def call_table(results: Sequence[SizeResult]) -> list[str]:
    header = (
        "users",
        "cold",
        "min (cold)",
        "warm",
        "min (warm)",
        "naive",
        "warm/naive",
        "recipients warm/naive",
        "PhishER (min)",
        "truncated",
    )
    rows = [
        (
            f"{r.users:,}",
            str(r.calls.cold.total),
            str(r.minimum.cold),
            str(r.calls.warm.total),
            str(r.minimum.warm),
            str(r.calls.naive.total),
            _pct(r.calls.warm.total, r.calls.naive.total),
            f"{r.calls.warm.recipients}/{r.calls.naive.recipients} = "
            + _pct(r.calls.warm.recipients, r.calls.naive.recipients),
            f"{r.calls.phisher} ({r.minimum.phisher})",
            ", ".join(sorted({*r.calls.truncated, *r.probe.truncated})) or "none",
        )
        for r in results
    ]
    return _table(header, rows)


def time_table(results: Sequence[SizeResult]) -> list[str]:
    header = (
        "users",
        "cold, paced (simulated)",
        "warm, paced (simulated)",
        "429s",
        "cold, unpaced (real): calls",
        "warm, unpaced (real): calls",
    )
    rows = [
        (
            f"{r.users:,}",
            _duration(r.paced.cold_seconds),
            _duration(r.paced.warm_seconds),
            str(r.paced.throttled),
            f"{_duration(r.probe.cold_seconds)}: {r.probe.cold_calls}",
            f"{_duration(r.probe.warm_seconds)}: {r.probe.warm_calls}",
        )
        for r in results
    ]
    return _table(header, rows)


def resource_table(results: Sequence[SizeResult]) -> list[str]:
    header = ("users", "peak RSS", "RSS at start-up", "KRIs", "breakdowns", "KRIs + breakdowns")
    rows = [
        (
            f"{r.users:,}",
            _mb(r.probe.peak_rss_bytes),
            _mb(r.probe.startup_rss_bytes),
            _ms(r.probe.kris_seconds),
            _ms(r.probe.breakdowns_seconds),
            _ms(r.probe.kris_seconds + r.probe.breakdowns_seconds),
        )
        for r in results
    ]
    return _table(header, rows)


def scrape_table(results: Sequence[SizeResult]) -> list[str]:
    header = (
        "users",
        "idle, saturated: scrapes/s",
        "idle, steady: p50 / p99",
        "stress, saturated: p50 / p99",
        "scrapes/s",
        "stress, steady: p50 / p99",
        "paced refresh, steady: p50 / p99",
        "stress refreshes",
        "body (gzip)",
    )
    rows = []
    for r in results:
        p = r.probe
        rows.append(
            (
                f"{r.users:,}",
                f"{p.idle.per_second:,.0f}",
                _percentiles(p.idle_steady),
                _percentiles(p.stress_saturated),
                f"{p.stress_saturated.per_second:,.0f}",
                _percentiles(p.stress_steady),
                _percentiles(p.paced_steady),
                str(p.stress_refreshes),
                f"{p.idle.body_bytes / 1000:.1f} kB",
            )
        )
    return _table(header, rows)


def _percentiles(summary: LatencySummary) -> str:
    return f"{summary.p50_ms:.1f} / {summary.p99_ms:.1f} ms"


@dataclass(frozen=True)
class Target:
    description: str
    users: int | None  # None: checked at every size
    check: Callable[[SizeResult], Check]


def targets(options: SuiteOptions) -> tuple[Target, ...]:
    def warm_ratio(r: SizeResult) -> Check:
        ratio = r.calls.warm.total / r.calls.naive.total
        return (
            ratio <= WARM_RATIO_LIMIT,
            f"{r.calls.warm.total}/{r.calls.naive.total} = {ratio:.0%}",
        )

    def cold_minimum(r: SizeResult) -> Check:
        extra = r.calls.cold.total - r.minimum.cold
        return extra == 0, f"{r.calls.cold.total} vs {r.minimum.cold} ({extra:+d})"

    def peak_rss(limit: int) -> Callable[[SizeResult], Check]:
        def check(r: SizeResult) -> Check:
            return r.probe.peak_rss_bytes <= limit, _mb(r.probe.peak_rss_bytes)

        return check

    def kri_time(limit: float) -> Callable[[SizeResult], Check]:
        def check(r: SizeResult) -> Check:
            seconds = r.probe.kris_seconds + r.probe.breakdowns_seconds
            return seconds <= limit, _ms(seconds)

        return check

    def p99(pick: Callable[[SizeResult], LatencySummary]) -> Callable[[SizeResult], Check]:
        def check(r: SizeResult) -> Check:
            value = pick(r).p99_ms
            return value <= SCRAPE_P99_LIMIT_MS, f"{value:.1f} ms"

        return check

    scrapers = options.scrapers
    every = f"{options.steady_interval * 1000:.0f} ms"
    resources = []
    for limits in RESOURCE_LIMITS:
        resources += [
            Target(
                f"peak RSS <= {_mb(limits.peak_rss_bytes)}",
                limits.users,
                peak_rss(limits.peak_rss_bytes),
            ),
            Target(
                f"KRI computation (KRIs + breakdowns) <= {limits.kri_seconds:g} s",
                limits.users,
                kri_time(limits.kri_seconds),
            ),
        ]
    return (
        Target("warm refresh <= 40 % of the naive strategy's calls", WARM_RATIO_USERS, warm_ratio),
        Target("cold refresh makes exactly the minimum page count", None, cold_minimum),
        *resources,
        Target(
            f"/metrics p99 <= 10 ms during a paced refresh, {scrapers} scrapers each every {every}",
            None,
            p99(lambda r: r.probe.paced_steady),
        ),
        Target(
            f"/metrics p99 <= 10 ms under stress, {scrapers} scrapers each every {every}",
            None,
            p99(lambda r: r.probe.stress_steady),
        ),
        Target(
            f"/metrics p99 <= 10 ms under stress, {scrapers} scrapers back to back",
            None,
            p99(lambda r: r.probe.stress_saturated),
        ),
    )


def target_lines(results: Sequence[SizeResult], options: SuiteOptions) -> list[str]:
    lines = []
    for target in targets(options):
        checked = [r for r in results if target.users is None or r.users == target.users]
        if not checked:
            lines.append(f"- n/a  {target.description}: needs the {target.users:,}-user org")
            continue
        for r in checked:
            passed, measured = target.check(r)
            verdict = "PASS" if passed else "FAIL"
            lines.append(f"- {verdict} {target.description} ({r.users:,} users): {measured}")
    return lines


def render_report(results: Sequence[SizeResult], options: SuiteOptions) -> str:
    sections = [
        ("Orgs", org_lines(results, options)),
        ("API calls per core refresh (Reporting API)", call_table(results)),
        (
            f"Refresh wall time (paced: 4/s, 50/min, {options.latency * 1000:.0f} ms latency)",
            time_table(results),
        ),
        ("Exporter process: memory and KRI computation", resource_table(results)),
        (f"/metrics with {options.scrapers} concurrent scrapers", scrape_table(results)),
        ("Targets", target_lines(results, options)),
    ]
    return "\n\n".join(f"### {title}\n\n" + "\n".join(lines) for title, lines in sections) + "\n"
