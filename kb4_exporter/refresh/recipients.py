"""The recipients of the 90-day phishing tests: which to read, reading them, and the cache.

Recipients are the dominant cost of a refresh, so they are read only for PSTs whose
summary counts show clicks or reports, newest first (if the budget runs out, the
freshest are the ones read), and cached by a fingerprint of the PST's summary counts: a
closed PST's for as long as the fingerprint holds, an open PST's for at most a day. A
failed or truncated read (or one the pass stopped before) keeps the last complete summary
of that PST while its fingerprint holds; a summary of counts that have moved since no
longer describes the PST and is dropped, so the KRIs over the PSTs keep their last
complete values instead of mixing it with fresh ones. One PST's failure does not starve
the others, and only a failure every call would share stops the pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from kb4_exporter.api.errors import ApiError
from kb4_exporter.api.reporting import ReportingClient
from kb4_exporter.kris.windows import in_pst_window
from kb4_exporter.model.cached_recipients import CachedRecipients
from kb4_exporter.model.reporting import PstRecipients, SecurityTest
from kb4_exporter.refresh.source_run import SourceRun, stops_the_refresh

RECIPIENTS = "recipients"
# An open PST whose summary counts have not moved is re-read at least this often, in
# case KnowBe4 updates the counts later than the recipient rows behind them.
OPEN_PST_RECIPIENTS_MAX_AGE = 86400.0


def pst_fingerprint(pst: SecurityTest) -> str:
    """Changes whenever the PST's status or any summary count changes."""
    counts = ",".join(f"{k}={v}" for k, v in sorted(pst.counts.items()))
    return f"{pst.status.lower()}|{counts}"


def still_valid(cached: CachedRecipients, pst: SecurityTest, now: float) -> bool:
    """True when the PST's recipients need not be read again."""
    if cached.fingerprint != pst_fingerprint(pst):
        return False
    return pst.is_closed or 0.0 <= now - cached.fetched_at < OPEN_PST_RECIPIENTS_MAX_AGE


@dataclass
class _Pass:
    """What one pass over the PSTs found."""

    kept: dict[int, CachedRecipients] = field(default_factory=dict)
    failed: ApiError | None = None
    stop: ApiError | None = None
    truncated: bool = False

    def failure(self, error: ApiError) -> None:
        self.failed = self.failed or error
        if stops_the_refresh(error):
            self.stop = error


class RecipientCache:
    """The cached recipient summaries of one account, and the pass that refreshes them."""

    def __init__(self, reporting: ReportingClient, clock: Callable[[], float]) -> None:
        self._reporting = reporting
        self._clock = clock
        self._entries: dict[int, CachedRecipients] = {}

    @property
    def entries(self) -> Mapping[int, CachedRecipients]:
        return dict(self._entries)

    def restore(self, entries: Mapping[int, CachedRecipients]) -> None:
        self._entries = dict(entries)

    def refresh(
        self, run: SourceRun, tests: Sequence[SecurityTest] | None, now: float
    ) -> tuple[Mapping[int, PstRecipients] | None, ApiError | None]:
        """The summaries of the in-window PSTs, and a failure that must stop the refresh."""
        if tests is None:
            run.fail_without_error(RECIPIENTS)
            return None, None
        started = self._clock()
        found = _Pass()
        for pst in _worth_reading(tests, now):
            self._consider(pst, now, found)
        self._entries = found.kept
        if found.failed is None and found.truncated:
            run.cut_short(RECIPIENTS, started)
        else:
            run.finish(RECIPIENTS, started, found.failed, found.truncated)
        return {pst_id: entry.summary for pst_id, entry in found.kept.items()}, found.stop

    def _consider(self, pst: SecurityTest, now: float, found: _Pass) -> None:
        cached = self._entries.get(pst.pst_id)
        # Recipients read before the PST's counts moved are not its recipients now.
        if cached is not None and cached.fingerprint != pst_fingerprint(pst):
            cached = None
        if cached is not None and (found.stop is not None or still_valid(cached, pst, now)):
            found.kept[pst.pst_id] = cached
            return
        if found.stop is not None:
            return
        fresh = self._read(pst, now, found)
        # Like every other source, a failed or truncated read keeps the last good data.
        kept = fresh if fresh is not None else cached
        if kept is not None:
            found.kept[pst.pst_id] = kept

    def _read(self, pst: SecurityTest, now: float, found: _Pass) -> CachedRecipients | None:
        try:
            listing = self._reporting.recipients(pst.pst_id)
        except ApiError as err:
            # A 404 for a PST deleted since the listing, say.
            found.failure(err)
            return None
        if listing.truncated:
            # Part of a PST's recipients is no summary of it.
            found.truncated = True
            return None
        summary = PstRecipients.summarise(pst.pst_id, list(listing.records))
        return CachedRecipients(pst_fingerprint(pst), summary, now)


def _worth_reading(tests: Sequence[SecurityTest], now: float) -> list[SecurityTest]:
    """In-window PSTs that may hold clicks or reports, newest first."""
    chosen = [t for t in tests if in_pst_window(t, now) and t.may_have_clicks_or_reports]
    return sorted(chosen, key=lambda t: t.started_at or 0.0, reverse=True)
