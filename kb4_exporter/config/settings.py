"""Immutable settings built from flags, environment variables and an optional YAML file.

Every problem is collected and reported at once (`ConfigError`), before any network
call. Tokens are never read into settings: an account holds a `Secret` that says where
its token lives, so the settings can be printed (`--config.check`) without leaking it.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from kb4_exporter.config.durations import format_duration, parse_duration
from kb4_exporter.config.secrets import Secret
from kb4_exporter.web.listen_address import parse_listen_address

REGIONS: Mapping[str, tuple[str, str]] = {
    # region: (Reporting API base URL, PhishER GraphQL endpoint)
    "us": ("https://us.api.knowbe4.com", "https://training.knowbe4.com/graphql"),
    "eu": ("https://eu.api.knowbe4.com", "https://eu.knowbe4.com/graphql"),
    "ca": ("https://ca.api.knowbe4.com", "https://ca.knowbe4.com/graphql"),
    "uk": ("https://uk.api.knowbe4.com", "https://uk.knowbe4.com/graphql"),
    "de": ("https://de.api.knowbe4.com", "https://de.knowbe4.com/graphql"),
}

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
# The shortest --phisher.unresolved-horizon: a message must be followed well past the
# 4 hours after which it pages.
MIN_UNRESOLVED_HORIZON_SECONDS = 86400.0
# The longest refresh interval or look-back accepted: a year and a day.
MAX_DURATION_SECONDS = 366 * 86400.0
DEFAULT_ACCOUNT = "default"
_ACCOUNT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOG_LEVELS = ("debug", "info", "warn", "warning", "error")
_LOG_FORMATS = ("logfmt", "json")
# Where the single account's problems come from when there is no --config.file.
_FLAGS = "flags"


class ConfigError(Exception):
    """One or more configuration problems; `problems` lists them all."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


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
    requests_per_second: float = 4.0
    requests_per_minute: int = 50
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
    # The paging signal: unresolved PhishER messages polled this often, followed this far back.
    phisher_unresolved_interval: float = 300.0
    phisher_unresolved_horizon: float = 30 * 86400.0
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


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)


def build_settings(raw: RawOptions, environ: Mapping[str, str]) -> Settings:
    """Validate everything; raise ConfigError listing every problem."""
    problems = _Problems()
    settings = Settings(
        accounts=(),
        listen_address=_listen_address(raw.listen_address or ":9897", problems),
        web_config_file=raw.web_config_file or None,
        refresh_interval=_duration(raw.refresh_interval, "24h", "--refresh.interval", problems),
        phisher_refresh_interval=_duration(
            raw.phisher_refresh_interval, "1h", "--refresh.phisher-interval", problems
        ),
        state_dir=_state_dir(raw.state_dir, problems),
        phisher_lookback=_duration(raw.phisher_lookback, "7d", "--phisher.lookback", problems),
        phisher_unresolved_interval=_duration(
            raw.phisher_unresolved_interval,
            "5m",
            "--refresh.phisher-unresolved-interval",
            problems,
        ),
        phisher_unresolved_horizon=_duration(
            raw.phisher_unresolved_horizon, "30d", "--phisher.unresolved-horizon", problems
        ),
        remedial_pattern=_regex(raw.remedial_pattern or "remedial", problems),
        log_level=_choice(raw.log_level or "info", _LOG_LEVELS, "--log.level", problems),
        log_format=_choice(raw.log_format or "logfmt", _LOG_FORMATS, "--log.format", problems),
        demo=raw.demo,
        max_groups=_cap(raw.max_groups, 50, "--metrics.max-groups", problems),
        max_psts=_cap(raw.max_psts, 20, "--metrics.max-psts", problems),
        max_campaigns=_cap(raw.max_campaigns, 20, "--metrics.max-campaigns", problems),
        max_event_types=_cap(raw.max_event_types, 20, "--metrics.max-event-types", problems),
        textfile=_textfile(raw.textfile, problems),
    )
    if settings.phisher_unresolved_horizon < MIN_UNRESOLVED_HORIZON_SECONDS:
        problems.add(
            "--phisher.unresolved-horizon: must be at least "
            f"{format_duration(MIN_UNRESOLVED_HORIZON_SECONDS)}"
        )
    if settings.web_config_file:
        _check_web_config(settings.web_config_file, problems)
    flag_defaults = _flag_account_values(raw, environ)
    if raw.demo:
        accounts: tuple[AccountConfig, ...] = ()
    elif raw.config_file:
        accounts = _accounts_from_file(raw.config_file, flag_defaults, environ, problems)
    else:
        account = _account({"name": DEFAULT_ACCOUNT}, flag_defaults, environ, _FLAGS, problems)
        accounts = (account,) if account else ()
    if problems.items:
        raise ConfigError(problems.items)
    return settings.with_accounts(accounts)


