"""Settings from flags, environment and YAML: defaults, layering, problems, redaction."""

from __future__ import annotations

import logging
import re
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

from kb4_exporter.config.build import RawOptions, build_settings, log_options
from kb4_exporter.config.describe import describe_settings
from kb4_exporter.config.problems import ConfigError
from kb4_exporter.config.settings import AccountConfig, Settings
from kb4_exporter.config.values import split_listen_address

SENTINEL = "kb4-sentinel-Zq7xV2pL9mW4"
PHISHER_SENTINEL = "phisher-sentinel-Kd83nWq1xT"
TOKEN_ENV = {"KB4_API_TOKEN": SENTINEL}

# The contract: Reporting API base URL and PhishER GraphQL endpoint of each region.
REGION_URLS = {
    "us": ("https://us.api.knowbe4.com", "https://training.knowbe4.com/graphql"),
    "eu": ("https://eu.api.knowbe4.com", "https://eu.knowbe4.com/graphql"),
    "ca": ("https://ca.api.knowbe4.com", "https://ca.knowbe4.com/graphql"),
    "uk": ("https://uk.api.knowbe4.com", "https://uk.knowbe4.com/graphql"),
    "de": ("https://de.api.knowbe4.com", "https://de.knowbe4.com/graphql"),
}
REGION_LIST = "us, eu, ca, uk, de"
NO_TOKEN_HINT = (
    "no Reporting API token: set --kb4.api-token-file / KB4_API_TOKEN_FILE or KB4_API_TOKEN "
    "(or use `serve --demo` to try the built-in simulator)"
)
TOKEN_KEY_HINT = "(tokens come only from *_token_file or *_token_env)"


def write_token(directory: Path, name: str, value: str = SENTINEL) -> str:
    path = directory / name
    path.write_text(value + "\n", encoding="utf-8")
    path.chmod(0o600)
    return str(path)


