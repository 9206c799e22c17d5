"""SIGTERM and SIGINT during a refresh: the real `kb4-exporter serve` exits cleanly.

The exporter runs as a subprocess against the simulator (in this process, on loopback)
with a state dir and a 3 s refresh interval. Once its first round of refreshes is saved,
the next refresh is slowed down when the signal arrives: either stuck inside a request
(the simulator holds the enrollments request: a timeout fault) or crawling through a
slow API (0.2 s latency on every call). The process must exit with code 0 within 5 s and
leave a state file that parses, holds the data of the last completed refresh (nothing
lost, nothing half-written) and no temporary file; when the refresh was stuck, the
calls it spent are remembered in the saved ledger.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from support.exporter_process import start_exporter
from support.servers import stop_server, wait_until

from kb4_exporter.persistence.state_codec import AccountState
from kb4_exporter.persistence.state_dir_lock import LOCK_FILE_NAME
from kb4_exporter.persistence.state_file import read_state, state_path
from kb4_exporter.simulator import Fault, Org, PacingLimits, SimulatorServer

ACCOUNT = "default"  # the single account configured from flags
EXIT_WITHIN_SECONDS = 5.0
ENROLLMENTS = "/v1/training/enrollments"
SLOW_API_LATENCY = 0.2


def _token_file(path: Path, token: str) -> Path:
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path


def _first_round_saved(path: Path) -> AccountState | None:
    """The state once the first round of every task is saved: the core refresh on one
    thread, the PhishER poll and look-back refresh on the other, in either order."""
    state = read_state(path, ACCOUNT)
    if state is None:
        return None
    snapshot = state.snapshot
    if None in (snapshot.users, snapshot.phisher_messages, snapshot.phisher_unresolved):
        return None
    return state


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "held"),
    [(signal.SIGTERM, True), (signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["SIGTERM-request-held", "SIGINT-request-held", "SIGTERM-slow-api"],
)
def test_signal_during_a_refresh_exits_cleanly_with_state_intact(
    signum: signal.Signals, held: bool, org: Org, tmp_path: Path
) -> None:
    state_dir = tmp_path / "state"
    path = state_path(str(state_dir), ACCOUNT)
    latency = 0.0 if held else SLOW_API_LATENCY
    with SimulatorServer(org, limits=PacingLimits.unlimited(), latency=latency) as sim:
        exporter = start_exporter(
            tmp_path / "exporter",
            f"--kb4.base-url={sim.base_url}",
            f"--kb4.api-token-file={_token_file(tmp_path / 'reporting', sim.token)}",
            f"--phisher.url={sim.phisher_url}",
            f"--phisher.token-file={_token_file(tmp_path / 'phisher', sim.phisher_token)}",
            "--kb4.requests-per-second=50",
            "--kb4.requests-per-minute=1000",
            "--refresh.interval=3s",
            f"--state.dir={state_dir}",
        )
        process = exporter.server.process
        try:
            saved = wait_until(lambda: _first_round_saved(path), 60, "the first round's state")
            sim.reset_counts()
            if held:
                sim.set_faults([Fault("timeout", ENROLLMENTS, hold_seconds=60)])
            mid_refresh = ENROLLMENTS if held else "/v1/users"
            wait_until(
                lambda: sim.request_counts().get(mid_refresh) or None,
                30,
                "the next refresh to be under way",
                alive=lambda: process.poll() is None,
            )
            process.send_signal(signum)
            started = time.monotonic()
            code = process.wait(timeout=EXIT_WITHIN_SECONDS)
            elapsed = time.monotonic() - started
        finally:
            stop_server(exporter.server)
        log = exporter.log_tail(200)

    print(f"{signum.name} ({'held' if held else 'slow'}): exit {code} after {elapsed:.2f} s")
    assert code == 0, log
    assert elapsed < EXIT_WITHIN_SECONDS
    assert "shutting down" in log and "Traceback" not in log, log
    after = read_state(path, ACCOUNT)
    assert after is not None, "the state file parses"
    assert after.snapshot == saved.snapshot, "the last completed refresh, whole"
    files = sorted(p.name for p in state_dir.iterdir())
    assert files == sorted([path.name, LOCK_FILE_NAME]), "no temporary file left"
    if held:
        assert after.sources == saved.sources, "nothing of the interrupted refresh"
        # Its calls still count against the budget after a restart.
        assert len(after.ledgers["reporting"]) > len(saved.ledgers["reporting"])
