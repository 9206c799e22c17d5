"""The state file's lines: every line kind round-trips, and every rule of the decoder
refuses what it exists to refuse (each test names the reason it expects)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kb4_exporter.model.cached_recipients import CachedRecipients
from kb4_exporter.model.phisher import PhisherMessage, UnresolvedPhisherMessage
from kb4_exporter.model.reporting import (
    Account,
    EnrollmentGroup,
    Group,
    PstRecipients,
    RiskPoint,
    SecurityTest,
    TrainingCampaign,
    User,
)
from kb4_exporter.model.snapshot import Snapshot
from kb4_exporter.model.source_status import SourceStatus
from kb4_exporter.model.user_events import UserEvent
from kb4_exporter.persistence.record_codec import StateCorruptError
from kb4_exporter.persistence.state_codec import (
    FORMAT,
    VERSION,
    AccountState,
    decode_state,
    encode_state,
)

HEADER = json.dumps({"format": FORMAT, "version": VERSION, "account": "acme", "saved_at": 5.0})
END = json.dumps(["end"])
USER = [1, 10.0, 20.0, [100], None, "active"]


def full_state() -> AccountState:
    recipients = PstRecipients(7, frozenset({"id:1", "id:2"}), (30.0, 90.0), 4)
    snapshot = Snapshot(
        account=Account("Acme", "Diamond", 50, 31.5),
        users=(User(1, 10.0, 20.0, (100, 200), 1.0, "active"),),
        groups=(Group(100, "Sales", 3, 40.0, "active"),),
        security_tests=(SecurityTest(7, 3, "PST", "Closed", 2.0, 3, 25.0, {"clicked": 1}),),
        recipients={7: recipients},
        training_campaigns=(TrainingCampaign(9, "Basics", "In Progress", "Specific", 3.0, None),),
        enrollments=(EnrollmentGroup(9, "Basics", "Passed", 4.0, False, True, 12),),
        phisher_messages=(PhisherMessage("HIGH", "RECEIVED", 6.0),),
        phisher_window=(1.0, 2.0),
        phisher_unresolved=(UnresolvedPhisherMessage("m-1", "CRITICAL", 7.0),),
        phisher_unresolved_window=(3.0, 4.0),
        risk_history=(RiskPoint(8.0, 30.0),),
        archived_user_count=2,
        phishing_campaign_count=3,
        store_purchase_count=4,
        policy_count=5,
        user_events=(UserEvent("phish", 5, 9.0),),
    )
    return AccountState(
        snapshot=snapshot,
        sources={"users": SourceStatus(True, 1.0, 1.0, 0.5, False)},
        recipient_cache={7: CachedRecipients("closed|clicked=1", recipients, 11.0)},
        ledgers={"reporting": [1.0, 2.0]},
        saved_at=12.0,
    )


def decode(*rows: Any, header: str = HEADER) -> AccountState:
    return decode_state([header, *(json.dumps(row) for row in rows)], "acme")


def test_every_line_kind_round_trips() -> None:
    state = full_state()
    assert decode_state(encode_state(state, "acme"), "acme") == state


def test_a_recipients_line_without_its_fetch_time_loads_as_fetched_at_zero() -> None:
    # Files written before the fetch time was kept have six values on the line.
    state = decode(["recipients", 7, "open|", ["id:1"], [30.0], 2], ["end"])
    cached = state.recipient_cache[7]
    assert cached.fetched_at == 0.0
    assert cached.summary == PstRecipients(7, frozenset({"id:1"}), (30.0,), 2)
    assert state.snapshot.recipients is None  # no "recipients" section line


def test_the_header_must_name_the_format_version_and_account() -> None:
    lines = [json.dumps({"format": "other"}), END]
    with pytest.raises(StateCorruptError, match="not a kb4_exporter state file"):
        decode_state(lines, "acme")
    old = json.dumps({"format": FORMAT, "version": 1, "account": "acme"})
    with pytest.raises(StateCorruptError, match="unsupported version 1"):
        decode_state([old, END], "acme")
    with pytest.raises(StateCorruptError, match="belongs to account 'acme'"):
        decode_state([HEADER, END], "beta")
    with pytest.raises(StateCorruptError, match="not a kb4_exporter state file"):
        decode_state([], "acme")


def test_a_file_without_its_end_line_is_truncated() -> None:
    with pytest.raises(StateCorruptError, match="truncated"):
        decode(["section", "users", 1], ["user", USER])


def test_lines_after_the_end_are_not_read() -> None:
    state = decode(["end"], "not even json")
    assert state.snapshot == Snapshot()


def test_a_line_must_be_a_non_empty_list() -> None:
    with pytest.raises(StateCorruptError, match="not a record"):
        decode({"user": USER}, ["end"])
    with pytest.raises(StateCorruptError, match="not a record"):
        decode([], ["end"])


def test_a_record_belongs_inside_its_own_section() -> None:
    with pytest.raises(StateCorruptError, match="user record outside its section"):
        decode(["user", USER], ["end"])
    group = [100, "Sales", 3, 40.0, "active"]
    with pytest.raises(StateCorruptError, match="group record outside its section"):
        decode(["section", "users", 1], ["group", group], ["end"])


def test_unknown_sections_and_line_kinds_are_refused() -> None:
    with pytest.raises(StateCorruptError, match="unknown section 'admins'"):
        decode(["section", "admins", 0], ["end"])
    with pytest.raises(StateCorruptError, match="unknown line kind 'enrollment'"):
        decode(["section", "enrollments", 1], ["enrollment", [None, "a"]], ["end"])


def test_a_record_value_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(StateCorruptError, match=r"user\.id is not a int"):
        decode(["section", "users", 1], ["user", ["x", *USER[1:]]], ["end"])


def test_a_record_with_the_wrong_number_of_fields_is_refused() -> None:
    with pytest.raises(StateCorruptError, match="user record has the wrong number of fields"):
        decode(["section", "users", 1], ["user", USER[:-1]], ["end"])


def test_a_window_must_be_two_timestamps() -> None:
    with pytest.raises(StateCorruptError, match="phisher_window is not two timestamps"):
        decode(["phisher_window", [1.0, 2.0, 3.0]], ["end"])
    with pytest.raises(StateCorruptError, match="phisher_unresolved_window is not two"):
        decode(["phisher_unresolved_window", ["a", "b"]], ["end"])


def test_a_count_line_names_a_known_count_within_range() -> None:
    assert decode(["count", "policy_count", 3], ["end"]).snapshot.policy_count == 3
    for row in (["count", "user_count", 3], ["count", "policy_count", -1]):
        with pytest.raises(StateCorruptError, match="not a known count"):
            decode(row, ["end"])


def test_a_recipients_line_is_checked_value_by_value() -> None:
    good = ["recipients", 7, "open|", ["id:1"], [30.0], 2, 1.0]
    assert decode(good, ["end"]).recipient_cache[7].fetched_at == 1.0
    with pytest.raises(StateCorruptError, match="wrong number of values"):
        decode(good[:5], ["end"])
    with pytest.raises(StateCorruptError, match="values of the wrong type"):
        decode([*good[:4], ["soon"], *good[5:]], ["end"])
    with pytest.raises(StateCorruptError, match="count out of range"):
        decode([*good[:5], -2, good[6]], ["end"])


def test_a_ledger_line_holds_timestamps_only() -> None:
    assert decode(["ledger", "reporting", [1.0, 2]], ["end"]).ledgers == {"reporting": [1.0, 2.0]}
    with pytest.raises(StateCorruptError, match="other than timestamps"):
        decode(["ledger", "reporting", "x"], ["end"])


def test_a_source_line_holds_a_source_status() -> None:
    status = [True, 1.0, 1.0, 0.5, False]
    assert decode(["source", "users", status], ["end"]).sources == {
        "users": SourceStatus(True, 1.0, 1.0, 0.5, False)
    }
    with pytest.raises(StateCorruptError, match=r"source\.up is not a bool"):
        decode(["source", "users", [1, *status[1:]]], ["end"])
