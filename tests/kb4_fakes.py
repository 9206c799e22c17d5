"""Test doubles: a fake clock and a small KnowBe4 org served through requests-mock."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests_mock

from kb4_exporter.api.http import PacedSession
from kb4_exporter.api.pacing import RateLimiter, RequestLedger
from kb4_exporter.config.secrets import Secret
from kb4_exporter.config.settings import AccountConfig, PhisherConfig, Settings
from kb4_exporter.refresh.wiring import AccountRuntime, build_runtime

BASE_URL = "https://us.api.knowbe4.com"
PHISHER_URL = "https://training.knowbe4.com/graphql"
REPORTING_TOKEN = "reporting-SENTINEL-token-0001"
PHISHER_TOKEN = "phisher-SENTINEL-token-0002"
# 2026-11-23T12:00:00Z, the "now" of every refresh test.
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC).timestamp()
DAY = 86400.0


def iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class FakeClock:
    """Wall clock that only moves when told to, or when code sleeps."""

    def __init__(self, start: float = NOW) -> None:
        self.now = start
        self.slept = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        self.slept += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeOrg:
    """A tiny org whose KRIs are easy to compute by hand (see tests/test_refresh.py)."""

    account: dict[str, Any] = field(
        default_factory=lambda: {
            "name": "Acme",
            "subscription_level": "Diamond",
            "number_of_seats": 4,
            "current_risk_score": 31.5,
        }
    )
    users: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    training_campaigns: list[dict[str, Any]] = field(default_factory=list)
    enrollments: list[dict[str, Any]] = field(default_factory=list)
    security_tests: list[dict[str, Any]] = field(default_factory=list)
    recipients: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    phisher_messages: list[dict[str, Any]] = field(default_factory=list)
    archived_users: list[dict[str, Any]] = field(default_factory=list)
    phishing_campaigns: list[dict[str, Any]] = field(default_factory=list)
    store_purchases: list[dict[str, Any]] = field(default_factory=list)
    policies: list[dict[str, Any]] = field(default_factory=list)
    risk_history: list[dict[str, Any]] = field(default_factory=list)


def small_org(now: float = NOW) -> FakeOrg:
    """Four active users in two groups, two 90-day PSTs, one old PST, five enrollments."""
    org = FakeOrg()
    org.users = [
        _user(1, 10.0, 80.0, [100], now - 10 * DAY),
        _user(2, 30.0, 20.0, [100, 200], now - 400 * DAY),
        _user(3, None, None, [200], None),
        _user(4, 50.0, 40.0, [200], now - 30 * DAY),
    ]
    org.groups = [
        {"id": 100, "name": "Sales", "member_count": 2, "current_risk_score": 50.0},
        {"id": 200, "name": "Engineering", "member_count": 3, "current_risk_score": 30.0},
    ]
    org.training_campaigns = [
        {
            "campaign_id": 7,
            "name": "Annual Training",
            "status": "In Progress",
            "duration_type": "Specific End Date",
            "end_date": iso(now - 5 * DAY),
            "relative_duration": None,
        },
        {
            "campaign_id": 8,
            "name": "Remedial Clickers",
            "status": "In Progress",
            "duration_type": "Relative End Date",
            "end_date": None,
            "relative_duration": "14 days",
        },
    ]
    org.enrollments = [
        _enrollment(7, "Annual Training", "Completed", now - 60 * DAY, now - 10 * DAY),
        _enrollment(7, "Annual Training", "Passed", now - 60 * DAY, now - 2 * DAY),
        _enrollment(7, "Annual Training", "Not Started", now - 60 * DAY, None),
        _enrollment(8, "Remedial Clickers", "Completed", now - 40 * DAY, now - 30 * DAY),
        _enrollment(8, "Remedial Clickers", "In Progress", now - 3 * DAY, None),
    ]
    org.security_tests = [
        _pst(11, "Closed", now - 60 * DAY, clicked=2, reported=1),
        _pst(12, "In Progress", now - 5 * DAY, clicked=1, reported=1),
        _pst(13, "Closed", now - 30 * DAY, clicked=0, reported=0),
        _pst(10, "Closed", now - 200 * DAY, clicked=3, reported=0),
    ]
    org.recipients = {
        11: [
            _recipient(1, now - 60 * DAY, clicked=now - 60 * DAY + 600),
            _recipient(2, now - 60 * DAY, clicked=now - 60 * DAY + 900),
            _recipient(4, now - 60 * DAY, reported=now - 60 * DAY + 3600),
        ],
        12: [
            _recipient(1, now - 5 * DAY, clicked=now - 5 * DAY + 60),
            _recipient(4, now - 5 * DAY, reported=now - 5 * DAY + 7200),
        ],
        13: [_recipient(1, now - 30 * DAY)],
        10: [_recipient(3, now - 200 * DAY, clicked=now - 200 * DAY + 5)],
    }
    org.archived_users = [{**_user(9, 70.0, 90.0, [100], None), "status": "archived"}]
    org.phishing_campaigns = [{"campaign_id": 1, "name": "Quarterly"}]
    org.store_purchases = [{"store_purchase_id": 5}, {"store_purchase_id": 6}]
    org.policies = [{"policy_id": 3}]
    org.risk_history = [
        {"date": iso(now - 40 * DAY)[:10], "risk_score": 35.0},
        {"date": iso(now - 31 * DAY)[:10], "risk_score": 34.0},
        {"date": iso(now - 1 * DAY)[:10], "risk_score": 31.5},
    ]
    org.phisher_messages = [
        _message("m1", "HIGH", "RECEIVED", now - 5 * 3600),
        _message("m2", "CRITICAL", "IN_REVIEW", now - 20 * 3600),
        _message("m3", "HIGH", "RESOLVED", now - 6 * 3600),
        _message("m4", "LOW", "RECEIVED", now - 2 * 3600),
        _message("m5", "MEDIUM", "RECEIVED", now - 3 * DAY),
    ]
    return org


def _user(
    uid: int, ppp: float | None, risk: float | None, groups: list[int], sign_in: float | None
) -> dict[str, Any]:
    return {
        "id": uid,
        "email": f"user{uid}@acme.example",
        "phish_prone_percentage": ppp,
        "current_risk_score": risk,
        "groups": groups,
        "last_sign_in": iso(sign_in) if sign_in is not None else None,
        "status": "active",
    }


def _enrollment(
    campaign_id: int, name: str, status: str, enrolled: float, completed: float | None
) -> dict[str, Any]:
    return {
        "campaign_id": campaign_id,
        "campaign_name": name,
        "status": status,
        "enrollment_date": iso(enrolled),
        "completion_date": iso(completed) if completed is not None else None,
    }


def _pst(
    pst_id: int, status: str, started: float, *, clicked: int, reported: int
) -> dict[str, Any]:
    return {
        "pst_id": pst_id,
        "campaign_id": 1,
        "name": f"PST {pst_id}",
        "status": status,
        "started_at": iso(started),
        "delivered_count": 3,
        "clicked_count": clicked,
        "reported_count": reported,
    }


def _recipient(
    uid: int, delivered: float, *, clicked: float | None = None, reported: float | None = None
) -> dict[str, Any]:
    return {
        "recipient_id": uid,
        "user": {"id": uid, "email": f"user{uid}@acme.example"},
        "delivered_at": iso(delivered),
        "clicked_at": iso(clicked) if clicked is not None else None,
        "reported_at": iso(reported) if reported is not None else None,
    }


def _message(mid: str, severity: str, status: str, reported: float) -> dict[str, Any]:
    return {
        "id": mid,
        "severity": severity,
        "actionStatus": status,
        "events": [{"eventType": "CREATED", "createdAt": iso(reported)}],
    }


CURSOR = "cursor"
LEGACY = "page"
CONTRACTS = (CURSOR, LEGACY)


class PagedListing:
    """A requests-mock callback serving `rows` under one paging contract, as KnowBe4 does:
    `cursor` (next token in the X-Next-Cursor header, `page` ignored) or `page` (legacy
    page/per_page, `cursor` ignored). `per_page` is capped at `max_per_page`."""

    def __init__(
        self,
        rows: Callable[[], Sequence[Any]] | Sequence[Any],
        contract: str = CURSOR,
        max_per_page: int = 500,
    ) -> None:
        if contract not in CONTRACTS:
            raise ValueError(contract)
        self._rows = rows
        self.contract = contract
        self._max = max_per_page

    def __call__(self, request: Any, context: Any) -> list[Any]:
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        rows = list(self._rows() if callable(self._rows) else self._rows)
        size = min(int(query.get("per_page", "100")), self._max)
        if self.contract == LEGACY:
            offset = (int(query.get("page", "1")) - 1) * size
        else:
            token = query.get("cursor", "true")
            offset = 0 if token == "true" else int(token.removeprefix("at-"))
            if offset + size < len(rows):
                context.headers["X-Next-Cursor"] = f"at-{offset + size}"
        return rows[offset : offset + size]


_LUCENE_RANGE = re.compile(r"^reported_at:\[(\S+) TO (\S+)\]$")
_LUCENE_ID = re.compile(r"^id:(\S+)$")


def _lucene_selects(query: str, node: dict[str, Any]) -> bool:
    """The Lucene forms the exporter sends: `reported_at:[A TO B]` (B may be `*`) and
    `id:<id>`, joined by ` OR `; an empty query selects everything."""
    if not query.strip():
        return True
    reported = datetime.fromisoformat(node["events"][0]["createdAt"].replace("Z", "+00:00"))
    for term in query.split(" OR "):
        by_id = _LUCENE_ID.match(term)
        if by_id and by_id.group(1) == node["id"]:
            return True
        window = _LUCENE_RANGE.match(term)
        if window:
            start = datetime.fromisoformat(window.group(1).replace("Z", "+00:00"))
            end_text = window.group(2)
            end = (
                None if end_text == "*" else datetime.fromisoformat(end_text.replace("Z", "+00:00"))
            )
            if start <= reported and (end is None or reported <= end):
                return True
    return False


def serve_org(
    mocker: requests_mock.Mocker, org: FakeOrg, per_page: int = 500, contract: str = CURSOR
) -> None:
    """Register the org's endpoints, paging like the real API (bare arrays, per_page) under
    the given paging contract."""

    def pager(rows: Callable[[], list[dict[str, Any]]]) -> Callable[..., Any]:
        return PagedListing(rows, contract, per_page)

    def users(request: Any, context: Any) -> Any:
        status = parse_qs(urlsplit(request.url).query).get("status", ["active"])[0]
        rows = org.archived_users if status == "archived" else org.users
        return pager(lambda: rows)(request, context)

    mocker.get(f"{BASE_URL}/v1/account", json=lambda request, context: org.account)
    mocker.get(f"{BASE_URL}/v1/account/risk_score_history", json=pager(lambda: org.risk_history))
    mocker.get(f"{BASE_URL}/v1/users", json=users)
    mocker.get(f"{BASE_URL}/v1/phishing/campaigns", json=pager(lambda: org.phishing_campaigns))
    mocker.get(f"{BASE_URL}/v1/training/store_purchases", json=pager(lambda: org.store_purchases))
    mocker.get(f"{BASE_URL}/v1/training/policies", json=pager(lambda: org.policies))
    mocker.get(f"{BASE_URL}/v1/groups", json=pager(lambda: org.groups))
    mocker.get(f"{BASE_URL}/v1/training/campaigns", json=pager(lambda: org.training_campaigns))
    mocker.get(f"{BASE_URL}/v1/training/enrollments", json=pager(lambda: org.enrollments))
    mocker.get(f"{BASE_URL}/v1/phishing/security_tests", json=pager(lambda: org.security_tests))
    for pst_id, rows in org.recipients.items():
        mocker.get(
            f"{BASE_URL}/v1/phishing/security_tests/{pst_id}/recipients",
            json=pager(functools.partial(list, rows)),
        )

    def graphql(request: Any, context: Any) -> Any:
        body = json.loads(request.body)
        variables = body.get("variables", {})
        query = variables.get("query", "")
        nodes = [n for n in org.phisher_messages if _lucene_selects(query, n)]
        per = int(variables.get("per", 25))
        page = int(variables.get("page", 1))
        chunk = nodes[(page - 1) * per : page * per]
        pages = max(1, -(-len(nodes) // per))
        return {
            "data": {
                "phisherMessages": {
                    "nodes": chunk,
                    "pagination": {
                        "page": page,
                        "pages": pages,
                        "per": per,
                        "totalCount": len(nodes),
                    },
                }
            }
        }

    mocker.post(PHISHER_URL, json=graphql)


def unpaced_session(
    api: str, base_url: str, token: str, clock: FakeClock | None = None
) -> PacedSession:
    """A real PacedSession whose limits never bind and whose sleeps move a fake clock."""
    clock = clock or FakeClock()
    return PacedSession(
        api=api,
        base_url=base_url,
        token=lambda: token,
        limiter=RateLimiter(per_second=1000, per_minute=100_000, clock=clock, sleep=clock.sleep),
        ledger=RequestLedger(clock=clock),
        clock=clock,
        sleep=clock.sleep,
    )


def account_config(*, phisher: bool = True, **overrides: Any) -> AccountConfig:
    values: dict[str, Any] = {
        "name": "acme",
        "region": "us",
        "base_url": BASE_URL,
        "api_token": Secret.inline(REPORTING_TOKEN),
        "phisher": PhisherConfig(PHISHER_URL, Secret.inline(PHISHER_TOKEN)) if phisher else None,
        "requests_per_second": 1000.0,
        "requests_per_minute": 100000,
    }
    values.update(overrides)
    return AccountConfig(**values)


def runtime_for(
    clock: FakeClock,
    *,
    settings: Settings | None = None,
    account: AccountConfig | None = None,
) -> AccountRuntime:
    account = account or account_config()
    settings = settings or Settings(accounts=(account,))
    return build_runtime(account, settings, clock=clock, sleep=clock.sleep)


def kri_values(kris: Sequence[Any]) -> dict[str, float | None]:
    """KRI slug -> value (None when absent) of a refresh's results."""
    return {k.spec.slug: k.value for k in kris}
