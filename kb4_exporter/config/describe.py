"""The settings as text, secrets redacted: printed by --config.check, logged at start-up."""

from __future__ import annotations

from kb4_exporter.config.durations import format_duration
from kb4_exporter.config.settings import (
    BASE_DAILY_BUDGET,
    AccountConfig,
    PhisherConfig,
    Settings,
    UserEventsConfig,
)


def describe_settings(settings: Settings) -> str:
    """Every setting, one a line; a token appears only as where it comes from."""
    lines = [
        f"listen_address: {settings.listen_address}",
        f"web_config_file: {settings.web_config_file or '-'}",
        f"refresh_interval: {format_duration(settings.refresh_interval)}",
        f"phisher_refresh_interval: {format_duration(settings.phisher_refresh_interval)}",
        f"phisher_lookback: {format_duration(settings.phisher_lookback)}",
        f"phisher_unresolved_interval: {format_duration(settings.phisher_unresolved_interval)}",
        f"phisher_unresolved_horizon: {format_duration(settings.phisher_unresolved_horizon)}",
        f"state_dir: {settings.state_dir or '-'}",
        *([f"textfile: {settings.textfile}"] if settings.textfile else []),
        f"remedial_pattern: {settings.remedial_pattern.pattern}",
        f"demo: {str(settings.demo).lower()}",
        f"series caps: groups={settings.max_groups}, psts={settings.max_psts}, "
        f"campaigns={settings.max_campaigns}, event_types={settings.max_event_types}",
        "accounts:",
    ]
    for account in settings.accounts:
        lines += _describe_account(account)
    return "\n".join(lines)


def _describe_account(account: AccountConfig) -> list[str]:
    budget = account.daily_budget or f"{BASE_DAILY_BUDGET} + seats"
    caps = ", ".join(f"{k}={v}" for k, v in sorted(account.page_caps.items())) or "none"
    return [
        f"  - name: {account.name}",
        f"    region: {account.region}",
        f"    base_url: {account.base_url}",
        f"    api_token: <redacted, from {account.api_token.describe()}>",
        f"    phisher: {_describe_phisher(account.phisher)}",
        f"    user_events: {_describe_user_events(account.user_events)}",
        f"    requests_per_second: {account.requests_per_second:g}",
        f"    requests_per_minute: {account.requests_per_minute}",
        f"    daily_budget: {budget}",
        f"    page_caps: {caps}",
    ]


def _describe_phisher(phisher: PhisherConfig | None) -> str:
    if phisher is None:
        return "off (no PhishER token)"
    return f"{phisher.url} (token <redacted, from {phisher.token.describe()}>)"


def _describe_user_events(user_events: UserEventsConfig | None) -> str:
    if user_events is None:
        return "off (no User Event API token)"
    return f"{user_events.url} (token <redacted, from {user_events.token.describe()}>)"
