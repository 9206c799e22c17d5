"""The PhishER messages nobody has resolved yet, tracked between polls for the page.

The paging signal is the age of the oldest RECEIVED/IN_REVIEW message of each severity,
however old (within a horizon, 30 days by default). Listing the whole horizon on every
poll would cost dozens of calls, so a poll reads little:

1. the messages reported since the previous poll, with an overlap for messages PhishER
   indexes late (`reported_at:[<since> TO *]`); their state is read as listed;
2. of the messages tracked from earlier polls, only the oldest of each severity, by id,
   until one is confirmed still open: the oldest open message is all the signal needs,
   so newer ones are re-read only once they become the oldest. Messages found resolved
   or gone are dropped.
3. in the same query, a few other tracked messages in turn (`turn`, a count of polls),
   so that a severity raised on any of them is seen within a bounded number of polls.

The first poll (or one after a gap longer than the horizon) lists the whole horizon.
If a listing was cut short, newest first, the tracker is complete only from the oldest
report it saw (`complete_since`): it says so (`truncated`) until that time has left the
horizon, or until a poll told to `relist` lists the whole horizon again (after a restart
with a higher page cap, say) and gets to its end. A severity raised on an open message
more than an overlap after its report is seen when the message is next re-read: within
(tracked messages / REREAD_IN_TURN) polls at the latest.

Pure: the API calls are passed in.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from kb4_exporter.model.phisher import PhisherMessageStatus, UnresolvedPhisherMessage
from kb4_exporter.model.snapshot import Snapshot

if TYPE_CHECKING:
    from kb4_exporter.api.listing import Listing

    ListSince = Callable[[float], Listing[PhisherMessageStatus]]
    LookUp = Callable[[Sequence[str]], Mapping[str, PhisherMessageStatus]]

# Messages reported this long before the previous poll are listed again: PhishER may
# list a message some minutes after its report time, and clocks differ. At a few reports
# an hour the overlap costs no extra call (one page holds 100 messages).
OVERLAP_SECONDS = 3600.0
# Tracked messages re-read per severity and round: five severities fit one query.
RECHECK_PER_SEVERITY = 10
# Other tracked messages re-read in turn by each poll: a LOW message raised to HIGH behind
# many older open ones must still page.
REREAD_IN_TURN = 10


@dataclass(frozen=True)
class Tracker:
    """Unresolved messages as of `covered_until`, complete for reports since `complete_since`."""

    messages: tuple[UnresolvedPhisherMessage, ...]
    complete_since: float
    covered_until: float

    def truncated(self, now: float, horizon: float) -> bool:
        """True while part of the horizon was never listed (a listing was cut short)."""
        return self.complete_since > now - horizon

    def store(self, snapshot: Snapshot) -> Snapshot:
        return replace(
            snapshot,
            phisher_unresolved=self.messages,
            phisher_unresolved_window=(self.complete_since, self.covered_until),
        )


def tracker_of(snapshot: Snapshot) -> Tracker | None:
    """The tracker persisted in a snapshot, if any poll has succeeded."""
    if snapshot.phisher_unresolved is None or snapshot.phisher_unresolved_window is None:
        return None
    complete_since, covered_until = snapshot.phisher_unresolved_window
    return Tracker(snapshot.phisher_unresolved, complete_since, covered_until)


def poll(
    previous: Tracker | None,
    *,
    now: float,
    horizon: float,
    list_since: ListSince,
    look_up: LookUp,
    relist: bool = False,
    turn: int = 0,
) -> Tracker:
    """The tracker after one poll; raises what `list_since` and `look_up` raise.
    `relist`: list the whole horizon again, still re-reading the tracked messages it
    does not list. `turn`: which of the other tracked messages this poll re-reads."""
    horizon_start = now - horizon
    carried: tuple[UnresolvedPhisherMessage, ...]
    if previous is None or previous.covered_until <= horizon_start:
        since, complete_since, carried = horizon_start, horizon_start, ()
    elif relist:
        since, complete_since, carried = horizon_start, horizon_start, previous.messages
    else:
        since = max(horizon_start, previous.covered_until - OVERLAP_SECONDS)
        complete_since, carried = previous.complete_since, previous.messages
    listing = list_since(since)
    if listing.truncated:
        # Newest first: what was cut off are the oldest reports of the window.
        stamps = [m.reported_at for m in listing.records if m.reported_at is not None]
        complete_since = max(complete_since, min(stamps, default=now))
    known = {m.id: m for m in carried}
    listed: dict[str, PhisherMessageStatus] = {m.id: m for m in listing.records}
    tracked = {
        m.id: _unresolved(m, known.get(m.id), now) for m in listed.values() if m.is_unresolved
    }
    earlier = [m for m in carried if m.id not in listed and m.reported_at >= horizon_start]
    tracked.update({m.id: m for m in _recheck_oldest(earlier, look_up, now, turn)})
    return Tracker(
        tuple(sorted(tracked.values(), key=lambda m: (m.reported_at, m.id))),
        max(complete_since, horizon_start),
        now,
    )


def _unresolved(
    status: PhisherMessageStatus, known: UnresolvedPhisherMessage | None, now: float
) -> UnresolvedPhisherMessage:
    reported = status.reported_at
    if reported is None:
        reported = known.reported_at if known is not None else now
    return UnresolvedPhisherMessage(status.id, status.severity, reported)


def _recheck_oldest(
    earlier: Iterable[UnresolvedPhisherMessage], look_up: LookUp, now: float, turn: int
) -> list[UnresolvedPhisherMessage]:
    """The earlier messages still to track: each severity re-read oldest first until one
    is confirmed open, and REREAD_IN_TURN others in turn; those found resolved or gone
    dropped, the rest kept unread."""
    queues: dict[str, deque[UnresolvedPhisherMessage]] = defaultdict(deque)
    for message in sorted(earlier, key=lambda m: (m.reported_at, m.id)):
        queues[message.severity].append(message)
    kept: list[UnresolvedPhisherMessage] = []
    in_turn = _take_in_turn(queues, turn)
    while any(queues.values()) or in_turn:
        oldest = [
            queue.popleft()
            for queue in queues.values()
            for _ in range(min(RECHECK_PER_SEVERITY, len(queue)))
        ]
        batch, in_turn = oldest + in_turn, []
        found = look_up([m.id for m in batch])
        confirmed: set[str] = set()
        for message in batch:
            status = found.get(message.id)
            if status is None or not status.is_unresolved:
                continue
            kept.append(_unresolved(status, message, now))
            # Only an oldest message read open confirms its severity's signal.
            if message in oldest and status.severity == message.severity:
                confirmed.add(message.severity)
        for severity in confirmed:
            # Its oldest open message is known; the newer ones need no reading now.
            kept.extend(queues.pop(severity))
    return kept


def _take_in_turn(
    queues: Mapping[str, deque[UnresolvedPhisherMessage]], turn: int
) -> list[UnresolvedPhisherMessage]:
    """REREAD_IN_TURN of the messages in `queues` past each severity's oldest
    RECHECK_PER_SEVERITY (those are read anyway), taken out of them: the `turn`-th slice
    of their (report time, id) order, wrapping round, so that successive turns cover them
    all."""
    rest = sorted(
        (m for queue in queues.values() for m in list(queue)[RECHECK_PER_SEVERITY:]),
        key=lambda m: (m.reported_at, m.id),
    )
    if not rest:
        return []
    count = min(REREAD_IN_TURN, len(rest))
    start = turn * REREAD_IN_TURN
    chosen = [rest[(start + offset) % len(rest)] for offset in range(count)]
    ids = {m.id for m in chosen}
    for queue in queues.values():
        remaining = [m for m in queue if m.id not in ids]
        queue.clear()
        queue.extend(remaining)
    return chosen


def oldest_ages(
    messages: Iterable[UnresolvedPhisherMessage], *, now: float, horizon: float
) -> dict[str, float]:
    """Severity -> seconds the oldest unresolved message of it has waited (never below 0);
    severities without one are left out."""
    oldest: dict[str, float] = {}
    for message in messages:
        if message.reported_at < now - horizon:
            continue
        current = oldest.get(message.severity)
        if current is None or message.reported_at < current:
            oldest[message.severity] = message.reported_at
    return {severity: max(0.0, now - stamp) for severity, stamp in oldest.items()}
