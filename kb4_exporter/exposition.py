"""The /metrics body: the part that changes once per refresh is rendered once and reused.

Formatting the exposition costs milliseconds of CPU (most of it label escaping inside
prometheus_client), and every scrape competes with the refresh thread for the
interpreter. The body has two parts: the results (KRIs, breakdowns, source statuses,
error counters), which change only when a refresh publishes new results, and the usage
(request counters, budgets, state-write failures: a handful of samples), which changes
with every API call while a refresh runs. The results part is rendered once per change
of the results, one render at a time, and the scrapes waiting for it share it; the usage
part is rendered on every scrape. The daemon adds the process and Python runtime metrics
to the usage part: they change between any two scrapes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder

from kb4_exporter.collector import RESULTS, USAGE, Kb4Collector, ViewProvider
from kb4_exporter.results import AccountResults

# Distinct formats a client can ask for (text, OpenMetrics versions, escapings) are few;
# past this many the cache starts over rather than grow.
MAX_FORMATS = 8
# OpenMetrics ends the exposition with this line; only the last part may keep it.
OPENMETRICS_EOF = b"# EOF\n"


@dataclass(frozen=True)
class _Rendered:
    number: int  # renders started before this one, plus one
    results: tuple[AccountResults, ...]
    body: bytes


def _same(old: tuple[AccountResults, ...], new: tuple[AccountResults, ...]) -> bool:
    # Results are immutable and replaced on every change: identity says "same data".
    return len(old) == len(new) and all(a is b for a, b in zip(old, new, strict=True))


def _registry(views: ViewProvider, part: str) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Kb4Collector(views, parts=frozenset({part})))
    return registry


def register_process_metrics(registry: CollectorRegistry) -> None:
    """The `process_*` (memory, CPU, open fds, start time) and `python_*` (version, garbage
    collections) metrics every exporter serves, from prometheus_client's own collectors."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)


class CachedExposition:
    """Renders the collector over `views`; thread-safe. With `process_metrics`, the
    process and Python runtime metrics are rendered on every scrape too (the daemon's
    /metrics; `once` and the golden tests leave them out)."""

    def __init__(self, views: ViewProvider, *, process_metrics: bool = False) -> None:
        self._views = views
        self._results_registry = _registry(views, RESULTS)
        self._usage_registry = _registry(views, USAGE)
        if process_metrics:
            register_process_metrics(self._usage_registry)
        self._rendered: dict[str, _Rendered] = {}
        self._renders_started = 0
        self._lock = threading.Lock()  # guards the two fields above
        self._render_lock = threading.Lock()  # one results render at a time

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """(body, content type) for a request's Accept header."""
        encoder, content_type = choose_encoder(accept or "")
        head = self._results_part(encoder, content_type)
        if head.endswith(OPENMETRICS_EOF):
            head = head[: -len(OPENMETRICS_EOF)]
        return head + encoder(self._usage_registry), content_type

    def _current_results(self) -> tuple[AccountResults, ...]:
        return tuple(view.results for view in self._views())

    def _results_part(
        self, encoder: Callable[[CollectorRegistry], bytes], content_type: str
    ) -> bytes:
        with self._lock:
            cached = self._rendered.get(content_type)
            started_before_arrival = self._renders_started
        arrived_with = self._current_results()
        if cached is not None and _same(cached.results, arrived_with):
            return cached.body
        with self._render_lock:
            with self._lock:
                cached = self._rendered.get(content_type)
            # A render that started after this scrape arrived read results at least as new
            # as the ones this scrape saw, and one of those very results is just as good:
            # serve it rather than render again.
            if cached is not None and (
                cached.number > started_before_arrival or _same(cached.results, arrived_with)
            ):
                return cached.body
            with self._lock:
                self._renders_started += 1
                number = self._renders_started
            # Read before rendering: if the results change meanwhile, the body may be newer
            # than its key, never older, and the next scrape renders again.
            results = self._current_results()
            body = encoder(self._results_registry)
            with self._lock:
                if content_type not in self._rendered and len(self._rendered) >= MAX_FORMATS:
                    self._rendered.clear()
                self._rendered[content_type] = _Rendered(number, results, body)
        return body
