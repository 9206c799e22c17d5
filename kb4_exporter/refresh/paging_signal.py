"""The poll behind the paging signal: PhishER's unresolved messages, every few minutes.

A failed poll keeps the messages last known unresolved and ages them to now, so the
signal never drops while PhishER cannot be read (see phisher_unresolved.py for what a
poll reads).
"""

from __future__ import annotations

from collections.abc import Callable

from kb4_exporter.api.errors import ApiError, Interrupted
from kb4_exporter.api.phisher import PhisherClient
from kb4_exporter.refresh.phisher_unresolved import Tracker, poll, tracker_of
from kb4_exporter.refresh.publisher import ResultsPublisher
from kb4_exporter.refresh.results import PHISHER_UNRESOLVED_SOURCE
from kb4_exporter.refresh.source_run import SourceRun


class PagingSignalPoll:
    def __init__(
        self,
        *,
        phisher: PhisherClient | None,
        horizon: float,
        publisher: ResultsPublisher,
        clock: Callable[[], float],
    ) -> None:
        self._phisher = phisher
        self._horizon = horizon
        self._publisher = publisher
        self._clock = clock
        # A tracker cut short by a page cap never lists what the cap cut off again: the
        # first poll of this process lists the whole horizon once more, so that raising
        # the cap and restarting repairs it.
        self._relist_truncated = True
        # Successful polls so far: which tracked messages the next one re-reads in turn.
        self._turn = 0

    def run(self) -> bool:
        """True on success (and when PhishER is off)."""
        phisher = self._phisher
        if phisher is None:
            return True
        now = self._clock()
        run = SourceRun(self._publisher.latest, self._clock)
        started = self._clock()
        previous = tracker_of(self._publisher.latest.snapshot)
        relist = (
            self._relist_truncated
            and previous is not None
            and previous.truncated(now, self._horizon)
        )
        tracker: Tracker | None
        try:
            tracker = poll(
                previous,
                now=now,
                horizon=self._horizon,
                list_since=phisher.messages_since,
                look_up=phisher.look_up,
                relist=relist,
                turn=self._turn,
            )
        except Interrupted:
            raise
        except ApiError as err:
            tracker = None
            truncated = previous is not None and previous.truncated(now, self._horizon)
            run.finish(PHISHER_UNRESOLVED_SOURCE, started, err, truncated=truncated)
        else:
            self._relist_truncated = False
            self._turn += 1
            truncated = tracker.truncated(now, self._horizon)
            run.finish(PHISHER_UNRESOLVED_SOURCE, started, None, truncated=truncated)
        self._publisher.publish_signal(
            lambda latest: run.merged_into(latest, ready=False),
            lambda snapshot: snapshot if tracker is None else tracker.store(snapshot),
            now,
        )
        return run.sources[PHISHER_UNRESOLVED_SOURCE].up
