"""`kb4-exporter check`: one cheap call per configured API, with a fix for each failure."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from kb4_exporter.api.errors import ApiError
from kb4_exporter.api.phisher import PhisherClient
from kb4_exporter.api.user_events import UserEventsClient
from kb4_exporter.commands.runtimes import interruptible_sleep
from kb4_exporter.config.settings import AccountConfig, Settings
from kb4_exporter.kris.specs import KRI_SPECS, PHISHER_UNRESOLVED_HIGH_4H
from kb4_exporter.logs import account_context, scrub
from kb4_exporter.refresh.budgets import reporting_budget
from kb4_exporter.refresh.wiring import build_runtime

PHISHER_KRIS = (PHISHER_UNRESOLVED_HIGH_4H.slug,)
REPORTING_KRIS = tuple(spec.slug for spec in KRI_SPECS if spec.slug not in PHISHER_KRIS)

EXIT_OK = 0
EXIT_AUTH = 3
EXIT_FORBIDDEN = 4
EXIT_NOT_FOUND = 5
EXIT_NETWORK = 6
EXIT_API = 7

_EXIT_BY_REASON = {
    "auth": EXIT_AUTH,
    "forbidden": EXIT_FORBIDDEN,
    "not_found": EXIT_NOT_FOUND,
    "timeout": EXIT_NETWORK,
    "connection": EXIT_NETWORK,
}

_FIXES = {
    "auth": "the token is wrong or expired, or Reporting API access is not enabled: create a "
    "token under Account Settings > Account Integrations > API and check the token file",
    "forbidden": "the token is valid but not allowed this call: check that user-level API access "
    "is on and the subscription is Platinum or Diamond",
    "not_found": "wrong region or base URL: the token's account lives in one of us, eu, ca, uk, "
    "de; set --kb4.region (or --kb4.base-url)",
    "timeout": "no answer in time: check network access to the API host (proxy, firewall)",
    "connection": "cannot connect: check DNS, proxy and firewall access to the API host",
    "rate_limited": "the API is throttling this account: wait, or lower the request rate",
    "budget_exhausted": "the daily request budget is spent: wait for the rolling window",
    "server_error": "KnowBe4 answered with a server error (5xx): the API is having trouble; "
    "try again later and check KnowBe4's status page",
    "bad_response": "the answer is not what this API returns (e.g. a redirect or a proxy's "
    "HTML page): check the base URL and any proxy between this host and KnowBe4",
}


# Where a fix depends on which API failed: each has its own token and host.
_API_FIXES = {
    ("phisher", "auth"): "the PhishER token is wrong or expired (it is separate from the "
    "Reporting token: a PhishER product API token): check --phisher.token-file",
    ("phisher", "forbidden"): "the PhishER token is valid but not allowed this query: check "
    "that the account has PhishER and the token is scoped to it",
    ("phisher", "not_found"): "wrong PhishER URL: it follows the region (e.g. "
    "https://eu.knowbe4.com/graphql); set --kb4.region or --phisher.url",
    ("user_events", "auth"): "the User Event API key is wrong or expired (it is separate from "
    "the Reporting token, created in the User Event API Management Console): check "
    "--user-events.token-file",
    ("user_events", "forbidden"): "the User Event API key is not allowed this call: the API "
    "needs a Platinum or Diamond subscription",
    ("user_events", "not_found"): "wrong User Event API URL: set --user-events.url",
}


def _fix(api: str, reason: str) -> str:
    # Every reason has a fix (a test holds it), so none falls back to a vague one.
    return _API_FIXES.get((api, reason)) or _FIXES[reason]


def exit_code(error: ApiError) -> int:
    return _EXIT_BY_REASON.get(error.reason, EXIT_API)


def run_check(settings: Settings, echo: Callable[..., None]) -> int:
    """Check every account; the exit code of the first failure, or 0."""
    worst = EXIT_OK
    for account in settings.accounts:
        with account_context(account.name):
            code = _check_account(account, settings, echo)
        worst = worst or code
    return worst


def _check_account(account: AccountConfig, settings: Settings, echo: Callable[..., None]) -> int:
    # One attempt: a connection check reports the first failure as it is, at once.
    runtime = build_runtime(
        account,
        settings,
        clock=time.time,
        sleep=interruptible_sleep(threading.Event()),
        max_attempts=1,
    )
    refresher = runtime.refresher
    results: list[int] = []
    echo(f"account {account.name}: Reporting API at {account.base_url}")
    try:
        info = refresher.reporting.account()
    except ApiError as err:
        _report_failure(echo, "Reporting API", "reporting", err)
        results.append(exit_code(err))
    else:
        echo(f"  organisation:       {info.name or '(unnamed)'}")
        echo(f"  subscription level: {info.subscription_level or 'unknown (trial account?)'}")
        echo(f"  seats:              {info.seats if info.seats is not None else 'unknown'}")
        budget = reporting_budget(account.daily_budget, info.seats)
        echo(f"  daily budget:       {budget} requests per rolling 24 h")
        _serves(echo, "Reporting API", REPORTING_KRIS)
        results.append(EXIT_OK)
    results.append(_check_phisher(account, refresher.phisher, echo))
    results.append(_check_user_events(account, refresher.user_events, echo))
    return next((code for code in results if code != EXIT_OK), EXIT_OK)


def _check_phisher(
    account: AccountConfig, client: PhisherClient | None, echo: Callable[..., None]
) -> int:
    if client is None or account.phisher is None:
        echo("  PhishER:            off (no PhishER token configured)")
        return EXIT_OK
    try:
        total = client.total_count()
    except ApiError as err:
        _report_failure(echo, f"PhishER at {account.phisher.url}", "phisher", err)
        return exit_code(err)
    echo(f"  PhishER:            reachable at {account.phisher.url} ({total} messages)")
    _serves(echo, "PhishER token", PHISHER_KRIS)
    return EXIT_OK


def _check_user_events(
    account: AccountConfig, client: UserEventsClient | None, echo: Callable[..., None]
) -> int:
    if client is None or account.user_events is None:
        echo("  User Event API:     off (no User Event API token configured)")
        return EXIT_OK
    try:
        total = client.total_count()
    except ApiError as err:
        _report_failure(echo, f"User Event API at {account.user_events.url}", "user_events", err)
        return exit_code(err)
    count = "unknown" if total is None else str(total)
    echo(f"  User Event API:     reachable at {account.user_events.url} ({count} events)")
    echo('    serves: kb4_user_events_24h (and its quota as kb4_api_budget_*{api="user_events"})')
    return EXIT_OK


def _serves(echo: Callable[..., None], token: str, slugs: tuple[str, ...]) -> None:
    echo(f"    KRIs this {token} serves: {', '.join(slugs)}")


def _report_failure(echo: Callable[..., None], what: str, api: str, error: ApiError) -> None:
    fix = _fix(api, error.reason)
    echo(f"  {what}: FAILED ({error.reason}): {scrub(str(error))}", err=True)
    echo(f"  fix: {fix}", err=True)
