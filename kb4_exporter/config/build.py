"""Settings built from flags, environment variables and the optional account file.

Every problem is collected and reported at once (`ConfigError`), before any network
call. Flag values arrive as the text the user gave; what is not given takes the
default of `Settings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kb4_exporter.config import values
from kb4_exporter.config.account import build_account
from kb4_exporter.config.account_file import accounts_from_file
from kb4_exporter.config.durations import format_duration
from kb4_exporter.config.problems import Problems
from kb4_exporter.config.secrets import TokenSources
from kb4_exporter.config.settings import (
    DEFAULT_ACCOUNT,
    LOG_FORMATS,
    LOG_LEVELS,
    MIN_UNRESOLVED_HORIZON_SECONDS,
    AccountConfig,
    Settings,
)

_DEFAULTS = Settings(accounts=())
# Where the single account's problems come from when there is no --config.file.
_FLAGS = "flags"
_NO_REPORTING_AUTH_HINT = (
    "no Reporting API token: set --kb4.api-token-file / KB4_API_TOKEN_FILE "
    "or KB4_API_TOKEN (or use `serve --demo` to try the built-in simulator)"
)
# Tokens given by variable when no token file flag is: (variable, prefix of the keys).
_TOKEN_VARIABLES = (
    ("KB4_API_TOKEN", "api_token"),
    ("KB4_PHISHER_TOKEN", "phisher_token"),
    ("KB4_USER_EVENTS_TOKEN", "user_events_token"),
)


@dataclass
class RawOptions:
    """Flag/env values as given (strings), before validation."""

    config_file: str | None = None
    listen_address: str | None = None
    web_config_file: str | None = None
    region: str | None = None
    base_url: str | None = None
    api_token_file: str | None = None
    phisher_url: str | None = None
    phisher_token_file: str | None = None
    requests_per_second: str | None = None
    requests_per_minute: str | None = None
    daily_budget: str | None = None
    refresh_interval: str | None = None
    phisher_refresh_interval: str | None = None
    state_dir: str | None = None
    phisher_lookback: str | None = None
    phisher_unresolved_interval: str | None = None
    phisher_unresolved_horizon: str | None = None
    remedial_pattern: str | None = None
    log_level: str | None = None
    log_format: str | None = None
    user_events_url: str | None = None
    user_events_token_file: str | None = None
    max_groups: str | None = None
    max_psts: str | None = None
    max_campaigns: str | None = None
    max_event_types: str | None = None
    textfile: str | None = None
    demo: bool = False


def build_settings(raw: RawOptions, environ: Mapping[str, str]) -> Settings:
    """Validate everything; raise ConfigError listing every problem."""
    problems = Problems()
    settings = _settings_without_accounts(raw, problems)
    if settings.phisher_unresolved_horizon < MIN_UNRESOLVED_HORIZON_SECONDS:
        problems.add(
            "--phisher.unresolved-horizon: must be at least "
            f"{format_duration(MIN_UNRESOLVED_HORIZON_SECONDS)}"
        )
    if settings.web_config_file:
        _check_web_config(settings.web_config_file, problems)
    accounts = _accounts(raw, environ, problems)
    problems.raise_any()
    return settings.with_accounts(accounts)


def log_options(raw: RawOptions) -> tuple[str, str]:
    """The log level and format to set up before the rest is validated, so what validation
    logs (e.g. a token file readable by others) is in the chosen format; the default where
    one is invalid (build_settings reports it)."""
    level = (raw.log_level or _DEFAULTS.log_level).lower()
    log_format = (raw.log_format or _DEFAULTS.log_format).lower()
    return (
        level if level in LOG_LEVELS else _DEFAULTS.log_level,
        log_format if log_format in LOG_FORMATS else _DEFAULTS.log_format,
    )


def _settings_without_accounts(raw: RawOptions, problems: Problems) -> Settings:
    """Everything but the accounts, in the order problems are reported."""
    return Settings(
        accounts=(),
        listen_address=values.listen_address(
            raw.listen_address or _DEFAULTS.listen_address, problems
        ),
        web_config_file=raw.web_config_file or None,
        refresh_interval=values.duration(
            raw.refresh_interval, _DEFAULTS.refresh_interval, "--refresh.interval", problems
        ),
        phisher_refresh_interval=values.duration(
            raw.phisher_refresh_interval,
            _DEFAULTS.phisher_refresh_interval,
            "--refresh.phisher-interval",
            problems,
        ),
        state_dir=values.state_dir(raw.state_dir, problems),
        phisher_lookback=values.duration(
            raw.phisher_lookback, _DEFAULTS.phisher_lookback, "--phisher.lookback", problems
        ),
        phisher_unresolved_interval=values.duration(
            raw.phisher_unresolved_interval,
            _DEFAULTS.phisher_unresolved_interval,
            "--refresh.phisher-unresolved-interval",
            problems,
        ),
        phisher_unresolved_horizon=values.duration(
            raw.phisher_unresolved_horizon,
            _DEFAULTS.phisher_unresolved_horizon,
            "--phisher.unresolved-horizon",
            problems,
        ),
        remedial_pattern=values.remedial_pattern(
            raw.remedial_pattern, _DEFAULTS.remedial_pattern, problems
        ),
        log_level=values.choice(
            raw.log_level or _DEFAULTS.log_level, LOG_LEVELS, "--log.level", problems
        ),
        log_format=values.choice(
            raw.log_format or _DEFAULTS.log_format, LOG_FORMATS, "--log.format", problems
        ),
        demo=raw.demo,
        max_groups=values.series_cap(
            raw.max_groups, _DEFAULTS.max_groups, "--metrics.max-groups", problems
        ),
        max_psts=values.series_cap(
            raw.max_psts, _DEFAULTS.max_psts, "--metrics.max-psts", problems
        ),
        max_campaigns=values.series_cap(
            raw.max_campaigns, _DEFAULTS.max_campaigns, "--metrics.max-campaigns", problems
        ),
        max_event_types=values.series_cap(
            raw.max_event_types, _DEFAULTS.max_event_types, "--metrics.max-event-types", problems
        ),
        textfile=values.textfile(raw.textfile, problems),
    )


def _accounts(
    raw: RawOptions, environ: Mapping[str, str], problems: Problems
) -> tuple[AccountConfig, ...]:
    """No accounts in demo mode (the demo brings its own); else those of the account file,
    or the one account the flags describe."""
    if raw.demo:
        return ()
    tokens = TokenSources(environ)
    flag_values = _flag_account_values(raw, environ)
    if raw.config_file:
        return accounts_from_file(raw.config_file, flag_values, tokens, problems)
    account = build_account(
        {"name": DEFAULT_ACCOUNT, **flag_values},
        tokens,
        _FLAGS,
        problems,
        no_token_hint=_NO_REPORTING_AUTH_HINT,
    )
    return () if account is None else (account,)


def _flag_account_values(raw: RawOptions, environ: Mapping[str, str]) -> dict[str, Any]:
    """Account keys given by flags/env: the single account, or defaults for file accounts."""
    given: dict[str, Any] = {
        "region": raw.region,
        "base_url": raw.base_url,
        "api_token_file": raw.api_token_file,
        "phisher_url": raw.phisher_url,
        "phisher_token_file": raw.phisher_token_file,
        "user_events_url": raw.user_events_url,
        "user_events_token_file": raw.user_events_token_file,
        "requests_per_second": raw.requests_per_second,
        "requests_per_minute": raw.requests_per_minute,
        "daily_budget": raw.daily_budget,
    }
    for variable, prefix in _TOKEN_VARIABLES:
        if not given[f"{prefix}_file"] and environ.get(variable):
            given[f"{prefix}_env"] = variable
    return {key: value for key, value in given.items() if value not in (None, "")}


def _check_web_config(path: str, problems: Problems) -> None:
    # Validated in full here, not only at bind time, so --config.check catches a bad file.
    # Imported here: TLS and bcrypt are not loaded when no web config is given.
    from kb4_exporter.web.web_config import WebConfigError, load_web_config

    try:
        load_web_config(path)
    except WebConfigError as err:
        for problem in err.problems:
            problems.add(f"--web.config.file {path}: {problem}")
