"""State-dir faults: a corrupt state file at start-up; a full, read-only or unusable state
dir when the state is saved.

A corrupt file costs the warm start and nothing else: the exporter logs one error, serves
no KRI (never a fake one) until its first refresh, then overwrites the file. A failed write
keeps the previous file byte for byte, leaves no temporary file behind, counts
`kb4_state_write_errors_total`, logs one error and changes nothing else.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from kb4_fakes import FakeClock

from kb4_exporter.persistence.state_file import read_state, state_path
from kb4_exporter.simulator import Org, SimulatorServer
from reliability.harness import ACCOUNT, Exporter, account_for, exporter_records, start_exporter

PAUSE = 600.0


def _replace_first(kind: str, edit: Callable[[list[Any]], None]) -> Callable[[bytes], bytes]:
    """Edit the first line of a given record kind, keeping it valid JSON."""

    def corrupt(data: bytes) -> bytes:
        lines = data.decode().splitlines()
        for index, line in enumerate(lines):
            row = json.loads(line)
            if isinstance(row, list) and row and row[0] == kind:
                edit(row)
                lines[index] = json.dumps(row)
                return ("\n".join(lines) + "\n").encode()
        raise AssertionError(f"no {kind} line in the state file")

    return corrupt


def _set_user_id(row: list[Any]) -> None:
    row[1][0] = "not-an-id"


def _deeply_nested_line(data: bytes) -> bytes:
    header = data.splitlines()[0]
    return header + b"\n" + b"[" * 100_000 + b"]" * 100_000 + b'\n["end"]\n'


def _other_account(data: bytes) -> bytes:
    header, _, rest = data.partition(b"\n")
    fields = json.loads(header)
    fields["account"] = "someone-else"
    return json.dumps(fields).encode() + b"\n" + rest


CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "cut-mid-write": lambda data: data[: len(data) // 2],
    "empty": lambda data: b"",
    "binary-garbage": lambda data: bytes(range(256)) * 8,
    "not-json": lambda data: b"{ this is not json\n",
    "a-field-of-the-wrong-type": _replace_first("user", _set_user_id),
    "a-line-nested-past-the-recursion-limit": _deeply_nested_line,
    "another-accounts-file": _other_account,
}


@contextmanager
def exporter_with_state(
    sim: SimulatorServer, clock: FakeClock, state_dir: Path
) -> Iterator[Exporter]:
    exporter = start_exporter(account_for(sim), clock, state_dir=state_dir)
    try:
        yield exporter
    finally:
        exporter.close()


@pytest.mark.parametrize("corruption", list(CORRUPTIONS), ids=str)
def test_corrupt_state_file_costs_the_warm_start_only(
    corruption: str,
    org: Org,
    clock: FakeClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = state_path(str(tmp_path), ACCOUNT)
    with SimulatorServer(org, clock=clock) as sim:
        with exporter_with_state(sim, clock, tmp_path) as first:
            first.refresh()
            baseline = first.scrape().kris()
        path.write_bytes(CORRUPTIONS[corruption](path.read_bytes()))

        clock.advance(PAUSE)
        caplog.clear()
        with exporter_with_state(sim, clock, tmp_path) as restarted:
            assert not restarted.runtime.load_state()
            lines = exporter_records(caplog.records, logging.ERROR)
            assert len(lines) == 1, [record.getMessage() for record in lines]
            assert str(path) in lines[0].getMessage()
            cold = restarted.scrape()
            assert set(cold.kris().values()) == {None}, "absent, never a fake value"
            assert not restarted.runtime.refresher.results.ready

            restarted.refresh()
            assert restarted.scrape().kris() == baseline
            rewritten = read_state(path, ACCOUNT)
            assert rewritten is not None
            assert rewritten.snapshot == restarted.runtime.refresher.results.snapshot


def _raise(code: int) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise OSError(code, os.strerror(code))

    return fail


WRITE_FAILURES: dict[str, tuple[Any, str, int]] = {
    # name: (object, attribute, errno): the call that fails while the state is written
    "disk-full-at-fsync": (os, "fsync", errno.ENOSPC),
    "read-only-at-rename": (os, "replace", errno.EROFS),
    "permission-denied-creating-the-temp-file": (tempfile, "NamedTemporaryFile", errno.EACCES),
}


@pytest.mark.parametrize("failure", list(WRITE_FAILURES), ids=str)
def test_failed_state_write_keeps_the_previous_file(
    failure: str,
    org: Org,
    clock: FakeClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    state_dir = tmp_path / "state"
    path = state_path(str(state_dir), ACCOUNT)
    target, attribute, code = WRITE_FAILURES[failure]
    with SimulatorServer(org, clock=clock) as sim, exporter_with_state(sim, clock, state_dir) as ex:
        ex.refresh()
        healthy = ex.scrape()
        previous = path.read_bytes()

        clock.advance(PAUSE)
        caplog.clear()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(target, attribute, _raise(code))
            ex.refresh()
        failed = ex.scrape()
        lines = exporter_records(caplog.records)
        assert len(lines) == 1 and lines[0].levelno == logging.ERROR
        assert os.strerror(code) in lines[0].getMessage()
        assert path.read_bytes() == previous
        assert sorted(p.name for p in state_dir.iterdir()) == [path.name], "no temp file left"
        assert failed.value("kb4_state_write_errors_total", account=ACCOUNT) == 1
        assert failed.up() == 1 and failed.kris() == healthy.kris()

        clock.advance(PAUSE)
        caplog.clear()
        ex.refresh()
        assert exporter_records(caplog.records) == []
        saved = read_state(path, ACCOUNT)
        assert saved is not None and saved.saved_at == clock()
        assert ex.scrape().value("kb4_state_write_errors_total", account=ACCOUNT) == 1


def test_state_dir_that_is_a_file_is_counted_and_the_exporter_keeps_serving(
    org: Org, clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state dir should be\n")
    with SimulatorServer(org, clock=clock) as sim, exporter_with_state(sim, clock, blocker) as ex:
        ex.refresh()
        scrape = ex.scrape()
        lines = exporter_records(caplog.records, logging.ERROR)
        assert len(lines) == 1 and str(blocker) in lines[0].getMessage()
        assert scrape.value("kb4_state_write_errors_total", account=ACCOUNT) == 1
        assert scrape.up() == 1 and None not in scrape.kris().values()

        blocker.unlink()
        clock.advance(PAUSE)
        ex.refresh()
        assert read_state(state_path(str(blocker), ACCOUNT), ACCOUNT) is not None
