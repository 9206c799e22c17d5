"""Assembly of the running exporter: accounts, schedulers, collector and HTTP server."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest

from kb4_exporter import __version__
from kb4_exporter.api.errors import Interrupted
from kb4_exporter.collector import Kb4Collector
from kb4_exporter.config import Settings, describe_settings
from kb4_exporter.exposition import CachedExposition
from kb4_exporter.runtime import AccountRuntime, build_runtime
from kb4_exporter.scheduler import AccountScheduler

log = logging.getLogger(__name__)

# SIGTERM must end the process within a few seconds, even while a request is in flight.
SHUTDOWN_GRACE_SECONDS = 3.0


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
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Kb4Collector(lambda: [runtime.view() for runtime in runtimes]))
    return registry


def refresh_once(settings: Settings) -> tuple[bytes, list[str]]:
    """One full refresh of every account; (exposition, failed account/source names)."""
    stop = threading.Event()
    runtimes = build_runtimes(settings, stop)
    failures: list[str] = []
    for runtime in runtimes:
        runtime.load_state()
        refresher = runtime.refresher
        refresher.refresh_core()
        refresher.refresh_phisher()
        refresher.refresh_phisher_unresolved()
        refresher.refresh_user_events()
        runtime.save_state()
        results = refresher.results
        for source in results.enabled_sources():
            if results.sources[source].up:
                continue
            reasons = sorted(r for (s, r), count in results.errors.items() if s == source and count)
            # No reason of its own: the refresh stopped before it, on another source's.
            why = ",".join(reasons) or "not tried"
            failures.append(f"account={results.name} source={source} reason={why}")
    body = generate_latest(build_registry(runtimes))
    for runtime in runtimes:
        for session in runtime.sessions:
            session.close()
    return body, failures


def run_daemon(settings: Settings) -> int:
    from kb4_exporter.server import ExporterServer, LandingPage

    log.info("starting kb4_exporter %s", __version__)
    for line in describe_settings(settings).splitlines():
        log.info("config: %s", line)
    stop = threading.Event()
    runtimes = build_runtimes(settings, stop)
    for runtime in runtimes:
        runtime.load_state()
    exposition = CachedExposition(lambda: [runtime.view() for runtime in runtimes])
    server = ExporterServer(
        listen_address=settings.listen_address,
        render_metrics=exposition.render,
        is_ready=lambda: all(r.refresher.results.ready for r in runtimes),
        landing_page=LandingPage(
            title="KnowBe4 Exporter",
            version=__version__,
            description=_landing_description(settings),
        ),
        web_config_file=settings.web_config_file,
    )
    try:
        server.start()
    except OSError as err:
        log.error("cannot listen on %s: %s", settings.listen_address, err)
        return 1
    log.info("listening on %s", server.url)
    schedulers = [
        AccountScheduler(
            runtime,
            refresh_interval=settings.refresh_interval,
            phisher_interval=settings.phisher_refresh_interval,
            unresolved_interval=settings.phisher_unresolved_interval,
            clock=time.time,
            stop=stop,
        )
        for runtime in runtimes
    ]
    for scheduler in schedulers:
        scheduler.start()
    _stop_on_signals(stop)
    stop.wait()
    log.info("shutting down")
    deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
    for scheduler in schedulers:
        scheduler.join(max(0.0, deadline - time.monotonic()))
    for runtime in runtimes:
        runtime.save_state()
    server.shutdown()
    return 0


def _stop_on_signals(stop: threading.Event) -> None:
    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def _landing_description(settings: Settings) -> str:
    names = ", ".join(account.name for account in settings.accounts)
    mode = " (demo: simulated KnowBe4 data)" if settings.demo else ""
    return f"Security-awareness KRIs for KnowBe4 account(s) {names}{mode}."
