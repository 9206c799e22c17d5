"""An account's state <-> the lines of its state file.

JSON lines: a header line, then one line per record, so neither writing nor reading ever
holds the whole file as one document (a 25k-user org has hundreds of thousands of
records). The lines, in the order they are written:

    {"format": FORMAT, "version": VERSION, "account": ..., "saved_at": ...}
    ["account", [fields]]                       the account record, when known
    ["section", name, n] then n [kind, [fields]] each snapshot list that is known
    [window_field, [start, end]]                the PhishER windows, when known
    ["count", field, n]                         the counts the snapshot keeps, when known
    ["section", "recipients", n]                the snapshot has recipient summaries
    ["recipients", pst_id, fingerprint, clicker_keys, report_delays, count, fetched_at]
    ["source", name, [fields]]                  each source's latest status
    ["ledger", api, [timestamps]]               each API's request ledger
    ["end"]                                     a file without it is truncated
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

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
from kb4_exporter.model.untrusted_text import clean_text
from kb4_exporter.model.user_events import UserEvent
from kb4_exporter.persistence.record_codec import (
    StateCorruptError,
    decode_record,
    encode_record,
    is_count,
    matches,
)

FORMAT = "kb4_exporter-state"
# 2: enrollments are kept as counted groups, not rows. Files of another version are
# ignored (the exporter starts cold and refreshes).
VERSION = 2


@dataclass
class AccountState:
    snapshot: Snapshot = field(default_factory=Snapshot)
    sources: dict[str, SourceStatus] = field(default_factory=dict)
    recipient_cache: dict[int, CachedRecipients] = field(default_factory=dict)
    ledgers: dict[str, list[float]] = field(default_factory=dict)
    saved_at: float | None = None


_RECORD_TYPES: Mapping[str, type[Any]] = {
    "account": Account,
    "user": User,
    "group": Group,
    "security_test": SecurityTest,
    "training_campaign": TrainingCampaign,
    "enrollment_group": EnrollmentGroup,
    "phisher_message": PhisherMessage,
    "phisher_unresolved_message": UnresolvedPhisherMessage,
    "risk_point": RiskPoint,
    "user_event": UserEvent,
}
_SNAPSHOT_SECTIONS: Mapping[str, str] = {
    # snapshot field -> record kind of its items
    "users": "user",
    "groups": "group",
    "security_tests": "security_test",
    "training_campaigns": "training_campaign",
    "enrollments": "enrollment_group",
    "phisher_messages": "phisher_message",
    "phisher_unresolved": "phisher_unresolved_message",
    "risk_history": "risk_point",
    "user_events": "user_event",
}
# Snapshot fields that hold a pair of timestamps.
_WINDOW_FIELDS = ("phisher_window", "phisher_unresolved_window")
# Snapshot fields that hold a count only.
_COUNT_FIELDS = (
    "archived_user_count",
    "phishing_campaign_count",
    "store_purchase_count",
    "policy_count",
)
# The recipients section's marker: its lines follow, one per cached PST.
_RECIPIENTS = "recipients"


# --- writing ---------------------------------------------------------------------------


def encode_state(state: AccountState, account: str) -> Iterator[str]:
    """The lines of `account`'s state file, without line ends."""
    header = {"format": FORMAT, "version": VERSION, "account": account, "saved_at": state.saved_at}
    yield json.dumps(header)
    yield from _record_lines(state.snapshot)
    yield from _scalar_lines(state.snapshot)
    yield from _recipient_lines(state)
    for name, status in state.sources.items():
        yield json.dumps(["source", name, encode_record(status)])
    for api, stamps in state.ledgers.items():
        yield json.dumps(["ledger", api, stamps])
    yield json.dumps(["end"])


def _record_lines(snap: Snapshot) -> Iterator[str]:
    if snap.account is not None:
        yield json.dumps(["account", encode_record(snap.account)])
    for section, kind in _SNAPSHOT_SECTIONS.items():
        records = getattr(snap, section)
        if records is None:
            continue
        yield json.dumps(["section", section, len(records)])
        for record in records:
            yield json.dumps([kind, encode_record(record)])


def _scalar_lines(snap: Snapshot) -> Iterator[str]:
    for name in _WINDOW_FIELDS:
        window = getattr(snap, name)
        if window is not None:
            yield json.dumps([name, list(window)])
    for name in _COUNT_FIELDS:
        count = getattr(snap, name)
        if count is not None:
            yield json.dumps(["count", name, count])


def _recipient_lines(state: AccountState) -> Iterator[str]:
    if state.snapshot.recipients is not None:
        yield json.dumps(["section", _RECIPIENTS, len(state.snapshot.recipients)])
    for pst_id, cached in state.recipient_cache.items():
        summary = cached.summary
        yield json.dumps(
            [
                _RECIPIENTS,
                pst_id,
                cached.fingerprint,
                sorted(summary.clicker_keys),
                list(summary.report_delays),
                summary.recipient_count,
                cached.fetched_at,
            ]
        )


# --- reading ---------------------------------------------------------------------------


