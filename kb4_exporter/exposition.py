"""The /metrics body, rendered once per change of what it shows and reused until then.

Formatting the exposition costs milliseconds of CPU per scrape (most of it label
escaping inside prometheus_client), and in a busy process every scrape also competes
with the refresh for the interpreter. The collector's output is a pure function of the
account views (results, request counters, remaining budget), so each format is
rendered once per change of the views and the same bytes are served until the next.
Renders run one at a time: scrapes that arrive together after a change share one
render instead of each paying for their own.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from kb4_exporter.collector import AccountView, Kb4Collector, ViewProvider

# Distinct formats a client can ask for (text, OpenMetrics versions, escapings) are few;
# past this many the cache starts over rather than grow.
MAX_FORMATS = 8


@dataclass(frozen=True)
class _Rendered:
    number: int  # renders started before this one, plus one
    views: tuple[AccountView, ...]
    body: bytes


def _unchanged(old: Sequence[AccountView], new: Sequence[AccountView]) -> bool:
    # Results are immutable and replaced on every change, so identity says "same data"
    # without comparing snapshots; API usage is small and compared by value.
    return len(old) == len(new) and all(
        a.results is b.results and a.apis == b.apis for a, b in zip(old, new, strict=True)
    )


class CachedExposition:
    """Renders the collector over `views`; thread-safe."""

    def __init__(self, views: ViewProvider) -> None:
        self._views = views
        # Only our collector, which reads nothing but the views: the cache relies on it.
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(Kb4Collector(views))
        self._rendered: dict[str, _Rendered] = {}
        self._renders_started = 0
        self._lock = threading.Lock()  # guards the two fields above
        self._render_lock = threading.Lock()  # one render at a time

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """(body, content type) for a request's Accept header."""
        encoder, content_type = choose_encoder(accept or "")
        with self._lock:
            cached = self._rendered.get(content_type)
            started_before_arrival = self._renders_started
        arrival_views = tuple(self._views())
        if cached is not None and _unchanged(cached.views, arrival_views):
            return cached.body, content_type
        with self._render_lock:
            with self._lock:
                cached = self._rendered.get(content_type)
            # Fresh enough for this scrape: a render of the views it saw on arrival (one
            # that was already running then), or one that started after it arrived.
            if cached is not None and (
                cached.number > started_before_arrival or _unchanged(cached.views, arrival_views)
            ):
                return cached.body, content_type
            with self._lock:
                self._renders_started += 1
                number = self._renders_started
            # Read before rendering: if the views change meanwhile, the body may be newer
            # than its key, never older, and the next scrape renders again.
            views = tuple(self._views())
            body = encoder(self._registry)
            with self._lock:
                if content_type not in self._rendered and len(self._rendered) >= MAX_FORMATS:
                    self._rendered.clear()
                self._rendered[content_type] = _Rendered(number, views, body)
        return body, content_type
