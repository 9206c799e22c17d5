"""The PhishER paging signal: unresolved messages by severity, and how long the oldest of
each severity has waited."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client.core import GaugeMetricFamily

from kb4_exporter.metrics.families import CACHED_HOURLY, add_known, gauge
from kb4_exporter.model.phisher import PHISHER_SEVERITIES


class PhisherPagingFamilies:
    def __init__(self) -> None:
        self.unresolved = gauge(
            "kb4_phisher_unresolved_messages",
            "Unresolved (RECEIVED or IN_REVIEW) PhishER messages reported within the look-back "
            f"window, by severity. {CACHED_HOURLY}",
            "severity",
        )
        self.oldest_unresolved_age = gauge(
            "kb4_phisher_oldest_unresolved_age_seconds",
            "Seconds the oldest PhishER message of the severity still RECEIVED or IN_REVIEW "
            "has waited since it was reported, however old within "
            "--phisher.unresolved-horizon (30d by default); absent when there is none. "
            "What pages: it never ages out while a message waits. Aged at each poll of the "
            "unresolved messages (--refresh.phisher-unresolved-interval, 5m by default), "
            "also when a poll fails.",
            "severity",
        )

    def all(self) -> Iterator[GaugeMetricFamily]:
        yield from (self.unresolved, self.oldest_unresolved_age)

    def add(
        self,
        account: str,
        unresolved: Mapping[str, int] | None,
        oldest_unresolved_age: Mapping[str, float] | None,
    ) -> None:
        """`unresolved` None: PhishER off or never refreshed, so no counts (not zeros).
        A severity left out of `oldest_unresolved_age` has no message waiting."""
        if unresolved is not None:
            for severity in PHISHER_SEVERITIES:
                self.unresolved.add_metric([account, severity], unresolved.get(severity, 0))
        oldest = oldest_unresolved_age or {}
        for severity in PHISHER_SEVERITIES:
            add_known(self.oldest_unresolved_age, [account, severity], oldest.get(severity))
