"""The state dir's files: one per account, for warm restarts.

Files are written to a temporary name, fsynced and renamed, so a crash leaves the
previous file intact. A file that cannot be parsed is logged and ignored: the exporter
then starts cold, it never fails to start. What the lines hold is `state_codec`'s.

What is read back is bounded: a regular file of at most MAX_STATE_FILE_BYTES, in lines of
at most MAX_STATE_LINE_BYTES. A FIFO, a device or a file without end is refused as corrupt
before it can hang start-up or fill memory.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from kb4_exporter.persistence.record_codec import StateCorruptError
from kb4_exporter.persistence.state_codec import AccountState, decode_state, encode_state

log = logging.getLogger(__name__)

# No write takes this long: an older temp file is the remains of a killed process. Younger
# ones may be a write in progress (say, of a second exporter sharing the directory).
STALE_TEMP_FILE_SECONDS = 3600.0
# A 100,000-user org's file is about 60 MB (enrollments are most of it), its longest line
# (the recipients of one PST) a few MB.
MAX_STATE_FILE_BYTES = 256 * 1024 * 1024
MAX_STATE_LINE_BYTES = 16 * 1024 * 1024


def state_path(state_dir: str, account: str) -> Path:
    return Path(state_dir) / f"{account}.state.jsonl"


def write_state(path: Path, state: AccountState, account: str) -> None:
    """Write atomically; raises OSError (e.g. disk full) with the old file left intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, removed on failure
        "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
    )
    try:
        with handle:
            for line in encode_state(state, account):
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


def read_state(path: Path, account: str) -> AccountState | None:
    """The state in `path`, or None when there is none or it is corrupt (logged)."""
    try:
        with _open_regular_file(path) as handle:
            return decode_state(_bounded_lines(handle), account)
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