def write_yaml(directory: Path, text: str, name: str = "kb4.yml") -> str:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def build(raw: RawOptions | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    return build_settings(raw or RawOptions(), TOKEN_ENV if environ is None else environ)


def problems_of(raw: RawOptions, environ: Mapping[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        build(raw, environ)
    return caught.value.problems


def config_error(raw: RawOptions, environ: Mapping[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        build(raw, environ)
    return caught.value


def only_account(settings: Settings) -> AccountConfig:
    assert len(settings.accounts) == 1
    return settings.accounts[0]


def by_name(settings: Settings) -> dict[str, AccountConfig]:
    return {account.name: account for account in settings.accounts}


# --------------------------------------------------------------------------------------
# Defaults and flags


def test_defaults_give_one_us_account_with_contract_intervals_and_pattern() -> None:
    settings = build()
    account = only_account(settings)
    assert account.name == "default"
    assert account.region == "us"
    assert account.base_url == "https://us.api.knowbe4.com"
    assert account.phisher is None
    assert account.requests_per_second == 4.0
    assert account.requests_per_minute == 50
    assert account.daily_budget is None
    assert dict(account.page_caps) == {}  # no caps: the budget bounds a refresh
    assert account.api_token.read() == SENTINEL
    assert settings.refresh_interval == 24 * 3600
    assert settings.phisher_refresh_interval == 3600
    assert settings.phisher_lookback == 7 * 86400
    assert settings.phisher_unresolved_interval == 300
    assert settings.phisher_unresolved_horizon == 30 * 86400
    assert settings.listen_address == ":9897"
    assert settings.web_config_file is None
    assert settings.state_dir is None
    assert (settings.log_level, settings.log_format, settings.demo) == ("info", "logfmt", False)


def test_default_remedial_pattern_is_a_case_insensitive_search() -> None:
    pattern = build().remedial_pattern
    assert pattern.pattern == "remedial"
    assert pattern.search("Q3 REMEDIAL Phishing Training")
    assert pattern.search("remedial-clickers")
    assert not pattern.search("Annual Security Awareness")


def test_custom_remedial_pattern_is_case_insensitive_too() -> None:
    pattern = build(RawOptions(remedial_pattern=r"^(fix|retrain)\b")).remedial_pattern
    assert pattern.search("RETRAIN clickers")
    assert not pattern.search("Phishing retrain")


@pytest.mark.parametrize("region", sorted(REGION_URLS))
def test_each_region_sets_reporting_and_phisher_urls(region: str) -> None:
    environ = {**TOKEN_ENV, "KB4_PHISHER_TOKEN": PHISHER_SENTINEL}
    account = only_account(build(RawOptions(region=region.upper()), environ))
    assert account.region == region
    assert account.base_url == REGION_URLS[region][0]
    assert account.phisher is not None
    assert account.phisher.url == REGION_URLS[region][1]


def test_flags_override_urls_and_pacing_and_set_intervals(tmp_path: Path) -> None:
    raw = RawOptions(
        region="eu",
        base_url="https://proxy.example.test/",
        phisher_url="https://phisher.example.test/graphql",
        requests_per_second="2.5",
        requests_per_minute="30",
        daily_budget="5000",
        refresh_interval="12h",
        phisher_refresh_interval="15m",
        phisher_lookback="3d",
        phisher_unresolved_interval="2m",
        phisher_unresolved_horizon="60d",
        state_dir=str(tmp_path),
        listen_address="127.0.0.1:9000",
        log_level="DEBUG",
        log_format="json",
    )
    settings = build(raw, {**TOKEN_ENV, "KB4_PHISHER_TOKEN": PHISHER_SENTINEL})
    account = only_account(settings)
    assert account.region == "eu"
    assert account.base_url == "https://proxy.example.test"
    assert account.phisher is not None
    assert account.phisher.url == "https://phisher.example.test/graphql"
    assert (account.requests_per_second, account.requests_per_minute) == (2.5, 30)
    assert account.daily_budget == 5000
    assert settings.refresh_interval == 12 * 3600
    assert settings.phisher_refresh_interval == 15 * 60
    assert settings.phisher_lookback == 3 * 86400
    assert settings.phisher_unresolved_interval == 120
    assert settings.phisher_unresolved_horizon == 60 * 86400
    assert settings.state_dir == str(tmp_path)
    assert settings.listen_address == "127.0.0.1:9000"
    assert (settings.log_level, settings.log_format) == ("debug", "json")


def test_whole_number_written_with_a_decimal_point_is_accepted_for_counts() -> None:
    account = only_account(build(RawOptions(requests_per_minute="50.0", daily_budget="2500")))
    assert account.requests_per_minute == 50
    assert isinstance(account.requests_per_minute, int)
    assert account.daily_budget == 2500


def test_empty_flag_values_mean_the_defaults() -> None:
    raw = RawOptions(region="", refresh_interval="", listen_address="", remedial_pattern="")
    settings = build(raw)
    assert only_account(settings).region == "us"
    assert settings.refresh_interval == 86400
    assert settings.listen_address == ":9897"
    assert settings.remedial_pattern.pattern == "remedial"


def test_web_config_file_that_can_be_read_is_kept(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text("# plain HTTP, no basic auth\n")
    assert build(RawOptions(web_config_file=str(web))).web_config_file == str(web)


# --------------------------------------------------------------------------------------
# Tokens


def test_api_token_from_env_when_no_token_file() -> None:
    account = only_account(build(RawOptions(), {"KB4_API_TOKEN": SENTINEL}))
    assert account.api_token.describe() == "env $KB4_API_TOKEN"
    assert account.api_token.read() == SENTINEL


def test_token_file_takes_precedence_over_the_env_token(tmp_path: Path) -> None:
    path = write_token(tmp_path, "api", "token-from-the-file")
    account = only_account(build(RawOptions(api_token_file=path), {"KB4_API_TOKEN": SENTINEL}))
    assert account.api_token.describe() == f"file {path}"
    assert account.api_token.read() == "token-from-the-file"


def test_token_env_is_read_from_the_given_environ_not_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KB4_API_TOKEN", raising=False)
    assert only_account(build(RawOptions(), {"KB4_API_TOKEN": SENTINEL})).api_token.read() == (
        SENTINEL
    )


@pytest.mark.parametrize("environ", [{}, {"KB4_API_TOKEN": ""}])
def test_no_token_at_all_is_a_problem_that_says_how_to_give_one(environ: dict[str, str]) -> None:
    assert problems_of(RawOptions(), environ) == [f"flags: {NO_TOKEN_HINT}"]


def test_phisher_is_off_without_a_phisher_token() -> None:
    assert only_account(build(RawOptions(), TOKEN_ENV)).phisher is None


def test_phisher_is_on_with_the_phisher_token_env() -> None:
    account = only_account(
        build(RawOptions(), {**TOKEN_ENV, "KB4_PHISHER_TOKEN": PHISHER_SENTINEL})
    )
    assert account.phisher is not None
    assert account.phisher.url == "https://training.knowbe4.com/graphql"
    assert account.phisher.token.describe() == "env $KB4_PHISHER_TOKEN"
    assert account.phisher.token.read() == PHISHER_SENTINEL


def test_phisher_token_file_takes_precedence_over_the_env(tmp_path: Path) -> None:
    path = write_token(tmp_path, "phisher", "phisher-from-file")
    environ = {**TOKEN_ENV, "KB4_PHISHER_TOKEN": PHISHER_SENTINEL}
    account = only_account(build(RawOptions(phisher_token_file=path), environ))
    assert account.phisher is not None
    assert account.phisher.token.describe() == f"file {path}"
    assert account.phisher.token.read() == "phisher-from-file"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "does not exist"),
        ("", "is empty"),
        ("two words", "holds more than one word; it must hold the token only"),
    ],
)
def test_unusable_token_file_is_a_problem(
    tmp_path: Path, content: str | None, problem: str
) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    assert problems_of(RawOptions(api_token_file=str(path))) == [
        f"flags: token file {path} {problem}"
    ]


def test_directory_as_token_file_is_a_problem(tmp_path: Path) -> None:
    assert problems_of(RawOptions(phisher_token_file=str(tmp_path))) == [
        f"flags: token file {tmp_path} is a directory"
    ]


# --------------------------------------------------------------------------------------
# YAML accounts


def two_account_file(tmp_path: Path) -> str:
    us_token = write_token(tmp_path, "us-api", "us-api-token")
    us_phisher = write_token(tmp_path, "us-phisher", "us-phisher-token")
    return write_yaml(
        tmp_path,
        f"""
        defaults:
          requests_per_second: 2
          page_caps:
            users: 10
        accounts:
          - name: acme-us
            region: us
            api_token_file: {us_token}
            phisher_token_file: {us_phisher}
            daily_budget: 5000
          - name: acme-eu
            region: eu
            api_token_env: ACME_EU_TOKEN
            phisher_token_env: ACME_EU_PHISHER
            requests_per_minute: 30
            page_caps:
              recipients: 5
              phisher: 3
        """,
    )


def test_yaml_file_with_two_accounts_and_defaults(tmp_path: Path) -> None:
    path = two_account_file(tmp_path)
    environ = {"ACME_EU_TOKEN": "eu-api-token", "ACME_EU_PHISHER": "eu-phisher-token"}
    settings = build(RawOptions(config_file=path), environ)
    assert [account.name for account in settings.accounts] == ["acme-us", "acme-eu"]
    us, eu = by_name(settings)["acme-us"], by_name(settings)["acme-eu"]

    assert (us.region, us.base_url) == ("us", "https://us.api.knowbe4.com")
    assert us.api_token.read() == "us-api-token"
    assert us.phisher is not None
    assert us.phisher.url == "https://training.knowbe4.com/graphql"
    assert us.phisher.token.read() == "us-phisher-token"
    assert (us.requests_per_second, us.requests_per_minute, us.daily_budget) == (2.0, 50, 5000)
    assert dict(us.page_caps) == {"users": 10}

    assert (eu.region, eu.base_url) == ("eu", "https://eu.api.knowbe4.com")
    assert eu.api_token.read() == "eu-api-token"
    assert eu.phisher is not None
    assert eu.phisher.url == "https://eu.knowbe4.com/graphql"
    assert eu.phisher.token.read() == "eu-phisher-token"
    assert (eu.requests_per_second, eu.requests_per_minute, eu.daily_budget) == (2.0, 30, None)
    # Page caps merge per source: the account's own caps on top of the defaults'.
    assert dict(eu.page_caps) == {"users": 10, "recipients": 5, "phisher": 3}


def test_flags_and_env_are_defaults_for_yaml_accounts(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path,
        """
        accounts:
          - name: inherits
          - name: own
            region: ca
            requests_per_second: 3
            api_token_env: OWN_TOKEN
        """,
    )
    raw = RawOptions(config_file=path, region="uk", requests_per_second="1", daily_budget="3000")
    environ = {"KB4_API_TOKEN": SENTINEL, "OWN_TOKEN": "own-token"}
    accounts = by_name(build(raw, environ))
    inherits, own = accounts["inherits"], accounts["own"]
    assert (inherits.region, inherits.base_url) == ("uk", "https://uk.api.knowbe4.com")
    assert (inherits.requests_per_second, inherits.daily_budget) == (1.0, 3000)
    assert inherits.api_token.read() == SENTINEL
    assert (own.region, own.base_url) == ("ca", "https://ca.api.knowbe4.com")
    assert (own.requests_per_second, own.daily_budget) == (3.0, 3000)
    assert own.api_token.read() == "own-token"


def test_a_token_file_readable_by_others_is_named_once_for_all_accounts_using_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shared = write_token(tmp_path, "shared-token")
    Path(shared).chmod(0o644)
    path = write_yaml(tmp_path, "accounts:\n  - name: a\n  - name: b\n")
    with caplog.at_level(logging.WARNING, logger="kb4_exporter.config.secrets"):
        settings = build(RawOptions(config_file=path, api_token_file=shared), {})
        for account in settings.accounts:
            assert account.api_token.read() == SENTINEL
    warnings = [r.getMessage() for r in caplog.records if r.name == "kb4_exporter.config.secrets"]
    assert warnings == [f"token file {shared} is readable by other users (mode 644); chmod 600 it"]


def test_yaml_defaults_beat_flags_and_accounts_beat_defaults(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path,
        """
        defaults:
          requests_per_minute: 40
        accounts:
          - name: a
          - name: b
            requests_per_minute: 20
        """,
    )
    accounts = by_name(build(RawOptions(config_file=path, requests_per_minute="60")))
    assert accounts["a"].requests_per_minute == 40
    assert accounts["b"].requests_per_minute == 20


def test_account_token_env_beats_a_token_file_given_by_flag(tmp_path: Path) -> None:
    flag_file = write_token(tmp_path, "flag-token", "from-flag-file")
    path = write_yaml(
        tmp_path,
        """
        accounts:
          - name: a
            api_token_env: ACCOUNT_A_TOKEN
          - name: b
        """,
    )
    environ = {"ACCOUNT_A_TOKEN": "account-a-token"}
    accounts = by_name(build(RawOptions(config_file=path, api_token_file=flag_file), environ))
    assert accounts["a"].api_token.read() == "account-a-token"
    assert accounts["b"].api_token.read() == "from-flag-file"


def test_account_region_is_not_sent_to_a_base_url_given_for_another_region(
    tmp_path: Path,
) -> None:
    path = write_yaml(
        tmp_path,
        """
        accounts:
          - name: flagged
          - name: eu
            region: eu
          - name: eu-proxy
            region: eu
            base_url: https://eu-proxy.example.test
        """,
    )
    raw = RawOptions(config_file=path, base_url="https://proxy.example.test")
    environ = {**TOKEN_ENV, "KB4_PHISHER_TOKEN": PHISHER_SENTINEL}
    accounts = by_name(build(raw, environ))
    assert accounts["flagged"].base_url == "https://proxy.example.test"
    assert accounts["eu"].base_url == "https://eu.api.knowbe4.com"
    assert accounts["eu-proxy"].base_url == "https://eu-proxy.example.test"
    phisher = accounts["eu-proxy"].phisher
    assert phisher is not None
    assert phisher.url == "https://eu.knowbe4.com/graphql"


def test_phisher_token_env_from_the_environment_turns_phisher_on_for_every_account(
    tmp_path: Path,
) -> None:
    path = write_yaml(tmp_path, "accounts:\n  - name: a\n    region: de\n  - name: b\n")
    environ = {**TOKEN_ENV, "KB4_PHISHER_TOKEN": PHISHER_SENTINEL}
    for account in build(RawOptions(config_file=path), environ).accounts:
        assert account.phisher is not None
        assert account.phisher.token.read() == PHISHER_SENTINEL


def test_an_account_can_switch_off_an_inherited_phisher_token(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path,
        """
        accounts:
          - name: with-phisher
          - name: without-phisher
            phisher_token_env: null
        """,
    )
    environ = {**TOKEN_ENV, "KB4_PHISHER_TOKEN": PHISHER_SENTINEL}
    accounts = by_name(build(RawOptions(config_file=path), environ))
    assert accounts["with-phisher"].phisher is not None
    assert accounts["without-phisher"].phisher is None


def test_demo_mode_needs_no_token_and_has_no_configured_accounts() -> None:
    settings = build(RawOptions(demo=True), {})
    assert settings.demo is True
    assert settings.accounts == ()


def test_demo_mode_still_reports_bad_flags() -> None:
    assert problems_of(RawOptions(demo=True, refresh_interval="soon"), {}) == [
        "--refresh.interval: 'soon' is not a duration (use e.g. 30s, 15m, 1h, 7d, 1h30m)"
    ]


# --------------------------------------------------------------------------------------
# Problems from flags, one class at a time


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (
            RawOptions(region="mars"),
            f"flags: unknown region 'mars' (one of {REGION_LIST})",
        ),
        (
            RawOptions(base_url="ftp://files.example.test"),
            "flags: base URL 'ftp://files.example.test' must be an http:// or https:// URL",
        ),
        (
            RawOptions(refresh_interval="abc"),
            "--refresh.interval: 'abc' is not a duration (use e.g. 30s, 15m, 1h, 7d, 1h30m)",
        ),
        (
            RawOptions(phisher_refresh_interval="5x"),
            "--refresh.phisher-interval: '5x' is not a duration (use e.g. 30s, 15m, 1h, 7d, 1h30m)",
        ),
        (RawOptions(phisher_lookback="0s"), "--phisher.lookback: must be greater than 0"),
        (
            RawOptions(phisher_unresolved_interval="soon"),
            "--refresh.phisher-unresolved-interval: 'soon' is not a duration "
            "(use e.g. 30s, 15m, 1h, 7d, 1h30m)",
        ),
        (
            RawOptions(phisher_unresolved_horizon="12h"),
            "--phisher.unresolved-horizon: must be at least 1d",
        ),
        (
            RawOptions(requests_per_second="0"),
            "flags: requests per second must be greater than 0, got '0'",
        ),
        (
            RawOptions(requests_per_second="-1"),
            "flags: requests per second must be greater than 0, got '-1'",
        ),
        (
            RawOptions(requests_per_second="fast"),
            "flags: requests per second 'fast' is not a finite number",
        ),
        (
            RawOptions(requests_per_second="nan"),
            "flags: requests per second 'nan' is not a finite number",
        ),
        (
            RawOptions(requests_per_second="inf"),
            "flags: requests per second 'inf' is not a finite number",
        ),
        (
            RawOptions(requests_per_minute="2.5"),
            "flags: requests per minute '2.5' is not a whole number",
        ),
        (
            RawOptions(requests_per_minute="0"),
            "flags: requests per minute must be greater than 0, got '0'",
        ),
        (
            RawOptions(daily_budget="lots"),
            "flags: daily budget 'lots' is not a whole number",
        ),
        (
            RawOptions(daily_budget="-5"),
            "flags: daily budget must be greater than 0, got '-5'",
        ),
        (
            RawOptions(listen_address="9897"),
            "--web.listen-address: '9897' must be host:port, e.g. :9897 or 127.0.0.1:9897",
        ),
        (
            RawOptions(log_level="loud"),
            "--log.level: 'loud' is not one of debug, info, warn, warning, error",
        ),
        (RawOptions(log_format="xml"), "--log.format: 'xml' is not one of logfmt, json"),
        (RawOptions(phisher_lookback="10000y"), "--phisher.lookback: must be at most 366d"),
        (RawOptions(refresh_interval="367d"), "--refresh.interval: must be at most 366d"),
        (
            RawOptions(refresh_interval="90"),
            "--refresh.interval: '90' has no unit: write e.g. 90s or 90m "
            "(units: ms, s, m, h, d, w, y)",
        ),
    ],
)
def test_each_bad_flag_is_one_clear_problem(raw: RawOptions, problem: str) -> None:
    assert problems_of(raw) == [problem]


def test_bad_phisher_url_is_a_problem_when_phisher_is_on() -> None:
    environ = {**TOKEN_ENV, "KB4_PHISHER_TOKEN": PHISHER_SENTINEL}
    assert problems_of(RawOptions(phisher_url="phisher.example.test"), environ) == [
        "flags: PhishER URL 'phisher.example.test' must be an http:// or https:// URL"
    ]


def test_bad_regex_is_a_problem() -> None:
    (problem,) = problems_of(RawOptions(remedial_pattern="(remedial"))
    assert problem.startswith(
        "--kri.remedial-pattern '(remedial': not a valid regular expression (missing ), "
    )


def test_missing_web_config_file_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    assert problems_of(RawOptions(web_config_file=str(path))) == [
        f"--web.config.file {path}: cannot read the file: No such file or directory"
    ]


def test_directory_as_web_config_file_is_a_problem(tmp_path: Path) -> None:
    assert problems_of(RawOptions(web_config_file=str(tmp_path))) == [
        f"--web.config.file {tmp_path}: cannot read the file: Is a directory"
    ]


def test_web_config_file_with_bad_content_is_a_problem_at_config_time(tmp_path: Path) -> None:
    web = tmp_path / "web.yml"
    web.write_text("basic_auth_users:\n  prometheus: not-a-hash\ntls_srever_config: {}\n")
    problems = problems_of(RawOptions(web_config_file=str(web)))
    assert len(problems) == 2, problems
    assert all(p.startswith(f"--web.config.file {web}: ") for p in problems)
    assert any("tls_srever_config" in p for p in problems)
    assert any("basic_auth_users.prometheus: not a bcrypt hash" in p for p in problems)


def test_many_different_flag_problems_are_all_reported_together(tmp_path: Path) -> None:
    missing_token = tmp_path / "no-such-token"
    raw = RawOptions(
        region="mars",
        api_token_file=str(missing_token),
        refresh_interval="soon",
        remedial_pattern="[unclosed",
        requests_per_second="0",
        daily_budget="many",
        listen_address="localhost",
        web_config_file=str(tmp_path / "no-such-web.yml"),
        log_level="chatty",
    )
    error = config_error(raw)
    expected_starts = [
        "--web.listen-address: 'localhost' must be host:port",
        "--refresh.interval: 'soon' is not a duration",
        "--kri.remedial-pattern '[unclosed': not a valid regular expression",
        "--log.level: 'chatty' is not one of",
        f"--web.config.file {tmp_path / 'no-such-web.yml'}: cannot read the file",
        "flags: unknown region 'mars'",
        f"flags: token file {missing_token} does not exist",
        "flags: requests per second must be greater than 0",
        "flags: daily budget 'many' is not a whole number",
    ]
    assert len(error.problems) == len(expected_starts)
    for problem, start in zip(error.problems, expected_starts, strict=True):
        assert problem.startswith(start), (problem, start)
    text = str(error)
    assert text.startswith("invalid configuration:\n  - ")
    assert text.splitlines()[1:] == [f"  - {problem}" for problem in error.problems]


# --------------------------------------------------------------------------------------
# Problems from the YAML file


def yaml_problems(tmp_path: Path, text: str, environ: Mapping[str, str] | None = None) -> list[str]:
    path = write_yaml(tmp_path, text)
    return [p.replace(path, "FILE") for p in problems_of(RawOptions(config_file=path), environ)]


def test_missing_config_file_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "missing.yml"
    assert problems_of(RawOptions(config_file=str(path))) == [
        f"--config.file {path}: cannot be read: No such file or directory"
    ]


def test_non_utf8_config_file_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "kb4.yml"
    path.write_bytes(b"accounts:\n  - name: caf\xe9\n")
    assert problems_of(RawOptions(config_file=str(path))) == [
        f"--config.file {path}: not UTF-8 text"
    ]


def test_literal_api_token_key_is_rejected_with_a_hint_and_not_echoed(tmp_path: Path) -> None:
    text = f"accounts:\n  - name: acme\n    api_token: {SENTINEL}\n"
    path = write_yaml(tmp_path, text)
    error = config_error(RawOptions(config_file=path), {})
    assert error.problems[0] == f"{path}: accounts[0]: unknown key 'api_token' {TOKEN_KEY_HINT}"
    assert SENTINEL not in str(error)


def test_token_pasted_as_an_env_variable_name_is_a_problem_that_does_not_echo_it(
    tmp_path: Path,
) -> None:
    path = write_yaml(tmp_path, f"accounts:\n  - name: a\n    api_token_env: {SENTINEL}\n")
    error = config_error(RawOptions(config_file=path), {})
    assert error.problems == [
        f"{path}: accounts[0]: api_token_env must be the name of an environment variable "
        "(letters, digits, '_'), not the token itself"
    ]
    assert SENTINEL not in str(error)


def test_yaml_account_without_any_token_gets_a_hint_about_yaml_keys(tmp_path: Path) -> None:
    assert yaml_problems(tmp_path, "accounts:\n  - name: a\n", environ={}) == [
        "FILE: accounts[0]: no Reporting API token: set api_token_file or api_token_env "
        "(or --kb4.api-token-file / KB4_API_TOKEN_FILE / KB4_API_TOKEN for every account)"
    ]


def test_flag_and_yaml_problems_are_reported_together(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, "accounts:\n  - region: mars\n")
    raw = RawOptions(config_file=path, refresh_interval="0", listen_address=":http")
    assert problems_of(raw) == [
        "--web.listen-address: ':http' must be host:port, e.g. :9897 or 127.0.0.1:9897",
        "--refresh.interval: must be greater than 0",
        f"{path}: accounts[0]: unknown region 'mars' (one of {REGION_LIST})",
    ]


# --------------------------------------------------------------------------------------
# Redaction


def settings_with_both_tokens(tmp_path: Path) -> Settings:
    api_file = write_token(tmp_path, "api", SENTINEL)
    raw = RawOptions(api_token_file=api_file)
    return build(raw, {"KB4_API_TOKEN": "unused-env-token", "KB4_PHISHER_TOKEN": PHISHER_SENTINEL})


def test_tokens_never_appear_in_describe_repr_or_str(tmp_path: Path) -> None:
    settings = settings_with_both_tokens(tmp_path)
    account = only_account(settings)
    assert account.phisher is not None
    shown = "\n".join(
        [
            describe_settings(settings),
            repr(settings),
            str(settings),
            repr(account),
            repr(account.api_token),
            str(account.api_token),
            repr(account.phisher),
            repr(account.phisher.token),
        ]
    )
    for token in (SENTINEL, PHISHER_SENTINEL):
        assert token not in shown
    # The tokens are still there to be read when a request needs them.
    assert account.api_token.read() == SENTINEL
    assert account.phisher.token.read() == PHISHER_SENTINEL


def test_config_error_never_contains_a_readable_token(tmp_path: Path) -> None:
    api_file = write_token(tmp_path, "api", SENTINEL)
    raw = RawOptions(api_token_file=api_file, region="mars", phisher_lookback="never")
    error = config_error(raw, {"KB4_PHISHER_TOKEN": PHISHER_SENTINEL})
    assert len(error.problems) == 2
    for token in (SENTINEL, PHISHER_SENTINEL):
        assert token not in str(error)
        assert token not in repr(error)


def test_token_pasted_as_the_token_file_flag_is_not_echoed() -> None:
    pasted = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJrYjQtc2VudGluZWwifQ.c2lnbmF0dXJlLXNlbnRpbmVs"
    error = config_error(RawOptions(api_token_file=pasted))
    assert len(error.problems) == 1
    assert error.problems[0].startswith("flags: token file does not exist; its name is not shown")
    assert pasted not in str(error)


def test_describe_settings_prints_every_setting_with_tokens_redacted() -> None:
    described = describe_settings(build(RawOptions(), TOKEN_ENV))
    assert described.splitlines() == [
        "listen_address: :9897",
        "web_config_file: -",
        "refresh_interval: 1d",
        "phisher_refresh_interval: 1h",
        "phisher_lookback: 7d",
        "phisher_unresolved_interval: 5m",
        "phisher_unresolved_horizon: 30d",
        "state_dir: -",
        "remedial_pattern: remedial",
        "demo: false",
        "series caps: groups=50, psts=20, campaigns=20, event_types=20",
        "accounts:",
        "  - name: default",
        "    region: us",
        "    base_url: https://us.api.knowbe4.com",
        "    api_token: <redacted, from env $KB4_API_TOKEN>",
        "    phisher: off (no PhishER token)",
        "    user_events: off (no User Event API token)",
        "    requests_per_second: 4",
        "    requests_per_minute: 50",
        "    daily_budget: 2000 + seats",
        "    page_caps: none",
    ]


def test_describe_settings_of_two_yaml_accounts(tmp_path: Path) -> None:
    path = two_account_file(tmp_path)
    environ = {"ACME_EU_TOKEN": SENTINEL, "ACME_EU_PHISHER": PHISHER_SENTINEL}
    described = describe_settings(build(RawOptions(config_file=path), environ))
    assert SENTINEL not in described
    assert PHISHER_SENTINEL not in described
    accounts = described.split("accounts:\n", 1)[1]
    assert "  - name: acme-us\n    region: us\n" in accounts
    assert f"    api_token: <redacted, from file {tmp_path / 'us-api'}>\n" in accounts
    assert "    daily_budget: 5000\n" in accounts
    assert "  - name: acme-eu\n    region: eu\n" in accounts
    assert (
        "    phisher: https://eu.knowbe4.com/graphql "
        "(token <redacted, from env $ACME_EU_PHISHER>)\n" in accounts
    )
    assert "    requests_per_second: 2\n    requests_per_minute: 30\n" in accounts


# --------------------------------------------------------------------------------------
# Listen address


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        (":9897", "", 9897),
        ("127.0.0.1:9897", "127.0.0.1", 9897),
        ("localhost:80", "localhost", 80),
        ("[::1]:9897", "::1", 9897),
        ("[::]:0", "::", 0),
        ("0.0.0.0:65535", "0.0.0.0", 65535),
        ("[fe80::1%eth0]:9897", "fe80::1%eth0", 9897),
    ],
)
def test_split_listen_address_accepts_host_port_forms(text: str, host: str, port: int) -> None:
    assert split_listen_address(text) == (host, port)


