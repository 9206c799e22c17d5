"""The command line in-process: config errors, --config.check, once, check."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import kb4_fakes as fakes
import pytest
import requests
import requests_mock
from click.testing import CliRunner, Result
from prometheus_client.parser import text_string_to_metric_families
from support.exporter_process import running_exporter
from support.servers import wait_until

from kb4_exporter.api.errors import REASONS
from kb4_exporter.cli import main
from kb4_exporter.commands import check as connection_check
from kb4_exporter.kris.specs import KRI_SPECS

TOKEN = fakes.REPORTING_TOKEN
PHISHER_OFF = {"KB4_PHISHER_TOKEN": ""}


def run(args: list[str], env: dict[str, str] | None = None) -> Result:
    base_env = {"KB4_API_TOKEN": TOKEN, "KB4_PHISHER_TOKEN": fakes.PHISHER_TOKEN}
    return CliRunner().invoke(main, args, env={**base_env, **(env or {})}, catch_exceptions=False)


def sample_value(exposition: str, name: str, **labels: str) -> float | None:
    """The value of one sample of `exposition`, or None when it has none such."""
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


@pytest.fixture(autouse=True)
def no_real_network(requests_mock: requests_mock.Mocker) -> requests_mock.Mocker:
    """Any call not registered by a test fails loudly instead of leaving the machine."""
    return requests_mock


def test_bad_config_exits_2_listing_every_problem_before_any_call(
    requests_mock: requests_mock.Mocker, tmp_path: Path
) -> None:
    result = run(
        [
            "once",
            "--kb4.region",
            "mars",
            "--refresh.interval",
            "soon",
            "--kb4.api-token-file",
            str(tmp_path / "missing"),
            "--kri.remedial-pattern",
            "(",
        ]
    )
    assert result.exit_code == 2
    for fragment in ("mars", "soon", "missing", "remedial-pattern"):
        assert fragment in result.output
    assert requests_mock.request_history == []


def test_missing_token_names_the_fix(requests_mock: requests_mock.Mocker) -> None:
    result = CliRunner().invoke(main, ["once"], env={"KB4_API_TOKEN": ""})
    assert result.exit_code == 2
    assert "KB4_API_TOKEN" in result.output and "--demo" in result.output


def test_config_check_prints_redacted_config(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    result = run(["serve", "--config.check", "--kb4.api-token-file", str(token_file)])
    assert result.exit_code == 0, result.output
    assert "configuration OK" in result.output
    assert f"from file {token_file}" in result.output
    assert TOKEN not in result.output and fakes.PHISHER_TOKEN not in result.output


def test_help_never_shows_a_token() -> None:
    for command in (["--help"], ["serve", "--help"], ["once", "--help"], ["check", "--help"]):
        result = run(command)
        assert result.exit_code == 0
        assert TOKEN not in result.output
    assert "--kb4.api-token-file" in run(["serve", "--help"]).output


def test_help_lists_the_paging_signal_flags_with_their_variables() -> None:
    output = " ".join(run(["serve", "--help"]).output.split())
    for flag, env in (
        ("--refresh.phisher-unresolved-interval", "KB4_PHISHER_UNRESOLVED_INTERVAL"),
        ("--phisher.unresolved-horizon", "KB4_PHISHER_UNRESOLVED_HORIZON"),
    ):
        assert flag in output
        assert f"env var: {env}" in output


def test_once_prints_all_ten_kris(requests_mock: requests_mock.Mocker) -> None:
    fakes.serve_org(requests_mock, fakes.small_org())
    result = run(["once", "--kb4.requests-per-second", "1000", "--kb4.requests-per-minute", "9999"])
    assert result.exit_code == 0, result.output
    families = {f.name for f in text_string_to_metric_families(result.stdout)}
    assert {spec.metric for spec in KRI_SPECS} <= families


def test_once_exits_1_with_one_line_error_when_a_source_fails(
    requests_mock: requests_mock.Mocker,
) -> None:
    fakes.serve_org(requests_mock, fakes.small_org())
    requests_mock.get(f"{fakes.BASE_URL}/v1/groups", status_code=404)
    result = run(["once", "--kb4.requests-per-second", "1000", "--kb4.requests-per-minute", "9999"])
    assert result.exit_code == 1
    error_lines = [line for line in result.stderr.splitlines() if "refresh incomplete" in line]
    assert error_lines == [
        "kb4-exporter: refresh incomplete: account=default source=groups reason=not_found kris=none"
    ]
    # What succeeded is still printed.
    kri = {"account": "default", "kri": "kb4_phishing_prone_pct"}
    assert sample_value(result.stdout, "kb4_kri_up", **kri) == 1.0
    assert sample_value(result.stdout, "kb4_phishing_prone_ratio", account="default") is not None


def test_once_names_sources_a_stopped_refresh_never_tried(
    requests_mock: requests_mock.Mocker,
) -> None:
    fakes.serve_org(requests_mock, fakes.small_org())
    requests_mock.get(f"{fakes.BASE_URL}/v1/account", status_code=401)
    result = run(["once"], env=PHISHER_OFF)
    assert result.exit_code == 1
    (line,) = [line for line in result.stderr.splitlines() if "refresh incomplete" in line]
    assert "source=account reason=auth kris=none;" in line
    assert (
        "source=users reason=not tried kris=kb4_phishing_prone_pct,kb4_high_risk_users,"
        "kb4_zero_training_activity_12m,kb4_department_ppp_delta_pct;" in line
    )


def test_once_exits_1_naming_a_source_a_page_cap_cut_and_the_kris_it_costs(
    requests_mock: requests_mock.Mocker, tmp_path: Path
) -> None:
    fakes.serve_org(requests_mock, fakes.small_org(), per_page=2)
    config = tmp_path / "kb4.yml"
    config.write_text(
        "accounts:\n"
        "  - name: acme\n"
        "    api_token_env: KB4_API_TOKEN\n"
        "    requests_per_second: 1000\n"
        "    requests_per_minute: 99999\n"
        "    page_caps: {enrollments: 1}\n"
    )
    result = run(["once", "--config.file", str(config)], env=PHISHER_OFF)
    assert result.exit_code == 1
    (line,) = [line for line in result.stderr.splitlines() if "refresh incomplete" in line]
    assert line == (
        "kb4-exporter: refresh incomplete: account=acme source=enrollments reason=page_cap "
        "kris=kb4_training_completion_pct,kb4_overdue_training_assignments,"
        "kb4_remedial_training_compliance_pct"
    )
    ups = {
        sample.labels["kri"]: sample.value
        for family in text_string_to_metric_families(result.stdout)
        if family.name == "kb4_kri_up"
        for sample in family.samples
    }
    assert ups["kb4_training_completion_pct"] == 0.0
    assert ups["kb4_phishing_prone_pct"] == 1.0


def test_once_writes_textfile_atomically(
    requests_mock: requests_mock.Mocker, tmp_path: Path
) -> None:
    fakes.serve_org(requests_mock, fakes.small_org())
    target = tmp_path / "kb4.prom"
    target.write_text("old content\n")
    result = run(
        [
            "once",
            "--textfile",
            str(target),
            "--kb4.requests-per-second",
            "1000",
            "--kb4.requests-per-minute",
            "9999",
        ]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert sample_value(target.read_text(), "kb4_up", account="default") == 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["kb4.prom"]


def test_check_success_prints_account_facts(requests_mock: requests_mock.Mocker) -> None:
    fakes.serve_org(requests_mock, fakes.small_org())
    result = run(["check"])
    assert result.exit_code == 0, result.output
    assert "Acme" in result.output and "Diamond" in result.output
    assert "seats:              4" in result.output
    assert "daily budget:       2004 requests per rolling 24 h" in result.output
    assert "PhishER:            reachable" in result.output


def test_check_prints_a_configured_daily_budget(requests_mock: requests_mock.Mocker) -> None:
    fakes.serve_org(requests_mock, fakes.small_org())
    result = run(["check", "--kb4.daily-budget", "500"])
    assert result.exit_code == 0, result.output
    assert "daily budget:       500 requests per rolling 24 h" in result.output


@pytest.mark.parametrize(
    ("status", "code", "hint"),
    [(401, 3, "token"), (403, 4, "user-level API access"), (404, 5, "region")],
)
def test_check_exit_codes_per_http_failure(
    requests_mock: requests_mock.Mocker, status: int, code: int, hint: str
) -> None:
    requests_mock.get(f"{fakes.BASE_URL}/v1/account", status_code=status)
    result = run(["check"], env=PHISHER_OFF)
    assert result.exit_code == code
    assert hint in result.output
    assert TOKEN not in result.output
    assert len(requests_mock.request_history) == 1  # never retried


def test_check_network_failure_exit_code(requests_mock: requests_mock.Mocker) -> None:
    requests_mock.get(f"{fakes.BASE_URL}/v1/account", exc=requests.ConnectionError("refused"))
    result = run(["check"], env=PHISHER_OFF)
    assert result.exit_code == 6
    assert "cannot connect" in result.output


def test_check_phisher_failure_is_reported(requests_mock: requests_mock.Mocker) -> None:
    fakes.serve_org(requests_mock, fakes.small_org())
    requests_mock.post(fakes.PHISHER_URL, status_code=401)
    result = run(["check"])
    assert result.exit_code == 3
    # The fix names the PhishER token, not the Reporting one that worked.
    assert "fix: the PhishER token is wrong or expired" in result.output
    assert "Reporting API access" not in result.output


def test_check_user_event_api_failure_names_its_own_key(
    requests_mock: requests_mock.Mocker,
) -> None:
    fakes.serve_org(requests_mock, fakes.small_org())
    requests_mock.get("https://api.events.knowbe4.com/events", status_code=401)
    result = run(["check"], env={"KB4_USER_EVENTS_TOKEN": "user-events-SENTINEL-0003"})
    assert result.exit_code == 3
    assert "fix: the User Event API key is wrong or expired" in result.output
    assert "Reporting API access" not in result.output


def test_check_reports_every_api_and_the_kris_each_token_serves(
    requests_mock: requests_mock.Mocker,
) -> None:
    fakes.serve_org(requests_mock, fakes.small_org())
    requests_mock.get(
        "https://api.events.knowbe4.com/events",
        json={"data": [], "meta": {"count": 7, "next_page": None}},
    )
    result = run(["check"], env={"KB4_USER_EVENTS_TOKEN": "user-events-SENTINEL-0003"})
    assert result.exit_code == 0, result.output
    assert "KRIs this Reporting API serves: kb4_phishing_prone_pct" in result.output
    assert "KRIs this PhishER token serves: kb4_phisher_unresolved_high_4h" in result.output
    assert "User Event API:     reachable at https://api.events.knowbe4.com (7 events)" in (
        result.output
    )
    assert "user-events-SENTINEL-0003" not in result.output


def test_check_goes_on_after_a_failure_and_returns_the_first_code(
    requests_mock: requests_mock.Mocker,
) -> None:
    fakes.serve_org(requests_mock, fakes.small_org())
    requests_mock.get(f"{fakes.BASE_URL}/v1/account", status_code=401)
    result = run(["check"])
    assert result.exit_code == 3
    assert "PhishER:            reachable" in result.output


def test_once_flags_read_their_environment_variables(
    requests_mock: requests_mock.Mocker, tmp_path: Path
) -> None:
    fakes.serve_org(requests_mock, fakes.small_org())
    target = tmp_path / "kb4.prom"
    result = run(
        ["once", "--kb4.requests-per-second", "1000", "--kb4.requests-per-minute", "9999"],
        env={"KB4_TEXTFILE": str(target)},
    )
    assert result.exit_code == 0, result.output
    assert sample_value(target.read_text(), "kb4_up", account="default") == 1.0
    checked = run(["once"], env={"KB4_CONFIG_CHECK": "true"})
    assert checked.exit_code == 0 and "configuration OK" in checked.output


def test_check_exit_7_names_what_went_wrong(requests_mock: requests_mock.Mocker) -> None:
    requests_mock.get(f"{fakes.BASE_URL}/v1/account", status_code=503)
    result = run(["check"], env=PHISHER_OFF)
    assert result.exit_code == 7
    assert "fix: KnowBe4 answered with a server error (5xx)" in result.output


def test_every_failure_reason_has_its_own_fix() -> None:
    assert set(connection_check._FIXES) == set(REASONS)


@pytest.mark.parametrize("command", ["serve", "once", "check"])
def test_config_check_is_accepted_by_every_command_that_reads_the_configuration(
    command: str, requests_mock: requests_mock.Mocker
) -> None:
    result = run([command, "--config.check"])
    assert result.exit_code == 0, result.output
    assert result.output.endswith("configuration OK\n")
    assert requests_mock.request_history == []


@pytest.mark.parametrize("command", ["serve", "once"])
def test_demo_config_check_shows_the_demo_account(command: str) -> None:
    result = run([command, "--demo", "--config.check"], env={"KB4_API_TOKEN": ""})
    assert result.exit_code == 0, result.output
    assert "  - name: demo\n" in result.output
    assert "api_token: <redacted, from built-in demo token>" in result.output
    assert "demo-reporting-token" not in result.output


def test_once_into_a_missing_directory_fails_before_any_call(
    requests_mock: requests_mock.Mocker, tmp_path: Path
) -> None:
    target = tmp_path / "missing" / "kb4.prom"
    result = run(["once", "--textfile", str(target)])
    assert result.exit_code == 2
    assert f"--textfile {target}: its directory {target.parent} does not exist" in result.output
    assert requests_mock.request_history == []


def test_once_with_a_state_dir_that_is_a_file_fails_before_any_call(
    requests_mock: requests_mock.Mocker, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.write_text("")
    for args in (["once"], ["once", "--config.check"]):
        result = run([*args, "--state.dir", str(state)])
        assert result.exit_code == 2
        assert f"--state.dir {state}: is not a directory" in result.output
    assert requests_mock.request_history == []


def test_json_logs_have_no_plain_text_line_not_even_the_token_file_warning(
    tmp_path: Path,
) -> None:
    token_file = tmp_path / "shared-token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o644)
    result = run(
        ["serve", "--config.check", "--log.format", "json", "--kb4.api-token-file", str(token_file)]
    )
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines, "the permission warning is logged"
    records = [json.loads(line) for line in lines]
    assert [record["level"] for record in records] == ["warn"]
    assert "readable by other users" in records[0]["msg"]


def test_help_does_not_load_the_simulator() -> None:
    # In a fresh interpreter: other tests in this process import the simulator.
    code = (
        "import sys\n"
        "from kb4_exporter.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('kb4_exporter.simulator')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.splitlines()[-1] == "[]"
    assert "simulate  Serve simulated KnowBe4 APIs" in done.stdout


def test_simulate_help_comes_from_the_simulator_command() -> None:
    result = run(["simulate", "--help"])
    assert result.exit_code == 0
    assert "--users" in result.output and "KB4_SIMULATOR_" in result.output


@pytest.mark.slow
def test_the_demo_daemon_logs_json_only_and_serves_process_metrics(tmp_path: Path) -> None:
    def refresh_lines() -> list[dict[str, Any]] | None:
        records = [json.loads(line) for line in log_path.read_text().splitlines()]
        refreshes = [r for r in records if " refresh succeeded in " in r["msg"]]
        return refreshes or None

    with running_exporter(tmp_path, "--demo", "--log.format", "json") as exporter:
        log_path = exporter.server.log_path
        with urllib.request.urlopen(f"{exporter.url}/metrics", timeout=10) as response:
            body = response.read().decode()
        # /-/ready turns before the scheduler logs the refresh that made it ready.
        refreshes = wait_until(refresh_lines, 30.0, "the first refresh's log line")
    values = {
        sample.name: sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }
    assert values["process_resident_memory_bytes"] > 0
    assert values["process_start_time_seconds"] > 0
    # Every line is JSON; a line about the account carries it as a field, not in the message.
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert all(r["account"] == "demo" for r in refreshes)
    assert not any("account=" in r["msg"] for r in records)
