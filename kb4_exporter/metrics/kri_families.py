"""The ten KRIs, whether each could be computed, and how many items each covers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily

from kb4_exporter.kris.specs import KRI_SPECS, PHISHER_UNRESOLVED_HIGH_4H, KriValue
from kb4_exporter.metrics.families import CACHED, CACHED_HOURLY, flag, gauge


def _cadence(slug: str) -> str:
    """The HELP note of a KRI: PhishER's is refreshed on the PhishER schedule."""
    return CACHED_HOURLY if slug == PHISHER_UNRESOLVED_HIGH_4H.slug else CACHED


class KriFamilies:
    """One gauge per KRI (absent when it cannot be computed from complete inputs), then
    `kb4_kri_up` and `kb4_kri_sample_size` labelled by KRI."""

    def __init__(self) -> None:
        self.values = {
            spec.slug: gauge(spec.metric, f"{spec.help} {_cadence(spec.slug)}")
            for spec in KRI_SPECS
        }
        self.up = gauge(
            "kb4_kri_up", "1 when the KRI could be computed from the cached data, else 0.", "kri"
        )
        self.sample_size = gauge(
            "kb4_kri_sample_size",
            "Number of items (users, enrollments, PSTs, samples, groups) a KRI was computed over.",
            "kri",
        )

    def all(self) -> Iterator[GaugeMetricFamily]:
        yield from self.values.values()
        yield from (self.up, self.sample_size)

    def add(self, account: str, kris: Iterable[KriValue]) -> None:
        for kri in kris:
            slug = kri.spec.slug
            self.up.add_metric([account, slug], flag(kri.value is not None))
            if kri.value is None:
                continue
            self.values[slug].add_metric([account], kri.value)
            if kri.sample_size is not None:
                self.sample_size.add_metric([account, slug], kri.sample_size)
