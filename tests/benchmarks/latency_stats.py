"""Summaries of scrape latencies: nearest-rank percentiles and throughput."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with `fraction` of values at or below it."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def started_during(start: float, intervals: Sequence[tuple[float, float]]) -> bool:
    return any(begin <= start < end for begin, end in intervals)


@dataclass(frozen=True)
class LatencySummary:
    scrapes: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    per_second: float  # scrapes completed per second of the whole load
    failures: int
    body_bytes: int

    @classmethod
    def of(
        cls,
        samples: Sequence[tuple[float, float]],
        *,
        failures: int,
        body_bytes: int,
        load_seconds: float,
    ) -> LatencySummary:
        latencies = [latency for _, latency in samples]
        return cls(
            scrapes=len(samples),
            p50_ms=1000 * percentile(latencies, 0.50),
            p99_ms=1000 * percentile(latencies, 0.99),
            max_ms=1000 * max(latencies),
            per_second=len(samples) / load_seconds if load_seconds > 0 else 0.0,
            failures=failures,
            body_bytes=body_bytes,
        )


def load_seconds(samples: Sequence[tuple[float, float]]) -> float:
    """From the first scrape's start to the last scrape's end."""
    if not samples:
        return 0.0
    return max(start + latency for start, latency in samples) - min(s for s, _ in samples)
