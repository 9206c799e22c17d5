"""`kb4-exporter serve`, the daemon: accounts refreshed on schedules in the background,
their metrics served over HTTP until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import resource
import signal
import threading
import time
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from kb4_exporter import __version__
from kb4_exporter.commands.runtimes import build_registry, build_runtimes
from kb4_exporter.config.describe import describe_settings
from kb4_exporter.config.settings import Settings
from kb4_exporter.metrics.exposition import Exposition, register_process_metrics
from kb4_exporter.refresh.results import KRI_SOURCES, SourceStatus
from kb4_exporter.refresh.scheduler import AccountScheduler
from kb4_exporter.refresh.wiring import AccountRuntime
from kb4_exporter.web.listen_address import ListenError
from kb4_exporter.web.web_config import WebConfigCollector, WebConfigReloader

if TYPE_CHECKING:
    from kb4_exporter.web.server import ExporterServer

log = logging.getLogger(__name__)

# SIGTERM must end the process within a few seconds, even while a request is in flight.
SHUTDOWN_GRACE_SECONDS = 3.0
# `serve` cannot bind its listen address (in use, no permission, unknown host).
EXIT_CANNOT_LISTEN = 8


def build_daemon_registry(
    runtimes: Sequence[AccountRuntime], web_config: WebConfigReloader
) -> CollectorRegistry:
    """What `serve` renders on /metrics: the accounts, the web config's reload state and
    the process and Python runtime metrics (those two only here: once and the golden
    expositions stay without them)."""
    registry = build_registry(runtimes)
    registry.register(WebConfigCollector(web_config))
    register_process_metrics(registry)
    return registry


def run_daemon(settings: Settings) -> int:
    """Serve until SIGTERM or SIGINT; the exit code."""
    log.info("starting kb4_exporter %s", __version__)
    for line in describe_settings(settings).splitlines():
        log.info("config: %s", line)
    stop = threading.Event()
    runtimes = build_runtimes(settings, stop)
    for runtime in runtimes:
        runtime.load_state()
    server = _exporter_server(settings, runtimes)
    _raise_open_file_limit()
    try:
        server.start()
    except ListenError as err:
        log.error("%s", err)
        return EXIT_CANNOT_LISTEN
    log.info("listening on %s", server.bound)
    schedulers = _start_schedulers(settings, runtimes, stop)
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


def _exporter_server(settings: Settings, runtimes: Sequence[AccountRuntime]) -> ExporterServer:
    # Imported here: `check`, `once` and --help never load the HTTP server.
    from kb4_exporter.web.server import ExporterServer, LandingPage

    web_config = WebConfigReloader(settings.web_config_file)
    registry = build_daemon_registry(runtimes, web_config)
    return ExporterServer(
        listen_address=settings.listen_address,
        render_metrics=Exposition(registry).render,
        readiness=lambda: waiting_for(runtimes),
        landing_page=LandingPage(
            title="KnowBe4 Exporter",
            version=__version__,
            description=_landing_description(settings),
        ),
        web_config=web_config,
    )


def _start_schedulers(
    settings: Settings, runtimes: Sequence[AccountRuntime], stop: threading.Event
) -> list[AccountScheduler]:
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
    return schedulers


def waiting_for(runtimes: Sequence[AccountRuntime]) -> str | None:
    """What `/-/ready` waits for: None once every account's KRI sources were refreshed
    (or loaded from the state dir)."""
    waiting = []
    for runtime in runtimes:
        results = runtime.refresher.results
        if results.ready:
            continue
        pending = [s for s in KRI_SOURCES if not results.sources.get(s, SourceStatus()).up]
        waiting.append(f"account {results.name} ({', '.join(pending) or 'loading'})")
    if not waiting:
        return None
    return "waiting for the first complete refresh of the KRI sources of " + "; ".join(waiting)


def _raise_open_file_limit() -> None:
    # Every connection is a file descriptor; a flood of them must not make accept() fail
    # for Prometheus while memory is still there. Go programs raise the limit the same way.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:
            log.debug("cannot raise the open file limit from %d: %s", soft, exc)


def _stop_on_signals(stop: threading.Event) -> None:
    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def _landing_description(settings: Settings) -> str:
    names = ", ".join(account.name for account in settings.accounts)
    mode = " (demo: simulated KnowBe4 data)" if settings.demo else ""
    return f"Security-awareness KRIs for KnowBe4 account(s) {names}{mode}."
