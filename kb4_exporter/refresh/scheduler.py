"""When each account refreshes: core sources every refresh interval, PhishER every PhishER
interval, the unresolved PhishER messages (the paging signal) every few minutes, failed
refreshes retried sooner with exponential back-off.

Each account has two threads, so accounts never wait for each other and the paging
signal never waits for an hour-long core refresh: one for the Reporting and User Event
APIs, one for PhishER. Each API's calls run one at a time, so a budget and its pacing
are never shared across threads.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from kb4_exporter.api.errors import Interrupted
from kb4_exporter.config.settings import DEFAULT_UNRESOLVED_INTERVAL_SECONDS
from kb4_exporter.logs import account_context
from kb4_exporter.refresh.results import (
    KRI_SOURCES,
    PHISHER_SOURCE,
    PHISHER_UNRESOLVED_SOURCE,
    USER_EVENTS_SOURCE,
    AccountResults,
)
from kb4_exporter.refresh.wiring import AccountRuntime

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 300.0


@contextmanager
def collections_deferred() -> Iterator[None]:
    """No automatic garbage collection while a refresh builds a new snapshot.

    A refresh allocates a snapshot's worth of objects, which sets off several full
    collections that traverse every live record and stop every thread, scrapes included
    (about 0.1 s each at 25k users). Records form no reference cycles, so nothing waits
    to be collected meanwhile. Afterwards one collection runs in this thread, and the
    survivors (the new snapshot) are frozen out of later full collections; they are still
    freed by reference counting when the next snapshot replaces them.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.collect()
            gc.freeze()
            gc.enable()


@dataclass
class _Task:
    name: str
    interval: float
    run: Callable[[], bool]
    due: float = 0.0
    failures: int = 0
    # A small poll every few minutes: its state is saved with the next other refresh (and
    # at shutdown), not after each poll; it builds no snapshot, so garbage collection is
    # left alone (a full collection each time would pause scrapes every few minutes);
    # a success is logged at debug level.
    frequent: bool = False

    def reschedule(self, now: float, succeeded: bool) -> None:
        self.failures = 0 if succeeded else self.failures + 1
        if succeeded:
            self.due = now + self.interval
        else:
            backoff = FIRST_RETRY_SECONDS * 2 ** (self.failures - 1)
            self.due = now + min(self.interval, backoff)


def first_due(
    results: AccountResults, sources: tuple[str, ...], interval: float, now: float
) -> float:
    """After a warm restart, refresh when the persisted data is due; at once when some
    source was never refreshed or its latest refresh failed."""
    statuses = [results.sources.get(s) for s in sources]
    stamps = [status.last_success if status else None for status in statuses]
    if any(status is None or not status.up for status in statuses) or None in stamps:
        return now
    due = min(stamp for stamp in stamps if stamp is not None) + interval
    # A success time in the future (a clock stepped back, a state file from another
    # host) must not postpone refreshes beyond one interval.
    return min(due, now + interval)


class AccountScheduler:
    def __init__(
        self,
        runtime: AccountRuntime,
        *,
        refresh_interval: float,
        phisher_interval: float,
        clock: Callable[[], float],
        stop: threading.Event,
        wait: Callable[[float], bool] | None = None,
        unresolved_interval: float = DEFAULT_UNRESOLVED_INTERVAL_SECONDS,
    ) -> None:
        self._runtime = runtime
        self._clock = clock
        self._stop = stop
        # Waits until the next task is due; True means shut down. Tests pass a fake.
        self._wait = wait or stop.wait
        results = runtime.refresher.results
        now = clock()
        reporting = [
            _Task(
                "core",
                refresh_interval,
                runtime.refresh_core,
                first_due(results, KRI_SOURCES, refresh_interval, now),
            )
        ]
        phisher: list[_Task] = []
        if results.phisher_enabled:
            phisher.append(
                _Task(
                    "phisher_unresolved",
                    unresolved_interval,
                    runtime.refresh_phisher_unresolved,
                    first_due(results, (PHISHER_UNRESOLVED_SOURCE,), unresolved_interval, now),
                    frequent=True,
                )
            )
            phisher.append(
                _Task(
                    "phisher",
                    phisher_interval,
                    runtime.refresh_phisher,
                    first_due(results, (PHISHER_SOURCE,), phisher_interval, now),
                )
            )
        if results.user_events_enabled:
            reporting.append(
                _Task(
                    "user_events",
                    phisher_interval,
                    runtime.refresh_user_events,
                    first_due(results, (USER_EVENTS_SOURCE,), phisher_interval, now),
                )
            )
        self._tasks = reporting + phisher
        account = runtime.config.name
        self.threads = [
            threading.Thread(
                target=self._loop,
                args=(lane,),
                name=f"refresh-{account}-{lane[0].name}",
                daemon=True,
            )
            for lane in (reporting, phisher)
            if lane
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self, timeout: float) -> None:
        """Wait for the threads to end, `timeout` seconds in all."""
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def run(self) -> None:
        """Every task in this thread, in due order (what tests and tools drive)."""
        self._loop(self._tasks)

    def _loop(self, tasks: list[_Task]) -> None:
        # Lines of the API clients, which do not know the account, carry it too.
        with account_context(self._runtime.config.name):
            self._run_tasks(tasks)

    def _run_tasks(self, tasks: list[_Task]) -> None:
        while not self._stop.is_set():
            task = min(tasks, key=lambda t: t.due)
            wait = task.due - self._clock()
            if wait > 0:
                if self._wait(wait):
                    break
                continue
            started = self._clock()
            try:
                if task.frequent:
                    succeeded = task.run()
                else:
                    with collections_deferred():
                        succeeded = task.run()
            except Interrupted:
                break
            except Exception:
                # A bug, not an API failure: keep serving the last good data and retry.
                log.exception("%s refresh failed unexpectedly", task.name)
                succeeded = False
            task.reschedule(self._clock(), succeeded)
            log.log(
                logging.DEBUG if task.frequent and succeeded else logging.INFO,
                "%s refresh %s in %.1fs; next in %.0fs",
                task.name,
                "succeeded" if succeeded else "failed",
                self._clock() - started,
                task.due - self._clock(),
            )
            if not task.frequent:
                self._runtime.save_state()
