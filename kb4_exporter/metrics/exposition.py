"""The /metrics body: the registry rendered for each scrape, gzip-compressed once per body.

Rendering reads the latest immutable results, so every scrape sees the current numbers
(request counters and budgets move while a refresh runs). It costs a few milliseconds at
25,000 users, which is nothing at real scrape rates. Compressing is the dearer part and
the body changes only with a refresh or an API call, so the compressed body of each
format is kept while the rendered body stays the same.
"""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder

# Distinct formats a client can ask for (text, OpenMetrics versions, escapings) are few;
# past this many the kept compressed bodies start over rather than grow.
MAX_FORMATS = 8


@dataclass(frozen=True)
class MetricsBody:
    data: bytes
    content_type: str
    gzipped: bool = False


def register_process_metrics(registry: CollectorRegistry) -> None:
    """The `process_*` (memory, CPU, open fds, start time) and `python_*` (version, garbage
    collections) metrics every exporter serves, from prometheus_client's own collectors."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)


class Exposition:
    """Renders `registry` in the format a request asks for; thread-safe."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry
        self._compressed: dict[str, tuple[bytes, bytes]] = {}  # type -> (plain, gzipped)
        self._lock = threading.Lock()

    def render(self, accept: str | None, gzip_ok: bool = False) -> MetricsBody:
        encoder, content_type = choose_encoder(accept or "")
        body = encoder(self._registry)
        if not gzip_ok:
            return MetricsBody(body, content_type)
        with self._lock:
            kept = self._compressed.get(content_type)
        if kept is not None and kept[0] == body:
            return MetricsBody(kept[1], content_type, gzipped=True)
        compressed = gzip.compress(body, compresslevel=6, mtime=0)
        with self._lock:
            if content_type not in self._compressed and len(self._compressed) >= MAX_FORMATS:
                self._compressed.clear()
            self._compressed[content_type] = (body, compressed)
        return MetricsBody(compressed, content_type, gzipped=True)