def log_options(raw: RawOptions) -> tuple[str, str]:
    """The log level and format to set up before the rest is validated, so what validation
    logs (e.g. a token file readable by others) is in the chosen format; the default where
    one is invalid (build_settings reports it)."""
    level = (raw.log_level or "info").lower()
    log_format = (raw.log_format or "logfmt").lower()
    return (
        level if level in _LOG_LEVELS else "info",
        log_format if log_format in _LOG_FORMATS else "logfmt",
    )


def _flag_account_values(raw: RawOptions, environ: Mapping[str, str]) -> dict[str, Any]:
    """Account keys given by flags/env: the single account, or defaults for YAML accounts."""
    values: dict[str, Any] = {
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
    if not raw.api_token_file and environ.get("KB4_API_TOKEN"):
        values["api_token_env"] = "KB4_API_TOKEN"  # noqa: S105 - a variable name
    if not raw.phisher_token_file and environ.get("KB4_PHISHER_TOKEN"):
        values["phisher_token_env"] = "KB4_PHISHER_TOKEN"  # noqa: S105 - a variable name
    if not raw.user_events_token_file and environ.get("KB4_USER_EVENTS_TOKEN"):
        values["user_events_token_env"] = "KB4_USER_EVENTS_TOKEN"  # noqa: S105 - a variable name
    return {key: value for key, value in values.items() if value not in (None, "")}


_ACCOUNT_KEYS = frozenset(
    {
        "name",
        "region",
        "base_url",
        "api_token_file",
        "api_token_env",
        "phisher_url",
        "phisher_token_file",
        "phisher_token_env",
        "user_events_url",
        "user_events_token_file",
        "user_events_token_env",
        "requests_per_second",
        "requests_per_minute",
        "daily_budget",
        "page_caps",
    }
)
_FILE_KEYS = frozenset({"accounts", "defaults"})
_DEFAULTS_KEYS = _ACCOUNT_KEYS - {"name"}
# A layer that names one source of a token replaces both from the layers below it, so an
# account's own `api_token_env` beats a token file given by flag.
_TOKEN_SOURCES = (
    ("api_token_file", "api_token_env"),
    ("phisher_token_file", "phisher_token_env"),
    ("user_events_token_file", "user_events_token_env"),
)
# A layer that sets a region drops URLs from the layers below: they belong to another region.
_REGION_URLS = ("base_url", "phisher_url", "user_events_url")


def _accounts_from_file(
    path: str, flag_defaults: Mapping[str, Any], environ: Mapping[str, str], problems: _Problems
) -> tuple[AccountConfig, ...]:
    loaded = _load_yaml(path, problems)
    if loaded is None:
        return ()
    document, root = loaded
    written_names = _written_account_names(root)
    for key in sorted(set(document) - _FILE_KEYS, key=str):
        problems.add(f"{path}: unknown top-level key {key!r} (known: accounts, defaults)")
    defaults = document.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        problems.add(f"{path}: 'defaults' must be a mapping")
        defaults = {}
    defaults = _known_defaults(defaults, f"{path}: defaults", problems)
    entries = document.get("accounts")
    if not isinstance(entries, list) or not entries:
        problems.add(f"{path}: 'accounts' must be a non-empty list")
        return ()
    accounts: list[AccountConfig] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        where = f"{path}: accounts[{index}]"
        if not isinstance(entry, Mapping):
            problems.add(f"{where} must be a mapping")
            continue
        _check_token_sources(entry, where, problems)
        merged = _overlay((flag_defaults, defaults, entry))
        # Checked apart from the account's other problems, so none hides a duplicate.
        name = merged.get("name", DEFAULT_ACCOUNT)
        if isinstance(name, str):
            if name in seen:
                problems.add(f"{where}: duplicate account name {name!r}")
            seen.add(name)
        account = _account(merged, {}, environ, where, problems, written_names.get(index))
        if account is not None:
            accounts.append(account)
    return tuple(accounts)


def _known_defaults(defaults: Mapping[Any, Any], where: str, problems: _Problems) -> dict[str, Any]:
    """The keys of `defaults:` every account may inherit; others are reported once, here."""
    for key in sorted(set(defaults) - _DEFAULTS_KEYS, key=str):
        hint = " (every account needs its own name)" if key == "name" else _token_hint(key)
        problems.add(f"{where}: unknown key {key!r}{hint}")
    _check_token_sources(defaults, where, problems)
    return {key: value for key, value in defaults.items() if key in _DEFAULTS_KEYS}


def _check_token_sources(layer: Mapping[Any, Any], where: str, problems: _Problems) -> None:
    for file_key, env_key in _TOKEN_SOURCES:
        if layer.get(file_key) and layer.get(env_key):
            problems.add(f"{where}: set {file_key} or {env_key}, not both")


def _overlay(layers: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Account values from the least to the most specific layer (flags, defaults, entry)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for pair in _TOKEN_SOURCES:
            if any(key in layer for key in pair):
                for key in pair:
                    merged.pop(key, None)
        if "region" in layer:
            for key in _REGION_URLS:
                if key not in layer:
                    merged.pop(key, None)
        inherited_caps = merged.get("page_caps")
        merged.update(layer)
        # Page caps merge per source, so an account can lower one cap and keep the rest.
        if isinstance(inherited_caps, Mapping) and isinstance(layer.get("page_caps"), Mapping):
            merged["page_caps"] = {**inherited_caps, **layer["page_caps"]}
    return merged


def _token_hint(key: Any) -> str:
    if "token" in str(key):
        return " (tokens come only from *_token_file or *_token_env)"
    return ""


def _load_yaml(path: str, problems: _Problems) -> tuple[Mapping[str, Any], yaml.Node] | None:
    """The document and its node tree (which keeps each value as written)."""
    try:
        with open(path, encoding="utf-8") as handle:
            loader = yaml.SafeLoader(handle)
            try:
                root = loader.get_single_node()
                document = None if root is None else loader.construct_document(root)
            finally:
                loader.dispose()
    except OSError as err:
        problems.add(f"--config.file {path}: cannot be read: {err.strerror}")
        return None
    except UnicodeDecodeError:
        problems.add(f"--config.file {path}: not UTF-8 text")
        return None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problems.add(f"--config.file {path}: not valid YAML{where}")
        return None
    if root is None or not isinstance(document, Mapping):
        problems.add(f"--config.file {path}: must be a YAML mapping with an 'accounts' list")
        return None
    return document, root


def _written_account_names(root: yaml.Node) -> dict[int, str]:
    """Each account's name as written in the file, by index: YAML reads 0042 as 34 and
    12:30 as 750, and a message must quote what the user wrote."""
    names: dict[int, str] = {}
    accounts = _mapping_value(root, "accounts")
    if not isinstance(accounts, yaml.SequenceNode):
        return names
    for index, entry in enumerate(accounts.value):
        name = _mapping_value(entry, "name")
        if isinstance(name, yaml.ScalarNode):
            names[index] = str(name.value)
    return names


def _mapping_value(node: yaml.Node, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node  # type: ignore[no-any-return]
    return None


def _account(
    values: Mapping[str, Any],
    fallback: Mapping[str, Any],
    environ: Mapping[str, str],
    where: str,
    problems: _Problems,
    written_name: str | None = None,
) -> AccountConfig | None:
    merged = {**fallback, **values}
    before = len(problems.items)
    for key in sorted(set(merged) - _ACCOUNT_KEYS, key=str):
        problems.add(f"{where}: unknown key {key!r}{_token_hint(key)}")
    raw_name = merged.get("name", DEFAULT_ACCOUNT)
    name = str(raw_name)
    if raw_name is None:
        problems.add(f"{where}: account name is empty")
    elif not isinstance(raw_name, str):
        # YAML reads 0042 as 34 and 12:30 as 750: a name must be written as text.
        shown = written_name if written_name else repr(name)
        problems.add(
            f"{where}: account name {shown} must be a string, but YAML reads it as {raw_name!r}: "
            f'quote it (name: "{written_name or name}")'
        )
    elif not _ACCOUNT_NAME.fullmatch(name):
        problems.add(f"{where}: account name {name!r} must be 1-63 letters, digits, '_', '.', '-'")
    region = str(merged.get("region", "us")).lower()
    if region not in REGIONS:
        problems.add(f"{where}: unknown region {region!r} (one of {', '.join(REGIONS)})")
        region_urls = REGIONS["us"]
    else:
        region_urls = REGIONS[region]
    base_url = _url(str(merged.get("base_url") or region_urls[0]), f"{where}: base URL", problems)
    api_token = _secret(merged, "api_token", "KB4_API_TOKEN", environ, where, problems)
    if api_token is None and where == _FLAGS:
        problems.add(
            f"{where}: no Reporting API token: set --kb4.api-token-file / KB4_API_TOKEN_FILE "
            "or KB4_API_TOKEN (or use `serve --demo` to try the built-in simulator)"
        )
    elif api_token is None:
        problems.add(
            f"{where}: no Reporting API token: set api_token_file or api_token_env "
            "(or --kb4.api-token-file / KB4_API_TOKEN_FILE / KB4_API_TOKEN for every account)"
        )
    phisher = None
    phisher_token = _secret(merged, "phisher_token", "KB4_PHISHER_TOKEN", environ, where, problems)
    if phisher_token is not None:
        url = _url(
            str(merged.get("phisher_url") or region_urls[1]), f"{where}: PhishER URL", problems
        )
        phisher = PhisherConfig(url=url, token=phisher_token)
    user_events = None
    events_token = _secret(
        merged, "user_events_token", "KB4_USER_EVENTS_TOKEN", environ, where, problems
    )
    if events_token is not None:
        default_url = USER_EVENT_URLS.get(region, USER_EVENT_URLS["us"])
        url = _url(
            str(merged.get("user_events_url") or default_url),
            f"{where}: User Event API URL",
            problems,
        )
        user_events = UserEventsConfig(url=url, token=events_token)
    per_second = _number(merged.get("requests_per_second", 4), float, "requests per second", where)
    per_minute = _number(merged.get("requests_per_minute", 50), int, "requests per minute", where)
    budget_raw = merged.get("daily_budget")
    budget = None if budget_raw in (None, "") else _number(budget_raw, int, "daily budget", where)
    for value in (per_second, per_minute, budget):
        if isinstance(value, str):
            problems.add(value)
    caps = _page_caps(merged.get("page_caps"), where, problems)
    if len(problems.items) != before or api_token is None:
        return None
    assert isinstance(per_second, float) and isinstance(per_minute, int)
    assert budget is None or isinstance(budget, int)
    return AccountConfig(
        name=name,
        region=region,
        base_url=base_url,
        api_token=api_token,
        phisher=phisher,
        requests_per_second=per_second,
        requests_per_minute=per_minute,
        daily_budget=budget,
        page_caps=caps,
        user_events=user_events,
    )


def _secret(
    values: Mapping[str, Any],
    prefix: str,
    default_env: str,
    environ: Mapping[str, str],
    where: str,
    problems: _Problems,
) -> Secret | None:
    token_file = values.get(f"{prefix}_file")
    token_env = values.get(f"{prefix}_env")
    if token_file:
        secret = Secret("file", str(token_file))
    elif token_env:
        secret = Secret("env", str(token_env), environ)
        if not _ENV_NAME.match(secret.ref):
            # Not echoed: a token pasted here by mistake must not reach the error output.
            problems.add(
                f"{where}: {prefix}_env must be the name of an environment variable "
                "(letters, digits, '_'), not the token itself"
            )
            return secret
    else:
        return None
    problem = secret.problem()
    if problem:
        problems.add(f"{where}: {problem}")
    return secret


def _number(value: Any, kind: type[float] | type[int], what: str, where: str) -> float | int | str:
    """The positive number in `value`, or an error message (collected by the caller)."""
    whole = kind is int
    try:
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    # NaN and infinity parse as floats but no limiter or budget can use them.
    if not math.isfinite(number) or (whole and not number.is_integer()):
        return f"{where}: {what} {value!r} is not a {'whole' if whole else 'finite'} number"
    if number <= 0:
        return f"{where}: {what} must be greater than 0, got {value!r}"
    return int(number) if whole else number


def _page_caps(raw: Any, where: str, problems: _Problems) -> dict[str, int]:
    caps: dict[str, int] = {}
    if raw is None:
        return caps
    if not isinstance(raw, Mapping):
        problems.add(f"{where}: page_caps must be a mapping of source -> pages")
        return caps
    for source, value in raw.items():
        if source not in PAGE_CAP_SOURCES:
            problems.add(f"{where}: page_caps: unknown source {source!r}")
            continue
        number = _number(value, int, f"page cap for {source}", where)
        if isinstance(number, str):
            problems.add(number)
        else:
            caps[source] = int(number)
    return caps


def _url(text: str, what: str, problems: _Problems) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.add(f"{what} {text!r} must be an http:// or https:// URL")
    return text.rstrip("/") if parts.path in ("", "/") else text


def _duration(text: str | None, default: str, flag: str, problems: _Problems) -> float:
    try:
        seconds = parse_duration(text or default)
    except ValueError as err:
        problems.add(f"{flag}: {err}")
        return parse_duration(default)
    if seconds <= 0:
        problems.add(f"{flag}: must be greater than 0")
    elif seconds > MAX_DURATION_SECONDS:
        # Longer is a typo, and would overflow date arithmetic and thread waits.
        problems.add(f"{flag}: must be at most {format_duration(MAX_DURATION_SECONDS)}")
        return parse_duration(default)
    return seconds


def _state_dir(text: str | None, problems: _Problems) -> str | None:
    # Checked now: a state file that cannot be written is otherwise found only after the
    # first refresh, and `once` would still succeed.
    if not text:
        return None
    problem = _directory_problem(Path(text), may_create=True)
    if problem:
        problems.add(f"--state.dir {text}: {problem}")
    return text


def _textfile(text: str | None, problems: _Problems) -> str | None:
    # Checked now, not after a refresh that may take minutes and spend API budget.
    if not text:
        return None
    path = Path(text)
    if path.is_dir():
        problems.add(f"--textfile {text}: is a directory")
        return text
    problem = _directory_problem(path.parent, may_create=False)
    if problem:
        problems.add(f"--textfile {text}: its directory {path.parent} {problem}")
    return text


def _directory_problem(path: Path, *, may_create: bool) -> str | None:
    """Why files cannot be written in directory `path`, or None."""
    if path.exists():
        if not path.is_dir():
            return "is not a directory"
        if not os.access(path, os.W_OK | os.X_OK):
            return "is not writable by this user"
        return None
    if not may_create:
        return "does not exist"
    ancestor = next(parent for parent in path.absolute().parents if parent.exists())
    if not ancestor.is_dir():
        return f"cannot be created: {ancestor} is not a directory"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"cannot be created: {ancestor} is not writable by this user"
    return None


def _cap(text: str | None, default: int, flag: str, problems: _Problems) -> int:
    if text in (None, ""):
        return default
    number = _number(text, int, "series cap", flag)
    if isinstance(number, str):
        problems.add(number)
        return default
    return int(number)


def _regex(text: str, problems: _Problems) -> re.Pattern[str]:
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error as err:
        problems.add(f"--kri.remedial-pattern {text!r}: not a valid regular expression ({err})")
        return re.compile("remedial", re.IGNORECASE)


def _choice(value: str, choices: tuple[str, ...], flag: str, problems: _Problems) -> str:
    lowered = value.lower()
    if lowered not in choices:
        problems.add(f"{flag}: {value!r} is not one of {', '.join(choices)}")
    return lowered


def _check_web_config(path: str, problems: _Problems) -> None:
    # Validated in full here, not only at bind time, so --config.check catches a bad file.
    # Imported here: TLS and bcrypt are not loaded when no web config is given.
    from kb4_exporter.web.web_config import WebConfigError, load_web_config

    try:
        load_web_config(path)
    except WebConfigError as err:
        for problem in err.problems:
            problems.add(f"--web.config.file {path}: {problem}")


def _listen_address(text: str, problems: _Problems) -> str:
    try:
        parse_listen_address(text)
    except ValueError as err:
        problems.add(f"--web.listen-address: {err}")
    return text


def describe_settings(settings: Settings) -> str:
    """The redacted configuration, as printed by --config.check and logged at start-up."""
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
        budget = account.daily_budget or f"{BASE_DAILY_BUDGET} + seats"
        caps = ", ".join(f"{k}={v}" for k, v in sorted(account.page_caps.items())) or "none"
        lines += [
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
    return "\n".join(lines)


def _describe_phisher(phisher: PhisherConfig | None) -> str:
    if phisher is None:
        return "off (no PhishER token)"
    return f"{phisher.url} (token <redacted, from {phisher.token.describe()}>)"


def _describe_user_events(user_events: UserEventsConfig | None) -> str:
    if user_events is None:
        return "off (no User Event API token)"
    return f"{user_events.url} (token <redacted, from {user_events.token.describe()}>)"
