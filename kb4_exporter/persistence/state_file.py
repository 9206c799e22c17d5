"""Persistence of an account's data in the state dir, for warm restarts.

One JSON-lines file per account: a header line, then one line per record, so neither
writing nor reading ever holds the whole file as one document (a 25k-user org has
hundreds of thousands of records). Files are written to a temporary name, fsynced and
renamed, so a crash leaves the previous file intact. A file that cannot be parsed is
logged and ignored: the exporter then starts cold, it never fails to start.

The request ledgers are persisted too, so a restart does not forget budget already spent,
and that is why one state dir serves one exporter process: `lock_state_dir` makes a
second one refuse to start rather than keep a second ledger of the same account.

What is read back is bounded: a regular file of at most MAX_STATE_FILE_BYTES, in lines of
at most MAX_STATE_LINE_BYTES. A FIFO, a device or a file without end is refused as corrupt
before it can hang start-up or fill memory.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import math
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, BinaryIO

from kb4_exporter.model.cached_recipients import CachedRecipients
from kb4_exporter.model.parsing import read_count, read_percentage, read_score
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
from kb4_exporter.model.untrusted_text import clean_text
from kb4_exporter.model.user_events import UserEvent
from kb4_exporter.refresh.results import SourceStatus

log = logging.getLogger(__name__)

FORMAT = "kb4_exporter-state"
# 2: enrollments are kept as counted groups, not rows. Files of another version are
# ignored (the exporter starts cold and refreshes).
VERSION = 2
# No write takes this long: an older temp file is the remains of a killed process. Younger
# ones may be a write in progress (say, of a second exporter sharing the directory).
STALE_TEMP_FILE_SECONDS = 3600.0
# A 100,000-user org's file is about 60 MB (enrollments are most of it), its longest line
# (the recipients of one PST) a few MB.
MAX_STATE_FILE_BYTES = 256 * 1024 * 1024
MAX_STATE_LINE_BYTES = 16 * 1024 * 1024
LOCK_FILE_NAME = "kb4_exporter.lock"


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
    """`cls(*values)` after checking every value against the field's declared type.

    Strings are cleaned and numbers checked as the API parsers clean and check them: a
    file written by an older version, or edited, must not bring back what they keep out of
    label values and metrics.
    """
    declared = fields(cls)
    if not isinstance(values, list) or len(values) != len(declared):
        raise StateCorruptError(f"{kind} record has the wrong number of fields")
    for item, value in zip(declared, values, strict=True):
        if not _matches(value, str(item.type)):
            raise StateCorruptError(f"{kind}.{item.name} is not a {item.type}")
        if not _in_range(item.name, value):
            raise StateCorruptError(f"{kind}.{item.name} is out of range")
    return cls(*(_cleaned(v) for v in values))


def _kept_by(reader: Callable[[Any], Any]) -> Callable[[Any], bool]:
    return lambda value: bool(reader(value) == value)


def _all_counts(value: Any) -> bool:
    return all(read_count(count) == count for count in value.values())


# Fields whose values the API parsers keep in range (model.read_count, read_score,
# read_percentage), by name, in every record type that has them.
_RANGES: Mapping[str, Callable[[Any], bool]] = {
    "count": _kept_by(read_count),
    "member_count": _kept_by(read_count),
    "seats": _kept_by(read_count),
    "counts": _all_counts,
    "risk_score": _kept_by(read_score),
    "phish_prone_percentage": _kept_by(read_percentage),
}


def _in_range(name: str, value: Any) -> bool:
    check = _RANGES.get(name)
    return value is None or check is None or check(value)


def _cleaned(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return tuple(_cleaned(v) for v in value)
    return value


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
        with _open_regular_file(path) as handle:
            return _parse(_bounded_lines(handle), account)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        log.error("state file %s cannot be read (%s); starting without it", path, err)
    # RecursionError: a line nested deeper than the JSON decoder's recursion can go.
    except (StateCorruptError, ValueError, TypeError, KeyError, IndexError, RecursionError) as err:
        log.error("state file %s is corrupt (%s); ignoring it and starting cold", path, err)
    return None


def _open_regular_file(path: Path) -> BinaryIO:
    """`path` opened for reading if it is a regular file within MAX_STATE_FILE_BYTES.

    Opened without blocking, so a FIFO cannot hang start-up waiting for a writer, and
    checked on the open file, so what is checked is what is read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StateCorruptError("not a regular file (a FIFO, device, socket or directory)")
        if info.st_size > MAX_STATE_FILE_BYTES:
            raise StateCorruptError(
                f"{info.st_size} bytes, over the {MAX_STATE_FILE_BYTES} a state file may have"
            )
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _bounded_lines(handle: BinaryIO) -> Iterator[str]:
    """The file's lines as text, each within MAX_STATE_LINE_BYTES and all of them within
    MAX_STATE_FILE_BYTES (the file may grow while it is read)."""
    total = 0
    while line := handle.readline(MAX_STATE_LINE_BYTES + 1):
        total += len(line)
        if len(line) > MAX_STATE_LINE_BYTES:
            raise StateCorruptError(f"a line is longer than {MAX_STATE_LINE_BYTES} bytes")
        if total > MAX_STATE_FILE_BYTES:
            raise StateCorruptError(f"it grew past {MAX_STATE_FILE_BYTES} bytes while read")
        yield line.decode("utf-8")


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
        if read_count(count) is None:
            raise StateCorruptError("a recipients line has a count out of range")
        keys = frozenset(clean_text(key) for key in clickers)
        summary = PstRecipients(int(pst_id), keys, tuple(delays), int(count))
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
        if row[1] not in _COUNT_FIELDS or not _matches(row[2], "int") or read_count(row[2]) is None:
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


# --- one exporter per state dir ------------------------------------------------------


class StateDirBusyError(Exception):
    """Another process holds the state dir's lock."""


# Lock files this process holds, by the real path of their directory. flock locks belong
# to an open file: a second open of the same file, even in this process, would conflict,
# so each directory is opened once, and kept open (the kernel lets go when the process
# ends, however it ends).
_held_locks: dict[str, int] = {}
_held_locks_guard = threading.Lock()


def lock_state_dir(directory: str) -> None:
    """Hold `directory` for the rest of this process, or raise StateDirBusyError when
    another process holds it. Accounts of one process share their state dir's lock.

    Raises OSError when no lock file can be made or opened (a read-only dir without
    one): the caller decides whether to go on without the lock.
    """
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(path)
    with _held_locks_guard:
        if key in _held_locks:
            return
        fd = _open_lock_file(path / LOCK_FILE_NAME)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(fd)
            os.close(fd)
            raise StateDirBusyError(
                f"state dir {directory} is in use by another kb4-exporter process{holder}; "
                "two exporters on one state dir would each keep their own count of the "
                "API budget and overwrite each other's state: give each its own --state.dir"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        _held_locks[key] = fd
    _write_holder(fd)


def _open_lock_file(path: Path) -> int:
    flags = os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NOCTTY | os.O_NONBLOCK
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | flags, 0o600)
    except OSError as err:
        # A read-only dir (or file) may still hold a lock file to lock: flock needs no
        # write access.
        if err.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        return os.open(path, os.O_RDONLY | flags)


def _write_holder(fd: int) -> None:
    """Leave our pid in the lock file, for the message a second exporter prints."""
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError:
        pass  # read-only: the lock holds all the same


def _lock_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (pid {text})" if text.isdigit() else ""
