"""The Reporting API's endpoints over an Org: routing, filters and paging.

Listings are bare JSON arrays paged one of two ways (`--pagination`):
- `cursor` (the default, as the API has paged since 2026): `per_page` rows from the
  position a `cursor=<token>` names (the start without one; `cursor=true` asks for the
  first page); the token of the next page comes in the `X-Next-Cursor` header, which is
  left out on the last page; `page` is ignored; a token this server did not make is 400;
- `page` (the legacy contract): `page` (from 1) and `per_page`; a page past the end is
  `[]`; `cursor` is ignored.
`per_page` defaults to 100 and is at most 500. Choices where the real API is undocumented:
- a `page` or `per_page` that is not a positive integer falls back to its default;
- `/v1/users` without `status` lists active and archived users; an unknown `status`
  matches nobody;
- `/v1/training/campaigns` without `exclude_percentages=true` serves at most 10 rows
  per page, but later pages continue the listing (page 2 holds rows 11-20);
- `campaign_type=callback` lists nothing (no callback campaigns are simulated);
- the enrollment filters `user_id` and `store_purchase_id` are not simulated: 400.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from . import payloads
from .clock import DAY
from .org import Org
from .records import ACTIVE, ARCHIVED, RiskPoint, User

T = TypeVar("T")

DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 500
CURSOR = "cursor"
LEGACY = "page"
PAGINATIONS = (CURSOR, LEGACY)
NEXT_CURSOR_HEADER = "X-Next-Cursor"
_CURSOR_PREFIX = "sim1:"
# Training campaigns listed without exclude_percentages=true.
PERCENTAGES_PAGE_CAP = 10
# Risk score histories cover this much without full=true.
RECENT_HISTORY = 183 * DAY


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # JSON-serialisable
    headers: tuple[tuple[str, str], ...] = ()


NOT_FOUND = Reply(404, {"message": "Not Found"})


class Params:
    """Query parameters (the last value of a repeated name wins) and the paging contract."""

    def __init__(self, values: Mapping[str, str], pagination: str = CURSOR) -> None:
        if pagination not in PAGINATIONS:
            raise ValueError(f"pagination must be one of {PAGINATIONS}, got {pagination!r}")
        self._values = values
        self.pagination = pagination

    def text(self, name: str) -> str | None:
        return self._values.get(name)

    def flag(self, name: str) -> bool:
        return (self._values.get(name) or "").lower() == "true"

    def positive_int(self, name: str) -> int | None:
        raw = self._values.get(name, "")
        if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
            return None
        return int(raw)

    def __contains__(self, name: str) -> bool:
        return name in self._values


def cursor_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{offset}".encode()).decode().rstrip("=")


def cursor_offset(token: str) -> int | None:
    """The position a token of `cursor_token` names; None for any other text."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    digits = text.removeprefix(_CURSOR_PREFIX)
    if digits == text or not (digits.isascii() and digits.isdigit()):
        return None
    return int(digits)


def page_of(
    rows: Sequence[T], params: Params, render: Callable[[T], Any], cap: int = MAX_PER_PAGE
) -> Reply:
    """One page of `rows` under the server's paging contract (see the module doc)."""
    per_page = min(params.positive_int("per_page") or DEFAULT_PER_PAGE, cap)
    headers: tuple[tuple[str, str], ...] = ()
    if params.pagination == CURSOR:
        token = params.text("cursor")
        offset = 0
        if token and token.lower() != "true":
            found = cursor_offset(token)
            if found is None:
                return Reply(400, {"message": "Invalid cursor"})
            offset = found
        if offset + per_page < len(rows):
            headers = ((NEXT_CURSOR_HEADER, cursor_token(offset + per_page)),)
    else:
        offset = ((params.positive_int("page") or 1) - 1) * per_page
    if offset >= len(rows):
        return Reply(200, [], headers)
    return Reply(200, [render(row) for row in rows[offset : offset + per_page]], headers)


Handler = Callable[[Org, tuple[int, ...], Params], Reply]


@dataclass(frozen=True)
class Route:
    template: str
    pattern: re.Pattern[str]
    handler: Handler


