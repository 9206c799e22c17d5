"""Prometheus collector over the latest refresh results.

`collect()` builds fresh metric families from each account's immutable results and the
API sessions' counters; it never calls KnowBe4 and never waits for a refresh.
`describe()` lists the families without doing any work, so registering the collector
is free.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from kb4_exporter import __version__
from kb4_exporter.api.errors import REASONS
from kb4_exporter.kris.specs import KRI_SPECS, PHISHER_UNRESOLVED_HIGH_4H
from kb4_exporter.metrics.breakdown_families import CACHED, CACHED_HOURLY, BreakdownFamilies
from kb4_exporter.model.phisher import PHISHER_SEVERITIES
from kb4_exporter.refresh.results import TRUNCATABLE_SOURCES, AccountResults, SourceStatus


@dataclass(frozen=True)
class ApiUsage:
    """Counters and budget of one API session, read at scrape time."""

    api: str
    requests_by_code: Mapping[str, int]
    throttled: int
    budget_limit: int | None
    budget_remaining: int | None


@dataclass(frozen=True)
class AccountView:
    results: AccountResults
    apis: Sequence[ApiUsage]
    state_write_errors: int = 0


ViewProvider = Callable[[], Sequence[AccountView]]


def _gauge(name: str, doc: str, labels: Sequence[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def _counter(name: str, doc: str, labels: Sequence[str]) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, labels=list(labels))


def _cadence(slug: str) -> str:
    """The HELP note of a KRI: PhishER's is refreshed on the PhishER schedule."""
    return CACHED_HOURLY if slug == PHISHER_UNRESOLVED_HIGH_4H.slug else CACHED