def decode_state(lines: Iterable[str], account: str) -> AccountState:
    """The state the lines hold; raises StateCorruptError (or the ValueError, TypeError,
    KeyError, IndexError or RecursionError of a malformed line) when they hold none."""
    iterator = iter(lines)
    saved_at = _check_header(json.loads(next(iterator, "null")), account)
    decoder = _StateDecoder(AccountState(saved_at=saved_at))
    for text in iterator:
        row = json.loads(text)
        if not isinstance(row, list) or not row:
            raise StateCorruptError("a line is not a record")
        if row[0] == "end":
            return decoder.finish()
        decoder.read(row)
    raise StateCorruptError("file is truncated")


def _check_header(header: Any, account: str) -> Any:
    """The header's saved_at, once the header says the file is `account`'s, in VERSION."""
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise StateCorruptError("not a kb4_exporter state file")
    if header.get("version") != VERSION:
        raise StateCorruptError(f"unsupported version {header.get('version')!r}")
    if header.get("account") != account:
        raise StateCorruptError(f"file belongs to account {header.get('account')!r}")
    return header.get("saved_at")


class _StateDecoder:
    """Builds the state from the lines between the header and the end, one at a time."""

    def __init__(self, state: AccountState) -> None:
        self._state = state
        self._sections: dict[str, list[Any]] = {}
        self._snapshot_fields: dict[str, Any] = {}
        # The section the record lines now read belong to, and the kind of its records.
        self._current: list[Any] | None = None
        self._current_kind = ""
        self._has_recipients = False
        self._handlers: dict[str, Callable[[list[Any]], None]] = {
            "section": self._section,
            _RECIPIENTS: self._recipients,
            "account": self._account,
            "source": self._source,
            "count": self._count,
            "ledger": self._ledger,
            **dict.fromkeys(_WINDOW_FIELDS, self._window),
        }

    def read(self, row: list[Any]) -> None:
        kind = row[0]
        if kind in _RECORD_TYPES and kind != "account":
            self._record(kind, row)
        elif kind in self._handlers:
            self._handlers[kind](row)
        else:
            raise StateCorruptError(f"unknown line kind {kind!r}")

    def finish(self) -> AccountState:
        for name, records in self._sections.items():
            self._snapshot_fields[name] = tuple(records)
        if self._has_recipients:
            self._snapshot_fields["recipients"] = {
                pst_id: cached.summary for pst_id, cached in self._state.recipient_cache.items()
            }
        self._state.snapshot = Snapshot(**self._snapshot_fields)
        return self._state

    def _record(self, kind: str, row: list[Any]) -> None:
        if self._current is None or kind != self._current_kind:
            raise StateCorruptError(f"{kind} record outside its section")
        self._current.append(decode_record(_RECORD_TYPES[kind], row[1], kind))

    def _section(self, row: list[Any]) -> None:
        if row[1] == _RECIPIENTS:
            self._has_recipients = True
            return
        if row[1] not in _SNAPSHOT_SECTIONS:
            raise StateCorruptError(f"unknown section {row[1]!r}")
        self._current = self._sections.setdefault(row[1], [])
        self._current_kind = _SNAPSHOT_SECTIONS[row[1]]

    def _recipients(self, row: list[Any]) -> None:
        pst_id, cached = _decode_recipients(row)
        self._state.recipient_cache[pst_id] = cached

    def _account(self, row: list[Any]) -> None:
        self._snapshot_fields["account"] = decode_record(Account, row[1], "account")

    def _window(self, row: list[Any]) -> None:
        if not matches(row[1], "tuple[float, ...]") or len(row[1]) != 2:
            raise StateCorruptError(f"{row[0]} is not two timestamps")
        self._snapshot_fields[row[0]] = (float(row[1][0]), float(row[1][1]))

    def _count(self, row: list[Any]) -> None:
        if row[1] not in _COUNT_FIELDS or not is_count(row[2]):
            raise StateCorruptError("a count line is not a known count")
        self._snapshot_fields[row[1]] = row[2]

    def _source(self, row: list[Any]) -> None:
        self._state.sources[str(row[1])] = decode_record(SourceStatus, row[2], "source")

    def _ledger(self, row: list[Any]) -> None:
        if not matches(row[2], "tuple[float, ...]"):
            raise StateCorruptError("a ledger line holds something other than timestamps")
        self._state.ledgers[str(row[1])] = [float(v) for v in row[2]]


def _decode_recipients(row: list[Any]) -> tuple[int, CachedRecipients]:
    # Files written before the fetch time was kept have no seventh value.
    if len(row) == 6:
        row = [*row, 0.0]
    if len(row) != 7:
        raise StateCorruptError("a recipients line has the wrong number of values")
    _, pst_id, fingerprint, clickers, delays, count, fetched_at = row
    checks = (
        (pst_id, "int"),
        (fingerprint, "str"),
        (clickers, "tuple[str, ...]"),
        (delays, "tuple[float, ...]"),
        (count, "int"),
        (fetched_at, "float"),
    )
    if not all(matches(value, declared) for value, declared in checks):
        raise StateCorruptError("a recipients line has values of the wrong type")
    if not is_count(count):
        raise StateCorruptError("a recipients line has a count out of range")
    keys = frozenset(clean_text(key) for key in clickers)
    summary = PstRecipients(int(pst_id), keys, tuple(delays), int(count))
    return int(pst_id), CachedRecipients(str(fingerprint), summary, float(fetched_at))
