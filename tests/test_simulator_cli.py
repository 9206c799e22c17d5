"""`kb4-exporter simulate`: options, the printed URLs and tokens, and a clean stop."""

from __future__ import annotations

import signal
from typing import Any, ClassVar

import pytest
import requests
from click.testing import CliRunner

from kb4_exporter.simulator import cli
from kb4_exporter.simulator.server import SimulatorServer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        (":9000", ("127.0.0.1", 9000)),
        ("[::1]:0", ("::1", 0)),
        ("localhost:1", ("localhost", 1)),
    ],
)
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert cli.parse_listen(text) == expected


@pytest.mark.parametrize("text", ["8080", "host:", "host:http", "host:70000"])
def test_parse_listen_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        cli.parse_listen(text)


def test_wait_for_signal_returns_on_sigterm_and_restores_handlers() -> None:
    before = signal.getsignal(signal.SIGTERM)
    cli.wait_for_signal(ready=lambda: signal.raise_signal(signal.SIGTERM))
    assert signal.getsignal(signal.SIGTERM) is before


class RecordingServer(SimulatorServer):
    started: ClassVar[list[SimulatorServer]] = []

    def start(self) -> None:
        super().start()
        RecordingServer.started.append(self)


def run(monkeypatch: pytest.MonkeyPatch, args: list[str], while_serving: Any) -> Any:
    """Invoke `simulate`; instead of waiting for a signal, call `while_serving(server)`."""
    RecordingServer.started = []
    monkeypatch.setattr(cli, "SimulatorServer", RecordingServer)
    monkeypatch.setattr(cli, "wait_for_signal", lambda: while_serving(RecordingServer.started[0]))
    return CliRunner().invoke(cli.simulate, args, catch_exceptions=False)


def test_serves_the_generated_org_with_the_given_options(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def use(server: SimulatorServer) -> None:
        auth = {"Authorization": "Bearer demo-token"}
        seen["url"] = server.base_url
        seen["users"] = requests.get(server.base_url + "/v1/users", headers=auth, timeout=10)
        seen["again"] = requests.get(server.base_url + "/v1/users", headers=auth, timeout=10)
        seen["account"] = requests.get(server.base_url + "/v1/account", headers=auth, timeout=10)
        seen["budget"] = server.daily_budget

    result = run(
        monkeypatch,
        [
            "--listen", "127.0.0.1:0", "--users", "40", "--seed", "3", "--now", "1750000000",
            "--token", "demo-token", "--per-second", "0", "--per-minute", "0",
            "--daily-budget", "500", "--fault", "status:503:/v1/users:1",
        ],
        use,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert seen["url"] in result.output
    assert "demo-token" in result.output
    assert "simulated-phisher-token" in result.output
    assert seen["users"].status_code == 503
    assert len(seen["again"].json()) == 40
    assert seen["account"].json()["name"] == "Simulated Org 3"
    assert seen["budget"] == 500
    with pytest.raises(requests.ConnectionError):  # stopped on the way out
        requests.get(seen["url"] + "/v1/account", timeout=5)


def test_zero_limits_mean_no_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    budgets: list[int | None] = []
    result = run(
        monkeypatch,
        ["--listen", ":0", "--users", "5", "--daily-budget", "0"],
        lambda server: budgets.append(server.daily_budget),
    )
    assert result.exit_code == 0, result.output
    assert budgets == [None]
    assert "no limit/day" in result.output


@pytest.mark.parametrize(
    "args",
    [["--fault", "explode"], ["--listen", "nowhere"], ["--users", "0"], ["--per-second", "-1"]],
)
def test_bad_options_exit_2(args: list[str]) -> None:
    result = CliRunner().invoke(cli.simulate, args)
    assert result.exit_code == 2


def test_help_lists_the_fault_kinds() -> None:
    result = CliRunner().invoke(cli.simulate, ["--help"])
    assert result.exit_code == 0
    assert "repeat_page" in result.output


def test_every_flag_reads_a_kb4_simulator_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, Any] = {}

    def use(server: SimulatorServer) -> None:
        auth = {"Authorization": "Bearer env-token"}
        seen["users"] = requests.get(server.base_url + "/v1/users", headers=auth, timeout=10)
        seen["budget"] = server.daily_budget

    for name, value in {
        "LISTEN": "127.0.0.1:0",
        "USERS": "7",
        "TOKEN": "env-token",
        "DAILY_BUDGET": "123",
        "PER_SECOND": "0",
    }.items():
        monkeypatch.setenv(f"KB4_SIMULATOR_{name}", value)
    result = run(monkeypatch, [], use)
    assert result.exit_code == 0, result.output
    assert len(seen["users"].json()) == 7
    assert seen["budget"] == 123
