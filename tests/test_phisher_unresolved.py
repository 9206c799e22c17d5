"""The unresolved-message tracker behind the paging signal, against an in-memory PhishER."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import pytest

from kb4_exporter.api.listing import Listing
from kb4_exporter.model.phisher import PhisherMessageStatus, UnresolvedPhisherMessage
from kb4_exporter.model.snapshot import Snapshot
from kb4_exporter.refresh.phisher_unresolved import (
    OVERLAP_SECONDS,
    RECHECK_PER_SEVERITY,
    REREAD_IN_TURN,
    Tracker,
    oldest_ages,
    poll,
    tracker_of,
)

HOUR = 3600.0
DAY = 86400.0
NOW = 1_800_000_000.0
HORIZON = 30 * DAY


@dataclass
class FakePhisher:
    """Messages by id; lists newest first, like PhishER, and records every call."""

    messages: dict[str, PhisherMessageStatus] = field(default_factory=dict)
    page_cap: int | None = None
    listed_since: list[float] = field(default_factory=list)
    looked_up: list[list[str]] = field(default_factory=list)

    def add(
        self, mid: str, severity: str, status: str, reported: float | None
    ) -> PhisherMessageStatus:
        message = PhisherMessageStatus(mid, severity, status, reported)
        self.messages[mid] = message
        return message

    def resolve(self, mid: str) -> None:
        self.messages[mid] = replace(self.messages[mid], action_status="RESOLVED")

    def list_since(self, since: float) -> Listing[PhisherMessageStatus]:
        self.listed_since.append(since)
        found = sorted(
            (m for m in self.messages.values() if (m.reported_at or NOW) >= since),
            key=lambda m: -(m.reported_at or NOW),
        )
        if self.page_cap is not None and len(found) > self.page_cap:
            return Listing(tuple(found[: self.page_cap]), True, 1)
        return Listing(tuple(found), False, 1)

    def look_up(self, ids: Sequence[str]) -> Mapping[str, PhisherMessageStatus]:
        self.looked_up.append(list(ids))
        return {mid: self.messages[mid] for mid in ids if mid in self.messages}

    def poll(
        self, previous: Tracker | None, now: float, horizon: float = HORIZON, turn: int = 0
    ) -> Tracker:
        return poll(
            previous,
            now=now,
            horizon=horizon,
            list_since=self.list_since,
            look_up=self.look_up,
            turn=turn,
        )


def ids(tracker: Tracker) -> list[str]:
    return [m.id for m in tracker.messages]


def test_first_poll_lists_the_whole_horizon_and_tracks_only_unresolved() -> None:
    phisher = FakePhisher()
    phisher.add("old-high", "HIGH", "RECEIVED", NOW - 20 * DAY)
    phisher.add("review", "CRITICAL", "IN_REVIEW", NOW - 5 * HOUR)
    phisher.add("done", "HIGH", "RESOLVED", NOW - 2 * HOUR)
    phisher.add("too-old", "LOW", "RECEIVED", NOW - 31 * DAY)

    tracker = phisher.poll(None, NOW)

    assert phisher.listed_since == [NOW - HORIZON]
    assert phisher.looked_up == []
    assert ids(tracker) == ["old-high", "review"]
    assert (tracker.complete_since, tracker.covered_until) == (NOW - HORIZON, NOW)
    assert not tracker.truncated(NOW, HORIZON)
    assert oldest_ages(tracker.messages, now=NOW, horizon=HORIZON) == {
        "HIGH": 20 * DAY,
        "CRITICAL": 5 * HOUR,
    }


def test_later_polls_list_since_the_last_one_and_read_only_the_oldest_per_severity() -> None:
    phisher = FakePhisher()
    for day in range(1, 6):
        phisher.add(f"high-{day}", "HIGH", "RECEIVED", NOW - day * DAY)
    phisher.add("low", "LOW", "RECEIVED", NOW - 3 * DAY)
    first = phisher.poll(None, NOW)
    phisher.add("new", "MEDIUM", "RECEIVED", NOW + 60)

    second = phisher.poll(first, NOW + 300)

    assert phisher.listed_since[-1] == NOW - OVERLAP_SECONDS
    # Oldest first, up to RECHECK_PER_SEVERITY of each severity, in one query.
    assert phisher.looked_up == [["high-5", "high-4", "high-3", "high-2", "high-1", "low"]]
    assert set(ids(second)) == set(ids(first)) | {"new"}
    assert second.covered_until == NOW + 300


def test_a_severity_is_read_only_until_its_oldest_open_message_is_found() -> None:
    phisher = FakePhisher()
    count = RECHECK_PER_SEVERITY + REREAD_IN_TURN + 3
    for index in range(count):
        phisher.add(f"h{index:02d}", "HIGH", "RECEIVED", NOW - (count - index) * HOUR - DAY)
    first = phisher.poll(None, NOW)
    # Triage cleared the oldest eleven since.
    for index in range(RECHECK_PER_SEVERITY + 1):
        phisher.resolve(f"h{index:02d}")

    second = phisher.poll(first, NOW + 300)

    # The ten oldest with ten others in turn; none of the oldest is open, so the next
    # oldest not yet read (three left) are read.
    assert [len(batch) for batch in phisher.looked_up] == [
        RECHECK_PER_SEVERITY + REREAD_IN_TURN,
        3,
    ]
    assert ids(second) == [f"h{i:02d}" for i in range(RECHECK_PER_SEVERITY + 1, count)]
    # The oldest still open, h11, was reported (count - 11) hours + 1 day before NOW.
    oldest = oldest_ages(second.messages, now=NOW + 300, horizon=HORIZON)
    assert oldest == {"HIGH": (count - RECHECK_PER_SEVERITY - 1) * HOUR + DAY + 300}


def test_a_message_resolved_or_deleted_since_the_last_poll_stops_counting() -> None:
    phisher = FakePhisher()
    phisher.add("resolved", "CRITICAL", "RECEIVED", NOW - 10 * HOUR)
    phisher.add("deleted", "HIGH", "IN_REVIEW", NOW - 9 * HOUR)
    first = phisher.poll(None, NOW)
    phisher.resolve("resolved")
    del phisher.messages["deleted"]

    second = phisher.poll(first, NOW + 300)

    assert ids(second) == []
    assert oldest_ages(second.messages, now=NOW + 300, horizon=HORIZON) == {}


def test_a_message_within_the_overlap_is_read_as_listed_not_looked_up() -> None:
    phisher = FakePhisher()
    phisher.add("recent", "HIGH", "RECEIVED", NOW - 10 * 60)
    first = phisher.poll(None, NOW)
    phisher.resolve("recent")

    second = phisher.poll(first, NOW + 300)

    assert phisher.looked_up == []
    assert ids(second) == []


def test_a_raised_severity_moves_the_message_and_the_old_severity_keeps_looking() -> None:
    phisher = FakePhisher()
    phisher.add("raised", "LOW", "RECEIVED", NOW - 3 * DAY)
    phisher.add("low", "LOW", "RECEIVED", NOW - 2 * DAY)
    first = phisher.poll(None, NOW)
    phisher.messages["raised"] = replace(phisher.messages["raised"], severity="CRITICAL")

    second = phisher.poll(first, NOW + 300)

    assert phisher.looked_up == [["raised", "low"]]
    assert {(m.id, m.severity) for m in second.messages} == {
        ("raised", "CRITICAL"),
        ("low", "LOW"),
    }


def test_a_severity_raised_on_a_message_behind_many_older_open_ones_pages() -> None:
    phisher = FakePhisher()
    for n in range(RECHECK_PER_SEVERITY + 2):
        phisher.add(f"low{n}", "LOW", "RECEIVED", NOW - (20 - n) * DAY)
    phisher.add("raised", "LOW", "RECEIVED", NOW - 5 * HOUR)
    tracker = phisher.poll(None, NOW)
    phisher.messages["raised"] = replace(phisher.messages["raised"], severity="HIGH")

    for n in range(1, 13):
        tracker = phisher.poll(tracker, NOW + n * 300)

    assert "HIGH" in oldest_ages(tracker.messages, now=NOW + HOUR, horizon=HORIZON)


def test_every_tracked_message_is_reread_within_its_turns() -> None:
    phisher = FakePhisher()
    others = 3 * REREAD_IN_TURN + 5
    for n in range(RECHECK_PER_SEVERITY + others):
        phisher.add(f"low{n:02d}", "LOW", "RECEIVED", NOW - 20 * DAY + n * HOUR)
    tracker = phisher.poll(None, NOW)
    # The newest of the others: the last to come round.
    newest = f"low{RECHECK_PER_SEVERITY + others - 1:02d}"
    phisher.messages[newest] = replace(phisher.messages[newest], severity="HIGH")
    turns = -(-others // REREAD_IN_TURN)

    for turn in range(turns):
        assert "HIGH" not in oldest_ages(tracker.messages, now=NOW, horizon=HORIZON)
        tracker = phisher.poll(tracker, NOW + (turn + 1) * 300, turn=turn)

    assert "HIGH" in oldest_ages(tracker.messages, now=NOW, horizon=HORIZON)
    # One query a poll: the oldest ten and ten others.
    assert all(len(batch) <= RECHECK_PER_SEVERITY + REREAD_IN_TURN for batch in phisher.looked_up)


def test_a_truncated_first_listing_is_complete_only_from_its_oldest_report() -> None:
    phisher = FakePhisher(page_cap=2)
    for day in (1, 2, 3):
        phisher.add(f"m{day}", "HIGH", "RECEIVED", NOW - day * DAY)

    tracker = phisher.poll(None, NOW)

    assert ids(tracker) == ["m2", "m1"]
    assert tracker.complete_since == NOW - 2 * DAY
    assert tracker.truncated(NOW, HORIZON)
    # Once the uncovered reports are older than the horizon, nothing is missing.
    assert not tracker.truncated(NOW + 28 * DAY + 1, HORIZON)


def test_a_relist_reads_what_a_cap_cut_off_and_keeps_the_tracked_messages() -> None:
    phisher = FakePhisher(page_cap=2)
    for day in (1, 2, 3):
        phisher.add(f"m{day}", "HIGH", "RECEIVED", NOW - day * DAY)
    cut = phisher.poll(None, NOW)
    phisher.page_cap = None

    # An incremental poll never lists the reports the cap cut off.
    assert "m3" not in ids(phisher.poll(cut, NOW + 300))

    relisted = poll(
        cut,
        now=NOW + 300,
        horizon=HORIZON,
        list_since=phisher.list_since,
        look_up=phisher.look_up,
        relist=True,
    )
    assert phisher.listed_since[-1] == NOW + 300 - HORIZON
    assert ids(relisted) == ["m3", "m2", "m1"]
    assert not relisted.truncated(NOW + 300, HORIZON)


def test_a_relist_still_cut_short_keeps_re_reading_the_tracked_messages() -> None:
    phisher = FakePhisher()
    phisher.add("old", "HIGH", "RECEIVED", NOW - 10 * DAY)
    tracked = phisher.poll(None, NOW)
    phisher.page_cap = 1
    phisher.add("new", "LOW", "RECEIVED", NOW + 100)

    relisted = poll(
        tracked,
        now=NOW + 300,
        horizon=HORIZON,
        list_since=phisher.list_since,
        look_up=phisher.look_up,
        relist=True,
    )
    assert ids(relisted) == ["old", "new"]
    assert phisher.looked_up == [["old"]]
    assert relisted.truncated(NOW + 300, HORIZON)


def test_a_gap_longer_than_the_horizon_starts_over() -> None:
    phisher = FakePhisher()
    phisher.add("m", "HIGH", "RECEIVED", NOW - HOUR)
    first = phisher.poll(None, NOW)
    later = NOW + 3 * DAY

    tracker = phisher.poll(first, later, horizon=2 * DAY)

    assert phisher.listed_since[-1] == later - 2 * DAY
    assert phisher.looked_up == []
    assert ids(tracker) == []


def test_a_message_without_a_report_time_is_aged_from_when_it_was_first_seen() -> None:
    phisher = FakePhisher()
    phisher.add("undated", "HIGH", "RECEIVED", None)
    first = phisher.poll(None, NOW)
    second = phisher.poll(first, NOW + 600)

    assert [m.reported_at for m in second.messages] == [NOW]
    assert oldest_ages(second.messages, now=NOW + 600, horizon=HORIZON) == {"HIGH": 600.0}


def test_oldest_ages_skip_messages_past_the_horizon_and_never_go_below_zero() -> None:
    messages = [
        UnresolvedPhisherMessage("a", "HIGH", NOW - 40 * DAY),
        UnresolvedPhisherMessage("b", "HIGH", NOW - 2 * HOUR),
        UnresolvedPhisherMessage("c", "LOW", NOW + 30),  # a clock ahead of ours
    ]
    assert oldest_ages(messages, now=NOW, horizon=HORIZON) == {"HIGH": 2 * HOUR, "LOW": 0.0}


def test_the_tracker_round_trips_through_the_snapshot() -> None:
    tracker = Tracker((UnresolvedPhisherMessage("a", "HIGH", NOW - HOUR),), NOW - HORIZON, NOW)
    assert tracker_of(Snapshot()) is None
    assert tracker_of(tracker.store(Snapshot())) == tracker


@pytest.mark.parametrize("status", ["RECEIVED", "IN_REVIEW"])
def test_both_unresolved_statuses_are_tracked(status: str) -> None:
    phisher = FakePhisher()
    phisher.add("m", "HIGH", status, NOW - HOUR)
    assert ids(phisher.poll(None, NOW)) == ["m"]
