"""A hostile state dir: a state file that is a FIFO, a device or without end, and a second
exporter on the same dir.

What is read back is a regular file of bounded size in lines of bounded length, or it is
refused as corrupt (one error, a cold start) before it can hang start-up or fill memory.
One exporter process holds a state dir: a second one on it exits 2 with a message that
says which process has it, before any API call.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kb4_fakes import NOW, small_org

from kb4_exporter.persistence.state_dir_lock import LOCK_FILE_NAME
from kb4_exporter.persistence.state_file import (
    MAX_STATE_FILE_BYTES,
    MAX_STATE_LINE_BYTES,
    state_path,
)
from kb4_exporter.refresh.wiring import AccountRuntime
from reliability.harness import Exporter, exporter_records, start_hostile_exporter
from reliability.hostile_upstream import REPORTING_TOKEN, AlarmClock, HostileUpstream

HEADER = b'{"format": "kb4_exporter-state", "version": 1, "account": "acme"}\n'
# Loading must give up well within this, whatever the file is.
LOAD_SECONDS = 10.0
MIB = 1024 * 1024


@pytest.fixture
def upstream() -> Iterator[HostileUpstream]:
    with HostileUpstream(small_org(NOW), AlarmClock(NOW)) as up:
        yield up


def load_in_time(runtime: AccountRuntime) -> bool:
    """`load_state()`, failing the test if it has not returned within LOAD_SECONDS."""
    outcome: list[bool] = []
    loader = threading.Thread(target=lambda: outcome.append(runtime.load_state()), daemon=True)
    loader.start()
    loader.join(LOAD_SECONDS)
    assert not loader.is_alive(), "loading the state file hung"
    return outcome[0]


def fifo(path: Path) -> Callable[[], None]:
    os.mkfifo(path)

    def release() -> None:
        # A reader stuck in open() waiting for a writer (the bug) is let go by one.
        with contextlib.suppress(OSError):  # ENXIO: no reader, nothing to let go
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))

    return release


def symlink_to_dev_zero(path: Path) -> Callable[[], None]:
    path.symlink_to("/dev/zero")
    return lambda: None


def sparse_file_over_the_size_limit(path: Path) -> Callable[[], None]:
    with path.open("wb") as handle:
        handle.write(HEADER)
        handle.truncate(MAX_STATE_FILE_BYTES + 1)  # a hole: no disk is used
    return lambda: None


def line_without_end(path: Path) -> Callable[[], None]:
    """Within the size limit, but its second line (NULs, in a hole) never ends."""
    with path.open("wb") as handle:
        handle.write(HEADER)
        handle.truncate(MAX_STATE_LINE_BYTES + 4 * MIB)
    return lambda: None


@pytest.mark.parametrize(
    "plant",
    [fifo, symlink_to_dev_zero, sparse_file_over_the_size_limit, line_without_end],
    ids=["fifo", "symlink-to-dev-zero", "over-the-size-limit", "a-line-without-end"],
)
def test_a_state_file_that_is_no_regular_bounded_file_is_refused(
    upstream: HostileUpstream,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    plant: Callable[[Path], Callable[[], None]],
) -> None:
    path = state_path(str(tmp_path), "acme")
    release = plant(path)
    exporter: Exporter = start_hostile_exporter(upstream, state_dir=tmp_path)
    tracemalloc.start()
    try:
        loaded = load_in_time(exporter.runtime)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        release()

    assert not loaded
    # At most one line is held, twice while it is read.
    assert peak < 2 * MAX_STATE_LINE_BYTES + 8 * MIB
    errors = exporter_records(caplog.records, logging.ERROR)
    assert [r.getMessage() for r in errors if str(path) in r.getMessage()] != []
    # A cold start: the first refresh serves and then replaces the file by a regular one.
    exporter.refresh()
    assert exporter.scrape().up() == 1
    assert path.is_file() and not path.is_symlink()
    assert exporter.runtime.load_state()


# --- one exporter per state dir ---------------------------------------------------------

HOLD_LOCK = (
    "import sys\n"
    "from kb4_exporter.persistence.state_dir_lock import lock_state_dir\n"
    "lock_state_dir(sys.argv[1])\n"
    "print('held', flush=True)\n"
    "sys.stdin.read()\n"
)


@pytest.fixture
def lock_holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the state dir `tmp_path / "state"` until its stdin closes."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path / "state")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        yield holder
    finally:
        holder.kill()
        holder.wait(timeout=10)


def kb4_exporter(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kb4_exporter", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "KB4_LOG_LEVEL": "info"},
    )


@pytest.mark.parametrize(
    "command", [("once", "--demo"), ("serve", "--demo", "--web.listen-address=127.0.0.1:0")]
)
def test_a_second_exporter_on_a_held_state_dir_exits_2(
    tmp_path: Path, lock_holder: subprocess.Popen[str], command: tuple[str, ...]
) -> None:
    state_dir = tmp_path / "state"

    second = kb4_exporter(*command, f"--state.dir={state_dir}")

    assert second.returncode == 2, second.stderr
    message = f"state dir {state_dir} is in use by another kb4-exporter process (pid "
    assert f"{message}{lock_holder.pid})" in second.stderr
    assert "give each its own --state.dir" in second.stderr
    assert second.stdout == ""
    assert sorted(p.name for p in state_dir.iterdir()) == [LOCK_FILE_NAME]


@pytest.mark.slow
def test_the_state_dir_is_free_again_once_its_exporter_has_gone(
    tmp_path: Path, lock_holder: subprocess.Popen[str]
) -> None:
    state_dir = tmp_path / "state"
    assert lock_holder.stdin is not None
    lock_holder.stdin.close()
    assert lock_holder.wait(timeout=10) == 0

    after = kb4_exporter("once", "--demo", f"--state.dir={state_dir}")

    assert after.returncode == 0, after.stderr
    assert state_path(str(state_dir), "demo").is_file()


def test_accounts_of_one_process_share_their_state_dir(
    upstream: HostileUpstream, tmp_path: Path
) -> None:
    first = start_hostile_exporter(upstream, state_dir=tmp_path)
    second = start_hostile_exporter(upstream, state_dir=tmp_path)
    first.refresh()
    assert second.runtime.load_state()


def test_check_keeps_no_state_so_it_runs_beside_the_exporter(
    upstream: HostileUpstream, tmp_path: Path, lock_holder: subprocess.Popen[str]
) -> None:
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "kb4_exporter",
            "check",
            f"--kb4.base-url={upstream.base_url}",
            f"--state.dir={tmp_path / 'state'}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "KB4_API_TOKEN": REPORTING_TOKEN, "NO_PROXY": "127.0.0.1"},
    )

    assert checked.returncode == 0, checked.stderr
    assert "Acme" in checked.stdout
