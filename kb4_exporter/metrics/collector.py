"""Prometheus collector over the latest refresh results.

`collect()` builds fresh metric families from each account's immutable results and the
API sessions' counters; it never calls KnowBe4 and never waits for a refresh.
`describe()` lists the families without doing any work, so registering the collector
is free.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from kb4_exporter import __version__
from kb4_exporter.metrics.account_families import AccountFamilies
from kb4_exporter.metrics.api_usage_families import ApiUsageFamilies
from kb4_exporter.metrics.breakdown_families import BreakdownFamilies
from kb4_exporter.metrics.families import Family
from kb4_exporter.metrics.health_families import SourceHealthFamilies
from kb4_exporter.metrics.kri_families import KriFamilies
from kb4_exporter.metrics.phisher_paging_families import PhisherPagingFamilies
from kb4_exporter.refresh.views import AccountView, ViewProvider


class _ScrapeFamilies:
    """One scrape's families, by domain; `all()` yields them in exposition order: the
    refresh results first, then the exporter's version, then the API usage."""

    def __init__(self) -> None:
        self.kris = KriFamilies()
        self.paging = PhisherPagingFamilies()
        self.health = SourceHealthFamilies()
        self.account = AccountFamilies()
        self.breakdowns = BreakdownFamilies()
        self.build_info = GaugeMetricFamily(
            "kb4_exporter_build_info", "Version of kb4_exporter; always 1.", labels=["version"]
        )
        self.usage = ApiUsageFamilies()

    def all(self) -> Iterator[Family]:
        yield from self.kris.all()
        yield from self.paging.all()
        yield from self.health.all()
        yield from self.account.all()
        yield from self.breakdowns.all()
        yield self.build_info
        yield from self.usage.all()

    def add(self, view: AccountView) -> None:
        results = view.results
        name = results.name
        self.kris.add(name, results.kris)
        self.paging.add(
            name, results.breakdowns.phisher_unresolved, results.phisher_oldest_unresolved
        )
        self.health.add(results)
        self.account.add(name, results.snapshot.account, results.region)
        self.breakdowns.add(name, results.breakdowns)
        self.usage.add(name, view.apis, view.state_write_errors)


class Kb4Collector(Collector):
    def __init__(self, views: ViewProvider) -> None:
        self._views = views

    def describe(self) -> Iterable[Family]:
        return list(_ScrapeFamilies().all())

    def collect(self) -> Iterable[Family]:
        families = _ScrapeFamilies()
        for view in self._views():
            families.add(view)
        families.build_info.add_metric([__version__], 1)
        return list(families.all())
