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
from click.testing import CliRunner, Result

from kb4_exporter.cli import main
from kb4_exporter.config.secrets import Secret
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


# --- configuration errors: fast, in-process ----------------------------------------------

PASTED_JWT = "eyJhbGciOiJIUzI1NiJ9." + "U0VOVElORUwtcGFzdGVkLWluLXBsYWNlLW9mLWEtcGF0aA" * 10


def run_in_process(args: list[str], env: dict[str, str] | None = None) -> Result:
    base_env = {"KB4_API_TOKEN": "", "KB4_PHISHER_TOKEN": "", "KB4_USER_EVENTS_TOKEN": ""}
    return CliRunner().invoke(main, args, env={**base_env, **(env or {})}, catch_exceptions=False)


def pieces_of(token: str, output: str) -> list[str]:
    """Every 8-character piece of `token` that `output` shows."""
    return sorted({token[i : i + 8] for i in range(len(token) - 7)} & _windows(output))


def _windows(text: str) -> set[str]:
    return {text[i : i + 8] for i in range(len(text) - 7)}


@pytest.mark.parametrize("command", [["check"], ["serve", "--config.check"], ["once"]])
def test_a_token_given_in_place_of_its_file_path_is_never_shown(command: list[str]) -> None:
    result = run_in_process([*command, "--kb4.api-token-file", PASTED_JWT])
    assert result.exit_code == 2
    assert "File name too long" in result.output
    assert pieces_of(PASTED_JWT, result.output) == []


def test_a_token_file_with_a_byte_order_mark_passes_the_check_and_reads_without_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "token"
    path.write_bytes(b"\xef\xbb\xbfabcdefghijklmnop1234\r\n")
    path.chmod(0o600)
    checked = run_in_process(["serve", "--config.check", "--kb4.api-token-file", str(path)])
    assert checked.exit_code == 0, checked.output
    assert "abcdefghijklmnop1234" not in checked.output
    assert Secret("file", str(path)).read() == "abcdefghijklmnop1234"


@pytest.mark.parametrize("token", ["abcdefgh\x01ijklmnop", "abcdefgh\u200bijklmnop"])
@pytest.mark.parametrize("source", ["file", "env"])
def test_a_token_a_request_would_refuse_fails_the_configuration_check_unshown(
    tmp_path: Path, token: str, source: str
) -> None:
    path = tmp_path / "token"
    path.write_text(token + "\n", encoding="utf-8")
    path.chmod(0o600)
    if source == "file":
        args, env = ["--kb4.api-token-file", str(path)], {}
    else:
        args, env = [], {"KB4_API_TOKEN": token}
    for command in (["serve", "--config.check"], ["once"]):
        result = run_in_process([*command, *args], env)
        assert result.exit_code == 2, result.output
        assert "holds a character a token cannot have" in result.output
        assert "ijklmnop" not in result.output and "abcdefgh" not in result.output