@pytest.mark.parametrize(
    "text",
    [
        "9897",
        "",
        ":",
        "localhost:",
        ":http",
        ":65536",
        ":-1",
        ":\u00b2",
        "::1:9897",
        "::9897",
        "[::1:9897",
        "::1]:9897",
        "[]:9897",
        "[127.0.0.1]:9897",
        "[not-an-address]:9897",
        "local host:9897",
    ],
)
def test_split_listen_address_rejects_malformed_addresses(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(text))):
        split_listen_address(text)


@pytest.mark.parametrize("text", ["::1:9897", "[::1:9897", ":99999"])
def test_bad_listen_address_is_a_config_problem(text: str) -> None:
    (problem,) = problems_of(RawOptions(listen_address=text))
    assert problem.startswith(f"--web.listen-address: {text!r}")


@pytest.mark.parametrize("text", ["localhost:99999", ":65536", "[::1]:70000"])
def test_a_port_out_of_range_is_called_that(text: str) -> None:
    port = text.rpartition(":")[2]
    (problem,) = problems_of(RawOptions(listen_address=text))
    assert problem == f"--web.listen-address: {text!r}: port {port} is out of range (0-65535)"


# --------------------------------------------------------------------------------------
# Files the exporter writes: checked before any refresh


def test_a_state_dir_that_is_a_file_is_a_problem(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_text("")
    assert problems_of(RawOptions(state_dir=str(state))) == [
        f"--state.dir {state}: is not a directory"
    ]


def test_a_state_dir_under_a_file_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert problems_of(RawOptions(state_dir=str(blocker / "kb4"))) == [
        f"--state.dir {blocker / 'kb4'}: cannot be created: {blocker} is not a directory"
    ]


def test_a_missing_state_dir_is_fine_when_it_can_be_created(tmp_path: Path) -> None:
    # The first state write creates it (and its parents).
    target = tmp_path / "a" / "b"
    assert build(RawOptions(state_dir=str(target))).state_dir == str(target)
    assert not target.exists()  # validating creates nothing


def test_a_textfile_in_a_missing_directory_is_a_problem(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "kb4.prom"
    assert problems_of(RawOptions(textfile=str(target))) == [
        f"--textfile {target}: its directory {target.parent} does not exist"
    ]


def test_a_textfile_that_is_a_directory_is_a_problem(tmp_path: Path) -> None:
    assert problems_of(RawOptions(textfile=str(tmp_path))) == [
        f"--textfile {tmp_path}: is a directory"
    ]


def test_a_textfile_in_an_existing_directory_is_accepted_and_described(tmp_path: Path) -> None:
    target = tmp_path / "kb4.prom"
    settings = build(RawOptions(textfile=str(target)))
    assert settings.textfile == str(target)
    assert f"textfile: {target}" in describe_settings(settings).splitlines()


@pytest.mark.parametrize(
    ("level", "log_format", "expected"),
    [
        (None, None, ("info", "logfmt")),
        ("WARN", "JSON", ("warn", "json")),
        ("loud", "xml", ("info", "logfmt")),  # build_settings reports both
    ],
)
def test_log_options_are_known_before_the_rest_is_validated(
    level: str | None, log_format: str | None, expected: tuple[str, str]
) -> None:
    assert log_options(RawOptions(log_level=level, log_format=log_format)) == expected
