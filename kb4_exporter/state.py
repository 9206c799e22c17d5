"""Persistence of an account's data in the state dir, for warm restarts.

One JSON-lines file per account: a header line, then one line per record, so neither
writing nor reading ever holds the whole file as one document (a 25k-user org has
hundreds of thousands of records). Files are written to a temporary name, fsynced and
renamed, so a crash leaves the previous file intact. A file that cannot be parsed is
logged and ignored: the exporter then starts cold, it never fails to start.

The request ledgers are persisted too, so a restart does not forget budget already spent.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from kb4_exporter.model import (
    Account,
    Enrollment,
    Group,
    PhisherMessage,
    PstRecipients,
    RiskPoint,
    SecurityTest,
    Snapshot,
    TrainingCampaign,
    UnresolvedPhisherMessage,
    User,
    UserEvent,
)
from kb4_exporter.refresh import CachedRecipients
from kb4_exporter.results import SourceStatus

log = logging.getLogger(__name__)

FORMAT = "kb4_exporter-state"
VERSION = 1
# No write takes this long: an older temp file is the remains of a killed process. Younger
# ones may be a write in progress (say, of a second exporter sharing the directory).
STALE_TEMP_FILE_SECONDS = 3600.0


class StateCorruptError(ValueError):
    pass


@dataclass
class AccountState:
    snapshot: Snapshot = field(default_factory=Snapshot)
    sources: dict[str, SourceStatus] = field(default_factory=dict)
    recipient_cache: dict[int, CachedRecipients] = field(default_factory=dict)
    ledgers: dict[str, list[float]] = field(default_factory=dict)
    saved_at: float | None = None


# --- record codecs: a record <-> a JSON list of its field values ---------------------

_RECORD_TYPES: Mapping[str, type[Any]] = {
    "account": Account,
    "user": User,
    "group": Group,
    "security_test": SecurityTest,
    "training_campaign": TrainingCampaign,
    "enrollment": Enrollment,
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
    "enrollments": "enrollment",
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


def _encode(record: Any) -> list[Any]:
    values = []
    for item in fields(record):
        value = getattr(record, item.name)
        if isinstance(value, tuple | frozenset):
            value = sorted(value) if isinstance(value, frozenset) else list(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        values.append(value)
    return values


def _decode(kind: str, values: Any) -> Any:
    cls = _RECORD_TYPES[kind]
    return _build(cls, values, kind)


def _build(cls: type[Any], values: Any, kind: str) -> Any:
    """`cls(*values)` after checking every value against the field's declared type."""
    declared = fields(cls)
    if not isinstance(values, list) or len(values) != len(declared):
        raise StateCorruptError(f"{kind} record has the wrong number of fields")
    for item, value in zip(declared, values, strict=True):
        if not _matches(value, str(item.type)):
            raise StateCorruptError(f"{kind}.{item.name} is not a {item.type}")
    return cls(*(tuple(v) if isinstance(v, list) else v for v in values))


