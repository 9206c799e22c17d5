"""One exporter per state dir.

The request ledgers are persisted with the state, so a restart does not forget budget
already spent, and that is why one state dir serves one exporter process: a second one
on the same dir would keep a second ledger of the same account. `lock_state_dir` makes
it refuse to start instead.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from pathlib import Path

LOCK_FILE_NAME = "kb4_exporter.lock"


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
