"""What every metric family of the exporter shares: the account label, the HELP notes on
how fresh a cached value is, and how a family is made and filled."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

Family = GaugeMetricFamily | CounterMetricFamily

# Every per-account family's first label.
ACCOUNT = ("account",)

# What HELP says of how fresh a value is (DESIGN: cached, and how often refreshed).
CACHED = (
    "Cached by the exporter and refreshed in the background every --refresh.interval "
    "(24h by default), not per scrape."
)
CACHED_HOURLY = (
    "Cached by the exporter and refreshed in the background every "
    "--refresh.phisher-interval (1h by default), not per scrape."
)


def gauge(name: str, doc: str, *labels: str) -> GaugeMetricFamily:
    """A per-account gauge: `account` first, then `labels`."""
    return GaugeMetricFamily(name, doc, labels=[*ACCOUNT, *labels])


def counter(name: str, doc: str, *labels: str) -> CounterMetricFamily:
    """A per-account counter: `account` first, then `labels`."""
    return CounterMetricFamily(name, doc, labels=[*ACCOUNT, *labels])


def add_known(family: Family, labels: Sequence[str], value: float | None) -> None:
    """A sample of `value`, left out when it is not known."""
    if value is not None:
        family.add_metric(list(labels), value)


def flag(value: bool) -> float:
    """1 or 0, as a boolean gauge exposes it."""
    return 1.0 if value else 0.0