def _is_number(value: Any) -> bool:
    """A JSON number that is also a finite float: every number read from the file ends up
    in a metric, and 1e400 written out as an integer, or NaN/Infinity (which Python's json
    accepts), would break or poison every scrape."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


_SCALARS: Mapping[str, Callable[[Any], bool]] = {
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and _is_number(v),
    "float": _is_number,
}


def _matches(value: Any, declared: str) -> bool:
    """Checks the few type spellings the record classes use."""
    options = [part.strip() for part in declared.split("|")]
    if value is None:
        return "None" in options
    for option in options:
        if option in _SCALARS and _SCALARS[option](value):
            return True
        if option.startswith("tuple[") and isinstance(value, list):
            inner = option[len("tuple[") : -1].split(",")[0].strip()
            return all(_SCALARS[inner](v) for v in value)
        if option.startswith("Mapping[") and isinstance(value, dict):
            return all(isinstance(k, str) and _SCALARS["int"](v) for k, v in value.items())
    return False


# --- writing ---------------------------------------------------------------------------


def state_path(state_dir: str, account: str) -> Path:
    return Path(state_dir) / f"{account}.state.jsonl"


def _lines(state: AccountState, account: str) -> Iterator[str]:
    header = {"format": FORMAT, "version": VERSION, "account": account, "saved_at": state.saved_at}
    yield json.dumps(header)
    snap = state.snapshot
    if snap.account is not None:
        yield json.dumps(["account", _encode(snap.account)])
    for section, kind in _SNAPSHOT_SECTIONS.items():
        records = getattr(snap, section)
        if records is None:
            continue
        yield json.dumps(["section", section, len(records)])
        for record in records:
            yield json.dumps([kind, _encode(record)])
    for name in _WINDOW_FIELDS:
        window = getattr(snap, name)
        if window is not None:
            yield json.dumps([name, list(window)])
    for name in _COUNT_FIELDS:
        count = getattr(snap, name)
        if count is not None:
            yield json.dumps(["count", name, count])
    if snap.recipients is not None:
        yield json.dumps(["section", "recipients", len(snap.recipients)])
    for pst_id, cached in state.recipient_cache.items():
        summary = cached.summary
        yield json.dumps(
            [
                "recipients",
                pst_id,
                cached.fingerprint,
                sorted(summary.clicker_keys),
                list(summary.report_delays),
                summary.recipient_count,
                cached.fetched_at,
            ]
        )
    for name, status in state.sources.items():
        yield json.dumps(["source", name, _encode(status)])
    for api, stamps in state.ledgers.items():
        yield json.dumps(["ledger", api, stamps])
    yield json.dumps(["end"])


def write_state(path: Path, state: AccountState, account: str) -> None:
    """Write atomically; raises OSError (e.g. disk full) with the old file left intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, removed on failure
        "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
    )
    try:
        with handle:
            for line in _lines(state, account):
                handle.write(line)
                handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def remove_stale_temp_files(path: Path, now: float) -> int:
    """Delete what writes of `path` killed midway left behind; returns how many."""
    prefix = f".{path.name}."
    try:
        candidates = [p for p in path.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return 0
    removed = 0
    for candidate in candidates:
        try:
            if now - candidate.stat().st_mtime >= STALE_TEMP_FILE_SECONDS:
                candidate.unlink()
                removed += 1
        except OSError:
            continue
    return removed


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- reading ---------------------------------------------------------------------------


def read_state(path: Path, account: str) -> AccountState | None:
    """The state in `path`, or None when there is none or it is corrupt (logged)."""
    try:
        with path.open(encoding="utf-8") as handle:
            return _parse(handle, account)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        log.error("state file %s cannot be read (%s); starting without it", path, err)
    # RecursionError: a line nested deeper than the JSON decoder's recursion can go.
    except (StateCorruptError, ValueError, TypeError, KeyError, IndexError, RecursionError) as err:
        log.error("state file %s is corrupt (%s); ignoring it and starting cold", path, err)
    return None


def _parse(lines: Iterable[str], account: str) -> AccountState:
    iterator = iter(lines)
    header = json.loads(next(iterator, "null"))
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise StateCorruptError("not a kb4_exporter state file")
    if header.get("version") != VERSION:
        raise StateCorruptError(f"unsupported version {header.get('version')!r}")
    if header.get("account") != account:
        raise StateCorruptError(f"file belongs to account {header.get('account')!r}")
    state = AccountState(saved_at=header.get("saved_at"))
    sections: dict[str, list[Any]] = {}
    snapshot_fields: dict[str, Any] = {}
    current: list[Any] | None = None
    current_kind = ""
    has_recipients = False
    ended = False
    handlers: dict[str, Callable[[list[Any]], None]] = {}

    def section(row: list[Any]) -> None:
        nonlocal current, current_kind, has_recipients
        if row[1] == "recipients":
            has_recipients = True
            return
        if row[1] not in _SNAPSHOT_SECTIONS:
            raise StateCorruptError(f"unknown section {row[1]!r}")
        current = sections.setdefault(row[1], [])
        current_kind = _SNAPSHOT_SECTIONS[row[1]]

    def recipients(row: list[Any]) -> None:
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
        if not all(_matches(value, declared) for value, declared in checks):
            raise StateCorruptError("a recipients line has values of the wrong type")
        summary = PstRecipients(int(pst_id), frozenset(clickers), tuple(delays), int(count))
        state.recipient_cache[int(pst_id)] = CachedRecipients(
            str(fingerprint), summary, float(fetched_at)
        )

    handlers["section"] = section
    handlers["recipients"] = recipients
    handlers["account"] = lambda row: snapshot_fields.__setitem__(
        "account", _decode("account", row[1])
    )

    def window(row: list[Any]) -> None:
        if not _matches(row[1], "tuple[float, ...]") or len(row[1]) != 2:
            raise StateCorruptError(f"{row[0]} is not two timestamps")
        snapshot_fields[row[0]] = (float(row[1][0]), float(row[1][1]))

    for name in _WINDOW_FIELDS:
        handlers[name] = window
    handlers["source"] = lambda row: state.sources.__setitem__(
        str(row[1]), _build(SourceStatus, row[2], "source")
    )

    def count(row: list[Any]) -> None:
        if row[1] not in _COUNT_FIELDS or not _matches(row[2], "int"):
            raise StateCorruptError("a count line is not a known count")
        snapshot_fields[row[1]] = row[2]

    handlers["count"] = count

    def ledger(row: list[Any]) -> None:
        if not _matches(row[2], "tuple[float, ...]"):
            raise StateCorruptError("a ledger line holds something other than timestamps")
        state.ledgers[str(row[1])] = [float(v) for v in row[2]]

    handlers["ledger"] = ledger
    for text in iterator:
        row = json.loads(text)
        if not isinstance(row, list) or not row:
            raise StateCorruptError("a line is not a record")
        kind = row[0]
        if kind == "end":
            ended = True
            break
        if kind in _RECORD_TYPES and kind != "account":
            if current is None or kind != current_kind:
                raise StateCorruptError(f"{kind} record outside its section")
            current.append(_decode(kind, row[1]))
        elif kind in handlers:
            handlers[kind](row)
        else:
            raise StateCorruptError(f"unknown line kind {kind!r}")
    if not ended:
        raise StateCorruptError("file is truncated")
    for name, records in sections.items():
        snapshot_fields[name] = tuple(records)
    if has_recipients:
        snapshot_fields["recipients"] = {
            pst_id: cached.summary for pst_id, cached in state.recipient_cache.items()
        }
    state.snapshot = Snapshot(**snapshot_fields)
    return state
