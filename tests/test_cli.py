"""The command line in-process: config errors, --config.check, once, check."""

from __future__ import annotations

from pathlib import Path

import kb4_fakes as fakes
import pytest
import requests
import requests_mock
from click.testing import CliRunner, Result
from prometheus_client.parser import text_string_to_metric_families

from kb4_exporter.cli import main
from kb4_exporter.kris import KRI_SPECS

TOKEN = fakes.REPORTING_TOKEN
PHISHER_OFF = {"KB4_PHISHER_TOKEN": ""}


def run(args: list[str], env: dict[str, str] | None = None) -> Result:
    base_env = {"KB4_API_TOKEN": TOKEN, "KB4_PHISHER_TOKEN": fakes.PHISHER_TOKEN}
    return CliRunner().invoke(main, args, env={**base_env, **(env or {})}, catch_exceptions=False)


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
        "kb4-exporter: refresh incomplete: account=default source=groups reason=not_found"
    ]
    assert "kb4_phishing_prone_ratio" in result.stdout  # what succeeded is still printed


def test_once_names_sources_a_stopped_refresh_never_tried(
    requests_mock: requests_mock.Mocker,
) -> None:
    fakes.serve_org(requests_mock, fakes.small_org())
    requests_mock.get(f"{fakes.BASE_URL}/v1/account", status_code=401)
    result = run(["once"], env=PHISHER_OFF)
    assert result.exit_code == 1
    (line,) = [line for line in result.stderr.splitlines() if "refresh incomplete" in line]
    assert "source=account reason=auth;" in line
    assert "source=users reason=not tried;" in line


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
    assert 'kb4_up{account="default"} 1.0' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["kb4.prom"]


def test_check_success_prints_account_facts(requests_mock: requests_mock.Mocker) -> None:
    fakes.serve_org(requests_mock, fakes.small_org())
    result = run(["check"])
    assert result.exit_code == 0, result.output
    assert "Acme" in result.output and "Diamond" in result.output
    assert "seats:              4" in result.output
    assert "PhishER:            reachable" in result.output


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
    assert 'kb4_up{account="default"} 1.0' in target.read_text()
    checked = run(["once"], env={"KB4_CONFIG_CHECK": "true"})
    assert checked.exit_code == 0 and "configuration OK" in checked.output
