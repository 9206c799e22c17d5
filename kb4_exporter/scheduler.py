"""When each account refreshes: core sources every refresh interval, PhishER every PhishER
interval, failed refreshes retried sooner with exponential back-off.

One thread per account, so accounts never wait for each other; each account's refreshes
run one at a time, so its budget and pacing are never shared across threads.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from kb4_exporter.api.errors import Interrupted
from kb4_exporter.logs import account_context
from kb4_exporter.results import KRI_SOURCES, PHISHER_SOURCE, USER_EVENTS_SOURCE, AccountResults
from kb4_exporter.runtime import AccountRuntime

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
    ) -> None:
        self._runtime = runtime
        self._clock = clock
        self._stop = stop
        # Waits until the next task is due; True means shut down. Tests pass a fake.
        self._wait = wait or stop.wait
        results = runtime.refresher.results
        now = clock()
        self._tasks = [
            _Task(
                "core",
                refresh_interval,
                runtime.refresh_core,
                first_due(results, KRI_SOURCES, refresh_interval, now),
            )
        ]
        if results.phisher_enabled:
            self._tasks.append(
                _Task(
                    "phisher",
                    phisher_interval,
                    runtime.refresh_phisher,
                    first_due(results, (PHISHER_SOURCE,), phisher_interval, now),
                )
            )
        if results.user_events_enabled:
            self._tasks.append(
                _Task(
                    "user_events",
                    phisher_interval,
                    runtime.refresh_user_events,
                    first_due(results, (USER_EVENTS_SOURCE,), phisher_interval, now),
                )
            )
        self.thread = threading.Thread(
            target=self.run, name=f"refresh-{runtime.config.name}", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def run(self) -> None:
        # Lines of the API clients, which do not know the account, carry it too.
        with account_context(self._runtime.config.name):
            self._run()

    def _run(self) -> None:
        while not self._stop.is_set():
            task = min(self._tasks, key=lambda t: t.due)
            wait = task.due - self._clock()
            if wait > 0:
                if self._wait(wait):
                    break
                continue
            started = self._clock()
            try:
                with collections_deferred():
                    succeeded = task.run()
            except Interrupted:
                break
            except Exception:
                # A bug, not an API failure: keep serving the last good data and retry.
                log.exception("%s refresh failed unexpectedly", task.name)
                succeeded = False
            task.reschedule(self._clock(), succeeded)
            log.info(
                "%s refresh %s in %.1fs; next in %.0fs",
                task.name,
                "succeeded" if succeeded else "failed",
                self._clock() - started,
                task.due - self._clock(),
            )
            self._runtime.save_state()
