"""A sentinel token never appears in any output: logs (debug level), metrics, errors,
--config.check, the state file — for good tokens, rejected tokens and unreachable APIs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kb4_exporter.simulator.org import OrgSpec, generate_org
from kb4_exporter.simulator.server import Fault, PacingLimits, SimulatorServer

SENTINEL = "SENTINEL-reporting-7f3a9c2e5b1d"
PHISHER_SENTINEL = "SENTINEL-phisher-4c8e1a7b2f6d"


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    server = SimulatorServer(
        generate_org(OrgSpec(users=120, seed=3), time.time()),
        token=SENTINEL,
        phisher_token=PHISHER_SENTINEL,
        limits=PacingLimits.unlimited(),
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def run_cli(args: list[str], tmp_path: Path, simulator: SimulatorServer, token: str) -> str:
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    env = {
        **os.environ,
        "KB4_API_TOKEN_FILE": str(token_file),
        "KB4_PHISHER_TOKEN": PHISHER_SENTINEL,
        "KB4_PHISHER_URL": simulator.phisher_url,
        "KB4_BASE_URL": simulator.base_url,
        "KB4_STATE_DIR": str(tmp_path / "state"),
        "KB4_LOG_LEVEL": "debug",
    }
    completed = subprocess.run(
        [sys.executable, "-m", "kb4_exporter", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    state = (
        "".join(p.read_text() for p in (tmp_path / "state").glob("*"))
        if (tmp_path / "state").exists()
        else ""
    )
    return completed.stdout + completed.stderr + state


def assert_secret(output: str) -> None:
    assert SENTINEL not in output
    assert PHISHER_SENTINEL not in output
    # Not even a recognisable part of it.
    assert "7f3a9c2e5b1d" not in output and "4c8e1a7b2f6d" not in output


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [["once"], ["check"], ["serve", "--config.check"], ["once", "--textfile", "out.prom"]],
)
def test_good_token_never_shown(
    args: list[str], tmp_path: Path, simulator: SimulatorServer
) -> None:
    if "--textfile" in args:
        args = ["once", "--textfile", str(tmp_path / "out.prom")]
    output = run_cli(args, tmp_path, simulator, SENTINEL)
    textfile = tmp_path / "out.prom"
    if textfile.exists():
        output += textfile.read_text()
    assert "kb4_up" in output or "configuration OK" in output or "seats:" in output
    assert_secret(output)


@pytest.mark.slow
def test_rejected_token_never_shown(tmp_path: Path, simulator: SimulatorServer) -> None:
    wrong = "SENTINEL-wrong-token-0a1b2c3d4e5f"
    output = run_cli(["once"], tmp_path, simulator, wrong) + run_cli(
        ["check"], tmp_path, simulator, wrong
    )
    assert "401" in output or "auth" in output
    assert wrong not in output and "0a1b2c3d4e5f" not in output
    assert_secret(output)


@pytest.mark.slow
def test_server_errors_and_resets_never_show_the_token(
    tmp_path: Path, simulator: SimulatorServer
) -> None:
    simulator.set_faults([Fault("status", status=500), Fault("reset", path_prefix="/graphql")])
    try:
        output = run_cli(["check"], tmp_path, simulator, SENTINEL)
    finally:
        simulator.set_faults([])
    assert "FAILED" in output
    assert_secret(output)
