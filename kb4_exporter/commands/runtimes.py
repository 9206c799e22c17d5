"""The configured accounts at work and the registry that renders them: what `serve`,
`once` and `check` build alike."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from prometheus_client import CollectorRegistry

from kb4_exporter.api.errors import Interrupted
from kb4_exporter.config.settings import Settings
from kb4_exporter.metrics.collector import Kb4Collector
from kb4_exporter.refresh.wiring import AccountRuntime, build_runtime


def interruptible_sleep(stop: threading.Event) -> Callable[[float], None]:
    """A sleep for the API layer that ends early, with Interrupted, on shutdown."""

    def sleep(seconds: float) -> None:
        if stop.wait(max(0.0, seconds)):
            raise Interrupted("shutting down")

    return sleep


def build_runtimes(
    settings: Settings, stop: threading.Event, clock: Callable[[], float] = time.time
) -> list[AccountRuntime]:
    sleep = interruptible_sleep(stop)
    return [build_runtime(a, settings, clock=clock, sleep=sleep) for a in settings.accounts]


def build_registry(runtimes: Sequence[AccountRuntime]) -> CollectorRegistry:
    """The accounts' metrics alone: what `once` prints and the golden expositions hold."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Kb4Collector(lambda: [runtime.view() for runtime in runtimes]))
    return registry
