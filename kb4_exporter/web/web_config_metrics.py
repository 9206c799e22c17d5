"""The reload outcome of the web config as metrics, for alerting on a refused change."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kb4_exporter.web.web_config_reloader import WebConfigReloader


class WebConfigCollector(Collector):
    """`kb4_web_config_reload_failures_total` and `kb4_web_config_last_reload_successful`."""

    def __init__(self, reloader: WebConfigReloader) -> None:
        self._reloader = reloader

    def describe(self) -> Iterable[Metric]:
        return self._families(0, last_successful=True)

    def collect(self) -> Iterable[Metric]:
        reloader = self._reloader
        return self._families(reloader.reload_failures, reloader.last_reload_successful)

    @staticmethod
    def _families(failures: int, last_successful: bool) -> list[Metric]:
        return [
            CounterMetricFamily(
                "kb4_web_config_reload_failures",
                "Changes of --web.config.file that were refused (unreadable, invalid, or "
                "turning TLS or auth off); the configuration in force stays.",
                value=failures,
            ),
            GaugeMetricFamily(
                "kb4_web_config_last_reload_successful",
                "1 when the web config in force matches the file, 0 when its latest change "
                "was refused.",
                value=1 if last_successful else 0,
            ),
        ]