def _route(template: str, handler: Handler) -> Route:
    pattern = re.escape(template).replace(re.escape("{id}"), r"(\d+)")
    return Route(template, re.compile(f"^{pattern}/?$"), handler)


def match(path: str) -> tuple[Route, tuple[int, ...]] | None:
    for route in ROUTES:
        found = route.pattern.match(path)
        if found:
            return route, tuple(int(part) for part in found.groups())
    return None


# --- account and users ---------------------------------------------------------------


def _account(org: Org, ids: tuple[int, ...], params: Params) -> Reply:
    return Reply(200, payloads.account(org))


def _history(points: Sequence[RiskPoint], now: float, params: Params) -> Reply:
    if not params.flag("full"):
        points = [p for p in points if p.date >= now - RECENT_HISTORY]
    return page_of(points, params, payloads.risk_point)


def _account_history(org: Org, ids: tuple[int, ...], params: Params) -> Reply:
    return _history(org.account_risk_history, org.now, params)


def _users_with_status(org: Org, status: str | None) -> Sequence[User]:
    if status is None:
        return org.users
    return {ACTIVE: org.active_users, ARCHIVED: org.archived_users}.get(status, ())


def _users(org: Org, ids: tuple[int, ...], params: Params) -> Reply:
    rows = _users_with_status(org, params.text("status"))
    if "group_id" in params:
        group_id = params.positive_int("group_id")
        rows = [u for u in rows if group_id in u.groups]
    return page_of(rows, params, lambda u: payloads.user(u, org.seed))


def _user(org: Org, ids: tuple[int, ...], params: Params) -> Reply:
    found = org.users_by_id.get(ids[0])
    return NOT_FOUND if found is None else Reply(200, payloads.user(found, org.seed))


# --- groups ----------------------------------------------------------------------------


def _groups(org: Org, ids: tuple[int, ...], params: Params) -> Reply:
    status = params.text("status")
    rows = [g for g in org.groups if status is None or g.status == status]
    return page_of(rows, params, lambda g: payloads.group(g, len(org.group_members[g.id])))


def _group(org: Org, ids: tuple[int, ...], params: Params) -> Reply:
    found = next((g for g in org.groups if g.id == ids[0]), None)
    if found is None:
        return NOT_FOUND
    return Reply(200, payloads.group(found, len(org.group_members[found.id])))


def _members(org: Org, ids: tuple[int, ...], params: Params) -> Reply:
    members = org.group_members.get(ids[0])
    if members is None:
        return NOT_FOUND
    return page_of(members, params, lambda u: payloads.user(u, org.seed))


def _group_history(org: Org, ids: tuple[int, ...], params: Params) -> Reply:
    if ids[0] not in org.group_members:
        return NOT_FOUND
    return _history(org.group_risk_history.get(ids[0], ()), org.now, params)


# --- phishing --------------------------------------------------------------------------


def _campaigns(org: Org, ids: tuple[int, ...], params: Params) -> Reply:
    if params.text("campaign_type") == "callback":
        return Reply(200, [])
    tests = {t.pst_id: t for t in org.security_tests}
    rows = org.phishing_campaigns
    return page_of(rows, params, lambda c: payloads.phishing_campaign(c, tests))


def _campaign(org: Org, ids: tuple[int, ...], params: Params) -> Reply:
    found = next((c for c in org.phishing_campaigns if c.campaign_id == ids[0]), None)
    if found is None:
        return NOT_FOUND
    tests = {t.pst_id: t for t in org.security_tests}
    return Reply(200, payloads.phishing_campaign(found, tests))


def _tests(org: Org, ids: tuple[int, ...], params: Params) -> Reply:
    if params.text("campaign_type") == "callback":
        return Reply(200, [])
    return page_of(org.security_tests, params, payloads.security_test)


def _campaign_tests(org: Org, ids: tuple[int, ...], params: Params) -> Reply:
    if not any(c.campaign_id == ids[0] for c in org.phishing_campaigns):
        return NOT_FOUND
    rows = [t for t in org.security_tests if t.campaign_id == ids[0]]
    return page_of(rows, params, payloads.security_test)


