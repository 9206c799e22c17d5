"""State file: round trip, warm restart, corrupt files ignored, failed writes keep the old file."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import kb4_fakes as fakes
import pytest
import requests_mock

from kb4_exporter.config.settings import Settings
from kb4_exporter.model.reporting import User
from kb4_exporter.model.snapshot import Snapshot
from kb4_exporter.persistence.state_file import (
    LOCK_FILE_NAME,
    STALE_TEMP_FILE_SECONDS,
    AccountState,
    StateDirBusyError,
    lock_state_dir,
    read_state,
    state_path,
    write_state,
)
from kb4_exporter.refresh.wiring import AccountRuntime


def runtime_with_state(clock: fakes.FakeClock, state_dir: Path) -> AccountRuntime:
    account = fakes.account_config()
    settings = Settings(accounts=(account,), state_dir=str(state_dir))
    return fakes.runtime_for(clock, settings=settings, account=account)


def save_after_core_refresh(clock: fakes.FakeClock, state_dir: Path) -> None:
    """Leave in `state_dir` the state of one core refresh, as a restarted exporter finds it."""
    runtime = runtime_with_state(clock, state_dir)
    runtime.refresher.refresh_core()
    runtime.save_state()


def test_round_trip_restores_snapshot_kris_cache_and_ledger(
    api: requests_mock.Mocker, clock: fakes.FakeClock, tmp_path: Path
) -> None:
    first = runtime_with_state(clock, tmp_path)
    first.refresher.refresh_core()
    first.refresher.refresh_phisher()
    first.refresher.refresh_phisher_unresolved()
    first.save_state()
    calls_before = len(api.request_history)

    second = runtime_with_state(clock, tmp_path)
    assert second.load_state()
    restored, original = second.refresher.results, first.refresher.results
    assert restored.snapshot == original.snapshot
    assert restored.kris == original.kris
    assert restored.ready
    # Sources keep the outcome of their latest refresh: a restart is no failure.
    assert restored.sources == original.sources
    assert restored.up
    assert second.refresher.recipient_cache == first.refresher.recipient_cache
    reporting_calls = sum(1 for r in api.request_history if r.url.startswith(fakes.BASE_URL))
    assert second.view().apis[0].budget_remaining == 2004 - reporting_calls
    assert len(api.request_history) == calls_before  # loading made no call


def test_warm_restart_reads_no_recipients_while_counts_hold(
    api: requests_mock.Mocker, clock: fakes.FakeClock, tmp_path: Path
) -> None:
    save_after_core_refresh(clock, tmp_path)
    api.reset_mock()
    second = runtime_with_state(clock, tmp_path)
    second.load_state()
    second.refresher.refresh_core()
    assert [r.path for r in api.request_history if r.path.endswith("/recipients")] == []


def test_state_without_fetch_times_rereads_open_pst_recipients(
    api: requests_mock.Mocker, clock: fakes.FakeClock, tmp_path: Path
) -> None:
    save_after_core_refresh(clock, tmp_path)
    # Files written before fetch times were kept: recipients lines of six values.
    path = state_path(str(tmp_path), "acme")
    lines = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if isinstance(row, list) and row[0] == "recipients":
            line = json.dumps(row[:6])
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")
    api.reset_mock()
    second = runtime_with_state(clock, tmp_path)
    assert second.load_state()
    second.refresher.refresh_core()
    # The open PST's cache age is unknown, so it is read again; the closed one is not.
    fetched = [r.path for r in api.request_history if r.path.endswith("/recipients")]
    assert fetched == ["/v1/phishing/security_tests/12/recipients"]


HEADER = b'{"format": "kb4_exporter-state", "version": 1, "account": "acme"}\n'
USERS = b'["section","users",1]\n'


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json at all\n",
        b'{"format": "something-else", "version": 1}\n',
        b'{"format": "kb4_exporter-state", "version": 99, "account": "acme"}\n',
        b'{"format": "kb4_exporter-state", "version": 1, "account": "other"}\n["end"]\n',
        # Truncated: no end marker.
        HEADER + USERS,
        # A user record with a string where a number belongs.
        HEADER + USERS + b'["user",["x",null,null,[],null,"active"]]\n["end"]\n',
        # An enrollment inside the users section.
        HEADER + USERS + b'["enrollment",[null,"a","b",null,null,null]]\n["end"]\n',
        HEADER + b'["ledger","reporting","x"]\n["end"]\n',
        b"\xff\xfe\x00garbage",
    ],
)
def test_corrupt_state_is_logged_and_ignored(
    content: bytes, clock: fakes.FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state_path(str(tmp_path), "acme").write_bytes(content)
    runtime = runtime_with_state(clock, tmp_path)
    with caplog.at_level(logging.ERROR):
        assert not runtime.load_state()
    assert any("state file" in r.getMessage() for r in caplog.records)
    assert not runtime.refresher.results.ready


def test_missing_state_file_is_a_cold_start(clock: fakes.FakeClock, tmp_path: Path) -> None:
    runtime = runtime_with_state(clock, tmp_path)
    assert not runtime.load_state()


def test_failed_write_keeps_previous_file_and_counts(
    api: requests_mock.Mocker,
    clock: fakes.FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = runtime_with_state(clock, tmp_path)
    runtime.refresher.refresh_core()
    runtime.save_state()
    path = state_path(str(tmp_path), "acme")
    good = path.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    runtime.refresher.refresh_phisher()
    runtime.save_state()
    assert path.read_bytes() == good
    assert runtime.state_write_errors == 1
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind


def test_unwritable_state_dir_is_not_fatal(
    api: requests_mock.Mocker, clock: fakes.FakeClock, tmp_path: Path
) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    runtime = runtime_with_state(clock, blocker / "state")
    runtime.refresher.refresh_core()
    runtime.save_state()
    assert runtime.state_write_errors == 1


def test_state_file_is_json_lines_without_tokens(
    api: requests_mock.Mocker, clock: fakes.FakeClock, tmp_path: Path
) -> None:
    runtime = runtime_with_state(clock, tmp_path)
    runtime.refresher.refresh_core()
    runtime.refresher.refresh_phisher()
    runtime.save_state()
    text = state_path(str(tmp_path), "acme").read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["format"] == "kb4_exporter-state"
    assert lines[-1] == ["end"]
    assert fakes.REPORTING_TOKEN not in text and fakes.PHISHER_TOKEN not in text
    assert "user1@acme.example" not in text  # clickers are keyed by id


def test_write_then_read_empty_state(tmp_path: Path) -> None:
    from kb4_exporter.persistence.state_file import AccountState

    path = tmp_path / "x.state.jsonl"
    write_state(path, AccountState(), "acme")
    loaded = read_state(path, "acme")
    assert loaded is not None and loaded.snapshot.users is None


def test_load_removes_temp_files_of_killed_writes_but_not_of_writes_in_progress(
    api: requests_mock.Mocker, clock: fakes.FakeClock, tmp_path: Path
) -> None:
    save_after_core_refresh(clock, tmp_path)
    path = state_path(str(tmp_path), "acme")
    killed = tmp_path / f".{path.name}.killed"
    in_progress = tmp_path / f".{path.name}.writing"
    other_account = tmp_path / ".other.state.jsonl.killed"
    for leftover in (killed, in_progress, other_account):
        leftover.write_text('{"format": "kb4_exporter-state"')
    old = clock.now - STALE_TEMP_FILE_SECONDS
    os.utime(killed, (old, old))
    os.utime(other_account, (old, old))
    os.utime(in_progress, (clock.now - 5, clock.now - 5))

    second = runtime_with_state(clock, tmp_path)
    assert second.load_state()
    assert not killed.exists()
    assert in_progress.exists()
    # Another account's files are its own runtime's business.
    assert other_account.exists()
    assert path.exists()


def test_records_saved_twice_load_once(tmp_path: Path) -> None:
    user = User(1, 10.0, 20.0, (100,), None, "active")
    path = state_path(str(tmp_path), "acme")
    write_state(path, AccountState(snapshot=Snapshot(users=(user,))), "acme")
    lines = path.read_text().splitlines()
    user_line = next(line for line in lines if line.startswith('["user"'))
    doubled = [line.replace('["section", "users", 1]', '["section", "users", 2]') for line in lines]
    doubled.insert(doubled.index(user_line), user_line)
    path.write_text("\n".join(doubled) + "\n")

    loaded = read_state(path, "acme")

    assert loaded is not None
    assert loaded.snapshot.users == (user,)


def test_a_process_locks_its_state_dir_once_for_all_its_accounts(tmp_path: Path) -> None:
    lock_state_dir(str(tmp_path / "state"))
    lock_state_dir(str(tmp_path / "state" / "."))  # the same dir: already held

    holder = (tmp_path / "state" / LOCK_FILE_NAME).read_text()
    assert holder == f"{os.getpid()}\n"


def test_a_dir_held_by_another_process_is_busy(tmp_path: Path) -> None:
    code = (
        "import sys; from kb4_exporter.persistence.state_file import lock_state_dir as lock;"
        " lock(sys.argv[1]);"
    )
    code += "print('held', flush=True); sys.stdin.read()"
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(StateDirBusyError, match=rf"in use by .* \(pid {holder.pid}\)"):
            lock_state_dir(str(tmp_path))
    finally:
        holder.kill()
        holder.wait(timeout=10)
