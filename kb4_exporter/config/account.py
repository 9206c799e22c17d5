"""One account's settings from its key/values, whether flags gave them or the account
file (its `defaults:` and its entry, layered by `config.account_file`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from kb4_exporter.config.problems import Problems
from kb4_exporter.config.secrets import Secret, TokenSources, is_env_name
from kb4_exporter.config.settings import (
    DEFAULT_ACCOUNT,
    DEFAULT_REGION,
    DEFAULT_REQUESTS_PER_MINUTE,
    DEFAULT_REQUESTS_PER_SECOND,
    PAGE_CAP_SOURCES,
    REGIONS,
    USER_EVENT_URLS,
    AccountConfig,
    PhisherConfig,
    UserEventsConfig,
)
from kb4_exporter.config.values import http_url, positive_float, positive_int

ACCOUNT_KEYS = frozenset(
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
_Api = TypeVar("_Api", PhisherConfig, UserEventsConfig)
_ACCOUNT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}")


def token_key_hint(key: Any) -> str:
    """What to say after an unknown key that looks like an attempt to give a token."""
    if "token" in str(key):
        return " (tokens come only from *_token_file or *_token_env)"
    return ""


def build_account(
    values: Mapping[str, Any],
    tokens: TokenSources,
    where: str,
    problems: Problems,
    *,
    no_token_hint: str,
    written_name: str | None = None,
) -> AccountConfig | None:
    """The account `values` describe, or None with every problem of it added.

    `where` starts each problem; `no_token_hint` says how to give the Reporting API token
    where it comes from; `written_name` is the name as the file spells it.
    """
    before = len(problems)
    given = _GivenValues(values, tokens, where, problems)
    given.check_keys()
    name = given.name(written_name)
    region = given.region()
    base_url = given.url("base_url", REGIONS[region][0], "base URL")
    api_token = given.secret("api_token")
    if api_token is None:
        problems.add(f"{where}: {no_token_hint}")
    phisher = given.optional_api(PhisherConfig, "phisher", REGIONS[region][1], "PhishER URL")
    user_events = given.optional_api(
        UserEventsConfig, "user_events", USER_EVENT_URLS[region], "User Event API URL"
    )
    per_second = given.requests_per_second()
    per_minute = given.requests_per_minute()
    budget = given.daily_budget()
    caps = given.page_caps()
    if len(problems) != before or api_token is None or per_second is None or per_minute is None:
        return None
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


class _GivenValues:
    """One account's key/values as given: each method reads one setting, adds what is
    wrong with it to `problems` and returns a value to go on with."""

    def __init__(
        self, values: Mapping[str, Any], tokens: TokenSources, where: str, problems: Problems
    ) -> None:
        self._values = values
        self._tokens = tokens
        self._where = where
        self._problems = problems

    def _problem(self, text: str) -> None:
        self._problems.add(f"{self._where}: {text}")

    def check_keys(self) -> None:
        for key in sorted(set(self._values) - ACCOUNT_KEYS, key=str):
            self._problem(f"unknown key {key!r}{token_key_hint(key)}")

    def name(self, written_name: str | None) -> str:
        raw_name = self._values.get("name", DEFAULT_ACCOUNT)
        name = str(raw_name)
        if raw_name is None:
            self._problem("account name is empty")
        elif not isinstance(raw_name, str):
            # YAML reads 0042 as 34 and 12:30 as 750: a name must be written as text.
            shown = written_name if written_name else repr(name)
            self._problem(
                f"account name {shown} must be a string, but YAML reads it as {raw_name!r}: "
                f'quote it (name: "{written_name or name}")'
            )
        elif not _ACCOUNT_NAME.fullmatch(name):
            self._problem(f"account name {name!r} must be 1-63 letters, digits, '_', '.', '-'")
        return name

    def region(self) -> str:
        """The region, lower-cased; the default one (its URLs) when it is unknown."""
        region = str(self._values.get("region", DEFAULT_REGION)).lower()
        if region not in REGIONS:
            self._problem(f"unknown region {region!r} (one of {', '.join(REGIONS)})")
            return DEFAULT_REGION
        return region

    def url(self, key: str, default: str, what: str) -> str:
        text = str(self._values.get(key) or default)
        return http_url(text, f"{self._where}: {what}", self._problems)

    def optional_api(
        self, make: Callable[[str, Secret], _Api], api: str, default_url: str, what: str
    ) -> _Api | None:
        """An API that is on when it has a token (`<api>_token_file` or `_env`), at
        `<api>_url` or else the region's `default_url`."""
        token = self.secret(f"{api}_token")
        if token is None:
            return None
        return make(self.url(f"{api}_url", default_url, what), token)

    def secret(self, prefix: str) -> Secret | None:
        """Where the token `prefix` comes from (`<prefix>_file` or `<prefix>_env`), or
        None; a token that cannot be read now is a problem."""
        token_file = self._values.get(f"{prefix}_file")
        token_env = self._values.get(f"{prefix}_env")
        if token_file:
            secret = self._tokens.file(str(token_file))
        elif token_env:
            secret = self._tokens.env(str(token_env))
            if not is_env_name(secret.ref):
                # Not echoed: a token pasted here by mistake must not reach the error output.
                self._problem(
                    f"{prefix}_env must be the name of an environment variable "
                    "(letters, digits, '_'), not the token itself"
                )
                return secret
        else:
            return None
        problem = secret.problem()
        if problem:
            self._problem(problem)
        return secret

    def requests_per_second(self) -> float | None:
        value = self._values.get("requests_per_second", DEFAULT_REQUESTS_PER_SECOND)
        return positive_float(value, "requests per second", self._where, self._problems)

    def requests_per_minute(self) -> int | None:
        value = self._values.get("requests_per_minute", DEFAULT_REQUESTS_PER_MINUTE)
        return positive_int(value, "requests per minute", self._where, self._problems)

    def daily_budget(self) -> int | None:
        """The budget given, or None: learned from the seats at the first refresh."""
        value = self._values.get("daily_budget")
        if value in (None, ""):
            return None
        return positive_int(value, "daily budget", self._where, self._problems)

    def page_caps(self) -> dict[str, int]:
        raw = self._values.get("page_caps")
        caps: dict[str, int] = {}
        if raw is None:
            return caps
        if not isinstance(raw, Mapping):
            self._problem("page_caps must be a mapping of source -> pages")
            return caps
        for source, value in raw.items():
            if source not in PAGE_CAP_SOURCES:
                self._problem(f"page_caps: unknown source {source!r}")
                continue
            number = positive_int(value, f"page cap for {source}", self._where, self._problems)
            if number is not None:
                caps[source] = number
        return caps