def _test(org: Org, ids: tuple[int, ...], params: Params) -> Reply:
    found = next((t for t in org.security_tests if t.pst_id == ids[0]), None)
    return NOT_FOUND if found is None else Reply(200, payloads.security_test(found))


def _recipients(org: Org, ids: tuple[int, ...], params: Params) -> Reply:
    if not any(t.pst_id == ids[0] for t in org.security_tests):
        return NOT_FOUND
    rows = org.recipients_of(ids[0])
    return page_of(rows, params, lambda r: payloads.recipient(r, org.seed))


# --- training ------------------------------------------------------------------------


def _training_campaigns(org: Org, ids: tuple[int, ...], params: Params) -> Reply:
    if params.flag("exclude_percentages"):
        return page_of(
            org.training_campaigns, params, lambda c: payloads.training_campaign(c, None)
        )
    # Without exclude_percentages=true the API answers at most 10 rows.
    return page_of(
        org.training_campaigns,
        params,
        lambda c: payloads.training_campaign(c, org.completion_percentage(c.campaign_id)),
        cap=PERCENTAGES_PAGE_CAP,
    )


def _training_campaign(org: Org, ids: tuple[int, ...], params: Params) -> Reply:
    found = next((c for c in org.training_campaigns if c.campaign_id == ids[0]), None)
    if found is None:
        return NOT_FOUND
    return Reply(
        200, payloads.training_campaign(found, org.completion_percentage(found.campaign_id))
    )


def _enrollments(org: Org, ids: tuple[int, ...], params: Params) -> Reply:
    for unsupported in ("user_id", "store_purchase_id"):
        if unsupported in params:
            return Reply(400, {"message": f"the simulator does not filter by {unsupported}"})
    exclude_archived = params.flag("exclude_archived_users")
    if "campaign_id" in params:
        by_campaign = (
            org.unarchived_enrollments_by_campaign
            if exclude_archived
            else org.enrollments_by_campaign
        )
        rows = by_campaign.get(params.positive_int("campaign_id") or 0, ())
    else:
        rows = org.unarchived_enrollments if exclude_archived else org.enrollments
    include_campaign_id = params.flag("include_campaign_id")
    include_store_purchase_id = params.flag("include_store_purchase_id")
    include_employee_number = params.flag("include_employee_number")
    return page_of(
        rows,
        params,
        lambda e: payloads.enrollment(
            e,
            include_campaign_id=include_campaign_id,
            include_store_purchase_id=include_store_purchase_id,
            include_employee_number=include_employee_number,
        ),
    )


def _store_purchases(org: Org, ids: tuple[int, ...], params: Params) -> Reply:
    return page_of(org.store_purchases, params, payloads.store_purchase)


def _policies(org: Org, ids: tuple[int, ...], params: Params) -> Reply:
    return page_of(org.policies, params, payloads.policy)


ROUTES = (
    _route("/v1/account", _account),
    _route("/v1/account/risk_score_history", _account_history),
    _route("/v1/users", _users),
    _route("/v1/users/{id}", _user),
    _route("/v1/groups", _groups),
    _route("/v1/groups/{id}", _group),
    _route("/v1/groups/{id}/members", _members),
    _route("/v1/groups/{id}/risk_score_history", _group_history),
    _route("/v1/phishing/campaigns", _campaigns),
    _route("/v1/phishing/campaigns/{id}", _campaign),
    _route("/v1/phishing/campaigns/{id}/security_tests", _campaign_tests),
    _route("/v1/phishing/security_tests", _tests),
    _route("/v1/phishing/security_tests/{id}", _test),
    _route("/v1/phishing/security_tests/{id}/recipients", _recipients),
    _route("/v1/training/campaigns", _training_campaigns),
    _route("/v1/training/campaigns/{id}", _training_campaign),
    _route("/v1/training/enrollments", _enrollments),
    _route("/v1/training/store_purchases", _store_purchases),
    _route("/v1/training/policies", _policies),
)
