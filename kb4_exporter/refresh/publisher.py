"""The latest results of one account, and the one way to publish new ones.

Refreshes run on two threads (core; PhishER and the User Event API), so each publish
reads the latest results and writes the next ones under one lock: a refresh merges
what it changed (`SourceRun.merged_into`) into whatever was published since it began.
Readers take `latest` without locking: results are immutable and swapped whole.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import replace

from kb4_exporter.kris.breakdowns import compute_breakdowns
from kb4_exporter.kris.specs import carry_over
from kb4_exporter.kris.values import compute_kris
from kb4_exporter.model.snapshot import Snapshot
from kb4_exporter.refresh.phisher_unresolved import oldest_ages
from kb4_exporter.refresh.results import AccountResults
from kb4_exporter.refresh.settings import RefreshSettings

ResultsChange = Callable[[AccountResults], AccountResults]
SnapshotChange = Callable[[Snapshot], Snapshot]


class ResultsPublisher:
    def __init__(self, initial: AccountResults, settings: RefreshSettings) -> None:
        self._results = initial
        self._settings = settings
        self._lock = threading.Lock()

    @property
    def latest(self) -> AccountResults:
        return self._results

    def publish(self, results: ResultsChange, snapshot: SnapshotChange, now: float) -> None:
        """New results over the latest ones, with the KRIs and breakdowns of the new
        snapshot at `now`: an incomplete KRI keeps its last complete value."""
        with self._lock:
            latest = self._results
            changed = snapshot(latest.snapshot)
            phisher_enabled = latest.phisher_enabled
            kris = compute_kris(
                changed,
                now,
                remedial_pattern=self._settings.remedial_pattern,
                phisher_enabled=phisher_enabled,
            )
            self._results = replace(
                results(latest),
                snapshot=changed,
                kris=carry_over(kris, latest.kris),
                breakdowns=compute_breakdowns(
                    changed,
                    now,
                    limits=self._settings.limits,
                    phisher_lookback=self._settings.phisher_lookback,
                    phisher_enabled=phisher_enabled,
                ),
                phisher_oldest_unresolved=self._oldest_unresolved(changed, now),
            )

    def publish_signal(self, results: ResultsChange, snapshot: SnapshotChange, now: float) -> None:
        """Only the paging signal changes: the KRIs keep the time of their own refreshes."""
        with self._lock:
            latest = self._results
            changed = snapshot(latest.snapshot)
            self._results = replace(
                results(latest),
                snapshot=changed,
                phisher_oldest_unresolved=self._oldest_unresolved(changed, now),
            )

    def _oldest_unresolved(self, snapshot: Snapshot, now: float) -> Mapping[str, float] | None:
        if not self._results.phisher_enabled or snapshot.phisher_unresolved is None:
            return None
        return oldest_ages(
            snapshot.phisher_unresolved, now=now, horizon=self._settings.phisher_unresolved_horizon
        )
