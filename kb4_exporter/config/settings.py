"""The immutable settings the exporter runs with, their defaults and limits.

Built and validated from flags, environment variables and the account file by
`config.build`; printed with secrets redacted by `config.describe`. Tokens are never
read into settings: an account holds a `Secret` that says where its token lives.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from kb4_exporter.config.secrets import Secret

REGIONS: Mapping[str, tuple[str, str]] = {
    # region: (Reporting API base URL, PhishER GraphQL endpoint)
    "us": ("https://us.api.knowbe4.com", "https://training.knowbe4.com/graphql"),
    "eu": ("https://eu.api.knowbe4.com", "https://eu.knowbe4.com/graphql"),
    "ca": ("https://ca.api.knowbe4.com", "https://ca.knowbe4.com/graphql"),
    "uk": ("https://uk.api.knowbe4.com", "https://uk.knowbe4.com/graphql"),
    "de": ("https://de.api.knowbe4.com", "https://de.knowbe4.com/graphql"),
}
DEFAULT_REGION = "us"

# User Event API hosts. The EU host is unconfirmed (api-eu.events vs api.events); set
# user_events_url to override.
USER_EVENT_URLS: Mapping[str, str] = {
    "us": "https://api.events.knowbe4.com",
    "eu": "https://api-eu.events.knowbe4.com",
    "ca": "https://api-ca.events.knowbe4.com",
    "uk": "https://api-uk.events.knowbe4.com",
    "de": "https://api-de.events.knowbe4.com",
}

# Sources an operator may cap (`page_caps` in the YAML: pages of up to 500 rows;
# recipients per PST; PhishER and the User Event API: pages of 100). None is capped by
# default: the daily budget bounds every refresh, and a capped listing is incomplete, so
# its source keeps its last complete data.
PAGE_CAP_SOURCES = (
    "users",
    "groups",
    "enrollments",
    "training_campaigns",
    "security_tests",
    "recipients",
    "phisher",
    "phisher_unresolved",
    "archived_users",
    "phishing_campaigns",
    "store_purchases",
    "policies",
    "risk_history",
    "user_events",
)

BASE_DAILY_BUDGET = 2000
DEFAULT_REQUESTS_PER_SECOND = 4.0
DEFAULT_REQUESTS_PER_MINUTE = 50
# The paging signal: unresolved PhishER messages polled this often, followed this far back.
DEFAULT_UNRESOLVED_INTERVAL_SECONDS = 300.0
DEFAULT_UNRESOLVED_HORIZON_SECONDS = 30 * 86400.0
# The shortest --phisher.unresolved-horizon: a message must be followed well past the
# 4 hours after which it pages.
MIN_UNRESOLVED_HORIZON_SECONDS = 86400.0
# The longest refresh interval or look-back accepted: a year and a day.
MAX_DURATION_SECONDS = 366 * 86400.0
DEFAULT_ACCOUNT = "default"
LOG_LEVELS = ("debug", "info", "warn", "warning", "error")
LOG_FORMATS = ("logfmt", "json")


@dataclass(frozen=True)
class PhisherConfig:
    url: str
    token: Secret


@dataclass(frozen=True)
class UserEventsConfig:
    url: str
    token: Secret


@dataclass(frozen=True)
class AccountConfig:
    name: str
    region: str
    base_url: str
    api_token: Secret
    phisher: PhisherConfig | None
    requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND
    requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE
    # None = 2000 + seats from /v1/account, learned at the first refresh.
    daily_budget: int | None = None
    # Operator-set caps only; a source without one is read to the end.
    page_caps: Mapping[str, int] = field(default_factory=dict)
    user_events: UserEventsConfig | None = None


@dataclass(frozen=True)
class Settings:
    accounts: tuple[AccountConfig, ...]
    listen_address: str = ":9897"
    web_config_file: str | None = None
    refresh_interval: float = 86400.0
    phisher_refresh_interval: float = 3600.0
    state_dir: str | None = None
    phisher_lookback: float = 7 * 86400.0
    phisher_unresolved_interval: float = DEFAULT_UNRESOLVED_INTERVAL_SECONDS
    phisher_unresolved_horizon: float = DEFAULT_UNRESOLVED_HORIZON_SECONDS
    remedial_pattern: re.Pattern[str] = field(default_factory=lambda: re.compile("remedial", re.I))
    # `once --textfile`: where the exposition goes instead of stdout.
    textfile: str | None = None
    log_level: str = "info"
    log_format: str = "logfmt"
    demo: bool = False
    # Caps on the series of bounded breakdowns (top N), so cardinality stays fixed.
    max_groups: int = 50
    max_psts: int = 20
    max_campaigns: int = 20
    max_event_types: int = 20

    def with_accounts(self, accounts: tuple[AccountConfig, ...]) -> Settings:
        return replace(self, accounts=accounts)
