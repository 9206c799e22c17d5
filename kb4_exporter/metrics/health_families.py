"""Health and freshness of each source: up, when it last succeeded and was tried, how long
it took, its interval, whether it was cut short, and its failures by reason."""

from __future__ import annotations

from collections.abc import Iterator

from kb4_exporter.api.errors import REASONS
from kb4_exporter.metrics.families import Family, add_known, counter, flag, gauge
from kb4_exporter.model.source_status import SourceStatus
from kb4_exporter.refresh.results import TRUNCATABLE_SOURCES, AccountResults


class SourceHealthFamilies:
    def __init__(self) -> None:
        self.truncated = gauge(
            "kb4_truncated",
            "1 when a page cap or the daily budget cut the latest fetch of the source short.",
            "source",
        )
        self.refresh_errors = counter(
            "kb4_refresh_errors", "Failed refreshes of a source, by reason.", "source", "reason"
        )
        self.up = gauge("kb4_up", "1 when the latest refresh of every enabled source succeeded.")
        self.source_up = gauge(
            "kb4_source_up", "1 when the latest refresh of the source succeeded.", "source"
        )
        self.last_success = gauge(
            "kb4_source_last_success_timestamp_seconds",
            "Unix time of the source's latest successful refresh.",
            "source",
        )
        self.last_attempt = gauge(
            "kb4_source_last_attempt_timestamp_seconds",
            "Unix time the source's latest refresh started.",
            "source",
        )
        self.duration = gauge(
            "kb4_source_refresh_duration_seconds",
            "Wall time of the source's latest refresh.",
            "source",
        )
        self.interval = gauge(
            "kb4_source_refresh_interval_seconds",
            "Configured refresh interval of the source.",
            "source",
        )

    def all(self) -> Iterator[Family]:
        yield from (
            self.truncated,
            self.refresh_errors,
            self.up,
            self.source_up,
            self.last_success,
            self.last_attempt,
            self.duration,
            self.interval,
        )

    def add(self, results: AccountResults) -> None:
        """Every enabled source, and only those: a disabled API has no health to show."""
        name = results.name
        enabled = results.enabled_sources()
        for source in TRUNCATABLE_SOURCES:
            if source in enabled:
                truncated = _status(results, source).truncated
                self.truncated.add_metric([name, source], flag(truncated))
        for source in enabled:
            for reason in REASONS:
                failures = results.errors.get((source, reason), 0)
                self.refresh_errors.add_metric([name, source, reason], failures)
        self.up.add_metric([name], flag(results.up))
        for source in enabled:
            self._add_source(name, source, _status(results, source))
            add_known(self.interval, [name, source], results.refresh_intervals.get(source))

    def _add_source(self, account: str, source: str, status: SourceStatus) -> None:
        labels = [account, source]
        self.source_up.add_metric(labels, flag(status.up))
        add_known(self.last_success, labels, status.last_success)
        add_known(self.last_attempt, labels, status.last_attempt)
        add_known(self.duration, labels, status.duration)


def _status(results: AccountResults, source: str) -> SourceStatus:
    """The source's latest status; a source never refreshed is down."""
    return results.sources.get(source, SourceStatus())