class _Families:
    """Empty families in a fixed order; `describe()` yields them as they are."""

    def __init__(self) -> None:
        a = ("account",)
        self.kris = {
            spec.slug: _gauge(spec.metric, f"{spec.help} {_cadence(spec.slug)}", a)
            for spec in KRI_SPECS
        }
        self.kri_up = _gauge(
            "kb4_kri_up",
            "1 when the KRI could be computed from the cached data, else 0.",
            (*a, "kri"),
        )
        self.kri_sample_size = _gauge(
            "kb4_kri_sample_size",
            "Number of items (users, enrollments, PSTs, samples, groups) a KRI was computed over.",
            (*a, "kri"),
        )
        self.phisher_unresolved = _gauge(
            "kb4_phisher_unresolved_messages",
            "Unresolved (RECEIVED or IN_REVIEW) PhishER messages reported within the look-back "
            f"window, by severity. {CACHED_HOURLY}",
            (*a, "severity"),
        )
        self.phisher_oldest_unresolved = _gauge(
            "kb4_phisher_oldest_unresolved_age_seconds",
            "Seconds the oldest PhishER message of the severity still RECEIVED or IN_REVIEW "
            "has waited since it was reported, however old within "
            "--phisher.unresolved-horizon (30d by default); absent when there is none. "
            "What pages: it never ages out while a message waits. Aged at each poll of the "
            "unresolved messages (--refresh.phisher-unresolved-interval, 5m by default), "
            "also when a poll fails.",
            (*a, "severity"),
        )
        self.truncated = _gauge(
            "kb4_truncated",
            "1 when a page cap or the daily budget cut the latest fetch of the source short.",
            (*a, "source"),
        )
        self.budget_limit = _gauge(
            "kb4_api_budget_limit",
            "Daily request budget of the API (rolling 24 h window), as the exporter counts it.",
            (*a, "api"),
        )
        self.budget_remaining = _gauge(
            "kb4_api_budget_remaining",
            "Requests left in the rolling 24 h window, from the exporter's own request ledger.",
            (*a, "api"),
        )
        self.requests = _counter(
            "kb4_api_requests",
            "KnowBe4 API requests sent, by HTTP status code.",
            (*a, "api", "code"),
        )
        self.throttled = _counter(
            "kb4_api_throttled", "KnowBe4 API responses with status 429.", (*a, "api")
        )
        self.refresh_errors = _counter(
            "kb4_refresh_errors",
            "Failed refreshes of a source, by reason.",
            (*a, "source", "reason"),
        )
        self.up = _gauge(
            "kb4_up", "1 when the latest refresh of every enabled source succeeded.", a
        )
        self.source_up = _gauge(
            "kb4_source_up", "1 when the latest refresh of the source succeeded.", (*a, "source")
        )
        self.last_success = _gauge(
            "kb4_source_last_success_timestamp_seconds",
            "Unix time of the source's latest successful refresh.",
            (*a, "source"),
        )
        self.last_attempt = _gauge(
            "kb4_source_last_attempt_timestamp_seconds",
            "Unix time the source's latest refresh started.",
            (*a, "source"),
        )
        self.duration = _gauge(
            "kb4_source_refresh_duration_seconds",
            "Wall time of the source's latest refresh.",
            (*a, "source"),
        )
        self.interval = _gauge(
            "kb4_source_refresh_interval_seconds",
            "Configured refresh interval of the source.",
            (*a, "source"),
        )
        self.account_info = _gauge(
            "kb4_account_info",
            f"KnowBe4 account metadata; always 1. {CACHED}",
            (*a, "name", "subscription_level", "region"),
        )
        self.seats = _gauge("kb4_account_seats", f"Licensed seats of the account. {CACHED}", a)
        self.risk_score = _gauge(
            "kb4_account_risk_score", f"Current risk score of the account (0-100). {CACHED}", a
        )
        self.state_write_errors = _counter(
            "kb4_state_write_errors",
            "Failed writes of the account's state file (the previous file is kept).",
            a,
        )
        self.build_info = _gauge(
            "kb4_exporter_build_info", "Version of kb4_exporter; always 1.", ("version",)
        )
        self.breakdown = BreakdownFamilies()

    def all(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        yield from self.results()
        yield from self.usage()

    def usage(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        yield from (
            self.budget_limit,
            self.budget_remaining,
            self.requests,
            self.throttled,
            self.state_write_errors,
        )

    def results(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        yield from self.kris.values()
        yield from (
            self.kri_up,
            self.kri_sample_size,
            self.phisher_unresolved,
            self.phisher_oldest_unresolved,
            self.truncated,
            self.refresh_errors,
            self.up,
            self.source_up,
            self.last_success,
            self.last_attempt,
            self.duration,
            self.interval,
            self.account_info,
            self.seats,
            self.risk_score,
        )
        yield from self.breakdown.all()
        yield self.build_info


class Kb4Collector(Collector):
    """Every family: the refresh results first, then the API usage."""

    def __init__(self, views: ViewProvider) -> None:
        self._views = views

    def describe(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        return list(_Families().all())

    def collect(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        families = _Families()
        for view in self._views():
            _add_results(families, view.results)
            _add_usage(families, view)
        families.build_info.add_metric([__version__], 1)
        return list(families.all())


def _add_usage(f: _Families, view: AccountView) -> None:
    name = view.results.name
    for api in view.apis:
        if api.budget_limit is not None:
            f.budget_limit.add_metric([name, api.api], api.budget_limit)
        if api.budget_remaining is not None:
            f.budget_remaining.add_metric([name, api.api], api.budget_remaining)
        for code, count in sorted(api.requests_by_code.items()):
            f.requests.add_metric([name, api.api, code], count)
        f.throttled.add_metric([name, api.api], api.throttled)
    f.state_write_errors.add_metric([name], view.state_write_errors)


def _add_results(f: _Families, results: AccountResults) -> None:
    name = results.name
    for kri in results.kris:
        present = kri.value is not None
        f.kri_up.add_metric([name, kri.spec.slug], 1.0 if present else 0.0)
        if kri.value is not None:
            f.kris[kri.spec.slug].add_metric([name], kri.value)
            if kri.sample_size is not None:
                f.kri_sample_size.add_metric([name, kri.spec.slug], kri.sample_size)
    unresolved = results.breakdowns.phisher_unresolved
    if unresolved is not None:
        for severity in PHISHER_SEVERITIES:
            f.phisher_unresolved.add_metric([name, severity], unresolved.get(severity, 0))
    oldest = results.phisher_oldest_unresolved or {}
    for severity in PHISHER_SEVERITIES:
        if severity in oldest:
            f.phisher_oldest_unresolved.add_metric([name, severity], oldest[severity])
    enabled = results.enabled_sources()
    for source in TRUNCATABLE_SOURCES:
        if source in enabled:
            status = results.sources.get(source, SourceStatus())
            f.truncated.add_metric([name, source], 1.0 if status.truncated else 0.0)
    for source in enabled:
        for reason in REASONS:
            f.refresh_errors.add_metric(
                [name, source, reason], results.errors.get((source, reason), 0)
            )
    f.up.add_metric([name], 1.0 if results.up else 0.0)
    for source in enabled:
        status = results.sources.get(source, SourceStatus())
        f.source_up.add_metric([name, source], 1.0 if status.up else 0.0)
        if status.last_success is not None:
            f.last_success.add_metric([name, source], status.last_success)
        if status.last_attempt is not None:
            f.last_attempt.add_metric([name, source], status.last_attempt)
        if status.duration is not None:
            f.duration.add_metric([name, source], status.duration)
        interval = results.refresh_intervals.get(source)
        if interval is not None:
            f.interval.add_metric([name, source], interval)
    account = results.snapshot.account
    if account is not None:
        f.account_info.add_metric(
            [name, account.name, account.subscription_level or "", results.region], 1
        )
        if account.seats is not None:
            f.seats.add_metric([name], account.seats)
        if account.risk_score is not None:
            f.risk_score.add_metric([name], account.risk_score)
    f.breakdown.add(name, results.breakdowns)
